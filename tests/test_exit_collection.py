"""The console script leaves the objects alive at exit out of the shutdown's cyclic collections (`gc.freeze` as an
exit handler): the process must end with the same status, the same output and the same files as without it."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = ROOT / "examples" / "claims" / "synthetic-claims-q3-2026.csv"
# an exit handler registered before `main` runs after the ones `main` registers (they run last in, first out): it
# sees what the interpreter's shutdown will see
_PROBE = ("import atexit, gc, sys\n"
          "atexit.register(lambda: sys.stderr.write(f'frozen at exit: {gc.get_freeze_count()}\\n'))\n"
          "from cleanclaim.cli import main\n"
          "main()\n")


def _console(arguments: list[str], *, probe: bool) -> subprocess.CompletedProcess[str]:
    code = _PROBE if probe else "from cleanclaim.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *arguments], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)


def _frozen(stderr: str) -> int:
    (line,) = [line for line in stderr.splitlines() if line.startswith("frozen at exit: ")]
    return int(line.removeprefix("frozen at exit: "))


@pytest.mark.parametrize("arguments", [
    ["check", "examples/coaching-with-deleted-codes.yaml", "--as-of", "2026-04-01", "--json"],  # findings: 1
    ["check", "examples/pt-visit-97535.yaml", "--as-of", "2026-04-01", "--json"],
    ["check", "examples/no-such-file.yaml", "--as-of", "2026-04-01"],  # unreadable input: 2
])
def test_the_status_and_output_are_those_of_the_command(arguments: list[str]) -> None:
    from typer.testing import CliRunner

    from cleanclaim.cli import app

    inside = CliRunner().invoke(app, arguments)
    ran = _console(arguments, probe=True)
    assert _frozen(ran.stderr) > 0  # the objects alive at exit were frozen before the shutdown's collections
    assert ran.returncode == inside.exit_code
    if "--json" in arguments:
        assert json.loads(ran.stdout) == json.loads(inside.stdout)


def test_an_audit_through_the_console_script_writes_every_output_and_keeps_its_status(tmp_path: Path) -> None:
    from cleanclaim.audit.run import audit

    expected = audit([CLAIMS], tmp_path / "inside", as_of=None)
    arguments = ["audit", str(CLAIMS), "--out", str(tmp_path / "console"), "--quiet"]
    ran = _console(arguments, probe=True)
    assert _frozen(ran.stderr) > 0
    assert ran.returncode == expected.exit_code
    assert ran.stdout == ""
    for name in ("findings.parquet", "rejected.parquet", "providers.parquet"):
        assert pl.read_parquet(tmp_path / "console" / name).equals(pl.read_parquet(tmp_path / "inside" / name))
    summary = json.loads((tmp_path / "console" / "summary.json").read_text(encoding="utf-8"))
    assert summary == json.loads((tmp_path / "inside" / "summary.json").read_text(encoding="utf-8"))
    assert (tmp_path / "console" / "report.html").stat().st_size > 0


def test_main_registers_the_freeze_once_and_leaves_the_calling_process_collecting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cleanclaim import cli

    handlers: list[object] = []
    monkeypatch.setattr(cli.atexit, "register", handlers.append)
    monkeypatch.setattr(cli.atexit, "unregister", lambda f: handlers.remove(f) if f in handlers else None)
    before = gc.get_freeze_count()
    for _ in range(3):
        monkeypatch.setattr("sys.argv", ["cleanclaim", "--help"])
        with pytest.raises(SystemExit):
            cli.main()
    assert handlers == [gc.freeze]
    assert gc.get_freeze_count() == before  # nothing frozen until the process exits
