"""The organisation's charge master: its charge per unit of each code (and modifier), put on coded lines.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 09:30:00

Written from ``store.models.ChargeMasterEntry``; ``test_models_match_head`` holds the two together.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "charge_master_entries"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("modifier", sa.String(length=2), nullable=False),
        sa.Column("unit_charge", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("unit_charge >= 0", name=op.f(f"ck_{TABLE}_unit_charge_not_negative")),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name=op.f(f"fk_{TABLE}_organisation_id_organisations")),
        sa.ForeignKeyConstraint(["updated_by_id", "organisation_id"], ["users.id", "users.organisation_id"],
                                name=op.f(f"fk_{TABLE}_updated_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
        sa.UniqueConstraint("id", "organisation_id", name=op.f(f"uq_{TABLE}_id_organisation_id")),
        sa.UniqueConstraint("organisation_id", "code", "modifier",
                            name=op.f(f"uq_{TABLE}_organisation_id_code_modifier")),
    )
    op.create_index(op.f(f"ix_{TABLE}_organisation_id"), TABLE, ["organisation_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f(f"ix_{TABLE}_organisation_id"), table_name=TABLE)
    op.drop_table(TABLE)
