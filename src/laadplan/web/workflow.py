"""The placement workflow: each plan site is a proposal that a municipality takes from ``voorgesteld`` to
``gerealiseerd``, with an append-only audit trail.

States (:data:`laadplan.model.web.SITE_STATES`)::

    voorgesteld -> akkoord_gemeente -> verkeersbesluit_genomen -> in_aanleg -> gerealiseerd
         |  ^
         v  |  (heropenen)
      afgewezen (with a reason)

* ``verkeersbesluit_genomen`` takes the decision date; the objection period (``request_objection_weeks``)
  runs from it and ``in_aanleg`` is possible only after it has ended;
* ``gerealiseerd`` is set by :func:`match_realised` when an EVSE appears in the data within the walking
  distance of the site that was not there when the municipality agreed (or by the region by hand);
* a ``voorgesteld`` site can be moved (:func:`move_site`); the spacing and grid checks of the placement
  package run again for the new spot (:func:`check_spot`).

The trail (table ``site_events``) is only ever appended to: this module has no UPDATE or DELETE; each event
holds the sha256 of the previous event and of its own fields, and :func:`verify_trail` finds any edit.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd

from laadplan import geo
from laadplan.config import RegionConfig
from laadplan.model.web import SITE_STATES

STATE_LABELS = {
    "voorgesteld": "voorgesteld",
    "akkoord_gemeente": "akkoord gemeente",
    "afgewezen": "afgewezen",
    "verkeersbesluit_genomen": "verkeersbesluit genomen",
    "in_aanleg": "in aanleg",
    "gerealiseerd": "gerealiseerd",
}
#: allowed next states per state
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "voorgesteld": ("akkoord_gemeente", "afgewezen"),
    "afgewezen": ("voorgesteld",),
    "akkoord_gemeente": ("verkeersbesluit_genomen", "afgewezen"),
    "verkeersbesluit_genomen": ("in_aanleg",),
    "in_aanleg": ("gerealiseerd",),
    "gerealiseerd": (),
}
#: who may set a state (the gemeente role only for its own municipality)
ROLES_FOR: dict[str, tuple[str, ...]] = {
    "akkoord_gemeente": ("region", "gemeente"),
    "afgewezen": ("region", "gemeente"),
    "voorgesteld": ("region", "gemeente"),
    "verkeersbesluit_genomen": ("region", "gemeente"),
    "in_aanleg": ("region", "gemeente", "operator"),
    "gerealiseerd": ("region",),
}
HASH_FIELDS = ("seq", "event_id", "created_utc", "site_id", "gm_code", "action", "state", "reason",
               "decision_date", "objection_end_date", "lat", "lon", "evse_id", "known_evses", "actor", "actor_role")
EXCLUDED_EVSE_STATUS = ("REMOVED", "PLANNED")


class WorkflowError(ValueError):
    """A change the workflow does not allow; the message is Dutch and meant for the user."""


class NotFound(WorkflowError):
    pass


class Forbidden(WorkflowError):
    pass


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


# ---- the trail --------------------------------------------------------------------------------------------
def _canon(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (pd.Timestamp, datetime)):
        return pd.Timestamp(v).strftime("%Y-%m-%dT%H:%M:%S.%f")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return round(float(v), 7)
    return v


DATE_FIELDS = ("decision_date", "objection_end_date")


def event_hash(row: dict, prev_hash: str) -> str:
    vals = {k: _canon(row.get(k)) for k in HASH_FIELDS}
    for k in DATE_FIELDS:  # a DATE reads back as a midnight timestamp: hash the day only
        if vals[k] is not None:
            vals[k] = pd.Timestamp(row[k]).date().isoformat()
    body = json.dumps(vals, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + "|" + body).encode()).hexdigest()


def append_event(store, row: dict, *, now: datetime | None = None) -> dict:
    """Append one event to the trail (sequence number and hash chain computed here); returns the row.
    Two writers at once: the second one's sequence number collides with the primary key and is retried."""
    from laadplan import model

    cols = model.table("site_events").column_names
    for attempt in range(5):
        try:
            with store.transaction():
                last = store.query("SELECT seq, event_hash FROM site_events ORDER BY seq DESC LIMIT 1")
                seq = 1 if last.empty else int(last["seq"].iloc[0]) + 1
                prev = "" if last.empty else str(last["event_hash"].iloc[0])
                r = {c: None for c in cols}
                r.update(row)
                r.update(seq=seq, event_id=secrets.token_hex(8), created_utc=pd.Timestamp(now or _now()).floor("us"),
                         prev_hash=prev)
                r["event_hash"] = event_hash(r, prev)
                store.append("site_events", pd.DataFrame([r])[cols])
            return r
        except Exception as e:  # noqa: BLE001 - a concurrent append took the sequence number: retry
            if attempt == 4 or "constraint" not in str(e).lower() and "conflict" not in str(e).lower():
                raise
    raise RuntimeError("unreachable")


