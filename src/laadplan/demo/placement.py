"""Demo step: the yearly placement plan 2026-2030 under grid congestion.

From the store's demo areas and locations (seeded, deterministic) it writes into ``ctx.inputs_dir``:

* ``voedingsgebieden.csv``: one supply area per demo buurt (its polygon as WKT), about a third with offtake
  status 2-3 (some solved in 2028/2029), with available MW; plus one record with a bad status;
* ``congestie_pc6.csv``: a few PC6 rows (one with a bad postcode);
* ``connections.csv``: existing connections (EAN18 with GS1 check digit) next to a third of the existing
  locations (feeding charge points) and elsewhere, with contracted and peak kW; two with a bad EAN;
* ``candidates.csv``: parking bays near existing locations; one without coordinates;
* ``requests.csv``: driver requests near and far from existing points with eligibility fields; one bad date;

ingests them through the readers, makes the plan with and without the congestion rule and writes it to
``ctx.out_dir / "plan"``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import shapely

from laadplan import geo
from laadplan.grid.capacity import ean18_check_digit, wkb_bytes
from laadplan.ingest import reader
from laadplan.placement.plan import plan_both
from laadplan.placement.store_io import load_inputs, save, write_outputs

log = logging.getLogger(__name__)


def _ean(k: int) -> str:
    s = f"871{k:014d}"
    return s + str(ean18_check_digit(s))


def write_inputs(store, inputs_dir, seed: int) -> dict[str, str]:
    """Write the grid, connection, candidate and request files; returns {kind: path}."""
    rng = np.random.default_rng(seed + 3)
    bu = wkb_bytes(store.query("SELECT area_code, gm_code, geometry_wkb FROM areas "
                               "WHERE level = 'buurt' AND geometry_wkb IS NOT NULL ORDER BY area_code"))
    loc = store.query("SELECT location_id, lat, lon, x_rd, y_rd, gm_code, postal_code FROM locations "
                      "WHERE lat IS NOT NULL ORDER BY location_id")
    paths = {}
    # capacity map per supply area (one per buurt) and a few PC6 rows
    n = len(bu)
    status = rng.choice([0, 1, 2, 3], n, p=[0.45, 0.2, 0.2, 0.15])
    alle = np.where((status >= 2) & (rng.random(n) < 0.4), rng.choice([2028, 2029], n), 0)
    wkt = shapely.to_wkt(shapely.from_wkb(bu["geometry_wkb"].tolist()), rounding_precision=6) if n else []
    va = pd.DataFrame({"voedingsgebied_id": [f"VG{k:05d}" for k in range(n)], "name": bu["area_code"],
                       "operator": "Stedin (demo)", "status_afname": status, "status_invoeding": 0,
                       "demand_available_mw": np.round(rng.uniform(0.5, 8, n) * (status < 3), 2),
                       "demand_alleviation_year": pd.array(np.where(alle > 0, alle, None), dtype="Int64"),
                       "valid_from": "2026-06-01", "geometry_wkt": wkt})
    va = pd.concat([va, pd.DataFrame([{"voedingsgebied_id": "VGBAD", "name": "bad", "status_afname": 9}])])
    paths["grid_sa"] = str(inputs_dir / "voedingsgebieden.csv")
    va.to_csv(paths["grid_sa"], index=False, sep=";")
    pcs = [p.replace(" ", "") for p in loc["postal_code"].dropna().unique()[:30]] if "postal_code" in loc else []
    pc6 = pd.DataFrame({"postcode": pcs + ["12AB"], "voedingsgebied_id": "VG00000",
                        "status_afname": list(rng.choice([0, 2, 3], len(pcs))) + [2], "status_invoeding": 0})
    paths["grid_pc6"] = str(inputs_dir / "congestie_pc6.csv")
    pc6.to_csv(paths["grid_pc6"], index=False)
    # connections: next to a third of the locations (feeding charge points) plus others
    m = len(loc)
    pick = rng.random(m) < 0.33
    k1 = int(pick.sum())
    ang, dist = rng.uniform(0, 2 * np.pi, k1), rng.uniform(10, 60, k1)
    cx = loc["x_rd"].to_numpy()[pick] + dist * np.cos(ang)
    cy = loc["y_rd"].to_numpy()[pick] + dist * np.sin(ang)
    k2 = max(m // 3, 1)
    base = rng.integers(0, max(m, 1), k2)
    cx = np.concatenate([cx, loc["x_rd"].to_numpy()[base] + rng.uniform(-300, 300, k2)])
    cy = np.concatenate([cy, loc["y_rd"].to_numpy()[base] + rng.uniform(-300, 300, k2)])
    lon, lat = geo.to_wgs84(cx, cy)
    kk = len(cx)
    contracted = rng.choice([17.0, 25.0, 40.0, 55.0, 80.0], kk)
    peak = np.round(contracted * rng.uniform(0.2, 1.05, kk), 1)
    conns = pd.DataFrame({"ean18": [_ean(100000 + i) for i in range(kk)], "lat": np.round(lat, 6),
                          "lon": np.round(lon, 6), "contracted_kw": contracted, "peak_kw": peak,
                          "feeds_charge_points": np.r_[np.ones(k1, bool), np.zeros(kk - k1, bool)],
                          "last_updated": "2026-06-01"})
    bad = conns.iloc[:2].copy()
    bad["ean18"] = ["123", conns["ean18"].iloc[0][:-1] + str((int(conns["ean18"].iloc[0][-1]) + 1) % 10)]
    paths["connections"] = str(inputs_dir / "connections.csv")
    pd.concat([conns, bad]).to_csv(paths["connections"], index=False)
    # candidate parking bays near existing locations
    nb = min(max(m // 2, 10), 1500)
    base = rng.integers(0, max(m, 1), nb)
    bx = loc["x_rd"].to_numpy()[base] + rng.uniform(-200, 200, nb)
    by = loc["y_rd"].to_numpy()[base] + rng.uniform(-200, 200, nb)
    lon, lat = geo.to_wgs84(bx, by)
    cand = pd.DataFrame({"site_id": [f"PB{i:05d}" for i in range(nb)], "lat": np.round(lat, 6),
                         "lon": np.round(lon, 6), "kind": "parking_bay", "max_evses": rng.choice([2, 4], nb)})
    cand = pd.concat([cand, pd.DataFrame([{"site_id": "PBBAD", "kind": "parking_bay"}])])
    paths["candidates"] = str(inputs_dir / "candidates.csv")
    cand.to_csv(paths["candidates"], index=False)
    # driver requests: near existing points and in between
    nr = 200
    base = rng.integers(0, max(m, 1), nr)
    off = rng.choice([60.0, 180.0, 400.0, 900.0], nr)
    ang = rng.uniform(0, 2 * np.pi, nr)
    rx = loc["x_rd"].to_numpy()[base] + off * np.cos(ang)
    ry = loc["y_rd"].to_numpy()[base] + off * np.sin(ang)
    lon, lat = geo.to_wgs84(rx, ry)
    days = pd.to_datetime("2026-01-05") + pd.to_timedelta(rng.integers(0, 300, nr), unit="D")
    yn = lambda p: np.where(rng.random(nr) < p, "ja", "nee")  # noqa: E731
    req = pd.DataFrame({"request_id": [f"AV{i:04d}" for i in range(nr)], "requested_date": days.strftime("%Y-%m-%d"),
                        "lat": np.round(lat, 6), "lon": np.round(lon, 6), "woont_in_gemeente": yn(0.92),
                        "werkt_in_gemeente": yn(0.3), "rijdt_elektrisch": yn(0.95), "eigen_parkeerplaats": yn(0.08),
                        "kwh_per_jaar": np.round(rng.normal(2000, 400, nr))})
    req = pd.concat([req, pd.DataFrame([{"request_id": "AVBAD", "requested_date": "31-31-2026", "lat": 52.0,
                                         "lon": 4.4}])])
    paths["requests"] = str(inputs_dir / "requests.csv")
    req.to_csv(paths["requests"], index=False)
    return paths


def step(ctx) -> dict[str, Any]:
    t0 = time.perf_counter()
    paths = write_inputs(ctx.store, ctx.inputs_dir, ctx.seed)
    ingested = {}
    for kind, p in (("grid", paths["grid_sa"]), ("grid", paths["grid_pc6"]), ("connections", paths["connections"]),
                    ("candidates", paths["candidates"]), ("requests", paths["requests"])):
        r = reader(kind)(ctx.store, p, ctx.cfg)
        ingested[p.rsplit("/", 1)[-1]] = {"read": r.read, "accepted": r.accepted, "quarantined": r.quarantined}
    cfg = ctx.cfg.model_copy(deep=True)
    # keep the demo step short: a few forecast points per buurt and a short HiGHS time limit (10 s: with 3 s the
    # LP bound of the plan without the congestion rule did not finish, and its summary showed a gap of 91 %)
    cfg.placement.time_limit_s = min(cfg.placement.time_limit_s, 10.0)
    cfg.placement.forecast_max_points_per_area = min(cfg.placement.forecast_max_points_per_area or 2, 2)
    inp, notes = load_inputs(ctx.store, cfg)
    a, b, cmp = plan_both(inp, cfg, scenario="middle", method=cfg.placement.method)
    decided = a.stats.pop("requests", None)
    save(ctx.store, a, b, decided)
    files = write_outputs(ctx.out_dir / "plan", a, b, cmp, decided, inp.grid_areas, inp.areas, inp.locations)
    out = {"ingested": ingested, "inputs": notes,
           "with_congestion_rule": {k: a.stats[k] for k in ("evses", "sites", "objective", "gap", "method", "seconds")},
           "without_congestion_rule": {k: b.stats[k] for k in ("evses", "sites", "objective", "gap", "method")},
           "blocked_sites": int(cmp["blocked_sites"].sum()) if len(cmp) else 0,
           "requests_granted": int((decided["decision"] == "granted").sum()) if decided is not None else 0,
           "files": sorted(files), "seconds": round(time.perf_counter() - t0, 1)}
    ctx.log(f"  plan: {a.stats['evses']:,} EVSEs at {a.stats['sites']:,} sites with the congestion rule, "
            f"{b.stats['evses']:,} without; {out['blocked_sites']} sites blocked")
    return out
