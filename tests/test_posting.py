"""Posting the Harbor remittance to the Harbor claims it answers (tests/formats/x12/fixtures): each claim's outcome
worked out by hand from the 835's CLP/SVC/CAS segments, each SVC matched to its billed line, and every CLP that is
not a decision on a claim of ours left unposted with its reason."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from cleanclaim.formats.x12_835 import RemitClaim, read_835
from cleanclaim.formats.x12_837p import read_837p
from cleanclaim.lifecycle import ClaimState
from cleanclaim.model import Encounter
from cleanclaim.posting import decision, plan_posting

FIXTURES = Path(__file__).parent / "formats" / "x12" / "fixtures"
REMIT = (FIXTURES / "remit_harbor.835").read_text()


def _claims() -> dict[str, Encounter]:
    return {e.claim_id or e.id: e for e in read_837p(FIXTURES / "harbor_pt_claims.837").encounters}


def _plans(text: str = REMIT, claims: dict[str, Encounter] | None = None) -> list:  # type: ignore[type-arg]
    remittance = read_835(text)
    assert remittance.errors == []
    return [plan_posting(advice, _claims() if claims is None else claims) for advice in remittance.advices]


def test_each_claim_gets_the_payers_decision() -> None:
    first, second = _plans()
    assert (first.trace_number, second.trace_number) == ("0012345678", "0099887766")
    assert (first.payer_identifier, second.payer_identifier) == ("1512345678", "1870000001")  # TRN03
    outcomes = {p.claim_id: (p.outcome, p.denied) for plan in (first, second) for p in plan.posted}
    assert outcomes == {
        # paid $80 on 97161; 97110 denied CO-50 $90 and 97530 CO-97 $45
        "CLM-1001": (ClaimState.PARTIALLY_PAID, Decimal("135")),
        # 97110 paid $62.40; 97112 denied CO-16 $45
        "CLM-1002": (ClaimState.PARTIALLY_PAID, Decimal("45")),
        # paid $50, the rest contractual (CO-45) and the patient's copay and coinsurance (PR-3, PR-2)
        "CLM-1003": (ClaimState.PAID, Decimal("0")),
        # CLP02 4, CO-204 $150
        "CLM-1004": (ClaimState.DENIED, Decimal("150")),
    }
    assert all(not plan.unposted for plan in (first, second))


def test_each_remittance_line_is_matched_to_the_line_billed() -> None:
    (first, _) = _plans()
    clm1001 = next(p for p in first.posted if p.claim_id == "CLM-1001")
    matched = [(line.remit.code, line.billed.line_number if line.billed else None, line.denied)
               for line in clm1001.lines]
    assert matched == [("97161", 1, Decimal("0")), ("97110", 2, Decimal("90")), ("97530", 3, Decimal("45"))]
    assert clm1001.review == []


def test_a_claim_we_never_submitted_is_not_posted_and_says_so() -> None:
    claims = _claims()
    del claims["CLM-1003"]
    (_, second) = _plans(claims=claims)
    assert [p.claim_id for p in second.posted] == ["CLM-1004"]
    (unposted,) = second.unposted
    assert unposted.remit.patient_control_number == "CLM-1003"
    assert "no submitted claim has the patient control number 'CLM-1003'" in unposted.reason


@pytest.mark.parametrize(("status", "words"), [("22", "reversal"), ("23", "not theirs"), ("25", "predetermination")])
def test_a_clp_that_is_not_a_decision_is_left_for_a_biller(status: str, words: str) -> None:
    text = REMIT.replace("CLP*CLM-1003*1*", f"CLP*CLM-1003*{status}*")
    (_, second) = _plans(text)
    (unposted,) = second.unposted
    assert words in unposted.reason
    assert [p.claim_id for p in second.posted] == ["CLM-1004"]


def test_an_unmatched_line_and_an_unknown_carc_ask_for_a_review_without_changing_the_outcome() -> None:
    text = REMIT.replace("SVC*HC:97530:GP*97.5*50", "SVC*HC:97999:GP*97.5*50")
    text = text.replace("CAS*CO*45*20~", "CAS*CO*999*20~")
    assert text.count("97999") == 1 and text.count("CAS*CO*999*20~") == 1
    (_, second) = _plans(text)
    clm1003 = next(p for p in second.posted if p.claim_id == "CLM-1003")
    assert clm1003.outcome is ClaimState.PAID  # an unknown code is not counted as a denial
    assert clm1003.lines[0].billed is None
    assert any("matches no billed line" in r for r in clm1003.review)
    assert any("CARC 999 ($20) is not in cleanclaim's table" in r for r in clm1003.review)


def _remit_claim(status: str, paid: str, adjustments: list[tuple[str, str, str]]) -> RemitClaim:
    from cleanclaim.formats.x12_835 import Adjustment

    return RemitClaim("C1", status, Decimal("100"), Decimal(paid), None, "P1", 1,
                      adjustments=[Adjustment(g, r, Decimal(a), None, 1) for g, r, a in adjustments])


@pytest.mark.parametrize(
    ("status", "paid", "adjustments", "expected"),
    [
        ("1", "80", [("CO", "45", "20")], (ClaimState.PAID, Decimal("0"))),
        # all to the deductible: the payer decided, the balance is the patient's
        ("1", "0", [("PR", "1", "100")], (ClaimState.PAID, Decimal("0"))),
        ("1", "0", [("CO", "50", "100")], (ClaimState.DENIED, Decimal("100"))),
        ("1", "0.01", [("CO", "50", "99.99")], (ClaimState.PARTIALLY_PAID, Decimal("99.99"))),
        # a denial code with $0.00 denied nothing
        ("1", "100", [("CO", "50", "0")], (ClaimState.PAID, Decimal("0"))),
        ("4", "0", [], (ClaimState.DENIED, Decimal("0"))),
        ("19", "60", [("CO", "45", "40")], (ClaimState.PAID, Decimal("0"))),
        # the group code decides who is liable (issue 14 item 11): PR is the patient's, CR corrects an earlier payment
        ("1", "0", [("PR", "204", "100")], (ClaimState.PAID, Decimal("0"))),
        ("1", "40", [("PR", "96", "60")], (ClaimState.PAID, Decimal("0"))),
        ("1", "100", [("CR", "50", "25")], (ClaimState.PAID, Decimal("0"))),
        ("1", "0", [("CO", "204", "100")], (ClaimState.DENIED, Decimal("100"))),
        ("1", "40", [("OA", "18", "60")], (ClaimState.PARTIALLY_PAID, Decimal("60"))),
        # an unknown CARC is never counted as a denial, whatever its group
        ("1", "40", [("CO", "9999", "60")], (ClaimState.PAID, Decimal("0"))),
        # nor is a valid X12 code cleanclaim lists but does not classify (66, blood deductible)
        ("1", "40", [("CO", "66", "60")], (ClaimState.PAID, Decimal("0"))),
    ],
)
def test_the_decision_at_its_edges(status: str, paid: str, adjustments: list[tuple[str, str, str]],
                                   expected: tuple[ClaimState, Decimal]) -> None:
    assert decision(_remit_claim(status, paid, adjustments)) == expected


def test_a_listed_but_unclassified_carc_asks_for_a_review_that_says_it_is_a_real_code() -> None:
    text = REMIT.replace("CAS*CO*45*20~", "CAS*CO*66*20~")
    assert text.count("CAS*CO*66*20~") == 1
    (_, second) = _plans(text)
    clm1003 = next(p for p in second.posted if p.claim_id == "CLM-1003")
    assert clm1003.outcome is ClaimState.PAID
    assert any("CARC 66 ($20) is on the X12 list but cleanclaim does not classify it" in r for r in clm1003.review)


@pytest.mark.parametrize(
    ("payment_date", "flagged"),
    # CARC 17 (X12 list): Stop 07/01/2009, the last day an original 835 may use it
    [("20090701", False), ("20090702", True), ("20260416", True)],
)
def test_a_carc_used_after_its_x12_stop_date_asks_for_a_review(payment_date: str, flagged: bool) -> None:
    text = REMIT.replace("CAS*CO*45*20~", "CAS*CO*17*20~").replace("CHK************20260416~",
                                                                   f"CHK************{payment_date}~")
    (_, second) = _plans(text)
    clm1003 = next(p for p in second.posted if p.claim_id == "CLM-1003")
    stopped = [r for r in clm1003.review if "deactivated after 2009-07-01" in r]
    assert bool(stopped) is flagged
    if flagged:
        assert f"an original 835 dated {payment_date[:4]}-{payment_date[4:6]}-{payment_date[6:]}" in stopped[0]


def test_an_active_carc_on_its_dates_asks_for_no_review() -> None:
    (_, second) = _plans()
    clm1003 = next(p for p in second.posted if p.claim_id == "CLM-1003")
    assert not any("X12 list" in r for r in clm1003.review)


@pytest.mark.parametrize(
    ("payment_date", "flagged"),
    # RARC N29 (X12 list): Stop 03/01/2016
    [("20160301", False), ("20160302", True)],
)
def test_a_rarc_used_after_its_x12_stop_date_asks_for_a_review(payment_date: str, flagged: bool) -> None:
    text = REMIT.replace("CAS*CO*204*150~\nLQ*HE*N130~", "CAS*CO*204*150~\nLQ*HE*N29~").replace(
        "CHK************20260416~", f"CHK************{payment_date}~")
    assert "LQ*HE*N29~" in text
    (_, second) = _plans(text)
    clm1004 = next(p for p in second.posted if p.claim_id == "CLM-1004")
    stopped = [r for r in clm1004.review if r.startswith("RARC N29 was deactivated after 2016-03-01")]
    assert bool(stopped) is flagged
