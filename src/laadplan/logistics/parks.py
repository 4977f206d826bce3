"""Business parks: electric vans and trucks per year, a shared hub per park, and a priority list.

Demand
------
A park has ``vans`` and ``trucks`` (when the input gives none: ``firms x vans_per_firm`` and
``firms x trucks_per_firm``). In year :math:`y` the electric ones are
:math:`n_v = \\text{vans} \\cdot s_\\text{van}(y)` and :math:`n_t = \\text{trucks} \\cdot s_\\text{truck}(y)` with
:math:`s` the national battery-electric share of :func:`laadplan.forecast.fleet.electric_share`, and the
daily energy is :math:`E = n_v e_v + n_t e_t` (``van_kwh_per_day``, ``truck_kwh_per_day``).

Shared hub sizing (:func:`size_hub`)
-----------------------------------
Vans charge on ``van_charger_kw`` chargers and trucks on ``truck_charger_kw`` chargers during a window of
:math:`W` hours (``hub_charging_window_h``); a charger delivers during a share :math:`u` of it
(``hub_charger_utilisation``), so a class with energy :math:`E_c` needs :math:`\\lceil E_c / (P_c W u) \\rceil`
chargers. Installed power :math:`P_\\text{inst} = \\sum n_c P_c`; the peak is
:math:`P = \\max(\\sigma P_\\text{inst}, E / W)` with simultaneity :math:`\\sigma` (``hub_simultaneity``);
without a battery the connection must carry :math:`P`.

Peak shaving with a stationary battery of :math:`B` kWh and :math:`P_b` kW (``hub_battery_units`` units of
``battery_unit_kwh`` / ``battery_power_kw``): the hub draws :math:`P` for :math:`t = E / P` hours. A connection
:math:`C` works when the battery covers :math:`P - C` for :math:`t` hours and the grid delivers the day's
energy in 24 h, so

.. math:: C = \\max\\left(E / 24,\\; P - P_b,\\; P - B / t\\right),\\quad 0 \\le C \\le P.

(Recharging the used :math:`(P - C)t` in the other :math:`24 - t` hours follows from :math:`C \\ge E/24`.)

Priority
--------
For ``park_priority_year`` the parks are ranked in three classes, then by daily energy (largest first):
``now`` when the park's grid status is below ``grid.refuse_at_offtake_status`` (unknown counts as
available and is flagged), ``battery`` when the area is congested but the battery-shaved connection fits
within the park's known spare capacity (``spare_kw``, optional input column), else ``wait`` (needs grid
capacity first).
"""

from __future__ import annotations

import json
import logging
import math
import os
from typing import Callable

import numpy as np
import pandas as pd
import shapely

from laadplan.geo import to_rd
from laadplan.ingest._io import SourceError, open_text
from laadplan.logistics.settings import LogisticsConfig

log = logging.getLogger(__name__)

PARK_COLUMNS = ["park_id", "name", "lon", "lat", "x_rd", "y_rd", "area_ha", "firms", "vans", "trucks", "spare_kw",
                "vehicles_estimated"]
ShareFn = Callable[[str, int, str, object], float]


def _num(v):
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None
    return float(v)


def read_table_records(src: str | os.PathLike) -> list[dict]:
    """Records of a CSV or GeoJSON file (path or URL). GeoJSON geometry becomes ``lon``/``lat`` of its
    representative point; a CSV gives its columns as text."""
    import csv

    name = str(src)
    try:
        with open_text(src) as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise SourceError(f"{name}: not UTF-8 text ({e})") from None
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise SourceError(f"{name}: not valid JSON ({e})") from None
        feats = doc.get("features")
        if not isinstance(feats, list):
            raise SourceError(f"{name}: not a GeoJSON FeatureCollection")
        recs = []
        for ft in feats:
            props = dict((ft or {}).get("properties") or {})
            try:
                pt = shapely.point_on_surface(shapely.geometry.shape(ft["geometry"]))
                props.setdefault("lon", pt.x)
                props.setdefault("lat", pt.y)
            except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException):
                pass  # the record is judged by the validation below (missing coordinates)
            recs.append(props)
        return recs
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise SourceError(f"{name}: empty file or no header")
    return list(reader)


