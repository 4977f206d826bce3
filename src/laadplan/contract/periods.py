"""Reporting periods: local (Europe/Amsterdam) months and years as naive-UTC bounds.

Contract norms are per calendar month in local time; the store keeps naive UTC. A period label is
``'YYYY-MM'`` (a month) or ``'YYYY'`` (a year).
"""

from __future__ import annotations

import re

import pandas as pd

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_YEAR = re.compile(r"^\d{4}$")


def parse_period(label: str) -> tuple[str, list[str]]:
    """``('month'|'year', [month labels])`` of a period label; ValueError when it is neither."""
    label = str(label).strip()
    if _MONTH.match(label):
        return "month", [label]
    if _YEAR.match(label):
        return "year", [f"{label}-{m:02d}" for m in range(1, 13)]
    raise ValueError(f"period {label!r} is neither a month 'YYYY-MM' nor a year 'YYYY'")


def local_to_utc(ts: pd.Timestamp | str, tz: str = "Europe/Amsterdam") -> pd.Timestamp:
    """A naive local wall-clock time as naive UTC."""
    return pd.Timestamp(ts).tz_localize(tz).tz_convert("UTC").tz_localize(None)


def month_bounds(month: str, tz: str = "Europe/Amsterdam") -> tuple[pd.Timestamp, pd.Timestamp]:
    """Naive-UTC ``[start, end)`` of a local calendar month ``'YYYY-MM'``."""
    start = pd.Timestamp(month + "-01")
    return local_to_utc(start, tz), local_to_utc(start + pd.offsets.MonthBegin(1), tz)


def period_bounds(label: str, tz: str = "Europe/Amsterdam") -> tuple[pd.Timestamp, pd.Timestamp]:
    """Naive-UTC ``[start, end)`` of a month or year label."""
    _, months = parse_period(label)
    return month_bounds(months[0], tz)[0], month_bounds(months[-1], tz)[1]


def month_of(ts_utc: pd.Series, tz: str = "Europe/Amsterdam") -> pd.Series:
    """Local month label ``'YYYY-MM'`` of naive-UTC timestamps (NaT gives <NA>)."""
    s = pd.to_datetime(ts_utc)
    local = s.dt.tz_localize("UTC").dt.tz_convert(tz)
    return local.dt.strftime("%Y-%m").astype("string")


def previous_months(month: str, n: int) -> list[str]:
    """The ``n`` months ending with ``month`` (oldest first)."""
    p = pd.Period(month, "M")
    return [str(p - k) for k in range(n - 1, -1, -1)]


def quarter_label(month: str) -> str:
    """``'2026-09'`` -> ``'2026Q3'``."""
    return str(pd.Period(month, "M").asfreq("Q"))
