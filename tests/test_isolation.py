"""A bug that one record triggers costs only that record: the coder and the rules are retried on smaller parts of the
batch (patient-days for the coder, patients for the rules), the rest keep their results, the failure names the
encounters it cost, and the exit status is 3.

Failures are injected with monkeypatch into real cleanclaim code (the coder's planning step, one rule's check) so
that they raise only when a chosen encounter is in their input; every assertion compares with a clean run of the
same input without that encounter (or without that rule), so it holds for whatever the rules find.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from cleanclaim.cli import app
from cleanclaim.coding import _Coder
from cleanclaim.isolation import bisect_failures
from cleanclaim.rules.registry import Rule, get_rule
from cleanclaim.rules.tables import Tables

runner = CliRunner()
AS_OF = "2026-04-01"
SECRET = "1950-01-01 Example"  # what an exception's text might quote from the input: never shown
BAD = "E2"


def _encounter(eid: str, patient: str, day: int, *, lines: bool) -> dict[str, Any]:
    """A synthetic Medicare PT visit; with ``lines`` billed with too many units (so rules find something)."""
    data: dict[str, Any] = {
        "id": eid, "date": dt.date(2026, 3, day), "payer": "medicare", "place_of_service": "11",
        "patient": {"id": patient, "birth_date": dt.date(1950, 1, 1), "sex": "F"},
        "provider": {"npi": "1234567893", "discipline": "PT"},
        "diagnoses": ["M62.81"],
        "services": [{"code": "97110", "minutes": 24}, {"code": "97535", "minutes": 23}],
    }
    if lines:
        data["lines"] = [{"code": "97110", "modifiers": ["GP"], "units": 4, "dx_pointers": [1], "charge": 120},
                         {"code": "96150", "units": 1, "dx_pointers": [1], "charge": 60}]
    return data


# E1 and E4: one patient on one day (coded together); E2, E3, E5: other patients
PLAN = [("E1", "P1", 2), (BAD, "P2", 2), ("E3", "P3", 3), ("E4", "P1", 2), ("E5", "P5", 4)]


def _yaml(folder: Path, name: str, *, lines: bool, without: frozenset[str] = frozenset()) -> Path:
    path = folder / name
    encounters = [_encounter(e, p, d, lines=lines) for e, p, d in PLAN if e not in without]
    path.write_text(yaml.safe_dump({"encounters": encounters}, sort_keys=False))
    return path


def _csv(folder: Path, name: str, *, without: frozenset[str] = frozenset()) -> Path:
    path = folder / name
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["encounter_id", "date", "payer", "place_of_service", "patient_id", "provider_npi",
                         "provider_discipline", "diagnoses", "code", "modifiers", "units", "minutes",
                         "dx_pointers", "charge"])
        for eid, patient, day in PLAN:
            if eid in without:
                continue
            common = [eid, f"2026-03-0{day}", "medicare", "11", patient, "1234567893", "PT", "M62.81"]
            writer.writerow([*common, "97110", "GP", "4", "24", "1", "120.00"])
            writer.writerow([*common, "96150", "", "1", "", "1", "60.00"])
    return path


def run(*args: str) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(app, [*args, "--json"], env={"COLUMNS": "200"})
    return result.exit_code, json.loads(result.stdout), result.stderr


@pytest.fixture
def coder_fails_on_bad(monkeypatch: pytest.MonkeyPatch) -> None:
    """The coder raises while planning encounter BAD, whatever batch it is in."""
    original = _Coder.plan

    def plan(self: _Coder) -> None:
        if self.encounter.id == BAD:
            raise ZeroDivisionError(SECRET)
        original(self)

    monkeypatch.setattr(_Coder, "plan", plan)


def _break_rule(monkeypatch: pytest.MonkeyPatch, slug: str, *, always: bool = False, bad: str = BAD,
                error: type[BaseException] = ZeroDivisionError) -> Rule:
    """Make a rule raise when encounter ``bad`` is in its tables (or always); it runs whatever its screen says."""
    rule = get_rule(slug)
    original = type(rule).check

    def check(self: Rule, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        if always or bad in tables.encounters.get_column("encounter_id").to_list():
            raise error(SECRET)
        return original(self, tables)

    monkeypatch.setattr(type(rule), "check", check)
    monkeypatch.setattr(type(rule), "screen_for", lambda self, tables: None)
    return rule


def _by_encounter(findings: list[dict[str, Any]], *, rule: str | None = None) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for finding in findings:
        if rule is None or finding["rule"] != rule:
            grouped.setdefault(finding["encounter"], []).append(finding)
    return grouped


# ---- code ---------------------------------------------------------------------------------------------------------

def test_code_codes_every_other_patient_day_and_names_the_failing_one(tmp_path: Path,
                                                                      coder_fails_on_bad: None) -> None:
    file = _yaml(tmp_path, "all.yaml", lines=False)
    clean = _yaml(tmp_path, "clean.yaml", lines=False, without=frozenset({BAD}))
    status, data, stderr = run("code", str(file), "--as-of", AS_OF)
    clean_status, expected, _ = run("code", str(clean), "--as-of", AS_OF)
    assert clean_status in (0, 1)
    assert status == 3
    assert data["encounters"] == expected["encounters"]
    assert [e["id"] for e in data["encounters"]] == ["E1", "E3", "E4", "E5"]
    (failure,) = data["failures"]
    assert failure["encounters"] == [BAD]
    assert failure["stage"] == "coding"
    assert failure["error"].startswith("ZeroDivisionError at cleanclaim/coding.py:")
    assert SECRET not in json.dumps(data) and SECRET not in stderr
    assert "E2" in stderr and "bug in cleanclaim" in stderr


def test_a_failing_encounter_takes_its_patient_day_with_it_never_half_of_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # E4 shares patient P1's day with E1: the day's timed minutes are coded together, so both go, nothing else
    original = _Coder.plan

    def plan(self: _Coder) -> None:
        if self.encounter.id == "E4":
            raise KeyError(SECRET)
        original(self)

    monkeypatch.setattr(_Coder, "plan", plan)
    file = _yaml(tmp_path, "all.yaml", lines=False)
    clean = _yaml(tmp_path, "clean.yaml", lines=False, without=frozenset({"E1", "E4"}))
    status, data, _ = run("code", str(file), "--as-of", AS_OF)
    _, expected, _ = run("code", str(clean), "--as-of", AS_OF)
    assert status == 3
    assert data["encounters"] == expected["encounters"]
    assert [f["encounters"] for f in data["failures"]] == [["E1", "E4"]]
    assert data["failures"][0]["error"].startswith("KeyError at cleanclaim/")


def test_code_keeps_the_coding_when_a_rule_fails_and_says_which_rule(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    file = _yaml(tmp_path, "all.yaml", lines=False)
    _, expected, _ = run("code", str(file), "--as-of", AS_OF)
    rule = _break_rule(monkeypatch, "missing-kx")
    status, data, _ = run("code", str(file), "--as-of", AS_OF)
    assert status == 3
    # every encounter is coded as before; only the broken rule's findings on patient P2 can be missing
    for got, want in zip(data["encounters"], expected["encounters"], strict=True):
        assert got["lines"] == want["lines"]
        assert got["explanation"] == want["explanation"]
        wanted = [f for f in want["findings"] if got["id"] != BAD or f["rule"] != rule.slug]
        assert got["findings"] == wanted
    (failure,) = data["failures"]
    assert failure == {"encounters": [BAD], "stage": "rules", "rule": rule.slug,
                       "error": failure["error"]}
    assert failure["error"].startswith("ZeroDivisionError at cleanclaim/")


# ---- check: encounter YAML ----------------------------------------------------------------------------------------

# a Rust panic in Polars arrives as pyo3's PanicException, a BaseException: isolated like any other bug
@pytest.mark.parametrize("error", [ZeroDivisionError, pl.exceptions.PanicException])
def test_check_yaml_checks_every_other_encounter_when_a_rule_fails_on_one(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          error: type[BaseException]) -> None:
    file = _yaml(tmp_path, "all.yaml", lines=True)
    _, full, _ = run("check", str(file), "--as-of", AS_OF)
    rule = _break_rule(monkeypatch, "deleted-code", error=error)
    assert any(f["rule"] == rule.slug and f["encounter"] == BAD for f in full["findings"])  # it had something to find
    status, data, stderr = run("check", str(file), "--as-of", AS_OF)
    assert status == 3
    # the others: exactly as before; the failing encounter: every other rule's findings still there
    assert _by_encounter(data["findings"]) == {
        e: found if e != BAD else [f for f in found if f["rule"] != rule.slug]
        for e, found in _by_encounter(full["findings"]).items()}
    (failure,) = data["failures"]
    assert (failure["encounters"], failure["rule"], failure["stage"]) == ([BAD], rule.slug, "rules")
    assert data["summary"]["encounters"] == full["summary"]["encounters"]
    assert SECRET not in json.dumps(data) and SECRET not in stderr
    assert f"rule {rule.slug} did not run on encounter(s) {BAD}" in stderr


def test_check_yaml_codes_and_checks_the_others_when_the_coder_fails(tmp_path: Path,
                                                                     coder_fails_on_bad: None) -> None:
    # no billed lines: check codes the services first, and the coder fails on E2
    file = _yaml(tmp_path, "all.yaml", lines=False)
    clean = _yaml(tmp_path, "clean.yaml", lines=False, without=frozenset({BAD}))
    status, data, _ = run("check", str(file), "--as-of", AS_OF)
    _, expected, _ = run("check", str(clean), "--as-of", AS_OF)
    assert status == 3
    assert data["findings"] == expected["findings"]
    assert data["summary"] == expected["summary"]
    assert [f["encounters"] for f in data["failures"]] == [[BAD]]


def test_a_rule_that_fails_on_everything_is_reported_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = _yaml(tmp_path, "all.yaml", lines=True)
    rule = get_rule("deleted-code")
    _, without_rule, _ = run("check", str(file), "--as-of", AS_OF, "--ignore", rule.slug)
    _break_rule(monkeypatch, rule.slug, always=True)
    status, data, _ = run("check", str(file), "--as-of", AS_OF)
    assert status == 3
    assert data["findings"] == without_rule["findings"]
    (failure,) = data["failures"]
    assert failure["encounters"] == [e for e, _, _ in PLAN]
    assert failure["rule"] == rule.slug


def test_input_error_and_failure_together_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = _yaml(tmp_path, "all.yaml", lines=True)
    unreadable = yaml.safe_load(file.read_text())
    unreadable["encounters"].append({"id": "E9", "patient": {"id": "P9"}})  # no date, no provider: unreadable
    file.write_text(yaml.safe_dump(unreadable, sort_keys=False))
    _break_rule(monkeypatch, "deleted-code")
    status, data, _ = run("check", str(file), "--as-of", AS_OF)
    assert data["errors"] and data["failures"]
    assert status == 3  # 3 outranks 2 outranks 1


# ---- check: claim-line CSV ----------------------------------------------------------------------------------------

def test_check_csv_checks_every_other_patient_when_a_rule_fails(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    file = _csv(tmp_path, "all.csv")
    _, full, _ = run("check", str(file), "--as-of", AS_OF)
    rule = _break_rule(monkeypatch, "units-exceed-time")
    assert any(f["rule"] == rule.slug and f["encounter"] == BAD for f in full["findings"])
    status, data, _ = run("check", str(file), "--as-of", AS_OF)
    assert status == 3
    assert _by_encounter(data["findings"]) == {
        e: found if e != BAD else [f for f in found if f["rule"] != rule.slug]
        for e, found in _by_encounter(full["findings"]).items()}
    assert data["summary"] == full["summary"] | {
        "errors": data["summary"]["errors"], "warnings": data["summary"]["warnings"], "info": data["summary"]["info"]}
    (failure,) = data["failures"]
    assert (failure["encounters"], failure["rule"]) == ([BAD], rule.slug)


def test_check_csv_failure_names_every_encounter_of_the_patient(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # the rules' unit is the patient: E1 and E4 (patient P1) fail together when the rule fails on E4's patient
    file = _csv(tmp_path, "all.csv")
    rule = get_rule("units-exceed-time")
    original = type(rule).check

    def check(self: Rule, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        if "E4" in tables.encounters.get_column("encounter_id").to_list():
            raise IndexError(SECRET)
        return original(self, tables)

    monkeypatch.setattr(type(rule), "check", check)
    monkeypatch.setattr(type(rule), "screen_for", lambda self, tables: None)
    status, data, _ = run("check", str(file), "--as-of", AS_OF)
    assert status == 3
    assert [f["encounters"] for f in data["failures"]] == [["E1", "E4"]]
    found = {f["encounter"] for f in data["findings"] if f["rule"] == rule.slug}
    assert found and not found & {"E1", "E4"}


# ---- price --------------------------------------------------------------------------------------------------------

def test_price_prices_every_other_encounter_when_the_coder_fails(tmp_path: Path,
                                                                 coder_fails_on_bad: None) -> None:
    file = _yaml(tmp_path, "all.yaml", lines=False)
    clean = _yaml(tmp_path, "clean.yaml", lines=False, without=frozenset({BAD}))
    status, data, stderr = run("price", str(file))
    clean_status, expected, _ = run("price", str(clean))
    assert (status, clean_status) == (3, 0)
    assert data.pop("failures") == [{"encounters": [BAD], "stage": "coding", "error": data_error(stderr)}]
    assert data == expected
    # E4's timed minutes are billed on E1 (one patient-day), so E4 has no line of its own
    assert {line["encounter"] for line in data["lines"]} == {"E1", "E3", "E5"}


def data_error(stderr: str) -> str:
    """The failure's error as printed on standard error (the JSON and the text say the same)."""
    (line,) = [text for text in stderr.splitlines() if "ZeroDivisionError" in text]
    return line[line.index("ZeroDivisionError"):line.index(";")]


