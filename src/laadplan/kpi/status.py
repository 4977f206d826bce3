"""Occupancy from status data: hour-of-week occupancy without sessions.

Two sources (DOMAIN.md section 2, "Status snapshots"):

* ``occupancy_observations``: ready-made snapshots for a location or a gemeente (NDW hourly
  snapshots): ``evses_observed`` and ``evses_occupied`` (or ``occupancy_share``);
* ``status_observations``: EVSE status changes. Each status holds until the EVSE's next observation
  (the last one until the end of the data or of the period). They are sampled into hourly snapshots at
  the top of every UTC hour: at a snapshot an EVSE counts as observed unless its status is REMOVED or
  PLANNED (or it has not been seen yet) and as occupied when its status is in
  ``cfg.kpi.occupied_statuses`` (CHARGING by default).

For a subject (location or gemeente) an observation ``i`` has ``occupied_i / observed_i`` EVSEs.
Over a set of observations the occupancy is ``sum occupied_i / sum observed_i`` (numerators and
denominators summed, ratios never averaged; for a fixed number of EVSEs this is the plain mean). The
hour-of-week occupancy uses the observations whose local hour of week (Europe/Amsterdam, 0 = Monday
00:00) is ``w``; the peak is the largest of them.

A location's observations come from ``occupancy_observations`` when it has any there, otherwise from
its EVSEs' status history. A gemeente's come from gemeente-level ``occupancy_observations`` when present,
otherwise from summing its locations' observations per UTC hour.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from laadplan.kpi.calendar import hour_calendar, how_label, periods
from laadplan.kpi.usage import EXCLUDED_STATUSES, _as_date, _epoch
from laadplan.store import sql_literal

log = logging.getLogger(__name__)

STATUS_LEVELS = ("location", "gemeente")
STATUS_COLUMNS = ["observations", "evses_observed_max", "mean_occupancy_share", "peak_how_occupancy_share",
                  "peak_how", "first_observed_utc", "last_observed_utc"]


def compute_status_occupancy(con: duckdb.DuckDBPyConnection, occupancy_obs: str, status_obs: str, locations: str,
                             first_day: date, last_day: date, tz: str, level: str,
                             occupied: tuple[str, ...] = ("CHARGING",), data_end_utc: Any = None,
                             profile: bool = False) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Status-based occupancy per ``level`` (location|gemeente) over local days ``first_day..last_day``.

    ``occupancy_obs``/``status_obs``/``locations`` are relation names or parenthesised SELECTs with the
    columns of the store tables of those names. ``data_end_utc`` caps how far the last status of an EVSE
    is carried forward (default: the end of the period). With ``profile`` the second result is the
    hour-of-week table per subject (how, how_label, observations, occupancy_share).
    """
    if level not in STATUS_LEVELS:
        raise ValueError(f"status occupancy level must be one of {', '.join(STATUS_LEVELS)}, not {level!r}")
    ps = periods(first_day, last_day, "range", tz)
    cal = hour_calendar(ps, tz)
    t0, t1 = ps[0].start_utc, ps[0].end_utc
    r0, r1 = _epoch(t0), _epoch(t1)
    if data_end_utc is not None:
        r1_carry = min(r1, _epoch(pd.Timestamp(data_end_utc).to_pydatetime()))
    else:
        r1_carry = r1
    t0s, t1s = t0.isoformat(sep=" "), t1.isoformat(sep=" ")
    tag = uuid.uuid4().hex[:8]
    t_cal, t_obs, t_occ, t_iv, t_snap = (f"_st_{n}_{tag}" for n in ("cal", "obs", "occ", "iv", "snap"))
    con.register(t_cal + "_df", cal)
    occ_list = ", ".join(sql_literal(s) for s in occupied) or "NULL"
    excl = ", ".join(sql_literal(s) for s in EXCLUDED_STATUSES)
    try:
        con.execute(f"CREATE TEMP TABLE {t_cal} AS SELECT * FROM {t_cal}_df")
        # location-level observations: occupancy snapshots first, EVSE status history for the rest
        con.execute(f"""
            CREATE TEMP TABLE {t_occ} AS
            SELECT o.subject_id AS location_id, coalesce(o.gm_code, l.gm_code) AS gm_code,
                   floor(epoch(o.observed_utc) / 3600)::BIGINT AS hu, o.observed_utc,
                   coalesce(o.evses_observed, 1)::DOUBLE AS den,
                   coalesce(o.evses_occupied, o.occupancy_share * coalesce(o.evses_observed, 1))::DOUBLE AS num
            FROM {occupancy_obs} o
            LEFT JOIN (SELECT location_id, any_value(gm_code) AS gm_code FROM {locations}
                       GROUP BY location_id) l ON l.location_id = o.subject_id
            WHERE o.subject_level = 'location' AND o.observed_utc >= TIMESTAMP '{t0s}'
              AND o.observed_utc < TIMESTAMP '{t1s}'""")
        # status intervals [t, next observation of the EVSE) -> snapshot hours [h_a, h_b)
        con.execute(f"""
            CREATE TEMP TABLE {t_iv} AS
            WITH so AS (
                SELECT country_code, party_id, location_id, status, epoch(observed_utc) AS t,
                       lead(epoch(observed_utc)) OVER (PARTITION BY country_code, party_id, location_id, evse_uid
                                                       ORDER BY observed_utc) AS t_next
                FROM {status_obs} WHERE observed_utc < TIMESTAMP '{t1s}'
                  AND location_id NOT IN (SELECT location_id FROM {t_occ})),
            iv AS (
                SELECT country_code, party_id, location_id,
                       ceil(greatest(t, {r0}) / 3600)::BIGINT AS h_a,
                       ceil(least(coalesce(t_next, {r1_carry}), {r1_carry}) / 3600)::BIGINT AS h_b,
                       status NOT IN ({excl}) AS observed, status IN ({occ_list}) AS occupied
                FROM so)
            SELECT (dense_rank() OVER (ORDER BY country_code, party_id, location_id) - 1)::BIGINT AS lidx, *
            FROM iv WHERE h_b > h_a ORDER BY lidx""")
        iv = con.execute(f"SELECT lidx, h_a, h_b, observed, occupied FROM {t_iv}").fetchnumpy()
        snap = _snapshots({k: np.asarray(v) for k, v in iv.items()}, int(round(r0 / 3600)), len(cal))
        con.register(t_snap + "_df", snap)
        con.execute(f"""
            CREATE TEMP TABLE {t_obs} AS
            SELECT NULL::VARCHAR AS country_code, NULL::VARCHAR AS party_id, location_id, gm_code, hu, den, num,
                   observed_utc FROM {t_occ}
            UNION ALL
            SELECT k.country_code, k.party_id, k.location_id, l.gm_code, s.hu, s.den, s.num,
                   to_timestamp(s.hu * 3600)::TIMESTAMP AS observed_utc
            FROM {t_snap}_df s
            JOIN (SELECT DISTINCT lidx, country_code, party_id, location_id FROM {t_iv}) k USING (lidx)
            LEFT JOIN {locations} l USING (country_code, party_id, location_id)""")
        if level == "location":
            subj = f"SELECT country_code, party_id, location_id, gm_code, hu, den, num, observed_utc FROM {t_obs}"
            keys = ["country_code", "party_id", "location_id", "gm_code"]
        else:
            subj = f"""
                WITH g AS (
                    SELECT o.subject_id AS gm_code, floor(epoch(o.observed_utc) / 3600)::BIGINT AS hu,
                           coalesce(o.evses_observed, 1)::DOUBLE AS den,
                           coalesce(o.evses_occupied, o.occupancy_share * coalesce(o.evses_observed, 1))::DOUBLE AS num,
                           o.observed_utc
                    FROM {occupancy_obs} o WHERE o.subject_level = 'gemeente'
                      AND o.observed_utc >= TIMESTAMP '{t0s}' AND o.observed_utc < TIMESTAMP '{t1s}')
                SELECT * FROM g
                UNION ALL
                SELECT gm_code, hu, sum(den), sum(num), min(observed_utc) FROM {t_obs}
                WHERE gm_code IS NOT NULL AND gm_code NOT IN (SELECT gm_code FROM g)
                GROUP BY gm_code, hu"""
            keys = ["gm_code"]
        kcols = ", ".join(keys)
        tkcols = ", ".join(f"tot.{k}" for k in keys)
        on = " AND ".join(f"tot.{k} IS NOT DISTINCT FROM pk.{k}" for k in keys)  # keys may be NULL
        base = f"""
            WITH o AS (SELECT s.*, cal.how FROM ({subj}) s JOIN {t_cal} cal ON cal.hu = s.hu WHERE s.den > 0),
            hw AS (SELECT {kcols}, how, count(*) AS observations, sum(num) / sum(den) AS occupancy_share
                   FROM o GROUP BY ALL)"""
        df = con.execute(base + f""",
            tot AS (SELECT {kcols}, count(*) AS observations, max(den) AS evses_observed_max,
                           sum(num) / sum(den) AS mean_occupancy_share,
                           min(observed_utc) AS first_observed_utc, max(observed_utc) AS last_observed_utc
                    FROM o GROUP BY ALL),
            pk AS (SELECT {kcols}, max(occupancy_share) AS peak_how_occupancy_share,
                          first(how ORDER BY occupancy_share DESC, how) AS peak_how_idx FROM hw GROUP BY ALL)
            SELECT tot.*, pk.peak_how_occupancy_share, pk.peak_how_idx FROM tot JOIN pk ON {on}
            ORDER BY {tkcols}""").df()
        prof = None
        if profile:
            prof = con.execute(base + f" SELECT * FROM hw ORDER BY {kcols}, how").df()
            prof["how_label"] = prof["how"].map(how_label)
    finally:
        for t in (t_cal, t_obs, t_occ, t_iv):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        for t in (t_cal + "_df", t_snap + "_df"):
            try:
                con.unregister(t)
            except duckdb.Error:
                pass
    idx = df.pop("peak_how_idx")
    df["peak_how"] = [how_label(w) if v > 0 else None for w, v in zip(idx, df["peak_how_occupancy_share"])]
    df.insert(0, "period_start", ps[0].first_day)
    df.insert(1, "period_end", ps[0].last_day)
    df = df[keys + ["period_start", "period_end"] + STATUS_COLUMNS]
    return df, prof


