"""The read API ``/api/v1``: what laadplan knows, as JSON (lists paged) and GeoJSON (map layers).

Every figure comes from the function the CLI command calls (``laadplan kpi`` -> :func:`kpi_table`,
``laadplan quality`` -> :func:`quality_tables`, ``laadplan load`` -> :func:`load_run`, ``laadplan contract`` ->
:func:`compute_contract` without writing), or from the table that command stores (plan sites, requests and
their decisions, forecast need, corridors, hubs, alerts), so the API and ``--json`` show the same numbers.

Scopes are applied here, on the server, to every list, filter, page and id (see :data:`ROLES_OF`):

* ``region`` reads everything;
* ``gemeente`` reads only records of its own ``gm_code`` (areas, locations, KPIs, hour-of-week profiles,
  forecast, plan, requests, contract KPIs, alerts, its report); asking for another gemeente is 403;
* ``netbeheerder`` reads areas, the plan, congestion (capacity map areas), forecast need and load profiles;
* ``operator`` reads only its own party's records (its locations, their KPIs, its quarantined records, its
  contract KPIs and alerts).

A role that may not read an endpoint at all gets 403 and no data. Expensive results (KPIs, load profiles,
contract KPIs, reports) are computed once per store version (:func:`store_version`: the latest ingest run
and the row counts of the tables they read) and served from a small in-process cache after that.
"""

from __future__ import annotations

import functools
import json
import math
import re
import tempfile
import threading
import time
from collections import OrderedDict
from datetime import date
from pathlib import Path
from typing import Any, Callable, Literal

import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse

from laadplan.api import auth
from laadplan.api.app import config_of, get_store, require
from laadplan.store import Store, key_filter

PREFIX = "/api/v1"

#: the roles that may read each endpoint family
ROLES_OF: dict[str, tuple[str, ...]] = {
    "areas": ("region", "gemeente", "netbeheerder"),
    "locations": ("region", "gemeente", "operator"),
    "kpi": ("region", "gemeente", "operator"),
    "quality": ("region", "operator"),
    "forecast": ("region", "gemeente", "netbeheerder"),
    "load": ("region", "netbeheerder"),
    "congestion": ("region", "netbeheerder"),
    "plan": ("region", "gemeente", "netbeheerder"),
    "requests": ("region", "gemeente"),
    "logistics": ("region", "netbeheerder"),
    "contract": ("region", "gemeente", "operator"),
    "alerts": ("region", "gemeente", "operator"),
    "report": ("region", "gemeente"),
}

GM_RE = re.compile(r"^GM\d{4}$")
BU_RE = re.compile(r"^BU\d{8}$")
_ERRORS = {401: {"description": "No valid token (missing, unknown, expired or revoked)"},
           403: {"description": "The token's role or scope may not read this; no data"},
           422: {"description": "A malformed query parameter; the body names it"},
           429: {"description": "Rate limit of the token reached; see Retry-After"}}


# -- principal and scope -------------------------------------------------------------------------------------
def reader(family: str):
    """Dependency: the principal, when its role may read ``family`` (401 without a valid token, 403 otherwise)."""
    return require(*ROLES_OF[family], what=f"read {family}")


def scoped_gm(p: auth.Principal, gm: str | None) -> str | None:
    """The gemeente filter to apply: a gemeente token always its own (another one asked for is 403)."""
    if gm is not None and not GM_RE.match(gm):
        raise HTTPException(422, f"gm must be a CBS gemeente code like GM0599, not {gm!r}")
    if p.role == "gemeente":
        if gm is not None and gm != p.gm_code:
            raise HTTPException(403, f"this token reads gemeente {p.gm_code} only")
        return p.gm_code
    return gm


def check_bu(bu: str | None) -> str | None:
    if bu is not None and not BU_RE.match(bu):
        raise HTTPException(422, f"bu must be a CBS buurt code like BU05990101, not {bu!r}")
    return bu


def parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    """``min_lon,min_lat,max_lon,max_lat`` (WGS84) -> a tuple; 422 with the reason otherwise."""
    if bbox is None:
        return None
    parts = bbox.split(",")
    try:
        vals = tuple(float(v) for v in parts)
    except ValueError:
        vals = ()
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
        raise HTTPException(422, f"bbox must be four numbers min_lon,min_lat,max_lon,max_lat, not {bbox!r}")
    x0, y0, x1, y1 = vals
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise HTTPException(422, "bbox must have min_lon <= max_lon within -180..180 and min_lat <= max_lat "
                                 "within -90..90")
    return vals


def parse_day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"{name} must be a date YYYY-MM-DD, not {value!r}") from None


def day_range(date_from: str | None, date_to: str | None) -> tuple[date | None, date | None]:
    start, end = parse_day(date_from, "from"), parse_day(date_to, "to")
    if start and end and end < start:
        raise HTTPException(422, f"to {end} is before from {start}")
    return start, end


# -- paging and JSON ---------------------------------------------------------------------------------------
class Page:
    """``limit``/``offset`` query parameters (limit up to ``server.page_size_max``)."""

    def __init__(self, request: Request,
                 limit: int | None = Query(None, ge=1, description="Items per page [default: "
                                           "server.page_size_default; at most server.page_size_max]"),
                 offset: int = Query(0, ge=0, le=10**9, description="Items to skip")) -> None:
        srv = config_of(request).server
        if limit is not None and limit > srv.page_size_max:
            raise HTTPException(422, f"limit must be at most {srv.page_size_max}, not {limit}")
        self.limit = limit or srv.page_size_default
        self.offset = offset

    def meta(self, total: int) -> dict:
        nxt = self.offset + self.limit
        return {"total": total, "limit": self.limit, "offset": self.offset,
                "next_offset": nxt if nxt < total else None}


def records(df: pd.DataFrame) -> list[dict]:
    """Rows as the CLI's ``--json`` writes them (floats to 9 decimals, ISO times, NaN as null)."""
    from laadplan.commands.common import frame_records

    return frame_records(df)


