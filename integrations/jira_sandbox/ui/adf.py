"""Atlassian Document Format ↔ plain text for the sandbox's pages.

The pages show ADF as paragraphs of plain text (the templates escape it: an ADF body is whatever
an API caller sent), and the comment form turns typed text into ADF paragraphs. Node kinds are
data: block kinds start a new paragraph, inline kinds render as text through a small table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Block nodes: each one's text becomes its own paragraph (lists give one paragraph per item).
BLOCKS = frozenset(
    {"paragraph", "heading", "blockquote", "codeBlock", "listItem", "panel", "tableCell", "tableHeader"}
)
# Inline nodes without a `text`: how each one reads as text.
INLINE_TEXT: dict[str, Callable[[dict[str, Any]], str]] = {
    "hardBreak": lambda node: "\n",
    "mention": lambda node: str(_attrs(node).get("text") or "@" + str(_attrs(node).get("id", "someone"))),
    "emoji": lambda node: str(_attrs(node).get("text") or _attrs(node).get("shortName", "")),
    "inlineCard": lambda node: str(_attrs(node).get("url", "")),
    "status": lambda node: f"[{_attrs(node).get('text', '')}]",
    "date": lambda node: str(_attrs(node).get("timestamp", "")),
    "rule": lambda node: "—",
}
# A document is capped at this many paragraphs on a page (a huge body must not hang the page).
MAX_PARAGRAPHS = 500


def _attrs(node: dict[str, Any]) -> dict[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def paragraphs(doc: Any) -> list[str]:
    """The document's text as paragraphs (hard breaks kept as newlines); [] for nothing.

    Tolerates anything: a string (an API v2 body) is one paragraph, unknown nodes contribute the
    text of their children, non-dict nodes are skipped."""
    if doc is None:
        return []
    if isinstance(doc, str):
        return [doc] if doc.strip() else []
    out: list[str] = []
    current: list[str] = []
    _walk(doc, out, current, depth=0)
    _flush(out, current)
    return out[:MAX_PARAGRAPHS]


def _flush(out: list[str], current: list[str]) -> None:
    text = "".join(current).strip()
    current.clear()
    if text:
        out.append(text)


def _walk(node: Any, out: list[str], current: list[str], *, depth: int) -> None:
    if not isinstance(node, dict) or depth > 50:
        return
    kind = node.get("type")
    if kind == "text":
        current.append(str(node.get("text", "")))
        return
    if kind in INLINE_TEXT:
        current.append(INLINE_TEXT[kind](node))
        return
    is_block = kind in BLOCKS
    if is_block:
        _flush(out, current)
    children = node.get("content")
    if isinstance(children, list):
        for child in children:
            _walk(child, out, current, depth=depth + 1)
    if is_block:
        _flush(out, current)


def plain_text(doc: Any) -> str:
    """The whole document as one string, paragraphs separated by blank lines."""
    return "\n\n".join(paragraphs(doc))


def text_to_adf(text: str) -> dict[str, Any]:
    """Typed text → an ADF document: blank lines separate paragraphs, single newlines are breaks."""
    blocks = [block.strip("\n") for block in text.replace("\r\n", "\n").split("\n\n")]
    content = []
    for block in blocks:
        if not block.strip():
            continue
        inline: list[dict[str, Any]] = []
        for number, line in enumerate(block.split("\n")):
            if number:
                inline.append({"type": "hardBreak"})
            if line:
                inline.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": inline})
    return {"type": "doc", "version": 1, "content": content}
