"""The edges of the placement family: read plan inputs from the store, save plans and write the plan
files (CSV, GeoJSON, Parquet, summaries, the congestion comparison and a map PNG).

Used by ``laadplan plan`` / ``laadplan requests`` and the demo step; the plan itself
(:mod:`laadplan.placement.plan`) stays pure.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from laadplan import geo, model
from laadplan.config import RegionConfig
from laadplan.grid.capacity import wkb_bytes
from laadplan.placement import triggers as TR
from laadplan.placement.plan import PlanInputs, PlanResult, summary, unmet_need
from laadplan.store import Store

log = logging.getLogger(__name__)


def usage_kpi_frame(store: Store, cfg: RegionConfig) -> tuple[pd.DataFrame | None, str]:
    """Per-location KPIs over the last ``trigger_window_days`` of data: session-based when there are
    sessions, else status-based (e.g. real Zeeland snapshots). Returns (frame, source label)."""
    try:
        from laadplan.kpi import status_occupancy, usage_kpis
    except ImportError:
        log.warning("KPI family not available: no usage trigger")
        return None, "none"
    days = cfg.placement.trigger_window_days
    if store.count("sessions"):
        last = store.query("SELECT max(start_utc) AS t FROM sessions")["t"].iloc[0]
        end = pd.Timestamp(last).date()
        k = usage_kpis(store, cfg, "location", start=end - timedelta(days=days - 1), end=end)
        if len(k) and k["occupancy_share"].notna().any():
            return k, "sessions"
        # no session linked to any location (e.g. sessions without EVSE id): occupancy is n/a, try status
        log.info("no session is linked to a location: usage trigger from status data when present")
    if store.count("occupancy_observations") or store.count("status_observations"):
        last = store.query("SELECT max(t) AS t FROM (SELECT max(observed_utc) t FROM occupancy_observations "
                           "UNION ALL SELECT max(observed_utc) FROM status_observations)")["t"].iloc[0]
        end = pd.Timestamp(last).date()
        return status_occupancy(store, cfg, "location", start=end - timedelta(days=days - 1), end=end), "status"
    return None, "none"


def usage_profile_frame(store: Store, cfg: RegionConfig, source: str) -> pd.DataFrame | None:
    """Per-location hour-of-week occupancy over the same window as :func:`usage_kpi_frame` (location keys,
    how, occupancy_share): the usage trigger takes a catchment's peak from the summed profile of its
    locations."""
    from laadplan.kpi import status_occupancy
    from laadplan.kpi.usage import hour_of_week_occupancy

    days = cfg.placement.trigger_window_days
    if source == "sessions":
        last = store.query("SELECT max(start_utc) AS t FROM sessions")["t"].iloc[0]
        end = pd.Timestamp(last).date()
        return hour_of_week_occupancy(store, cfg, "location", start=end - timedelta(days=days - 1), end=end)
    if source == "status":
        last = store.query("SELECT max(t) AS t FROM (SELECT max(observed_utc) t FROM occupancy_observations "
                           "UNION ALL SELECT max(observed_utc) FROM status_observations)")["t"].iloc[0]
        end = pd.Timestamp(last).date()
        return status_occupancy(store, cfg, "location", start=end - timedelta(days=days - 1), end=end, profile=True)
    return None


def cells_from_codes(cell_rows: pd.DataFrame, areas: pd.DataFrame | None) -> pd.DataFrame:
    """CBS 500 m cells (cell500_code, households, gm_code) with their centre in RD New (from the code) and,
    where the file gave none, the gemeente whose polygon holds the centre."""
    b = np.array([geo.cell_bounds(str(c)) for c in cell_rows["cell500_code"]], dtype="float64").reshape(-1, 4)
    c = cell_rows.assign(x_rd=(b[:, 0] + b[:, 2]) / 2, y_rd=(b[:, 1] + b[:, 3]) / 2).reset_index(drop=True)
    c["gm_code"] = c["gm_code"].astype("string")
    miss = c["gm_code"].isna().to_numpy()
    if miss.any() and areas is not None and len(areas):
        gm = areas[(areas["level"] == "gemeente") & areas["geometry_wkb"].notna()]
        if len(gm):
            lon, lat = geo.to_wgs84(c.loc[miss, "x_rd"].to_numpy(), c.loc[miss, "y_rd"].to_numpy())
            c.loc[miss, "gm_code"] = geo.assign_area(lon, lat, wkb_bytes(gm[["area_code", "geometry_wkb"]]
                                                                        .reset_index(drop=True))).to_numpy()
    c["households"] = c["households"].astype("float64")
    return c[["cell500_code", "households", "x_rd", "y_rd", "gm_code"]]


def plan_locations(store: Store) -> pd.DataFrame:
    """Public locations with RD coordinates (computed from WGS84 where missing), as the plan and the request
    decisions read them."""
    loc = store.frame("locations", columns=["country_code", "party_id", "location_id", "lat", "lon", "x_rd", "y_rd",
                                            "gm_code", "n_evses"])
    miss = loc["x_rd"].isna() & loc["lat"].notna()
    if miss.any():
        loc.loc[miss, "x_rd"], loc.loc[miss, "y_rd"] = geo.to_rd(loc.loc[miss, "lon"], loc.loc[miss, "lat"])
    return loc[loc["x_rd"].notna()].reset_index(drop=True)


def plan_areas(store: Store) -> pd.DataFrame:
    """Gemeenten, wijken and buurten with households and polygons (WKB bytes), as the plan reads them."""
    return wkb_bytes(store.query(
        "SELECT area_code, level, gm_code, households, centroid_lat, centroid_lon, geometry_wkb FROM areas "
        "WHERE level IN ('gemeente', 'wijk', 'buurt')"))


def coverage_cells(store: Store, areas: pd.DataFrame) -> tuple[pd.DataFrame | None, str, str]:
    """Households per 500 m cell for the coverage trigger: CBS 500 m cells when loaded, else each buurt's
    households spread over its cells by area share. Returns (cells or None, households note, coverage note);
    used by :func:`load_inputs` and the web map's coverage-gap layer."""
    cell_rows = store.query("SELECT area_code AS cell500_code, households, gm_code FROM areas "
                            "WHERE level = 'cell500' AND households IS NOT NULL")
    if len(cell_rows):
        cells = cells_from_codes(cell_rows, areas)
        return cells, f"CBS 500 m cells ({len(cells):,} with households)", "exact: households per CBS 500 m cell"
    bu = areas[(areas["level"] == "buurt") & areas["households"].notna()]
    if len(bu):
        return (TR.households_per_cell(bu), "buurten spread over 500 m cells by area share",
                "approximate: no CBS 500 m cells loaded, each buurt's households are spread evenly over its area "
                "(water and parks included)")
    return None, "none (no coverage trigger)", "n/a: no households per 500 m cell or buurt loaded"


