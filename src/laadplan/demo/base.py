"""The built-in demo region: a synthetic but realistic NAL-regio Zuidwest, generated deterministically.

Everything here is **synthetic**. The only real inputs are the public facts of the 63 municipalities
(:mod:`laadplan.demo.facts`: CBS inhabitants, cars, income, urbanity and the centroid of each municipality).
From those and a seed, :func:`generate_demo` builds (pure, no I/O):

* **gemeente polygons**: Voronoi cells of the municipality centroids in RD New, clipped to the region's
  convex hull buffered by 6 km (shapes are not the real borders);
* **buurt polygons**: each gemeente split into 3-30 buurten (Voronoi cells of random points inside it,
  ordered from the centre outwards), grouped 5 per wijk; inhabitants, households and cars are split over the
  buurten with Dirichlet weights (largest-remainder rounding, so the sums equal the gemeente facts);
* **charge locations** (OCPI 2.2.1 Location/EVSE/Connector): mostly on-street AC poles (1-2 EVSEs of 11 kW,
  some 22 kW or 7.4 kW, 15 % without ``max_electric_power`` so power must be derived), plus DC hubs of
  50-350 kW, a few along motorways; located in buurten with probability proportional to
  ``inhabitants x (0.4 + share of apartments) x urbanity weight``;
* **tariffs** (OCPI 2.2.1) per CPO, some above the concession maximum of EUR 0.48/kWh incl. VAT;
* **CDRs** for 2025-11-01 .. 2026-10-31 (UTC). Each AC EVSE-day has at most one *daytime* session (arrival
  ~ N(9:00, 1.3 h) weekdays, N(11:30, 1.5 h) weekends, ends before 15:25 local) and at most one *evening*
  session (arrival ~ N(18:00, 1.5 h) weekdays, N(17:30, 2.2 h) weekends, truncated to 15:30-23:30; 65 % of
  them, 98 % in busy buurten, stay overnight until ~7:30 next morning). The probability of a session on an
  EVSE-day is ``p_e x w(weekday) x g(day)`` with a per-EVSE base rate ``p_e`` (gamma distributed; close to 1
  in the *busy* buurten, so that their peak-hour-of-week occupancy exceeds 85 %), weekday weights ``w`` and a
  linear growth ``g`` from 0.75 to 1.0 over the year (busy: 0.90 to 1.0). DC EVSEs get
  ``Poisson(lambda_e x w x g)`` sessions a day in equal slots between 7:00 and 22:00 so they never overlap.
  Energy: lognormal wish capped by what the car's on-board charger can take in the connected time,
  ``E = min(E_wish, 0.98 x P_eff x T_connected)`` with ``P_eff = 0.95 x min(P_connector, P_car)``, and
  charging time ``E / P_eff <= T_connected``;
* **commissioning**: ~15 % of the ordinary AC locations come into service during the year (no session or
  status before that date), so the contract and report see EVSEs being placed;
* **status observations**: one AVAILABLE per EVSE when it comes into service, faults (OUTOFORDER / INOPERATIVE for hours to
  days, repeated faults on a few "lemon" EVSEs, a fault spanning each of two month boundaries) and UNKNOWN
  gaps, each followed by AVAILABLE; CHARGING/AVAILABLE at session start/end for the EVSEs in Zeeland.
  Sessions overlapping a fault are removed;
* a **sprinkling of bad records** (~0.5-1 %) in every file, each tagged with the validation rule
  (:mod:`laadplan.ingest.rules`) that must quarantine it; :func:`write_demo` returns (and ``step`` writes to
  ``manifest.json``) where each one is.

:func:`write_demo` writes the files in their real formats; the same seed gives byte-identical files.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from laadplan.demo.facts import municipalities
from laadplan.geo import to_rd, to_wgs84

log = logging.getLogger(__name__)

PERIOD_START = np.datetime64("2025-11-01")
N_DAYS = 365  # 2025-11-01 .. 2026-10-31
PERIOD_END_S = int((PERIOD_START + np.timedelta64(N_DAYS, "D")).astype("datetime64[s]").astype("int64"))
TIME_ZONE = "Europe/Amsterdam"

FILES = {
    "gemeenten": "areas_gemeenten.geojson",
    "buurten": "areas_buurten.geojson",
    "locations": "locations.ndjson",
    "tariffs": "tariffs.json",
    "cdrs": "cdrs.ndjson",
    "status": "status.csv",
}

#: AC charge point operators (party_id -> operator name) and the DC (fast charging) ones
AC_CPOS = {"EQU": "Equans", "VAT": "Vattenfall InCharge", "SHL": "Shell Recharge", "ALL": "Allego"}
DC_CPOS = {"FAS": "Fastned", "ION": "Ionity", "ALL": "Allego", "SHL": "Shell Recharge"}
CPO_NAMES = {**AC_CPOS, **DC_CPOS}
EMSPS = ("TNM", "SHL", "ANW", "VAT", "EVB")
#: ENERGY price excl. VAT (EUR/kWh) per tariff; 0.48 incl. 21 % VAT = 0.3967 excl.
AC_PRICES = {"EQU": 0.3471, "VAT": 0.3719, "SHL": 0.4132, "ALL": 0.3884}
DC_PRICES = {"FAS": 0.5372, "ION": 0.5785, "ALL": 0.5702, "SHL": 0.5454}
VAT_PCT = 21.0

STREETS = ("Kerkstraat", "Dorpsstraat", "Molenweg", "Stationsweg", "Schoolstraat", "Julianastraat",
           "Wilhelminastraat", "Beatrixstraat", "Nieuwstraat", "Havenstraat", "Parkweg", "Zuidsingel",
           "Noordsingel", "Lindelaan", "Eikenlaan", "Beukenlaan", "Tulpstraat", "Rozenstraat", "Emmastraat",
           "Oranjestraat", "Vondelstraat", "Rembrandtlaan", "Dijkstraat", "Polderweg", "Kade")
BUURT_NAMES = ("Centrum", "Oude Stad", "Noord", "Oost", "Zuid", "West", "Haven", "Park", "Polder", "Dorp")
PC_LETTERS = np.array(list("ABCDEFGHJKLMNPRSTVWXZ"))
APARTMENT_PCT = {1: 70.0, 2: 45.0, 3: 28.0, 4: 15.0, 5: 8.0}
URBANITY_WEIGHT = {1: 1.5, 2: 1.2, 3: 1.0, 4: 0.8, 5: 0.6}

#: bad-record kinds per file: name -> the rule code that must quarantine it
BAD_RULES: dict[str, dict[str, str]] = {
    "gemeenten": {"invalid_code": "LP-AREA-CODE"},
    "buurten": {"missing_geometry": "LP-GEOMETRY", "invalid_code": "LP-AREA-CODE"},
    "tariffs": {"missing_currency": "LP-MISSING", "price_not_a_number": "LP-TYPE"},
    "locations": {"swapped_coordinates": "LP-COORDS-NL", "missing_coordinates": "LP-MISSING",
                  "malformed_json": "LP-MALFORMED", "duplicate_id": "LP-DUPLICATE",
                  "invalid_evse_status": "LP-STATUS"},
    "cdrs": {"swapped_coordinates": "LP-COORDS-NL", "negative_energy": "LINDA-ENERGY-NEG",
             "start_not_before_end": "LINDA-START-END", "start_in_future": "LINDA-FUTURE",
             "before_2009": "LINDA-BEFORE-2009", "total_time_mismatch": "LINDA-TIME-MISMATCH",
             "missing_mandatory_field": "LP-MISSING", "malformed_json": "LP-MALFORMED",
             "duplicate_id": "LP-DUPLICATE", "energy_impossible_for_power": "LP-ENERGY-POWER",
             "negative_parking_time": "LP-CHARGE-GT-CONNECTED"},
    "status": {"invalid_status": "LP-STATUS", "missing_evse_uid": "LP-MISSING",
               "malformed_row": "LP-MALFORMED", "bad_timestamp": "LP-TYPE"},
}


@dataclass
class DemoData:
    """The generated demo region (synthetic). Geometries are shapely objects in WGS84.

    ``sessions`` and ``status`` hold the good records only (times as epoch seconds UTC, ``evse`` indexes
    ``evses``); ``bad`` holds per file the bad records (see :func:`_bad_records`); ``busy`` in ``buurten`` marks
    the over-busy buurten (ground truth for tests of the placement triggers).
    """

    seed: int
    scale: float
    gemeenten: pd.DataFrame
    buurten: pd.DataFrame
    locations: pd.DataFrame
    evses: pd.DataFrame
    connectors: pd.DataFrame
    tariffs: list[dict[str, Any]]
    sessions: pd.DataFrame
    status: pd.DataFrame
    faults: pd.DataFrame
    bad: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- helpers
_HMS = [f"T{h:02d}:{m:02d}:{x:02d}Z" for h in range(24) for m in range(60) for x in range(60)]


def _iso(seconds: np.ndarray) -> np.ndarray:
    """Epoch seconds -> ``YYYY-MM-DDTHH:MM:SSZ`` strings: the date of each distinct day formatted once,
    the time of day from a table of the 86,400 second labels."""
    sec = np.asarray(seconds, dtype="int64")
    if sec.size == 0:
        return np.array([], dtype=object)
    days, inv = np.unique(sec // 86400, return_inverse=True)
    labels = np.datetime_as_string(days.astype("datetime64[D]"), unit="D").tolist()
    tod = (sec % 86400).tolist()
    return np.array([labels[d] + _HMS[t] for d, t in zip(inv.tolist(), tod)], dtype=object)


def _split_int(total: int, weights: np.ndarray) -> np.ndarray:
    """Split an integer total proportionally to ``weights`` with largest-remainder rounding (sum exact)."""
    w = np.asarray(weights, dtype="float64")
    raw = total * w / w.sum()
    out = np.floor(raw).astype("int64")
    rest = total - out.sum()
    if rest > 0:
        order = np.argsort(-(raw - out), kind="stable")
        out[order[:rest]] += 1
    return out


def _sample_in(poly, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform random points inside a polygon (rejection sampling in its bounding box)."""
    xmin, ymin, xmax, ymax = poly.bounds
    xs, ys = [], []
    got = 0
    shapely.prepare(poly)
    for _ in range(200):
        if got >= n:
            break
        m = max(64, 3 * (n - got))
        x = rng.uniform(xmin, xmax, m)
        y = rng.uniform(ymin, ymax, m)
        ok = shapely.contains_xy(poly, x, y)
        xs.append(x[ok])
        ys.append(y[ok])
        got += int(ok.sum())
    x = np.concatenate(xs)[:n]
    y = np.concatenate(ys)[:n]
    if len(x) < n:  # degenerate sliver: fall back to the representative point
        p = poly.representative_point()
        x = np.concatenate([x, np.full(n - len(x), p.x)])
        y = np.concatenate([y, np.full(n - len(y), p.y)])
    return x, y


