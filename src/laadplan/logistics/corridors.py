"""AFIR corridor check: pools of high-power chargers along the TEN-T motorways of the region.

Method (all distances in RD New metres, reported in km)
-------------------------------------------------------
A **corridor** is one LineString with a road ``ref`` (A16) and a TEN-T ``network`` (core or
comprehensive). The project ships simplified reference geometry (``data/corridors_zuidwest.geojson``:
straight polylines through known junctions, accuracy about 0.5-1 km); a user's road file replaces it.

A **pool** is a cluster of charge locations within ``pool_merge_m`` of each other; its output ``power_kw``
is the sum of its locations' power and its stations are the high-power EVSEs (``stations_kw``). A pool
belongs to a corridor when its distance to the line is at most ``pool_max_distance_km`` (the reference
geometry carries no exits, so distance to the road line stands in for "near an exit"). Its position is
the linear reference of its projection onto the line, :math:`s = \\text{line.project}(p)` in
:math:`[0, L]`.

**Directions.** AFIR asks the power per direction of travel. ``forward`` runs in the digitised direction
of the line, ``backward`` the other way (position :math:`L - s`). With ``direction_rule = "carriageway"``
(default) each site is put on its carriageway before pools are formed (:func:`assign_carriageways`):
service areas facing each other ("... Oost" / "... West", or two sites at least
``carriageway_min_separation_m`` apart across the road) serve one direction each and are never merged
into one pool; a lone site serves the direction of its side (traffic keeps right: right of the line is
``forward``); a site counts for both directions only with ``both_directions_min_offset_m`` set (off by
default). ``"side"``: side of the line only, within ``side_tolerance_m`` both; ``"both"``: every pool
serves both directions (the old behaviour).

**Heavy-duty** pools are sites trucks can reach (see :func:`read_freight_chargers`): a car fast-charging
site of 350 kW is no truck pool. Station powers above ``connector_max_power_kw`` are watt figures
(rule LP-POWER) and never used.

A pool **qualifies** for a milestone (spacing :math:`d`, minimum pool power, minimum stations of at least
``min_station_kw``) when ``power_kw >= min_pool_kw`` and it has at least ``min_stations`` such stations.

**Ends.** A corridor inside the region is part of a longer network. With ``end_rule = "half"`` each end
counts as a virtual pool :math:`d/2` beyond the end (at :math:`-d/2` and :math:`L + d/2`): the first and
last real pool must then lie within :math:`d/2` of the end, which is what a regularly spaced network
continuing outside the region needs. With ``"pool"`` each end counts as a pool (at 0 and :math:`L`).

**Gaps** are the distances between consecutive qualifying positions including the virtual ends; a gap
:math:`g > d` is a stretch lacking a pool (a gap exactly :math:`d` complies). The gaps table reports the
stretch inside the corridor (``from_km``..``to_km``, ``gap_km`` = its length, never more than the
corridor), ``excess_km`` = :math:`g - d` and the pools at either end by name (``end`` = corridor end). **Covered length** is the
length of :math:`[0, L] \\cap \\bigcup_i [s_i - d/2, s_i + d/2]` over the qualifying positions including
the virtual ends, so with the ``half`` rule "no gap" and "covered share = 1" are the same statement.

**Compliance** of a corridor-direction with a milestone: when the milestone asks for a share of the length
below 1 (AFIR heavy-duty end-2025: 15 %, end-2027: 50 %; light-duty comprehensive end-2027: 50 %) the
covered share must reach it; otherwise there must be no gap longer than the spacing. AFIR's shares are of
the whole TEN-T length, so the verdict is :func:`network_verdict` (summed covered km / summed length per
direction); the per-corridor share is reported beside it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from laadplan.geo import RD_NEW, WGS84, to_rd
from laadplan.ingest._io import SourceError, local_copy, open_text
from laadplan.logistics.settings import AfirMilestone, LogisticsConfig

log = logging.getLogger(__name__)

REFERENCE_CORRIDORS = Path(__file__).resolve().parents[1] / "data" / "corridors_zuidwest.geojson"
NETWORKS = ("core", "comprehensive")
DIRECTIONS = ("forward", "backward")
VEHICLES = ("heavy", "light")
_EPS_M = 1e-6  # metres; a gap exactly at the limit complies despite float round-off
_ON_LINE_M = 1.0  # metres; a site this close to the line has no side (only in synthetic data)

POOL_COLUMNS = ["pool_id", "name", "operator", "source", "lon", "lat", "x_rd", "y_rd", "power_kw", "stations_kw",
                "vehicle"]
#: extra columns of unmerged sites: can serve trucks by power / trucks can reach it (see read_freight_chargers)
SITE_COLUMNS = ["heavy_capable", "truck_access"]


# -- corridors --------------------------------------------------------------------------------------
def load_corridors(src: str | os.PathLike | None = None) -> gpd.GeoDataFrame:
    """Corridor lines in RD New: columns ``corridor_id, ref, network, name, length_km, geometry``.

    ``src`` is a GeoJSON (path or URL) of LineStrings / MultiLineStrings with properties ``ref`` and
    ``network`` (core or comprehensive); ``None`` reads the shipped reference geometry. Features of the
    same ``ref`` and network are merged (``shapely.line_merge``); parts that do not join become separate
    corridors ``A16#2``. Features that are not lines or have an unknown network are skipped with a
    warning naming the feature.
    """
    src = REFERENCE_CORRIDORS if src is None else src
    try:
        with local_copy(src, suffix=".geojson") as p:
            gdf = gpd.read_file(p)
    except SourceError:
        raise
    except Exception as e:  # pyogrio raises its own error types for unreadable files
        raise SourceError(f"{src}: cannot read as GeoJSON road file ({e})") from None
    missing = {"ref", "network"} - set(gdf.columns)
    if missing:
        raise SourceError(f"{src}: road file lacks properties {sorted(missing)} (need ref and network)")
    if gdf.crs is None:
        gdf = gdf.set_crs(WGS84)
    gdf = gdf.to_crs(RD_NEW)
    rows = []
    groups: dict[tuple[str, str], list] = {}
    names: dict[tuple[str, str], str] = {}
    for i, r in gdf.iterrows():
        geom, ref, net = r.geometry, r["ref"], str(r["network"] or "").strip().lower()
        if geom is None or geom.geom_type not in ("LineString", "MultiLineString"):
            log.warning("%s: feature %s (%s) is not a line; skipped", src, i, ref)
            continue
        if net not in NETWORKS or pd.isna(ref) or not str(ref).strip():
            log.warning("%s: feature %s has ref=%r network=%r (need a ref and core|comprehensive); skipped",
                        src, i, ref, r["network"])
            continue
        key = (str(ref).strip(), net)
        groups.setdefault(key, []).append(geom)
        if "name" in gdf.columns and isinstance(r.get("name"), str):
            names.setdefault(key, r["name"])
    for (ref, net), geoms in groups.items():
        merged = shapely.line_merge(shapely.union_all(geoms)) if len(geoms) > 1 else geoms[0]
        parts = list(merged.geoms) if merged.geom_type == "MultiLineString" else [merged]
        parts.sort(key=lambda g: -g.length)
        for k, part in enumerate(parts, start=1):
            cid = ref if k == 1 else f"{ref}#{k}"
            rows.append({"corridor_id": cid, "ref": ref, "network": net, "name": names.get((ref, net), ref),
                         "length_km": part.length / 1000.0, "geometry": part})
    if not rows:
        raise SourceError(f"{src}: no usable corridor lines (LineStrings with ref and core|comprehensive network)")
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=RD_NEW)
    return out.sort_values("corridor_id").reset_index(drop=True)


def read_feature_list(src: str | os.PathLike) -> list:
    """The ``features`` of a GeoJSON FeatureCollection (path or URL); SourceError when it is none."""
    try:
        with open_text(src) as f:
            doc = json.load(f)
    except json.JSONDecodeError as e:
        raise SourceError(f"{src}: not valid JSON ({e})") from None
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(feats, list):
        raise SourceError(f"{src}: not a GeoJSON FeatureCollection")
    return feats


# -- pools ------------------------------------------------------------------------------------------
def _pool_frame(rows: list[dict], extra: list[str] | tuple = ()) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=POOL_COLUMNS + list(extra))
    if len(df):
        x, y = to_rd(df["lon"].to_numpy(float), df["lat"].to_numpy(float))
        df["x_rd"], df["y_rd"] = x, y
    return df


def truck_named(names: pd.Series, operators: pd.Series, cfg: LogisticsConfig) -> np.ndarray:
    """True where a site's own data says trucks can reach it: its name matches ``truck_name_pattern``
    (E-Truck, Truck parking, vrachtwagen, MCS) or its operator is one of ``truck_operators``."""
    nm = pd.Series(names, dtype="object").fillna("").astype(str)
    op = pd.Series(operators, dtype="object").fillna("").astype(str).str.strip().str.lower()
    by_name = nm.str.contains(cfg.truck_name_pattern, case=False, regex=True).to_numpy(bool)
    by_op = op.isin([o.lower() for o in cfg.truck_operators]).to_numpy(bool)
    return by_name | by_op


def read_freight_chargers(src: str | os.PathLike, stations_assumed: int = 1, *, cfg: LogisticsConfig | None = None,
                          max_power_kw: float | None = None) -> pd.DataFrame:
    """High-power charge locations from the NDW freight layer GeoJSON (path or URL).

    The feed gives one point per location with ``maxPowerKw`` only, so each location is taken as
    ``stations_assumed`` stations of that power and a pool output of ``maxPowerKw`` x ``stations_assumed``
    (a lower bound). The layer holds every DC site of 350 kW and more, car fast-charging sites included, so
    a site serves heavy vehicles (``vehicle = "both"``, ``truck_access`` true) only when its data says trucks
    can reach it: the feed's own flags (``source = curated``: a hand-curated truck hub; ``isMegawatt`` with a
    plausible power: a megawatt charger is for trucks) or its name / operator (:func:`truck_named`); else
    ``vehicle = "light"`` (``cfg.heavy_requires_truck_access`` false: every site serves both). A truck
    parking next to it can still make it a truck pool (:func:`apply_truck_parkings`).
    Features without coordinates or power, and with a power above ``max_power_kw`` (rule ``LP-POWER``: a watt
    figure such as 7360 for an AC point of 7.36 kW), are left out and listed in ``df.attrs["problems"]``.
    """
    cfg = cfg or LogisticsConfig()
    feats = read_feature_list(src)
    rows, problems = [], []
    for pos, ft in enumerate(feats):
        props = (ft or {}).get("properties") or {}
        geom = (ft or {}).get("geometry") or {}
        coords = geom.get("coordinates") if geom.get("type") == "Point" else None
        try:
            lon, lat = float(coords[0]), float(coords[1])
            kw = float(props.get("maxPowerKw"))
        except (TypeError, ValueError, IndexError):
            problems.append({"rule_code": "LP-MISSING", "position": pos, "record_id": props.get("locationId"),
                             "message": f"{src}: feature {pos} lacks Point coordinates or maxPowerKw"})
            continue
        if not (math.isfinite(kw) and kw > 0):
            problems.append({"rule_code": "LP-TYPE", "position": pos, "record_id": props.get("locationId"),
                             "message": f"{src}: feature {pos} has maxPowerKw={props.get('maxPowerKw')!r}"})
            continue
        if max_power_kw is not None and kw > max_power_kw:
            problems.append({"rule_code": "LP-POWER", "position": pos, "record_id": props.get("locationId"),
                             "message": f"{src}: feature {pos} ({props.get('name')}) has maxPowerKw={kw:g}, above "
                                        f"the {max_power_kw:g} kW a charge point can have (a watt figure?); "
                                        f"not used"})
            continue
        flag = str(props.get("source") or "").lower() == "curated" or props.get("isMegawatt") is True
        rows.append({"pool_id": str(props.get("locationId") or f"freight-{pos}"), "name": props.get("name"),
                     "operator": props.get("operatorName"), "source": "freight-feed", "lon": lon, "lat": lat,
                     "power_kw": kw * stations_assumed, "stations_kw": [kw] * stations_assumed,
                     "vehicle": "both", "heavy_capable": True, "truck_access": bool(flag)})
    for p in problems:
        log.warning("%s [rule %s]", p["message"], p["rule_code"])
    df = _pool_frame(rows, extra=SITE_COLUMNS)
    if len(df):
        df["truck_access"] = df["truck_access"].to_numpy(bool) | truck_named(df["name"], df["operator"], cfg)
        df["vehicle"] = _vehicle(df, cfg)
    df.attrs["problems"] = problems
    return df


def _vehicle(df: pd.DataFrame, cfg: LogisticsConfig) -> np.ndarray:
    """``both`` for a heavy-capable site trucks can reach (or any heavy-capable site when
    ``heavy_requires_truck_access`` is off), else ``light``."""
    cap = df["heavy_capable"].to_numpy(bool)
    acc = df["truck_access"].to_numpy(bool) | (not cfg.heavy_requires_truck_access)
    return np.where(cap & acc, "both", "light")


def apply_truck_parkings(sites: pd.DataFrame, parkings: pd.DataFrame | None, cfg: LogisticsConfig) -> pd.DataFrame:
    """Sites within ``truck_access_radius_m`` of a truck parking (``kind = truck_parking``, which includes
    ``hgv=designated`` areas, see :func:`laadplan.logistics.hubs.read_truck_parkings`) are reachable by
    trucks; heavy-capable ones among them serve heavy vehicles. Returns a copy."""
    out = sites.copy()
    if parkings is None or len(parkings) == 0 or len(out) == 0 or "truck_access" not in out.columns:
        return out
    tp = parkings[parkings["kind"] == "truck_parking"]
    if len(tp) == 0:
        return out
    from laadplan.geo import pairwise_within

    i_site, _, _ = pairwise_within(out["x_rd"], out["y_rd"], tp["x_rd"], tp["y_rd"], cfg.truck_access_radius_m)
    acc = out["truck_access"].to_numpy(bool).copy()
    acc[np.unique(np.asarray(i_site, dtype=int))] = True
    out["truck_access"] = acc
    out["vehicle"] = _vehicle(out, cfg)
    return out


def light_only_count(sites: pd.DataFrame) -> int:
    """Heavy-capable sites that serve light vehicles only because nothing says trucks can reach them."""
    if len(sites) == 0 or "heavy_capable" not in sites.columns:
        return 0
    return int((sites["heavy_capable"].to_numpy(bool) & (sites["vehicle"] == "light").to_numpy()).sum())


def pools_from_charge_points(locations: pd.DataFrame, connectors: pd.DataFrame,
                             cfg: LogisticsConfig, max_power_kw: float | None = None) -> pd.DataFrame:
    """High-power DC locations of the charge point store as pool candidates.

    Per EVSE the station power is its highest DC connector power; a location's pool output is the sum
    over its DC EVSEs, each EVSE counted once (one published under two locations counts at the first). Locations without connector rows (point-only sources) count as one station of the
    location's ``max_power_kw`` unless ``has_dc`` is false (an unknown ``has_dc`` with at least
    ``light_min_dc_kw`` can only be DC) or that power is above ``max_power_kw`` (rule LP-POWER: a watt
    figure, never used; a store loaded before the ingest check may still hold one). A location is kept
    when its best station reaches ``light_min_dc_kw``; it is heavy-capable (``heavy_capable``) when its
    layer is in ``heavy_store_layers`` and its best station reaches ``heavy_min_dc_kw``, and serves heavy
    vehicles too (``vehicle = "both"``) when trucks can reach it (``truck_access``: :func:`truck_named`,
    or later :func:`apply_truck_parkings`; not required when ``heavy_requires_truck_access`` is off).
    """
    if locations is None or len(locations) == 0:
        return _pool_frame([], extra=SITE_COLUMNS)
    key = ["country_code", "party_id", "location_id"]
    st: dict[tuple, list[float]] = {}
    had: set[tuple] = set()  # locations with DC EVSE rows (all of them may be counted at another location)
    if connectors is not None and len(connectors):
        dc = connectors[(connectors["power_type"] == "DC") & connectors["power_kw"].notna()]
        ev = dc.groupby(key + ["evse_uid"], dropna=False)["power_kw"].max().reset_index()
        had = set(map(tuple, ev[key].drop_duplicates().itertuples(index=False, name=None)))
        # an EVSE published under two locations (same party and uid) is one station: counted at the first
        ev = ev.sort_values(key + ["evse_uid"], kind="stable").drop_duplicates(
            ["country_code", "party_id", "evse_uid"], keep="first")
        for k, g in ev.groupby(key, dropna=False):
            st[tuple(k)] = sorted(g["power_kw"].astype(float).tolist(), reverse=True)
    rows, watt = [], 0
    for r in locations.itertuples(index=False):
        k = (r.country_code, r.party_id, r.location_id)
        stations = st.get(k)
        if not stations and k in had:
            continue  # its DC EVSEs are counted at the location that published them first
        if not stations:
            # point-only rows: has_dc may be unknown; >= light_min_dc_kw (checked below) is DC anyway
            if (pd.isna(r.has_dc) or bool(r.has_dc)) and pd.notna(r.max_power_kw):
                if max_power_kw is not None and float(r.max_power_kw) > max_power_kw:
                    watt += 1
                    continue
                stations = [float(r.max_power_kw)]
            else:
                continue
        if max(stations) < cfg.light_min_dc_kw or pd.isna(r.lat) or pd.isna(r.lon):
            continue
        heavy = (str(r.layer) in cfg.heavy_store_layers) and max(stations) >= cfg.heavy_min_dc_kw
        rows.append({"pool_id": str(r.location_id), "name": r.name, "operator": r.operator, "source": "store",
                     "lon": float(r.lon), "lat": float(r.lat), "power_kw": float(sum(stations)),
                     "stations_kw": stations, "vehicle": "light", "heavy_capable": heavy, "truck_access": False})
    if watt:
        log.warning("locations: %d point-only location(s) with max_power_kw above %g kW not used [rule LP-POWER]",
                    watt, max_power_kw)
    df = _pool_frame(rows, extra=SITE_COLUMNS)
    if len(df):
        df["truck_access"] = truck_named(df["name"], df["operator"], cfg)
        df["vehicle"] = _vehicle(df, cfg)
    return df


def merge_pools(pools: pd.DataFrame, merge_m: float, by: list[str] | None = None) -> pd.DataFrame:
    """One row per pool: locations within ``merge_m`` of each other (single linkage) are one pool.

    The same ``pool_id`` seen in several sources counts once (the store's row, with station detail,
    wins). A merged pool's power and stations add up; it serves heavy vehicles when any member does.
    With ``by`` (columns, e.g. the carriageway of :func:`assign_carriageways`) only locations with equal
    values merge, so two service areas facing each other across the motorway stay two pools; the columns
    are kept.
    """
    if len(pools) == 0:
        return pools.copy()
    p = pools.copy()
    p["_rank"] = (p["source"] != "store").astype(int)
    p = p.sort_values(["_rank", "pool_id"]).drop_duplicates("pool_id").drop(columns="_rank").reset_index(drop=True)
    if by:
        keys = p[by].astype("string").fillna("").agg("|".join, axis=1)
        parts = [merge_pools(g.drop(columns=by), merge_m).assign(**{c: g[c].iloc[0] for c in by})
                 for _, g in p.groupby(keys, sort=True)]
        return pd.concat(parts, ignore_index=True)[POOL_COLUMNS + list(by)]
    pts = shapely.points(p["x_rd"].to_numpy(float), p["y_rd"].to_numpy(float))
    blobs = shapely.get_parts(shapely.union_all(shapely.buffer(pts, merge_m / 2.0)))
    tree = shapely.STRtree(blobs)
    ip, ib = tree.query(pts, predicate="intersects")
    cluster = np.full(len(p), -1)
    cluster[ip] = ib
    p["_cluster"] = cluster
    out = []
    for _, g in p.groupby("_cluster", sort=True):
        veh = set(g["vehicle"])
        out.append({
            "pool_id": "+".join(g["pool_id"]), "name": " / ".join(dict.fromkeys(g["name"].fillna("").astype(str))),
            "operator": " / ".join(dict.fromkeys(g["operator"].fillna("").astype(str))),
            "source": "+".join(sorted(set(g["source"]))),
            "lon": float(g["lon"].mean()), "lat": float(g["lat"].mean()),
            "x_rd": float(g["x_rd"].mean()), "y_rd": float(g["y_rd"].mean()),
            "power_kw": float(g["power_kw"].sum()),
            "stations_kw": sorted([s for lst in g["stations_kw"] for s in lst], reverse=True),
            "vehicle": "both" if ("both" in veh or veh >= {"heavy", "light"}) else next(iter(veh)),
        })
    return pd.DataFrame(out, columns=POOL_COLUMNS)


_SIDE_TOKEN = re.compile(r"(?:^|[\s\-/(])(oost|west|noord|zuid)(?:$|[\s\-/)])", re.IGNORECASE)


def _side_tokens(names) -> np.ndarray:
    """'oost' / 'west' / 'noord' / 'zuid' when a site's name ends a service-area name with it, else None."""
    out = []
    for n in names:
        m = _SIDE_TOKEN.findall(str(n)) if isinstance(n, str) else []
        out.append(m[-1].lower() if m else None)
    return np.array(out, dtype=object)


