"""Credentials module: the registration handshake (token A -> B -> C), update, unregister.

* ``laadplan ocpi register --country-code NL --party-id EQU`` opens a registration: a `pending` party with a
  token A (an operator token of that party, valid for the versions and credentials endpoints only).
* POST with token A and the party's credentials (its token B and versions URL; its role in ``roles`` must be
  the token's party): the receiver reads the party's versions and version details with token B (OCPI 3001
  when it cannot), stores them, issues token C, revokes token A and answers its own credentials with token C.
  POST by a registered party: HTTP 405 (use PUT).
* PUT with token C: new token B / URL; the receiver issues a new token C (the old one is revoked).
* GET: the receiver's credentials (with the token the caller used).
* DELETE with token C: unregister (token C revoked; a new registration needs a new token A). Unregistered:
  PUT and DELETE are HTTP 405.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pandas as pd
from fastapi import Request
from fastapi.responses import JSONResponse

from laadplan.api import auth
from laadplan.api.app import config_of
from laadplan.api.ocpi.core import (_TOKEN_A, CLIENT_API, CLIENT_ERROR, INVALID, OK, VERSIONS, OcpiError, envelope,
                                    principal, token_of)
from laadplan.ingest.base import utcnow


def caller_for_versions(request: Request, store) -> auth.Principal:
    """Versions and version details: any valid token (token A included)."""
    return principal(request, store)


def party_row(store, cc: str, pid: str) -> dict | None:
    df = store.query("SELECT * FROM ocpi_parties WHERE country_code = ? AND party_id = ?", [cc.upper(), pid.upper()])
    if df.empty:
        return None
    return {k: (None if pd.isna(v) else v) for k, v in df.iloc[0].to_dict().items()}


def open_registration(store, cc: str, pid: str, *, days: int = 30, label: str | None = None) -> tuple[str, dict]:
    """Make token A for party ``cc``/``pid`` and mark the party `pending` (``laadplan ocpi register``).
    Refused (ValueError) while the party is registered."""
    cc, pid = cc.upper(), pid.upper()
    row = party_row(store, cc, pid)
    if row and row["status"] == "registered":
        raise ValueError(f"party {cc}*{pid} is registered; it updates its credentials with PUT, or unregisters "
                         f"(DELETE) before registering again")
    with store.transaction():
        if row and row.get("token_a_id"):
            auth.revoke_token(store, row["token_a_id"])
        token, trow = auth.create_token(store, "operator", country_code=cc, party_id=pid,
                                        label=label or f"OCPI token A of {cc}*{pid}", days=days)
        store.con.execute("DELETE FROM ocpi_parties WHERE country_code = ? AND party_id = ?", [cc, pid])
        store.append("ocpi_parties", pd.DataFrame([{
            "country_code": cc, "party_id": pid, "status": "pending", "token_a_id": trow["token_id"],
            "created_utc": utcnow()}]))
    _TOKEN_A.clear()
    return token, trow


def _own_credentials(request: Request, v: str, token: str) -> dict:
    srv = config_of(request).server
    url = f"{srv.public_url.rstrip('/')}/ocpi/versions"
    biz = {"name": "laadplan regional receiver"}
    if v == "2.1.1":
        return {"token": token, "url": url, "business_details": biz, "country_code": srv.ocpi_country_code,
                "party_id": srv.ocpi_party_id}
    return {"token": token, "url": url, "roles": [{"role": "OTHER", "business_details": biz,
                                                    "country_code": srv.ocpi_country_code,
                                                    "party_id": srv.ocpi_party_id}]}


def _parse(body: Any, v: str, p: auth.Principal) -> dict:
    """token, url, role, business name of the party's credentials; the party must be the token's."""
    if not isinstance(body, dict):
        raise OcpiError(400, INVALID, "the body must be a credentials object")
    token, url = body.get("token"), body.get("url")
    if not isinstance(token, str) or not token.strip() or len(token) > 512:
        raise OcpiError(400, INVALID, "credentials.token (token B) is missing or not a string")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise OcpiError(400, INVALID, "credentials.url (the versions endpoint) is missing or not an http(s) URL")
    if v == "2.1.1":
        roles = [{"role": "CPO", "country_code": body.get("country_code"), "party_id": body.get("party_id"),
                  "business_details": body.get("business_details")}]
    else:
        roles = body.get("roles")
        if not isinstance(roles, list) or not roles or not all(isinstance(r, dict) for r in roles):
            raise OcpiError(400, INVALID, "credentials.roles is missing or not a list of roles")
    mine = [r for r in roles if p.owns_party(r.get("country_code") if isinstance(r.get("country_code"), str) else "",
                                             r.get("party_id") if isinstance(r.get("party_id"), str) else "")]
    if not mine:
        raise OcpiError(403, CLIENT_ERROR, f"the credentials name no role of the token's party "
                        f"{p.country_code}*{p.party_id}")
    biz = mine[0].get("business_details")
    return {"token": token.strip(), "url": url, "role": str(mine[0].get("role") or "CPO"),
            "business_name": biz.get("name") if isinstance(biz, dict) else None}


def _fetch_endpoints(request: Request, url: str, token_b: str) -> tuple[str, list[dict]]:
    """The party's versions and the endpoints of the best common version, read with token B (OCPI 3001 when
    its API cannot be used). Tests set ``app.state.ocpi_transport`` (an httpx transport)."""
    transport = getattr(request.app.state, "ocpi_transport", None)
    headers = {"Authorization": "Token " + base64.b64encode(token_b.encode()).decode()}
    try:
        with httpx.Client(transport=transport, timeout=10.0, follow_redirects=False) as c:
            vs = c.get(url, headers=headers).json().get("data")
            offered = {str(x.get("version")): x.get("url") for x in vs if isinstance(x, dict)}
            v = next((x for x in VERSIONS if x in offered), None)
            if v is None:
                raise OcpiError(400, CLIENT_API, f"the party's versions endpoint offers none of {', '.join(VERSIONS)} "
                                f"(it offers {', '.join(sorted(offered)) or 'nothing'})")
            details = c.get(offered[v], headers=headers).json().get("data") or {}
            eps = [e for e in details.get("endpoints") or [] if isinstance(e, dict)]
    except OcpiError:
        raise
    except (httpx.HTTPError, ValueError, AttributeError, TypeError) as e:
        raise OcpiError(400, CLIENT_API, f"unable to use the party's API at {url} with its token B "
                        f"({type(e).__name__}); check credentials.url and token") from None
    return v, [{"identifier": str(e.get("identifier")), "role": str(e.get("role") or ""), "url": str(e.get("url"))}
               for e in eps if e.get("identifier")]


def handle(store, request: Request, v: str, method: str, body: Any) -> JSONResponse:
    p = principal(request, store)
    if p.role != "operator":
        raise OcpiError(403, CLIENT_ERROR, f"a {p.role} token has no OCPI credentials; the operator registers with "
                        f"its token A")
    cc, pid = (p.country_code or "").upper(), (p.party_id or "").upper()
    row = party_row(store, cc, pid)
    registered = bool(row and row["status"] == "registered")
    is_a = bool(row and row.get("token_a_id") == p.token_id)
    is_c = bool(registered and row.get("token_c_id") == p.token_id)
    if method == "GET":
        return envelope(_own_credentials(request, v, token_of(request) or ""))
    if method == "POST":
        if registered:
            raise OcpiError(405, CLIENT_ERROR, f"party {cc}*{pid} is already registered: update with PUT, or "
                            f"DELETE to unregister", headers={"Allow": "GET, PUT, DELETE"})
        if not is_a:
            raise OcpiError(401, CLIENT_ERROR, "registration needs the party's token A (laadplan ocpi register)")
        return _register(store, request, v, body, p, cc, pid, row, new=True)
    if not registered:
        raise OcpiError(405, CLIENT_ERROR, f"party {cc}*{pid} is not registered: register with POST and token A",
                        headers={"Allow": "GET, POST"})
    if not is_c:
        raise OcpiError(401, CLIENT_ERROR, "updating or removing the registration needs the party's token C")
    if method == "PUT":
        return _register(store, request, v, body, p, cc, pid, row, new=False)
    with store.transaction():  # DELETE: unregister
        auth.revoke_token(store, row["token_c_id"])
        store.con.execute("UPDATE ocpi_parties SET status = 'unregistered', unregistered_utc = ?, token_c_id = NULL, "
                          "token_b = NULL WHERE country_code = ? AND party_id = ?", [utcnow(), cc, pid])
        store.con.execute("DELETE FROM ocpi_endpoints WHERE country_code = ? AND party_id = ?", [cc, pid])
    _TOKEN_A.clear()
    return envelope(None, OK, f"party {cc}*{pid} unregistered; token C revoked")


def _register(store, request: Request, v: str, body: Any, p: auth.Principal, cc: str, pid: str, row: dict,
              new: bool) -> JSONResponse:
    c = _parse(body, v, p)
    version, endpoints = _fetch_endpoints(request, c["url"], c["token"])
    days = config_of(request).server.token_days_default
    with store.transaction():
        token_c, trow = auth.create_token(store, "operator", country_code=cc, party_id=pid,
                                          label=f"OCPI token C of {cc}*{pid}", days=days)
        old = row.get("token_a_id") if new else row.get("token_c_id")
        if old:
            auth.revoke_token(store, old)
        store.con.execute(
            "UPDATE ocpi_parties SET status = 'registered', role = ?, business_name = ?, versions_url = ?, "
            "version = ?, token_b = ?, token_c_id = ?, registered_utc = ?, unregistered_utc = NULL "
            "WHERE country_code = ? AND party_id = ?",
            [c["role"], c["business_name"], c["url"], version, c["token"], trow["token_id"], utcnow(), cc, pid])
        store.con.execute("DELETE FROM ocpi_endpoints WHERE country_code = ? AND party_id = ?", [cc, pid])
        if endpoints:
            store.upsert("ocpi_endpoints", pd.DataFrame([{**e, "country_code": cc, "party_id": pid}
                                                         for e in endpoints]))
    _TOKEN_A.clear()
    return envelope(_own_credentials(request, v, token_c))
