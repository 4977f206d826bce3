"""The web app's figures and map layers, each from the function the CLI command uses (no second
implementation): usage KPIs from :func:`laadplan.kpi.usage_kpis` / :func:`laadplan.kpi.status_occupancy`
(through :func:`laadplan.placement.store_io.usage_kpi_frame` for per-location occupancy, as the plan's usage
trigger reads it), data quality from :func:`laadplan.kpi.quality.by_operator`, concession figures from
``contract_kpis``/``alerts`` (written by ``laadplan contract``), the plan from ``plan_sites`` with the
workflow state of :mod:`laadplan.web.workflow`.

Layers are cached per process for :data:`CACHE_S` seconds (the store changes by ingest runs, not per
request); a change through the web app (workflow, request) clears the cache.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import numpy as np
import pandas as pd

from laadplan.config import RegionConfig
from laadplan.store import key_filter
from laadplan.web import mvt

CACHE_S = 300.0
_cache: dict[tuple, tuple[float, Any]] = {}
_lock = threading.Lock()


def cached(key: tuple, fn: Callable[[], Any], ttl: float = CACHE_S) -> Any:
    with _lock:
        hit = _cache.get(key)
        if hit and time.monotonic() - hit[0] < ttl:
            return hit[1]
    v = fn()
    with _lock:
        if len(_cache) > 5000:
            _cache.clear()
        _cache[key] = (time.monotonic(), v)
    return v


def clear_cache(prefix: str | None = None) -> None:
    with _lock:
        for k in [k for k in _cache if prefix is None or k[1] == prefix]:
            del _cache[k]


def _num(v: Any) -> Any:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


def records(df: pd.DataFrame) -> list[dict]:
    return [{k: _num(v) for k, v in r.items()} for r in df.to_dict("records")]


# ---- charge points --------------------------------------------------------------------------------------
def location_points(store, cfg: RegionConfig, key: str) -> dict:
    """Every location with coordinates and its peak-hour-of-week occupancy (per-location KPIs over the plan's
    usage-trigger window, the same frame ``laadplan plan`` uses), ready for tiles."""

    def build() -> dict:
        from laadplan.placement.store_io import usage_kpi_frame

        loc = store.query("SELECT country_code, party_id, location_id, name, gm_code, lat, lon, n_evses, has_dc "
                          "FROM locations WHERE lat IS NOT NULL AND lon IS NOT NULL")
        kpi, src = usage_kpi_frame(store, cfg)
        peak = np.full(len(loc), np.nan)
        if kpi is not None and len(kpi):
            from laadplan.placement.triggers import match_keys

            k = kpi.copy()
            if "peak_how_occupancy_share" not in k.columns:
                k["peak_how_occupancy_share"] = np.nan
            kk = match_keys(k, loc)
            m = loc[kk].merge(k[kk + ["peak_how_occupancy_share"]].drop_duplicates(kk), on=kk, how="left")
            peak = pd.to_numeric(m["peak_how_occupancy_share"], errors="coerce").to_numpy("float64")
        ux, uy = mvt.lonlat_to_unit(loc["lon"].to_numpy("float64"), loc["lat"].to_numpy("float64"))
        keys = (loc["country_code"].fillna("").astype(str) + "*" + loc["party_id"].fillna("").astype(str) + "*"
                + loc["location_id"].astype(str)).tolist()
        props = []
        for i, (n, dc, p) in enumerate(zip(loc["n_evses"].tolist(), loc["has_dc"].tolist(), peak.tolist())):
            d = {"e": None if n is None or pd.isna(n) else int(n), "dc": bool(dc) if dc is not None
                 and not pd.isna(dc) else None}
            if not np.isnan(p):
                d["o"] = int(round(100 * p))
            props.append(d)
        return {"frame": loc.assign(peak_share=peak, key=keys), "ux": ux, "uy": uy, "props": props,
                "source": src}

    return cached((key, "locations"), build)


def locations_tile(store, cfg: RegionConfig, key: str, z: int, x: int, y: int) -> bytes:
    pts = location_points(store, cfg, key)
    return cached((key, "tile", z, x, y), lambda: mvt.tile([mvt.point_layer(
        "locations", pts["ux"], pts["uy"], pts["props"], z, x, y)]))


def location_detail(store, cfg: RegionConfig, key: str, idx: int) -> dict | None:
    """A location by its feature id in the tiles (its row in :func:`location_points`' frame)."""
    pts = location_points(store, cfg, key)
    f = pts["frame"]
    if not 0 <= idx < len(f):
        return None
    r = f.iloc[idx]
    loc_key = r["key"]
    cc, pid, lid = r["country_code"], r["party_id"], r["location_id"]
    w, ps = key_filter(store.backend, {"country_code": cc, "party_id": pid, "location_id": lid})  # (key index)
    ev = store.query(f"SELECT evse_id, evse_uid, status, max_power_kw FROM evses WHERE {w} ORDER BY evse_uid", ps)
    return {"id": idx, "key": loc_key, "location_id": lid, "name": _num(r["name"]), "gm_code": _num(r["gm_code"]), "n_evses": _num(r["n_evses"]),
            "has_dc": _num(r["has_dc"]), "peak_how_occupancy_share": _num(r["peak_share"]),
            "occupancy_source": pts["source"], "period_days": cfg.placement.trigger_window_days,
            "evses": records(ev.head(50))}


# ---- areas ---------------------------------------------------------------------------------------------
def _polygons(df: pd.DataFrame, tolerance_deg: float) -> list:
    import shapely

    out = []
    for b in df["geometry_wkb"]:
        if b is None or (isinstance(b, float) and np.isnan(b)):
            out.append(None)
            continue
        g = shapely.from_wkb(bytes(b))
        g = shapely.simplify(g, tolerance_deg, preserve_topology=True)
        out.append(shapely.geometry.mapping(shapely.set_precision(g, 1e-5)))
    return out


def _fc(feats: list) -> dict:
    return {"type": "FeatureCollection", "features": feats}


def gemeente_usage(store, cfg: RegionConfig, key: str) -> tuple[pd.DataFrame, dict]:
    """Per gemeente: occupancy KPIs of the whole data period, from sessions (usage_kpis, level gemeente) or,
    without sessions linked to charge points, from status snapshots (status_occupancy); with its period."""

    def build():
        from laadplan.kpi import status_occupancy, usage_kpis

        if store.count("sessions"):
            u = usage_kpis(store, cfg, "gemeente")
            if len(u) and u["occupancy_share"].notna().any():
                u = u.rename(columns={"occupancy_share": "mean_occupancy_share"})
                return u, {"source": "sessions", "period_start": _num(u["period_start"].min()),
                           "period_end": _num(u["period_end"].max())}
        if store.count("occupancy_observations") or store.count("status_observations"):
            s = status_occupancy(store, cfg, "gemeente")
            if len(s):
                return s, {"source": "status", "period_start": _num(s["period_start"].min()),
                           "period_end": _num(s["period_end"].max())}
        return pd.DataFrame({"gm_code": pd.Series(dtype="string")}), {"source": None}

    return cached((key, "gm_usage"), build)


def gemeenten_geojson(store, cfg: RegionConfig, key: str) -> dict:
    def build():
        a = store.query("SELECT area_code AS gm_code, name, inhabitants, households, geometry_wkb FROM areas "
                        "WHERE level = 'gemeente' AND geometry_wkb IS NOT NULL ORDER BY area_code")
        counts = store.query(
            "SELECT l.gm_code, count(DISTINCT (l.country_code, l.party_id, l.location_id)) AS locations, "
            "count(e.evse_uid) AS evses FROM locations l LEFT JOIN evses e USING (country_code, party_id, "
            "location_id) WHERE coalesce(e.status, '') NOT IN ('REMOVED', 'PLANNED') GROUP BY l.gm_code")
        plan = store.query("SELECT gm_code, sum(evses) AS plan_evses FROM plan_sites GROUP BY gm_code")
        u, meta = gemeente_usage(store, cfg, key)
        cols = [c for c in ("gm_code", "mean_occupancy_share", "peak_how_occupancy_share") if c in u.columns]
        a = a.merge(counts, on="gm_code", how="left").merge(plan, on="gm_code", how="left").merge(
            u[cols], on="gm_code", how="left")
        geoms = _polygons(a, 0.0005)
        feats = []
        for g, r in zip(geoms, records(a.drop(columns="geometry_wkb"))):
            if g is not None:
                feats.append({"type": "Feature", "geometry": g, "properties": r})
        fc = _fc(feats)
        fc["meta"] = meta
        return fc

    return cached((key, "gemeenten"), build)


def buurten_geojson(store, cfg: RegionConfig, key: str) -> dict:
    def build():
        a = store.query("SELECT area_code AS bu_code, name, gm_code, households, geometry_wkb FROM areas "
                        "WHERE level = 'buurt' AND geometry_wkb IS NOT NULL")
        meta = {"source": None}
        if len(a) and store.count("sessions") and store.count("locations", "bu_code IS NOT NULL"):
            from laadplan.kpi import usage_kpis

            u = usage_kpis(store, cfg, "buurt")
            if len(u):
                a = a.merge(u[["bu_code", "occupancy_share", "sessions"]], on="bu_code", how="left")
                meta = {"source": "sessions", "period_start": _num(u["period_start"].min()),
                        "period_end": _num(u["period_end"].max())}
        geoms = _polygons(a, 0.0002) if len(a) else []
        fc = _fc([{"type": "Feature", "geometry": g, "properties": r}
                  for g, r in zip(geoms, records(a.drop(columns="geometry_wkb"))) if g is not None])
        fc["meta"] = meta
        return fc

    return cached((key, "buurten"), build)


def congestion_geojson(store, cfg: RegionConfig, key: str) -> dict:
    def build():
        a = store.query("SELECT area_code, name, operator, offtake_status, demand_available_mw, "
                        "demand_alleviation_year, geometry_wkb FROM grid_areas WHERE level = 'supply_area' "
                        "AND geometry_wkb IS NOT NULL")
        geoms = _polygons(a, 0.0005) if len(a) else []
        return _fc([{"type": "Feature", "geometry": g, "properties": r}
                    for g, r in zip(geoms, records(a.drop(columns="geometry_wkb"))) if g is not None])

    return cached((key, "congestion"), build)


def plan_geojson(store, gm_codes: list[str] | None = None) -> dict:
    from laadplan.web.workflow import sites

    s = sites(store, gm_codes=gm_codes)
    # compact: the reasons and the trail come with a click (/web/api/sites/{id})
    cols = ["site_id", "gm_code", "year", "evses", "grid_route", "state"]
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
              "properties": {c: r.get(c) for c in cols}}
             for r in records(s[cols + ["lat", "lon"]]) if r["lat"] is not None]
    return _fc(feats)


