"""What a valid 837P may carry and the reader once refused or lost (issue 11): payers without a profile, SV103 MJ,
RD8 ranges, a line place of service, a hyphenated EIN, a 5-digit billing ZIP, wrong envelope counts, two claims with
one CLM01, and hostile numbers. Each is a change of the hand-written HARBOR fixture at one segment."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from cleanclaim.formats.x12 import X12SegmentError
from cleanclaim.formats.x12_837p import ClaimFileError, _ClaimReader, read_837p, write_837p
from cleanclaim.scrub import check

from .conftest import FIXTURES, WRITER_OPTIONS, encounter, pyx12_errors

HARBOR = FIXTURES / "harbor_pt_claims.837"
ALL_CLAIMS = ["CLM-1001", "CLM-1002", "CLM-1003", "CLM-1004"]
AS_OF = dt.date(2026, 4, 1)


def harbor(old: str, new: str, count: int = 1) -> str:
    text = HARBOR.read_text()
    assert text.count(old) >= count, old
    return text.replace(old, new, count)


def number_of(text: str, startswith: str) -> int:
    """1-based position of the first segment starting with ``startswith``, counted without the reader."""
    segments = [s.strip() for s in text.split("~") if s.strip()]
    return next(i for i, s in enumerate(segments, start=1) if s.startswith(startswith))


def by_id(text: str) -> dict[str, object]:
    result = read_837p(text)
    return {e.id: e for e in result.encounters}


# ---- payers without a profile -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "profile"), [("MC", "medicaid"), ("CH", "tricare"), ("BL", "commercial"),
                                               ("MB", "medicare")])
def test_claim_filing_indicator_picks_a_profile_that_exists(code: str, profile: str, tmp_path: Path) -> None:
    path = tmp_path / "claims.837"
    path.write_text(harbor("SBR*P*18*******MB~", f"SBR*P*18*******{code}~"))
    result = read_837p(path)
    assert result.errors == []
    assert [(e.id, e.payer) for e in result.encounters][:2] == [("CLM-1001", profile), ("CLM-1002", profile)]
    checked = check(path, as_of=AS_OF)
    assert checked.errors == []
    assert checked.summary.encounters == 4
    assert not [f for f in checked.findings if f.rule == "unknown-payer-profile"]


def test_a_payer_mapped_to_a_missing_profile_is_checked_with_one_warning_per_claim(tmp_path: Path) -> None:
    path = tmp_path / "claims.837"
    path.write_text(HARBOR.read_text())
    read = read_837p(path, payer_profiles={"12345": "acme-advantage"})
    assert [e.payer for e in read.encounters][:2] == ["acme-advantage", "acme-advantage"]
    checked = check(read.encounters, as_of=AS_OF)
    assert checked.errors == []
    assert checked.summary.encounters == 4
    unknown = [f for f in checked.findings if f.rule == "unknown-payer-profile"]
    assert [f.encounter for f in unknown] == ["CLM-1001", "CLM-1002"]
    assert all("acme-advantage" in f.message for f in unknown)


# ---- SV103, DTP*472 RD8, SV105 ----------------------------------------------------------------------------------


def test_sv103_minutes_keep_the_minutes_and_do_not_guess_units() -> None:
    text = harbor("SV1*HC:97110:GP*90*UN*2***1:2~", "SV1*HC:97110:GP*90*MJ*38***1:2~")
    result = read_837p(text)
    assert result.errors == []
    line = result.encounters[0].lines[1]
    assert (line.code, line.minutes, line.units, line.unit_code) == ("97110", 38, Decimal(1), "MJ")
    # written back as billed: minutes under MJ
    again = read_837p(write_837p(result.encounters[:1], **WRITER_OPTIONS))
    assert again.errors == []
    assert (again.encounters[0].lines[1].minutes, again.encounters[0].lines[1].unit_code) == (38, "MJ")


@pytest.mark.parametrize(("sv1", "element"), [
    ("SV1*HC:97110:GP*90*MJ*38.5***1:2~", "SV104"),  # minutes are whole
    ("SV1*HC:97110:GP*90*F2*2***1:2~", "SV103"),  # neither units nor minutes
])
def test_sv103_other_codes_and_fractional_minutes_are_errors_at_the_segment(sv1: str, element: str) -> None:
    text = harbor("SV1*HC:97110:GP*90*UN*2***1:2~", sv1)
    result = read_837p(text)
    assert [e.id for e in result.encounters] == ALL_CLAIMS[1:]
    (error,) = result.errors
    assert isinstance(error, X12SegmentError)
    assert (error.segment_number, error.element) == (number_of(text, sv1[:-1]), element)


def test_rd8_range_on_a_line_is_a_date_of_service() -> None:
    text = harbor("DTP*472*D8*20260302~", "DTP*472*RD8*20260302-20260306~")
    result = read_837p(text)
    assert result.errors == []
    first = result.encounters[0]
    assert (first.lines[0].date, first.lines[0].date_through) == (dt.date(2026, 3, 2), dt.date(2026, 3, 6))
    assert first.date == dt.date(2026, 3, 2)
    same_day = read_837p(harbor("DTP*472*D8*20260302~", "DTP*472*RD8*20260302-20260302~"))
    assert same_day.errors == []
    assert same_day.encounters[0].lines[0].date_through is None
    again = read_837p(write_837p(result.encounters[:1], **WRITER_OPTIONS))
    assert again.errors == []
    assert again.encounters[0].lines[0].date_through == dt.date(2026, 3, 6)


@pytest.mark.parametrize("dtp", ["DTP*472*RD8*20260306-20260302~", "DTP*472*RD8*20260302~",
                                 "DTP*472*RD8*20260302-2026030~", "DTP*472*DT8*20260302~"])
def test_a_broken_range_is_an_error_at_the_dtp(dtp: str) -> None:
    text = harbor("DTP*472*D8*20260302~", dtp)
    result = read_837p(text)
    assert [e.id for e in result.encounters] == ALL_CLAIMS[1:]
    error = result.errors[0]  # the line then also has no date of service: reported after it
    assert all(e.encounter == "CLM-1001" for e in result.errors)
    assert isinstance(error, X12SegmentError)
    assert error.segment_number == number_of(text, dtp[:-1])
    assert error.element in ("DTP02", "DTP03")


def test_sv105_place_of_service_that_differs_is_kept_on_the_line() -> None:
    text = harbor("SV1*HC:97161:GP*120*UN*1***1:3~", "SV1*HC:97161:GP*120*UN*1*02**1:3~")
    result = read_837p(text)
    assert result.errors == []
    first = result.encounters[0]
    assert first.place_of_service == "11"
    assert [line.place_of_service for line in first.lines] == ["02", None, None]
    again = read_837p(write_837p(result.encounters[:1], **WRITER_OPTIONS))
    assert [line.place_of_service for line in again.encounters[0].lines] == ["02", None, None]
    # the same POS as CLM05 is the claim's: nothing to keep on the line
    same = read_837p(harbor("SV1*HC:97161:GP*120*UN*1***1:3~", "SV1*HC:97161:GP*120*UN*1*11**1:3~"))
    assert same.encounters[0].lines[0].place_of_service is None
    bad_text = harbor("SV1*HC:97161:GP*120*UN*1***1:3~", "SV1*HC:97161:GP*120*UN*1*2**1:3~")
    bad = read_837p(bad_text)
    assert [getattr(e, "element", None) for e in bad.errors] == ["SV105"]


# ---- REF*EI, billing ZIP ------------------------------------------------------------------------------------------


def test_hyphenated_ein_is_read_as_its_nine_digits_and_the_claims_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "claims.837"
    path.write_text(harbor("REF*EI*123456789~", "REF*EI*12-3456789~"))
    result = read_837p(path)
    assert result.errors == []
    assert [e.id for e in result.encounters] == ALL_CLAIMS
    assert {e.billing_provider.tax_id for e in result.encounters if e.billing_provider} == {"123456789"}
    checked = check(path, as_of=AS_OF)
    assert checked.errors == []
    assert checked.summary.encounters == 4
    assert "REF*EI*123456789~" in write_837p(result.encounters, **WRITER_OPTIONS)


def test_a_hyphenated_ssn_is_an_error_at_the_ref() -> None:
    text = harbor("REF*EI*123456789~", "REF*SY*123-45-6789~")
    result = read_837p(text)
    assert [e.id for e in result.encounters] == ["CLM-1004"]
    assert any(isinstance(e, X12SegmentError) and e.segment_id == "REF" and e.element == "REF02"
               and "6789" not in str(e) for e in result.errors)


def test_an_ein_of_the_wrong_length_is_an_error_at_the_ref_not_a_pattern_at_the_clm() -> None:
    text = harbor("REF*EI*123456789~", "REF*EI*1234567~")
    result = read_837p(text)
    assert [e.id for e in result.encounters] == ["CLM-1004"]  # the first transaction's provider loop is damaged
    ref = number_of(text, "REF*EI*1234567")
    assert any(isinstance(e, X12SegmentError) and e.segment_number == ref and e.element == "REF02"
               and "7 characters" in str(e) for e in result.errors)
    assert not any("pattern" in str(e) for e in result.errors)


def test_five_digit_billing_zip_is_reported_by_check_as_export_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "claims.837"
    path.write_text(harbor("N4*Springfield*IL*627011234~", "N4*Springfield*IL*62701~"))
    checked = check(path, as_of=AS_OF)
    assert checked.errors == []
    flagged = sorted(f.encounter or "" for f in checked.findings if f.rule == "billing-zip-plus-four")
    assert flagged == ["CLM-1001", "CLM-1002", "CLM-1003"]  # the second transaction keeps its ZIP+4
    read = read_837p(path)
    with pytest.raises(ClaimFileError) as refused:
        write_837p(read.encounters, **WRITER_OPTIONS)
    assert sorted(refused.value.problems) == flagged
    assert all(any("ZIP+4" in p for p in problems) for problems in refused.value.problems.values())


# ---- envelope counts, duplicate CLM01 -------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "element"), [
    ("SE*58*0001~", "SE*59*0001~", "SE01"),
    ("GE*2*417~", "GE*3*417~", "GE01"),
    ("IEA*1*000000417~", "IEA*1*000000418~", "IEA02"),
])
def test_wrong_envelope_counts_report_and_read_every_claim(old: str, new: str, element: str) -> None:
    result = read_837p(harbor(old, new))
    assert [e.id for e in result.encounters] == ALL_CLAIMS
    assert [getattr(e, "element", None) for e in result.errors] == [element]


def test_two_claims_with_one_clm01_are_both_read_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "claims.837"
    path.write_text(harbor("CLM*CLM-1002*", "CLM*CLM-1001*"))
    result = read_837p(path)
    assert [(e.id, e.claim_id) for e in result.encounters][:2] == [("CLM-1001", "CLM-1001"),
                                                                  ("CLM-1001#2", "CLM-1001")]
    assert [len(e.lines) for e in result.encounters][:2] == [3, 2]  # not merged
    checked = check(path, as_of=AS_OF)
    duplicates = [f for f in checked.findings if f.rule == "duplicate-claim-id"]
    assert sorted(f.encounter or "" for f in duplicates) == ["CLM-1001", "CLM-1001#2"]
    assert checked.exit_code == 1


# ---- hostile numbers and exceptions ------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "element"), [
    ("SV1*HC:97530:GP*97.5*UN*1.5***1~", "SV1*HC:97530:GP*97.5*UN*1.5***\u00b2~", "SV107"),
    ("SV1*HC:97530:GP*97.5*UN*1.5***1~", "SV1*HC:97530:GP*97.5*UN*1.5***\u0661~", "SV107"),
    ("SV1*HC:97530:GP*97.5*UN*1.5***1~", "SV1*HC:97530:GP*\u0669\u0667*UN*1.5***1~", "SV102"),
    ("SV1*HC:97530:GP*97.5*UN*1.5***1~", "SV1*HC:97530:GP*93000000000000000*UN*1.5***1~", "SV102"),
    ("SV1*HC:97530:GP*97.5*UN*1.5***1~", "SV1*HC:97530:GP*97.5*UN*" + "9" * 4400 + "***1~", "SV104"),
    ("SV1*HC:97530:GP*97.5*UN*1.5***1~", "SV1*HC:97530:GP*97.5*UN*1." + "0" * 45 + "1***1~", "SV104"),
    ("CLM*CLM-1003*97.5***", "CLM*CLM-1003*" + "1" * 5000 + "***", "CLM02"),
    ("CLM*CLM-1003*97.5***11:B:1", "CLM*CLM-1003*97.5***\u0661\u0661:B:1", "CLM05"),
    ("DMG*D8*20140815*F~", "DMG*D8*2014\u0660815*F~", "DMG02"),
])
def test_hostile_numbers_are_errors_at_the_segment_and_the_rest_is_read(old: str, new: str, element: str) -> None:
    text = harbor(old, new)
    result = read_837p(text)
    assert [e.id for e in result.encounters] == ["CLM-1001", "CLM-1002", "CLM-1004"]
    # the first error names the element; a damaged patient loop (DMG) then reports its claim as not read
    assert getattr(result.errors[0], "element", None) == element
    assert all(getattr(e, "element", None) is None for e in result.errors[1:])
    assert len(str(result.errors[0])) < 400  # a 5,000-digit value is not echoed whole


def test_an_unexpected_exception_in_one_claim_costs_that_claim_only(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _ClaimReader._on_hi

    def explode(self: _ClaimReader, segment: object) -> None:
        if self.claim is not None and self.claim.clm.element(1) == "CLM-1002":
            raise RuntimeError("internal")
        original(self, segment)  # type: ignore[arg-type]

    monkeypatch.setattr(_ClaimReader, "_on_hi", explode)
    text = HARBOR.read_text()
    result = read_837p(text)
    assert [e.id for e in result.encounters] == ["CLM-1001", "CLM-1003", "CLM-1004"]
    (error,) = result.errors
    assert isinstance(error, X12SegmentError)
    assert (error.segment_id, error.loop, error.encounter) == ("HI", "2300", "CLM-1002")
    assert "RuntimeError" in str(error)


def test_minutes_ranges_and_line_places_are_written_as_valid_x12() -> None:
    text = harbor("SV1*HC:97110:GP*90*UN*2***1:2~", "SV1*HC:97110:GP*90*MJ*38*02**1:2~")
    text = text.replace("DTP*472*D8*20260302~", "DTP*472*RD8*20260302-20260303~", 1)
    read = read_837p(text)
    assert read.errors == []
    written = write_837p(read.encounters, **WRITER_OPTIONS)
    assert "SV1*HC:97110:GP*90*MJ*38*02**1:2~" in written
    assert "DTP*472*RD8*20260302-20260303~" in written
    assert pyx12_errors(written) == []


def test_icd9_diagnoses_are_read_as_given_and_reported_by_check(tmp_path: Path) -> None:
    path = tmp_path / "claims.837"
    path.write_text(harbor("HI*ABK:M6281*ABF:Z9181*ABF:R262~", "HI*BK:7242*BF:V5789*BF:E8889~"))
    result = read_837p(path)
    assert result.errors == []
    assert result.encounters[0].diagnoses == ["ICD9:724.2", "ICD9:V57.89", "ICD9:E888.9"]
    checked = check(path, as_of=AS_OF)
    assert checked.errors == []
    invalid = [f for f in checked.findings if f.rule == "invalid-diagnosis" and f.encounter == "CLM-1001"]
    assert len(invalid) == 3
    assert all("ICD9:" in f.message for f in invalid)
    with pytest.raises(ClaimFileError, match="not an ICD-10-CM code"):
        write_837p(result.encounters[:1], **WRITER_OPTIONS)


def test_a_malformed_icd9_code_is_an_error_at_the_hi() -> None:
    text = harbor("HI*ABK:M6281*ABF:Z9181*ABF:R262~", "HI*BK:72*BF:V5789~")
    result = read_837p(text)
    assert [getattr(e, "element", None) for e in result.errors] == ["HI01"]
    assert [e.id for e in result.encounters] == ALL_CLAIMS[1:]


@pytest.mark.parametrize(("written", "stored"), [("12-3456789", "123456789"), ("123456789", "123456789")])
def test_an_ein_with_its_hyphen_is_the_same_nine_digits_in_any_input(written: str, stored: str) -> None:
    from cleanclaim.model import BillingProvider

    address = {"line1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "627011234"}
    provider = BillingProvider(name="Harbor", npi="1234567893", tax_id=written, address=address)  # type: ignore[arg-type]
    assert provider.tax_id == stored


@pytest.mark.parametrize("written", ["123-456789", "12-345678", "1234-56789", "12–" + "3456789"])
def test_other_tax_id_shapes_are_read_as_given_and_reported(written: str) -> None:
    # readable but wrong: only the IRS's 12-3456789 is the nine digits; any other shape is kept as written, for
    # invalid-claim-field to report and the claim writers to refuse
    from cleanclaim.model import BillingProvider
    from cleanclaim.rules.catalogue.claim import claim_document_problems

    address = {"line1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "627011234"}
    provider = BillingProvider(name="Harbor", npi="1234567893", tax_id=written, address=address)  # type: ignore[arg-type]
    assert provider.tax_id == written
    claim = encounter(billing_provider=provider.model_dump())
    assert any("tax id" in p and "invalid-claim-field" in p for p in claim_document_problems(claim))


def test_icd9_codes_are_refused_by_every_claim_document(tmp_path: Path) -> None:
    from cleanclaim.formats.claim_requirements import claim_line_gaps

    path = tmp_path / "claims.837"
    path.write_text(harbor("HI*ABK:M6281*ABF:Z9181*ABF:R262~", "HI*ABK:M6281*BF:V5789~"))
    first = read_837p(path).encounters[0]
    assert first.diagnoses == ["M62.81", "ICD9:V57.89"]
    gaps = claim_line_gaps(first, max_pointers=4)
    assert any(g.startswith("diagnoses[2] is an ICD-9-CM code") for g in gaps), gaps
    assert not any(g.startswith("diagnoses[1]") for g in gaps)


@pytest.mark.parametrize(("sv105", "flagged"), [("02", False), ("", True)])
def test_line_rules_judge_the_lines_own_place_of_service(sv105: str, flagged: bool, tmp_path: Path) -> None:
    path = tmp_path / "claims.837"
    path.write_text(harbor("SV1*HC:97161:GP*120*UN*1***1:3~", f"SV1*HC:97161:GP:95*120*UN*1*{sv105}**1:3~"))
    checked = check(path, as_of=AS_OF)
    assert checked.errors == []
    lines = [(f.encounter, f.line) for f in checked.findings if f.rule == "telehealth-place-mismatch"]
    assert (("CLM-1001", 1) in lines) is flagged, lines


@pytest.mark.parametrize(("old", "new"), [
    ("SE*58*0001~", "SE*59*0001~"),
    ("GE*2*417~", "GE*3*417~"),
    ("IEA*1*000000417~", "IEA*1*000000418~"),
])
def test_check_reports_wrong_envelope_counts_as_a_finding_not_an_input_error(old: str, new: str,
                                                                              tmp_path: Path) -> None:
    from cleanclaim.rules.engine import RuleSelection

    path = tmp_path / "claims.837"
    path.write_text(harbor(old, new))
    checked = check(path, as_of=AS_OF)
    assert checked.errors == []
    assert checked.summary.encounters == 4
    assert any(f.rule == "x12-envelope" for f in checked.findings)
    # without the x12 family the reader's message is a note: still said, no exit status of its own
    quiet = check(path, as_of=AS_OF, selection=RuleSelection(ignore=frozenset({"x12"})))
    assert quiet.errors == []
    assert [n.field for n in quiet.notes] == [new.split("*")[0] + ("01" if new.startswith(("SE", "GE")) else "02")]
