"""Where cleanclaim keeps data a user imports (official CMS files, later ICD-10-CM releases), and its caches.

Nothing is ever downloaded: the data directory holds only what ``cleanclaim data import`` was given, the cache
directory only what cleanclaim derived from files the machine already has (deleting it loses nothing but time).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def data_dir() -> Path:
    """``$CLEANCLAIM_DATA_DIR``, else ``$XDG_DATA_HOME/cleanclaim``, else ``~/.local/share/cleanclaim``."""
    explicit = os.environ.get("CLEANCLAIM_DATA_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cleanclaim"


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$CLEANCLAIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/cleanclaim``, else ``~/.cache/cleanclaim`` (in ``environ``,
    default ``os.environ``)."""
    env = os.environ if environ is None else environ
    explicit = env.get("CLEANCLAIM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = env.get("XDG_CACHE_HOME") or str(_home(env) / ".cache")
    return Path(base) / "cleanclaim"


def cache_dir_may_be_made(environ: Mapping[str, str] | None = None) -> bool:
    """Whether `cache_dir` may be created (with its parents): a folder the user named, always; the default one only
    under a home folder that exists (a service account's home that was never made is not made by cleanclaim)."""
    env = os.environ if environ is None else environ
    return bool(env.get("CLEANCLAIM_CACHE_DIR") or env.get("XDG_CACHE_HOME")) or _home(env).is_dir()


def _home(environ: Mapping[str, str]) -> Path:
    home = environ.get("HOME")
    return Path(home) if home else Path.home()
