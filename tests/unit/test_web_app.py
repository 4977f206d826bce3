"""The web app over HTTP (issue 16.4, 16.5): log-in sessions (cookie flags, hashed ids), CSRF on every
change, a gemeente user's scope in pages and API, the residents' form (decision with its rule, rate limit,
no personal data to others, purge after the retention period), vector tiles, and offline assets."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer

from laadplan.api import auth
from laadplan.api.app import create_app
from laadplan.config import RegionConfig
from laadplan.store import Store
from laadplan.web import STATIC, TEMPLATES, mvt, residents
from test_web_workflow import GM1, GM2, build_store

RD = Transformer.from_crs(4326, 28992, always_xy=True)


@pytest.fixture
def env(tmp_path):
    db = str(tmp_path / "web.duckdb")
    s = build_store(db)
    tokens = {"region": auth.create_token(s, "region")[0], "g1": auth.create_token(s, "gemeente", gm_code=GM1)[0],
              "g2": auth.create_token(s, "gemeente", gm_code=GM2)[0]}
    s.close()
    residents.forget_cache()
    from laadplan.web import data

    data.clear_cache()
    cfg = RegionConfig()
    cfg.server.web_requests_per_hour_per_client = 3
    app = create_app(db, cfg, routers=("laadplan.web",))
    with TestClient(app) as c:
        yield c, tokens, db


def login(c: TestClient, token: str) -> str:
    """Log in through the form; returns the session's CSRF token (from the page's meta tag)."""
    c.cookies.clear()
    page = c.get("/web/inloggen")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    r = c.post("/web/inloggen", data={"token": token, "csrf_token": csrf, "terug": "/web/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    setc = r.headers["set-cookie"]
    assert "lp_session=" in setc and "HttpOnly" in setc and "SameSite=strict" in setc.replace("Strict", "strict")
    assert "Secure" not in setc  # plain http in the test; https sets Secure (is_https)
    home = c.get("/web/")
    return re.search(r'name="csrf-token" content="([^"]+)"', home.text).group(1)


def test_login_needs_a_valid_token_and_csrf_and_stores_only_the_session_hash(env):
    c, tok, db = env
    assert c.get("/web/", follow_redirects=False).status_code == 303  # to the log-in page
    page = c.get("/web/inloggen")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    assert c.post("/web/inloggen", data={"token": tok["g1"], "csrf_token": "fout"}).status_code == 403
    assert c.post("/web/inloggen", data={"token": "lp_x_y", "csrf_token": csrf}).status_code == 401
    login(c, tok["g1"])
    sid = c.cookies.get("lp_session")
    r = c.get("/web/api/sites")
    assert r.status_code == 200
    with c.app.state.store.cursor() as st:  # type: ignore[attr-defined]
        hashes = st.query("SELECT session_hash FROM web_sessions")["session_hash"].tolist()
    assert hashes == [hashlib.sha256(sid.encode()).hexdigest()] and sid not in hashes
    # log-out ends the session
    csrf2 = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/web/").text).group(1)
    c.post("/web/uitloggen", data={"csrf_token": csrf2}, follow_redirects=False)
    c.cookies.set("lp_session", sid)
    assert c.get("/web/api/sites").status_code == 401


def test_every_change_needs_the_csrf_token(env):
    c, tok, _ = env
    csrf = login(c, tok["g1"])
    r = c.post("/web/api/sites/S1/state", json={"state": "akkoord_gemeente"})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = c.post("/web/api/sites/S1/state", json={"state": "akkoord_gemeente"}, headers={"X-CSRF-Token": "x" * 43})
    assert r.status_code == 403
    r = c.post("/web/api/sites/S1/state", json={"state": "akkoord_gemeente"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["event"]["state"] == "akkoord_gemeente"
    r = c.post("/web/gemeente/GM0001/locatie/S2", data={"state": "afgewezen", "reason": "x"}, follow_redirects=False)
    assert r.status_code == 403
    r = c.post("/web/api/sites/S2/move", json={"lat": 52.052, "lon": 4.05})
    assert r.status_code == 403
    # the public form too (double-submit cookie)
    c.cookies.clear()
    r = c.post("/web/api/requests", json={"lat": 52.05, "lon": 4.05})
    assert r.status_code == 403


def test_a_gemeente_user_sees_and_changes_only_its_own_sites(env):
    c, tok, _ = env
    csrf = login(c, tok["g1"])
    ids = {s["site_id"] for s in c.get("/web/api/sites").json()["sites"]}
    assert ids == {"S1", "S2"}
    plan = c.get("/web/api/layers/plan.geojson").json()
    assert {f["properties"]["site_id"] for f in plan["features"]} == {"S1", "S2"}
    assert c.get("/web/api/sites/S3").status_code == 403
    r = c.post("/web/api/sites/S3/state", json={"state": "akkoord_gemeente"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403
    r = c.post("/web/api/sites/S3/move", json={"lat": 52.05, "lon": 4.16}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403
    assert c.get("/web/gemeente/GM0002").status_code == 403
    page = c.get("/web/gemeente/GM0001")
    # without the random CSRF token, which may hold "S3" (it did once)
    text = re.sub(r'(name="csrf-token" content|name="csrf_token" value)="[^"]*"', r'\1=""', page.text)
    assert csrf in page.text and csrf not in text
    assert page.status_code == 200 and "S1" in text and "S3" not in text
    # through the page's form
    r = c.post("/web/gemeente/GM0001/locatie/S2", data={"state": "afgewezen", "reason": "te smal trottoir",
                                                       "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and "melding=" in r.headers["location"]
    r = c.post("/web/gemeente/GM0002/locatie/S3", data={"state": "akkoord_gemeente", "csrf_token": csrf})
    assert r.status_code == 403
    # the other gemeente sees none of it, by token header (API) as well
    h = {"Authorization": f"Token {tok['g2']}"}
    c.cookies.clear()
    assert {s["site_id"] for s in c.get("/web/api/sites", headers=h).json()["sites"]} == {"S3"}
    assert c.get("/web/api/sites/S2", headers=h).status_code == 403
    assert c.get("/web/api/events", headers=h).json()["events"] == []
    assert c.post("/web/api/sites/S2/state", json={"state": "voorgesteld", "reason": "x"}, headers=h).status_code == 403
    # the region sees the trail and that it is intact
    hr = {"Authorization": f"Token {tok['region']}"}
    ev = c.get("/web/api/events", headers=hr).json()
    assert [e["state"] for e in ev["events"]] == ["afgewezen"] and ev["trail_problems"] == []
    assert ev["events"][0]["reason"] == "te smal trottoir"


def test_the_trail_has_no_route_that_changes_or_deletes(env):
    c, tok, _ = env
    h = {"Authorization": f"Token {tok['region']}"}
    for method in ("PUT", "PATCH", "DELETE"):
        for url in ("/web/api/events", "/web/api/sites/S1", "/web/api/sites/S1/state"):
            assert c.request(method, url, headers=h).status_code == 405
    paths = [(getattr(r, "path", ""), sorted(getattr(r, "methods", []) or [])) for r in c.app.routes]
    assert not [p for p, m in paths if p.startswith("/web") and set(m) & {"PUT", "PATCH", "DELETE"}]


def test_move_check_answers_at_once_and_saves_only_a_passing_spot(env):
    c, tok, _ = env
    csrf = login(c, tok["g1"])
    r = c.get("/web/api/sites/S1/check", params={"lat": 52.0598, "lon": 4.05})
    d = r.json()
    assert r.status_code == 200 and d["ok"] is False and d["saved"] is False
    assert {x["check"]: x["ok"] for x in d["checks"]}["spacing"] is False
    r = c.post("/web/api/sites/S1/move", json={"lat": 52.0598, "lon": 4.05}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and r.json()["saved"] is False
    r = c.post("/web/api/sites/S1/move", json={"lat": 52.052, "lon": 4.052, "reason": "stoep"},
               headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["saved"] is True
    site = c.get("/web/api/sites/S1").json()
    assert (site["site"]["lat"], site["site"]["lon"], site["site"]["moved"]) == (52.052, 4.052, True)
    assert site["events"][0]["action"] == "move" and site["events"][0]["reason"] == "stoep"


def _form(c: TestClient) -> str:
    page = c.get("/web/aanvragen")
    assert page.status_code == 200
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def test_a_resident_gets_the_decision_with_its_rule_and_the_request_is_stored(env):
    c, tok, _ = env
    c.cookies.clear()
    csrf = _form(c)
    cfg = RegionConfig()
    # 52.0555 / 4.0515: L1 (52.0505, 4.0515) is about 556 m away, beyond the walking distance -> REQ-NO-POINT
    far = float(np.hypot(*np.subtract(RD.transform(4.0515, 52.0555), RD.transform(4.0515, 52.0505))))
    assert cfg.walk_m(GM1) < far < 600
    base = {"csrf_token": csrf, "lives_in_gm": "ja", "ev_status": "ev", "has_private_parking": "nee",
            "address": "Dorpsstraat 1", "postal_code": "1234 AB"}
    r = c.post("/web/api/requests", json=base | {"lat": 52.0555, "lon": 4.0515})
    d = r.json()
    assert r.status_code == 201, d
    assert (d["decision"], d["decision_rule"], d["gm_code"]) == ("granted", "REQ-NO-POINT", GM1)
    assert d["nearest_point_m"] == pytest.approx(far, rel=1e-6)
    assert d["reason_nl"].startswith("Er is geen openbaar laadpunt binnen loopafstand")
    assert f"op {round(far)} m (loopafstand 250 m)" in d["reason_nl"]
    # private parking -> refused by REQ-ELIG-PRIVATE-PARKING, explained in Dutch
    r = c.post("/web/aanvragen", data=base | {"lat": 52.09, "lon": 4.01, "has_private_parking": "ja"})
    assert r.status_code == 200 and "afgewezen" in r.text and "eigen oprit of garage" in r.text
    assert "REQ-ELIG-PRIVATE-PARKING" in r.text
    # next to L1 (no occupancy data): not decided, the municipality decides
    r = c.post("/web/api/requests", json=base | {"lat": 52.0504, "lon": 4.0514})
    assert r.json()["decision_rule"] == "REQ-NO-OCCUPANCY-DATA" and r.json()["decision"] is None
    # the requests land in the store's requests table (what the next plan's request trigger reads)
    with c.app.state.store.cursor() as st:  # type: ignore[attr-defined]
        rq = st.query("SELECT request_id, gm_code, decision_rule, address, postal_code, source FROM requests "
                      "ORDER BY request_id")
    assert len(rq) == 3 and set(rq["source"]) == {"web-form"} and "1234AB" in set(rq["postal_code"])
    # the 4th request from this client within the hour: rate limited (limit 3 in this app)
    r = c.post("/web/api/requests", json=base | {"lat": 52.09, "lon": 4.01})
    assert r.status_code == 429
    # invalid input: a clear Dutch message
    r = c.post("/web/api/requests", json={"csrf_token": csrf, "lat": "x"})
    assert r.status_code in (422, 429)
    # no personal data to other users: the requests layer and list carry no address, postal code or exact point
    h = {"Authorization": f"Token {tok['g1']}"}
    c.cookies.clear()
    layer = c.get("/web/api/layers/requests.geojson", headers=h).text
    lst = c.get("/web/api/requests", headers=h).text
    for text in (layer, lst):
        assert "Dorpsstraat" not in text and "1234AB" not in text and "52.0504" not in text
    assert c.get("/web/api/requests", headers={"Authorization": f"Token {tok['g2']}"}).json()["requests"] == []


def test_personal_data_is_purged_after_the_retention_period(tmp_path):
    s = build_store()
    cfg = RegionConfig()
    cfg.server.web_request_retention_days = 30
    t0 = datetime(2026, 1, 10, 12, 0)
    form = {"lat": 52.0912, "lon": 4.0137, "lives_in_gm": "ja", "ev_status": "ev", "has_private_parking": "nee",
            "address": "Kerkweg 9", "postal_code": "1234AB"}
    a = residents.submit(s, cfg, form, "1.2.3.4", cache_key="t", now=t0)
    b = residents.submit(s, cfg, form | {"address": "Laan 2"}, "1.2.3.5", cache_key="t", now=t0 + timedelta(days=20))
    assert residents.purge(s, cfg, now=t0 + timedelta(days=29)) == 0
    assert residents.purge(s, cfg, now=t0 + timedelta(days=31)) == 1
    r = s.query("SELECT * FROM requests ORDER BY request_id").set_index("request_id")
    pa, pb = r.loc[a["request_id"]], r.loc[b["request_id"]]
    assert pd.isna(pa["address"]) and pd.isna(pa["postal_code"]) and pb["address"] == "Laan 2"
    x, y = RD.transform(4.0137, 52.0912)
    assert (pa["x_rd"], pa["y_rd"]) == (np.floor(x / 100) * 100 + 50, np.floor(y / 100) * 100 + 50)
    assert pa["decision_rule"] == "REQ-NO-POINT"  # the decision stays for the plan's request trigger
    w = s.query("SELECT request_id, purged_utc FROM web_requests").set_index("request_id")
    assert pd.notna(w.loc[a["request_id"], "purged_utc"]) and pd.isna(w.loc[b["request_id"], "purged_utc"])
    assert residents.purge(s, cfg, now=t0 + timedelta(days=31)) == 0
    s.close()


def test_location_tiles_hold_every_point_once_at_the_right_place(env):
    c, _, _ = env
    # L1 at lon 4.0515, lat 52.0505: its tile at z 12 computed here from the Web Mercator formulas
    z = 12
    n = 2 ** z
    fx = (4.0515 + 180) / 360 * n
    lat = np.radians(52.0505)
    fy = (1 - np.log(np.tan(lat) + 1 / np.cos(lat)) / np.pi) / 2 * n
    r = c.get(f"/web/tiles/locations/{z}/{int(fx)}/{int(fy)}.pbf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    feats = mvt.decode(r.content)["locations"]
    assert len(feats) == 1
    f = feats[0]
    assert f["properties"] == {"e": 1}  # no occupancy data: no "o"
    d = c.get("/web/api/locations/detail", params={"id": f["id"]}).json()
    assert (d["key"], d["name"], d["n_evses"], d["peak_how_occupancy_share"]) == ("NL*AAA*L1", "Bij S1", 1, None)
    gz = c.get(f"/web/tiles/locations/{z}/{int(fx)}/{int(fy)}.pbf", headers={"Accept-Encoding": "gzip"})
    assert gz.content == r.content  # httpx decodes the gzip the server sent
    assert abs(f["x"] - (fx - int(fx)) * 4096) <= 1 and abs(f["y"] - (fy - int(fy)) * 4096) <= 1
    empty = c.get(f"/web/tiles/locations/{z}/{int(fx) + 5}/{int(fy)}.pbf")
    assert empty.status_code == 200 and empty.content == b""
    assert c.get("/web/tiles/locations/3/9/1.pbf").status_code == 404


def test_pages_are_dutch_and_need_nothing_from_the_internet(env):
    c, tok, _ = env
    login(c, tok["region"])
    for url in ("/web/", "/web/gemeenten", "/web/gemeente/GM0001", "/web/kwaliteit", "/web/contract",
                "/web/definities", "/web/aanvragen", "/web/gemeente/GM0001/logboek"):
        r = c.get(url)
        assert r.status_code == 200, url
        assert '<html lang="nl">' in r.text
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', r.text), url
        assert "default-src 'self'" in r.headers["content-security-policy"]
    for f in ("app.js", "app.css", "maplibre-gl.css"):
        assert (STATIC / f).is_file()
        assert c.get(f"/web/static/{f}").status_code == 200
    js = (STATIC / "app.js").read_text()
    assert "maplibre" in js.lower() and "unpkg.com" not in js and "cdn.jsdelivr" not in js
    # every definition link on the pages points at an anchor that exists
    defs = c.get("/web/definities").text
    anchors = set(re.findall(r'<dt id="([^"]+)"', defs))
    used = set()
    for t in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"/web/definities#([a-z_]+)", t.read_text()))
        used |= set(re.findall(r'"(\w+)"\) }}', t.read_text())) & set(anchors)
    assert used and used <= anchors