def _problem(src, pos, code, msg, rec, rid=None) -> dict:
    return {"rule_code": code, "position": pos, "record_id": rid, "raw": json.dumps(rec, default=str),
            "message": f"{src}: record {pos}: {msg}"}


def in_bbox(lon: float, lat: float, validation) -> bool:
    return (validation.bbox_lon_min <= lon <= validation.bbox_lon_max
            and validation.bbox_lat_min <= lat <= validation.bbox_lat_max)


def read_parks(src: str | os.PathLike, cfg) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Business parks from CSV or GeoJSON: ``park_id, name, lat, lon`` (or a geometry), ``area_ha``,
    ``firms`` and optional ``vans``, ``trucks``, ``spare_kw``. Returns ``(parks, problems)``; a bad record
    (rule ``LP-MISSING``, ``LP-TYPE``, ``LP-COORDS-NL``, ``LP-DUPLICATE``) goes to ``problems`` and the rest
    is read. ``cfg`` is the :class:`~laadplan.config.RegionConfig`."""
    lc = cfg.logistics
    rows, problems, seen = [], [], set()
    for pos, rec in enumerate(read_table_records(src), start=1):
        pid = str(rec.get("park_id") or "").strip()
        if not pid:
            problems.append(_problem(src, pos, "LP-MISSING", "park_id is missing", rec))
            continue
        if pid in seen:
            problems.append(_problem(src, pos, "LP-DUPLICATE", f"park_id {pid} appears twice", rec, pid))
            continue
        try:
            lon, lat = _num(rec.get("lon")), _num(rec.get("lat"))
            firms, area = _num(rec.get("firms")), _num(rec.get("area_ha"))
            vans, trucks, spare = _num(rec.get("vans")), _num(rec.get("trucks")), _num(rec.get("spare_kw"))
        except (TypeError, ValueError) as e:
            problems.append(_problem(src, pos, "LP-TYPE", f"a number field is not a number ({e})", rec, pid))
            continue
        if lon is None or lat is None:
            problems.append(_problem(src, pos, "LP-MISSING", "lat/lon (or a geometry) is missing", rec, pid))
            continue
        if not in_bbox(lon, lat, cfg.validation):
            problems.append(_problem(src, pos, "LP-COORDS-NL", f"coordinates {lat}, {lon} outside the Netherlands",
                                     rec, pid))
            continue
        if firms is None and (vans is None or trucks is None):
            problems.append(_problem(src, pos, "LP-MISSING", "needs firms, or both vans and trucks", rec, pid))
            continue
        if any(v is not None and v < 0 for v in (firms, area, vans, trucks, spare)):
            problems.append(_problem(src, pos, "LP-TYPE", "a count or area is negative", rec, pid))
            continue
        seen.add(pid)
        est = vans is None or trucks is None
        rows.append({"park_id": pid, "name": rec.get("name") or pid, "lon": lon, "lat": lat, "area_ha": area,
                     "firms": firms, "vans": vans if vans is not None else firms * lc.vans_per_firm,
                     "trucks": trucks if trucks is not None else firms * lc.trucks_per_firm,
                     "spare_kw": spare if spare is not None else 0.0, "vehicles_estimated": est})
    for p in problems:
        log.warning("%s [rule %s]", p["message"], p["rule_code"])
    df = pd.DataFrame(rows, columns=PARK_COLUMNS)
    if len(df):
        df["x_rd"], df["y_rd"] = to_rd(df["lon"].to_numpy(float), df["lat"].to_numpy(float))
    return df, pd.DataFrame(problems, columns=["rule_code", "position", "record_id", "raw", "message"])


def size_hub(ev_vans: float, ev_trucks: float, cfg: LogisticsConfig) -> dict:
    """Shared hub for ``ev_vans`` and ``ev_trucks`` (module docstring): chargers per class, installed and
    peak kW, and the connection without and with the stationary battery."""
    e_v, e_t = ev_vans * cfg.van_kwh_per_day, ev_trucks * cfg.truck_kwh_per_day
    e = e_v + e_t
    w, u = cfg.hub_charging_window_h, cfg.hub_charger_utilisation
    chargers = {kw: 0 for kw in cfg.hub_charger_kw}
    for energy, kw in ((e_v, cfg.van_charger_kw), (e_t, cfg.truck_charger_kw)):
        if energy > 0:
            chargers[kw] = chargers.get(kw, 0) + int(math.ceil(energy / (kw * w * u) - 1e-9))
    installed = float(sum(kw * n for kw, n in chargers.items()))
    peak = max(cfg.hub_simultaneity * installed, e / w) if e > 0 else 0.0
    b_kwh = cfg.hub_battery_units * cfg.battery_unit_kwh
    b_kw = cfg.hub_battery_units * cfg.battery_power_kw
    if e > 0:
        t = e / peak
        conn_b = min(peak, max(e / 24.0, peak - b_kw, peak - b_kwh / t, 0.0))
    else:
        t, conn_b = 0.0, 0.0
    out = {"daily_kwh": e, "van_kwh": e_v, "truck_kwh": e_t, "installed_kw": installed, "peak_kw": peak,
           "peak_hours": t, "connection_kw": peak, "connection_kw_battery": conn_b,
           "battery_kwh": b_kwh if e > 0 else 0.0, "shaved_kw": peak - conn_b}
    for kw, n in sorted(chargers.items()):
        out[f"chargers_{kw:g}kw"] = n
    return out


def _default_share() -> ShareFn:
    from laadplan.forecast.fleet import electric_share

    return electric_share


def park_demand(parks: pd.DataFrame, cfg, years: list[int] | None = None, scenario: str | None = None,
                share_fn: ShareFn | None = None) -> pd.DataFrame:
    """Per park and year: electric vans and trucks, daily energy and the hub sizing (:func:`size_hub`).

    ``cfg`` is the RegionConfig (passed on to ``share_fn(vehicle, year, scenario, cfg)``)."""
    lc = cfg.logistics
    share_fn = share_fn or _default_share()
    years = years or lc.park_years
    scenario = scenario or lc.park_scenario
    rows = []
    for y in years:
        sv, st = share_fn("van", y, scenario, cfg), share_fn("truck", y, scenario, cfg)
        for p in parks.itertuples(index=False):
            nv, nt = p.vans * sv, p.trucks * st
            rows.append({"park_id": p.park_id, "name": p.name, "year": y, "scenario": scenario, "van_share": sv,
                         "truck_share": st, "ev_vans": nv, "ev_trucks": nt, **size_hub(nv, nt, lc)})
    return pd.DataFrame(rows)


def prioritise(demand: pd.DataFrame, parks: pd.DataFrame, status: pd.Series, cfg, year: int | None = None
               ) -> pd.DataFrame:
    """Priority list across parks for ``year`` (module docstring). ``status`` is the offtake status per
    park (aligned with ``parks``; ``<NA>`` unknown)."""
    year = year or cfg.logistics.park_priority_year
    d = demand[demand["year"] == year].merge(
        parks[["park_id", "spare_kw"]].assign(grid_status=pd.array(status, dtype="Int64")), on="park_id")
    refuse = cfg.grid.refuse_at_offtake_status
    congested = d["grid_status"].fillna(-1).to_numpy() >= refuse
    fits = d["connection_kw_battery"].to_numpy(float) <= d["spare_kw"].to_numpy(float)
    d["priority_class"] = np.where(~congested, "now", np.where(fits, "battery", "wait"))
    d["grid_unknown"] = d["grid_status"].isna()
    order = {"now": 0, "battery": 1, "wait": 2}
    d = d.assign(_c=d["priority_class"].map(order)).sort_values(["_c", "daily_kwh", "park_id"],
                                                                  ascending=[True, False, True])
    d["priority"] = np.arange(1, len(d) + 1)
    return d.drop(columns="_c").reset_index(drop=True)
