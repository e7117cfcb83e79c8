"""The demo workspace `cleanclaim serve` starts with: an organisation whose claims are spread over the lifecycle and
the last 120 days, made by the same services a user's clicks call (import, code, scrub, ready, submit) and an 835
posted through `store.posting`, so its denials and denial tasks are real. A second organisation shows isolation.
Both have the demo charge master (`demo_data/charge-master.csv`), so lines coded in their pages get charges.

Passwords are generated here with `secrets` and returned once (``serve`` prints them); none is in the code. The
loader refuses a database that already has an organisation: demo data never mixes with real data.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cleanclaim.errors import CleanclaimError
from cleanclaim.formats.encounters import load_encounters
from cleanclaim.lifecycle import ClaimState, Role
from cleanclaim.model import Encounter, PlanOfCare
from cleanclaim.store import models as m
from cleanclaim.store.charges import replace_charge_master
from cleanclaim.store.claims import (
    Actor,
    code_claim,
    current_version,
    import_encounters,
    mark_ready,
    scrub_claims,
)
from cleanclaim.store.passwords import hash_password
from cleanclaim.store.posting import post_remittance
from cleanclaim.store.remittance_file import PaidClaim, PaidLine, remittance_text
from cleanclaim.store.submissions import SubmissionSettingsInput, save_submission_settings, submit_claims
from cleanclaim.store.tenant import Tenant

__all__ = ["DEMO_DOMAIN", "DEMO_ORGANISATION", "SECOND_ORGANISATION", "DemoCredentials", "load_demo"]

DEMO_ORGANISATION = "Demo Rehab & Coaching"
DEMO_DOMAIN = "demo.cleanclaim.test"
SECOND_ORGANISATION = "Second Practice"
EXAMPLES = Path(__file__).parent / "demo_data"
"""The examples/ encounters and charge master, shipped in the package (an installed wheel has no examples/)."""
# denial reasons the demo's payer gives (CARC): 50 not medically necessary, 197 no precertification, 16 missing info
DENIAL_REASONS = ("50", "197", "16")


@dataclass(frozen=True)
class DemoCredentials:
    """Email -> generated password of each demo user (shown once, at the first start)."""

    organisation: str
    passwords: dict[str, str]


def _users(session: Session, organisation: m.Organisation, domain: str) -> tuple[dict[str, str], dict[Role, m.User]]:
    passwords: dict[str, str] = {}
    users: dict[Role, m.User] = {}
    for role in Role:
        email = f"{role.value}@{domain}"
        password = secrets.token_urlsafe(18)  # 24 characters, 144 bits
        users[role] = m.User(organisation_id=organisation.id, email=email, password_hash=hash_password(password),
                             role=role.value)
        passwords[email] = password
    session.add_all(users.values())
    session.flush()
    return passwords, users


def _example_encounters() -> list[Encounter]:
    return [e for path in sorted(EXAMPLES.glob("*.yaml")) for e in load_encounters(path).encounters]


def _variant(template: Encounter, number: int, when: dt.date, rng: random.Random) -> Encounter:
    """A synthetic visit made from an example: its own id, claim id, patient and date; no history (its dates
    belong to the example's visit)."""
    patient = template.patient.model_copy(update={"id": f"DP-{rng.randint(1, 60):03d}"})
    data: dict[str, Any] = {"id": f"DEMO-{number:04d}", "claim_id": f"DC-{number:05d}", "date": when,
                            "patient": patient, "history": [], "lines": [],
                            "plan_of_care": None if template.plan_of_care is None else PlanOfCare(
                                start=when - dt.timedelta(days=14),
                                certified_through=when + dt.timedelta(days=60))}
    return template.model_copy(update=data)


def _organisation(session: Session, name: str) -> m.Organisation:
    organisation = m.Organisation(name=name)
    session.add(organisation)
    session.flush()
    return organisation


def _settings(tenant: Tenant, admin: Actor, sender: str) -> None:
    save_submission_settings(tenant, admin, SubmissionSettingsInput(
        sender_id=sender, receiver_id="CLEARHOUSE", receiver_name="Example Clearinghouse",
        submitter_name=f"{sender} Billing", submitter_contact="Demo Biller", submitter_phone="2175550100"))


def load_demo(factory: sessionmaker[Session], *, seed: int = 2026, claims: int = 200,
              today: dt.date | None = None) -> DemoCredentials:
    """Fill an EMPTY database with the demo organisations; refuses one that has any organisation."""
    today = today or dt.date.today()
    rng = random.Random(seed)
    charges = (EXAMPLES / "charge-master.csv").read_bytes()
    templates = [e for e in _example_encounters() if e.services and not e.lines]
    with factory() as session:
        if session.scalar(select(func.count()).select_from(m.Organisation)):
            raise CleanclaimError("the database already has organisations; demo data is only loaded into an empty one")
        organisation = _organisation(session, DEMO_ORGANISATION)
        passwords, users = _users(session, organisation, DEMO_DOMAIN)
        tenant = Tenant(session, organisation.id)
        admin, biller = Actor.of(users[Role.ADMIN]), Actor.of(users[Role.BILLER])
        _settings(tenant, admin, "DEMOREHAB")
        replace_charge_master(tenant, admin, charges, source="charge-master.csv")
        examples = import_encounters(tenant, biller, _example_encounters())
        variants = [_variant(templates[n % len(templates)], n, today - dt.timedelta(days=rng.randint(0, 120)), rng)
                    for n in range(claims)]
        imported = import_encounters(tenant, biller, variants)
        for item in [*examples, *imported]:
            if item.state == ClaimState.DRAFT:
                code_claim(tenant, biller, item.claim_id)
        ids = [item.claim_id for item in imported]
        # about a tenth stay coded (not yet scrubbed); the rest are scrubbed against today
        coded_only = set(rng.sample(ids, k=len(ids) // 10))
        outcome = scrub_claims(tenant, biller, [i for i in ids if i not in coded_only])
        clean = [claim_id for claim_id, counts in outcome.counts.items() if counts["error"] == 0]
        ready = clean[: len(clean) * 9 // 10]
        for claim_id in ready:
            mark_ready(tenant, biller, claim_id)
        to_submit = ready[: len(ready) * 8 // 10]
        submitted: list[int] = []
        for start in range(0, len(to_submit), 40):
            chunk = to_submit[start:start + 40]
            submit_claims(tenant, biller, chunk)
            submitted += chunk
        session.commit()
        _post_answers(session, tenant, biller, submitted[: len(submitted) * 3 // 4], rng, today)
        session.commit()

    with factory() as session:
        second = _organisation(session, SECOND_ORGANISATION)
        more, second_users = _users(session, second, "second.cleanclaim.test")
        passwords.update(more)
        tenant = Tenant(session, second.id)
        second_admin = Actor.of(second_users[Role.ADMIN])
        _settings(tenant, second_admin, "SECONDPT")
        replace_charge_master(tenant, second_admin, charges, source="charge-master.csv")
        second_biller = Actor.of(second_users[Role.BILLER])
        few = [_variant(templates[n % len(templates)], 9000 + n, today - dt.timedelta(days=rng.randint(0, 30)), rng)
               for n in range(5)]
        for item in import_encounters(tenant, second_biller, few):
            code_claim(tenant, second_biller, item.claim_id)
        session.commit()
    return DemoCredentials(DEMO_ORGANISATION, passwords)


def _post_answers(session: Session, tenant: Tenant, biller: Actor, claim_ids: list[int], rng: random.Random,
                  today: dt.date) -> None:
    """The payer's 835 for most submitted claims: paid, partly paid (a line denied) or denied, with CARCs."""
    answers = []
    for claim_id in claim_ids:
        version = current_version(tenant, claim_id)
        outcome = rng.choices(("paid", "partial", "denied"), weights=(6, 2, 2))[0]
        reason = rng.choice(DENIAL_REASONS)
        lines = []
        for n, line in enumerate(version.lines):
            denied = outcome == "denied" or (outcome == "partial" and n == 0 and len(version.lines) > 1)
            if denied:
                lines.append(PaidLine(line.code, tuple(line.modifiers), line.charge, Decimal(0), line.units,
                                      line.service_date, (("CO", reason, line.charge),)))
            else:
                allowed = (line.charge * Decimal("0.8")).quantize(Decimal("0.01"))
                paid = (allowed * Decimal("0.8")).quantize(Decimal("0.01"))
                lines.append(PaidLine(line.code, tuple(line.modifiers), line.charge, paid, line.units,
                                      line.service_date, (("CO", "45", line.charge - allowed),
                                                          ("PR", "2", allowed - paid))))
        patient = sum((pl.adjustments[1][2] for pl in lines if len(pl.adjustments) > 1), Decimal(0))
        answers.append(PaidClaim(version.patient_control_number, "4" if outcome == "denied" else "1",
                                 f"26{claim_id:09d}", lines, patient))
    if not answers:
        return
    text = remittance_text(answers, trace_number=f"DEMO{today:%Y%m%d}", payer_identifier="1512345678",
                           payer_name="EXAMPLE MEDICARE CONTRACTOR", payee_name="DEMO REHAB AND COACHING",
                           payee_npi="1234567893", paid_on=today)
    posting = post_remittance(session, tenant.organisation_id, text, user_id=biller.id, file="demo.835")
    if posting.errors:
        raise CleanclaimError(f"the demo 835 did not post cleanly: {posting.errors[0]}")
