"""Start-up cost of the CLI: `cleanclaim --help` and importing the package load only what they need.

Every command imports its engine (rule catalogue, store, web, notes reader, ...) when it runs, and the package
exports its API lazily, so a user who asks for help does not wait for the database layer or the rule catalogue.
Each check runs in a fresh interpreter (``sys.modules`` of this test process already holds everything) and asserts
on the modules loaded, never on times.
"""

from __future__ import annotations

import ast
import importlib
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cleanclaim
from cleanclaim.refdata import RefTable
from cleanclaim.sampling import Allocation, DegreesOfFreedom

CLAIMS = Path(__file__).resolve().parent.parent / "examples" / "claims" / "synthetic-claims-q3-2026.csv"

HELP_DOES_NOT_NEED = (
    # the database layer and the web workspace: `serve` and `user create` only
    "sqlalchemy", "alembic", "fastapi", "uvicorn", "cleanclaim.store", "cleanclaim.web",
    # the rule engine and what it reads: `check`, `code`, `audit`, `export`, `price` when they run
    "cleanclaim.scrub", "cleanclaim.rules.engine", "cleanclaim.rules.catalogue", "cleanclaim.pricing",
    "cleanclaim.codebook", "cleanclaim.diagnoses", "cleanclaim.notes", "cleanclaim.audit",
    "cleanclaim.formats.x12_835", "pyarrow", "numpy", "scipy", "jinja2", "yaml",
    # the pydantic models of the contract: what a command reads or prints, not how it is called
    "pydantic", "cleanclaim.model",
    # the claim tables: typer needs only the option enums of `data import`, `sample` and `extrapolate`, which live
    # in Polars-free modules (refdata.kinds, sampling.methods); the readers and parsers load when a command runs
    "polars", "cleanclaim.refdata.cms_files", "cleanclaim.refdata.lookups", "cleanclaim.refdata.imported",
    "cleanclaim.sampling.frames", "cleanclaim.sampling.draw", "cleanclaim.sampling.extrapolation",
    # the audit's progress bar: only on a terminal, only while an audit runs
    "rich.progress",
)

CLI_DOES_NOT_NEED = (
    *HELP_DOES_NOT_NEED,
    # `cleanclaim rule SLUG` renders Markdown (typer's rich help renders it too, so only the import is held to it)
    "markdown_it",
)

PACKAGE_DOES_NOT_NEED = (*HELP_DOES_NOT_NEED, "cleanclaim.errors", "typer", "rich")


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
    assert _heavy(_loaded_after("import cleanclaim.errors"), HELP_DOES_NOT_NEED) == []


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
    value = getattr(cleanclaim, name)
    home = importlib.import_module(value.__module__)
    assert getattr(home, name) is value
    assert name in dir(cleanclaim)


LAZY_PACKAGES = ("cleanclaim.refdata", "cleanclaim.sampling")
"""Packages that export their API on first use (PEP 562), as `cleanclaim` does, so the CLI's option enums come
without the Polars code beside them."""


@pytest.mark.parametrize(("package", "name"), [
    (package, name) for package in LAZY_PACKAGES for name in importlib.import_module(package).__all__])
def test_every_public_name_of_a_lazy_package_is_the_object_of_its_home_module(package: str, name: str) -> None:
    module = importlib.import_module(package)
    value = getattr(module, name)
    assert getattr(importlib.import_module(value.__module__), name) is value
    assert name in dir(module)


SUBMODULES = {
    "cleanclaim": ("errors", "model", "pricing", "scrub"),
    "cleanclaim.refdata": ("cms_files", "imported", "kinds", "lookups"),
    "cleanclaim.sampling": ("draw", "extrapolation", "frames", "methods", "wichmann_hill"),
}
"""The submodules each lazy package had as attributes while its __init__ imported them eagerly (bdf9a91; the
root package: before session 9 made it lazy)."""


