"""Markdown-lite: what it formats, and that no input can put markup of its own on the page."""

from __future__ import annotations

import random
import time

import pytest
from django.template import Context, Template
from django.utils.safestring import SafeString

from bugs.markdown import LINK_REL
from bugs.markdown import render_markdown_lite as md
from tests.strict_html import StrictHtml, read

# --- a checker: only our tags and attributes, properly nested ----------------------------------

ALLOWED = {"p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "a"}
VOID = {"br"}


class Checker(StrictHtml):
    void = frozenset(VOID)

    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []

    def start(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED, tag
        names = {name for name, _ in attrs}
        if tag == "a":
            assert names == {"href", "rel"}, attrs
            link = dict(attrs)
            assert link["rel"] == LINK_REL
            href = (link["href"] or "").lower()
            assert href.startswith(("http://", "https://", "mailto:")), href
            self.links.append(link)
        elif tag == "ol":
            assert names <= {"start"} and all(v and v.isdigit() for _, v in attrs), attrs
        else:
            assert not attrs, (tag, attrs)


def check(html: str) -> Checker:
    return read(Checker, html)


# --- features ----------------------------------------------------------------------------------


def test_the_result_is_marked_safe_for_templates():
    assert isinstance(md("hi"), SafeString)
    assert md("") == ""


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("Hello", "<p>Hello</p>"),
        ("one\ntwo", "<p>one<br>\ntwo</p>"),
        ("one\n\n\ntwo", "<p>one</p>\n<p>two</p>"),
        ("one\r\ntwo", "<p>one<br>\ntwo</p>"),
        ("**bold**", "<p><strong>bold</strong></p>"),
        ("*italic* and _italic_", "<p><em>italic</em> and <em>italic</em></p>"),
        ("**bold *and italic* inside**", "<p><strong>bold <em>and italic</em> inside</strong></p>"),
        ("`a < b`", "<p><code>a &lt; b</code></p>"),
        ("`**not bold**`", "<p><code>**not bold**</code></p>"),
        ("snake_case_name stays", "<p>snake_case_name stays</p>"),
        ("a * b * c", "<p>a * b * c</p>"),
        ("- one\n- two", "<ul><li>one</li><li>two</li></ul>"),
        ("* one\n* **two**", "<ul><li>one</li><li><strong>two</strong></li></ul>"),
        ("1. open\n2. tap", "<ol><li>open</li><li>tap</li></ol>"),
        ("3. three\n4. four", '<ol start="3"><li>three</li><li>four</li></ol>'),
        ("- item\n  continued", "<ul><li>item<br>\ncontinued</li></ul>"),
        ("Steps:\n1. open", "<p>Steps:</p>\n<ol><li>open</li></ol>"),
        ("- a\n1. b", "<ul><li>a</li></ul>\n<ol><li>b</li></ol>"),
        ("```\n**x** <b>\n\n  y\n```\nafter", "<pre><code>**x** &lt;b&gt;\n\n  y</code></pre>\n<p>after</p>"),
        ("```python\ncode", "<pre><code>code</code></pre>"),
    ],
)
def test_formatting(text, html):
    assert md(text) == html
    check(md(text))


@pytest.mark.parametrize(
    ("text", "href", "label"),
    [
        ("see https://example.com/a_b?x=1&y=2.", "https://example.com/a_b?x=1&y=2", None),
        ("(https://example.com/path)", "https://example.com/path", None),
        (
            "https://en.wikipedia.org/wiki/Bug_(software), yes",
            "https://en.wikipedia.org/wiki/Bug_(software)",
            None,
        ),
        ("<https://example.com>", "https://example.com", None),
        ("[the docs](https://example.com/docs?a=1&b=2)", "https://example.com/docs?a=1&b=2", "the docs"),
        ("[mail us](mailto:help@example.com)", "mailto:help@example.com", "mail us"),
        ("[Shout](HTTP://EXAMPLE.COM)", "HTTP://EXAMPLE.COM", "Shout"),
    ],
)
def test_links(text, href, label):
    (link,) = check(md(text)).links
    assert link["href"] == href
    html = md(text)
    assert f'rel="{LINK_REL}"' in html
    if label:
        assert f">{label}</a>" in html


