"""Local reporting periods and the UTC-hour calendar every KPI is computed on.

Times are stored in UTC and reported in local time (Europe/Amsterdam by default). A local period
``[first day 00:00, day after last day 00:00)`` is converted to UTC once; inside it the calendar is
the list of **UTC hours** (every UTC hour is a real, elapsed hour), each labelled with the local
hour of the week it falls in. So a spring-forward day has 23 hours and an autumn day 25, and the
"number of Tuesdays 19:00 in the period" is simply the count of calendar rows with that label.
Because the Dutch UTC offset is a whole number of hours, every local midnight is a UTC hour boundary
and a UTC hour lies entirely inside one local hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOURS_PER_WEEK = 168


def how_label(how: int) -> str:
    """Label of hour-of-week index ``how`` (0 = Monday 00:00 local), e.g. ``"Tue 19:00"``."""
    return f"{DAY_NAMES[int(how) // 24]} {int(how) % 24:02d}:00"


def local_midnight_utc(day: date, tz: str) -> datetime:
    """The UTC instant (naive) of local midnight starting ``day``."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class Period:
    pid: int
    first_day: date  # local, inclusive
    last_day: date  # local, inclusive
    start_utc: datetime
    end_utc: datetime  # exclusive

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def hours(self) -> float:
        return (self.end_utc - self.start_utc).total_seconds() / 3600.0


def periods(first_day: date, last_day: date, period: str, tz: str) -> list[Period]:
    """Split local days ``first_day..last_day`` (inclusive) into one ``range`` or calendar ``month`` periods."""
    if last_day < first_day:
        raise ValueError(f"period end {last_day} is before its start {first_day}")
    if period not in ("range", "month"):
        raise ValueError(f"period must be 'range' or 'month', not {period!r}")
    bounds: list[tuple[date, date]] = []
    if period == "range":
        bounds.append((first_day, last_day))
    else:
        d = first_day
        while d <= last_day:
            nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
            bounds.append((d, min(last_day, nxt - timedelta(days=1))))
            d = nxt
    return [Period(i, a, b, local_midnight_utc(a, tz), local_midnight_utc(b + timedelta(days=1), tz))
            for i, (a, b) in enumerate(bounds)]


def periods_frame(ps: list[Period]) -> pd.DataFrame:
    return pd.DataFrame({
        "pid": [p.pid for p in ps],
        "period_start": pd.to_datetime([p.first_day for p in ps]).astype("datetime64[us]"),
        "period_end": pd.to_datetime([p.last_day for p in ps]).astype("datetime64[us]"),
        "days": [p.days for p in ps],
        "hours": [p.hours for p in ps],
    })


def hour_calendar(ps: list[Period], tz: str) -> pd.DataFrame:
    """One row per UTC hour inside the periods: ``hu`` (hours since 1970 UTC), ``pid`` and ``how``
    (local hour of week, 0 = Monday 00:00)."""
    frames = []
    for p in ps:
        idx = pd.date_range(pd.Timestamp(p.start_utc, tz="UTC"), pd.Timestamp(p.end_utc, tz="UTC"),
                            freq="h", inclusive="left")
        loc = idx.tz_convert(tz)
        hu = (idx.as_unit("s").asi8 // 3600).astype(np.int64)
        frames.append(pd.DataFrame({"hu": hu, "pid": np.int64(p.pid),
                                    "how": (loc.day_of_week * 24 + loc.hour).astype(np.int64)}))
    if not frames:
        return pd.DataFrame({"hu": pd.Series(dtype="int64"), "pid": pd.Series(dtype="int64"),
                             "how": pd.Series(dtype="int64")})
    return pd.concat(frames, ignore_index=True)
