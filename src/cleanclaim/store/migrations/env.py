"""Alembic environment: runs on the connection ``store.database`` hands over; never reads an ini file or the env."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from cleanclaim.store.models import Base, declared_in_models

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: later migrations rebuild tables in batch mode there
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=declared_in_models,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through cleanclaim.store.database.migrate(), which supplies the connection")
_run(connection)
