"""CDRs receiver: POST of one CDR, validated by the CDR ingest's SQL path
(:func:`laadplan.ingest.cdrs.ingest_cdr_records`) and stored in ``sessions`` (or the quarantine) before the
answer; the answer's ``Location`` header names the stored CDR (``GET .../cdrs/{cc}/{party}/{id}``).

**Group commit** (:mod:`.group`). The POSTs of one party that arrive together are validated as one batch by
``ingest_cdr_records`` - the file ingest's own batch validator, no second rule implementation - as one ingest
run, committed in one transaction; then each request is answered with its own verdict (accepted, or the rules
its record broke). A bad record costs only itself: the validator judges every record on its own, and a group
whose transaction fails for another reason is committed again record by record. Idempotent: the run id is
derived from the group's content (a retried lone CDR finds its run), an accepted CDR pushed again leaves its
session as it is (newer ``last_updated`` wins), and a rejected CDR pushed again keeps one quarantine row per
rule (the older runs' rows of the same raw record of the party go, as :func:`laadplan.ingest.base.log_run`
does for a file read twice).
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from laadplan.api.app import config_of
from laadplan.api.ocpi.core import (OK, RETRIES, SERVER_ERROR, OcpiError, check_party_in_body, envelope,
                                    is_conflict, log, module_caller, parse_time, principal, rejected_error,
                                    require_object, run_id_of, source_of)
from laadplan.api.ocpi.group import GroupCommit
from laadplan.ingest.base import utcnow


@dataclass
class CdrItem:
    """One checked CDR POST waiting for its group commit."""

    version: str
    cc: str
    pid: str
    cdr_id: str | None
    obj: dict
    text: str


@dataclass
class Verdict:
    """What the commit decided for one item: ``rejected`` rows (rule code, message) or accepted; ``changed``
    when this run wrote the session (else it was already stored as it is)."""

    rejected: list[dict] = field(default_factory=list)
    changed: bool = False


class _NeedStore(Exception):
    """The request's checks need the store (a token not in the cache): run them in the thread pool."""


class _NoStore:
    def __getattr__(self, name: str) -> Any:
        raise _NeedStore


def check_cdr(store: Any, request: Request, v: str, body: Any, text: str) -> CdrItem:
    """The caller's right to push this CDR and its party, as an item to commit (OCPI errors otherwise).
    With ``store`` a :class:`_NoStore`, only the token caches are used (:class:`_NeedStore` on a miss)."""
    obj = require_object(body, "CDR")
    p = principal(request, store)
    cc = obj.get("country_code") if isinstance(obj.get("country_code"), str) else p.country_code
    pid = obj.get("party_id") if isinstance(obj.get("party_id"), str) else p.party_id
    module_caller(request, store, cc or "", pid or "", write=True, caller=p)
    check_party_in_body(obj, cc, pid, "CDR")
    if v == "2.1.1" and ("country_code" not in obj or "party_id" not in obj):
        # a 2.1.1 CDR need not carry its party: it is the token's
        obj = {**obj, "country_code": cc, "party_id": pid}
        text = json.dumps(obj, ensure_ascii=False)
    cdr_id = obj.get("id")
    cdr_id = str(cdr_id) if isinstance(cdr_id, (str, int)) and not isinstance(cdr_id, bool) else None
    return CdrItem(v, cc.upper(), pid.upper(), cdr_id, obj, text)


_GROUPS_LOCK = threading.Lock()


def group_commit_of(request: Request) -> GroupCommit:
    """The app's CDR group commit (one worker; one store view for all its groups, made again after an error)."""
    app = request.app
    g = getattr(app.state, "ocpi_cdr_group", None)
    if g is None:
        with _GROUPS_LOCK:
            g = getattr(app.state, "ocpi_cdr_group", None)
            if g is None:
                store, cfg = app.state.store, app.state.config
                # one store view for all groups (one worker at a time uses it): its statements are prepared
                # once (see laadplan.ingest.cdrs.prepare_cdr_batches); made again after a group with an error
                view: list = []

                def commit(items: list[CdrItem]) -> list[Verdict | BaseException]:
                    s = view.pop() if view else store.cursor()
                    ok = False
                    try:
                        out = commit_groups(s, cfg, items)
                        ok = not any(isinstance(v, BaseException) for v in out)
                        return out
                    finally:
                        if ok:
                            view.append(s)
                        else:
                            s.close()

                g = app.state.ocpi_cdr_group = GroupCommit(commit, name="ocpi-cdr-group-commit")
    return g


