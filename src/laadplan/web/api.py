"""JSON, GeoJSON, CSV and vector-tile endpoints of the web app (``/web/api``, ``/web/tiles``).

Scopes are checked here for every request: a gemeente user reads and changes only its own gemeente's plan
sites, trail and requests; changes need a session with its CSRF token (or an ``Authorization`` header).
The audit trail has no PUT, PATCH or DELETE route.
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import date

import pandas as pd
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from laadplan.api.app import config_of, current_principal, store_for
from laadplan.web import data, residents, session, workflow

router = APIRouter(tags=["web"])

GEOJSON = "application/geo+json"


def store_key(request: Request) -> str:
    return str(request.app.state.db)


def principal_or_401(request: Request):
    p = current_principal(request)
    if p is None:
        raise HTTPException(401, "log in (sessie) of stuur een token (Authorization: Token ...)")
    return p


def gm_scope(p) -> list[str] | None:
    """The gemeenten whose sites and requests ``p`` may see (None: all)."""
    if p.role == "gemeente":
        return [p.gm_code] if p.gm_code else []
    return None


def require_csrf(request: Request, sent: str | None) -> None:
    if not session.csrf_ok(request, sent or request.headers.get("x-csrf-token")):
        raise HTTPException(403, "CSRF-token ontbreekt of klopt niet; laad de pagina opnieuw")


def _json(obj, status: int = 200) -> JSONResponse:
    return JSONResponse(json.loads(json.dumps(obj, default=str)), status_code=status)


# ---- map layers ---------------------------------------------------------------------------------------------
def gzipped(request: Request, body: bytes, media_type: str, headers: dict | None = None,
            cache_key: tuple | None = None) -> Response:
    """``body`` gzip-compressed when the client accepts it (tiles and GeoJSON shrink 3-5 times)."""
    h = dict(headers or {})
    h["Vary"] = "Accept-Encoding"
    if body and "gzip" in request.headers.get("accept-encoding", "") and len(body) > 512:
        z = data.cached(cache_key + ("gz",), lambda: gzip.compress(body, 6)) if cache_key else gzip.compress(body, 6)
        h["Content-Encoding"] = "gzip"
        return Response(z, media_type=media_type, headers=h)
    return Response(body, media_type=media_type, headers=h)


@router.get("/web/tiles/locations/{z}/{x}/{y}.pbf")
def location_tile(z: int, x: int, y: int, request: Request) -> Response:
    """Charge-point locations as a Mapbox vector tile (layer ``locations``; feature id = the location's row,
    see /web/api/locations/detail; properties e EVSEs, dc, o peak-hour occupancy in % when known). Public:
    the same open data as NDW publishes."""
    if not (0 <= z <= 22 and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
        raise HTTPException(404, "geen tegel")
    with store_for(request) as s:
        body = data.locations_tile(s, config_of(request), store_key(request), z, x, y)
    return gzipped(request, body, "application/vnd.mapbox-vector-tile", {"Cache-Control": "public, max-age=300"},
                   (store_key(request), "tile", z, x, y))


@router.get("/web/api/locations/detail")
def location_detail(id: int, request: Request) -> JSONResponse:
    with store_for(request) as s:
        d = data.location_detail(s, config_of(request), store_key(request), id)
    if d is None:
        raise HTTPException(404, "onbekende laadlocatie")
    return _json(d)


PUBLIC_LAYERS = {"gemeenten"}
#: layers without a user scope, cached per store (data.cached; a change through the web app clears them)
SHARED_LAYERS = {"gemeenten": data.gemeenten_geojson, "buurten": data.buurten_geojson,
                 "congestion": data.congestion_geojson, "coverage": data.coverage_geojson,
                 "corridors": data.corridors_geojson, "hubs": lambda s, cfg, key: data.hubs_geojson(s, key)}
LAYERS = ("gemeenten", "buurten", "congestion", "coverage", "plan", "requests", "corridors", "hubs")


@router.get("/web/api/layers/{name}.geojson")
def layer(name: str, request: Request) -> Response:
    if name not in LAYERS:
        raise HTTPException(404, f"onbekende kaartlaag {name}; bekend: {', '.join(LAYERS)}")
    p = None if name in PUBLIC_LAYERS else principal_or_401(request)
    cfg, key = config_of(request), store_key(request)
    if name in SHARED_LAYERS:
        # the same for every user: serialise (and gzip) once per cached layer, not per request
        def body() -> bytes:
            with store_for(request) as s:
                fc = SHARED_LAYERS[name](s, cfg, key)
            return json.dumps(fc, default=str, separators=(",", ":")).encode()

        return gzipped(request, data.cached((key, name, "json"), body), GEOJSON, cache_key=(key, name, "json"))
    with store_for(request) as s:
        if name == "plan":
            workflow.match_realised(s, cfg)
            fc = data.plan_geojson(s, gm_scope(p))
        else:
            fc = data.requests_geojson(s, gm_scope(p))
    return gzipped(request, json.dumps(fc, default=str, separators=(",", ":")).encode(), GEOJSON)


# ---- placement workflow ----------------------------------------------------------------------------------
def _site_or_error(s, p, site_id: str) -> dict:
    one = workflow.sites(s, site_id=site_id)
    if one.empty:
        raise HTTPException(404, f"plan-locatie {site_id} bestaat niet")
    r = one.iloc[0].to_dict()
    scope = gm_scope(p)
    if scope is not None and r["gm_code"] not in scope:
        raise HTTPException(403, "deze plan-locatie ligt niet in uw gemeente")
    return r


@router.get("/web/api/sites")
def list_sites(request: Request, state: str | None = None) -> JSONResponse:
    p = principal_or_401(request)
    with store_for(request) as s:
        workflow.match_realised(s, config_of(request))
        df = workflow.sites(s, gm_codes=gm_scope(p))
    if state:
        df = df[df["state"] == state]
    return _json({"sites": data.records(df.drop(columns=["known_evses", "plan_lat", "plan_lon"]))})


@router.get("/web/api/sites/{site_id}")
def site_detail(site_id: str, request: Request) -> JSONResponse:
    p = principal_or_401(request)
    with store_for(request) as s:
        r = _site_or_error(s, p, site_id)
        ev = workflow.events(s, site_id=site_id)
    r.pop("known_evses", None)
    from laadplan.web.pages import plan_reason_nl

    r["reasons_nl"] = plan_reason_nl(r.get("reasons"))
    return _json({"site": {k: data._num(v) for k, v in r.items()},
                  "events": data.records(ev.drop(columns=["known_evses"]))})


@router.get("/web/api/sites/{site_id}/check")
def site_check(site_id: str, lat: float, lon: float, request: Request) -> JSONResponse:
    """The spacing and grid checks for the site at another spot (nothing is saved)."""
    p = principal_or_401(request)
    with store_for(request) as s:
        r = _site_or_error(s, p, site_id)
        try:
            out = workflow.move_site(s, config_of(request), site_id, lat, lon, p, save=False)
        except workflow.Forbidden as e:
            raise HTTPException(403, str(e)) from None
        except workflow.WorkflowError as e:
            raise HTTPException(409, str(e)) from None
    return _json(out | {"gm_code": r["gm_code"]})


async def _body(request: Request) -> dict:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        try:
            b = await request.json()
        except ValueError:
            raise HTTPException(400, "ongeldige JSON") from None
        return b if isinstance(b, dict) else {}
    form = await request.form()
    return {k: v for k, v in form.items()}


@router.post("/web/api/sites/{site_id}/state")
async def site_state(site_id: str, request: Request) -> JSONResponse:
    p = principal_or_401(request)
    b = await _body(request)
    require_csrf(request, b.get("csrf_token"))
    dd = None
    if b.get("decision_date"):
        try:
            dd = date.fromisoformat(str(b["decision_date"]))
        except ValueError:
            raise HTTPException(400, "datum verkeersbesluit: JJJJ-MM-DD") from None
    with store_for(request) as s:
        _site_or_error(s, p, site_id)
        try:
            ev = workflow.transition(s, config_of(request), site_id, str(b.get("state") or ""), p,
                                     reason=b.get("reason"), decision_date=dd)
        except workflow.Forbidden as e:
            raise HTTPException(403, str(e)) from None
        except workflow.WorkflowError as e:
            raise HTTPException(409, str(e)) from None
    return _json({"event": {k: data._num(v) for k, v in ev.items() if k != "known_evses"}})


@router.post("/web/api/sites/{site_id}/move")
async def site_move(site_id: str, request: Request) -> JSONResponse:
    p = principal_or_401(request)
    b = await _body(request)
    require_csrf(request, b.get("csrf_token"))
    try:
        lat, lon = float(b.get("lat")), float(b.get("lon"))
    except (TypeError, ValueError):
        raise HTTPException(400, "lat en lon (graden) zijn nodig") from None
    with store_for(request) as s:
        _site_or_error(s, p, site_id)
        try:
            out = workflow.move_site(s, config_of(request), site_id, lat, lon, p, reason=b.get("reason"))
        except workflow.Forbidden as e:
            raise HTTPException(403, str(e)) from None
        except workflow.WorkflowError as e:
            raise HTTPException(409, str(e)) from None
    return _json(out, 200 if out["saved"] else 422)


@router.get("/web/api/events")
def trail(request: Request, site_id: str | None = None) -> JSONResponse:
    p = principal_or_401(request)
    with store_for(request) as s:
        ev = workflow.events(s, site_id=site_id, gm_codes=gm_scope(p))
        problems = workflow.verify_trail(s) if p.role == "region" else None
    return _json({"events": data.records(ev.drop(columns=["known_evses"])), "trail_problems": problems})


@router.get("/web/api/agreed.{fmt}")
def agreed(fmt: str, request: Request) -> Response:
    """The sites agreed by the municipality (and further) for the operator, as CSV or GeoJSON."""
    p = principal_or_401(request)
    if p.role == "netbeheerder":
        raise HTTPException(403, "de rol netbeheerder mag dit niet")
    with store_for(request) as s:
        workflow.match_realised(s, config_of(request))
        df = workflow.agreed_sites(s)
    scope = gm_scope(p)
    if scope is not None:
        df = df[df["gm_code"].isin(scope)]
    if fmt == "csv":
        buf = io.StringIO()
        df.to_csv(buf, index=False)
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="akkoord_locaties.csv"'})
    if fmt == "geojson":
        feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
                  "properties": {k: v for k, v in r.items() if k not in ("lat", "lon")}} for r in data.records(df)]
        return Response(json.dumps({"type": "FeatureCollection", "features": feats}, default=str),
                        media_type=GEOJSON,
                        headers={"Content-Disposition": 'attachment; filename="akkoord_locaties.geojson"'})
    raise HTTPException(404, "formaat csv of geojson")


# ---- residents' requests -------------------------------------------------------------------------------
def client_of(request: Request) -> str:
    return request.client.host if request.client else "?"


@router.post("/web/api/requests")
async def submit_request(request: Request) -> JSONResponse:
    """A resident's request (public, no log-in): decided at once with the rule in Dutch."""
    b = await _body(request)
    require_csrf(request, b.get("csrf_token"))
    with store_for(request) as s:
        try:
            out = residents.submit(s, config_of(request), b, client_of(request), cache_key=store_key(request))
        except residents.RateLimited as e:
            return _json({"detail": str(e)}, 429)
        except residents.RequestError as e:
            return _json({"detail": str(e)}, 422)
    data.clear_cache()
    return _json(out, 201)


@router.get("/web/api/requests")
def list_requests(request: Request) -> JSONResponse:
    """Requests of the user's gemeente(n) without personal data (no address, postal code or exact point)."""
    p = principal_or_401(request)
    scope = gm_scope(p)
    q = ("SELECT request_id, requested_date, gm_code, decision, decision_rule, decided_date, operational_date, "
         "source FROM requests")
    params: list = []
    if scope is not None:
        q += " WHERE gm_code IN (" + ", ".join("?" for _ in scope) + ")" if scope else " WHERE false"
        params = list(scope)
    with store_for(request) as s:
        df = s.query(q + " ORDER BY requested_date DESC, request_id", params)
    return _json({"requests": data.records(df)})


def to_frame_json(df: pd.DataFrame) -> list[dict]:
    return data.records(df)
