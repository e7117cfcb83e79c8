"""The rule-selection options every command that runs the catalogue takes (`check`, `code`, `audit`): --select,
--ignore, --severity and --config, read the same way so a rule silenced for `check` is silenced for `code` too."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cleanclaim.errors import InputError

if TYPE_CHECKING:
    from cleanclaim.model import Severity
    from cleanclaim.rules.engine import RuleSelection
    from cleanclaim.settings import Settings

__all__ = ["ConfigOption", "IgnoreOption", "SelectOption", "SeverityOption", "rule_settings"]


def _severity_overrides(values: list[str]) -> dict[str, Severity]:
    from cleanclaim.model import Severity

    overrides: dict[str, Severity] = {}
    for value in values:
        rule, sep, level = value.partition("=")
        try:
            if not sep:
                raise ValueError
            overrides[rule.strip()] = Severity(level.strip())
        except ValueError as exc:
            raise InputError(f"--severity expects RULE=error|warning|info, got {value!r}",
                             field="--severity") from exc
    return overrides


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


SelectOption = Annotated[list[str] | None, typer.Option("--select", help="Only these rules (slug, id or family).")]
IgnoreOption = Annotated[list[str] | None, typer.Option("--ignore", help="Skip these rules (slug, id or family).")]
SeverityOption = Annotated[list[str] | None, typer.Option("--severity", help="Override: RULE=error|warning|info.")]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="cleanclaim.toml to use.")]


def rule_settings(config: Path | None, select: list[str] | None, ignore: list[str] | None,
                  severity: list[str] | None) -> tuple[Settings, RuleSelection]:
    """The settings file (the one named, else the nearest) and the rules chosen by it and the command line, for
    every command that runs the catalogue (`check`, `audit`)."""
    from cleanclaim.settings import find_settings, load_settings

    settings = load_settings(config) if config else find_settings()
    return settings, settings.selection(select=_split(select), ignore=_split(ignore),
                                        severity=_severity_overrides(severity or []))


