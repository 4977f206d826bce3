"""The edges of the logistics family: read sources and the store, run the pure analyses, write tables,
CSV files and PNG maps. Used by the ``corridors``, ``hubs``, ``parks`` and ``sites`` commands and the demo."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from laadplan import model
from laadplan.config import RegionConfig
from laadplan.logistics import corridors as co
from laadplan.logistics import hubs as hb
from laadplan.logistics import maps
from laadplan.logistics import parks as pk
from laadplan.logistics import sites as si
from laadplan.store import Store

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    problems: pd.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _has_rows(store: Store, name: str) -> bool:
    """True when the store file holds the table and it has rows."""
    return store.has_table(name) and store.count(name) > 0


def grid_areas(store: Store) -> pd.DataFrame | None:
    if not _has_rows(store, "grid_areas"):
        return None
    return store.frame("grid_areas", where="geometry_wkb IS NOT NULL",
                       columns=["area_code", "offtake_status", "geometry_wkb"])


def outline(store: Store, cfg: RegionConfig | None = None) -> list:
    if not _has_rows(store, "areas"):
        return []
    v = (cfg or RegionConfig()).validation
    return maps.outline_from_areas(store.frame("areas", where="level = 'gemeente'",
                                               columns=["area_code", "geometry_wkb"]),
                                   (v.bbox_lon_min, v.bbox_lat_min, v.bbox_lon_max, v.bbox_lat_max))


def write_table(store: Store, name: str, df: pd.DataFrame) -> None:
    cols = [c for c in model.table(name).column_names if c in df.columns]
    store.replace_all(name, df[cols])


def quarantine(store: Store, kind: str, src, problems: pd.DataFrame) -> None:
    """Keep bad input records in the store's quarantine with their rule code (never dropped silently)."""
    if problems is None or len(problems) == 0:
        return
    q = problems.assign(kind=kind, source_file=str(src),
                        ingested_utc=datetime.now(timezone.utc).replace(tzinfo=None))
    if "raw" not in q:
        q["raw"] = None
    store.upsert("quarantine", q[["kind", "rule_code", "source_file", "position", "record_id", "message", "raw",
                                  "ingested_utc"]])


def _csv(df: pd.DataFrame, path: Path, files: list[Path]) -> None:
    df.to_csv(path, index=False)
    files.append(path)


def load_pools(store: Store, cfg: RegionConfig, freight: str | os.PathLike | None = None,
               parkings: str | os.PathLike | pd.DataFrame | None = None) -> Outcome:
    """High-power DC locations from the store and (optionally) the freight feed (``locations``, unmerged)
    and the merged heavy-duty pools (``pools``). Truck parkings (a GeoJSON or a frame as read by
    :func:`~laadplan.logistics.hubs.read_truck_parkings`) make the heavy-capable sites next to them truck
    pools. ``extra["heavy_sites"]`` / ``extra["light_only_sites"]``: heavy-capable sites that do / do not
    count for heavy-duty (nothing says trucks can reach the latter)."""
    lc = cfg.logistics
    max_kw = cfg.validation.connector_max_power_kw
    parts = []
    out = Outcome()
    if _has_rows(store, "locations"):
        locs = store.frame("locations", where="has_dc OR max_power_kw >= ?", params=[lc.light_min_dc_kw])
        conns = store.frame("connectors", where="power_type = 'DC'")
        parts.append(co.pools_from_charge_points(locs, conns, lc, max_power_kw=max_kw))
    if freight:
        fr = co.read_freight_chargers(freight, lc.freight_stations_assumed, cfg=lc, max_power_kw=max_kw)
        out.problems = pd.DataFrame(fr.attrs.get("problems", []))
        quarantine(store, "locations", freight, out.problems)
        parts.append(fr)
    parts = [p for p in parts if len(p)]
    raw = pd.concat(parts, ignore_index=True) if parts else co._pool_frame([], extra=co.SITE_COLUMNS)
    if len(raw):  # a site in the store and the feed: what either says about trucks holds for both rows
        raw["truck_access"] = raw.groupby("pool_id")["truck_access"].transform("max").astype(bool)
        raw["heavy_capable"] = raw["heavy_capable"].astype(bool)
        raw["vehicle"] = co._vehicle(raw, lc)
    if parkings is not None:
        tp = parkings if isinstance(parkings, pd.DataFrame) else hb.read_truck_parkings(parkings)
        if not isinstance(parkings, pd.DataFrame):
            quarantine(store, "candidates", parkings, pd.DataFrame(tp.attrs.get("problems", [])))
        out.extra["parkings"] = tp
        raw = co.apply_truck_parkings(raw, tp, lc)
    # the same site in the store and the feed counts once (the store's row wins, as in merge_pools)
    uniq = raw.assign(_r=(raw["source"] != "store").astype(int)).sort_values(["_r", "pool_id"]) \
        .drop_duplicates("pool_id") if len(raw) else raw
    out.extra["heavy_sites"] = int((uniq["vehicle"] == "both").sum()) if len(uniq) else 0
    out.extra["light_only_sites"] = co.light_only_count(uniq)
    if out.extra["light_only_sites"]:
        log.info("heavy-duty: %d high-power sites count for light-duty only (nothing says trucks can reach them), "
                 "%d count for heavy-duty", out.extra["light_only_sites"], out.extra["heavy_sites"])
    out.tables["locations"] = raw
    out.tables["pools"] = co.pools_for(raw, "heavy", lc.pool_merge_m)  # truck pools (maps, hubs, parkings)
    return out


