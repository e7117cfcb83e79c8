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


def _parse(data: dict[str, Any], source: str, base: Path) -> Settings:
    def names(key: str) -> frozenset[str]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"`{key}` must be a list of rule slugs, ids or families", file=source, field=key)
        return frozenset(value)

    severity: dict[str, Severity] = {}
    for rule, level in (data.get("severity") or {}).items():
        try:
            severity[rule] = Severity(level)
        except ValueError as exc:
            raise InputError(f"severity of {rule} must be error, warning or info, got {level!r}", file=source,
                             field=f"severity.{rule}") from exc
    unknown = set(data) - {"select", "ignore", "severity", "payer", "payers_dir"}
    if unknown:
        raise InputError(f"unknown setting(s) {', '.join(sorted(unknown))}", file=source)
    payers_dir = data.get("payers_dir")
    return Settings(
        select=names("select"),
        ignore=names("ignore"),
        severity=severity,
        payer=data.get("payer"),
        payers_dir=(base / payers_dir) if payers_dir else None,
        source=source,
    )


def load_settings(path: Path) -> Settings:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", file=str(path)) from exc
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("cleanclaim", {})
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
                has_table = "cleanclaim" in tomllib.loads(project.read_text(encoding="utf-8")).get("tool", {})
            except tomllib.TOMLDecodeError:
                has_table = False
            if has_table:
                return load_settings(project)
    return Settings()
