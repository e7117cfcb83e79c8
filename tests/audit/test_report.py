"""The audit report read as a reviewer would: its totals against summary.json, who is flagged, what to review first,
and that it is one offline file that shows every input value as text."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from cleanclaim.audit import report
from cleanclaim.audit.report import distribution_chart, write_report
from cleanclaim.errors import InputError
from tests.audit.dirs import demo_audit_dir, finding, provider_row, write_audit_dir
from tests.audit.html_tree import Element, parse


def _totals(page: Element) -> dict[str, str]:
    return {e.attrs["data-total"] or "": e.text.strip() for e in page.find_all(lambda e: "data-total" in e.attrs)}


def _count(text: str) -> int:
    return int(text.replace(",", ""))


def _render(tmp_path: Path) -> Element:
    return parse(write_report(tmp_path).read_text(encoding="utf-8"))


def test_totals_reconcile_with_summary_json(tmp_path: Path) -> None:
    summary = demo_audit_dir(tmp_path)
    page = _render(tmp_path)
    totals = _totals(page)
    for key in ("rows_read", "rows_checked", "rows_rejected", "encounters", "lines", "providers_flagged"):
        assert _count(totals[key]) == summary[key], key
    assert _count(totals["rows_read"]) == _count(totals["rows_checked"]) + _count(totals["rows_rejected"])
    by_severity = summary["findings"]["by_severity"]
    for severity in ("error", "warning", "info"):
        assert _count(totals[f"findings_{severity}"]) == by_severity[severity]
    assert _count(totals["findings"]) == sum(by_severity.values()) == 900
    assert totals["dollars_at_risk"] == f"${Decimal(summary['dollars_at_risk']):,.2f}"
    assert _count(totals["rejected_rows"]) == summary["rows_rejected"] == 5
    assert "ok" in page.by_id("reconciliation").attrs["class"]  # type: ignore[operator]
    assert {e.attrs["data-reconciles"] for e in page.find_all(lambda e: "data-reconciles" in e.attrs)} == {"yes"}
    # the rule table adds up to the findings, rule by rule
    rules = {row[0]: _count(row[5]) for row in page.by_id("rules-table").body_rows()}
    assert rules == summary["findings"]["by_rule"]


def test_dollars_at_risk_count_each_priced_error_line_once(tmp_path: Path) -> None:
    findings = [
        finding("units-exceed-time", "E-1", 1, allowed="50.00"),
        finding("mue-exceeded", "E-1", 1, allowed="50.00"),       # same line, second error: still 50.00 once
        finding("missing-kx", "E-1", 2, allowed="12.34"),
        finding("missing-minutes", "E-1", 3, allowed="99.00"),    # a warning puts nothing at risk
        finding("units-exceed-time", "E-2", 1, allowed=None),     # an unpriced line cannot be counted
        finding("units-exceed-time", "E-3", 1, allowed="7.00", source_file="other.csv"),
        finding("units-exceed-time", "E-3", 1, allowed="8.00", source_file="third.csv"),  # another file's E-3
    ]
    write_audit_dir(tmp_path, findings, [], [], rows_checked=10, encounters=3, lines=10)
    page = _render(tmp_path)
    assert _totals(page)["dollars_at_risk"] == "$77.34"  # 50.00 + 12.34 + 7.00 + 8.00
    # by rule, a line is at risk under each rule that found an error on it
    by_rule = {row[0]: row[7] for row in page.by_id("rules-table").body_rows()}
    assert by_rule == {"units-exceed-time": "$65.00", "mue-exceeded": "$50.00", "missing-kx": "$12.34",
                       "missing-minutes": "$0.00"}
    by_payer = page.by_id("payers-table").body_rows()
    assert by_payer == [["medicare", "6", "1", "0", "7", "$77.34"]]
    top = page.by_id("top-claims-table").body_rows()
    assert [row[0] for row in top[:2]] == ["E-1", "E-3"]  # 3 errors, then 1 error with 8.00 at risk (third.csv)
    assert top[0][7] == "$62.34"


def test_totals_that_do_not_reconcile_are_shown_not_hidden(tmp_path: Path) -> None:
    findings = [finding("units-exceed-time", "E-1", 1), finding("missing-minutes", "E-1", 2)]
    rejected = [{"file": "a.csv", "row": 3, "column": "date", "reason": "expected a date YYYY-MM-DD"}]
    write_audit_dir(tmp_path, findings, [], rejected, rows_checked=10, encounters=1, lines=10, overrides={
        "rows_read": 12, "findings": {"by_rule": {"units-exceed-time": 1, "missing-minutes": 2},
                                      "by_severity": {"error": 1, "warning": 2, "info": 0}}})
    page = _render(tmp_path)
    notice = page.by_id("reconciliation")
    assert notice.attrs.get("role") == "alert"
    assert "do not reconcile" in notice.text
    failing = {row[0] for row in page.by_id("reconciliation-table").body_rows() if row[3] == "NO"}
    assert failing == {"rows read = rows checked + rows rejected",
                       "warning findings (summary.json against findings.parquet)",
                       "findings by rule (summary.json against findings.parquet)"}
    # the stated total is shown as stated, beside what the tables count
    assert _count(_totals(page)["rows_read"]) == 12


def test_every_flagged_provider_appears_with_a_chart_per_metric(tmp_path: Path) -> None:
    summary = demo_audit_dir(tmp_path)
    providers = pl.read_parquet(tmp_path / "providers.parquet")
    flagged = providers.filter("flagged")
    page = _render(tmp_path)
    table = page.by_id("flagged-table")
    shown = [row.attrs["data-provider"] for row in table.find_all(lambda e: "data-provider" in e.attrs)]
    assert sorted(shown) == sorted(flagged["provider"].to_list())
    assert len(set(shown)) == summary["providers_flagged"] == 3
    # one chart per flagged metric, titled with the provider and metric, with the provider's bin highlighted
    charts = [svg for svg in page.tagged("svg") if svg.attrs["aria-labelledby"].startswith("metric-")]  # type: ignore[union-attr]
    assert len(charts) == flagged.height == 9
    for svg, row in zip(charts, flagged.sort(["q", "p", "provider", "metric"]).iter_rows(named=True), strict=True):
        title = svg.tagged("title")[0].text
        assert row["provider"] in title and row["metric"] in title
        assert len(svg.find_all(lambda e: e.attrs.get("class") == "bin-own")) == 1
        # every provider of the peer group is in the histogram
        peers = providers.filter((pl.col("metric") == row["metric"]) & (pl.col("payer") == row["payer"])
                                 & (pl.col("discipline") == row["discipline"])).height
        counted = [int(t.text.split()[0]) for r in svg.tagged("rect") for t in r.tagged("title")]
        assert sum(counted) == peers


def test_unflagged_providers_are_not_listed_as_flagged(tmp_path: Path) -> None:
    providers = [provider_row("1111111111", "share_59_x", 0.1, peer=0.1),
                 provider_row("2222222222", "share_59_x", 0.2, peer=0.1, flagged=False, q=0.04)]
    write_audit_dir(tmp_path, [], providers, [], rows_checked=5, encounters=2, lines=5)
    page = _render(tmp_path)
    assert "No provider was flagged" in page.by_id("no-flagged").text
    assert not page.find_all(lambda e: e.attrs.get("id") == "flagged-table")
    assert page.by_id("top-claims-table").body_rows() == [["No encounter has findings."]]


def test_top_claims_are_the_25_with_most_errors_then_most_at_risk(tmp_path: Path) -> None:
    findings = []
    for k in range(30):  # E-00 .. E-29: k % 3 + 1 errors each, line k's allowed grows with k
        findings += [finding("units-exceed-time", f"E-{k:02d}", line, allowed=f"{10 + k}.00")
                     for line in range(1, k % 3 + 2)]
    findings.append(finding("missing-minutes", "E-00", 9))  # a warning does not lift an encounter
    write_audit_dir(tmp_path, findings, [], [], rows_checked=90, encounters=30, lines=90)
    rows = _render(tmp_path).by_id("top-claims-table").body_rows()
    assert len(rows) == report.TOP_CLAIMS == 25
    expected = sorted(range(30), key=lambda k: (-(k % 3 + 1), -(10 + k) * (k % 3 + 1)))[:25]
    assert [row[0] for row in rows] == [f"E-{k:02d}" for k in expected]
    assert rows[0][0] == "E-29" and rows[0][5] == "3" and rows[0][7] == "$117.00"  # 3 lines × 39.00


def test_rejected_rows_counted_with_the_first_reasons(tmp_path: Path) -> None:
    rejected = [{"file": "march.csv", "row": r, "column": "units" if r % 2 else "date",
                 "reason": f"reason for row {r}"} for r in range(2, 16)]
    write_audit_dir(tmp_path, [], [], rejected, rows_checked=100, encounters=40, lines=100)
    page = _render(tmp_path)
    assert _count(_totals(page)["rejected_rows"]) == 14
    first = page.by_id("rejected-table").body_rows()
    assert len(first) == report.FIRST_REJECTED
    assert first[0] == ["march.csv", "2", "date", "reason for row 2"]
    assert page.by_id("rejected-columns").body_rows() == [["date", "7"], ["units", "7"]]


def test_no_network_no_script_every_reference_local(tmp_path: Path) -> None:
    demo_audit_dir(tmp_path)
    html = write_report(tmp_path).read_text(encoding="utf-8")
    page = parse(html)
    for element in page.iter():
        for name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
            value = element.attrs.get(name)
            if value is not None:
                assert value.startswith("#"), f"<{element.tag} {name}={value!r}>"
    assert not page.tagged("script") and not page.tagged("link") and not page.tagged("img")
    assert not re.search(r"https?://|url\(|@import", html, re.IGNORECASE)
    (csp,) = page.find_all(lambda e: e.attrs.get("http-equiv") == "Content-Security-Policy")
    assert (csp.attrs["content"] or "").startswith("default-src 'none'")


def test_user_values_are_escaped(tmp_path: Path) -> None:
    hostile = "<script>alert(1)</script>"
    attribute = '"><img src=x onerror=alert(2)>'
    findings = [finding("units-exceed-time", hostile, 1, payer=attribute, source_file=f"{hostile}.csv",
                        npi="1234567893")]
    providers = [provider_row("9999999991", f"{hostile} share", 0.9, peer=0.1, flagged=True, payer=attribute,
                              claims=[hostile]),
                 provider_row("9999999992", f"{hostile} share", 0.1, peer=0.1, payer=attribute)]
    rejected = [{"file": attribute, "row": 1, "column": hostile, "reason": hostile}]
    write_audit_dir(tmp_path, findings, providers, rejected, rows_checked=1, encounters=1, lines=1,
                    files=[hostile], overrides={"as_of": hostile})
    html = write_report(tmp_path).read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = parse(html)
    assert page.by_id("top-claims-table").body_rows()[0][:4] == [hostile, f"{hostile}.csv", "1234567893", attribute]
    assert hostile in page.tagged("title")[0].text  # the <head> title shows it as text
    flagged = page.by_id("flagged-table").body_rows()
    assert flagged[0][1:3] == [f"PT, {attribute}", f"{hostile} share"] and flagged[0][8] == hostile


def test_distribution_chart_when_every_peer_has_the_same_value() -> None:
    chart = distribution_chart("m", "t", [0.25, 0.25, 0.25], 0.25, 0.25)
    assert chart.axis_low != chart.axis_high
    own = [b for b in chart.bins if b.highlight]
    assert len(own) == 1 and own[0].count == 3
    assert chart.plot_left < chart.value_x < chart.plot_right


def test_distribution_chart_places_the_provider_in_its_bin() -> None:
    peers = [float(v) for v in range(10)]  # 0..9 over 20 bins of 0.45 (0 to 9)
    chart = distribution_chart("m", "t", peers, 9.0, 4.5)
    assert sum(b.count for b in chart.bins) == 10
    assert [b.count for b in chart.bins if b.highlight] == [1] and chart.bins[-1].highlight
    assert chart.value_x == pytest.approx(chart.plot_right)
    assert chart.peer_x == pytest.approx((chart.plot_left + chart.plot_right) / 2)


@pytest.mark.parametrize(("name", "field"), [("findings.parquet", None), ("providers.parquet", None),
                                             ("rejected.parquet", None), ("summary.json", None)])
def test_a_missing_output_is_named(tmp_path: Path, name: str, field: str | None) -> None:
    demo_audit_dir(tmp_path)
    (tmp_path / name).unlink()
    with pytest.raises(InputError, match="missing") as caught:
        write_report(tmp_path)
    assert caught.value.file == str(tmp_path / name)
    assert not (tmp_path / "report.html").exists()


def test_a_file_that_is_not_parquet_is_named(tmp_path: Path) -> None:
    demo_audit_dir(tmp_path)
    (tmp_path / "findings.parquet").write_text("rule,id\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a Parquet file") as caught:
        write_report(tmp_path)
    assert caught.value.file == str(tmp_path / "findings.parquet")


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    demo_audit_dir(tmp_path)
    pl.read_parquet(tmp_path / "providers.parquet").drop("peer_value").write_parquet(tmp_path / "providers.parquet")
    with pytest.raises(InputError, match="column missing") as caught:
        write_report(tmp_path)
    assert caught.value.field == "peer_value"


@pytest.mark.parametrize(("key", "value"), [("dollars_at_risk", "12,5"), ("dollars_at_risk", "NaN"),
                                            ("rows_read", -1), ("rows_checked", "10"), ("rows_rejected", True),
                                            ("findings", {"by_rule": {}, "by_severity": {"error": 1.5}}),
                                            ("as_of", None), ("files", "claims.csv")])
def test_a_summary_field_of_the_wrong_kind_is_named(tmp_path: Path, key: str, value: object) -> None:
    demo_audit_dir(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    summary[key] = value
    (tmp_path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        write_report(tmp_path)
    assert caught.value.field is not None and caught.value.field.startswith(key)


def test_tables_passed_in_memory_give_the_page_of_the_files(tmp_path: Path) -> None:
    demo_audit_dir(tmp_path)
    from_files = write_report(tmp_path).read_text(encoding="utf-8")
    counted = report.tally(pl.scan_parquet(tmp_path / report.FINDINGS), pl.scan_parquet(tmp_path / report.REJECTED))
    providers = pl.read_parquet(tmp_path / report.PROVIDERS)
    (tmp_path / report.FINDINGS).unlink()  # nothing is read back but summary.json
    (tmp_path / report.PROVIDERS).unlink()
    (tmp_path / report.REJECTED).unlink()
    assert write_report(tmp_path, counted=counted, providers=providers).read_text(encoding="utf-8") == from_files
    assert "flagged" in from_files and "march/claims-b.csv" in from_files
