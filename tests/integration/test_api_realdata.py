"""The read API on the real open data: Rotterdam's (GM0599) KPIs through a gemeente token are the figures of
``laadplan kpi --json --gm GM0599`` (status occupancy from the NDW hourly snapshots, per gemeente and per
location), and its location layer holds exactly the store's Rotterdam locations."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from laadplan.api import auth
from laadplan.api.app import create_app
from laadplan.cli import app as cli
from laadplan.config import load_config
from laadplan.ingest import reader
from laadplan.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.realdata]
GM = "GM0599"


@pytest.fixture(scope="module")
def env(shared_data, tmp_path_factory):
    path = tmp_path_factory.mktemp("api-real") / "real.duckdb"
    cfg = load_config(None)
    d = shared_data / "ndw_ocpi"
    with Store(str(path)) as s:
        for kind, f in (("areas", shared_data / "gemeenten" / "gemeenten_zh_ze.geojson"),
                        ("locations", d / "locations_zh_ze.csv"),
                        ("status", d / "occupancy_gemeente_hourly.csv")):
            reader(kind)(s, str(f), cfg)
        tok = auth.create_token(s, "gemeente", gm_code=GM)[0]
        n_loc = s.count("locations", "gm_code = ?", [GM])
    with TestClient(create_app(str(path), cfg)) as c:
        yield {"db": str(path), "c": c, "h": {"Authorization": f"Token {tok}"}, "n_loc": n_loc}


def cli_json(env, *args):
    r = CliRunner().invoke(cli, ["--db", env["db"], "--json", *args])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_gm0599_kpis_equal_cli(env):
    want = cli_json(env, "kpi", "--source", "status", "--level", "gemeente", "--gm", GM)
    got = env["c"].get("/api/v1/kpi", params={"source": "status", "level": "gemeente", "limit": 1000},
                       headers=env["h"]).json()
    assert got["items"] == want and len(want) == 1 and want[0]["gm_code"] == GM
    assert want[0]["mean_occupancy_share"] is not None and want[0]["observations"] > 0
    prof = cli_json(env, "kpi", "--source", "status", "--level", "gemeente", "--gm", GM, "--hour-of-week")
    got = env["c"].get("/api/v1/kpi/hour-of-week", params={"source": "status", "level": "gemeente",
                                                           "limit": 1000}, headers=env["h"]).json()
    # one row per local hour of week that has observations (the snapshots do not cover every hour)
    assert got["items"] == prof and 0 < len(prof) <= 168 and {r["gm_code"] for r in prof} == {GM}


def test_gm0599_locations_layer(env):
    feats, offset = [], 0
    while offset is not None:
        body = env["c"].get("/api/v1/locations", params={"limit": 1000, "offset": offset}, headers=env["h"]).json()
        feats += body["features"]
        offset = body["next_offset"]
    assert len(feats) == env["n_loc"] > 1000
    assert {f["properties"]["gm_code"] for f in feats} == {GM}
