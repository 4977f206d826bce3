"""Demand for new public charge points, each unit with a reason a person can read.

Four triggers produce one demand table (:data:`DEMAND_COLUMNS`): ``usage`` (existing points too busy),
``request`` (granted driver requests), ``coverage`` (500 m cells with enough households and no point)
and ``forecast`` (forecast need above supply). Pure functions over DataFrames; distances in RD New.
A demand point has ``quantity`` demand units (EVSE-equivalents), a ``weight`` (the trigger's weight
in the objective), the first plan ``year`` it counts and the ``walk_m`` within which a site serves it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from laadplan import geo
from laadplan.config import RegionConfig

DEMAND_COLUMNS = ["demand_id", "trigger", "x_rd", "y_rd", "gm_code", "quantity", "weight", "year", "walk_m",
                  "reason", "source_id"]
LOCATION_KEYS = ["country_code", "party_id", "location_id"]


def match_keys(kpi: pd.DataFrame, locations: pd.DataFrame) -> list[str]:
    """Location key columns to join KPIs on: those present in both and filled in the KPI frame (status
    snapshots aggregated per location carry no country_code / party_id)."""
    keys = []
    for k in LOCATION_KEYS:
        if k in kpi.columns and k in locations.columns:
            v = kpi[k].astype("string").fillna("")
            if k == "location_id" or (v != "").any():
                keys.append(k)
    return keys


def empty_demand() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c in ("x_rd", "y_rd", "quantity", "weight", "walk_m")
                                      else ("int64" if c == "year" else "string")) for c in DEMAND_COLUMNS})


def _walk(cfg: RegionConfig, gm) -> np.ndarray:
    return np.array([cfg.walk_m(g if isinstance(g, str) else None) for g in gm], dtype="float64")


def _pct(v: float) -> str:
    return f"{100 * v:.0f} %"


# -- usage -----------------------------------------------------------------------------------------------
def usage_catchments(kpi: pd.DataFrame, locations: pd.DataFrame, cfg: RegionConfig,
                     profile: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per existing location, the usage of its walking catchment (every location within ``walk_m`` of it,
    itself included). A catchment sums numerators and denominators over its EVSEs, never averages ratios:

    * ``catch_peak``: with an hour-of-week ``profile``, the peak of the catchment's summed occupancy,
      ``max_h sum_b N_b occ_bh / sum_b N_b`` (locations without a value in hour ``h`` left out of that
      hour), and ``catch_peak_how`` its hour. Without a profile only each location's own peak is known:
      then ``catch_peak`` is the EVSE-weighted mean of the locations' peaks, an upper bound of the
      catchment's peak (the busiest hours need not coincide); ``catch_peak_exact`` says which;
    * ``catch_occ`` and ``catch_kwh``: occupied (or energy) EVSE-hours summed over the catchment's EVSEs
      divided by its EVSEs (EVSE-weighted, which for a mean over the same period is the exact pooled
      value; locations without a value are left out).

    ``kpi``: per-location KPIs (``usage_kpis(..., "location")`` or ``status_occupancy(..., "location")``):
    location keys, ``peak_how_occupancy_share``, ``occupancy_share`` or ``mean_occupancy_share``, optional
    ``kwh_per_evse_day``, ``peak_how``, ``n_evses``. ``locations``: keys, x_rd, y_rd, gm_code, n_evses.
    ``profile``: location keys, ``how`` (0-167) and ``occupancy_share`` per hour of the week.
    """
    keys = match_keys(kpi, locations)
    k = kpi.copy()
    if "occupancy_share" not in k.columns and "mean_occupancy_share" in k.columns:
        k["occupancy_share"] = k["mean_occupancy_share"]
    for c in ("peak_how_occupancy_share", "occupancy_share", "kwh_per_evse_day"):
        if c not in k.columns:
            k[c] = np.nan
    if "peak_how" not in k.columns:
        k["peak_how"] = pd.NA
    cols = keys + ["peak_how_occupancy_share", "occupancy_share", "kwh_per_evse_day", "peak_how"]
    if "n_evses" in k.columns:
        cols.append("n_evses")
    loc = locations[keys + ["x_rd", "y_rd", "gm_code"] + (["n_evses"] if "n_evses" in locations else [])]
    if "n_evses" in cols and "n_evses" in loc.columns:
        k = k.rename(columns={"n_evses": "n_evses_kpi"})
        cols = [c if c != "n_evses" else "n_evses_kpi" for c in cols]
    df = loc.merge(k[cols], on=keys, how="left").reset_index(drop=True)
    if "n_evses" not in df.columns:
        df["n_evses"] = df.get("n_evses_kpi", 1)
    elif "n_evses_kpi" in df.columns:
        df["n_evses"] = df["n_evses"].fillna(df["n_evses_kpi"])
    df["n_evses"] = pd.to_numeric(df["n_evses"], errors="coerce").fillna(1).clip(lower=1).astype("float64")
    df = df[np.isfinite(df["x_rd"].astype("float64")) & np.isfinite(df["y_rd"].astype("float64"))].reset_index(drop=True)
    x, y = df["x_rd"].to_numpy("float64"), df["y_rd"].to_numpy("float64")
    walk = _walk(cfg, df["gm_code"])
    if len(df) == 0:
        return df.assign(walk_m=[], catch_locations=[], catch_evses=[], catch_peak=[], catch_occ=[], catch_kwh=[],
                         catch_peak_how=[], catch_peak_exact=[])
    a, b, d = geo.pairwise_within(x, y, x, y, float(walk.max()))
    ok = d <= walk[a] + 1e-9
    a, b = a[ok], b[ok]
    n = df["n_evses"].to_numpy()
    out = df.copy()
    out["walk_m"] = walk
    out["catch_locations"] = np.bincount(a, minlength=len(df))
    out["catch_evses"] = np.bincount(a, weights=n[b], minlength=len(df))
    for src, dst in (("peak_how_occupancy_share", "catch_peak"), ("occupancy_share", "catch_occ"),
                     ("kwh_per_evse_day", "catch_kwh")):
        v = pd.to_numeric(df[src], errors="coerce").to_numpy("float64")
        has = np.isfinite(v[b])
        num = np.bincount(a[has], weights=(n[b] * v[b])[has], minlength=len(df))
        den = np.bincount(a[has], weights=n[b][has], minlength=len(df))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[dst] = np.where(den > 0, num / den, np.nan)
    out["catch_peak_how"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out["catch_peak_exact"] = out["catch_locations"] == 1
    if profile is not None and len(profile):
        peak, how = _catchment_profile_peak(df, keys, profile, a, b, n)
        has = np.isfinite(peak)
        from laadplan.kpi.calendar import how_label

        out.loc[has, "catch_peak"] = peak[has]
        out.loc[has, "catch_peak_how"] = [how_label(int(h)) for h in how[has]]
        out["catch_peak_exact"] = out["catch_peak_exact"] | has
    return out


def _catchment_profile_peak(df: pd.DataFrame, keys: list[str], profile: pd.DataFrame, a: np.ndarray, b: np.ndarray,
                            n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per catchment ``a`` (pairs a -> member b), the largest hour-of-week occupancy of its summed EVSEs and
    that hour (NaN / -1 when no member has a profile)."""
    pk = [c for c in keys if c in profile.columns]
    pr = profile[pk + ["how", "occupancy_share"]].copy()
    pr["how"] = pd.to_numeric(pr["how"], errors="coerce")
    pr["occupancy_share"] = pd.to_numeric(pr["occupancy_share"], errors="coerce")
    pr = pr[pr["how"].between(0, 167) & pr["occupancy_share"].notna()]
    row = df[pk].reset_index().rename(columns={"index": "_row"})
    for c in pk:
        row[c] = row[c].astype("string")
        pr[c] = pr[c].astype("string")
    m = row.merge(pr, on=pk, how="inner")
    L = len(df)
    P = np.full((L, 168), np.nan)
    P[m["_row"].to_numpy("int64"), m["how"].to_numpy("int64")] = m["occupancy_share"].to_numpy("float64")
    best = np.full(L, np.nan)
    best_h = np.full(L, -1, dtype="int64")
    nb = n[b]
    for h in range(168):
        v = P[b, h]
        has = np.isfinite(v)
        if not has.any():
            continue
        num = np.bincount(a[has], weights=(nb * v)[has], minlength=L)
        den = np.bincount(a[has], weights=nb[has], minlength=L)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(den > 0, num / den, np.nan)
        better = np.isfinite(r) & ~(r <= best)
        best[better], best_h[better] = r[better], h
    return best, best_h


def usage_trigger(kpi: pd.DataFrame, locations: pd.DataFrame, cfg: RegionConfig, year: int,
                  profile: pd.DataFrame | None = None) -> pd.DataFrame:
    """Usage demand: catchments whose peak-hour-of-week occupancy, mean occupancy or kWh per EVSE per day
    is at or above the configured thresholds.

    Triggered catchments are clustered by leader clustering (busiest first; a seed takes every other
    triggered location within its walking distance) so one busy street gives one demand point, at the seed.
    Quantity = the EVSEs that bring every fired metric back to its threshold on the catchment's EVSEs
    ``N``: ``max_m ceil(N * value_m / threshold_m) - N`` (at least 1).
    """
    pc = cfg.placement
    c = usage_catchments(kpi, locations, cfg, profile)
    if len(c) == 0:
        return empty_demand()
    thr = {"catch_peak": pc.trigger_peak_occupancy_share, "catch_occ": pc.trigger_mean_occupancy_share,
           "catch_kwh": pc.trigger_kwh_per_evse_day}
    fired = {m: (c[m] >= t - 1e-12).fillna(False).to_numpy() for m, t in thr.items()}
    trig = fired["catch_peak"] | fired["catch_occ"] | fired["catch_kwh"]
    idx = np.flatnonzero(trig)
    if len(idx) == 0:
        return empty_demand()
    order = idx[np.lexsort((-c["catch_occ"].fillna(0).to_numpy()[idx], -c["catch_peak"].fillna(0).to_numpy()[idx]))]
    x, y = c["x_rd"].to_numpy("float64"), c["y_rd"].to_numpy("float64")
    taken = np.zeros(len(c), dtype=bool)
    rows = []
    for s in order:
        if taken[s]:
            continue
        d = np.hypot(x[order] - x[s], y[order] - y[s])
        members = order[(d <= c["walk_m"].iloc[s] + 1e-9) & ~taken[order]]
        taken[members] = True
        N = float(c["catch_evses"].iloc[s])
        need, why = 1, []
        labels = {"catch_peak": "peak-hour-of-week occupancy", "catch_occ": "mean occupancy",
                  "catch_kwh": "kWh per EVSE per day"}
        for m, t in thr.items():
            if fired[m][s]:
                v = float(c[m].iloc[s])
                need = max(need, math.ceil(N * v / t - 1e-9) - int(round(N)) if t > 0 else 1)
                if m == "catch_kwh":
                    why.append(f"{labels[m]} {v:.1f} >= {t:.1f}")
                else:
                    how = None
                    if m == "catch_peak":
                        how = c["catch_peak_how"].iloc[s]
                        if pd.isna(how) and int(c["catch_locations"].iloc[s]) == 1:
                            how = c["peak_how"].iloc[s]
                    bound = "" if m != "catch_peak" or bool(c["catch_peak_exact"].iloc[s]) else \
                        " (upper bound: EVSE-weighted mean of the locations' peaks, no hour-of-week profile)"
                    why.append(f"{labels[m]} {_pct(v)}" + (f" ({how})" if isinstance(how, str) else "")
                               + f" >= {_pct(t)}" + bound)
        lid = str(c["location_id"].iloc[s])
        rows.append({
            "trigger": "usage", "x_rd": x[s], "y_rd": y[s], "gm_code": c["gm_code"].iloc[s],
            "quantity": float(max(need, 1)), "weight": pc.weight_usage, "year": int(year),
            "walk_m": float(c["walk_m"].iloc[s]), "source_id": lid,
            "reason": (f"usage: {int(c['catch_locations'].iloc[s])} location(s) with {int(round(N))} EVSE(s) within "
                       f"{c['walk_m'].iloc[s]:.0f} m of location {lid}: " + "; ".join(why)
                       + f"; {len(members)} busy location(s) in the cluster"),
        })
    return _finish(pd.DataFrame(rows), "usage")


def _finish(df: pd.DataFrame, trigger: str) -> pd.DataFrame:
    if df.empty:
        return empty_demand()
    df = df.reset_index(drop=True)
    df["demand_id"] = [f"{trigger}-{k + 1}" for k in range(len(df))]
    out = df[DEMAND_COLUMNS].copy()
    for c in ("demand_id", "trigger", "gm_code", "reason", "source_id"):
        out[c] = out[c].astype("string")
    out["year"] = out["year"].astype("int64")
    return out


# -- requests ---------------------------------------------------------------------------------------------
def request_demand(decided: pd.DataFrame, cfg: RegionConfig, years: list[int]) -> pd.DataFrame:
    """Granted requests become one demand unit each at the driver's address, counting from the plan year
    of the decision (the first plan year for earlier decisions)."""
    g = decided[decided["decision"] == "granted"]
    if g.empty:
        return empty_demand()
    yr = pd.to_datetime(g["decided_date"]).dt.year.fillna(years[0]).astype(int).clip(lower=years[0])
    df = pd.DataFrame({
        "trigger": "request", "x_rd": g["x_rd"].to_numpy("float64"), "y_rd": g["y_rd"].to_numpy("float64"),
        "gm_code": g["gm_code"].to_numpy(), "quantity": 1.0, "weight": cfg.placement.weight_request,
        "year": yr.to_numpy(), "walk_m": _walk(cfg, g["gm_code"]), "source_id": g["request_id"].astype(str).to_numpy(),
        "reason": ("request " + g["request_id"].astype(str) + " granted: " + g["decision_reason"].astype(str)).to_numpy(),
    })
    df = df[df["year"] <= years[-1]]
    return _finish(df, "request")


# -- coverage ---------------------------------------------------------------------------------------------
def households_per_cell(buurten: pd.DataFrame, size_m: int = 500) -> pd.DataFrame:
    """Households per CBS 500 m cell from buurt polygons: each buurt's households spread over the cells it
    overlaps in proportion to the overlapping area (uniform density inside a buurt).

    ``buurten``: area_code, households, geometry_wkb (WGS84), gm_code. Returns cell500_code, households,
    x_rd, y_rd (cell centre), gm_code (the buurt contributing most households to the cell).
    """
    import geopandas as gpd
    import shapely

    b = buurten[buurten["geometry_wkb"].notna() & buurten["households"].notna()].reset_index(drop=True)
    if b.empty:
        return pd.DataFrame(columns=["cell500_code", "households", "x_rd", "y_rd", "gm_code"])
    geoms = shapely.from_wkb([bytes(v) for v in b["geometry_wkb"]])
    g = gpd.GeoDataFrame({"bu": b["area_code"], "hh": b["households"].astype("float64"), "gm": b["gm_code"]},
                         geometry=geoms, crs="EPSG:4326").to_crs("EPSG:28992")
    g["a"] = g.area
    x0, y0, x1, y1 = g.total_bounds
    xs = np.arange(math.floor(x0 / size_m) * size_m, x1, size_m)
    ys = np.arange(math.floor(y0 / size_m) * size_m, y1, size_m)
    X, Y = np.meshgrid(xs, ys)
    X, Y = X.ravel(), Y.ravel()
    cells = gpd.GeoDataFrame({"cx": X + size_m / 2, "cy": Y + size_m / 2},
                             geometry=shapely.box(X, Y, X + size_m, Y + size_m), crs="EPSG:28992")
    tree = shapely.STRtree(cells.geometry.values)
    bi, ci = tree.query(g.geometry.values, predicate="intersects")
    inter = shapely.area(shapely.intersection(g.geometry.values[bi], cells.geometry.values[ci]))
    share = np.where(g["a"].to_numpy()[bi] > 0, inter / g["a"].to_numpy()[bi], 0)
    df = pd.DataFrame({"ci": ci, "hh": g["hh"].to_numpy()[bi] * share, "gm": g["gm"].to_numpy()[bi]})
    agg = df.groupby("ci").agg(households=("hh", "sum"))
    top = df.sort_values("hh", ascending=False).drop_duplicates("ci").set_index("ci")["gm"]
    agg["gm_code"] = top.reindex(agg.index)
    agg["x_rd"] = cells["cx"].to_numpy()[agg.index]
    agg["y_rd"] = cells["cy"].to_numpy()[agg.index]
    agg["cell500_code"] = geo.cell_code(agg["x_rd"].to_numpy(), agg["y_rd"].to_numpy(), size_m).to_numpy()
    return agg.reset_index(drop=True)[["cell500_code", "households", "x_rd", "y_rd", "gm_code"]]


def coverage_trigger(cells: pd.DataFrame, locations: pd.DataFrame, cfg: RegionConfig, year: int) -> pd.DataFrame:
    """Coverage demand (NAL): every 500 m cell with at least ``coverage_min_households`` households and no
    public location inside it needs one point. The demand sits at the cell centre and is served by a site
    within 250 m of it: the circle inscribed in the cell, so only by a site inside the cell."""
    if cells.empty:
        return empty_demand()
    have = set(geo.cell_code(locations["x_rd"].to_numpy("float64"), locations["y_rd"].to_numpy("float64"))
               .dropna()) if len(locations) else set()
    hh = cells["households"].astype("float64")
    m = (hh >= cfg.placement.coverage_min_households - 1e-9) & ~cells["cell500_code"].isin(have)
    c = cells[m]
    if c.empty:
        return empty_demand()
    df = pd.DataFrame({
        "trigger": "coverage", "x_rd": c["x_rd"].to_numpy("float64"), "y_rd": c["y_rd"].to_numpy("float64"),
        "gm_code": c["gm_code"].to_numpy(), "quantity": 1.0, "weight": cfg.placement.weight_coverage,
        "year": int(year), "walk_m": 250.0, "source_id": c["cell500_code"].astype(str).to_numpy(),
        "reason": [f"coverage: cell {code} has about {h:.0f} households (>= {cfg.placement.coverage_min_households})"
                   " and no public charge point" for code, h in zip(c["cell500_code"], c["households"])],
    })
    return _finish(df, "coverage")


# -- forecast ---------------------------------------------------------------------------------------------
def forecast_trigger(need: pd.DataFrame, areas: pd.DataFrame, cfg: RegionConfig, years: list[int],
                     scenario: str = "middle", cells: pd.DataFrame | None = None,
                     locations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Forecast demand: per area, the growth of ``evses_gap`` (forecast need minus existing EVSEs) in each
    plan year, counted in the year it appears (the first plan year takes the whole gap then). Only the
    finest area level present in both ``need`` and ``areas`` is used (buurt, wijk, pc4, then gemeente), so
    the same need is never counted twice.

    The area's demand is spread evenly over ``k`` 500 m cells inside its polygon, ``k`` = its growth over the
    plan / ``forecast_units_per_point`` rounded up (so no point carries more than its candidate sites can
    take; at most the cells the area has, and ``forecast_max_points_per_area`` when set). The cells are
    those with most households when ``cells`` is given, else most existing public EVSEs (``locations``:
    where public charging is used today), then the rest spread evenly over the area; without a polygon the
    demand sits at the area's centroid.
    """
    if need is None or need.empty:
        return empty_demand()
    nd = need[(need["scenario"] == scenario) & need["year"].isin(years)].copy()
    if nd.empty:
        return empty_demand()
    # one level only (no double counting): the finest level present that has areas
    for level in ("buurt", "wijk", "pc4", "gemeente"):
        sub = nd[(nd["area_level"] == level) & nd["area_code"].isin(areas["area_code"])]
        if len(sub):
            nd = sub.copy()
            break
    nd["evses_gap"] = pd.to_numeric(nd["evses_gap"], errors="coerce").fillna(0).clip(lower=0)
    nd = nd.sort_values(["area_code", "year"])
    nd["prev"] = nd.groupby("area_code")["evses_gap"].cummax().groupby(nd["area_code"]).shift(1).fillna(0)
    nd["inc"] = (nd["evses_gap"] - nd["prev"]).clip(lower=0)
    nd = nd[nd["inc"] > 0]
    if nd.empty:
        return empty_demand()
    ar = areas.drop_duplicates("area_code").set_index("area_code")
    pc = cfg.placement
    per_point = pc.forecast_units_per_point or pc.generated_candidates_per_demand * pc.evses_per_site_max
    total = nd.groupby("area_code")["inc"].sum()
    rows = []
    pts_cache: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}
    offset: dict[str, int] = {}  # where the next year's extra units start, so they rotate over the cells
    hh_by_cell = dict(zip(cells["cell500_code"].astype(str), cells["households"].astype(float))) \
        if cells is not None and len(cells) else None
    ev_by_cell = None
    if locations is not None and len(locations):
        n_ev = pd.to_numeric(locations["n_evses"], errors="coerce").fillna(1) if "n_evses" in locations \
            else pd.Series(1.0, index=locations.index)
        codes = geo.cell_code(locations["x_rd"].to_numpy("float64"), locations["y_rd"].to_numpy("float64"))
        ev_by_cell = pd.Series(n_ev.to_numpy("float64")).groupby(codes.to_numpy()).sum().to_dict()
    for code, yr, inc in zip(nd["area_code"], nd["year"], nd["inc"]):
        if code not in ar.index:
            continue
        a = ar.loc[code]
        gm = a.get("gm_code") if isinstance(a.get("gm_code"), str) else (code if str(code).startswith("GM") else None)
        if code not in pts_cache:
            k = max(1, math.ceil(float(total[code]) / per_point - 1e-9))
            if pc.forecast_max_points_per_area:
                k = min(k, pc.forecast_max_points_per_area)
            pts_cache[code] = _area_points(a, k, hh_by_cell, ev_by_cell)
        px, py, basis = pts_cache[code]
        if len(px) == 0:
            continue
        k = len(px)
        share = _whole_units(float(inc), k, offset.get(code, 0))
        offset[code] = offset.get(code, 0) + int(np.floor(float(inc) - k * np.floor(float(inc) / k) + 1e-9)) + 1
        for x, y, q in zip(px, py, share):
            if q <= 1e-9:
                continue
            rows.append({"trigger": "forecast", "x_rd": x, "y_rd": y, "gm_code": gm, "quantity": float(q),
                         "weight": pc.weight_forecast, "year": int(yr), "walk_m": cfg.walk_m(gm),
                         "source_id": str(code),
                         "reason": f"forecast ({scenario}): need in {code} grows by {inc:.1f} EVSE(s) in {int(yr)}"
                                   f" beyond supply; {q:.2f} of it at this spot (one of {k} cells, "
                                   f"chosen by {basis})"})
    return _finish(pd.DataFrame(rows), "forecast")


def _whole_units(units: float, k: int, start: int = 0) -> np.ndarray:
    """``units`` over ``k`` points in whole units (so each new EVSE serves a whole unit): ``floor(units / k)``
    each, one more for the next ``floor(rest)`` points from ``start`` (cyclically) and the fraction left to
    the point after them. Sums to ``units``."""
    base = np.floor(units / k + 1e-12)
    q = np.full(k, base)
    rest = units - base * k
    extra = int(np.floor(rest + 1e-9))
    idx = (start + np.arange(extra + 1)) % k
    q[idx[:extra]] += 1.0
    frac = rest - extra
    if frac > 1e-9:
        q[idx[extra]] += frac
    return q


def _area_points(a: pd.Series, k: int, hh_by_cell: dict | None, ev_by_cell: dict | None = None
                 ) -> tuple[np.ndarray, np.ndarray, str]:
    """Centres of up to ``k`` 500 m cells inside the area's polygon and how they were chosen: by households,
    else by existing EVSEs, the rest (cells with neither) evenly spread over the area in code order."""
    import shapely

    wkb = a.get("geometry_wkb")
    if wkb is None or (isinstance(wkb, float) and np.isnan(wkb)):
        lat, lon = a.get("centroid_lat"), a.get("centroid_lon")
        if lat is None or pd.isna(lat):
            return np.zeros(0), np.zeros(0), "none"
        x, y = geo.to_rd([lon], [lat])
        return x, y, "the area's centroid (no polygon)"
    poly = shapely.from_wkb(bytes(wkb))
    lon0, lat0, lon1, lat1 = poly.bounds
    (x0, x1), (y0, y1) = geo.to_rd([lon0, lon1], [lat0, lat1])
    xs = np.arange(math.floor(min(x0, x1) / 500) * 500 + 250, max(x0, x1), 500)
    ys = np.arange(math.floor(min(y0, y1) / 500) * 500 + 250, max(y0, y1), 500)
    X, Y = np.meshgrid(xs, ys)
    X, Y = X.ravel(), Y.ravel()
    lon, lat = geo.to_wgs84(X, Y)
    inside = shapely.contains_xy(poly, lon, lat)
    X, Y = X[inside], Y[inside]
    if len(X) == 0:
        c = poly.representative_point()
        x, y = geo.to_rd([c.x], [c.y])
        return x, y, "the area's inner point (no cell centre inside it)"
    codes = geo.cell_code(X, Y).to_numpy().astype(str)
    w, basis = np.zeros(len(X)), "an even spread over the area"
    for lookup, name in ((hh_by_cell, "households"), (ev_by_cell, "existing public EVSEs")):
        if lookup:
            v = np.array([lookup.get(c, 0.0) for c in codes], dtype="float64")
            if (v > 0).any():
                w, basis = v, name
                break
    order = np.lexsort((codes, -w))
    pos = order[w[order] > 0][:k]
    if len(pos) < k:  # the rest evenly over the cells without weight, in code order
        rest = np.sort(order[w[order] <= 0])
        if len(rest):
            m = min(k - len(pos), len(rest))
            pick = np.unique(np.round(np.linspace(0, len(rest) - 1, m)).astype(int))
            pos = np.concatenate([pos, rest[pick]])
            if basis != "an even spread over the area":
                basis += ", then an even spread"
    return X[pos], Y[pos], basis
