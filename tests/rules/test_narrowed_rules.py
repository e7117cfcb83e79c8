"""On a large run some rules judge only the encounters that could break them (decided per distinct diagnosis, code
or date first); their findings must be exactly those of the same rules judging every encounter.

The batch mixes, over more than SMALL_RUN lines, the claims each rule flags (an invalid, unknown or header diagnosis,
a date no loaded release covers, claims whose lines carry different dates and point at different diagnoses, Z-code
only therapy, an initial-encounter injury, obesity counseling without a BMI) among many clean ones.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from cleanclaim.model import Encounter
from cleanclaim.payers import CodeLimit, load_profile
from cleanclaim.rules.catalogue import code_validity, combinations, coverage, diagnosis, eligibility
from cleanclaim.rules.engine import RuleSelection, findings_table
from cleanclaim.rules.registry import all_rules
from cleanclaim.rules.tables import SMALL_RUN, Tables, tables_from_encounters

_DIAGNOSES = [
    ["M62.81"], ["M62.81", "Z91.81"], ["M62.8X"], ["m62.81 ", "M62"], ["E11.9", "E66.01", "Z71.3"], ["Z71.89"],
    ["Z71.89", "Z00.00"], ["S83.511A"], ["S83.511D", "S83.511A"], ["Q99.9X"], ["62.81"], ["J44.9", "M54.5"], [],
]
_DATES = ["2026-07-01", "2026-08-14", "2026-09-30", "2026-10-02", "2025-09-30", "2025-10-01"]


def _encounter(number: int) -> Encounter:
    diagnoses = _DIAGNOSES[number % len(_DIAGNOSES)]
    date = _DATES[number % len(_DATES)]
    count = max(len(diagnoses), 1)
    lines: list[dict[str, Any]] = [
        {"code": "97110", "modifiers": ["GP"], "units": 1, "minutes": 15,
         "dx_pointers": [(number + i) % count + 1 for i in range(min(count, 1 + number % 3))]},
        # a later visit on the claim, on another date (possibly of another fiscal year), pointing elsewhere
        {"code": "97530", "modifiers": ["GP"], "units": 1, "minutes": 15,
         "date": _DATES[(number // 7) % len(_DATES)], "dx_pointers": [count - (number % count)]},
    ]
    if number % 5 == 0:
        lines.append({"code": "G0447", "units": 1, "dx_pointers": [1]})
    if number % 8 < 2:  # two claims of one patient with the same day's services in each
        lines.append({"code": "96156", "units": 1 + number % 3 // 2, "date": _DATES[0], "dx_pointers": [1]})
        lines.append({"code": ("99406", "99407")[number % 2], "units": 1, "date": _DATES[0], "dx_pointers": [1]})
    for every, code, day in ((37, "96150", None), (41, "99201", None), (43, "97531", None), (53, "9711", None),
                             (47, "0591T", "2019-06-03"), (61, "99401", None), (67, "97010", None)):
        if number % every == 0:
            lines.append({"code": code, "units": 1, "date": day, "dx_pointers": [1]})
    for every, pointers in ((13, [0, 5]), (17, [1, 1]), (19, [1, 2, 3, 4, 1]), (23, [2])):
        if number % every == 0:
            lines.append({"code": "97112", "modifiers": ["GP"], "units": 1, "minutes": 15, "dx_pointers": pointers})
    if number % 11 == 0:
        lines.append({"code": "96158", "units": 1, "minutes": 30, "dx_pointers": []})
    discipline = "other" if number % 59 == 0 else "PT" if number % 11 else "psychologist"
    return Encounter.model_validate({
        "id": f"E{number:05d}", "date": date, "payer": "medicare" if number % 4 else "commercial",
        "patient": {"id": f"P{number // 4}"}, "diagnoses": diagnoses,
        "provider": {"npi": "1234567893", "discipline": discipline}, "lines": lines,
    })


_PAYERS = {name: load_profile(name) for name in ("medicare", "commercial")}


def _tables(numbers: range = range(SMALL_RUN)) -> Tables:
    return tables_from_encounters([_encounter(number) for number in numbers], _PAYERS, as_of=dt.date(2026, 12, 1))


_DIAGNOSIS_RULES = frozenset({"invalid-diagnosis", "non-billable-diagnosis"})


def _findings(rules: frozenset[str]) -> pl.DataFrame:
    tables = _tables()
    assert tables.lines.height > SMALL_RUN
    return findings_table(tables, RuleSelection(select=rules))


def test_diagnosis_validity_on_the_questionable_encounters_only(monkeypatch: pytest.MonkeyPatch) -> None:
    narrowed = _findings(_DIAGNOSIS_RULES)
    questionable = diagnosis.questionable_encounters(_tables())
    assert questionable is not None and 0 < questionable.height < SMALL_RUN
    monkeypatch.setattr(diagnosis, "questionable_encounters", lambda tables: None)
    whole = _findings(_DIAGNOSIS_RULES)
    assert narrowed.equals(whole)
    counts = dict(whole.group_by("rule", "severity").len().select(
        pl.concat_str("rule", "severity", separator="/"), "len").iter_rows())
    # every kind of finding is there: unknown and malformed codes, headers, the uncovered dates' warnings
    assert set(counts) == {"invalid-diagnosis/error", "invalid-diagnosis/warning", "non-billable-diagnosis/error"}


def test_provider_eligibility_judges_the_questioned_code_and_discipline_pairs_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rules = frozenset({"provider-not-eligible"})
    narrowed = _findings(rules)
    tables = _tables()
    pairs = eligibility._questioned_pairs(tables)
    billed = tables.lines.select("code", "provider_discipline").unique()
    # some pairs billed are questioned (a therapist's HBAI and tobacco lines, every code of an unstated discipline),
    # not all (a therapist's exercise lines)
    assert pairs is not None and 0 < pairs.height < billed.height
    monkeypatch.setattr(eligibility, "_questioned_pairs", lambda tables: None)
    whole = _findings(rules)
    assert narrowed.equals(whole)
    # the lines flagged and the unstated disciplines' notes
    assert set(whole.get_column("severity")) == {"error", "info"}


def test_a_large_batch_of_eligible_pairs_skips_provider_eligibility() -> None:
    # each discipline bills codes it may bill, while the run's codes taken together have a discipline that may not
    # bill each of them: no pair is questioned, the rule is screened out, and run anyway it finds nothing
    def claim(number: int) -> Encounter:
        discipline, code = (("PT", "97110"), ("psychologist", "96158"), ("coach", "0591T"))[number % 3]
        return Encounter.model_validate({
            "id": f"Q{number:05d}", "date": "2026-07-01", "patient": {"id": f"P{number}"}, "diagnoses": ["M62.81"],
            "provider": {"npi": "1234567893", "discipline": discipline},
            "lines": [{"code": code, "units": 1, "minutes": 30, "dx_pointers": [1]}],
        })

    tables = tables_from_encounters([claim(n) for n in range(SMALL_RUN + 30)], _PAYERS, as_of=dt.date(2026, 12, 1))
    pairs = eligibility._questioned_pairs(tables)
    assert pairs is not None and pairs.height == 0
    selection = RuleSelection(select=frozenset({"provider-not-eligible"}))
    assert findings_table(tables, selection).height == 0
    assert findings_table(tables, selection, screens=False).height == 0
    # a coach's 97110 among them is questioned, and flagged
    flagged = tables_from_encounters([claim(n) for n in range(SMALL_RUN + 30)] + [Encounter.model_validate({
        "id": "Q99999", "date": "2026-07-01", "patient": {"id": "P99999"}, "diagnoses": ["M62.81"],
        "provider": {"npi": "1234567893", "discipline": "coach"},
        "lines": [{"code": "97110", "units": 1, "minutes": 15, "dx_pointers": [1]}],
    })], _PAYERS, as_of=dt.date(2026, 12, 1))
    questioned = eligibility._questioned_pairs(flagged)
    assert questioned is not None and questioned.rows() == [("97110", "coach")]
    found = findings_table(flagged, selection)
    assert found.select("encounter", "line", "code").rows() == [("Q99999", 1, "97110")]


def test_same_day_conflicts_of_a_large_run_are_those_of_the_plain_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    # a large run keeps the lines of a listed code first and compares each distinct code with the ranges once
    rules = frozenset({"same-day-family-conflict"})
    narrowed = _findings(rules)
    monkeypatch.setattr(coverage, "SMALL_RUN", 10**9)  # every line crossed with every row, as on one claim
    whole = _findings(rules)
    assert narrowed.equals(whole)
    messages = whole.get_column("message").to_list()
    # both kinds of row: a pair (99406 with 99407) and a code once a day (96156, one line of 2 units)
    assert any("99406" in m and "99407" in m for m in messages)
    assert any("unit(s) of 96156" in m for m in messages)
    assert coverage._ranged_codes(frozenset({"97110", "96156", "97162", "97168", "0592T", "99405"})).to_list() == [
        "0592T", "96156", "97162", "97168"]


def _hbai_encounter(number: int) -> Encounter:
    # HBAI (96158, or 0096158: the same number) on a patient's day with a psychiatric, adaptive behavior or
    # preventive counseling service by the same provider or another, with services kept apart from none, or alone
    hbai = ("96158", "0096158", "96156")[number % 3]
    other = ("90791", "97153", "99401", "97110", "G0447", "99412", "+90785")[number % 7]
    return Encounter.model_validate({
        "id": f"H{number:05d}", "date": "2026-07-01", "patient": {"id": f"P{number // 2}"},
        "diagnoses": ["E11.9"], "provider": {"npi": "1234567893", "discipline": "psychologist"},
        "lines": [{"code": hbai if number % 2 else other, "units": 1, "dx_pointers": [1],
                   "rendering_npi": None if number % 5 else "1245319599"}],
    })


def test_hbai_conflicts_of_a_large_run_are_those_of_the_plain_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    # a large run reads each distinct code once and pairs the HBAI lines with the lines of a kept-apart code only
    tables = tables_from_encounters([_hbai_encounter(n) for n in range(SMALL_RUN + 100)], _PAYERS,
                                    as_of=dt.date(2026, 12, 1))
    selection = RuleSelection(select=frozenset({"hbai-same-day-conflict"}))
    # the reading is Polars' lenient integer cast: a sign and leading zeros are read, a letter is no number, and an
    # unforeseen shape turns the narrowing off
    assert combinations._codes_within(frozenset({"+90785", "0096158", "9015T", "97153", "99413"}),
                                      combinations._KEPT_APART).to_list() == ["+90785", "97153"]
    assert combinations._codes_within(frozenset({"96158", " 90791"}), combinations._KEPT_APART) is None
    narrowed = findings_table(tables, selection)
    monkeypatch.setattr(combinations, "_codes_within", lambda codes, ranges: None)
    whole = findings_table(tables, selection)
    assert narrowed.equals(whole)
    messages = " ".join(whole.get_column("message").to_list())
    for kind in ("a psychiatric service", "an adaptive behavior service", "preventive medicine counseling"):
        assert kind in messages
    assert set(whole.get_column("code")) == {"96158", "0096158", "96156"}
    assert 0 < whole.height < SMALL_RUN


def _hbai_day(number: int) -> Encounter:
    # one claim per patient: HBAI beside two kept-apart services (two findings on one line, in the join's order),
    # beside one, beside services kept apart from none, or kept-apart services without HBAI
    lines = [("96158", "90791", "99401"), ("96156", "97153"), ("96158", "97110", "G0447"), ("90791", "99406"),
             ("96159", "90832", "97151", "99412")][number % 5]
    return Encounter.model_validate({
        "id": f"D{number:05d}", "date": "2026-07-01", "patient": {"id": f"Q{number}"},
        "diagnoses": ["E11.9"], "provider": {"npi": "1234567893", "discipline": "psychologist"},
        "lines": [{"code": code, "units": 1, "dx_pointers": [1]} for code in lines],
    })


def test_hbai_conflicts_of_a_large_run_narrowed_to_patients_keep_each_pair_and_its_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the HBAI lines are narrowed to the patients with a kept-apart line before the join: the pairs and their order
    # are those of the plain plan, also where one HBAI line pairs with several services
    tables = tables_from_encounters([_hbai_day(n) for n in range(SMALL_RUN + 100)], _PAYERS,
                                    as_of=dt.date(2026, 12, 1))
    selection = RuleSelection(select=frozenset({"hbai-same-day-conflict"}))
    narrowed = findings_table(tables, selection)
    monkeypatch.setattr(combinations, "_codes_within", lambda codes, ranges: None)
    whole = findings_table(tables, selection)
    assert narrowed.equals(whole)
    assert whole.height > SMALL_RUN // 2
    assert whole.select(pl.struct("encounter", "line").is_duplicated().any()).item()
    assert set(whole.get_column("encounter").str.slice(1).cast(pl.Int64) % 5) == {0, 1, 4}


@pytest.mark.parametrize("payer", ["medicare", "strict"])
def test_code_not_covered_is_screened_per_billed_payer_and_code(payer: str) -> None:
    # a commercial plan ("strict") lists 97010 as not covered; the large run has strict lines and 97010 lines, but
    # only the lines of one payer bill 97010: under Medicare (where the PFS status decides 97010) nothing can be
    # flagged, under the strict plan each 97010 line is
    strict = load_profile("commercial").model_copy(update={"not_covered": [
        CodeLimit(codes=["97010"], reason="hot or cold packs are not paid", reference="strict plan policy")]})
    payers = {**_PAYERS, "strict": strict}

    def claim(number: int) -> Encounter:
        code = "97010" if number % 2 else "97110"
        return Encounter.model_validate({
            "id": f"N{number:05d}", "date": "2026-07-01", "patient": {"id": f"P{number}"}, "diagnoses": ["M62.81"],
            "payer": payer if code == "97010" else ("strict", "medicare")[number % 4 // 2],
            "provider": {"npi": "1234567893", "discipline": "PT"},
            "lines": [{"code": code, "modifiers": ["GP"], "units": 1, "minutes": 15, "dx_pointers": [1]}],
        })

    tables = tables_from_encounters([claim(n) for n in range(SMALL_RUN + 20)], payers, as_of=dt.date(2026, 12, 1))
    assert {"medicare", "strict"} <= set(tables.lines.get_column("payer"))
    selection = RuleSelection(select=frozenset({"code-not-covered"}))
    screened = findings_table(tables, selection)
    assert screened.equals(findings_table(tables, selection, screens=False))
    assert screened.height == (0 if payer == "medicare" else (SMALL_RUN + 20) // 2)


def test_code_status_of_a_large_run_is_that_of_every_line_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    # a large run judges each distinct code and date, then joins back only the lines of a code judged not valid
    # (and of a null code, which the join matches as a value): the rows, columns and order of judging every line
    base = _tables()
    lines = base.lines.with_columns(
        pl.when(pl.int_range(pl.len()) % 97 == 5).then(None).otherwise(pl.col("code")).alias("code"),
        pl.when(pl.int_range(pl.len()) % 89 == 7).then(None).otherwise(pl.col("date")).alias("date"))

    def status() -> pl.DataFrame:
        return code_validity.code_status(Tables(lines=lines, encounters=base.encounters, services=base.services,
                                                history=base.history, payers=base.payers, as_of=base.as_of))

    narrowed = status()
    monkeypatch.setattr(code_validity, "SMALL_RUN", 10**9)
    whole = status()
    assert narrowed.equals(whole)
    assert set(whole.get_column("status")) == {"deleted", "unknown", "invalid-format", "not-yet-effective"}
    assert whole.get_column("code").null_count() > 0 and whole.get_column("date").null_count() > 0


_CHUNK = 200
"""Encounters of a small run: 50 patients' claims, under SMALL_RUN lines."""


