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
from laadplan.placement.optimise import SPACING_TOL_M


def generate_candidates(demand: pd.DataFrame, cfg: RegionConfig, gemeenten: pd.DataFrame | None = None,
                        existing: pd.DataFrame | None = None) -> pd.DataFrame:
    """Grid points (spacing ``candidate_grid_m``, on a fixed RD lattice) near each demand point, chosen so
    that the point's demand can be met by sites that keep ``min_spacing_m`` between them: per demand point
    (its position, summed over the plan years) ``max(generated_candidates_per_demand, ceil(units /
    (evses_per_site_max x demand_units_per_evse)))`` lattice points within its walking distance, pairwise at
    least ``min_spacing_m`` apart (:func:`spaced_lattice_points`; fewer where no more fit within the walking
    distance: that demand is then partly unmet and reported so). When ``gemeenten`` (area_code,
    geometry_wkb) is given, only lattice points inside a gemeente polygon are used, and inside the demand's
    own gemeente when it has one and ``candidates_in_demand_gemeente`` is set (its municipality decides on its
    street space; per-gemeente figures count its own sites). Points within half a grid
    step of a loaded candidate are left out. Candidates of neighbouring demand points may be closer than the
    spacing: the optimiser keeps the rule between the sites it opens. Columns: site_id, x_rd, y_rd, lat,
    lon, gm_code, kind."""
    pc = cfg.placement
    g = float(pc.candidate_grid_m)
    cols = ["site_id", "x_rd", "y_rd", "lat", "lon", "gm_code", "kind"]
    if demand.empty:
        return pd.DataFrame(columns=cols)
    per_site = max(pc.evses_per_site_max, 1) * pc.demand_units_per_evse
    pts = (demand.assign(x_rd=demand["x_rd"].astype("float64"), y_rd=demand["y_rd"].astype("float64"),
                         walk_m=demand["walk_m"].astype("float64"),
                         gm=demand["gm_code"].astype("string").fillna(""),
                         quantity=demand["quantity"].astype("float64").fillna(0.0))
           .groupby(["x_rd", "y_rd", "walk_m", "gm"], sort=True)["quantity"].sum().reset_index())
    want = np.maximum(pc.generated_candidates_per_demand,
                      np.ceil(pts["quantity"].to_numpy("float64") / per_site - 1e-9)).astype("int64")
    px, py = pts["x_rd"].to_numpy("float64"), pts["y_rd"].to_numpy("float64")
    walk = pts["walk_m"].to_numpy("float64")
    ix, iy = np.rint(px / g).astype("int64"), np.rint(py / g).astype("int64")
    # every lattice point within walking distance of a demand point, with its gemeente
    reach: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    lattice_cache: dict[tuple, tuple] = {}
    for k in range(len(pts)):
        key = (px[k] - ix[k] * g, py[k] - iy[k] * g, walk[k])
        if key not in lattice_cache:
            lattice_cache[key] = lattice_within(key[0], key[1], g, key[2])
        reach.append(lattice_cache[key])
    gm_of: dict[tuple[int, int], str] | None = None
    if gemeenten is not None and len(gemeenten):
        allij = np.unique(np.concatenate([np.column_stack([r[0] + a, r[1] + b]) for r, a, b in zip(reach, ix, iy)]),
                          axis=0)
        lon, lat = geo.to_wgs84(allij[:, 0] * g, allij[:, 1] * g)
        area = geo.assign_area(lon, lat, wkb_bytes(gemeenten[gemeenten["geometry_wkb"].notna()].reset_index(drop=True)))
        gm_of = {(int(a), int(b)): str(c) for a, b, c in zip(allij[:, 0], allij[:, 1], area.fillna("").to_numpy())}
    cache: dict[tuple, np.ndarray] = {}
    chosen = []
    dgm = pts["gm"].to_numpy()
    for k in range(len(pts)):
        ii, jj, _ = reach[k]
        blocked: tuple = ()
        if gm_of is not None:
            here = np.array([gm_of[(int(a) + ix[k], int(b) + iy[k])] for a, b in zip(ii, jj)], dtype=object)
            bad = (here == "") | ((here != dgm[k]) if dgm[k] and pc.candidates_in_demand_gemeente else False)
            blocked = tuple(np.flatnonzero(bad).tolist())
        key = (px[k] - ix[k] * g, py[k] - iy[k] * g, walk[k], int(want[k]), blocked)
        if key not in cache:
            cache[key] = spaced_lattice_points(key[0], key[1], g, key[2], pc.min_spacing_m, int(want[k]),
                                               blocked=blocked)
        off = cache[key]
        if len(off):
            chosen.append(off + np.array([ix[k], iy[k]], dtype="int64"))
    if not chosen:
        return pd.DataFrame(columns=cols)
    ij = np.unique(np.concatenate(chosen), axis=0)
    x, y = ij[:, 0].astype("float64") * g, ij[:, 1].astype("float64") * g
    lon, lat = geo.to_wgs84(x, y)
    gm = pd.array([gm_of[(int(a), int(b))] or pd.NA for a, b in ij] if gm_of is not None else [pd.NA] * len(ij),
                  dtype="string")
    keep = np.ones(len(x), dtype=bool)
    if existing is not None and len(existing):
        ia, _, _ = geo.pairwise_within(x, y, existing["x_rd"].to_numpy("float64"),
                                       existing["y_rd"].to_numpy("float64"), g / 2)
        keep[np.unique(ia)] = False
    out = pd.DataFrame({"site_id": [f"G{int(a)}-{int(b)}" for a, b in zip(x / 10, y / 10)], "x_rd": x, "y_rd": y,
                        "lat": lat, "lon": lon, "gm_code": gm, "kind": "generated"})
    return out[keep].reset_index(drop=True)


