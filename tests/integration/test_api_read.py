"""The read API /api/v1 on the demo store: every endpoint's happy path and bad input, the same figures as
the CLI's --json, scope isolation by brute force over every endpoint, and paging."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))
from api_demo import copy_of_demo  # noqa: E402

from laadplan.api import auth  # noqa: E402
from laadplan.api.app import create_app  # noqa: E402
from laadplan.config import load_config  # noqa: E402
from laadplan.store import Store  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """(db path, client, tokens by name, facts) on a copy of the demo store."""
    d = tmp_path_factory.mktemp("api")
    db = copy_of_demo(d)
    with Store(str(db)) as s:
        gms = s.query("SELECT gm_code, count(*) AS n FROM locations WHERE gm_code IS NOT NULL "
                      "GROUP BY 1 ORDER BY n DESC, gm_code")["gm_code"].tolist()
        parties = s.query("SELECT country_code, party_id, count(*) AS n FROM locations GROUP BY 1, 2 "
                          "ORDER BY n DESC")
        gm = gms[0]
        cc, pid = parties["country_code"].iloc[0], parties["party_id"].iloc[0]
        toks = {
            "region": auth.create_token(s, "region")[0],
            "gemeente": auth.create_token(s, "gemeente", gm_code=gm)[0],
            "operator": auth.create_token(s, "operator", country_code=cc, party_id=pid)[0],
            "netbeheerder": auth.create_token(s, "netbeheerder")[0],
        }
        expired, _ = auth.create_token(s, "region", days=1, now=datetime.utcnow() - timedelta(days=2))
        revoked, row = auth.create_token(s, "region")
        auth.revoke_token(s, row["token_id"])
        toks["expired"], toks["revoked"] = expired, revoked
        period = s.query("SELECT max(period) AS p FROM alerts WHERE length(period) = 7")["p"].iloc[0]
        year = int(s.query("SELECT max(year) AS y FROM plan_sites")["y"].iloc[0])
    cfg = load_config(None)  # the CLI's default config (the demo store was built with it)
    cfg.server.request_timeout_s = 600  # the report takes tens of seconds on a busy machine
    app = create_app(str(db), cfg)
    with TestClient(app) as c:
        yield {"db": db, "c": c, "tok": toks, "gm": gm, "gms": gms, "party": (cc, pid), "period": period,
               "plan_year": year, "cfg": cfg}


def H(tok: str) -> dict:
    return {"Authorization": f"Token {tok}"}


def get(env, path, role="region", **params):
    return env["c"].get(path, params=params, headers=H(env["tok"][role]))


def all_pages(env, path, role="region", key="items", limit=7, **params) -> list:
    out, offset = [], 0
    while True:
        r = get(env, path, role, limit=limit, offset=offset, **params)
        assert r.status_code == 200, r.text
        body = r.json()
        out += body[key]
        assert len(body[key]) <= limit
        if body["next_offset"] is None:
            assert len(out) == body["total"]
            return out
        assert body["next_offset"] == offset + limit
        offset = body["next_offset"]


def cli_json(env, *args) -> object:
    from typer.testing import CliRunner

    from laadplan.cli import app

    r = CliRunner().invoke(app, ["--db", str(env["db"]), "--json", *args])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


# -- the same figures as the CLI ------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    {"level": "region"}, {"level": "gemeente"}, {"level": "location"}, {"level": "evse"}, {"level": "buurt"},
    {"level": "gemeente", "period": "month"}, {"level": "region", "period": "month"},
    {"level": "location", "from": "2026-03-01", "to": "2026-03-31"},
    {"level": "gemeente", "source": "status"}, {"level": "location", "source": "status"},
])
def test_kpi_equals_cli_json(env, args):
    cli_args = ["kpi"] + [x for k, v in args.items() for x in (f"--{k}", v)]
    want = cli_json(env, *cli_args)
    got = all_pages(env, "/api/v1/kpi", limit=1000, **args)
    assert got == want and len(got) > 0


def test_kpi_gemeente_equals_cli_gm(env):
    gm = env["gm"]
    for level in ("region", "gemeente", "location"):
        want = cli_json(env, "kpi", "--level", level, "--gm", gm)
        assert all_pages(env, "/api/v1/kpi", "gemeente", limit=1000, level=level) == want
        assert all_pages(env, "/api/v1/kpi", "region", limit=1000, level=level, gm=gm) == want


def test_hour_of_week_equals_cli(env):
    want = cli_json(env, "kpi", "--hour-of-week", "--level", "gemeente")
    got = all_pages(env, "/api/v1/kpi/hour-of-week", limit=1000, level="gemeente")
    assert got == want and len(got) == 168 * len({r["gm_code"] for r in want})


def test_quality_equals_cli(env):
    assert get(env, "/api/v1/quality").json() == cli_json(env, "quality")
    assert get(env, "/api/v1/quality", section="quarantine", limit=5).json() == \
        cli_json(env, "quality", "--section", "quarantine", "--limit", "5")


def test_load_equals_cli(env, tmp_path):
    want = cli_json(env, "load", "--level", "gemeente", "--out", str(tmp_path / "l"))
    got = get(env, "/api/v1/load", "netbeheerder", level="gemeente").json()
    assert got == json.loads(json.dumps(want))
    assert got["sessions"] > 0


def test_contract_and_alerts_equal_cli(env):
    per = env["period"]
    for level in ("gemeente", "operator", "region", "evse"):
        got = get(env, "/api/v1/contract", period=per, level=level, limit=1000).json()
        want = cli_json(env, "contract", "--month", per, "--level", level)
        for k in ("period", "level", "summary", "notes", "rows", "tariff_comparison"):
            if k == "rows" and got[k] != want[k]:
                for a, b in zip(got[k], want[k]):
                    assert a == b, {x: (a.get(x), b.get(x)) for x in set(a) | set(b) if a.get(x) != b.get(x)}
            assert got[k] == want[k], k
    want = cli_json(env, "alerts", "--month", per, "--stored")
    assert all_pages(env, "/api/v1/alerts", limit=1000, period=per) == want["alerts"]
    assert len(want["alerts"]) > 0


def test_requests_equal_cli_decisions(env):
    got = {r["request_id"]: r for r in all_pages(env, "/api/v1/requests", limit=1000)}
    # `laadplan requests` recomputes and stores the decisions; the API then serves what it stored
    want = cli_json(env, "requests", "--format", "json")
    assert len(want) == len(got) > 0
    for w in want:
        g = got[w["request_id"]]
        for k in ("decision", "decision_rule", "decision_reason", "gm_code"):
            assert g[k] == w[k], (w["request_id"], k)


def test_plan_matches_store(env):
    feats = all_pages(env, "/api/v1/plan", key="features", limit=1000)
    with Store(str(env["db"])) as s:
        df = s.query("SELECT site_id, year, evses, reasons, lon, lat FROM plan_sites WHERE congestion_rule "
                     "ORDER BY year, site_id")
    assert [(f["properties"]["site_id"], f["properties"]["year"]) for f in feats] == \
        list(zip(df["site_id"], df["year"]))
    assert sum(f["properties"]["evses"] for f in feats) == int(df["evses"].sum()) > 0
    assert all(f["properties"]["reasons"] for f in feats)
    f = feats[0]
    assert f["geometry"] == {"type": "Point", "coordinates": [f["properties"]["lon"], f["properties"]["lat"]]}


def test_locations_geojson_and_by_id(env):
    fc = get(env, "/api/v1/locations", limit=1000).json()
    with Store(str(env["db"])) as s:
        n = s.count("locations")
        one = s.query("SELECT country_code, party_id, location_id, gm_code, n_evses FROM locations LIMIT 1").iloc[0]
        n_ev = s.count("evses", "country_code = ? AND party_id = ? AND location_id = ?",
                       [one["country_code"], one["party_id"], one["location_id"]])
    assert fc["type"] == "FeatureCollection" and fc["total"] == n == len(fc["features"])
    props = fc["features"][0]["properties"]
    for k in ("location_id", "party_id", "gm_code", "bu_code", "n_evses", "max_power_kw", "operator", "name"):
        assert k in props
    r = get(env, f"/api/v1/locations/{one['country_code']}/{one['party_id']}/{one['location_id']}")
    assert r.status_code == 200 and len(r.json()["properties"]["evses"]) == n_ev
    assert get(env, "/api/v1/locations/NL/XXX/nope").status_code == 404


def test_bbox_filter(env):
    fc = get(env, "/api/v1/locations", limit=1000).json()
    lons = sorted(f["geometry"]["coordinates"][0] for f in fc["features"])
    lats = sorted(f["geometry"]["coordinates"][1] for f in fc["features"])
    box = (lons[0], lats[0], lons[len(lons) // 2], lats[-1])
    want = [f for f in fc["features"] if box[0] <= f["geometry"]["coordinates"][0] <= box[2]]
    got = get(env, "/api/v1/locations", limit=1000, bbox=",".join(map(str, box))).json()["features"]
    assert got == want and 0 < len(got) < len(fc["features"])


def test_areas_forecast_corridors_hubs_congestion(env):
    fc = get(env, "/api/v1/areas", level="gemeente", limit=1000).json()
    with Store(str(env["db"])) as s:
        n_gm = s.count("areas", "level = 'gemeente'")
        n_need = s.count("forecast_need")
        n_cov = s.count("afir_coverage")
        n_hub = s.count("hub_suggestions")
        n_grid = s.count("grid_areas")
    assert fc["total"] == n_gm > 0 and fc["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon", "Point")
    one = fc["features"][0]["properties"]["area_code"]
    assert get(env, f"/api/v1/areas/{one}").json()["properties"]["area_code"] == one
    assert get(env, "/api/v1/areas/GM9999").status_code == 404
    assert get(env, "/api/v1/forecast", limit=1).json()["total"] == n_need > 0
    assert get(env, "/api/v1/corridors", limit=1).json()["total"] == n_cov
    assert get(env, "/api/v1/hubs", limit=1).json()["total"] == n_hub
    assert get(env, "/api/v1/congestion", "netbeheerder", limit=1).json()["total"] == n_grid
    assert get(env, "/api/v1/forecast/afir").status_code == 200
    assert get(env, "/api/v1/corridors/gaps").status_code == 200


def test_report_html(env):
    year = int(env["period"][:4])
    r = get(env, "/api/v1/report", "gemeente", year=year)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert env["gm"] in r.text and "<html" in r.text.lower()
    assert get(env, "/api/v1/report", "gemeente", year=year, gm=env["gms"][1]).status_code == 403
    assert get(env, "/api/v1/report", "operator", year=year).status_code == 403


# -- bad input --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path,params", [
    ("/api/v1/kpi", {"level": "planet"}), ("/api/v1/kpi", {"from": "2026-13-01"}),
    ("/api/v1/kpi", {"from": "2026-05-01", "to": "2026-04-01"}), ("/api/v1/kpi", {"gm": "0599"}),
    ("/api/v1/kpi", {"limit": "0"}), ("/api/v1/kpi", {"limit": "100000"}), ("/api/v1/kpi", {"offset": "-1"}),
    ("/api/v1/kpi", {"limit": "abc"}), ("/api/v1/kpi", {"level": "region", "bu": "BU05990101"}),
    ("/api/v1/kpi", {"source": "status", "level": "evse"}), ("/api/v1/kpi", {"bu": "x"}),
    ("/api/v1/locations", {"bbox": "1,2,3"}), ("/api/v1/locations", {"bbox": "5,50,4,51"}),
    ("/api/v1/locations", {"bbox": "a,b,c,d"}), ("/api/v1/locations", {"country_code": "NL"}),
    ("/api/v1/plan", {"year": "next"}), ("/api/v1/requests", {"decision": "maybe"}),
    ("/api/v1/contract", {"period": "2026-1"}), ("/api/v1/contract", {"period": "2999-01"}),
    ("/api/v1/alerts", {"period": "never"}), ("/api/v1/report", {}), ("/api/v1/report", {"year": "x"}),
    ("/api/v1/quality", {"section": "nope"}), ("/api/v1/areas", {"level": "moon"}),
])
def test_bad_params_422(env, path, params):
    r = get(env, path, **params)
    assert r.status_code == 422, (path, params, r.text)
    body = r.json()
    assert "detail" in body and "Traceback" not in r.text


@pytest.mark.parametrize("path", ["/api/v1/requests/nope", "/api/v1/areas/BU00000000",
                                  "/api/v1/locations/NL/AAA/none"])
def test_unknown_ids_404(env, path):
    r = get(env, path)
    assert r.status_code == 404 and "detail" in r.json()


def test_unknown_path_404(env):
    assert get(env, "/api/v1/nothing").status_code == 404


@pytest.mark.parametrize("who", ["expired", "revoked", None, "garbage"])
def test_bad_tokens_401(env, who):
    hdr = {} if who is None else H("lp_0123456789ab_nottherealsecret" if who == "garbage" else env["tok"][who])
    for path in ("/api/v1/kpi", "/api/v1/locations", "/api/v1/plan"):
        r = env["c"].get(path, headers=hdr)
        assert r.status_code == 401 and "items" not in r.json() and "features" not in r.json()


FORBIDDEN = {
    "gemeente": ["/api/v1/quality", "/api/v1/load", "/api/v1/congestion", "/api/v1/corridors", "/api/v1/hubs",
                 "/api/v1/corridors/gaps"],
    "operator": ["/api/v1/areas", "/api/v1/plan", "/api/v1/requests", "/api/v1/forecast", "/api/v1/load",
                 "/api/v1/congestion", "/api/v1/corridors", "/api/v1/hubs", "/api/v1/report",
                 "/api/v1/kpi?level=gemeente", "/api/v1/quality?section=runs"],
    "netbeheerder": ["/api/v1/locations", "/api/v1/kpi", "/api/v1/requests", "/api/v1/quality",
                     "/api/v1/alerts", "/api/v1/contract", "/api/v1/report"],
}


@pytest.mark.parametrize("role", sorted(FORBIDDEN))
def test_wrong_role_403_no_data(env, role):
    for path in FORBIDDEN[role]:
        r = env["c"].get(path, headers=H(env["tok"][role]))
        assert r.status_code == 403, (role, path, r.text)
        assert set(r.json()) == {"detail"}


def test_gemeente_asking_other_gemeente_403(env):
    other = env["gms"][1]
    for path in ("/api/v1/kpi", "/api/v1/locations", "/api/v1/plan", "/api/v1/requests", "/api/v1/alerts",
                 "/api/v1/areas", "/api/v1/forecast", "/api/v1/contract"):
        r = get(env, path, "gemeente", gm=other)
        assert r.status_code == 403 and set(r.json()) == {"detail"}, path


# -- scope isolation by brute force -----------------------------------------------------------------------------
def _gm_of_record(rec: dict, gm_of_location: dict) -> str | None:
    if "gm_code" in rec:
        return rec["gm_code"]
    if rec.get("area_code", "").startswith("GM") or rec.get("area_level") == "gemeente":
        return rec["area_code"]
    if rec.get("level") == "gemeente" or str(rec.get("subject_id", "")).startswith("GM"):
        return rec.get("subject_id")
    raise AssertionError(f"record without a gemeente: {sorted(rec)}")


GEMEENTE_LISTS = [
    ("/api/v1/areas", "features", [{}, {"level": "buurt"}, {"level": "gemeente"}]),
    ("/api/v1/locations", "features", [{}, {"layer": "passenger"}, {"bbox": "-180,-90,180,90"}]),
    ("/api/v1/kpi", "items", [{"level": lv} for lv in ("evse", "location", "gemeente", "buurt")]
     + [{"level": "location", "period": "month"}, {"level": "gemeente", "source": "status"},
        {"level": "location", "source": "status"}]),
    ("/api/v1/kpi/hour-of-week", "items", [{"level": "gemeente"}, {"level": "location"}]),
    ("/api/v1/forecast", "items", [{}, {"scenario": "middle"}]),
    ("/api/v1/forecast/afir", "items", [{}]),
    ("/api/v1/plan", "features", [{}, {"congestion_rule": "false"}]),
    ("/api/v1/requests", "items", [{}, {"decision": "granted"}, {"decision": "refused"}]),
    ("/api/v1/alerts", "items", [{}]),
    ("/api/v1/contract", "rows", [{"level": "evse"}, {"level": "location"}, {"level": "gemeente"}]),
]


def test_gemeente_sees_only_its_own(env):
    gm, seen = env["gm"], 0
    for path, key, variants in GEMEENTE_LISTS:
        for params in variants:
            params = dict(params)
            if path in ("/api/v1/alerts", "/api/v1/contract"):
                params["period"] = env["period"]
            for limit in (61, 1000):
                recs = all_pages(env, path, "gemeente", key=key, limit=limit, **params)
                for rec in recs:
                    rec = rec.get("properties", rec)
                    assert _gm_of_record(rec, {}) == gm, (path, params, rec)
                seen += len(recs)
            # the region token sees more than the gemeente (so the filter is not vacuous) for the list calls
    assert seen > 100


def test_gemeente_region_level_kpi_is_its_own(env):
    """Level region with a gemeente token is the gemeente's own figure (as `laadplan kpi --gm`), never the
    region's."""
    mine = get(env, "/api/v1/kpi", "gemeente", level="region").json()["items"]
    region = get(env, "/api/v1/kpi", "region", level="region").json()["items"]
    assert mine != region and mine[0]["sessions"] < region[0]["sessions"]


