"""A reader that stops early (``cleanclaim ... | head``) is not a crash: no "internal error" report, exit 141."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cleanclaim.cli import BROKEN_PIPE, INTERNAL_ERROR

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "arguments",
    [
        ["extrapolate", "examples/audits/results.csv", "--population", "examples/audits/sample.population.csv",
         "--json"],
        ["check", "examples/", "--as-of", "2026-04-01", "--json"],
    ],
)
def test_a_closed_pipe_is_not_an_internal_error(arguments: list[str]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", "from cleanclaim.cli import main; main()", *arguments],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader leaves before the command has written anything
    error = process.stderr.read().decode()
    status = process.wait(timeout=120)
    assert status == BROKEN_PIPE != INTERNAL_ERROR, error
    assert "internal error" not in error.lower()
    assert "Traceback" not in error