def run_corridors(store: Store, cfg: RegionConfig, out_dir: Path, *, freight=None, roads=None, parkings=None,
                  map_png: bool = True, gpkg: bool = False) -> Outcome:
    lc = cfg.logistics
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    res = load_pools(store, cfg, freight, parkings)
    pools = res.tables["pools"]
    corr = co.load_corridors(roads)
    result = co.afir_check_all(corr, res.tables["locations"], lc)
    write_table(store, "corridors", corridor_rows(corr, roads))
    write_table(store, "afir_coverage", result.coverage)
    write_table(store, "afir_gaps", result.gaps)
    summary = corridor_summary(result.coverage)
    network = co.network_verdict(result.coverage)
    res.tables.update(coverage=result.coverage, gaps=result.gaps, pool_checks=result.pool_checks, summary=summary,
                      network=network)
    res.extra.update(result=result, corridors=corr)
    _csv(result.coverage, out_dir / "afir_coverage.csv", res.files)
    _csv(network, out_dir / "afir_network.csv", res.files)
    _csv(result.gaps, out_dir / "afir_gaps.csv", res.files)
    _csv(result.pool_checks[~result.pool_checks["qualifies"].astype(bool)], out_dir / "afir_pools_short.csv", res.files)
    if _has_rows(store, "areas"):
        areas = store.frame("areas", where="level = 'gemeente'", columns=["area_code", "name", "geometry_wkb"])
        nodes = co.urban_node_check(pools, areas, lc)
        res.tables["urban_nodes"] = nodes
        if len(nodes):
            _csv(nodes, out_dir / "afir_urban_nodes.csv", res.files)
    if map_png:
        res.files.append(corridor_map(store, corr, pools, result, out_dir / "corridors.png", gpkg=gpkg))
        if gpkg:
            res.files.append(out_dir / "corridors.gpkg")
    return res


def corridor_rows(corr, roads=None) -> pd.DataFrame:
    """The ``corridors`` table of the lines the check ran on (RD New in ``corr``): WGS84 WKB lines."""
    from laadplan.geo import WGS84

    wgs = corr.to_crs(WGS84)
    return pd.DataFrame({"corridor_id": corr["corridor_id"], "ref": corr["ref"], "network": corr["network"],
                         "name": corr["name"], "length_km": corr["length_km"],
                         "source": "reference" if roads is None else str(roads),
                         "geometry_wkb": [g.wkb for g in wgs.geometry]})


def corridor_summary(coverage: pd.DataFrame) -> pd.DataFrame:
    """Per corridor, vehicle and milestone: the worse direction's covered share and compliance."""
    if len(coverage) == 0:
        return coverage
    g = coverage.groupby(["corridor_id", "network", "vehicle", "milestone_year"], sort=True)
    return g.agg(length_km=("length_km", "first"), spacing_km=("spacing_km", "first"),
                 required_share=("required_share", "first"), qualifying_pools=("qualifying_pools", "min"),
                 covered_share=("covered_share", "min"), gaps=("gaps_over_spacing", "max"),
                 compliant=("compliant", "all")).reset_index()


