"""Provider outlier analytics (issue 15 item 2) on small synthetic populations built here, in the contract's schema."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from scipy import stats

from cleanclaim.audit.providers import (
    FDR_LEVEL,
    METRICS,
    MIN_LINES,
    PROVIDERS_SCHEMA,
    ProviderStats,
    benjamini_hochberg,
    partition_stats,
    provider_outliers,
)

DAY = dt.date(2026, 3, 2)
FINDINGS_SCHEMA = pl.Schema({
    "rule": pl.String(), "id": pl.String(), "severity": pl.String(), "encounter": pl.String(), "line": pl.Int32(),
    "code": pl.String(), "message": pl.String(), "fix": pl.String(), "references": pl.List(pl.String),
    "provider_npi": pl.String(), "payer": pl.String(), "date": pl.Date(), "allowed": pl.Decimal(12, 2),
    "source_file": pl.String(),
})
LINES_SCHEMA = pl.Schema({
    "encounter_id": pl.String(), "date": pl.Date(), "payer": pl.String(), "patient_id": pl.String(),
    "provider_npi": pl.String(), "provider_discipline": pl.String(), "code": pl.String(),
    "modifiers": pl.List(pl.String), "units": pl.Float64(), "minutes": pl.Int64(), "charge": pl.Float64(),
})


def line(npi: str, encounter: str, *, code: str = "97110", modifiers: tuple[str, ...] = ("GP",), units: float = 2.0,
         minutes: int | None = 30, patient: str | None = None, date: dt.date = DAY, payer: str = "medicare",
         discipline: str = "PT") -> dict[str, Any]:
    return {"encounter_id": encounter, "date": date, "payer": payer, "patient_id": patient or f"pt-{encounter}",
            "provider_npi": npi, "provider_discipline": discipline, "code": code, "modifiers": list(modifiers),
            "units": units, "minutes": minutes, "charge": 90.0}


def lines_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=LINES_SCHEMA)


def findings_frame(encounters: list[str]) -> pl.DataFrame:
    return pl.DataFrame([{"rule": "missing-kx", "id": "CC000", "severity": "error", "encounter": e, "line": 1,
                          "code": "97110", "message": "m", "fix": "f", "references": ["CMS"],
                          "provider_npi": None, "payer": "medicare", "date": DAY, "allowed": None,
                          "source_file": "x.csv"} for e in encounters], schema=FINDINGS_SCHEMA)


def no_findings() -> pl.DataFrame:
    return FINDINGS_SCHEMA.to_frame()


def provider(npi: str, n: int, *, share59: float = 0.05, prefix: str = "") -> list[dict[str, Any]]:
    """n one-line visits, the first round(n * share59) of them with modifier 59."""
    cut = round(n * share59)
    return [line(npi, f"{prefix}{npi}-{i:04d}", modifiers=("GP", "59") if i < cut else ("GP",),
                 date=DAY + dt.timedelta(days=i % 40)) for i in range(n)]


def row(out: pl.DataFrame, npi: str, metric: str) -> dict[str, Any]:
    found = out.filter((pl.col("provider") == npi) & (pl.col("metric") == metric))
    assert found.height == 1, found
    return found.row(0, named=True)


def test_a_provider_billing_59_on_80_percent_against_peers_at_5_is_flagged() -> None:
    rows = provider("1111111111", 200, share59=0.80)
    for j in range(10):
        rows += provider(f"22222222{j:02d}", 200, share59=0.05)
    out = provider_outliers(lines_frame(rows), no_findings())
    hit = row(out, "1111111111", "modifier_59_x_share")
    assert hit["value"] == pytest.approx(0.80)
    assert hit["peer_value"] == pytest.approx(0.05)  # the 10 peers only: the provider itself is not in it
    assert hit["n"] == 200
    assert hit["flagged"] and hit["q"] < 1e-20
    assert hit["claims"] == [f"1111111111-{i:04d}" for i in range(10)]  # 10 encounters that carry the 59
    flagged = out.filter(pl.col("flagged"))
    assert flagged.select("provider", "metric").rows() == [("1111111111", "modifier_59_x_share")]


def test_a_provider_under_the_minimum_volume_is_never_flagged() -> None:
    small = MIN_LINES - 1
    rows = provider("1111111111", small, share59=1.0)
    for j in range(10):
        rows += provider(f"22222222{j:02d}", 200, share59=0.05)
    out = provider_outliers(lines_frame(rows), no_findings())
    hit = row(out, "1111111111", "modifier_59_x_share")
    assert hit["p"] < 1e-20  # the evidence is there ...
    assert hit["q"] is None and not hit["flagged"]  # ... but the volume is not, so it is not even in the BH family
    # the same provider at the minimum volume is flagged: the edge is exactly MIN_LINES
    rows = provider("1111111111", MIN_LINES, share59=1.0)
    for j in range(10):
        rows += provider(f"22222222{j:02d}", 200, share59=0.05)
    assert row(provider_outliers(lines_frame(rows), no_findings()), "1111111111", "modifier_59_x_share")["flagged"]


def test_a_provider_identical_to_the_peers_is_not_flagged_on_any_metric() -> None:
    rows: list[dict[str, Any]] = []
    for j in range(8):
        npi = f"33333333{j:02d}"
        for i in range(60):
            encounter = f"{npi}-{i:03d}"
            rows.append(line(npi, encounter, modifiers=("GP", "59") if i % 10 == 0 else ("GP", "KX"), units=2,
                             minutes=30 if i % 3 else 23))
            if i % 4 == 0:
                rows.append(line(npi, encounter, code="97535", units=1, minutes=15))
            if i % 5 == 0:
                rows.append(line(npi, encounter, code="99213", modifiers=("25",) if i % 10 == 0 else (),
                                 units=1, minutes=None))
    findings = findings_frame([f"33333333{j:02d}-{i:03d}" for j in range(8) for i in range(0, 60, 6)])
    out = provider_outliers(lines_frame(rows), findings)
    assert set(out["metric"]) == {
        "modifier_59_x_share", "modifier_22_share", "modifier_25_em_share", "modifier_kx_share",
        "timed_units_at_minimum_minutes_share", "visits_with_97535_share", "timed_units_per_visit",
        "findings_per_100_lines"}
    assert not out["flagged"].any()
    shares = out.filter(pl.col("metric").str.ends_with("_share"))
    assert (shares["value"] == shares["peer_value"]).all()
    # identical peers have no spread: the robust z is undefined, so it is not tested rather than flagged
    assert out.filter(pl.col("metric") == "timed_units_per_visit")["p"].is_null().all()


def test_smallest_minutes_metric_on_hand_computed_days() -> None:
    npi = "4444444444"
    d = [DAY + dt.timedelta(days=i) for i in range(10)]
    rows = [
        line(npi, "e1", units=2, minutes=23, date=d[0]),  # 2 units, band 23-37: lowest minute -> 2 at boundary
        line(npi, "e2", units=2, minutes=24, date=d[1]),  # one minute over -> 2 at boundary
        line(npi, "e3", units=2, minutes=25, date=d[2]),  # two over: not the pattern -> 0 of 2
        line(npi, "e4", units=3, minutes=38, date=d[3]),  # band 38-52 -> 3 at boundary
        line(npi, "e5", units=1, minutes=8, date=d[4]),  # band 8-22 -> 1 at boundary
        line(npi, "e6", units=1, minutes=10, date=d[5]),  # -> 0 of 1
        line(npi, "e7", units=2, minutes=22, date=d[6]),  # units exceed the time (another rule's finding) -> 0 of 2
        # the day pool: 12 + 11 = 23 minutes for 2 units across two codes -> 2 at boundary
        line(npi, "e8", units=1, minutes=12, date=d[7]),
        line(npi, "e8", code="97140", units=1, minutes=11, date=d[7]),
        # a day with undocumented minutes cannot be placed in the table: left out of numerator and denominator
        line(npi, "e9", units=2, minutes=None, date=d[8]),
        # an untimed code is not a timed unit
        line(npi, "e10", code="99213", modifiers=(), units=1, minutes=20, date=d[9]),
    ]
    out = provider_outliers(lines_frame(rows), no_findings())
    hit = row(out, npi, "timed_units_at_minimum_minutes_share")
    boundary, total = 2 + 2 + 3 + 1 + 2, 2 + 2 + 2 + 3 + 1 + 1 + 2 + 2
    assert hit["n"] == total == 15
    assert hit["value"] == pytest.approx(boundary / total)
    assert hit["claims"] == ["e4", "e1", "e2", "e8", "e5"]  # most boundary units first, then encounter id
    assert hit["peer_value"] is None and hit["p"] is None  # no peers: nothing to compare with


def test_two_visits_of_one_patient_on_one_day_pool_their_minutes() -> None:
    npi = "4444444444"
    rows = [line(npi, "a", units=1, minutes=12, patient="p1"), line(npi, "b", units=1, minutes=11, patient="p1")]
    hit = row(provider_outliers(lines_frame(rows), no_findings()), npi, "timed_units_at_minimum_minutes_share")
    assert (hit["value"], hit["n"]) == (1.0, 2)  # 23 pooled minutes for 2 units, not 12 and 11 for one each
    assert hit["claims"] == ["a", "b"]  # each encounter of the day drives it with the day's units


def test_a_days_drivers_are_each_of_its_encounters_once_beside_days_of_one_encounter() -> None:
    """A day's encounters are found from its smallest and largest id, and again from the lines only for a day with
    several: each such encounter once (a visit of two lines is one driver), beside days of a single encounter."""
    npi = "4444444444"
    later = DAY + dt.timedelta(days=1)
    rows = [line(npi, "b", units=1, minutes=12, patient="p1"), line(npi, "b", code="97140", units=1, minutes=6,
                                                                     patient="p1"),
            line(npi, "a", units=1, minutes=5, patient="p1"), line(npi, "c", units=1, minutes=8, patient="p2"),
            line(npi, "d", units=2, minutes=23, patient="p1", date=later)]
    hit = row(provider_outliers(lines_frame(rows), no_findings()), npi, "timed_units_at_minimum_minutes_share")
    # p1's first day: 23 minutes, 3 units -> not at 38; p2's: 8 minutes, 1 unit -> at; p1's later day: 23, 2 -> at
    assert (hit["value"], hit["n"]) == (3 / 6, 6)
    rows[2] = line(npi, "a", units=0, minutes=5, patient="p1")  # p1's first day: 23 minutes, 2 units -> at
    hit = row(provider_outliers(lines_frame(rows), no_findings()), npi, "timed_units_at_minimum_minutes_share")
    assert (hit["value"], hit["n"]) == (1.0, 5)
    assert hit["claims"] == ["a", "b", "d", "c"]  # a and b: 2 units of their shared day; d 2; c 1


def _named_stats(lines: pl.DataFrame, findings: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`partition_stats` with the drivers' provider numbers read as the providers themselves, both sorted: the
    numbering (and so the rows' order) depends on the lines' order, the statistics must not."""
    counts, drivers = partition_stats(lines, findings)
    named = drivers.join(counts.select("provider", "discipline", "payer").with_row_index("key"), on="key").drop("key")
    return counts.sort(pl.all()), named.sort(pl.all())


