"""Which database the workspace uses, how to connect to it, and how to bring its schema to the current version.

A SQLite file in the data directory by default, so ``cleanclaim serve`` works on a laptop with nothing installed;
PostgreSQL (or another SQLAlchemy URL) when ``CLEANCLAIM_DATABASE_URL`` says so, for an office with several users.
Alembic is configured here in code, with the migrations shipped inside the package: no ``alembic.ini`` to find at
run time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from cleanclaim.paths import data_dir

ENV_VAR = "CLEANCLAIM_DATABASE_URL"
SQLITE_FILE_NAME = "cleanclaim.db"
MIGRATIONS = Path(__file__).parent / "migrations"


def database_url() -> URL:
    """``$CLEANCLAIM_DATABASE_URL``, else ``sqlite:///<data dir>/cleanclaim.db``."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return normalise_url(explicit)
    return make_url(f"sqlite:///{data_dir() / SQLITE_FILE_NAME}")


def normalise_url(url: str | URL) -> URL:
    """A ``postgresql://`` URL means psycopg 3 here: it is the driver we ship (SQLAlchemy's default is psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.database.startswith("file:"):
        return None
    return Path(url.database)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """SQLite leaves foreign keys off by default; WAL lets the web pages read while a batch job writes."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA busy_timeout = 10000")
    finally:
        cursor.close()


def make_engine(url: str | URL | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: :func:`database_url`), with SQLite set up as the store needs it."""
    parsed = database_url() if url is None else normalise_url(url)
    sqlite_file = _sqlite_file(parsed)
    if sqlite_file is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit, so a page can render what it just saved."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    """Alembic's configuration, built in code; ``env.py`` takes the connection from ``attributes``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def _run(engine: Engine, action: str, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def migrate(url: str | URL | Engine | None = None, revision: str = "head") -> None:
    """Upgrade an empty or older database to ``revision`` (default the newest); a no-op when it is there already."""
    engine = url if isinstance(url, Engine) else make_engine(url)
    try:
        _run(engine, "upgrade", revision)
    finally:
        if not isinstance(url, Engine):
            engine.dispose()


def downgrade(url: str | URL | Engine, revision: str = "base") -> None:
    """Take the schema back to ``revision`` (default: empty). For tests and for undoing a failed deploy."""
    engine = url if isinstance(url, Engine) else make_engine(url)
    try:
        _run(engine, "downgrade", revision)
    finally:
        if not isinstance(url, Engine):
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        value = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        return None if value is None else str(value)