def test_gemeente_ids_of_others_403(env):
    other = env["gms"][1]
    with Store(str(env["db"])) as s:
        loc = s.query("SELECT country_code, party_id, location_id FROM locations WHERE gm_code = ? LIMIT 1",
                      [other]).iloc[0]
        req = s.query("SELECT request_id FROM requests WHERE gm_code = ? LIMIT 1", [other])
    r = get(env, f"/api/v1/locations/{loc['country_code']}/{loc['party_id']}/{loc['location_id']}", "gemeente")
    assert r.status_code == 403 and set(r.json()) == {"detail"}
    if len(req):
        r = get(env, f"/api/v1/requests/{req['request_id'].iloc[0]}", "gemeente")
        assert r.status_code == 403 and set(r.json()) == {"detail"}
    assert get(env, f"/api/v1/areas/{other}", "gemeente").status_code == 403


def test_operator_never_gets_another_party(env):
    cc, pid = env["party"]
    n = 0
    for path, key, params in [
        ("/api/v1/locations", "features", {}), ("/api/v1/locations", "features", {"bbox": "-180,-90,180,90"}),
        ("/api/v1/kpi", "items", {"level": "location"}), ("/api/v1/kpi", "items", {"level": "evse"}),
        ("/api/v1/kpi", "items", {"level": "evse", "period": "month"}),
        ("/api/v1/kpi/hour-of-week", "items", {"level": "location"}),
        ("/api/v1/contract", "rows", {"level": "evse", "period": env["period"]}),
        ("/api/v1/contract", "rows", {"level": "location", "period": env["period"]}),
        ("/api/v1/alerts", "items", {"period": env["period"]}),
    ]:
        for limit in (97, 1000):
            for rec in all_pages(env, path, "operator", key=key, limit=limit, **params):
                rec = rec.get("properties", rec)
                if "party_id" in rec:
                    assert (rec["country_code"].upper(), rec["party_id"].upper()) == (cc.upper(), pid.upper())
                else:
                    assert rec["subject_id"].upper().startswith(f"{cc}*{pid}*".upper()), rec
                n += 1
    assert n > 0
    # another party's location by id, or as a filter
    with Store(str(env["db"])) as s:
        other = s.query("SELECT country_code, party_id, location_id FROM locations WHERE party_id <> ? LIMIT 1",
                        [pid])
    if len(other):
        o = other.iloc[0]
        assert get(env, f"/api/v1/locations/{o['country_code']}/{o['party_id']}/{o['location_id']}",
                   "operator").status_code == 403
        fc = get(env, "/api/v1/locations", "operator", country_code=o["country_code"], party_id=o["party_id"]).json()
        assert fc["features"] == []
    q = get(env, "/api/v1/quality", "operator").json()
    assert set(q) == {"operators", "quarantine"}
    assert all(r["party_id"].upper() == pid.upper() for r in q["operators"] + q["quarantine"])


