"""Lead time from a granted driver request to a working charge point.

Per granted request (``decision`` in ``granted_decisions``, case-insensitive):

* ``lead_time_days = operational_date - requested_date``;
* ``objection_days = max(0, objection_end_date - decided_date)`` (0 when either date is missing): the
  time the traffic decision spent in its objection period (about 6 weeks);
* ``lead_time_excl_objection_days = lead_time_days - objection_days``.

A request belongs to the period in which its point became operational. Median and 90th percentile use
linear interpolation between order statistics (``numpy.percentile`` default): for sorted values
``x_0..x_{n-1}`` the q-quantile is ``x_k + (h - k)(x_{k+1} - x_k)`` with ``h = q (n - 1)``, ``k = floor(h)``.
Granted requests without an operational date are **open**; their age at the period end is compared
with the norm ``max_lead_time_days`` too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from laadplan.contract.settings import ContractConfig
from laadplan.ingest._io import SourceError

REQUIRED = ("request_id", "requested_date", "decision")
DATE_COLS = ("requested_date", "decided_date", "objection_end_date", "operational_date")


def read_request_log(path: str | Path) -> pd.DataFrame:
    """A request-log CSV (request_id, requested_date, gm_code, decision, decided_date, objection_end_date,
    operational_date; dates ISO) as a frame. Raises SourceError naming the file when unusable; a row with
    an unparseable date keeps NaT there (and so does not count as operational)."""
    try:
        df = pd.read_csv(path, dtype="string")
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise SourceError(f"{path}: not a readable CSV ({e})") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise SourceError(f"{path}: request log lacks column(s) {missing}")
    for c in DATE_COLS:
        df[c] = pd.to_datetime(df[c], errors="coerce") if c in df else pd.NaT
    if "gm_code" not in df:
        df["gm_code"] = pd.NA
    return df


def lead_times(requests: pd.DataFrame, cc: ContractConfig) -> pd.DataFrame:
    """Granted requests with lead_time_days, objection_days, lead_time_excl_objection_days, open."""
    r = requests.copy()
    for c in DATE_COLS:
        r[c] = pd.to_datetime(r[c], errors="coerce") if c in r else pd.NaT
    granted = r["decision"].astype("string").str.strip().str.lower().isin([d.lower() for d in cc.granted_decisions])
    r = r[granted.fillna(False)].copy()
    r["lead_time_days"] = (r["operational_date"] - r["requested_date"]).dt.total_seconds() / 86400
    obj = (r["objection_end_date"] - r["decided_date"]).dt.total_seconds() / 86400
    r["objection_days"] = obj.clip(lower=0).fillna(0.0)
    r["lead_time_excl_objection_days"] = r["lead_time_days"] - r["objection_days"]
    r["open"] = r["operational_date"].isna()
    return r


def percentile_or_none(s: pd.Series, q: float) -> float | None:
    """The ``q``-th percentile of the values of ``s`` (linear interpolation), None when it has none (n/a)."""
    s = s.dropna()
    return float(np.percentile(s.to_numpy("float64"), q)) if len(s) else None


def summarise(lt: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, cc: ContractConfig) -> dict:
    """Lead-time figures for points operational in ``[start, end)`` plus open requests at ``end``."""
    done = lt[(~lt["open"]) & (lt["operational_date"] >= start) & (lt["operational_date"] < end)]
    open_ = lt[lt["open"] & (lt["requested_date"] < end)]
    age = (end - open_["requested_date"]).dt.total_seconds() / 86400
    pct = percentile_or_none
    return {
        "requests_operational": int(len(done)),
        "lead_time_median_days": pct(done["lead_time_days"], 50),
        "lead_time_p90_days": pct(done["lead_time_days"], 90),
        "lead_time_excl_objection_median_days": pct(done["lead_time_excl_objection_days"], 50),
        "lead_time_excl_objection_p90_days": pct(done["lead_time_excl_objection_days"], 90),
        "requests_over_norm": int((done["lead_time_days"] > cc.max_lead_time_days).sum()),
        "requests_open": int(len(open_)),
        "requests_open_over_norm": int((age > cc.max_lead_time_days).sum()),
    }