async def post_cdr(request: Request, v: str, read_body) -> JSONResponse:
    """POST a CDR: check it (token caches in the event loop, the store only on a cache miss), queue it for
    the group commit, answer with its own verdict after the commit."""
    group = group_commit_of(request)
    with group.arriving():
        try:
            body, text = await read_body()
            try:
                item = check_cdr(_NoStore(), request, v, body, text)
            except _NeedStore:
                item = await run_in_threadpool(_check_with_store, request, v, body, text)
        except OcpiError as e:
            return e.response()
        fut = group.submit_async(item)
    try:
        verdict: Verdict = await fut
    except OcpiError as e:
        return e.response()
    if verdict.rejected:
        return rejected_error(verdict, f"CDR {item.cdr_id}").response()
    url = (f"{config_of(request).server.public_url.rstrip('/')}/ocpi/{v}/receiver/cdrs/"
           f"{quote(item.cc, safe='')}/{quote(item.pid, safe='')}/{quote(item.cdr_id or '', safe='')}")
    return envelope(None, OK, "Success" if verdict.changed else "Success (unchanged)", headers={"Location": url})


_MISS_LOCKS: dict[str, threading.Lock] = {}


def _check_with_store(request: Request, v: str, body: Any, text: str) -> CdrItem:
    """The checks with the store, one request per token at a time: when the token's cache entry has ended, the
    concurrent requests of its client would otherwise each verify it (scrypt, memory-hard) at once; the first
    verifies, the others then find it in the cache."""
    key = hashlib.sha256((request.headers.get("authorization") or "").encode()).hexdigest()
    with _GROUPS_LOCK:
        if len(_MISS_LOCKS) > 10_000:
            _MISS_LOCKS.clear()
        lock = _MISS_LOCKS.setdefault(key, threading.Lock())
    with lock:
        try:
            return check_cdr(_NoStore(), request, v, body, text)
        except _NeedStore:
            pass
        s = request.app.state.store.cursor()
        try:
            return check_cdr(s, request, v, body, text)
        finally:
            s.close()


# -- the commit -------------------------------------------------------------------------------------------
def commit_groups(store, cfg, items: list[CdrItem]) -> list[Verdict | BaseException]:
    """Commit ``items`` (of any parties): one run per party; a party's group that fails (not a conflict) is
    committed again item by item, so that a record that breaks the commit fails alone."""
    out: list[Verdict | BaseException | None] = [None] * len(items)
    by_party: dict[tuple[str, str], list[int]] = {}
    for i, it in enumerate(items):
        by_party.setdefault((it.cc, it.pid), []).append(i)
    for (cc, pid), idx in by_party.items():
        try:
            for i, vd in zip(idx, commit_cdrs(store, cfg, cc, pid, [items[i] for i in idx])):
                out[i] = vd
        except Exception as e:  # noqa: BLE001 - split the group so one record cannot sink the others
            if len(idx) == 1:
                out[idx[0]] = e
                continue
            log.warning("OCPI CDR group of %d for %s*%s failed (%s); committing its records one by one",
                        len(idx), cc, pid, str(e).splitlines()[0][:160] if str(e) else type(e).__name__)
            for i in idx:
                try:
                    out[i] = commit_cdrs(store, cfg, cc, pid, [items[i]])[0]
                except Exception as e1:  # noqa: BLE001
                    out[i] = e1
    return out  # type: ignore[return-value]


def _id_part(v: str) -> str:
    return v.replace("\\", "\\\\").replace("*", "\\*")


def session_id_of(it: CdrItem) -> str | None:
    """The session id the CDR ingest gives this CDR (``CC*PARTY*id``, parts escaped), for the answer."""
    cc, pid = it.obj.get("country_code"), it.obj.get("party_id")
    if it.cdr_id is None or not isinstance(cc, str) or not isinstance(pid, str):
        return None
    return f"{_id_part(cc)}*{_id_part(pid)}*{_id_part(it.cdr_id)}"


