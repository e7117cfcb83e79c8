"""The `cleanclaim` command: a thin layer over the Python API; each command group lives in `cleanclaim.commands`.

Exit statuses, the same in every command: 0 nothing wrong, 1 error findings, 2 some input could not be read (the
message names the file, place and field; everything readable was still processed), 3 cleanclaim itself failed (a
bug: a crash must never pass for "errors found", which is what status 1 used to say when a command raised).
"""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.text import Text
from typer.exceptions import TyperException

from cleanclaim import errors
from cleanclaim.commands.output import error_console

__all__ = ["BROKEN_PIPE", "INTERNAL_ERROR", "app", "main"]

INTERNAL_ERROR = 3
"""Exit status of an unexpected exception: neither 1 (findings) nor 2 (unreadable input), so scripts and CI that
act on 1 never mistake a crash for a checked batch."""

BROKEN_PIPE = 141
"""Exit status when the reader of stdout closed the pipe early: 128 + SIGPIPE, what a shell shows for ``cat``."""

app = typer.Typer(
    name="cleanclaim",
    help="Turn documented services into defensible claims, and check claims before the payer does. "
         "Exit status: 0 no errors, 1 error findings, 2 some input could not be read, 3 internal error (a bug in "
         "cleanclaim; please report it).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def _report(exc: BaseException, inputs: list[str]) -> None:
    """Report an unexpected exception in one line. ``CLEANCLAIM_TRACEBACK=1`` re-raises it instead, for whoever
    debugs it."""
    if os.environ.get("CLEANCLAIM_TRACEBACK") == "1":
        raise exc
    from cleanclaim.isolation import where as _where

    subject = f" while processing {', '.join(inputs)}" if inputs else ""
    error_console.print(Text(
        f"internal error: a bug in cleanclaim, not a problem found in your claims: {type(exc).__name__}"
        f"{_where(exc)}{subject}; its output is incomplete. Please report it (set CLEANCLAIM_TRACEBACK=1 "
        f"for the traceback). Exit status {INTERNAL_ERROR}.", style="bold red"))


def _inputs(kwargs: dict[str, Any]) -> list[str]:
    """The file arguments of a command call, to name in an internal-error message."""
    found: list[str] = []
    for key in ("file", "files", "path", "paths"):
        value = kwargs.get(key)
        if isinstance(value, str | Path):
            found.append(str(value))
        elif isinstance(value, list | tuple):
            found.extend(str(v) for v in value)
    return found


def _reader_left() -> NoReturn:
    """The reader of stdout went away (``cleanclaim extrapolate --json | head``): not a failure of ours, so no
    "internal error" report. Exit as a shell reports a process stopped by SIGPIPE (128 + 13), the way ``cat`` does,
    after pointing stdout at /dev/null so the interpreter's own flush at exit does not raise a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(BROKEN_PIPE)


def guarded(command: F) -> F:
    """The command with a safety net: any exception other than the CLI's own exits becomes exit status 3."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, TyperException, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            _reader_left()
        # errors.UNFORESEEN is looked up only when an exception got this far: building it imports Polars
        except errors.UNFORESEEN as exc:  # the safety net is the point
            _report(exc, _inputs(kwargs))
            raise typer.Exit(INTERNAL_ERROR) from exc

    return run  # type: ignore[return-value]


# Order here is the order in `cleanclaim --help`.
COMMAND_MODULES = ("coding", "checking", "notes", "audit", "sampling", "lookup", "price", "export", "denials", "data",
                   "serve")

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"cleanclaim.commands.{_name}")
    except ModuleNotFoundError as _missing:
        if _missing.name != f"cleanclaim.commands.{_name}":
            raise
        continue
    _module.register(app)


def _guard_all(typer_app: typer.Typer) -> None:
    for info in typer_app.registered_commands:
        if info.callback is not None:
            info.callback = guarded(info.callback)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _guard_all(group.typer_instance)


_guard_all(app)


def _skip_collection_at_exit() -> None:
    """Have the interpreter's shutdown leave the objects alive now to reference counting alone.

    Why: at exit CPython runs its cyclic collector over every object still tracked (modules, the rule catalogue,
    reference tables, caches), more than once, to find cycles it is about to discard with the process anyway: after a
    1M-line audit that was ~0.2 s CPU, about two thirds of the time from the command's last line to the process end
    (0.3-1 s wall on a busy machine). `gc.freeze` moves them to the permanent generation, which those collections
    skip. Run as an exit handler, after the command has written and closed its outputs: the other exit handlers and
    the flush of stdout/stderr still run, and so does the teardown of modules. Cycles left at exit, garbage included,
    are left to the operating system and their finalisers do not run: every command closes what it writes
    explicitly (outputs, scratch folders, the Spark session, the database engine of ``serve``). In a
    process that calls `main` and goes on (the tests), nothing changes until that process itself exits."""
    atexit.unregister(gc.freeze)  # once, however many times main runs in one process
    atexit.register(gc.freeze)


def main() -> None:
    """The console script. Exceptions outside a command (while parsing options, say) get the same exit status 3."""
    _skip_collection_at_exit()
    try:
        app()
    except SystemExit:
        raise
    except BrokenPipeError:
        _reader_left()
    except errors.UNFORESEEN as exc:  # the last safety net
        _report(exc, [])
        sys.exit(INTERNAL_ERROR)
