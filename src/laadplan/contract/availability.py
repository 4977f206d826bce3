"""Availability of the concession's EVSEs from their status history: uptime, failures, recurring faults.

Definitions (all configurable in :class:`~laadplan.contract.settings.ContractConfig`):

* ``status_observations`` are status **changes**: a status holds from its ``observed_utc`` until the next
  observation of the same EVSE (or the data horizon ``as_of``). A change feed is silent for an EVSE that
  does not change, so silence of one EVSE is not missing data; silence of the whole **feed** is. A
  **missing stretch** is time more than ``status_gap_h`` hours after the last observation of the
  ``status_gap_scope`` group (``party``: the operator's feed, default; ``all``: the whole feed; ``evse``:
  the EVSE itself, for snapshot-like sources) until its next observation: ``[t + gap, t_next)``. That
  time is **no data**. Time before an EVSE's first observation does not count at all (the EVSE was not
  known yet), nor does time after ``as_of``.
* Each status maps to a state: ``up`` (``up_statuses``), ``down`` (``down_statuses``) or ``excluded``
  (``excluded_statuses``, e.g. PLANNED/REMOVED: not in service; any status in none of the lists is
  excluded too). No-data time counts as ``status_gap_policy`` says: ``excluded`` (default; left out of
  the denominator), ``down`` or ``up``.
* Two observations of one EVSE at the same instant (overlapping sources) resolve to the *worst* state
  (down before excluded before up), so a conflicting report never hides a fault.
* Uptime of an EVSE in a period:  ``uptime = up_h / (up_h + down_h)``; a location, municipality,
  operator or the region sums hours over its EVSEs (never averages ratios).
* Coverage: ``coverage = data_h / (data_h + nodata_h)`` with ``data_h`` the hours with a real status.
* A **failure** is a transition from up to down in the EVSE's state sequence (excluded and, under the
  ``excluded`` policy, no-data stretches are skipped, so up -> REMOVED -> OUTOFORDER is a failure and
  down -> REMOVED -> down is one continuing failure). It belongs to the month (local time) in which it
  starts and lasts until the next up state (``duration_h``; still open at ``as_of``: ``ongoing``).
  An EVSE whose history starts down has no failure for that first stretch (no up -> down transition),
  but the down hours count against its uptime. So a fault spanning months is one failure, in the
  month it began, and its down hours fall in every month it covers.
* A **recurring fault**: the EVSE failed in each of ``recurring_fault_months`` consecutive months
  ending with the month evaluated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laadplan.contract.periods import month_bounds, month_of, previous_months
from laadplan.contract.settings import ContractConfig

EVSE_KEY = ["country_code", "party_id", "location_id", "evse_uid"]
_RANK = {"down": 0, "excluded": 1, "up": 2}


def evse_subject(df: pd.DataFrame) -> pd.Series:
    """``CC*PARTY*LOCATION*UID`` subject id of EVSE rows."""
    return (df["country_code"].astype("string") + "*" + df["party_id"].astype("string") + "*"
            + df["location_id"].astype("string") + "*" + df["evse_uid"].astype("string"))


def _state_of(status: pd.Series, cc: ContractConfig) -> pd.Series:
    st = pd.Series("excluded", index=status.index, dtype="object")
    st[status.isin(cc.up_statuses)] = "up"
    st[status.isin(cc.down_statuses)] = "down"
    return st


def status_intervals(obs: pd.DataFrame, cc: ContractConfig, as_of: pd.Timestamp | None = None,
                     feed: pd.DataFrame | None = None) -> pd.DataFrame:
    """Status history as intervals ``[start_utc, end_utc)`` per EVSE with ``state`` up/down/excluded/nodata.

    ``obs``: country_code, party_id, location_id, evse_uid, observed_utc, status. ``as_of`` (naive UTC)
    is the data horizon; default the latest observation in ``obs``. ``feed``: all observations of the
    feed (also of EVSEs outside the scope analysed) for finding silent stretches; default ``obs``.
    """
    cols = EVSE_KEY + ["status", "state", "start_utc", "end_utc"]
    if obs.empty:
        return pd.DataFrame(columns=cols)
    o = obs[EVSE_KEY + ["observed_utc", "status"]].copy()
    o["observed_utc"] = pd.to_datetime(o["observed_utc"])
    o["status"] = o["status"].astype("string")
    o["state"] = _state_of(o["status"], cc)
    o["_rank"] = o["state"].map(_RANK)
    o = o.sort_values(EVSE_KEY + ["observed_utc", "_rank"], kind="mergesort")
    o = o.drop_duplicates(EVSE_KEY + ["observed_utc"], keep="first")  # worst state wins at one instant
    as_of = pd.Timestamp(as_of) if as_of is not None else o["observed_utc"].max()
    o = o[o["observed_utc"] < as_of]
    nxt = o.groupby(EVSE_KEY, sort=False, dropna=False)["observed_utc"].shift(-1).fillna(as_of)
    base = o[EVSE_KEY + ["status", "state"]].copy()
    base["start_utc"] = o["observed_utc"].values
    base["end_utc"] = nxt.values
    fo = o if feed is None else feed.assign(observed_utc=pd.to_datetime(feed["observed_utc"]))
    win = silent_windows(fo[fo["observed_utc"] < as_of], cc, as_of)
    scope = SCOPES[cc.status_gap_scope]
    if win.empty:
        out = base
    else:
        out = _subtract_windows(base, win, scope)
    out = out[out["end_utc"] > out["start_utc"]]
    return out.sort_values(EVSE_KEY + ["start_utc"], kind="mergesort").reset_index(drop=True)[cols]


def _subtract_windows(base: pd.DataFrame, win: pd.DataFrame, scope: list[str]) -> pd.DataFrame:
    """Split intervals by the (disjoint) silent windows of their scope group: the overlaps become
    ``nodata`` pieces, the rest keep their status (vectorised)."""
    b = base.reset_index(drop=True)
    b["_i"] = np.arange(len(b))
    j = b[scope + ["_i", "start_utc", "end_utc"]].merge(win, on=scope) if scope else \
        b[["_i", "start_utc", "end_utc"]].merge(win, how="cross")
    j = j[(j["w_start"] < j["end_utc"]) & (j["w_end"] > j["start_utc"])]
    if j.empty:
        return base
    j = j.assign(ns=np.maximum(j["w_start"], j["start_utc"]), ne=np.minimum(j["w_end"], j["end_utc"]))
    j = j.sort_values(["_i", "ns"], kind="mergesort")
    prev_end = j.groupby("_i", sort=False)["ne"].shift(1)
    prev_end = prev_end.fillna(j["start_utc"])
    attrs = b.set_index("_i")[EVSE_KEY + ["status", "state"]]
    nod = attrs.loc[j["_i"].values].reset_index(drop=True)
    nod["status"], nod["state"] = "NO_DATA", "nodata"
    nod["start_utc"], nod["end_utc"] = j["ns"].values, j["ne"].values
    before = attrs.loc[j["_i"].values].reset_index(drop=True)
    before["start_utc"], before["end_utc"] = prev_end.values, j["ns"].values
    last = j.groupby("_i", sort=False).agg(ne=("ne", "last"), end_utc=("end_utc", "first"))
    tail = attrs.loc[last.index].reset_index(drop=True)
    tail["start_utc"], tail["end_utc"] = last["ne"].values, last["end_utc"].values
    untouched = b[~b["_i"].isin(j["_i"])].drop(columns="_i")
    return pd.concat([untouched, before, nod, tail], ignore_index=True)


SCOPES = {"evse": EVSE_KEY, "party": ["country_code", "party_id"], "all": []}


def silent_windows(obs: pd.DataFrame, cc: ContractConfig, as_of: pd.Timestamp) -> pd.DataFrame:
    """Stretches without status data: per scope group (``status_gap_scope``: one EVSE, one operator's
    feed ``party`` or the whole feed ``all``), ``[t + status_gap_h, t_next)`` wherever the group's
    consecutive observations ``t, t_next`` (or its last one and ``as_of``) lie more than ``status_gap_h`` apart.
    Columns: the scope's key columns, w_start, w_end."""
    scope = SCOPES[cc.status_gap_scope]
    g = obs[scope + ["observed_utc"]].drop_duplicates().sort_values(scope + ["observed_utc"])
    if scope:
        nxt = g.groupby(scope, sort=False, dropna=False)["observed_utc"].shift(-1).fillna(as_of)
    else:
        nxt = g["observed_utc"].shift(-1).fillna(as_of)
    gap = pd.Timedelta(hours=cc.status_gap_h)
    w = g.assign(w_start=g["observed_utc"] + gap, w_end=nxt)
    w = w[w["w_end"] > w["w_start"]]
    return w[scope + ["w_start", "w_end"]].reset_index(drop=True)


