"""What the claim list needs to answer in milliseconds at 100,000 claims: when each version entered its state, and
indexes for the list's order, its rule filter and each claim's latest scrub (store.queries, bench/claim_list.py).

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-07 12:00:00

``down_revision`` is 0001 for now; the coordinator re-chains it after 0002 (h/services) when both are merged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases (SQLite's batch mode would rebuild claim_versions, and dropping the old
    # table under foreign keys would cascade into claim_lines).
    op.add_column("claim_versions", sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True))
    # the best answer for rows that existed before: the version's creation (their later moves are in the audit trail)
    op.execute("UPDATE claim_versions SET state_changed_at = created_at WHERE state_changed_at IS NULL")
    op.create_index(
        "ix_claim_versions_current_state",
        "claim_versions",
        ["organisation_id", "state", "state_changed_at"],
        unique=False,
        sqlite_where=sa.text("is_current"),
        postgresql_where=sa.text("is_current"),
    )
    op.create_index(
        "ix_claim_versions_current_changed",
        "claim_versions",
        ["organisation_id", "state_changed_at"],
        unique=False,
        sqlite_where=sa.text("is_current"),
        postgresql_where=sa.text("is_current"),
    )
    op.create_index("ix_scrub_runs_claim_version_id_id", "scrub_runs", ["claim_version_id", "id"], unique=False)
    op.create_index("ix_findings_organisation_id_rule", "findings", ["organisation_id", "rule", "scrub_run_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_findings_organisation_id_rule", table_name="findings")
    op.drop_index("ix_scrub_runs_claim_version_id_id", table_name="scrub_runs")
    op.drop_index("ix_claim_versions_current_changed", table_name="claim_versions")
    op.drop_index("ix_claim_versions_current_state", table_name="claim_versions")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite >= 3.35 drops a column in place; Alembic's batch mode would rebuild the table instead (see upgrade)
        op.execute("ALTER TABLE claim_versions DROP COLUMN state_changed_at")
    else:
        op.drop_column("claim_versions", "state_changed_at")