def _rd_to_wgs(geom):
    return shapely.transform(geom, lambda c: np.column_stack(to_wgs84(c[:, 0], c[:, 1])))


def _utc_offsets_h() -> np.ndarray:
    """UTC offset (hours) of Europe/Amsterdam at noon of each local day of the period (+1 extra day)."""
    days = pd.date_range(str(PERIOD_START), periods=N_DAYS + 2, freq="D") + pd.Timedelta(hours=12)
    loc = days.tz_localize(TIME_ZONE)
    return ((loc.tz_localize(None) - loc.tz_convert("UTC").tz_localize(None)) / pd.Timedelta(hours=1)).to_numpy()


# ------------------------------------------------------------------------------------------------ areas
def _areas(rng: np.random.Generator, scale: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    f = municipalities()
    x, y = to_rd(f["centroid_lon"].to_numpy(), f["centroid_lat"].to_numpy())
    pts = shapely.points(x, y)
    region = shapely.convex_hull(shapely.multipoints(pts)).buffer(6000)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=region, ordered=True))
    gm_rd = shapely.intersection(cells, region)
    gem = f.copy()
    gem["geometry_rd"] = gm_rd
    gem["share_apartments"] = [APARTMENT_PCT[u] / 100 for u in gem["urbanity"]]

    rows = []
    for i, g in gem.iterrows():
        poly = g["geometry_rd"]
        n = int(np.clip(round(np.sqrt(g["inhabitants"]) / 25), 3, 30))
        inner = poly.buffer(-300)
        if inner.is_empty:
            inner = poly
        bx, by = _sample_in(inner, n - 1, rng)
        cx, cy = x[i], y[i]
        if not shapely.contains_xy(poly, cx, cy):
            p = poly.representative_point()
            cx, cy = p.x, p.y
        bx = np.concatenate([[cx], bx])
        by = np.concatenate([[cy], by])
        order = np.argsort(np.hypot(bx - cx, by - cy), kind="stable")
        bx, by = bx[order], by[order]
        seeds = shapely.points(bx, by)
        vor = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=poly, ordered=True))
        bu_geom = shapely.intersection(vor, poly)
        rank = np.arange(n)
        centre = 1.6 - 0.8 * rank / max(n - 1, 1)  # more people in the centre
        w_inh = rng.dirichlet(np.full(n, 4.0)) * centre
        inh = _split_int(int(g["inhabitants"]), w_inh)
        hh = _split_int(int(g["households"]), w_inh * rng.uniform(0.9, 1.1, n))
        car_w = w_inh * (0.7 + 0.6 * rank / max(n - 1, 1)) * rng.uniform(0.9, 1.1, n)
        cars = _split_int(int(g["cars"]), car_w)
        urb = np.clip(int(g["urbanity"]) + np.where(rank < n / 4, -1, np.where(rank >= 3 * n / 4, 1, 0)), 1, 5)
        apt = np.clip(np.array([APARTMENT_PCT[int(u)] for u in urb]) + rng.normal(0, 8, n), 0, 100).round(1)
        income = (g["income_per_inhabitant_keur"] * rng.lognormal(0, 0.12, n)).round(1)
        gm4 = g["gm_code"][2:]
        for k in range(n):
            wk, bu = k // 5 + 1, k % 5 + 1
            rows.append({
                "bu_code": f"BU{gm4}{wk:02d}{bu:02d}", "wk_code": f"WK{gm4}{wk:02d}", "gm_code": g["gm_code"],
                "gm_name": g["name"], "province": g["province"],
                "name": f"{BUURT_NAMES[min(k, len(BUURT_NAMES) - 1)]} {wk}.{bu}" if k else "Centrum",
                "rank": k, "inhabitants": int(inh[k]), "households": int(hh[k]), "cars": int(cars[k]),
                "income_per_inhabitant_keur": float(income[k]), "urbanity": int(urb[k]),
                "share_apartments": float(apt[k]) / 100, "geometry_rd": bu_geom[k],
            })
    bu = pd.DataFrame(rows)
    bu["cars_per_household"] = (bu["cars"] / bu["households"].clip(lower=1)).round(2)
    # busy buurten: dense, many apartments; their EVSEs are used almost every night
    cand = np.flatnonzero((bu["urbanity"] <= 2).to_numpy() & (bu["share_apartments"] >= 0.35).to_numpy())
    n_busy = max(3, int(round(0.045 * len(cand) * min(1.0, np.sqrt(scale)))))
    busy = np.zeros(len(bu), dtype=bool)
    busy[rng.choice(cand, size=min(n_busy, len(cand)), replace=False)] = True
    bu["busy"] = busy
    for df in (gem, bu):
        df["geometry"] = [_rd_to_wgs(gm) for gm in df["geometry_rd"]]
        df["area_km2"] = shapely.area(df["geometry_rd"].to_numpy()) / 1e6
    return gem, bu