def corridor_map(store, corr, pools, result: co.AfirResult, path: Path, suggestions: pd.DataFrame | None = None,
                 gpkg: bool = False):
    """The corridor map (PNG); ``gpkg``: its layers also in ``path`` with suffix .gpkg."""
    cov = result.coverage
    first_heavy = min((m.year for m in result.milestones.get("heavy", [])), default=None)
    ok_ids = set(cov[(cov["vehicle"] == "heavy") & (cov["milestone_year"] == first_heavy)
                     & cov["compliant"]]["corridor_id"])
    ids = list(corr["corridor_id"])
    lines = [maps.LineLayer([g for c, g in zip(ids, corr.geometry) if c in ok_ids],
                            f"heavy {first_heavy} compliant", {"color": "#2e7d32"},
                            pd.DataFrame({"corridor_id": [c for c in ids if c in ok_ids]})),
             maps.LineLayer([g for c, g in zip(ids, corr.geometry) if c not in ok_ids],
                            f"heavy {first_heavy} not compliant", {"color": "#c62828"},
                            pd.DataFrame({"corridor_id": [c for c in ids if c not in ok_ids]}))]
    pos = result.positions
    near = pools[pools["pool_id"].isin(set(pos["pool_id"]))] if len(pos) else pools.iloc[:0]
    pc = result.pool_checks
    q = set(pc.loc[pc["qualifies"] & (pc["vehicle"] == "heavy"), "pool_id"])
    pool_attrs = [c for c in near.columns if c not in ("x_rd", "y_rd")]
    pts = [maps.PointLayer(near.loc[near["pool_id"].isin(q), "x_rd"].to_numpy(),
                           near.loc[near["pool_id"].isin(q), "y_rd"].to_numpy(), "truck pool qualifying (some milestone)",
                           {"color": "#1565c0", "marker": "s"}, near.loc[near["pool_id"].isin(q), pool_attrs]),
           maps.PointLayer(near.loc[~near["pool_id"].isin(q), "x_rd"].to_numpy(),
                           near.loc[~near["pool_id"].isin(q), "y_rd"].to_numpy(), "truck pool short of power/stations",
                           {"color": "#ff8f00", "marker": "o"}, near.loc[~near["pool_id"].isin(q), pool_attrs])]
    if suggestions is not None and len(suggestions):
        from shapely.ops import substring

        geoms = dict(zip(corr["corridor_id"], corr.geometry))
        spans = suggestions.drop_duplicates(["corridor_id", "gap_from_km", "gap_to_km"])
        year = int(spans["milestone_year"].iloc[0])
        spans = spans[spans["corridor_id"].isin(set(geoms))]
        lines.append(maps.LineLayer([substring(geoms[r.corridor_id], r.gap_from_km * 1000, r.gap_to_km * 1000)
                                     for r in spans.itertuples()],
                                    f"gap for the {year} milestone", {"color": "#6a1b9a", "linewidth": 6,
                                                                      "alpha": 0.35},
                                    spans[["corridor_id", "milestone_year", "gap_from_km", "gap_to_km"]]))
        top = suggestions[(suggestions["rank"] == 1) & suggestions["lon"].notna()]
        from laadplan.geo import to_rd

        x, y = to_rd(top["lon"].to_numpy(float), top["lat"].to_numpy(float))
        pts.append(maps.PointLayer(x, y, "suggested hub (rank 1)", {"color": "#6a1b9a", "marker": "*", "s": 120},
                                   top))
    labels = [(g.interpolate(0.5, normalized=True).x, g.interpolate(0.5, normalized=True).y, c)
              for c, g in zip(corr["corridor_id"], corr.geometry)]
    return maps.draw_map(path, "AFIR corridor check (TEN-T, Zuid-Holland + Zeeland)", outline(store), lines, pts,
                         labels, gpkg=Path(path).with_suffix(".gpkg") if gpkg else None)


