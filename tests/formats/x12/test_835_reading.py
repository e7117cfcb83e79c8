"""835 files as payers and careless or hostile tools write them (issue 11): every valid form is read, every
unreadable claim is reported at its segment and element, and the other claims are still read."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ElementTree
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from cleanclaim.commands.denials import register
from cleanclaim.errors import InputError
from cleanclaim.formats import x12_835
from cleanclaim.formats.x12 import X12SegmentError
from cleanclaim.formats.x12_835 import NOTHING_DENIED, SVC_QUALIFIERS, denials, read_835

from .conftest import FIXTURES

REMIT_TEXT = (FIXTURES / "remit_harbor.835").read_text()
ALL_CLAIMS = ["CLM-1001", "CLM-1002", "CLM-1003", "CLM-1004"]


def _segment_number(text: str, prefix: str) -> int:
    segments = (s.strip() for s in text.split("~") if s.strip())
    return next(number for number, s in enumerate(segments, start=1) if s.startswith(prefix))


def _only_error(text: str) -> X12SegmentError:
    remittance = read_835(text)
    (error,) = remittance.errors
    assert isinstance(error, X12SegmentError)
    return error


# ------------------------------------------------------------------------------------------- what is valid


def test_svc_qualifiers_are_those_of_the_tr3_map() -> None:
    # independent source: pyx12's map of 005010X221A1, element SVC01-01
    text = resources.files("pyx12").joinpath("map/835.5010.X221.A1.xml").read_text()
    svc = next(s for s in ElementTree.fromstring(text).iter("segment") if s.get("xid") == "SVC")
    element = next(e for e in svc.iter("element") if e.get("xid") == "SVC01-01")
    assert {code.text for code in element.iter("code")} == SVC_QUALIFIERS
    assert {"HP", "N6", "UI"} <= SVC_QUALIFIERS  # the three the public files showed missing


@pytest.mark.parametrize("qualifier", sorted(SVC_QUALIFIERS))
def test_every_svc_qualifier_is_read(qualifier: str) -> None:
    remittance = read_835(REMIT_TEXT.replace("SVC*HC:97161:GP*", f"SVC*{qualifier}:00002143380*"))
    assert remittance.errors == []
    first = remittance.claims[0]
    assert (first.lines[0].code, first.lines[0].modifiers, first.lines[0].charge) == ("00002143380", [], 120)
    assert [claim.patient_control_number for claim in remittance.claims] == ALL_CLAIMS


@pytest.mark.parametrize(("svc01", "expected"), [
    ("ZZ:97161", "expected a product or service id qualifier"),
    ("HC", "expected a procedure or service code after the qualifier HC, got nothing"),
    ("HC>97161>GP", "separated by ':' (ISA16)"),  # another separator than the ISA's is not guessed
])
def test_svc01_without_a_qualified_code_is_reported_at_svc01(svc01: str, expected: str) -> None:
    text = REMIT_TEXT.replace("SVC*HC:97161:GP*", f"SVC*{svc01}*")
    error = _only_error(text)
    assert (error.segment_id, error.element, error.encounter) == ("SVC", "SVC01", "CLM-1001")
    assert error.segment_number == _segment_number(text, f"SVC*{svc01}*")
    assert expected in error.message
    assert [c.patient_control_number for c in read_835(text).claims] == ALL_CLAIMS[1:]


@pytest.mark.parametrize("bpr16", ["20002316", "20260230", "2026041", "٢٠٢٦٠٤١٥"])
def test_bad_payment_date_is_a_warning_and_the_claims_are_read(bpr16: str) -> None:
    remittance = read_835(REMIT_TEXT.replace("************20260415~", f"************{bpr16}~"))
    assert remittance.errors == []
    assert [c.patient_control_number for c in remittance.claims] == ALL_CLAIMS
    assert remittance.advices[0].payment_date is None
    assert remittance.advices[1].payment_date == dt.date(2026, 4, 16)
    (warning,) = remittance.warnings
    assert isinstance(warning, X12SegmentError)
    assert (warning.segment_number, warning.segment_id, warning.element) == (4, "BPR", "BPR16")
    assert "expected a date CCYYMMDD" in warning.message


def test_several_interchanges_in_one_file_are_all_read() -> None:
    # the second interchange names other separators (| and >), which must be re-read at its ISA
    second = (REMIT_TEXT.replace("000000911", "000000912").replace("CLM-10", "CLM-20")
              .replace("*", "|").replace(":", ">"))
    assert second.startswith("ISA|00|") and "SVC|HC>97161>GP|" in second
    remittance = read_835(REMIT_TEXT + second + REMIT_TEXT.replace("000000911", "000000913"))
    assert remittance.errors == []
    assert remittance.warnings == []
    assert len(remittance.advices) == 6
    assert [c.patient_control_number for c in remittance.claims] == (
        ALL_CLAIMS + [c.replace("CLM-10", "CLM-20") for c in ALL_CLAIMS] + ALL_CLAIMS)
    assert [line.modifiers for line in remittance.claims[4].lines] == [["GP"], ["GP"], ["GP", "59"]]
    assert denials(REMIT_TEXT + second).denied == 2 * denials(REMIT_TEXT).denied


# ---------------------------------------------------------------------------- what is (not) a denial


def test_a_zero_adjustment_with_a_denial_code_is_not_a_denial() -> None:
    text = REMIT_TEXT.replace("CAS*PR*1*15~", "CAS*PR*1*15~\nCAS*CO*50*0.00~").replace("SE*40*", "SE*41*")
    worklist = denials(text)
    assert worklist.errors == [] and worklist.warnings == []
    co50 = next(g for g in worklist.denials if g.carc == "50")
    assert (co50.amount, co50.lines, [i.line for i in co50.items]) == (90, 1, [2])
    assert worklist.denied == 330
    (nothing,) = [g for g in worklist.other_adjustments if g.kind == NOTHING_DENIED]
    assert (nothing.carc, nothing.amount, nothing.lines, nothing.rule_slugs) == ("50", 0, 1, [])
    assert "nothing was denied" in nothing.description
    # the edge: one cent is denied
    cent = denials(text.replace("CAS*CO*50*0.00~", "CAS*CO*50*0.01~"))
    assert next(g for g in cent.denials if g.carc == "50").amount == Decimal("90.01")
    assert not [g for g in cent.other_adjustments if g.kind == NOTHING_DENIED]
    # a negative amount (a reversal) gives money back: not a denial either
    reversal = denials(text.replace("CAS*CO*50*0.00~", "CAS*CO*50*-5~"))
    assert reversal.denied == 330
    assert [g.amount for g in reversal.other_adjustments if g.kind == NOTHING_DENIED] == [-5]


def test_an_unknown_carc_is_shown_as_unknown_and_not_counted_as_a_denial() -> None:
    worklist = denials(REMIT_TEXT.replace("CAS*CO*97*45~", "CAS*CO*Z9*45~"))
    assert worklist.errors == []
    assert "Z9" not in [g.carc for g in worklist.denials]
    assert worklist.denied == 330 - 45
    (unknown,) = [g for g in worklist.other_adjustments if g.carc == "Z9"]
    assert (unknown.kind, unknown.amount, unknown.lines, unknown.claims) == ("unknown", 45, 1, 1)
    assert unknown.description.startswith("unknown reason code: CARC Z9")
    assert unknown.items[0].rule_slugs == [] and unknown.items[0].preventable is None
    (shown,) = [g for g in worklist.to_dict()["other_adjustments"] if g["carc"] == "Z9"]
    assert (shown["kind"], shown["items"][0]["kind"], shown["amount"]) == ("unknown", "unknown", 45)


# ------------------------------------------------------------------------------------------ hostile input


@pytest.mark.parametrize("amount", [
    "1" * 40,  # 40 digits: a Decimal128 overflow (a Rust panic in Polars)
    "0." + "1" * 45,  # 45 decimals: a Decimal128 scale past 38
    "9223372036854775808",  # 2**63: past Int64, and 19 digits
    "1" * 19,  # one digit past X12 R1/18
    "1" * 5000,  # past Python's 4,300-digit integer conversion limit
])
def test_numbers_past_x12_bounds_are_input_errors_at_their_element(amount: str) -> None:
    text = REMIT_TEXT.replace("CAS*CO*97*45~", f"CAS*CO*97*{amount}~")
    error = _only_error(text)
    assert (error.segment_id, error.element, error.encounter) == ("CAS", "CAS03", "CLM-1001")
    assert error.segment_number == _segment_number(text, "CAS*CO*97*")
    assert "at most 18 digits" in error.message
    assert len(str(error)) < 300  # never the number itself: a hostile file must not make huge messages
    worklist = denials(text)  # and the worklist of the rest is built
    assert [c for c in ("CLM-1002", "CLM-1003", "CLM-1004")
            if any(c == i.patient_control_number for g in worklist.denials for i in g.items)] == [
        "CLM-1002", "CLM-1004"]
    assert worklist.claims == 3


def test_the_largest_x12_numbers_are_read_exactly() -> None:
    eighteen = "0.12345678901234567"  # 17 decimals + the leading 0: 18 digits, the R1/18 maximum
    text = (REMIT_TEXT.replace("CAS*CO*97*45~", f"CAS*CO*97*{eighteen}~")
            .replace("SVC*HC:97161:GP*120*80**1~", "SVC*HC:97161:GP*120*80**123456789012345~"))
    remittance = read_835(text)
    assert remittance.errors == []
    first = remittance.claims[0]
    assert first.lines[0].units == Decimal("123456789012345")
    assert first.lines[2].adjustments[0].amount == Decimal(eighteen)
    worklist = denials(text)
    assert next(g for g in worklist.denials if g.carc == "97").amount == Decimal(eighteen)
    json.dumps(worklist.to_dict())
    # one digit more of a quantity (R1/15) is an input error at SVC05
    error = _only_error(text.replace("**123456789012345~", "**1234567890123456~"))
    assert (error.segment_id, error.element) == ("SVC", "SVC05")
    assert "at most 15 digits" in error.message


@pytest.mark.parametrize(("old", "new", "element"), [
    ("CAS*CO*97*45~", "CAS*CO*97*٤٥~", "CAS03"),  # Arabic-Indic digits are digits to \d, not to X12
    ("CAS*CO*97*45~", "CAS*CO*97*4²~", "CAS03"),
    ("SVC*HC:97530:GP:59*45*0**1~\nDTM*472*20260302~", "SVC*HC:97530:GP:59*45*0**1~\nDTM*472*٢٠٢٦٠٣٠٢~",
     "DTM02"),
])
def test_digits_of_other_scripts_are_not_x12_numbers(old: str, new: str, element: str) -> None:
    assert old in REMIT_TEXT
    error = _only_error(REMIT_TEXT.replace(old, new))
    assert (error.element, error.encounter) == (element, "CLM-1001")


def test_an_unexpected_failure_in_one_claim_loses_that_claim_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object, segment: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(x12_835._RemitReader, "_on_moa", broken)  # only CLM-1002 has an MOA
    error = _only_error(REMIT_TEXT)
    assert (error.segment_id, error.segment_number, error.encounter) == (
        "MOA", _segment_number(REMIT_TEXT, "MOA*"), "CLM-1002")
    assert "could not be read (ZeroDivisionError)" in error.message
    assert "the claim was not read" in error.message
    assert [c.patient_control_number for c in read_835(REMIT_TEXT).claims] == ["CLM-1001", "CLM-1003", "CLM-1004"]


# ------------------------------------------------------------------------------------------- exit status


def _run(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["denials", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


NO_DENIALS = (REMIT_TEXT.replace("CAS*CO*50*90~", "CAS*CO*45*90~").replace("CAS*CO*97*45~", "CAS*CO*45*45~")
              .replace("CAS*CO*16*45~", "CAS*CO*45*45~").replace("CAS*CO*204*150~", "CAS*CO*45*150~"))


@pytest.mark.parametrize(("text", "status"), [
    (NO_DENIALS, 0),  # read, nothing denied (write-offs and patient share are not denials)
    (NO_DENIALS.replace("CAS*CO*45*90~", "CAS*CO*50*0~\nCAS*CO*45*90~").replace("SE*40*", "SE*41*"), 0),
    (NO_DENIALS.replace("CAS*CO*45*90~", "CAS*CO*Z9*90~"), 0),  # unknown code: shown, not a denial
    (NO_DENIALS.replace("************20260415~", "************20261315~"), 0),  # a warning only
    (NO_DENIALS.replace("CAS*CO*45*90~", "CAS*CO*50*0.01~\nCAS*CO*45*89.99~").replace("SE*40*", "SE*41*"), 1),
    (REMIT_TEXT, 1),  # denials
    (REMIT_TEXT.replace("CAS*CO*204*150~", "CAS*CO*204*1x~"), 2),  # one claim unreadable, the rest shown
    (NO_DENIALS.replace("CAS*CO*45*150~", "CAS*CO*45*" + "9" * 40 + "~"), 2),
])
def test_exit_status_follows_the_contract(tmp_path: Path, text: str, status: int) -> None:
    path = tmp_path / "remit.835"
    path.write_text(text)
    code, output = _run(str(path))
    assert code == status, output
    code, output = _run(str(path), "--json")
    assert code == status
    data = json.loads(output[: output.rindex("}") + 1])
    assert bool(data["errors"]) == (status == 2)
    if status < 2:  # input errors decide first: a claim that was not read may hide a denial
        assert bool(data["denials"]) == (status == 1)


def test_cli_shows_unknown_codes_and_warnings(tmp_path: Path) -> None:
    path = tmp_path / "remit.835"
    path.write_text(NO_DENIALS.replace("CAS*CO*45*90~", "CAS*CO*Z9*90~")
                    .replace("************20260415~", "************20261315~"))
    code, output = _run(str(path))
    assert code == 0
    assert "carry a reason code cleanclaim does not know (Z9)" in output
    assert "warning: " in output and "BPR16" in output
    code, output = _run(str(path), "--json")
    data = json.loads(output[: output.rindex("}") + 1])
    assert [w["field"] for w in data["warnings"]] == ["BPR16"]


def test_markup_in_claim_ids_prints_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "remit.835"
    path.write_text(REMIT_TEXT.replace("CLP*CLM-1001*", "CLP*[/]CLM-[bold]1001*"))
    code, output = _run(str(path))
    assert code == 1
    assert "[/]CLM-[bold]1001" in output


def test_help_documents_the_exit_status() -> None:
    code, output = _run("--help")
    assert code == 0
    assert "0 everything was read and nothing was denied" in " ".join(output.split())


def test_text_that_is_neither_x12_nor_a_file_name_is_an_input_error() -> None:
    with pytest.raises(InputError, match="cannot read the file"):
        read_835("CLP*1\x00*4")  # one line, not starting with ISA: taken for a file name, which has a NUL


def test_a_claim_file_that_breaks_its_reader_is_reported_and_the_worklist_still_built(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cleanclaim.formats import encounters

    def broken(path: object) -> None:
        raise RecursionError("a bug")

    monkeypatch.setattr(encounters, "load_encounters", broken)
    claims = tmp_path / "visits.yaml"
    claims.write_text("encounters: []\n")
    worklist = denials(FIXTURES / "remit_harbor.835", [claims])
    (error,) = worklist.errors
    assert (error.file, error.message) == (str(claims), "the file could not be read (RecursionError)")
    assert worklist.denied == 330
    code, _ = _run(str(FIXTURES / "remit_harbor.835"), "--claims", str(claims))
    assert code == 2


def test_a_claim_id_billed_twice_is_reported_and_joined_to_neither(tmp_path: Path) -> None:
    from .conftest import BASE_ENCOUNTER

    def visit(encounter_id: str, claim_id: str) -> dict[str, object]:
        return {**BASE_ENCOUNTER, "id": encounter_id, "claim_id": claim_id}

    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(yaml.safe_dump({"encounters": [visit("E-1", "CLM-1001"), visit("E-2", "CLM-1002")]}))
    second.write_text(yaml.safe_dump({"encounters": [visit("E-3", "CLM-1001")]}))
    worklist = denials(FIXTURES / "remit_harbor.835", [first, second])
    assert worklist.errors == []
    (warning,) = worklist.warnings
    assert warning.encounter == "CLM-1001"
    assert f"encounter E-1 in {first}, encounter E-3 in {second}" in warning.message
    items = [item for group in worklist.denials for item in group.items]
    assert [i.billed is None for i in items if i.patient_control_number == "CLM-1001"] == [True, True]
    assert worklist.unmatched_claims == ["CLM-1003", "CLM-1004"]  # ambiguous, not unmatched
    # with one copy of CLM-1001 it is joined again
    second.write_text(yaml.safe_dump({"encounters": [visit("E-3", "CLM-1003")]}))
    joined = denials(FIXTURES / "remit_harbor.835", [first, second])
    assert joined.warnings == []
    assert next(g for g in joined.denials if g.carc == "50").items[0].billed is not None  # 97110 GP


def test_an_unexpected_failure_joining_one_claim_loses_that_claim_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real = x12_835.billed_line

    def broken(line: x12_835.RemitLine, encounter: object, file: str | None) -> object:
        if line.code == "97112":  # only in CLM-1002
            raise KeyError("a bug")
        return real(line, encounter, file)  # type: ignore[arg-type]

    monkeypatch.setattr(x12_835, "billed_line", broken)
    worklist = denials(FIXTURES / "remit_harbor.835", [FIXTURES / "harbor_pt_claims.837"])
    (error,) = worklist.errors
    assert isinstance(error, X12SegmentError)
    assert (error.segment_id, error.encounter) == ("CLP", "CLM-1002")
    assert "could not be listed (KeyError)" in error.message
    assert [g.carc for g in worklist.denials] == ["204", "50", "97"]  # CO-16 was CLM-1002's


@pytest.mark.parametrize(("bpr", "message"), [
    ("BPR*I*14x.4*C*CHK", "expected a money amount, got '14x.4'"),
    ("BPR*I**C*CHK", "expected the total payment amount, got nothing"),
    ("BPR*I*" + "1" * 19 + "*C*CHK", "at most 18 digits"),
])
def test_an_unreadable_payment_total_is_reported_and_its_claims_still_read(bpr: str, message: str) -> None:
    text = REMIT_TEXT.replace("BPR*I*142.4*C*CHK", bpr)
    error = _only_error(text)
    assert (error.segment_number, error.segment_id, error.element, error.encounter) == (4, "BPR", "BPR02", None)
    assert message in error.message
    remittance = read_835(text)
    assert remittance.advices[0].payment_amount is None
    assert remittance.advices[0].payment_date == dt.date(2026, 4, 15)
    assert [c.patient_control_number for c in remittance.claims] == ALL_CLAIMS


def test_a_second_bpr_in_a_transaction_is_reported_and_loses_no_claim() -> None:
    text = REMIT_TEXT.replace("SVC*HC:97530:GP:59*", "BPR*I*1*C*CHK************20260101~\nSVC*HC:97530:GP:59*")
    error = _only_error(text.replace("SE*40*", "SE*41*"))
    assert (error.segment_id, error.segment_number) == ("BPR", _segment_number(text, "BPR*I*1*"))
    assert "a second BPR segment" in error.message and "segment 4" in error.message
    remittance = read_835(text.replace("SE*40*", "SE*41*"))
    assert [c.patient_control_number for c in remittance.claims] == ALL_CLAIMS
    assert remittance.advices[0].payment_amount == Decimal("142.4")
    assert [line.code for line in remittance.claims[0].lines] == ["97161", "97110", "97530"]


@pytest.mark.parametrize(("cas", "element", "message"), [
    ("CAS*CO**45~", "CAS02", "expected the reason code (CARC) of the amount in CAS03, got nothing"),
    ("CAS*CO*45*25***1~", "CAS05", "expected the reason code (CARC) of the amount in CAS06"),
    ("CAS*CO*" + "45*1**" * 6 + "97*45~", "CAS20", "at most six reason/amount/quantity triplets"),
    ("CAS*CO*" + "Z" * 6 + "*45~", "CAS02", "at most 5 characters"),
    ("CAS*" + "X" * 5000 + "*45*45~", "CAS01", "(5000 characters)"),
])
def test_a_cas_amount_without_its_reason_or_past_cas19_is_not_dropped(cas: str, element: str, message: str) -> None:
    text = REMIT_TEXT.replace("CAS*CO*97*45~", cas)
    error = _only_error(text)
    assert (error.segment_id, error.element, error.encounter) == ("CAS", element, "CLM-1001")
    assert message in error.message
    assert len(str(error)) < 400


def test_six_cas_triplets_and_trailing_empty_elements_are_read() -> None:
    six = "CAS*CO*" + "*".join(f"{code}*7.5*" for code in ("97", "16", "50", "96", "4", "18")) + "****~"
    remittance = read_835(REMIT_TEXT.replace("CAS*CO*97*45~", six))
    assert remittance.errors == []
    assert [(a.reason, a.amount) for a in remittance.claims[0].lines[2].adjustments] == [
        (code, Decimal("7.5")) for code in ("97", "16", "50", "96", "4", "18")]


def test_a_patient_control_number_past_38_characters_is_reported_cut_short() -> None:
    fits, long = "C" * 38, "C" * 39 + "X" * 5000
    assert read_835(REMIT_TEXT.replace("CLM-1001", fits)).claims[0].patient_control_number == fits
    error = _only_error(REMIT_TEXT.replace("CLP*CLM-1001*", f"CLP*{long}*"))
    assert (error.segment_id, error.element, error.encounter) == ("CLP", "CLP01", "C" * 38 + "...")
    assert "at most 38 characters" in error.message
    assert len(str(error)) < 300
    error = _only_error(REMIT_TEXT.replace("CLP*CLM-1001*1*", "CLP*CLM-1001*" + "9" * 5000 + "*"))
    assert (error.element, error.encounter) == ("CLP02", "CLM-1001")
    assert len(str(error)) < 300
