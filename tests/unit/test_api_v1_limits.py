"""Limits of the server: per-token rate limit (429 + Retry-After), request timeout (503), 500 without a
traceback, and the read API's parameter checks that need no data (422, 401)."""

from __future__ import annotations

import math
import time

import pytest
from fastapi.testclient import TestClient

from laadplan.api import auth
from laadplan.api.app import create_app
from laadplan.api.limits import RateLimiter
from laadplan.config import RegionConfig
from laadplan.store import Store


def test_token_bucket_by_hand():
    rl = RateLimiter(3, per_s=60)
    assert [rl.take("a", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    # empty: one token comes back every 20 s
    assert rl.take("a", now=100.0) == pytest.approx(20.0)
    assert rl.take("b", now=100.0) == 0.0  # another key has its own bucket
    assert rl.take("a", now=110.0) == pytest.approx(10.0)  # half a token refilled
    assert rl.take("a", now=120.0) == 0.0
    assert rl.take("a", now=120.0) == pytest.approx(20.0)
    # a long pause refills to the burst size, not beyond
    assert [rl.take("a", now=10_000.0) for _ in range(4)][-1] > 0


@pytest.fixture
def server(tmp_path):
    db = str(tmp_path / "s.duckdb")
    cfg = RegionConfig()
    cfg.server.rate_limit_per_minute = 5
    cfg.server.request_timeout_s = 2.0
    with Store(db, create=True) as s:
        t1, _ = auth.create_token(s, "region")
        t2, _ = auth.create_token(s, "region")
    app = create_app(db, cfg)

    @app.get("/api/test/slow")
    def slow() -> dict:
        time.sleep(3.5)
        return {"late": True}

    @app.get("/api/test/boom")
    def boom() -> dict:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, t1, t2


def test_rate_limit_per_token_429_retry_after(server):
    c, t1, t2 = server
    h1, h2 = {"Authorization": f"Token {t1}"}, {"Authorization": f"Token {t2}"}
    t0 = time.monotonic()
    codes = [c.get("/api/v1/locations", headers=h1).status_code for _ in range(5)]
    assert codes == [200] * 5
    r = c.get("/api/v1/locations", headers=h1)
    spent = time.monotonic() - t0
    assert r.status_code == 429
    # 5 per minute: one request's worth refills in 12 s, less the time already spent since the bucket was full
    assert math.ceil(12 - spent) <= int(r.headers["retry-after"]) <= 12
    assert "rate limit" in r.json()["detail"] and r.headers["x-request-id"]
    assert c.get("/api/v1/locations", headers=h2).status_code == 200  # the other token is not limited
    assert all(c.get("/api/health").status_code == 200 for _ in range(10))  # probes never limited


def test_timeout_503_and_500_without_traceback(server):
    c, t1, _ = server
    t0 = time.perf_counter()
    r = c.get("/api/test/slow")
    assert r.status_code == 503 and time.perf_counter() - t0 < 3.4
    assert "longer than 2 s" in r.json()["detail"] and r.headers["retry-after"]
    r = c.get("/api/test/boom")
    assert r.status_code == 500 and "secret" not in r.text and "Traceback" not in r.text


def test_empty_store_lists_are_empty_not_errors(tmp_path):
    db = str(tmp_path / "e.duckdb")
    with Store(db, create=True) as s:
        t1, _ = auth.create_token(s, "region")
    c = TestClient(create_app(db, RegionConfig())).__enter__()
    h = {"Authorization": f"Token {t1}"}
    for path in ("/api/v1/locations", "/api/v1/plan", "/api/v1/requests", "/api/v1/forecast", "/api/v1/hubs",
                 "/api/v1/corridors"):
        r = c.get(path, headers=h)
        assert r.status_code == 200, (path, r.text)
        body = r.json()
        assert body["total"] == 0 and body.get("items", body.get("features")) == []
    assert c.get("/api/v1/locations", headers={"Authorization": "Token lp_x_y"}).status_code == 401
    r = c.get("/api/v1/locations", headers=h, params={"bbox": "1,2,3"})
    assert r.status_code == 422 and "bbox" in r.json()["detail"]
    c.__exit__(None, None, None)


def test_known_token_rechecked_without_scrypt_but_revocation_still_counts(tmp_path, monkeypatch):
    """After the principal cache entry ends, a token verified before is re-read from the store (revocation,
    expiry) without a second scrypt; a revoked one is refused."""
    with Store(str(tmp_path / "t.duckdb"), create=True) as s:
        tok, row = auth.create_token(s, "region")
        calls = {"n": 0}
        real = auth._hash

        def counting(secret, salt):
            calls["n"] += 1
            return real(secret, salt)

        monkeypatch.setattr(auth, "_hash", counting)
        assert auth.verify_token(s, tok).role == "region" and calls["n"] == 1
        monkeypatch.setattr(auth, "CACHE_S", -1.0)  # every cache entry has ended
        auth._CACHE.put(tok, auth.verify_token(s, tok), row["secret_hash"])
        assert calls["n"] == 1  # re-read, no second scrypt
        assert auth.verify_token(s, tok[:-1] + ("A" if tok[-1] != "A" else "B")) is None  # another secret
        assert calls["n"] == 2
        s.con.execute("UPDATE api_tokens SET revoked_utc = now() WHERE token_id = ?", [row["token_id"]])
        assert auth.verify_token(s, tok) is None


def test_timeout_spares_an_answer_that_began_in_time_and_an_apps_own_timeout_error(tmp_path):
    """The request timeout answers 503 only when no response began within it: a streamed answer that started in
    time runs to its end, and a TimeoutError raised by the app itself is the app's error (500), not a 503."""
    import asyncio

    from fastapi.responses import StreamingResponse

    db = str(tmp_path / "s.duckdb")
    Store(db, create=True).close()
    cfg = RegionConfig()
    cfg.server.request_timeout_s = 0.5
    app = create_app(db, cfg)

    @app.get("/api/test/stream")
    async def stream() -> StreamingResponse:
        async def parts():
            yield b"first,"
            await asyncio.sleep(1.0)  # past the timeout, after the answer began
            yield b"last"
        return StreamingResponse(parts(), media_type="text/plain")

    @app.get("/api/test/own-timeout")
    async def own() -> dict:
        raise TimeoutError("the app's own")

    @app.get("/api/test/slow-async")
    async def slow() -> dict:
        await asyncio.sleep(2.0)
        return {"late": True}

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/test/stream")
        assert r.status_code == 200 and r.content == b"first,last"
        r = c.get("/api/test/own-timeout")
        assert r.status_code == 500 and "longer than" not in r.text
        t0 = time.perf_counter()
        r = c.get("/api/test/slow-async")
        assert r.status_code == 503 and time.perf_counter() - t0 < 1.5 and "longer than 0.5 s" in r.json()["detail"]