def events(store, site_id: str | None = None, gm_codes: list[str] | None = None) -> pd.DataFrame:
    """The trail (oldest first), optionally of one site or of the sites of some municipalities."""
    where, params = [], []
    if site_id is not None:
        where.append("site_id = ?")
        params.append(site_id)
    if gm_codes is not None:
        if not gm_codes:
            return store.query("SELECT * FROM site_events WHERE false")
        where.append("gm_code IN (" + ", ".join("?" for _ in gm_codes) + ")")
        params += list(gm_codes)
    sql = "SELECT * FROM site_events" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
    return store.query(sql, params)


def verify_trail(store) -> list[str]:
    """Problems in the trail: a gap in the sequence, a broken chain or a changed event ([] when intact)."""
    ev = store.query("SELECT * FROM site_events ORDER BY seq")
    problems, prev = [], ""
    for i, r in enumerate(ev.to_dict("records"), start=1):
        if int(r["seq"]) != i:
            problems.append(f"event {i} is missing (next is {r['seq']})")
            break
        if r["prev_hash"] != prev:
            problems.append(f"event {i}: the chain is broken (previous hash differs)")
        if event_hash(r, r["prev_hash"]) != r["event_hash"]:
            problems.append(f"event {i}: its content was changed after it was written")
        prev = r["event_hash"]
    return problems


# ---- sites ------------------------------------------------------------------------------------------------
def plan_site_rows(store) -> pd.DataFrame:
    """One row per plan site: first year, total EVSEs, reasons, triggers, grid route, position of the plan."""
    return store.query(
        "SELECT site_id, any_value(gm_code) AS gm_code, min(year) AS year, max(evses_total) AS evses, "
        "sum(power_kw) AS power_kw, string_agg(DISTINCT reasons, '; ' ORDER BY reasons) AS reasons, "
        "string_agg(DISTINCT triggers, ';' ORDER BY triggers) AS triggers, any_value(grid_route) AS grid_route, "
        "any_value(ean18) AS ean18, any_value(area_code) AS area_code, max(offtake_status) AS offtake_status, "
        "min(lead_time_weeks) AS lead_time_weeks, any_value(lat) AS plan_lat, any_value(lon) AS plan_lon "
        "FROM plan_sites GROUP BY site_id ORDER BY min(year), site_id")


