"""Every test runs against the bundled data only: imported CMS files or payer profiles in the developer's own data
directory must not change what a test sees; and no test reads or writes the developer's cache (a Spark session
started by a test makes its class-data archive in a temporary folder)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests assert behaviour, never speed: hypothesis's default 200 ms deadline per example is a timing assertion
# that fails on a loaded two-core machine (it did, in test_claim_calendar). Benchmarks live in bench/.
settings.register_profile("cleanclaim", deadline=None)
settings.load_profile("cleanclaim")


ISOLATED = ("CLEANCLAIM_DATA_DIR", "CLEANCLAIM_CACHE_DIR", "CLEANCLAIM_PAYERS_DIR")


@pytest.fixture(scope="session", autouse=True)
def _isolated_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The same folders for module- and class-scoped fixtures (a module's Spark session, whose JVM records its class
    archive in the cache folder), which pytest sets up before any per-test fixture: a session-scoped autouse
    fixture comes before them all."""
    saved = {name: os.environ.get(name) for name in ISOLATED}
    os.environ["CLEANCLAIM_DATA_DIR"] = str(tmp_path_factory.mktemp("cleanclaim-session-data"))
    os.environ["CLEANCLAIM_CACHE_DIR"] = str(tmp_path_factory.mktemp("cleanclaim-session-cache"))
    os.environ.pop("CLEANCLAIM_PAYERS_DIR", None)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path_factory.mktemp("cleanclaim-data")
    monkeypatch.setenv("CLEANCLAIM_DATA_DIR", str(folder))
    monkeypatch.delenv("CLEANCLAIM_PAYERS_DIR", raising=False)
    monkeypatch.setenv("CLEANCLAIM_CACHE_DIR", str(tmp_path_factory.mktemp("cleanclaim-cache")))
    return folder