def commit_cdrs(store, cfg, cc: str, pid: str, items: list[CdrItem]) -> list[Verdict]:
    """Validate and store the CDRs of one party as one ingest run in one transaction (retried on a write
    conflict); one verdict per item, in order."""
    import duckdb

    from laadplan.ingest.cdrs import forget_prepared, ingest_cdr_records, prepare_cdr_batches

    name = source_of(cc, pid)
    texts = [it.text for it in items]
    content = texts[0] if len(texts) == 1 else "\x1e".join(texts)
    digest = hashlib.sha256(content.encode()).hexdigest()
    run_id = run_id_of(name, "cdrs", digest)
    records = [(k + 1, t) for k, t in enumerate(texts)]
    safe = False  # True: store the objects without the hint that their keys are new (see below)
    for attempt in range(RETRIES):
        try:
            prepare_cdr_batches(store, cfg)  # the small-batch path's statements, before the transaction
            store.run_id = run_id
            with store.transaction():
                res = ingest_cdr_records(store, records, cfg, name, digest=digest)
                bad: dict[int, list[dict]] = {}
                if res.quarantined:
                    for pos, code, msg in store.con.execute(
                            "SELECT position, rule_code, message FROM quarantine WHERE run_id = ? "
                            "ORDER BY position, rule_code", [run_id]).fetchall():
                        bad.setdefault(int(pos), []).append({"rule_code": code, "message": msg})
                    # a bad record pushed again (in another group) keeps one row per rule: the newest run's
                    store.con.execute(
                        "DELETE FROM quarantine WHERE kind = 'cdrs' AND source_file = ? AND run_id <> ? AND raw IN "
                        "(SELECT raw FROM quarantine WHERE run_id = ?)", [name, run_id, run_id]).fetchall()
                ok = [k for k in range(len(items)) if (k + 1) not in bad]
                objs = [items[k] for k in ok if items[k].cdr_id is not None]
                ups = res.upserts["sessions"]
                if objs:
                    # no accepted CDR had a stored session (every one was inserted): their objects are new too
                    _store_objects(store, cc, pid, objs, run_id,
                                   new_keys=not safe and not ups.updated and not ups.unchanged)
                if ok and not ups.unchanged:  # every accepted record's session was written by this run
                    changed = set(ok)
                elif ok and (ups.inserted or ups.updated):
                    written = {r[0] for r in store.con.execute(
                        "SELECT session_id FROM sessions WHERE run_id = ?", [run_id]).fetchall()}
                    changed = {k for k in ok if session_id_of(items[k]) in written}
                else:
                    changed = set()
            return [Verdict(bad.get(k + 1, []), k in changed) for k in range(len(items))]
        except Exception as e:  # noqa: BLE001 - a conflict is retried, anything else goes up
            if not safe and isinstance(e, duckdb.ConstraintException):
                # an object was stored without its session (removed since): the group again, objects upserted
                log.info("OCPI CDR group of %d for %s: a pushed object is stored without its session; storing "
                         "the objects with an upsert", len(items), name)
                safe = True
                forget_prepared(store)  # (the rolled-back transaction had filled its TEMP tables)
                continue
            if not is_conflict(e):
                raise
            log.info("OCPI CDR group of %d for %s: transaction conflict (attempt %d): %s", len(items), name,
                     attempt + 1, str(e).splitlines()[0][:160])
            time.sleep(random.uniform(0.002, 0.02) * (attempt + 1))
        finally:
            store.run_id = None
    raise OcpiError(503, SERVER_ERROR, "the store is busy with a conflicting update of the same records; try "
                    "again", headers={"Retry-After": "1"})


def _store_objects(store, cc: str, pid: str, items: list[CdrItem], run_id: str, *, new_keys: bool = False) -> None:
    """Keep the accepted CDRs' JSON in ``ocpi_objects`` with :meth:`Store.upsert`'s semantics (a stored object
    is replaced only by a newer ``last_updated``; within the group the newest wins, the first on ties), through
    :meth:`Store.put_rows` (one statement; on PostgreSQL the primary key's index finds the stored keys, where
    ``ocpi_objects`` grows by a row per pushed CDR). ``new_keys``: none is stored (a plain INSERT on DuckDB,
    whose ON CONFLICT reads every stored key: 49 against 5.7 ms for 128 objects at 1 M stored)."""
    now = utcnow()
    store.put_rows("ocpi_objects", [{
        "module": "cdrs", "country_code": cc, "party_id": pid, "object_id": it.cdr_id, "version": it.version,
        "object_json": it.text,  # (the body as received: read back with json.loads, see load_object)
        "last_updated_utc": parse_time(it.obj.get("last_updated")), "received_utc": now, "run_id": run_id}
        for it in items], new_keys=new_keys)


__all__ = ["post_cdr", "commit_cdrs", "commit_groups", "check_cdr", "CdrItem", "Verdict"]
