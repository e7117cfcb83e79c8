"""User text is printed as written, never read as rich markup: an id or code holding `[/]` or `[bold]` used to raise
MarkupError (an unmatched closing tag) or lose its brackets in the text output of every command."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cleanclaim.cli import app

EXAMPLES = Path(__file__).parent.parent / "examples"
X12 = Path(__file__).parent / "formats" / "x12" / "fixtures"
MARKUP_ID = "E[/]1 [bold]x[/bold]"
runner = CliRunner()


def _run(*args: str) -> tuple[int, str, BaseException | None]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "300"})
    unexpected = result.exception if not isinstance(result.exception, SystemExit) else None
    return result.exit_code, result.output, unexpected


@pytest.fixture
def marked_up(tmp_path: Path) -> Path:
    source = (EXAMPLES / "pt-visit-97535.yaml").read_text()
    assert "id: PT-2026-0302-01" in source
    path = tmp_path / "e.yaml"
    path.write_text(source.replace("id: PT-2026-0302-01", f'id: "{MARKUP_ID}"'))
    return path


@pytest.mark.parametrize("command", [["check", "--as-of", "2026-04-01"], ["code", "--as-of", "2026-04-01"], ["price"]])
def test_an_id_with_markup_is_printed_as_written(marked_up: Path, command: list[str]) -> None:
    if command[0] == "check":  # check prints an encounter's id above its findings: give it one (POS ZZ)
        text = marked_up.read_text()
        assert 'place_of_service: "11"' in text
        marked_up.write_text(text.replace('place_of_service: "11"', 'place_of_service: "ZZ"'))
    status, output, unexpected = _run(command[0], str(marked_up), *command[1:])
    assert unexpected is None, repr(unexpected)
    assert MARKUP_ID in output
    assert status in (0, 1)


def test_export_names_an_id_with_markup_as_written(marked_up: Path, tmp_path: Path) -> None:
    # no charge master: the export is refused, and the refusal names the encounter
    status, output, unexpected = _run("export", str(marked_up), "-f", "837p", "-o", str(tmp_path / "c.837"))
    assert unexpected is None, repr(unexpected)
    assert MARKUP_ID in output
    assert status == 2


@pytest.mark.parametrize("args", [["[/]"], ["97110", "--date", "[/]"]])
def test_lookup_echoes_markup_as_written(args: list[str]) -> None:
    status, output, unexpected = _run("lookup", *args)
    assert unexpected is None, repr(unexpected)
    assert "[/]" in output
    assert status in (1, 2)


def test_denials_prints_a_claim_number_with_markup_as_written(tmp_path: Path) -> None:
    remit = tmp_path / "remit.835"
    text = (X12 / "remit_harbor.835").read_text()
    assert "CLP*CLM-1003" in text
    remit.write_text(text.replace("CLP*CLM-1003", "CLP*[/]CLM-1003"))
    status, output, unexpected = _run("denials", str(remit), "--claims", str(X12 / "harbor_pt_claims.837"))
    assert unexpected is None, repr(unexpected)
    assert "[/]CLM-1003" in output
    assert status in (0, 1)


def test_an_ordinary_id_is_unchanged() -> None:
    status, output, unexpected = _run("code", str(EXAMPLES / "pt-visit-97535.yaml"), "--as-of", "2026-04-01")
    assert unexpected is None
    assert "Encounter PT-2026-0302-01 ·" in output
    assert "\\[" not in output  # nothing escaped that needed no escaping
    assert status in (0, 1)