#: cells (locations x hours) per block of the snapshot arrays
SNAPSHOT_BLOCK = 20_000_000


def _snapshots(iv: dict[str, np.ndarray], hu_min: int, n_hours: int) -> pd.DataFrame:
    """Hourly snapshots per location from EVSE status intervals.

    ``iv``: lidx (location index, sorted), h_a / h_b (first and past-the-last snapshot hour, hours since
    1970 UTC), observed, occupied. Per location ``l`` and hour ``h``: ``den = #intervals observed and
    covering h``, ``num`` likewise for occupied, built as difference arrays (+1 at h_a, -1 at h_b) and a
    cumulative sum over the hours, in blocks of locations. Returns lidx, hu, den, num where den > 0.
    """
    cols = {"lidx": [], "hu": [], "den": [], "num": []}
    n_loc = int(iv["lidx"].max()) + 1 if len(iv["lidx"]) else 0
    width = n_hours + 1
    block = max(1, SNAPSHOT_BLOCK // width)
    cuts = np.searchsorted(iv["lidx"], np.arange(0, n_loc + block, block))
    for bi in range(len(cuts) - 1):
        sl = slice(cuts[bi], cuts[bi + 1])
        if sl.start == sl.stop:
            continue
        l0 = bi * block
        li = iv["lidx"][sl] - l0
        ha = np.clip(iv["h_a"][sl] - hu_min, 0, n_hours)
        hb = np.clip(iv["h_b"][sl] - hu_min, 0, n_hours)
        nl = int(li.max()) + 1
        keys = np.concatenate([li * width + ha, li * width + hb])
        out = {}
        for name, flag in (("den", "observed"), ("num", "occupied")):
            w = iv[flag][sl].astype(np.float64)
            d = np.bincount(keys, weights=np.concatenate([w, -w]), minlength=nl * width).reshape(nl, width)
            out[name] = np.cumsum(d, axis=1)[:, :n_hours]
        ll, hh = np.nonzero(out["den"] > 0.5)
        cols["lidx"].append(ll + l0)
        cols["hu"].append(hh + hu_min)
        cols["den"].append(np.rint(out["den"][ll, hh]))
        cols["num"].append(np.rint(out["num"][ll, hh]))
    if not cols["lidx"]:
        return pd.DataFrame({"lidx": pd.Series(dtype="int64"), "hu": pd.Series(dtype="int64"),
                             "den": pd.Series(dtype="float64"), "num": pd.Series(dtype="float64")})
    return pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})


