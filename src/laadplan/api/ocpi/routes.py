"""The OCPI endpoints: versions, version details, credentials, and the receiver interfaces of Locations,
Sessions, CDRs and Tariffs (OCPI 2.2.1; 2.1.1 for credentials, Locations, Sessions and CDRs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from laadplan.api.app import config_of, store_for
from laadplan.api.ocpi import credentials as cred
from laadplan.api.ocpi.core import (CLIENT_ERROR, INVALID, OK, UNKNOWN_LOCATION, VERSIONS, OcpiError,
                                    check_party_in_body, envelope, json_body, load_object, module_caller, parse_time,
                                    push, pushed_record, rejected_error, require_object, store_object)

router = APIRouter(tags=["ocpi"])

#: modules per version (the receiver side); credentials is in both
MODULES = {"2.2.1": ("credentials", "locations", "sessions", "cdrs", "tariffs"),
           "2.1.1": ("credentials", "locations", "sessions", "cdrs")}


def base_url(request: Request) -> str:
    return config_of(request).server.public_url.rstrip("/")


def _version(v: str, module: str | None = None) -> str:
    if v not in VERSIONS:
        raise OcpiError(404, CLIENT_ERROR, f"unknown OCPI version {v!r}; this server speaks {', '.join(VERSIONS)}")
    if module is not None and module not in MODULES[v]:
        raise OcpiError(404, CLIENT_ERROR, f"module {module!r} is not offered in OCPI {v}")
    return v


async def _run(request: Request, fn, *args) -> JSONResponse:
    """Run the synchronous handler ``fn(store, ...)`` in the thread pool on the request's own store view."""
    def work():
        with store_for(request) as s:
            return fn(s, *args)

    try:
        return await run_in_threadpool(work)
    except OcpiError as e:
        return e.response()


# -- versions -------------------------------------------------------------------------------------------
@router.get("/ocpi/versions", summary="OCPI versions this receiver speaks")
async def versions(request: Request) -> JSONResponse:
    def fn(store):
        cred.caller_for_versions(request, store)
        return envelope([{"version": v, "url": f"{base_url(request)}/ocpi/{v}"} for v in VERSIONS])
    return await _run(request, fn)


@router.get("/ocpi/{version}", summary="OCPI version details: the endpoints of one version")
async def version_details(request: Request, version: str) -> JSONResponse:
    def fn(store):
        v = _version(version)
        cred.caller_for_versions(request, store)
        b = base_url(request)
        eps = []
        for m in MODULES[v]:
            url = f"{b}/ocpi/{v}/credentials" if m == "credentials" else f"{b}/ocpi/{v}/receiver/{m}"
            if v == "2.2.1":
                roles = ("SENDER", "RECEIVER") if m == "credentials" else ("RECEIVER",)
                eps += [{"identifier": m, "role": r, "url": url} for r in roles]
            else:
                eps.append({"identifier": m, "url": url})
        return envelope({"version": v, "endpoints": eps})
    return await _run(request, fn)


# -- credentials ----------------------------------------------------------------------------------------
@router.get("/ocpi/{version}/credentials", summary="Credentials: the credentials the region holds for the caller")
@router.post("/ocpi/{version}/credentials", summary="Credentials: register (POST with token A)")
@router.put("/ocpi/{version}/credentials", summary="Credentials: update (new token C)")
@router.delete("/ocpi/{version}/credentials", summary="Credentials: unregister")
async def credentials(request: Request, version: str) -> JSONResponse:
    try:
        v = _version(version, "credentials")
        body = None
        if request.method in ("POST", "PUT"):
            body, _ = await json_body(request)
    except OcpiError as e:
        return e.response()
    return await _run(request, cred.handle, request, v, request.method, body)


# -- locations ------------------------------------------------------------------------------------------
_LOC = "/ocpi/{version}/receiver/locations/{country_code}/{party_id}/{location_id}"


@router.get(_LOC, summary="Locations: the stored Location (as the receiver holds it)")
@router.get(_LOC + "/{evse_uid}", summary="Locations: one stored EVSE")
@router.get(_LOC + "/{evse_uid}/{connector_id}", summary="Locations: one stored Connector")
async def location_get(request: Request, version: str, country_code: str, party_id: str, location_id: str,
                       evse_uid: str | None = None, connector_id: str | None = None) -> JSONResponse:
    def fn(store):
        v = _version(version, "locations")
        module_caller(request, store, country_code, party_id, write=False)
        loc = load_object(store, "locations", country_code, party_id, location_id)
        if loc is None:
            raise OcpiError(404, UNKNOWN_LOCATION, f"unknown Location {location_id} of {country_code}*{party_id}")
        obj, what = _child(loc, evse_uid, connector_id)
        if obj is None:
            raise OcpiError(404, UNKNOWN_LOCATION, f"unknown {what} in Location {location_id}")
        return envelope(obj)
    return await _run(request, fn)


