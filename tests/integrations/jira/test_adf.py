"""ADF and Jira wiki markup: what each construct becomes, and that no input can put markup of its own
on the page, break the renderer or exhaust the stack."""

from __future__ import annotations

import random
import re
import time
from typing import Any

import pytest

from integrations.jira.adf import (
    HTML_TAGS,
    LINK_REL,
    MAX_DEPTH,
    adf_to_html,
    adf_to_text,
    safe_href,
    text_to_adf,
    wiki_to_html,
    wiki_to_text,
)
from tests.strict_html import StrictHtml, read

# --- helpers ------------------------------------------------------------------------------------


def doc(*content: Any) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(content)}


def p(*content: Any) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def t(text: str, *marks: str | dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = [{"type": mark} if isinstance(mark, str) else mark for mark in marks]
    return node


def link(href: str) -> dict[str, Any]:
    return {"type": "link", "attrs": {"href": href}}


def li(*content: Any) -> dict[str, Any]:
    return {"type": "listItem", "content": list(content)}


BR = {"type": "hardBreak"}
A = f'rel="{LINK_REL}"'
VOID = {"br", "hr"}
CLASSES = {"panel", "mention", "status", "date", "attachment"}


class Checker(StrictHtml):
    """Fails on any tag, attribute or construct adf_to_html must never emit."""

    void = frozenset(VOID)

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def start(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in HTML_TAGS, tag
        found = dict(attrs)
        if tag == "a":
            assert set(found) == {"href", "rel"} and found["rel"] == LINK_REL, attrs
            href = found["href"] or ""
            assert href.lower().startswith(("http://", "https://", "mailto:")), href
            self.hrefs.append(href)
        elif found:
            assert set(found) == {"class"}, attrs
            css = found["class"] or ""
            if tag == "code":
                assert re.fullmatch(r"language-[\w+#.-]{1,32}", css, re.ASCII), css
            else:
                assert tag in {"span", "div"} and css in CLASSES, attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check(html: str) -> Checker:
    return read(Checker, html)


def assert_valid_adf(document: dict[str, Any]) -> None:
    """The rules Jira enforces that our generator could break."""
    assert document["type"] == "doc" and document["version"] == 1
    assert isinstance(document["content"], list)
    pending = list(document["content"])
    while pending:
        node = pending.pop()
        kind = node["type"]
        if kind == "text":
            assert isinstance(node["text"], str) and node["text"], node
            types = [mark["type"] for mark in node.get("marks", [])]
            assert len(types) == len(set(types)), node
            if "code" in types:
                assert set(types) <= {"code", "link"}, node
            for mark in node.get("marks", []):
                if mark["type"] == "link":
                    assert safe_href(mark["attrs"]["href"]) == mark["attrs"]["href"], node
        elif kind == "codeBlock":
            assert all(child["type"] == "text" and "marks" not in child for child in node["content"])
        elif kind == "listItem":
            assert node["content"][0]["type"] == "paragraph", node
        elif kind in {"bulletList", "orderedList"}:
            assert node["content"] and all(child["type"] == "listItem" for child in node["content"])
        else:
            assert kind in {"paragraph", "hardBreak"}, kind
        pending.extend(node.get("content", []))


# --- Markdown-lite → ADF ------------------------------------------------------------------------

MARKDOWN_CASES = [
    ("plain", "Checkout fails", [p(t("Checkout fails"))]),
    ("paragraphs", "one\n\ntwo", [p(t("one")), p(t("two"))]),
    ("hard break", "line one\nline two", [p(t("line one"), BR, t("line two"))]),
    ("crlf", "a\r\nb", [p(t("a"), BR, t("b"))]),
    ("bold", "a **b** c", [p(t("a "), t("b", "strong"), t(" c"))]),
    ("italic star", "*it*", [p(t("it", "em"))]),
    ("italic underscore", "_it_ x", [p(t("it", "em"), t(" x"))]),
    ("snake_case is not italic", "call my_var_name", [p(t("call my_var_name"))]),
    ("ambiguous stars stay text, as on our report page", "**a *b***", [p(t("**a *b***"))]),
    ("bold with italic inside", "**a _b_**", [p(t("a ", "strong"), t("b", "strong", "em"))]),
    ("inline code", "run `npm test`", [p(t("run "), t("npm test", "code"))]),
    ("no emphasis inside code", "`*a*`", [p(t("*a*", "code"))]),
    ("code drops bold (ADF: code goes with link only)", "**`x`**", [p(t("x", "code"))]),
    (
        "labelled link",
        "see [the log](https://ex.com/a?b=1&c=2)",
        [p(t("see "), t("the log", link("https://ex.com/a?b=1&c=2")))],
    ),
    (
        "bold link label",
        "[**big** x](https://ex.com)",
        [p(t("big", link("https://ex.com"), "strong"), t(" x", link("https://ex.com")))],
    ),
    (
        "bare url keeps underscores and parens, drops trailing dot",
        "at https://ex.com/a_b_(c). ok",
        [p(t("at "), t("https://ex.com/a_b_(c)", link("https://ex.com/a_b_(c)")), t(". ok"))],
    ),
    ("mailto", "[mail](mailto:a@b.c)", [p(t("mail", link("mailto:a@b.c")))]),
    ("javascript link is text", "[x](javascript:alert(1))", [p(t("[x](javascript:alert(1))"))]),
    ("data link is text", "[x](data:text/html,hi)", [p(t("[x](data:text/html,hi)"))]),
    ("bare scheme is not a link", "https:// nothing", [p(t("https:// nothing"))]),
    (
        "bullets",
        "- one\n* two",
        [{"type": "bulletList", "content": [li(p(t("one"))), li(p(t("two")))]}],
    ),
    (
        "ordered from 3, with a continuation line",
        "3. a\n4. b\ncontinued",
        [
            {
                "type": "orderedList",
                "attrs": {"order": 3},
                "content": [li(p(t("a"))), li(p(t("b"), BR, t("continued")))],
            }
        ],
    ),
    (
        "paragraph then list then paragraph",
        "Steps:\n1. go\n\nEnd",
        [p(t("Steps:")), {"type": "orderedList", "content": [li(p(t("go")))]}, p(t("End"))],
    ),
    (
        "bullet list then ordered list are two lists",
        "- a\n1. b",
        [
            {"type": "bulletList", "content": [li(p(t("a")))]},
            {"type": "orderedList", "content": [li(p(t("b")))]},
        ],
    ),
    (
        "fenced code with language, markup kept verbatim",
        "```python\nx = **1**\n\ny = 2\n```",
        [{"type": "codeBlock", "attrs": {"language": "python"}, "content": [t("x = **1**\n\ny = 2")]}],
    ),
    ("fence without language", "```\nls\n```", [{"type": "codeBlock", "content": [t("ls")]}]),
    ("empty fence has no empty text node", "```\n```", [{"type": "codeBlock", "content": []}]),
    (
        "unclosed fence runs to the end",
        "```js\na",
        [{"type": "codeBlock", "attrs": {"language": "js"}, "content": [t("a")]}],
    ),
    ("odd language is dropped", '```"><script>\na\n```', [{"type": "codeBlock", "content": [t("a")]}]),
    ("control characters vanish", "a\x00b\x07c", [p(t("abc"))]),
    ("a lone star is text", "* ", [p(t("*"))]),
]


@pytest.mark.parametrize(
    ("text", "content"), [c[1:] for c in MARKDOWN_CASES], ids=[c[0] for c in MARKDOWN_CASES]
)
def test_markdown_construct_becomes_adf(text: str, content: list[dict[str, Any]]) -> None:
    result = text_to_adf(text)
    assert result == doc(*content)
    assert_valid_adf(result)


@pytest.mark.parametrize("text", ["", "   ", "\n\n", None])
def test_empty_text_is_a_doc_without_content(text: str) -> None:
    assert text_to_adf(text) == {"type": "doc", "version": 1, "content": []}


# --- ADF nodes → HTML and text ------------------------------------------------------------------

NODE_CASES = [
    ("paragraph", p(t("hi")), "<p>hi</p>", "hi"),
    ("heading", {"type": "heading", "attrs": {"level": 3}, "content": [t("H")]}, "<h3>H</h3>", "H"),
    (
        "heading level out of range",
        {"type": "heading", "attrs": {"level": 99}, "content": [t("H")]},
        "<h6>H</h6>",
        "H",
    ),
    (
        "heading level not a number",
        {"type": "heading", "attrs": {"level": "2"}, "content": [t("H")]},
        "<h1>H</h1>",
        "H",
    ),
    ("strong", p(t("b", "strong")), "<p><strong>b</strong></p>", "b"),
    ("em", p(t("i", "em")), "<p><em>i</em></p>", "i"),
    ("code", p(t("c", "code")), "<p><code>c</code></p>", "c"),
    ("strike", p(t("s", "strike")), "<p><s>s</s></p>", "s"),
    ("underline", p(t("u", "underline")), "<p><u>u</u></p>", "u"),
    ("sup", p(t("2", {"type": "subsup", "attrs": {"type": "sup"}})), "<p><sup>2</sup></p>", "2"),
    ("unknown mark is ignored", p(t("x", {"type": "textColor", "attrs": {"color": "red"}})), "<p>x</p>", "x"),
    (
        "marks nest in a fixed order",
        p(t("x", "em", link("https://a.b"), "strong")),
        f'<p><a href="https://a.b" {A}><strong><em>x</em></strong></a></p>',
        "x (https://a.b)",
    ),
    (
        "link",
        p(t("docs", link("https://a.b/?x=1&y=2"))),
        f'<p><a href="https://a.b/?x=1&amp;y=2" {A}>docs</a></p>',
        "docs (https://a.b/?x=1&y=2)",
    ),
    (
        "link split over marks names its URL once",
        p(t("very ", link("https://a.b")), t("bad", link("https://a.b"), "strong"), t(" day")),
        f'<p><a href="https://a.b" {A}>very </a><a href="https://a.b" {A}><strong>bad</strong></a> day</p>',
        "very bad (https://a.b) day",
    ),
    (
        "link whose text is its URL",
        p(t("https://a.b", link("https://a.b"))),
        f'<p><a href="https://a.b" {A}>https://a.b</a></p>',
        "https://a.b",
    ),
    (
        "mailto link",
        p(t("a@b.c", link("mailto:a@b.c"))),
        f'<p><a href="mailto:a@b.c" {A}>a@b.c</a></p>',
        "a@b.c",
    ),
    ("hardBreak", p(t("a"), BR, t("b")), "<p>a<br>b</p>", "a\nb"),
    (
        "bulletList",
        {"type": "bulletList", "content": [li(p(t("a"))), li(p(t("b")))]},
        "<ul><li><p>a</p></li>\n<li><p>b</p></li></ul>",
        "- a\n- b",
    ),
    (
        "orderedList with order and a nested list",
        {
            "type": "orderedList",
            "attrs": {"order": 5},
            "content": [li(p(t("a")), {"type": "bulletList", "content": [li(p(t("x"), BR, t("y")))]})],
        },
        "<ol><li><p>a</p>\n<ul><li><p>x<br>y</p></li></ul></li></ol>",
        "5. a\n   - x\n     y",
    ),
    (
        "codeBlock",
        {"type": "codeBlock", "attrs": {"language": "java"}, "content": [t("if (a < b) {}\n  x();")]},
        '<pre><code class="language-java">if (a &lt; b) {}\n  x();</code></pre>',
        "if (a < b) {}\n  x();",
    ),
    (
        "blockquote",
        {"type": "blockquote", "content": [p(t("q1")), p(t("q2"))]},
        "<blockquote><p>q1</p>\n<p>q2</p></blockquote>",
        "> q1\n>\n> q2",
    ),
    ("rule", {"type": "rule"}, "<hr>", "---"),
    (
        "panel",
        {"type": "panel", "attrs": {"panelType": "warning"}, "content": [p(t("careful"))]},
        '<div class="panel"><p>careful</p></div>',
        "careful",
    ),
    (
        "table",
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableHeader", "content": [p(t("Env"))]},
                        {"type": "tableHeader", "content": [p(t("Result"))]},
                    ],
                },
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableCell", "content": [p(t("iOS"))]},
                        {"type": "tableCell", "content": [p(t("crash"))]},
                    ],
                },
            ],
        },
        "<table><tr><th><p>Env</p></th>\n<th><p>Result</p></th></tr>\n<tr><td><p>iOS</p></td>\n<td><p>crash</p></td></tr></table>",
        "Env | Result\niOS | crash",
    ),
    (
        "mediaSingle",
        {
            "type": "mediaSingle",
            "content": [{"type": "media", "attrs": {"id": "1", "type": "file", "collection": "c"}}],
        },
        '<p><span class="attachment">[attachment]</span></p>',
        "[attachment]",
    ),
    (
        "media with alt",
        {"type": "media", "attrs": {"alt": "shot.png"}},
        '<span class="attachment">[attachment: shot.png]</span>',
        "[attachment: shot.png]",
    ),
    (
        "expand",
        {"type": "expand", "attrs": {"title": "Logs"}, "content": [p(t("trace"))]},
        "<details><summary>Logs</summary><p>trace</p></details>",
        "Logs\n\ntrace",
    ),
    (
        "mention",
        p({"type": "mention", "attrs": {"id": "5b10", "text": "@Ana"}}),
        '<p><span class="mention">@Ana</span></p>',
        "@Ana",
    ),
    (
        "mention without text",
        p({"type": "mention", "attrs": {"id": "5b10"}}),
        '<p><span class="mention">@user</span></p>',
        "@user",
    ),
    ("emoji", p({"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}}), "<p>😄</p>", "😄"),
    ("emoji shortName only", p({"type": "emoji", "attrs": {"shortName": ":bug:"}}), "<p>:bug:</p>", ":bug:"),
    (
        "inlineCard",
        p({"type": "inlineCard", "attrs": {"url": "https://x.y/1"}}),
        f'<p><a href="https://x.y/1" {A}>https://x.y/1</a></p>',
        "https://x.y/1",
    ),
    (
        "date",
        p({"type": "date", "attrs": {"timestamp": "1767225600000"}}),
        '<p><span class="date">2026-01-01</span></p>',
        "2026-01-01",
    ),
    (
        "date that is not a number",
        p({"type": "date", "attrs": {"timestamp": "soon"}}),
        '<p><span class="date">soon</span></p>',
        "soon",
    ),
    (
        "status",
        p({"type": "status", "attrs": {"text": "IN PROGRESS", "color": "blue"}}),
        '<p><span class="status">IN PROGRESS</span></p>',
        "IN PROGRESS",
    ),
    (
        "unknown block degrades to its text",
        {"type": "layoutSection", "content": [p(t("a")), p(t("b"))]},
        "<p>a</p>\n<p>b</p>",
        "a\n\nb",
    ),
    (
        "unknown inline degrades to its text",
        p(t("a "), {"type": "sparkle", "text": "<b>"}),
        "<p>a &lt;b&gt;</p>",
        "a <b>",
    ),
    (
        "unknown node with attrs.text",
        p({"type": "placeholder", "attrs": {"text": "Type here"}}),
        "<p>Type here</p>",
        "Type here",
    ),
    ("empty doc", doc(), "", ""),
]


@pytest.mark.parametrize(
    ("node", "html", "text"), [c[1:] for c in NODE_CASES], ids=[c[0] for c in NODE_CASES]
)
def test_adf_node_renders_to_html_and_text(node: dict[str, Any], html: str, text: str) -> None:
    assert adf_to_html(doc(node)) == html
    assert adf_to_text(doc(node)) == text
    check(adf_to_html(doc(node)))


def test_doc_separates_blocks_with_blank_lines_in_text() -> None:
    document = doc(p(t("a")), {"type": "bulletList", "content": [li(p(t("b")))]}, p(t("c")))
    assert adf_to_text(document) == "a\n\n- b\n\nc"


# --- wiki markup (v2 webhook payloads) ----------------------------------------------------------

WIKI_CASES = [
    ("plain", "Just text", "<p>Just text</p>", "Just text"),
    ("line break and paragraphs", "a\nb\n\nc", "<p>a<br>b</p>\n<p>c</p>", "a\nb\n\nc"),
    (
        "bold, italic, monospace",
        "*b* _i_ {{m}}",
        "<p><strong>b</strong> <em>i</em> <code>m</code></p>",
        "b i m",
    ),
    (
        "a lone star or snake_case is text",
        "2 * 3 and my_var_name",
        "<p>2 * 3 and my_var_name</p>",
        "2 * 3 and my_var_name",
    ),
    ("heading", "h2. Steps", "<h2>Steps</h2>", "Steps"),
    (
        "labelled link",
        "[docs|https://a.b/c]",
        f'<p><a href="https://a.b/c" {A}>docs</a></p>',
        "docs (https://a.b/c)",
    ),
    ("bracketed url", "[https://a.b]", f'<p><a href="https://a.b" {A}>https://a.b</a></p>', "https://a.b"),
    (
        "bare url",
        "see https://a.b/x.",
        f'<p>see <a href="https://a.b/x" {A}>https://a.b/x</a>.</p>',
        "see https://a.b/x.",
    ),
    ("issue-key link keeps its label", "[the bug|ABC-12]", "<p>the bug</p>", "the bug"),
    (
        "mention by accountId",
        "ping [~accountid:5b10ac8d82e05b22cc7d4ef5]",
        '<p>ping <span class="mention">@user</span></p>',
        "ping @user",
    ),
    ("mention by name (Server)", "[~jsmith]", '<p><span class="mention">@jsmith</span></p>', "@jsmith"),
    ("image", "!screen shot.png!", "<p>!screen shot.png!</p>", "!screen shot.png!"),
    (
        "thumbnail image",
        "!shot.png|thumbnail!",
        '<p><span class="attachment">[attachment: shot.png]</span></p>',
        "[attachment: shot.png]",
    ),
    (
        "attachment link",
        "[^crash.log]",
        '<p><span class="attachment">[attachment: crash.log]</span></p>',
        "[attachment: crash.log]",
    ),
    (
        "nested lists",
        "* a\n** b\n# c",
        "<ul><li><p>a</p>\n<ul><li><p>b</p></li></ul></li></ul>\n<ol><li><p>c</p></li></ol>",
        "- a\n  - b\n\n1. c",
    ),
    ("dash list", "- a\n- b", "<ul><li><p>a</p></li>\n<li><p>b</p></li></ul>", "- a\n- b"),
    (
        "code with language",
        "{code:java}\nint a = 1 * 2 * 3;\n{code}",
        '<pre><code class="language-java">int a = 1 * 2 * 3;</code></pre>',
        "int a = 1 * 2 * 3;",
    ),
    (
        "code with title and language params",
        "{code:title=A.java|language=kotlin}val x{code}",
        '<pre><code class="language-kotlin">val x</code></pre>',
        "val x",
    ),
    ("noformat", "{noformat}*not bold*{noformat}", "<pre><code>*not bold*</code></pre>", "*not bold*"),
    ("unclosed code runs to the end", "{code}\nx", "<pre><code>x</code></pre>", "x"),
    ("bq.", "bq. quoted", "<blockquote><p>quoted</p></blockquote>", "> quoted"),
    (
        "quote macro",
        "{quote}\nsaid\n{quote}\nafter",
        "<blockquote><p>said</p></blockquote>\n<p>after</p>",
        "> said\n\nafter",
    ),
    ("rule", "a\n----\nb", "<p>a</p>\n<hr>\n<p>b</p>", "a\n\n---\n\nb"),
    ("tables stay text", "||a||b||\n|1|2|", "<p>||a||b||<br>|1|2|</p>", "||a||b||\n|1|2|"),
    ("empty", "", "", ""),
]


@pytest.mark.parametrize(
    ("wiki", "html", "text"), [c[1:] for c in WIKI_CASES], ids=[c[0] for c in WIKI_CASES]
)
def test_wiki_markup_renders_to_html_and_text(wiki: str, html: str, text: str) -> None:
    assert wiki_to_html(wiki) == html
    assert wiki_to_text(wiki) == text
    # A v2 payload's string goes through the same path as ADF.
    assert adf_to_html(wiki) == html
    assert adf_to_text(wiki) == text
    check(html)


# --- nothing typed becomes markup ---------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(1)">'

XSS_ADF = [
    ("script in text", doc(p(t(SCRIPT)))),
    ("img in code block", doc({"type": "codeBlock", "attrs": {"language": "js"}, "content": [t(IMG)]})),
    (
        "attributes in code language",
        doc({"type": "codeBlock", "attrs": {"language": 'x" onclick="alert(1)'}, "content": [t("a")]}),
    ),
    ("javascript href", doc(p(t("click", link("javascript:alert(1)"))))),
    ("JavaScript href, odd case and spaces", doc(p(t("click", link("  JaVaScRiPt:alert(1)"))))),
    ("tab inside the scheme", doc(p(t("click", link("java\tscript:alert(1)"))))),
    ("data href", doc(p(t("click", link("data:text/html;base64,PHNjcmlwdD4="))))),
    ("vbscript href", doc(p(t("click", link("vbscript:msgbox(1)"))))),
    ("quote breaking out of href", doc(p(t("x", link('https://a.b/" onmouseover="alert(1)'))))),
    ("http href with quotes and brackets", doc(p(t("x", link('https://a.b/?q="><script>'))))),
    ("script in link label", doc(p(t(SCRIPT, link("https://a.b"))))),
    ("script in mention", doc(p({"type": "mention", "attrs": {"id": "1", "text": IMG}}))),
    ("script in emoji", doc(p({"type": "emoji", "attrs": {"text": SCRIPT}}))),
    (
        "script in status and date",
        doc(p({"type": "status", "attrs": {"text": IMG}}, {"type": "date", "attrs": {"timestamp": IMG}})),
    ),
    ("javascript inlineCard", doc(p({"type": "inlineCard", "attrs": {"url": "javascript:alert(1)"}}))),
    (
        "script in media alt",
        doc(
            {
                "type": "mediaSingle",
                "content": [{"type": "media", "attrs": {"alt": IMG, "url": "javascript:x"}}],
            }
        ),
    ),
    ("script in expand title", doc({"type": "expand", "attrs": {"title": SCRIPT}, "content": []})),
    ("script as a node type", doc({"type": "<script>", "content": [t(SCRIPT)]})),
    ("unknown node with script text", doc({"type": "iframe", "text": IMG, "attrs": {"src": "javascript:x"}})),
    ("loose string child", doc(p(SCRIPT))),
    (
        "heading level injection",
        doc({"type": "heading", "attrs": {"level": "1 onclick=x"}, "content": [t("h")]}),
    ),
    (
        "panel type injection",
        doc({"type": "panel", "attrs": {"panelType": '"><script>'}, "content": [p(t("x"))]}),
    ),
    (
        "mark type injection",
        doc(p(t("x", '"><script>', {"type": "link", "attrs": {"href": "https://a.b", "onclick": "x"}}))),
    ),
]


def assert_inert(html: str) -> None:
    checker = check(html)
    assert all(href.lower().startswith(("http://", "https://", "mailto:")) for href in checker.hrefs)
    lowered = html.lower()
    for needle in (
        "<script",
        "<img",
        "<iframe",
        "onerror=",
        "onclick=",
        "onmouseover=",
        "javascript:",
        "data:text",
    ):
        # Escaped text may still *read* "javascript:", but never inside a tag.
        for tag in re.findall(r"<[^>]*>", lowered):
            # The href's scheme was checked above; its path may spell anything.
            assert needle not in re.sub(r'href="[^"]*"', "", tag), (needle, tag)


@pytest.mark.parametrize("document", [c[1] for c in XSS_ADF], ids=[c[0] for c in XSS_ADF])
def test_adf_html_is_inert(document: dict[str, Any]) -> None:
    html = adf_to_html(document)
    assert_inert(html)
    assert "<script" not in html and "<img" not in html


def test_escaped_payload_is_still_readable() -> None:
    assert adf_to_html(doc(p(t(SCRIPT)))) == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert adf_to_text(doc(p(t(SCRIPT)))) == SCRIPT
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in adf_to_html(XSS_ADF[1][1])
    assert adf_to_html(XSS_ADF[3][1]) == "<p>click</p>"


XSS_WIKI = [
    SCRIPT,
    IMG,
    f"*{SCRIPT}*",
    f"{{{{{IMG}}}}}",
    f"[{SCRIPT}|https://a.b]",
    "[click|javascript:alert(1)]",
    "[javascript:alert(1)]",
    "[click|data:text/html,<script>alert(1)</script>]",
    '[x|https://a.b/" onclick="alert(1)]',
    f"[~accountid:{IMG}]",
    f"[~{SCRIPT}]",
    f'{{code:java" onload="x}}\n{IMG}\n{{code}}',
    f"{{noformat}}{SCRIPT}{{noformat}}",
    f"h1. {SCRIPT}",
    f"bq. {IMG}",
    f"* {IMG}\n# {SCRIPT}",
    f"!{IMG}.png!",
    "!javascript:alert(1)//.png!",
    "{quote}<style>body{}</style>{quote}",
]


@pytest.mark.parametrize("wiki", XSS_WIKI)
def test_wiki_html_is_inert(wiki: str) -> None:
    html = wiki_to_html(wiki)
    assert_inert(html)
    assert "<script" not in html and "<img" not in html and "<style" not in html


XSS_MARKDOWN = [
    SCRIPT,
    f"**{IMG}**",
    f"`{IMG}`",
    f"```html\n{IMG}\n```",
    f"[{SCRIPT}](https://a.b)",
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x](data:text/html,<script>)",
    '[x](https://a.b/"onclick="alert(1))',
    "https://a.b/<script>alert(1)</script>",
    f"- {IMG}\n1. {SCRIPT}",
]


@pytest.mark.parametrize("text", XSS_MARKDOWN)
def test_markdown_through_adf_is_inert(text: str) -> None:
    document = text_to_adf(text)
    assert_valid_adf(document)
    assert_inert(adf_to_html(document))


def test_safe_href() -> None:
    assert safe_href(" https://a.b/x ") == "https://a.b/x"
    assert safe_href("MAILTO:a@b.c") == "MAILTO:a@b.c"
    for bad in (
        "javascript:x",
        "data:x",
        "//a.b",
        "/relative",
        "ftp://a.b",
        "https://a b",
        "http://a\nb",
        "",
        None,
        3,
    ):
        assert safe_href(bad) is None, bad


# --- malformed input never raises ---------------------------------------------------------------

MALFORMED = [
    None,
    0,
    3.5,
    True,
    [],
    {},
    [p(t("listed"))],
    {"type": None},
    {"type": 5, "content": [p(t("a"))]},
    {"type": "doc"},
    {"type": "doc", "content": None},
    {"type": "doc", "content": "not a list"},
    {"type": "doc", "content": {"type": "paragraph"}},
    {"type": "doc", "content": [None, 1, [], ["x"], {"no": "type"}, "loose"]},
    doc({"type": "paragraph", "content": [{"type": "text"}]}),
    doc({"type": "paragraph", "content": [{"type": "text", "text": 42, "marks": "strong"}]}),
    doc(
        p(
            t("m", {"type": "link"}),
            t("n", {"type": "link", "attrs": None}),
            t("o", {"type": "link", "attrs": {"href": 7}}),
        )
    ),
    doc(p({"type": "text", "text": "x", "marks": [None, 3, {"type": None}, {"attrs": {}}]})),
    doc({"type": "heading", "attrs": [], "content": [t("h")]}),
    doc({"type": "heading", "attrs": {"level": True}, "content": [t("h")]}),
    doc({"type": "orderedList", "attrs": {"order": "x"}, "content": [li(p(t("a")))]}),
    doc({"type": "orderedList", "attrs": {"order": None}, "content": "x"}),
    doc(
        {
            "type": "codeBlock",
            "attrs": {"language": 1},
            "content": [t("a"), BR, "raw", 5, None, {"type": "text", "text": None}],
        }
    ),
    doc({"type": "mention", "attrs": "x"}),
    doc({"type": "date", "attrs": {"timestamp": "99999999999999999999999"}}),
    doc({"type": "date", "attrs": {"timestamp": None}}),
    doc({"type": "emoji"}),
    doc({"type": "media", "attrs": {"alt": 5}}),
    doc({"type": "table", "content": [{"type": "tableRow", "content": [None, {"type": "tableCell"}]}]}),
    doc({"type": "expand", "attrs": {"title": ["x"]}}),
    doc({"type": "inlineCard", "attrs": {"data": {"url": "x"}}}),
    {"type": "paragraph", "content": [t("a root that is not a doc")]},
]


@pytest.mark.parametrize("node", MALFORMED)
def test_malformed_input_never_raises(node: Any) -> None:
    html = adf_to_html(node)
    text = adf_to_text(node)
    assert isinstance(html, str) and isinstance(text, str)
    check(html)


def test_malformed_input_keeps_what_text_it_has() -> None:
    assert adf_to_text([p(t("listed"))]) == "listed"
    assert adf_to_text({"type": 5, "content": [p(t("a"))]}) == "a"
    assert adf_to_text({"type": "doc", "content": [None, 1, {"no": "type"}, "loose"]}) == "loose"
    assert adf_to_html({"type": "paragraph", "content": [t("x")]}) == "<p>x</p>"
    assert adf_to_html(doc(p(t("o", {"type": "link", "attrs": {"href": 7}})))) == "<p>o</p>"
    assert adf_to_text(doc({"type": "codeBlock", "content": [t("a"), BR, "raw", 5]})) == "a\nraw"
    assert adf_to_text(None) == adf_to_html(None) == adf_to_text(7) == ""


def test_unknown_nodes_degrade_recursively() -> None:
    document = doc({"type": "future", "content": [{"type": "weird", "content": [p(t("deep", "strong"))]}]})
    assert adf_to_html(document) == "<p><strong>deep</strong></p>"
    assert adf_to_text(document) == "deep"


# --- deep and hostile trees ---------------------------------------------------------------------


def nested(kind: str, depth: int, leaf: dict[str, Any]) -> dict[str, Any]:
    node = leaf
    for _ in range(depth):
        node = {"type": kind, "content": [node]}
    return node


@pytest.mark.parametrize("kind", ["blockquote", "unknownWrapper", "listItem", "paragraph"])
def test_deep_nesting_returns_the_text_without_recursion(kind: str) -> None:
    document = doc(nested(kind, 2000, p(t("bottom <x>"))))
    html = adf_to_html(document)
    assert "bottom &lt;x&gt;" in html
    check(html)
    # Past MAX_DEPTH the formatting goes, the words stay.
    assert MAX_DEPTH <= 64 and len(re.findall(r"<(?!/)", html)) <= 2 * 64 + 2
    assert adf_to_text(document).endswith("bottom <x>")


def test_deep_lists_keep_a_bounded_indent() -> None:
    document = doc(nested("bulletList", 1000, li(p(t("leaf")))))
    text = adf_to_text(document)
    assert text.strip().endswith("leaf")
    assert len(text) < 500


def test_a_self_referencing_dict_terminates() -> None:
    loop: dict[str, Any] = {"type": "paragraph", "content": [t("again ")]}
    loop["content"].append(loop)
    started = time.perf_counter()
    assert "again" in adf_to_html(doc(loop))
    assert "again" in adf_to_text(doc(loop))
    assert time.perf_counter() - started < 10


def test_deep_wiki_lists_do_not_recurse() -> None:
    html = wiki_to_html("*" * 3000 + " deep")
    assert "deep" in html
    check(html)


@pytest.mark.parametrize(
    "text",
    [
        "*" * 20000,
        "_a" * 10000,
        "**a" * 7000,
        "[" * 10000 + "](https://a.b" * 2000,
        "`" * 20000,
        "https://" + "(" * 20000,
        "{code}" + "{{" * 10000,
        "{code:" * 5000,
        "[x|" * 7000,
        "!a.png|" * 5000,
    ],
    ids=lambda text: repr(text[:12]),
)
def test_pathological_input_is_fast(text: str) -> None:
    started = time.perf_counter()
    assert_valid_adf(text_to_adf(text))
    wiki_to_html(text)
    wiki_to_text(text)
    assert time.perf_counter() - started < 2.0


def test_random_markup_always_gives_valid_adf_and_inert_html() -> None:
    rng = random.Random(20260)
    alphabet = [
        "*",
        "_",
        "`",
        "[",
        "]",
        "(",
        ")",
        "|",
        "{",
        "}",
        "!",
        "~",
        "-",
        "#",
        " ",
        "\n",
        "a",
        "b",
        "1.",
        "https://x.y",
        "mailto:m@x",
        "javascript:",
        "<",
        ">",
        '"',
        "h1.",
        "bq.",
        "{code}",
        "```",
    ]
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
        document = text_to_adf(text)
        assert_valid_adf(document)
        assert_inert(adf_to_html(document))
        assert_inert(wiki_to_html(text))
        adf_to_text(document)
        wiki_to_text(text)


# --- round trips: what a reporter types comes back as its words ---------------------------------

REPORTS = [
    "Checkout fails on Safari",
    "Checkout button does nothing.\nConsole shows `TypeError: undefined is not a function`.",
    (
        "**Steps to reproduce**\n1. Open https://shop.example.com/cart\n2. Add *two* items\n"
        "3. Press `Pay now`\n\n**Expected:** payment page\n**Actual:** spinner forever"
    ),
    (
        "Crash on login, see [the Sentry issue](https://sentry.example.com/issues/42/) and the log:\n\n"
        '```\nTraceback (most recent call last):\n  File "app.py", line 3, in <module>\n    main()\n'
        "KeyError: 'user_id'\n```\n\nHappens only for _SSO_ users."
    ),
    "- iOS 17.2: broken\n- Android 14: fine\n* Desktop: not tested\n\nPriority: high, blocks release 2.4.",
    "Email me at [support](mailto:support@example.com) if this is <urgent> & unclear.",
    '```json\n{"error": "<b>bad</b>", "code": 500}\n```',
    "Related to snake_case_names and 2 * 3 = 6, plus a stray ` backtick.",
]


def words(text: str) -> list[str]:
    """The words of a text with Markdown's markup characters and link targets' brackets gone."""
    text = re.sub(r"\[([^\]]*)\]\(([^)]*)\)", r"\1 \2", text)
    text = re.sub(r"```\w*", " ", text)
    text = re.sub(r"(?m)^\s*(?:[-*]|\d+\.)\s+", " ", text)
    text = re.sub(r"\*\*|(?<!\s)\*|\*(?!\s)|`|(?<!\w)_|_(?!\w)|mailto:", "", text)
    return [word.strip("()") for word in text.split() if word.strip("()")]


@pytest.mark.parametrize("report", REPORTS)
def test_round_trip_keeps_the_words(report: str) -> None:
    document = text_to_adf(report)
    assert_valid_adf(document)
    assert words(adf_to_text(document)) == words(report)


def test_round_trip_keeps_structure() -> None:
    report = "Title line\nsecond line\n\n- a\n- b\n\n2. x\n3. y\n\n```py\nif a:\n    b()\n```"
    assert (
        adf_to_text(text_to_adf(report))
        == "Title line\nsecond line\n\n- a\n- b\n\n2. x\n3. y\n\nif a:\n    b()"
    )


def test_round_trip_of_html_matches_the_report() -> None:
    html = adf_to_html(text_to_adf(REPORTS[3]))
    check(html)
    assert f'<a href="https://sentry.example.com/issues/42/" {A}>the Sentry issue</a>' in html
    assert "KeyError: &#x27;user_id&#x27;" in html
    assert "<em>SSO</em>" in html
