"""Extrapolation against worked examples computed by hand from the formulas (Cochran 1977 §2.4-2.5, §5.3-5.4).

t quantiles are from a printed t table (one-sided 0.10): df 3 -> 1.638, df 4 -> 1.533, df 5 -> 1.476; the test
holds the code's t to 3 decimals of the table and carries scipy's exact value only into the limits' arithmetic."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import pytest

from cleanclaim.errors import InputError
from cleanclaim.sampling.extrapolation import DegreesOfFreedom, extrapolate
from cleanclaim.sampling.frames import SampledResult, SamplingUnit, read_population, read_results


def _results(values: list[tuple[str, str | None, str]]) -> list[SampledResult]:
    return [SampledResult(claim_id, Decimal("100.00"), Decimal(over), stratum, row)
            for row, (claim_id, stratum, over) in enumerate(values, start=2)]


def _population(sizes: dict[str, int], sampled: dict[str, list[str]]) -> list[SamplingUnit]:
    units: list[SamplingUnit] = []
    for stratum, size in sizes.items():
        ids = sampled.get(stratum, [])
        ids = ids + [f"{stratum}-other-{i}" for i in range(size - len(ids))]
        units.extend(SamplingUnit(claim_id, Decimal("100.00"), stratum, len(units) + 2) for claim_id in ids)
    return units


def test_simple_sample_worked_by_hand() -> None:
    # N = 10, sample 10, 20, 30, 40.  mean = 100/4 = 25.  deviations -15 -5 5 15, squares 225+25+25+225 = 500,
    # s2 = 500/3.  var(total) = N^2 (1 - n/N) s2 / n = 100 * 0.6 * (500/3) / 4 = 2500, SE = 50.
    # point = 10 * 25 = 250.  df = 3, t = 1.638 (table).  margin = 1.6377 * 50 = 81.89.
    # lower = 250 - 81.89 = 168.11, upper = 331.89, precision = 81.89 / 250 = 32.75 %.
    result = extrapolate(_results([("A", None, "10"), ("B", None, "20"), ("C", None, "30"), ("D", None, "40")]),
                         results_file="r.csv", population_size=10)
    data = result.to_json()
    assert data["n"] == 4
    assert data["population_size"] == 10
    assert data["point_estimate"] == "250.00"
    assert data["standard_error"] == "50.00"
    assert data["t_value"] == pytest.approx(1.638, abs=5e-4)
    assert data["lower_limit_90"] == "168.11"
    assert data["upper_limit_90"] == "331.89"
    assert data["precision_percent"] == pytest.approx(32.75, abs=0.01)
    assert data["strata"] == []
    assert set(data) == {"n", "population_size", "point_estimate", "standard_error", "t_value", "lower_limit_90",
                         "upper_limit_90", "precision_percent", "strata"}


def test_stratified_with_a_stratum_of_one_claim_worked_by_hand() -> None:
    # S1: N=5, sample 2, 4: mean 3, s2 = (1 + 1)/1 = 2, var = 25 * (1 - 2/5) * 2 / 2 = 15
    # S2: N=20, sample 10 20 30 40: mean 25, s2 = 500/3, var = 400 * (1 - 4/20) * (500/3) / 4 = 40000/3 = 13333.33
    # S3: N=1, sample the one claim (100): taken whole, adds 100 and no variance
    # point = 5*3 + 20*25 + 1*100 = 615;  var = 15 + 13333.333 = 13348.333, SE = sqrt(13348.333) = 115.535
    # df = n - L over the sampled strata = (2 + 4) - 2 = 4, t = 1.533 (table)
    # lower = 615 - 1.5332 * 115.535 = 615 - 177.14 = 437.86
    values = [("a1", "S1", "2"), ("a2", "S1", "4"), ("b1", "S2", "10"), ("b2", "S2", "20"), ("b3", "S2", "30"),
              ("b4", "S2", "40"), ("c1", "S3", "100")]
    population = _population({"S1": 5, "S2": 20, "S3": 1},
                             {"S1": ["a1", "a2"], "S2": ["b1", "b2", "b3", "b4"], "S3": ["c1"]})
    result = extrapolate(_results(values), results_file="r.csv", population=population)
    se = math.sqrt(15 + 40000 / 3)
    assert se == pytest.approx(115.535, abs=1e-3)
    data = result.to_json()
    assert data["point_estimate"] == "615.00"
    assert data["standard_error"] == f"{se:.2f}"
    assert float(result.degrees_of_freedom or 0) == 4
    assert data["t_value"] == pytest.approx(1.533, abs=5e-4)
    t = float(result.t_value or 0)
    assert data["lower_limit_90"] == f"{615 - t * se:.2f}"
    assert data["lower_limit_90"] == "437.86"
    assert data["upper_limit_90"] == "792.14"
    strata = {s["stratum"]: s for s in data["strata"]}
    assert strata["S1"]["point_estimate"] == "15.00"
    assert strata["S2"]["point_estimate"] == "500.00"
    assert strata["S3"]["point_estimate"] == "100.00"
    assert strata["S3"]["standard_error"] == "0.00"
    assert strata["S1"]["population_size"] == 5


def test_satterthwaite_degrees_of_freedom_worked_by_hand() -> None:
    # a_h = N_h (N_h - n_h) / n_h:  S1: 5*3/2 = 7.5, a*s2 = 7.5*2 = 15;  S2: 20*16/4 = 80, a*s2 = 80*500/3 = 13333.33
    # df = (15 + 13333.33)^2 / (15^2/1 + 13333.33^2/3) = 178178 / 59260 ... = 3.0067 (S2's 3 dominate)
    values = [("a1", "S1", "2"), ("a2", "S1", "4"), ("b1", "S2", "10"), ("b2", "S2", "20"), ("b3", "S2", "30"),
              ("b4", "S2", "40")]
    population = _population({"S1": 5, "S2": 20}, {"S1": ["a1", "a2"], "S2": ["b1", "b2", "b3", "b4"]})
    result = extrapolate(_results(values), results_file="r.csv", population=population,
                         degrees_of_freedom=DegreesOfFreedom.SATTERTHWAITE)
    expected = (15 + 40000 / 3) ** 2 / (15**2 / 1 + (40000 / 3) ** 2 / 3)
    assert expected == pytest.approx(3.0067, abs=1e-4)
    assert float(result.degrees_of_freedom or 0) == pytest.approx(expected, rel=1e-9)
    assert float(result.t_value or 0) == pytest.approx(1.637, abs=2e-3)  # between df 3 (1.638) and df 4 (1.533)


def test_whole_population_audited_has_no_sampling_error() -> None:
    # n = N = 3: 1 - n/N = 0, so SE = 0 and both limits equal the total 5 + 7 + 9 = 21
    result = extrapolate(_results([("A", None, "5"), ("B", None, "7"), ("C", None, "9")]), results_file="r.csv",
                         population_size=3).to_json()
    assert result["point_estimate"] == "21.00"
    assert result["standard_error"] == "0.00"
    assert result["lower_limit_90"] == result["upper_limit_90"] == "21.00"
    assert result["precision_percent"] == 0


def test_all_zero_overpayments() -> None:
    # every audited claim was right: total 0, SE 0; precision (margin / total) is undefined and reported as null
    result = extrapolate(_results([("A", None, "0"), ("B", None, "0"), ("C", None, "0.00")]), results_file="r.csv",
                         population_size=1000).to_json()
    assert result["point_estimate"] == "0.00"
    assert result["standard_error"] == "0.00"
    assert result["lower_limit_90"] == "0.00"
    assert result["precision_percent"] is None
    assert result["t_value"] == pytest.approx(1.886, abs=5e-4)  # df 2


def test_money_rounds_half_up_to_the_cent() -> None:
    # N = 3, sample 0.005 and 0.005 -> total 3 * 0.005 = 0.015 -> "0.02" (half up), SE 0 (equal values)
    result = extrapolate(_results([("A", None, "0.005"), ("B", None, "0.005")]), results_file="r.csv",
                         population_size=3).to_json()
    assert result["point_estimate"] == "0.02"


def test_sample_larger_than_population_is_an_input_error() -> None:
    with pytest.raises(InputError, match="cannot be larger than its population") as caught:
        extrapolate(_results([("A", None, "1"), ("B", None, "2"), ("C", None, "3")]), results_file="r.csv",
                    population_size=2)
    assert "r.csv" in str(caught.value)


def test_one_sampled_claim_of_a_larger_stratum_is_refused() -> None:
    population = _population({"S1": 5, "S2": 5}, {"S1": ["a1"], "S2": ["b1", "b2"]})
    with pytest.raises(InputError, match="variance cannot be estimated"):
        extrapolate(_results([("a1", "S1", "2"), ("b1", "S2", "1"), ("b2", "S2", "3")]), results_file="r.csv",
                    population=population)


def test_stratified_results_need_the_population_file() -> None:
    with pytest.raises(InputError, match="--population FILE"):
        extrapolate(_results([("a1", "S1", "2"), ("a2", "S1", "4")]), results_file="r.csv", population_size=10)


def test_claim_not_in_population_names_its_row() -> None:
    population = _population({"S1": 5}, {"S1": ["a1"]})
    with pytest.raises(InputError, match="not in the population") as caught:
        extrapolate(_results([("a1", "S1", "2"), ("zz", "S1", "4")]), results_file="r.csv", population=population)
    assert caught.value.row == 3
    assert caught.value.field == "claim_id"


def test_stratum_disagreeing_with_population_is_an_input_error() -> None:
    population = _population({"S1": 5, "S2": 5}, {"S1": ["a1", "a2"], "S2": ["b1", "b2"]})
    with pytest.raises(InputError, match="stratum 'S2' here but 'S1'"):
        extrapolate(_results([("a1", "S1", "2"), ("a2", "S2", "4"), ("b1", "S2", "1"), ("b2", "S2", "1")]),
                    results_file="r.csv", population=population)


# ---- reading RESULTS ------------------------------------------------------------------------------------------------

def test_results_missing_column_names_it(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("claim_id,paid\nA,10\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing column") as caught:
        read_results(path)
    assert caught.value.field == "overpayment"
    assert caught.value.file == str(path)


def test_results_non_numeric_paid_names_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("claim_id,paid,overpayment\nA,10,0\nB,$12.00,3\n", encoding="utf-8")
    with pytest.raises(InputError, match="expected an amount") as caught:
        read_results(path)
    assert (caught.value.row, caught.value.field) == (3, "paid")


def test_results_duplicate_claim_id_names_both_rows(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("claim_id,paid,overpayment\nA,10,0\nB,12,3\nA,10,1\n", encoding="utf-8")
    with pytest.raises(InputError, match="first on row 2") as caught:
        read_results(path)
    assert caught.value.row == 4


def test_population_from_claim_lines_sums_each_claims_lines(tmp_path: Path) -> None:
    path = tmp_path / "lines.csv"
    path.write_text("encounter_id,code,units,charge\nE1,97110,2,90.00\nE2,97110,1,45\nE1,97116,1,45.50\n",
                    encoding="utf-8")
    frame = read_population(path)
    assert frame.amount_column == "charge"
    assert [(u.claim_id, u.paid) for u in frame.units] == [("E1", Decimal("135.50")), ("E2", Decimal("45"))]


def test_overpayment_above_paid_is_computed_and_warned() -> None:
    results = [SampledResult("A", Decimal("100"), Decimal("150"), None, 2),
               SampledResult("B", Decimal("100"), Decimal("50"), None, 3)]
    estimate = extrapolate(results, results_file="r.csv", population_size=4)
    # (150 + 50) / 2 * 4 = 400: the amount is used as given, the row is named
    assert estimate.to_json()["point_estimate"] == "400.00"
    assert len(estimate.warnings) == 1
    assert "row 2" in estimate.warnings[0]
    assert "above its paid amount" in estimate.warnings[0]


def test_paid_differing_from_the_population_is_warned() -> None:
    population = [SamplingUnit("A", Decimal("100"), None, 2), SamplingUnit("B", Decimal("80"), None, 3),
                  SamplingUnit("C", Decimal("70"), None, 4)]
    results = [SampledResult("A", Decimal("100"), Decimal("0"), None, 2),
               SampledResult("B", Decimal("90"), Decimal("10"), None, 3)]
    estimate = extrapolate(results, results_file="r.csv", population=population)
    assert [w for w in estimate.warnings if "in the population file" in w] == [
        "r.csv, row 3: claim 'B' is paid 90 here but 80 in the population file"]
    clean = extrapolate([*results[:1], SampledResult("C", Decimal("70"), Decimal("0"), None, 3)],
                        results_file="r.csv", population=population)
    assert clean.warnings == []