def _observed_range(con: duckdb.DuckDBPyConnection) -> tuple[Any, Any] | None:
    row = con.execute("""
        SELECT min(t), max(t) FROM (
            SELECT observed_utc AS t FROM occupancy_observations
            UNION ALL SELECT observed_utc FROM status_observations)""").fetchall()[0]
    if row[0] is None:
        return None
    return row[0], row[1]


def status_occupancy(store, cfg, level: str, start: Any = None, end: Any = None,
                     profile: bool = False) -> pd.DataFrame:
    """Status-based occupancy per ``level`` (location|gemeente) between local dates ``start`` and ``end``
    (inclusive; default: all observations). Columns: key columns (location: country_code, party_id --
    empty when the source is an aggregated snapshot without them --, location_id, gm_code; gemeente:
    gm_code), period_start, period_end, observations, evses_observed_max, mean_occupancy_share,
    peak_how_occupancy_share, peak_how, first/last_observed_utc. With ``profile=True`` the hour-of-week
    table (key, how, how_label, observations, occupancy_share) is returned instead.
    """
    tz = cfg.region.time_zone
    rng = _observed_range(store.con)
    if rng is None and (start is None or end is None):
        keys = ["country_code", "party_id", "location_id", "gm_code"] if level == "location" else ["gm_code"]
        return pd.DataFrame(columns=keys + ["period_start", "period_end"] + STATUS_COLUMNS)
    data_end = None
    s, e = _as_date(start), _as_date(end)
    if rng is not None:
        lo, hi = (pd.Timestamp(v).tz_localize("UTC").tz_convert(tz) for v in rng)
        s = s or lo.date()
        if e is None:
            e = hi.date()
            data_end = pd.Timestamp(rng[1]) + timedelta(seconds=1)  # carry the last status no further
    df, prof = compute_status_occupancy(store.con, "occupancy_observations", "status_observations", "locations",
                                        s, e, tz, level, tuple(cfg.kpi.occupied_statuses),
                                        data_end_utc=data_end, profile=profile)
    return prof if profile else df
