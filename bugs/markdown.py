"""Markdown-lite: the small part of Markdown that comments and report descriptions may use.

Paragraphs, line breaks, **bold**, *italic* / _italic_, `code`, fenced code blocks, "- " / "* "
and "1. " lists, http(s) autolinks and [text](url) links (http, https and mailto only).

Safety comes from the order of work: the whole text is HTML-escaped first, and only then are
tags added, each from a fixed template around text that is already escaped. No pattern here
matches `<`, `>`, `"` or `'` (escaped, they are entities), so nothing typed can open a tag or
leave an attribute, and a link is only made when its URL starts with an allowed scheme.

Speed: every pattern's repeated part excludes its own closing delimiter, and no two ways of
matching the same characters exist, so an attempt that fails gives up at the next delimiter
instead of backtracking: time grows linearly with the text, whatever the text is.
"""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

LINK_REL = "nofollow noopener noreferrer"

# Control characters are invisible, and NUL delimits the placeholders below.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Blocks, matched one line at a time.
_FENCE_OPEN = re.compile(r" {0,3}```+[^`]*$")  # any info string ("```python") is ignored
_FENCE_CLOSE = re.compile(r" {0,3}```+\s*$")
_BULLET = re.compile(r" {0,3}[-*][ \t]+(\S.*)")
_ORDERED = re.compile(r" {0,3}(\d{1,9})\.[ \t]+(\S.*)")

# Inline, on escaped text. A placeholder (NUL, index, NUL) stands for finished HTML (code,
# links) so later patterns never look inside it.
_TOKEN = re.compile(r"\x00(\d+)\x00")
_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
# In escaped text `&` only starts an entity: `&amp;` belongs to a URL, `&quot;`, `&lt;`... end it.
_LINK = re.compile(
    r"\[([^\[\]\n]+)\]\(((?:https?://|mailto:)(?:[^\s&()\x00]|&amp;)+)\)",
    re.IGNORECASE,
)
_AUTOLINK = re.compile(
    r"(?<![\w/@])https?://(?:[^\s&()\[\]*\x00]|&amp;|\([^\s&()\[\]*\x00]*\))+",
    re.IGNORECASE,
)
_URL_TRAILING = ".,:;!?_"
_STRONG = re.compile(r"(?<!\*)\*\*(?![\s*])((?:[^*\n]|\*(?!\*))+?)(?<![\s*])\*\*(?!\*)")
_EM_STAR = re.compile(r"(?<!\*)\*(?![\s*])([^*\n]+?)(?<!\s)\*(?!\*)")
_EM_UNDERSCORE = re.compile(r"(?<!\w)_(?![\s_])([^_\n]+?)(?<!\s)_(?!\w)")
# Outermost first: a span's content goes through the passes after its own, never its own
# again, so every tag added is closed inside the span that opened it.
_EMPHASIS = ((_STRONG, "strong"), (_EM_STAR, "em"), (_EM_UNDERSCORE, "em"))


def render_markdown_lite(text: str) -> SafeString:
    """`text` as HTML: escaped first, then formatted. Safe to show whatever `text` contains."""
    text = _CONTROL.sub("", str(text or "")).replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    list_tag, list_start = "", 1
    code: list[str] | None = None

    def close_block() -> None:
        nonlocal list_tag
        if paragraph:
            blocks.append(f"<p>{_inline(chr(10).join(paragraph))}</p>")
            paragraph.clear()
        if items:
            start = f' start="{list_start}"' if list_tag == "ol" and list_start != 1 else ""
            lis = "".join(f"<li>{_inline(item)}</li>" for item in items)
            blocks.append(f"<{list_tag}{start}>{lis}</{list_tag}>")
            items.clear()
        list_tag = ""

    for line in text.split("\n"):
        if code is not None:
            if _FENCE_CLOSE.match(line):
                blocks.append(_code_block(code))
                code = None
            else:
                code.append(line)
            continue
        if _FENCE_OPEN.match(line):
            close_block()
            code = []
            continue
        if not line.strip():
            close_block()
            continue
        bullet = _BULLET.match(line)
        ordered = None if bullet else _ORDERED.match(line)
        if bullet or ordered:
            tag = "ul" if bullet else "ol"
            if paragraph or tag != list_tag:
                close_block()
                list_tag, list_start = tag, int(ordered[1]) if ordered else 1
            items.append(bullet[1] if bullet else ordered[2])  # type: ignore[index]
        elif items:
            # A line under an item continues it (Markdown's "lazy continuation").
            items[-1] += "\n" + line.strip()
        else:
            paragraph.append(line.strip())
    if code is not None:  # an unclosed fence runs to the end, as in Markdown
        blocks.append(_code_block(code))
    close_block()
    return mark_safe("\n".join(blocks))  # noqa: S308  (every piece of text went through escape())


def _code_block(lines: list[str]) -> str:
    return f"<pre><code>{escape(chr(10).join(lines))}</code></pre>"


def _inline(text: str) -> str:
    """One paragraph or list item: escape, then code spans, links, emphasis and line breaks."""
    stash: list[str] = []

    def keep(html: str) -> str:
        stash.append(_restore(html, stash))
        return f"\x00{len(stash) - 1}\x00"

    def link(match: re.Match[str]) -> str:
        return keep(f'<a href="{match[2]}" rel="{LINK_REL}">{_emphasis(match[1])}</a>')

    def autolink(match: re.Match[str]) -> str:
        url = match[0].rstrip(_URL_TRAILING)
        if url.endswith("://"):
            return match[0]
        return keep(f'<a href="{url}" rel="{LINK_REL}">{url}</a>') + match[0][len(url) :]

    html = str(escape(text))
    html = _CODE.sub(lambda m: keep(f"<code>{m[1]}</code>"), html)
    html = _LINK.sub(link, html)
    html = _AUTOLINK.sub(autolink, html)
    html = _emphasis(html).replace("\n", "<br>\n")
    return _restore(html, stash)


def _emphasis(text: str, passes: tuple[tuple[re.Pattern[str], str], ...] = _EMPHASIS) -> str:
    if not passes or not text:
        return text
    (pattern, tag), rest = passes[0], passes[1:]
    out: list[str] = []
    position = 0
    for match in pattern.finditer(text):
        out.append(_emphasis(text[position : match.start()], rest))
        out.append(f"<{tag}>{_emphasis(match[1], rest)}</{tag}>")
        position = match.end()
    out.append(_emphasis(text[position:], rest))
    return "".join(out)


def _restore(html: str, stash: list[str]) -> str:
    if "\x00" not in html:
        return html
    return _TOKEN.sub(lambda m: stash[int(m[1])], html)