# ---- the bisection itself -----------------------------------------------------------------------------------------

def test_bisection_finds_each_failing_group_and_keeps_every_other_result() -> None:
    calls: list[list[int]] = []

    def run_part(part: list[int]) -> list[int]:
        calls.append(part)
        if 3 in part or 7 in part:
            raise ValueError("a group failed")
        return [g * 10 for g in part]

    groups = list(range(10))
    with pytest.raises(ValueError, match="a group failed") as first:
        run_part(groups)
    done, failed = bisect_failures(groups, run_part, first.value)
    assert [g for g, _ in failed] == [3, 7]
    assert sorted(g for part, _ in done for g in part) == [0, 1, 2, 4, 5, 6, 8, 9]
    assert all(result == [g * 10 for g in part] for part, result in done)
    assert len(calls) <= 1 + 2 * 2 * 4  # about 2·k·log2(n) runs for k failing groups among n


def test_a_clean_batch_is_coded_and_checked_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cleanclaim import scrub

    calls = {"code": 0, "rules": 0}
    code_encounters, findings_table = scrub.code_encounters, scrub.findings_table

    def counted_code(*args: Any, **kwargs: Any) -> Any:
        calls["code"] += 1
        return code_encounters(*args, **kwargs)

    def counted_rules(*args: Any, **kwargs: Any) -> Any:
        calls["rules"] += 1
        return findings_table(*args, **kwargs)

    monkeypatch.setattr(scrub, "code_encounters", counted_code)
    monkeypatch.setattr(scrub, "findings_table", counted_rules)
    result = scrub.code(_yaml(tmp_path, "all.yaml", lines=False), as_of=dt.date(2026, 4, 1))
    assert calls == {"code": 1, "rules": 1}
    assert not result.failures


