"""An organisation with a user of every role and a few complete encounters, made through the services themselves."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy.orm import Session

from cleanclaim.lifecycle import Role
from cleanclaim.model import Encounter
from cleanclaim.store import models as m
from cleanclaim.store.claims import Actor
from cleanclaim.store.submissions import SubmissionSettingsInput, save_submission_settings
from cleanclaim.store.tenant import Tenant
from tests.formats.x12.conftest import BASE_ENCOUNTER
from tests.store.conftest import unique


def encounter(claim_id: str, **overrides: Any) -> Encounter:
    """The complete PT encounter of the X12 tests (billed lines with charges) under a claim id of its own."""
    data = copy.deepcopy(BASE_ENCOUNTER)
    data["id"] = f"E-{claim_id}"
    data["claim_id"] = claim_id
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return Encounter.model_validate(data)


class Office:
    """A fresh organisation with an admin, a biller, a clinician and an auditor, and its submission settings."""

    def __init__(self, session: Session, *, settings: bool = True) -> None:
        self.organisation = m.Organisation(name=unique("Harbor PT"))
        session.add(self.organisation)
        session.flush()
        self.users = {role: m.User(organisation_id=self.organisation.id, email=f"{unique(role.value)}@example.test",
                                   password_hash="x", role=role.value) for role in Role}
        session.add_all(self.users.values())
        session.flush()
        self.tenant = Tenant(session, self.organisation.id)
        if settings:
            save_submission_settings(self.tenant, self.actor(Role.ADMIN), SubmissionSettingsInput(
                sender_id="HARBORPT", receiver_id="CLEARHOUSE", receiver_name="Example Clearinghouse",
                submitter_name="Harbor PT Billing", submitter_contact="Jo Biller", submitter_phone="2175550100"))
        session.commit()

    def actor(self, role: Role = Role.BILLER) -> Actor:
        return Actor.of(self.users[role])

    @property
    def biller(self) -> Actor:
        return self.actor(Role.BILLER)
