"""Tokens, roles and the common guards of the server app (issue 15 points 1, 5 and 7)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from laadplan.api import auth
from laadplan.api.app import create_app, require, store_for
from laadplan.cli import app as cli_app


def test_token_verifies_and_only_its_hash_is_stored(store):
    token, row = auth.create_token(store, "gemeente", gm_code="gm0599", label="Rotterdam GIS")
    assert token.startswith("lp_") and row["gm_code"] == "GM0599"
    stored = store.query("SELECT * FROM api_tokens")
    assert len(stored) == 1
    secret = token.split("_", 2)[2]
    assert secret not in json.dumps(stored.astype(str).to_dict(orient="records"))
    # the stored hash is scrypt of the secret with the stored salt (recomputed here independently)
    expect = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(stored.salt[0]), n=2**14, r=8, p=1, dklen=32).hex()
    assert stored.secret_hash[0] == expect
    p = auth.verify_token(store, token)
    assert p == auth.Principal(token_id=row["token_id"], role="gemeente", gm_code="GM0599")
    assert p.sees_gemeente("GM0599") and not p.sees_gemeente("GM0518") and not p.sees_gemeente(None)


def test_wrong_secret_unknown_id_malformed_are_refused(store):
    token, row = auth.create_token(store, "region")
    tid = row["token_id"]
    assert auth.verify_token(store, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert auth.verify_token(store, f"lp_{'0' * 12}_{token.split('_', 2)[2]}") is None
    for bad in (None, "", "lp_", f"lp_{tid}", "nonsense", f"lp_{tid}_"):
        assert auth.verify_token(store, bad) is None


def test_expired_and_revoked_tokens_stop_working(store):
    t0 = datetime(2026, 1, 1)
    token, row = auth.create_token(store, "netbeheerder", days=10, now=t0)
    assert auth.verify_token(store, token, now=t0 + timedelta(days=9, hours=23)) is not None
    assert auth.verify_token(store, token, now=t0 + timedelta(days=10)) is None
    live, live_row = auth.create_token(store, "region")
    assert auth.verify_token(store, live) is not None  # now cached
    assert auth.revoke_token(store, live_row["token_id"]) is True
    assert auth.verify_token(store, live) is None  # revoking clears this process's cache at once
    assert auth.revoke_token(store, live_row["token_id"]) is False


def test_a_cached_token_stops_when_it_expires(store):
    """The token cache (5 s) never outlives the token: one expiring 1.5 s after its first use is refused once
    it has expired, not up to 5 s later."""
    import time

    made = auth._now() - timedelta(days=1) + timedelta(seconds=1.5)
    token, _ = auth.create_token(store, "region", days=1, now=made)
    assert auth.verify_token(store, token) is not None  # cached now
    time.sleep(2.0)
    assert auth.verify_token(store, token) is None
    assert auth.cached_principal(token) is None


@pytest.mark.parametrize("kw, msg", [
    ({"role": "admin"}, "unknown role"),
    ({"role": "gemeente"}, "needs --gm"),
    ({"role": "operator", "country_code": "NL"}, "needs --country-code and --party-id"),
    ({"role": "region", "gm_code": "GM0599"}, "only for a gemeente"),
])
def test_token_scope_must_fit_the_role(store, kw, msg):
    with pytest.raises(auth.TokenError, match=msg):
        auth.create_token(store, **kw)
    assert store.count("api_tokens") == 0


def test_operator_owns_only_its_party():
    p = auth.Principal("x", "operator", country_code="NL", party_id="EQU")
    assert p.owns_party("nl", "equ") and not p.owns_party("NL", "SHL") and not p.owns_party("BE", "EQU")
    assert auth.Principal("y", "region").owns_party("NL", "SHL")
    assert not auth.Principal("z", "gemeente", gm_code="GM0599").owns_party("NL", "EQU")


def test_authorization_header_forms():
    t = "lp_0123456789ab_secret"
    assert auth.parse_authorization(f"Token {t}") == t
    assert auth.parse_authorization(f"Token {base64.b64encode(t.encode()).decode()}") == t  # OCPI 2.2.1
    assert auth.parse_authorization(f"Bearer {t}") == t
    assert auth.parse_authorization(f"Basic {t}") is None
    assert auth.parse_authorization("Token ") is None
    assert auth.parse_authorization(None) is None


@pytest.fixture
def client(tmp_path):
    app = create_app(str(tmp_path / "s.duckdb"), routers=())

    @app.get("/t/region")
    def only_region(p: auth.Principal = require("region")) -> dict:
        return {"role": p.role}

    @app.post("/t/echo")
    async def echo(request: Request) -> dict:
        return {"n": len(await request.body())}

    @app.get("/t/boom")
    def boom() -> dict:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _token(client, role, **kw):
    with store_for(type("R", (), {"app": client.app})()) as s:
        return auth.create_token(s, role, **kw)[0]


def test_roles_are_checked_server_side(client):
    assert client.get("/t/region").status_code == 401
    assert client.get("/t/region", headers={"Authorization": "Token lp_000000000000_nope"}).status_code == 401
    gm = _token(client, "gemeente", gm_code="GM0599")
    r = client.get("/t/region", headers={"Authorization": f"Token {gm}"})
    assert r.status_code == 403 and "role" not in r.json()
    reg = _token(client, "region")
    assert client.get("/t/region", headers={"Authorization": f"Token {reg}"}).json() == {"role": "region"}


def test_request_ids_are_echoed_or_made(client):
    r = client.get("/api/health", headers={"X-Request-ID": "abc", "X-Correlation-ID": "corr-1"})
    assert r.json() == {"status": "ok"}
    assert r.headers["x-request-id"] == "abc" and r.headers["x-correlation-id"] == "corr-1"
    r = client.get("/api/health")
    assert len(r.headers["x-request-id"]) == 36 and r.headers["x-correlation-id"] == r.headers["x-request-id"]
    assert client.get("/api/ready").json() == {"status": "ready"}


def test_body_size_limit_declared_and_streamed(client):
    limit = client.app.state.config.server.max_body_bytes
    assert client.post("/t/echo", content=b"x" * limit).json() == {"n": limit}
    r = client.post("/t/echo", content=b"x" * (limit + 1))
    assert r.status_code == 413 and "larger than" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit holds while the body streams in
        for _ in range(limit // 65536 + 2):
            yield b"y" * 65536

    r = client.post("/t/echo", content=chunks())
    assert r.status_code == 413


def test_internal_error_has_no_traceback(client):
    r = client.get("/t/boom", headers={"X-Request-ID": "r-9"})
    assert r.status_code == 500
    assert "secret internals" not in r.text and "Traceback" not in r.text
    assert r.json()["request_id"] == "r-9"


def test_token_cli_create_list_revoke(tmp_path):
    runner = CliRunner()
    db = str(tmp_path / "t.duckdb")
    res = runner.invoke(cli_app, ["--db", db, "--json", "token", "create", "--role", "operator",
                                  "--country-code", "NL", "--party-id", "EQU", "--days", "30"])
    assert res.exit_code == 0, res.output
    made = json.loads(res.stdout)
    assert made["token"].startswith("lp_" + made["token_id"] + "_")
    res = runner.invoke(cli_app, ["--db", db, "--json", "token", "list"])
    rows = json.loads(res.stdout)
    assert [(r["token_id"], r["role"], r["party_id"]) for r in rows] == [(made["token_id"], "operator", "EQU")]
    assert made["token"].split("_", 2)[2] not in res.stdout
    res = runner.invoke(cli_app, ["--db", db, "token", "create", "--role", "gemeente"])
    assert res.exit_code == 1 and "needs --gm" in res.output
    assert runner.invoke(cli_app, ["--db", db, "token", "revoke", made["token_id"]]).exit_code == 0
    res = runner.invoke(cli_app, ["--db", db, "token", "revoke", made["token_id"]])
    assert res.exit_code == 1 and "no valid token" in res.output