def _effective_state(state: pd.Series, cc: ContractConfig) -> pd.Series:
    if cc.status_gap_policy == "excluded":
        return state
    return state.where(state != "nodata", cc.status_gap_policy)


def failures(intervals: pd.DataFrame, cc: ContractConfig, as_of: pd.Timestamp | None = None,
             tz: str = "Europe/Amsterdam") -> pd.DataFrame:
    """One row per failure (up -> down transition): EVSE key, start_utc, end_utc (NaT when ongoing),
    duration_h (to ``as_of`` when ongoing), ongoing, fault_status (status at the start), month."""
    cols = EVSE_KEY + ["start_utc", "end_utc", "duration_h", "ongoing", "fault_status", "month"]
    if intervals.empty:
        return pd.DataFrame(columns=cols)
    iv = intervals.copy()
    iv["eff"] = _effective_state(iv["state"], cc)
    iv = iv[iv["eff"].isin(["up", "down"])]
    if iv.empty:
        return pd.DataFrame(columns=cols)
    as_of = pd.Timestamp(as_of) if as_of is not None else iv["end_utc"].max()
    g = iv.groupby(EVSE_KEY, sort=False, dropna=False)
    prev = g["eff"].shift(1)
    starts = iv[(iv["eff"] == "down") & (prev == "up")]
    # run boundaries: first row of each run of equal effective state
    run_start = iv["eff"] != prev
    ups = iv[run_start & (iv["eff"] == "up")][EVSE_KEY + ["start_utc"]].rename(columns={"start_utc": "up_utc"})
    f = starts[EVSE_KEY + ["start_utc", "status"]].rename(columns={"status": "fault_status"})
    if f.empty:
        return pd.DataFrame(columns=cols)
    f = f.sort_values("start_utc")
    ups = ups.sort_values("up_utc")
    # the recovery is the first up run after the failure's start, same EVSE
    f = pd.merge_asof(f, ups, left_on="start_utc", right_on="up_utc", by=EVSE_KEY, direction="forward",
                      allow_exact_matches=False)
    f["end_utc"] = f["up_utc"]
    f["ongoing"] = f["end_utc"].isna()
    f["duration_h"] = (f["end_utc"].fillna(as_of) - f["start_utc"]).dt.total_seconds() / 3600.0
    f["month"] = month_of(f["start_utc"], tz)
    return f.sort_values(EVSE_KEY + ["start_utc"]).reset_index(drop=True)[cols]


