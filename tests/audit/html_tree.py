"""A small element tree of an HTML document (stdlib parser only), enough to find elements and read their text."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                   "wbr"})


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(child if isinstance(child, str) else child.text for child in self.children)

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, predicate: Callable[[Element], bool]) -> list[Element]:
        return [element for element in self.iter() if predicate(element)]

    def by_id(self, ident: str) -> Element:
        found = self.find_all(lambda e: e.attrs.get("id") == ident)
        assert len(found) == 1, f"{len(found)} elements with id {ident}"
        return found[0]

    def tagged(self, tag: str) -> list[Element]:
        return self.find_all(lambda e: e.tag == tag)

    def body_rows(self) -> list[list[str]]:
        """A table's body rows as the text of their cells."""
        (body,) = self.tagged("tbody")
        return [[cell.text.strip() for cell in row.children if isinstance(cell, Element)] for row in body.tagged("tr")]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return
        raise AssertionError(f"</{tag}> closes nothing open")

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    assert [e.tag for e in builder.stack] == ["#document"], f"unclosed: {[e.tag for e in builder.stack]}"
    return builder.root
