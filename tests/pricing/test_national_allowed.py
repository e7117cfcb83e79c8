"""`pricing.national_allowed`: many lines' national amounts, each distinct group priced once by `price` and joined
back. It must give, row for row, what `price` gives on each group itself (the one place the arithmetic lives)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from cleanclaim import pricing
from cleanclaim.model import ClaimLine
from cleanclaim.pricing import LineStatus, national_allowed, price

D = Decimal
SCHEMA = {"patient_id": pl.String, "date": pl.Date, "code": pl.String, "modifiers": pl.List(pl.String),
          "units": pl.Float64, "place_of_service": pl.String}


def _frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def _expected(frame: pl.DataFrame, by: list[str]) -> list[tuple[Decimal | None, str | None]]:
    """`price` on each group directly, in row order: the reference."""
    out: dict[int, tuple[Decimal | None, str | None]] = {}
    numbered = frame.with_row_index("n")
    groups = numbered.partition_by(by, maintain_order=True) if by else [numbered[i:i + 1]
                                                                         for i in range(numbered.height)]
    for group in groups:
        place = group.get_column("place_of_service").drop_nulls().first()
        try:
            lines = [ClaimLine(code=r["code"], modifiers=r["modifiers"] or [], units=D(str(r["units"])),
                               date=r["date"]) for r in group.iter_rows(named=True)]
            priced = [(p.allowed if p.priced else None, p.status.value)
                      for p in price(lines, place_of_service=str(place or "11")).lines]
        except (ValueError, LookupError):
            priced = [(None, None)] * group.height
        out.update(zip(group.get_column("n").to_list(), priced, strict=True))
    return [out[i] for i in range(frame.height)]


def _rows(result: pl.DataFrame) -> list[tuple[Decimal | None, str | None]]:
    return list(result.select("allowed", "status").iter_rows())


VARIED = [
    # one patient-day of three always-therapy lines: the MPPR ranks them together
    ("P1", dt.date(2026, 3, 2), "97110", ["GP"], 2.0, "11"),
    ("P1", dt.date(2026, 3, 2), "97112", ["GP"], 1.0, "11"),
    ("P1", dt.date(2026, 3, 2), "97140", ["GP", "CQ"], 1.0, "11"),
    # the same lines another day and patient (priced from the first), and in a facility (a different PE)
    ("P2", dt.date(2026, 3, 9), "97110", ["GP"], 2.0, "11"),
    ("P2", dt.date(2026, 3, 9), "97112", ["GP"], 1.0, "11"),
    ("P2", dt.date(2026, 3, 9), "97140", ["GP", "CQ"], 1.0, "11"),
    ("P3", dt.date(2026, 3, 9), "97110", ["GP"], 2.0, "22"),
    ("P3", dt.date(2026, 3, 9), "97112", ["GP"], 1.0, "22"),
    ("P3", dt.date(2026, 3, 9), "97140", ["GP", "CQ"], 1.0, "22"),
    # the same order of lines in 2025: another year's RVUs and conversion factor
    ("P4", dt.date(2025, 6, 2), "97110", ["GP"], 2.0, None),
    ("P4", dt.date(2025, 6, 2), "97112", ["GP"], 1.0, None),
    # fractional units, a code without RVUs, a code the model refuses
    ("P5", dt.date(2026, 3, 2), "97110", ["GP"], 1.5, "11"),
    ("P6", dt.date(2026, 3, 2), "97535", ["GP"], 1.0, "11"),
    ("P6", dt.date(2026, 3, 2), "97110", ["GP"], 1.0, "11"),
    ("P7", dt.date(2026, 3, 2), "not a code!", [], 1.0, "11"),
    ("P9", dt.date(2026, 3, 2), "97110", ["GP"], -1.0, "11"),
    # the same lines in another order: the MPPR keeps the first of equal PEs, so order is part of the group
    ("P8", dt.date(2026, 3, 2), "97112", ["GP"], 1.0, "11"),
    ("P8", dt.date(2026, 3, 2), "97110", ["GP"], 2.0, "11"),
]


@pytest.mark.parametrize("by", [["patient_id", "date"], []])
def test_national_allowed_equals_price_on_each_group(by: list[str]) -> None:
    frame = _frame(VARIED)
    assert _rows(national_allowed(frame, by)) == _expected(frame, by)


def test_national_allowed_by_hand() -> None:
    # CY2026 national (CF 33.4009): 97112 keeps full PE, 0.98 RVU = 32.73; 97110 x1 the same day at 50% PE,
    # (0.45 + 0.41 / 2 + 0.01) = 0.665 RVU = 22.21; alone it is (0.45 + 0.41 + 0.01) x 33.4009 = 29.06
    frame = _frame([("P1", dt.date(2026, 1, 5), "97112", ["GP"], 1.0, None),
                    ("P1", dt.date(2026, 1, 5), "97110", ["GP"], 1.0, None),
                    ("P2", dt.date(2026, 1, 5), "97110", ["GP"], 1.0, None)])
    assert _rows(national_allowed(frame, ["patient_id", "date"])) == [
        (D("32.73"), "priced"), (D("22.21"), "priced"), (D("29.06"), "priced")]
    assert _rows(national_allowed(frame)) == [(D("32.73"), "priced"), (D("29.06"), "priced"),
                                              (D("29.06"), "priced")]


def test_each_distinct_group_is_priced_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = pricing.price

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr("cleanclaim.pricing.price", counting)
    frame = _frame(VARIED)
    first = national_allowed(frame, ["patient_id", "date"])
    # 9 patient-days, of which P1 and P2 are the same group (same lines, year and setting; P3 differs by setting,
    # P8 by order), and P9's negative units never reach `price` (the model refuses the line): 7 calls
    assert len(calls) == 7
    assert _rows(national_allowed(frame, ["patient_id", "date"])) == _rows(first)
    assert len(calls) == 7  # the second call is answered from the first's prices


def test_unpriced_and_unreadable_rows() -> None:
    frame = _frame([("P", dt.date(2026, 3, 2), "97110", ["GP"], 1.5, "11"),
                    ("Q", dt.date(2026, 3, 2), "not a code!", [], 1.0, "11"),
                    ("R", dt.date(2026, 3, 2), "97110", ["GP"], -1.0, "11")])
    assert _rows(national_allowed(frame, ["patient_id"])) == [
        (None, LineStatus.UNPRICED.value), (None, LineStatus.UNPRICED.value), (None, None)]
    assert national_allowed(frame.clear()).height == 0