def test_an_encounter_whose_lines_alternate_providers_is_one_visit_of_each_in_any_line_order() -> None:
    """A visit is summed over a run of neighbouring lines (a partition keeps an encounter's lines together); an
    encounter whose lines go to two providers in turn is in several runs, and is still one visit of each provider,
    with the same day pools and drivers whatever the lines' order."""
    a, b = "1111111111", "2222222222"
    rows = [line(a, "e1", patient="p1"), line(b, "e1", code="97140", units=1, minutes=10, patient="p1"),
            line(a, "e1", code="97530", modifiers=("GP", "59"), units=1, minutes=9, patient="p1"),
            line(a, "e2", units=1, minutes=14, patient="p1"), line(b, "e3", units=1, minutes=8, patient="p2")]
    findings = findings_frame(["e1", "e1", "e3"])
    counts, drivers = _named_stats(lines_frame(rows), findings)
    by = {r["provider"]: r for r in counts.iter_rows(named=True)}
    assert (by[a]["visits"], by[a]["lines"], by[a]["m59"], by[a]["timed_units"]) == (2, 3, 1, 4)
    assert (by[b]["visits"], by[b]["lines"]) == (2, 2)
    assert (by[a]["findings"], by[b]["findings"]) == (2, 1)  # e1's findings go to its smaller provider key
    # a's day with p1: e1 and e2, 4 units in 53 minutes (the band's lowest is 53: at the boundary)
    assert (by[a]["day_units"], by[a]["boundary_units"]) == (4, 4)
    assert drivers.filter(pl.col("provider") == a, pl.col("metric") == METRICS.index("modifier_59_x_share")) \
        .get_column("encounter").to_list() == ["e1"]
    for order in ([4, 3, 2, 1, 0], [1, 0, 3, 2, 4], [0, 2, 1, 3, 4]):
        again = _named_stats(lines_frame([rows[i] for i in order]), findings)
        assert_frame_equal(again[0], counts)
        assert_frame_equal(again[1], drivers)


