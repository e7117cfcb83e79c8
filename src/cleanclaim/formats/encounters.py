"""Encounter files (YAML or JSON, the interchange contract): parsed into `Encounter` objects with errors that name the
file, the line in the file and the field.

One bad encounter does not stop the others: it is reported as an `InputError` and the rest are returned. A file that
is not YAML/JSON at all, or has no encounters, raises.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cleanclaim.errors import InputError, is_phi_field
from cleanclaim.model import Encounter

__all__ = ["ENCOUNTER_SUFFIXES", "EncounterFile", "load_encounters", "parse_encounters"]

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
    MAX_ALIAS_NODES. Events are read only when the text can hold an alias at all (a `*`)."""
    if "*" not in text:
        return
    sizes: dict[str, int] = {}
    open_nodes: list[list[Any]] = []  # [anchor, nodes so far] of each collection being read
    added = 0
    for event in yaml.parse(text, Loader=YAML_LOADER):
        size = 0
        if isinstance(event, yaml.CollectionStartEvent):
            open_nodes.append([event.anchor, 1])
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size = open_nodes.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
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


def _duplicate_keys(root: yaml.Node | None) -> list[_Duplicate]:
    """Every key given twice in one mapping: YAML and JSON loaders keep the last silently, so which value was meant
    cannot be known."""
    found: list[_Duplicate] = []
    seen_nodes: set[int] = set()
    pending = [root] if root is not None else []
    while pending:
        node = pending.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
                    mark = key_node.start_mark
                    line = mark.line + 1
                    if key_node.value in first:
                        found.append((str(key_node.value), line, first[key_node.value], (mark.line, mark.column)))
                    else:
                        first[key_node.value] = line
                pending.append(value_node)
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
    return found


def _load(text: str, source: str) -> Any:
    """The document's data, or an InputError that says where it cannot be read."""
    try:
        if source.endswith(".json"):
            return json.loads(text, parse_int=_json_int)
        _refuse_alias_bombs(text, source)
        return yaml.load(text, Loader=_EncounterLoader)  # a subclass of the safe loader
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", file=source, line=exc.lineno) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"not valid YAML: {problem}", file=source,
                         line=mark.line + 1 if mark is not None else None) from exc
    except RecursionError as exc:
        raise InputError("nested too deeply to read (an encounter is a few levels deep)", file=source) from exc


def parse_encounters(text: str, source: str) -> EncounterFile:
    """Parse one YAML or JSON document in the contract's forms: ``encounters: [...]``, a list, or one encounter."""
    result = EncounterFile(sources=[source])
    data = _load(text, source)
    try:
        root = _Located(yaml.compose(text, Loader=YAML_LOADER))
    except (yaml.YAMLError, RecursionError):
        root = _Located(None)
    duplicates = _duplicate_keys(root.node)
    if root.node is None and source.endswith(".json"):
        _refuse_json_duplicates(text, source)

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

    seen: dict[str, int | None] = {}
    for index, item in enumerate(items):
        node = base.child(index) if prefix or isinstance(data, list) else base
        # ids are compared as the model keeps them (blanks around stripped): "E1 " and "E1" are one id, not two
        encounter_id = _id_text(item.get("id")) if isinstance(item, dict) else None
        label = encounter_id or f"#{index + 1}"
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


def _refuse_json_duplicates(text: str, source: str) -> None:
    """Duplicate keys in a JSON document that the YAML composer could not read for line numbers (the JSON reader
    keeps the last value of a repeated key silently)."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        repeated.extend(key for index, key in enumerate(keys) if key in keys[:index])
        return dict(items)

    json.loads(text, object_pairs_hook=pairs, parse_int=_json_int)
    if repeated:
        raise InputError(f"key {repeated[0]!r} is given twice in one object; which one is meant cannot be known",
                         file=source, field=repeated[0])


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
    try:
        text = target.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not a UTF-8 text file (byte {exc.start})", file=str(target)) from exc
    return parse_encounters(text, str(target))
