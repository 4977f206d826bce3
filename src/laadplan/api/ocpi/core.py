"""What every OCPI endpoint shares: the response envelope, errors, the caller's party, the request body and
the durable push (validate with the ingest's own functions, commit, then answer).

**Durable before success.** A pushed record is validated and stored (or quarantined) inside one store
transaction, together with its ``ingest_runs`` row and, when accepted, its JSON in ``ocpi_objects``; the
answer is sent after the COMMIT returned. A killed server loses nothing it acknowledged.

**Idempotent.** A push is one ingest run whose id is derived from the party, the module and the content
(SHA-256): the same record sent again finds its run, its rows and its quarantine rows already there and
changes nothing; an older ``last_updated`` never replaces a newer one (the store's newer-wins upsert).

**Conflicts.** Two requests writing the same rows at once may make DuckDB refuse one transaction
("conflict"): it is retried up to :data:`RETRIES` times with a short random back-off, then answered OCPI
3000 / HTTP 503 (never a 500).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import pandas as pd
from fastapi import Request
from fastapi.responses import JSONResponse

from laadplan.api import auth
from laadplan.ingest._io import PUSH_PREFIX
from laadplan.ingest._records import JsonRecord
from laadplan.ingest.base import IngestResult, utcnow
from laadplan.store import Store, key_filter

log = logging.getLogger("laadplan.api.ocpi")

VERSIONS = ("2.2.1", "2.1.1")
RETRIES = 6

# OCPI status codes
OK = 1000
CLIENT_ERROR = 2000
INVALID = 2001
NOT_ENOUGH = 2002
UNKNOWN_LOCATION = 2003
SERVER_ERROR = 3000
CLIENT_API = 3001


def now_text() -> str:
    """The current UTC time as OCPI writes it: ``2026-12-07T12:30:00.123Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"  # (strftime is slower)


def envelope(data: Any = None, code: int = OK, message: str = "Success", http: int = 200,
             headers: dict | None = None) -> JSONResponse:
    """The OCPI response: ``{data, status_code, status_message, timestamp}`` (data left out when None)."""
    body: dict[str, Any] = {}
    if data is not None:
        body["data"] = data
    body.update(status_code=code, status_message=message, timestamp=now_text())
    return JSONResponse(body, status_code=http, headers=headers)


class OcpiError(Exception):
    """Answered as an OCPI envelope with ``code`` and HTTP ``http`` (no data of anyone)."""

    def __init__(self, http: int, code: int, message: str, data: Any = None, headers: dict | None = None):
        super().__init__(message)
        self.http, self.code, self.message, self.data, self.headers = http, code, message, data, headers

    def response(self) -> JSONResponse:
        return envelope(self.data, self.code, self.message, self.http, self.headers)


def party_text(cc: str, pid: str) -> str:
    return f"{cc.upper()}*{pid.upper()}"


def source_of(cc: str, pid: str) -> str:
    """The ingest source name of a party's pushes (``ocpi-push:NL*EQU``), as ``laadplan quality`` shows it."""
    return PUSH_PREFIX + party_text(cc, pid)


# -- the caller ------------------------------------------------------------------------------------------
class _TTL:
    """A tiny per-process cache with expiry (token A state of a token id)."""

    def __init__(self, seconds: float) -> None:
        self.s = seconds
        self._d: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, k: str) -> Any:
        with self._lock:
            e = self._d.get(k)
            return e[1] if e and e[0] > time.monotonic() else None

    def put(self, k: str, v: Any) -> None:
        with self._lock:
            if len(self._d) > 10_000:
                self._d.clear()
            self._d[k] = (time.monotonic() + self.s, v)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


_TOKEN_A = _TTL(auth.CACHE_S)


def token_of(request: Request) -> str | None:
    return auth.parse_authorization(request.headers.get("authorization"))


def principal(request: Request, store: Store) -> auth.Principal:
    """The caller; OCPI 2000 / HTTP 401 without a valid token (unknown, expired, revoked)."""
    p = auth.verify_token(store, token_of(request))
    if p is None:
        raise OcpiError(401, CLIENT_ERROR, "a valid token is needed (Authorization: Token <token>); this one is "
                        "missing, unknown, expired or revoked", headers={"WWW-Authenticate": "Token"})
    return p


