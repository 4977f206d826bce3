"""Load profiles of charging sessions (uncontrolled charging) at a fixed resolution (15 minutes).

Uncontrolled charging: a session charges at its power ``p`` from its start until its energy ``E`` is
delivered, so its power is the step function ``p * 1[s <= t < s + E/p]``. The session power is what the
session itself shows: ``E / charging_h`` when the charging time is known (> 0; capped by the connected
time), capped by ``max_power_kw`` (the EVSE's / connector's power) when that is known; without a charging
time it is ``max_power_kw``, else ``load.default_session_power_kw``. The rated power alone would let a car
that drew 3.7 kW for 3 h charge at 11 kW for 1 h and overstate peaks. The power is raised to
``E / connected_h`` when the energy could not be delivered within the connected time otherwise, so the
energy under every profile equals the session energy exactly.

Vectorised with difference arrays (no per-slot explosion): a power step ``+p`` at time ``a`` (in slot
``k = floor(a / dt)``, fraction ``f = a/dt - k``) adds ``p (1 - f) dt`` kWh to slot ``k`` and ``p dt`` to
every later slot; so each step adds ``p`` to a difference array at ``k + 1`` and ``p (1 - f) dt`` to a
partial array at ``k``, and the energy per slot is ``dt * cumsum(diff) + partial``. The stop at
``b = s + E/p`` adds the same with ``-p``. With ``np.bincount`` over ``group * (K + 1) + slot`` this is
O(sessions + groups x slots) for any grouping (EVSE, location, area, region).

Summary per group (:func:`profile_summary`): energy, peak power and its time, share of energy in the
evening window (local hours ``kpi.evening_start_hour`` .. ``evening_end_hour``), the peak within that
window, and the coincidence factor

    CF = max_t sum_u P_u(t) / sum_u max_t P_u(t)

over the units ``u`` (EVSEs by default, ``load.coincidence_unit``) in the group; CF = 1 means all
units peak together. When the sessions do not say which EVSE (or location) they used, there are no units:
treating every session as its own unit would divide the peak by the sum of all session peaks (CF 0.0017 on
the 10,188 real sessions of 2018, a meaningless figure), so CF is then n/a (NaN) and
``coincidence_unit`` is None, with a note in ``coincidence_note``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

EVSE_KEY = ["country_code", "party_id", "location_id", "evse_uid"]
LOCATION_KEY = ["country_code", "party_id", "location_id"]


def _cfg_load(cfg):
    return getattr(cfg, "load", cfg)


def session_power(sessions: pd.DataFrame, cfg) -> pd.DataFrame:
    """Sessions usable for profiles, with ``power_kw`` (effective) and ``charge_h = energy / power``.

    Needs start_utc, end_utc, energy_kwh; uses max_power_kw and charging_h when present. Sessions with
    end <= start or energy <= 0 carry no load and are dropped (counted in the log).
    """
    lc = _cfg_load(cfg)
    start = pd.to_datetime(sessions["start_utc"]).to_numpy(dtype="datetime64[us]")
    end = pd.to_datetime(sessions["end_utc"]).to_numpy(dtype="datetime64[us]")
    conn_h = (end - start).astype("int64") / 3.6e9
    e = pd.to_numeric(sessions["energy_kwh"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    ok = (conn_h > 0) & (e > 0) & np.isfinite(e)
    if (~ok).any():
        log.info("load profile: %d of %d sessions without load (end <= start or energy <= 0) left out",
                 int((~ok).sum()), len(sessions))
        df = sessions.loc[ok].reset_index(drop=True)
        start, end, conn_h, e = start[ok], end[ok], conn_h[ok], e[ok]
    else:
        df = sessions.reset_index(drop=True).copy(deep=False)
    p = np.full(len(df), lc.default_session_power_kw)
    mp = (pd.to_numeric(df["max_power_kw"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
          if "max_power_kw" in df.columns else np.full(len(df), np.nan))
    has_mp = np.isfinite(mp) & (mp > 0)
    p[has_mp] = mp[has_mp]
    if "charging_h" in df.columns:
        ch = pd.to_numeric(df["charging_h"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        use = np.isfinite(ch) & (ch > 0)
        own = e[use] / np.minimum(ch[use], conn_h[use])
        p[use] = np.where(has_mp[use], np.minimum(own, mp[use]), own)
    p = np.maximum(p, e / conn_h)
    df["start_utc"] = start
    df["end_utc"] = end
    df["energy_kwh"] = e
    df["connected_h"] = conn_h
    df["power_kw"] = p
    df["charge_h"] = e / p
    return df


@dataclass
class Grid:
    """A regular time grid: slot k covers [t0 + k dt, t0 + (k+1) dt), t0 naive UTC."""
    t0: pd.Timestamp
    dt_h: float
    n_slots: int

    @classmethod
    def covering(cls, start: pd.Series, end: pd.Series, resolution_min: int,
                 t_from=None, t_to=None) -> "Grid":
        t0 = pd.Timestamp(t_from) if t_from is not None else pd.Timestamp(start.min()).floor("h")
        t1 = pd.Timestamp(t_to) if t_to is not None else pd.Timestamp(end.max()).ceil("h")
        dt_h = resolution_min / 60.0
        n = max(1, int(np.ceil((t1 - t0).total_seconds() / 3600.0 / dt_h - 1e-9)))
        return cls(t0, dt_h, n)

    def hours(self, ts: pd.Series | np.ndarray) -> np.ndarray:
        """Hours since t0 (float)."""
        t = np.asarray(ts, dtype="datetime64[us]")
        return (t - np.datetime64(self.t0.to_datetime64(), "us")).astype("int64") / 3.6e9

    @property
    def slots_utc(self) -> pd.DatetimeIndex:
        return pd.date_range(self.t0, periods=self.n_slots, freq=pd.Timedelta(hours=self.dt_h))

    def local_hour(self, tz: str) -> np.ndarray:
        return self.slots_utc.tz_localize("UTC").tz_convert(tz).hour.to_numpy()


def energy_matrix(start_h: np.ndarray, stop_h: np.ndarray, power_kw: np.ndarray, group: np.ndarray,
                  n_groups: int, grid: Grid) -> np.ndarray:
    """Energy (kWh) per group and slot of constant-power blocks [start_h, stop_h) (hours since t0).

    Blocks are clipped to the grid. Difference-array method of the module docstring; returns an array
    of shape (n_groups, n_slots).
    """
    K, dt = grid.n_slots, grid.dt_h
    a = np.clip(start_h, 0.0, K * dt)
    b = np.clip(stop_h, 0.0, K * dt)
    keep = b > a
    a, b, p, g = a[keep], b[keep], power_kw[keep], group[keep].astype(np.int64)
    width = K + 1
    ka = np.minimum(np.floor(a / dt).astype(np.int64), K - 1)
    kb = np.minimum(np.floor(b / dt).astype(np.int64), K)
    inside = kb < K  # a stop at the grid's end adds nothing inside it
    base = g * width
    size = n_groups * width
    # one bincount for the power steps (+p after ka, -p after kb) and one for the partial slots
    diff = np.bincount(np.concatenate([base + ka + 1, (base + kb + 1)[inside]]),
                       weights=np.concatenate([p, -p[inside]]), minlength=size)
    part = np.bincount(np.concatenate([base + ka, (base + kb)[inside]]),
                       weights=np.concatenate([p * (1 - (a / dt - ka)) * dt,
                                               -(p * (1 - (b / dt - kb)) * dt)[inside]]), minlength=size)
    diff = diff.reshape(n_groups, width)
    np.cumsum(diff, axis=1, out=diff)
    diff *= dt
    diff += part.reshape(n_groups, width)
    return diff[:, :K]


def unit_peaks(start_h: np.ndarray, stop_h: np.ndarray, power_kw: np.ndarray, unit: np.ndarray, n_units: int,
               grid: Grid) -> np.ndarray:
    """Peak power (kW, slot mean) of each unit's own load, exact and sparse.

    Each block is split into the slots it touches (energy ``p * overlap``); the energies are summed per
    (unit, slot) after sorting the keys ``unit * K + slot`` and the largest slot per unit is kept. Cost
    O(P log P) in the number P of (block, slot) pairs, independent of units x slots.
    """
    K, dt = grid.n_slots, grid.dt_h
    a = np.clip(start_h, 0.0, K * dt)
    b = np.clip(stop_h, 0.0, K * dt)
    keep = b > a
    a, b, p, u = a[keep], b[keep], power_kw[keep], unit[keep].astype(np.int64)
    peaks = np.zeros(n_units)
    if len(a) == 0:
        return peaks
    ka = np.minimum(np.floor(a / dt).astype(np.int64), K - 1)
    kb = np.maximum(np.ceil(b / dt).astype(np.int64), ka + 1)
    n = kb - ka
    rep = np.repeat(np.arange(len(a)), n)
    slot = np.repeat(ka, n) + (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
    e = p[rep] * np.clip(np.minimum((slot + 1) * dt, b[rep]) - np.maximum(slot * dt, a[rep]), 0.0, None)
    key = u[rep] * K + slot
    order = np.argsort(key, kind="stable")
    key, e = key[order], e[order]
    first = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
    cell = np.add.reduceat(e, first)
    cell_unit = key[first] // K
    ufirst = np.r_[0, np.flatnonzero(np.diff(cell_unit)) + 1]
    peaks[cell_unit[ufirst]] = np.maximum.reduceat(cell, ufirst) / dt
    return peaks


def _group_codes(df: pd.DataFrame, by: list[str] | str | None) -> tuple[np.ndarray, pd.DataFrame]:
    """Group index per row (0..G-1) and the G key rows, sorted by key (missing keys form a group)."""
    if by is None or (isinstance(by, list) and not by):
        return np.zeros(len(df), dtype=np.int64), pd.DataFrame(index=[0])
    by = [by] if isinstance(by, str) else list(by)
    g = df.groupby(by, sort=True, dropna=False)
    codes = g.ngroup().to_numpy(dtype=np.int64)
    keys = g.size().reset_index()[by]
    return codes, keys


def profile_matrix(sessions: pd.DataFrame, cfg, by: list[str] | str | None = None, *, t_from=None, t_to=None,
                   prepared: bool = False) -> tuple[pd.DataFrame, Grid, np.ndarray]:
    """Uncontrolled load: (group keys, grid, power matrix kW of shape (groups, slots))."""
    lc = _cfg_load(cfg)
    df = sessions if prepared else session_power(sessions, cfg)
    if df.empty:
        raise ValueError("load profile: no sessions with energy and a positive duration")
    grid = Grid.covering(df["start_utc"], df["end_utc"], lc.resolution_min, t_from, t_to)
    codes, keys = _group_codes(df, by)
    s = grid.hours(df["start_utc"])
    e = energy_matrix(s, s + df["charge_h"].to_numpy(), df["power_kw"].to_numpy(), codes, len(keys), grid)
    return keys, grid, e / grid.dt_h


def load_profile(sessions: pd.DataFrame, cfg, by: list[str] | str | None = None, *, t_from=None, t_to=None,
                 prepared: bool = False) -> pd.DataFrame:
    """Long table: the ``by`` columns, slot_utc, power_kw (mean over the slot), energy_kwh.

    ``prepared``: the sessions already went through :func:`session_power`.
    """
    keys, grid, P = profile_matrix(sessions, cfg, by, t_from=t_from, t_to=t_to, prepared=prepared)
    slots = grid.slots_utc
    out = keys.loc[keys.index.repeat(grid.n_slots)].reset_index(drop=True)
    out["slot_utc"] = np.tile(slots.to_numpy(), len(keys))
    out["power_kw"] = P.ravel()
    out["energy_kwh"] = out["power_kw"] * grid.dt_h
    return out


def _evening_mask(grid: Grid, cfg) -> np.ndarray:
    tz = getattr(getattr(cfg, "region", None), "time_zone", "Europe/Amsterdam")
    kpi = getattr(cfg, "kpi", None)
    h0, h1 = (kpi.evening_start_hour, kpi.evening_end_hour) if kpi else (16, 21)
    hour = grid.local_hour(tz)
    return (hour >= h0) & (hour < h1)


def unit_columns(df: pd.DataFrame, unit: str) -> list[str] | None:
    """Key columns of an EVSE or location when the sessions carry them, else None (unit = session)."""
    key = EVSE_KEY if unit == "evse" else LOCATION_KEY
    have = [c for c in key if c in df.columns and df[c].notna().any()]
    if unit == "evse" and "evse_uid" not in have:
        have = [c for c in ("evse_id",) if c in df.columns and df[c].notna().any()]
    if unit == "location" and "location_id" not in have:
        return None
    return have or None


def profile_summary(sessions: pd.DataFrame, cfg, by: list[str] | str | None = None, *, t_from=None,
                    t_to=None, unit: str | None = None, prepared: bool = False) -> pd.DataFrame:
    """Per group: sessions, energy_kwh, peak_kw, peak_utc, evening_energy_share, evening_peak_kw,
    evening_peak_share (evening peak / overall peak), peak_in_evening, sum_unit_peaks_kw,
    coincidence_factor, n_units, coincidence_unit, coincidence_note (NaN / None / a note when the sessions
    carry no unit ids, see the module doc)."""
    lc = _cfg_load(cfg)
    unit = unit or lc.coincidence_unit
    df = sessions if prepared else session_power(sessions, cfg)
    keys, grid, P = profile_matrix(df, cfg, by, t_from=t_from, t_to=t_to, prepared=True)
    ev = _evening_mask(grid, cfg)
    codes, _ = _group_codes(df, by)
    energy = P.sum(axis=1) * grid.dt_h
    peak_k = P.argmax(axis=1)
    out = keys.copy()
    out["sessions"] = np.bincount(codes, minlength=len(keys))
    out["energy_kwh"] = energy
    out["peak_kw"] = P.max(axis=1)
    out["peak_utc"] = grid.slots_utc[peak_k]
    out["evening_energy_share"] = np.divide(P[:, ev].sum(axis=1) * grid.dt_h, energy,
                                            out=np.zeros(len(keys)), where=energy > 0)
    out["evening_peak_kw"] = P[:, ev].max(axis=1) if ev.any() else 0.0
    out["evening_peak_share"] = np.divide(out["evening_peak_kw"].to_numpy(dtype=float), out["peak_kw"].to_numpy(),
                                          out=np.zeros(len(keys)), where=out["peak_kw"].to_numpy() > 0)
    out["peak_in_evening"] = ev[peak_k]
    # coincidence: individual unit peaks (sparse over each unit's charging slots)
    ucols = unit_columns(df, unit)
    if ucols is None:
        out["sum_unit_peaks_kw"] = np.nan
        out["n_units"] = pd.array([pd.NA] * len(keys), dtype="Int64")
        out["coincidence_factor"] = np.nan
        out["coincidence_unit"] = None
        out["coincidence_note"] = (f"coincidence factor n/a: the sessions do not say which {unit} they used "
                                   f"(no {unit} ids), so no {unit} peaks can be summed")
        log.info("load profile: %s", out["coincidence_note"].iloc[0] if len(out) else "")
        return out
    ucodes, _ = _group_codes(df, ucols)
    unit_label = unit
    n_units = int(ucodes.max()) + 1 if len(ucodes) else 0
    unit_group = np.zeros(n_units, dtype=np.int64)
    unit_group[ucodes] = codes
    s = grid.hours(df["start_utc"])
    unit_peak = unit_peaks(s, s + df["charge_h"].to_numpy(), df["power_kw"].to_numpy(), ucodes, n_units, grid)
    out["sum_unit_peaks_kw"] = np.bincount(unit_group, weights=unit_peak, minlength=len(keys))
    out["n_units"] = np.bincount(unit_group, minlength=len(keys))
    out["coincidence_factor"] = np.divide(out["peak_kw"].to_numpy(), out["sum_unit_peaks_kw"].to_numpy(),
                                          out=np.zeros(len(keys)), where=out["sum_unit_peaks_kw"].to_numpy() > 0)
    out["coincidence_unit"] = unit_label
    out["coincidence_note"] = None
    return out
