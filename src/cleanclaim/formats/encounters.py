"""Encounter files (YAML or JSON, the interchange contract): parsed into `Encounter` objects with errors that name the
file, the line in the file and the field.

One bad encounter does not stop the others: it is reported as an `InputError` and the rest are returned. A file that
is not YAML/JSON at all, or has no encounters, raises.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.reader import ReaderError

from cleanclaim.errors import InputError, UnreadableTextError, is_phi_field
from cleanclaim.gcpause import collector_paused
from cleanclaim.model import Encounter

__all__ = ["ENCOUNTER_SUFFIXES", "EncounterFile", "load_encounters", "parse_encounters", "read_encounter_bytes"]

ENCOUNTER_SUFFIXES = (".yaml", ".yml", ".json")
OTHER_CLAIM_FILES = (".csv", ".parquet", ".pq", ".837", ".837p", ".x12", ".edi", ".835")


@dataclass
class EncounterFile:
    """What was read: the good encounters, and an error for every part that could not be read."""

    sources: list[str]
    encounters: list[Encounter] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    locations: dict[tuple[str, str], int] = field(default_factory=dict)
    minutes_carried: bool = True
    """False for claim files (837P) that have no place for documented minutes."""
    """(encounter id, dotted field path such as 'services.1.code') -> line number in the file."""

    def extend(self, other: EncounterFile) -> None:
        self.sources.extend(other.sources)
        self.encounters.extend(other.encounters)
        self.errors.extend(other.errors)
        self.locations.update(other.locations)

    def line_of(self, encounter_id: str, path: str = "") -> int | None:
        return self.locations.get((encounter_id, path))


class _Located:
    """Line numbers of every node in a YAML document, looked up by a path of keys and indexes."""

    def __init__(self, node: yaml.Node | None) -> None:
        self.node = node

    def child(self, key: str | int) -> _Located:
        node = self.node
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == str(key):
                    return _Located(value_node)
        if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            return _Located(node.value[key])
        return _Located(None)

    def line(self) -> int | None:
        return self.node.start_mark.line + 1 if self.node is not None else None

    def find(self, path: Iterable[str | int]) -> int | None:
        """The line of the deepest node on the path that exists (a missing field points at its parent)."""
        best = self.line()
        current: _Located = self
        for key in path:
            current = current.child(key)
            if current.node is None:
                break
            best = current.line()
        return best

    def walk(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        node = self.node
        if node is None:
            return
        yield prefix, node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                key = str(key_node.value)
                yield from self.child(key).walk(f"{prefix}.{key}" if prefix else key)
        elif isinstance(node, yaml.SequenceNode):
            for index in range(len(node.value)):
                yield from self.child(index).walk(f"{prefix}.{index}" if prefix else str(index))


def _describe(error: Any, field: str) -> str:
    """The pydantic error in the contract's words. The value given is shown to help find it, except in a patient's or
    subscriber's field (PHI: `is_phi_field`), where only the field and what was expected are said."""
    message = str(error["msg"])
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "extra_forbidden":
        return "is not a field of the encounter contract (check its spelling)"
    message = message.removeprefix("Value error, ")
    text = message[0].lower() + message[1:] if message else message
    given = error.get("input")
    if is_phi_field(field):
        shown = str(given) if isinstance(given, str | int | float | bool) else ""
        return text.replace(shown, "(value not shown)") if len(shown) > 1 and shown in text else text
    if not isinstance(given, str | int | float | bool):
        return text
    if isinstance(given, int) and given.bit_length() > 4 * MAX_SHOWN_CHARACTERS:
        return f"{text} (got a number too long to show)"  # str() of a 4,301-digit int raises, and helps nobody
    if str(given) in text:
        return text
    shown = repr(given)
    if len(shown) > MAX_SHOWN_CHARACTERS:
        shown = f"{shown[:MAX_SHOWN_CHARACTERS]}... ({len(str(given))} characters)"
    return f"{text} (got {shown})"