def load_inputs(store: Store, cfg: RegionConfig) -> tuple[PlanInputs, dict]:
    """Everything the plan needs from the store, with notes on what was (not) available."""
    notes: dict = {}
    loc = plan_locations(store)
    kpi, src = usage_kpi_frame(store, cfg)
    notes["usage_kpi_source"] = src
    profile = usage_profile_frame(store, cfg, src) if kpi is not None else None
    areas = plan_areas(store)
    cells, notes["households"], notes["coverage"] = coverage_cells(store, areas)
    need = None
    model.table("areas")  # loads every family's tables
    if "forecast_need" in model.TABLES and store.count("forecast_need"):
        need = store.frame("forecast_need")
        notes["forecast_need_rows"] = len(need)
    else:
        notes["forecast_need_rows"] = 0
    inp = PlanInputs(locations=loc, kpi=kpi, kpi_profile=profile, coverage_note=notes["coverage"],
                     requests=store.frame("requests") if store.count("requests") else None,
                     cells=cells, forecast_need=need, areas=areas,
                     candidates=store.frame("candidates") if store.count("candidates") else None,
                     connections=store.frame("grid_connections"), grid_areas=wkb_bytes(store.frame("grid_areas")))
    return inp, notes


def save(store: Store, with_rule: PlanResult, without: PlanResult, decided: pd.DataFrame | None,
         primary_rule: bool = True) -> None:
    """The main plan (with the congestion rule unless ``primary_rule`` is False) into ``plan_sites`` and the
    request decisions into ``requests``. Only one variant is stored so that readers summing
    ``plan_sites.evses`` never count a placement twice; the other variant and the comparison are files."""
    cols = model.table("plan_sites").column_names
    main = (with_rule if primary_rule else without).sites
    store.replace_all("plan_sites", main[[c for c in cols if c in main.columns]])
    if decided is not None and len(decided):
        rc = model.table("requests").column_names
        store.replace_all("requests", decided[[c for c in rc if c in decided.columns]])