def monthly_availability(intervals: pd.DataFrame, fails: pd.DataFrame, months: list[str], cc: ContractConfig,
                         tz: str = "Europe/Amsterdam") -> pd.DataFrame:
    """Per EVSE and month: up_h, down_h, nodata_h, excluded_h (raw states), uptime_share (after the gap
    policy), coverage_share, failures, failure_h, uptime_breach, failure_breach, recurring."""
    rows = []
    if not intervals.empty:
        s = intervals["start_utc"].values
        e = intervals["end_utc"].values
        for m in months:
            m0, m1 = (np.datetime64(t) for t in month_bounds(m, tz))
            h = (np.minimum(e, m1) - np.maximum(s, m0)).astype("timedelta64[s]").astype(float) / 3600.0
            keep = h > 0
            if not keep.any():
                continue
            part = intervals.loc[keep, EVSE_KEY + ["state"]].copy()
            part["h"] = h[keep]
            part["month"] = m
            rows.append(part)
    cols = ["month"] + EVSE_KEY + ["up_h", "down_h", "nodata_h", "excluded_h", "uptime_share", "coverage_share",
                                   "failures", "failure_h", "uptime_breach", "failure_breach", "recurring"]
    if not rows:
        return pd.DataFrame(columns=cols)
    hours = pd.concat(rows, ignore_index=True)
    wide = hours.groupby(["month"] + EVSE_KEY + ["state"], sort=False)["h"].sum().unstack("state", fill_value=0.0)
    wide = wide.reindex(columns=["up", "down", "nodata", "excluded"], fill_value=0.0)
    wide.columns = ["up_h", "down_h", "nodata_h", "excluded_h"]
    wide = wide[wide.sum(axis=1) > 0].reset_index()
    if not fails.empty:
        fm = fails.groupby(["month"] + EVSE_KEY, dropna=False).agg(
            failures=("start_utc", "size"), failure_h=("duration_h", "sum")).reset_index()
        wide = wide.merge(fm, on=["month"] + EVSE_KEY, how="outer")
    else:
        wide["failures"] = 0
        wide["failure_h"] = 0.0
    wide = wide[wide["month"].isin(months)]
    for c in ["up_h", "down_h", "nodata_h", "excluded_h", "failure_h"]:
        wide[c] = wide[c].astype(float).fillna(0.0)
    wide["failures"] = wide["failures"].fillna(0).astype(int)
    up, down = wide["up_h"].copy(), wide["down_h"].copy()
    if cc.status_gap_policy == "up":
        up = up + wide["nodata_h"]
    elif cc.status_gap_policy == "down":
        down = down + wide["nodata_h"]
    wide["uptime_share"] = (up / (up + down)).where(up + down > 0)
    data_h = wide["up_h"] + wide["down_h"] + wide["excluded_h"]
    wide["coverage_share"] = (data_h / (data_h + wide["nodata_h"])).where(data_h + wide["nodata_h"] > 0)
    wide["uptime_breach"] = (wide["uptime_share"] < cc.uptime_norm_share).fillna(False)
    wide["failure_breach"] = wide["failures"] > cc.max_failures_per_month
    wide["recurring"] = _recurring(fails, wide, cc)
    return wide.sort_values(["month"] + EVSE_KEY).reset_index(drop=True)[cols]