# libyaml's loader where PyYAML was built with it (the wheels are): the same safe subset of YAML, about five times
# faster than the pure-Python loader, which was half of checking one encounter file.
YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_ALIAS_NODES = 1_000_000
"""How many nodes YAML aliases may add to a document in all. An anchor shared by many encounters (a billing provider of
ten nodes in 10,000 encounters adds 100,000) is an honest use; a "billion laughs" document of 387 bytes adds 10^9,
which every later step (validation, locations) would walk. Past this bound the file is refused at the alias that
crosses it."""

MAX_NESTING = 32
"""How many mappings and lists may be open inside one another. An encounter file is at most six deep (encounters, the
list, an encounter, its services, a service, its modifiers); past the bound the file is refused at the line where the
bound is passed, the same whether or not Python's readers could have gone deeper (a 100,000-deep document makes them
raise RecursionError, which has no place)."""

MAX_SHOWN_CHARACTERS = 40
"""An error repeats at most this many characters of the value given (a 5,000-digit number would bury the message)."""


class _EncounterLoader(YAML_LOADER):  # type: ignore[misc,valid-type]
    """The safe loader, except that a scalar YAML resolves to a timestamp or an integer but Python cannot build is
    kept as its text: `2026-02-30` (no such day) or an integer of more than 4,300 digits (Python's int/str limit)
    raise ValueError in PyYAML and would abort the whole file (and a folder with it). As text, the field that expects
    a date or a number reports it at its own line, and every other encounter is read."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            return self.construct_scalar(node)


_EncounterLoader.add_constructor("tag:yaml.org,2002:timestamp", _EncounterLoader.construct_yaml_timestamp)
_EncounterLoader.add_constructor("tag:yaml.org,2002:int", _EncounterLoader.construct_yaml_int)


def _json_int(text: str) -> int | str:
    # JSON's counterpart of the loader above: an integer Python will not convert stays text for its field to report
    try:
        return int(text)
    except ValueError:
        return text


def _refuse_alias_bombs(text: str, source: str) -> None:
    """Count, on the parser's events (nothing is built), the nodes that aliases add; refuse the document past
    MAX_ALIAS_NODES, or at an alias inside the list or mapping it names (`&a [*a]`: a structure that contains itself
    has no end, and every later walk of it would recurse until Python gives up). Events are read only when the text
    can hold an alias at all (a `*`)."""
    if "*" not in text:
        return
    sizes: dict[str, int] = {}
    open_nodes: list[list[Any]] = []  # [anchor, nodes so far] of each collection being read
    still_open: dict[str, int] = {}  # anchor -> the depth of the collection it names, while that is being read
    added = 0
    for event in yaml.parse(text, Loader=YAML_LOADER):
        size = 0
        if isinstance(event, yaml.CollectionStartEvent):
            open_nodes.append([event.anchor, 1])
            if event.anchor is not None:
                still_open[str(event.anchor)] = len(open_nodes)
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            if still_open.get(str(open_nodes[-1][0])) == len(open_nodes):
                del still_open[str(open_nodes[-1][0])]
            anchor, size = open_nodes.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
            still_open.pop(str(anchor), None)  # the name now stands for this scalar
        elif isinstance(event, yaml.AliasEvent):
            if str(event.anchor) in still_open:
                mark = event.start_mark
                raise InputError(f"YAML alias *{event.anchor} is inside the list or mapping it names, which would "
                                 "then contain itself without end; write the repeated part out",
                                 file=source, line=mark.line + 1 if mark is not None else None)
            anchor, size = None, sizes.get(str(event.anchor), 1)
            added += size
            if added > MAX_ALIAS_NODES:
                mark = event.start_mark
                raise InputError(f"YAML aliases here expand the document by more than {MAX_ALIAS_NODES:,} nodes (an "
                                 "alias bomb?); write the repeated parts out, or split the file",
                                 file=source, line=mark.line + 1 if mark is not None else None)
        else:
            continue
        if anchor is not None:
            sizes[str(anchor)] = size
        if open_nodes:
            open_nodes[-1][1] += size


_Duplicate = tuple[str, int, int, tuple[int, int]]
"""A key given twice: the key, the line of the repeat, the line of the first, and the repeat's (line, column) from 0."""


