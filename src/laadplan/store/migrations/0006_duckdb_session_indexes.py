"""0006: a DuckDB store file drops the two secondary indexes of ``sessions`` (``idx_sessions_location_id_evse_uid``,
``idx_sessions_start_utc``); PostgreSQL keeps them.

DuckDB answers laadplan's session queries with scans and zone maps: an ART index serves only point lookups
of a few rows (``index_scan_max_count``), never a month's or an EVSE's sessions. The two indexes were pure
cost there: every ingest kept them in memory (counted against the ingest's memory cap) and rebuilt them at
each commit, about 3.5 s of a 17 s ingest of 1 M CDRs (``benchmarks/bench_ingest.py``). PostgreSQL's planner
does use them (a gemeente's or an EVSE's sessions, a period), so there they stay. The primary key on
``session_id`` stays on both backends: it is the guard against a duplicate session."""

from __future__ import annotations

from laadplan.model import table

#: the indexes this step drops on DuckDB (frozen with the step)
INDEXES = ("idx_sessions_location_id_evse_uid", "idx_sessions_start_utc")


def upgrade(store) -> None:
    if store.backend == "postgres":
        return
    assert table("sessions").index_backends == ("postgres",)  # the model says the same
    for name in INDEXES:
        store.con.execute(f'DROP INDEX IF EXISTS "{name}"')