def _recurring(fails: pd.DataFrame, wide: pd.DataFrame, cc: ContractConfig) -> pd.Series:
    n = cc.recurring_fault_months
    if fails.empty or wide.empty:
        return pd.Series(False, index=wide.index)
    failed = pd.MultiIndex.from_frame(fails[["month"] + EVSE_KEY].astype(str))
    keys = [wide[k].astype(str).to_numpy() for k in EVSE_KEY]
    prev = {m: previous_months(m, n) for m in wide["month"].unique()}
    out = np.ones(len(wide), dtype=bool)
    for k in range(n):
        mk = wide["month"].map(lambda m, k=k: prev[m][k]).astype(str).to_numpy()
        out &= pd.MultiIndex.from_arrays([mk, *keys]).isin(failed)
    return pd.Series(out, index=wide.index, dtype=bool)


def availability(obs: pd.DataFrame, months: list[str], cc: ContractConfig, *, as_of: pd.Timestamp | None = None,
                 feed: pd.DataFrame | None = None,
                 tz: str = "Europe/Amsterdam") -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(monthly per-EVSE availability, failures)`` for ``months`` from a status history.

    ``obs`` should hold the history up to the end of the last month, including the months before
    (to know the state at the start and to find recurring faults).
    """
    iv = status_intervals(obs, cc, as_of, feed)
    fails = failures(iv, cc, as_of, tz)
    monthly = monthly_availability(iv, fails, months, cc, tz)
    return monthly, fails
