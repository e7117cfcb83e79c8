"""Submitting ready claims: one 837P file per batch, written by the engine's writer, with control numbers no two
batches of the organisation share.

The interchange control number (ISA13, also used as GS06) comes from the organisation's submission settings row,
advanced by one ``UPDATE … RETURNING`` before anything else in the transaction: on PostgreSQL the row lock makes a
second submission wait for the first; on SQLite the write lock does. The unique key (organisation, ISA13) on
``submission_batches`` is the backstop. A claim the writer refuses refuses the batch: nothing is written and the
counter is not advanced (it is the same savepoint).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from cleanclaim.errors import CleanclaimError, InputError
from cleanclaim.formats.x12_837p import ClaimFileError, Submitter, write_837p
from cleanclaim.lifecycle import WORKS_CLAIMS, Action, ClaimState, TransitionError, transition
from cleanclaim.store import models as m
from cleanclaim.store.audit import snapshot
from cleanclaim.store.claims import (
    Actor,
    _billed_encounter,
    _keys,
    _load_current,
    _load_lines,
    _require,
    _whole,
)
from cleanclaim.store.tenant import Tenant
from cleanclaim.store.types import utcnow

__all__ = ["SubmissionSettingsInput", "save_submission_settings", "submission_settings", "submit_claims"]

_ST02 = re.compile(r"(?:^|~)\s*ST\*837\*([0-9]{4,9})\*")


@dataclass(frozen=True)
class SubmissionSettingsInput:
    """The envelope of the organisation's 837P files (what its clearinghouse assigned)."""

    sender_id: str
    receiver_id: str
    receiver_name: str
    submitter_name: str
    submitter_contact: str
    submitter_phone: str | None = None
    submitter_email: str | None = None
    production: bool = False


def submission_settings(tenant: Tenant) -> m.SubmissionSettings | None:
    """The organisation's 837P envelope, or None while an admin has not set it (no batch can be submitted then)."""
    return tenant.session.scalars(tenant.select(m.SubmissionSettings)).one_or_none()


TEXT_FIELDS: tuple[str, ...] = ("sender_id", "receiver_id", "receiver_name", "submitter_name", "submitter_contact",
                                "submitter_phone", "submitter_email")
"""The envelope's text fields (the page's and the API's too)."""


def save_submission_settings(tenant: Tenant, actor: Actor, given: SubmissionSettingsInput) -> m.SubmissionSettings:
    """Set the organisation's 837P envelope (admin only); the control number counter is kept."""
    from cleanclaim.lifecycle import Role

    _require(actor, {Role.ADMIN}, "change the submission settings")
    for name in ("sender_id", "receiver_id", "receiver_name", "submitter_name", "submitter_contact"):
        if not getattr(given, name).strip():
            raise InputError("is required for the 837P envelope", field=name)
    if not (given.submitter_phone or given.submitter_email):
        raise InputError("the 1000A submitter contact needs a phone or an email", field="submitter_phone")
    # a value longer than its column (PostgreSQL refuses it, SQLite would keep it) or one the 837P writer would
    # refuse at every submission is refused now, whoever saves it (the page and the API show every field's at once)
    from cleanclaim.store.envelope import too_long, unwritable

    values = {name: getattr(given, name) for name in TEXT_FIELDS}
    for name, message in {**too_long(values), **unwritable(given)}.items():
        raise InputError(message, field=name)
    settings = submission_settings(tenant)
    with _whole(tenant.session):
        before = snapshot(settings) if settings is not None else None
        if settings is None:
            settings = tenant.add(m.SubmissionSettings(next_control_number=1))
        settings.sender_id, settings.receiver_id = given.sender_id.strip(), given.receiver_id.strip()
        settings.receiver_name, settings.submitter_name = given.receiver_name.strip(), given.submitter_name.strip()
        settings.submitter_contact = given.submitter_contact.strip()
        settings.submitter_phone, settings.submitter_email = given.submitter_phone, given.submitter_email
        settings.usage = "P" if given.production else "T"
        tenant.session.flush()
        tenant.session.add(m.AuditEvent(organisation_id=tenant.organisation_id, user_id=actor.id,
                                        entity="submission_settings", entity_id=str(settings.id),
                                        action="save", before=before, after=snapshot(settings)))
    return settings