@pytest.mark.parametrize("rules", [
    _DIAGNOSIS_RULES, frozenset({"invalid-dx-pointer", "missing-diagnosis", "hbai-needs-physical-diagnosis"}),
    frozenset({"diagnosis-does-not-support-procedure"}), frozenset({"same-day-family-conflict"}),
    frozenset({"deleted-code", "unknown-code", "invalid-code-format", "code-not-yet-effective"}),
    frozenset({"provider-not-eligible", "code-not-covered", "pfs-status-coverage"}),
])
def test_a_large_run_finds_what_small_runs_of_the_same_patients_find(rules: frozenset[str]) -> None:
    # a patient's claims are consecutive, so cutting the batch between patients keeps every finding and its order
    large = _findings(rules)
    small = pl.concat([findings_table(_tables(range(start, start + _CHUNK)), RuleSelection(select=rules))
                       for start in range(0, SMALL_RUN, _CHUNK)])
    assert large.equals(small)
    assert set(large.get_column("rule")) == rules


def test_a_clean_large_batch_questions_no_encounter() -> None:
    encounters = [Encounter.model_validate({
        "id": f"E{number:05d}", "date": "2026-07-01", "patient": {"id": f"P{number}"},
        "diagnoses": ["M62.81", "Z91.81"], "provider": {"npi": "1234567893", "discipline": "PT"},
        "lines": [{"code": "97110", "modifiers": ["GP"], "units": 1, "minutes": 15, "dx_pointers": [2, 1]},
                  {"code": "97530", "modifiers": ["GP"], "units": 1, "minutes": 15, "date": "2026-07-02"}],
    }) for number in range(SMALL_RUN)]
    tables = tables_from_encounters(encounters, {"medicare": load_profile("medicare")}, as_of=dt.date(2026, 12, 1))
    found = diagnosis.questionable_encounters(tables)
    assert found is not None
    assert found.height == 0
    assert findings_table(tables, RuleSelection(select=_DIAGNOSIS_RULES)).height == 0