def as_cli_json(obj: Any) -> Any:
    """``obj`` as ``emit_json`` (the CLI's ``--json``) writes it: floats to 9 decimals, others as text."""
    from laadplan.commands.common import tidy_floats

    return json.loads(json.dumps(tidy_floats(obj), ensure_ascii=False, default=str))


def paged(df: pd.DataFrame, page: Page, **extra: Any) -> dict:
    part = df.iloc[page.offset: page.offset + page.limit]
    return {**extra, **page.meta(len(df)), "items": records(part)}


def feature_collection(df: pd.DataFrame, page: Page, *, geometry: Callable[[dict], dict | None] | None = None,
                       drop: tuple[str, ...] = (), **extra: Any) -> dict:
    """GeoJSON FeatureCollection of a page of ``df``: a Point from ``lon``/``lat`` (or ``geometry(row)``),
    every other column in ``properties``; paging members beside ``features``."""
    part = df.iloc[page.offset: page.offset + page.limit]
    feats = []
    geoms = part["_geometry"].tolist() if "_geometry" in part.columns else None
    rows = records(part.drop(columns=[c for c in ("_geometry", *drop) if c in part.columns]))
    for i, row in enumerate(rows):
        if geoms is not None and geoms[i] is not None:
            geom = geoms[i]
        elif row.get("lon") is not None and row.get("lat") is not None:
            geom = {"type": "Point", "coordinates": [row["lon"], row["lat"]]}
        else:
            geom = None
        feats.append({"type": "Feature", "geometry": geom, "properties": row})
    return {"type": "FeatureCollection", **extra, **page.meta(len(df)), "features": feats}


def in_bbox(df: pd.DataFrame, bbox, lon: str = "lon", lat: str = "lat") -> pd.DataFrame:
    if bbox is None:
        return df
    x0, y0, x1, y1 = bbox
    return df[df[lon].between(x0, x1) & df[lat].between(y0, y1)]


# -- cache per store version --------------------------------------------------------------------------------
_VERSION_TABLES = ("ingest_runs", "locations", "evses", "sessions", "status_observations", "areas", "plan_sites",
                   "requests", "forecast_need", "alerts", "tariffs", "connectors", "quarantine", "site_events")


#: seconds a store version is trusted before it is read again (a push shows in the API within this time)
VERSION_TTL_S = 1.0
_VERSIONS: dict[str, tuple[float, tuple]] = {}
_VERSION_LOCK = threading.Lock()
_TABLES_SEEN: set[tuple[str, str]] = set()


def has_table(store: Store, name: str) -> bool:
    """``store.has_table`` remembered once true (tables are not dropped while the server runs)."""
    key = (store.path, name)
    if key in _TABLES_SEEN:
        return True
    if store.has_table(name):
        _TABLES_SEEN.add(key)
        return True
    return False


_REFRESHING: set[str] = set()


def store_version(store: Store, max_age_s: float = VERSION_TTL_S) -> tuple:
    """What the cached results depend on: the latest ingest run and the row counts of the tables read (an
    OCPI push or a new plan changes a count). Read at most once per ``max_age_s`` per process: while one
    request re-reads it, the others go on with the version read before (no pile-up of the same query)."""
    now = time.monotonic()
    with _VERSION_LOCK:
        seen = _VERSIONS.get(store.path)
        if seen is not None and (now - seen[0] < max_age_s or store.path in _REFRESHING):
            return seen[1]
        _REFRESHING.add(store.path)
    try:
        present = [t for t in _VERSION_TABLES if has_table(store, t)]
        v: tuple = ()
        if present:
            sql = ", ".join(f"(SELECT count(*) FROM {t}) AS {t}" for t in present)
            if "ingest_runs" in present:
                sql += (", (SELECT max(run_id) FROM ingest_runs WHERE finished_utc = "
                        "(SELECT max(finished_utc) FROM ingest_runs)) AS last_run")
            v = tuple(str(x) for x in store.query("SELECT " + sql).iloc[0].tolist())
        with _VERSION_LOCK:
            _VERSIONS[store.path] = (now, v)
    finally:
        with _VERSION_LOCK:
            _REFRESHING.discard(store.path)
    return v


def fresh_version(path: str, max_age_s: float = VERSION_TTL_S) -> tuple | None:
    """The store version read less than ``max_age_s`` ago, without touching the store; None when due."""
    with _VERSION_LOCK:
        seen = _VERSIONS.get(path)
    return seen[1] if seen is not None and time.monotonic() - seen[0] < max_age_s else None


#: seconds a result of an older store version may still be served while its successor is being computed
STALE_S = 30.0


class VersionCache:
    """Results keyed by (what, parameters, store version); one computation per key at a time, at most
    ``size`` entries (least recently used dropped).

    **No queue behind a recomputation.** With ``latest`` (the key without its version): while one request
    computes the result of a new store version, the others asking for it are answered with the previous
    version's result (when at most :data:`STALE_S` old) instead of waiting. While the operator pushes CDRs
    the store version changes every second; before, every reader of a gemeente's KPIs queued behind its
    recomputation each second (their p99 was the KPI's compute time). A client that reads after its own
    change still gets the new result (its request is the one that computes, or finds it computed)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._data: OrderedDict[tuple, Any] = OrderedDict()
        self._busy: dict[tuple, threading.Lock] = {}
        self._latest: dict[tuple, tuple[Any, float]] = {}  # latest -> (value, computed at)
        self.hits = self.misses = self.stale = 0

    def peek(self, key: tuple, *, latest: tuple | None = None) -> Any:
        """What :meth:`get` would answer without computing or waiting: the value of ``key``, or while another
        request computes it the previous version's (as :meth:`get`); None otherwise."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            lk = self._busy.get(key)
            old = self._latest.get(latest) if latest is not None else None
            if lk is not None and lk.locked() and old is not None and time.monotonic() - old[1] <= STALE_S:
                self.stale += 1
                return old[0]
        return None

    def get(self, key: tuple, compute: Callable[[], Any], *, latest: tuple | None = None) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            lk = self._busy.setdefault(key, threading.Lock())
            old = self._latest.get(latest) if latest is not None else None
        if old is not None and time.monotonic() - old[1] <= STALE_S and not lk.acquire(blocking=False):
            with self._lock:
                self.stale += 1
            return old[0]  # another request is computing this key: the previous version's result meanwhile
        if old is None or time.monotonic() - old[1] > STALE_S:
            lk.acquire()
        try:
            with self._lock:
                if key in self._data:
                    self.hits += 1
                    return self._data[key]
            value = compute()
            with self._lock:
                self.misses += 1
                self._data[key] = value
                while len(self._data) > self.size:
                    self._data.popitem(last=False)
                self._busy.pop(key, None)
                if latest is not None:
                    self._latest[latest] = (value, time.monotonic())
                    while len(self._latest) > self.size:
                        self._latest.pop(next(iter(self._latest)))
            return value
        finally:
            lk.release()