def is_token_a(store: Store, token_id: str) -> bool:
    """True when ``token_id`` is a party's token A (valid for the credentials exchange only)."""
    hit = _TOKEN_A.get(token_id)
    if hit is None:
        hit = bool(store.con.execute("SELECT count(*) FROM ocpi_parties WHERE token_a_id = ?",
                                     [token_id]).fetchone()[0])
        _TOKEN_A.put(token_id, hit)
    return hit


def module_caller(request: Request, store: Store, cc: str, pid: str, *, write: bool,
                  caller: auth.Principal | None = None) -> auth.Principal:
    """The caller of a module endpoint for the objects of party ``cc``/``pid``: an operator token (token C)
    of that party; for reading also a region token. Else 401 (no valid token) or 403 (no data). ``caller``:
    the request's :func:`principal`, when the caller has it already (else it is looked up)."""
    p = caller if caller is not None else principal(request, store)
    if p.role == "region" and not write:
        return p
    if p.role != "operator":
        raise OcpiError(403, CLIENT_ERROR, f"a {p.role} token may not {'push' if write else 'read'} OCPI "
                        f"objects; an operator pushes with its own token")
    if is_token_a(store, p.token_id):
        raise OcpiError(403, CLIENT_ERROR, "this is a registration token (token A): it is valid for the "
                        "credentials module only; register (POST credentials) and use token C")
    if not p.owns_party(cc, pid):
        raise OcpiError(403, CLIENT_ERROR, f"the token of party {party_text(p.country_code or '', p.party_id or '')}"
                        f" may not {'write' if write else 'read'} objects of party {party_text(cc, pid)}")
    return p


# -- the body ---------------------------------------------------------------------------------------------
async def json_body(request: Request) -> tuple[Any, str]:
    """(parsed JSON, text) of the request body; OCPI 2001 for a wrong content type or malformed JSON."""
    ct = request.headers.get("content-type")
    if ct and "json" not in ct.lower():
        raise OcpiError(415, INVALID, f"Content-Type must be application/json, not {ct.split(';')[0]!r}")
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
        return json.loads(text), text
    except UnicodeDecodeError:
        raise OcpiError(400, INVALID, "the body is not UTF-8 text") from None
    except RecursionError:
        raise OcpiError(400, INVALID, "malformed JSON: nested too deeply") from None
    except ValueError as e:
        raise OcpiError(400, INVALID, f"malformed JSON: {str(e)[:200]}") from None


def require_object(obj: Any, what: str) -> dict:
    if not isinstance(obj, dict):
        raise OcpiError(400, INVALID, f"the body must be one {what} JSON object, got {type(obj).__name__}")
    return obj


def check_party_in_body(obj: dict, cc: str, pid: str, what: str) -> None:
    """The body's country_code/party_id (when given) must be the URL's (and so the token's)."""
    for k, v in (("country_code", cc), ("party_id", pid)):
        got = obj.get(k)
        if got is not None and (not isinstance(got, str) or got.upper() != v.upper()):
            raise OcpiError(403, CLIENT_ERROR, f"the {what}'s {k} {got!r} is not the party of the URL and token "
                            f"({party_text(cc, pid)})")


# -- the durable push -------------------------------------------------------------------------------------
@dataclass
class Outcome:
    result: IngestResult
    rejected: list[dict] = field(default_factory=list)
    changed: bool = False


def run_id_of(*parts: str) -> str:
    return "ocpi-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def is_conflict(e: BaseException) -> bool:
    import duckdb

    m = str(e).lower()
    return isinstance(e, duckdb.TransactionException) or "conflict" in m or "could not serialize" in m


