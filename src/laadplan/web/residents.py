"""Residents' requests through the public web form: decided at once by the rules of ``laadplan requests``
(:func:`laadplan.placement.requests.decide_requests`), stored in ``requests`` (so the next ``laadplan plan``
counts it in the request trigger) with the form's own fields in ``web_requests``.

Guards: field validation; a rate limit per client (keyed hash of the address, counted in the store so it
holds across workers); nothing personal is shown to other users (the map shows the decision at a point
rounded to 100 m, never an address); after ``server.web_request_retention_days`` :func:`purge` removes the
address and postal code and rounds the point to the centre of its 100 m cell.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd

from laadplan import geo
from laadplan.config import RegionConfig
from laadplan.web.workflow import _gemeente_of, fmt_date_nl, fmt_num_nl

#: the decision rules of ``laadplan requests`` in plain Dutch (codes of laadplan.placement.requests.RULES)
RULES_NL = {
    "REQ-ELIG-RESIDENCE": "U woont en werkt niet in deze gemeente: de gemeente plaatst op aanvraag alleen voor "
                          "inwoners en mensen die er werken.",
    "REQ-ELIG-EV": "U rijdt (nog) niet elektrisch: een laadpaal op aanvraag is voor wie een elektrische auto "
                   "heeft of er een besteld heeft.",
    "REQ-ELIG-PRIVATE-PARKING": "U heeft een eigen oprit of garage: daar kunt u zelf een laadpunt laten plaatsen.",
    "REQ-NO-POINT": "Er is geen openbaar laadpunt binnen loopafstand: de aanvraag wordt toegekend.",
    "REQ-POINTS-BUSY": "Alle openbare laadpunten binnen loopafstand zijn te vaak bezet: de aanvraag wordt "
                       "toegekend.",
    "REQ-POINT-AVAILABLE": "Binnen loopafstand is een openbaar laadpunt dat nog ruimte heeft: de aanvraag wordt "
                           "afgewezen.",
    "REQ-NO-OCCUPANCY-DATA": "Binnen loopafstand zijn laadpunten waarvan de bezetting niet bekend is: de gemeente "
                             "beoordeelt uw aanvraag zelf.",
}
DECISION_NL = {"granted": "toegekend", "refused": "afgewezen", None: "nog niet besloten"}


class RequestError(ValueError):
    """Invalid form input or a limit; the message is Dutch and shown to the resident."""


class RateLimited(RequestError):
    pass


@dataclass
class _Cached:
    t: float
    locations: pd.DataFrame
    kpi: pd.DataFrame | None


_CACHE: dict[str, _Cached] = {}
_LOCK = threading.Lock()
CACHE_S = 300.0


def decision_inputs(store, cfg: RegionConfig, key: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Locations (RD) and per-location usage KPIs, as ``laadplan requests`` loads them, kept for
    :data:`CACHE_S` seconds per store (a form answer should not recompute the quarter's KPIs)."""
    from laadplan.placement.store_io import plan_locations, usage_kpi_frame

    with _LOCK:
        c = _CACHE.get(key)
        if c and time.monotonic() - c.t < CACHE_S:
            return c.locations, c.kpi
    loc = plan_locations(store)
    kpi, _ = usage_kpi_frame(store, cfg)
    with _LOCK:
        _CACHE[key] = _Cached(time.monotonic(), loc, kpi)
    return loc, kpi


def forget_cache() -> None:
    with _LOCK:
        _CACHE.clear()


def _secret(store) -> bytes:
    r = store.query("SELECT value FROM web_secrets WHERE name = 'client_hash'")
    if r.empty:
        store.upsert("web_secrets", pd.DataFrame([{"name": "client_hash", "value": secrets.token_hex(32),
                                                   "created_utc": datetime.now(timezone.utc).replace(tzinfo=None)}]))
        r = store.query("SELECT value FROM web_secrets WHERE name = 'client_hash'")
    return bytes.fromhex(str(r["value"].iloc[0]))


def client_hash(store, client: str) -> str:
    return hmac.new(_secret(store), (client or "?").encode(), hashlib.sha256).hexdigest()


def _flag(v) -> bool | None:
    if v in (None, ""):
        return None
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("ja", "yes", "true", "1", "on"):
        return True
    if s in ("nee", "no", "false", "0", "off"):
        return False
    raise RequestError(f"ongeldige keuze {v!r} (ja of nee)")