def lattice_within(ox: float, oy: float, grid_m: float, walk_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets (i, j) of the lattice points ``grid_m x (i, j)`` within ``walk_m`` of the point ``(ox, oy)``
    (relative to lattice point (0, 0)) and their distances, nearest first (ties in (i, j) order)."""
    r = int(np.ceil(walk_m / grid_m)) + 1
    ii, jj = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    d = np.hypot(ii * grid_m - ox, jj * grid_m - oy)
    ok = d <= walk_m + 1e-9
    ii, jj, d = ii[ok], jj[ok], d[ok]
    order = np.lexsort((jj, ii, d))
    return ii[order], jj[order], d[order]


def spaced_lattice_points(ox: float, oy: float, grid_m: float, walk_m: float, min_spacing_m: float,
                          n: int, blocked: tuple = ()) -> np.ndarray:
    """Up to ``n`` points of the lattice ``grid_m x (i, j)`` within ``walk_m`` of the point ``(ox, oy)``
    (relative to lattice point (0, 0)), pairwise at least ``min_spacing_m`` apart (a pair exactly that far
    apart is allowed): as (i, j) offsets, int64, shape (k, 2), k <= n. ``blocked``: positions in the
    :func:`lattice_within` order that may not be used (outside the gemeente).

    Nearest first: the points in order of distance, each taken when it keeps the spacing to those taken.
    When that gives fewer than ``n`` (the nearest point can block a better packing, e.g. four points within
    200 m of a cell centre between four lattice points), the classic fewest-conflicts greedy for independent
    sets is tried too (repeatedly the point that blocks the fewest points still free, nearest on ties), and
    the larger set wins (ties: the smaller total distance)."""
    ii, jj, d = lattice_within(ox, oy, grid_m, walk_m)
    if len(blocked):
        ok = np.ones(len(d), dtype=bool)
        ok[list(blocked)] = False
        ii, jj, d = ii[ok], jj[ok], d[ok]
    P = len(d)
    if P == 0 or n <= 0:
        return np.zeros((0, 2), dtype="int64")
    sep = np.hypot((ii[:, None] - ii[None, :]) * grid_m, (jj[:, None] - jj[None, :]) * grid_m)
    clash = sep < min_spacing_m - SPACING_TOL_M
    np.fill_diagonal(clash, False)

    def take_from(first: int) -> list[int]:
        chosen = [first]
        free = ~clash[first]
        free[first] = False
        for k in range(P):
            if len(chosen) >= n:
                break
            if free[k]:
                chosen.append(k)
                free &= ~clash[k]
                free[k] = False
        return chosen

    best = take_from(0)
    if len(best) < n:
        chosen: list[int] = []
        free = np.ones(P, dtype=bool)
        while free.any() and len(chosen) < n:
            deg = (clash & free[None, :]).sum(axis=1)
            k = int(np.flatnonzero(free)[np.argmin(deg[free])])  # fewest conflicts; first (nearest) on ties
            chosen.append(k)
            free &= ~clash[k]
            free[k] = False
        if len(chosen) > len(best) or (len(chosen) == len(best) and d[chosen].sum() < d[best].sum() - 1e-9):
            best = chosen
    best = sorted(best)
    return np.column_stack([ii[best], jj[best]]).astype("int64")


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