def sites(store, gm_codes: list[str] | None = None, site_id: str | None = None) -> pd.DataFrame:
    """Plan sites with their current state and position (a move's position replaces the plan's)."""
    s = plan_site_rows(store)
    if gm_codes is not None:
        s = s[s["gm_code"].isin(gm_codes)]
    if site_id is not None:
        s = s[s["site_id"] == site_id]
    s = s.reset_index(drop=True)
    ev = events(store, site_id=site_id, gm_codes=gm_codes)
    s["state"] = "voorgesteld"
    s["lat"], s["lon"] = s["plan_lat"].astype("float64"), s["plan_lon"].astype("float64")
    s["moved"] = False
    for c in ("decision_date", "objection_end_date", "reason", "evse_id", "changed_utc", "known_evses"):
        s[c] = None
    if len(ev) and len(s):
        idx = {sid: i for i, sid in enumerate(s["site_id"])}
        for r in ev.to_dict("records"):
            i = idx.get(r["site_id"])
            if i is None:
                continue
            s.at[i, "state"] = r["state"]
            s.at[i, "changed_utc"] = r["created_utc"]
            if r["action"] == "move":
                s.at[i, "lat"], s.at[i, "lon"], s.at[i, "moved"] = r["lat"], r["lon"], True
            else:
                s.at[i, "reason"] = r["reason"]
            if r["state"] == "verkeersbesluit_genomen" and r["action"] == "state":
                s.at[i, "decision_date"], s.at[i, "objection_end_date"] = r["decision_date"], r["objection_end_date"]
            if r["state"] == "akkoord_gemeente" and r["action"] == "state":
                s.at[i, "known_evses"] = r["known_evses"]
            if r["state"] == "gerealiseerd":
                s.at[i, "evse_id"] = r["evse_id"]
            if r["state"] in ("voorgesteld", "afgewezen"):
                s.at[i, "decision_date"] = s.at[i, "objection_end_date"] = None
    s["state_label"] = s["state"].map(STATE_LABELS)
    return s


def _site(store, site_id: str) -> dict:
    s = sites(store, site_id=site_id)
    if s.empty:
        raise NotFound(f"plan-locatie {site_id} bestaat niet")
    return s.iloc[0].to_dict()


def _may(principal, site: dict, new_state: str | None = None) -> None:
    if principal is None:
        raise Forbidden("log eerst in")
    if principal.role == "gemeente" and principal.gm_code != site.get("gm_code"):
        raise Forbidden("deze plan-locatie ligt niet in uw gemeente")
    roles = ROLES_FOR.get(new_state, ("region", "gemeente")) if new_state else ("region", "gemeente")
    if principal.role not in roles:
        raise Forbidden(f"de rol {principal.role} mag dit niet")


def evses_near(store, cfg: RegionConfig, lat: float, lon: float, gm_code: str | None) -> pd.DataFrame:
    """Working EVSEs (not REMOVED/PLANNED) within the walking distance of a point, with their distance."""
    e = store.query(
        "SELECT e.country_code, e.party_id, e.location_id, e.evse_uid, e.evse_id, l.lat, l.lon "
        "FROM evses e JOIN locations l USING (country_code, party_id, location_id) "
        "WHERE coalesce(e.status, '') NOT IN ('REMOVED', 'PLANNED') AND l.lat IS NOT NULL "
        "AND l.lat BETWEEN ? AND ? AND l.lon BETWEEN ? AND ?",
        [lat - 0.05, lat + 0.05, lon - 0.08, lon + 0.08])
    if e.empty:
        return e.assign(distance_m=pd.Series(dtype="float64"), key=pd.Series(dtype="string"))
    x, y = geo.to_rd(e["lon"].to_numpy("float64"), e["lat"].to_numpy("float64"))
    sx, sy = geo.to_rd(np.array([lon]), np.array([lat]))
    e["distance_m"] = np.hypot(np.asarray(x) - sx[0], np.asarray(y) - sy[0])
    e["key"] = (e["country_code"].astype(str) + "*" + e["party_id"].astype(str) + "*" + e["location_id"].astype(str)
                + "*" + e["evse_uid"].astype(str))
    return e[e["distance_m"] <= cfg.walk_m(gm_code) + 1e-9].sort_values("distance_m").reset_index(drop=True)


