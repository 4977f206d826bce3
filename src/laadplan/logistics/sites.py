"""Zero-emission construction sites: weekly energy and peak power, and the supply options compared.

Input: one row per site and machine group (long CSV): ``site_id, name, lat, lon, start_date, end_date,
machine_type, count, kwh_per_day, power_kw``. A site's rows may have different dates (phases).

Weekly profile (:func:`site_weekly`)
-----------------------------------
Weeks start on Monday. A machine group works on the first ``site_working_days_per_week`` days of each
week that fall inside its ``[start_date, end_date]`` (both inclusive). For week :math:`w`:
:math:`E_w = \\sum_g n_g e_g D_{g,w}` (kWh, :math:`D` working days of group :math:`g` in the week) and
:math:`P_w = \\sigma \\sum_{g: D_{g,w} > 0} n_g P_g` (kW, simultaneity ``site_simultaneity``). The daily
energy of a week is :math:`E_w / D_w` with :math:`D_w` the site's working days that week.

Options (:func:`site_options`), costs in EUR from config
-------------------------------------------------------
* ``grid``: a temporary connection. Feasible when the grid status is below
  ``grid.refuse_at_offtake_status`` (unknown: assumed available, flagged), the peak fits
  ``temp_connection_max_kw`` and the lead time ``temp_connection_lead_weeks`` fits before the start
  (``as_of`` + lead <= start). Cost = ``temp_connection_cost_eur`` + :math:`\\sum E_w` x ``grid_energy_eur_per_kwh``.
* ``battery``: mobile battery units of ``battery_unit_kwh`` / ``battery_power_kw``. Units on site
  :math:`\\lceil P_\\max / P_b \\rceil` (at least 1); each day :math:`\\lceil E_d / B \\rceil` full units are
  swapped in (every kWh arrives in a swapped unit). Feasible when the busiest day needs at most
  ``battery_max_swaps_per_day`` swaps. Cost = units x weeks x ``battery_rent_eur_per_week`` + swaps x
  ``battery_swap_cost_eur`` + energy x ``battery_energy_eur_per_kwh``.
* ``hub``: fetch energy from the nearest hub within ``hub_max_distance_km`` (straight-line RD distance) with
  a battery trailer: the same daily trips as swaps, each a return trip of :math:`2 r` km. Cost = energy x
  ``hub_cost_eur_per_kwh`` + trips x :math:`2 r` x ``hub_trip_eur_per_km``. Feasible when such a hub exists.

The recommended option is the cheapest feasible one.
"""

from __future__ import annotations

import logging
import math
import os
from datetime import date, timedelta

import numpy as np
import pandas as pd

from laadplan.geo import to_rd
from laadplan.logistics.parks import _num, _problem, in_bbox, read_table_records

log = logging.getLogger(__name__)

SITE_COLUMNS = ["site_id", "name", "lon", "lat", "x_rd", "y_rd", "start_date", "end_date", "machine_type", "count",
                "kwh_per_day", "power_kw"]
OPTION_COLUMNS = ["site_id", "name", "option", "feasible", "reason", "cost_eur", "units", "swaps_per_day_max",
                  "swaps_total", "lead_weeks", "hub_name", "hub_km", "recommended"]


def _date(v) -> date:
    return date.fromisoformat(str(v).strip()[:10])


