"""The web app in a real browser (issue 16 tests): headless Debian Chromium through Playwright against
`laadplan serve` on the demo region. The map loads with every layer; a gemeente page opens from a map click;
a gemeente user approves one site and rejects another with a reason, the states survive a server restart,
and another gemeente's user can neither see nor change them (UI and API); a resident gets the decision with
its rule; axe-core finds no serious or critical violation on any page. Screenshots go to
tmp/test-artifacts/web (printed)."""

from __future__ import annotations

import httpx
import pytest

from laadplan.api import auth
from laadplan.config import RegionConfig
from laadplan.store import Store
from web_browser import Server, axe_violations, browser, login, need_browser, new_page, shot, wait_map

pytestmark = pytest.mark.slow


def demo_db(tmp_path_factory) -> str:
    """The demo region (laadplan demo) built once per test run, also under pytest-xdist (a file lock in the
    run's shared temp folder), and copied for this worker."""
    import fcntl
    import shutil

    from laadplan.demo.run import run_demo

    import os

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "web-demo"  # this run's, shared
    root.mkdir(exist_ok=True)
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "done").exists():
            with Store(str(root / "demo.duckdb")) as s:
                run_demo(s, RegionConfig(), root / "out", log=lambda m: None)
            (root / "done").touch()
    db = tmp_path_factory.mktemp("webdemo") / "demo.duckdb"
    shutil.copy(root / "demo.duckdb", db)
    return str(db)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A server on a copy of the demo region, with tokens for the region and two gemeenten."""
    need_browser()
    db = demo_db(tmp_path_factory)
    with Store(db) as s:
        gms = s.query("SELECT gm_code FROM plan_sites WHERE gm_code IS NOT NULL GROUP BY gm_code "
                      "ORDER BY count(DISTINCT site_id) DESC, gm_code LIMIT 2")["gm_code"].tolist()
        tok = {"region": auth.create_token(s, "region")[0],
               "g1": auth.create_token(s, "gemeente", gm_code=gms[0])[0],
               "g2": auth.create_token(s, "gemeente", gm_code=gms[1])[0]}
        names = dict(s.query("SELECT area_code, name FROM areas WHERE level = 'gemeente'").values.tolist())
        sites = s.query("SELECT DISTINCT site_id FROM plan_sites WHERE gm_code = ? ORDER BY site_id",
                        [gms[0]])["site_id"].tolist()
    srv = Server(db).start()
    yield {"db": db, "srv": srv, "tok": tok, "gms": gms, "names": names, "sites": sites}
    srv.stop()


def test_demo_map_loads_every_layer_and_a_gemeente_page_opens_from_a_click(demo):
    srv, tok = demo["srv"], demo["tok"]
    with browser() as b:
        page = new_page(b)
        login(page, srv.base, tok["region"])
        wait_map(page)
        layers = page.evaluate("window.lpLayers")
        for name in ("gemeenten", "buurten", "congestion", "coverage", "plan", "requests", "corridors", "hubs"):
            assert isinstance(layers[name], int) and layers[name] > 0, (name, layers)
        assert layers["locations"] == "tegels"
        n_loc = page.evaluate("window.lpMap.queryRenderedFeatures({layers: ['locations']}).length")
        assert n_loc > 100
        assert page.errors == []
        shot(page, "demo-overview")
        # click a gemeente: only the gemeente layer on (unchecked with the keyboard-operable checkboxes)
        for layer in ("locations", "congestion", "coverage", "plan", "requests", "corridors", "hubs"):
            page.uncheck(f"input[data-layer={layer}]")
        gm = demo["gms"][0]
        fc = httpx.get(srv.base + "/web/api/layers/gemeenten.geojson").json()
        feat = next(f for f in fc["features"] if f["properties"]["gm_code"] == gm)
        import shapely

        pt = shapely.geometry.shape(feat["geometry"]).representative_point()
        page.evaluate(f"window.lpMap.jumpTo({{center: [{pt.x}, {pt.y}], zoom: 11}})")
        page.wait_for_timeout(800)
        box = page.locator("#map").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        link = page.locator("#info a.button")
        link.wait_for(timeout=10_000)
        name = demo["names"][gm]
        assert name in page.locator("#info").inner_text()
        link.click()
        page.wait_for_url(f"{srv.base}/web/gemeente/{gm}")
        assert name in page.locator("h1").inner_text()
        shot(page, "demo-gemeente")


def _state_of(page, site: str) -> str:
    return page.locator(f"tr[data-site='{site}'] td.state span").first.inner_text()


def test_gemeente_approves_and_rejects_states_survive_restart_other_gemeente_cannot(demo):
    srv, tok, gm, other = demo["srv"], demo["tok"], demo["gms"][0], demo["gms"][1]
    a, r = demo["sites"][0], demo["sites"][1]
    with browser() as b:
        page = new_page(b)
        login(page, srv.base, tok["g1"], back=f"/web/gemeente/{gm}")
        row = page.locator(f"tr[data-site='{a}']")
        row.locator("select[name=state]").select_option("akkoord_gemeente")
        row.locator("input[name=reason]").fill("past in het parkeerbeleid")
        row.locator("button[type=submit]").click()
        page.wait_for_url(f"{srv.base}/web/gemeente/{gm}?melding=*")
        row = page.locator(f"tr[data-site='{r}']")
        row.locator("select[name=state]").select_option("afgewezen")
        row.locator("input[name=reason]").fill("te dicht bij de schoolingang")
        row.locator("button[type=submit]").click()
        page.wait_for_url(f"{srv.base}/web/gemeente/{gm}?melding=*")
        assert _state_of(page, a) == "akkoord gemeente" and _state_of(page, r) == "afgewezen"
        # moving a proposed site (keyboard form): the checks answer at once
        wait_map(page, "#sitemap")
        mv = demo["sites"][2]
        page.select_option("#mv-site", mv)
        lat = float(page.input_value("#mv-lat"))
        page.fill("#mv-lat", f"{lat + 0.0004:.6f}")
        page.click("#moveform button[type=submit]")
        page.wait_for_selector("#movecheck h3")
        items = page.locator("#movecheck ul.checks li").all_inner_texts()
        assert len(items) == 4 and any("plan-locatie" in t for t in items) and any("netcapaciteit" in t for t in items)
        assert page.evaluate("window.lpLastCheckMs") < 5000
        shot(page, "demo-workflow")
    srv.stop()
    srv.start()
    with browser() as b:
        page = new_page(b)
        login(page, srv.base, tok["g1"], back=f"/web/gemeente/{gm}")
        assert _state_of(page, a) == "akkoord gemeente" and _state_of(page, r) == "afgewezen"
        assert "te dicht bij de schoolingang" in page.locator(f"tr[data-site='{r}']").inner_text()
        page.goto(f"{srv.base}/web/gemeente/{gm}/logboek")
        log = page.locator("table.data").inner_text()
        assert "past in het parkeerbeleid" in log and "te dicht bij de schoolingang" in log
        # the other gemeente's user: no page, no sites on its map layer, no change through the form
        page = new_page(b)
        login(page, srv.base, tok["g2"])
        resp = page.goto(f"{srv.base}/web/gemeente/{gm}")
        assert resp.status == 403 and "geen toegang" in page.content().lower()
        shot(page, "demo-other-gemeente-refused")
        resp = page.goto(f"{srv.base}/web/api/layers/plan.geojson")
        sites = {f["properties"]["site_id"] for f in resp.json()["features"]}
        assert a not in sites and r not in sites and sites
    h = {"Authorization": f"Token {tok['g2']}"}
    assert httpx.get(f"{srv.base}/web/api/sites/{a}", headers=h).status_code == 403
    assert httpx.post(f"{srv.base}/web/api/sites/{r}/state", json={"state": "voorgesteld", "reason": "x"},
                      headers=h).status_code == 403
    ids = {s["site_id"] for s in httpx.get(f"{srv.base}/web/api/sites", headers=h).json()["sites"]}
    assert a not in ids and r not in ids
    assert {s["gm_code"] for s in httpx.get(f"{srv.base}/web/api/sites", headers=h).json()["sites"]} == {other}
    # the states as the API gives them to the first gemeente, after the restart
    h1 = {"Authorization": f"Token {tok['g1']}"}
    st = {s["site_id"]: s["state"] for s in httpx.get(f"{srv.base}/web/api/sites", headers=h1).json()["sites"]}
    assert (st[a], st[r]) == ("akkoord_gemeente", "afgewezen")


def test_a_resident_submits_a_request_and_gets_the_decision_with_its_rule(demo):
    srv = demo["srv"]
    with browser() as b:
        page = new_page(b)
        page.goto(srv.base + "/web/aanvragen")  # public: no log-in
        wait_map(page, "#reqmap")
        box = page.locator("#reqmap").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.4)
        assert page.input_value("#lat") and page.input_value("#lon")
        page.check("input[name=lives_in_gm][value=ja]")
        page.check("input[name=ev_status][value=ev]")
        page.check("input[name=has_private_parking][value=nee]")
        page.fill("#address", "Voorbeeldstraat 12")
        page.click("#reqform button[type=submit]")
        page.wait_for_selector("section.result")
        wait_map(page, "#reqmap")
        text = page.locator("section.result").inner_text()
        assert "Uw aanvraag is" in text and "Regel: REQ-" in text
        assert any(k in text for k in ("loopafstand", "oprit", "elektrisch", "woont"))
        shot(page, "demo-request-decided")
    h = {"Authorization": f"Token {demo['tok']['region']}"}
    reqs = httpx.get(f"{srv.base}/web/api/requests", headers=h).json()["requests"]
    assert any(r["source"] == "web-form" for r in reqs)
    assert "Voorbeeldstraat" not in httpx.get(f"{srv.base}/web/api/requests", headers=h).text


@pytest.mark.parametrize("path", ["/web/", "/web/gemeenten", "GEMEENTE", "/web/kwaliteit", "/web/contract",
                                  "/web/definities", "/web/aanvragen", "/web/inloggen"])
def test_no_serious_or_critical_accessibility_violations(demo, path):
    srv = demo["srv"]
    path = f"/web/gemeente/{demo['gms'][0]}" if path == "GEMEENTE" else path
    with browser() as b:
        page = new_page(b)
        if path != "/web/inloggen":
            login(page, srv.base, demo["tok"]["region"])
        page.goto(srv.base + path)
        if page.locator("[data-background]").count():
            page.wait_for_selector("[data-ready=ja]", state="attached", timeout=120_000)
        bad = axe_violations(page)
        assert bad == [], bad


def test_the_accessibility_check_can_fail():
    """axe-core as injected here reports a serious violation on a page that has one (so a clean result on the
    app's pages means something)."""
    need_browser()
    with browser() as b:
        page = new_page(b)
        page.set_content('<html lang="nl"><body><main><p style="color:#aaa;background:#fff">grijs op wit</p>'
                         '<input type="text"></main></body></html>')
        ids = {v["id"] for v in axe_violations(page)}
    assert {"color-contrast", "label"} <= ids
