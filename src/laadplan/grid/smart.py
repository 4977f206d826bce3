"""Smart charging simulation for a set of sessions (an area or chosen EVSEs).

Every session ``i`` is connected during [s_i, e_i) with energy ``E_i`` and maximum power ``p_i``
(:func:`laadplan.grid.load.session_power`). On the slot grid (slot length dt) the pair (i, k) has the
connected hours ``c_ik`` of slot k and can take at most ``a_ik = p_i c_ik`` kWh.

* **uncontrolled**: charge at ``p_i`` from the start until E_i is delivered (greedy earliest fill).
* **cap** (a): in the window (local hours ``load.cap_window_start_hour`` .. ``cap_window_end_hour``)
  the power is ``min(p_i, cap_power_kw)``; still the earliest fill, so energy that no longer fits
  before the session ends is not delivered.
* **shift** (b): the linear programme (HiGHS)

      min  P
      s.t. sum_k x_ik = E_i                     (every session gets its energy)
           0 <= x_ik <= a_ik                    (never above the EVSE's power, only while connected)
           sum_i x_ik / dt + B_k <= P           (area load incl. background B_k below the peak)

  followed by a second solve with ``P`` fixed at its optimum that minimises ``sum x_ik * delay_ik``
  (charge as early as the flattened peak allows), so sessions change only where needed. Sessions are
  first split into time clusters that share no slot (:func:`time_clusters`); the LP separates over them. Since the
  uncontrolled schedule is feasible, the optimal peak is never above the uncontrolled peak; energy
  is always delivered (E_i <= p_i (e_i - s_i) by construction of p_i).
* **limit** (c): a kW limit per grid connection (the OpenADR 3 GAC idea: IMPORT_CAPACITY_LIMIT per
  EAN over time). Without connection data EVSEs are grouped by location as one connection. Real-time
  control without foresight: in each slot every active session asks for ``min(a_ik, remaining_i)``;
  where a connection's requests exceed ``limit_kw * dt`` they are scaled down proportionally; what is
  not delivered by the session's end is reported.

Reported: peak before and after, peak reduction, energy not delivered, sessions affected (schedule
changed by more than 1 Wh in some slot) and sessions short of energy.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from laadplan.grid.load import Grid, LOCATION_KEY, _cfg_load, session_power

log = logging.getLogger(__name__)
STRATEGIES = ("cap", "shift", "limit")
_TOL_KWH = 1e-3


@dataclass
class Pairs:
    """Session x slot pairs of the connected time (the exploded representation for small sets)."""
    grid: Grid
    session: np.ndarray   # session index per pair (sorted by session, then slot)
    slot: np.ndarray      # slot index per pair
    cover_h: np.ndarray   # connected hours of the session inside the slot
    power_kw: np.ndarray  # per session
    energy_kwh: np.ndarray  # per session

    @property
    def cap_kwh(self) -> np.ndarray:
        return self.power_kw[self.session] * self.cover_h


def make_pairs(df: pd.DataFrame, grid: Grid) -> Pairs:
    s = grid.hours(df["start_utc"])
    e = grid.hours(df["end_utc"])
    dt = grid.dt_h
    k0 = np.floor(s / dt + 1e-12).astype(np.int64)
    k1 = np.ceil(e / dt - 1e-12).astype(np.int64)  # exclusive
    n = np.maximum(k1 - k0, 1)
    sess = np.repeat(np.arange(len(df)), n)
    first = np.repeat(np.cumsum(n) - n, n)
    slot = np.repeat(k0, n) + (np.arange(n.sum()) - first)
    lo = np.maximum(slot * dt, s[sess])
    hi = np.minimum((slot + 1) * dt, e[sess])
    cover = np.clip(hi - lo, 0.0, dt)
    inside = (slot >= 0) & (slot < grid.n_slots)
    if not inside.all():
        raise ValueError("smart charging: sessions must lie inside the time grid")
    return Pairs(grid, sess, slot, cover, df["power_kw"].to_numpy(float), df["energy_kwh"].to_numpy(float))


def earliest_fill(pairs: Pairs, avail_kwh: np.ndarray) -> np.ndarray:
    """Energy per pair when each session charges as early as ``avail_kwh`` per pair allows."""
    cum = np.cumsum(avail_kwh)
    start = np.r_[0, np.flatnonzero(np.diff(pairs.session)) + 1]
    n = np.diff(np.r_[start, len(avail_kwh)])
    before = cum - avail_kwh - np.repeat(cum[start] - avail_kwh[start], n)
    need = pairs.energy_kwh[pairs.session]
    return np.clip(need - before, 0.0, avail_kwh)


def _window_mask(grid: Grid, cfg) -> np.ndarray:
    lc = _cfg_load(cfg)
    tz = getattr(getattr(cfg, "region", None), "time_zone", "Europe/Amsterdam")
    hour = grid.local_hour(tz)
    return (hour >= lc.cap_window_start_hour) & (hour < lc.cap_window_end_hour)


def schedule_uncontrolled(pairs: Pairs) -> np.ndarray:
    return earliest_fill(pairs, pairs.cap_kwh)


def schedule_cap(pairs: Pairs, cfg, cap_kw: float | None = None) -> np.ndarray:
    lc = _cfg_load(cfg)
    cap_kw = lc.cap_power_kw if cap_kw is None else cap_kw
    win = _window_mask(pairs.grid, cfg)[pairs.slot]
    p = pairs.power_kw[pairs.session]
    avail = np.where(win, np.minimum(p, cap_kw), p) * pairs.cover_h
    return earliest_fill(pairs, avail)


def schedule_shift(pairs: Pairs, cfg, background_kw: np.ndarray | None = None) -> np.ndarray:
    """Peak-minimising schedule (module docstring, LP solved twice with HiGHS)."""
    import highspy

    lc = _cfg_load(cfg)
    grid = pairs.grid
    n_pairs, n_sess = len(pairs.session), len(pairs.energy_kwh)
    if n_sess > lc.shift_max_sessions:
        raise ValueError(f"shift LP: {n_sess} sessions exceed load.shift_max_sessions={lc.shift_max_sessions}; "
                         "choose a smaller area or period")
    ub = pairs.cap_kwh
    # energy per session: all of it when feasible (always, by construction of power_kw), else what fits
    target = np.minimum(pairs.energy_kwh, np.bincount(pairs.session, weights=ub, minlength=n_sess))
    slots_used, slot_row = np.unique(pairs.slot, return_inverse=True)
    n_rows = n_sess + len(slots_used)
    bg = np.zeros(grid.n_slots) if background_kw is None else np.asarray(background_kw, float)
    # columns: x_0..x_{n-1}, P ; column-wise sparse matrix
    starts = np.r_[np.arange(0, 2 * n_pairs + 1, 2), 2 * n_pairs + len(slots_used)]
    index = np.empty(2 * n_pairs + len(slots_used), dtype=np.int32)
    value = np.empty(2 * n_pairs + len(slots_used))
    index[0:2 * n_pairs:2] = pairs.session
    index[1:2 * n_pairs:2] = n_sess + slot_row
    value[0:2 * n_pairs:2] = 1.0
    value[1:2 * n_pairs:2] = 1.0 / grid.dt_h
    index[2 * n_pairs:] = n_sess + np.arange(len(slots_used))
    value[2 * n_pairs:] = -1.0
    lp = highspy.HighsLp()
    lp.num_col_ = n_pairs + 1
    lp.num_row_ = n_rows
    lp.col_cost_ = np.r_[np.zeros(n_pairs), 1.0]
    lp.col_lower_ = np.r_[np.zeros(n_pairs), bg.max() if len(bg) else 0.0]
    lp.col_upper_ = np.r_[ub, highspy.kHighsInf]
    lp.row_lower_ = np.r_[target, np.full(len(slots_used), -highspy.kHighsInf)]
    lp.row_upper_ = np.r_[target, -bg[slots_used]]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = starts.astype(np.int32)
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = value
    h = _quiet_highs()
    h.setOptionValue("time_limit", float(lc.shift_time_limit_s))
    h.passModel(lp)
    t0 = time.perf_counter()
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"shift LP: HiGHS status {h.modelStatusToString(h.getModelStatus())}")
    peak = float(h.getSolution().col_value[n_pairs])
    # stage 2: keep the peak, charge as early as possible
    first_slot = np.minimum.reduceat(pairs.slot, np.r_[0, np.flatnonzero(np.diff(pairs.session)) + 1])
    delay_h = (pairs.slot - first_slot[pairs.session]) * grid.dt_h
    h.changeColBounds(n_pairs, lp.col_lower_[n_pairs], peak * (1 + 1e-9) + 1e-7)
    h.changeColsCost(n_pairs + 1, np.arange(n_pairs + 1, dtype=np.int32),
                     np.r_[delay_h / max(delay_h.max(), 1.0), 0.0])
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"shift LP (stage 2): HiGHS status {h.modelStatusToString(h.getModelStatus())}")
    x = np.clip(np.asarray(h.getSolution().col_value[:n_pairs]), 0.0, ub)
    log.info("shift LP: %d sessions, %d variables, peak %.1f kW, %.2f s", n_sess, n_pairs, peak,
             time.perf_counter() - t0)
    return x


def _quiet_highs():
    """A Highs instance without its start-up banner on stdout (it would corrupt ``--json`` output)."""
    import os
    import sys

    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    return h


def time_clusters(pairs: Pairs) -> np.ndarray:
    """Cluster id per session: sessions chained by overlapping connected slots share a cluster.

    Clusters never share a slot, so the shift LP separates: the optimum of the whole set is the
    cluster optima side by side (its peak is the largest cluster peak).
    """
    n = len(pairs.energy_kwh)
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, -1)
    np.minimum.at(first, pairs.session, pairs.slot)
    np.maximum.at(last, pairs.session, pairs.slot)
    order = np.argsort(first, kind="stable")
    reach = np.maximum.accumulate(last[order])
    new = np.r_[True, first[order][1:] > reach[:-1]]
    cid = np.empty(n, dtype=np.int64)
    cid[order] = np.cumsum(new) - 1
    return cid


def schedule_shift_clustered(pairs: Pairs, cfg) -> np.ndarray:
    """:func:`schedule_shift` per time cluster (:func:`time_clusters`): same optimum, smaller LPs, and
    ``load.shift_max_sessions`` applies per cluster, so long periods stay tractable."""
    cid = time_clusters(pairs)
    x = np.zeros(len(pairs.session))
    pair_c = cid[pairs.session]
    for c in np.unique(cid):
        sess = np.flatnonzero(cid == c)
        mask = pair_c == c
        sub = Pairs(pairs.grid, np.searchsorted(sess, pairs.session[mask]), pairs.slot[mask], pairs.cover_h[mask],
                    pairs.power_kw[sess], pairs.energy_kwh[sess])
        x[mask] = schedule_shift(sub, cfg)
    return x


def connection_codes(df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Connection per session and the connection labels.

    The connection is the ``ean18`` when known; else the location (label ``CC*PARTY*LOCATION`` or the
    location id alone); one connection ``ALL`` when neither is known. Labels are what GAC-like limit
    events name in their ``connection`` column.
    """
    def loc_label() -> pd.Series | None:
        if "location_id" not in df.columns or not df["location_id"].notna().any():
            return None
        lab = df["location_id"].astype("object").fillna("").astype(str)
        if {"country_code", "party_id"} <= set(df.columns):
            lab = (df["country_code"].astype("object").fillna("").astype(str) + "*"
                   + df["party_id"].astype("object").fillna("").astype(str) + "*" + lab)
        return lab

    label = loc_label()
    if "ean18" in df.columns and df["ean18"].notna().any():
        ean = df["ean18"].astype("object")
        label = ean.where(ean.notna(), label if label is not None else "ALL").astype(str)
    if label is None:
        return np.zeros(len(df), dtype=np.int64), ["ALL"]
    codes, uniques = pd.factorize(label.to_numpy(), sort=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


def schedule_limit(pairs: Pairs, conn: np.ndarray, limit_kw) -> np.ndarray:
    """Proportional real-time sharing under a kW limit per connection (module docstring).

    ``limit_kw``: a number (every connection, always), or an array (connections x slots) of kW with
    ``inf`` where no limit applies (from GAC events, see :func:`limit_matrix`).
    """
    grid = pairs.grid
    n_conn = int(conn.max()) + 1 if len(conn) else 0
    lim = (np.full((n_conn, grid.n_slots), float(limit_kw)) if np.isscalar(limit_kw)
           else np.asarray(limit_kw, float))
    order = np.lexsort((pairs.session, pairs.slot))
    slot_sorted = pairs.slot[order]
    bounds = np.r_[0, np.flatnonzero(np.diff(slot_sorted)) + 1, len(order)]
    remaining = pairs.energy_kwh.copy()
    cap = pairs.cap_kwh
    x = np.zeros(len(order))
    pconn = conn[pairs.session]
    for b0, b1 in zip(bounds[:-1], bounds[1:]):
        idx = order[b0:b1]
        k = slot_sorted[b0]
        sess = pairs.session[idx]
        want = np.minimum(cap[idx], remaining[sess])
        c = pconn[idx]
        tot = np.bincount(c, weights=want, minlength=n_conn)
        allowed = lim[:, k] * grid.dt_h
        scale = np.divide(allowed, tot, out=np.ones(n_conn), where=tot > allowed)
        got = want * np.minimum(scale[c], 1.0)
        x[idx] = got
        np.subtract.at(remaining, sess, got)
    return x


def limit_matrix(events: pd.DataFrame, conn_keys: list, grid: Grid, default_kw: float = np.inf) -> np.ndarray:
    """kW limit per (connection, slot) from GAC-like events: connection (label, see
    :func:`connection_codes`), start_utc, end_utc, limit_kw (the OpenADR 3 GAC IMPORT_CAPACITY_LIMIT).

    A slot takes the lowest limit of the events that overlap it; other slots get ``default_kw``. Events
    naming an unknown connection are ignored (logged).
    """
    lim = np.full((len(conn_keys), grid.n_slots), float(default_kw))
    pos = {k: i for i, k in enumerate(conn_keys)}
    unknown = sorted({str(c) for c in events["connection"]} - set(pos))
    if unknown:
        log.warning("limit events for unknown connections ignored: %s", ", ".join(unknown[:10]))
    for ev in events.itertuples(index=False):
        i = pos.get(str(ev.connection))
        if i is None:
            continue
        a = int(np.floor(grid.hours([np.datetime64(ev.start_utc)])[0] / grid.dt_h))
        b = int(np.ceil(grid.hours([np.datetime64(ev.end_utc)])[0] / grid.dt_h))
        a, b = max(a, 0), min(b, grid.n_slots)
        if b > a:
            lim[i, a:b] = np.minimum(lim[i, a:b], float(ev.limit_kw))
    return lim


def slot_power(pairs: Pairs, x: np.ndarray) -> np.ndarray:
    return np.bincount(pairs.slot, weights=x, minlength=pairs.grid.n_slots) / pairs.grid.dt_h


@dataclass
class SmartResult:
    strategy: str
    summary: dict
    profile: pd.DataFrame      # slot_utc, uncontrolled_kw, smart_kw
    sessions: pd.DataFrame     # per session: energy_kwh, delivered_kwh, not_delivered_kwh, affected
    extra: dict = field(default_factory=dict)


def simulate(sessions: pd.DataFrame, cfg, strategy: str, *, t_from=None, t_to=None, cap_kw: float | None = None,
             limit_kw=None, limit_events: pd.DataFrame | None = None) -> SmartResult:
    """Run one smart-charging strategy (cap | shift | limit) against uncontrolled charging."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown smart strategy {strategy!r}; one of {STRATEGIES}")
    lc = _cfg_load(cfg)
    df = session_power(sessions, cfg)
    if df.empty:
        raise ValueError("smart charging: no sessions with energy and a positive duration")
    # the grid covers every session whole (and at least [t_from, t_to) when given)
    lo, hi = df["start_utc"].min().floor("h"), df["end_utc"].max().ceil("h")
    t_from = lo if t_from is None else min(pd.Timestamp(t_from), lo)
    t_to = hi if t_to is None else max(pd.Timestamp(t_to), hi)
    grid = Grid.covering(df["start_utc"], df["end_utc"], lc.resolution_min, t_from, t_to)
    pairs = make_pairs(df, grid)
    x0 = schedule_uncontrolled(pairs)
    extra: dict = {}
    if strategy == "cap":
        x = schedule_cap(pairs, cfg, cap_kw)
        extra["cap_kw"] = lc.cap_power_kw if cap_kw is None else cap_kw
    elif strategy == "shift":
        x = schedule_shift_clustered(pairs, cfg)
        extra["lp_clusters"] = int(time_clusters(pairs).max()) + 1
    else:
        conn, labels = connection_codes(df)
        if limit_events is not None and len(limit_events):
            lim = limit_matrix(limit_events, labels, grid, lc.ean_limit_kw if limit_kw is None else limit_kw)
        else:
            lim = lc.ean_limit_kw if limit_kw is None else limit_kw
        x = schedule_limit(pairs, conn, lim)
        extra["connections"] = int(conn.max()) + 1
        extra["limit_kw"] = float(lim) if np.isscalar(lim) else None
    p0, p1 = slot_power(pairs, x0), slot_power(pairs, x)
    n = len(df)
    delivered = np.bincount(pairs.session, weights=x, minlength=n)
    changed = np.bincount(pairs.session, weights=(np.abs(x - x0) > _TOL_KWH).astype(float), minlength=n) > 0
    short = df["energy_kwh"].to_numpy() - delivered
    per_session = pd.DataFrame({"start_utc": df["start_utc"], "end_utc": df["end_utc"],
                                "energy_kwh": df["energy_kwh"], "power_kw": df["power_kw"],
                                "delivered_kwh": delivered, "not_delivered_kwh": np.clip(short, 0, None),
                                "affected": changed})
    ids = [c for c in ("session_id", "country_code", "party_id", "location_id", "evse_uid") if c in df.columns]
    per_session = pd.concat([df[ids].reset_index(drop=True), per_session], axis=1)
    win = _window_mask(grid, cfg)
    energy = float(df["energy_kwh"].sum())
    summary = {
        "strategy": strategy, "sessions": n, "energy_kwh": energy,
        "peak_uncontrolled_kw": float(p0.max()), "peak_smart_kw": float(p1.max()),
        "peak_reduction_kw": float(p0.max() - p1.max()),
        # n/a (None) where there is nothing to compare: no load at all, or no slot in the evening window
        "peak_reduction_share": float(1 - p1.max() / p0.max()) if p0.max() > 0 else None,
        "window_peak_uncontrolled_kw": float(p0[win].max()) if win.any() else None,
        "window_peak_smart_kw": float(p1[win].max()) if win.any() else None,
        "energy_not_delivered_kwh": float(np.clip(short, 0, None).sum()),
        "sessions_affected": int(changed.sum()),
        "sessions_short": int((short > _TOL_KWH).sum()),
        **extra,
    }
    profile = pd.DataFrame({"slot_utc": grid.slots_utc, "uncontrolled_kw": p0, "smart_kw": p1})
    return SmartResult(strategy, summary, profile, per_session, extra)
