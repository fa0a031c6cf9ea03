"""Periods (docs/kpis.md, periods): parse "2025-07", "2025Q3", "FY2025", "FY2025Q1", "2025-04..2025-09".

A period is a run of whole months m1..m2; its **start** is m1 − 1 and its **end** is m2.
Months are ``pandas.Period`` objects with monthly frequency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_analysis.errors import PeriodError


@dataclass(frozen=True)
class Period:
    """Months ``first``..``last`` inclusive, with the label the user gave."""

    label: str
    first: pd.Period
    last: pd.Period

    @property
    def start(self) -> pd.Period:
        """The month before the period (the opening balance)."""
        return self.first - 1

    @property
    def end(self) -> pd.Period:
        return self.last

    @property
    def n_months(self) -> int:
        return (self.last - self.first).n + 1

    def months(self) -> pd.PeriodIndex:
        return pd.period_range(self.first, self.last, freq="M")

    def shifted(self, months: int, label: str) -> Period:
        return Period(label, self.first + months, self.last + months)

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return self.shifted(-self.n_months, f"{self.label} previous")

    def year_ago(self) -> Period:
        return self.shifted(-12, f"{self.label} year ago")


_MONTH = re.compile(r"(\d{4})-(\d{2})")


def _month(text: str, whole: str) -> pd.Period:
    m = _MONTH.fullmatch(text)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise PeriodError(f"period {whole!r}: {text!r} is not a month YYYY-MM")
    return pd.Period(year=int(m.group(1)), month=int(m.group(2)), freq="M")


def parse_period(text: str, fiscal_year_start_month: int = 4) -> Period:
    """Parse a period string; fiscal forms use ``fiscal_year_start_month`` (FY2025 starts in 2025).
    The label is the canonical spelling, whatever case or spacing was typed (``fy2025q1`` →
    ``FY2025Q1``, ``2025-04 .. 2025-09`` → ``2025-04..2025-09``).

    >>> parse_period("FY2025Q1").months().astype(str).tolist()
    ['2025-04', '2025-05', '2025-06']
    >>> parse_period(" fy2025q1 ").label
    'FY2025Q1'
    """
    raw = text
    text = text.strip().upper()
    if m := re.fullmatch(r"FY(\d{4})(?:Q([1-4]))?", text):
        first = pd.Period(year=int(m.group(1)), month=fiscal_year_start_month, freq="M")
        if m.group(2):
            first += 3 * (int(m.group(2)) - 1)
            return Period(text, first, first + 2)
        return Period(text, first, first + 11)
    if m := re.fullmatch(r"(\d{4})Q([1-4])", text):
        first = pd.Period(year=int(m.group(1)), month=3 * int(m.group(2)) - 2, freq="M")
        return Period(text, first, first + 2)
    if ".." in text:
        a, b = (part.strip() for part in text.split("..", 1))
        first, last = _month(a, raw), _month(b, raw)
        if last < first:
            raise PeriodError(f"period {raw!r}: the range ends before it starts")
        return Period(f"{first}..{last}", first, last)
    if _MONTH.fullmatch(text):
        month = _month(text, raw)
        return Period(str(month), month, month)
    raise PeriodError(
        f"period {raw!r} not understood; use 2025-07, 2025Q3, FY2025, FY2025Q1 or 2025-04..2025-09"
    )


def months_to_fiscal_year_end(months: pd.PeriodIndex, fiscal_year_start_month: int) -> pd.Series:
    """Months from each month to the end of its fiscal year, inclusive (April, F=1 → 9)."""
    month_no = months.month.to_numpy()
    return pd.Series((fiscal_year_start_month - month_no - 1) % 12 + 1, index=months)


def latest_fiscal_quarter(last_month: pd.Period, fiscal_year_start_month: int = 4) -> Period:
    """The last fiscal quarter that ends in or before ``last_month`` (e.g. FY2026Q2)."""
    offset = (last_month.month - fiscal_year_start_month) % 12  # months into the fiscal year
    quarter_end = last_month - (offset + 1) % 3
    offset_end = (quarter_end.month - fiscal_year_start_month) % 12
    fy = quarter_end.year if quarter_end.month >= fiscal_year_start_month else quarter_end.year - 1
    return parse_period(f"FY{fy}Q{offset_end // 3 + 1}", fiscal_year_start_month)


GRAINS = ("month", "quarter", "year")


def fiscal_labels(months: pd.PeriodIndex, fiscal_year_start_month: int, grain: str) -> np.ndarray:
    """Each month's label at ``grain``: ``2024-04`` (month), ``FY2024Q1`` (fiscal quarter) or
    ``FY2024`` (fiscal year; FY2024 starts in 2024).

    >>> fiscal_labels(pd.period_range("2025-03", "2025-04", freq="M"), 4, "quarter").tolist()
    ['FY2024Q4', 'FY2025Q1']
    """
    if grain == "month":
        return np.asarray(months.astype(str), dtype=object)
    if grain not in GRAINS:
        raise PeriodError(f"grain must be one of {', '.join(GRAINS)}, not {grain!r}")
    month_no, year = months.month.to_numpy(), months.year.to_numpy()
    fy = np.where(month_no >= fiscal_year_start_month, year, year - 1).astype(str)
    if grain == "year":
        return np.char.add("FY", fy).astype(object)
    quarter = ((month_no - fiscal_year_start_month) % 12 // 3 + 1).astype(str)
    return np.char.add(np.char.add(np.char.add("FY", fy), "Q"), quarter).astype(object)