def push(store: Store, kind: str, cc: str, pid: str, content: str,
         ingest: Callable[[Store, str, str], IngestResult],
         after: Callable[[Store, IngestResult], None] | None = None) -> Outcome:
    """Validate and store one pushed record as one ingest run, committed before returning.

    ``ingest(store, source_name, digest)`` runs the ingest's own record function; ``after(store, result)``
    adds what else belongs to the same transaction (the object's JSON). Returns the outcome with the
    quarantine rows (rule code and message) when the record was rejected."""
    name = source_of(cc, pid)
    digest = hashlib.sha256(content.encode()).hexdigest()
    run_id = run_id_of(name, kind, digest)
    for attempt in range(RETRIES):
        try:
            store.run_id = run_id
            with store.transaction():
                where, params = key_filter(store.backend, {"run_id": run_id})  # (by the key's index)
                before = store.con.execute(f"SELECT count(*) FROM ingest_runs WHERE {where}", params).fetchone()[0]
                res = ingest(store, name, digest)
                if after is not None:
                    after(store, res)
                rejected: list[dict] = []
                if res.quarantined:
                    rejected = [{"rule_code": r[0], "message": r[1]} for r in store.con.execute(
                        "SELECT rule_code, message FROM quarantine WHERE run_id = ? ORDER BY position, rule_code",
                        [run_id]).fetchall()]
            ups = res.upserts.values()
            changed = not before or any(u.inserted or u.updated for u in ups)
            return Outcome(res, rejected, changed)
        except Exception as e:  # noqa: BLE001 - a conflict is retried, anything else goes up
            if not is_conflict(e):
                raise
            log.info("OCPI push %s %s: transaction conflict (attempt %d): %s", kind, name, attempt + 1,
                     str(e).splitlines()[0][:160])
            time.sleep(random.uniform(0.002, 0.02) * (attempt + 1))
        finally:
            store.run_id = None
    raise OcpiError(503, SERVER_ERROR, "the store is busy with a conflicting update of the same records; try "
                    "again", headers={"Retry-After": "1"})


def rejected_error(out: Outcome, what: str) -> OcpiError:
    """OCPI 2001 naming every rule the record broke (it is in the quarantine, committed)."""
    codes = sorted({r["rule_code"] for r in out.rejected})
    msg = f"{what} rejected by rule(s) {', '.join(codes)}: " + "; ".join(r["message"] for r in out.rejected)
    return OcpiError(400, INVALID, msg[:2000], data={"rule_codes": codes, "messages": [
        r["message"] for r in out.rejected]})


def store_object(store: Store, module: str, cc: str, pid: str, object_id: str, obj: dict, version: str,
                 last_updated: Any, run_id: str | None) -> None:
    """Keep the accepted object's JSON (newer last_updated wins, as everywhere in the store), through
    :meth:`Store.put_rows` as the CDR receiver does: on PostgreSQL the generic upsert read all of ``ocpi_objects``
    per push (100 ms per object at 200,000 stored objects; now 2.5 ms)."""
    store.put_rows("ocpi_objects", [{
        "module": module, "country_code": cc.upper(), "party_id": pid.upper(), "object_id": object_id,
        "version": version, "object_json": json.dumps(obj, ensure_ascii=False, separators=(",", ":")),
        "last_updated_utc": pd.Timestamp(last_updated) if last_updated is not None else pd.NaT,
        "received_utc": utcnow(), "run_id": run_id}])


def load_object(store: Store, module: str, cc: str, pid: str, object_id: str) -> dict | None:
    """A stored OCPI object's JSON by its key (None when not stored), through :func:`laadplan.store.key_filter`:
    on PostgreSQL the primary key's index answers (1 ms at 1 M objects; with ``=`` filters ~200 ms, the whole
    table read); on DuckDB ``=`` filters (28 ms there; lists cost 116 ms)."""
    where, params = key_filter(store.backend, {"module": module, "country_code": cc.upper(),
                                               "party_id": pid.upper(), "object_id": object_id})
    r = store.con.execute(f"SELECT object_json FROM ocpi_objects WHERE {where}", params).fetchone()
    return json.loads(r[0]) if r else None


def parse_time(v: Any) -> datetime | None:
    """OCPI DateTime -> naive UTC; None when absent or unreadable."""
    from laadplan.ingest.ocpi import _to_utc_naive

    try:
        d = _to_utc_naive(v)
    except ValueError:
        return None
    return d if isinstance(d, datetime) else None


def pushed_record(obj: dict, version: str, cc: str, pid: str) -> JsonRecord:
    """A pushed object as the one record of its ingest batch. In 2.2.1 the URL's party fills ``country_code``
    and ``party_id`` when the object lacks them; the text is canonical JSON (sorted keys), so a retried push
    has the same digest."""
    if version == "2.2.1":
        obj.setdefault("country_code", cc.upper())
        obj.setdefault("party_id", pid.upper())
    return JsonRecord(1, obj, json.dumps(obj, ensure_ascii=False, sort_keys=True))