# -- paging --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path,key,params", [
    ("/api/v1/locations", "features", {}), ("/api/v1/kpi", "items", {"level": "evse"}),
    ("/api/v1/plan", "features", {"year": "2027"}), ("/api/v1/requests", "items", {}),
    ("/api/v1/forecast", "items", {"level": "gemeente", "scenario": "middle"}),
    ("/api/v1/areas", "features", {"geometry": "false", "level": "gemeente"}),
])
def test_pages_concatenate_to_the_whole(env, path, key, params):
    whole = get(env, path, limit=1000, **params).json()
    assert whole["next_offset"] is None and whole["total"] == len(whole[key]) > 0
    for limit in (7, 50):
        assert all_pages(env, path, key=key, limit=limit, **params) == whole[key]
    # an offset past the end is an empty page, not an error
    r = get(env, path, offset=whole["total"] + 5, **params).json()
    assert r[key] == [] and r["next_offset"] is None


def test_pages_of_big_lists_against_the_store(env):
    """Lists longer than the largest page: the pages together are the store's rows, in order."""
    with Store(str(env["db"])) as s:
        plan = s.query("SELECT site_id, year FROM plan_sites WHERE congestion_rule ORDER BY year, site_id")
        need = s.query("SELECT area_code, scenario, year, evses_needed FROM forecast_need "
                       "ORDER BY area_level, area_code, scenario, year")
    assert len(plan) > 1000 and len(need) > 1000
    feats = all_pages(env, "/api/v1/plan", key="features", limit=1000)
    assert [(f["properties"]["site_id"], f["properties"]["year"]) for f in feats] == \
        list(zip(plan["site_id"], plan["year"]))
    rows = all_pages(env, "/api/v1/forecast", limit=1000)
    assert [(r["area_code"], r["scenario"], r["year"], r["evses_needed"]) for r in rows] == \
        list(zip(need["area_code"], need["scenario"], need["year"], need["evses_needed"]))


def test_location_total_matches_independent_count(env):
    """Paging totals against a count straight from the store, per gemeente."""
    with Store(str(env["db"])) as s:
        counts = s.query("SELECT gm_code, count(*) AS n FROM locations WHERE gm_code IS NOT NULL GROUP BY 1")
    for gm, n in zip(counts["gm_code"], counts["n"]):
        assert len(all_pages(env, "/api/v1/locations", key="features", limit=4, gm=gm)) == n


def test_openapi_documents_every_endpoint(env):
    spec = env["c"].get("/api/openapi.json").json()
    paths = set(spec["paths"])
    for p in ("/api/v1/kpi", "/api/v1/locations", "/api/v1/plan", "/api/v1/areas", "/api/v1/requests",
              "/api/v1/alerts", "/api/v1/contract", "/api/v1/report", "/api/v1/load", "/api/v1/quality",
              "/api/v1/forecast", "/api/v1/corridors", "/api/v1/hubs", "/api/health", "/api/ready"):
        assert p in paths
    assert env["c"].get("/api/docs").status_code == 200