@router.put(_LOC, summary="Locations: push or update a Location")
@router.patch(_LOC, summary="Locations: partial update of a Location")
@router.put(_LOC + "/{evse_uid}", summary="Locations: push or update an EVSE")
@router.patch(_LOC + "/{evse_uid}", summary="Locations: partial update of an EVSE")
@router.put(_LOC + "/{evse_uid}/{connector_id}", summary="Locations: push or update a Connector")
@router.patch(_LOC + "/{evse_uid}/{connector_id}", summary="Locations: partial update of a Connector")
async def location_put(request: Request, version: str, country_code: str, party_id: str, location_id: str,
                       evse_uid: str | None = None, connector_id: str | None = None) -> JSONResponse:
    try:
        v = _version(version, "locations")
        body, _ = await json_body(request)
    except OcpiError as e:
        return e.response()
    from laadplan.api.ocpi.locations import put_location

    return await _run(request, put_location, request, v, request.method, country_code, party_id, location_id,
                      evse_uid, connector_id, body)


def _child(loc: dict, evse_uid: str | None, connector_id: str | None) -> tuple[Any, str]:
    if evse_uid is None:
        return loc, "Location"
    evse = next((e for e in loc.get("evses") or [] if isinstance(e, dict) and str(e.get("uid")) == evse_uid), None)
    if evse is None or connector_id is None:
        return evse, f"EVSE {evse_uid}"
    conn = next((c for c in evse.get("connectors") or [] if isinstance(c, dict) and str(c.get("id")) == connector_id),
                None)
    return conn, f"Connector {connector_id} of EVSE {evse_uid}"


async def _push_simple(request: Request, version: str, module: str, method: str, country_code: str, party_id: str,
                       object_id: str) -> JSONResponse:
    """A PUT/PATCH of a Session or Tariff: version and JSON body checked, then stored by :func:`_put_simple`."""
    try:
        v = _version(version, module)
        body, _ = await json_body(request)
    except OcpiError as e:
        return e.response()
    return await _run(request, _put_simple, request, v, module, method, country_code, party_id, object_id, body)


# -- sessions -------------------------------------------------------------------------------------------
_SES = "/ocpi/{version}/receiver/sessions/{country_code}/{party_id}/{session_id}"


@router.get(_SES, summary="Sessions: the stored Session")
async def session_get(request: Request, version: str, country_code: str, party_id: str, session_id: str
                      ) -> JSONResponse:
    return await _run(request, _get_simple, request, version, "sessions", country_code, party_id, session_id)


@router.put(_SES, summary="Sessions: push or update a Session")
@router.patch(_SES, summary="Sessions: partial update of a Session")
async def session_put(request: Request, version: str, country_code: str, party_id: str, session_id: str
                      ) -> JSONResponse:
    return await _push_simple(request, version, "sessions", request.method, country_code, party_id, session_id)


# -- tariffs --------------------------------------------------------------------------------------------
_TAR = "/ocpi/{version}/receiver/tariffs/{country_code}/{party_id}/{tariff_id}"


@router.get(_TAR, summary="Tariffs: the stored Tariff")
async def tariff_get(request: Request, version: str, country_code: str, party_id: str, tariff_id: str
                     ) -> JSONResponse:
    return await _run(request, _get_simple, request, version, "tariffs", country_code, party_id, tariff_id)


@router.put(_TAR, summary="Tariffs: push a Tariff")
async def tariff_put(request: Request, version: str, country_code: str, party_id: str, tariff_id: str
                     ) -> JSONResponse:
    return await _push_simple(request, version, "tariffs", "PUT", country_code, party_id, tariff_id)


@router.delete(_TAR, summary="Tariffs: remove a Tariff (its history in tariff_versions stays)")
async def tariff_delete(request: Request, version: str, country_code: str, party_id: str, tariff_id: str
                        ) -> JSONResponse:
    def fn(store):
        _version(version, "tariffs")
        module_caller(request, store, country_code, party_id, write=True)
        cc, pid = country_code.upper(), party_id.upper()
        with store.transaction():
            n = store.con.execute("DELETE FROM ocpi_objects WHERE module = 'tariffs' AND country_code = ? AND "
                                  "party_id = ? AND object_id = ?", [cc, pid, tariff_id]).fetchone()[0]
            m = store.con.execute("DELETE FROM tariffs WHERE country_code = ? AND party_id = ? AND tariff_id = ?",
                                  [cc, pid, tariff_id]).fetchone()[0]
        if not (n or m):
            raise OcpiError(404, CLIENT_ERROR, f"unknown Tariff {tariff_id} of {cc}*{pid}")
        return envelope(None, OK, "Tariff removed")
    return await _run(request, fn)


# -- CDRs -----------------------------------------------------------------------------------------------
@router.post("/ocpi/{version}/receiver/cdrs", summary="CDRs: push one CDR (answer with its Location header)")
async def cdr_post(request: Request, version: str) -> JSONResponse:
    try:
        v = _version(version, "cdrs")
    except OcpiError as e:
        return e.response()
    from laadplan.api.ocpi.cdrs import post_cdr

    return await post_cdr(request, v, lambda: json_body(request))


