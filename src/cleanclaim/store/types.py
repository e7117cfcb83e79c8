"""Column types that make the store's two promises hold on SQLite as on PostgreSQL: money is exact, time is UTC.

SQLite has no decimal and no time-zone type, so both are enforced here, at the boundary, rather than trusted to
the database: a float or a sub-cent amount is refused before it is written (nothing silently rounded), and a naive
datetime is refused rather than guessed to be UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator

MONEY_PRECISION = 12
MONEY_SCALE = 2
# Units as billed: the model's ceiling (9,999) with its three decimals, so a fractional unit on a claim (1.5, a
# finding, not an input error) is stored as it was billed, never truncated to an integer.
UNITS_PRECISION = 7
UNITS_SCALE = 3


class _FixedPoint(TypeDecorator[Decimal]):
    """A ``Numeric(precision, scale)`` that accepts only ``Decimal`` (or ``int``) values with at most ``scale``
    decimal places, and reads them back as exact Decimals.

    A float is refused because ``0.1 + 0.2`` is not ``0.3`` in binary; a value with more decimals is refused because
    storing it would round it. On SQLite the value is held as a REAL, which represents every value of these
    precisions closely enough that reading it back at the scale gives the exact Decimal that was written.
    """

    precision: int
    scale: int
    what: str

    def process_bind_param(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise TypeError(f"{self.what} must be a Decimal, not {type(value).__name__}")
        amount = Decimal(value)
        if not amount.is_finite():
            raise ValueError(f"{self.what} must be a finite amount")
        step = Decimal(1).scaleb(-self.scale)
        if amount != amount.quantize(step):
            raise ValueError(f"{self.what} has at most {self.scale} decimal places; refusing to round {amount}")
        if abs(amount) >= Decimal(10) ** (self.precision - self.scale):
            raise ValueError(f"{self.what} is below 10^{self.precision - self.scale}; got {amount}")
        return amount.quantize(step)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value).quantize(Decimal(1).scaleb(-self.scale))


class Money(_FixedPoint):
    """``Numeric(12, 2)``: an amount in dollars and cents."""

    impl = Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True)
    precision, scale, what = MONEY_PRECISION, MONEY_SCALE, "money"
    cache_ok = True  # SQLAlchemy reads it from each class's own namespace


class Units(_FixedPoint):
    """``Numeric(7, 3)``: a unit count as billed, fractional ones included."""

    impl = Numeric(UNITS_PRECISION, UNITS_SCALE, asdecimal=True)
    precision, scale, what = UNITS_PRECISION, UNITS_SCALE, "units"
    cache_ok = True


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored and returned in UTC on both databases.

    PostgreSQL keeps ``timestamptz``; SQLite keeps text without an offset, so the value is converted to UTC
    before it is written and marked UTC when it is read. A naive datetime is an error: its zone is unknown.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"timestamp must be a datetime, not {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamp must be timezone-aware (its zone cannot be guessed)")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware and in UTC (the default of every ``at`` column)."""
    return datetime.now(UTC)
