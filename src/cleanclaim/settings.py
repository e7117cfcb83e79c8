"""An organisation's cleanclaim settings: which rules run and at what severity, the default payer and where its own
payer profiles live. Read from ``cleanclaim.toml`` or ``[tool.cleanclaim]`` in ``pyproject.toml`` (the nearest one
from the working directory up), like ruff's configuration; command-line options win over the file.

    # cleanclaim.toml
    ignore = ["category-iii-code"]
    payers_dir = "payers"
    [severity]
    missing-minutes = "error"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cleanclaim.errors import InputError
from cleanclaim.model import Severity
from cleanclaim.rules.engine import RuleSelection

__all__ = ["Settings", "find_settings", "load_settings"]


@dataclass(frozen=True)
class Settings:
    select: frozenset[str] = frozenset()
    ignore: frozenset[str] = frozenset()
    severity: dict[str, Severity] = field(default_factory=dict)
    payer: str | None = None
    payers_dir: Path | None = None
    source: str | None = None

    def selection(self, *, select: list[str] | None = None, ignore: list[str] | None = None,
                  severity: dict[str, Severity] | None = None) -> RuleSelection:
        """The rule selection with command-line choices layered over the file's."""
        return RuleSelection(
            select=frozenset(select) if select else self.select,
            ignore=self.ignore | frozenset(ignore or ()),
            severity={**self.severity, **(severity or {})},
        )


_KEYS = ("select", "ignore", "severity", "payer", "payers_dir")


def _parse(data: object, source: str, base: Path, table: str = "") -> Settings:
    """The settings of one table, each value checked for its type: a wrong type is an input error naming the key
    and the type expected (it crashed `code` and `check` when it reached the rule engine)."""
    if not isinstance(data, dict):
        raise InputError("expected a table of settings", file=source, field=table or None)
    key_of = (lambda key: f"{table}.{key}") if table else (lambda key: key)

    def names(key: str) -> frozenset[str]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"`{key}` must be a list of rule slugs, ids or families (strings), got "
                             f"{_kind(value)}", file=source, field=key_of(key))
        return frozenset(value)

    def text(key: str) -> str | None:
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InputError(f"`{key}` must be a non-empty string, got {_kind(value)}", file=source,
                             field=key_of(key))
        return value

    levels = data.get("severity", {})
    if not isinstance(levels, dict):
        raise InputError(f"`severity` must be a table of rule = \"error\" | \"warning\" | \"info\", got "
                         f"{_kind(levels)}", file=source, field=key_of("severity"))
    severity: dict[str, Severity] = {}
    for rule, level in levels.items():
        try:
            severity[rule] = Severity(level)
        except (ValueError, TypeError) as exc:
            raise InputError(f"severity of {rule} must be error, warning or info, got {level!r}", file=source,
                             field=key_of(f"severity.{rule}")) from exc
    unknown = set(data) - set(_KEYS)
    if unknown:
        raise InputError(f"unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(_KEYS)}",
                         file=source, field=table or None)
    payers_dir = text("payers_dir")
    return Settings(
        select=names("select"),
        ignore=names("ignore"),
        severity=severity,
        payer=text("payer"),
        payers_dir=(base / payers_dir) if payers_dir else None,
        source=source,
    )


def _kind(value: object) -> str:
    """The TOML type of a value, for a message (the value itself is the user's setting, but a type is clearer)."""
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
             dict: "a table"}
    return next((name for kind, name in names.items() if isinstance(value, kind)), "a date or time")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise InputError("not valid TOML: the file is not UTF-8 text", file=str(path)) from exc
    except OSError as exc:
        raise InputError(f"cannot read the settings file: {exc.strerror or type(exc).__name__}",
                         file=str(path)) from exc


def load_settings(path: Path) -> Settings:
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        if not isinstance(tool, dict):
            raise InputError("`tool` must be a table", file=str(path), field="tool")
        return _parse(tool.get("cleanclaim", {}), str(path), path.parent, "tool.cleanclaim")
    return _parse(data, str(path), path.parent)


def find_settings(start: Path | None = None) -> Settings:
    """The nearest cleanclaim.toml, or pyproject.toml with a [tool.cleanclaim] table; defaults when there is none."""
    directory = (start or Path.cwd()).resolve()
    for folder in (directory, *directory.parents):
        own = folder / "cleanclaim.toml"
        if own.is_file():
            return load_settings(own)
        project = folder / "pyproject.toml"
        if project.is_file():
            try:
                tool = tomllib.loads(project.read_text(encoding="utf-8")).get("tool", {})
                has_table = isinstance(tool, dict) and "cleanclaim" in tool
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
                # a pyproject.toml is the project's, not ours: one we cannot read says nothing about cleanclaim
                has_table = False
            if has_table:
                return load_settings(project)
    return Settings()
