"""Server-rendered bar charts: the geometry of horizontal bars as numbers a template draws as inline SVG.

No JavaScript chart library and no CDN (the CSP forbids inline scripts and other origins), and no inline styles:
the SVG's size and positions are attributes, its colours come from the stylesheet. The bars are proportional to
the largest value of the chart (a chart whose values are all zero draws no bar, never a divide-by-zero); each bar
carries its exact figure as text, so the picture never has to be read for the number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Bar", "BarChart", "bar_chart"]

ROW_HEIGHT = 26
LABEL_WIDTH = 170
BAR_SPACE = 150
WIDTH = LABEL_WIDTH + BAR_SPACE + 175


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal
    text: str
    """The figure printed after the bar (the amount, and a count when there is one)."""
    y: int
    width: int
    href: str | None = None


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: list[Bar]
    height: int
    width: int = WIDTH
    label_width: int = LABEL_WIDTH
    bar_space: int = BAR_SPACE
    row_height: int = ROW_HEIGHT
    empty: str = "Nothing yet."


def bar_chart(title: str, items: Sequence[tuple[str, Decimal | int, str, str | None]], *, empty: str = "Nothing yet.",
              limit: int = 8) -> BarChart:
    """``items``: (label, value, figure text, link or None), drawn in the given order, at most ``limit`` bars."""
    shown = list(items)[:limit]
    largest = max((Decimal(value) for _, value, _, _ in shown), default=Decimal(0))
    bars = []
    for row, (label, value, text, href) in enumerate(shown):
        amount = Decimal(value)
        width = int((amount / largest * BAR_SPACE).to_integral_value()) if largest > 0 and amount > 0 else 0
        short = label if len(label) <= 24 else label[:23] + "…"
        bars.append(Bar(short, amount, text, row * ROW_HEIGHT, max(width, 2) if amount > 0 else 0, href))
    return BarChart(title, bars, max(1, len(bars)) * ROW_HEIGHT, empty=empty)
