"""Locations receiver: PUT/PATCH of a Location, an EVSE or a Connector, merged into the stored Location and
validated whole by the locations ingest (:func:`laadplan.ingest.locations.ingest_location_records`).

OCPI rules: a PATCH carries ``last_updated`` (else 2001); an EVSE or Connector is put into the Location the
receiver holds (unknown Location or EVSE: 2003); an update older than the stored object (its
``last_updated``) changes nothing; the Location's ``last_updated`` becomes the newest of its own and the
changed child's, so the stored Location, its EVSEs and connectors are replaced as one (the ingest's unit is
the Location)."""

from __future__ import annotations

import copy
import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from laadplan.api.app import config_of
from laadplan.api.ocpi.core import (INVALID, OK, UNKNOWN_LOCATION, _TTL, OcpiError, check_party_in_body, envelope,
                                    load_object, module_caller, parse_time, push, pushed_record, rejected_error,
                                    require_object, store_object)
from laadplan.ingest._records import JsonRecord

_AREAS = _TTL(60.0)  # the area index (polygons) of the store, reloaded at most once a minute


def _areas(store):
    from laadplan.ingest.locations import _AreaIndex

    key = store.path
    idx = _AREAS.get(key)
    if idx is None:
        idx = _AreaIndex.load(store)
        _AREAS.put(key, idx)
    return idx


def _newer(a: Any, b: Any) -> Any:
    """The later of two OCPI DateTimes (as given); the one that parses when the other does not."""
    ta, tb = parse_time(a), parse_time(b)
    if ta is None:
        return b
    if tb is None:
        return a
    return a if ta >= tb else b


def _older_than_stored(new: dict, stored: dict | None) -> bool:
    if stored is None:
        return False
    tn, ts = parse_time(new.get("last_updated")), parse_time(stored.get("last_updated"))
    return tn is not None and ts is not None and tn < ts



def _merge_child(items: list, i: int | None, key: str, url_id: str, obj: dict, method: str, label: str,
                 unknown: str) -> dict | None:
    """Apply a PUT/PATCH of an EVSE (``key`` uid) or Connector (``key`` id) to ``items`` at index ``i`` (None:
    not there yet). The object's own key must be the URL's; a PATCH of one that is not there is 404
    (``unknown``). Returns the stored object, unchanged, when the pushed one is older (not applied), else None."""
    if key in obj and str(obj[key]) != url_id:
        raise OcpiError(400, INVALID, f"the {label}'s {key} {obj[key]!r} is not the {key} of the URL ({url_id!r})")
    if i is None and method == "PATCH":
        raise OcpiError(404, UNKNOWN_LOCATION, unknown)
    if i is not None and _older_than_stored(obj, items[i]):
        return items[i]
    new = {**items[i], **obj} if method == "PATCH" else {**obj, key: obj.get(key, url_id)}
    if i is None:
        items.append(new)
    else:
        items[i] = new
    return None