def requests_geojson(store, gm_codes: list[str] | None = None) -> dict:
    """Residents' requests without personal data: no id, address or postal code; the point rounded to
    about 100 m (3 decimals)."""
    q = ("SELECT round(lat, 3) AS lat, round(lon, 3) AS lon, gm_code, decision, decision_rule, "
         "year(requested_date) AS year FROM requests WHERE lat IS NOT NULL")
    params: list = []
    if gm_codes is not None:
        if not gm_codes:
            return _fc([])
        q += " AND gm_code IN (" + ", ".join("?" for _ in gm_codes) + ")"
        params = list(gm_codes)
    r = store.query(q, params)
    return _fc([{"type": "Feature", "geometry": {"type": "Point", "coordinates": [x["lon"], x["lat"]]},
                 "properties": {k: x[k] for k in ("gm_code", "decision", "decision_rule", "year")}}
                for x in records(r)])


def corridors_geojson(store, cfg: RegionConfig, key: str) -> dict:
    def build():
        import shapely

        from laadplan.logistics.corridors import load_corridors

        try:
            c = load_corridors()
        except Exception:  # noqa: BLE001 - no corridor file: an empty layer
            return _fc([])
        cov = store.query("SELECT corridor_id, direction, compliant, covered_share, longest_gap_km FROM afir_coverage") \
            if store.has_table("afir_coverage") else pd.DataFrame()
        c = c.to_crs(4326) if c.crs is not None else c
        feats = []
        for _, r in c.iterrows():
            props = {k: _num(v) for k, v in r.drop(labels=[c.geometry.name]).items()
                     if isinstance(v, (str, int, float, bool, np.integer, np.floating)) or v is None}
            cid = props.get("corridor_id")
            if len(cov) and cid is not None:
                m = cov[cov["corridor_id"] == cid]
                if len(m):
                    props["compliant"] = bool(m["compliant"].fillna(False).all())
                    props["longest_gap_km"] = _num(m["longest_gap_km"].max())
            g = shapely.simplify(r.geometry, 0.0005)
            feats.append({"type": "Feature", "geometry": shapely.geometry.mapping(g), "properties": props})
        return _fc(feats)

    return cached((key, "corridors"), build)


