"""`cleanclaim sample` and `cleanclaim extrapolate` end to end: files written, reproducibility, exit statuses."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from typer.testing import CliRunner

from cleanclaim.cli import app
from cleanclaim.sampling.wichmann_hill import WichmannHill

runner = CliRunner()


def _claims(path: Path, count: int) -> Path:
    rows = ["claim_id,paid"] + [f"C{i:03d},{(i * 37) % 500 + 20}.00" for i in range(1, count + 1)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_simple_sample_uses_the_printed_random_numbers(tmp_path: Path) -> None:
    claims = _claims(tmp_path / "claims.csv", 50)
    out = tmp_path / "sample.csv"
    result = runner.invoke(app, ["sample", str(claims), "--size", "5", "--seed", "2026", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = _read(out)
    assert len(rows) == 5
    # the positions follow from AS 183 with seeds 2027, 1, 1: position = floor(u * 50) + 1, repeats skipped
    generator = WichmannHill((2027, 1, 1))
    expected: list[int] = []
    while len(expected) < 5:
        position = math.floor(generator.next() * 50) + 1
        if position not in expected:
            expected.append(position)
    assert [int(r["position"]) for r in rows] == expected
    assert [r["claim_id"] for r in rows] == [f"C{p:03d}" for p in expected]
    for row in rows:
        assert math.floor(float(row["random_number"]) * 50) + 1 == int(row["position"])
    method = json.loads((tmp_path / "sample.method.json").read_text(encoding="utf-8"))
    assert method["seeds"] == [2027, 1, 1]
    assert len(_read(tmp_path / "sample.population.csv")) == 50


def test_same_seed_same_sample_other_seed_other_sample(tmp_path: Path) -> None:
    claims = _claims(tmp_path / "claims.csv", 200)
    outputs = []
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        out = tmp_path / f"{name}.csv"
        assert runner.invoke(app, ["sample", str(claims), "-n", "20", "--seed", seed, "-o", str(out)]).exit_code == 0
        outputs.append([r["claim_id"] for r in _read(out)])
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]


def test_stratified_by_paid_bounds_proportional(tmp_path: Path) -> None:
    claims = tmp_path / "claims.csv"
    # 60 claims under 100, 30 from 100 to under 1000, 10 at 1000 or more
    rows = ["claim_id,paid"] + [f"L{i},50.00" for i in range(60)] + [f"M{i},500.00" for i in range(30)] + \
        [f"H{i},1500.00" for i in range(10)]
    claims.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "s.csv"
    result = runner.invoke(app, ["sample", str(claims), "-n", "20", "--seed", "11", "--strata", "paid:100,1000",
                                 "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    method = json.loads(result.output)
    # proportional: 20 * 60/100 = 12, 20 * 30/100 = 6, 20 * 10/100 = 2
    assert [(s["stratum"], s["population_size"], s["sample_size"]) for s in method["by_stratum"]] == [
        ("S1", 60, 12), ("S2", 30, 6), ("S3", 10, 2)]
    assert method["by_stratum"][2]["population_paid"] == "15000.00"
    drawn = _read(out)
    assert all(r["claim_id"].startswith({"S1": "L", "S2": "M", "S3": "H"}[r["stratum"]]) for r in drawn)


def test_sample_then_extrapolate_stratified(tmp_path: Path) -> None:
    claims = tmp_path / "claims.csv"
    rows = ["claim_id,paid"] + [f"L{i},50.00" for i in range(20)] + [f"H{i},900.00" for i in range(5)]
    claims.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "s.csv"
    assert runner.invoke(app, ["sample", str(claims), "-n", "8", "--seed", "3", "--strata", "paid:100", "-o",
                               str(out)]).exit_code == 0
    drawn = _read(out)
    # audit result: every low claim overpaid by 10, every high claim by 100
    results = tmp_path / "results.csv"
    results.write_text("claim_id,paid,overpayment,stratum\n" + "".join(
        f"{r['claim_id']},{r['paid']},{'10' if r['stratum'] == 'S1' else '100'},{r['stratum']}\n" for r in drawn),
        encoding="utf-8")
    result = runner.invoke(app, ["extrapolate", str(results), "--population", str(tmp_path / "s.population.csv"),
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # every stratum's overpayments are equal: no variance; total = 20 * 10 + 5 * 100 = 700 exactly
    assert data["point_estimate"] == "700.00"
    assert data["standard_error"] == "0.00"
    assert data["lower_limit_90"] == "700.00"
    assert data["population_size"] == 25
    assert [s["stratum"] for s in data["strata"]] == ["S1", "S2"]


def test_extrapolate_human_output_and_bad_input_exit_2(tmp_path: Path) -> None:
    results = tmp_path / "results.csv"
    results.write_text("claim_id,paid,overpayment\nA,100,10\nB,100,20\nC,100,30\nD,100,40\n", encoding="utf-8")
    result = runner.invoke(app, ["extrapolate", str(results), "--population-size", "10"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "168.11" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("claim_id,paid,overpayment\nA,100,ten\n", encoding="utf-8")
    result = runner.invoke(app, ["extrapolate", str(bad), "--population-size", "10"])
    assert result.exit_code == 2
    assert "row 2" in result.output
    assert "overpayment" in result.output
    result = runner.invoke(app, ["extrapolate", str(results), "--population-size", "3"])
    assert result.exit_code == 2
    assert "larger than its population" in result.output


def test_sample_bad_input_exit_2(tmp_path: Path) -> None:
    claims = _claims(tmp_path / "claims.csv", 5)
    out = tmp_path / "s.csv"
    result = runner.invoke(app, ["sample", str(claims), "-n", "6", "--seed", "1", "-o", str(out)])
    assert result.exit_code == 2
    assert "larger than the population" in result.output
    assert not out.exists()
    duplicate = tmp_path / "dup.csv"
    duplicate.write_text("claim_id,paid\nA,1\nA,2\n", encoding="utf-8")
    result = runner.invoke(app, ["sample", str(duplicate), "-n", "1", "--seed", "1", "-o", str(out)])
    assert result.exit_code == 2
    assert "duplicate claim_id" in result.output
    missing = tmp_path / "missing.csv"
    missing.write_text("claim_id,amount\nA,1\n", encoding="utf-8")
    result = runner.invoke(app, ["sample", str(missing), "-n", "1", "--seed", "1", "-o", str(out)])
    assert result.exit_code == 2
    assert "paid" in result.output
