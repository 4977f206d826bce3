"""Usage KPIs from charging sessions, computed in DuckDB.

Definitions (DOMAIN.md section 2, "Precise definitions used by laadplan"). For a level key ``k``
(an EVSE, a location, a gemeente, a buurt or the region) with ``E_k`` EVSEs and a local period ``P``
of ``D`` calendar days and ``H`` elapsed hours (a DST day has 23 or 25 h):

* connected hours ``C = sum_s |[start_s, end_s) ∩ P|`` over sessions on the key's EVSEs;
* charging hours ``G = sum_s |[start_s, start_s + charging_h_s) ∩ P|`` (a car is assumed to charge from
  plug-in until it is full, then to stay parked: DOMAIN.md section 5);
* ``occupancy_share = C / (E_k * H)``; ``charging_share = G / C'`` where ``C'`` is the connected time of
  the sessions whose charging time is known;
* energy delivered in ``P``: each session's energy spread at constant power over its charging interval
  (over its connected interval when the charging time is unknown), so a session crossing a period
  boundary is split between the periods; ``kwh_per_evse_day = energy / (E_k * D)``;
* session counts, ``kwh_per_session`` (energy of the sessions *starting* in ``P`` / their number),
  ``unique_users`` (distinct user ids) and the evening shares (sessions and energy of sessions starting
  in the local evening window ``cfg.kpi.evening_start_hour .. evening_end_hour``) are attributed to the
  period in which the session starts; ``sessions_per_evse_day = sessions / (E_k * D)``;
* hour-of-week occupancy: for each local hour of week ``w`` (0 = Monday 00:00),
  ``occ_w = C_w / (E_k * N_w)`` with ``C_w`` the connected hours falling in UTC hours labelled ``w``
  and ``N_w`` the number of such hours in ``P``; ``peak_how_occupancy_share = max_w occ_w`` and
  ``peak_how`` its label (``"Tue 19:00"``).

A location or area sums numerators and denominators over its EVSEs; ratios are never averaged.
Denominator EVSEs are the EVSEs in the store that belong to the level, except those whose status is
REMOVED or PLANNED; an EVSE without sessions counts with zero usage. Sessions are matched to EVSEs on
(country_code, party_id, location_id, evse_uid), or on (location_id, evse_uid) when the session has
no party. Sessions matching no (counted) EVSE -- CSV sessions without ids, sessions on removed EVSEs --
count in the region's ``sessions``, ``energy_kwh``, ``kwh_per_session``, ``unique_users`` and evening
shares (``sessions_unmatched`` says how many), but not in any per-EVSE or occupancy figure: occupancy
is only over the EVSEs known in the store and their sessions.

Sessions are split into UTC hours (every UTC hour is a real hour) and each hour is labelled with its
local hour of week (:mod:`laadplan.kpi.calendar`), which makes every figure correct over DST changes.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd

from laadplan.kpi.calendar import Period, hour_calendar, how_label, periods, periods_frame

log = logging.getLogger(__name__)

LEVELS = ("evse", "location", "gemeente", "buurt", "region")
KEY_COLUMNS: dict[str, list[str]] = {
    "evse": ["country_code", "party_id", "location_id", "evse_uid"],
    "location": ["country_code", "party_id", "location_id"],
    "gemeente": ["gm_code"],
    "buurt": ["bu_code"],
    "region": [],
}
#: extra descriptive columns carried per key (the area the EVSE / location lies in)
EXTRA_COLUMNS: dict[str, list[str]] = {"evse": ["gm_code", "bu_code"], "location": ["gm_code", "bu_code"],
                                       "buurt": ["gm_code"], "gemeente": [], "region": []}
#: EVSE statuses that take an EVSE out of the denominator
EXCLUDED_STATUSES = ("REMOVED", "PLANNED")

KPI_COLUMNS = [
    "period_start", "period_end", "days", "hours", "n_evses", "sessions", "energy_kwh", "sessions_per_evse_day",
    "kwh_per_evse_day", "kwh_per_session", "connected_h", "charging_h", "occupancy_share", "charging_share",
    "unique_users", "evening_session_share", "evening_energy_share", "peak_how_occupancy_share", "peak_how",
]


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")


def _hour_filter(expr: str, start_hour: int, end_hour: int) -> str:
    if end_hour > start_hour:
        return f"({expr} >= {start_hour} AND {expr} < {end_hour})"
    return f"({expr} >= {start_hour} OR {expr} < {end_hour})"  # window across midnight


def compute_usage(con: duckdb.DuckDBPyConnection, evses: str, sessions: str, ps: list[Period], tz: str,
                  level: str, *, evening: tuple[int, int] = (16, 21), include_unmatched: bool = True,
                  profile: bool = False) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Usage KPIs of ``level`` for each period in ``ps``.

    ``evses`` and ``sessions`` are relation names or parenthesised SELECTs on ``con``: ``evses`` has
    country_code, party_id, location_id, evse_uid, gm_code, bu_code (only the EVSEs to count);
    ``sessions`` has country_code, party_id, location_id, evse_uid, start_utc, end_utc (naive UTC),
    energy_kwh, charging_h, user_id. ``include_unmatched`` lets sessions matching no EVSE count in the
    region's session and energy figures. With ``profile`` the second result is the hour-of-week table
    (key columns, period_start, how, how_label, n_hours, connected_h, occupancy_share), dense over the
    hours present in each period.
    """
    _check_level(level)
    if not ps:
        raise ValueError("no periods")
    keys = KEY_COLUMNS[level]
    extra = EXTRA_COLUMNS[level]
    tag = uuid.uuid4().hex[:8]
    t_ev, t_s, t_how, t_cal, t_per = (f"_kpi_{n}_{tag}" for n in ("ev", "s", "how", "cal", "per"))
    t0, t1 = min(p.start_utc for p in ps), max(p.end_utc for p in ps)
    r0, r1 = _epoch(t0), _epoch(t1)
    t0s, t1s = t0.isoformat(sep=" "), t1.isoformat(sep=" ")
    cal = hour_calendar(ps, tz)
    per = periods_frame(ps)
    con.register(t_cal + "_df", cal)
    con.register(t_per + "_df", per)
    created = [t_ev, t_s, t_how, t_cal, t_per]
    try:
        con.execute(f"CREATE TEMP TABLE {t_cal} AS SELECT * FROM {t_cal}_df")
        con.execute(f"CREATE TEMP TABLE {t_per} AS SELECT * FROM {t_per}_df")
        if keys:
            order = ", ".join(f'"{k}" NULLS LAST' for k in keys)
            kidx = f"dense_rank() OVER (ORDER BY {order}) - 1"
        else:
            kidx = "0"
        con.execute(f"""
            CREATE TEMP TABLE {t_ev} AS
            SELECT (row_number() OVER ())::BIGINT - 1 AS eidx, ({kidx})::BIGINT AS kidx, *
            FROM (SELECT DISTINCT ON (country_code, party_id, location_id, evse_uid)
                         country_code, party_id, location_id, evse_uid, gm_code, bu_code
                  FROM {evses} ORDER BY country_code, party_id, location_id, evse_uid)""")
        region_kidx = "0" if include_unmatched else "CASE WHEN m.eidx IS NOT NULL THEN 0 END"
        kid_expr = region_kidx if level == "region" else "m.kidx"
        con.execute(f"""
            CREATE TEMP TABLE {t_s} AS
            WITH s AS (
                SELECT country_code, party_id, location_id, evse_uid, epoch(start_utc) AS a, epoch(end_utc) AS b,
                       energy_kwh, charging_h, user_id
                FROM {sessions} WHERE end_utc > TIMESTAMP '{t0s}'
                      AND start_utc < TIMESTAMP '{t1s}'),
            by_uid AS (SELECT location_id, evse_uid, min(eidx) AS eidx, arg_min(kidx, eidx) AS kidx
                       FROM {t_ev} GROUP BY location_id, evse_uid),
            m AS (
                SELECT s.*, coalesce(e1.eidx, e2.eidx) AS eidx, coalesce(e1.kidx, e2.kidx) AS kidx
                FROM s
                LEFT JOIN {t_ev} e1 ON e1.country_code = s.country_code AND e1.party_id = s.party_id
                     AND e1.location_id = s.location_id AND e1.evse_uid = s.evse_uid
                LEFT JOIN by_uid e2 ON coalesce(s.party_id, '') = '' AND e2.location_id = s.location_id
                     AND e2.evse_uid = s.evse_uid)
            SELECT m.a, m.b, m.energy_kwh, m.charging_h, m.user_id, m.eidx IS NOT NULL AS matched,
                   ({kid_expr})::BIGINT AS kidx
            FROM m""")
        con.execute(f"DELETE FROM {t_s} WHERE kidx IS NULL")
        # hourly split: one row per (session, UTC hour it touches), aggregated per key, period, hour of week
        con.execute(f"""
            CREATE TEMP TABLE {t_how} AS
            WITH x AS (
                SELECT kidx, matched, a, b, charging_h, energy_kwh,
                       CASE WHEN charging_h IS NULL THEN NULL ELSE least(a + charging_h * 3600.0, b) END AS c,
                       unnest(range(floor(greatest(a, {r0}) / 3600)::BIGINT,
                                    ceil(least(b, {r1}) / 3600)::BIGINT)) AS hu
                FROM {t_s} WHERE b > a),
            y AS (
                SELECT kidx, matched, hu, a, b, c, energy_kwh,
                       least(b, (hu + 1) * 3600.0) - greatest(a, hu * 3600.0) AS conn_s,
                       CASE WHEN c IS NOT NULL  -- least() would skip a NULL
                            THEN greatest(0.0, least(c, (hu + 1) * 3600.0) - greatest(a, hu * 3600.0)) END AS chg_s
                FROM x)
            SELECT y.kidx, cal.pid, cal.how,
                   coalesce(sum(conn_s) FILTER (WHERE matched), 0) / 3600.0 AS connected_h,
                   coalesce(sum(chg_s) FILTER (WHERE matched), 0) / 3600.0 AS charging_h,
                   coalesce(sum(conn_s) FILTER (WHERE matched AND c IS NOT NULL), 0) / 3600.0 AS connected_known_h,
                   sum(CASE WHEN c > a THEN energy_kwh * chg_s / (c - a) ELSE energy_kwh * conn_s / (b - a) END)
                       AS energy_kwh,
                   coalesce(sum(CASE WHEN c > a THEN energy_kwh * chg_s / (c - a)
                                     ELSE energy_kwh * conn_s / (b - a) END) FILTER (WHERE matched), 0)
                       AS energy_matched_kwh
            FROM y JOIN {t_cal} cal ON cal.hu = y.hu
            GROUP BY y.kidx, cal.pid, cal.how""")
        ev_filter = _hour_filter("cal.how % 24", *evening)
        key_sel = ", ".join(f'any_value("{c}") AS "{c}"' for c in keys + extra)
        keys_sql = (f"SELECT kidx, {key_sel}, count(*) AS n_evses FROM {t_ev} GROUP BY kidx" if keys
                    else f"SELECT 0::BIGINT AS kidx, (SELECT count(*) FROM {t_ev}) AS n_evses")
        if level == "buurt":  # a buurt lies in one gemeente; keep it when its locations agree
            keys_sql = keys_sql.replace('any_value("gm_code")', 'CASE WHEN count(DISTINCT gm_code) = 1 '
                                        'THEN any_value("gm_code") END')
        out_keys = ", ".join(f'k."{c}"' for c in keys + extra)
        out_keys = out_keys + ", " if out_keys else ""
        sql = f"""
            WITH keys AS ({keys_sql}),
            st AS (
                SELECT s.kidx, cal.pid, count(*) AS sessions,
                       count(*) FILTER (WHERE matched) AS sessions_matched,
                       count(*) FILTER (WHERE NOT matched) AS sessions_unmatched,
                       sum(s.energy_kwh) AS energy_start_kwh,
                       count(*) FILTER (WHERE {ev_filter}) AS evening_sessions,
                       sum(s.energy_kwh) FILTER (WHERE {ev_filter}) AS evening_energy_kwh,
                       count(DISTINCT s.user_id) AS unique_users
                FROM {t_s} s JOIN {t_cal} cal ON cal.hu = floor(s.a / 3600)::BIGINT
                GROUP BY s.kidx, cal.pid),
            nh AS (SELECT pid, how, count(*) AS n_hours FROM {t_cal} GROUP BY pid, how),
            hw AS (
                SELECT h.kidx, h.pid, h.how, h.connected_h / (k.n_evses * nh.n_hours) AS occ
                FROM {t_how} h JOIN nh USING (pid, how) JOIN keys k USING (kidx) WHERE k.n_evses > 0),
            pk AS (SELECT kidx, pid, max(occ) AS peak, first(how ORDER BY occ DESC, how) AS peak_how_idx FROM hw GROUP BY kidx, pid),
            oc AS (
                SELECT kidx, pid, sum(connected_h) AS connected_h, sum(charging_h) AS charging_h,
                       sum(connected_known_h) AS connected_known_h, sum(energy_kwh) AS energy_kwh,
                       sum(energy_matched_kwh) AS energy_matched_kwh
                FROM {t_how} GROUP BY kidx, pid)
            SELECT {out_keys}p.pid, p.period_start, p.period_end, p.days, p.hours, k.n_evses,
                   coalesce(st.sessions, 0) AS sessions,
                   coalesce(oc.energy_kwh, 0.0) AS energy_kwh,
                   coalesce(st.sessions_matched, 0) / nullif(k.n_evses * p.days, 0) AS sessions_per_evse_day,
                   coalesce(oc.energy_matched_kwh, 0.0) / nullif(k.n_evses * p.days, 0) AS kwh_per_evse_day,
                   st.energy_start_kwh / nullif(st.sessions, 0) AS kwh_per_session,
                   coalesce(oc.connected_h, 0.0) AS connected_h,
                   coalesce(oc.charging_h, 0.0) AS charging_h,
                   coalesce(oc.connected_h, 0.0) / nullif(k.n_evses * p.hours, 0) AS occupancy_share,
                   oc.charging_h / nullif(oc.connected_known_h, 0) AS charging_share,
                   coalesce(st.unique_users, 0) AS unique_users,
                   st.evening_sessions / nullif(st.sessions, 0) AS evening_session_share,
                   coalesce(st.evening_energy_kwh, 0.0) / nullif(st.energy_start_kwh, 0) AS evening_energy_share,
                   CASE WHEN k.n_evses > 0 THEN coalesce(pk.peak, 0.0) END AS peak_how_occupancy_share,
                   pk.peak_how_idx,
                   coalesce(st.sessions_unmatched, 0) AS sessions_unmatched
            FROM keys k CROSS JOIN {t_per} p
            LEFT JOIN st ON st.kidx = k.kidx AND st.pid = p.pid
            LEFT JOIN oc ON oc.kidx = k.kidx AND oc.pid = p.pid
            LEFT JOIN pk ON pk.kidx = k.kidx AND pk.pid = p.pid
            ORDER BY k.kidx, p.pid"""
        df = con.execute(sql).df()
        prof = None
        if profile:
            prof = con.execute(f"""
                WITH keys AS ({keys_sql}),
                nh AS (SELECT pid, how, count(*) AS n_hours FROM {t_cal} GROUP BY pid, how)
                SELECT {out_keys}p.period_start, p.period_end, nh.how, nh.n_hours, k.n_evses,
                       coalesce(h.connected_h, 0.0) AS connected_h,
                       coalesce(h.connected_h, 0.0) / nullif(k.n_evses * nh.n_hours, 0) AS occupancy_share
                FROM keys k CROSS JOIN nh JOIN {t_per} p ON p.pid = nh.pid
                LEFT JOIN {t_how} h ON h.kidx = k.kidx AND h.pid = nh.pid AND h.how = nh.how
                ORDER BY k.kidx, p.pid, nh.how""").df()
            prof.insert(prof.columns.get_loc("how") + 1, "how_label", prof["how"].map(how_label))
    finally:
        for t in created:
            con.execute(f"DROP TABLE IF EXISTS {t}")
        for t in (t_cal + "_df", t_per + "_df"):
            try:
                con.unregister(t)
            except duckdb.Error:
                pass
    df["peak_how"] = df.pop("peak_how_idx").map(lambda v: how_label(v) if pd.notna(v) else None)
    unmatched = df.pop("sessions_unmatched")
    df = df.drop(columns=["pid"])
    if level == "region":
        df["sessions_unmatched"] = unmatched
    cols = keys + extra + KPI_COLUMNS + (["sessions_unmatched"] if level == "region" else [])
    df = df[cols]
    for c in ("period_start", "period_end"):
        df[c] = pd.to_datetime(df[c]).dt.date
    return df, prof


