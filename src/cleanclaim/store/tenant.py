"""Tenant scoping: the one way the web layer and the API reach tenant-owned rows.

Issue 12 demands that an id from another organisation is a 404, never its data. Relying on every query to add
``WHERE organisation_id = …`` would make one forgotten filter a data leak, so a session bound to an organisation
(:class:`Tenant`) filters **every** ORM select, update and delete of a tenant-owned model by that organisation,
including ``session.get`` and queries written without this module, and refuses to flush a row of another
organisation. The composite foreign keys of ``store.models`` then stop a row from pointing across organisations.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, event, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, with_loader_criteria

from cleanclaim.store.models import TenantOwned

ORGANISATION_KEY = "cleanclaim.organisation_id"

T = TypeVar("T", bound=TenantOwned)


class CrossTenantWriteError(Exception):
    """A session bound to one organisation was asked to write a row of another: a programming error, never data."""


class Tenant:
    """One organisation's view of the store, bound to a session.

    ``Tenant(session, org_id).select(Claim)`` is the filtered select; ``get(Claim, id)`` is None for an id of
    another organisation (so the caller answers 404); ``add(row)`` stamps the organisation on a new row.
    """

    def __init__(self, session: Session, organisation_id: int) -> None:
        bound = session.info.get(ORGANISATION_KEY)
        if bound is not None and bound != organisation_id:
            raise CrossTenantWriteError("this session is already bound to another organisation")
        if bound is None:
            # session.get answers from the identity map without SQL, so rows loaded before binding must be ours
            for row in session.identity_map.values():
                if (
                    isinstance(row, TenantOwned)
                    and row.__dict__.get("organisation_id", organisation_id) != organisation_id
                ):
                    raise CrossTenantWriteError("this session already holds rows of another organisation")
        session.info[ORGANISATION_KEY] = organisation_id
        self.session = session
        self.organisation_id = organisation_id

    def select(self, model: type[T], *criteria: Any) -> Select[T]:
        """``SELECT model WHERE organisation_id = mine AND criteria`` (explicit, as well as the session's guard)."""
        return select(model).where(model.organisation_id == self.organisation_id, *criteria)

    def get(self, model: type[T], id: int) -> T | None:
        """The row with this id if it is this organisation's, else None: another tenant's row does not exist here."""
        return self.session.scalars(self.select(model, model.id == id)).one_or_none()

    def add(self, row: T) -> T:
        """Add a new row as this organisation's (its ``organisation_id`` is set, or must already be ours)."""
        _stamp(row, self.organisation_id)
        self.session.add(row)
        return row


def _stamp(row: TenantOwned, organisation_id: int) -> None:
    current = row.__dict__.get("organisation_id")
    if current is None:
        row.organisation_id = organisation_id
    elif current != organisation_id:
        raise CrossTenantWriteError(f"a {type(row).__name__} of another organisation cannot be written by this session")


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    organisation_id = state.session.info.get(ORGANISATION_KEY)
    if organisation_id is None:
        return
    if (state.is_select and not state.is_column_load and not state.is_relationship_load) or (
        state.is_update or state.is_delete
    ):
        state.statement = state.statement.options(
            with_loader_criteria(
                TenantOwned,
                lambda cls: cls.organisation_id == organisation_id,
                include_aliases=True,
            )
        )


@event.listens_for(Session, "before_flush")
def _guard_flush(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    organisation_id = session.info.get(ORGANISATION_KEY)
    if organisation_id is None:
        return
    for row in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(row, TenantOwned):
            _stamp(row, organisation_id)
