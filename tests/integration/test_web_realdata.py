"""The web app's map on the real open data of both provinces (../shared/data): every layer loads, every
located charge point of the NDW files is drawn from the vector tiles, and a gemeente page opens from the
map. Expected counts come from the source files with pandas/geopandas, not from laadplan."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest

from laadplan.api import auth
from laadplan.config import RegionConfig
from laadplan.ingest import reader
from laadplan.store import Store
from web_browser import Server, browser, login, need_browser, new_page, shot, wait_map

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.fixture(scope="module")
def real(shared_data, tmp_path_factory):
    need_browser()
    db = str(tmp_path_factory.mktemp("webreal") / "real.duckdb")
    cfg = RegionConfig()
    d = shared_data / "ndw_ocpi"
    with Store(db) as s:
        for kind, f in (("areas", shared_data / "gemeenten" / "gemeenten_zh_ze.geojson"),
                        ("locations", d / "locations_zh_ze.csv"), ("locations", d / "connectors_zh_ze.csv"),
                        ("status", d / "occupancy_gemeente_hourly.csv")):
            reader(kind)(s, str(f), cfg)
        tok = auth.create_token(s, "region")[0]
        stored = s.query("SELECT location_id, lat, lon FROM locations WHERE lat IS NOT NULL")
    srv = Server(db).start(timeout_s=180)
    yield {"srv": srv, "tok": tok, "shared": shared_data, "stored": stored}
    srv.stop()


def test_real_map_draws_every_location_and_every_layer(real):
    srv, shared = real["srv"], real["shared"]
    locs = pd.read_csv(shared / "ndw_ocpi" / "locations_zh_ze.csv", dtype=str)
    locs = locs[pd.to_numeric(locs["lat"], errors="coerce").notna() & pd.to_numeric(locs["lon"], errors="coerce").notna()]
    expected_ids = set(locs["location_id"])
    gm = gpd.read_file(shared / "gemeenten" / "gemeenten_zh_ze.geojson")
    with browser() as b:
        page = new_page(b)
        login(page, srv.base, real["tok"])
        wait_map(page, timeout_ms=240_000)
        layers = page.evaluate("window.lpLayers")
        assert not [k for k, v in layers.items() if v == "fout"], layers
        assert layers["gemeenten"] == gm.geometry.notna().sum()
        assert layers["locations"] == "tegels"
        page.evaluate("window.lpMap.fitBounds([[3.3, 51.2], [5.2, 52.35]], {duration: 0})")
        page.wait_for_selector("#map[data-ready=ja]", state="attached")
        page.evaluate("new Promise(r => window.lpMap.loaded() ? r() : window.lpMap.once('idle', r))")
        fids = page.evaluate("""() => [...new Set(window.lpMap.queryRenderedFeatures({layers: ['locations']})
            .map(f => f.id))]""")
        import httpx

        import random

        with httpx.Client(base_url=srv.base, timeout=60) as hc:
            sample = random.Random(1).sample(fids, 300)
            ids = [hc.get("/web/api/locations/detail", params={"id": i}).json()["location_id"] for i in sample]
        shot(page, "real-overview")
        # every located location the store holds inside the view is drawn, once (the ingest keeps one copy of an
        # EVSE published under two location ids, LP-DUPLICATE, so the store holds fewer than the file's 31,701
        # rows; a few lie outside both provinces); a sample of the drawn features are store locations of the file
        st = real["stored"]
        inside = set(st.loc[st["lat"].between(51.2, 52.35) & st["lon"].between(3.3, 5.2), "location_id"])
        assert len(inside) > 15_000 and len(inside) <= len(fids) <= len(st), (len(inside), len(fids), len(st))
        assert set(ids) <= set(st["location_id"]) and set(ids) <= expected_ids and len(set(ids)) == 300
        assert page.errors == []
