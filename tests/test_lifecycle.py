"""The claim lifecycle of issue 12, move by move: every legal transition, every illegal one refused with a message
naming the state, who may make each move, and the findings that hold a claim back from `ready`."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from cleanclaim.lifecycle import (
    Action,
    ClaimState,
    Role,
    TransitionError,
    allowed_actions,
    blocking_findings,
    check_override,
    transition,
)
from cleanclaim.model import Severity

S, A = ClaimState, Action
OUTCOMES = {S.PAID, S.PARTIALLY_PAID, S.DENIED}

# The lifecycle as the issue states it: draft → coded → scrubbed → ready → submitted → paid / partially paid /
# denied (835 posting) → corrected / appealed / written off; re-coding or re-scrubbing a claim not yet submitted;
# an appealed claim answered by the next 835 or written off.
LEGAL: dict[tuple[ClaimState, Action], set[ClaimState]] = {
    **{(s, A.CODE): {S.CODED} for s in (S.DRAFT, S.CODED, S.SCRUBBED, S.READY)},
    **{(s, A.SCRUB): {S.SCRUBBED} for s in (S.CODED, S.SCRUBBED, S.READY)},
    (S.SCRUBBED, A.MARK_READY): {S.READY},
    (S.READY, A.SUBMIT): {S.SUBMITTED},
    **{(s, A.POST): OUTCOMES for s in (S.SUBMITTED, S.APPEALED, S.DENIED, S.PARTIALLY_PAID)},
    **{(s, A.CORRECT): {S.CORRECTED} for s in (S.DENIED, S.PARTIALLY_PAID)},
    **{(s, A.APPEAL): {S.APPEALED} for s in (S.DENIED, S.PARTIALLY_PAID)},
    **{(s, A.WRITE_OFF): {S.WRITTEN_OFF} for s in (S.DENIED, S.PARTIALLY_PAID, S.APPEALED)},
}
CLINICIAN_MAY = {A.CODE, A.SCRUB}


@dataclass
class Stored:
    rule: str
    severity: str
    override_reason: str | None = None


@pytest.mark.parametrize(("state", "action"), list(itertools.product(ClaimState, Action)))
def test_every_move_of_every_state(state: ClaimState, action: Action) -> None:
    targets = LEGAL.get((state, action))
    if targets is None:
        with pytest.raises(TransitionError, match=f"a {state.value.replace('_', ' ')} claim cannot be moved"):
            transition(state, action, role=Role.BILLER, to=next(iter(OUTCOMES)) if action is A.POST else None)
        return
    for target in targets:
        assert transition(state, action, role=Role.BILLER, to=target if len(targets) > 1 else None) is target


@pytest.mark.parametrize("state", list(ClaimState))
def test_the_refusal_says_what_the_state_allows(state: ClaimState) -> None:
    legal = sorted((a for (s, a) in LEGAL if s is state), key=list(Action).index)
    assert allowed_actions(state, Role.BILLER) == legal
    illegal = next((a for a in Action if (state, a) not in LEGAL), None)
    assert illegal is not None
    with pytest.raises(TransitionError) as refused:
        transition(state, illegal, role=Role.BILLER, to=S.PAID if illegal is A.POST else None)
    assert f"Here you can: {', '.join(a.value for a in legal) or 'nothing'}" in str(refused.value)


@pytest.mark.parametrize("state", [S.PAID, S.CORRECTED, S.WRITTEN_OFF])
def test_a_finished_claim_allows_nothing(state: ClaimState) -> None:
    assert allowed_actions(state, Role.ADMIN) == []


@pytest.mark.parametrize(("state", "action"), sorted(LEGAL, key=lambda k: (k[0].value, k[1].value)))
def test_who_may_make_each_move(state: ClaimState, action: Action) -> None:
    to = S.DENIED if action is A.POST else None
    for role in Role:
        may = role in (Role.ADMIN, Role.BILLER) or (role is Role.CLINICIAN and action in CLINICIAN_MAY)
        if may:
            transition(state, action, role=role, to=to)
        else:
            with pytest.raises(TransitionError, match=f"a {role.value} cannot"):
                transition(state, action, role=role, to=to)


def test_an_auditor_reads_and_changes_nothing() -> None:
    assert all(allowed_actions(state, Role.AUDITOR) == [] for state in ClaimState)


def test_posting_needs_its_outcome_and_only_a_payer_decision() -> None:
    with pytest.raises(TransitionError, match="needs the outcome"):
        transition(S.SUBMITTED, A.POST, role=Role.BILLER)
    with pytest.raises(TransitionError, match="not ready"):
        transition(S.SUBMITTED, A.POST, role=Role.BILLER, to=S.READY)
    assert transition("submitted", "post", role="biller", to="partially_paid") is S.PARTIALLY_PAID


def test_error_findings_hold_a_claim_back_until_fixed_or_overridden_with_a_reason() -> None:
    error = Stored("units-exceed-time", Severity.ERROR.value)
    warning = Stored("missing-minutes", "warning")
    with pytest.raises(TransitionError, match=r"1 error finding\(s\) still stand \(units-exceed-time\)"):
        transition(S.SCRUBBED, A.MARK_READY, role=Role.BILLER, findings=[error, warning])
    blank = Stored("units-exceed-time", "error", override_reason="   ")
    with pytest.raises(TransitionError, match="still stand"):
        transition(S.SCRUBBED, A.MARK_READY, role=Role.BILLER, findings=[blank])
    overridden = Stored("units-exceed-time", "error", override_reason="payer contract pays per 15 minutes")
    assert transition(S.SCRUBBED, A.MARK_READY, role=Role.BILLER, findings=[overridden, warning]) is S.READY
    assert transition(S.SCRUBBED, A.MARK_READY, role=Role.BILLER, findings=[]) is S.READY
    assert blocking_findings([error, warning, overridden]) == [error]


def test_only_a_biller_or_admin_overrides_and_always_with_a_reason() -> None:
    assert check_override(Role.BILLER, "  documented in the plan of care  ") == "documented in the plan of care"
    assert check_override("admin", "x") == "x"
    for role in (Role.CLINICIAN, Role.AUDITOR):
        with pytest.raises(TransitionError, match=f"a {role.value} cannot override"):
            check_override(role, "because")
    for reason in (None, "", "  "):
        with pytest.raises(TransitionError, match="needs a reason"):
            check_override(Role.BILLER, reason)


def test_unknown_states_actions_and_roles_are_refused() -> None:
    with pytest.raises(ValueError, match="'sent'"):
        transition("sent", A.SUBMIT, role=Role.BILLER)
    with pytest.raises(ValueError, match="'delete'"):
        transition(S.DRAFT, "delete", role=Role.BILLER)
    with pytest.raises(ValueError, match="'owner'"):
        transition(S.DRAFT, A.CODE, role="owner")
