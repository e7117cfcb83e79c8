"""The organisation's charge master: what the practice charges per unit of each code, which the coder puts on every
line it makes in the workspace (``store.claims.code_claim``).

A billing company keeps one per practice, and the admin owns it. It is replaced whole from a CSV
(``code,charge[,modifier]``, read by the engine's own parser, ``pricing.charge_master_rows``, so the CLI's
``--charge-master`` file and the workspace's are the same file with the same messages): a bad row is named with the
file and row and nothing is written. The audit trail records each replacement with the entries it added, changed
and removed (before and after), so what a claim was charged on a given day can be traced.

A code the charge master does not have is coded without a charge, as before; the claim page says which line and
why the 837P writer will refuse it, so the admin can add the code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from cleanclaim.errors import InputError
from cleanclaim.lifecycle import Role, TransitionError
from cleanclaim.pricing import ChargeMasterRow, charge_master_rows
from cleanclaim.store import models as m
from cleanclaim.store.audit import record
from cleanclaim.store.tenant import Tenant
from cleanclaim.store.types import utcnow
from cleanclaim.store.uploads import refuse_control_characters, upload_text

if TYPE_CHECKING:  # store.claims imports this module (coding reads the charge master)
    from cleanclaim.store.claims import Actor

__all__ = ["ChargeMasterChange", "charge_master_entries", "organisation_charge_master", "replace_charge_master"]

A_CHARGE_MASTER = "upload a CSV of code,charge[,modifier]"
MAX_UNIT_CHARGE = Decimal("9999999999.99")
"""The largest amount ``Money`` (Numeric(12, 2)) holds."""


@dataclass(frozen=True)
class ChargeMasterChange:
    """What one replacement did, by entry (``code`` or ``code-modifier``)."""

    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: int

    @property
    def entries(self) -> int:
        return len(self.added) + len(self.changed) + self.unchanged


def _label(code: str, modifier: str) -> str:
    return f"{code}-{modifier}" if modifier else code


def charge_master_entries(tenant: Tenant) -> list[m.ChargeMasterEntry]:
    """The organisation's entries, by code then modifier (the one for any modifier first)."""
    return list(tenant.session.scalars(tenant.select(m.ChargeMasterEntry).order_by(
        m.ChargeMasterEntry.code, m.ChargeMasterEntry.modifier)))


def organisation_charge_master(tenant: Tenant) -> dict[tuple[str, str], Decimal]:
    """The organisation's charge master as the mapping the coder and the pricer take: (code, modifier) -> unit
    charge (modifier '' for any)."""
    return {(entry.code, entry.modifier): entry.unit_charge for entry in charge_master_entries(tenant)}


def _checked(rows: Sequence[ChargeMasterRow], source: str) -> dict[tuple[str, str], Decimal]:
    """The rows as entries, refusing what the table cannot hold as given and a code listed twice (which charge
    would be meant is not for the workspace to guess)."""
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        if len(row.code) != 5 or not row.code.isalnum():
            raise InputError(f"code {row.code!r} is not a 5-character CPT/HCPCS code", file=source, row=row.row,
                             field="code")
        if row.modifier and (len(row.modifier) != 2 or not row.modifier.isalnum()):
            raise InputError(f"modifier {row.modifier!r} is not a 2-character modifier (leave it empty for a charge "
                             "whatever the modifiers)", file=source, row=row.row, field="modifier")
        if not row.charge.is_finite() or row.charge < 0:
            raise InputError(f"charge {row.charge} is not an amount of zero or more", file=source, row=row.row,
                             field="charge")
        if row.charge > MAX_UNIT_CHARGE or row.charge != row.charge.quantize(Decimal("0.01")):
            raise InputError(f"charge {row.charge} is not dollars and cents (at most two decimals, at most "
                             f"{MAX_UNIT_CHARGE})", file=source, row=row.row, field="charge")
        key = (row.code, row.modifier)
        if key in seen:
            raise InputError(f"{_label(*key)} is already on row {seen[key]}; give each code (and modifier) one "
                             "charge", file=source, row=row.row, field="code")
        seen[key] = row.row
    if not rows:
        raise InputError("the file has no charge rows (code,charge[,modifier]); nothing was changed", file=source)
    return {(row.code, row.modifier): row.charge.quantize(Decimal("0.01")) for row in rows}


def replace_charge_master(tenant: Tenant, actor: Actor, content: bytes | str | Sequence[ChargeMasterRow], *,
                          source: str) -> ChargeMasterChange:
    """Make ``content`` the organisation's whole charge master (entries it does not list are removed): a CSV file's
    bytes or text, or rows already read (the API's JSON entries, numbered from 1).

    Admins only. All or nothing: every row is read and checked before anything is written, and the writes run in a
    savepoint with their audit event."""
    if actor.role is not Role.ADMIN:
        raise TransitionError(f"a {actor.role.value} cannot change the charge master; that is for: admin")
    if isinstance(content, bytes):
        content = upload_text(content, source, expected=A_CHARGE_MASTER)
        refuse_control_characters(content, source, expected=A_CHARGE_MASTER)
    rows = charge_master_rows(content, source) if isinstance(content, str) else list(content)
    wanted = _checked(rows, source)
    session = tenant.session
    existing = {(entry.code, entry.modifier): entry for entry in charge_master_entries(tenant)}
    added = [key for key in wanted if key not in existing]
    changed = [key for key in wanted if key in existing and existing[key].unit_charge != wanted[key]]
    removed = [key for key in existing if key not in wanted]
    before = {_label(*key): str(existing[key].unit_charge) for key in [*changed, *removed]}
    with session.begin_nested():
        now = utcnow()
        for key in removed:
            session.delete(existing[key])
        for key in changed:
            entry = existing[key]
            entry.unit_charge, entry.updated_by_id, entry.updated_at = wanted[key], actor.id, now
        for code, modifier in added:
            tenant.add(m.ChargeMasterEntry(code=code, modifier=modifier, unit_charge=wanted[(code, modifier)],
                                           updated_by_id=actor.id, updated_at=now))
        session.flush()
        change = ChargeMasterChange([_label(*k) for k in added], [_label(*k) for k in changed],
                                    [_label(*k) for k in removed], len(wanted) - len(added) - len(changed))
        record(session, organisation_id=tenant.organisation_id, user_id=actor.id, entity="charge_master",
               entity_id=tenant.organisation_id, action="replace",
               before=before,
               after={"source": source, "entries": change.entries,
                      "charges": {_label(*k): str(wanted[k]) for k in [*added, *changed]},
                      "removed": change.removed})
    return change
