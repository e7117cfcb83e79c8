"""Every test runs against the bundled data only: imported CMS files or payer profiles in the developer's own data
directory must not change what a test sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# Property tests assert behaviour, never speed: hypothesis's default 200 ms deadline per example is a timing assertion
# that fails on a loaded two-core machine (it did, in test_claim_calendar). Benchmarks live in bench/.
settings.register_profile("cleanclaim", deadline=None)
settings.load_profile("cleanclaim")


EXTERNAL_PROCESS_MARKS = ("spark", "browser")
"""Tests that start a JVM (Spark local[2], one session per module) or a chromium. Under ``make test`` (pytest-xdist,
``--dist loadgroup``) they form one group: one worker runs them all, so a Spark module's tests share its session
instead of each worker starting a JVM, and two of these multi-process tests never compete for the two cores."""


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the xdist_group marks to place the tests
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(mark) for mark in EXTERNAL_PROCESS_MARKS):
            item.add_marker(pytest.mark.xdist_group("external-processes"))


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path_factory.mktemp("cleanclaim-data")
    monkeypatch.setenv("CLEANCLAIM_DATA_DIR", str(folder))
    monkeypatch.delenv("CLEANCLAIM_PAYERS_DIR", raising=False)
    return folder
