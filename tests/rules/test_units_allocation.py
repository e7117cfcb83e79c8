"""The vectorised CMS allocation in the units rules must agree with timing.allocate_cms / allocate_per_code, so the
coder (which uses timing.py) and the checker (which uses window functions) can never drift apart."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanclaim import timing
from cleanclaim.model import Encounter
from cleanclaim.payers import load_profile
from cleanclaim.rules import run_rules, tables_from_encounters
from cleanclaim.rules.catalogue import units as units_module
from cleanclaim.rules.catalogue.units import (
    _CODE_DAY,
    _DISCIPLINE_NAME,
    _POOL,
    _discipline_number,
    _py_discipline,
    _repeats,
    cms_unit_bounds,
    per_code_units,
    therapy_discipline,
)
from cleanclaim.rules.engine import RuleSelection, findings_table
from cleanclaim.rules.tables import SMALL_RUN, lines_with_codes

CODES = ["97110", "97112", "97116", "97140", "97530", "97535"]

days = st.lists(
    st.dictionaries(st.sampled_from(CODES), st.integers(min_value=0, max_value=130), min_size=1, max_size=5),
    min_size=1, max_size=6,
)


def _bounds(encounters: list[dict[str, int]]) -> pl.DataFrame:
    rows = [{"day": i, "code": code, "minutes": minutes}
            for i, minutes_by_code in enumerate(encounters) for code, minutes in minutes_by_code.items()]
    return cms_unit_bounds(pl.DataFrame(rows, schema={"day": pl.Int64, "code": pl.String, "minutes": pl.Int64}),
                           ["day"])


@settings(max_examples=300, deadline=None)
@given(days)
def test_vectorised_cms_bounds_agree_with_allocate_cms(encounters: list[dict[str, int]]) -> None:
    bounds = _bounds(encounters)
    for i, minutes_by_code in enumerate(encounters):
        allocation = timing.allocate_cms(minutes_by_code)
        day = {row["code"]: row for row in bounds.filter(pl.col("day") == i).iter_rows(named=True)}
        assert {row["day_units"] for row in day.values()} == {allocation.total_units}
        assert sum(row["min_units"] for row in day.values()) <= allocation.total_units
        assert sum(row["max_units"] for row in day.values()) >= allocation.total_units
        for code, units in allocation.units.items():
            low, high = day[code]["min_units"], day[code]["max_units"]
            assert low <= units <= high, (minutes_by_code, code, units, low, high)
            if code not in allocation.clinician_choice:
                assert low == high == units, (minutes_by_code, code, units, low, high)
            else:
                assert high == low + 1


@settings(max_examples=200, deadline=None)
@given(days)
def test_per_code_units_agree_with_allocate_per_code(encounters: list[dict[str, int]]) -> None:
    for minutes_by_code in encounters:
        frame = pl.DataFrame({"code": list(minutes_by_code), "minutes": list(minutes_by_code.values())},
                             schema={"code": pl.String, "minutes": pl.Int64})
        got = dict(frame.select("code", per_code_units(pl.col("minutes"), pl.lit(15)).alias("u")).iter_rows())
        assert got == timing.allocate_per_code(minutes_by_code).units


@given(st.integers(min_value=0, max_value=200), st.sampled_from([15, 30, 60]))
def test_per_code_units_match_the_midpoint_rule(minutes: int, unit_minutes: int) -> None:
    frame = pl.DataFrame({"m": [minutes]})
    got = frame.select(per_code_units(pl.col("m"), pl.lit(unit_minutes))).item()
    assert got == timing.midpoint_units(minutes, unit_minutes)


def test_documented_examples() -> None:
    # coding-facts.md T1-T4, read from the source, not from the code under test
    t1 = _bounds([{"97112": 24, "97110": 23}])
    assert dict(t1.select("code", "min_units").iter_rows()) == {"97112": 2, "97110": 1}
    t2 = _bounds([{"97112": 20, "97110": 20}])
    assert dict(t2.select("code", "min_units").iter_rows()) == {"97112": 1, "97110": 1}
    assert dict(t2.select("code", "max_units").iter_rows()) == {"97112": 2, "97110": 2}
    t3 = _bounds([{"97110": 33, "97140": 7}])
    assert dict(t3.select("code", "max_units").iter_rows()) == {"97110": 2, "97140": 1}
    t4 = _bounds([{"97110": 18, "97140": 13, "97116": 10, "97035": 8}])
    assert dict(t4.select("code", "max_units").iter_rows()) == {"97110": 1, "97140": 1, "97116": 1, "97035": 0}


def _findings(minutes_by_code: dict[str, int], units: dict[str, int], payer: str = "medicare") -> list[str]:
    encounter = Encounter.model_validate({
        "id": "E1", "date": "2026-03-02", "payer": payer, "patient": {"id": "P1"},
        "provider": {"npi": "1234567893", "discipline": "PT"}, "diagnoses": ["M62.81"],
        "services": [{"code": c, "minutes": m} for c, m in minutes_by_code.items()],
        "lines": [{"code": c, "modifiers": ["GP"], "units": u} for c, u in units.items() if u > 0],
    })
    tables = tables_from_encounters([encounter], {payer: load_profile(payer)}, as_of=dt.date(2026, 11, 23))
    selection = RuleSelection(select=frozenset({"units-exceed-time", "units-below-time"}))
    return [f.rule for f in run_rules(tables, selection)]


one_day = st.dictionaries(st.sampled_from(CODES), st.integers(min_value=1, max_value=70), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(one_day, st.data())
def test_rules_accept_what_timing_allocates_and_flag_one_unit_more_or_less(
    minutes_by_code: dict[str, int], data: st.DataObject
) -> None:
    for payer, allocate in (("medicare", timing.allocate_cms), ("commercial", timing.allocate_per_code)):
        units = dict(allocate(minutes_by_code).units)
        assert _findings(minutes_by_code, units, payer) == []
        code = data.draw(st.sampled_from(sorted(units)))
        more = {**units, code: units[code] + 1}
        assert "units-exceed-time" in _findings(minutes_by_code, more, payer)
        if units[code] > 0:
            fewer = {**units, code: units[code] - 1}
            assert "units-below-time" in _findings(minutes_by_code, fewer, payer)


def test_discipline_comes_from_the_therapy_modifier_then_the_rendering_provider() -> None:
    frame = pl.DataFrame({
        "modifiers": [["GP"], ["GO", "59"], ["GN"], [], [], ["59"], ["GO"]],
        "provider_discipline": ["OT", "PT", "PT", "SLP", "OT", "MD", None],
    }, schema={"modifiers": pl.List(pl.String), "provider_discipline": pl.String})
    got = frame.select(therapy_discipline(pl.col("modifiers"), pl.col("provider_discipline"))).to_series().to_list()
    assert got == ["PT", "OT", "SLP", "SLP", "OT", "other", "OT"]


_MODIFIER_LISTS = st.one_of(st.none(), st.lists(st.one_of(st.none(), st.sampled_from(["GP", "GO", "GN", "59", "CQ"])),
                                                 max_size=3))
_PROVIDER_DISCIPLINES = st.one_of(st.none(), st.sampled_from(["PT", "OT", "SLP", "other", "MD", "coach", "pt", ""]))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_MODIFIER_LISTS, _PROVIDER_DISCIPLINES), min_size=1, max_size=20))
def test_the_pools_discipline_number_names_the_therapy_discipline(rows: list[tuple[Any, Any]]) -> None:
    # the pools are grouped by the number and their texts name it back; the exact path judges one line at a time
    # in Python: all three must say the same discipline
    frame = pl.DataFrame({"modifiers": [m for m, _ in rows], "provider_discipline": [p for _, p in rows]},
                         schema={"modifiers": pl.List(pl.String), "provider_discipline": pl.String})
    named = frame.select(therapy_discipline(pl.col("modifiers"), pl.col("provider_discipline"))).to_series()
    numbered = frame.select(_discipline_number(pl.col("modifiers"), pl.col("provider_discipline")).alias("_disc"))
    one_by_one = [_py_discipline(modifiers, provider) for modifiers, provider in rows]
    assert numbered.select(_DISCIPLINE_NAME).to_series().to_list() == one_by_one
    assert named.to_list() == one_by_one


def _two_discipline_findings(pt: dict[str, int], ot: dict[str, int]) -> list[tuple[str, int | None]]:
    def encounter(enc_id: str, discipline: str, modifier: str, minutes_by_code: dict[str, int]) -> Encounter:
        units = timing.allocate_cms(minutes_by_code).units
        return Encounter.model_validate({
            "id": enc_id, "date": "2026-03-02", "payer": "medicare", "patient": {"id": "P1"},
            "provider": {"npi": "1234567893", "discipline": discipline}, "diagnoses": ["M62.81"],
            "services": [{"code": c, "minutes": m} for c, m in minutes_by_code.items()],
            "lines": [{"code": c, "modifiers": [modifier], "units": u} for c, u in units.items() if u > 0],
        })

    encounters = [encounter("PT", "PT", "GP", pt), encounter("OT", "OT", "GO", ot)]
    tables = tables_from_encounters(encounters, {"medicare": load_profile("medicare")}, as_of=dt.date(2026, 11, 23))
    selection = RuleSelection(select=frozenset({"units-exceed-time", "units-below-time"}))
    return [(f.encounter or "", f.line) for f in run_rules(tables, selection)]


@settings(max_examples=40, deadline=None)
@given(one_day, one_day)
def test_each_discipline_allocated_on_its_own_passes(pt: dict[str, int], ot: dict[str, int]) -> None:
    # A PT and an OT plan of care the same day: each discipline's own CMS allocation is right, whatever the other did.
    assert _two_discipline_findings(pt, ot) == []


def test_pooling_the_two_disciplines_would_have_changed_the_units() -> None:
    # The reviewer's case, checked against timing.py: pooled, 10 + 10 minutes are 1 unit; per discipline 1 + 1.
    assert timing.allocate_cms({"97110": 10, "97535": 10}).total_units == 1
    assert _two_discipline_findings({"97110": 10}, {"97535": 10}) == []


_MODIFIERS = [["GP"], ["GO"], ["GN"], []]
_PROVIDERS = ["PT", "OT", "MD"]
claims = st.lists(st.tuples(
    st.integers(min_value=0, max_value=2),  # patient
    st.sampled_from(["2026-03-02", "2026-03-03"]),
    st.integers(min_value=0, max_value=len(_MODIFIERS) - 1),
    st.sampled_from(_PROVIDERS),
    st.sampled_from(["medicare", "commercial"]),
    one_day,
    st.lists(st.integers(min_value=-1, max_value=1), min_size=4, max_size=4),  # units off the allocation
), min_size=1, max_size=14)


def _batch(drawn: list[tuple[Any, ...]], services: bool) -> list[Encounter]:
    encounters = []
    for number, (patient, date, modifier, provider, payer, minutes_by_code, deltas) in enumerate(drawn):
        units = timing.allocate_cms(minutes_by_code).units
        billed = {code: max(units[code] + delta, 0) for code, delta in zip(sorted(units), deltas, strict=False)}
        lines = [{"code": code, "modifiers": _MODIFIERS[modifier], "units": count,
                  **({} if services else {"minutes": minutes_by_code[code]})}
                 for code, count in billed.items() if count > 0 or not services]
        encounters.append(Encounter.model_validate({
            "id": f"E{number:02d}", "date": date, "payer": payer, "patient": {"id": f"P{patient}"},
            "provider": {"npi": "1234567893", "discipline": provider}, "diagnoses": ["M62.81"],
            "services": [{"code": c, "minutes": m} for c, m in minutes_by_code.items()] if services else [],
            "lines": lines,
        }))
    return encounters


@settings(max_examples=40, deadline=None)
@given(claims, st.booleans())
def test_a_batch_finds_what_each_patient_alone_finds(drawn: list[tuple[Any, ...]], services: bool) -> None:
    # The pools of a batch are numbered, sorted and windowed together: many patients, days, disciplines and payers in
    # one table must find exactly what each patient's claims find alone (a patient's claims are consecutive here, so
    # the findings' order is the same).
    drawn = sorted(drawn, key=lambda claim: claim[0])
    encounters = _batch(drawn, services)
    payers = {name: load_profile(name) for name in ("medicare", "commercial")}
    selection = RuleSelection(select=frozenset({"units-exceed-time", "units-below-time"}))

    def found(chosen: list[Encounter]) -> pl.DataFrame:
        return findings_table(tables_from_encounters(chosen, payers, as_of=dt.date(2026, 11, 23)), selection,
                              screens=False)

    alone = [found([e for e in encounters if e.patient.id == patient])
             for patient in dict.fromkeys(e.patient.id for e in encounters)]
    assert found(encounters).equals(pl.concat(alone))


def _one_line_pools(repeats: bool) -> list[Encounter]:
    # over SMALL_RUN lines, billed from the claim lines' own minutes (no documented services): units at, over and
    # under the allocation, fractional or no minutes, three disciplines and a non-therapy provider, two payers; with
    # ``repeats`` some claims bill a code twice on one day (two lines of one pool and code)
    encounters = []
    for number in range(400):
        minutes_by_code = {CODES[(number + i) % len(CODES)]: 5 + (number * 7 + i * 11) % 40 for i in range(3)}
        units = timing.allocate_cms(minutes_by_code).units
        lines: list[dict[str, Any]] = [
            {"code": code, "modifiers": _MODIFIERS[(number + i) % len(_MODIFIERS)],
             "units": max(units[code] + (number + i) % 3 - 1, 0) + (0.5 if number % 29 == 0 else 0),
             "minutes": None if number % 31 == 0 else minutes}
            for i, (code, minutes) in enumerate(minutes_by_code.items())]
        if repeats and number % 9 == 0:
            lines.append({**lines[0], "units": 1, "minutes": 8})
        encounters.append(Encounter.model_validate({
            "id": f"E{number:03d}", "date": ("2026-03-02", "2026-03-03")[number % 2],
            "payer": ("medicare", "commercial")[number % 5 == 0], "patient": {"id": f"P{number // 2}"},
            "provider": {"npi": "1234567893", "discipline": _PROVIDERS[number % 3]}, "diagnoses": ["M62.81"],
            "lines": lines,
        }))
    return encounters


@pytest.mark.parametrize("repeats", [False, True])
def test_pools_of_one_line_each_find_what_the_grouping_finds(repeats: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # on a large run whose lines never share a pool and a code, each line is its own group without the grouping
    payers = {name: load_profile(name) for name in ("medicare", "commercial")}
    selection = RuleSelection(select=frozenset({"units-exceed-time", "units-below-time"}))

    def found() -> pl.DataFrame:
        tables = tables_from_encounters(_one_line_pools(repeats), payers, as_of=dt.date(2026, 11, 23))
        assert tables.lines.height > SMALL_RUN and tables.services.height == 0
        timed = lines_with_codes(tables).filter(pl.col("time_rule") == "timed15").with_columns(
            _discipline_number(pl.col("modifiers"), pl.col("provider_discipline")).alias("_disc"))
        assert timed.select(_repeats([*_POOL, "code"])).item() == repeats  # which path the large run takes
        return findings_table(tables, selection, screens=False)

    large = found()
    assert set(large.get_column("rule")) == {"units-exceed-time", "units-below-time"}
    monkeypatch.setattr(units_module, "SMALL_RUN", 10**9)  # every run grouped, as a claim is
    assert large.equals(found())


def _repeated_codes(number: int) -> Encounter:
    # a timed code split over two lines (with and without CQ or 59 on the second), an untimed code billed on two
    # claims of one patient's day or as 2 units on one line, beside claims that bill each code once
    lines: list[dict[str, Any]] = [{"code": "97110", "modifiers": ["GP"], "units": 1, "minutes": 15},
                                   {"code": ("96156", "97161", "99406")[number % 3], "units": 1 + (number % 11 == 0),
                                    "minutes": 20}]
    if number % 7 == 0:
        lines.append({"code": "97110", "modifiers": [["GP"], ["GP", "CQ"], ["GP", "59"]][number % 3], "units": 1,
                      "minutes": 10})
    return Encounter.model_validate({
        "id": f"E{number:05d}", "date": "2026-07-01", "payer": "medicare", "patient": {"id": f"P{number // 2}"},
        "diagnoses": ["M62.81"], "provider": {"npi": "1234567893", "discipline": "PT"}, "lines": lines,
    })


def test_repeated_code_rules_of_a_large_run_are_those_of_the_plain_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    # on a large run the windows over text keys see only the lines whose key's hash repeats (or, for a day of
    # untimed units, whose line alone bills more than 1): the findings must be those of the windows over every line
    rules = frozenset({"timed-code-split-lines", "untimed-code-multiple-units"})
    payers = {"medicare": load_profile("medicare")}

    def found() -> pl.DataFrame:
        tables = tables_from_encounters([_repeated_codes(n) for n in range(SMALL_RUN // 2)], payers,
                                        as_of=dt.date(2026, 11, 23))
        assert tables.lines.height > SMALL_RUN
        return findings_table(tables, RuleSelection(select=rules), screens=False)

    narrowed = found()
    assert set(narrowed.get_column("rule")) == rules
    assert 0 < narrowed.height < SMALL_RUN
    monkeypatch.setattr(units_module, "SMALL_RUN", 10**9)  # every line windowed, as on one claim
    assert narrowed.equals(found())


# per-unit, typical-time, at-least, and base codes with their add-ons (the other time rules' codes)
_OTHER_TIME_CODES = ["96155", "G0109", "G0446", "98979", "96167", "96168", "97129", "97130"]


def _other_time_lines(repeats: bool) -> list[Encounter]:
    # over SMALL_RUN lines of the other time rules' codes, units at, over and under what the minutes support (and
    # under the minimum time, and fractional); with ``repeats`` some claims bill a code on two lines
    encounters = []
    for number in range(400):
        codes = [_OTHER_TIME_CODES[(number + i) % len(_OTHER_TIME_CODES)] for i in range(3)]
        lines: list[dict[str, Any]] = [
            {"code": code, "units": 1 + (number + i) % 4 + (0.5 if number % 23 == 0 else 0),
             "minutes": 5 + (number * 13 + i * 17) % 90}
            for i, code in enumerate(dict.fromkeys(codes))]
        if repeats and number % 9 == 0:
            lines.append({**lines[0], "units": 1, "minutes": 20})
        encounters.append(Encounter.model_validate({
            "id": f"E{number:03d}", "date": ("2026-03-02", "2026-03-03")[number % 2], "payer": "medicare",
            "patient": {"id": f"P{number // 2}"}, "provider": {"npi": "1234567893", "discipline": "PT"},
            "diagnoses": ["M62.81"], "lines": lines,
        }))
    return encounters


@pytest.mark.parametrize("repeats", [False, True])
def test_other_time_lines_of_one_line_each_find_what_the_grouping_finds(
        repeats: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # on a large run whose lines never share an encounter, date and code, each line is its own group
    payers = {"medicare": load_profile("medicare")}
    selection = RuleSelection(select=frozenset({"units-exceed-time", "units-below-time"}))

    def found() -> pl.DataFrame:
        tables = tables_from_encounters(_other_time_lines(repeats), payers, as_of=dt.date(2026, 11, 23))
        assert tables.lines.height > SMALL_RUN
        codes = lines_with_codes(tables).filter(pl.col("code").is_in(_OTHER_TIME_CODES))
        assert codes.select(_repeats(_CODE_DAY)).item() == repeats  # which path the large run takes
        return findings_table(tables, selection, screens=False)

    large = found()
    assert set(large.get_column("rule")) == {"units-exceed-time", "units-below-time"}
    assert large.height > 50
    monkeypatch.setattr(units_module, "SMALL_RUN", 10**9)  # every run grouped, as a claim is
    assert large.equals(found())
