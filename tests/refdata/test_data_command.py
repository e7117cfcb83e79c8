"""``cleanclaim data status`` and ``cleanclaim data import`` through typer, as the CLI will wire them."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from cleanclaim.commands.data import register
from tests.refdata.cms_layouts import gpci_csv, mue_csv, write


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """cleanclaim (test harness)"""

    register(app)
    return app


def test_import_then_status(tmp_path: Path, data_dir: Path) -> None:
    runner = CliRunner()
    path = write(tmp_path / "MCR_MUE_PractitionerServices_Eff_10-01-2025.csv", mue_csv("97110,6,3 Clinical,x"))
    result = runner.invoke(_app(), ["data", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "2025Q4: 1 rows" in result.output
    status = runner.invoke(_app(), ["data", "status", "--json"])
    tables = json.loads(status.output)["tables"]
    assert {"table": "mue", "origin": "imported", "period": "2025Q4", "rows": 1}.items() <= next(
        t for t in tables if t["origin"] == "imported").items()
    assert any(t["table"] == "rvu" and t["origin"] == "bundled" and t["period"] == "2025" for t in tables)
    # every bundled ICD-10-CM file, FY2021-FY2026; a mid-year update says from when it answers
    icd = [t["period"] for t in tables if t["table"] == "icd10cm"]
    assert len(icd) == 8
    assert "ICD-10-CM FY2022 (2021-10-01 to 2022-09-30)" in icd
    assert "ICD-10-CM FY2022 April update (2021-10-01 to 2022-09-30; file in effect from 2022-04-01)" in icd
    table_view = runner.invoke(_app(), ["data", "status"])
    assert table_view.exit_code == 0
    assert "bundled" in table_view.output


def test_import_wrong_kind_exits_2_and_writes_nothing(tmp_path: Path, data_dir: Path) -> None:
    path = write(tmp_path / "GPCI2025.csv", gpci_csv("10112,AL,0,ALABAMA,1,0.869,0.575"))
    result = CliRunner().invoke(_app(), ["data", "import", "--kind", "mue", str(path)])
    assert result.exit_code == 2
    assert "not a CMS NCCI MUE" in result.output
    assert not (data_dir / "refdata").exists()