def read_sites(src: str | os.PathLike, cfg) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Construction site machine rows from CSV/GeoJSON; returns ``(rows, problems)`` (see module doc).
    Bad records (``LP-MISSING``, ``LP-TYPE``, ``LP-COORDS-NL``) go to ``problems``; the rest is read."""
    rows, problems = [], []
    for pos, rec in enumerate(read_table_records(src), start=1):
        sid = str(rec.get("site_id") or "").strip()
        if not sid:
            problems.append(_problem(src, pos, "LP-MISSING", "site_id is missing", rec))
            continue
        missing = [k for k in ("lat", "lon", "start_date", "end_date", "kwh_per_day", "power_kw")
                   if rec.get(k) in (None, "")]
        if missing:
            problems.append(_problem(src, pos, "LP-MISSING", f"missing {', '.join(missing)}", rec, sid))
            continue
        try:
            lon, lat = _num(rec["lon"]), _num(rec["lat"])
            start, end = _date(rec["start_date"]), _date(rec["end_date"])
            count = _num(rec.get("count"))
            kwh, kw = _num(rec["kwh_per_day"]), _num(rec["power_kw"])
        except (TypeError, ValueError) as e:
            problems.append(_problem(src, pos, "LP-TYPE", f"a number or date is malformed ({e})", rec, sid))
            continue
        count = 1.0 if count is None else count
        if end < start or count < 0 or kwh < 0 or kw < 0:
            problems.append(_problem(src, pos, "LP-TYPE", "end before start or a negative count/energy/power",
                                     rec, sid))
            continue
        if not in_bbox(lon, lat, cfg.validation):
            problems.append(_problem(src, pos, "LP-COORDS-NL", f"coordinates {lat}, {lon} outside the Netherlands",
                                     rec, sid))
            continue
        rows.append({"site_id": sid, "name": rec.get("name") or sid, "lon": lon, "lat": lat, "start_date": start,
                     "end_date": end, "machine_type": rec.get("machine_type") or "machine", "count": count,
                     "kwh_per_day": kwh, "power_kw": kw})
    for p in problems:
        log.warning("%s [rule %s]", p["message"], p["rule_code"])
    df = pd.DataFrame(rows, columns=SITE_COLUMNS)
    if len(df):
        df["x_rd"], df["y_rd"] = to_rd(df["lon"].to_numpy(float), df["lat"].to_numpy(float))
        first = df.groupby("site_id")[["name", "lon", "lat", "x_rd", "y_rd"]].transform("first")
        df[["name", "lon", "lat", "x_rd", "y_rd"]] = first
    return df, pd.DataFrame(problems, columns=["rule_code", "position", "record_id", "raw", "message"])


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def site_weekly(rows: pd.DataFrame, cfg) -> pd.DataFrame:
    """Per site and week (``week_start`` a Monday): ``working_days``, ``energy_kwh``, ``peak_kw``,
    ``daily_kwh`` (module docstring). Weeks without a working day are left out."""
    lc = cfg.logistics
    cols = ["site_id", "name", "week_start", "working_days", "energy_kwh", "peak_kw", "daily_kwh"]
    if len(rows) == 0:
        return pd.DataFrame(columns=cols)
    r = rows.reset_index(drop=True).assign(_row=lambda d: d.index)
    r["day"] = [pd.date_range(a, b, freq="D") for a, b in zip(r["start_date"], r["end_date"])]
    days = r.explode("day")
    days = days[days["day"].dt.day_of_week < lc.site_working_days_per_week]
    if len(days) == 0:
        return pd.DataFrame(columns=cols)
    days = days.assign(week_start=(days["day"] - pd.to_timedelta(days["day"].dt.day_of_week, unit="D")).dt.date,
                       energy_kwh=days["count"] * days["kwh_per_day"], kw=days["count"] * days["power_kw"])
    key = ["site_id", "week_start"]
    w = days.groupby(key).agg(name=("name", "first"), working_days=("day", "nunique"),
                              energy_kwh=("energy_kwh", "sum"))
    peak = days.drop_duplicates(key + ["_row"]).groupby(key)["kw"].sum() * lc.site_simultaneity
    w = w.join(peak.rename("peak_kw")).reset_index()
    w["daily_kwh"] = w["energy_kwh"] / w["working_days"]
    w["working_days"] = w["working_days"].astype(int)
    return w[cols].sort_values(key).reset_index(drop=True)


def site_options(rows: pd.DataFrame, weekly: pd.DataFrame, cfg, *, as_of: date,
                 grid_status: pd.Series | None = None, hubs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The three supply options per site with feasibility, reason and cost (module docstring).

    ``grid_status`` maps site_id -> offtake status (missing: unknown); ``hubs`` has ``name, x_rd, y_rd``.
    """
    lc, gc = cfg.logistics, cfg.grid
    out = []
    for sid, w in weekly.groupby("site_id", sort=True):
        site = rows[rows["site_id"] == sid].iloc[0]
        start = min(rows.loc[rows["site_id"] == sid, "start_date"])
        w = w[w["working_days"] > 0]
        energy = float(w["energy_kwh"].sum())
        peak = float(w["peak_kw"].max()) if len(w) else 0.0
        weeks = int(len(w))
        trips_per_day = np.ceil(w["daily_kwh"].to_numpy(float) / lc.battery_unit_kwh - 1e-9)
        swaps_total = float((trips_per_day * w["working_days"].to_numpy(float)).sum())
        swaps_max = int(trips_per_day.max()) if len(w) else 0
        name = site["name"]
        # grid
        st = None if grid_status is None else grid_status.get(sid)
        st = None if st is None or pd.isna(st) else int(st)
        lead = lc.temp_connection_lead_weeks
        weeks_until = (start - as_of).days / 7.0
        reasons = []
        if st is not None and st >= gc.refuse_at_offtake_status:
            reasons.append(f"grid congested (offtake status {st}): new connections refused")
        if peak > lc.temp_connection_max_kw:
            reasons.append(f"peak {peak:.0f} kW above the {lc.temp_connection_max_kw:.0f} kW temporary connection")
        if lead > weeks_until and weeks_until < 0:
            reasons.append(f"the site started {-weeks_until:.1f} weeks before the planning date {as_of}: "
                           f"too late for a connection with {lead:g} weeks lead time")
        elif lead > weeks_until:
            reasons.append(f"lead time {lead:g} weeks > {weeks_until:.1f} weeks until the start")
        ok = not reasons
        if ok:
            reasons.append("fits" + (" (grid status unknown: assumed available)" if st is None else ""))
        out.append({"site_id": sid, "name": name, "option": "grid", "feasible": ok, "reason": "; ".join(reasons),
                    "cost_eur": lc.temp_connection_cost_eur + energy * lc.grid_energy_eur_per_kwh, "units": None,
                    "swaps_per_day_max": None, "swaps_total": None, "lead_weeks": lead, "hub_name": None,
                    "hub_km": None})
        # mobile batteries
        units = max(1, int(math.ceil(peak / lc.battery_power_kw - 1e-9)))
        ok = swaps_max <= lc.battery_max_swaps_per_day
        reason = "fits" if ok else f"{swaps_max} swaps a day > {lc.battery_max_swaps_per_day} allowed"
        out.append({"site_id": sid, "name": name, "option": "battery", "feasible": ok, "reason": reason,
                    "cost_eur": units * weeks * lc.battery_rent_eur_per_week + swaps_total * lc.battery_swap_cost_eur
                    + energy * lc.battery_energy_eur_per_kwh, "units": units, "swaps_per_day_max": swaps_max,
                    "swaps_total": swaps_total, "lead_weeks": 0.0, "hub_name": None, "hub_km": None})
        # nearby hub
        hub_name, r_km = None, None
        if hubs is not None and len(hubs):
            dist = np.hypot(hubs["x_rd"].to_numpy(float) - site["x_rd"], hubs["y_rd"].to_numpy(float) - site["y_rd"])
            i = int(np.argmin(dist))
            hub_name, r_km = str(hubs["name"].iloc[i]), float(dist[i]) / 1000
        ok = r_km is not None and r_km <= lc.hub_max_distance_km
        reason = "fits" if ok else ("no hub known" if r_km is None else
                                    f"nearest hub {r_km:.1f} km > {lc.hub_max_distance_km:g} km")
        cost = energy * lc.hub_cost_eur_per_kwh + swaps_total * 2 * (r_km or 0.0) * lc.hub_trip_eur_per_km
        out.append({"site_id": sid, "name": name, "option": "hub", "feasible": ok, "reason": reason,
                    "cost_eur": cost, "units": None, "swaps_per_day_max": swaps_max, "swaps_total": swaps_total,
                    "lead_weeks": 0.0, "hub_name": hub_name, "hub_km": r_km})
    df = pd.DataFrame(out, columns=[c for c in OPTION_COLUMNS if c != "recommended"])
    df["recommended"] = False
    feas = df[df["feasible"]]
    if len(feas):
        best = feas.sort_values(["site_id", "cost_eur"]).groupby("site_id").head(1).index
        df.loc[best, "recommended"] = True
    return df