def _type_checking_imports(package: str) -> dict[str, list[str]]:
    """The names the package's ``if TYPE_CHECKING:`` block imports, by module, read from its source."""
    source = Path(importlib.import_module(package).__file__ or "").read_text(encoding="utf-8")
    blocks = [node for node in ast.parse(source).body
              if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"]
    assert len(blocks) == 1, package
    imports = [node for node in blocks[0].body if isinstance(node, ast.ImportFrom)]
    assert len(imports) == len(blocks[0].body), "only `from X import names` in the TYPE_CHECKING block"
    return {node.module or "": sorted(alias.name for alias in node.names) for node in imports}


@pytest.mark.parametrize("package", ["cleanclaim", *LAZY_PACKAGES])
def test_the_type_checking_imports_all_and_the_homes_agree(package: str) -> None:
    """Each lazy package names its API three ways: the TYPE_CHECKING imports (what mypy sees), ``__all__`` (what
    mypy re-exports and a star import takes) and ``_HOMES`` (what ``__getattr__`` imports). A name in one and not
    the others is an Any, an AttributeError or a name mypy rejects."""
    module = importlib.import_module(package)
    imported = _type_checking_imports(package)
    homes = {home: sorted(names) for home, names in vars(module)["_HOMES"].items()}
    assert imported == homes
    assert sorted(name for names in imported.values() for name in names) == sorted(module.__all__)
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("package", ["cleanclaim", *LAZY_PACKAGES, "cleanclaim.errors"])
def test_mypy_never_sees_a_module_getattr(package: str) -> None:
    """A module-level ``__getattr__`` returning Any makes mypy accept every misspelled name from the package
    (``cleanclaim.refdata.ptp_edit``): it is bound only under ``if not TYPE_CHECKING:``, which mypy skips."""
    source = Path(importlib.import_module(package).__file__ or "").read_text(encoding="utf-8")
    body = ast.parse(source).body
    hidden = [node for node in body
              if isinstance(node, ast.If) and isinstance(node.test, ast.UnaryOp)
              and isinstance(node.test.op, ast.Not) and isinstance(node.test.operand, ast.Name)
              and node.test.operand.id == "TYPE_CHECKING"]

    def binds_getattr(node: ast.stmt) -> bool:
        if isinstance(node, ast.FunctionDef):
            return node.name == "__getattr__"
        return isinstance(node, ast.Assign) and any("__getattr__" in ast.unparse(t) for t in node.targets)

    assert [ast.unparse(node) for node in body if node not in hidden and binds_getattr(node)] == []
    assert any(binds_getattr(node) for block in hidden for node in block.body)


@pytest.mark.parametrize(("package", "submodule"), [
    (package, submodule) for package, submodules in SUBMODULES.items() for submodule in submodules])
def test_a_lazy_package_gives_its_submodules_as_attributes(package: str, submodule: str) -> None:
    """``import cleanclaim.refdata as r; r.lookups`` worked while the __init__ imported everything; the lazy one
    imports the submodule when it is asked for. In a fresh interpreter: here every submodule is already loaded."""
    _loaded_after(f"""
        import importlib
        package = importlib.import_module({package!r})
        assert {submodule!r} in dir(package), dir(package)
        value = getattr(package, {submodule!r})
        assert value is importlib.import_module({package + "." + submodule!r}), value
    """)


def test_the_package_lists_every_lazy_submodule() -> None:
    # a lazy package gives as attributes the home modules of its names that are its own modules (`lazy_exports`)
    for package, submodules in SUBMODULES.items():
        homes = vars(importlib.import_module(package))["_HOMES"]
        own = tuple(home.rsplit(".", 1)[1] for home in homes if home.rsplit(".", 1)[0] == package)
        assert tuple(sorted(own)) == tuple(sorted(submodules))


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_a_lazy_package_still_exports_every_name_and_submodule(package: str) -> None:
    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name  # noqa: B018
    # a star import and a submodule import, in an interpreter where nothing was loaded before
    loaded = _loaded_after(f"""
        from {package} import *
        missing = [name for name in {module.__all__!r} if name not in globals()]
        assert not missing, missing
        from {package} import {"cms_files" if package.endswith("refdata") else "frames"}
    """)
    assert "polars" in loaded  # the names came from their real homes, Polars and all


def test_the_option_enums_come_without_polars() -> None:
    """What typer needs to build `data import --kind`, `sample --allocation` and `extrapolate --df`, and they are the
    very classes the engines use."""
    assert _heavy(_loaded_after("""
        from cleanclaim.refdata import RefTable
        from cleanclaim.sampling import Allocation, DegreesOfFreedom
        assert RefTable("ptp").label and Allocation("equal") and DegreesOfFreedom("satterthwaite")
    """), HELP_DOES_NOT_NEED) == []
    from cleanclaim.refdata import RefTable, cms_files
    from cleanclaim.sampling import Allocation, DegreesOfFreedom, draw, extrapolation

    assert cms_files.RefTable is RefTable
    assert draw.Allocation is Allocation
    assert extrapolation.DegreesOfFreedom is DegreesOfFreedom


@pytest.mark.parametrize(("command", "choices"), [
    (["data", "import"], [kind.value for kind in RefTable]),
    (["sample"], [choice.value for choice in Allocation]),
    (["extrapolate"], [choice.value for choice in DegreesOfFreedom]),
])
def test_a_command_help_still_offers_its_choices_without_polars(command: list[str], choices: list[str]) -> None:
    loaded = _loaded_after(f"""
        import contextlib, io, os, sys
        from cleanclaim import cli
        os.environ["COLUMNS"] = "200"  # a choice is not wrapped over two lines
        sys.argv = ["cleanclaim", *{command!r}, "--help"]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                cli.main()
            except SystemExit as exit:
                assert exit.code == 0, exit.code
        missing = [choice for choice in {choices!r} if choice not in out.getvalue()]
        assert not missing, missing
    """)
    # typer 0.29 builds a subcommand's parameters with pydantic, so only the engines are held to it here
    assert _heavy(loaded, tuple(name for name in HELP_DOES_NOT_NEED if name != "pydantic")) == []


def test_a_quiet_audit_loads_no_progress_bar(tmp_path: Path) -> None:
    out = tmp_path / "out"
    loaded = _loaded_after(f"""
        import sys
        from cleanclaim import cli
        sys.argv = ["cleanclaim", "audit", {str(CLAIMS)!r}, "--out", {str(out)!r}, "--as-of", "2026-09-30",
                    "--quiet"]
        try:
            cli.main()
        except SystemExit as exit:
            assert exit.code in (0, 1), exit.code
    """)
    assert (out / "report.html").exists()
    assert "cleanclaim.audit.run" in loaded
    assert _heavy(loaded, ("rich.progress", "fastapi", "sqlalchemy", "cleanclaim.web", "cleanclaim.store")) == []


def test_the_audit_draws_its_progress_bar_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other side of loading rich.progress on a terminal only: there, the bar (rows, rows/s) is drawn."""
    from rich.console import Console
    from typer.testing import CliRunner

    from cleanclaim.cli import app
    from cleanclaim.commands import audit as audit_command

    screen = io.StringIO()
    monkeypatch.setattr(audit_command, "error_console", Console(file=screen, force_terminal=True, width=120))
    result = CliRunner().invoke(app, ["audit", str(CLAIMS), "--out", str(tmp_path / "out"), "--as-of",
                                      "2026-09-30"])
    assert result.exit_code in (0, 1), result.output
    assert "auditing" in screen.getvalue()
    assert "rows/s" in screen.getvalue()


def test_the_rows_per_second_column_stays_on_one_line_on_a_narrow_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich wraps a column's text unless it is told not to: "123,456 rows/s" went over two lines at 50 columns."""
    from rich.console import Console
    from rich.progress import Progress as RichProgress

    from cleanclaim.commands import audit as audit_command

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=50, color_system=None)
    monkeypatch.setattr(audit_command, "error_console", terminal)
    bar, progress = audit_command._progress_bar()
    assert isinstance(bar, RichProgress)
    clock = iter((0.0, 1.0, 2.0))
    bar.get_time = lambda: next(clock)  # two samples a second apart: a speed
    for done in (0, 123_456, 246_912):
        progress(done, 1_000_000)
    terminal.print(bar.make_tasks_table(bar.tasks))
    assert "123,456 rows/s" in screen.getvalue()
    assert screen.getvalue().count("\n") == 1, screen.getvalue()


