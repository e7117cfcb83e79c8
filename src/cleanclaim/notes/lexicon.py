"""The note reader's vocabulary, read once from ``lexicon.yaml`` beside this module: intervention names and
abbreviations with the codes they name, and the credentials a signature may carry. A wrong or missing entry is a
data fix, not a code change."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from cleanclaim.errors import DataError

__all__ = ["Entry", "Lexicon", "lexicon"]

_DATA_FILE = "lexicon.yaml"
_WHERE = f"cleanclaim/notes/{_DATA_FILE}"


@dataclass(frozen=True)
class Entry:
    """One way of naming an intervention in a note."""

    codes: tuple[str, ...]
    name: str
    separate: bool
    group: bool
    source: str

    @property
    def code(self) -> str | None:
        """The code reported for the intervention (a family's first member; the coder picks the member the
        minutes support)."""
        return self.codes[0] if self.codes else None


@dataclass(frozen=True)
class Lexicon:
    entries: tuple[Entry, ...]
    folded: re.Pattern[str]
    """Every case-insensitive pattern in one alternation; group ``e<n>`` is entry n."""
    by_first: dict[str, re.Pattern[str]]
    """The same names, one alternation (anchored, no look-behind) per lower-case first character."""
    exact: re.Pattern[str]
    """The abbreviations that are ordinary words in lower case ("TA", "MT"), matched as written."""
    credentials: frozenset[str]
    degrees: frozenset[str]
    assistants: frozenset[str]
    names_by_code: dict[str, str]


_ANY = frozenset({"*"})


def _first_chars(pattern: str, flags: int) -> frozenset[str]:
    """The lower-case characters a match of ``pattern`` can start with ("*": could not tell), so the reader tries
    at a word only the names that can start there (one alternation of every name was 12 ms a note)."""
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    def first(items: list[Any]) -> tuple[set[str], bool]:  # (chars, whether the sequence can match empty)
        chars: set[str] = set()
        for op, arg in items:
            if op is c.LITERAL:
                return chars | {chr(arg).lower()}, False
            if op is c.IN:
                for kind, value in arg:
                    if kind is c.LITERAL:
                        chars.add(chr(value).lower())
                    elif kind is c.RANGE:
                        chars.update(chr(v).lower() for v in range(value[0], value[1] + 1))
                    else:
                        return {"*"}, False
                return chars, False
            if op is c.SUBPATTERN:
                got, empty = first(list(arg[-1]))
                chars |= got
                if not empty:
                    return chars, False
                continue
            if op is c.BRANCH:
                empty_any = False
                for branch in arg[1]:
                    got, empty = first(list(branch))
                    chars |= got
                    empty_any = empty_any or empty
                if not empty_any:
                    return chars, False
                continue
            if op in (c.MAX_REPEAT, c.MIN_REPEAT):
                low, _, body = arg
                got, empty = first(list(body))
                chars |= got
                if low > 0 and not empty:
                    return chars, False
                continue
            if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
                continue
            return {"*"}, False
        return chars, True

    try:
        chars, empty = first(list(_parser.parse(pattern, flags)))
    except Exception:  # an unusual construct: try the name everywhere
        return _ANY
    return _ANY if empty or "*" in chars else frozenset(chars)


def _alternation(items: list[tuple[int, str]], flags: int, *, anchored: bool = False) -> re.Pattern[str]:
    # Longer patterns first: at one position the alternation takes the first alternative that matches, and the
    # longer name ("self-care/home management training") is the more specific one.
    items = sorted(items, key=lambda item: -len(item[1]))
    parts = [f"(?P<e{index}_{n}>{pattern})" for n, (index, pattern) in enumerate(items)]
    body = "|".join(parts) if parts else "(?!)"
    if anchored:
        return re.compile(rf"(?:{body})(?![A-Za-z0-9])", flags)
    return re.compile(rf"(?<![A-Za-z0-9])(?:{body})(?![A-Za-z0-9])", flags)


def _entry(item: Any, number: int) -> tuple[Entry, list[str], bool]:
    if not isinstance(item, dict) or not item.get("name") or not isinstance(item.get("patterns"), list):
        raise DataError(f"{_WHERE}: intervention {number} needs `name`, `codes` and a `patterns` list")
    patterns = [str(p) for p in item["patterns"]]
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise DataError(f"{_WHERE}: intervention {number} ({item['name']}): bad pattern {pattern!r}: {exc}") \
                from exc
    entry = Entry(
        codes=tuple(str(c) for c in item.get("codes") or []),
        name=str(item["name"]),
        separate=bool(item.get("separate", True)),
        group=bool(item.get("group", False)),
        source=str(item.get("source", "")),
    )
    return entry, patterns, item.get("case") == "exact"


@cache
def lexicon() -> Lexicon:
    """The packaged lexicon, parsed and compiled once."""
    text = resources.files("cleanclaim.notes").joinpath(_DATA_FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("interventions"), list):
        raise DataError(f"{_WHERE}: expected a mapping with an `interventions` list")
    entries: list[Entry] = []
    folded: list[tuple[int, str]] = []
    exact: list[tuple[int, str]] = []
    for number, item in enumerate(data["interventions"], start=1):
        entry, patterns, is_exact = _entry(item, number)
        index = len(entries)
        entries.append(entry)
        (exact if is_exact else folded).extend((index, p) for p in patterns)
    names: dict[str, str] = {}
    for entry in list(entries):
        for code in entry.codes:
            names.setdefault(code, entry.name)
    # a note may name the code itself ("97535 30 min"): each known code is a name of its own service
    for code, name in sorted(names.items()):
        folded.append((len(entries), re.escape(code)))
        entries.append(Entry(codes=(code,), name=name, separate=True, group=False,
                             source="the code as written in the note"))
    buckets: dict[str, list[tuple[int, str]]] = {}
    anywhere: list[tuple[int, str]] = []
    for index, pattern in folded:
        starts = _first_chars(pattern, re.IGNORECASE)
        if starts == _ANY:
            anywhere.append((index, pattern))
        for char in starts - _ANY:
            buckets.setdefault(char, []).append((index, pattern))
    chars = set(buckets) | set("abcdefghijklmnopqrstuvwxyz0123456789")
    by_first = {char: _alternation(buckets.get(char, []) + anywhere, re.IGNORECASE, anchored=True)
                for char in chars}
    return Lexicon(
        entries=tuple(entries),
        by_first=by_first,
        folded=_alternation(folded, re.IGNORECASE),
        exact=_alternation(exact, 0),
        credentials=frozenset(str(c) for c in data.get("credentials") or []),
        degrees=frozenset(str(c) for c in data.get("degrees") or []),
        assistants=frozenset(str(c) for c in data.get("assistants") or []),
        names_by_code=names,
    )


def entry_of(match: re.Match[str]) -> int:
    """The entry index of a match of one of the lexicon's alternations."""
    group = match.lastgroup or ""
    return int(group[1:].split("_", 1)[0])