def validate(form: dict, today: date) -> dict:
    """Typed fields of the form; RequestError with a Dutch message on bad input."""
    try:
        lat, lon = float(form.get("lat")), float(form.get("lon"))
    except (TypeError, ValueError):
        raise RequestError("kies de plek op de kaart of vul de coördinaten in (breedte- en lengtegraad)") from None
    if not (50.5 <= lat <= 53.7 and 3.2 <= lon <= 7.3):
        raise RequestError("de plek ligt niet in Nederland")
    ev = (form.get("ev_status") or "").strip()
    if ev not in ("ev", "lease_ordered", "none"):
        raise RequestError("geef aan of u elektrisch rijdt")
    expected = None
    if ev == "lease_ordered":
        try:
            expected = date.fromisoformat(str(form.get("expected_date") or ""))
        except ValueError:
            raise RequestError("vul de verwachte leverdatum van de auto in (JJJJ-MM-DD)") from None
        if expected < today - timedelta(days=1) or expected > today + timedelta(days=730):
            raise RequestError("de verwachte leverdatum moet binnen twee jaar liggen")
    address = (form.get("address") or "").strip()[:200] or None
    pc = (form.get("postal_code") or "").strip().upper().replace(" ", "") or None
    if pc is not None and not (len(pc) == 6 and pc[:4].isdigit() and pc[4:].isalpha()):
        raise RequestError("de postcode moet de vorm 1234AB hebben")
    if form.get("lives_in_gm") in (None, "") and form.get("works_in_gm") in (None, ""):
        raise RequestError("geef aan of u in de gemeente woont of werkt")
    return {"lat": lat, "lon": lon, "ev_status": ev, "expected_date": expected, "address": address,
            "postal_code": pc, "lives_in_gm": _flag(form.get("lives_in_gm")),
            "works_in_gm": _flag(form.get("works_in_gm")),
            "has_private_parking": _flag(form.get("has_private_parking"))}


def reason_nl(r: dict, cfg: RegionConfig) -> str:
    """The decision in a Dutch sentence: the rule and the figures behind it."""
    rule = r.get("decision_rule")
    text = RULES_NL.get(rule, "")
    walk = cfg.walk_m(r.get("gm_code"))
    n, d = r.get("points_within_walk"), r.get("nearest_point_m")
    near = (f" Het dichtstbijzijnde openbare laadpunt staat op {fmt_num_nl(d)} m (loopafstand {fmt_num_nl(walk)} m)."
            if d is not None and not pd.isna(d) else f" Er is geen openbaar laadpunt in de buurt (loopafstand "
            f"{fmt_num_nl(walk)} m).")
    if rule in ("REQ-NO-POINT", "REQ-POINTS-BUSY", "REQ-POINT-AVAILABLE", "REQ-NO-OCCUPANCY-DATA"):
        text += near
        if n:
            text += f" Laadlocaties binnen loopafstand: {fmt_num_nl(n)}."
    return text


def decide(store, cfg: RegionConfig, fields: dict, *, cache_key: str, today: date) -> dict:
    """The decision for one request (not stored): the rule, Dutch reason and dates."""
    from laadplan.placement.requests import decide_requests

    x, y = geo.to_rd(np.array([fields["lon"]]), np.array([fields["lat"]]))
    gm = _gemeente_of(store, fields["lat"], fields["lon"])
    req = pd.DataFrame([{
        "request_id": "web", "requested_date": pd.Timestamp(today), "lat": fields["lat"], "lon": fields["lon"],
        "x_rd": float(x[0]), "y_rd": float(y[0]), "gm_code": gm, "lives_in_gm": fields["lives_in_gm"],
        "works_in_gm": fields["works_in_gm"], "drives_ev": fields["ev_status"] != "none",
        "has_private_parking": fields["has_private_parking"]}])
    for c in ("lives_in_gm", "works_in_gm", "drives_ev", "has_private_parking"):
        req[c] = req[c].astype("boolean")
    loc, kpi = decision_inputs(store, cfg, cache_key)
    d = decide_requests(req, loc, kpi, cfg).iloc[0].to_dict()
    d["gm_code"] = gm
    d["decision_nl"] = DECISION_NL.get(d.get("decision") if isinstance(d.get("decision"), str) else None)
    d["reason_nl"] = reason_nl(d, cfg)
    for c in ("decided_date", "objection_end_date", "operational_date"):
        v = d.get(c)
        d[c + "_nl"] = None if v is None or pd.isna(v) else fmt_date_nl(v)
    return d


