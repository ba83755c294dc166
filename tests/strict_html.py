"""A strict HTML reader for the renderers' safety tests: tags must nest, and comments, declarations,
processing instructions and self-closing tags fail outright. Each test module says which tags
and attributes its renderer may emit by overriding `start`."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import TypeVar

Reader = TypeVar("Reader", bound="StrictHtml")


class StrictHtml(HTMLParser):
    void: frozenset[str] = frozenset({"br"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []

    def start(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Fail (assert) on a tag or attribute the renderer under test must never emit."""
        raise NotImplementedError

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.start(tag, attrs)
        if tag not in self.void:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise AssertionError(f"self-closing <{tag}/>")

    def handle_comment(self, data: str) -> None:
        raise AssertionError("comment")

    def handle_decl(self, decl: str) -> None:
        raise AssertionError("declaration")

    def handle_pi(self, data: str) -> None:
        raise AssertionError("processing instruction")


def read(reader: type[Reader], html: str) -> Reader:
    """Read all of `html` with a fresh reader; every opened tag must have been closed."""
    checker = reader()
    checker.feed(html)
    checker.close()
    assert checker.stack == [], f"unclosed: {checker.stack}"
    return checker