# ------------------------------------------------------------------------------------------- locations
def _locations(rng: np.random.Generator, gem: pd.DataFrame, bu: pd.DataFrame, scale: float):
    n_ac = max(20, int(round(900 * scale)))
    n_dc = max(4, int(round(30 * scale)))
    n_mw = max(2, int(round(8 * scale)))  # of the DC hubs, along motorways
    w = (bu["inhabitants"] * (0.4 + bu["share_apartments"]) * bu["urbanity"].map(URBANITY_WEIGHT)).to_numpy(float)
    per_bu = rng.multinomial(n_ac, w / w.sum())
    # every busy buurt has charge points (else nothing would be busy at small scales)
    per_bu = np.where(bu["busy"].to_numpy(), np.maximum(per_bu, 2), per_bu)
    n_ac = int(per_bu.sum())
    # DC hubs: urban ones by inhabitants, motorway ones in rural buurten
    w_dc = bu["inhabitants"].to_numpy(float) * ((bu["urbanity"] <= 3) & ~bu["busy"]).to_numpy()
    dc_urban = rng.choice(len(bu), size=n_dc - n_mw, replace=True, p=w_dc / w_dc.sum())
    rural = np.flatnonzero(((bu["urbanity"] >= 4) & ~bu["busy"]).to_numpy())
    if len(rural) == 0:
        rural = np.arange(len(bu))
    dc_mw = rng.choice(rural, size=n_mw, replace=False if len(rural) >= n_mw else True)

    bu_idx = np.concatenate([np.repeat(np.arange(len(bu)), per_bu), dc_urban, dc_mw])
    is_dc = np.concatenate([np.zeros(n_ac, bool), np.ones(n_dc, bool)])
    mw = np.concatenate([np.zeros(n_ac + n_dc - n_mw, bool), np.ones(n_mw, bool)])
    n = len(bu_idx)
    xs, ys = np.empty(n), np.empty(n)
    for b in np.unique(bu_idx):
        sel = np.flatnonzero(bu_idx == b)
        poly = bu["geometry_rd"].iat[b]
        inner = poly.buffer(-30)
        xs[sel], ys[sel] = _sample_in(inner if not inner.is_empty else poly, len(sel), rng)
    lon, lat = to_wgs84(xs, ys)
    lon, lat = lon.round(6), lat.round(6)

    gm_of = bu["gm_code"].to_numpy()[bu_idx]
    gm_pos = {c: i for i, c in enumerate(gem["gm_code"])}
    gidx = np.array([gm_pos[c] for c in gm_of])
    ac_parties = np.array(list(AC_CPOS))
    dc_parties = np.array(list(DC_CPOS))
    main = ac_parties[gidx % len(ac_parties)]
    other = ac_parties[rng.integers(0, len(ac_parties), n)]
    party = np.where(rng.random(n) < 0.8, main, other)
    party = np.where(is_dc, dc_parties[rng.integers(0, len(dc_parties), n)], party)
    pt_ac = rng.choice(["ON_STREET", "PARKING_LOT", "PARKING_GARAGE"], size=n, p=[0.9, 0.07, 0.03])
    parking = np.where(is_dc, np.where(mw, "ALONG_MOTORWAY", "PARKING_LOT"), pt_ac)
    n_evse = np.where(is_dc, rng.integers(2, 7, n), np.where(rng.random(n) < 0.75, 2, 1))

    prov = bu["province"].to_numpy()[bu_idx]
    pc4 = np.where(prov == "Zeeland", 4300 + (gidx * 7) % 300, 2000 + (gidx * 23) % 1400) + bu["rank"].to_numpy()[bu_idx]
    letters = PC_LETTERS[rng.integers(0, len(PC_LETTERS), (n, 2))]
    postal = [f"{p} {a}{b}" for p, (a, b) in zip(pc4, letters)]
    streets = np.array(STREETS)[rng.integers(0, len(STREETS), n)]
    numbers = rng.integers(1, 180, n)
    seq = np.arange(1, n + 1)
    lu = int(np.datetime64("2026-10-01T00:00:00").astype("datetime64[s]").astype("int64"))
    last_upd = lu + rng.integers(0, 30 * 86400, n)
    loc = pd.DataFrame({
        "country_code": "NL", "party_id": party, "location_id": [f"{p}{s:06d}" for p, s in zip(party, seq)],
        "name": [("Snellaadstation " if d else "") + f"{s} {k}" for d, s, k in zip(is_dc, streets, numbers)],
        "address": [f"{s} {k}" for s, k in zip(streets, numbers)], "postal_code": postal,
        "city": bu["gm_name"].to_numpy()[bu_idx], "lat": lat, "lon": lon, "x_rd": xs, "y_rd": ys,
        "gm_code": gm_of, "bu_code": bu["bu_code"].to_numpy()[bu_idx], "province": prov,
        "busy": bu["busy"].to_numpy()[bu_idx] & ~is_dc, "is_dc": is_dc, "parking_type": parking,
        "operator": [CPO_NAMES[p] for p in party], "n_evses": n_evse, "last_updated_s": last_upd,
    })

    # ~15 % of the ordinary AC locations are commissioned during the year (growth the contract and report
    # see as EVSEs placed); the rest exist from the start of the period
    day0 = int(PERIOD_START.astype("datetime64[s]").astype("int64"))
    new_loc = (rng.random(n) < 0.15) & ~is_dc & ~loc["busy"].to_numpy()
    loc["commissioned_s"] = np.where(new_loc, day0 + rng.integers(30 * 86400, (N_DAYS - 30) * 86400, n), day0)

    # EVSEs and connectors
    li = np.repeat(np.arange(n), n_evse)
    k_in = np.arange(len(li)) - np.repeat(np.cumsum(n_evse) - n_evse, n_evse)
    ne = len(li)
    ev_dc = is_dc[li]
    smart = rng.random(ne) < 0.85
    # AC: 11 kW (3x16 A) mostly, some 22 kW (3x32 A), some 7.4 kW (1x32 A); DC: one power per hub
    ac_kind = rng.choice(3, size=ne, p=[0.85, 0.10, 0.05])
    hub_kw = rng.choice([50, 150, 175, 300, 350], size=n, p=[0.15, 0.3, 0.2, 0.2, 0.15])[li]
    power_type = np.where(ev_dc, "DC", np.where(ac_kind == 2, "AC_1_PHASE", "AC_3_PHASE"))
    volt = np.where(ev_dc, np.where(hub_kw <= 50, 500, 920), 230)
    amp = np.where(ev_dc, np.ceil(hub_kw * 1000 / volt), np.where(ac_kind == 0, 16, 32))
    phases = np.where(power_type == "AC_3_PHASE", 3, 1)
    kw = np.where(ev_dc, hub_kw.astype(float), volt * amp * phases / 1000.0)
    reported = ev_dc | (rng.random(ne) >= 0.15)
    tariff = np.where(ev_dc, np.char.add(loc["party_id"].to_numpy()[li].astype(str), "-DC"),
                      np.char.add(loc["party_id"].to_numpy()[li].astype(str), "-AC-REG"))
    ev = pd.DataFrame({
        "loc_idx": li, "country_code": "NL", "party_id": loc["party_id"].to_numpy()[li],
        "location_id": loc["location_id"].to_numpy()[li],
        "evse_uid": [f"{l}-{k + 1}" for l, k in zip(loc["location_id"].to_numpy()[li], k_in)],
        "evse_id": [f"NL*{p}*E{s:06d}" for p, s in zip(loc["party_id"].to_numpy()[li], np.arange(1, ne + 1))],
        "is_dc": ev_dc, "smart": smart, "power_kw": kw, "power_reported": reported, "power_type": power_type,
        "max_voltage": volt.astype(int), "max_amperage": amp.astype(int),
        "standard": np.where(ev_dc, "IEC_62196_T2_COMBO", "IEC_62196_T2"),
        "format": np.where(ev_dc, "CABLE", "SOCKET"), "tariff_id": tariff,
        "gm_code": loc["gm_code"].to_numpy()[li], "bu_code": loc["bu_code"].to_numpy()[li],
        "province": prov[li], "busy": loc["busy"].to_numpy()[li],
        "last_updated_s": last_upd[li],
    })
    conn = ev[["country_code", "party_id", "location_id", "evse_uid", "standard", "format", "power_type",
               "max_voltage", "max_amperage", "power_kw", "power_reported", "tariff_id", "last_updated_s"]].copy()
    conn.insert(4, "connector_id", "1")
    # 50 kW hubs also carry a CHAdeMO connector on each EVSE
    cha = ev[ev["is_dc"] & (ev["power_kw"] <= 50)]
    if len(cha):
        c2 = conn.loc[cha.index].copy()
        c2["connector_id"] = "2"
        c2["standard"] = "CHADEMO"
        conn = pd.concat([conn, c2]).sort_values(["location_id", "evse_uid", "connector_id"], kind="stable")
    return loc, ev, conn.reset_index(drop=True)