def hubs_geojson(store, key: str) -> dict:
    def build():
        feats = []
        if store.has_table("hub_suggestions"):
            h = store.query("SELECT corridor_id, name, kind, needed_kw, needed_stations, closes_gap, lat, lon "
                            "FROM hub_suggestions WHERE lat IS NOT NULL")
            feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
                      "properties": {k: v for k, v in r.items() if k not in ("lat", "lon")}} for r in records(h)]
        return _fc(feats)

    return cached((key, "hubs"), build)


def coverage_geojson(store, cfg: RegionConfig, key: str) -> dict:
    """Coverage gaps: the 500 m cells that the plan's coverage trigger marks (enough households, no public
    location in the cell), from the plan's own inputs (:func:`laadplan.placement.store_io.load_inputs`) and
    :func:`laadplan.placement.triggers.coverage_trigger` for the first plan year."""

    def build():
        from laadplan import geo
        from laadplan.placement.store_io import coverage_cells, plan_areas, plan_locations
        from laadplan.placement.triggers import coverage_trigger

        cells, _, note = coverage_cells(store, plan_areas(store))
        if cells is None or cells.empty:
            fc = _fc([])
            fc["meta"] = {"note": note}
            return fc
        year = int(cfg.placement.years[0])
        d = coverage_trigger(cells, plan_locations(store), cfg, year)
        hh = cells.set_index("cell500_code")["households"]
        feats = []
        for code, gm in zip(d.get("source_id", []), d.get("gm_code", [])):
            x0, y0, x1, y1 = geo.cell_bounds(str(code))
            lon, lat = geo.to_wgs84(np.array([x0, x1, x1, x0, x0]), np.array([y0, y0, y1, y1, y0]))
            ring = [[round(float(a), 5), round(float(b), 5)] for a, b in zip(lon, lat)]
            feats.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                          "properties": {"cell500_code": str(code), "gm_code": _num(gm),
                                         "households": round(float(hh.get(code, np.nan)))}})
        fc = _fc(feats)
        fc["meta"] = {"note": note, "year": year}
        return fc

    return cached((key, "coverage"), build)