def run_hubs(store: Store, cfg: RegionConfig, out_dir: Path, *, freight=None, roads=None, parkings=None,
             year: int | None = None, vehicle: str = "heavy", checked: Outcome | None = None, parks_src=None,
             parks: pd.DataFrame | None = None, gpkg: bool = False) -> Outcome:
    """Hub suggestions; ``checked`` is a :func:`run_corridors` outcome to reuse (else it is run here)."""
    out_dir = Path(out_dir)
    tp = None
    if parkings and checked is None:
        tp = hb.read_truck_parkings(parkings)
        quarantine(store, "candidates", parkings, pd.DataFrame(tp.attrs.get("problems", [])))
    res = checked or run_corridors(store, cfg, out_dir, freight=freight, roads=roads, parkings=tp, map_png=False)
    result, corr, pools = res.extra["result"], res.extra["corridors"], res.tables["pools"]
    cands = [hb.pool_candidates(pools)]
    if parks is None and parks_src:
        parks = pk.read_parks(parks_src, cfg)[0]
    if parks is not None:
        cands.append(hb.park_candidates(parks))
    if parkings:
        if tp is None:
            tp = res.extra.get("parkings")
        if tp is None:
            tp = hb.read_truck_parkings(parkings)
            quarantine(store, "candidates", parkings, pd.DataFrame(tp.attrs.get("problems", [])))
        cands.insert(0, tp)
        tpc = hb.truck_parking_check(tp, pools, cfg.logistics)
        res.tables["truck_parkings"] = tpc
        _csv(tpc, out_dir / "truck_parking_stations.csv", res.files)
    cands = pd.concat([c for c in cands if len(c)], ignore_index=True) if any(len(c) for c in cands) \
        else pd.DataFrame(columns=hb.CANDIDATE_COLUMNS)
    year = year or date.today().year
    sugg = hb.suggest_hubs(result, corr, cands, cfg.logistics, year=year, vehicle=vehicle,
                           grid_areas=grid_areas(store))
    write_table(store, "hub_suggestions", sugg)
    res.tables["suggestions"] = sugg
    _csv(sugg, out_dir / "hub_suggestions.csv", res.files)
    res.files.append(corridor_map(store, corr, pools, result, out_dir / "hubs.png", sugg, gpkg=gpkg))
    if gpkg:
        res.files.append(out_dir / "hubs.gpkg")
    return res


def run_parks(store: Store, cfg: RegionConfig, src, out_dir: Path, *, share_fn=None, gpkg: bool = False) -> Outcome:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parks, problems = pk.read_parks(src, cfg)
    quarantine(store, "parks", src, problems)
    res = Outcome(problems=problems)
    demand = pk.park_demand(parks, cfg, share_fn=share_fn)
    status = hb.grid_status(parks["lon"].to_numpy(float), parks["lat"].to_numpy(float), grid_areas(store)) \
        if len(parks) else pd.Series(dtype="Int64")
    prio = pk.prioritise(demand, parks, status, cfg) if len(parks) else demand
    charger_cols = [c for c in demand.columns if c.startswith("chargers_")]
    table = demand.assign(chargers_json=[json.dumps({c[9:-2]: int(r[c]) for c in charger_cols})
                                         for _, r in demand.iterrows()]) if len(demand) else demand
    if len(prio):
        table = table.merge(prio[["park_id", "year", "grid_status", "priority_class", "priority"]],
                            on=["park_id", "year"], how="left")
    if len(table):  # the park's point, for the map layers (gis.park_hubs)
        table = table.merge(parks[["park_id", "lat", "lon", "x_rd", "y_rd"]], on="park_id", how="left")
    write_table(store, "park_hubs", table)
    res.tables.update(parks=parks, demand=demand, priority=prio)
    _csv(demand, out_dir / "park_demand.csv", res.files)
    _csv(prio, out_dir / "park_priority.csv", res.files)
    colors = {"now": "#2e7d32", "battery": "#ff8f00", "wait": "#c62828"}
    pts = []
    if len(prio):
        pm = prio.merge(parks[["park_id", "x_rd", "y_rd"]], on="park_id")
        size = 20 + 180 * pm["daily_kwh"] / max(float(pm["daily_kwh"].max()), 1.0)
        for cls, color in colors.items():
            sel = (pm["priority_class"] == cls).to_numpy()
            pts.append(maps.PointLayer(pm["x_rd"].to_numpy()[sel], pm["y_rd"].to_numpy()[sel], f"priority: {cls}",
                                       {"color": color, "s": size.to_numpy()[sel]},
                                       pm.loc[sel, [c for c in pm.columns if c not in ("x_rd", "y_rd")]]))
        labels = [(r.x_rd, r.y_rd, f"{r.priority}. {r.name}") for r in pm.head(15).itertuples()]
    else:
        labels = []
    res.files.append(maps.draw_map(out_dir / "parks.png",
                                   f"Business park hubs {cfg.logistics.park_priority_year} (size = daily kWh)",
                                   outline(store), [], pts, labels,
                                   gpkg=out_dir / "parks.gpkg" if gpkg else None))
    if gpkg:
        res.files.append(out_dir / "parks.gpkg")
    return res


