"""Drop the indexes a batch scrub writes for nothing: each is the leading column of another index of its table.

A scrub of 10,000 claims updates 10,000 claim versions (state, when, latest run) and adds 10,000 runs, about as many
findings and 10,000 audit events; PostgreSQL writes an entry into every index of a table for each such row (the
update changes indexed columns, so it cannot skip them). Every query of the store that filters on these columns
also filters on the columns another index starts with: ``claim_versions.organisation_id`` (the list indexes),
``claim_versions.claim_id`` ((claim_id, version) and the current version per claim), ``claim_versions.state``
(always with the organisation and is_current: ``ix_claim_versions_list_state``), ``scrub_runs.claim_version_id``
((claim_version_id, id)), ``findings.organisation_id`` ((organisation_id, rule, scrub_run_id)) and
``audit_events.organisation_id`` ((organisation_id, entity, entity_id)). The claim list's plans do not change.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 15:00:00

``test_models_match_head`` holds this and the models together.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DROPPED: dict[str, tuple[str, str]] = {
    "ix_claim_versions_organisation_id": ("claim_versions", "organisation_id"),
    "ix_claim_versions_claim_id": ("claim_versions", "claim_id"),
    "ix_claim_versions_state": ("claim_versions", "state"),
    "ix_scrub_runs_claim_version_id": ("scrub_runs", "claim_version_id"),
    "ix_findings_organisation_id": ("findings", "organisation_id"),
    "ix_audit_events_organisation_id": ("audit_events", "organisation_id"),
}


def upgrade() -> None:
    # plain DROP INDEX on both databases (no batch mode: SQLite drops an index without rebuilding the table)
    for name, (table, _) in _DROPPED.items():
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, (table, column) in reversed(_DROPPED.items()):
        op.create_index(name, table, [column], unique=False)
