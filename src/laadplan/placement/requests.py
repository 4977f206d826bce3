"""Deciding driver requests (aanvraaggestuurd plaatsen): each request is granted or refused with the rule
that decided it and a reason a person can read.

Rules, checked in this order (the first that applies decides; :data:`RULES`):

1. ``REQ-ELIG-RESIDENCE`` refused: the driver neither lives nor works in the municipality;
2. ``REQ-ELIG-EV`` refused: the driver does not drive an electric car;
3. ``REQ-ELIG-PRIVATE-PARKING`` refused: the driver has private parking;
4. ``REQ-NO-POINT`` granted: no public location within the walking distance (``cfg.walk_m(gm_code)``,
   inclusive: a point at exactly that distance counts as within it);
5. ``REQ-POINTS-BUSY`` granted: every location within the walking distance is busy (its peak-hour-of-week
   occupancy or mean occupancy at or above the usage-trigger thresholds);
6. ``REQ-POINT-AVAILABLE`` refused: a location within the walking distance has room (its occupancy is known
   and below both thresholds);
7. ``REQ-NO-OCCUPANCY-DATA`` n/a (decision left empty): locations are within the walking distance but none
   is known to have room and at least one has no occupancy data: whether it has room is unknown, so the
   request is not decided (missing data is never read as "room").

Dates: the decision ``request_decision_weeks`` after the request, the objection period
``request_objection_weeks`` after the decision, and the working point ``request_lead_time_weeks`` after the
*request* (the "4-6 months request to working point" of DOMAIN.md): the parts add up to the setting.

An eligibility field left empty is not held against the driver (the reason says it was not recorded).
Eligibility rules can be switched off in ``[placement]``. Distances are straight lines in RD New.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laadplan import geo
from laadplan.config import RegionConfig
from laadplan.placement.triggers import LOCATION_KEYS, match_keys

RULES = {
    "REQ-ELIG-RESIDENCE": "refused: the driver neither lives nor works in the municipality",
    "REQ-ELIG-EV": "refused: the driver does not drive an electric car",
    "REQ-ELIG-PRIVATE-PARKING": "refused: the driver has private parking",
    "REQ-NO-POINT": "granted: no public charge point within walking distance",
    "REQ-POINTS-BUSY": "granted: every public charge point within walking distance is too busy",
    "REQ-POINT-AVAILABLE": "refused: a public charge point within walking distance has room",
    "REQ-NO-OCCUPANCY-DATA": "n/a (not decided): no occupancy data for the points within walking distance",
}


def busy_locations(kpi: pd.DataFrame, cfg: RegionConfig) -> pd.DataFrame:
    """Location keys with a ``busy`` flag (None when neither occupancy metric is known) and the metric
    values behind it."""
    k = kpi.copy()
    if "occupancy_share" not in k.columns and "mean_occupancy_share" in k.columns:
        k["occupancy_share"] = k["mean_occupancy_share"]
    for c in ("peak_how_occupancy_share", "occupancy_share"):
        if c not in k.columns:
            k[c] = np.nan
    pc = cfg.placement
    peak = pd.to_numeric(k["peak_how_occupancy_share"], errors="coerce")
    occ = pd.to_numeric(k["occupancy_share"], errors="coerce")
    busy = (peak >= pc.trigger_peak_occupancy_share) | (occ >= pc.trigger_mean_occupancy_share)
    k["busy"] = pd.array(np.where(peak.isna() & occ.isna(), None, busy), dtype="boolean")
    return k


def decide_requests(requests: pd.DataFrame, locations: pd.DataFrame, kpi: pd.DataFrame | None,
                    cfg: RegionConfig) -> pd.DataFrame:
    """``requests`` with decision, decision_rule, decision_reason, nearest_point_m, points_within_walk,
    decided_date, objection_end_date and operational_date filled in."""
    pc = cfg.placement
    r = requests.copy().reset_index(drop=True)
    n = len(r)
    walk = np.array([cfg.walk_m(g if isinstance(g, str) else None) for g in r["gm_code"]], dtype="float64")
    decision = np.full(n, None, dtype=object)
    rule = np.full(n, None, dtype=object)
    reason = np.full(n, None, dtype=object)
    notes = [[] for _ in range(n)]

    def flag(col):
        return r[col].astype("boolean") if col in r.columns else pd.Series(pd.NA, index=r.index, dtype="boolean")

    lives, works, ev, private = flag("lives_in_gm"), flag("works_in_gm"), flag("drives_ev"), flag("has_private_parking")
    def tri(v):  # True / False / None (not recorded)
        return None if v is pd.NA or v is None else bool(v)

    for i in range(n):
        lv, wk, e, pv = tri(lives.iloc[i]), tri(works.iloc[i]), tri(ev.iloc[i]), tri(private.iloc[i])
        if pc.request_require_lives_or_works:
            if lv is not True and wk is not True and (lv is False or wk is False):
                decision[i], rule[i] = "refused", "REQ-ELIG-RESIDENCE"
                gm = r["gm_code"].iloc[i]
                reason[i] = f"the driver neither lives nor works in {gm if isinstance(gm, str) else 'the municipality'}"
                continue
            if lv is None and wk is None:
                notes[i].append("residence/work not recorded")
        if pc.request_require_ev:
            if e is False:
                decision[i], rule[i], reason[i] = "refused", "REQ-ELIG-EV", "the driver does not drive an electric car"
                continue
            if e is None:
                notes[i].append("electric car not recorded")
        if pc.request_refuse_private_parking and pv is True:
            decision[i], rule[i], reason[i] = "refused", "REQ-ELIG-PRIVATE-PARKING", "the driver has private parking"
    # distance rules
    keys = [k for k in LOCATION_KEYS if k in locations.columns]
    loc = locations[keys + ["x_rd", "y_rd"]].reset_index(drop=True)
    loc = loc[np.isfinite(loc["x_rd"].astype("float64"))].reset_index(drop=True)
    busy = np.zeros(len(loc), dtype=bool)
    known = np.zeros(len(loc), dtype=bool)  # occupancy known (busy or not)
    if kpi is not None and len(kpi) and len(loc):
        kk = match_keys(kpi, loc)
        b = busy_locations(kpi, cfg)
        flag = loc.merge(b[kk + ["busy"]].drop_duplicates(kk), on=kk, how="left")["busy"].astype("boolean")
        known = flag.notna().to_numpy(bool)
        busy = flag.fillna(False).to_numpy(bool)
    rx, ry = r["x_rd"].to_numpy("float64"), r["y_rd"].to_numpy("float64")
    nearest = np.full(n, np.nan)
    within = np.zeros(n, dtype="int64")
    n_busy = np.zeros(n, dtype="int64")
    n_room = np.zeros(n, dtype="int64")
    if len(loc) and n:
        lx, ly = loc["x_rd"].to_numpy("float64"), loc["y_rd"].to_numpy("float64")
        ia, ib, d = geo.pairwise_within(rx, ry, lx, ly, float(max(walk.max(), cfg.walking.walk_m_upper_bound)) * 4)
        for i, j, dd in zip(ia, ib, d):
            if not dd >= nearest[i]:
                nearest[i] = dd
            if dd <= walk[i] + 1e-9:
                within[i] += 1
                n_busy[i] += int(busy[j])
                n_room[i] += int(known[j] and not busy[j])
    for i in range(n):
        if decision[i] is not None:
            continue
        w = walk[i]
        near = "none within " + f"{4 * max(w, cfg.walking.walk_m_upper_bound):.0f} m" if np.isnan(nearest[i]) \
            else f"nearest at {nearest[i]:.0f} m"
        if within[i] == 0:
            decision[i], rule[i] = "granted", "REQ-NO-POINT"
            reason[i] = f"no public charge point within {w:.0f} m ({near})"
        elif n_busy[i] == within[i]:
            decision[i], rule[i] = "granted", "REQ-POINTS-BUSY"
            reason[i] = f"all {within[i]} public location(s) within {w:.0f} m are too busy ({near})"
        elif n_room[i] > 0:
            decision[i], rule[i] = "refused", "REQ-POINT-AVAILABLE"
            unknown = within[i] - n_busy[i] - n_room[i]
            reason[i] = (f"{n_room[i]} of {within[i]} public location(s) within {w:.0f} m have room ({near})"
                         + (f"; {unknown} without occupancy data" if unknown else ""))
        else:
            rule[i] = "REQ-NO-OCCUPANCY-DATA"
            unknown = within[i] - n_busy[i]
            reason[i] = (f"n/a: {unknown} of {within[i]} public location(s) within {w:.0f} m have no occupancy data"
                         + (f" ({n_busy[i]} busy)" if n_busy[i] else "") + f" ({near}); whether they have room is "
                         "unknown: load occupancy data (status or sessions) or decide by hand")
    reason = [f"{rs}; {'; '.join(nt)}" if nt else rs for rs, nt in zip(reason, notes)]
    req_date = pd.to_datetime(r["requested_date"])
    decided = req_date + pd.to_timedelta(pc.request_decision_weeks * 7, unit="D")
    r["decision"] = pd.array(list(decision), dtype="string")
    r["decision_rule"] = pd.array(list(rule), dtype="string")
    r["decision_reason"] = pd.array(reason, dtype="string")
    r["nearest_point_m"] = nearest
    r["points_within_walk"] = within
    r["decided_date"] = decided.where(r["decision"].notna())
    granted = r["decision"] == "granted"
    r["objection_end_date"] = (decided + pd.to_timedelta(pc.request_objection_weeks * 7, unit="D")).where(granted)
    r["operational_date"] = (req_date + pd.to_timedelta(pc.request_lead_time_weeks * 7, unit="D")).where(granted)
    return r
