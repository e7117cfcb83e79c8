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
    if isinstance(given, str | int | float | bool) and str(given) not in text:
        return f"{text} (got {given!r})"
    return text


# libyaml's loader where PyYAML was built with it (the wheels are): the same safe subset of YAML, about five times
# faster than the pure-Python loader, which was half of checking one encounter file.
YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_encounters(text: str, source: str) -> EncounterFile:
    """Parse one YAML or JSON document in the contract's forms: ``encounters: [...]``, a list, or one encounter."""
    result = EncounterFile(sources=[source])
    try:
        data = json.loads(text) if source.endswith(".json") else yaml.load(text, Loader=YAML_LOADER)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", file=source, line=exc.lineno) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"not valid YAML: {problem}", file=source,
                         line=mark.line + 1 if mark is not None else None) from exc
    try:
        root = _Located(yaml.compose(text, Loader=YAML_LOADER))
    except yaml.YAMLError:
        root = _Located(None)

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
    if not isinstance(items, list) or not items:
        raise InputError("`encounters` must be a non-empty list", file=source, line=root.find(prefix))

    seen: set[str] = set()
    for index, item in enumerate(items):
        node = base.child(index) if prefix or isinstance(data, list) else base
        encounter_id = str(item.get("id")) if isinstance(item, dict) and item.get("id") is not None else None
        label = encounter_id or f"#{index + 1}"
        if not isinstance(item, dict):
            result.errors.append(InputError("an encounter must be a mapping of fields", file=source,
                                            line=node.line(), encounter=label))
            continue
        if encounter_id in seen:
            result.errors.append(InputError(f"encounter id {encounter_id!r} is used twice in the file; ids must be "
                                            "unique", file=source, line=node.find(["id"]), field="id",
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
        seen.add(encounter.id)
        result.encounters.append(encounter)
        for dotted, line in node.walk():
            result.locations[(encounter.id, dotted)] = line
    return result


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
        for file in files:
            try:
                combined.extend(load_encounters(file))
            except InputError as exc:
                combined.sources.append(str(file))
                combined.errors.append(exc)
        return combined
    if not target.exists():
        raise InputError("file not found", file=str(target))
    try:
        text = target.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not a UTF-8 text file (byte {exc.start})", file=str(target)) from exc
    return parse_encounters(text, str(target))