def transition(store, cfg: RegionConfig, site_id: str, new_state: str, principal, *, reason: str | None = None,
               decision_date: date | None = None, now: datetime | None = None) -> dict:
    """Move a site to ``new_state`` (checks the order, the role, the municipality and the required fields)."""
    if new_state not in SITE_STATES:
        raise WorkflowError(f"onbekende status {new_state!r}")
    site = _site(store, site_id)
    _may(principal, site, new_state)
    cur = site["state"]
    if new_state not in TRANSITIONS[cur]:
        raise WorkflowError(f"van '{STATE_LABELS[cur]}' kan de plan-locatie niet naar '{STATE_LABELS[new_state]}'")
    reason = (reason or "").strip() or None
    row: dict[str, Any] = {"site_id": site_id, "gm_code": site["gm_code"], "action": "state", "state": new_state,
                           "reason": reason, "actor": principal.token_id, "actor_role": principal.role}
    today = (now or _now()).date()
    if new_state == "afgewezen" and not reason:
        raise WorkflowError("geef een reden voor de afwijzing")
    if new_state == "voorgesteld" and not reason:
        raise WorkflowError("geef een reden om de plan-locatie te heropenen")
    if new_state == "verkeersbesluit_genomen":
        if decision_date is None:
            raise WorkflowError("geef de datum van het verkeersbesluit")
        if decision_date > today:
            raise WorkflowError("de datum van het verkeersbesluit ligt in de toekomst")
        row["decision_date"] = decision_date
        row["objection_end_date"] = decision_date + timedelta(days=round(cfg.placement.request_objection_weeks * 7))
    if new_state == "in_aanleg":
        end = site.get("objection_end_date")
        if end is not None and not pd.isna(end) and pd.Timestamp(end).date() > today:
            raise WorkflowError(f"de bezwaartermijn loopt nog tot {fmt_date_nl(pd.Timestamp(end).date())}")
    if new_state == "gerealiseerd" and not reason:
        raise WorkflowError("geef aan waaruit blijkt dat de plan-locatie gerealiseerd is")
    if new_state == "akkoord_gemeente":
        near = evses_near(store, cfg, float(site["lat"]), float(site["lon"]), site["gm_code"])
        row["known_evses"] = ";".join(near["key"]) if len(near) else ""
    return append_event(store, row, now=now)


# ---- moving a site ---------------------------------------------------------------------------------------
@dataclass
class SpotCheck:
    ok: bool
    checks: list[dict]

    def as_dict(self) -> dict:
        return {"ok": self.ok, "checks": self.checks}


def _gemeente_of(store, lat: float, lon: float) -> str | None:
    from laadplan.grid.capacity import wkb_bytes

    gm = wkb_bytes(store.query("SELECT area_code, geometry_wkb FROM areas WHERE level = 'gemeente' AND "
                               "geometry_wkb IS NOT NULL"))
    if gm.empty:
        return None
    v = geo.assign_area(np.array([lon]), np.array([lat]), gm).iloc[0]
    return None if pd.isna(v) else str(v)