def test_a_quiet_audit_on_a_terminal_draws_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--quiet` wins over the terminal: the progress bar is never built, and no summary line is printed."""
    from rich.console import Console
    from typer.testing import CliRunner

    from cleanclaim.cli import app
    from cleanclaim.commands import audit as audit_command

    def _no_bar() -> None:
        raise AssertionError("the progress bar was built under --quiet")

    screen = io.StringIO()
    monkeypatch.setattr(audit_command, "error_console", Console(file=screen, force_terminal=True, width=120))
    monkeypatch.setattr(audit_command, "_progress_bar", _no_bar)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["audit", str(CLAIMS), "--out", str(out), "--as-of", "2026-09-30", "--quiet"])
    assert result.exit_code in (0, 1), result.output
    assert (out / "report.html").exists()
    assert screen.getvalue() == ""  # no bar (nor a note or an error: the example has none)
    assert "row(s) read" not in result.output


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


def test_the_spark_workers_path_imports_neither_scipy_nor_jinja2() -> None:
    """A Spark Python worker imports the audit's run (its `PartitionCheck`) and the Spark engine, and checks
    partitions: it never tests a provider (scipy.special) or renders a report (jinja2), which cost each worker
    ~0.15 s of CPU and 170 modules on its first partition. The driver imports them when it needs them."""
    loaded = _loaded_after("import cleanclaim.audit.run, cleanclaim.audit.spark")
    assert _heavy(loaded, ("scipy", "jinja2", "pandas")) == []
