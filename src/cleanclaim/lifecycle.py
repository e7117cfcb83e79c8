"""The life of a claim in the workspace, as one table of legal moves.

A claim is drafted, coded, scrubbed, made ready, submitted in a batch, and then the payer's 835 decides whether it
was paid, partly paid or denied; a denied or partly paid claim is corrected (a new version, frequency code 7),
appealed or written off. Every screen, API call and import moves a claim through `transition`, so an illegal move
(submitting a claim that was never scrubbed, writing off a paid one) is refused in one place with a message that
says what the claim's state allows. The store records each move in its audit trail; this module only decides.

Who may move a claim is part of the move: an auditor reads everything and changes nothing, a clinician or coach
enters and codes encounters, a biller works claims and denials, an admin may do what a biller does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from cleanclaim.errors import CleanclaimError

if TYPE_CHECKING:
    from cleanclaim.model import Severity

__all__ = [
    "ANSWERABLE",
    "TRANSITIONS",
    "Action",
    "ClaimState",
    "Role",
    "Transition",
    "TransitionError",
    "allowed_actions",
    "blocking_findings",
    "check_override",
    "transition",
]


class ClaimState(StrEnum):
    DRAFT = "draft"
    """Entered, not yet coded: services without billed lines."""
    CODED = "coded"
    """Billed lines exist (coded from the services or entered); any earlier scrub no longer applies."""
    SCRUBBED = "scrubbed"
    """Checked by the rule catalogue; its findings are stored with the scrub."""
    READY = "ready"
    """No error finding stands: none was found, or a biller overrode each with a reason."""
    SUBMITTED = "submitted"
    """Sent in a submission batch (an 837P file); waiting for the payer."""
    PAID = "paid"
    PARTIALLY_PAID = "partially_paid"
    DENIED = "denied"
    CORRECTED = "corrected"
    """Replaced by a new version (frequency code 7); this version is kept as it was."""
    APPEALED = "appealed"
    """A denial under appeal; the payer's next 835 decides it."""
    WRITTEN_OFF = "written_off"


class Action(StrEnum):
    CODE = "code"
    SCRUB = "scrub"
    MARK_READY = "mark_ready"
    SUBMIT = "submit"
    POST = "post"
    """Post the payer's decision from an 835: to paid, partially paid or denied."""
    CORRECT = "correct"
    APPEAL = "appeal"
    WRITE_OFF = "write_off"


class Role(StrEnum):
    ADMIN = "admin"
    BILLER = "biller"
    CLINICIAN = "clinician"
    AUDITOR = "auditor"


S = ClaimState
WORKS_CLAIMS = frozenset({Role.ADMIN, Role.BILLER})
ENTERS_ENCOUNTERS = frozenset({Role.ADMIN, Role.BILLER, Role.CLINICIAN})
# An 835 can answer a claim that is waiting (submitted), under appeal, or already decided once (a later remittance
# reprocesses it); it never reopens a claim that was corrected, written off or paid in full.
ANSWERABLE = frozenset({S.SUBMITTED, S.APPEALED, S.DENIED, S.PARTIALLY_PAID})


@dataclass(frozen=True)
class Transition:
    action: Action
    sources: frozenset[ClaimState]
    targets: frozenset[ClaimState]
    roles: frozenset[Role]
    why: str
    """What the move means, for the message that refuses it."""


TRANSITIONS: dict[Action, Transition] = {t.action: t for t in (
    Transition(Action.CODE, frozenset({S.DRAFT, S.CODED, S.SCRUBBED, S.READY}), frozenset({S.CODED}),
               ENTERS_ENCOUNTERS, "code or edit the billed lines (a scrub done before no longer applies)"),
    Transition(Action.SCRUB, frozenset({S.CODED, S.SCRUBBED, S.READY}), frozenset({S.SCRUBBED}),
               ENTERS_ENCOUNTERS, "check the billed lines with the rule catalogue"),
    Transition(Action.MARK_READY, frozenset({S.SCRUBBED}), frozenset({S.READY}), WORKS_CLAIMS,
               "release the claim for submission once no error finding stands"),
    Transition(Action.SUBMIT, frozenset({S.READY}), frozenset({S.SUBMITTED}), WORKS_CLAIMS,
               "send the claim in a submission batch"),
    Transition(Action.POST, ANSWERABLE, frozenset({S.PAID, S.PARTIALLY_PAID, S.DENIED}), WORKS_CLAIMS,
               "post the payer's decision from an 835"),
    Transition(Action.CORRECT, frozenset({S.DENIED, S.PARTIALLY_PAID}), frozenset({S.CORRECTED}), WORKS_CLAIMS,
               "replace the claim with a corrected version (frequency code 7)"),
    Transition(Action.APPEAL, frozenset({S.DENIED, S.PARTIALLY_PAID}), frozenset({S.APPEALED}), WORKS_CLAIMS,
               "appeal the payer's decision"),
    Transition(Action.WRITE_OFF, frozenset({S.DENIED, S.PARTIALLY_PAID, S.APPEALED}), frozenset({S.WRITTEN_OFF}),
               WORKS_CLAIMS, "write off what the payer did not pay"),
)}