# ---- pages ---------------------------------------------------------------------------------------------
def latest_period(store) -> str | None:
    if not store.has_table("contract_kpis") or not store.count("contract_kpis"):
        return None
    p = store.query("SELECT period FROM contract_kpis WHERE length(period) = 4 ORDER BY period DESC LIMIT 1")
    if p.empty:
        p = store.query("SELECT max(period) AS period FROM contract_kpis")
    return str(p["period"].iloc[0])


LIVE_S = 600.0
_live: dict[tuple, dict] = {}


def live_contract(app_store, cfg: RegionConfig, key: str, period: str) -> dict | None:
    """The concession figures of ``period`` computed live by :func:`laadplan.contract.run.compute_contract`
    (``write=False``: the store is not changed), as the progress report computes them. The computation takes
    seconds to tens of seconds, so it runs in a background thread on its own store view and is refreshed every
    :data:`LIVE_S` seconds; until the first result is there this returns None (the page shows the figures of
    the last ``laadplan contract`` run instead). Returns {"kpis", "alerts", "computed_utc"}."""
    import logging
    from datetime import datetime, timezone

    k = (key, period)
    with _lock:
        st = _live.get(k)
        stale = st is None or time.monotonic() - st["t"] > LIVE_S
        start = stale and not (st or {}).get("running")
        if start:
            st = _live.setdefault(k, {"t": 0.0})
            st["running"] = True
    if start:
        def run():
            from laadplan.contract.run import compute_contract

            cur = app_store.cursor()
            try:
                res = compute_contract(cur, cfg, period, write=False)
                out = {"kpis": res.kpis, "alerts": res.alerts,
                       "computed_utc": datetime.now(timezone.utc).replace(tzinfo=None)}
            except Exception:  # noqa: BLE001 - the page falls back to the stored figures
                logging.getLogger(__name__).exception("live contract figures for %s failed", period)
                out = {}
            finally:
                cur.close()
            with _lock:
                st.update(out, t=time.monotonic(), running=False)

        threading.Thread(target=run, name=f"live-contract-{period}", daemon=True).start()
    with _lock:
        st = _live.get(k) or {}
        return {c: st[c] for c in ("kpis", "alerts", "computed_utc")} if "kpis" in st else None