def put_location(store, request: Request, v: str, method: str, cc: str, pid: str, location_id: str,
                 evse_uid: str | None, connector_id: str | None, body: Any) -> JSONResponse:
    module_caller(request, store, cc, pid, write=True)
    what = "Location" if evse_uid is None else ("EVSE" if connector_id is None else "Connector")
    obj = require_object(body, what)
    if method == "PATCH" and "last_updated" not in obj:
        raise OcpiError(400, INVALID, "a PATCH must carry last_updated")
    stored = load_object(store, "locations", cc, pid, location_id)
    if evse_uid is None:
        check_party_in_body(obj, cc, pid, what)
        if "id" in obj and str(obj["id"]) != location_id:
            raise OcpiError(400, INVALID, f"the Location's id {obj['id']!r} is not the id of the URL "
                            f"({location_id!r})")
        if method == "PATCH":
            if stored is None:
                raise OcpiError(404, UNKNOWN_LOCATION, f"unknown Location {location_id}: PUT it whole first")
            if _older_than_stored(obj, stored):
                return _not_applied(what, stored)
            loc = {**stored, **obj}
        else:
            loc = dict(obj)
            loc.setdefault("id", location_id)
    else:
        if stored is None:
            raise OcpiError(404, UNKNOWN_LOCATION, f"unknown Location {location_id} of {cc.upper()}*{pid.upper()}: "
                            f"PUT the Location before its {what}s")
        loc = copy.deepcopy(stored)
        evses = loc.setdefault("evses", [])
        i = next((k for k, e in enumerate(evses) if isinstance(e, dict) and str(e.get("uid")) == evse_uid), None)
        if connector_id is None:
            older = _merge_child(evses, i, "uid", evse_uid, obj, method, "EVSE",
                                 f"unknown EVSE {evse_uid} in Location {location_id}")
            if older is not None:
                return _not_applied(what, older)
        else:
            if i is None:
                raise OcpiError(404, UNKNOWN_LOCATION, f"unknown EVSE {evse_uid} in Location {location_id}")
            evse = evses[i]
            conns = evse.setdefault("connectors", [])
            j = next((k for k, c in enumerate(conns) if isinstance(c, dict) and str(c.get("id")) == connector_id), None)
            older = _merge_child(conns, j, "id", connector_id, obj, method, "Connector",
                                 f"unknown Connector {connector_id} of EVSE {evse_uid}")
            if older is not None:
                return _not_applied(what, older)
            evse["last_updated"] = _newer(evse.get("last_updated"), obj.get("last_updated"))
        loc["last_updated"] = _newer(loc.get("last_updated"), obj.get("last_updated"))
    rec = [pushed_record(loc, v, cc, pid)]
    text = rec[0].raw
    cfg = config_of(request)
    areas = _areas(store)
    statuses = _pushed_statuses(loc, obj, method, cc, pid, location_id, evse_uid, connector_id)

    def ingest(s, name, digest):
        from laadplan.ingest.locations import ingest_location_records
        return ingest_location_records(s, rec, cfg, name, party=(cc.upper(), pid.upper()), digest=digest,
                                       areas=areas)

    def after(s, res):
        if res.accepted:
            store_object(s, "locations", cc, pid, location_id, loc, v, parse_time(loc.get("last_updated")), s.run_id)
            if statuses:
                _record_statuses(s, cfg, cc, pid, statuses)

    out = push(store, "locations", cc, pid, text, ingest, after)
    if out.rejected:
        raise rejected_error(out, what)
    return envelope(None, OK, "Success" if out.changed else "Success (unchanged)")


def _pushed_statuses(loc: dict, body: dict, method: str, cc: str, pid: str, location_id: str,
                     evse_uid: str | None, connector_id: str | None) -> list[dict]:
    """The EVSE statuses this push reports, as the status reader's OCPI EVSE records (the EVSE with its
    ``location_id``, ``country_code``, ``party_id``; no ``last_updated`` of its own: the Location's): the
    pushed EVSE of an EVSE PUT/PATCH that carries ``status``; every EVSE of a Location PUT, or of a Location
    PATCH that carries ``evses``. A Connector push reports no status."""
    if connector_id is not None:
        return []
    if evse_uid is not None:
        if "status" not in body:
            return []
        evses = [e for e in loc.get("evses") or [] if isinstance(e, dict) and str(e.get("uid")) == evse_uid]
    elif method == "PUT" or "evses" in body:
        evses = [e for e in loc.get("evses") or [] if isinstance(e, dict)]
    else:
        return []
    return [{**e, "location_id": location_id, "country_code": cc.upper(), "party_id": pid.upper(),
             "last_updated": e.get("last_updated") or loc.get("last_updated")}
            for e in evses if e.get("status") is not None]


def _record_statuses(store, cfg, cc: str, pid: str, statuses: list[dict]) -> None:
    """Write the pushed statuses to ``status_observations`` through the status reader's own record function
    (:func:`laadplan.ingest.status.ingest_status_records`), as a run of its own (kind ``status``, source the
    party) in the push's transaction, so that status-based occupancy and availability see pushed statuses."""
    import hashlib

    from laadplan.api.ocpi.core import run_id_of, source_of
    from laadplan.ingest.status import ingest_status_records

    name = source_of(cc, pid)
    recs = [JsonRecord(k + 1, e, json.dumps(e, ensure_ascii=False, sort_keys=True)) for k, e in enumerate(statuses)]
    digest = hashlib.sha256("\x1e".join(r.raw for r in recs).encode()).hexdigest()
    outer = store.run_id
    store.run_id = run_id_of(name, "status", digest)
    try:
        ingest_status_records(store, recs, cfg, name, digest=digest)
    finally:
        store.run_id = outer


def _not_applied(what: str, stored: dict) -> JSONResponse:
    return envelope(None, OK, f"not applied: the stored {what} is newer (last_updated {stored.get('last_updated')})")
