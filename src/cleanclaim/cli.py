"""The `cleanclaim` command: a thin layer over the Python API; each command group lives in `cleanclaim.commands`."""

from __future__ import annotations

import importlib

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="cleanclaim",
    help="Turn documented services into defensible claims, and check claims before the payer does.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Order here is the order in `cleanclaim --help`.
COMMAND_MODULES = ("coding", "checking", "lookup", "price", "export", "denials", "data")

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"cleanclaim.commands.{_name}")
    except ModuleNotFoundError as _missing:
        if _missing.name != f"cleanclaim.commands.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    app()