def contract_figures(store, period: str | None, level: str = "region", subject: str = "region") -> pd.DataFrame:
    if period is None:
        return pd.DataFrame(columns=["kpi", "value", "norm", "unit", "breach"])
    return store.query("SELECT kpi, value, norm, unit, breach, computed_utc FROM contract_kpis WHERE period = ? "
                       "AND level = ? AND subject_id = ?", [period, level, subject])


def alerts(store, period: str | None, gm: str | None = None) -> pd.DataFrame:
    if period is None or not store.has_table("alerts"):
        return pd.DataFrame(columns=["rule", "severity", "subject_id", "gm_code", "message"])
    q = "SELECT period, rule, severity, level, subject_id, gm_code, operator, message FROM alerts WHERE period = ?"
    params: list = [period]
    if gm:
        q += " AND gm_code = ?"
        params.append(gm)
    return store.query(q + " ORDER BY severity, rule, subject_id", params)


def store_counts(store, gm: str | None = None) -> dict:
    w = " WHERE gm_code = ?" if gm else ""
    p = [gm] if gm else []
    loc = store.query("SELECT count(*) AS n FROM locations" + w, p)["n"].iloc[0]
    ev = store.query("SELECT count(*) AS n FROM evses e JOIN locations l USING (country_code, party_id, location_id) "
                     "WHERE coalesce(e.status, '') NOT IN ('REMOVED', 'PLANNED')" + (" AND l.gm_code = ?" if gm else ""),
                     p)["n"].iloc[0]
    plan = store.query("SELECT sum(evses) AS n, count(DISTINCT site_id) AS s, min(year) AS y0, max(year) AS y1 "
                       "FROM plan_sites" + w, p).iloc[0]
    return {"locations": int(loc), "evses": int(ev), "plan_evses": _num(plan["n"]), "plan_sites": int(plan["s"] or 0),
            "plan_years": (None if pd.isna(plan["y0"]) else int(plan["y0"]), None if pd.isna(plan["y1"]) else int(plan["y1"]))}


def gemeente_profile(store, cfg: RegionConfig, key: str, gm: str) -> tuple[pd.DataFrame, dict]:
    """The gemeente's hour-of-week occupancy (168 rows: how 0 = Monday 00:00 local), from sessions
    (hour_of_week_occupancy) or else status snapshots (status_occupancy with profile=True)."""

    def build():
        from laadplan.kpi import hour_of_week_occupancy, status_occupancy

        _, meta = gemeente_usage(store, cfg, key)
        if meta.get("source") == "sessions":
            p = hour_of_week_occupancy(store, cfg, "gemeente", gm=gm)
            p = p[p["gm_code"] == gm] if "gm_code" in p.columns else p
        elif meta.get("source") == "status":
            p = status_occupancy(store, cfg, "gemeente", profile=True)
            p = p[p["gm_code"] == gm]
        else:
            p = pd.DataFrame(columns=["how", "occupancy_share"])
        return p[["how", "occupancy_share"]].sort_values("how").reset_index(drop=True), meta

    return cached((key, "profile", gm), build)


def quality_by_operator(store) -> pd.DataFrame:
    from laadplan.kpi.quality import by_operator

    return by_operator(store.con)
