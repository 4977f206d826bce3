"""Usage KPIs from charging sessions: DuckDB matches sessions to EVSEs, numpy sums.

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

Missing data is n/a, not 0: a key none of whose locations has a matched session in the whole range (no
CDRs delivered for them, or sessions without an EVSE id such as the ElaadNL CSV) gets NaN for
``sessions_per_evse_day``, ``kwh_per_evse_day``, ``occupancy_share``, ``peak_how_occupancy_share`` and
``peak_how`` (:data:`NO_DATA_NA`), and NaN in its hour-of-week profile. An idle EVSE at a location whose
other EVSEs have sessions keeps its 0, and counts with zero usage in its areas.

Sessions are split at period boundaries and into UTC hours (every UTC hour is a real hour); each hour
is labelled with its local hour of week (:mod:`laadplan.kpi.calendar`), which makes every figure correct
over DST changes. Implementation: one DuckDB query matches sessions to EVSEs, labels each with its group
(start period and a range of keys), and returns plain arrays; every sum is a ``numpy.bincount`` into
dense per-key arrays (no high-cardinality hash aggregation), and a session's hours enter the hour-of-week
sums as four difference-array entries rather than one row per hour. Sessions are summed in groups of one
start period and range of keys in parallel threads -- numpy releases the GIL in its array loops --
and each period is reduced to its peak as soon as the groups that can reach it are in
(``benchmarks/bench_kpi.py`` compares it with a plain DuckDB GROUP BY).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from laadplan.kpi.calendar import Period, hour_calendar, how_label, periods, periods_frame
from laadplan.store import sql_literal

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

#: per-EVSE figures that are n/a (not 0) for a key with no session matched to its EVSEs in the whole range
NO_DATA_NA = ("sessions_per_evse_day", "kwh_per_evse_day", "occupancy_share", "peak_how_occupancy_share")
KPI_COLUMNS = [
    "period_start", "period_end", "days", "hours", "n_evses", "sessions", "energy_kwh", "sessions_per_evse_day",
    "kwh_per_evse_day", "kwh_per_session", "connected_h", "charging_h", "occupancy_share", "charging_share",
    "unique_users", "evening_session_share", "evening_energy_share", "peak_how_occupancy_share", "peak_how",
]


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")


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
    threads = THREADS
    keys = KEY_COLUMNS[level]
    extra = EXTRA_COLUMNS[level]
    tag = uuid.uuid4().hex[:8]
    t_ev, t_cal, t_per = (f"_kpi_{n}_{tag}" for n in ("ev", "cal", "per"))
    t0, t1 = min(p.start_utc for p in ps), max(p.end_utc for p in ps)
    r0, r1 = _epoch(t0), _epoch(t1)
    t0s, t1s = t0.isoformat(sep=" "), t1.isoformat(sep=" ")
    cal = hour_calendar(ps, tz)
    per = periods_frame(ps)
    con.register(t_cal + "_df", cal)
    con.register(t_per + "_df", per)
    created = [t_ev, t_cal, t_per]
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
        # only the region with unmatched sessions has rows matching no EVSE; elsewhere every row is matched
        matched_col = "m.eidx IS NOT NULL AS matched," if level == "region" and include_unmatched else ""
        key_sel = ", ".join(f'any_value("{c}") AS "{c}"' for c in keys + extra)
        keys_sql = (f"SELECT kidx, {key_sel}, count(*) AS n_evses FROM {t_ev} GROUP BY kidx ORDER BY kidx" if keys
                    else f"SELECT 0::BIGINT AS kidx, (SELECT count(*) FROM {t_ev}) AS n_evses")
        if level == "buurt":  # a buurt lies in one gemeente; keep it when its locations agree
            keys_sql = keys_sql.replace('any_value("gm_code")', 'CASE WHEN count(DISTINCT gm_code) = 1 '
                                        'THEN any_value("gm_code") END')
        kf = con.execute(keys_sql).df()
        # the group of sessions each row is summed in: its start period and a range of keys (see _sums)
        parts = _parts(len(kf), len(ps), threads)
        task_sql = f"k.pid * {parts}" + (f" + ({kid_expr}) * {parts} // {len(kf)}" if parts > 1 else "")
        # sessions matched to their EVSE (key), as numpy arrays; everything else is summed in numpy
        arr = con.execute(f"""
            WITH s AS (
                SELECT country_code, party_id, location_id, evse_uid, epoch(start_utc) AS a, epoch(end_utc) AS b,
                       energy_kwh, charging_h, user_id, coalesce(party_id, '') = '' AS no_party
                FROM {sessions} WHERE end_utc > TIMESTAMP '{t0s}'
                      AND start_utc < TIMESTAMP '{t1s}'),
            by_uid AS (SELECT location_id, evse_uid, min(eidx) AS eidx, arg_min(kidx, eidx) AS kidx,
                              TRUE AS no_party
                       FROM {t_ev} GROUP BY location_id, evse_uid),
            m AS (
                SELECT s.*, coalesce(e1.eidx, e2.eidx) AS eidx, coalesce(e1.kidx, e2.kidx) AS kidx
                FROM s
                LEFT JOIN {t_ev} e1 ON e1.country_code = s.country_code AND e1.party_id = s.party_id
                     AND e1.location_id = s.location_id AND e1.evse_uid = s.evse_uid
                -- equality on a flag, not a filter on s alone: DuckDB 1.5 plans the latter as a nested-loop
                -- join (12 s instead of 0.1 s on 500,000 sessions)
                LEFT JOIN by_uid e2 ON e2.no_party = s.no_party AND e2.location_id = s.location_id
                     AND e2.evse_uid = s.evse_uid)
            SELECT * FROM (
                SELECT ({kid_expr})::BIGINT AS kidx, {matched_col} m.a, m.b,
                       -- least() skips NULLs, hence the CASE
                       CASE WHEN m.charging_h IS NULL THEN '-Infinity'::DOUBLE
                            ELSE least(m.a + m.charging_h * 3600.0, m.b) END AS c,
                       coalesce(m.energy_kwh, 0.0) AS e,
                       -- 64-bit, for counting; 0 = no user (a real id hashes to 0 with odds 2^-64)
                       CASE WHEN m.user_id IS NULL THEN 0::UBIGINT ELSE hash(m.user_id) END AS user_hash,
                       ({task_sql})::{'SMALLINT' if len(ps) * parts < 32_000 else 'BIGINT'} AS task
                FROM m JOIN {t_cal} k ON k.hu = floor(greatest(m.a, {r0!r}) / 3600)::BIGINT)
            WHERE kidx IS NOT NULL""").fetchnumpy()
    finally:
        for t in created:
            con.execute(f"DROP TABLE IF EXISTS {t}")
        for t in (t_cal + "_df", t_per + "_df"):
            try:
                con.unregister(t)
            except duckdb.Error:
                pass
    s = {k: np.asarray(v) for k, v in arr.items()}
    sums, st = _sums(s, cal, per, kf["n_evses"].to_numpy(np.float64), r0, r1, evening, profile, threads)
    return _assemble(kf, st, sums, per, cal, keys, extra, level, profile)


HOUR_US = 3600e6
#: sessions per chunk (temporaries of ~1 MB stay in the CPU cache)
SPLIT_CHUNK = 131_072
#: threads for the sums: numpy releases the GIL inside its array loops, so groups of sessions run in parallel
THREADS = max(1, min(4, os.cpu_count() or 1))
#: keys per group of sessions: its slice of a period's hour-of-week slab is KEYS_PER_TASK x 169 x 8 bytes
KEYS_PER_TASK = 2048
SPLIT_SUMS = ("conn", "chg", "conn_known", "energy", "energy_matched")
START_SUMS = ("sessions", "sessions_matched", "energy_start_kwh", "evening_sessions", "evening_energy_kwh",
              "unique_users")


@dataclass(frozen=True)
class _Grid:
    """Constants of one computation: ``G`` keys, ``P`` periods with their bounds (s since 1970 UTC), the
    UTC-hour calendar (hour-of-week label of hour ``hu_min + i``, DST-free stretch, evening or not)."""

    G: int
    P: int
    r0: float
    r1: float
    bounds: np.ndarray
    hu_min: int
    cal_how: np.ndarray
    cal_seg: np.ndarray  # stretches of the calendar without a DST change: labels run on by one per hour
    cal_eve: np.ndarray  # the hour lies in the local evening window
    W: int = 169  # 168 hours of the week + a sentinel slot for the difference arrays

    @property
    def slab(self) -> int:
        return self.G * self.W

    @property
    def n_k(self) -> int:
        return self.G * self.P


def _parts(G: int, P: int, threads: int) -> int:
    """Key ranges per period: groups of at most ``KEYS_PER_TASK`` keys, and at least one per thread when
    there are few periods to share out."""
    parts = -(-G // KEYS_PER_TASK)
    if P < 2 * threads:
        parts = max(parts, threads)
    return max(1, min(parts, G))


def _sums(s: dict[str, np.ndarray], cal: pd.DataFrame, per: pd.DataFrame, n_ev: np.ndarray, r0: float, r1: float,
          evening: tuple[int, int], profile: bool = False,
          threads: int | None = None) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    """Every sum behind the KPIs: ``(split, start)``, both indexed ``kidx * P + pid``.

    Input arrays (one entry per session overlapping the periods): kidx, a, b (start/end, s since
    1970 UTC), c (end of charging, -inf when unknown), e (kWh), user_hash (0: no user), task (the group it
    belongs to: ``start period * parts + kidx * parts // G`` with ``parts`` from :func:`_parts`, the start
    period 0 for a session starting before the periods) and, when some sessions match no EVSE, matched.

    *split*: over period ``p = [P0, P1)`` a session contributes connected time ``min(b, P1) - max(a, P0)``,
    charging time ``min(c, P1) - max(a, P0)`` (clipped at 0) and energy ``e x charging time / (c - a)``
    (constant power while charging; ``e x connected / (b - a)`` when ``c`` is unknown). Over UTC hour ``u``
    (``[3600u, 3600u + 3600)``) its connected time is 3600 s except in its first and last hour. Hour sums
    go into one dense ``G x 168`` array per period with ``numpy.bincount`` (no hashing), and each period
    is reduced to its peak hour of week (``peak``, ``peak_idx``) once complete.

    *start*: sessions (all, matched), energy of those sessions, the same in the local evening window and
    distinct users (64-bit hashes of the user ids), attributed to the period the session starts in.

    Sessions are processed in groups of one start period and one range of at most ``KEYS_PER_TASK`` keys
    (so a group's arrays and its slice of the period's slab stay small), in parallel threads; a period is
    complete once the groups starting in or before it are merged, since a session never reaches back
    before its start, and is then reduced to its peak in a thread as well.
    """
    G, P = len(n_ev), len(per)
    cal_pid = cal["pid"].to_numpy(np.int64)
    bounds = np.array([r0 + 3600.0 * float(h) for h in np.r_[0, np.cumsum(per["hours"].to_numpy())]])
    bounds[-1] = r1
    cal_how = cal["how"].to_numpy(np.int64)
    seg = np.r_[0, np.cumsum((cal_how[1:] - cal_how[:-1]) % 168 != 1)]
    hour = cal_how % 24
    lo, hi = evening
    eve = (hour >= lo) & (hour < hi) if hi > lo else (hour >= lo) | (hour < hi)
    g = _Grid(G=G, P=P, r0=r0, r1=r1, bounds=bounds, hu_min=int(cal["hu"].min()), cal_how=cal_how,
              cal_seg=seg, cal_eve=eve)
    n_hours = np.zeros((P, 168))
    np.add.at(n_hours, (cal_pid, cal_how), 1.0)
    threads = THREADS if threads is None else max(1, threads)
    parts = _parts(G, P, threads)
    n_tasks = P * parts
    # stable sort of small integers (the task, from SQL): numpy uses a radix sort for 16-bit keys
    order = np.argsort(s["task"], kind="stable")
    cuts = np.r_[0, np.cumsum(np.bincount(s["task"], minlength=n_tasks))]
    # part r holds the keys k with k * parts // G == r
    k_lo = -(-np.arange(parts + 1) * G // parts)

    split = {k: np.zeros(g.n_k) for k in SPLIT_SUMS}
    start = {k: np.zeros(g.n_k) for k in START_SUMS}
    peak = np.full((G, P), np.nan)
    peak_idx = np.full((G, P), -1, dtype=np.int64)
    prof: dict[int, np.ndarray] = {}
    acc: dict[int, np.ndarray] = {}

    spare: list[np.ndarray] = []  # finished slabs, reused: fresh memory costs page faults

    def slab() -> np.ndarray:
        if spare:
            buf = spare.pop()
            buf.fill(0.0)
            return buf
        return np.zeros(g.slab)

    def finalize(p: int) -> None:
        buf = acc.pop(p, None)
        if buf is None:
            buf = slab()
        # cumulative sum of the difference slots (whole microseconds, so exact): connected us per hour of week
        h = np.cumsum(buf.reshape(G, g.W), axis=1, out=buf.reshape(G, g.W))[:, :168]
        if profile:
            prof[p] = h / 3.6e9
        present = n_hours[p] > 0
        # argmax_w C_w / (E N_w) does not depend on E: rank by C_w / N_w (hours absent from the period -> 0)
        inv = np.where(present, 1.0 / np.where(present, n_hours[p], 1.0), 0.0) / 3.6e9
        r = np.multiply(h, inv[None, :], out=h)
        arg = np.argmax(r, axis=1)  # the first maximum: earliest hour of week on ties
        ok = n_ev > 0
        val = r[np.arange(G), arg] / np.where(ok, n_ev, 1.0)
        peak[ok, p] = val[ok]
        pos = ok & (val > 0)
        peak_idx[pos, p] = arg[pos]
        spare.append(buf)

    def merge(res: tuple) -> None:
        q, k0, k1, sp, st, how, later = res
        for k in SPLIT_SUMS:
            split[k].reshape(G, P)[k0:k1] += sp[k].reshape(k1 - k0, P)
        for k in START_SUMS:
            start[k].reshape(G, P)[k0:k1, q] += st[k]
        if how is not None:
            if q not in acc:
                acc[q] = slab()
            acc[q][k0 * g.W:k1 * g.W] += how
        if later is not None:
            key, wt = later
            pp = key // g.slab
            for p in np.unique(pp):
                m = pp == p
                if p not in acc:
                    acc[int(p)] = slab()
                np.add.at(acc[int(p)], key[m] - p * g.slab, wt[m])

    def run(t: int) -> tuple:
        r = t % parts
        return _group(t // parts, int(k_lo[r]), int(k_lo[r + 1]), order[cuts[t]:cuts[t + 1]], s, g)

    done = 0
    pending: deque = deque()
    with ThreadPoolExecutor(threads) if threads > 1 else nullcontext() as ex:
        finals = []

        def complete(upto: int) -> None:  # every group starting in a period before `upto` is merged
            nonlocal done
            while done < upto:
                finals.append(ex.submit(finalize, done) if ex else finalize(done))
                done += 1

        for t in range(n_tasks):
            if cuts[t + 1] > cuts[t]:
                pending.append((t, ex.submit(run, t) if ex else run(t)))
            # at most `threads` groups in flight plus one done: memory stays a few periods' worth
            while pending and (len(pending) > threads - 1 or t == n_tasks - 1):
                tt, res = pending.popleft()
                merge(res.result() if ex else res)
                complete((tt + 1) // parts)
        complete(P)
        for f in finals:
            if ex:
                f.result()  # raises what the thread raised
    for k in ("conn", "chg", "conn_known"):
        split[k] /= 3600.0
    start["sessions_unmatched"] = start["sessions"] - start["sessions_matched"]
    split.update(peak=peak, peak_idx=peak_idx, n_hours=n_hours, prof=prof)
    return split, start


def _group(q: int, k0: int, k1: int, sel: np.ndarray, s: dict[str, np.ndarray], g: _Grid) -> tuple:
    """The sums of the sessions ``sel``, all starting in period ``q`` with keys in ``k0 .. k1 - 1``:
    (q, k0, k1, split sums per local key and period, start sums per local key, hour-of-week difference
    sums of period ``q`` for these keys or None, (keys, weights) of later periods or None)."""
    nk = k1 - k0
    sp = {k: np.zeros(nk * g.P) for k in SPLIT_SUMS}
    st = {k: np.zeros(nk) for k in START_SUMS[:-1]}
    keys, wts, xkeys, xwts, users = [], [], [], [], []
    for i in range(0, len(sel), SPLIT_CHUNK):  # small chunks keep the temporaries in the CPU cache
        c = {k: v[sel[i:i + SPLIT_CHUNK]] for k, v in s.items() if k != "task"}
        _start_chunk(c, k0, nk, g, st, users)
        here, later = _split_chunk(c, q, k0, nk, g, sp)
        for kw, ks, ws in ((here, keys, wts), (later, xkeys, xwts)):
            if kw is not None:
                ks.append(kw[0])
                ws.append(kw[1])
    # distinct users per key: one 64-bit value per (key, user), the key in the high bits and the top bits of
    # the user hash below it; sorted, the first of each run is a distinct user of that key. Two users of one
    # key collide with odds ~ n^2 / 2^(65 - bits(key)) (n users of the key): negligible for any level.
    nb = max(1, int(nk - 1).bit_length())
    comb = np.sort(np.concatenate(users) if len(users) > 1 else users[0]) if users else np.zeros(0, np.uint64)
    first = np.ones(len(comb), dtype=bool)
    first[1:] = comb[1:] != comb[:-1]
    st["unique_users"] = np.bincount((comb[first] >> np.uint64(64 - nb)).astype(np.int64),
                                     minlength=nk).astype(np.float64)
    # pieces in the start period fill this task's slice of the period's slab; the few later ones stay entries
    how = None
    if keys:
        key = np.concatenate(keys) if len(keys) > 1 else keys[0]
        wt = np.concatenate(wts) if len(wts) > 1 else wts[0]
        how = np.bincount(key - (q * g.slab + k0 * g.W), weights=wt, minlength=nk * g.W)
    later = (np.concatenate(xkeys), np.concatenate(xwts)) if xkeys else None
    return q, k0, k1, sp, st, how, later


def _start_chunk(c: dict[str, np.ndarray], k0: int, nk: int, g: _Grid, st: dict[str, np.ndarray],
                 users: list) -> None:
    """Add one chunk's sessions that start inside the periods to the start sums of its period (per key
    ``k0 + i``, at ``i``)."""
    inside = c["a"] >= g.r0
    if not inside.all():
        c = {k: v[inside] for k, v in c.items()}
    k = c["kidx"] - k0 if k0 else c["kidx"]
    eve = g.cal_eve[np.floor(c["a"] / 3600).astype(np.int64) - g.hu_min]  # starts in the local evening
    e = c["e"]
    ke = k[eve]
    n = np.bincount(k, minlength=nk)
    st["sessions"] += n
    st["sessions_matched"] += np.bincount(k[c["matched"]], minlength=nk) if "matched" in c else n
    st["energy_start_kwh"] += np.bincount(k, weights=e, minlength=nk)
    st["evening_sessions"] += np.bincount(ke, minlength=nk)
    st["evening_energy_kwh"] += np.bincount(ke, weights=e[eve], minlength=nk)
    uh = c["user_hash"]
    hu = uh != 0
    if not hu.all():
        k, uh = k[hu], uh[hu]
    nb = max(1, int(nk - 1).bit_length())
    users.append((k.astype(np.uint64) << np.uint64(64 - nb)) | (uh >> np.uint64(nb)))


def _split_chunk(c: dict[str, np.ndarray], q: int, k0: int, nk: int, g: _Grid, out: dict[str, np.ndarray]):
    """One chunk of :func:`_sums`' split (sessions ``c``, all starting in period ``q``): adds the per-period
    sums to ``out`` (per key ``k0 + i`` and period ``p``, at ``i * P + p``) and returns the hour-of-week
    difference entries (keys, weights) of period ``q`` and of later periods, each None when there are none."""
    a, b = c["a"], c["b"]
    pos = b > a  # an empty session has no time to split (and would divide by zero)
    if not pos.all():
        c = {k: v[pos] for k, v in c.items()}
        a, b = c["a"], c["b"]
    c_, e, kidx, matched = c["c"], c["e"], c["kidx"], c.get("matched")
    aa, bb = np.maximum(a, g.r0), np.minimum(b, g.r1)
    # each session's first piece lies in its start period q (aa >= bounds[q]); the few crossing into later
    # periods get one more piece per period they reach
    kw = [_pieces(aa, np.minimum(bb, g.bounds[q + 1]), q, a, b, c_, e, kidx, matched, k0, nk, g, out)]
    cross = np.nonzero(bb > g.bounds[q + 1])[0]
    if len(cross):
        n_x = np.searchsorted(g.bounds, bb[cross], side="left") - 1 - q
        xi = np.repeat(cross, n_x)
        xp = q + 1 + (np.arange(len(xi)) - np.repeat(np.cumsum(n_x) - n_x, n_x))
        kw.append(_pieces(g.bounds[xp], np.minimum(bb[xi], g.bounds[xp + 1]), xp, a[xi], b[xi], c_[xi], e[xi],
                          kidx[xi], None if matched is None else matched[xi], k0, nk, g, out))
    return kw[0], (kw[1] if len(kw) > 1 else None)


def _pieces(lo, hi, pid, a, b, c_, e, kidx, matched, k0: int, nk: int, g: _Grid, out: dict[str, np.ndarray]):
    """Pieces ``[lo, hi)`` of sessions ``[a, b)`` inside period(s) ``pid``: adds connected and charging time
    and energy to ``out`` per key and period, and returns the hour-of-week difference entries (keys,
    weights) of the matched pieces, or None. ``matched`` None: every session is matched; ``c_`` is the end
    of charging, -inf when unknown."""
    conn = hi - lo  # > 0: a piece is never empty (b > a, and a later piece starts before the session ends)
    chg = np.maximum(np.minimum(c_, hi) - lo, 0.0)
    by_chg = c_ > a  # the charging end is known (and after the start): energy spreads over the charging
    if by_chg.all():  # the common case, without the selections
        known = None
        energy = e * chg / (c_ - a)
    else:
        known = c_ > -np.inf
        energy = e * np.where(by_chg, chg, conn) / np.where(by_chg, c_ - a, b - a)
    k2 = (kidx - k0 if k0 else kidx) * g.P + pid
    n_k = nk * g.P
    all_m = matched is None or bool(matched.all())
    out["conn"] += np.bincount(k2, weights=conn if all_m else np.where(matched, conn, 0.0), minlength=n_k)
    out["chg"] += np.bincount(k2, weights=chg if all_m else np.where(matched, chg, 0.0), minlength=n_k)
    if known is None and all_m:
        out["conn_known"] += np.bincount(k2, weights=conn, minlength=n_k)
    else:
        kn = matched if known is None else (known if all_m else known & matched)
        out["conn_known"] += np.bincount(k2, weights=np.where(kn, conn, 0.0), minlength=n_k)
    out["energy"] += np.bincount(k2, weights=energy, minlength=n_k)
    out["energy_matched"] += np.bincount(k2, weights=energy if all_m else np.where(matched, energy, 0.0),
                                         minlength=n_k)
    # -- per local hour of week (matched pieces), as a difference array of W = 169 slots per key and period:
    #    a value v on labels [w0, w1) adds +v at w0 and -v at w1 (slot 168 is a sentinel, never read).
    #    A piece [lo, hi) covers UTC hours ha..hb, labelled la, la+1, ... (mod 168) unless a DST change lies
    #    inside (such pieces are split per hour). It is the full hours ha..hb-1 (3600 s on each of their
    #    labels: +3600 at la, -3600 at lb, and +3600 at slot 0 per wrap round the week) plus x seconds in
    #    hour hb (+x at lb, -x at lb+1) minus the y seconds of hour ha before lo (-y at la, +y at la+1).
    if not all_m:
        lo, hi, kidx = lo[matched], hi[matched], kidx[matched]
        pid = pid[matched] if isinstance(pid, np.ndarray) else pid
    if not len(lo):
        return None
    cal_how, hu_min = g.cal_how, g.hu_min
    ha = np.floor(lo / 3600).astype(np.int64)
    hb = np.ceil(hi / 3600).astype(np.int64) - 1
    ia, ib = ha - hu_min, hb - hu_min
    la, lb = cal_how[ia], cal_how[ib]
    # seconds as whole microseconds: the difference sums are then exact (no float residue, exact ties)
    y = np.rint((lo - ha * 3600.0) * 1e6)
    x = np.rint((hi - hb * 3600.0) * 1e6)
    base = pid * g.slab + kidx * g.W
    ka, kb = base + la, base + lb
    ok = g.cal_seg[ia] == g.cal_seg[ib]
    bad = np.nonzero(~ok)[0]
    if len(bad):
        x, y = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
        hour = np.where(ok, HOUR_US, 0.0)
        keys, wts = [ka, ka + 1, kb, kb + 1], [hour - y, y, x - hour, -x]
    else:
        keys, wts = [ka, ka + 1, kb, kb + 1], [HOUR_US - y, y, x - HOUR_US, -x]
    span = hb - ha
    if span.max() < 168:  # no piece a week long: it wraps round the week at most once
        xw = np.nonzero((lb < la) & ok)[0]
        if len(xw):
            keys.append(base[xw])
            wts.append(np.full(len(xw), HOUR_US))
    else:
        wraps = span // 168 + (lb < la)
        xw = np.nonzero(wraps * ok)[0]
        if len(xw):
            keys.append(base[xw])
            wts.append(wraps[xw] * HOUR_US)
    if len(bad):  # split per UTC hour
        nh = (hb - ha + 1)[bad]
        hrs = np.repeat(ha[bad] - (np.cumsum(nh) - nh), nh) + np.arange(int(nh.sum()))
        first = np.repeat(ha[bad], nh) == hrs
        last = np.repeat(hb[bad], nh) == hrs
        s1b = HOUR_US - np.rint((lo - ha * 3600.0)[bad] * 1e6)
        s2b = np.rint((hi - hb * 3600.0)[bad] * 1e6)
        secs = np.where(first, np.repeat(s1b, nh), np.where(last, np.repeat(s2b, nh), HOUR_US))
        lab = cal_how[hrs - hu_min]
        bb_ = np.repeat(base[bad], nh)
        keys += [bb_ + lab, bb_ + lab + 1]
        wts += [secs, -secs]
    return np.concatenate(keys), np.concatenate(wts)


def _labels(idx: np.ndarray) -> np.ndarray:
    """Hour-of-week labels for an index array (-1 -> None)."""
    table = np.array([how_label(w) for w in range(168)] + [None], dtype=object)
    return table[np.where(idx < 0, 168, idx)]


def _assemble(kf: pd.DataFrame, st: pd.DataFrame, sums: dict[str, np.ndarray], per: pd.DataFrame,
              cal: pd.DataFrame, keys: list[str], extra: list[str], level: str,
              profile: bool) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    G, P = len(kf), len(per)
    n_hours, peak, peak_idx = sums["n_hours"], sums["peak"], sums["peak_idx"]
    n_ev = kf["n_evses"].to_numpy(np.float64)
    kk = np.repeat(np.arange(G), P)
    pp = np.tile(np.arange(P), G)
    k2 = kk * P + pp

    def scatter(col: str) -> np.ndarray:
        return st[col][k2]

    sessions = scatter("sessions")
    sessions_matched = scatter("sessions_matched")
    energy_start = scatter("energy_start_kwh")
    n_e = n_ev[kk]
    days = per["days"].to_numpy(np.float64)[pp]
    hours = per["hours"].to_numpy(np.float64)[pp]
    with np.errstate(divide="ignore", invalid="ignore"):
        den_day = np.where(n_e > 0, n_e * days, np.nan)
        df = pd.DataFrame({
            "period_start": per["period_start"].dt.date.to_numpy()[pp],
            "period_end": per["period_end"].dt.date.to_numpy()[pp],
            "days": per["days"].to_numpy()[pp], "hours": hours, "n_evses": kf["n_evses"].to_numpy()[kk],
            "sessions": sessions.astype(np.int64),
            "energy_kwh": sums["energy"][k2],
            "sessions_per_evse_day": sessions_matched / den_day,
            "kwh_per_evse_day": sums["energy_matched"][k2] / den_day,
            "kwh_per_session": np.where(sessions > 0, energy_start / np.where(sessions > 0, sessions, 1), np.nan),
            "connected_h": sums["conn"][k2],
            "charging_h": sums["chg"][k2],
            "occupancy_share": sums["conn"][k2] / np.where(n_e > 0, n_e * hours, np.nan),
            "charging_share": np.where(sums["conn_known"][k2] > 0, sums["chg"][k2] / sums["conn_known"][k2], np.nan),
            "unique_users": scatter("unique_users").astype(np.int64),
            "evening_session_share": np.where(sessions > 0, scatter("evening_sessions") / sessions, np.nan),
            "evening_energy_share": np.where(energy_start > 0, scatter("evening_energy_kwh") / energy_start, np.nan),
            "peak_how_occupancy_share": peak.reshape(-1),
            "peak_how": _labels(peak_idx.reshape(-1)),
        })
    # a key with no session matched to any EVSE of its location(s) in the whole range has no usage data: its
    # per-EVSE figures are n/a, not 0 (sessions without an EVSE id, operators that deliver no CDRs); an idle
    # EVSE at a location whose other EVSEs have sessions keeps its 0
    matched_any = st["sessions_matched"].reshape(G, P).sum(axis=1) > 0 if G else np.zeros(0, dtype=bool)
    if level == "evse" and G:
        loc_keys = KEY_COLUMNS["location"]
        matched_any = (pd.Series(matched_any).groupby([kf[c].reset_index(drop=True) for c in loc_keys],
                                                      dropna=False).transform("max").to_numpy(bool))
    nd = ~matched_any[kk]
    if nd.any():
        for c in NO_DATA_NA:
            df.loc[nd, c] = np.nan
        df.loc[nd, "peak_how"] = None
    for c in reversed(keys + extra):
        df.insert(0, c, kf[c].take(kk).reset_index(drop=True))  # keeps the string dtype (fast)
    if level == "region":
        df["sessions_unmatched"] = scatter("sessions_unmatched").astype(np.int64)
    prof = None
    if profile:
        rows = []
        for p in range(P):
            hows = np.nonzero(n_hours[p] > 0)[0]
            conn = sums["prof"][p][:, hows]  # G x H
            part = pd.DataFrame({
                "kidx": np.repeat(np.arange(G), len(hows)),
                "period_start": per["period_start"].dt.date.iloc[p], "period_end": per["period_end"].dt.date.iloc[p],
                "how": np.tile(hows, G), "n_hours": np.tile(n_hours[p, hows], G).astype(np.int64),
                "n_evses": np.repeat(kf["n_evses"].to_numpy(), len(hows)), "connected_h": conn.reshape(-1)})
            rows.append(part)
        prof = pd.concat(rows, ignore_index=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            prof["occupancy_share"] = prof["connected_h"] / np.where(prof["n_evses"] > 0,
                                                                     prof["n_evses"] * prof["n_hours"], np.nan)
        prof.loc[~matched_any[prof["kidx"].to_numpy()], "occupancy_share"] = np.nan
        prof.insert(prof.columns.get_loc("how") + 1, "how_label", _labels(prof["how"].to_numpy()))
        for c in reversed(keys + extra):
            prof.insert(0, c, kf[c].to_numpy()[prof["kidx"].to_numpy()])
        prof = prof.drop(columns=["kidx"])
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


def evses_relation(gm: str | None = None) -> str:
    """The counted EVSEs with their area codes, as a parenthesised SELECT over the store tables."""
    excl = ", ".join(sql_literal(s) for s in EXCLUDED_STATUSES)
    where = f"coalesce(e.status, '') NOT IN ({excl})"
    if gm:
        where += f" AND l.gm_code = {sql_literal(gm)}"
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
    with _sessions(store) as sessions:  # the default range from the same (local) rows
        rng = resolve_range(store.con, tz, start, end, session_date_range(store.con, tz, sessions))
        if rng is None:
            log.info("no sessions in the store: no usage KPIs")
            return _empty(level)
        ps = periods(rng[0], rng[1], period, tz)
        df, _ = compute_usage(store.con, evses_relation(gm), sessions, ps, tz, level,
                              evening=(cfg.kpi.evening_start_hour, cfg.kpi.evening_end_hour),
                              include_unmatched=gm is None)
    return df


#: the session columns :func:`compute_usage` reads
SESSION_SCAN_COLUMNS = ["country_code", "party_id", "location_id", "evse_uid", "start_utc", "end_utc",
                        "energy_kwh", "charging_h", "user_id"]


def _sessions(store):
    """The sessions relation for compute_usage: read once on PostgreSQL (:meth:`Store.scanned`)."""
    if hasattr(store, "scanned"):
        return store.scanned("sessions", SESSION_SCAN_COLUMNS)
    import contextlib

    return contextlib.nullcontext("sessions")


def hour_of_week_occupancy(store, cfg, level: str = "region", start: Any = None, end: Any = None,
                           gm: str | None = None) -> pd.DataFrame:
    """Session-based occupancy per local hour of week (168 rows per key) over one local date range."""
    _check_level(level)
    tz = cfg.region.time_zone
    with _sessions(store) as sessions:
        rng = resolve_range(store.con, tz, start, end, session_date_range(store.con, tz, sessions))
        if rng is None:
            return pd.DataFrame(columns=KEY_COLUMNS[level] + ["how", "how_label", "n_hours", "connected_h",
                                                              "occupancy_share"])
        ps = periods(rng[0], rng[1], "range", tz)
        _, prof = compute_usage(store.con, evses_relation(gm), sessions, ps, tz, level,
                                evening=(cfg.kpi.evening_start_hour, cfg.kpi.evening_end_hour),
                                include_unmatched=gm is None, profile=True)
    return prof
