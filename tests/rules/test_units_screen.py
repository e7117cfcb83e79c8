"""The units screen (``units._possible``) against the plan it screens, on random small runs.

On a small run the screen gathers the day's pools in Python and turns minutes into units with ``cleanclaim.timing``;
the units rules' plan does the same with window functions, and does not consult the screen, so a run with
``screens=False`` gives the plan's own answer. On every run the directions the plan flags (above: units
exceed the time, below: units under it) must be among those the screen allows, or the screen would hide a finding.
The runs built here give the screen no reason to fall back on "either direction" (few lines, one row per encounter,
codes without code-book gaps) except minutes below 0, which ``timing`` refuses: without those the screen must name
exactly the directions flagged, so an off-by-one is caught whichever way it errs, not only when it hides a finding
(``EDGES`` pins the runs where each of the screen's numbers shows).
And the time and units rules, whose screens all read these pools, must find the same screened as unscreened (the
whole catalogue, at ten times the cost per run, is compared screened and unscreened on the rule cases in
test_screens.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import polars as pl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cleanclaim import timing
from cleanclaim.model import Encounter
from cleanclaim.payers import load_profile
from cleanclaim.rules import tables_from_encounters
from cleanclaim.rules.catalogue import units
from cleanclaim.rules.engine import RuleSelection, findings_table
from cleanclaim.rules.tables import Tables

AS_OF = dt.date(2026, 11, 23)
# Codes of each time rule in the code book: 15-minute timed codes, per-unit codes (15- and 30-minute units),
# typical-time codes (15 and 30 minutes), an "at least 30 minutes" code, a time-range family and two base + add-on
# families (30 + 15-minute and 60 + 30-minute units). Each run draws from a few of them so codes meet in a pool.
TIMED = ["97110", "97112", "97530", "97535"]
OTHER = [["97802"], ["97804"], ["G0447"], ["G0473"], ["0592T"], ["99406", "99407"], ["96158", "96159"],
         ["G0019", "G0022"]]
PAYERS = {name: load_profile(name) for name in ("medicare", "commercial")}
SIDE = {"units-exceed-time": "above", "units-below-time": "below"}
TIME_RULES = RuleSelection(select=frozenset({"time and units"}))

fractional = st.sampled_from([0.5, 1.5, 2.25])
# Where a code's minutes are documented: on its line, in the services only, in both (the line's win), or nowhere
# (a pool with a code without minutes is left to missing-minutes, so nowhere is kept rare).
PLACES = ["line", "line", "line", "service", "service", "both", "none"]
# (minutes before the first unit, minutes per unit) of each code, only to steer a run to where an error in the
# screen shows: minutes at a unit's edges (a full unit, just under or past its midpoint, a minute short of the next),
# which for 15-minute codes are also the leftovers that tie in a CMS pool, and billed units from one under to one
# over what the minutes support on their own. The plan, not this steering, says what is flagged.
STEP = {"97804": (0, 30), "G0473": (0, 30), "96159": (30, 15), "G0022": (60, 30), "G0019": (0, 60),
        "99406": (0, 60), "99407": (0, 60), "0592T": (0, 30), "96158": (0, 30)}


def _minutes(code: str) -> st.SearchStrategy[int]:
    offset, step = STEP.get(code, (0, 15))
    edge = st.builds(lambda blocks, rest: offset + step * blocks + rest, st.integers(min_value=0, max_value=3),
                     st.sampled_from([0, step // 2, step // 2 + 1, step - 1]))
    return st.one_of(edge, edge, st.integers(min_value=0, max_value=95))


def _one_in(draw: st.DrawFn, chances: int) -> bool:
    return draw(st.integers(min_value=1, max_value=chances)) == 1


@st.composite
def runs(draw: st.DrawFn) -> tuple[list[dict[str, Any]], int | None]:
    """1-3 encounters of 1-5 lines, sharing a patient, a date, a payer and a discipline more often than not, so codes
    meet in a pool; each line's code has its minutes on the line, in the services, both or (rarely) neither, and a
    few codes are documented but not billed. Rarely a line's minutes are made negative in the tables (no input reader
    lets them through, but the plan reads whatever the tables hold): the index of that line, else None."""
    kind = draw(st.sampled_from(["timed", "other", "both"]))
    codes: list[str] = []
    if kind != "other":
        codes += draw(st.permutations(TIMED))[:draw(st.integers(min_value=1, max_value=4))]
    if kind != "timed":
        for group in draw(st.permutations(OTHER))[:draw(st.integers(min_value=1, max_value=2))]:
            codes += group
    encounters: list[dict[str, Any]] = [
        {"id": f"E{number}", "date": draw(st.sampled_from(["2026-03-02", "2026-03-02", "2026-03-03"])),
         "payer": draw(st.sampled_from(["medicare", "medicare", "commercial"])),
         "patient": {"id": draw(st.sampled_from(["P1", "P1", "P2"]))},
         "provider": {"npi": "1234567893", "discipline": draw(st.sampled_from(["PT", "PT", "PT", "OT", "MD"]))},
         "diagnoses": ["M62.81"], "services": [], "lines": []}
        for number in range(draw(st.sampled_from([1, 1, 2, 3])))
    ]
    count = draw(st.integers(min_value=max(len(encounters), min(len(codes), 5)), max_value=5))
    # every code billed once before any twice, every encounter given a line before any a second
    for number in range(count):
        encounter = encounters[number] if number < len(encounters) else draw(st.sampled_from(encounters))
        code = codes[number] if number < len(codes) else draw(st.sampled_from(codes))
        spent = None if _one_in(draw, 10) else draw(_minutes(code))
        place = draw(st.sampled_from(PLACES))
        units: float = draw(st.integers(min_value=0, max_value=5))
        if spent is not None and not _one_in(draw, 3):
            offset, step = STEP.get(code, (0, 15))
            near = timing.midpoint_units(max(spent - offset, 0), step)
            units = max(0, near + draw(st.sampled_from([-1, 0, 0, 1])))
        if _one_in(draw, 12):
            units = draw(fractional)
        encounter["lines"].append({
            "code": code, "units": units, "modifiers": draw(st.sampled_from([["GP"], ["GP"], ["GP"], [], ["GO"]])),
            "minutes": spent if place in ("line", "both") else None,
        })
        if place in ("service", "both"):
            encounter["services"].append({"code": code, "minutes": spent})
    for encounter in encounters:  # documented, not billed: its minutes still count in the pool
        if _one_in(draw, 5):
            code = draw(st.sampled_from(TIMED))
            encounter["services"].append({"code": code, "minutes": draw(_minutes(code))})
    negative = draw(st.integers(min_value=0, max_value=4)) if _one_in(draw, 10) else None
    return [e for e in encounters if e["lines"]], negative


def _claim(*lines: tuple[str, float, int | None], payer: str = "medicare") -> tuple[list[dict[str, Any]], None]:
    """One encounter billing (code, units, minutes) lines under GP."""
    return [{"id": "E0", "date": "2026-03-02", "payer": payer, "patient": {"id": "P1"},
             "provider": {"npi": "1234567893", "discipline": "PT"}, "diagnoses": ["M62.81"],
             "lines": [{"code": code, "units": units, "minutes": spent, "modifiers": ["GP"]}
                       for code, units, spent in lines]}], None


# Runs at the edges, run every time on top of the random ones, which reach some of them only now and then: each
# turns an off-by-one in one of the screen's numbers into a wrong answer.
EDGES = [
    _claim(("97110", 2, 20), ("97112", 1, 20)),  # T2: 40 minutes, 3 units, a tie for the third: billed as allowed
    _claim(("97110", 2, 20), ("97112", 2, 20)),  # the day one unit over
    _claim(("97110", 1, 20), ("97112", 1, 20)),  # the day one unit under
    _claim(("97110", 3, 20), ("97112", 0, 20)),  # the day right, one code over and the other under
    _claim(("97110", 1, 7), ("97112", 0, 7), ("97530", 0, 7)),  # three 7-minute leftovers tie for the one unit
    _claim(("97110", 2, 22), payer="commercial"),  # each code on its own: 22 minutes are one unit
    _claim(("97110", 2, 23), payer="commercial"),  # 23 are two
    _claim(("97802", 1, 7)),  # under a 15-minute unit's midpoint: below-minimum-time's business, not theirs
    _claim(("97802", 2, 8)),  # past it: one unit
    _claim(("97804", 2, 46)),  # 30-minute units: 46 minutes are two
    _claim(("G0473", 1, 16)),  # 30-minute typical time: 16 minutes are one unit
    _claim(("G0473", 2, 45)),  # and 45 still one
    _claim(("0592T", 2, 30)),  # at least 30 minutes: one session
    _claim(("96158", 1, 37), ("96159", 1, None)),  # the add-on's first unit from 38 minutes
    _claim(("96158", 1, 38), ("96159", 1, None)),
    (_claim(("97110", 1, 20))[0], 0),  # minutes below 0 in the tables: the screen leaves it to the plan
]


def _at_the_edges(test: Callable[..., None]) -> Callable[..., None]:
    for run in EDGES:
        test = example(run)(test)
    return test


def _builder(encounters: list[dict[str, Any]], negative: int | None) -> Callable[[], Tables]:
    """Fresh tables on each call: tables memoise what the rules derive from them."""
    parsed = [Encounter.model_validate(e) for e in encounters]

    def build() -> Tables:
        tables = tables_from_encounters(parsed, PAYERS, as_of=AS_OF)
        if negative is None or negative >= tables.lines.height:
            return tables
        lines = tables.lines.with_columns(
            pl.when(pl.int_range(pl.len()) == negative).then(-pl.col("minutes").fill_null(5) - 1)
            .otherwise(pl.col("minutes")).alias("minutes"))
        return replace(tables, lines=lines, _memo={})

    return build


def _flagged(found: pl.DataFrame) -> frozenset[str]:
    return frozenset(SIDE[rule] for rule in found.get_column("rule").to_list() if rule in SIDE)


@_at_the_edges
@settings(max_examples=150, deadline=None)
@given(runs())
def test_units_screen_allows_every_direction_flagged_and_changes_no_finding(
    run: tuple[list[dict[str, Any]], int | None],
) -> None:
    build = _builder(*run)
    everything = findings_table(build(), TIME_RULES, screens=False)
    flagged = _flagged(everything)
    tables = build()
    possible = units._possible(tables)
    assert flagged <= possible, (run, flagged, possible)
    if tables.lines.filter(pl.col("minutes") < 0).height == 0:
        assert flagged == possible, (run, flagged, possible)
    assert findings_table(build(), TIME_RULES).equals(everything), run
