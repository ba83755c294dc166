"""Atlassian Document Format (ADF) and Jira wiki markup: to and from our report text, to safe HTML.

Jira Cloud's v3 API wants ADF for descriptions and comments, while webhook payloads carry the v2
form (plain or wiki-markup strings), so both directions and both formats are needed.

- `text_to_adf`: the Markdown-lite our users type (the grammar of `bugs.markdown`) → ADF doc.
- `adf_to_html` / `adf_to_text`: ADF (or a v2 wiki string) → safe HTML / plain text.
- `wiki_to_html` / `wiki_to_text`: the common subset of Jira wiki markup, parsed into ADF first
  so that a single renderer, and a single place to get escaping right, serves both formats.

Safety: the renderer never copies markup from its input. Every text is escaped, tags come from a
fixed table, and the only attribute values taken from input are a link's href (http, https or
mailto, nothing else) and a code block's language (letters, digits and `+#._-`, as a class).

Robustness: the input comes from another system, so nothing here raises on malformed input. The
tree is walked with an explicit stack (no recursion), nodes nested deeper than `MAX_DEPTH` lose
their formatting but keep their text, and at most `MAX_NODES` nodes are visited (a bound on work,
which also ends a self-referencing dict).

Pure functions: no Django, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape as _html_escape
from typing import Any, NamedTuple

Node = dict[str, Any]

LINK_REL = "noopener noreferrer nofollow"
MAX_DEPTH = 32
MAX_NODES = 50_000
# Every tag adf_to_html can emit; tests hold the output to this list.
HTML_TAGS = frozenset(
    {"p", "br", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "pre", "code", "blockquote", "hr"}
    | {"div", "table", "tr", "th", "td", "details", "summary", "span", "strong", "em", "s", "u"}
    | {"sub", "sup", "a"}
)

_SAFE_SCHEMES = ("http://", "https://", "mailto:")
# Invisible, and NUL delimits the inline placeholders below.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LANGUAGE = re.compile(r"[\w+#.-]{1,32}", re.ASCII)


def _clean(text: str) -> str:
    return _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


def safe_href(value: object) -> str | None:
    """`value` if it is an http(s) or mailto URL a browser reads the same way, else None."""
    if not isinstance(value, str):
        return None
    href = value.strip()
    # Browsers drop tabs and newlines inside URLs; refusing any whitespace or control character
    # means the scheme we check is the scheme the browser sees.
    if not href or re.search(r"[\s\x00-\x1f\x7f]", href):
        return None
    return href if href.lower().startswith(_SAFE_SCHEMES) else None


def _safe_language(value: object) -> str | None:
    return value if isinstance(value, str) and _LANGUAGE.fullmatch(value) else None


# --- inline parsing, shared by Markdown-lite and wiki markup ------------------------------------
#
# Code spans, links and other atoms are cut out first and replaced by a placeholder (NUL, index,
# NUL), so emphasis patterns never look inside them; emphasis is then applied outermost first,
# each span's content going through the later passes only (as bugs.markdown does), and the
# placeholders are expanded with the marks of the span they ended up in.


class _Atom(NamedTuple):
    kind: str  # "code", "link" (label gets emphasis), "literal" (label as is), "node"
    text: str = ""
    href: str | None = None
    node: Node | None = None


_AtomMaker = Callable[[re.Match[str]], _Atom | None]
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")


@dataclass(frozen=True)
class _InlineGrammar:
    atoms: tuple[tuple[re.Pattern[str], _AtomMaker], ...]
    emphasis: tuple[tuple[re.Pattern[str], str], ...]


_URL_TRAILING = ".,:;!?_"
_AUTOLINK = re.compile(
    r"(?<![\w/@])https?://(?:[^\s()\[\]*<>\"'\x00]|\([^\s()\[\]*<>\"'\x00]*\))+", re.IGNORECASE
)


def _autolink(match: re.Match[str]) -> _Atom | None:
    url = match[0].rstrip(_URL_TRAILING)
    if url.endswith("://"):
        return None
    return _Atom("literal", url, url)


def _inline(line: str, grammar: _InlineGrammar) -> list[Node]:
    stash: list[_Atom] = []

    def cut(make: _AtomMaker) -> Callable[[re.Match[str]], str]:
        def replace(match: re.Match[str]) -> str:
            atom = make(match)
            if atom is None:
                return match[0]
            stash.append(atom)
            placeholder = f"\x00{len(stash) - 1}\x00"
            # An autolink gives back the punctuation it did not take.
            return placeholder + match[0][len(atom.text) :] if make is _autolink else placeholder

        return replace

    for pattern, make in grammar.atoms:
        line = pattern.sub(cut(make), line)
    out: list[Node] = []
    _emphasis(line, (), grammar.emphasis, grammar, stash, out)
    return _merge_text(out)


def _emphasis(
    text: str,
    marks: tuple[Node, ...],
    passes: tuple[tuple[re.Pattern[str], str], ...],
    grammar: _InlineGrammar,
    stash: list[_Atom],
    out: list[Node],
) -> None:
    if not text:
        return
    if not passes:
        _expand(text, marks, grammar, stash, out)
        return
    (pattern, mark), rest = passes[0], passes[1:]
    position = 0
    for match in pattern.finditer(text):
        _emphasis(text[position : match.start()], marks, rest, grammar, stash, out)
        inner = marks if any(m["type"] == mark for m in marks) else (*marks, {"type": mark})
        _emphasis(match[1], inner, rest, grammar, stash, out)
        position = match.end()
    _emphasis(text[position:], marks, rest, grammar, stash, out)


def _expand(
    text: str, marks: tuple[Node, ...], grammar: _InlineGrammar, stash: list[_Atom], out: list[Node]
) -> None:
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        out.append(_text_node(text[position : match.start()], marks))
        atom = stash[int(match[1])]
        link = ({"type": "link", "attrs": {"href": atom.href}},) if atom.href else ()
        if atom.kind == "code":
            # ADF lets `code` combine with `link` only.
            kept = tuple(mark for mark in marks if mark["type"] == "link")
            out.append(_text_node(atom.text, (*kept, {"type": "code"})))
        elif atom.kind == "link":
            _emphasis(atom.text, (*marks, *link), grammar.emphasis, grammar, stash, out)
        elif atom.kind == "literal":
            out.append(_text_node(atom.text, (*marks, *link)))
        elif atom.node is not None:
            out.append(atom.node)
        position = match.end()
    out.append(_text_node(text[position:], marks))


def _text_node(text: str, marks: tuple[Node, ...]) -> Node:
    node: Node = {"type": "text", "text": text}
    if marks:
        node["marks"] = list(marks)
    return node


def _merge_text(nodes: list[Node]) -> list[Node]:
    """Drop empty text nodes (ADF forbids them) and join neighbours that carry the same marks."""
    merged: list[Node] = []
    for node in nodes:
        if node["type"] == "text":
            if not node["text"]:
                continue
            last = merged[-1] if merged else None
            if last is not None and last["type"] == "text" and last.get("marks") == node.get("marks"):
                last["text"] += node["text"]
                continue
        merged.append(node)
    return merged


def _lines_to_inline(lines: list[str], grammar: _InlineGrammar) -> list[Node]:
    """Several lines of one paragraph or item: a hardBreak between lines, as users see them."""
    content: list[Node] = []
    for number, line in enumerate(lines):
        if number:
            content.append({"type": "hardBreak"})
        content.extend(_inline(line, grammar))
    return content


def _paragraph(lines: list[str], grammar: _InlineGrammar) -> Node:
    return {"type": "paragraph", "content": _lines_to_inline(lines, grammar)}


def _list_item(lines: list[str], grammar: _InlineGrammar) -> Node:
    return {"type": "listItem", "content": [_paragraph(lines, grammar)]}


# --- Markdown-lite → ADF --------------------------------------------------------------------------
#
# The grammar and the patterns follow bugs.markdown, so a report reads the same in Jira as on our
# report page. Every repeated part excludes its own closing delimiter: no backtracking blow-up.

_MD_FENCE_OPEN = re.compile(r" {0,3}```+([^`]*)$")
_MD_FENCE_CLOSE = re.compile(r" {0,3}```+\s*$")
_MD_BULLET = re.compile(r" {0,3}[-*][ \t]+(\S.*)")
_MD_ORDERED = re.compile(r" {0,3}(\d{1,9})\.[ \t]+(\S.*)")

_MARKDOWN = _InlineGrammar(
    atoms=(
        (re.compile(r"(?<!`)`([^`\n]+)`(?!`)"), lambda m: _Atom("code", m[1])),
        (
            re.compile(r"\[([^\[\]\n]+)\]\(((?:https?://|mailto:)[^\s()<>\"'\x00]+)\)", re.IGNORECASE),
            lambda m: _Atom("link", m[1], safe_href(m[2])),
        ),
        (_AUTOLINK, _autolink),
    ),
    emphasis=(
        (re.compile(r"(?<!\*)\*\*(?![\s*])((?:[^*\n]|\*(?!\*))+?)(?<![\s*])\*\*(?!\*)"), "strong"),
        (re.compile(r"(?<!\*)\*(?![\s*])([^*\n]+?)(?<!\s)\*(?!\*)"), "em"),
        (re.compile(r"(?<!\w)_(?![\s_])([^_\n]+?)(?<!\s)_(?!\w)"), "em"),
    ),
)


@dataclass
class _MarkdownBlocks:
    """Line-by-line state of text_to_adf: the open paragraph or list and the finished blocks."""

    blocks: list[Node] = field(default_factory=list)
    paragraph: list[str] = field(default_factory=list)
    items: list[list[str]] = field(default_factory=list)
    list_type: str = ""
    list_start: int = 1

    def close(self) -> None:
        if self.paragraph:
            self.blocks.append(_paragraph(self.paragraph, _MARKDOWN))
            self.paragraph = []
        if self.items:
            node: Node = {"type": self.list_type, "content": [_list_item(i, _MARKDOWN) for i in self.items]}
            if self.list_type == "orderedList" and self.list_start != 1:
                node["attrs"] = {"order": self.list_start}
            self.blocks.append(node)
            self.items = []
        self.list_type = ""

    def item(self, list_type: str, start: int, text: str) -> None:
        if self.paragraph or list_type != self.list_type:
            self.close()
            self.list_type, self.list_start = list_type, start
        self.items.append([text])

    def line(self, line: str) -> None:
        if self.items:  # a line under an item continues it, as in bugs.markdown
            self.items[-1].append(line.strip())
        else:
            self.paragraph.append(line.strip())


def _code_block(lines: list[str], language: str | None) -> Node:
    code = "\n".join(lines)
    node: Node = {"type": "codeBlock", "content": [{"type": "text", "text": code}] if code else []}
    if language:
        node["attrs"] = {"language": language}
    return node


def text_to_adf(text: str) -> Node:
    """Report text as typed by our users (Markdown-lite) → an ADF document for Jira's v3 API.

    Empty text gives a doc with no content, which Jira accepts for a description or comment.
    """
    state = _MarkdownBlocks()
    code: list[str] | None = None
    language: str | None = None
    for line in _clean(str(text or "")).split("\n"):
        if code is not None:
            if _MD_FENCE_CLOSE.match(line):
                state.blocks.append(_code_block(code, language))
                code = None
            else:
                code.append(line)
            continue
        fence = _MD_FENCE_OPEN.match(line)
        if fence:
            state.close()
            code, language = [], _safe_language((fence[1].split() or [""])[0])
        elif not line.strip():
            state.close()
        elif bullet := _MD_BULLET.match(line):
            state.item("bulletList", 1, bullet[1])
        elif ordered := _MD_ORDERED.match(line):
            state.item("orderedList", int(ordered[1]), ordered[2])
        else:
            state.line(line)
    if code is not None:  # an unclosed fence runs to the end, as in bugs.markdown
        state.blocks.append(_code_block(code, language))
    state.close()
    return {"type": "doc", "version": 1, "content": state.blocks}


# --- Jira wiki markup → ADF ---------------------------------------------------------------------


def _wiki_mention(match: re.Match[str]) -> _Atom:
    # An accountId means nothing to a reader and the payload has no name for it.
    target = match[1]
    text = "@user" if target.lower().startswith("accountid:") else f"@{target}"
    return _Atom("node", node={"type": "mention", "attrs": {"text": text}})


def _wiki_link(match: re.Match[str]) -> _Atom:
    label, target = match[1].strip(), match[2].strip()
    href = safe_href(target)
    # Unsafe or non-URL targets (issue keys, anchors, javascript:) keep their words, lose the link.
    return _Atom("link", label, href) if label else _Atom("literal", target, href)


def _attachment(match: re.Match[str]) -> _Atom:
    return _Atom("node", node={"type": "media", "attrs": {"alt": match[1]}})


_WIKI = _InlineGrammar(
    atoms=(
        (re.compile(r"\{\{((?:[^}\n]|\}(?!\}))+)\}\}"), lambda m: _Atom("code", m[1])),
        (re.compile(r"\[~([^\[\]|\n]+)\]"), _wiki_mention),
        (re.compile(r"\[\^([^\[\]|\n]+)\]"), _attachment),
        (re.compile(r"\[([^\[\]|\n]*)\|([^\[\]|\n]+)\]"), _wiki_link),
        (
            re.compile(r"\[((?:https?://|mailto:)[^\[\]|\s]+)\]", re.IGNORECASE),
            lambda m: _Atom("literal", m[1], safe_href(m[1])),
        ),
        (re.compile(r"!([^!\s|]+\.[A-Za-z0-9]{2,5})(?:\|[^!\n]*)?!"), _attachment),
        (_AUTOLINK, _autolink),
    ),
    emphasis=(
        (re.compile(r"(?<![\w*])\*(?![\s*])([^*\n]+?)(?<!\s)\*(?![\w*])"), "strong"),
        (re.compile(r"(?<![\w_])_(?![\s_])([^_\n]+?)(?<!\s)_(?![\w_])"), "em"),
    ),
)

_WIKI_MACRO = re.compile(r"\{(code|noformat|quote)(?::([^{}\n]*))?\}", re.IGNORECASE)
_WIKI_HEADING = re.compile(r"\s*h([1-6])\.\s+(.*)")
_WIKI_QUOTE = re.compile(r"\s*bq\.\s+(.*)")
_WIKI_LIST = re.compile(r"\s*([*#]+|-)\s+(\S.*)")
_WIKI_RULE = re.compile(r"\s*-{4,}\s*")


def _macro_language(params: str | None) -> str | None:
    """`{code:java}`, `{code:title=A.java|language=java}`, `{code:java|linenumbers=true}`."""
    for param in (params or "").split("|"):
        name, equals, value = param.partition("=")
        if not equals:
            return _safe_language(name.strip())
        if name.strip().lower() == "language":
            return _safe_language(value.strip())
    return None


def _macro_body(text: str) -> str:
    # `{code}` usually sits on its own line: the newlines next to it are not part of the code.
    return text.removeprefix("\n").removesuffix("\n")


def _wiki_blocks(text: str) -> list[Node]:
    """Split out {code}, {noformat} and {quote}; the text between is parsed line by line."""
    blocks: list[Node] = []
    position = 0
    while (opener := _WIKI_MACRO.search(text, position)) is not None:
        blocks.extend(_wiki_lines(text[position : opener.start()]))
        name = opener[1].lower()
        # The closer is found with a plain search, so an unclosed macro costs one linear scan.
        closer = re.compile(r"\{" + name + r"\}", re.IGNORECASE).search(text, opener.end())
        end = closer.start() if closer else len(text)
        body = text[opener.end() : end]
        if name == "quote":
            # The next {quote} closes this one, so the body holds no {quote}: one level at most.
            blocks.append({"type": "blockquote", "content": _wiki_blocks(body)})
        else:
            language = _macro_language(opener[2]) if name == "code" else None
            blocks.append(_code_block([_macro_body(body)], language))
        position = closer.end() if closer else len(text)
    blocks.extend(_wiki_lines(text[position:]))
    return blocks


@dataclass
class _WikiLists:
    """Nested wiki lists: `*`, `**`, `#`, `*#`…, one open list per marker character."""

    levels: list[tuple[str, Node]] = field(default_factory=list)

    def add(self, markers: str, item: Node, blocks: list[Node]) -> None:
        markers = markers.replace("-", "*")
        common = 0
        while common < min(len(markers), len(self.levels)) and self.levels[common][0] == markers[common]:
            common += 1
        del self.levels[common:]
        while len(self.levels) < len(markers):
            kind = markers[len(self.levels)]
            new_list: Node = {"type": "bulletList" if kind == "*" else "orderedList", "content": []}
            if self.levels:
                parent = self.levels[-1][1]["content"]
                if not parent:  # "** b" with no "* a" before it
                    parent.append({"type": "listItem", "content": []})
                parent[-1]["content"].append(new_list)
            else:
                blocks.append(new_list)
            self.levels.append((kind, new_list))
        self.levels[-1][1]["content"].append(item)


def _wiki_lines(text: str) -> list[Node]:
    blocks: list[Node] = []
    paragraph: list[str] = []
    lists = _WikiLists()

    def close() -> None:
        if paragraph:
            blocks.append(_paragraph(paragraph, _WIKI))
            paragraph.clear()
        lists.levels.clear()

    for line in text.split("\n"):
        if not line.strip():
            close()
        elif heading := _WIKI_HEADING.fullmatch(line):
            close()
            content = _inline(heading[2].strip(), _WIKI)
            blocks.append({"type": "heading", "attrs": {"level": int(heading[1])}, "content": content})
        elif quote := _WIKI_QUOTE.fullmatch(line):
            close()
            blocks.append({"type": "blockquote", "content": [_paragraph([quote[1].strip()], _WIKI)]})
        elif _WIKI_RULE.fullmatch(line):
            close()
            blocks.append({"type": "rule"})
        elif item := _WIKI_LIST.fullmatch(line):
            if paragraph:
                close()
            lists.add(item[1], _list_item([item[2]], _WIKI), blocks)
        elif lists.levels:  # a line under an item continues it
            lists.levels[-1][1]["content"][-1]["content"][-1]["content"].extend(
                [{"type": "hardBreak"}, *_inline(line.strip(), _WIKI)]
            )
        else:
            paragraph.append(line.strip())
    close()
    return blocks


def _wiki_to_adf(text: str) -> Node:
    return {"type": "doc", "version": 1, "content": _wiki_blocks(_clean(str(text or "")))}


def wiki_to_html(text: str) -> str:
    """Jira v2 wiki markup (or plain text) → safe HTML; anything not understood stays as text."""
    return adf_to_html(_wiki_to_adf(text))


def wiki_to_text(text: str) -> str:
    """Jira v2 wiki markup (or plain text) → plain text without the markup characters."""
    return adf_to_text(_wiki_to_adf(text))


# --- the renderer: one iterative walk, a table of node rules per output format -----------------


class _Piece(NamedTuple):
    """A rendered node: its output, whether it is a block, and (text only) the link it sits in."""

    text: str
    block: bool
    href: str | None = None


_Rule = Callable[[Node, list[_Piece]], _Piece]


@dataclass(frozen=True)
class _Format:
    rules: Mapping[str, _Rule]
    fallback: _Rule
    loose_string: Callable[[str], _Piece]  # a bare string where a node was expected


# Rendered from the node alone: the walker does not descend into their content.
_LEAVES = frozenset(
    {"text", "hardBreak", "mention", "emoji", "inlineCard", "blockCard", "embedCard", "date", "status"}
    | {"media", "mediaInline", "codeBlock", "rule"}
)
_BLOCKS = frozenset(
    {"doc", "paragraph", "heading", "bulletList", "orderedList", "listItem", "codeBlock", "blockquote"}
    | {"rule", "panel", "table", "tableRow", "tableHeader", "tableCell", "mediaSingle", "mediaGroup"}
    | {"expand", "nestedExpand", "blockCard", "embedCard"}
)


def _attrs(node: Node) -> dict[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def _attr_text(node: Node, name: str) -> str:
    value = _attrs(node).get(name)
    return value if isinstance(value, str) else ""


def _own_text(node: Node) -> str:
    """The text an unknown node carries itself: `text`, else `attrs.text`."""
    text = node.get("text")
    return text if isinstance(text, str) else _attr_text(node, "text")


def _code_text(node: Node) -> str:
    content = node.get("content")
    parts: list[str] = []
    for child in content if isinstance(content, list) else []:
        if isinstance(child, str):
            parts.append(child)
        elif isinstance(child, dict):
            parts.append("\n" if child.get("type") == "hardBreak" else _own_text(child))
    return "".join(parts)


def _date_text(node: Node) -> str:
    # ADF dates are milliseconds since the epoch, as a string, and mean a calendar day in UTC.
    try:
        moment = datetime.fromtimestamp(int(_attrs(node).get("timestamp")) / 1000, tz=UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return _attr_text(node, "timestamp")
    return moment.date().isoformat()


def _mention_text(node: Node) -> str:
    return _attr_text(node, "text") or "@user"


def _emoji_text(node: Node) -> str:
    return _attr_text(node, "text") or _attr_text(node, "shortName")


def _media_text(node: Node) -> str:
    alt = _attr_text(node, "alt").strip()
    return f"[attachment: {alt}]" if alt else "[attachment]"


def _card_url(node: Node) -> str:
    return _attr_text(node, "url")


def _children(node: Node) -> list[Any]:
    if node.get("type") in _LEAVES:
        return []
    content = node.get("content")
    return content if isinstance(content, list) else []


@dataclass
class _Frame:
    node: Node
    depth: int
    children: list[Any]
    results: list[_Piece] = field(default_factory=list)
    next_child: int = 0


def _render(root: object, fmt: _Format) -> _Piece:
    """Post-order walk with an explicit stack: a node is finished once all its children are."""
    if isinstance(root, list):
        root = {"type": "doc", "content": root}
    if not isinstance(root, dict):
        return _Piece("", True)
    visited = 1
    stack = [_Frame(root, 0, _children(root))]
    while True:
        frame = stack[-1]
        if frame.next_child < len(frame.children) and visited < MAX_NODES:
            child = frame.children[frame.next_child]
            frame.next_child += 1
            visited += 1
            if isinstance(child, dict):
                stack.append(_Frame(child, frame.depth + 1, _children(child)))
            elif isinstance(child, str):
                frame.results.append(fmt.loose_string(child))
            continue  # numbers, None, lists where a node should be: nothing to show
        stack.pop()
        node_type = frame.node.get("type")
        rule = fmt.rules.get(node_type) if isinstance(node_type, str) else None
        if rule is None or (frame.depth > MAX_DEPTH and node_type not in _LEAVES):
            rule = fmt.fallback
        piece = rule(frame.node, frame.results)
        if not stack:
            return piece
        stack[-1].results.append(piece)


# --- HTML -----------------------------------------------------------------------------------------


def _esc(text: str) -> str:
    return _html_escape(_CONTROL.sub("", text), quote=True)


def _link(href: str, inner: str) -> str:
    return f'<a href="{_esc(href)}" rel="{LINK_REL}">{inner}</a>'


def _html_join(pieces: list[_Piece]) -> str:
    # A newline next to a block keeps degraded blocks' words apart; HTML shows it as a space.
    out: list[str] = []
    for number, piece in enumerate(pieces):
        if number and (piece.block or pieces[number - 1].block):
            out.append("\n")
        out.append(piece.text)
    return "".join(out)


def _html_wrap(tag: str, css: str = "", *, block: bool = True) -> _Rule:
    opening = f'<{tag} class="{css}">' if css else f"<{tag}>"
    return lambda node, pieces: _Piece(f"{opening}{_html_join(pieces)}</{tag}>", block)


def _html_fallback(node: Node, pieces: list[_Piece]) -> _Piece:
    block = node.get("type") in _BLOCKS or any(piece.block for piece in pieces)
    return _Piece(_html_join(pieces) if pieces else _esc(_own_text(node)), block)


# Outermost first, so `<a><strong>…</strong></a>` whatever order the marks come in.
_HTML_MARKS: dict[str, tuple[str, str]] = {
    "strong": ("<strong>", "</strong>"),
    "em": ("<em>", "</em>"),
    "underline": ("<u>", "</u>"),
    "strike": ("<s>", "</s>"),
    "code": ("<code>", "</code>"),
}


def _html_text(node: Node) -> _Piece:
    text = node.get("text")
    html = _esc(text) if isinstance(text, str) else ""
    marks = node.get("marks")
    kinds: dict[str, Node] = {}
    for mark in marks if isinstance(marks, list) else []:
        if isinstance(mark, dict) and isinstance(mark.get("type"), str):
            kinds.setdefault(mark["type"], mark)
    for kind in reversed(_HTML_MARKS):
        if kind in kinds:
            opening, closing = _HTML_MARKS[kind]
            html = f"{opening}{html}{closing}"
    if "subsup" in kinds:
        tag = "sup" if _attr_text(kinds["subsup"], "type") == "sup" else "sub"
        html = f"<{tag}>{html}</{tag}>"
    href = safe_href(_attrs(kinds["link"]).get("href")) if "link" in kinds else None
    return _Piece(_link(href, html) if href else html, False)


def _html_heading(node: Node, pieces: list[_Piece]) -> _Piece:
    level = _attrs(node).get("level")
    level = min(max(level, 1), 6) if isinstance(level, int) and not isinstance(level, bool) else 1
    return _Piece(f"<h{level}>{_html_join(pieces)}</h{level}>", True)


def _html_code_block(node: Node, pieces: list[_Piece]) -> _Piece:
    language = _safe_language(_attrs(node).get("language"))
    opening = f'<code class="language-{_esc(language)}">' if language else "<code>"
    return _Piece(f"<pre>{opening}{_esc(_code_text(node))}</code></pre>", True)


def _html_expand(node: Node, pieces: list[_Piece]) -> _Piece:
    title = _attr_text(node, "title")
    summary = f"<summary>{_esc(title)}</summary>" if title else ""
    return _Piece(f"<details>{summary}{_html_join(pieces)}</details>", True)


def _html_card(node: Node, pieces: list[_Piece]) -> _Piece:
    url = _card_url(node)
    href = safe_href(url)
    html = _link(href, _esc(href)) if href else _esc(url)
    return _Piece(f"<p>{html}</p>" if node.get("type") in _BLOCKS else html, node.get("type") in _BLOCKS)


def _html_span(css: str, text_of: Callable[[Node], str]) -> _Rule:
    return lambda node, pieces: _Piece(f'<span class="{css}">{_esc(text_of(node))}</span>', False)


_HTML = _Format(
    rules={
        "doc": lambda node, pieces: _Piece(_html_join(pieces), True),
        "paragraph": _html_wrap("p"),
        "heading": _html_heading,
        "bulletList": _html_wrap("ul"),
        "orderedList": _html_wrap("ol"),
        "listItem": _html_wrap("li"),
        "codeBlock": _html_code_block,
        "blockquote": _html_wrap("blockquote"),
        "rule": lambda node, pieces: _Piece("<hr>", True),
        "panel": _html_wrap("div", "panel"),
        "table": _html_wrap("table"),
        "tableRow": _html_wrap("tr"),
        "tableHeader": _html_wrap("th"),
        "tableCell": _html_wrap("td"),
        "mediaSingle": _html_wrap("p"),
        "mediaGroup": _html_wrap("p"),
        "media": _html_span("attachment", _media_text),
        "mediaInline": _html_span("attachment", _media_text),
        "expand": _html_expand,
        "nestedExpand": _html_expand,
        "text": lambda node, pieces: _html_text(node),
        "hardBreak": lambda node, pieces: _Piece("<br>", False),
        "mention": _html_span("mention", _mention_text),
        "emoji": lambda node, pieces: _Piece(_esc(_emoji_text(node)), False),
        "inlineCard": _html_card,
        "blockCard": _html_card,
        "embedCard": _html_card,
        "date": _html_span("date", _date_text),
        "status": _html_span("status", lambda node: _attr_text(node, "text")),
    },
    fallback=_html_fallback,
    loose_string=lambda text: _Piece(_esc(text), False),
)


def adf_to_html(node: Node | str | None) -> str:
    """ADF (or a v2 wiki-markup string) → HTML that is safe to mark safe, whatever the input.

    Only tags in `HTML_TAGS` are emitted; unknown nodes show their text; never raises.
    """
    if isinstance(node, str):
        return wiki_to_html(node)
    return _render(node, _HTML).text


# --- plain text ------------------------------------------------------------------------------------


def _text_inline(pieces: list[_Piece]) -> str:
    """Inline pieces joined; a link whose words differ from its URL gets the URL after it."""
    out: list[str] = []
    index = 0
    while index < len(pieces):
        href = pieces[index].href
        end = index + 1
        while href and end < len(pieces) and pieces[end].href == href:
            end += 1
        words = "".join(piece.text for piece in pieces[index:end])
        shown = href.removeprefix("mailto:") if href else ""
        out.append(f"{words} ({shown})" if href and words.strip() not in (href, shown) else words)
        index = end
    return "".join(out)


def _text_chunks(pieces: list[_Piece]) -> list[str]:
    """Runs of inline pieces become one chunk each; every block is a chunk of its own."""
    chunks: list[str] = []
    run: list[_Piece] = []
    for piece in [*pieces, _Piece("", True)]:
        if not piece.block:
            run.append(piece)
            continue
        if run:
            chunks.append(_text_inline(run).strip("\n"))
            run = []
        chunks.append(piece.text)
    return [chunk for chunk in chunks if chunk.strip()]


def _text_container(separator: str = "\n\n", *, block: bool = True) -> _Rule:
    return lambda node, pieces: _Piece(separator.join(_text_chunks(pieces)), block)


def _text_inline_block(node: Node, pieces: list[_Piece]) -> _Piece:
    return _Piece(_text_inline(pieces).strip("\n"), True)


def _indent(text: str, first: str, rest: str) -> str:
    lines = text.split("\n")
    return "\n".join([first + lines[0], *(rest + line if line else line for line in lines[1:])])


def _text_list(ordered: bool) -> _Rule:
    def rule(node: Node, pieces: list[_Piece]) -> _Piece:
        order = _attrs(node).get("order")
        start = order if isinstance(order, int) and not isinstance(order, bool) else 1
        lines = []
        for number, item in enumerate(_text_chunks(pieces)):
            marker = f"{start + number}. " if ordered else "- "
            lines.append(_indent(item, marker, " " * len(marker)))
        return _Piece("\n".join(lines), True)

    return rule


def _text_quote(node: Node, pieces: list[_Piece]) -> _Piece:
    lines = "\n\n".join(_text_chunks(pieces)).split("\n")
    return _Piece("\n".join(f"> {line}" if line else ">" for line in lines), True)


def _text_fallback(node: Node, pieces: list[_Piece]) -> _Piece:
    if not pieces:
        return _Piece(_own_text(node), node.get("type") in _BLOCKS)
    if node.get("type") in _BLOCKS or any(piece.block for piece in pieces):
        return _Piece("\n\n".join(_text_chunks(pieces)), True)
    return _Piece(_text_inline(pieces), False)


def _text_text(node: Node) -> _Piece:
    text = node.get("text")
    marks = node.get("marks")
    href = None
    for mark in marks if isinstance(marks, list) else []:
        if isinstance(mark, dict) and mark.get("type") == "link":
            href = safe_href(_attrs(mark).get("href"))
    return _Piece(text if isinstance(text, str) else "", False, href)


def _text_expand(node: Node, pieces: list[_Piece]) -> _Piece:
    return _Piece("\n\n".join([_attr_text(node, "title"), *_text_chunks(pieces)]).strip("\n"), True)


def _text_leaf(text_of: Callable[[Node], str], *, block: bool = False) -> _Rule:
    return lambda node, pieces: _Piece(text_of(node), block)


_TEXT = _Format(
    rules={
        "doc": _text_container(),
        "paragraph": _text_inline_block,
        "heading": _text_inline_block,
        "bulletList": _text_list(ordered=False),
        "orderedList": _text_list(ordered=True),
        "listItem": _text_container("\n"),
        "codeBlock": _text_leaf(_code_text, block=True),
        "blockquote": _text_quote,
        "rule": _text_leaf(lambda node: "---", block=True),
        "panel": _text_container(),
        "table": _text_container("\n"),
        "tableRow": lambda node, pieces: _Piece(" | ".join(piece.text for piece in pieces), True),
        "tableHeader": _text_container(" "),
        "tableCell": _text_container(" "),
        "mediaSingle": _text_container(),
        "mediaGroup": _text_container(),
        "media": _text_leaf(_media_text),
        "mediaInline": _text_leaf(_media_text),
        "expand": _text_expand,
        "nestedExpand": _text_expand,
        "text": lambda node, pieces: _text_text(node),
        "hardBreak": _text_leaf(lambda node: "\n"),
        "mention": _text_leaf(_mention_text),
        "emoji": _text_leaf(_emoji_text),
        "inlineCard": _text_leaf(_card_url),
        "blockCard": _text_leaf(_card_url, block=True),
        "embedCard": _text_leaf(_card_url, block=True),
        "date": _text_leaf(_date_text),
        "status": _text_leaf(lambda node: _attr_text(node, "text")),
    },
    fallback=_text_fallback,
    loose_string=lambda text: _Piece(text, False),
)


def adf_to_text(node: Node | str | None) -> str:
    """ADF (or a v2 wiki-markup string) → plain text: blank lines between paragraphs, "- " items.

    Mentions show their name, attachments "[attachment: name]"; never raises.
    """
    if isinstance(node, str):
        return wiki_to_text(node)
    text = _render(node, _TEXT).text
    return "\n".join(line.rstrip() for line in _CONTROL.sub("", text).split("\n")).strip("\n")
