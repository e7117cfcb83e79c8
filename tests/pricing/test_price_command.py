"""``cleanclaim price FILE`` through typer, on encounter files written by the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cleanclaim.commands.price import register

VISIT = """\
id: E1
date: 2026-03-02
place_of_service: "11"
patient: {id: P1}
provider: {npi: "1234567893", discipline: PT}
lines:
  - {code: "97112", modifiers: [GP], units: 1}
  - {code: "97110", modifiers: [GP], units: 2}
  - {code: "0592T", units: 1}
"""


@pytest.fixture(autouse=True)
def visit_files(tmp_path: Path) -> None:
    (tmp_path / "visit.yaml").write_text(VISIT, encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("id: E1\ndate: [unclosed\n", encoding="utf-8")


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """cleanclaim (test harness)"""

    register(app)
    return app


def test_price_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["price", str(tmp_path / "visit.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["totals"]["allowed"] == "77.15"
    assert data["unpriced_lines"] == 1
    # 0592T is status C (contractor-priced) in PPRRVU2026_Jul: not priced, and said so, never 0
    assert data["lines"][2]["status"] == "carrier-priced"


def test_price_table_shows_the_arithmetic(tmp_path: Path) -> None:
    master = tmp_path / "charges.csv"
    master.write_text("97110,40\n97112,50\n")
    result = CliRunner().invoke(_app(), ["price", str(tmp_path / "visit.yaml"), "--charge-master", str(master)],
                                env={"COLUMNS": "240"})
    assert result.exit_code == 0, result.output
    assert "33.4009" in result.output
    assert "MPPR" in result.output
    assert "1 line(s) not priced" in result.output


def test_price_bad_input_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["price", str(tmp_path / "broken.yaml")])
    assert result.exit_code == 2
    assert "broken.yaml" in result.output
    assert "not valid YAML" in result.output
    bad_locality = CliRunner().invoke(_app(), ["price", str(tmp_path / "visit.yaml"), "--locality", "LA"])
    assert bad_locality.exit_code == 2
    assert "MAC:LOCALITY" in bad_locality.output


def test_price_2026_with_a_locality_that_has_2026_gpcis(tmp_path: Path) -> None:
    # Alabama 10112:00 has CY2026 GPCIs (1.000, 0.875, 0.566; bundled gpci.csv): 97112 30.63 + 97110 x2 at 50% PE
    # 21.21 + 21.21 = 73.05 (arithmetic in test_pricing.py::test_2026_line_in_a_locality_with_2026_gpcis_is_priced);
    # 0592T stays unpriced (status C, contractor-priced, in the CY2026 file).
    result = CliRunner().invoke(_app(), ["price", str(tmp_path / "visit.yaml"), "--locality", "10112:00", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["locality"] == "10112:00"
    assert [line["allowed"] for line in data["lines"][:2]] == ["30.63", "42.42"]
    assert data["totals"]["allowed"] == "73.05"
    assert data["unpriced_lines"] == 1
    # Rest of California (01112:75) has no CY2026 GPCIs: every line unpriced, never priced as zero
    other = CliRunner().invoke(_app(), ["price", str(tmp_path / "visit.yaml"), "--locality", "01112:75", "--json"])
    assert other.exit_code == 0, other.output
    other_data = json.loads(other.output)
    # (0592T keeps its status C reason: contractor-priced whatever the locality)
    assert [line["status"] for line in other_data["lines"]] == ["unpriced", "unpriced", "carrier-priced"]
    assert all(line["allowed"] is None for line in other_data["lines"])
    assert other_data["unpriced_lines"] == 3
