"""Unconfirmed billing rights are warnings, never errors (domain README: UNCONFIRMED is never a hard error)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from cleanclaim.model import Discipline, Encounter, Finding, Severity
from cleanclaim.payers import load_profile
from cleanclaim.rules import run_rules, tables_from_encounters
from cleanclaim.rules.catalogue.eligibility import biller_periods, unconfirmed_billers
from cleanclaim.rules.catalogue.telehealth import telehealth_practitioner_periods, telehealth_services
from cleanclaim.rules.engine import RuleSelection
from cleanclaim.rules.tables import codes_frame


def _pairs() -> list[tuple[str, str, str]]:
    codes = codes_frame().filter(pl.col("deleted").is_null())
    pairs: list[tuple[str, str, str]] = []
    for prefix, discipline in unconfirmed_billers().select("family_prefix", "discipline").iter_rows():
        family_codes = codes.filter(pl.col("family").str.starts_with(prefix))["code"].to_list()
        assert family_codes, f"no code-book family starts with {prefix!r}"
        pairs.extend((prefix, discipline, code) for code in family_codes)
    return pairs


def test_unconfirmed_disciplines_are_real_disciplines() -> None:
    values = {d.value for d in Discipline}
    assert set(unconfirmed_billers()["discipline"].to_list()) <= values


@pytest.mark.parametrize(("prefix", "discipline", "code"), _pairs())
def test_unconfirmed_pair_is_a_warning(prefix: str, discipline: str, code: str) -> None:
    encounter = Encounter.model_validate({
        "id": "E1", "date": "2026-03-02", "patient": {"id": "P1"}, "diagnoses": ["E11.9"],
        "provider": {"npi": "1234567893", "discipline": discipline},
        "lines": [{"code": code, "units": 1, "minutes": 60, "dx_pointers": [1]}],
    })
    tables = tables_from_encounters([encounter], {"medicare": load_profile("medicare")}, as_of=dt.date(2026, 4, 1))
    findings = run_rules(tables, RuleSelection(select=frozenset({"provider-not-eligible"})))
    assert [f.severity for f in findings] == [Severity.WARNING], (prefix, discipline, code)
    assert "unconfirmed" in findings[0].message
    assert not any("coding-facts" in ref for ref in findings[0].references)


def _eligibility(discipline: str, codes: list[str], date: str = "2026-03-02") -> list[Finding]:
    encounter = Encounter.model_validate({
        "id": "E1", "date": date, "patient": {"id": "P1"}, "diagnoses": ["E11.9"],
        "provider": {"npi": "1234567893", "discipline": discipline},
        "lines": [{"code": code, "units": 1, "minutes": 60, "dx_pointers": [1]} for code in codes],
    })
    tables = tables_from_encounters([encounter], {"medicare": load_profile("medicare")}, as_of=dt.date(2026, 4, 1))
    return run_rules(tables, RuleSelection(select=frozenset({"provider-not-eligible"})))


def _code_reference(code: str) -> str:
    reference = codes_frame().filter(pl.col("code") == code)["code_reference"].to_list()[-1]
    assert isinstance(reference, str)
    return reference


@pytest.mark.parametrize(("discipline", "code"), [("PT", "97165"), ("RD", "97110")])
def test_family_without_own_source_cites_the_code_books_source(discipline: str, code: str) -> None:
    (finding,) = _eligibility(discipline, [code])
    assert finding.references == [_code_reference(code)]


@pytest.mark.parametrize(("discipline", "code", "cited", "not_cited"), [
    ("coach", "G0019", "Noridian", ("APA", "NASW", "NGS")),
    ("coach", "96158", "CMS-1715-F", ("NASW", "NGS", "midpoint")),
    ("coach", "99407", "NGS", ("APA", "NASW")),
])
def test_references_concern_the_codes_family(discipline: str, code: str, cited: str,
                                             not_cited: tuple[str, ...]) -> None:
    (finding,) = _eligibility(discipline, [code])
    text = " | ".join(finding.references)
    assert cited in text
    assert not any(name in text for name in not_cited), text


def test_social_worker_hbai_before_2024_cites_the_cy2024_rule_and_after_passes() -> None:
    (finding,) = _eligibility("CSW", ["96158"], date="2023-06-01")
    assert finding.severity == Severity.ERROR
    assert any(ref.startswith("CY2024 PFS final rule CMS-1784-F") for ref in finding.references)
    assert _eligibility("CSW", ["96158"], date="2024-01-02") == []


def test_biller_periods_name_real_families_and_disciplines() -> None:
    periods = biller_periods()
    families = set(codes_frame()["family"].to_list())
    assert set(periods["family"].to_list()) <= families
    assert set(periods["discipline"].to_list()) <= {d.value for d in Discipline}
    assert (periods["source"].str.len_chars() > 10).all()
    hbai = codes_frame().filter(pl.col("family").is_in(periods["family"].to_list()))["code"].unique().sort()
    assert hbai.to_list() == ["96156", "96158", "96159", "96164", "96165", "96167", "96168", "96170", "96171"]


def test_unstated_discipline_is_one_info_per_encounter() -> None:
    findings = _eligibility("other", ["96158", "97110", "99407"])
    assert [(f.severity, f.line) for f in findings] == [(Severity.INFO, None)]
    assert "96158, 97110, 99407" in findings[0].message


def test_no_user_text_cites_internal_notes() -> None:
    internal = ("coding-facts", ".md", "UNCONFIRMED item", "payer profile:")
    assert not any(word in text for text in unconfirmed_billers()["reference"].to_list() for word in internal)
    for discipline, code in [("MFT", "96158"), ("CSW", "G0019"), ("coach", "99407"), ("CSW", "96156")]:
        for finding in _eligibility(discipline, [code], date="2023-06-01" if code == "96156" else "2026-03-02"):
            texts = [finding.message, finding.fix, *finding.references]
            assert not any(word in text for text in texts for word in internal), texts


# ---- telehealth (issue 14 item 3) ------------------------------------------------------------------------------------

def _telehealth_findings(date: str, discipline: str, place: str, code: str, modifiers: list[str]) -> list[Finding]:
    encounter = Encounter.model_validate({
        "id": "E1", "date": date, "payer": "medicare", "place_of_service": place,
        "patient": {"id": "P1", "birth_date": "1950-01-01", "sex": "F"},
        "provider": {"npi": "1234567893", "discipline": discipline}, "diagnoses": ["M62.81"],
        "lines": [{"code": code, "modifiers": modifiers, "units": 1}]})
    tables = tables_from_encounters([encounter], {"medicare": load_profile("medicare")}, as_of=dt.date(2028, 6, 1))
    return run_rules(tables, RuleSelection(select=frozenset({"telehealth-practitioner-not-eligible",
                                                              "telehealth-service-not-on-list"})))


def test_an_unconfirmed_lapse_is_a_warning_and_outside_every_period_an_error() -> None:
    (lapse,) = _telehealth_findings("2026-01-31", "PT", "10", "97110", ["GP"])
    assert (lapse.rule, lapse.severity.value) == ("telehealth-practitioner-not-eligible", "warning")
    (after,) = _telehealth_findings("2028-01-03", "SLP", "10", "92507", ["GN"])
    assert (after.rule, after.severity.value) == ("telehealth-practitioner-not-eligible", "error")
    assert "Consolidated Appropriations Act, 2026" in " ".join(after.references)


def test_both_telehealth_rules_fire_on_a_therapist_code_off_the_list_outside_the_statute() -> None:
    found = {f.rule for f in _telehealth_findings("2019-06-03", "PT", "02", "97140", ["GP", "95"])}
    assert found == {"telehealth-practitioner-not-eligible", "telehealth-service-not-on-list"}


def test_telehealth_data_files_are_dated_and_sourced() -> None:
    services = telehealth_services()
    assert services.filter(pl.col("source").is_null() | pl.col("valid_from").is_null()).height == 0
    listed_2026 = set(services.filter(pl.col("listed") & pl.col("valid_to").is_null())["code"].to_list())
    assert {"97110", "97112", "97116", "97530", "97535", "97150", "97161", "97162", "97163", "97164"} <= listed_2026
    assert services.filter(pl.col("code") == "97140")["listed"].to_list() == [False]
    periods = telehealth_practitioner_periods().filter(pl.col("discipline") == "pt").sort("valid_from")
    # the periods tile the span from the PHE to the current end date, without gaps or overlaps
    starts, ends = periods["valid_from"].to_list(), periods["valid_to"].to_list()
    assert all(later == end + dt.timedelta(days=1) for end, later in zip(ends, starts[1:], strict=False))
    assert (str(starts[0]), str(ends[-1])) == ("2020-03-01", "2027-12-31")