def _tariffs() -> list[dict[str, Any]]:
    lu = "2025-10-01T00:00:00Z"

    def t(party, tid, typ, price, flat=None):
        comps = [{"type": "ENERGY", "price": price, "vat": VAT_PCT, "step_size": 1}]
        if flat is not None:
            comps.append({"type": "FLAT", "price": flat, "vat": VAT_PCT, "step_size": 1})
        return {"country_code": "NL", "party_id": party, "id": tid, "currency": "EUR", "type": typ,
                "elements": [{"price_components": comps}], "last_updated": lu}

    out = []
    for p, price in AC_PRICES.items():
        out.append(t(p, f"{p}-AC-REG", "REGULAR", price))
        out.append(t(p, f"{p}-AC-ADHOC", "AD_HOC_PAYMENT", round(price + 0.05, 4), 0.35))
    for p, price in DC_PRICES.items():
        out.append(t(p, f"{p}-DC", "PROFILE_FAST", price))
    return out


# ---------------------------------------------------------------------------------------------- sessions
def _sessions(rng: np.random.Generator, ev: pd.DataFrame, gem: pd.DataFrame) -> pd.DataFrame:
    D = N_DAYS
    days = np.arange(D)
    dow = (days + 5) % 7  # 2025-11-01 is a Saturday (Mon=0)
    weekend = dow >= 5
    off = _utc_offsets_h()
    day0 = int(PERIOD_START.astype("datetime64[s]").astype("int64"))
    frac = days / (D - 1)

    ac = np.flatnonzero(~ev["is_dc"].to_numpy())
    dc = np.flatnonzero(ev["is_dc"].to_numpy())
    busy = ev["busy"].to_numpy()[ac]
    E = len(ac)
    # per-gemeente activity: more EVs per charge point in dense, wealthier places
    gm_fac = dict(zip(gem["gm_code"], 0.7 + 0.15 * (5 - gem["urbanity"]) ))
    g_ac = ev["gm_code"].map(gm_fac).to_numpy(float)[ac]
    # Ordinary EVSEs: about 0.3 evening and 0.2 daytime sessions a day on average (with a long tail), which
    # gives the 15-25 % mean occupancy of Dutch public points (DOMAIN.md section 2).
    pB_base = np.where(busy, rng.uniform(0.95, 0.995, E), np.minimum(0.85, rng.gamma(2.0, 0.15, E) * g_ac))
    pA_base = np.where(busy, rng.uniform(0.1, 0.2, E), np.minimum(0.6, rng.gamma(2.0, 0.10, E) * g_ac))
    p_home = np.where(busy, 0.98, 0.65)
    growth = np.where(busy[:, None], 0.9 + 0.1 * frac[None, :], 0.75 + 0.25 * frac[None, :])
    wB = np.array([1.0, 1.0, 1.0, 1.0, 0.85, 0.8, 0.95])[dow]
    wA = np.where(weekend, 0.8, 1.0)
    hasB = rng.random((E, D)) < np.minimum(pB_base[:, None] * growth * wB[None, :], 0.995)
    hasA = rng.random((E, D)) < np.minimum(pA_base[:, None] * growth * wA[None, :], 0.995)

    # evening sessions (local hours relative to the start day)
    b_arr = np.where(weekend[None, :], rng.normal(17.5, 2.2, (E, D)), rng.normal(18.0, 1.5, (E, D)))
    b_arr = np.clip(b_arr, 15.5, 23.5)
    home = rng.random((E, D)) < p_home[:, None]
    nxt_weekend = np.roll(weekend, -1)[None, :]
    dep = np.where(nxt_weekend, np.clip(rng.normal(9.5, 1.2, (E, D)), 6.0, 12.0),
                   np.clip(rng.normal(7.5, 0.8, (E, D)), 5.5, 10.0))
    short = np.clip(rng.lognormal(np.log(2.0), 0.5, (E, D)), 0.5, 5.0)
    b_end = np.where(home, 24.0 + dep, np.minimum(b_arr + short, 23.98))
    # daytime sessions: start after last night's car left
    prev_end = np.full((E, D), -1.0)
    prev_end[:, 1:] = np.where(hasB[:, :-1], b_end[:, :-1] - 24.0, -1.0)
    a_arr = np.where(weekend[None, :], rng.normal(11.5, 1.5, (E, D)), rng.normal(9.0, 1.3, (E, D)))
    a_arr = np.clip(a_arr, 6.5, 13.5)
    a_start = np.maximum(a_arr, prev_end + 0.1)
    a_dur = np.clip(rng.lognormal(np.log(np.where(weekend, 1.5, 3.0))[None, :], 0.6, (E, D)), 0.5, 9.0)
    a_end = np.minimum(a_start + a_dur, 15.4)
    hasA &= (a_end - a_start) >= 0.4

    e_i, d_i = np.nonzero(hasA)
    e_j, d_j = np.nonzero(hasB)
    sess_e = np.concatenate([ac[e_i], ac[e_j]])
    sess_d = np.concatenate([d_i, d_j])
    s_h = np.concatenate([a_start[e_i, d_i], b_arr[e_j, d_j]])
    e_h = np.concatenate([a_end[e_i, d_i], b_end[e_j, d_j]])
    kind = np.concatenate([np.zeros(len(e_i), np.int8), np.where(home[e_j, d_j], 2, 1).astype(np.int8)])

    # DC: Poisson sessions a day in equal slots between 7:00 and 22:00
    lam = rng.gamma(2.0, 0.22, len(dc)) * np.where(ev["party_id"].to_numpy()[dc] == "ION", 0.7, 1.0)
    wDC = np.where(weekend, 1.15, 1.0)
    ndc = np.minimum(rng.poisson(lam[:, None] * (0.75 + 0.25 * frac)[None, :] * wDC[None, :]), 12)
    de, dd = np.nonzero(ndc)
    cnt = ndc[de, dd]
    rep_e, rep_d, rep_n = np.repeat(de, cnt), np.repeat(dd, cnt), np.repeat(cnt, cnt)
    rank = np.arange(len(rep_e)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    slot = 15.0 / rep_n
    dur = np.minimum(np.clip(rng.lognormal(np.log(0.5), 0.4, len(rep_e)), 0.15, 1.2), 0.9 * slot)
    start = 7.0 + rank * slot + rng.random(len(rep_e)) * (slot - dur)
    sess_e = np.concatenate([sess_e, dc[rep_e]])
    sess_d = np.concatenate([sess_d, rep_d])
    s_h = np.concatenate([s_h, start])
    e_h = np.concatenate([e_h, start + dur])
    kind = np.concatenate([kind, np.full(len(rep_e), 3, np.int8)])

    # local -> UTC (offset of the local day the time falls on), whole seconds
    s_day = sess_d + np.floor(s_h / 24).astype(int)
    e_day = sess_d + np.floor(e_h / 24).astype(int)
    start_s = day0 + sess_d * 86400 + np.round(s_h * 3600).astype("int64") - (off[s_day] * 3600).astype("int64")
    end_s = day0 + sess_d * 86400 + np.round(e_h * 3600).astype("int64") - (off[e_day] * 3600).astype("int64")
    keep = end_s < PERIOD_END_S
    df = pd.DataFrame({"evse": sess_e, "kind": kind, "start_s": start_s, "end_s": end_s})[keep]
    return df.reset_index(drop=True)


def _energy(rng: np.random.Generator, s: pd.DataFrame, ev: pd.DataFrame) -> pd.DataFrame:
    """Energy and charging time per session; see the module docstring for the model."""
    n = len(s)
    conn_h = (s["end_s"] - s["start_s"]).to_numpy() / 3600.0
    kw = ev["power_kw"].to_numpy()[s["evse"].to_numpy()]
    kind = s["kind"].to_numpy()
    car_ac = rng.choice([3.7, 7.4, 11.0], size=n, p=[0.15, 0.35, 0.5])
    car_dc = rng.choice([50.0, 100.0, 150.0], size=n, p=[0.3, 0.4, 0.3])
    p_eff = np.where(kind == 3, 0.7 * np.minimum(kw, car_dc), 0.95 * np.minimum(kw, car_ac))
    median = np.array([7.0, 6.5, 8.5, 18.0])[kind]
    wish = np.clip(rng.lognormal(np.log(median), 0.55), 2.0, 40.0)
    e = np.minimum(wish, 0.98 * p_eff * conn_h).round(3)
    charge_h = np.minimum(e / p_eff, conn_h)
    out = s.copy()
    out["connected_h"] = conn_h
    out["energy_kwh"] = e
    out["charging_h"] = charge_h
    out["car_kw"] = np.where(kind == 3, car_dc, car_ac)
    return out


def _users(rng: np.random.Generator, s: pd.DataFrame, n_evse: int, scale: float) -> np.ndarray:
    """User index per session: evening sessions from a small pool per EVSE (the neighbours, repeat users),
    other sessions from a regional visitor pool with a skewed (repeat-heavy) distribution."""
    pool = rng.integers(2, 7, n_evse)
    pool_start = np.concatenate([[0], np.cumsum(pool)[:-1]])
    n_home = int(pool.sum())
    n_vis = max(500, int(30000 * scale))
    ev = s["evse"].to_numpy()
    k = np.minimum(rng.geometric(0.45, len(s)) - 1, pool[ev] - 1)
    home_user = pool_start[ev] + k
    vis_user = n_home + np.floor(n_vis * rng.power(0.35, len(s))).astype("int64")
    return np.where(s["kind"].to_numpy() >= 1, np.where(s["kind"].to_numpy() == 3, vis_user, home_user), vis_user)


# ------------------------------------------------------------------------------------------------ status
def _faults(rng: np.random.Generator, ev: pd.DataFrame) -> pd.DataFrame:
    ne = len(ev)
    day0 = int(PERIOD_START.astype("datetime64[s]").astype("int64"))
    span = N_DAYS * 86400
    rows = []
    # ordinary faults: 12 % of EVSEs, 1-4 a year, 0.5 h - 3 days
    hit = np.flatnonzero(rng.random(ne) < 0.12)
    nf = 1 + np.minimum(rng.poisson(0.8, len(hit)), 3)
    for e, k in zip(hit, nf):
        st = day0 + rng.integers(0, span - 4 * 86400, k)
        du = np.clip(rng.lognormal(np.log(6 * 3600), 1.0, k), 1800, 3 * 86400).astype("int64")
        typ = np.where(rng.random(k) < 0.7, "OUTOFORDER", "INOPERATIVE")
        rows += [(int(e), int(a), int(a + b), str(t)) for a, b, t in zip(st, du, typ)]
    # lemons: repeated faults, 4-6 a month in two months, 2-12 h each
    lemons = rng.choice(ne, size=max(3, int(round(0.015 * ne))), replace=False)
    month_starts = pd.date_range(str(PERIOD_START), periods=13, freq="MS").as_unit("s").asi8
    for e in lemons:
        for m in rng.choice(12, size=2, replace=False):
            a, b = int(month_starts[m]), int(month_starts[m + 1])
            k = int(rng.integers(4, 7))
            edges = np.linspace(a, b, k + 1).astype("int64")
            for j in range(k):
                st = int(edges[j] + rng.integers(0, (edges[j + 1] - edges[j]) // 2))
                rows.append((int(e), st, st + int(rng.integers(2 * 3600, 12 * 3600)), "OUTOFORDER"))
    # faults spanning a month boundary (January -> February, August -> September)
    span_evses = rng.choice(ne, size=2, replace=False)
    for e, (a, b) in zip(span_evses, [("2026-01-30T20:00:00", "2026-02-02T10:00:00"),
                                      ("2026-08-31T18:00:00", "2026-09-02T08:30:00")]):
        rows.append((int(e), int(np.datetime64(a, "s").astype("int64")), int(np.datetime64(b, "s").astype("int64")),
                     "INOPERATIVE"))
    # UNKNOWN gaps (no data from the EVSE)
    for e in rng.choice(ne, size=max(2, int(round(0.01 * ne))), replace=False):
        st = day0 + int(rng.integers(0, span - 2 * 86400))
        rows.append((int(e), st, st + int(rng.integers(2 * 3600, 24 * 3600)), "UNKNOWN"))
    f = pd.DataFrame(rows, columns=["evse", "start_s", "end_s", "status"])
    f = f.sort_values(["evse", "start_s"], kind="stable").reset_index(drop=True)
    # drop faults that overlap an earlier one on the same EVSE (5 min apart at least)
    prev_end = f.groupby("evse")["end_s"].transform(lambda s: s.cummax().shift(1)).fillna(-1)
    return f[f["start_s"] > prev_end + 300].reset_index(drop=True)


def _remove_fault_overlaps(s: pd.DataFrame, f: pd.DataFrame) -> pd.DataFrame:
    """Drop sessions overlapping a fault (with 1 minute margin) on the same EVSE."""
    s = s.sort_values(["evse", "start_s"], kind="stable").reset_index(drop=True)
    ev = s["evse"].to_numpy()
    st = s["start_s"].to_numpy()
    en = s["end_s"].to_numpy()
    bad = np.zeros(len(s), bool)
    lo = np.searchsorted(ev, f["evse"].to_numpy(), "left")
    hi = np.searchsorted(ev, f["evse"].to_numpy(), "right")
    for a, b, fs, fe in zip(lo, hi, f["start_s"].to_numpy(), f["end_s"].to_numpy()):
        if b > a:
            bad[a:b] |= (st[a:b] < fe + 60) & (en[a:b] > fs - 60)
    return s[~bad].reset_index(drop=True)


def _status_rows(ev: pd.DataFrame, s: pd.DataFrame, f: pd.DataFrame) -> pd.DataFrame:
    parts = [pd.DataFrame({"evse": np.arange(len(ev)), "t": ev["commissioned_s"].to_numpy(), "status": "AVAILABLE"}),
             pd.DataFrame({"evse": f["evse"], "t": f["start_s"], "status": f["status"]}),
             pd.DataFrame({"evse": f["evse"], "t": f["end_s"], "status": "AVAILABLE"})]
    zl = s[ev["province"].to_numpy()[s["evse"].to_numpy()] == "Zeeland"]
    parts += [pd.DataFrame({"evse": zl["evse"], "t": zl["start_s"], "status": "CHARGING"}),
              pd.DataFrame({"evse": zl["evse"], "t": zl["end_s"], "status": "AVAILABLE"})]
    st = pd.concat(parts, ignore_index=True).sort_values(["t", "evse"], kind="stable")
    st = st.drop_duplicates(["evse", "t"], keep="last").reset_index(drop=True)
    return st


# ---------------------------------------------------------------------------------------------- generate
def generate_demo(seed: int, scale: float = 1.0) -> DemoData:
    """Generate the synthetic demo region (pure: no files, no database). ``scale`` multiplies the number of
    charge locations (and so EVSEs, sessions and bad records); 1.0 gives ~940 locations, ~1,700 EVSEs and
    ~310,000 CDRs: ~0.5 sessions per EVSE per day and a region-wide occupancy of ~15 %, at the low end of
    the 15-25 % of Dutch public points, while the busy buurten peak above 85 %. (The real region has over
    25,000 public points; the demo has fewer so that it runs in well under two minutes.)"""
    t0 = time.perf_counter()
    r_area, r_loc, r_sess, r_energy, r_user, r_fault, r_bad = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7))
    gem, bu = _areas(r_area, scale)
    loc, ev, conn = _locations(r_loc, gem, bu, scale)
    tariffs = _tariffs()
    faults = _faults(r_fault, ev)
    # an EVSE with a scripted fault keeps its location in service from the start; otherwise nothing (no
    # session, no status) happens on an EVSE before its location is commissioned
    faulty_loc = np.unique(ev["loc_idx"].to_numpy()[faults["evse"].to_numpy()])
    loc.loc[loc.index[faulty_loc], "commissioned_s"] = int(PERIOD_START.astype("datetime64[s]").astype("int64"))
    ev["commissioned_s"] = loc["commissioned_s"].to_numpy()[ev["loc_idx"].to_numpy()]
    s = _sessions(r_sess, ev, gem)
    s = s[s["start_s"].to_numpy() >= ev["commissioned_s"].to_numpy()[s["evse"].to_numpy()]]
    s = _remove_fault_overlaps(s, faults)
    s = s.sort_values(["end_s", "evse"], kind="stable").reset_index(drop=True)
    s = _energy(r_energy, s, ev)
    s["user"] = _users(r_user, s, len(ev), scale)
    s["cdr_id"] = [f"CDR{i:09d}" for i in range(1, len(s) + 1)]
    status = _status_rows(ev, s, faults)
    data = DemoData(seed=seed, scale=scale, gemeenten=gem, buurten=bu, locations=loc, evses=ev,
                    connectors=conn, tariffs=tariffs, sessions=s, status=status, faults=faults)
    data.bad = _bad_records(r_bad, data)
    log.info("demo region generated in %.1f s: %d locations, %d EVSEs, %d sessions, %d status rows",
             time.perf_counter() - t0, len(loc), len(ev), len(s), len(status))
    return data


# ------------------------------------------------------------------------------------------ serialising
def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _round_geom(geom):
    return shapely.transform(geom, lambda c: np.round(c, 6))


def _area_features(data: DemoData, level: str) -> list[dict[str, Any]]:
    df = data.gemeenten if level == "gemeente" else data.buurten
    feats = []
    for r in df.itertuples(index=False):
        common = {
            "aantal_inwoners": int(r.inhabitants), "aantal_huishoudens": int(r.households),
            "personenautos_totaal": int(r.cars), "personenautos_per_huishouden": float(r.cars_per_household),
            "gemiddeld_inkomen_per_inwoner": float(r.income_per_inhabitant_keur),
            "stedelijkheid_adressen_per_km2": int(r.urbanity),
            "percentage_meergezinswoning": round(float(r.share_apartments) * 100, 1),
            "oppervlakte_land_in_ha": int(round(r.area_km2 * 100)),
        }
        if level == "gemeente":
            props = {"statcode": r.gm_code, "statnaam": r.name, "gemeentecode": r.gm_code,
                     "gemeentenaam": r.name, "provincienaam": r.province, **common}
        else:
            props = {"buurtcode": r.bu_code, "buurtnaam": r.name, "wijkcode": r.wk_code,
                     "gemeentecode": r.gm_code, "gemeentenaam": r.gm_name, "provincienaam": r.province, **common}
        feats.append({"type": "Feature", "properties": props,
                      "geometry": json.loads(shapely.to_geojson(_round_geom(r.geometry)))})
    return feats


def _location_objects(data: DemoData) -> list[dict[str, Any]]:
    loc, ev, conn = data.locations, data.evses, data.connectors
    iso_lu = _iso(loc["last_updated_s"].to_numpy()).tolist()
    conn_lu = _iso(conn["last_updated_s"].to_numpy()).tolist()
    conns: dict[str, list[dict[str, Any]]] = {}
    for c, c_lu in zip(conn.itertuples(index=False), conn_lu):
        o = {"id": c.connector_id, "standard": c.standard, "format": c.format, "power_type": c.power_type,
             "max_voltage": int(c.max_voltage), "max_amperage": int(c.max_amperage)}
        if c.power_reported:
            o["max_electric_power"] = int(round(c.power_kw * 1000))
        o["tariff_ids"] = [c.tariff_id]
        o["last_updated"] = c_lu
        conns.setdefault(c.evse_uid, []).append(o)
    evses: dict[int, list[dict[str, Any]]] = {}
    for e in ev.itertuples(index=False):
        caps = ["RFID_READER", "REMOTE_START_STOP_CAPABLE"] + (["CHARGING_PROFILE_CAPABLE"] if e.smart else [])
        if e.is_dc:
            caps.append("CREDIT_CARD_PAYABLE")
        evses.setdefault(e.loc_idx, []).append({
            "uid": e.evse_uid, "evse_id": e.evse_id, "status": "AVAILABLE", "capabilities": caps,
            "connectors": conns[e.evse_uid], "last_updated": iso_lu[e.loc_idx]})
    out = []
    for i, r in enumerate(loc.itertuples(index=False)):
        out.append({
            "country_code": "NL", "party_id": r.party_id, "id": r.location_id, "publish": True, "name": r.name,
            "address": r.address, "city": r.city, "postal_code": r.postal_code, "country": "NLD",
            "coordinates": {"latitude": f"{r.lat:.6f}", "longitude": f"{r.lon:.6f}"},
            "parking_type": r.parking_type, "evses": evses[i], "operator": {"name": r.operator},
            "time_zone": TIME_ZONE, "opening_times": {"twentyfourseven": True}, "last_updated": iso_lu[i]})
    return out


def _cdr_fragments(data: DemoData) -> dict[str, Any]:
    """Per-EVSE ``cdr_location`` JSON, per-tariff JSON and prices (computed once per DemoData)."""
    cache = data.__dict__.setdefault("_cache", {})
    if "cdr" not in cache:
        ev, loc = data.evses, data.locations
        li = ev["loc_idx"].to_numpy()
        addr, city = loc["address"].to_numpy()[li].tolist(), loc["city"].to_numpy()[li].tolist()
        lat, lon = loc["lat"].to_numpy()[li].tolist(), loc["lon"].to_numpy()[li].tolist()
        cdr_loc = [_dumps({
            "id": l_id, "address": a, "city": c, "country": "NLD",
            "coordinates": {"latitude": f"{la:.6f}", "longitude": f"{lo:.6f}"},
            "evse_uid": uid, "evse_id": eid, "connector_id": "1", "connector_standard": std,
            "connector_format": fmt, "connector_power_type": pt})
            for l_id, a, c, la, lo, uid, eid, std, fmt, pt in zip(
                ev["location_id"].tolist(), addr, city, lat, lon, ev["evse_uid"].tolist(), ev["evse_id"].tolist(),
                ev["standard"].tolist(), ev["format"].tolist(), ev["power_type"].tolist())]
        cache["cdr"] = {
            "loc": cdr_loc,
            "tariff": {t["id"]: _dumps(t) for t in data.tariffs},
            "price": {t["id"]: t["elements"][0]["price_components"][0]["price"] for t in data.tariffs},
        }
    return cache["cdr"]


def _cdr_lines(data: DemoData, idx: np.ndarray | None = None) -> list[str]:
    """CDR NDJSON lines (OCPI 2.2.1) of the sessions ``idx`` (all when None), built from string fragments."""
    s = data.sessions if idx is None else data.sessions.iloc[np.asarray(idx)]
    ev = data.evses
    fr = _cdr_fragments(data)
    users = s["user"].to_numpy()
    tokens = {}
    for u in np.unique(users).tolist():
        emsp = EMSPS[u % len(EMSPS)]
        tokens[u] = _dumps({"country_code": "NL", "party_id": emsp, "uid": f"{u:08X}", "type": "RFID",
                            "contract_id": f"NL-{emsp}-C{u:08d}-{chr(65 + u % 26)}"})
    e_idx = s["evse"].to_numpy()
    tids = ev["tariff_id"].to_numpy()[e_idx]
    energy = s["energy_kwh"].to_numpy()
    p = pd.Series(tids).map(fr["price"]).to_numpy(float)
    cost_ex = np.round(energy * p, 4)
    cost_in = np.round(cost_ex * (1 + VAT_PCT / 100), 4)
    total_h = np.round(s["connected_h"].to_numpy(), 4)
    charge_h = np.minimum(np.round(s["charging_h"].to_numpy(), 4), total_h)
    park_h = np.round(total_h - charge_h, 4)
    cols = zip(
        ev["party_id"].to_numpy()[e_idx].tolist(), s["cdr_id"].tolist(),
        _iso(s["start_s"].to_numpy()).tolist(), _iso(s["end_s"].to_numpy()).tolist(),
        [tokens[u] for u in users.tolist()], [fr["loc"][e] for e in e_idx.tolist()],
        [fr["tariff"][t] for t in tids.tolist()], tids.tolist(), energy.tolist(), charge_h.tolist(),
        cost_ex.tolist(), cost_in.tolist(), total_h.tolist(), park_h.tolist(),
        _iso(s["end_s"].to_numpy() + 900 + (s["start_s"].to_numpy() % 6300)).tolist())
    return [
        f'{{"country_code":"NL","party_id":"{party}","id":"{cid}","start_date_time":"{st}","end_date_time":"{en}",'
        f'"cdr_token":{tok},"auth_method":"WHITELIST","cdr_location":{cloc},"currency":"EUR","tariffs":[{tar}],'
        f'"charging_periods":[{{"start_date_time":"{st}","dimensions":[{{"type":"ENERGY","volume":{e:.3f}}},'
        f'{{"type":"TIME","volume":{ch:.4f}}}],"tariff_id":"{tid}"}}],'
        f'"total_cost":{{"excl_vat":{cx:.4f},"incl_vat":{ci:.4f}}},'
        f'"total_fixed_cost":{{"excl_vat":0.0,"incl_vat":0.0}},"total_energy":{e:.3f},'
        f'"total_energy_cost":{{"excl_vat":{cx:.4f},"incl_vat":{ci:.4f}}},'
        f'"total_time":{th:.4f},"total_parking_time":{ph:.4f},"last_updated":"{lu}"}}'
        for party, cid, st, en, tok, cloc, tar, tid, e, ch, cx, ci, th, ph, lu in cols]


STATUS_HEADER = "country_code,party_id,location_id,evse_uid,observed_utc,status"


def _status_lines(data: DemoData, rows: pd.DataFrame | None = None) -> list[str]:
    st = data.status if rows is None else rows
    ev = data.evses
    e = st["evse"].to_numpy()
    t = _iso(st["t"].to_numpy())
    return [f"NL,{p},{lo},{u},{ti},{x}" for p, lo, u, ti, x in zip(
        ev["party_id"].to_numpy()[e].tolist(), ev["location_id"].to_numpy()[e].tolist(),
        ev["evse_uid"].to_numpy()[e].tolist(), t.tolist(), st["status"].tolist())]


# ------------------------------------------------------------------------------------------ bad records
def _shift_iso(v: str, seconds: int) -> str:
    return str(_iso(np.array([np.datetime64(v.rstrip("Z"), "s").astype("int64") + seconds]))[0])


def _bad_records(rng: np.random.Generator, data: DemoData) -> dict[str, list[dict[str, Any]]]:
    """Bad records per file: dicts with ``kind``, ``rule``, ``id``, ``text`` (a line, or an object for the JSON
    array and GeoJSON files) and ``after`` (number of good records before it, at least 1 so that a file
    never starts with a broken record; duplicates come after the record they copy)."""
    sc = data.scale
    bad: dict[str, list[dict[str, Any]]] = {k: [] for k in BAD_RULES}

    def add(file, kind, rid, text, after):
        bad[file].append({"kind": kind, "rule": BAD_RULES[file][kind], "id": rid, "text": text, "after": int(after)})

    # areas: appended after the good features
    sea = shapely.box(3.0, 52.4, 3.01, 52.41)
    ng = len(data.gemeenten)
    add("gemeenten", "invalid_code", "GM12X", {
        "type": "Feature", "properties": {"statcode": "GM12X", "statnaam": "Onbekend", "gemeentecode": "GM12X",
                                          "gemeentenaam": "Onbekend", "aantal_inwoners": 0},
        "geometry": json.loads(shapely.to_geojson(sea))}, ng)
    nb = len(data.buurten)
    gm4 = data.gemeenten["gm_code"].iat[0][2:]
    add("buurten", "missing_geometry", f"BU{gm4}9901", {
        "type": "Feature", "properties": {"buurtcode": f"BU{gm4}9901", "buurtnaam": "Zonder vorm",
                                          "wijkcode": f"WK{gm4}99", "gemeentecode": f"GM{gm4}",
                                          "aantal_inwoners": 0}, "geometry": None}, nb)
    add("buurten", "invalid_code", "BU12345", {
        "type": "Feature", "properties": {"buurtcode": "BU12345", "buurtnaam": "Foute code", "aantal_inwoners": 0},
        "geometry": json.loads(shapely.to_geojson(shapely.box(3.02, 52.4, 3.03, 52.41)))}, nb)

    # tariffs
    nt = len(data.tariffs)
    t = json.loads(_dumps(data.tariffs[0]))
    t["id"] = f"{t['party_id']}-BAD-1"
    del t["currency"]
    add("tariffs", "missing_currency", t["id"], t, nt)
    t = json.loads(_dumps(data.tariffs[1]))
    t["id"] = f"{t['party_id']}-BAD-2"
    t["elements"][0]["price_components"][0]["price"] = "gratis"
    add("tariffs", "price_not_a_number", t["id"], t, nt)

    # locations
    locs = _location_objects(data)
    nl = len(locs)
    k = max(1, int(round(3 * sc)))
    kinds = list(BAD_RULES["locations"])
    tmpl = rng.choice(nl, size=k * len(kinds), replace=nl < k * len(kinds))
    serial = 0
    for j, kind in enumerate(np.repeat(kinds, k)):
        src = tmpl[j]
        o = json.loads(_dumps(locs[src]))
        after = int(rng.integers(1, nl + 1))
        if kind == "duplicate_id":
            o["name"] = o["name"] + " (dubbel)"
            o["evses"] = o["evses"][:1]
            after = int(rng.integers(src + 1, nl + 1))
        else:
            serial += 1
            new_id = f"{o['party_id']}9{serial:05d}"
            o["id"] = new_id
            for m, e in enumerate(o["evses"]):
                e["uid"] = f"{new_id}-{m + 1}"
                e["evse_id"] = f"NL*{o['party_id']}*E9{serial:05d}{m + 1}"
        if kind == "swapped_coordinates":
            c = o["coordinates"]
            c["latitude"], c["longitude"] = c["longitude"], c["latitude"]
        elif kind == "missing_coordinates":
            del o["coordinates"]
        elif kind == "invalid_evse_status":
            o["evses"][0]["status"] = "BROKEN"
        text = _dumps(o)
        if kind == "malformed_json":
            text = text[: len(text) // 2]
        add("locations", str(kind), o["id"], text, after)

    # CDRs
    ns = len(data.sessions)
    k = max(1, int(round(ns / 1600)))  # ~0.06 % of the sessions per kind, ~0.7 % bad CDRs in all
    kinds = list(BAD_RULES["cdrs"])
    tmpl = rng.choice(ns, size=k * len(kinds), replace=False)
    lines = _cdr_lines(data, tmpl)
    power = data.evses["power_kw"].to_numpy()[data.sessions["evse"].to_numpy()[tmpl]]
    for j, kind in enumerate(np.repeat(kinds, k)):
        o = json.loads(lines[j])
        src = int(tmpl[j])
        after = int(rng.integers(1, ns + 1))
        if kind == "duplicate_id":
            # same id and last_updated, different content that breaks no other rule
            o["total_cost"] = {k: round(v + 1.0, 4) for k, v in o["total_cost"].items()}
            after = int(rng.integers(src + 1, ns + 1))
        else:
            o["id"] = f"CDR9{j:08d}"
        if kind == "swapped_coordinates":
            c = o["cdr_location"]["coordinates"]
            c["latitude"], c["longitude"] = c["longitude"], c["latitude"]
        elif kind == "negative_energy":
            o["total_energy"] = -o["total_energy"]
        elif kind == "start_not_before_end":
            o["start_date_time"], o["end_date_time"] = o["end_date_time"], o["start_date_time"]
        elif kind in ("start_in_future", "before_2009"):
            shift = (9 if kind == "start_in_future" else -18) * 365 * 86400
            for key in ("start_date_time", "end_date_time", "last_updated"):
                o[key] = _shift_iso(o[key], shift)
            o["charging_periods"][0]["start_date_time"] = o["start_date_time"]
        elif kind == "total_time_mismatch":
            o["total_time"] = round(o["total_time"] + 2.5, 4)
            o["total_parking_time"] = round(o["total_parking_time"] + 2.5, 4)
        elif kind == "missing_mandatory_field":
            del o["total_energy" if j % 2 else "end_date_time"]
        elif kind == "energy_impossible_for_power":
            o["total_energy"] = round(power[j] * o["total_time"] * 1.5 + 10.0, 3)
        elif kind == "negative_parking_time":
            o["total_parking_time"] = -1.0
        text = _dumps(o)
        if kind == "malformed_json":
            text = text[: len(text) // 2]
        add("cdrs", str(kind), o["id"], text, after)

    # status rows
    nst = len(data.status)
    k = max(1, int(round(50 * sc)))
    kinds = list(BAD_RULES["status"])
    tmpl = rng.choice(nst, size=k * len(kinds), replace=False)
    lines = _status_lines(data, data.status.iloc[tmpl])
    for j, kind in enumerate(np.repeat(kinds, k)):
        f = lines[j].split(",")
        if kind == "invalid_status":
            f[5] = "BROKEN"
        elif kind == "missing_evse_uid":
            f[3] = ""
        elif kind == "malformed_row":
            f.append("extra")
        elif kind == "bad_timestamp":
            f[4] = "2026-13-45T25:61:00Z"
        add("status", str(kind), f"{f[3]}@{f[4]}", ",".join(f), int(rng.integers(1, nst + 1)))
    return bad


def _merge(good: list[Any], bad: list[dict[str, Any]]) -> tuple[list[Any], list[int]]:
    """Insert bad records among the good ones; returns the merged list and each bad record's 0-based index."""
    order = sorted(range(len(bad)), key=lambda i: (bad[i]["after"], i))
    out: list[Any] = []
    where = [0] * len(bad)
    g = 0
    for i in order:
        a = bad[i]["after"]
        out.extend(good[g:a])
        g = max(g, a)
        where[i] = len(out)
        out.append(bad[i]["text"])
    out.extend(good[g:])
    return out, where


# ----------------------------------------------------------------------------------------------- writing
def write_demo(data: DemoData, out_dir: Path) -> dict[str, Any]:
    """Write the demo input files into ``out_dir`` (names in :data:`FILES`) and return the manifest: per file
    the number of records, good records and, per kind of bad record, its rule code, count, ``positions`` (as
    the quarantine counts them: the 1-based line in NDJSON and CSV files, the CSV header being line 1; the
    1-based record number in a JSON array or FeatureCollection) and ids."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"seed": data.seed, "scale": data.scale, "synthetic": True,
                                "period_utc": ["2025-11-01", "2026-10-31"], "files": {}}

    def record(file_key: str, n_good: int, where: list[int], base: int) -> None:
        kinds: dict[str, Any] = {}
        for b, w in zip(data.bad[file_key], where):
            d = kinds.setdefault(b["kind"], {"rule": b["rule"], "count": 0, "positions": [], "ids": []})
            d["count"] += 1
            d["positions"].append(w + base)
            d["ids"].append(b["id"])
        manifest["files"][FILES[file_key]] = {"records": n_good + len(where), "good": n_good,
                                              "bad": sum(len(v["ids"]) for v in kinds.values()), "bad_kinds": kinds}

    for key, level in (("gemeenten", "gemeente"), ("buurten", "buurt")):
        feats = _area_features(data, level)
        merged, where = _merge(feats, data.bad[key])
        (out_dir / FILES[key]).write_text(_dumps({"type": "FeatureCollection", "name": f"demo_{key}",
                                                  "features": merged}), encoding="utf-8")
        record(key, len(feats), where, 1)

    merged, where = _merge(data.tariffs, data.bad["tariffs"])
    (out_dir / FILES["tariffs"]).write_text(_dumps({"data": merged, "status_code": 1000,
                                                    "timestamp": "2026-11-01T00:00:00Z"}), encoding="utf-8")
    record("tariffs", len(data.tariffs), where, 1)

    locs = [_dumps(o) for o in _location_objects(data)]
    merged, where = _merge(locs, data.bad["locations"])
    (out_dir / FILES["locations"]).write_text("\n".join(merged) + "\n", encoding="utf-8")
    record("locations", len(locs), where, 1)

    cdrs = _cdr_lines(data)
    merged, where = _merge(cdrs, data.bad["cdrs"])
    with open(out_dir / FILES["cdrs"], "w", encoding="utf-8", newline="\n") as fh:
        for i in range(0, len(merged), 20_000):  # in chunks: one 200 MB string would double peak memory
            fh.write("\n".join(merged[i:i + 20_000]) + "\n")
    del merged
    record("cdrs", len(cdrs), where, 1)

    st = _status_lines(data)
    merged, where = _merge(st, data.bad["status"])
    (out_dir / FILES["status"]).write_text(STATUS_HEADER + "\n" + "\n".join(merged) + "\n", encoding="utf-8")
    record("status", len(st), where, 2)
    return manifest


def step(ctx) -> dict[str, Any]:
    """Demo step: generate the region with ``ctx.seed`` (and ``ctx.scale`` when the context has one, else 1.0),
    write the inputs and ``manifest.json``; the manifest also goes to ``ctx.results["demo_manifest"]``."""
    t0 = time.perf_counter()
    data = generate_demo(ctx.seed, getattr(ctx, "scale", 1.0))
    t1 = time.perf_counter()
    manifest = write_demo(data, ctx.inputs_dir)
    (Path(ctx.inputs_dir) / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    t2 = time.perf_counter()
    ctx.results["demo_manifest"] = manifest
    summary = {
        "synthetic": True, "seed": ctx.seed, "gemeenten": len(data.gemeenten), "buurten": len(data.buurten),
        "locations": len(data.locations), "evses": len(data.evses), "cdrs": len(data.sessions),
        "status_rows": len(data.status),
        "bad_records": {f: v["bad"] for f, v in manifest["files"].items()},
        "generate_s": round(t1 - t0, 1), "write_s": round(t2 - t1, 1),
    }
    ctx.log(f"  synthetic region: {summary['locations']} locations, {summary['evses']} EVSEs, "
            f"{summary['cdrs']} CDRs, {summary['status_rows']} status rows")
    return summary