class CdrPostRoute:
    """Pure ASGI middleware: ``POST /ocpi/{version}/receiver/cdrs`` handed straight to :func:`cdr_post`, the
    FastAPI route's own handler, without FastAPI's routing (a match against every route), its request
    handling and exception middleware (~0.1-0.2 ms of CPU per POST; one CDR per POST makes that per-CDR
    cost). Same checks, same answers: the handler is the route's; the rate limit, body-size limit and
    request ids run before this (outer middleware); an unexpected error propagates to the app's server
    error handler as it does from the route. Other methods and paths (a trailing slash: FastAPI's redirect)
    go the normal way."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            if path.startswith("/ocpi/") and path.endswith(_CDRS_TAIL):
                version = path[6:-len(_CDRS_TAIL)]
                if version and "/" not in version:
                    response = await cdr_post(Request(scope, receive, send), version)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


_CDRS_TAIL = "/receiver/cdrs"


@router.get("/ocpi/{version}/receiver/cdrs/{country_code}/{party_id}/{cdr_id}", summary="CDRs: one stored CDR")
async def cdr_get(request: Request, version: str, country_code: str, party_id: str, cdr_id: str) -> JSONResponse:
    return await _run(request, _get_simple, request, version, "cdrs", country_code, party_id, cdr_id)


# -- shared handlers ------------------------------------------------------------------------------------
def _add_charging_periods(stored: dict, patch: dict) -> dict:
    """OCPI 2.2.1 Sessions PATCH: "When a PATCH request contains the charging_periods field ..., this SHALL be
    processed as a request to add all the ChargingPeriod objects to the existing Session object. If the
    request charging_periods list is omitted (or contains an empty list), no changes SHALL be made to the
    existing list" (replacing or removing periods takes a PUT). The patch's periods are appended to the stored
    ones, except those already stored as they are (a retried PATCH adds nothing twice). A value that is not a
    list is left for the validator to judge."""
    if "charging_periods" not in patch:
        return patch
    new = patch["charging_periods"]
    if new is None or new == []:
        return {k: x for k, x in patch.items() if k != "charging_periods"}
    old = stored.get("charging_periods")
    if not isinstance(new, list) or not isinstance(old, list):
        return patch
    return {**patch, "charging_periods": old + [p for p in new if p not in old]}


def _get_simple(store, request: Request, version: str, module: str, cc: str, pid: str, oid: str) -> JSONResponse:
    _version(version, module)
    module_caller(request, store, cc, pid, write=False)
    obj = load_object(store, module, cc, pid, oid)
    if obj is None:
        raise OcpiError(404, CLIENT_ERROR, f"unknown {module[:-1].capitalize()} {oid} of {cc.upper()}*{pid.upper()}")
    return envelope(obj)


def _put_simple(store, request: Request, v: str, module: str, method: str, cc: str, pid: str, oid: str,
                body: Any) -> JSONResponse:
    """PUT / PATCH of a Session or a Tariff: merge (PATCH), check the ids, validate and store durably."""
    module_caller(request, store, cc, pid, write=True)
    what = {"sessions": "Session", "tariffs": "Tariff"}[module]
    obj = require_object(body, what)
    check_party_in_body(obj, cc, pid, what)
    lu = parse_time(obj.get("last_updated"))
    if method == "PATCH":
        if "last_updated" not in obj:
            raise OcpiError(400, INVALID, "a PATCH must carry last_updated")
        stored = load_object(store, module, cc, pid, oid)
        if stored is None:
            raise OcpiError(404, CLIENT_ERROR, f"unknown {what} {oid}: PUT the whole object first")
        old = parse_time(stored.get("last_updated"))
        if lu is not None and old is not None and lu < old:
            return envelope(None, OK, f"not applied: the stored {what} is newer ({stored.get('last_updated')})")
        if module == "sessions" and v == "2.2.1":
            obj = _add_charging_periods(stored, obj)
        obj = {**stored, **obj}
    if "id" in obj and str(obj["id"]) != oid:
        raise OcpiError(400, INVALID, f"the {what}'s id {obj['id']!r} is not the id of the URL ({oid!r})")
    obj.setdefault("id", oid)
    rec = [pushed_record(obj, v, cc, pid)]
    text = rec[0].raw
    cfg = config_of(request)

    def ingest(s, name, digest):
        if module == "sessions":
            from laadplan.ingest.ocpi_sessions import ingest_session_records
            return ingest_session_records(s, rec, cfg, name, party=(cc.upper(), pid.upper()), digest=digest)
        from laadplan.ingest.tariffs import ingest_tariff_records
        return ingest_tariff_records(s, rec, cfg, name, digest=digest)

    def after(s, res):
        if res.accepted:
            store_object(s, module, cc, pid, oid, obj, v, lu, s.run_id)

    out = push(store, module, cc, pid, text, ingest, after)
    if out.rejected:
        raise rejected_error(out, what)
    return envelope(None, OK, "Success" if out.changed else "Success (unchanged)")