#: words that name an operator, a brand or a kind of place, not the service area itself
_NOT_PLACE = frozenset("""fastned ionity shell recharge allego pulse tesla supercharger electra tango vissers esso total
energies totalenergies texaco tinq tamoil avia bp gulf eneco vattenfall incharge equans e-flux road mcdonald mcdonalds
verzorgingsplaats laadplein laadstation charging charge charger station tankstation parking snellader snelladen hub
netherlands nederland oost west noord zuid truck trucks""".split())
_WORD = re.compile(r"[a-z][a-z\-']{3,}")


def _place_groups(names) -> list:
    """Group label per site: sites whose names share a place word (not an operator or generic word, at least
    four letters) are one group. None when a site has no place word."""
    words = []
    for n in names:
        w = {x.strip("-'") for x in _WORD.findall(str(n).lower())} if isinstance(n, str) else set()
        words.append({x for x in w if x not in _NOT_PLACE and len(x) >= 4})
    if not all(words):
        return None  # a site without a place word: the names cannot tell the places
    parent = list(range(len(words)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(words)):
        for j in range(i + 1, len(words)):
            if words[i] & words[j]:
                parent[find(i)] = find(j)
    return [find(i) for i in range(len(words))]


def _two_places(names, pos_m: np.ndarray, o: np.ndarray, min_apart_m: float = 50.0) -> np.ndarray | None:
    """Mask of the first of exactly two places (see :func:`_place_groups`) whose centres lie at least
    ``min_apart_m`` apart, else None (one listing under two names at one point is no pair)."""
    groups = _place_groups(names)
    if groups is None:
        return None
    comp = np.asarray(groups)
    if len(set(comp.tolist())) != 2:
        return None
    c0 = comp == comp[0]
    if math.hypot(pos_m[c0].mean() - pos_m[~c0].mean(), o[c0].mean() - o[~c0].mean()) < min_apart_m:
        return None
    return c0


def assign_carriageways(corridors: gpd.GeoDataFrame, sites: pd.DataFrame, cfg: LogisticsConfig) -> pd.DataFrame:
    """The carriageway of each site on its nearest corridor: columns ``cw_corridor`` and ``carriageway``
    (``forward``, ``backward`` or ``both``; empty for a site near no corridor), index as ``sites``.

    Signed offset :math:`o` = distance to the line, positive left of the digitised direction. Sites of one
    corridor within ``carriageway_pair_m`` of each other along it (single linkage) form a group. When the
    group's names hold both halves of a pair of side words (``Oost`` / ``West``, ``Noord`` / ``Zuid``, as in
    "Sandelingen-Oost" / "Sandelingen-West") those two sets face each other: the set with the lower mean
    :math:`o` (further right) serves ``forward``, the other ``backward``. Else, when the names form exactly
    two places (sites sharing a place word are one place: "Fastned Coosenhoek" and "bp pulse Coosenhoek"
    against "Fastned Tussenhoek"), the two places face each other, split the same way. Else, when the largest step between
    consecutive :math:`o` in the group is at least ``carriageway_min_separation_m``, the road runs between
    them: the sites below the step serve ``forward``, those above it ``backward``. This compares the sites with each other, so an offset of the coarse reference line does
    not flip them. Otherwise each site serves the direction of its own side (right-hand traffic: right of
    the line ``forward``; within 1 m of it ``both``). With ``both_directions_min_offset_m`` above 0, a site at least
    that far from the line (off the motorway, at an exit) serves ``both``.
    """
    out = pd.DataFrame({"cw_corridor": pd.Series(None, index=sites.index, dtype="object"),
                        "carriageway": pd.Series(None, index=sites.index, dtype="object")})
    if len(sites) == 0 or len(corridors) == 0:
        return out
    tmp = pd.DataFrame({"pool_id": np.arange(len(sites)), "x_rd": sites["x_rd"].to_numpy(float),
                        "y_rd": sites["y_rd"].to_numpy(float)})
    proj = project_pools(corridors, tmp, cfg.pool_max_distance_km * 1000.0)
    if len(proj) == 0:
        return out
    proj = proj.sort_values(["offset_m", "corridor_id"]).drop_duplicates("pool_id")  # nearest corridor
    proj["o"] = proj["side"].astype(float) * proj["offset_m"].astype(float)
    labels = np.full(len(sites), None, dtype=object)
    corr_of = np.full(len(sites), None, dtype=object)
    for cid, g in proj.groupby("corridor_id", sort=True):
        g = g.sort_values("pos_m")
        group = np.concatenate([[0], np.cumsum(np.diff(g["pos_m"].to_numpy(float)) > cfg.carriageway_pair_m)])
        for _, h in g.groupby(group):
            o = h["o"].to_numpy(float)
            lab = np.where(o < -_ON_LINE_M, "forward", np.where(o > _ON_LINE_M, "backward", "both")).astype(object)
            idx = h["pool_id"].to_numpy(int)
            tok = _side_tokens(sites["name"].to_numpy(object)[idx]) if "name" in sites.columns else \
                np.full(len(h), None, dtype=object)
            pairs = [(a, b) for a, b in (("oost", "west"), ("noord", "zuid")) if {a, b} <= set(tok)]
            if pairs:  # '... Oost' / '... West': the name says which sites face each other; the line says which is right
                a, b = pairs[0]
                ia, ib = tok == a, tok == b
                first = "forward" if o[ia].mean() <= o[ib].mean() else "backward"
                lab[ia] = first
                lab[ib] = "backward" if first == "forward" else "forward"
            elif len(h) > 1 and _two_places(sites["name"].to_numpy(object)[idx] if "name" in sites.columns
                                            else [None] * len(h), h["pos_m"].to_numpy(float), o) is not None:
                # two service-area names on one stretch (Coosenhoek / Tussenhoek): one per carriageway
                c0 = _two_places(sites["name"].to_numpy(object)[idx], h["pos_m"].to_numpy(float), o)
                first = "forward" if o[c0].mean() <= o[~c0].mean() else "backward"
                lab[c0] = first
                lab[~c0] = "backward" if first == "forward" else "forward"
            elif len(h) > 1:
                os_ = np.sort(o)
                steps = np.diff(os_)
                k = int(np.argmax(steps))
                if steps[k] >= cfg.carriageway_min_separation_m:
                    lab = np.where(o <= os_[k], "forward", "backward").astype(object)
            if cfg.both_directions_min_offset_m > 0:
                lab[h["offset_m"].to_numpy(float) >= cfg.both_directions_min_offset_m] = "both"
            labels[idx] = lab
            corr_of[idx] = cid
    out["cw_corridor"] = corr_of
    out["carriageway"] = labels
    return out


# -- the check --------------------------------------------------------------------------------------
@dataclass
class AfirResult:
    """Outputs of :func:`afir_check` (all plain DataFrames)."""

    coverage: pd.DataFrame  # one row per corridor x vehicle x milestone x direction
    gaps: pd.DataFrame  # one row per gap longer than the spacing
    pool_checks: pd.DataFrame  # one row per pool near a corridor x vehicle x milestone
    positions: pd.DataFrame  # pools projected on corridors
    milestones: dict[str, list[AfirMilestone]] = field(default_factory=dict)


def applies(m: AfirMilestone, network: str) -> bool:
    return m.network == "both" or m.network == network


def project_pools(corridors: gpd.GeoDataFrame, pools: pd.DataFrame, max_distance_m: float) -> pd.DataFrame:
    """Pools within ``max_distance_m`` of each corridor with position ``pos_m`` along it, distance
    ``offset_m`` to it and ``side`` (+1 left, -1 right of the digitised direction, 0 on the line)."""
    cols = ["corridor_id", "pool_id", "pos_m", "offset_m", "side"]
    if len(pools) == 0 or len(corridors) == 0:
        return pd.DataFrame(columns=cols)
    pts = shapely.points(pools["x_rd"].to_numpy(float), pools["y_rd"].to_numpy(float))
    out = []
    for c in corridors.itertuples(index=False):
        line = c.geometry
        d = shapely.distance(line, pts)
        idx = np.flatnonzero(d <= max_distance_m)
        if len(idx) == 0:
            continue
        pos = shapely.line_locate_point(line, pts[idx])
        a = shapely.line_interpolate_point(line, np.clip(pos - 1.0, 0, line.length))
        b = shapely.line_interpolate_point(line, np.clip(pos + 1.0, 0, line.length))
        tx, ty = shapely.get_x(b) - shapely.get_x(a), shapely.get_y(b) - shapely.get_y(a)
        q = shapely.line_interpolate_point(line, pos)
        ox, oy = shapely.get_x(pts[idx]) - shapely.get_x(q), shapely.get_y(pts[idx]) - shapely.get_y(q)
        cross = tx * oy - ty * ox
        out.append(pd.DataFrame({"corridor_id": c.corridor_id, "pool_id": pools["pool_id"].to_numpy()[idx],
                                 "pos_m": pos, "offset_m": d[idx], "side": np.sign(cross).astype(int)}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)


def serves(side: np.ndarray, offset_m: np.ndarray, direction: str, cfg: LogisticsConfig,
           carriageway: np.ndarray | None = None) -> np.ndarray:
    """Which projected pools serve ``direction`` under ``cfg.direction_rule`` (see module docstring).
    ``carriageway``: the pools' labels from :func:`assign_carriageways` for this corridor (None where
    unknown: then the side of the line decides, on the line both)."""
    side = np.asarray(side)
    if cfg.direction_rule == "both":
        return np.ones(len(side), dtype=bool)
    if cfg.direction_rule == "carriageway":
        wanted = -1 if direction == "forward" else 1
        own = (side == wanted) | (side == 0)
        if carriageway is None:
            return own
        cw = np.asarray(carriageway, dtype=object)
        known = np.array([c in ("forward", "backward", "both") for c in cw], dtype=bool)
        return np.where(known, (cw == direction) | (cw == "both"), own)
    near = np.asarray(offset_m, dtype=float) <= cfg.side_tolerance_m
    wanted = -1 if direction == "forward" else 1
    return near | (side == wanted)


def n_stations(stations_kw, min_kw: float) -> int:
    return int(sum(1 for s in stations_kw if s >= min_kw))


def qualifies(power_kw: float, stations_kw, m: AfirMilestone) -> bool:
    return power_kw >= m.min_pool_kw and n_stations(stations_kw, m.min_station_kw) >= m.min_stations


def gaps_and_coverage(positions_m, length_m: float, spacing_m: float, end_rule: str):
    """Gaps and covered length of one corridor-direction.

    Returns ``(anchors, covered_m)`` where ``anchors`` are the sorted qualifying positions with the virtual
    ends (``end_rule`` "half": :math:`-d/2` and :math:`L + d/2`; "pool": 0 and :math:`L`); consecutive
    anchors give the gaps. ``covered_m`` = length of :math:`[0, L] \\cap \\bigcup [a - d/2, a + d/2]`.
    """
    pos = np.sort(np.clip(np.asarray(positions_m, dtype=float), 0.0, length_m))
    lo, hi = (-spacing_m / 2, length_m + spacing_m / 2) if end_rule == "half" else (0.0, length_m)
    anchors = np.concatenate([[lo], pos, [hi]])
    h = spacing_m / 2
    segs = [shapely.LineString([(max(a - h, 0.0), 0), (min(a + h, length_m), 0)])
            for a in anchors if min(a + h, length_m) - max(a - h, 0.0) > _EPS_M]
    covered = float(shapely.union_all(segs).length) if segs else 0.0
    covered = 0.0 if covered < _EPS_M else min(covered, length_m)
    return anchors, covered


def afir_check(corridors: gpd.GeoDataFrame, pools: pd.DataFrame, cfg: LogisticsConfig,
               vehicles: tuple[str, ...] = VEHICLES) -> AfirResult:
    """Check every corridor, direction, vehicle class and milestone (see the module docstring)."""
    pos = project_pools(corridors, pools, cfg.pool_max_distance_km * 1000.0)
    pinfo = pools.set_index("pool_id") if len(pools) else pools
    cov_rows, gap_rows, chk_rows = [], [], []
    ms_by_vehicle = {"heavy": cfg.heavy, "light": cfg.light}
    for c in corridors.itertuples(index=False):
        L = c.geometry.length
        here = pos[pos["corridor_id"] == c.corridor_id]
        for veh in vehicles:
            ok_vehicle = [(pid in pinfo.index) and (pinfo.at[pid, "vehicle"] in ("both", veh))
                          for pid in here["pool_id"]]
            pv = here[np.asarray(ok_vehicle, dtype=bool)] if len(here) else here
            for m in ms_by_vehicle[veh]:
                if not applies(m, c.network):
                    continue
                quals = np.array([qualifies(pinfo.at[pid, "power_kw"], pinfo.at[pid, "stations_kw"], m)
                                  for pid in pv["pool_id"]], dtype=bool)
                for pid, q, off, s in zip(pv["pool_id"], quals, pv["offset_m"], pv["pos_m"]):
                    pk = float(pinfo.at[pid, "power_kw"])
                    ns = n_stations(pinfo.at[pid, "stations_kw"], m.min_station_kw)
                    chk_rows.append({"corridor_id": c.corridor_id, "ref": c.ref, "network": c.network,
                                     "vehicle": veh, "milestone_year": m.year, "pool_id": pid,
                                     "name": pinfo.at[pid, "name"], "pos_km": s / 1000, "offset_km": off / 1000,
                                     "power_kw": pk, "stations": ns, "min_pool_kw": m.min_pool_kw,
                                     "min_stations": m.min_stations, "power_short_kw": max(0.0, m.min_pool_kw - pk),
                                     "stations_short": max(0, m.min_stations - ns), "qualifies": bool(q)})
                d = m.spacing_km * 1000.0
                cw = None
                if "carriageway" in pinfo.columns and len(pv):
                    cw = np.array([pinfo.at[pid, "carriageway"] if pinfo.at[pid, "cw_corridor"] == c.corridor_id
                                   else None for pid in pv["pool_id"]], dtype=object)
                for direction in DIRECTIONS:
                    sv = serves(pv["side"].to_numpy(), pv["offset_m"].to_numpy(float), direction, cfg, cw)
                    sel = sv & quals
                    p_along = pv["pos_m"].to_numpy(float)[sel]
                    ids = pv["pool_id"].to_numpy()[sel]
                    if direction == "backward":
                        p_along = L - p_along
                    order = np.argsort(p_along, kind="stable")
                    p_along, ids = p_along[order], ids[order]
                    anchors, covered = gaps_and_coverage(p_along, L, d, cfg.end_rule)
                    names = ["end"] + [_label(pinfo.at[x, "name"], x) for x in ids] + ["end"]
                    pids = ["end"] + list(ids) + ["end"]
                    g = np.diff(anchors)
                    # the stretch inside the corridor (the anchors may be virtual ends beyond it)
                    inside = np.minimum(anchors[1:], L) - np.maximum(anchors[:-1], 0.0)
                    bad = np.flatnonzero(g > d + _EPS_M)
                    for i in bad:
                        gap_rows.append({
                            "corridor_id": c.corridor_id, "ref": c.ref, "network": c.network, "vehicle": veh,
                            "milestone_year": m.year, "direction": direction, "spacing_km": m.spacing_km,
                            "gap_km": inside[i] / 1000, "excess_km": (g[i] - d) / 1000,
                            "from_km": max(anchors[i], 0.0) / 1000, "to_km": min(anchors[i + 1], L) / 1000,
                            "anchor_from_km": anchors[i] / 1000, "anchor_to_km": anchors[i + 1] / 1000,
                            "from_pool": names[i], "to_pool": names[i + 1],
                            "from_pool_id": pids[i], "to_pool_id": pids[i + 1],
                            "new_pools_needed": int(math.ceil(g[i] / d - 1e-12)) - 1})
                    share = covered / L if L > 0 else 0.0
                    compliant = (share >= m.length_share - 1e-9) if m.length_share < 1 else len(bad) == 0
                    cov_rows.append({
                        "corridor_id": c.corridor_id, "ref": c.ref, "network": c.network, "vehicle": veh,
                        "milestone_year": m.year, "direction": direction, "length_km": L / 1000,
                        "spacing_km": m.spacing_km, "required_share": m.length_share,
                        "pools_near": int(len(pv)), "qualifying_pools": int(sel.sum()),
                        "covered_km": covered / 1000, "covered_share": share, "gaps_over_spacing": int(len(bad)),
                        "longest_gap_km": float(inside.max()) / 1000 if len(inside) else float("nan"),
                        "compliant": bool(compliant)})
    positions = pos.merge(pools[["pool_id", "name", "power_kw", "vehicle", "lon", "lat", "x_rd", "y_rd"]],
                          on="pool_id", how="left") if len(pos) else pos
    return AfirResult(coverage=pd.DataFrame(cov_rows, columns=COVERAGE_COLUMNS),
                      gaps=pd.DataFrame(gap_rows, columns=GAP_COLUMNS),
                      pool_checks=pd.DataFrame(chk_rows, columns=POOL_CHECK_COLUMNS), positions=positions,
                      milestones=ms_by_vehicle)


def pools_for(pools: pd.DataFrame, vehicle: str, merge_m: float, by: list[str] | None = None) -> pd.DataFrame:
    """Merged pools usable by ``vehicle`` (heavy or light): only locations serving that class are merged,
    so a truck pool's power never includes the passenger chargers next to it (``by``: see merge_pools)."""
    if len(pools) == 0:
        return pools.copy()
    return merge_pools(pools[pools["vehicle"].isin(["both", vehicle])].reset_index(drop=True), merge_m, by=by)


def afir_check_all(corridors: gpd.GeoDataFrame, locations: pd.DataFrame, cfg: LogisticsConfig,
                   vehicles: tuple[str, ...] = VEHICLES) -> AfirResult:
    """:func:`afir_check` per vehicle class on unmerged charge ``locations``, each class with its own
    pools (:func:`pools_for`); the outputs are concatenated (``positions`` gets a ``vehicle`` column)."""
    by = None
    if cfg.direction_rule == "carriageway" and len(locations):
        locations = pd.concat([locations.drop(columns=["cw_corridor", "carriageway"], errors="ignore"),
                               assign_carriageways(corridors, locations, cfg)], axis=1)
        by = ["cw_corridor", "carriageway"]
    parts = [(v, afir_check(corridors, pools_for(locations, v, cfg.pool_merge_m, by=by), cfg, vehicles=(v,)))
             for v in vehicles]
    cat = lambda name: pd.concat([getattr(r, name) for _, r in parts], ignore_index=True)  # noqa: E731
    positions = pd.concat([r.positions.assign(vehicle_class=v) for v, r in parts], ignore_index=True)
    return AfirResult(coverage=cat("coverage"), gaps=cat("gaps"), pool_checks=cat("pool_checks"),
                      positions=positions, milestones={"heavy": cfg.heavy, "light": cfg.light})


NETWORK_COLUMNS = ["vehicle", "milestone_year", "direction", "corridors", "length_km", "covered_km",
                   "covered_share", "required_share", "corridors_compliant", "compliant"]


def network_verdict(coverage: pd.DataFrame) -> pd.DataFrame:
    """The AFIR verdict per vehicle class, milestone and direction on the whole TEN-T length of the region.

    AFIR's length shares (heavy-duty 15 % by 2025 and 50 % by 2027, light-duty comprehensive 50 % by 2027)
    are shares of the whole TEN-T road network, not of each corridor: the covered kilometres of every
    corridor the milestone applies to are summed and divided by their summed length. A milestone without a
    share (pools along the whole length) is met only when every corridor it applies to is compliant.
    ``corridors_compliant`` counts the corridors that meet the milestone on their own (per-corridor view).
    """
    if len(coverage) == 0:
        return pd.DataFrame(columns=NETWORK_COLUMNS)
    rows = []
    for (veh, year, direction), g in coverage.groupby(["vehicle", "milestone_year", "direction"], sort=True):
        # one year may hold rules with and without a share (light 2027: core every 60 km, comprehensive on
        # 50 %): the share is over the corridors of the share rules, the others must comply each
        part = g[g["required_share"].astype(float) < 1]
        whole = g[g["required_share"].astype(float) >= 1]
        if len(part):
            length, covered = float(part["length_km"].sum()), float(part["covered_km"].sum())
            required = float(part["required_share"].max())
        else:
            length, covered, required = float(g["length_km"].sum()), float(g["covered_km"].sum()), 1.0
        share = covered / length if length > 0 else 0.0
        ok = (share >= required - 1e-9 if len(part) else True) and bool(whole["compliant"].all())
        rows.append({"vehicle": veh, "milestone_year": int(year), "direction": direction, "corridors": int(len(g)),
                     "length_km": length, "covered_km": covered, "covered_share": share,
                     "required_share": required, "corridors_compliant": int(g["compliant"].sum()),
                     "compliant": bool(ok)})
    return pd.DataFrame(rows, columns=NETWORK_COLUMNS)


COVERAGE_COLUMNS = ["corridor_id", "ref", "network", "vehicle", "milestone_year", "direction", "length_km",
                    "spacing_km", "required_share", "pools_near", "qualifying_pools", "covered_km", "covered_share",
                    "gaps_over_spacing", "longest_gap_km", "compliant"]
GAP_COLUMNS = ["corridor_id", "ref", "network", "vehicle", "milestone_year", "direction", "spacing_km", "gap_km",
               "excess_km", "from_km", "to_km", "anchor_from_km", "anchor_to_km", "from_pool", "to_pool",
               "from_pool_id", "to_pool_id", "new_pools_needed"]


def _label(name, pool_id) -> str:
    """A pool's name for tables (its id when it has none)."""
    return str(name) if isinstance(name, str) and name.strip() else str(pool_id)
POOL_CHECK_COLUMNS = ["corridor_id", "ref", "network", "vehicle", "milestone_year", "pool_id", "name", "pos_km",
                      "offset_km", "power_kw", "stations", "min_pool_kw", "min_stations", "power_short_kw",
                      "stations_short", "qualifies"]


def urban_node_check(pools: pd.DataFrame, areas: pd.DataFrame, cfg: LogisticsConfig) -> pd.DataFrame:
    """AFIR urban nodes (Art. 4(1)(e)): inside each urban-node gemeente (``areas`` with ``area_code``,
    ``name``, ``geometry_wkb``) the summed power of the heavy-duty stations of at least
    ``urban_node_min_station_kw`` (150 kW) against ``urban_node_kw`` per milestone. Slower stations of a
    heavy-duty pool do not count; ``pools`` counts the pools with at least one such station."""
    from laadplan.geo import assign_area

    cols = ["gm_code", "name", "milestone_year", "pools", "power_kw", "required_kw", "short_kw", "compliant"]
    nodes = areas[areas["area_code"].isin(cfg.urban_nodes) & areas["geometry_wkb"].notna()] if len(areas) else areas
    if len(nodes) == 0:
        return pd.DataFrame(columns=cols)
    nodes = nodes.assign(geometry_wkb=[bytes(b) for b in nodes["geometry_wkb"]]).reset_index(drop=True)
    heavy = pools[pools["vehicle"].isin(["both", "heavy"])] if len(pools) else pools
    if len(heavy):
        kw_fast = [float(sum(x for x in st if x >= cfg.urban_node_min_station_kw)) for st in heavy["stations_kw"]]
        heavy = heavy.assign(power_kw=kw_fast)
        heavy = heavy[heavy["power_kw"] > 0]
    gm = assign_area(heavy["lon"].to_numpy(float), heavy["lat"].to_numpy(float), nodes) if len(heavy) \
        else pd.Series(dtype="string")
    kw = heavy["power_kw"].groupby(gm.to_numpy()).sum() if len(heavy) else pd.Series(dtype=float)
    n = heavy["power_kw"].groupby(gm.to_numpy()).size() if len(heavy) else pd.Series(dtype=int)
    rows = []
    for year, need in sorted((int(y), float(v)) for y, v in cfg.urban_node_kw.items()):
        for r in nodes.itertuples(index=False):
            have = float(kw.get(r.area_code, 0.0))
            rows.append({"gm_code": r.area_code, "name": getattr(r, "name", r.area_code), "milestone_year": year,
                         "pools": int(n.get(r.area_code, 0)), "power_kw": have, "required_kw": need,
                         "short_kw": max(0.0, need - have), "compliant": have >= need})
    return pd.DataFrame(rows, columns=cols)
