"""Benchmark of the web app (issue 16): time to first render of the map with all real locations of both
provinces in headless Chromium (goal < 2 s), payload per view (vector tiles + GeoJSON layers), and the time
for a site move to be checked and answered.

    python benchmarks/bench_web.py [--db real.duckdb] [--runs 3]

Without --db the real open data (../shared/data: gemeenten, NDW locations and connectors, gemeente
occupancy) is ingested into a temporary store first. For the move check the store gets 1,000 synthetic plan
sites (150 m east of randomly chosen real locations; the real data has no plan) in a copy of the store.
Needs Debian's chromium and Playwright (Python); only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from web_browser import Server, browser, login, new_page  # noqa: E402

from laadplan import geo  # noqa: E402
from laadplan.api import auth  # noqa: E402
from laadplan.config import RegionConfig  # noqa: E402
from laadplan.store import Store  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realdata import NDW_CHARGE_POINTS, SHARED  # noqa: E402


def ingest_real(db: str) -> None:
    from laadplan.ingest import reader

    cfg = RegionConfig()
    with Store(db) as s:
        for kind, f in (("areas", SHARED / "gemeenten" / "gemeenten_zh_ze.geojson"),
                        *(("locations", f) for f in NDW_CHARGE_POINTS),
                        ("status", SHARED / "ndw_ocpi" / "occupancy_gemeente_hourly.csv")):
            reader(kind)(s, str(f), cfg)


def add_synthetic_plan(s: Store, n: int = 1000, seed: int = 7) -> list[str]:
    loc = s.query("SELECT gm_code, lat, lon FROM locations WHERE lat IS NOT NULL AND gm_code IS NOT NULL")
    pick = loc.sample(n=min(n, len(loc)), random_state=seed).reset_index(drop=True)
    x, y = geo.to_rd(pick["lon"].to_numpy(), pick["lat"].to_numpy())
    x = np.asarray(x) + 150
    lon, lat = geo.to_wgs84(x, np.asarray(y))
    rows = pd.DataFrame({"year": 2026, "gm_code": pick["gm_code"], "site_id": [f"BENCH{i:04d}" for i in range(len(pick))],
                         "lat": lat, "lon": lon, "x_rd": x, "y_rd": y, "evses": 2, "evses_total": 2, "power_kw": 22.0,
                         "triggers": "usage", "reasons": "benchmark", "grid_route": "new_connection",
                         "offtake_status": -1, "lead_time_weeks": 12.0, "congestion_rule": True})
    s.replace_all("plan_sites", rows)
    return rows["site_id"].tolist()


def raw_csv_store(db: str) -> int:
    """A store whose locations are every row of the NDW locations CSV with coordinates (31,701, before the
    ingest's deduplication of EVSEs published under two location ids), to measure the map at the full raw
    count. Returns the number of located locations."""
    raw = pd.read_csv(SHARED / "ndw_ocpi" / "locations_zh_ze.csv", dtype=str)
    raw = raw.drop_duplicates("location_id")
    lat, lon = pd.to_numeric(raw["lat"], errors="coerce"), pd.to_numeric(raw["lon"], errors="coerce")
    raw = raw[lat.notna() & lon.notna()]
    with Store(db) as s:
        s.con.execute("DELETE FROM locations")
        s.upsert("locations", pd.DataFrame({
            "country_code": "NL", "party_id": "RAW", "location_id": raw["location_id"].to_numpy(),
            "name": raw["name"].to_numpy(), "gm_code": raw["gm_code"].to_numpy(),
            "lat": pd.to_numeric(raw["lat"]).to_numpy(), "lon": pd.to_numeric(raw["lon"]).to_numpy(),
            "n_evses": pd.to_numeric(raw["n_evses"], errors="coerce").astype("Int64").to_numpy()}))
        return s.count("locations", "lat IS NOT NULL")


def measure_map(srv: Server, token: str, runs: int, label: str) -> None:
    firsts, locs, payloads, starts = [], [], [], []
    with browser() as b:
        for run in range(runs):
            page = new_page(b)
            login(page, srv.base, token, back="/web/definities")
            sizes: dict[str, int] = {}

            def on_response(r, sizes=sizes):
                if "/web/tiles/" in r.url or "/web/api/layers/" in r.url:
                    try:  # bytes on the wire (gzip-encoded when the server compressed them)
                        sizes[r.url] = r.request.sizes()["responseBodySize"]
                    except Exception:  # noqa: BLE001 - a cancelled tile request
                        pass

            page.on("response", on_response)
            page.goto(srv.base + "/web/")
            page.wait_for_selector("#map[data-ready=ja]", state="attached", timeout=180_000)
            page.wait_for_timeout(500)
            loc_ms, all_ms, load_ms, dcl = page.evaluate(
                "[window.lpLocationsMs, window.lpFirstRender, window.lpMapLoadMs, "
                "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd]")
            n = page.evaluate("new Set(window.lpMap.queryRenderedFeatures({layers: ['locations']})"
                              ".map(f => f.id)).size")
            tiles = sum(v for k, v in sizes.items() if "/web/tiles/" in k)
            layers = sum(v for k, v in sizes.items() if "/web/api/layers/" in k)
            n_tiles = sum(1 for k in sizes if "/web/tiles/" in k)
            starts.append(load_ms)
            firsts.append(all_ms)
            locs.append(loc_ms)
            payloads.append((tiles, n_tiles, layers))
            print(f"  {label} run {run + 1}: page ready {dcl / 1000:.2f} s, empty map started {load_ms / 1000:.2f} s, "
                  f"locations drawn {loc_ms / 1000:.2f} s, all layers {all_ms / 1000:.2f} s "
                  f"after navigation start ({n:,} distinct locations rendered); payload {n_tiles} tiles "
                  f"{tiles / 1024:.0f} KiB + GeoJSON layers {layers / 1024:.0f} KiB")
            page.context.close()
    t, n, l = payloads[-1]
    ratio = statistics.median(locs) / statistics.median(starts) if statistics.median(starts) else float("nan")
    print(f"{label}: map first render with the locations (median of {runs}): {statistics.median(locs) / 1000:.2f} s "
          f"(goal < 2 s), {ratio:.1f}x the baseline of this run, starting the empty MapLibre map "
          f"{statistics.median(starts) / 1000:.2f} s (the same browser and machine load); every "
          f"layer drawn {statistics.median(firsts) / 1000:.2f} s; payload per region view "
          f"{n} vector tiles {t / 1024:.0f} KiB + GeoJSON layers {l / 1024:.0f} KiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="a store with the real data (default: ingest ../shared/data into a temp store)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one run per store, the ingested store only "
                                                          "(./dev bench --quick passes it to every benchmark)")
    a = ap.parse_args()
    if a.quick:
        a.runs = 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    db = str(tmp / "real.duckdb")
    t0 = time.perf_counter()
    if a.db:
        shutil.copy(a.db, db)
    else:
        if not SHARED.is_dir():
            sys.exit(f"no real data at {SHARED}; give --db")
        ingest_real(db)
    with Store(db) as s:
        sites = add_synthetic_plan(s)
        token = auth.create_token(s, "region")[0]
        n_loc = s.count("locations", "lat IS NOT NULL")
    print(f"store ready in {time.perf_counter() - t0:.0f} s: {n_loc:,} locations with coordinates")
    srv = Server(db).start()
    try:
        # warm the server's layer cache once (the first request builds the per-location KPIs)
        h = {"Authorization": f"Token {token}"}
        t = time.perf_counter()
        httpx.get(srv.base + "/web/tiles/locations/8/131/84.pbf", timeout=300)
        print(f"first tile (server builds the point index and occupancy): {time.perf_counter() - t:.2f} s")
        measure_map(srv, token, a.runs, f"store as ingested ({n_loc:,} locations)")
        checks = []
        for sid in sites[:20]:
            r0 = httpx.get(f"{srv.base}/web/api/sites/{sid}", headers=h).json()["site"]
            t = time.perf_counter()
            r = httpx.get(f"{srv.base}/web/api/sites/{sid}/check", params={"lat": r0["lat"] + 0.0005,
                                                                            "lon": r0["lon"]}, headers=h, timeout=60)
            checks.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
        print(f"site move check answered: median {statistics.median(checks) * 1000:.0f} ms, max "
              f"{max(checks) * 1000:.0f} ms over {len(checks)} moves (1,000 plan sites, {n_loc:,} locations)")
    finally:
        srv.stop()
    if SHARED.is_dir() and not a.quick:
        n_raw = raw_csv_store(db)
        srv = Server(db).start()
        try:
            httpx.get(srv.base + "/web/tiles/locations/8/131/84.pbf", timeout=300)
            measure_map(srv, token, a.runs, f"every CSV row ({n_raw:,} locations)")
        finally:
            srv.stop()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
