from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test imports into its own directory, never the user's real data directory."""
    target = tmp_path / "cleanclaim-data"
    monkeypatch.setenv("CLEANCLAIM_DATA_DIR", str(target))
    return target