def cached(request: Request, store: Store, what: str, params: tuple, compute: Callable[[], Any], *,
           stale_ok: bool = False) -> Any:
    """``compute()`` once per store version; ``stale_ok``: while another request computes a new version's
    result, the previous version's is answered (:class:`VersionCache`)."""
    cache: VersionCache = request.app.state.v1_cache
    return cache.get((what, params, store_version(store)), compute, latest=(what, params) if stale_ok else None)


def _nan_to_null(obj: Any) -> Any:
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_null(v) for v in obj]
    return obj


def dumps(obj: Any) -> bytes:
    """JSON bytes of a response (NaN, which JSON lacks, as null)."""
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False, default=str).encode()
    except ValueError:
        return json.dumps(_nan_to_null(obj), ensure_ascii=False, allow_nan=False, default=str).encode()


def response_key(path: str, query_string: bytes, p: auth.Principal) -> tuple:
    """The cache key of a JSON answer: path, query parameters (sorted) and the scope of the token - two
    tokens of the same role and scope read the same body, a gemeente never another's."""
    from starlette.datastructures import QueryParams

    return (path, tuple(sorted(QueryParams(query_string).multi_items())),
            (p.role, p.gm_code, p.country_code, p.party_id))


def etag_of(body: bytes) -> str:
    import hashlib

    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` names ``etag`` (weak or strong) or is ``*``."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def json_cached(fn: Callable) -> Callable:
    """Serve the endpoint's JSON from the cache: one body per path, query string, scope of the token and
    store version (a gemeente's KPIs, locations and plan are computed and serialised once per version).
    The body carries an ``ETag``; a request naming it in ``If-None-Match`` gets 304 without a body.
    Repeated reads are answered by :class:`CachedReads` before FastAPI's routing."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        request, store, p = kwargs["request"], kwargs["store"], kwargs["p"]
        key = response_key(request.scope["path"], request.scope.get("query_string", b""), p)

        def compute() -> tuple[bytes, str]:
            body = dumps(fn(*args, **kwargs))
            return body, etag_of(body)

        body, etag = cached(request, store, "response", key, compute, stale_ok=True)
        if etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers={"etag": etag})
        return Response(body, media_type="application/json", headers={"etag": etag})

    return wrapper


class CachedReads:
    """Pure ASGI middleware: a ``GET /api/v1/...`` whose JSON body is in the cache is answered here, without
    FastAPI's routing, dependencies and thread-pool hops (~0.6 ms of CPU per request before). It answers only
    when everything :func:`json_cached` would check is already known in this process:

    * the token's principal is in the token cache (:func:`laadplan.api.auth.cached_principal`: verified,
      not revoked in this process, re-read from the store every :data:`laadplan.api.auth.CACHE_S` s);
    * the store version was read less than :data:`VERSION_TTL_S` ago;
    * the body for (path, query, the token's role and scope, that version) is cached - computed, with the
      role and scope checks passed, by the endpoint for a token of the same role and scope.

    Anything else (no or unknown token, a new version, an uncached query, an error) goes the normal way.
    The rate limit and the guards run before this (outer middleware)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._prefix = PREFIX + "/"

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith(self._prefix):
            hit = self._lookup(scope)
            if hit is not None:
                body, etag = hit
                inm = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
                if inm is not None and etag_matches(inm.decode("latin-1"), etag):
                    await send({"type": "http.response.start", "status": 304,
                                "headers": [(b"etag", etag.encode())]})
                    await send({"type": "http.response.body", "body": b""})
                    return
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-length", str(len(body)).encode()),
                                        (b"content-type", b"application/json"), (b"etag", etag.encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _lookup(scope: dict) -> tuple[bytes, str] | None:
        p = auth.cached_principal(auth.scope_token(scope))
        if p is None:
            return None
        state = scope["app"].state
        store = getattr(state, "store", None)
        if store is None:
            return None
        version = fresh_version(store.path)
        if version is None:
            return None
        key = response_key(scope["path"], scope.get("query_string", b""), p)
        return state.v1_cache.peek(("response", key, version), latest=("response", key))


# -- the router ---------------------------------------------------------------------------------------------
router = APIRouter(prefix=PREFIX, responses=_ERRORS)
_REPORT_LOCK = threading.Lock()


def _rows_where_equal(store: Store, name: str, pairs, order: list[str]) -> pd.DataFrame:
    """The rows of table ``name`` with ``column = value`` for each ``(column, value)`` given a value (None: no
    filter), sorted by ``order``."""
    given = [(col, v) for col, v in pairs if v is not None]
    df = _table(store, name, " AND ".join(f"{col} = ?" for col, _ in given) or None, [v for _, v in given])
    return df.sort_values(order) if len(df) else df


def _table(store: Store, name: str, where: str | None = None, params: list | None = None) -> pd.DataFrame:
    if not has_table(store, name):
        return pd.DataFrame()
    return store.frame(name, where, params)


# areas -----------------------------------------------------------------------------------------------------
AREA_PROPS = ["area_code", "level", "name", "parent_code", "gm_code", "province", "inhabitants", "households",
              "cars", "cars_per_household", "income_per_inhabitant_keur", "urbanity", "share_apartments",
              "share_no_private_parking", "area_km2", "centroid_lat", "centroid_lon"]


def _wkb_geojson(wkb) -> dict | None:
    if wkb is None or (isinstance(wkb, float) and math.isnan(wkb)):
        return None
    import shapely
    from shapely.geometry import mapping

    return mapping(shapely.from_wkb(bytes(wkb)))


def _areas(store: Store, p: auth.Principal, level: str | None, gm: str | None, bbox, code: str | None = None,
           geometry: bool = True) -> pd.DataFrame:
    where, params = [], []
    if level:
        where.append("level = ?")
        params.append(level)
    if gm:
        where.append("(gm_code = ? OR area_code = ?)")
        params += [gm, gm]
    if code:
        where.append("area_code = ?")
        params.append(code)
    cols = ", ".join(AREA_PROPS) + (", geometry_wkb" if geometry else "")
    df = store.query(f"SELECT {cols} FROM areas" + (" WHERE " + " AND ".join(where) if where else "")
                     + " ORDER BY level, area_code", params)
    df = in_bbox(df, bbox, "centroid_lon", "centroid_lat")
    if geometry:
        df = df.assign(_geometry=[_wkb_geojson(w) for w in df["geometry_wkb"]]).drop(columns="geometry_wkb")
    return df


def _area_point(df: pd.DataFrame) -> pd.DataFrame:
    """Areas without a polygon are shown at their representative point."""
    if "_geometry" not in df.columns:
        df = df.assign(_geometry=None)
    pts = [g if g is not None else ({"type": "Point", "coordinates": [lo, la]} if pd.notna(lo) and pd.notna(la)
                                    else None)
           for g, lo, la in zip(df["_geometry"], df["centroid_lon"], df["centroid_lat"])]
    return df.assign(_geometry=pts)


@router.get("/areas", tags=["areas"], summary="Areas (gemeente, wijk, buurt, ...) as GeoJSON")
@json_cached
def list_areas(request: Request, page: Page = Depends(), store: Store = Depends(get_store),
               p: auth.Principal = reader("areas"),
               level: Literal["province", "gemeente", "wijk", "buurt", "pc4", "pc6", "cell500", "supply_area"] | None =
               Query(None, description="Only this area level"),
               gm: str | None = Query(None, description="Only areas of this gemeente (CBS code, e.g. GM0599)"),
               bbox: str | None = Query(None, description="min_lon,min_lat,max_lon,max_lat (WGS84): areas whose "
                                                          "representative point lies inside"),
               geometry: bool = Query(True, description="Include the polygons (false: representative points)")
               ) -> dict:
    """A FeatureCollection of areas with their CBS figures in ``properties`` (inhabitants, households, cars,
    income, urbanity, area_km2) and their polygon (WGS84) as geometry, or the representative point."""
    gm = scoped_gm(p, gm)
    df = _areas(store, p, level, gm, parse_bbox(bbox), geometry=geometry)
    return feature_collection(_area_point(df), page)


@router.get("/areas/{area_code}", tags=["areas"], summary="One area as a GeoJSON Feature")
@json_cached
def get_area(request: Request,
             area_code: str, store: Store = Depends(get_store), p: auth.Principal = reader("areas")) -> dict:
    df = _areas(store, p, None, None, None, code=area_code)
    if df.empty:
        raise HTTPException(404, f"no area {area_code}")
    if p.role == "gemeente" and df["gm_code"].iloc[0] != p.gm_code and area_code != p.gm_code:
        raise HTTPException(403, f"this token reads gemeente {p.gm_code} only")
    fc = feature_collection(_area_point(df), _OnePage())
    return fc["features"][0]


class _OnePage:
    limit, offset = 1, 0

    def meta(self, total: int) -> dict:
        return {}


# locations -------------------------------------------------------------------------------------------------
LOCATION_PROPS = ["country_code", "party_id", "location_id", "name", "address", "postal_code", "city", "lat", "lon",
                  "gm_code", "wk_code", "bu_code", "operator", "parking_type", "n_evses", "max_power_kw", "has_dc",
                  "layer", "twentyfourseven", "last_updated_utc"]


def _locations(store: Store, p: auth.Principal, gm, bu, bbox, party: tuple | None = None,
               layer: str | None = None, key: tuple | None = None) -> pd.DataFrame:
    where, params = [], []
    if gm:
        where.append("gm_code = ?")
        params.append(gm)
    if bu:
        where.append("bu_code = ?")
        params.append(bu)
    if layer:
        where.append("layer = ?")
        params.append(layer)
    if p.role == "operator":
        where.append("upper(country_code) = ? AND upper(party_id) = ?")
        params += [p.country_code, p.party_id]
    if party:
        where.append("upper(country_code) = ? AND upper(party_id) = ?")
        params += [party[0].upper(), party[1].upper()]
    if key:  # (by the key's index on either backend: see laadplan.store.key_filter)
        w, ps = key_filter(store.backend, dict(zip(("country_code", "party_id", "location_id"), key)))
        where.append(w)
        params += ps
    df = store.query(f"SELECT {', '.join(LOCATION_PROPS)} FROM locations"
                     + (" WHERE " + " AND ".join(where) if where else "")
                     + " ORDER BY country_code, party_id, location_id", params)
    return in_bbox(df, bbox)


@router.get("/locations", tags=["locations"], summary="Charging locations as GeoJSON points")
@json_cached
def list_locations(request: Request, page: Page = Depends(), store: Store = Depends(get_store),
                   p: auth.Principal = reader("locations"),
                   gm: str | None = Query(None, description="Only this gemeente (CBS code)"),
                   bu: str | None = Query(None, description="Only this buurt (CBS code, e.g. BU05990101)"),
                   bbox: str | None = Query(None, description="min_lon,min_lat,max_lon,max_lat (WGS84)"),
                   country_code: str | None = Query(None, max_length=2, description="Only this CPO country"),
                   party_id: str | None = Query(None, max_length=3, description="Only this CPO party id"),
                   layer: Literal["passenger", "freight"] | None = Query(None, description="passenger or freight")
                   ) -> dict:
    """A FeatureCollection of locations (Point, WGS84); ``properties``: ids (country_code, party_id,
    location_id), name, address, postal_code, city, gm_code, wk_code, bu_code, operator, parking_type,
    n_evses, max_power_kw, has_dc, layer, last_updated_utc. An operator token sees its own party only."""
    gm = scoped_gm(p, gm)
    if (country_code is None) != (party_id is None):
        raise HTTPException(422, "give country_code and party_id together")
    party = (country_code, party_id) if country_code else None
    df = _locations(store, p, gm, check_bu(bu), parse_bbox(bbox), party=party, layer=layer)
    return feature_collection(df, page)


@router.get("/locations/{country_code}/{party_id}/{location_id}", tags=["locations"],
            summary="One location with its EVSEs (GeoJSON Feature)")
@json_cached
def get_location(request: Request,
                 country_code: str, party_id: str, location_id: str, store: Store = Depends(get_store),
                 p: auth.Principal = reader("locations")) -> dict:
    if p.role == "operator" and not p.owns_party(country_code, party_id):
        raise HTTPException(403, "an operator token reads its own party's records only")
    df = _locations(store, p, None, None, None, key=(country_code, party_id, location_id))
    if df.empty:
        raise HTTPException(404, f"no location {country_code}*{party_id}*{location_id}")
    if p.role == "gemeente" and df["gm_code"].iloc[0] != p.gm_code:
        raise HTTPException(403, f"this token reads gemeente {p.gm_code} only")
    feat = feature_collection(df, _OnePage())["features"][0]
    w, ps = key_filter(store.backend, {"country_code": country_code, "party_id": party_id, "location_id": location_id})
    ev = store.query("SELECT evse_uid, evse_id, status, max_power_kw, n_connectors, smart_charging_capable, "
                     f"last_updated_utc FROM evses WHERE {w} ORDER BY evse_uid", ps)
    feat["properties"]["evses"] = records(ev)
    return feat


# KPIs ------------------------------------------------------------------------------------------------------
def _kpi(request: Request, store: Store, p: auth.Principal, level: str, date_from, date_to, period: str,
         gm, bu, source: str, hour_of_week: bool) -> pd.DataFrame:
    from laadplan.commands.kpi import KpiSelectionError, kpi_table

    gm = scoped_gm(p, gm)
    bu = check_bu(bu)
    start, end = day_range(date_from, date_to)
    if p.role == "operator" and level not in ("evse", "location"):
        raise HTTPException(403, "an operator token reads KPIs of its own EVSEs and locations only "
                                 "(level evse or location)")
    cfg = config_of(request)

    def compute() -> pd.DataFrame:
        df, _ = kpi_table(store, cfg, level, start, end, period, gm=gm, source=source, hour_of_week=hour_of_week)
        return df

    try:
        df = cached(request, store, "kpi", (level, start, end, period, gm, source, hour_of_week), compute)
    except KpiSelectionError as e:
        raise HTTPException(422, str(e)) from None
    if p.role == "operator":
        if "party_id" not in df.columns:
            raise HTTPException(403, "these KPIs carry no operator; an operator token cannot read them")
        df = df[(df["country_code"].str.upper() == p.country_code) & (df["party_id"].str.upper() == p.party_id)]
    if bu is not None:
        if "bu_code" not in df.columns:
            raise HTTPException(422, f"bu filters levels evse, location and buurt, not {level}")
        df = df[df["bu_code"] == bu]
    return df


_LEVEL = Query("region", description="evse, location, gemeente, buurt or region (as `laadplan kpi --level`)")
_FROM = Query(None, alias="from", description="First local day YYYY-MM-DD [default: first day with data]")
_TO = Query(None, alias="to", description="Last local day YYYY-MM-DD, included [default: last day with data]")


@router.get("/kpi", tags=["kpi"], summary="Usage or status KPIs (as `laadplan kpi --json`)")
@json_cached
def get_kpi(request: Request, page: Page = Depends(), store: Store = Depends(get_store),
            p: auth.Principal = reader("kpi"),
            level: Literal["evse", "location", "gemeente", "buurt", "region"] = _LEVEL,
            date_from: str | None = _FROM, date_to: str | None = _TO,
            period: Literal["range", "month"] = Query("range", description="One row per key (range) or per month"),
            gm: str | None = Query(None, description="Only this gemeente (as `--gm`)"),
            bu: str | None = Query(None, description="Only this buurt (levels evse, location, buurt)"),
            source: Literal["sessions", "status"] = Query("sessions", description="sessions (CDR usage KPIs) or "
                                                          "status (occupancy from status snapshots)")) -> dict:
    """The rows of ``laadplan kpi --json --level L --period P --from F --to T --gm G --source S``, paged
    (``items``): occupancy, kWh and sessions per EVSE per day, evening shares, unique users, peak hour of
    week. Null is n/a (no data), never zero."""
    df = _kpi(request, store, p, level, date_from, date_to, period, gm, bu, source, False)
    return paged(df, page, level=level, period=period, source=source)


@router.get("/kpi/hour-of-week", tags=["kpi"], summary="Occupancy per local hour of week "
                                                        "(as `laadplan kpi --hour-of-week --json`)")
@json_cached
def get_hour_of_week(request: Request, page: Page = Depends(), store: Store = Depends(get_store),
                     p: auth.Principal = reader("kpi"),
                     level: Literal["evse", "location", "gemeente", "buurt", "region"] = _LEVEL,
                     date_from: str | None = _FROM, date_to: str | None = _TO,
                     gm: str | None = Query(None, description="Only this gemeente"),
                     bu: str | None = Query(None, description="Only this buurt"),
                     source: Literal["sessions", "status"] = Query("sessions")) -> dict:
    """168 rows per key (local hour of week 0 = Monday 00:00), paged."""
    df = _kpi(request, store, p, level, date_from, date_to, "range", gm, bu, source, True)
    return paged(df, page, level=level, source=source)


# quality ---------------------------------------------------------------------------------------------------
@router.get("/quality", tags=["quality"], summary="Data quality (as `laadplan quality --json`)")
@json_cached
def get_quality(request: Request, store: Store = Depends(get_store), p: auth.Principal = reader("quality"),
                section: Literal["all", "rules", "operators", "runs", "quarantine"] = Query("all"),
                rule: str | None = Query(None, max_length=64, description="Only this rule code"),
                kind: str | None = Query(None, max_length=64, description="Only this ingest kind"),
                limit: int = Query(20, ge=0, le=10_000, description="Quarantined records to list")) -> dict:
    """The object of ``laadplan quality --json``: quarantined records per rule (``rules``), per operator
    (``operators``), the ingest runs (``runs``) and the quarantined records (``quarantine``). An operator
    token gets its own party's row and records only (no region-wide rules or runs)."""
    from laadplan.commands.quality import quality_tables

    if p.role == "operator":
        if section in ("rules", "runs"):
            raise HTTPException(403, "an operator token reads its own quarantined records only "
                                     "(sections operators and quarantine)")
        tables = quality_tables(store, section, rule=rule, kind=kind, limit=10**9)
        out = {}
        if "operators" in tables:
            out["operators"] = records(tables["operators"][tables["operators"]["party_id"].str.upper() == p.party_id])
        if "quarantine" in tables:
            q = tables["quarantine"]
            out["quarantine"] = records(q[q["party_id"].fillna("").str.upper() == p.party_id].head(limit))
        return out
    return {k: records(v) for k, v in quality_tables(store, section, rule=rule, kind=kind, limit=limit).items()}


# forecast and load -----------------------------------------------------------------------------------------
@router.get("/forecast", tags=["forecast"], summary="Public charging need per area and year (table forecast_need)")
@json_cached
def get_forecast(request: Request,
                 page: Page = Depends(), store: Store = Depends(get_store), p: auth.Principal = reader("forecast"),
                 gm: str | None = Query(None, description="Only this gemeente"),
                 level: Literal["gemeente", "pc4", "buurt", "wijk"] | None = Query(None),
                 scenario: Literal["low", "middle", "high"] | None = Query(None),
                 year: int | None = Query(None, ge=1990, le=2100)) -> dict:
    """The forecast the last ``laadplan forecast`` stored: EVs, public EVs, public kWh, EVSEs needed,
    existing and the gap per area, year and scenario."""
    gm = scoped_gm(p, gm)
    return paged(_rows_where_equal(
        store, "forecast_need", (("gm_code", gm), ("area_level", level), ("scenario", scenario), ("year", year)),
        ["area_level", "area_code", "scenario", "year"]), page)


@router.get("/forecast/afir", tags=["forecast"], summary="AFIR fleet check per gemeente and region")
@json_cached
def get_afir(request: Request,
             page: Page = Depends(), store: Store = Depends(get_store), p: auth.Principal = reader("forecast"),
             gm: str | None = Query(None), scenario: Literal["low", "middle", "high"] | None = Query(None),
             year: int | None = Query(None, ge=1990, le=2100)) -> dict:
    """Rows of table afir_fleet_check (area_code a gm_code or REGION; a gemeente token sees its own)."""
    gm = scoped_gm(p, gm)
    return paged(_rows_where_equal(store, "afir_fleet_check",
                                   (("area_code", gm), ("scenario", scenario), ("year", year)),
                                   ["area_code", "scenario", "year"]), page)


@router.get("/load", tags=["load"], summary="Load profiles of charging (as `laadplan load --json`)")
@json_cached
def get_load(request: Request, store: Store = Depends(get_store), p: auth.Principal = reader("load"),
             level: Literal["region", "gemeente", "buurt", "location", "evse"] = Query("gemeente"),
             gm: str | None = Query(None), bu: str | None = Query(None),
             date_from: str | None = _FROM, date_to: str | None = _TO) -> dict:
    """The object of ``laadplan load --json`` (uncontrolled charging: peak, evening share, coincidence) for
    the selection."""
    from laadplan.forecast.runner import load_run

    gm, bu = scoped_gm(p, gm), check_bu(bu)
    start, end = day_range(date_from, date_to)
    cfg = config_of(request)
    try:
        return cached(request, store, "load", (level, gm, bu, start, end),
                      lambda: as_cli_json(load_run(store, cfg, level=level, gm_code=gm, bu_code=bu,
                                                   t_from=start, t_to=end)))
    except ValueError as e:
        raise HTTPException(404, str(e)) from None


@router.get("/congestion", tags=["plan"], summary="Grid capacity-map areas (congestion status)")
@json_cached
def get_congestion(request: Request,
                   page: Page = Depends(), store: Store = Depends(get_store), p: auth.Principal = reader("congestion"),
                   level: Literal["supply_area", "pc6", "congestion_area"] | None = Query(None),
                   offtake_status: int | None = Query(None, ge=-1, le=3)) -> dict:
    """Rows of table grid_areas without polygons: offtake/feed-in status 0-3, available and queued MW."""
    where, params = [], []
    if level:
        where.append("level = ?")
        params.append(level)
    if offtake_status is not None:
        where.append("offtake_status = ?")
        params.append(offtake_status)
    df = _table(store, "grid_areas", " AND ".join(where) or None, params)
    if len(df):
        df = df.drop(columns=["geometry_wkb"], errors="ignore").sort_values(["level", "area_code"])
    return paged(df, page)


# plan and requests -----------------------------------------------------------------------------------------
@router.get("/plan", tags=["plan"], summary="Plan sites with their reasons as GeoJSON points")
@json_cached
def get_plan(request: Request,
             page: Page = Depends(), store: Store = Depends(get_store), p: auth.Principal = reader("plan"),
             gm: str | None = Query(None), year: int | None = Query(None, ge=2000, le=2100),
             congestion_rule: bool = Query(True, description="The plan made with the congestion rule (true) or "
                                                             "without (false)"),
             bbox: str | None = Query(None, description="min_lon,min_lat,max_lon,max_lat (WGS84)")) -> dict:
    """The plan the last ``laadplan plan`` stored (table plan_sites): per site and year the new EVSEs,
    power, triggers, demand covered, ``reasons`` (for a person), grid route, offtake status and lead time."""
    gm = scoped_gm(p, gm)
    where, params = ["congestion_rule = ?"], [congestion_rule]
    if gm:
        where.append("gm_code = ?")
        params.append(gm)
    if year is not None:
        where.append("year = ?")
        params.append(year)
    df = _table(store, "plan_sites", " AND ".join(where), params)
    if len(df):
        df = in_bbox(df.sort_values(["year", "site_id"]), parse_bbox(bbox))
    return feature_collection(df, page)


REQUEST_COLS = ["request_id", "requested_date", "gm_code", "decision", "decision_rule", "decision_reason",
                "decided_date", "operational_date", "objection_end_date", "nearest_point_m", "points_within_walk",
                "lat", "lon"]


def _requests(store: Store, gm, decision, start, end, bbox, request_id: str | None = None) -> pd.DataFrame:
    where, params = [], []
    if gm:
        where.append("gm_code = ?")
        params.append(gm)
    if decision:
        where.append("decision = ?")
        params.append(decision)
    if start:
        where.append("requested_date >= ?")
        params.append(start)
    if end:
        where.append("requested_date <= ?")
        params.append(end)
    if request_id is not None:
        where.append("request_id = ?")
        params.append(request_id)
    if not has_table(store, "requests"):
        return pd.DataFrame(columns=REQUEST_COLS)
    df = store.query(f"SELECT {', '.join(REQUEST_COLS)} FROM requests"
                     + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY request_id", params)
    for c in ("requested_date", "decided_date", "operational_date", "objection_end_date"):
        df[c] = df[c].map(lambda d: None if d is None or pd.isna(d) else pd.Timestamp(d).date().isoformat())
    return in_bbox(df, bbox)


@router.get("/requests", tags=["requests"], summary="Driver requests and their decisions")
@json_cached
def list_requests(request: Request,
                  page: Page = Depends(), store: Store = Depends(get_store), p: auth.Principal = reader("requests"),
                  gm: str | None = Query(None), decision: Literal["granted", "refused"] | None = Query(None),
                  date_from: str | None = Query(None, alias="from", description="Requested on or after"),
                  date_to: str | None = Query(None, alias="to", description="Requested on or before"),
                  bbox: str | None = Query(None)) -> dict:
    """Requests as decided by the last ``laadplan requests`` / ``laadplan plan``: decision, the rule that
    decided it and the reason for a person, dates. The driver's address is not served."""
    gm = scoped_gm(p, gm)
    start, end = day_range(date_from, date_to)
    return paged(_requests(store, gm, decision, start, end, parse_bbox(bbox)), page)


@router.get("/requests/{request_id}", tags=["requests"], summary="One driver request and its decision")
@json_cached
def get_request(request: Request,
                request_id: str, store: Store = Depends(get_store), p: auth.Principal = reader("requests")) -> dict:
    df = _requests(store, None, None, None, None, None, request_id=request_id)
    if df.empty:
        raise HTTPException(404, f"no request {request_id}")
    if p.role == "gemeente" and df["gm_code"].iloc[0] != p.gm_code:
        raise HTTPException(403, f"this token reads gemeente {p.gm_code} only")
    return records(df)[0]


# logistics -------------------------------------------------------------------------------------------------
@router.get("/corridors", tags=["logistics"], summary="AFIR coverage of the TEN-T corridors (table afir_coverage)")
@json_cached
def get_corridors(request: Request,
                  page: Page = Depends(), store: Store = Depends(get_store), p: auth.Principal = reader("logistics"),
                  vehicle: Literal["heavy", "light"] | None = Query(None),
                  milestone_year: int | None = Query(None, ge=2000, le=2100)) -> dict:
    return paged(_rows_where_equal(store, "afir_coverage", (("vehicle", vehicle), ("milestone_year", milestone_year)),
                                   ["corridor_id", "vehicle", "milestone_year", "direction"]), page)


@router.get("/corridors/gaps", tags=["logistics"], summary="Stretches lacking a pool (table afir_gaps)")
@json_cached
def get_gaps(request: Request,
             page: Page = Depends(), store: Store = Depends(get_store), p: auth.Principal = reader("logistics"),
             vehicle: Literal["heavy", "light"] | None = Query(None),
             milestone_year: int | None = Query(None, ge=2000, le=2100)) -> dict:
    return paged(_rows_where_equal(store, "afir_gaps", (("vehicle", vehicle), ("milestone_year", milestone_year)),
                                   ["corridor_id", "vehicle", "milestone_year", "direction", "from_km"]), page)


@router.get("/hubs", tags=["logistics"], summary="Ranked hub sites per corridor gap as GeoJSON points")
@json_cached
def get_hubs(request: Request,
             page: Page = Depends(), store: Store = Depends(get_store), p: auth.Principal = reader("logistics"),
             milestone_year: int | None = Query(None, ge=2000, le=2100),
             bbox: str | None = Query(None)) -> dict:
    where, params = [], []
    if milestone_year is not None:
        where.append("milestone_year = ?")
        params.append(milestone_year)
    df = _table(store, "hub_suggestions", " AND ".join(where) or None, params)
    if len(df):
        df = in_bbox(df.sort_values(["corridor_id", "milestone_year", "gap_from_km", "rank"]), parse_bbox(bbox))
    return feature_collection(df, page)


# contract and alerts ---------------------------------------------------------------------------------------
_PERIOD = Query(None, description="Month YYYY-MM or year YYYY [default: the last complete month with data]")


def _period(store: Store, period: str | None, request: Request) -> str:
    from laadplan.commands.contract import default_month
    from laadplan.contract.periods import parse_period, period_bounds

    period = period or default_month(store)
    try:
        parse_period(period)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    if period_bounds(period, config_of(request).region.time_zone)[0] > now:
        raise HTTPException(422, f"period {period} lies in the future: there is no data for it yet")
    return period


@router.get("/contract", tags=["contract"], summary="Concession KPIs (as `laadplan contract --json`)")
@json_cached
def get_contract(request: Request, page: Page = Depends(), store: Store = Depends(get_store),
                 p: auth.Principal = reader("contract"), period: str | None = _PERIOD,
                 level: Literal["evse", "location", "gemeente", "operator", "region"] = Query("gemeente"),
                 gm: str | None = Query(None, description="Only this gemeente (levels evse, location, gemeente)")
                 ) -> dict:
    """The object of ``laadplan contract --json --month/--year P --level L --municipality G``: ``summary``,
    ``notes``, ``rows`` (paged: ``total``, ``limit``, ``offset``) and ``tariff_comparison``. Computed without
    storing (the CLI stores the KPIs and alerts). A gemeente token gets its own rows only, without the
    region-wide summary; an operator token the rows of its own EVSEs, locations and operator row."""
    from laadplan.contract.run import compute_contract

    gm = scoped_gm(p, gm)
    if gm and level not in ("evse", "location", "gemeente"):
        raise HTTPException(422 if p.role != "gemeente" else 403,
                            "gm filters the evse, location and gemeente levels")
    if p.role == "gemeente" and level not in ("evse", "location", "gemeente"):
        raise HTTPException(403, "a gemeente token reads levels evse, location and gemeente")
    if p.role == "operator" and level not in ("evse", "location", "operator"):
        raise HTTPException(403, "an operator token reads levels evse, location and operator")
    per = _period(store, period, request)
    cfg = config_of(request)
    res = cached(request, store, "contract", (per,), lambda: compute_contract(store, cfg, per, write=False))
    tab = res.levels[level]
    if gm:
        tab = tab[tab["gm_code"] == gm] if level in ("evse", "location") else tab[tab["subject_id"] == gm]
    if p.role == "operator":
        pre = f"{p.country_code}*{p.party_id}*"
        if level == "operator":
            tab = tab[tab["subject_id"].str.upper() == p.party_id]
        else:
            tab = tab[tab["subject_id"].str.upper().str.startswith(pre)]
    from laadplan.commands.contract import _records as contract_records  # the rows as `contract --json`

    out = {"period": res.period, "level": level}
    if p.role == "region":
        out.update(summary=as_cli_json(res.summary), notes=res.notes)
    out.update(page.meta(len(tab)))
    out["rows"] = as_cli_json(contract_records(tab.iloc[page.offset: page.offset + page.limit]))
    if p.role == "region":
        out["tariff_comparison"] = as_cli_json(contract_records(res.tariff_comparison))
    return out


@router.get("/alerts", tags=["contract"], summary="Alerts: breaches of the concession norms (stored)")
@json_cached
def get_alerts(request: Request, page: Page = Depends(), store: Store = Depends(get_store),
               p: auth.Principal = reader("alerts"), period: str | None = _PERIOD,
               rule: str | None = Query(None, max_length=64, description="Only this rule, e.g. CM-UPTIME"),
               gm: str | None = Query(None)) -> dict:
    """The alerts ``laadplan contract`` / ``laadplan alerts`` stored for the period (``laadplan alerts --stored
    --json``), with message and evidence. Gemeente: its own gm_code; operator: its own EVSEs and locations."""
    gm = scoped_gm(p, gm)
    per = _period(store, period, request)
    where, params = ["period = ?"], [per]
    if rule:
        where.append("rule = ?")
        params.append(rule)
    if gm:
        where.append("gm_code = ?")
        params.append(gm)
    if p.role == "operator":
        where.append("(upper(subject_id) LIKE ? OR (level = 'operator' AND upper(subject_id) = ?))")
        params += [f"{p.country_code}*{p.party_id}*%", p.party_id]
    from laadplan.commands.contract import _records as contract_records  # the rows as `alerts --json`

    df = _table(store, "alerts", " AND ".join(where) + " ORDER BY rule, subject_id", params)
    part = df.iloc[page.offset: page.offset + page.limit]
    return {"period": per, **page.meta(len(df)), "items": as_cli_json(contract_records(part)) if len(part) else []}


# report ----------------------------------------------------------------------------------------------------
@router.get("/report", tags=["report"], summary="The yearly progress report (voortgangsrapportage), HTML or PDF",
            response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}, "application/pdf": {}}}})
def get_report(request: Request, store: Store = Depends(get_store), p: auth.Principal = reader("report"),
               year: int = Query(..., ge=2000, le=2100, description="Report year"),
               gm: str | None = Query(None, description="The report of this gemeente [default: the region's]"),
               format: Literal["html", "pdf"] = Query("html")) -> Response:
    """The report ``laadplan report --year Y [--gm G] [--pdf]`` writes, built on request (once per store
    version). A gemeente token gets its own gemeente's report."""
    from laadplan.report.builder import build_reports, gemeente_name

    gm = scoped_gm(p, gm)
    if gm and gemeente_name(store, gm) is None:
        raise HTTPException(404, f"no gemeente {gm} in the store's areas")
    cfg = config_of(request)

    def build() -> bytes:
        with _REPORT_LOCK, tempfile.TemporaryDirectory(prefix="laadplan-report-") as d:
            path = build_reports(store, cfg, year, Path(d), gms=[gm] if gm else [], region=not gm)[0]
            if format == "pdf":
                from laadplan.report import html_to_pdf

                try:
                    return html_to_pdf(path, path.with_suffix(".pdf")).read_bytes()
                except (RuntimeError, OSError) as e:
                    raise HTTPException(503, f"PDF unavailable on this server: {str(e).splitlines()[0][:200]}")
            return path.read_bytes()

    body = cached(request, store, "report", (year, gm, format), build)
    return Response(body, media_type="application/pdf" if format == "pdf" else "text/html; charset=utf-8")


def mount(app: FastAPI) -> None:
    app.state.v1_cache = VersionCache()
    app.include_router(router)
    app.add_middleware(CachedReads)