def test_code_flags_by_spans_are_the_code_books_on_every_date() -> None:
    """`_with_code_flags` (membership tests over spans of dates) gives each line `_code_flags` of its code and date:
    codes whose version starts or ends, on the day before, of and after each cut, unknown and malformed codes and a
    line without a date."""
    from cleanclaim.audit.providers import _code_flags, _with_code_flags
    from cleanclaim.codebook import codebook

    changing = [e for e in codebook() if e.effective is not None or e.deleted is not None]
    em = [e.code for e in changing if e.em][:3]
    timed = [e.code for e in changing if e.timed][:3]
    assert em and timed
    cuts = {day for e in codebook() if e.code in {*em, *timed} for day in (e.effective, e.deleted) if day is not None}
    dates = sorted({c + dt.timedelta(days=k) for c in cuts for k in (-1, 0, 1)} | {DAY})
    codes = [*em, *timed, "97110", "99213", "97535", "ZZZZZ", "bad code"]
    rows = [line("1111111111", f"e{i}", code=code, date=day) for i, (code, day) in
            enumerate((code, day) for code in codes for day in dates)]
    rows.append({**line("1111111111", "undated", code=em[0]), "date": None})
    frame = _with_code_flags(lines_frame(rows))
    expected = [_code_flags(code, day) for code, day in frame.select("code", "date").iter_rows()]
    assert list(frame.select("em", "timed").iter_rows()) == expected
    assert any(flags[0] for flags in expected) and any(flags[1] for flags in expected)
    assert any(not flags[0] for flags in expected[: len(dates)])  # an E/M code outside its span is not E/M


