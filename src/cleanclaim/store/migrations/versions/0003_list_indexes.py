"""What the claim list needs to answer in milliseconds at 100,000 claims: when each version entered its state, and
indexes for the list's order, its rule filter and each claim's latest scrub (store.queries, bench/claim_list.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 12:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_LIST_INDEXES: dict[str, list[str]] = {
    "ix_claim_versions_list_changed": ["organisation_id", "is_current", "state_changed_at", "id"],
    "ix_claim_versions_list_state": ["organisation_id", "is_current", "state", "state_changed_at", "id"],
    "ix_claim_versions_list_charge": ["organisation_id", "is_current", "total_charge", "id"],
    "ix_claim_versions_list_pcn": ["organisation_id", "is_current", "patient_control_number", "id"],
}


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: SQLite's batch mode would rebuild claim_versions, and dropping the old
    # table under foreign keys would cascade into claim_lines. SQLite adds a NOT NULL column only with a default,
    # so it gets a placeholder that the UPDATE below replaces on every existing row (new rows get the time of the
    # insert from the model). An existing row's best answer is its creation; its later moves are in the audit trail.
    if op.get_bind().dialect.name == "sqlite":
        op.add_column("claim_versions", sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=False,
                                                  server_default=sa.text("'1970-01-01 00:00:00.000000'")))
        op.execute("UPDATE claim_versions SET state_changed_at = created_at")
    else:
        op.add_column("claim_versions", sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True))
        op.execute("UPDATE claim_versions SET state_changed_at = created_at")
        op.alter_column("claim_versions", "state_changed_at", nullable=False)
    for name, columns in _LIST_INDEXES.items():
        op.create_index(name, "claim_versions", columns, unique=False)
    op.create_index("ix_scrub_runs_claim_version_id_id", "scrub_runs", ["claim_version_id", "id"], unique=False)
    op.create_index("ix_findings_organisation_id_rule", "findings", ["organisation_id", "rule", "scrub_run_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_findings_organisation_id_rule", table_name="findings")
    op.drop_index("ix_scrub_runs_claim_version_id_id", table_name="scrub_runs")
    for name in reversed(_LIST_INDEXES):
        op.drop_index(name, table_name="claim_versions")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite >= 3.35 drops a column in place; Alembic's batch mode would rebuild the table instead (see upgrade)
        op.execute("ALTER TABLE claim_versions DROP COLUMN state_changed_at")
    else:
        op.drop_column("claim_versions", "state_changed_at")