def _duplicate_keys(root: yaml.Node | None, source: str) -> list[_Duplicate]:
    """Every key given twice in one mapping: YAML and JSON loaders keep the last silently, so which value was meant
    cannot be known. Walking every node, it also refuses a document nested past MAX_NESTING."""
    found: list[_Duplicate] = []
    seen_nodes: set[int] = set()
    pending = [(root, 1)] if root is not None else []
    while pending:
        node, depth = pending.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.CollectionNode) and depth > MAX_NESTING:
            raise _too_deep(source, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in node.value:
                # YAML's merge key `<<` may repeat; a JSON or a quoted "<<" is a key like any other
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                    mark = key_node.start_mark
                    line = mark.line + 1
                    if key_node.value in first:
                        found.append((str(key_node.value), line, first[key_node.value], (mark.line, mark.column)))
                    else:
                        first[key_node.value] = line
                pending.append((value_node, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            pending.extend((item, depth + 1) for item in node.value)
    return found


def _too_deep(source: str, line: int) -> InputError:
    return InputError(f"nested more than {MAX_NESTING} levels deep here (an encounter is a few levels deep): too deep "
                      "to read", file=source, line=line)


def _nesting_line(text: str, source: str) -> int:
    """The line where the nesting passes MAX_NESTING, found after a reader ran out of recursion. Read again without
    building anything (JSON tokens or YAML events); if the bound is never passed, the deepest point's line."""
    depth, deepest, deepest_line = 0, 0, 1
    if source.endswith(".json"):
        deepest_at = 0
        for token in _JSON_TOKEN.finditer(text):
            bracket = token.group()
            if bracket in "{[":
                depth += 1
                if depth > deepest:
                    deepest, deepest_at = depth, token.start()
                if depth > MAX_NESTING:
                    break
            elif bracket in "}]":
                depth -= 1
        return text.count("\n", 0, deepest_at) + 1
    try:
        for event in yaml.parse(text, Loader=YAML_LOADER):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > deepest and event.start_mark is not None:
                    deepest, deepest_line = depth, event.start_mark.line + 1
                if depth > MAX_NESTING:
                    break
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:  # broken further on: the deepest point read so far
        pass
    return deepest_line


_JSON_TOKEN = re.compile(r'[{}\[\]]|"[^"\\]*(?:\\.[^"\\]*)*"|[^ \t\n\r,:\[\]{}"]+')
"""A JSON value's tokens: brackets, strings (escapes included), and numbers or literals; commas, colons and blanks
lie between them. Applied only to text the JSON reader accepted (or to find the depth of text it could not)."""

_MAP_TAG, _SEQ_TAG, _STR_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _compose_json(text: str, source: str) -> yaml.Node | None:
    """The node tree of a JSON document, with the line and column of every value, as `yaml.compose` gives for YAML.
    JSON is not a subset of the YAML that PyYAML reads (a DEL or C1 character in a string, a tab, some escapes), so
    composing JSON as YAML can fail and leave every error of the file without a line. This walks the tokens
    iteratively (no recursion) and refuses nesting past MAX_NESTING at its line."""
    root: yaml.Node | None = None
    open_nodes: list[yaml.CollectionNode] = []
    keys: list[yaml.Node | None] = []  # for each open mapping, a key read whose value is not yet complete
    line, line_start, position = 0, 0, 0  # counted forward token by token: no token holds a line break
    for token in _JSON_TOKEN.finditer(text):
        start, end = token.span()
        if breaks := text.count("\n", position, start):
            line += breaks
            line_start = text.rfind("\n", position, start) + 1
        position = end
        word = token.group()
        node: yaml.Node
        if word in "{[":
            mark = yaml.Mark(source, start, line, start - line_start, None, start)
            opened = (yaml.MappingNode(_MAP_TAG, [], mark, mark, flow_style=True) if word == "{"
                      else yaml.SequenceNode(_SEQ_TAG, [], mark, mark, flow_style=True))
            open_nodes.append(opened)
            keys.append(None)
            if len(open_nodes) > MAX_NESTING:
                raise _too_deep(source, line + 1)
            continue
        if word in "}]":
            node = open_nodes.pop()
            keys.pop()
            node.end_mark = yaml.Mark(source, end, line, end - line_start, None, end)
        else:
            value = word
            if word[0] == '"':
                value = json.loads(word) if "\\" in word else word[1:-1]
            # a scalar's end is not looked up (only a collection holds anything): its start stands for both
            mark = yaml.Mark(source, start, line, start - line_start, None, start)
            node = yaml.ScalarNode(_STR_TAG, value, mark, mark)
        if not open_nodes:
            root = node
        elif isinstance(open_nodes[-1], yaml.SequenceNode):
            open_nodes[-1].value.append(node)
        elif keys[-1] is None:
            keys[-1] = node
        else:
            open_nodes[-1].value.append((keys[-1], node))
            keys[-1] = None
    return root


def _load(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """The document's data and, for YAML, its node tree (the line of every value), or an InputError that says where
    it cannot be read. A JSON document's nodes are composed by `_compose_json`."""
    try:
        if source.endswith(".json"):
            return json.loads(text, parse_int=_json_int), None
        _refuse_alias_bombs(text, source)
        return _load_yaml(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", file=source, line=exc.lineno) from exc
    except ReaderError as exc:
        line, column = _reader_error_place(text, exc)
        raise InputError(f"not valid YAML: {_reader_problem(exc)} (column {column})", file=source,
                         line=line) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if "nesting depth" in problem:  # libyaml's own bound (1,000 levels): named at ours, like a RecursionError
            raise _too_deep(source, _nesting_line(text, source)) from exc
        context, first = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if problem == "second occurrence" and context and first is not None:  # "second occurrence" says nothing
            problem = f"{context.removesuffix('; first occurrence')} (first at line {first.line + 1})"
        raise InputError(f"not valid YAML: {problem}", file=source,
                         line=mark.line + 1 if mark is not None else None) from exc
    except RecursionError as exc:
        raise _too_deep(source, _nesting_line(text, source)) from exc


def _load_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """The data constructed from the nodes the loader composed, and those nodes: `yaml.load` composes before it
    constructs, so composing the text a second time for the lines only doubled the parsing (a third of loading
    10,000 encounters). Constructing a merge key (``<<: *base``) rewrites its mapping's node in place, which would
    then show the merged keys as given twice and at the base's lines; a document that may hold one is composed
    again for its nodes, as given."""
    loader = _EncounterLoader(text)  # a subclass of the safe loader
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    if "<<" in text:
        try:
            node = yaml.compose(text, Loader=YAML_LOADER)
        except (yaml.YAMLError, RecursionError):  # it was just loaded: not expected, and then errors have no line
            node = None
    return data, node


def _reader_problem(exc: ReaderError) -> str:
    """The reader's complaint without its "in '<unicode string>', position N" tail (a place in the parser's buffer,
    not in the file)."""
    if isinstance(exc.character, int):
        return f"unacceptable character #x{exc.character:04x}: {exc.reason}"
    return str(exc.reason)


def _reader_error_place(text: str, exc: ReaderError) -> tuple[int, int]:
    """Line and column (from 1) of a character the YAML reader refused. The reader has no mark, only a position: a
    character index with the pure-Python reader, but a byte offset into the UTF-8 encoding with libyaml's."""
    position = exc.position
    if exc.encoding != "unicode":  # libyaml reads the text as UTF-8 bytes
        position = len(text.encode("utf-8")[:position].decode("utf-8", errors="ignore"))
    return _yaml_line_column(text, position)


_YAML_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
"""What YAML counts as a line break (YAML 1.1, 5.4), so a line named from a position matches the lines in the
parser's own marks."""


def _yaml_line_column(text: str, index: int) -> tuple[int, int]:
    line_start, line = 0, 1
    for found in _YAML_BREAK.finditer(text, 0, index):
        line_start, line = found.end(), line + 1
    return line, index - line_start + 1


@collector_paused()
def parse_encounters(text: str, source: str, *, byte_offsets: Callable[[list[int]], list[int]] | None = None,
                     ) -> EncounterFile:
    """Parse one YAML or JSON document in the contract's forms: ``encounters: [...]``, a list, or one encounter.

    Characters the format cannot hold (bytes that were not UTF-8, kept by ``load_encounters`` as surrogate escapes; a
    NUL or another control character, binary pasted into a note) cost only the encounter that holds them: it is an
    error naming its line, field and byte, and every other encounter is read. Outside every encounter, or where
    the file cannot be read even with them set aside, they are the file's error, as before. ``byte_offsets`` turns
    indexes in ``text`` into byte offsets in the file (by default, in ``text`` encoded as UTF-8)."""
    # the common case costs nothing more: the readers refuse these characters themselves, except surrogates (which
    # only a file's bytes that are not UTF-8 give: JSON takes them, libyaml fails to encode them), so a text that may
    # hold them, one that is not all ASCII, is looked at first
    if text.isascii() or not _holds_surrogates(text):
        try:
            return _parse(text, source, [])
        except InputError:
            if (spots := _unreadable_indexes(text, source)) == []:
                raise
    else:
        spots = _unreadable_indexes(text, source)
    try:
        if len(spots) > MAX_UNREADABLE:
            raise InputError("binary, not an encounter file")  # refused below, at its first unreadable character
        blanked = "".join(_blank_unreadable(text, spots))
        return _parse(blanked, source, _locate(text, source, spots, byte_offsets or _utf8_offsets(text)))
    except InputError:
        # the file itself cannot be read: its first unreadable character is the first problem, named as before
        first = spots[0]
        if not _is_escaped_byte(text[first]):
            # the reader's own error for the character, at its line and column (bytes not UTF-8 set aside after it)
            _parse("".join(_blank_unreadable(text, [i for i in spots if _is_escaped_byte(text[i])])), source, [])
        (offset,) = (byte_offsets or _utf8_offsets(text))([first])
        what = "not a UTF-8 text file" if _is_escaped_byte(text[first]) else f"character 0x{ord(text[first]):02x}"
        raise InputError(f"{what} (byte {offset})", file=source,
                         line=_line_column(text, source, first)[0] + 1) from None


_UNREADABLE_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""What the YAML readers refuse (YAML 1.1, 5.1: the printable characters are allowed), surrogate escapes included."""

_UNREADABLE_JSON = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
"""What a JSON file cannot hold raw: C0 control characters other than blanks (refused in strings, meaningless
outside), and surrogates (in a file read from bytes, the bytes that were not UTF-8)."""

def _holds_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")  # in C, ten times faster than a search for the surrogate range
    except UnicodeEncodeError:
        return True
    return False


MAX_UNREADABLE = 100_000
"""Unreadable characters past this many (a binary file, not a stray byte) are not attributed one by one: the file is
refused at the first."""


def _unreadable_indexes(text: str, source: str) -> list[int]:
    pattern = _UNREADABLE_JSON if source.endswith(".json") else _UNREADABLE_YAML
    if pattern.search(text) is None:  # the common case: one scan of the text, in C
        return []
    found = []
    for match in pattern.finditer(text):
        found.append(match.start())
        if len(found) > MAX_UNREADABLE:
            break
    return found


def _blank_unreadable(text: str, spots: list[int]) -> Iterator[str]:
    """The text with each unreadable character replaced by U+FFFD: one character for one, so every line, column and
    index of the rest stays where it was."""
    previous = 0
    for index in spots:
        yield text[previous:index]
        yield "\ufffd"
        previous = index + 1
    yield text[previous:]


def _is_escaped_byte(character: str) -> bool:
    return "\udc80" <= character <= "\udcff"


def _utf8_offsets(text: str) -> Callable[[list[int]], list[int]]:
    def offsets(indexes: list[int]) -> list[int]:
        return _byte_offsets(text, indexes)
    return offsets


def _byte_offsets(text: str, indexes: list[int]) -> list[int]:
    """The byte offset in ``text`` encoded as UTF-8 (surrogate escapes as the bytes they stand for) of each of the
    sorted character indexes, in one pass."""
    offsets, previous, total = [], 0, 0
    for index in indexes:
        total += len(text[previous:index].encode("utf-8", errors="surrogateescape"))
        previous = index
        offsets.append(total)
    return offsets


def _line_column(text: str, source: str, index: int) -> tuple[int, int]:
    """Line and column, from 0, as the reader's marks count them (JSON: lines end at \\n; YAML: at its breaks)."""
    if source.endswith(".json"):
        return text.count("\n", 0, index), index - (text.rfind("\n", 0, index) + 1)
    line, column = _yaml_line_column(text, index)
    return line - 1, column - 1


@dataclass(frozen=True)
class _Unreadable:
    """Characters of the file that the format cannot hold, found in one encounter's part of it."""

    position: tuple[int, int]
    """(line, column) from 0 of the first."""
    byte: int
    """Its offset in the file."""
    character: str
    count: int = 1

    def describe(self) -> str:
        if _is_escaped_byte(self.character):
            what = f"byte 0x{ord(self.character) - 0xDC00:02x} is not UTF-8 text"
        elif self.character == "\x00":
            what = "a NUL character (0x00)"
        else:
            what = f"control character 0x{ord(self.character):02x}"
        more = (f" (and {self.count - 1:,} more characters that cannot be read in this encounter)"
                if self.count > 1 else "")
        return (f"cannot be read: {what} at byte {self.byte:,} of the file{more}; binary or a document's formatting "
                "was pasted in? Keep the text only, saved as UTF-8; the other encounters were read")


def _locate(text: str, source: str, spots: list[int],
            byte_offsets: Callable[[list[int]], list[int]]) -> list[tuple[tuple[int, int], int, str]]:
    """Each unreadable character's (line, column) from 0, its byte offset in the file, and the character."""
    offsets = byte_offsets(spots)
    return [(_line_column(text, source, index), offset, text[index]) for index, offset in zip(spots, offsets,
                                                                                              strict=True)]


def _field_at(node: yaml.Node | None, position: tuple[int, int]) -> str:
    """The dotted path of the field of an encounter whose text holds a (line, column): the last entry starting at or
    before it, descending while it is a mapping or list that holds it (JSON scalars know only their start)."""
    path: list[str] = []
    while isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        entries = ([(k.start_mark, str(k.value), v) for k, v in node.value] if isinstance(node, yaml.MappingNode)
                   else [(v.start_mark, str(i), v) for i, v in enumerate(node.value)])
        chosen = None
        for mark, name, value in entries:
            if (mark.line, mark.column) > position:
                break
            chosen = (name, value)
        if chosen is None:
            break
        name, value = chosen
        path.append(name)
        if not (isinstance(value, yaml.CollectionNode) and _within(value, position)):
            break
        node = value
    return ".".join(path)


def _parse(text: str, source: str, unreadable: list[tuple[tuple[int, int], int, str]]) -> EncounterFile:
    result = EncounterFile(sources=[source])
    data, tree = _load(text, source)
    root = _Located(_compose_json(text, source) if source.endswith(".json") else tree)
    duplicates = _duplicate_keys(root.node, source)

    if isinstance(data, dict) and "encounters" in data:
        items, base = data["encounters"], root.child("encounters")
        prefix: list[str | int] = ["encounters"]
    elif isinstance(data, dict) and "id" in data:
        items, base, prefix = [data], root, []
    elif isinstance(data, list):
        items, base, prefix = data, root, []
    else:
        raise InputError("expected `encounters:` with a list of encounters, a list, or one encounter with an `id`",
                         file=source, line=1)
    item_nodes = list(_item_nodes(base, items, prefix, data)) if isinstance(items, list) else []
    outside = [d for d in duplicates if not any(_within(node, d[3]) for node in item_nodes)]
    if outside:  # a repeated key around the encounters: which list, or which shape, was meant is unknown
        key, line, first, _ = outside[0]
        raise InputError(f"key {key!r} is given twice (first at line {first}); which one is meant cannot be known",
                         file=source, line=line, field=key)
    if not isinstance(items, list) or not items:
        raise InputError("`encounters` must be a non-empty list", file=source, line=root.find(prefix))
    held: dict[int, _Unreadable] = {}  # item index -> the unreadable characters in its part of the file
    for position, byte, character in unreadable:
        at = next((i for i, node in enumerate(item_nodes) if _within(node, position)), None)
        if at is None:  # around the encounters: the file's structure cannot be trusted
            raise InputError("cannot be read here, outside any encounter")
        earlier = held.get(at)
        held[at] = _Unreadable(position, byte, character) if earlier is None else _Unreadable(
            earlier.position, earlier.byte, earlier.character, earlier.count + 1)

    seen: dict[str, int | None] = {}
    for index, item in enumerate(items):
        node = base.child(index) if prefix or isinstance(data, list) else base
        # ids are compared as the model keeps them (blanks around stripped): "E1 " and "E1" are one id, not two
        encounter_id = _id_text(item.get("id")) if isinstance(item, dict) else None
        label = encounter_id or f"#{index + 1}"
        if index in held:
            spot = held[index]
            label = label if "\ufffd" not in label else f"#{index + 1}"
            result.errors.append(UnreadableTextError(spot.describe(), file=source, line=spot.position[0] + 1,
                                                     field=_field_at(node.node, spot.position) or None,
                                                     encounter=label))
            continue
        if not isinstance(item, dict):
            result.errors.append(InputError("an encounter must be a mapping of fields", file=source,
                                            line=node.line(), encounter=label))
            continue
        repeated = [d for d in duplicates if _within(node, d[3])]
        if repeated:
            result.errors.extend(
                InputError(f"key {key!r} is given twice in this encounter (first at line {first}); which one is "
                           "meant cannot be known", file=source, line=line, field=key, encounter=label)
                for key, line, first, _ in repeated)
            continue
        if encounter_id is not None and encounter_id in seen:
            first_line = seen[encounter_id]
            result.errors.append(InputError(
                f"encounter id {encounter_id!r} is used twice in the file (first at line {first_line}); ids must be "
                "unique, and two encounters are never merged", file=source, line=node.find(["id"]), field="id",
                encounter=label))
            continue
        try:
            encounter = Encounter.model_validate(item)
        except ValidationError as exc:
            for error in exc.errors():
                path = [p for p in error["loc"] if isinstance(p, str | int)]
                dotted = ".".join(str(p) for p in path)
                result.errors.append(InputError(
                    _describe(error, dotted), file=source, line=node.find(path), field=dotted or None,
                    encounter=label,
                ))
            continue
        seen[encounter.id] = node.find(["id"])
        result.encounters.append(encounter)
        for dotted, line in node.walk():
            result.locations[(encounter.id, dotted)] = line
    return result


def _id_text(value: Any) -> str | None:
    """An encounter id as the model will keep it (text, blanks around it stripped), to compare ids before validation."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value).strip() or None
    return None


def _item_nodes(base: _Located, items: list[Any], prefix: list[str | int], data: Any) -> Iterator[yaml.Node]:
    for index in range(len(items)):
        node = (base.child(index) if prefix or isinstance(data, list) else base).node
        if node is not None:
            yield node


def _within(node: _Located | yaml.Node, position: tuple[int, int]) -> bool:
    """Whether a (line, column) of the file lies in this node (by line and column: a one-line JSON file holds every
    encounter on line 1)."""
    target = node.node if isinstance(node, _Located) else node
    if target is None:
        return False
    start, end = target.start_mark, target.end_mark
    return (start.line, start.column) <= position < (end.line, end.column)


@collector_paused()
def load_encounters(path: str | Path) -> EncounterFile:
    """Read an encounter file, or every encounter file (``*.yaml``, ``*.yml``, ``*.json``) in a directory."""
    target = Path(path)
    if target.is_dir():
        files = sorted(p for p in target.iterdir() if p.suffix.lower() in ENCOUNTER_SUFFIXES and p.is_file())
        if not files:
            raise InputError("no encounter files (*.yaml, *.yml, *.json) in this directory", file=str(target))
        combined = EncounterFile(sources=[])
        # Nothing in the folder is skipped silently: claim tables and X12 files are read one file at a time.
        for other in sorted(p for p in target.iterdir() if p.is_file() and p.suffix.lower() in OTHER_CLAIM_FILES):
            combined.errors.append(InputError(
                "not read with the folder's encounter files: check claim-line tables and X12 files one file at a "
                f"time (cleanclaim check {other})", file=str(other)))
        first_file: dict[str, str] = {}
        for file in files:
            try:
                read = load_encounters(file)
            except InputError as exc:
                combined.sources.append(str(file))
                combined.errors.append(exc)
                continue
            # the same encounter id in two files is two claims or one claim twice: reported, never merged
            kept = []
            for encounter in read.encounters:
                if encounter.id in first_file:
                    read.errors.append(InputError(
                        f"encounter id {encounter.id!r} is also in {first_file[encounter.id]}; ids must be unique "
                        "across the folder, and two encounters are never merged", file=str(file),
                        line=read.line_of(encounter.id, "id"), field="id", encounter=encounter.id))
                    continue
                first_file[encounter.id] = str(file)
                kept.append(encounter)
            if len(kept) < len(read.encounters):
                kept_ids = {e.id for e in kept}
                read.locations = {key: line for key, line in read.locations.items() if key[0] in kept_ids}
            read.encounters = kept
            combined.extend(read)
        return combined
    if not target.exists():
        raise InputError("file not found", file=str(target))
    return read_encounter_bytes(target.read_bytes(), str(target))


def read_encounter_bytes(data: bytes, source: str) -> EncounterFile:
    """An encounter file's bytes read as ``load_encounters`` reads a file (``source`` names it, and its suffix says
    JSON or YAML). Bytes that are not UTF-8 are kept as surrogate escapes, so that ``parse_encounters`` names the
    encounter that holds them and reads the others."""
    bom = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0  # a BOM is not part of the text (and JSON refuses it)
    raw = data[bom:].decode("utf-8", errors="surrogateescape")
    # the newlines a text-mode read would give (\r\n and \r are \n), so lines are counted as before
    text = raw.replace("\r\n", "\n").replace("\r", "\n")

    def byte_offsets(indexes: list[int]) -> list[int]:
        # an index in the text is one more in the file per \r\n before it (read as one \n)
        crlf = [match.start() - count for count, match in enumerate(re.finditer("\r\n", raw))]
        return [bom + offset for offset in _byte_offsets(raw, [index + bisect.bisect_left(crlf, index)
                                                                 for index in indexes])]

    return parse_encounters(text, source, byte_offsets=byte_offsets)


_UTF8_BOM = b"\xef\xbb\xbf"