def _epoch(ts: datetime) -> float:
    return (ts - datetime(1970, 1, 1)).total_seconds()


# -- store wrappers -------------------------------------------------------------------------------------

def _as_date(d: Any) -> date | None:
    if d is None or isinstance(d, date) and not isinstance(d, datetime):
        return d
    if isinstance(d, datetime):
        return d.date()
    return date.fromisoformat(str(d))


def _sql_str(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def evses_relation(gm: str | None = None) -> str:
    """The counted EVSEs with their area codes, as a parenthesised SELECT over the store tables."""
    excl = ", ".join(_sql_str(s) for s in EXCLUDED_STATUSES)
    where = f"coalesce(e.status, '') NOT IN ({excl})"
    if gm:
        where += f" AND l.gm_code = {_sql_str(gm)}"
    return (f"(SELECT e.country_code, e.party_id, e.location_id, e.evse_uid, l.gm_code, l.bu_code "
            f"FROM evses e LEFT JOIN locations l USING (country_code, party_id, location_id) WHERE {where})")


def session_date_range(con: duckdb.DuckDBPyConnection, tz: str, table: str = "sessions") -> tuple[date, date] | None:
    """Local dates of the first and the last session start (the default KPI range)."""
    row = con.execute(f"SELECT min(start_utc), max(start_utc) FROM {table}").fetchall()[0]
    if row is None or row[0] is None:
        return None
    lo, hi = (pd.Timestamp(v).tz_localize("UTC").tz_convert(tz).date() for v in row)
    return lo, hi


def resolve_range(con: duckdb.DuckDBPyConnection, tz: str, start: Any, end: Any,
                  default: tuple[date, date] | None) -> tuple[date, date] | None:
    s, e = _as_date(start), _as_date(end)
    if s is None or e is None:
        if default is None:
            return None
        s = s or default[0]
        e = e or default[1]
    return s, e


def _empty(level: str) -> pd.DataFrame:
    cols = KEY_COLUMNS[level] + EXTRA_COLUMNS[level] + KPI_COLUMNS + (["sessions_unmatched"] if level == "region"
                                                                      else [])
    return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})


