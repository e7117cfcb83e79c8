"""Start-up cost of the CLI: `cleanclaim --help` and importing the package load only what they need.

Every command imports its engine (rule catalogue, store, web, notes reader, ...) when it runs, and the package
exports its API lazily, so a user who asks for help does not wait for the database layer or the rule catalogue.
Each check runs in a fresh interpreter (``sys.modules`` of this test process already holds everything) and asserts
on the modules loaded, never on times.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cleanclaim

HELP_DOES_NOT_NEED = (
    # the database layer and the web workspace: `serve` and `user create` only
    "sqlalchemy", "alembic", "fastapi", "uvicorn", "cleanclaim.store", "cleanclaim.web",
    # the rule engine and what it reads: `check`, `code`, `audit`, `export`, `price` when they run
    "cleanclaim.scrub", "cleanclaim.rules.engine", "cleanclaim.rules.catalogue", "cleanclaim.pricing",
    "cleanclaim.codebook", "cleanclaim.diagnoses", "cleanclaim.notes", "cleanclaim.audit",
    "cleanclaim.formats.x12_835", "pyarrow", "numpy", "scipy", "jinja2", "yaml",
    # the pydantic models of the contract: what a command reads or prints, not how it is called
    "pydantic", "cleanclaim.model",
)

CLI_DOES_NOT_NEED = (
    *HELP_DOES_NOT_NEED,
    # `cleanclaim rule SLUG` renders Markdown (typer's rich help renders it too, so only the import is held to it)
    "markdown_it",
)

PACKAGE_DOES_NOT_NEED = (*HELP_DOES_NOT_NEED, "polars", "cleanclaim.errors", "typer", "rich")


def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def _heavy(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if any(m == name or m.startswith(name + ".") for m in loaded)]


def test_importing_the_cli_imports_no_command_engine() -> None:
    loaded = _loaded_after("import cleanclaim.cli")
    assert "cleanclaim.commands.audit" in loaded
    assert _heavy(loaded, CLI_DOES_NOT_NEED) == []


def test_help_lists_every_command_without_importing_their_engines() -> None:
    loaded = _loaded_after("""
        import contextlib, io, sys
        from cleanclaim import cli
        sys.argv = ["cleanclaim", "--help"]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                cli.main()
            except SystemExit as exit:
                assert exit.code == 0, exit.code
        for command in ("code", "check", "audit", "notes", "sample", "lookup", "price", "export", "denials",
                        "data", "serve", "user"):
            assert command in out.getvalue(), command
    """)
    assert "cleanclaim.cli" in loaded
    assert _heavy(loaded, HELP_DOES_NOT_NEED) == []


def test_importing_the_package_or_its_errors_imports_no_engine() -> None:
    assert _heavy(_loaded_after("import cleanclaim"), PACKAGE_DOES_NOT_NEED) == []
    # every command's `except InputError` needs this module: it must not bring Polars for a Rust panic's class
    assert _heavy(_loaded_after("import cleanclaim.errors"), (*HELP_DOES_NOT_NEED, "polars")) == []


def test_a_command_still_imports_what_it_runs() -> None:
    """The other side of lazy imports: a command loads what it runs (`lookup`: the code book) when it runs, and
    still nothing another command needs."""
    loaded = _loaded_after("""
        import sys
        from cleanclaim import cli
        sys.argv = ["cleanclaim", "lookup", "97535", "--date", "2026-04-01"]
        try:
            cli.main()
        except SystemExit as exit:
            assert exit.code == 0, exit.code
    """)
    assert "cleanclaim.codebook" in loaded
    assert _heavy(loaded, ("sqlalchemy", "cleanclaim.rules.catalogue", "scipy")) == []


@pytest.mark.parametrize("name", cleanclaim.__all__)
def test_every_public_name_is_the_object_of_its_home_module(name: str) -> None:
    import importlib

    value = getattr(cleanclaim, name)
    home = importlib.import_module(value.__module__)
    assert getattr(home, name) is value
    assert name in dir(cleanclaim)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        cleanclaim.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(cleanclaim, "no_such_name")


def test_unforeseen_still_catches_a_polars_panic() -> None:
    from polars.exceptions import PanicException

    from cleanclaim import errors

    unforeseen = errors.UNFORESEEN
    assert unforeseen[0] is Exception
    assert unforeseen[1] is PanicException
    assert vars(errors)["UNFORESEEN"] is unforeseen  # built once, then a plain module attribute
    with pytest.raises(AttributeError):
        errors.NOT_AN_ERROR  # type: ignore[attr-defined]  # noqa: B018


def test_every_severity_has_its_style() -> None:
    """The CLI's styles are keyed by the severities' values (no model import at start-up): each one is there, and
    a `Severity` finds it."""
    from cleanclaim.commands.output import SEVERITY_STYLE
    from cleanclaim.model import Severity

    assert set(SEVERITY_STYLE) == {severity.value for severity in Severity}
    assert SEVERITY_STYLE[Severity.ERROR] == "bold red"


def test_an_audit_runs_its_provider_tests_without_scipy_stats(tmp_path: Path) -> None:
    """The provider tests' tails come from scipy.special (audit.providers): importing scipy.stats cost about a
    second of every `cleanclaim audit`, for three functions. A whole audit, providers.parquet included, in a fresh
    interpreter, must not bring it back (nor must `import cleanclaim.audit.providers` alone)."""
    claims = Path(__file__).resolve().parents[1] / "examples" / "claims" / "synthetic-claims-q3-2026.csv"
    out = tmp_path / "out"
    loaded = _loaded_after(f"""
        import sys
        from cleanclaim import cli
        sys.argv = ["cleanclaim", "audit", {str(claims)!r}, "--out", {str(out)!r}, "--quiet"]
        try:
            cli.main()
        except SystemExit as exit:
            assert exit.code in (0, 1), exit.code
    """)
    assert "cleanclaim.audit.providers" in loaded and (out / "providers.parquet").is_file()
    assert _heavy(loaded, ("scipy.stats",)) == []
    assert _heavy(_loaded_after("import cleanclaim.audit.providers"), ("scipy.stats",)) == []