def site_hubs(pools: pd.DataFrame, parks: pd.DataFrame | None = None) -> pd.DataFrame:
    """Places a site may fetch energy from: high-power pools and business-park hubs."""
    parts = []
    if pools is not None and len(pools):
        parts.append(pools[["name", "x_rd", "y_rd"]])
    if parks is not None and len(parks):
        parts.append(parks[["name", "x_rd", "y_rd"]].assign(name="park hub " + parks["name"].astype(str)))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["name", "x_rd", "y_rd"])


def run_sites(store: Store, cfg: RegionConfig, src, out_dir: Path, *, as_of: date | None = None, freight=None,
              parks_src=None, parks: pd.DataFrame | None = None, gpkg: bool = False) -> Outcome:
    """Construction sites; nearby hubs are the high-power pools plus business parks (``parks`` as read by
    :func:`~laadplan.logistics.parks.read_parks`, or read from ``parks_src``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, problems = si.read_sites(src, cfg)
    quarantine(store, "sites", src, problems)
    res = Outcome(problems=problems)
    weekly = si.site_weekly(rows, cfg)
    pools = load_pools(store, cfg, freight).tables["pools"]
    if parks is None and parks_src:
        parks = pk.read_parks(parks_src, cfg)[0]
    hubs = site_hubs(pools, parks)
    first = rows.drop_duplicates("site_id") if len(rows) else rows
    status = hb.grid_status(first["lon"].to_numpy(float), first["lat"].to_numpy(float), grid_areas(store)) \
        if len(first) else pd.Series(dtype="Int64")
    st = dict(zip(first["site_id"], status)) if len(first) else {}
    options = si.site_options(rows, weekly, cfg, as_of=as_of or date.today(), grid_status=st, hubs=hubs)
    write_table(store, "site_options", options)
    res.tables.update(rows=rows, weekly=weekly, options=options)
    _csv(weekly, out_dir / "site_weekly.csv", res.files)
    _csv(options, out_dir / "site_options.csv", res.files)
    pts = []
    if len(options):
        rec = options[options["recommended"]].set_index("site_id")["option"]
        f = first.assign(best=first["site_id"].map(rec).fillna("none"))
        for opt, color in {"grid": "#1565c0", "battery": "#ff8f00", "hub": "#2e7d32", "none": "#c62828"}.items():
            sel = (f["best"] == opt).to_numpy()
            pts.append(maps.PointLayer(f["x_rd"].to_numpy()[sel], f["y_rd"].to_numpy()[sel], f"best: {opt}",
                                       {"color": color, "marker": "^", "s": 60},
                                       f.loc[sel, ["site_id", "name", "start_date", "end_date", "best"]]))
        if len(hubs):
            pts.append(maps.PointLayer(hubs["x_rd"].to_numpy(), hubs["y_rd"].to_numpy(), "hubs",
                                       {"color": "#9e9e9e", "s": 10}, hubs[["name"]]))
    # zoom to the sites (plus the hub search radius), not to every hub of the freight feed in the country
    extent = maps.extent_around(first["x_rd"], first["y_rd"], 2000 * cfg.logistics.hub_max_distance_km) \
        if len(first) else None
    res.extra["map_extent"] = extent
    res.files.append(maps.draw_map(out_dir / "sites.png", "Construction sites: recommended energy supply",
                                   outline(store), [], pts, extent=extent,
                                   gpkg=out_dir / "sites.gpkg" if gpkg else None))
    if gpkg:
        res.files.append(out_dir / "sites.gpkg")
    return res


def site_summary(options: pd.DataFrame) -> pd.DataFrame:
    """One row per site: recommended option and its cost, plus the cost of each option (NaN if infeasible)."""
    if len(options) == 0:
        return options
    cost = options.assign(c=np.where(options["feasible"], options["cost_eur"], np.nan)).pivot(
        index="site_id", columns="option", values="c").add_prefix("cost_")
    best = options[options["recommended"]].set_index("site_id")["option"].rename("recommended")
    names = options.drop_duplicates("site_id").set_index("site_id")["name"]
    grid_why = options[options["option"] == "grid"].set_index("site_id")["reason"].rename("grid")
    out = pd.concat([names, best, cost.round(0), grid_why], axis=1).reset_index()
    return out.fillna({"recommended": "none feasible"})
