"""Roles, tokens and scopes of the regional server.

A token is ``lp_<token_id>_<secret>``: ``token_id`` (12 hex) is public and finds the row, the secret (43
URL-safe characters, 256 bits) is checked against its scrypt hash with a constant-time compare. The secret is
shown once (``laadplan token create``) and never stored. A token works until it expires or is revoked.

Scopes (checked on the server for every request, never trusted from the client):

* ``region``: everything;
* ``gemeente``: read its own municipality (``gm_code``) only;
* ``operator``: write and read only records of its own ``country_code``/``party_id``;
* ``netbeheerder``: read the plan, congestion and load.

scrypt is slow on purpose (about 50 ms); a verified token is remembered in this process for
:data:`CACHE_S` seconds so a busy client does not pay it per request. Revocation and expiry are re-read from
the store when the cache entry ends, so a revoked token stops within :data:`CACHE_S` seconds (and at once in
the process that revoked it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

import pandas as pd

from laadplan.model.api import ROLES

PREFIX = "lp_"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
CACHE_S = 5.0


class TokenError(ValueError):
    """A token cannot be made as asked (unknown role, missing scope)."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: the token's role and scope."""

    token_id: str
    role: str
    gm_code: str | None = None
    country_code: str | None = None
    party_id: str | None = None

    def sees_gemeente(self, gm_code: str | None) -> bool:
        """May read the figures of ``gm_code`` (region and netbeheerder: every gemeente)."""
        if self.role in ("region", "netbeheerder"):
            return True
        return self.role == "gemeente" and gm_code is not None and gm_code == self.gm_code

    def owns_party(self, country_code: str | None, party_id: str | None) -> bool:
        """May write and read the records of this OCPI party (region: read every party)."""
        if self.role == "region":
            return True
        return (self.role == "operator" and (country_code or "").upper() == (self.country_code or "").upper()
                and (party_id or "").upper() == (self.party_id or "").upper())


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _hash(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32,
                          maxmem=64 * 1024 * 1024).hex()


def create_token(store, role: str, *, gm_code: str | None = None, country_code: str | None = None,
                 party_id: str | None = None, label: str | None = None, days: int = 365,
                 now: datetime | None = None) -> tuple[str, dict]:
    """Make a token; returns ``(token, row)``. The token text is not stored and cannot be shown again."""
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role == "gemeente" and not gm_code:
        raise TokenError("a gemeente token needs --gm (the municipality's CBS code, e.g. GM0599)")
    if role == "operator" and not (country_code and party_id):
        raise TokenError("an operator token needs --country-code and --party-id (its OCPI party, e.g. NL EQU)")
    if gm_code and role != "gemeente":
        raise TokenError("--gm is only for a gemeente token")
    if days <= 0:
        raise TokenError("--days must be positive")
    now = now or _now()
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    row = {"token_id": token_id, "role": role, "gm_code": gm_code.upper() if gm_code else None,
           "country_code": country_code.upper() if country_code else None,
           "party_id": party_id.upper() if party_id else None, "label": label,
           "secret_hash": _hash(secret, salt), "salt": salt.hex(), "created_utc": now,
           "expires_utc": now + timedelta(days=days), "revoked_utc": None}
    store.append("api_tokens", pd.DataFrame([row]))
    return f"{PREFIX}{token_id}_{secret}", row


def list_tokens(store) -> pd.DataFrame:
    """Every token without its hash (for ``laadplan token list``)."""
    return store.query(
        "SELECT token_id, role, gm_code, country_code, party_id, label, created_utc, expires_utc, revoked_utc "
        "FROM api_tokens ORDER BY created_utc")


def revoke_token(store, token_id: str, now: datetime | None = None) -> bool:
    """Revoke a token; False when there is no such (unrevoked) token."""
    token_id = token_id.removeprefix(PREFIX).split("_", 1)[0]
    n = store.count("api_tokens", "token_id = ? AND revoked_utc IS NULL", [token_id])
    if not n:
        return False
    store.con.execute("UPDATE api_tokens SET revoked_utc = ? WHERE token_id = ?", [now or _now(), token_id])
    _CACHE.forget(token_id)
    return True


