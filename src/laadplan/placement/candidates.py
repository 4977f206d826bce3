"""Candidate sites and their grid feasibility.

Sites come from a file (parking bays, a municipal list) and/or are generated on a regular grid
(``candidate_grid_m``) near demand, inside the gemeente polygons when those are loaded. Each site gets
the capacity-map status of its place, and per plan year whether it may get EVSEs and how:

* an area *refuses* new connections in year ``t`` when its offtake status is at least
  ``grid.refuse_at_offtake_status``, year ``t``'s connection request (first of
  ``placement.connection_request_month``) falls on or after ``grid.refuse_new_connections_from`` and
  the area's congestion is not solved by then (``demand_alleviation_year <= t``);
* a site in a refusing area is feasible only on an existing connection within ``grid.max_cable_m``
  whose spare kW (times ``grid.spare_capacity_margin``) fits at least one EVSE; that connection is then
  its route in every year, and its spare capacity is shared by every site on it (the optimiser's
  connection constraint). Without such a connection the site is feasible only in the years its area
  does not refuse (new connection);
* elsewhere a site gets a new connection, bounded per supply area by ``placement.area_capacity_share``
  of the capacity map's available MW.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laadplan import geo
from laadplan.config import RegionConfig
from laadplan.grid.capacity import point_status, wkb_bytes, year_refuses


def generate_candidates(demand: pd.DataFrame, cfg: RegionConfig, gemeenten: pd.DataFrame | None = None,
                        existing: pd.DataFrame | None = None) -> pd.DataFrame:
    """Grid points (spacing ``candidate_grid_m``, on a fixed RD lattice): the
    ``generated_candidates_per_demand`` nearest to each demand point within its walking distance, inside a gemeente polygon when ``gemeenten`` (area_code, geometry_wkb) is given, and not
    within half a grid step of a loaded candidate. Columns: site_id, x_rd, y_rd, lat, lon, gm_code, kind."""
    g = float(cfg.placement.candidate_grid_m)
    k_near = cfg.placement.generated_candidates_per_demand
    if demand.empty:
        return pd.DataFrame(columns=["site_id", "x_rd", "y_rd", "lat", "lon", "gm_code", "kind"])
    dx, dy = demand["x_rd"].to_numpy("float64"), demand["y_rd"].to_numpy("float64")
    walk = demand["walk_m"].to_numpy("float64")
    r = int(np.ceil(np.sqrt(k_near))) + 1  # lattice offsets around the nearest lattice point
    ox, oy = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1))
    ox, oy = ox.ravel(), oy.ravel()
    gx = (np.rint(dx / g)[:, None] + ox[None, :]) * g
    gy = (np.rint(dy / g)[:, None] + oy[None, :]) * g
    d = np.hypot(gx - dx[:, None], gy - dy[:, None])
    d = np.where(d <= walk[:, None] + 1e-9, d, np.inf)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k_near]
    rows = np.arange(len(dx))[:, None]
    ok = np.isfinite(d[rows, nearest])
    pts = np.unique(np.column_stack([np.rint(gx[rows, nearest][ok] / g), np.rint(gy[rows, nearest][ok] / g)]), axis=0)
    arr = pts.astype("float64") * g
    x, y = arr[:, 0], arr[:, 1]
    lon, lat = geo.to_wgs84(x, y)
    gm = pd.Series(pd.NA, index=range(len(x)), dtype="string")
    keep = np.ones(len(x), dtype=bool)
    if gemeenten is not None and len(gemeenten):
        gm = geo.assign_area(lon, lat, wkb_bytes(gemeenten[gemeenten["geometry_wkb"].notna()].reset_index(drop=True)))
        keep &= gm.notna().to_numpy()
    if existing is not None and len(existing):
        ia, _, _ = geo.pairwise_within(x, y, existing["x_rd"].to_numpy("float64"),
                                       existing["y_rd"].to_numpy("float64"), g / 2)
        keep[np.unique(ia)] = False
    out = pd.DataFrame({"site_id": [f"G{int(a)}-{int(b)}" for a, b in zip(x / 10, y / 10)], "x_rd": x, "y_rd": y,
                        "lat": lat, "lon": lon, "gm_code": gm.to_numpy(), "kind": "generated"})
    return out[keep].reset_index(drop=True)


def site_grid_feasibility(sites: pd.DataFrame, connections: pd.DataFrame, grid_areas: pd.DataFrame,
                          cfg: RegionConfig, years: list[int], congestion_rule: bool = True) -> tuple[pd.DataFrame,
                                                                                                       pd.DataFrame]:
    """Sites with their status, route and yearly feasibility; and the connections frame with capacity_kw.

    Adds: area_code, offtake_status, capacity_area, demand_available_mw, ean18 (connection used or empty),
    cable_m, grid_route (existing_connection / new_connection), ``refuses_<year>`` and ``allowed_<year>``.
    """
    gc, pc = cfg.grid, cfg.placement
    s = sites.copy().reset_index(drop=True)
    kw1 = pc.evse_power_kw + pc.site_connection_kw / max(pc.evses_per_site_max, 1)
    st = point_status(s["x_rd"].to_numpy("float64"), s["y_rd"].to_numpy("float64"),
                      s["postal_code"].tolist() if "postal_code" in s else None, grid_areas)
    for c in ("area_code", "offtake_status", "capacity_area", "demand_available_mw", "demand_alleviation_year"):
        s[c] = st[c].to_numpy()
    status = np.where(s["offtake_status"].to_numpy() < 0, pc.unknown_offtake_status, s["offtake_status"].to_numpy())
    congested = status >= gc.refuse_at_offtake_status
    alle = s["demand_alleviation_year"].astype("Float64").fillna(np.inf).to_numpy("float64")
    refuses = np.zeros((len(s), len(years)), dtype=bool)
    for k, y in enumerate(years):
        refuses[:, k] = congested & year_refuses(y, gc.refuse_new_connections_from, pc.connection_request_month) \
            & (alle > y) & congestion_rule
    conns = connections.copy().reset_index(drop=True) if connections is not None else pd.DataFrame(
        columns=["ean18", "x_rd", "y_rd", "spare_kw", "feeds_charge_points"])
    conns["capacity_kw"] = conns["spare_kw"].astype("float64") * gc.spare_capacity_margin if len(conns) else []
    usable = conns["capacity_kw"].to_numpy("float64") >= kw1 - 1e-9 if len(conns) else np.zeros(0, dtype=bool)
    if pc.connections_charge_points_only and len(conns):
        usable &= conns["feeds_charge_points"].fillna(False).astype(bool).to_numpy()
    ean = np.full(len(s), "", dtype=object)
    cable = np.full(len(s), np.nan)
    need = refuses.any(axis=1)
    if need.any() and usable.any():
        cu = conns[usable].reset_index(drop=True)
        ia, ib, d = geo.pairwise_within(s["x_rd"].to_numpy("float64")[need], s["y_rd"].to_numpy("float64")[need],
                                        cu["x_rd"].to_numpy("float64"), cu["y_rd"].to_numpy("float64"), gc.max_cable_m)
        if len(ia):
            o = np.lexsort((d, ia))
            ia, ib, d = ia[o], ib[o], d[o]
            first = np.unique(ia, return_index=True)[1]
            rows = np.flatnonzero(need)[ia[first]]
            ean[rows] = cu["ean18"].astype(str).to_numpy()[ib[first]]
            cable[rows] = d[first]
    has_conn = ean != ""
    s["ean18"] = ean
    s["cable_m"] = cable
    s["grid_route"] = np.where(has_conn, "existing_connection", "new_connection")
    for k, y in enumerate(years):
        s[f"refuses_{y}"] = refuses[:, k]
        s[f"allowed_{y}"] = has_conn | ~refuses[:, k]
    grid_weeks = np.where(congested, gc.congested_connection_lead_time_weeks, gc.connection_lead_time_weeks)
    # weeks from the decision to a working point: the rest of the request lead time, or the objection period
    # followed by the grid connection when that takes longer
    after_decision = pc.request_lead_time_weeks - pc.request_decision_weeks
    s["lead_time_weeks"] = np.where(has_conn, after_decision,
                                    np.maximum(after_decision, pc.request_objection_weeks + grid_weeks))
    return s, conns


def area_capacities(grid_areas: pd.DataFrame, cfg: RegionConfig) -> dict[str, float]:
    """kW of new connections each supply area may take: available MW x 1000 x ``area_capacity_share``."""
    if grid_areas is None or grid_areas.empty:
        return {}
    g = grid_areas[grid_areas["demand_available_mw"].notna()]
    return {str(c): float(mw) * 1000.0 * cfg.placement.area_capacity_share
            for c, mw in zip(g["area_code"], g["demand_available_mw"])}
