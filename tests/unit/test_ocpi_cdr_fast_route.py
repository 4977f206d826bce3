"""The CDR POST's pure ASGI route (:class:`laadplan.api.ocpi.routes.CdrPostRoute`) answers exactly as the FastAPI
route it bypasses: the same requests against an app with it and an app without it (each on its own store) give
the same status, body (but the timestamp) and headers - auth, party scope, body limit, content type, version,
rule verdicts, error envelopes; and it is the fast route that answers."""

from __future__ import annotations

import copy

import pytest
from fastapi.testclient import TestClient

from laadplan.api import auth
from laadplan.api.app import create_app
from laadplan.api.ocpi import routes
from laadplan.config import load_config

from test_api_ocpi import EX, cdr, tok  # noqa: F401

pytestmark = pytest.mark.skipif(not EX.exists(), reason="OCPI examples not available")

#: headers whose value must be equal (x-request-id differs per request; date per second)
HEADERS = ("content-type", "content-length", "location", "www-authenticate", "allow", "retry-after")


def _scenario(c: TestClient, A: dict, B: dict, R: dict) -> list:
    good = cdr("F1")
    bad = cdr("F2", energy=-1.0)
    v211 = {k: v for k, v in cdr("F3").items() if k not in ("country_code", "party_id")}
    big = cdr("F4")
    big["padding"] = "x" * (c.app.state.config.server.max_body_bytes + 10)
    js = {"Content-Type": "application/json"}
    reqs = [
        ("POST", "/ocpi/2.2.1/receiver/cdrs", A, good),            # accepted: 200 + Location
        ("POST", "/ocpi/2.2.1/receiver/cdrs", A, good),            # again: unchanged
        ("POST", "/ocpi/2.2.1/receiver/cdrs", A, bad),             # rejected by a rule (400, rule codes)
        ("POST", "/ocpi/2.1.1/receiver/cdrs", A, v211),            # 2.1.1 without its party: the token's
        ("POST", "/ocpi/9.9/receiver/cdrs", A, good),              # unknown version
        ("POST", "/ocpi/2.2.1/receiver/cdrs", {}, good),           # no token: 401
        ("POST", "/ocpi/2.2.1/receiver/cdrs", tok("nonsense"), good),  # unknown token: 401
        ("POST", "/ocpi/2.2.1/receiver/cdrs", B, good),            # token of another party: 403
        ("POST", "/ocpi/2.2.1/receiver/cdrs", R, good),            # region token may not push: 403
        ("POST", "/ocpi/2.2.1/receiver/cdrs", A, [good]),          # not one object
        ("POST", "/ocpi/2.2.1/receiver/cdrs", A, big),             # body too large: 413
        ("RAW", "/ocpi/2.2.1/receiver/cdrs", {**A, **js}, b'{"id": '),  # malformed JSON
        ("RAW", "/ocpi/2.2.1/receiver/cdrs", {**A, "Content-Type": "text/plain"}, b"{}"),  # 415
        ("RAW", "/ocpi/2.2.1/receiver/cdrs", {**A, **js}, b"\xff\xfe"),  # not UTF-8
        ("POST", "/ocpi/2.2.1/receiver/cdrs/", A, good),           # trailing slash: the normal way (404)
        ("POST", "/ocpi//receiver/cdrs", A, good),                 # empty version: the normal way
        ("GET", "/ocpi/2.2.1/receiver/cdrs", A, None),             # other method: 405 envelope
    ]
    out = []
    for method, path, h, body in reqs:
        if method == "RAW":
            r = c.post(path, headers=h, content=body)
        elif method == "POST":
            r = c.post(path, headers=h, json=copy.deepcopy(body), follow_redirects=False)
        else:
            r = c.get(path, headers=h)
        try:
            j = r.json()
            if isinstance(j, dict):
                j.pop("timestamp", None)
        except ValueError:
            j = r.text
        out.append((method, path, r.status_code, j, {k: r.headers.get(k) for k in HEADERS},
                    "x-request-id" in r.headers))
    return out


def _run(tmp_path, name: str, fast: bool) -> list:
    app = create_app(str(tmp_path / f"{name}.duckdb"), load_config(None))
    if not fast:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not routes.CdrPostRoute]
    assert any(m.cls is routes.CdrPostRoute for m in app.user_middleware) == fast
    with TestClient(app) as c:
        s = app.state.store
        a, _ = auth.create_token(s, "operator", country_code="NL", party_id="EQU")
        b, _ = auth.create_token(s, "operator", country_code="NL", party_id="OTH")
        region, _ = auth.create_token(s, "region")
        return _scenario(c, tok(a), tok(b), tok(region, b64=False))


def test_fast_route_answers_as_the_fastapi_route(tmp_path):
    fast, slow = _run(tmp_path, "fast", True), _run(tmp_path, "slow", False)
    assert [r[2] for r in slow] == [200, 200, 400, 200, 404, 401, 401, 403, 403, 400, 413, 400, 415, 400,
                                    404, 404, 405]  # the route's own answers (computed by FastAPI)
    assert slow[0][3]["status_message"] == "Success" and slow[1][3]["status_message"] == "Success (unchanged)"
    assert slow[2][3]["data"]["rule_codes"] == ["LINDA-ENERGY-NEG"]
    assert slow[0][4]["location"].endswith("/ocpi/2.2.1/receiver/cdrs/NL/EQU/F1")
    for f, s in zip(fast, slow):
        assert f == s


def test_the_fast_route_answers_the_cdr_post(tmp_path, monkeypatch):
    calls = []
    real = routes.cdr_post

    async def spy(request, version):
        calls.append((version, "endpoint" in request.scope))  # the router sets the endpoint; the fast route not
        return await real(request, version)

    monkeypatch.setattr(routes, "cdr_post", spy)  # the FastAPI route keeps the function it was made with
    app = create_app(str(tmp_path / "spy.duckdb"), load_config(None))
    with TestClient(app) as c:
        a, _ = auth.create_token(app.state.store, "operator", country_code="NL", party_id="EQU")
        assert c.post("/ocpi/2.2.1/receiver/cdrs", headers=tok(a), json=cdr("S1")).status_code == 200
        assert c.post("/ocpi/2.1.1/receiver/cdrs", headers=tok(a), json=cdr("S2")).status_code == 200
    assert calls == [("2.2.1", False), ("2.1.1", False)]


def test_a_cdr_post_verifies_its_token_once(tmp_path, monkeypatch):
    """The party check reuses the caller found for the body's party (each verification parses the header,
    hashes the token and takes the cache's lock); the answers themselves are the scenario's above."""
    calls = []
    real = auth.verify_token

    def counting(store, token):
        calls.append(token)
        return real(store, token)

    monkeypatch.setattr(auth, "verify_token", counting)
    app = create_app(str(tmp_path / "once.duckdb"), load_config(None))
    with TestClient(app) as c:
        a, _ = auth.create_token(app.state.store, "operator", country_code="NL", party_id="EQU")
        b, _ = auth.create_token(app.state.store, "operator", country_code="NL", party_id="OTH")
        for t in (a, b):  # the first request of a token looks it up in the store (a cache miss), then cached
            c.post("/ocpi/2.2.1/receiver/cdrs", headers=tok(t), json=cdr("V0"))
        calls.clear()
        assert c.post("/ocpi/2.2.1/receiver/cdrs", headers=tok(a), json=cdr("V1")).status_code == 200
        assert calls == [a]
        assert c.post("/ocpi/2.2.1/receiver/cdrs", headers=tok(b), json=cdr("V2")).status_code == 403
        assert calls == [a, b]
