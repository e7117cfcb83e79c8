"""Shared terminal output: findings and input errors look the same in every command."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar

import typer
from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from cleanclaim.errors import InputError
    from cleanclaim.isolation import Failure
    from cleanclaim.model import Finding

__all__ = ["SEVERITY_STYLE", "console", "error_console", "finish", "print_errors", "print_failures", "print_finding",
           "print_json"]

console = Console(highlight=False, soft_wrap=True)
error_console = Console(stderr=True, highlight=False, soft_wrap=True)
SEVERITY_STYLE: dict[str, str] = {"error": "bold red", "warning": "yellow", "info": "cyan"}
"""The style of each severity, keyed by `Severity`'s values: a `Severity` (a StrEnum, equal to its value) finds its
style here, and the CLI's start-up does not import the pydantic model for three names."""


def print_finding(finding: Finding, *, indent: str = "  ") -> None:
    head = Text(indent)
    head.append(f"{finding.severity.value:<7}", style=SEVERITY_STYLE[finding.severity])
    head.append(f" {finding.id} {finding.rule}", style="bold")
    if finding.line is not None:
        head.append(f"  line {finding.line}")
    if finding.code:
        head.append(f"  {finding.code}")
    console.print(head)
    console.print(Text(f"{indent}  {finding.message}"))
    if finding.fix:
        console.print(Text(f"{indent}  fix: {finding.fix}", style="green"))
    if finding.references:
        console.print(Text(f"{indent}  see: {'; '.join(finding.references)}", style="dim"))


def print_errors(errors: Iterable[InputError]) -> None:
    for error in errors:
        error_console.print(Text(f"input error: {error}", style="bold red"))


def print_failures(failures: Iterable[Failure]) -> None:
    """Records cleanclaim failed on, after everything it did process (exit status 3)."""
    for failure in failures:
        error_console.print(Text(str(failure), style="bold red"))


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


class Report(Protocol):
    """What `code` and `check` return: the JSON contract, the input errors and the exit status."""

    @property
    def errors(self) -> list[InputError]: ...

    @property
    def failures(self) -> list[Failure]: ...

    @property
    def exit_code(self) -> int: ...

    def to_json(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=Report)


def finish(result: R, *, as_json: bool, show: Callable[[R], None]) -> NoReturn:
    """Print the result (JSON on standard output, or the human form), the input errors and the internal failures
    on standard error, and exit with the contract's status."""
    if as_json:
        print_json(result.to_json())
    else:
        show(result)
    print_errors(result.errors)
    print_failures(result.failures)
    raise typer.Exit(result.exit_code)
