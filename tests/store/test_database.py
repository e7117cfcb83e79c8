"""Where the store lives and how it is opened: the default SQLite file, the environment's URL, SQLite's settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from cleanclaim.store.database import ENV_VAR, database_url, make_engine, normalise_url
from cleanclaim.store.passwords import hash_password, needs_rehash, verify_password


def test_default_is_a_sqlite_file_in_the_data_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("CLEANCLAIM_DATA_DIR", str(tmp_path))
    url = database_url()
    assert url.get_backend_name() == "sqlite"
    assert url.database == str(tmp_path / "cleanclaim.db")


def test_the_environment_chooses_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "postgresql://billing@db.internal:5433/cleanclaim")
    url = database_url()
    assert url.drivername == "postgresql+psycopg"  # the driver we ship, not SQLAlchemy's psycopg2 default
    assert (url.host, url.port, url.database, url.username) == ("db.internal", 5433, "cleanclaim", "billing")
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"


def test_sqlite_has_foreign_keys_and_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'store.db'}")  # the folder is created
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        engine.dispose()
    assert (tmp_path / "nested" / "store.db").exists()


def test_passwords_are_argon2_and_verified() -> None:
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert hash_password("correct horse battery staple") != stored  # salted
    assert verify_password(stored, "correct horse battery staple")
    assert not verify_password(stored, "correct horse battery stapler")
    assert not verify_password("not a hash", "anything")
    assert not needs_rehash(stored)