def test_benjamini_hochberg_matches_scipy() -> None:
    rng = np.random.default_rng(15)
    p = np.concatenate([rng.uniform(size=40), rng.uniform(high=1e-3, size=10), [0.5, 0.5, 1.0, 0.0]])
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p, method="bh"), rtol=1e-12)
    # by hand: p = (0.01, 0.04, 0.03), m = 3 -> sorted 0.01*3/1, 0.03*3/2, 0.04*3/3 = 0.03, 0.045, 0.04 -> the
    # step-up minimum makes the middle one 0.04
    np.testing.assert_allclose(benjamini_hochberg([0.01, 0.04, 0.03]), [0.03, 0.04, 0.04])
    assert benjamini_hochberg([]).size == 0


def test_overdispersed_peers_widen_the_share_test() -> None:
    """Peers whose own rates spread from 2% to 30% make a provider at 35% unremarkable; a binomial would not."""
    rows: list[dict[str, Any]] = []
    peer_shares = [0.02, 0.05, 0.08, 0.11, 0.14, 0.17, 0.20, 0.23, 0.26, 0.30]
    for j, share in enumerate(peer_shares):
        rows += provider(f"55555555{j:02d}", 400, share59=share)
    rows += provider("5555555599", 400, share59=0.35)
    out = provider_outliers(lines_frame(rows), no_findings())
    hit = row(out, "5555555599", "modifier_59_x_share")
    pooled = sum(round(400 * s) for s in peer_shares) / 4000
    assert hit["peer_value"] == pytest.approx(pooled)
    assert stats.binom.sf(140 - 1, 400, pooled) < 1e-20  # what a plain binomial would say
    assert hit["p"] > 0.01 and not hit["flagged"]