def usage_kpis(store, cfg, level: str, start: Any = None, end: Any = None, period: str = "range",
               gm: str | None = None) -> pd.DataFrame:
    """Usage KPIs per ``level`` (evse|location|gemeente|buurt|region) from the store's sessions.

    ``start``/``end`` are local dates (``end`` inclusive; default: the local days of the first and last
    session start); ``period`` is ``range`` (one row per key) or ``month`` (one row per key and local
    calendar month). ``gm`` restricts to the EVSEs of one gemeente (sessions matching none of them are
    then left out, also at region level). Columns: see :data:`KPI_COLUMNS` and the module docstring.
    """
    _check_level(level)
    tz = cfg.region.time_zone
    rng = resolve_range(store.con, tz, start, end, session_date_range(store.con, tz))
    if rng is None:
        log.info("no sessions in the store: no usage KPIs")
        return _empty(level)
    ps = periods(rng[0], rng[1], period, tz)
    df, _ = compute_usage(store.con, evses_relation(gm), "sessions", ps, tz, level,
                          evening=(cfg.kpi.evening_start_hour, cfg.kpi.evening_end_hour),
                          include_unmatched=gm is None)
    return df


def hour_of_week_occupancy(store, cfg, level: str = "region", start: Any = None, end: Any = None,
                           gm: str | None = None) -> pd.DataFrame:
    """Session-based occupancy per local hour of week (168 rows per key) over one local date range."""
    _check_level(level)
    tz = cfg.region.time_zone
    rng = resolve_range(store.con, tz, start, end, session_date_range(store.con, tz))
    if rng is None:
        return pd.DataFrame(columns=KEY_COLUMNS[level] + ["how", "how_label", "n_hours", "connected_h",
                                                          "occupancy_share"])
    ps = periods(rng[0], rng[1], "range", tz)
    _, prof = compute_usage(store.con, evses_relation(gm), "sessions", ps, tz, level,
                            evening=(cfg.kpi.evening_start_hour, cfg.kpi.evening_end_hour),
                            include_unmatched=gm is None, profile=True)
    return prof
