"""Every claim of every valid public 837P file (tests/formats/x12/fixtures/public, see its README) is read, line for
line, and `check` judges each (exit 0 or 1, never 2). The expected claims come from a split on the file's own ISA
delimiters written here, independent of cleanclaim.formats.x12. (The full public-fixture test, 835 included, lives
in test_public_fixtures.py on the fuzz branch; this is the 837P reader's own proof.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cleanclaim.formats.x12_837p import read_837p
from cleanclaim.scrub import check

PUBLIC = Path(__file__).parent / "fixtures" / "public" / "837p"
VALID = ["lfh__demo.837", "lfh__demo.ambulance.example5.837", "lfh__demo.autoaccident.837",
         "lfh__demo.cob.example3.A.837", "lfh__demo.cob.example3.B.837", "lfh__demo.cob.example3.C.837",
         "lfh__demo.cob.example4.837", "lfh__demo.drug.example10.1.837", "lfh__demo.drug.example10.2.837",
         "lfh__demo.drug.example10.3.837", "lfh__demo.example1.837", "lfh__demo.example2.837",
         "lfh__demo.example7.837", "lfh__demo.example8.837"]


def _claims(text: str) -> list[tuple[str, int]]:
    """(CLM01, number of SV1 under it) in file order, split on the ISA's element separator and terminator."""
    element = text[text.index("ISA") + 3]
    fields = text[text.index("ISA"):].split(element)
    terminator = fields[16][1]
    claims: list[tuple[str, int]] = []
    for raw in text.split(terminator):
        parts = raw.strip().split(element)
        if parts[0] == "CLM":
            claims.append((parts[1], 0))
        elif parts[0] == "SV1" and claims:
            claims[-1] = (claims[-1][0], claims[-1][1] + 1)
    return claims


@pytest.mark.parametrize("name", VALID)
def test_every_claim_and_line_of_a_valid_public_file_is_read_and_checked(name: str) -> None:
    path = PUBLIC / name
    expected = _claims(path.read_text(encoding="latin-1"))
    assert expected, "the split found no claim"
    result = read_837p(path)
    assert result.errors == [], [str(e) for e in result.errors]
    assert [(e.claim_id, len(e.lines)) for e in result.encounters] == expected
    checked = check(path, as_of=dt.date(2026, 4, 1))
    assert checked.errors == []
    assert checked.exit_code in (0, 1)
    assert checked.summary.encounters == len(expected)


def test_the_valid_list_matches_the_readme() -> None:
    readme = (PUBLIC.parent / "README.md").read_text(encoding="utf-8")
    for name in VALID:
        row = next(line for line in readme.splitlines() if f"`{name}`" in line)
        assert "| valid:" in row, row
