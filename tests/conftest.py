"""Every test runs against the bundled data only: imported CMS files or payer profiles in the developer's own data
directory must not change what a test sees; and no test reads or writes the developer's cache (a Spark session
started by a test makes its class-data archive in a temporary folder)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# Property tests assert behaviour, never speed: hypothesis's default 200 ms deadline per example is a timing assertion
# that fails on a loaded two-core machine (it did, in test_claim_calendar). Benchmarks live in bench/.
settings.register_profile("cleanclaim", deadline=None)
settings.load_profile("cleanclaim")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path_factory.mktemp("cleanclaim-data")
    monkeypatch.setenv("CLEANCLAIM_DATA_DIR", str(folder))
    monkeypatch.delenv("CLEANCLAIM_PAYERS_DIR", raising=False)
    monkeypatch.setenv("CLEANCLAIM_CACHE_DIR", str(tmp_path_factory.mktemp("cleanclaim-cache")))
    return folder