def test_the_fuzz_oracle_still_judges_an_isolated_crash_as_a_crash(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # isolation keeps the other records; it must not hide the bug from the fuzzer, which judges `check`
    from tests.fuzz.harness import judge, targets

    target = targets()["check-csv"]
    seed = target.seeds[0].encode("utf-8")
    assert judge(target, tmp_path / "clean.csv", seed) == []
    _break_rule(monkeypatch, "units-exceed-time", always=True)
    (crash,) = judge(target, tmp_path / "input.csv", seed)
    assert crash.kind == "exception"
    assert crash.key[:2] == ("check-csv", "ZeroDivisionError")


def test_price_prices_every_other_patient_day_when_the_pricer_fails(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from cleanclaim import pricing

    original = pricing._classify

    def classify(item: Any, frames: Any) -> None:
        if item.encounter == "E3":
            raise ArithmeticError(SECRET)
        original(item, frames)

    monkeypatch.setattr(pricing, "_classify", classify)
    file = _yaml(tmp_path, "all.yaml", lines=True)
    clean = _yaml(tmp_path, "clean.yaml", lines=True, without=frozenset({"E3"}))
    # a deductible makes the lines depend on each other: the rest must be priced exactly as a run without E3
    status, data, stderr = run("price", str(file), "--deductible", "150.00")
    clean_status, expected, _ = run("price", str(clean), "--deductible", "150.00")
    assert (status, clean_status) == (3, 0)
    (failure,) = data.pop("failures")
    assert (failure["encounters"], failure["stage"]) == (["E3"], "pricing")
    assert failure["error"].startswith("ArithmeticError at cleanclaim/pricing.py:")
    assert data == expected
    assert any(line["deductible"] not in (None, "0.00") for line in data["lines"])
    assert SECRET not in stderr


def test_export_does_not_pass_a_failed_check_for_all_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # export checks what it wrote; if a rule failed on those claims, it says so and exits 3, not 0
    example = Path(__file__).parent.parent / "examples" / "coaching-with-deleted-codes.yaml"
    out = tmp_path / "claims.837"
    args = ["export", str(example), "-f", "837p", "-o", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    rule = _break_rule(monkeypatch, "timely-filing", always=True)
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 3
    assert out.read_text().startswith("ISA")
    assert f"rule {rule.slug} did not run on encounter(s)" in result.stderr
    assert SECRET not in result.output


def test_a_rule_whose_plan_fails_while_polars_runs_it_is_isolated_too(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # the error comes out of collect_all, where every rule's plan runs at once, not out of the rule's own call
    file = _yaml(tmp_path, "all.yaml", lines=True)
    _, full, _ = run("check", str(file), "--as-of", AS_OF)
    rule = get_rule("deleted-code")
    original = type(rule).check

    def explode(encounter: str) -> bool:
        if encounter == BAD:
            raise ZeroDivisionError(SECRET)
        return True

    def check(self: Rule, tables: Tables) -> pl.LazyFrame:
        return original(self, tables).lazy().filter(
            pl.col("encounter_id").map_elements(explode, return_dtype=pl.Boolean))

    monkeypatch.setattr(type(rule), "check", check)
    status, data, stderr = run("check", str(file), "--as-of", AS_OF)
    assert status == 3
    assert _by_encounter(data["findings"]) == {
        e: found if e != BAD else [f for f in found if f["rule"] != rule.slug]
        for e, found in _by_encounter(full["findings"]).items()}
    assert [(f["encounters"], f["rule"]) for f in data["failures"]] == [([BAD], rule.slug)]
    assert SECRET not in json.dumps(data) and SECRET not in stderr


def test_check_837p_checks_every_other_claim_when_a_rule_fails_on_one(monkeypatch: pytest.MonkeyPatch) -> None:
    file = Path(__file__).parent / "formats" / "x12" / "fixtures" / "harbor_pt_claims.837"
    _, full, _ = run("check", str(file), "--as-of", AS_OF)
    claims = list(dict.fromkeys(f["encounter"] for f in full["findings"] if f["encounter"]))
    assert len(claims) >= 2
    rule = _break_rule(monkeypatch, "timely-filing", bad=claims[0])
    status, data, _ = run("check", str(file), "--as-of", AS_OF)
    assert status == 3
    assert [f["rule"] for f in data["failures"]] == [rule.slug]
    assert claims[0] in data["failures"][0]["encounters"]
    missed = set(data["failures"][0]["encounters"])
    assert set(claims) - missed  # other patients' claims were checked
    assert [f for f in data["findings"] if f["encounter"] not in missed] == [
        f for f in full["findings"] if f["encounter"] not in missed]


def test_bisection_stops_after_its_retries_and_names_every_group_not_cleared() -> None:
    calls: list[list[int]] = []

    def run_part(part: list[int]) -> int:
        calls.append(part)
        if 5 in part or part[0] >= 50:  # every group from 50 on fails, and group 5
            raise ValueError("a group failed")
        return len(part)

    groups = list(range(100))
    done, failed = bisect_failures(groups, run_part, ValueError("the batch failed"), retries=12)
    assert len(calls) == 12
    cleared = [g for part, _ in done for g in part]
    named = [g for g, _ in failed]
    assert sorted(cleared + named) == groups  # every group either ran or is named
    assert 5 in named and not set(range(50, 100)) & set(cleared)
    assert named == sorted(named)
    # with enough retries, exactly the failing groups
    _, exact = bisect_failures(groups, run_part, ValueError("the batch failed"), retries=10_000)
    assert [g for g, _ in exact] == [5, *range(50, 100)]


def test_check_837p_keeps_the_rules_findings_when_the_x12_syntax_check_fails(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cleanclaim.formats import x12_validation

    file = Path(__file__).parent / "formats" / "x12" / "fixtures" / "harbor_pt_claims.837"
    _, full, _ = run("check", str(file), "--as-of", AS_OF, "--ignore", "x12")

    def broken(*_args: object) -> pl.DataFrame:
        raise UnicodeError(SECRET)

    monkeypatch.setattr(x12_validation, "x12_findings_table", broken)
    status, data, stderr = run("check", str(file), "--as-of", AS_OF)
    assert status == 3
    assert data["findings"] == full["findings"]
    (failure,) = data["failures"]
    assert failure["stage"] == "x12 validation"
    # every claim of the file: the syntax check is per file
    assert len(failure["encounters"]) == full["summary"]["encounters"] == data["summary"]["encounters"]
    assert {f["encounter"] for f in full["findings"] if f["encounter"]} <= set(failure["encounters"])
    assert "X12 syntax was not checked" in stderr and SECRET not in stderr


def test_check_text_output_shows_the_others_then_the_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = _yaml(tmp_path, "all.yaml", lines=True)
    _break_rule(monkeypatch, "deleted-code")
    result = runner.invoke(app, ["check", str(file), "--as-of", AS_OF], env={"COLUMNS": "200"})
    assert result.exit_code == 3
    for other in ("E1", "E3", "E4", "E5"):
        assert f"Encounter {other}" in result.stdout
    assert "5 encounter(s)" in result.stdout
    assert "rule deleted-code did not run on encounter(s) E2" in result.stderr
    assert SECRET not in result.output
