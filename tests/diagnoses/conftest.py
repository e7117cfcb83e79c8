"""Every diagnosis test runs against an empty, private data directory, never the user's imported releases."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cleanclaim-data"
    monkeypatch.setenv("CLEANCLAIM_DATA_DIR", str(folder))
    return folder


def order_line(order: int, code: str, billable: bool, short: str, long: str) -> str:
    """One row in the CMS order-file layout: order(5) blank code(7) blank flag(1) blank short(60) blank long."""
    return f"{order:05d} {code:<7} {int(billable)} {short:<60} {long}"
