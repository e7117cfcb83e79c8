"""Where cleanclaim keeps data a user imports (official CMS files, later ICD-10-CM releases).

Nothing is ever downloaded: this directory holds only what ``cleanclaim data import`` was given.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """``$CLEANCLAIM_DATA_DIR``, else ``$XDG_DATA_HOME/cleanclaim``, else ``~/.local/share/cleanclaim``."""
    explicit = os.environ.get("CLEANCLAIM_DATA_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cleanclaim"