def write_outputs(out: Path, with_rule: PlanResult, without: PlanResult, comparison: pd.DataFrame,
                  decided: pd.DataFrame | None, grid_areas: pd.DataFrame | None = None,
                  areas: pd.DataFrame | None = None, locations: pd.DataFrame | None = None,
                  primary_rule: bool = True) -> dict[str, str]:
    """Write the plan files into ``out``; returns {name: path}."""
    out.mkdir(parents=True, exist_ok=True)
    main = with_rule if primary_rule else without
    other = without if primary_rule else with_rule
    files: dict[str, str] = {}

    def w_csv(df: pd.DataFrame, name: str) -> None:
        p = out / name
        df.to_csv(p, index=False)
        files[name] = str(p)

    w_csv(main.sites, "plan_sites.csv")
    main.sites.to_parquet(out / "plan_sites.parquet", index=False)
    files["plan_sites.parquet"] = str(out / "plan_sites.parquet")
    w_csv(other.sites, "plan_sites_without_congestion_rule.csv" if primary_rule else "plan_sites_with_congestion_rule.csv")
    w_csv(summary(main.sites), "summary_gemeente.csv")
    w_csv(unmet_need(main.demand, sorted({int(c.split("_", 1)[1]) for c in main.demand.columns
                                          if c.startswith("served_")})), "unmet_need.csv")
    w_csv(comparison, "comparison_congestion.csv")
    w_csv(main.demand, "demand.csv")
    if decided is not None and len(decided):
        w_csv(decided[["request_id", "requested_date", "gm_code", "decision", "decision_rule", "decision_reason",
                       "nearest_point_m", "points_within_walk", "decided_date", "objection_end_date",
                       "operational_date"]], "requests_decisions.csv")
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(r.lon), float(r.lat)]},
              "properties": {k: (None if (isinstance(v, float) and np.isnan(v)) else
                                 (v.isoformat() if hasattr(v, "isoformat") else (v.item() if hasattr(v, "item") else v)))
                             for k, v in r._asdict().items() if k not in ("lat", "lon", "Index")}}
             for r in main.sites.itertuples()]
    (out / "plan_sites.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats},
                                                       default=str), encoding="utf-8")
    files["plan_sites.geojson"] = str(out / "plan_sites.geojson")
    stats = {"with_congestion_rule": with_rule.stats, "without_congestion_rule": without.stats}
    (out / "plan_stats.json").write_text(json.dumps(stats, indent=2, default=_json_default), encoding="utf-8")
    files["plan_stats.json"] = str(out / "plan_stats.json")
    files["plan_map.png"] = str(plan_map(out / "plan_map.png", main, grid_areas, areas, locations))
    return files


def _json_default(v):
    if isinstance(v, pd.DataFrame):
        return f"{len(v)} rows"
    if hasattr(v, "item"):
        return v.item()
    return str(v)


def plan_map(path: Path, res: PlanResult, grid_areas: pd.DataFrame | None, areas: pd.DataFrame | None,
             locations: pd.DataFrame | None) -> Path:
    """Map of the plan in RD New: gemeente outlines, refusing supply areas shaded, existing locations grey,
    new sites coloured by year and sized by EVSEs (squares: on an existing connection)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shapely

    fig, ax = plt.subplots(figsize=(9, 9))

    def draw(wkbs, **kw):
        for b in wkbs:
            if b is None:
                continue
            g = shapely.from_wkb(bytes(b))
            polys = getattr(g, "geoms", [g])
            for p in polys:
                if p.geom_type != "Polygon":
                    continue
                lon, lat = np.asarray(p.exterior.xy)
                x, y = geo.to_rd(lon, lat)
                if kw.get("fill"):
                    ax.fill(x, y, color=kw["color"], alpha=kw.get("alpha", 0.2), lw=0)
                else:
                    ax.plot(x, y, color=kw.get("color", "0.6"), lw=kw.get("lw", 0.5))

    if areas is not None and len(areas):
        draw(areas.loc[areas["level"] == "gemeente", "geometry_wkb"], color="0.5", lw=0.6)
    if grid_areas is not None and len(grid_areas) and "geometry_wkb" in grid_areas:
        ref = grid_areas[(grid_areas["offtake_status"].fillna(-1) >= 2) & grid_areas["geometry_wkb"].notna()]
        draw(ref["geometry_wkb"], fill=True, color="tab:red", alpha=0.15)
    if locations is not None and len(locations):
        ax.scatter(locations["x_rd"], locations["y_rd"], s=2, c="0.7", label="existing locations", zorder=2)
    s = res.sites
    if len(s):
        years = sorted(s["year"].unique())
        cmap = plt.get_cmap("viridis", max(len(years), 2))
        for k, y in enumerate(years):
            for route, marker in (("new_connection", "o"), ("existing_connection", "s")):
                m = (s["year"] == y) & (s["grid_route"] == route)
                if m.any():
                    ax.scatter(s.loc[m, "x_rd"], s.loc[m, "y_rd"], s=10 + 8 * s.loc[m, "evses"], c=[cmap(k)],
                               marker=marker, edgecolors="k", linewidths=0.3, zorder=3,
                               label=f"{y} ({'existing EAN' if route == 'existing_connection' else 'new connection'})")
    ax.set_aspect("equal")
    ax.set_xlabel("RD x (m)")
    ax.set_ylabel("RD y (m)")
    rule = "with" if res.stats.get("congestion_rule", True) else "without"
    ax.set_title(f"Placement plan {rule} the congestion rule: {int(s['evses'].sum()) if len(s) else 0} new EVSEs "
                 f"at {s['site_id'].nunique() if len(s) else 0} sites\n(shaded red: supply areas with offtake "
                 "status 2-3; squares: on an existing connection)", fontsize=10)
    if len(s):
        ax.legend(loc="best", fontsize=7, markerscale=0.7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