def check_spot(store, cfg: RegionConfig, site: dict, lat: float, lon: float) -> SpotCheck:
    """The placement checks for a site at a new spot: inside its municipality, the spacing to the other plan
    sites (``min_spacing_m``), the public points already within walking distance, and the grid: capacity-map
    status, route and whether the congestion rule refuses a new connection there in the site's year
    (:func:`laadplan.placement.candidates.site_grid_feasibility`, the plan's own check)."""
    from laadplan.grid.capacity import wkb_bytes
    from laadplan.placement.candidates import site_grid_feasibility

    pc = cfg.placement
    checks: list[dict] = []
    x, y = geo.to_rd(np.array([lon]), np.array([lat]))
    x, y = float(x[0]), float(y[0])
    gm = _gemeente_of(store, lat, lon)
    if gm is not None or site.get("gm_code"):
        inside = gm == site.get("gm_code")
        checks.append({"check": "gemeente", "ok": inside,
                       "text": "ligt in de eigen gemeente" if inside else
                       f"ligt buiten de gemeente {site.get('gm_code')} ({gm or 'buiten de regio'})"})
    others = sites(store)
    others = others[(others["site_id"] != site["site_id"]) & (others["state"] != "afgewezen")
                    & others["lat"].notna()]
    if len(others):
        ox, oy = geo.to_rd(others["lon"].to_numpy("float64"), others["lat"].to_numpy("float64"))
        d = np.hypot(np.asarray(ox) - x, np.asarray(oy) - y)
        k = int(np.argmin(d))
        ok = bool(d[k] >= pc.min_spacing_m - 1e-9)
        checks.append({"check": "spacing", "ok": ok, "distance_m": float(d[k]),
                       "nearest_site": str(others["site_id"].iloc[k]), "min_spacing_m": pc.min_spacing_m,
                       "text": (f"dichtstbijzijnde andere plan-locatie op {fmt_num_nl(d[k])} m "
                                f"({'minimaal' if ok else 'minder dan de minimale'} {fmt_num_nl(pc.min_spacing_m)} m)")})
    else:
        checks.append({"check": "spacing", "ok": True, "distance_m": None, "min_spacing_m": pc.min_spacing_m,
                       "text": "geen andere plan-locaties"})
    near = evses_near(store, cfg, lat, lon, site.get("gm_code"))
    walk = cfg.walk_m(site.get("gm_code"))
    checks.append({"check": "existing_points", "ok": True, "evses_within_walk": int(len(near)), "walk_m": walk,
                   "text": (f"{fmt_num_nl(len(near))} bestaande laadpunten binnen {fmt_num_nl(walk)} m loopafstand"
                            + (f", dichtstbijzijnde op {fmt_num_nl(near['distance_m'].iloc[0])} m" if len(near) else ""))})
    year = int(site.get("year") or pc.years[0])
    one = pd.DataFrame({"site_id": [site["site_id"]], "x_rd": [x], "y_rd": [y], "lat": [lat], "lon": [lon]})
    conns = store.frame("grid_connections")
    ga = wkb_bytes(store.frame("grid_areas"))
    feas, _ = site_grid_feasibility(one, conns, ga, cfg, [year], congestion_rule=True)
    f = feas.iloc[0]
    status = int(f["offtake_status"])
    allowed = bool(f[f"allowed_{year}"])
    route = "bestaande aansluiting " + str(f["ean18"]) if f["grid_route"] == "existing_connection" else "nieuwe aansluiting"
    status_nl = {-1: "onbekend", 0: "capaciteit beschikbaar", 1: "beperkt", 2: "onderzoek / congestiemanagement",
                 3: "tekort"}.get(status, str(status))
    checks.append({"check": "grid", "ok": allowed, "offtake_status": status, "area_code": None if pd.isna(
        f["area_code"]) else str(f["area_code"]), "grid_route": str(f["grid_route"]),
                   "lead_time_weeks": float(f["lead_time_weeks"]),
                   "text": (f"netcapaciteit afname: {status_nl}; {route}; "
                            + (f"aansluiten kan in {year}" if allowed else
                               f"nieuwe aansluiting in {year} geweigerd (congestie) en geen bestaande aansluiting "
                               "binnen bereik")
                            + f"; doorlooptijd na besluit ca. {fmt_num_nl(f['lead_time_weeks'])} weken")})
    return SpotCheck(ok=all(c["ok"] for c in checks), checks=checks)


def move_site(store, cfg: RegionConfig, site_id: str, lat: float, lon: float, principal, *,
              reason: str | None = None, save: bool = True, now: datetime | None = None) -> dict:
    """Check a new spot for a proposed site and, when ``save`` and every check passes, record the move."""
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise WorkflowError("ongeldige coördinaten")
    site = _site(store, site_id)
    _may(principal, site)
    if site["state"] != "voorgesteld":
        raise WorkflowError(f"alleen een voorgestelde plan-locatie kan verplaatst worden (nu: "
                            f"{STATE_LABELS[site['state']]})")
    chk = check_spot(store, cfg, site, lat, lon)
    out = {"site_id": site_id, "lat": lat, "lon": lon, **chk.as_dict(), "saved": False}
    if save and chk.ok:
        reason = (reason or "").strip() or "verplaatst op de kaart"
        append_event(store, {"site_id": site_id, "gm_code": site["gm_code"], "action": "move",
                             "state": "voorgesteld", "reason": reason, "lat": lat, "lon": lon,
                             "actor": principal.token_id, "actor_role": principal.role}, now=now)
        out["saved"] = True
    return out


