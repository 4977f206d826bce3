"""Log-in sessions and CSRF protection of the web app.

A user logs in once with an API token (roles and scopes of :mod:`laadplan.api.auth`); the server then sets
a session cookie: a random 256-bit id, ``HttpOnly``, ``SameSite=Strict``, ``Secure`` when the site is served
over https, ``Path=/``. The store keeps only the id's sha256 (table ``web_sessions``) with the token it
belongs to: a revoked or expired token ends its sessions at once.

CSRF: every change (POST) must send the per-session token (form field ``csrf_token`` or header
``X-CSRF-Token``); without a session (log-in form, residents' form) a double-submit token: the value of the
``lp_csrf`` cookie sent back in the form. A request that authenticates with an ``Authorization`` header
carries no ambient credential and needs no CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone

import pandas as pd
from fastapi import Request

from laadplan.api import auth

SESSION_COOKIE = "lp_session"
CSRF_COOKIE = "lp_csrf"
SESSION_HOURS = 12  # default; server.web_session_hours sets it per app


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _h(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def login(store, token: str, now: datetime | None = None, hours: float = SESSION_HOURS) -> tuple[str, str, auth.Principal] | None:
    """A new session for a valid token: ``(session_id, csrf_token, principal)``; None for a bad token."""
    p = auth.verify_token(store, (token or "").strip(), now=now)
    if p is None:
        return None
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    t = now or _now()
    store.append("web_sessions", pd.DataFrame([{
        "session_hash": _h(sid), "token_id": p.token_id, "csrf_token": csrf, "created_utc": t,
        "expires_utc": t + timedelta(hours=hours), "ended_utc": None}]))
    return sid, csrf, p


def logout(store, session_id: str, now: datetime | None = None) -> None:
    store.con.execute("UPDATE web_sessions SET ended_utc = ? WHERE session_hash = ? AND ended_utc IS NULL",
                      [now or _now(), _h(session_id)])


def lookup(store, session_id: str | None, now: datetime | None = None) -> tuple[auth.Principal, str] | None:
    """The principal and CSRF token of an open session whose token is still valid; else None."""
    if not session_id or len(session_id) > 100:
        return None
    t = now or _now()
    r = store.query(
        "SELECT s.csrf_token, t.token_id, t.role, t.gm_code, t.country_code, t.party_id FROM web_sessions s "
        "JOIN api_tokens t ON t.token_id = s.token_id WHERE s.session_hash = ? AND s.ended_utc IS NULL "
        "AND s.expires_utc > ? AND t.revoked_utc IS NULL AND t.expires_utc > ?", [_h(session_id), t, t])
    if r.empty:
        return None
    x = r.iloc[0]

    def v(c):
        return None if pd.isna(x[c]) else str(x[c])

    return auth.Principal(token_id=str(x["token_id"]), role=str(x["role"]), gm_code=v("gm_code"),
                          country_code=v("country_code"), party_id=v("party_id")), str(x["csrf_token"])


def is_https(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    pub = getattr(getattr(request.app.state, "config", None), "server", None)
    return bool(pub and str(pub.public_url).startswith("https://"))


def set_session_cookie(response, request: Request, session_id: str, hours: float = SESSION_HOURS) -> None:
    response.set_cookie(SESSION_COOKIE, session_id, max_age=int(hours * 3600), httponly=True,
                        samesite="strict", secure=is_https(request), path="/")


def csrf_expected(request: Request) -> str | None:
    """The CSRF token a change must carry: the session's, else the double-submit cookie's."""
    tok = getattr(request.state, "csrf", None)
    if tok:
        return tok
    return request.cookies.get(CSRF_COOKIE)


def csrf_ok(request: Request, sent: str | None) -> bool:
    if auth.parse_authorization(request.headers.get("authorization")):
        return True  # header credentials are not sent by a browser on its own: no CSRF
    exp = csrf_expected(request)
    return bool(exp and sent and hmac.compare_digest(exp.encode(), sent.encode()))


def page_csrf(request: Request) -> tuple[str, bool]:
    """The CSRF token to put in a page's forms, and whether a new double-submit cookie must be set."""
    tok = getattr(request.state, "csrf", None)
    if tok:
        return tok, False
    c = request.cookies.get(CSRF_COOKIE)
    if c and 20 <= len(c) <= 100:
        return c, False
    return secrets.token_urlsafe(32), True


def set_csrf_cookie(response, request: Request, token: str) -> None:
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=is_https(request), path="/")


def install(app) -> None:
    """Middleware: a valid session cookie sets ``request.state.principal`` (read by
    :func:`laadplan.api.app.current_principal`) and ``request.state.csrf``. Pure ASGI: a request without the
    session cookie (every API and OCPI client) passes straight through (a ``BaseHTTPMiddleware`` cost every
    request a task and a stream, ~15 % of the server's CPU on a cached API read)."""
    app.add_middleware(_Session)


class _Session:
    def __init__(self, app) -> None:
        self.app = app
        self._marker = SESSION_COOKIE.encode("latin-1")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and not scope.get("path", "").startswith(("/web/static/", "/web/tiles/")):
            cookie = next((v for k, v in scope.get("headers", ()) if k == b"cookie"), None)
            if cookie is not None and self._marker in cookie:  # public paths: no lookup
                from starlette.requests import cookie_parser

                sid = cookie_parser(cookie.decode("latin-1")).get(SESSION_COOKIE)
                if sid:
                    s = scope["app"].state.store.cursor()
                    try:
                        hit = lookup(s, sid)
                    finally:
                        s.close()
                    if hit:
                        state = scope.setdefault("state", {})
                        state["principal"], state["csrf"] = hit
        await self.app(scope, receive, send)
