"""Pricing checked to the cent against Medicare payment amounts CMS publishes (issue #5, "Done means").

Every expected amount is a row of ``published_amounts.csv``: a figure copied from a CMS carrier-specific PFS payment
file (CY2025 release A, Alabama and Alaska), with the file named in the row and described in the file's header. Each
row is priced for one unit through :func:`cleanclaim.price` with the bundled data only (relative values of
PPRRVU25_JAN, GPCI2025, the CY2025 conversion factor 32.3465) and must come out equal to the published amount.

Rounding rules, CMS's and ours:

* CMS computes the fee schedule amount of a service as [(work RVU x work GPCI) + (PE RVU x PE GPCI) + (MP RVU x MP
  GPCI)] x CF, with the facility or non-facility PE RVU (formula quoted from the CMS PFS look-up tool documentation,
  https://www.cms.gov/medicare/physician-fee-schedule/search/documentation, as kept in andrewallenbruce/arkrvu
  data-raw/bna.R) and publishes one amount per unit in dollars and cents: the payment files' amount fields are
  PIC 9(7).99 (CMS record layout of the annual payment amount file, PF26PA, read as a text conversion in stored
  material, find_string id 44224945602; it refers to the Federal Register final rule for the computation; the CY2025
  layout PF25PA.pdf ships beside the files used here). CMS does not state the rounding step in words.
* cleanclaim keeps exact decimals through the whole formula of one unit and rounds that unit's amount once, half
  up, to the cent (``pricing.round_cents``; ``PricedLine.allowed_exact`` keeps the unrounded figure). Worked
  example, Alabama 97110 non-facility: (0.45 x 1.000 + 0.43 x 0.869 + 0.01 x 0.575) x 32.3465 = 0.82942 x 32.3465
  = 26.828..., rounded 26.83, which is the amount in PFAL25A.TXT.
* Rounding once after the full formula of a unit is what the published amounts show: rounding the GPCI-adjusted
  RVUs, or each component's dollars, before adding them gives a different cent for many rows of the file, so those
  orders fail here. No row's exact amount falls on a half cent, so these rows do not tell half-up from half-even.
* The amounts are per unit, so a line of several units is the sum of its rounded units (``test_pricing.py`` has the
  worked examples: 97110 x2 in Alabama is 26.83 + 20.79 = 47.62); these one-unit rows test the unit amount itself.
* The 50% therapy reduction amount is the same formula with the PE RVU x PE GPCI term halved, rounded once: it is
  checked on a second one-unit line of the same always-therapy code the same day, which cleanclaim's MPPR reduces
  (the first line keeps the full PE; billing order breaks the tie). Work and MP are never reduced.

The comparison is exact (a difference of 0.00 after rounding), stricter than "within a cent"; the unrounded figure
must also lie within half a cent of the published one, as it must if CMS rounds the same exact amount.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from cleanclaim import price
from cleanclaim.model import ClaimLine
from cleanclaim.pricing import LineStatus, PricedLine
from cleanclaim.refdata import rvus

DATA = Path(__file__).with_name("published_amounts.csv")
SETTINGS = {"non-facility": "11", "facility": "22", "non-facility-mppr": "11"}
"""Place of service per setting: 11 office (non-facility rate), 22 hospital outpatient (facility rate), as listed in
bundled facility_pos.csv (CMS Pub 100-04 Ch 12 s20.4.2)."""
HALF_CENT = Decimal("0.005")


@dataclass(frozen=True)
class Published:
    code: str
    year: int
    locality: str
    setting: str
    amount: Decimal
    source: str
    note: str

    @property
    def label(self) -> str:
        return f"{self.code}-{self.year}-{self.locality}-{self.setting}"


def _read() -> list[Published]:
    lines = [line for line in DATA.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    return [Published(row["code"], int(row["year"]), row["locality"], row["setting"], Decimal(row["amount"]),
                      row["source"], row["note"]) for row in csv.DictReader(lines)]


PUBLISHED = _read()


def _price_one_unit(row: Published) -> PricedLine:
    """One unit of the code on a date of the row's year, at the row's locality and setting; for the MPPR setting,
    the second of two one-unit lines of the code, the one whose PE the therapy MPPR halves."""
    copies = 2 if row.setting == "non-facility-mppr" else 1
    lines = [ClaimLine(code=row.code, units=Decimal(1)) for _ in range(copies)]
    claim = price(lines, date_of_service=dt.date(row.year, 7, 1), place_of_service=SETTINGS[row.setting],
                  locality=None if row.locality == "national" else row.locality)
    return claim.lines[-1]


@pytest.mark.parametrize("row", PUBLISHED, ids=[row.label for row in PUBLISHED])
def test_one_unit_equals_the_cms_published_amount(row: Published) -> None:
    line = _price_one_unit(row)
    assert line.status is LineStatus.PRICED, line.reason
    assert line.allowed == row.amount, f"cleanclaim {line.allowed}, CMS {row.amount} ({row.source}): {line.steps}"
    assert line.allowed_exact is not None
    assert abs(line.allowed_exact - row.amount) <= HALF_CENT
    assert line.rate_setting == ("facility" if row.setting == "facility" else "non-facility")
    if row.setting == "non-facility-mppr":
        assert any("50% (MPPR)" in step for step in line.steps)


def test_the_published_amounts_file_is_well_formed() -> None:
    keys = [row.label for row in PUBLISHED]
    assert len(keys) == len(set(keys)), "a code, year, locality and setting is listed twice"
    for row in PUBLISHED:
        assert row.setting in SETTINGS, row
        assert row.locality == "national" or ":" in row.locality, row
        assert row.amount > 0 and row.amount == row.amount.quantize(Decimal("0.01")), row
        assert row.source.startswith("https://"), row


def test_every_code_the_bundled_table_prices_in_2025_has_a_published_amount() -> None:
    """The Alabama rows were taken for every CY2025 code the bundled relative values price (status A, R or T with
    relative values: 97545/97546 are status R with every RVU 0.00, and PFAL25A.TXT has no row for them), so a code
    added to rvu.csv for 2025 needs its CMS amount here too before this passes."""
    priced = {row["code"] for row in rvus(2025).iter_rows(named=True) if row["status"] in {"A", "R", "T"}
              and any(row[c] for c in ("work_rvu", "nf_pe_rvu", "f_pe_rvu", "mp_rvu"))}
    alabama = {row.code for row in PUBLISHED if row.year == 2025 and row.locality == "10112:00"
               and row.setting == "non-facility"}
    assert priced, "no bundled CY2025 relative values"
    assert sorted(priced - alabama) == []
