"""835 reading and the denial worklist, on a hand-written remittance that pays some lines and denies others."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from cleanclaim.commands.denials import register
from cleanclaim.formats.remittance_codes import remittance_codes
from cleanclaim.formats.x12 import X12SegmentError
from cleanclaim.formats.x12_835 import denials, read_835

from .conftest import BASE_ENCOUNTER, FIXTURES, pyx12_errors

REMIT = FIXTURES / "remit_harbor.835"
CLAIMS_837 = FIXTURES / "harbor_pt_claims.837"

# The rule catalogue's required slugs (DESIGN.md, "Rule catalogue").
_CATALOGUE_TEXT = """
invalid-code-format unknown-code deleted-code code-not-yet-effective category-ii-not-payable category-iii-code
medicare-uses-g-code invalid-ndc invalid-diagnosis non-billable-diagnosis missing-diagnosis invalid-dx-pointer
hbai-needs-physical-diagnosis units-exceed-time units-below-time below-minimum-time missing-minutes
untimed-code-multiple-units timed-code-split-lines time-range-mismatch fractional-units unknown-modifier
modifier-25-non-em distinct-modifier-on-em modifier-59-with-x modifier-22-misuse modifier-52-on-timed-code
missing-therapy-modifier therapy-modifier-mismatch assistant-modifier-mismatch missing-assistant-modifier missing-kx
telehealth-place-mismatch modifier-33-medicare ncci-ptp-conflict ncci-ptp-modifier-not-allowed mue-exceeded
duplicate-line invalid-npi invalid-place-of-service timely-filing missing-required-field charge-total-mismatch
provider-not-eligible code-not-covered progress-report-due plan-of-care-recert-due visit-frequency-limit
documentation-missing-element distinct-goals-required
"""
CATALOGUE = set(_CATALOGUE_TEXT.split())


def test_remittance_fixture_is_valid_x12() -> None:
    # pyx12 cannot build a 999 for an 835 (its ST has no ST03), so only the errors are collected
    assert pyx12_errors(REMIT.read_text(), acknowledgement=False) == []


def test_reads_payments_claims_adjustments_and_remarks() -> None:
    remittance = read_835(REMIT)
    assert remittance.errors == []
    medicare, commercial = remittance.advices
    assert (medicare.payment_amount, medicare.payment_method, medicare.trace_number) == (
        Decimal("142.4"), "CHK", "0012345678")
    assert medicare.payment_date == dt.date(2026, 4, 15)
    assert (medicare.payer_name, medicare.payee_id) == ("EXAMPLE MEDICARE CONTRACTOR", "1234567893")
    assert commercial.payment_amount == Decimal(50)

    claims = {claim.patient_control_number: claim for claim in remittance.claims}
    assert list(claims) == ["CLM-1001", "CLM-1002", "CLM-1003", "CLM-1004"]
    first = claims["CLM-1001"]
    assert (first.status, first.charge, first.paid, first.patient_responsibility, first.payer_claim_number) == (
        "1", Decimal(255), Decimal(80), Decimal(15), "26081000100")
    assert first.patient_id == "1EG4TE5MK73"
    assert [(line.code, line.modifiers, line.charge, line.paid, line.units) for line in first.lines] == [
        ("97161", ["GP"], Decimal(120), Decimal(80), Decimal(1)),
        ("97110", ["GP"], Decimal(90), Decimal(0), Decimal(2)),
        ("97530", ["GP", "59"], Decimal(45), Decimal(0), Decimal(1)),
    ]
    assert [(a.group, a.reason, a.amount) for a in first.lines[0].adjustments] == [
        ("CO", "45", Decimal(25)), ("PR", "1", Decimal(15))]
    assert first.lines[0].date == dt.date(2026, 3, 2)
    assert claims["CLM-1002"].remarks == ["MA130"]
    assert claims["CLM-1002"].lines[1].remarks == ["M76"]
    # one CAS with two reason triplets
    third_line = claims["CLM-1003"].lines[0]
    assert [(a.group, a.reason, a.amount) for a in third_line.adjustments] == [
        ("CO", "45", Decimal(20)), ("PR", "3", Decimal(20)), ("PR", "2", Decimal("7.5"))]
    assert third_line.units == Decimal("1.5")
    assert claims["CLM-1004"].status_text == "denied"


def test_worklist_groups_denials_by_reason_with_dollars_and_rules() -> None:
    worklist = denials(REMIT)
    assert worklist.errors == []
    assert worklist.claims == 4
    assert worklist.charged == Decimal("637.50")  # 255 + 135 + 97.50 + 150
    assert worklist.paid == Decimal("192.40")  # 80 + 62.40 + 50 + 0
    # CO-204 150, CO-50 90, CO-16 45 and CO-97 45 (ties by code); 330 denied in all
    assert [(g.carc, g.amount, g.lines, g.claims) for g in worklist.denials] == [
        ("204", Decimal(150), 1, 1), ("50", Decimal(90), 1, 1), ("16", Decimal(45), 1, 1), ("97", Decimal(45), 1, 1)]
    assert worklist.denied == Decimal(330)
    by_carc = {group.carc: group for group in worklist.denials}
    assert by_carc["97"].rule_slugs[0] == "ncci-ptp-conflict"
    assert by_carc["97"].preventable == "yes"
    assert by_carc["204"].rule_slugs == ["code-not-covered"]
    assert by_carc["50"].rule_slugs == []
    assert by_carc["50"].preventable == "no"
    assert "medical necessity" in by_carc["50"].advice.lower()
    co16 = by_carc["16"]
    (item,) = co16.items
    assert (item.patient_control_number, item.line, item.code, item.group_code) == ("CLM-1002", 2, "97112", "CO")
    assert item.rarcs == ["M76", "MA130"]
    # the remark says which field: diagnosis rules first, then the CARC's generic one
    assert item.rule_slugs[0] == "missing-diagnosis"
    assert "missing-required-field" in item.rule_slugs

    other = {(g.carc, tuple(g.group_codes)): g for g in worklist.other_adjustments}
    assert (other[("1", ("PR",))].amount, other[("1", ("PR",))].kind) == (Decimal(15), "patient-share")
    assert (other[("45", ("CO",))].amount, other[("45", ("CO",))].lines, other[("45", ("CO",))].claims) == (
        Decimal(57), 3, 3)  # 25 + 12 + 20
    assert other[("2", ("PR",))].amount == Decimal("23.1")  # 15.60 + 7.50
    assert all(not g.rule_slugs for g in worklist.other_adjustments)


def test_claims_join_shows_the_billed_line() -> None:
    worklist = denials(REMIT, [CLAIMS_837])
    assert worklist.errors == []
    assert worklist.unmatched_claims == []
    item = next(g for g in worklist.denials if g.carc == "97").items[0]
    assert item.billed is not None
    assert (item.billed.encounter_id, item.billed.line_number) == ("CLM-1001", 3)
    assert (item.billed.line.code, item.billed.line.modifiers, item.billed.line.dx_pointers) == (
        "97530", ["GP", "59"], [3])
    assert item.billed.file == str(CLAIMS_837)
    assert denials(REMIT).denials[0].items[0].billed is None


def test_claims_from_an_encounter_file_and_unmatched_claims(tmp_path: Path) -> None:
    data = {**BASE_ENCOUNTER, "id": "E-1001", "claim_id": "CLM-1001", "lines": [
        {"code": "97161", "modifiers": ["GP"], "units": 1, "dx_pointers": [1], "charge": 120},
        {"code": "97110", "modifiers": ["GP"], "units": 2, "dx_pointers": [1, 2], "charge": 90},
        {"code": "97530", "modifiers": ["59", "GP"], "units": 1, "dx_pointers": [2], "charge": 45}]}
    path = tmp_path / "visits.yaml"
    path.write_text(yaml.safe_dump({"encounters": [data]}, sort_keys=False))
    worklist = denials(REMIT, [path])
    assert worklist.errors == []
    item = next(g for g in worklist.denials if g.carc == "97").items[0]
    assert item.billed is not None
    assert (item.billed.encounter_id, item.billed.line_number) == ("E-1001", 3)  # modifiers in another order
    assert worklist.unmatched_claims == ["CLM-1002", "CLM-1003", "CLM-1004"]


def test_damaged_claim_is_reported_and_the_rest_still_worked() -> None:
    text = REMIT.read_text().replace("CLP*CLM-1002*1*135*62.4*", "CLP*CLM-1002*1*135*6x.4*")
    number = next(i for i, s in enumerate((s.strip() for s in text.split("~") if s.strip()), start=1)
                  if s.startswith("CLP*CLM-1002"))
    remittance = read_835(text)
    assert [c.patient_control_number for c in remittance.claims] == ["CLM-1001", "CLM-1003", "CLM-1004"]
    (error,) = remittance.errors
    assert isinstance(error, X12SegmentError)
    assert (error.segment_number, error.segment_id, error.loop, error.element) == (number, "CLP", "2100", "CLP04")
    assert "expected a money amount, got '6x.4'" in str(error)


def test_wrong_se_count_is_a_warning_and_that_payment_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "remit.835"
    path.write_text(REMIT.read_text().replace("SE*24*0002~", "SE*23*0002~"))
    whole = denials(REMIT)
    worklist = denials(path)
    # every claim of both payments, the same denials as the intact file, and the count reported at SE01
    assert worklist.claims == whole.claims == 4
    assert [g.carc for g in worklist.denials] == [g.carc for g in whole.denials]
    assert worklist.errors == []
    (warning,) = worklist.warnings
    assert isinstance(warning, X12SegmentError)
    assert warning.element == "SE01"
    assert "its claims were read" in str(warning)
    assert str(warning).startswith(str(path))


def test_out_of_balance_lines_are_reported() -> None:
    remittance = read_835(REMIT.read_text().replace("CAS*CO*45*25~", "CAS*CO*45*20~"))
    # readable but wrong: a warning, not an input error; the payer's numbers are what they are
    assert remittance.errors == []
    assert [(getattr(e, "segment_id", None)) for e in remittance.warnings] == ["SVC", "CLP"]
    assert "does not balance" in str(remittance.warnings[0])
    assert len(remittance.claims) == 4


def _run(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # keeps typer in multi-command mode, as in the real CLI
    result = CliRunner().invoke(app, ["denials", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_cli_json_worklist() -> None:
    code, output = _run(str(REMIT), "--claims", str(CLAIMS_837), "--json")
    assert code == 1
    data = json.loads(output)
    assert data["summary"]["denied"] == 330
    assert [g["carc"] for g in data["denials"]] == ["204", "50", "16", "97"]
    co97 = data["denials"][3]
    assert co97["rules"] == ["ncci-ptp-conflict", "ncci-ptp-modifier-not-allowed"]
    assert co97["items"][0]["billed"]["code"] == "97530"


def test_cli_table_and_exit_codes(tmp_path: Path) -> None:
    code, output = _run(str(REMIT))
    assert code == 1  # read in full, and it denies $330: error-level, as `check` exits on error findings
    assert "ncci-ptp-conflict" in output
    assert "not preventable by a scrubber" in output
    miscounted = tmp_path / "miscounted.835"
    miscounted.write_text(REMIT.read_text().replace("SE*24*0002~", "SE*23*0002~"))
    code, output = _run(str(miscounted))
    assert code == 1  # a wrong SE01 is a warning: every claim was read, and the denials decide the status
    assert "SE01" in output
    damaged = tmp_path / "damaged.835"
    damaged.write_text(REMIT.read_text().replace("CLP*CLM-1003*1*97.5*", "CLP*CLM-1003*1*9x.5*"))
    code, output = _run(str(damaged))
    assert code == 2  # a claim could not be read; the others are still shown
    assert "element CLP03" in output  # CLP03: the total claim charge
    assert "CLM-1001" in output
    code, output = _run(str(tmp_path / "missing.835"))
    assert code == 2
    assert "cannot read" in output


def test_code_tables_are_consistent() -> None:
    codes = remittance_codes()
    assert codes.reason("97").kind == "denial"
    assert codes.reason("45").kind == "contractual"
    assert {codes.reason(c).kind for c in ("1", "2", "3")} == {"patient-share"}
    assert "not in cleanclaim's table" in codes.reason("9999").description
    assert codes.reason("9999").kind == "unknown"
    for table in (codes.carc_rules, codes.rarc_rules):
        for rule in table.values():
            assert set(rule.rule_slugs) <= CATALOGUE, rule.rule_slugs
    assert set(codes.carc_rules) <= set(codes.carc)
    assert set(codes.rarc_rules) <= set(codes.rarc)
    # the mapping the worklist promises
    expected = {"97": "ncci-ptp-conflict", "119": "missing-kx", "16": "missing-required-field",
                "4": "missing-therapy-modifier", "29": "timely-filing", "11": "hbai-needs-physical-diagnosis",
                "18": "duplicate-line", "96": "code-not-covered", "204": "code-not-covered",
                "170": "provider-not-eligible", "185": "provider-not-eligible", "181": "deleted-code",
                "189": "unknown-code", "151": "mue-exceeded"}
    for carc, slug in expected.items():
        assert slug in codes.carc_rules[carc].rule_slugs, carc
    assert codes.carc_rules["50"].preventable == "no"
    assert "mue-exceeded" in codes.rarc_rules["N362"].rule_slugs


def test_the_carc_table_holds_the_whole_x12_list_with_its_dates() -> None:
    """X12's November 2025 list has 407 codes (1-308, A0-A8, B1-B23, D1-D23, P1-P32, W1-W9, Y1-Y3), 110 of them
    deactivated; each row carries its Start date, and the stopped ones their Stop date."""
    codes = remittance_codes()
    assert len(codes.carc) == 407
    assert all(reason.start is not None for reason in codes.carc.values())
    assert sum(1 for reason in codes.carc.values() if reason.stop is not None) == 110
    assert {f"{n}" for n in range(1, 309)} | {f"P{n}" for n in range(1, 33)} <= set(codes.carc)
    seventeen = codes.reason("17")
    assert (seventeen.start, seventeen.stop) == (dt.date(1995, 1, 1), dt.date(2009, 7, 1))
    assert seventeen.kind == "unknown" and "on the X12 list" in seventeen.description
    assert codes.reason("45").kind == "contractual" and codes.reason("45").stop is None
    assert codes.reason("B5").stop == dt.date(2016, 5, 1)  # replaced by 272 and 273
    # stops set after the 2016 capture, and codes added since
    assert codes.reason("15").stop == dt.date(2018, 5, 1)
    assert (codes.reason("288").start, codes.reason("308").start) == (dt.date(2017, 11, 1), dt.date(2025, 11, 1))
    assert codes.reason("P32").start == dt.date(2022, 8, 1)
    # the ones a biller works say what to do, and what no scrubber rule can catch
    assert codes.carc_rules["288"].preventable == "no" and "referral" in codes.carc_rules["288"].advice
    assert codes.carc_rules["299"].rule_slugs == ("provider-not-eligible",)


@pytest.mark.parametrize(("group", "carc", "kind"), [
    # added after 2016 and classified: a missing referral or expired authorization is a denial to work ...
    ("CO", "288", "denial"),
    ("CO", "302", "denial"),
    ("CO", "284", "denial"),
    # ... a network or contract adjustment is a write-off, not a denial
    ("CO", "P24", "contractual"),
    ("CO", "281", "contractual"),
    ("PR", "288", "patient-share"),
    # added after 2016 and listed but not classified: never counted as a denial
    ("CO", "292", "unknown"),
    ("OA", "307", "unknown"),
])
def test_codes_added_after_2016_have_a_kind_or_stay_unknown(group: str, carc: str, kind: str) -> None:
    assert remittance_codes().kind(group, carc) == kind
    if kind == "unknown":
        assert "on the X12 list (from 20" in remittance_codes().reason(carc).description


@pytest.mark.parametrize(
    ("carc", "payment_date", "problem"),
    [
        ("17", dt.date(2009, 7, 1), None),  # its Stop date: the last day it may be used
        ("17", dt.date(2009, 7, 2), "deactivated after 2009-07-01"),
        ("277", dt.date(2015, 10, 31), "only entered the X12 list on 2015-11-01"),
        ("277", dt.date(2015, 11, 1), None),
        ("45", dt.date(2026, 4, 16), None),
        ("15", dt.date(2018, 5, 1), None),  # stopped by X12 in 2018
        ("15", dt.date(2018, 5, 2), "deactivated after 2018-05-01"),
        ("308", dt.date(2025, 10, 31), "only entered the X12 list on 2025-11-01"),
        ("308", dt.date(2025, 11, 1), None),
        ("9999", dt.date(2026, 4, 16), None),  # not in the table: no dates to judge by
    ],
)
def test_a_carc_is_judged_by_its_x12_dates_at_the_edges(carc: str, payment_date: dt.date, problem: str | None) -> None:
    found = remittance_codes().reason(carc).out_of_dates(payment_date)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize("name", ["carc.csv", "rarc.csv", "denial_rules.csv"])
def test_code_files_name_source_and_release(name: str) -> None:
    from importlib import resources

    header = resources.files("cleanclaim.formats.remittance_codes").joinpath(name).read_text().split("\ncode,")[0]
    assert "Source" in header
    assert "2026-11" in header
    assert "Licence" in header or "Apache-2.0" in header


def test_service_period_dates_and_claim_statement_dates() -> None:
    text = (REMIT.read_text()
            .replace("SVC*HC:97530:GP*97.5*50**1.5~\nDTM*472*20260304~",
                     "SVC*HC:97530:GP*97.5*50**1.5~\nDTM*150*20260304~\nDTM*151*20260306~")
            .replace("CLP*CLM-1004*4*150*0*0*12*87726A0002*02*1~",
                     "CLP*CLM-1004*4*150*0*0*12*87726A0002*02*1~\nDTM*232*20260305~\nDTM*233*20260305~")
            .replace("SE*24*0002~", "SE*27*0002~"))
    remittance = read_835(text)
    assert remittance.errors == []
    claims = {claim.patient_control_number: claim for claim in remittance.claims}
    line = claims["CLM-1003"].lines[0]
    assert (line.date, line.date_end) == (dt.date(2026, 3, 4), dt.date(2026, 3, 6))
    assert (claims["CLM-1004"].statement_start, claims["CLM-1004"].statement_end) == (
        dt.date(2026, 3, 5), dt.date(2026, 3, 5))
    bad = read_835(text.replace("DTM*151*20260306~", "DTM*151*2026-03-06~"))
    assert [getattr(e, "element", None) for e in bad.errors] == ["DTM02"]
    assert "CLM-1003" not in [c.patient_control_number for c in bad.claims]


@pytest.mark.parametrize(("group", "carc", "kind"), [
    # CO, OA, PI: the CARC decides ...
    ("CO", "50", "denial"),
    ("CO", "45", "contractual"),
    ("OA", "18", "denial"),
    ("OA", "23", "contractual"),
    ("PI", "50", "denial"),
    # ... except a patient-share reason the provider may not bill the patient for
    ("CO", "2", "contractual"),
    ("PI", "1", "reduction"),
    # PR: the patient's, whatever the reason; CR: a correction, never a denial
    ("PR", "204", "patient-share"),
    ("PR", "96", "patient-share"),
    ("PR", "9999", "patient-share"),
    ("CR", "50", "correction"),
    ("CR", "45", "correction"),
    # an unknown CARC under a group that leaves it to the CARC stays unknown (not a denial)
    ("CO", "9999", "unknown"),
])
def test_the_group_code_decides_with_the_carc(group: str, carc: str, kind: str) -> None:
    assert remittance_codes().kind(group, carc) == kind


def test_group_code_table_matches_the_835_reader() -> None:
    from cleanclaim.formats.x12_835 import GROUP_CODES

    assert set(remittance_codes().groups) == set(GROUP_CODES)


def test_the_rarc_table_holds_the_whole_list_with_its_dates() -> None:
    """The 2026-05-31 capture (X12's March 2026 update) has M1-M144, MA01-MA134 and N1-N922 but N813 and N814 (1,198
    codes with M1, kept from the 2016 capture), and a 2026-08-17 copy adds N923-N940 (1,216); a code cleanclaim does
    not summarise is still named as a real code with its dates, and one outside the list stays "not in cleanclaim's
    table"."""
    codes = remittance_codes()
    assert len(codes.rarc) == 1216
    numbered = {f"N{n}" for n in range(1, 941)} - {"N813", "N814"}
    assert numbered | {f"MA{n:02d}" for n in range(1, 135)} <= set(codes.rarc)
    assert "not in cleanclaim's table" in codes.remark("N813")
    assert {f"M{n}" for n in range(1, 145)} <= set(codes.rarc)
    assert codes.remark("N362") == "The days or units of service are more than the payer's acceptable maximum."
    assert "on the X12 list (from 2001-09-14, deactivated after 2016-11-01)" in codes.remark("N100")
    assert "on the X12 list (from 2026-03-01)" in codes.remark("N922")
    assert codes.rarc_dates["N411"] == (dt.date(2007, 8, 1), None)  # stopped 2009, reactivated 2016-07-01
    # N923-N940 come from a 2026-08-17 copy with no dates: listed, start unknown, never judged out of dates
    assert codes.rarc_dates["N940"] == (None, None)
    assert "on the X12 list (start date not in cleanclaim's copy)" in codes.remark("N940")
    assert codes.remark_out_of_dates("N923", dt.date(2026, 1, 2)) is None
    assert "not in cleanclaim's table" in codes.remark("N9999")


@pytest.mark.parametrize(
    ("rarc", "payment_date", "problem"),
    [
        ("N29", dt.date(2016, 3, 1), None),  # its Stop date
        ("N29", dt.date(2016, 3, 2), "RARC N29 was deactivated after 2016-03-01"),
        ("N764", dt.date(2016, 2, 29), "RARC N764 only entered the X12 list on 2016-03-01"),
        ("N764", dt.date(2016, 3, 1), None),
        ("N900", dt.date(2024, 6, 30), "RARC N900 only entered the X12 list on 2024-07-01"),
        ("N900", dt.date(2024, 7, 1), None),
        ("N411", dt.date(2026, 4, 16), None),  # reactivated: no longer stopped
        ("N9999", dt.date(2026, 4, 16), None),  # not listed: no dates to judge by
    ],
)
def test_a_rarc_is_judged_by_its_x12_dates_at_the_edges(rarc: str, payment_date: dt.date, problem: str | None) -> None:
    found = remittance_codes().remark_out_of_dates(rarc, payment_date)
    assert (found is None) if problem is None else (found is not None and problem in found)