def test_many_deleted_lines_read_their_texts_per_code_and_discipline() -> None:
    # more deleted lines than SMALL_RUN: deleted-code writes each code and discipline's texts once and joins them
    def claim(number: int) -> Encounter:
        return Encounter.model_validate({
            "id": f"D{number:05d}", "date": "2026-07-01", "patient": {"id": f"P{number}"}, "diagnoses": ["M62.81"],
            "provider": {"npi": "1234567893", "discipline": ("psychologist", "coach", "PT")[number % 3]},
            "lines": [{"code": ("96150", "96152", "G0436")[number % 4 % 3], "units": 1, "dx_pointers": [1]}],
        })

    def found(numbers: range) -> pl.DataFrame:
        tables = tables_from_encounters([claim(n) for n in numbers], _PAYERS, as_of=dt.date(2026, 12, 1))
        return findings_table(tables, RuleSelection(select=frozenset({"deleted-code"})))

    large = found(range(SMALL_RUN + 200))
    assert large.height == SMALL_RUN + 200
    small = pl.concat([found(range(start, min(start + _CHUNK, SMALL_RUN + 200)))
                       for start in range(0, SMALL_RUN + 200, _CHUNK)])
    assert large.equals(small)
    assert large.get_column("fix").n_unique() > 3


def _with_null_diagnoses(tables: Tables, first: int) -> Tables:
    """The claims' diagnoses with nulls among them (a Parquet input can hold them; a validated claim cannot): a null
    list, a list of a null, a null beside an encounter reason, beside a condition, and beside an initial injury."""
    kinds: list[list[str | None] | None] = [None, [None], [None, "Z71.89"], ["Z71.89", None, "Z00.00"],
                                            [None, "M62.81"], ["S83.511A", None]]
    ids = tables.encounters.get_column("encounter_id").to_list()
    given = tables.encounters.get_column("diagnoses").to_list()
    chosen = [kinds[(first + i) // 3 % len(kinds)] if (first + i) % 3 == 0 else given[i] for i in range(len(ids))]
    tables.encounters = tables.encounters.with_columns(pl.Series("diagnoses", chosen, dtype=pl.List(pl.String)))
    return tables


def test_null_diagnoses_narrow_as_small_runs_judge_them() -> None:
    # the large run first picks the encounters whose every diagnosis that is not null is an encounter reason (and
    # that have one), or that have an initial-encounter injury; small runs judge every encounter
    rules = RuleSelection(select=frozenset({"diagnosis-does-not-support-procedure"}))
    large = findings_table(_with_null_diagnoses(_tables(), 0), rules)
    small = pl.concat([findings_table(_with_null_diagnoses(_tables(range(start, start + _CHUNK)), start), rules)
                       for start in range(0, SMALL_RUN, _CHUNK)])
    assert large.equals(small)
    flagged = set(large.filter(pl.col("message").str.contains("every diagnosis")).get_column("encounter"))
    assert {"E00006", "E00009"} <= flagged  # [None, "Z71.89"] and ["Z71.89", None, "Z00.00"] are reasons only
    assert not {"E00000", "E00003"} & flagged  # a null list, a list of a null


def _hbai_rows(diagnoses: list[str]) -> pl.DataFrame:
    rule = next(r for r in all_rules() if r.slug == "hbai-needs-physical-diagnosis")
    encounters = [Encounter.model_validate({
        "id": f"H{number:05d}", "date": "2026-07-01", "patient": {"id": f"P{number}"}, "diagnoses": diagnoses,
        "provider": {"npi": "1234567893", "discipline": "psychologist"},
        "lines": [{"code": "96158", "units": 1, "minutes": 30, "dx_pointers": [1]}],
    }) for number in range(SMALL_RUN + 1)]
    tables = tables_from_encounters(encounters, _PAYERS, as_of=dt.date(2026, 12, 1))
    assert not tables.small
    return rule.rows(tables)


def test_hbai_on_a_large_run_with_nothing_to_question_gives_the_plans_columns() -> None:
    # every HBAI line leads with a physical diagnosis: the rule answers without running its plan, in its columns
    clean = _hbai_rows(["E11.9", "F41.1"])
    flagged = _hbai_rows(["F41.1", "E11.9"])
    assert clean.height == 0
    assert flagged.height == SMALL_RUN + 1
    assert clean.schema == flagged.schema


def test_a_clean_large_batch_classifies_nothing_in_the_same_columns() -> None:
    # with no encounter to question, the classified diagnoses come from the plan over empty tables
    clean = [Encounter.model_validate({
        "id": f"C{number:05d}", "date": "2026-07-01", "patient": {"id": f"P{number}"}, "diagnoses": ["M62.81"],
        "provider": {"npi": "1234567893", "discipline": "PT"},
        "lines": [{"code": "97110", "modifiers": ["GP"], "units": 1, "minutes": 15, "dx_pointers": [1]}],
    }) for number in range(SMALL_RUN + 1)]
    tables = tables_from_encounters(clean, _PAYERS, as_of=dt.date(2026, 12, 1))
    questioned = _tables()
    assert diagnosis.questionable_encounters(tables) is not None
    assert diagnosis.classified_diagnoses(tables).height == 0
    assert diagnosis.classified_diagnoses(questioned).height > 0
    assert diagnosis.classified_diagnoses(tables).schema == diagnosis.classified_diagnoses(questioned).schema
