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
_CENT = Decimal(1).scaleb(-MONEY_SCALE)


class Money(TypeDecorator[Decimal]):
    """``Numeric(12, 2)`` that accepts only ``Decimal`` (or ``int``) amounts with at most two decimal places.

    A float is refused because ``0.1 + 0.2`` is not ``0.3`` in binary; an amount with a third decimal is refused
    because storing it would round it. On SQLite the value is held as a REAL, which represents every 12-digit,
    2-decimal amount closely enough that reading it back at scale 2 gives the exact Decimal that was written.
    """

    impl = Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise TypeError(f"money must be a Decimal, not {type(value).__name__}")
        amount = Decimal(value)
        if not amount.is_finite():
            raise ValueError("money must be a finite amount")
        if amount != amount.quantize(_CENT):
            raise ValueError(f"money has at most {MONEY_SCALE} decimal places; refusing to round {amount}")
        if abs(amount) >= Decimal(10) ** (MONEY_PRECISION - MONEY_SCALE):
            raise ValueError(f"money is below 10^{MONEY_PRECISION - MONEY_SCALE}; got {amount}")
        return amount.quantize(_CENT)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value).quantize(_CENT)


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