# ---- realisation ------------------------------------------------------------------------------------------
def match_realised(store, cfg: RegionConfig, now: datetime | None = None) -> list[dict]:
    """Sites with a traffic decision (verkeersbesluit genomen or in aanleg) near which an EVSE appeared that
    was not within walking distance when the municipality agreed: recorded as ``gerealiseerd`` by the
    system, with that EVSE. Returns the new events."""
    s = sites(store)
    s = s[s["state"].isin(("verkeersbesluit_genomen", "in_aanleg"))]
    out = []
    for r in s.to_dict("records"):
        near = evses_near(store, cfg, float(r["lat"]), float(r["lon"]), r["gm_code"])
        known = set((r.get("known_evses") or "").split(";")) - {""}
        new = near[~near["key"].isin(known)]
        if len(new):
            e = new.iloc[0]
            out.append(append_event(store, {
                "site_id": r["site_id"], "gm_code": r["gm_code"], "action": "state", "state": "gerealiseerd",
                "reason": f"nieuw laadpunt {e['evse_id'] or e['evse_uid']} op {fmt_num_nl(e['distance_m'])} m in de data",
                "evse_id": str(e["evse_id"] or e["key"]), "actor": "system", "actor_role": None}, now=now))
    return out


def state_summary(store, gm_codes: list[str] | None = None, now: datetime | None = None) -> dict:
    """Realisation of the plan sites up to now: sites per state, and the days from the municipality's
    agreement to the site's realisation (median and 90th percentile over the realised sites; None without
    any), computed by :mod:`laadplan.contract.sites` -- the same definition as the contract KPIs and the
    progress report (there per period)."""
    from laadplan.contract import sites as sw

    s = sites(store, gm_codes=gm_codes)
    counts = {st: int((s["state"] == st).sum()) for st in SITE_STATES}
    ev = events(store, gm_codes=gm_codes)
    end = max([pd.Timestamp(now or _now()), *pd.to_datetime(ev["created_utc"]).tail(1)]) + pd.Timedelta(seconds=1)
    tl = sw.site_timeline(ev, s[["site_id", "gm_code"]], end)
    k = sw.site_kpis(tl, pd.Timestamp(0), end, float("inf"))
    return {"sites": int(len(s)), "by_state": counts, "realised": counts["gerealiseerd"],
            "agreed": k["sites_agreed"], "realisation_share": k["site_realisation_share"],
            "lead_days_median": k["site_lead_time_median_days"], "lead_days_p90": k["site_lead_time_p90_days"]}


def agreed_sites(store) -> pd.DataFrame:
    """The list for the operator: sites the municipality agreed to and further (not afgewezen)."""
    s = sites(store)
    s = s[s["state"].isin(("akkoord_gemeente", "verkeersbesluit_genomen", "in_aanleg", "gerealiseerd"))]
    return s[["site_id", "gm_code", "year", "evses", "power_kw", "lat", "lon", "state", "decision_date",
              "objection_end_date", "grid_route", "ean18", "reasons"]].reset_index(drop=True)


# ---- Dutch formatting ---------------------------------------------------------------------------------------
def fmt_num_nl(v: Any, decimals: int = 0) -> str:
    """1234.5 -> '1.235' (decimals=0) or '1.234,5'; None/NaN -> 'n.b.'."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "n.b."
    s = f"{float(v):,.{decimals}f}"
    return s.replace(",", "_").replace(".", ",").replace("_", ".")


MONTHS_NL = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
             "november", "december")


def fmt_date_nl(d: Any) -> str:
    if d is None or (isinstance(d, float) and np.isnan(d)) or d is pd.NaT:
        return "n.b."
    d = pd.Timestamp(d)
    return f"{d.day} {MONTHS_NL[d.month - 1]} {d.year}"