class TransitionError(CleanclaimError):
    """A move the claim's state or the user's role does not allow; the message says what is allowed instead."""


class ScrubFinding(Protocol):
    """What the lifecycle needs of a stored finding: how grave it is and whether a biller overrode it."""

    @property
    def severity(self) -> Severity | str: ...

    @property
    def override_reason(self) -> str | None: ...


def blocking_findings(findings: Iterable[ScrubFinding]) -> list[ScrubFinding]:
    """The error findings that still stand: an error holds a claim back until it is fixed (a new scrub no longer
    finds it) or a biller overrides it with a reason; warnings and info never hold a claim back."""
    from cleanclaim.model import Severity  # here, not at the top: `cleanclaim user create --role` needs Role only

    return [f for f in findings if Severity(f.severity) is Severity.ERROR and not (f.override_reason or "").strip()]


def check_override(role: Role | str, reason: str | None) -> str:
    """The reason an override is recorded with. Only a biller or an admin may override a finding, and only with a
    reason a reviewer can read later: the override is what an auditor will ask about."""
    if Role(role) not in WORKS_CLAIMS:
        raise TransitionError(f"a {Role(role).value} cannot override a finding; a biller or an admin can")
    text = (reason or "").strip()
    if not text:
        raise TransitionError("an override needs a reason (why the claim is right as it is despite the finding)")
    return text


def allowed_actions(state: ClaimState | str, role: Role | str) -> list[Action]:
    """What this user may do to a claim in this state, in the order of the claim's life (for the page's buttons)."""
    state, role = ClaimState(state), Role(role)
    return [t.action for t in TRANSITIONS.values() if state in t.sources and role in t.roles]


def transition(state: ClaimState | str, action: Action | str, *, role: Role | str, to: ClaimState | str | None = None,
               findings: Sequence[ScrubFinding] = ()) -> ClaimState:
    """The claim's next state, or a `TransitionError` saying why not.

    ``to`` picks the outcome of a move that has several (posting an 835: paid, partially paid or denied);
    ``findings`` are the claim's current scrub's, which decide whether it may be marked ready.
    """
    state, action, role = ClaimState(state), Action(action), Role(role)
    move = TRANSITIONS[action]
    if role not in move.roles:
        who = ", ".join(sorted(r.value for r in move.roles))
        raise TransitionError(f"a {role.value} cannot {action.value.replace('_', ' ')} a claim ({move.why}); "
                              f"that is for: {who}")
    if state not in move.sources:
        instead = ", ".join(a.value for a in allowed_actions(state, role)) or "nothing"
        raise TransitionError(
            f"a {state.value.replace('_', ' ')} claim cannot be moved by {action.value!r} ({move.why}); it can be "
            f"in state {', '.join(sorted(s.value for s in move.sources))}. Here you can: {instead}")
    if to is None:
        if len(move.targets) > 1:
            raise TransitionError(f"{action.value!r} needs the outcome: one of "
                                  f"{', '.join(sorted(s.value for s in move.targets))}")
        (target,) = move.targets
    else:
        target = ClaimState(to)
        if target not in move.targets:
            raise TransitionError(f"{action.value!r} leads to {', '.join(sorted(s.value for s in move.targets))}, "
                                  f"not {target.value}")
    if action is Action.MARK_READY:
        standing = blocking_findings(findings)
        if standing:
            rules = ", ".join(sorted({str(getattr(f, "rule", "?")) for f in standing}))
            raise TransitionError(f"{len(standing)} error finding(s) still stand ({rules}): fix the claim and "
                                  "scrub it again, or override each with a reason")
    return target
