"""The claim list's rule filter, provider/payer filters and claim-number search at 100,000 claims: each version points
at its latest scrub run, encounters get (organisation, provider or payer, date of service) indexes, and on PostgreSQL
the patient control number gets a trigram index (store.queries, bench/claim_list.py).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 10:00:00

"Claims whose latest scrub has rule X" was a correlated ``max(scrub_runs.id)`` per finding of X, which PostgreSQL
estimated at 58 rows for 8,700 (and then spent 70 ms JIT-compiling the plan): 270 ms a request. With the pointer it
is one semi-join. The pointer is filled here for every existing version from its runs.

The trigram index needs the ``pg_trgm`` extension. It ships with PostgreSQL's contrib and is a trusted extension
(a database owner may install it), but a managed server can still refuse it: then this migration goes on without
the index, says so in a warning, and the claim-number search stays correct but scans the versions (about 70 ms
at 100,000 claims on a quiet 2-core machine). No plain index is made in its place: a B-tree cannot answer "contains",
only "starts with". Downgrade drops the index but leaves the extension installed (another schema in the same
database may use it).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# a provider's or payer's claims, alone or within dates of service: one index range instead of reading each encounter
# of the dates to test its provider (SQLite) or hashing every claim (PostgreSQL)
_ENCOUNTER_INDEXES: dict[str, list[str]] = {
    "ix_encounters_list_provider": ["organisation_id", "provider_id", "date_of_service"],
    "ix_encounters_list_payer": ["organisation_id", "payer_id", "date_of_service"],
}
_TRIGRAM_INDEX = "ix_claim_versions_pcn_trgm"  # store.models.PCN_TRIGRAM_INDEX, written out: migrations are frozen


def _trigram_index() -> None:
    bind = op.get_bind()
    try:
        with bind.begin_nested():  # a refused CREATE EXTENSION must not abort the migration's transaction
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig is not None else type(error).__name__
        warnings.warn(f"migration 0005: the pg_trgm extension could not be installed ({reason}); the claim list's "
                      "claim-number search works without its index but reads every claim version. Ask the "
                      "database's administrator to run CREATE EXTENSION pg_trgm, then run "
                      f"CREATE INDEX {_TRIGRAM_INDEX} ON claim_versions USING gin "
                      "(patient_control_number gin_trgm_ops)", stacklevel=1)
        return
    op.create_index(_TRIGRAM_INDEX, "claim_versions", ["patient_control_number"], unique=False,
                    postgresql_using="gin", postgresql_ops={"patient_control_number": "gin_trgm_ops"})


def upgrade() -> None:
    op.add_column("claim_versions", sa.Column("latest_scrub_run_id", sa.Integer(), nullable=True))
    op.execute("UPDATE claim_versions SET latest_scrub_run_id = (SELECT max(scrub_runs.id) FROM scrub_runs "
               "WHERE scrub_runs.claim_version_id = claim_versions.id) "
               "WHERE EXISTS (SELECT 1 FROM scrub_runs WHERE scrub_runs.claim_version_id = claim_versions.id)")
    op.create_index(op.f("ix_claim_versions_latest_scrub_run_id"), "claim_versions", ["latest_scrub_run_id"],
                    unique=False)
    for name, columns in _ENCOUNTER_INDEXES.items():
        op.create_index(name, "encounters", columns, unique=False)
    if op.get_bind().dialect.name == "postgresql":
        _trigram_index()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {_TRIGRAM_INDEX}")
    for name in reversed(_ENCOUNTER_INDEXES):
        op.drop_index(name, table_name="encounters")
    op.drop_index(op.f("ix_claim_versions_latest_scrub_run_id"), table_name="claim_versions")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite >= 3.35 drops a column in place; batch mode would rebuild the table (see migration 0003)
        op.execute("ALTER TABLE claim_versions DROP COLUMN latest_scrub_run_id")
    else:
        op.drop_column("claim_versions", "latest_scrub_run_id")