def _allocate_control_number(tenant: Tenant) -> tuple[int, m.SubmissionSettings]:
    session = tenant.session
    allocated = session.execute(
        update(m.SubmissionSettings).where(m.SubmissionSettings.organisation_id == tenant.organisation_id)
        .values(next_control_number=m.SubmissionSettings.next_control_number + 1)
        .returning(m.SubmissionSettings.next_control_number)
        .execution_options(synchronize_session=False)).scalar_one_or_none()
    if allocated is None:
        raise CleanclaimError("the organisation has no submission settings (sender, receiver, submitter): an admin "
                              "sets them before claims can be submitted")
    settings = session.scalars(select(m.SubmissionSettings).where(
        m.SubmissionSettings.organisation_id == tenant.organisation_id)).one()
    session.refresh(settings)
    return allocated - 1, settings


def submit_claims(tenant: Tenant, actor: Actor, claim_ids: Sequence[int], *,
                  now: dt.datetime | None = None) -> m.SubmissionBatch:
    """Submit ready claims as one batch: its 837P is written by the engine's writer, each claim version is linked
    to the batch and becomes submitted. Any claim that is not ready, or that the writer refuses (a missing member
    id, charge, address…), refuses the whole batch and the message names it and what is missing."""
    _require(actor, WORKS_CLAIMS, "submit claims")
    if not claim_ids:
        raise InputError("choose at least one ready claim to submit", field="claims")
    session = tenant.session
    with _whole(session):
        number, settings = _allocate_control_number(tenant)  # first: the write lock before any read (see above)
        loaded = _load_current(tenant, claim_ids)
        refused = []
        for row in loaded:
            try:
                transition(row.state, Action.SUBMIT, role=actor.role)
            except TransitionError as error:
                refused.append(f"claim {row.claim_id}: {error}")
        if refused:
            raise TransitionError(f"{len(refused)} claim(s) cannot be submitted, none was: {'; '.join(refused[:5])}")
        lines = _load_lines(tenant, [row.version_id for row in loaded])
        keys = _keys(loaded)
        encounters = [_billed_encounter(row.data, lines[row.version_id], version=row.version,
                                        frequency_code=row.frequency_code,
                                        original_reference=row.original_reference, key=key)
                      for row, key in zip(loaded, keys, strict=True)]
        claim_of_key = {key: row.claim_id for key, row in zip(keys, loaded, strict=True)}
        try:
            text = write_837p(
                encounters, sender_id=settings.sender_id, receiver_id=settings.receiver_id,
                receiver_name=settings.receiver_name,
                submitter=Submitter(settings.submitter_name, settings.submitter_contact,
                                    phone=settings.submitter_phone, email=settings.submitter_email),
                interchange_control_number=number, group_control_number=number,
                usage="P" if settings.usage == "P" else "T", now=now)
        except ClaimFileError as error:
            named = [f"claim {claim_of_key[key]} ({key})" if key in claim_of_key else key
                     for key in error.problems]
            details = "; ".join(f"{name}: {', '.join(fields)}"
                                for name, fields in zip(named, error.problems.values(), strict=True))
            raise InputError(f"{len(error.problems)} claim(s) cannot be written as an 837P, nothing was submitted: "
                             f"{details}") from error
        st02 = _ST02.search(text)
        batch = tenant.add(m.SubmissionBatch(x12=text, isa13=f"{number:09d}", gs06=str(number),
                                             st02=st02.group(1) if st02 else "", created_by_id=actor.id))
        session.flush()
        version_ids = [row.version_id for row in loaded]
        session.execute(insert(m.SubmissionClaim), [
            {"organisation_id": tenant.organisation_id, "batch_id": batch.id, "claim_version_id": version_id}
            for version_id in version_ids])
        session.execute(update(m.ClaimVersion).where(m.ClaimVersion.id.in_(version_ids))
                        .values(state=ClaimState.SUBMITTED.value, state_changed_at=utcnow())
                        .execution_options(synchronize_session="fetch"))
        at = utcnow()
        session.execute(insert(m.AuditEvent), [
            {"organisation_id": tenant.organisation_id, "user_id": actor.id, "at": at, "entity": "claim_version",
             "entity_id": str(row.version_id), "action": "submit", "before": {"state": row.state},
             "after": {"state": ClaimState.SUBMITTED.value, "batch_id": batch.id, "isa13": batch.isa13}}
            for row in loaded])
        session.add(m.AuditEvent(organisation_id=tenant.organisation_id, user_id=actor.id, at=at,
                                 entity="submission_batch", entity_id=str(batch.id), action="create",
                                 after={"isa13": batch.isa13, "gs06": batch.gs06, "st02": batch.st02,
                                        "claims": [row.claim_id for row in loaded]}))
        session.flush()
    return batch
