"""The payers an organisation bills: each one's electronic payer id (the clearinghouse's id in the 837P's 2010BB
and the 835), its name, and the payer profile (``payers/``: Medicare, commercial, …) whose rules fit it.

Imports add a payer the first time an encounter names its payer id; the admin owns the list afterwards: adds a
payer before its first claim, corrects a name, or chooses the profile. The electronic id may be corrected only
while no stored encounter bills the payer (a typo caught before the first claim): once one does, its encounter
record and any 837P already sent carry the old id, and the 835 answers with it, so changing the row would split the
payer's history; :func:`edit_payer` refuses (:class:`ConflictError` naming the claims) and the admin adds the new id
as a payer instead. A profile change applies to what is entered from then on; each stored encounter keeps the
profile it was entered with (its claim was coded and scrubbed by it).
"""

from __future__ import annotations

import re

from sqlalchemy import func, select

from cleanclaim.errors import InputError
from cleanclaim.lifecycle import Role, TransitionError
from cleanclaim.payers import available_profiles, profile_dirs
from cleanclaim.store import models as m
from cleanclaim.store.audit import record, snapshot
from cleanclaim.store.claims import Actor, ConflictError, NotFoundError
from cleanclaim.store.tenant import Tenant

__all__ = ["PAYER_NAME_MAX", "add_payer", "billed_encounters", "edit_payer", "organisation_payers", "payer_profiles"]

PAYER_NAME_MAX = 60
"""The 837P's payer name (2010BB NM103) holds 60 characters."""
_PAYER_ID = re.compile(r"[A-Za-z0-9]{2,80}")  # 2010BB NM109: AN 2..80; clearinghouse ids are letters and digits


def payer_profiles() -> list[str]:
    """The profiles a payer may use: the bundled ones and those installed in the data directory."""
    return sorted(available_profiles(profile_dirs()))


def organisation_payers(tenant: Tenant) -> list[m.Payer]:
    return list(tenant.session.scalars(tenant.select(m.Payer).order_by(m.Payer.name, m.Payer.payer_id)))


def billed_encounters(tenant: Tenant) -> dict[int, int]:
    """How many stored encounters bill each payer (by ``Payer.id``; a payer none bills is absent): a payer with
    none may still have its electronic id corrected."""
    rows = tenant.session.execute(
        select(m.EncounterRecord.payer_id, func.count())
        .where(m.EncounterRecord.organisation_id == tenant.organisation_id, m.EncounterRecord.payer_id.is_not(None))
        .group_by(m.EncounterRecord.payer_id))
    return {payer_id: count for payer_id, count in rows if payer_id is not None}


def _admin(actor: Actor) -> None:
    if actor.role is not Role.ADMIN:
        raise TransitionError(f"a {actor.role.value} cannot change the payers; that is for: admin")


def _name(name: str) -> str:
    clean = " ".join(name.split())
    if not clean:
        raise InputError("the payer's name is required", field="name")
    if len(clean) > PAYER_NAME_MAX:
        raise InputError(f"the payer's name has {len(clean)} characters; the 837P holds {PAYER_NAME_MAX}",
                         field="name")
    return clean


def _profile(profile_id: str) -> str:
    chosen = profile_id.strip().lower()
    known = payer_profiles()
    if chosen not in known:
        raise InputError(f"choose one of the payer profiles {', '.join(known)}", field="profile_id")
    return chosen


def _electronic_id(payer_id: str) -> str:
    electronic = payer_id.strip()
    if not _PAYER_ID.fullmatch(electronic):
        raise InputError("the electronic payer id is 2 to 80 letters and digits (as the clearinghouse lists it)",
                         field="payer_id")
    return electronic


def _new_to_organisation(tenant: Tenant, electronic: str) -> None:
    if tenant.session.scalars(tenant.select(m.Payer, m.Payer.payer_id == electronic)).first() is not None:
        raise InputError(f"payer id {electronic} is already one of this organisation's payers; edit it instead",
                         field="payer_id")


_NAMED_CLAIMS = 5
"""How many of the claims that hold a payer id a refusal names (then how many more)."""


def _unbilled(tenant: Tenant, payer: m.Payer) -> None:
    """ConflictError naming the claims whose encounters bill ``payer`` (their records carry its electronic id)."""
    billed = m.EncounterRecord.organisation_id == tenant.organisation_id, m.EncounterRecord.payer_id == payer.id
    count = tenant.session.scalar(select(func.count()).select_from(m.EncounterRecord).where(*billed)) or 0
    if not count:
        return
    numbers = list(tenant.session.scalars(
        select(m.ClaimVersion.patient_control_number)
        .join(m.Claim, m.Claim.id == m.ClaimVersion.claim_id)
        .join(m.EncounterRecord, m.EncounterRecord.id == m.Claim.encounter_id)
        .where(*billed, m.ClaimVersion.organisation_id == tenant.organisation_id, m.ClaimVersion.is_current)
        .order_by(m.ClaimVersion.patient_control_number).limit(_NAMED_CLAIMS)))
    more = f" and {count - len(numbers)} more" if count > len(numbers) else ""
    raise ConflictError(
        f"payer id {payer.payer_id} is not changed: {count} stored encounter(s) bill it (claims "
        f"{', '.join(numbers) or 'not yet made'}{more}), and their records and any 837P sent carry that id; "
        "add the new id as a payer instead")


def add_payer(tenant: Tenant, actor: Actor, *, payer_id: str, name: str, profile_id: str) -> m.Payer:
    """A new payer of the organisation; its electronic payer id must be new to the organisation."""
    _admin(actor)
    electronic = _electronic_id(payer_id)
    clean_name, profile = _name(name), _profile(profile_id)
    _new_to_organisation(tenant, electronic)
    with tenant.session.begin_nested():
        payer = tenant.add(m.Payer(payer_id=electronic, name=clean_name, profile_id=profile))
        tenant.session.flush()
        record(tenant.session, organisation_id=tenant.organisation_id, user_id=actor.id, entity="payer",
               entity_id=payer.id, action="create", after=snapshot(payer))
    return payer


def edit_payer(tenant: Tenant, actor: Actor, payer_row_id: int, *, name: str, profile_id: str,
               payer_id: str | None = None) -> m.Payer:
    """Change a payer's name and profile, and its electronic id when ``payer_id`` is given and differs: only while
    no stored encounter bills it (else ConflictError naming the claims; see the module docstring). NotFoundError
    for another organisation's payer."""
    _admin(actor)
    payer = tenant.get(m.Payer, payer_row_id)
    if payer is None:
        raise NotFoundError(f"payer {payer_row_id} not found")
    electronic = payer.payer_id if payer_id is None else _electronic_id(payer_id)
    clean_name, profile = _name(name), _profile(profile_id)
    if electronic != payer.payer_id:
        _new_to_organisation(tenant, electronic)
        _unbilled(tenant, payer)
    with tenant.session.begin_nested():
        before = snapshot(payer)
        payer.payer_id, payer.name, payer.profile_id = electronic, clean_name, profile
        tenant.session.flush()
        record(tenant.session, organisation_id=tenant.organisation_id, user_id=actor.id, entity="payer",
               entity_id=payer.id, action="edit", before=before, after=snapshot(payer))
    return payer
