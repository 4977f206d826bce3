"""Truck hub suggestions for the corridor gaps, and the grid status of a place.

For each gap of the next milestone (see :mod:`laadplan.logistics.corridors`), a gap of length :math:`g`
between anchors :math:`a < b` with spacing :math:`d` needs :math:`n = \\lceil g/d \\rceil - 1` new pools;
evenly spread they sit at the **ideal positions** :math:`a + k\\,g/(n+1)`, :math:`k = 1..n` (clipped to the
corridor). Candidates are truck parkings, rest and service areas within ``hub_candidate_radius_km`` of the
corridor whose projection lies inside the gap, business parks there (a shared park hub can double as a
corridor pool) and existing pools there that fall short of the milestone (upgrade candidates). Each gets a ranking score in km (lower is better)::

    score_km = |position - nearest ideal position|
             + hub_grid_penalty_km x offtake status (0..3; unknown counts 0)
             + hub_non_truck_penalty_km (when not a truck parking or service area)

``closes_gap`` says whether one pool at the candidate alone splits the gap into two compliant parts
(:math:`c - a \\le d` and :math:`b - c \\le d`); ``needed_kw`` and ``needed_stations`` are what a pool
there must add to meet the milestone.
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np
import pandas as pd
import shapely

from laadplan.geo import assign_area, to_rd
from laadplan.logistics.corridors import AfirResult, applies, n_stations, project_pools, read_feature_list
from laadplan.logistics.settings import LogisticsConfig

log = logging.getLogger(__name__)

CANDIDATE_COLUMNS = ["candidate_id", "name", "kind", "lon", "lat", "x_rd", "y_rd", "existing_kw", "stations_kw",
                     "truck_friendly"]
SUGGESTION_COLUMNS = ["corridor_id", "ref", "milestone_year", "directions", "gap_from_km", "gap_to_km", "gap_km",
                      "new_pools_needed", "rank", "candidate_id", "name", "kind", "pos_km", "offset_km",
                      "deviation_km", "grid_status", "score_km", "closes_gap", "existing_kw", "needed_kw",
                      "needed_stations", "lon", "lat"]


def _truthy(v) -> bool:
    return v is True or (isinstance(v, str) and v.strip().lower() in ("true", "yes", "1", "designated"))


def read_truck_parkings(src: str | os.PathLike) -> pd.DataFrame:
    """Truck parking, rest and service areas from a GeoJSON (points or polygons; path or URL).

    A polygon is represented by its representative point (``shapely.point_on_surface``). ``kind`` is
    ``truck_parking`` / ``service_area`` / ``rest_area`` from the ``is_*`` flags; ``truck_friendly`` is
    true for truck parkings, service areas and ``hgv=designated``. Features without geometry are left out
    and listed in ``df.attrs["problems"]``.
    """
    feats = read_feature_list(src)
    rows, problems = [], []
    for pos, ft in enumerate(feats):
        props = (ft or {}).get("properties") or {}
        try:
            geom = shapely.geometry.shape(ft["geometry"])
            pt = shapely.point_on_surface(geom)
            lon, lat = float(pt.x), float(pt.y)
        except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException):
            problems.append({"rule_code": "LP-MISSING", "position": pos, "record_id": props.get("id"),
                             "message": f"{src}: feature {pos} has no usable geometry"})
            continue
        truck = _truthy(props.get("is_truck_parking"))
        service = _truthy(props.get("is_service_area"))
        kind = "truck_parking" if truck else "service_area" if service else \
            "rest_area" if _truthy(props.get("is_rest_area")) else "other"
        name = props.get("name")
        rows.append({"candidate_id": str(props.get("id") or f"parking-{pos}"),
                     "name": name if name and name != "Unnamed" else (props.get("road") or props.get("highway") or ""),
                     "kind": kind, "lon": lon, "lat": lat, "existing_kw": 0.0, "stations_kw": [],
                     "truck_friendly": truck or service or _truthy(props.get("hgv"))})
    for p in problems:
        log.warning("%s", p["message"])
    df = pd.DataFrame(rows, columns=CANDIDATE_COLUMNS)
    if len(df):
        df["x_rd"], df["y_rd"] = to_rd(df["lon"].to_numpy(float), df["lat"].to_numpy(float))
    df.attrs["problems"] = problems
    return df


def grid_status(lon, lat, grid_areas: pd.DataFrame | None) -> pd.Series:
    """Capacity-map offtake status (0-3) at each WGS84 point from the ``grid_areas`` table (polygons in
    ``geometry_wkb`` with ``offtake_status``); ``<NA>`` where unknown or when the table is absent."""
    n = len(np.atleast_1d(lon))
    out = pd.Series(pd.NA, index=range(n), dtype="Int64")
    if grid_areas is None or len(grid_areas) == 0 or not {"geometry_wkb", "offtake_status"} <= set(grid_areas.columns):
        return out
    ga = grid_areas[grid_areas["geometry_wkb"].notna()].reset_index(drop=True)
    if len(ga) == 0:
        return out
    ga = ga.assign(_code=ga.index.astype(str), geometry_wkb=[bytes(b) for b in ga["geometry_wkb"]])  # bytearray
    # most severe status first, so a point on a shared border gets the worse status
    ga = ga.sort_values("offtake_status", ascending=False, kind="stable")
    codes = assign_area(lon, lat, ga, code_col="_code")
    status = ga.set_index("_code")["offtake_status"]
    for i, c in enumerate(codes):
        if not pd.isna(c) and not pd.isna(status.get(c)):
            out.iloc[i] = int(status[c]) if int(status[c]) >= 0 else pd.NA  # -1 = unknown
    return out


def next_milestone_year(result: AfirResult, vehicle: str, year: int) -> int | None:
    years = sorted({m.year for m in result.milestones.get(vehicle, []) if m.year >= year})
    return years[0] if years else None


def pool_candidates(pools: pd.DataFrame) -> pd.DataFrame:
    """Existing pools as (upgrade) candidates in the candidate layout."""
    if len(pools) == 0:
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    return pd.DataFrame({"candidate_id": pools["pool_id"], "name": pools["name"], "kind": "existing_pool",
                         "lon": pools["lon"], "lat": pools["lat"], "x_rd": pools["x_rd"], "y_rd": pools["y_rd"],
                         "existing_kw": pools["power_kw"].astype(float), "stations_kw": pools["stations_kw"],
                         "truck_friendly": pools["vehicle"].isin(["both", "heavy"])})


def park_candidates(parks: pd.DataFrame) -> pd.DataFrame:
    """Business parks (as read by :func:`laadplan.logistics.parks.read_parks`) as hub candidates: a shared
    park hub near a motorway can double as a corridor pool."""
    if parks is None or len(parks) == 0:
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    return pd.DataFrame({"candidate_id": "park:" + parks["park_id"].astype(str), "name": parks["name"],
                         "kind": "business_park", "lon": parks["lon"], "lat": parks["lat"], "x_rd": parks["x_rd"],
                         "y_rd": parks["y_rd"], "existing_kw": 0.0, "stations_kw": [[] for _ in range(len(parks))],
                         "truck_friendly": True})


def suggest_hubs(result: AfirResult, corridors, candidates: pd.DataFrame, cfg: LogisticsConfig, *,
                 year: int, vehicle: str = "heavy", grid_areas: pd.DataFrame | None = None,
                 top: int = 5) -> pd.DataFrame:
    """Ranked candidate sites for every gap of the first milestone at or after ``year`` (module docstring).

    Gaps that are identical in both directions (``direction_rule = "both"``) are reported once with
    ``directions = "forward+backward"``.
    """
    target = next_milestone_year(result, vehicle, year)
    if target is None or len(result.gaps) == 0:
        return pd.DataFrame(columns=SUGGESTION_COLUMNS)
    gaps = result.gaps[(result.gaps["vehicle"] == vehicle) & (result.gaps["milestone_year"] == target)]
    if len(gaps) == 0:
        return pd.DataFrame(columns=SUGGESTION_COLUMNS)
    cands = candidates.drop_duplicates("candidate_id").reset_index(drop=True)
    status = grid_status(cands["lon"].to_numpy(float), cands["lat"].to_numpy(float), grid_areas) if len(cands) \
        else pd.Series(dtype="Int64")
    cands = cands.assign(grid_status=status.to_numpy())
    proj = project_pools(corridors, cands.rename(columns={"candidate_id": "pool_id"}),
                         cfg.hub_candidate_radius_km * 1000.0)
    cinfo = cands.set_index("candidate_id")
    rows = []
    lengths = dict(zip(corridors["corridor_id"], corridors.geometry.length))
    networks = dict(zip(corridors["corridor_id"], corridors["network"]))
    for c_id, g in gaps.groupby("corridor_id", sort=True):
        L = lengths[c_id]
        ms = [m for m in result.milestones[vehicle] if m.year == target and applies(m, networks[c_id])]
        if not ms:
            continue
        m = ms[0]
        d = m.spacing_km * 1000.0
        here = proj[proj["corridor_id"] == c_id]
        # express backward gaps in forward positions so identical gaps coincide
        spans: dict[tuple[float, float], list[str]] = {}
        for r in g.itertuples(index=False):
            a, b = r.anchor_from_km * 1000, r.anchor_to_km * 1000
            if r.direction == "backward":
                a, b = L - b, L - a
            spans.setdefault((round(a, 3), round(b, 3)), []).append(r.direction)
        for (a, b), dirs in sorted(spans.items()):
            gap = b - a
            n_new = max(1, int(math.ceil(gap / d - 1e-12)) - 1)
            ideals = np.clip(a + np.arange(1, n_new + 1) * gap / (n_new + 1), 0, L)
            lo, hi = max(a, 0.0), min(b, L)
            inside = here[(here["pos_m"] >= lo) & (here["pos_m"] <= hi)]
            scored = []
            for pr in inside.itertuples(index=False):
                ci = cinfo.loc[pr.pool_id]
                existing_st = n_stations(ci["stations_kw"], m.min_station_kw)
                if ci["kind"] == "existing_pool" and ci["existing_kw"] >= m.min_pool_kw \
                        and existing_st >= m.min_stations:
                    continue  # already qualifies (it would not be a gap then), defensive
                dev = float(np.min(np.abs(ideals - pr.pos_m)))
                gs = ci["grid_status"]
                score = dev / 1000 + cfg.hub_grid_penalty_km * (0 if pd.isna(gs) else int(gs)) \
                    + (0 if bool(ci["truck_friendly"]) else cfg.hub_non_truck_penalty_km)
                scored.append({
                    "corridor_id": c_id, "ref": g["ref"].iloc[0], "milestone_year": target,
                    "directions": "+".join(sorted(set(dirs), key=["forward", "backward"].index)),
                    "gap_from_km": lo / 1000, "gap_to_km": hi / 1000, "gap_km": gap / 1000,
                    "new_pools_needed": n_new, "candidate_id": pr.pool_id, "name": ci["name"], "kind": ci["kind"],
                    "pos_km": pr.pos_m / 1000, "offset_km": pr.offset_m / 1000, "deviation_km": dev / 1000,
                    "grid_status": gs, "score_km": score,
                    "closes_gap": bool(pr.pos_m - a <= d + 1e-6 and b - pr.pos_m <= d + 1e-6),
                    "existing_kw": float(ci["existing_kw"]),
                    "needed_kw": max(0.0, m.min_pool_kw - float(ci["existing_kw"])),
                    "needed_stations": max(0, m.min_stations - existing_st),
                    "lon": float(ci["lon"]), "lat": float(ci["lat"])})
            scored.sort(key=lambda s: (s["score_km"], s["candidate_id"]))
            for k, s in enumerate(scored[:top], start=1):
                rows.append({**s, "rank": k})
            if not scored:
                rows.append({"corridor_id": c_id, "ref": g["ref"].iloc[0], "milestone_year": target,
                             "directions": "+".join(dirs), "gap_from_km": lo / 1000, "gap_to_km": hi / 1000,
                             "gap_km": gap / 1000, "new_pools_needed": n_new, "rank": 0,
                             "candidate_id": None, "name": "no candidate site in this gap", "kind": None,
                             "pos_km": float(ideals[0]) / 1000, "needed_kw": m.min_pool_kw,
                             "needed_stations": m.min_stations})
    return pd.DataFrame(rows, columns=SUGGESTION_COLUMNS)


def truck_parking_check(parkings: pd.DataFrame, pools: pd.DataFrame, cfg: LogisticsConfig) -> pd.DataFrame:
    """AFIR stations at truck parkings: per truck parking and milestone, the heavy-duty stations of at
    least ``safe_parking_min_station_kw`` within ``safe_parking_radius_m`` against
    ``safe_parking_stations`` (2 by end-2027, 4 by end-2030).

    AFIR asks this of *safe and secure* parking areas (certified); OpenStreetMap's truck parkings are a
    superset, so a shortfall here is a prompt to check, not a finding.
    """
    cols = ["candidate_id", "name", "milestone_year", "stations", "required", "missing", "compliant", "lon", "lat"]
    tp = parkings[parkings["kind"] == "truck_parking"].reset_index(drop=True) if len(parkings) else parkings
    if len(tp) == 0:
        return pd.DataFrame(columns=cols)
    heavy = pools[pools["vehicle"].isin(["both", "heavy"])].reset_index(drop=True) if len(pools) else pools
    counts = np.zeros(len(tp), dtype=int)
    if len(heavy):
        from laadplan.geo import pairwise_within

        it, ip, _ = pairwise_within(tp["x_rd"], tp["y_rd"], heavy["x_rd"], heavy["y_rd"], cfg.safe_parking_radius_m)
        n_ok = np.array([n_stations(s, cfg.safe_parking_min_station_kw) for s in heavy["stations_kw"]], dtype=int)
        np.add.at(counts, it, n_ok[ip])
    rows = []
    for year, need in sorted((int(y), int(n)) for y, n in cfg.safe_parking_stations.items()):
        for i, r in tp.iterrows():
            rows.append({"candidate_id": r["candidate_id"], "name": r["name"], "milestone_year": year,
                         "stations": int(counts[i]), "required": need, "missing": max(0, need - int(counts[i])),
                         "compliant": bool(counts[i] >= need), "lon": r["lon"], "lat": r["lat"]})
    return pd.DataFrame(rows, columns=cols)