def submit(store, cfg: RegionConfig, form: dict, client: str, *, cache_key: str,
           now: datetime | None = None) -> dict:
    """Validate, rate-limit, decide and store one request; returns what the resident is shown."""
    sc = cfg.server
    t = now or datetime.now(timezone.utc).replace(tzinfo=None)
    purge(store, cfg, now=t)  # the retention period is enforced whenever the form is used
    fields = validate(form, t.date())
    ch = client_hash(store, client)
    n = store.count("web_requests", "client_hash = ? AND created_utc > ?", [ch, t - timedelta(hours=1)])
    if n >= sc.web_requests_per_hour_per_client:
        raise RateLimited(f"u heeft het afgelopen uur al {n} aanvragen gedaan; probeer het later opnieuw")
    d = decide(store, cfg, fields, cache_key=cache_key, today=t.date())
    rid = "WEB-" + t.strftime("%Y%m%d") + "-" + secrets.token_hex(4).upper()
    row = {"request_id": rid, "requested_date": pd.Timestamp(t.date()), "address": fields["address"],
           "postal_code": fields["postal_code"], "lat": fields["lat"], "lon": fields["lon"],
           "x_rd": d["x_rd"], "y_rd": d["y_rd"], "gm_code": d["gm_code"], "lives_in_gm": fields["lives_in_gm"],
           "works_in_gm": fields["works_in_gm"], "drives_ev": fields["ev_status"] != "none",
           "has_private_parking": fields["has_private_parking"], "decision": d.get("decision"),
           "decision_rule": d.get("decision_rule"), "decision_reason": d.get("decision_reason"),
           "nearest_point_m": d.get("nearest_point_m"), "points_within_walk": d.get("points_within_walk"),
           "decided_date": d.get("decided_date"), "objection_end_date": d.get("objection_end_date"),
           "operational_date": d.get("operational_date"), "source": "web-form", "source_file": None,
           "last_updated_utc": t}
    with store.transaction():
        store.upsert("requests", pd.DataFrame([row]))
        store.upsert("web_requests", pd.DataFrame([{"request_id": rid, "created_utc": t, "client_hash": ch,
                                                    "ev_status": fields["ev_status"],
                                                    "expected_date": fields["expected_date"], "purged_utc": None}]))
    return {"request_id": rid, **{k: d.get(k) for k in (
        "decision", "decision_nl", "decision_rule", "reason_nl", "gm_code", "decided_date_nl",
        "objection_end_date_nl", "operational_date_nl", "points_within_walk")},
            "nearest_point_m": None if pd.isna(d.get("nearest_point_m")) else float(d["nearest_point_m"])}


def retention_status(store, cfg: RegionConfig, now: datetime | None = None) -> dict:
    """What the retention rule finds: the cut-off (``now`` minus ``server.web_request_retention_days``), the
    web requests created before it whose personal data is still there (``to_purge``, their ids in ``ids``),
    those purged before (``already_purged``) and those within the retention period (``kept``)."""
    t = now or datetime.now(timezone.utc).replace(tzinfo=None)
    cutoff = t - timedelta(days=cfg.server.web_request_retention_days)
    w = store.query("SELECT request_id, created_utc, purged_utc FROM web_requests ORDER BY created_utc, request_id")
    old = pd.to_datetime(w["created_utc"]) < pd.Timestamp(cutoff)
    done = w["purged_utc"].notna()
    return {"now_utc": t, "retention_days": cfg.server.web_request_retention_days, "cutoff_utc": cutoff,
            "to_purge": int((old & ~done).sum()), "already_purged": int(done.sum()), "kept": int((~old & ~done).sum()),
            "ids": w.loc[old & ~done, "request_id"].tolist()}


def purge(store, cfg: RegionConfig, now: datetime | None = None, *, dry_run: bool = False) -> int:
    """Remove the personal data of web requests older than the retention period (created before ``now``
    minus ``server.web_request_retention_days``; one exactly that old is kept): address and postal code
    emptied, the point moved to the centre of its 100 m RD cell, the keyed hash of the client address
    (kept for the hourly rate limit only) emptied. The decision and its rule stay (the plan's request
    trigger counts them). Returns the number purged (``dry_run``: that would be purged, nothing changed).
    Requests loaded from a municipality's CSV (``laadplan ingest requests``) are not web requests and are
    not touched: their retention is the municipality's own."""
    st = retention_status(store, cfg, now)
    t, ids = st["now_utc"], st["ids"]
    if dry_run or not ids:
        return len(ids)
    ph = ", ".join("?" for _ in ids)
    r = store.query(f"SELECT * FROM requests WHERE request_id IN ({ph})", ids)
    if len(r):
        x = (np.floor(r["x_rd"].astype("float64") / 100) * 100 + 50).to_numpy()
        y = (np.floor(r["y_rd"].astype("float64") / 100) * 100 + 50).to_numpy()
        lon, lat = geo.to_wgs84(x, y)
        r = r.assign(address=None, postal_code=None, x_rd=x, y_rd=y, lat=np.asarray(lat), lon=np.asarray(lon),
                     last_updated_utc=pd.Timestamp(t))
    with store.transaction():
        if len(r):
            store.upsert("requests", r)
        store.con.execute(f"UPDATE web_requests SET purged_utc = ?, client_hash = NULL WHERE request_id IN ({ph})",
                          [t, *ids])
    return len(ids)