def test_a_link_label_may_be_formatted_but_a_url_is_never_formatted():
    html = md("[`code` **b**](https://x.test/a_b_c) https://x.test/_a_/b__c__")
    assert f'<a href="https://x.test/a_b_c" rel="{LINK_REL}"><code>code</code> <strong>b</strong></a>' in html
    assert f'<a href="https://x.test/_a_/b__c" rel="{LINK_REL}">https://x.test/_a_/b__c</a>__' in html
    assert "<em>" not in html


# --- safety ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "**<script>alert(1)</script>**",
        "`<script>alert(1)</script>`",
        "```\n</code></pre><script>alert(1)</script>\n```",
        "- <b onclick=alert(1)>x</b>",
        "<!-- comment --> <!DOCTYPE html> <?php ?>",
        "&lt;script&gt; &#60;script&#62;",
    ],
)
def test_no_html_gets_through(text):
    html = md(text)
    assert "<script" not in html and "<img" not in html and "<b " not in html
    check(html)


@pytest.mark.parametrize(
    "text",
    [
        "[click](javascript:alert(1))",
        "[click](JavaScript:alert(1))",
        "[click]( javascript:alert(1))",
        "[click](&#106;avascript:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        "[click](vbscript:msgbox)",
        "[click](//evil.test)",
        "[click](/relative)",
        "javascript:alert(1)",
    ],
)
def test_only_http_https_and_mailto_links_are_made(text):
    assert check(md(text)).links == []
    assert "href" not in md(text)


@pytest.mark.parametrize(
    "text",
    [
        '[x](https://a.test/"onmouseover="alert(1))',
        "[x](https://a.test/'onmouseover='alert(1))",
        'https://a.test/"onmouseover="alert(1)',
        "https://a.test/'onmouseover='alert(1)",
        'https://a.test/"><script>alert(1)</script>',
        "[x](https://a.test/ onmouseover=alert(1))",
        '[a"b](https://a.test/)',
    ],
)
def test_a_quote_never_leaves_an_attribute(text):
    html = md(text)
    # check() refuses any attribute but href and rel: "onmouseover" can only be text.
    for link in check(html).links:
        assert not {'"', "'", " "} & set(link["href"] or ""), link
    assert "<script" not in html


@pytest.mark.parametrize(
    "text",
    [
        "**unclosed",
        "*unclosed _mixed* markers_",
        "_a **b_ c**",
        "***triple***",
        "**a *b** c*",
        "[unclosed](https://a.test",
        "[[nested](https://a.test)](https://b.test)",
        "`unclosed code",
        "- **item\n- continues**",
        "``` \n**",
    ],
)
def test_nested_and_unclosed_markers_still_give_well_formed_html(text):
    check(md(text))


def test_control_characters_are_dropped():
    html = md("a\x00b\x07c\x1bd [x](https://a.test/\x00x)")
    assert "\x00" not in html and "\x07" not in html and "\x1b" not in html
    check(html)


def test_random_input_always_gives_safe_well_formed_html():
    rng = random.Random(20260101)
    alphabet = [*"*_`[]()<>\"'&;:/.- \n\t1aZ#!=", "https://", "mailto:", "javascript:", "```", "\n\n"]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        check(md(text))


# --- speed: no input can make a pattern backtrack ---------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "*" * 50_000,
        "_" * 50_000,
        "*_" * 25_000,
        "_*" * 25_000,
        "**_" * 16_667,
        "*a _" * 12_500,
        "**a " * 12_500,
        "".join(random.Random(7).choice("*_") for _ in range(50_000)),
        "".join(random.Random(8).choice("*_ a\n") for _ in range(50_000)),
        "[" * 50_000,
        "[a](" * 12_500,
        "[a](https://" * 4_000,
        "`" * 50_000,
        "` " * 25_000,
        "https://" * 6_000,
        "https://a.test/(" * 3_000,
        "- " * 25_000,
        "- a\n" * 12_500,
        "1. \n" * 12_500,
    ],
    ids=lambda text: repr(text[:12]),
)
def test_pathological_input_renders_in_linear_time(text):
    started = time.perf_counter()
    check(md(text))
    assert time.perf_counter() - started < 1.0


# --- the template filter -----------------------------------------------------------------------


def test_the_template_filter_renders_and_escapes():
    template = Template("{% load bugs_markup %}{{ body|markdown_lite }}")
    html = template.render(Context({"body": "**hi** <script>x</script>"}))
    assert html == "<p><strong>hi</strong> &lt;script&gt;x&lt;/script&gt;</p>"
    assert Template("{% load bugs_markup %}{{ body|markdown_lite }}").render(Context({"body": None})) == ""
