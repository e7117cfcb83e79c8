"""The NCCI rule cases read synthetic edits the way a user's imported CMS tables are read.

tests/rules/cases/ncci/ptp.csv and mue.csv hold SYNTHETIC rows (clearly not CMS data): the bundled subset has no
indicator-0 or indicator-9 pair, no deleted edit and no known MAI, so those paths need fixture rows. Once per session
:func:`ncci_data_dir` writes the rows out in the layouts CMS publishes (practitioner PTP ``ccipra-v*.TXT`` and
``MCR_MUE_PractitionerServices_Eff_*.csv`` with their notice rows, zipped; builders in tests/refdata/cms_layouts.py)
and imports them with :func:`cleanclaim.refdata.import_files`, the code ``cleanclaim data import`` runs, into a
session data directory. While an NCCI case runs, ``CLEANCLAIM_DATA_DIR`` points there, so the rules read the edits
through ``refdata.ptp_edits`` / ``mue_values`` with the imported file, quarter and rationale as their source.

An import replaces the bundled subset for the quarters it covers (src/cleanclaim/refdata/lookups.py), so the synthetic
tables cover 2026Q2 and 2026Q3 only: cases dated in those quarters read the synthetic edits, cases dated elsewhere
(2026-03-02 by default) still read the bundled subset.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from cleanclaim.refdata import import_files
from tests.refdata.cms_layouts import mue_csv, mue_row, ptp_txt, zip_of

FIXTURES = Path(__file__).parent / "cases" / "ncci"
NCCI_SLUGS = {"ncci-ptp-conflict", "ncci-ptp-modifier-not-allowed", "mue-exceeded"}


def fixture_rows(name: str) -> list[dict[str, str]]:
    """The rows of a fixture CSV in tests/rules/cases/ncci (``#`` comment lines skipped)."""
    lines = [line for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines))


def _members(rows: list[dict[str, str]], cells: list[str]) -> dict[str, dict[str, list[tuple[str, ...]]]]:
    """zip name -> file name -> the rows' cells in file order."""
    members: dict[str, dict[str, list[tuple[str, ...]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        members[row["zip"]][row["file"]].append(tuple(row[c] for c in cells))
    return members


def write_synthetic_cms_files(folder: Path) -> list[Path]:
    """The fixture rows as CMS-layout zips: one per PTP quarter (a .TXT per file) and one for the MUE table."""
    paths = []
    ptp = _members(fixture_rows("ptp.csv"),
                   ["column1", "column2", "prior_1996", "effective", "deletion", "modifier", "rationale"])
    for zip_name, files in ptp.items():
        paths.append(zip_of(folder / zip_name, {file: ptp_txt(*rows) for file, rows in files.items()}))
    mue = _members(fixture_rows("mue.csv"), ["code", "mue", "mai", "rationale"])
    for zip_name, files in mue.items():
        paths.append(zip_of(folder / zip_name, {file: mue_csv(*(mue_row(*row) for row in rows))
                                                for file, rows in files.items()}))
    return paths


@pytest.fixture(scope="session")
def ncci_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the synthetic PTP and MUE tables, imported once per session."""
    root = tmp_path_factory.mktemp("ncci-synthetic")
    downloads = root / "downloads"
    downloads.mkdir()
    data = root / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLEANCLAIM_DATA_DIR", str(data))
        import_files(write_synthetic_cms_files(downloads))
    return data


@pytest.fixture(autouse=True)
def _ncci_imported_edits(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                         _isolated_data_dir: Path) -> None:
    # Depends on tests/conftest.py's isolation so this setting is applied after it, not overwritten by it.
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("slug") in NCCI_SLUGS:
        monkeypatch.setenv("CLEANCLAIM_DATA_DIR", str(request.getfixturevalue("ncci_data_dir")))
