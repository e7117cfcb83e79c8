"""Writing an output file whole or not at all, with errors that name the path: shared by every export format."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from cleanclaim.errors import InputError

__all__ = ["cannot_write", "write_file"]


def cannot_write(path: Path, why: str) -> InputError:
    """The error for an output path that cannot take the file: exit 2 like unreadable input, naming the path."""
    return InputError(f"cannot write here: {why}", file=str(path))


def write_file(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` whole or not at all; any failure is an :class:`InputError` naming the path.

    A regular file is written beside the target under a temporary name and renamed over it (atomic on one file
    system), and the temporary file is removed when writing fails. A target that exists and is not a regular file
    (``/dev/stdout``, a named pipe) is written in place: renaming over it would replace the device with a file.
    """
    given, path = path, Path(os.path.realpath(path))  # a symlink's target is written, the link stays a link
    try:
        special = path.exists() and not stat.S_ISREG(path.stat().st_mode)
        if special:
            descriptor = os.open(path, os.O_WRONLY)
            try:
                _write_all(descriptor, content)
            finally:
                os.close(descriptor)
            return
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        # 0o666 and the user's umask, as for any new file; O_EXCL never reuses an existing file
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise cannot_write(given, exc.strerror or str(exc)) from exc
    try:
        try:
            _write_all(descriptor, content)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise cannot_write(given, exc.strerror or str(exc)) from exc


def _write_all(descriptor: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(descriptor, view):]