def test_units_per_visit_robust_z_flags_four_units_every_visit() -> None:
    rows: list[dict[str, Any]] = []
    for j in range(9):
        npi = f"66666666{j:02d}"
        rows += [line(npi, f"{npi}-{i:03d}", units=2 + (i + j) % 3 // 2, minutes=38) for i in range(50)]
    rows += [line("6666666699", f"x-{i:03d}", units=4, minutes=53) for i in range(50)]
    out = provider_outliers(lines_frame(rows), no_findings())
    hit = row(out, "6666666699", "timed_units_per_visit")
    assert hit["value"] == 4.0 and hit["flagged"] and hit["q"] <= FDR_LEVEL
    assert hit["n"] == 50 and len(hit["claims"]) == 10
    assert not out.filter(pl.col("provider") != "6666666699")["flagged"].any()


def test_findings_per_100_lines_counts_the_provider_encounters() -> None:
    rows = [line("7777777777", f"f-{i}") for i in range(40)]
    out = provider_outliers(lines_frame(rows), findings_frame(["f-1", "f-1", "f-2", "not-in-lines"]))
    hit = row(out, "7777777777", "findings_per_100_lines")
    assert hit["value"] == pytest.approx(100 * 3 / 40)
    assert hit["claims"] == ["f-1", "f-2"]


def test_peers_are_the_same_discipline_and_payer_only() -> None:
    rows = provider("8888888801", 50, share59=0.5) + provider("8888888802", 50, share59=0.1)
    rows += [line("8888888803", f"ot-{i}", modifiers=("59",), discipline="OT") for i in range(50)]
    rows += [line("8888888804", f"co-{i}", modifiers=("59",), payer="commercial") for i in range(50)]
    out = provider_outliers(lines_frame(rows), no_findings())
    assert row(out, "8888888801", "modifier_59_x_share")["peer_value"] == pytest.approx(0.1)
    assert row(out, "8888888802", "modifier_59_x_share")["peer_value"] == pytest.approx(0.5)
    assert row(out, "8888888803", "modifier_59_x_share")["peer_value"] is None


def test_the_accumulator_over_three_partitions_equals_the_one_shot_result() -> None:
    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng(3)
    for j in range(12):
        npi = f"99999999{j:02d}"
        for i in range(60):
            encounter = f"{npi}-{i:03d}"
            patient = f"p{j}-{i % 15}"
            mods = ("GP", "59") if rng.uniform() < (0.6 if j == 0 else 0.08) else ("GP",)
            rows.append(line(npi, encounter, modifiers=mods, units=int(rng.integers(1, 5)),
                             minutes=int(rng.integers(8, 70)), patient=patient, date=DAY + dt.timedelta(days=i)))
            if rng.uniform() < 0.3:
                rows.append(line(npi, encounter, code="99213", modifiers=("25",) if j == 1 else (), units=1,
                                 minutes=None, patient=patient, date=DAY + dt.timedelta(days=i)))
    lines = lines_frame(rows)
    findings = findings_frame([r["encounter_id"] for r in rows[::7]])
    whole = provider_outliers(lines, findings)
    acc = ProviderStats()
    part_of = pl.col("patient_id").hash() % 3  # partitions keep each patient's lines together, as audit's do
    for part in range(3):
        chunk = lines.filter(part_of == part)
        acc.add(chunk, findings.filter(pl.col("encounter").is_in(chunk["encounter_id"].implode())))
    assert whole.schema == PROVIDERS_SCHEMA
    assert whole["flagged"].any()  # the population has an outlier, so the comparison covers flags and q
    assert_frame_equal(acc.result(), whole, check_exact=False, rel_tol=1e-9)


def test_no_lines_gives_an_empty_table_in_the_schema() -> None:
    out = provider_outliers(LINES_SCHEMA.to_frame(), no_findings())
    assert out.schema == PROVIDERS_SCHEMA and out.height == 0


def test_share_p_value_is_the_beta_binomial_with_the_peers_method_of_moments_spread() -> None:
    """By hand: peers 10/100, 30/100, 20/100: pooled r = 0.2, S = sum n_j (r_j - r)^2 = 100 (0.01 + 0.01 + 0) = 2,
    rho = (S / (r (1 - r)) - (m - 1)) / (N - m - sum n_j^2 / N + 1) = (12.5 - 2) / (300 - 3 - 100 + 1) = 10.5 / 198;
    the test rate is Jeffreys' (60 + 1/2) / (300 + 1), the beta's a + b = 1 / rho - 1."""
    rows: list[dict[str, Any]] = []
    for npi, k in (("1000000010", 10), ("1000000030", 30), ("1000000020", 20), ("1000000040", 40)):
        rows += provider(npi, 100, share59=k / 100)
    hit = row(provider_outliers(lines_frame(rows), no_findings()), "1000000040", "modifier_59_x_share")
    rho = 10.5 / 198
    rate, precision = 60.5 / 301, 1 / rho - 1
    expected = stats.betabinom.sf(40 - 1, 100, rate * precision, (1 - rate) * precision)
    assert hit["peer_value"] == pytest.approx(0.2)
    assert hit["p"] == pytest.approx(expected, rel=1e-9)
    assert 1e-4 < expected < 0.2  # not the binomial's verdict (about 1e-6): the peers' own spread counts
    assert stats.binom.sf(39, 100, rate) < 1e-5


def test_robust_z_is_each_value_against_the_median_and_mad_of_the_others() -> None:
    from cleanclaim.audit import providers

    values = np.array([2.0, 2.5, 2.1, 1.9, 2.2, 4.0, 2.05])
    peer, p = providers._robust_z(values)
    for i in range(values.size):  # the definition, one value at a time
        others = np.delete(values, i)
        median = np.median(others)
        scale = 1.4826 * np.median(np.abs(others - median))
        assert peer[i] == pytest.approx(median)
        assert p[i] == pytest.approx(stats.norm.sf((values[i] - median) / scale))
    # most peers equal: the MAD is 0, so the mean absolute deviation (x 1.2533) is the yardstick
    values = np.array([3.0, 3.0, 3.0, 3.0, 3.5, 3.4])
    peer, p = providers._robust_z(values)
    others = values[:5]
    assert peer[5] == 3.0
    assert p[5] == pytest.approx(stats.norm.sf(0.4 / (1.2533 * np.mean(np.abs(others - 3.0)))))
    # two peers are not a distribution: median reported, nothing tested
    peer, p = providers._robust_z(np.array([1.0, 2.0, 9.0]))
    assert peer.tolist() == [5.5, 5.0, 1.5] and np.isnan(p).all()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_robust_z_matches_the_one_value_at_a_time_definition_on_large_groups_with_ties(seed: int) -> None:
    """The selection by binary search (no m x m matrix) against the definition, value by value, on groups large
    and tied enough to reach every branch: even and odd counts, MADs of 0 and not, values at the median."""
    from cleanclaim.audit import providers

    rng = np.random.default_rng(seed)
    for values in (rng.choice([1.0, 2.0, 2.0, 2.0, 3.0], size=60 + seed), np.round(rng.exponential(2, 201), 1),
                   np.r_[np.full(40, 2.0), [1.0, 5.0, 2.5]], rng.normal(3, 1, 50 + seed)):
        peer, p = providers._robust_z(values)
        for i in range(values.size):
            others = np.delete(values, i)
            median = np.median(others)
            deviations = np.abs(others - median)
            scale = 1.4826 * np.median(deviations) or 1.2533 * np.mean(deviations)
            assert peer[i] == pytest.approx(median, abs=1e-12)
            expected = stats.norm.sf((values[i] - median) / scale) if scale > 0 else np.nan
            assert p[i] == pytest.approx(expected, rel=1e-9, nan_ok=True)


def test_robust_z_others_all_equal_leave_no_spread() -> None:
    """The mean deviation comes from prefix sums: where every other value equals the median it must be exactly 0
    (no test: p is null), not a rounding residue that would make any difference look infinitely significant."""
    from cleanclaim.audit import providers

    values = np.r_[np.full(10, 0.1), [0.7]]  # 0.1 is not exact in binary: sums of it leave residues
    peer, p = providers._robust_z(values)
    assert peer[10] == pytest.approx(0.1)
    assert np.isnan(p[10])  # its ten others are all 0.1: no spread to measure against
    # each 0.1 against nine 0.1s and the 0.7: median 0.1, MAD 0, mean deviation 0.6 / 10; z = 0, p = 1/2
    assert p[0] == pytest.approx(0.5)


def test_top_drivers_best_first_ties_to_the_smallest_encounter_and_nulls_last() -> None:
    """`_top` asks Polars to place nulls only when there are some: both sorts must give the same ranking."""
    from cleanclaim.audit.providers import MAX_CLAIMS, _top

    rows = [(slot, f"E{e:02d}", float(score)) for slot, e, score in
            [(1, 5, 2), (1, 3, 2), (1, 9, 7), (2, 1, 1), (1, 4, 1), *((3, e, e % 3) for e in range(14))]]
    frame = pl.DataFrame(rows, schema={"slot": pl.UInt64, "encounter": pl.String, "score": pl.Float64}, orient="row")
    expected = sorted(rows, key=lambda r: (r[0], -r[2], r[1]))
    expected = [r for r in expected if sum(1 for s in expected[: expected.index(r)] if s[0] == r[0]) < MAX_CLAIMS]
    assert _top(frame.reverse(), "slot").rows() == expected
    with_nulls = pl.concat([frame, pl.DataFrame([(1, None, 9.0), (1, None, 2.0), (1, "E00", None)],
                                                schema=frame.schema, orient="row")])
    assert _top(with_nulls.reverse(), "slot").filter(pl.col("slot") == 1).rows() == [
        (1, None, 9.0), (1, "E09", 7.0), (1, "E03", 2.0), (1, "E05", 2.0), (1, None, 2.0), (1, "E04", 1.0),
        (1, "E00", None)]


def _fold_drivers(acc: ProviderStats, drivers: list[tuple[str, float]]) -> None:
    """Fold one partition of one provider (every count 20) whose modifier-59 drivers are ``drivers``."""
    from cleanclaim.audit.providers import _COUNTS_SCHEMA, _DRIVERS_SCHEMA, KEY

    counts = pl.DataFrame([{**dict.fromkeys(_COUNTS_SCHEMA.names(), 20.0), **dict(zip(KEY, ("1", "PT", "medicare"),
                                                                                       strict=True))}],
                          schema=_COUNTS_SCHEMA)
    acc.fold(counts, pl.DataFrame([(0, 0, encounter, score) for encounter, score in drivers], schema=_DRIVERS_SCHEMA,
                                  orient="row"))


def test_an_encounter_in_two_folds_is_one_driver_with_its_scores_added() -> None:
    acc = ProviderStats()
    _fold_drivers(acc, [("A", 2.0), ("B", 3.0)])
    _fold_drivers(acc, [("A", 2.0), ("C", 1.0)])
    assert row(acc.result(), "1", "modifier_59_x_share")["claims"] == ["A", "B", "C"]


def test_a_false_repeat_of_the_drivers_screen_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The repeat screen is a hash: when it says "may" of distinct pairs, the sum must leave the result as it is."""
    from cleanclaim.audit import providers

    def accumulated() -> pl.DataFrame:
        acc = ProviderStats()
        for part in range(3):
            _fold_drivers(acc, [(f"E{part}-{i:02d}", float(i % 4 + 1)) for i in range(8)])
        return acc.result()

    screened = accumulated()
    assert row(screened, "1", "modifier_59_x_share")["claims"] == [
        "E0-03", "E0-07", "E1-03", "E1-07", "E2-03", "E2-07", "E0-02", "E0-06", "E1-02", "E1-06"]
    assert not providers._may_repeat(pl.DataFrame({"slot": [1, 1, 2]}, schema={"slot": pl.UInt64})
                                     .with_columns(encounter=pl.Series(["A", "B", "A"])))
    assert providers._may_repeat(pl.DataFrame({"slot": [1, 2, 1]}, schema={"slot": pl.UInt64})
                                 .with_columns(encounter=pl.Series(["A", "A", "A"])))
    monkeypatch.setattr(providers, "_may_repeat", lambda drivers: True)
    assert_frame_equal(accumulated(), screened)


# -- the tails of scipy.stats, from scipy.special: equal to scipy.stats to the last bit ----------------------------

def _assert_same_bits(got: np.ndarray, want: np.ndarray) -> None:
    """Bit for bit, NaN where NaN: p and q are written to providers.parquet, whose bytes must not move."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    assert (np.isnan(got) == np.isnan(want)).all()
    same = got.view(np.int64) == want.view(np.int64)
    assert (same | np.isnan(want)).all(), list(zip(got[~same], want[~same], strict=True))[:5]


def _grid(rng: np.random.Generator, top: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(k, n): every count from below the support (-1, -0.5) to past it (n, n + 1), fractional k included
    (sf floors it), n from 0 (no trials) up."""
    n = rng.integers(0, top, size).astype(np.int64)
    k = np.floor(rng.random(size) * (n + 3)) - 1.0
    k[::7] += 0.5
    return k, n


def test_binom_sf_is_scipys_binom_sf_bit_for_bit() -> None:
    from cleanclaim.audit import providers

    rng = np.random.default_rng(15)
    for top, size in ((40, 40_000), (3_000, 20_000)):
        k, n = _grid(rng, top, size)
        p = rng.random(size) ** rng.integers(1, 6, size)  # down to about 1e-10 and up toward 1
        p[::11], p[5::11] = 0.0, 1.0
        p[3::13] = (rng.integers(0, 50, p[3::13].size) + 0.5) / 101  # Jeffreys rates, as `_share_tests` passes
        _assert_same_bits(providers._binom_sf(k, n, p), stats.binom.sf(k, n, p))
    # outside the parameters scipy answers NaN; nothing here passes them, but the two must not part there either
    k, n, p = np.array([1.0, 1.0, 1.0, np.nan]), np.array([-1, 4, 4, 4]), np.array([0.5, 1.5, -0.1, 0.5])
    _assert_same_bits(providers._binom_sf(k, n, p), stats.binom.sf(k, n, p))
    _assert_same_bits(providers._binom_sf(k[:1], np.array([4.5]), p[:1]), stats.binom.sf(k[:1], 4.5, p[:1]))


@pytest.mark.parametrize("chunk", [None, 64])
def test_betabinom_sf_is_scipys_betabinom_sf_bit_for_bit(chunk: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Up to about 3,000 terms: the sums of over 128 terms are where numpy's pairwise reduction recurses, and it
    must recurse the same way along a row of the matrix as along scipy's one-value array. Also in chunks of a few
    rows (``chunk`` terms at once), as a large input's providers who share a count are taken."""
    from cleanclaim.audit import providers

    if chunk is not None:
        monkeypatch.setattr(providers, "_BETABINOM_TERMS", chunk)
    rng = np.random.default_rng(16)
    for top, size in ((30, 12_000), (300, 3_000), (3_000, 200)):
        k, n = _grid(rng, top, size)
        rate = rng.random(size)
        precision = 10.0 ** rng.uniform(-3, 3, size)  # rho from near 0 to near 1, as the peers' spread allows
        a, b = rate * precision, (1.0 - rate) * precision
        _assert_same_bits(providers._betabinom_sf(k, n, a, b), stats.betabinom.sf(k, n, a, b))
    k, n = np.array([1.0, 1.0, 1.0, np.nan, 2.0]), np.array([4, 4, -1, 4, 4])
    a, b = np.array([0.0, 1.0, 1.0, 1.0, 1.0]), np.array([1.0, -1.0, 1.0, 1.0, 1.0])
    _assert_same_bits(providers._betabinom_sf(k, n, a, b), stats.betabinom.sf(k, n, a, b))
    empty = np.array([], dtype=np.float64)
    assert providers._betabinom_sf(empty, empty, empty, empty).shape == (0,)


def test_norm_sf_is_scipys_norm_sf_bit_for_bit() -> None:
    from cleanclaim.audit import providers

    z = np.r_[np.random.default_rng(17).normal(0, 4, 50_000), [0.0, -0.0, 38.5, -38.5, 1e308, -1e308, np.inf,
                                                                 -np.inf, np.nan]]
    _assert_same_bits(providers._norm_sf(z), stats.norm.sf(z))


def test_the_provider_tests_are_scipy_stats_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole table with scipy.stats' own tails put back: the same bytes, on peer groups that take the
    beta-binomial (peers that differ), the exact binomial (peers that agree) and the robust z, flagged or not."""
    from cleanclaim.audit import providers

    rows: list[dict[str, Any]] = []
    for j, share in enumerate((0.05, 0.08, 0.02, 0.12, 0.06, 0.70, 0.10, 0.04)):  # spread peers: beta-binomial
        rows += provider(f"44444444{j:02d}", 80 + 20 * j, share59=share)
    for j, share in enumerate((0.10, 0.10, 0.10, 0.10, 0.35, 0.12)):  # peers alike: the binomial
        rows += provider(f"55555555{j:02d}", 100, share59=share, prefix="b")
    rows = [{**r, "payer": "aetna"} if r["provider_npi"].startswith("5") else r for r in rows]
    lines = lines_frame(rows)
    findings = findings_frame([r["encounter_id"] for r in rows[::9]])
    inside: dict[str, int] = {}  # per tail, how many of its values were inside the support (not 1 at k = 0)

    def spy(name: str) -> Any:
        tail = getattr(providers, name)

        def counted(k: np.ndarray, *args: np.ndarray) -> np.ndarray:
            inside[name] = inside.get(name, 0) + int((k >= 0).sum())
            return tail(k, *args)  # type: ignore[no-any-return]
        return counted

    for name in ("_binom_sf", "_betabinom_sf"):
        monkeypatch.setattr(providers, name, spy(name))
    fast = provider_outliers(lines, findings)
    assert inside["_binom_sf"] > 0 and inside["_betabinom_sf"] > 0, inside
    monkeypatch.setattr(providers, "_binom_sf", stats.binom.sf)
    monkeypatch.setattr(providers, "_betabinom_sf", stats.betabinom.sf)
    monkeypatch.setattr(providers, "_norm_sf", stats.norm.sf)
    assert_frame_equal(fast, provider_outliers(lines, findings), check_exact=True)
    assert fast["flagged"].any() and not fast["flagged"].all()
    assert fast.filter(pl.col("flagged")).select("provider").to_series().str.head(1).unique().sort().to_list() == \
        ["4", "5"]
