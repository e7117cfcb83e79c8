"""Claims of a signed-in organisation made through the services (import, scrub, release, submit, post), for the
money pages' tests and the browser flow: the pages show what the services wrote, never rows made by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cleanclaim.lifecycle import Role
from cleanclaim.store import models as m
from cleanclaim.store.claims import Actor, current_version, import_encounters, mark_ready, scrub_claims
from cleanclaim.store.database import session_factory
from cleanclaim.store.posting import post_remittance
from cleanclaim.store.remittance_file import PaidClaim, PaidLine, remittance_text
from cleanclaim.store.submissions import SubmissionSettingsInput, save_submission_settings, submit_claims
from cleanclaim.store.tenant import Tenant
from tests.store.services import encounter
from tests.web.conftest import Org

AS_OF = dt.date(2026, 3, 20)


def _actor(session: Session, org: Org, role: Role) -> Actor:
    user = session.get(m.User, org.user_id(role))
    assert user is not None
    return Actor.of(user)


def _with_settings(session: Session, org: Org) -> Tenant:
    tenant = Tenant(session, org.id)
    if session.scalars(tenant.select(m.SubmissionSettings)).first() is None:
        save_submission_settings(tenant, _actor(session, org, Role.ADMIN), SubmissionSettingsInput(
            sender_id="HARBORPT", receiver_id="CLEARHOUSE", receiver_name="Example Clearinghouse",
            submitter_name="Harbor PT Billing", submitter_contact="Jo Biller", submitter_phone="2175550100"))
    return tenant


def ready(engine: Engine, org: Org, *numbers: str, **overrides: object) -> list[int]:
    """Ready claims (imported, scrubbed clean, released) with these patient control numbers; the organisation's
    submission settings are saved first if it has none."""
    with session_factory(engine)() as session:
        tenant = _with_settings(session, org)
        biller = _actor(session, org, Role.BILLER)
        # a visit on a date of its own each: the same lines on one date would be duplicate-line errors
        items = import_encounters(tenant, biller, [
            encounter(n, date=f"2026-03-{2 + sum(map(ord, n)) % 17:02d}", **overrides) for n in numbers])
        ids = [item.claim_id for item in items]
        scrub_claims(tenant, biller, ids, as_of=AS_OF)
        for claim_id in ids:
            mark_ready(tenant, biller, claim_id)
        session.commit()
    return ids


def imported(engine: Engine, org: Org, number: str) -> int:
    """A claim only imported and coded: not ready (the organisation can submit, this claim cannot)."""
    with session_factory(engine)() as session:
        tenant = _with_settings(session, org)
        (item,) = import_encounters(tenant, _actor(session, org, Role.BILLER), [encounter(number)])
        session.commit()
    return item.claim_id


def submitted(engine: Engine, org: Org, *numbers: str) -> list[int]:
    ids = ready(engine, org, *numbers)
    with session_factory(engine)() as session:
        submit_claims(Tenant(session, org.id), _actor(session, org, Role.BILLER), ids)
        session.commit()
    return ids


def denial_835(engine: Engine, org: Org, claim_id: int, *, trace: str, carc: str = "197",
               deny_line: int | None = None) -> str:
    """An 835 answering the claim: every line denied with ``carc`` (status 4), or only line ``deny_line`` denied
    and the others paid 80% of charge (status 1)."""
    with session_factory(engine)() as session:
        version = current_version(Tenant(session, org.id), claim_id)
        lines = []
        for line in version.lines:
            if deny_line is None or line.line_number == deny_line:
                lines.append(PaidLine(line.code, tuple(line.modifiers), line.charge, Decimal(0), line.units,
                                      line.service_date, (("CO", carc, line.charge),)))
            else:
                paid = (line.charge * Decimal("0.8")).quantize(Decimal("0.01"))
                lines.append(PaidLine(line.code, tuple(line.modifiers), line.charge, paid, line.units,
                                      line.service_date, (("CO", "45", line.charge - paid),)))
        number = version.patient_control_number
    return remittance_text([PaidClaim(number, "4" if deny_line is None else "1", f"PCN-{number}", lines)],
                           trace_number=trace, payer_identifier="1512345678", payer_name="MEDICARE",
                           payee_name="HARBOR PT", payee_npi="1234567893", paid_on=dt.date(2026, 4, 1))


def denied(engine: Engine, org: Org, number: str, *, carc: str = "197") -> tuple[int, int]:
    """A submitted claim denied by a posted 835: (claim id, its denial task's id)."""
    (claim_id,) = submitted(engine, org, number)
    text = denial_835(engine, org, claim_id, trace=f"T-{number}", carc=carc)
    with session_factory(engine)() as session:
        post_remittance(session, org.id, text, user_id=org.user_id(Role.BILLER))
        session.commit()
        task = session.scalars(Tenant(session, org.id).select(m.DenialTask, m.DenialTask.claim_id == claim_id)).one()
        return claim_id, task.id