def parse_authorization(header: str | None) -> str | None:
    """The token of an ``Authorization`` header: ``Token <t>`` (OCPI 2.1.1), ``Token <base64(t)>`` (OCPI 2.2.1)
    or ``Bearer <t>``; None when absent or not one of these."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() not in ("token", "bearer") or not value:
        return None
    if not value.startswith(PREFIX):
        try:
            decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return value
        if decoded.startswith(PREFIX):
            return decoded
    return value


def scope_token(scope: dict) -> str | None:
    """The token of an ASGI request's ``Authorization`` header (:func:`parse_authorization`), for the pure ASGI
    middlewares (rate limit, cached reads) that run before FastAPI parses the request."""
    for k, v in scope.get("headers", ()):
        if k.lower() == b"authorization":
            return parse_authorization(v.decode("latin-1"))
    return None


class _Cache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, str, Principal]] = {}
        #: token digest -> the stored hash it was verified against (re-checking a known token after the
        #: cache entry ends re-reads revocation and expiry but need not run scrypt again while the stored
        #: hash is unchanged)
        self._verified: dict[str, str] = {}

    def get(self, token: str) -> Principal | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            e = self._entries.get(key)
            if e and e[0] > time.monotonic():
                return e[2]
            self._entries.pop(key, None)
        return None

    def put(self, token: str, p: Principal, secret_hash: str | None = None, ttl_s: float = CACHE_S) -> None:
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
                self._verified.clear()
            self._entries[key] = (time.monotonic() + min(ttl_s, CACHE_S), p.token_id, p)
            if secret_hash is not None:
                self._verified[key] = secret_hash

    def verified_against(self, token: str) -> str | None:
        with self._lock:
            return self._verified.get(hashlib.sha256(token.encode()).hexdigest())

    def forget(self, token_id: str) -> None:
        with self._lock:
            for k in [k for k, e in self._entries.items() if e[1] == token_id]:
                del self._entries[k]
                self._verified.pop(k, None)


_CACHE = _Cache()


def cached_principal(token: str | None) -> Principal | None:
    """The principal of a token verified in this process less than :data:`CACHE_S` seconds ago and not
    revoked here since; None otherwise (then :func:`verify_token` decides, reading the store)."""
    if not token or not token.startswith(PREFIX):
        return None
    return _CACHE.get(token)


def verify_token(store, token: str | None, now: datetime | None = None) -> Principal | None:
    """The principal of a valid token; None for no token, an unknown, malformed, expired or revoked one."""
    if not token or not token.startswith(PREFIX):
        return None
    hit = _CACHE.get(token)
    if hit is not None and now is None:
        return hit
    token_id, sep, secret = token[len(PREFIX):].partition("_")
    if not sep or not token_id or not secret:
        return None
    rows = store.query("SELECT * FROM api_tokens WHERE token_id = ?", [token_id])
    if rows.empty:
        return None
    r = rows.iloc[0]
    t = now or _now()
    if pd.notna(r["revoked_utc"]) or pd.Timestamp(r["expires_utc"]) <= pd.Timestamp(t):
        return None
    known = _CACHE.verified_against(token) if now is None else None
    if not (known is not None and hmac.compare_digest(known, str(r["secret_hash"]))):
        if not hmac.compare_digest(_hash(secret, bytes.fromhex(r["salt"])), r["secret_hash"]):
            return None
    p = Principal(token_id=token_id, role=str(r["role"]),
                  gm_code=None if pd.isna(r["gm_code"]) else str(r["gm_code"]),
                  country_code=None if pd.isna(r["country_code"]) else str(r["country_code"]),
                  party_id=None if pd.isna(r["party_id"]) else str(r["party_id"]))
    if now is None:  # remembered at most until the token expires
        left_s = (pd.Timestamp(r["expires_utc"]) - pd.Timestamp(t)).total_seconds()
        _CACHE.put(token, p, str(r["secret_hash"]), ttl_s=left_s)
    return p


def require_role(p: Principal | None, roles: Iterable[str]) -> str | None:
    """None when ``p`` may go on; else the HTTP problem: 'unauthorized' (no valid token, 401) or 'forbidden'
    (valid token, wrong role, 403)."""
    if p is None:
        return "unauthorized"
    return None if p.role in set(roles) else "forbidden"
