"""Data-quality summaries from the quarantine and the ingest log.

* per rule: quarantined records per (kind, rule_code) with the rule's description;
* per operator: quarantined records per party_id / operator, next to the accepted locations, EVSEs and
  sessions of that party, and the quarantined share ``quarantined / (quarantined + accepted)``;
* per ingest run: records read, accepted and quarantined (``accepted + quarantined == read``);
* the quarantine itself, filtered by rule and limited.

All functions take a DuckDB connection holding the store tables and return DataFrames.
"""

from __future__ import annotations

import duckdb
import pandas as pd


def _rule_descriptions() -> pd.DataFrame:
    from laadplan.ingest import load_all_rules
    from laadplan.ingest import rules as R

    load_all_rules()
    return pd.DataFrame({"rule_code": list(R.RULES), "source": [r.source for r in R.RULES.values()],
                         "description": [r.description for r in R.RULES.values()]},
                        columns=["rule_code", "source", "description"])


def by_rule(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Quarantined records per kind and rule, most frequent first."""
    df = con.execute("""
        SELECT kind, rule_code, count(*) AS records, count(DISTINCT source_file) AS files
        FROM quarantine GROUP BY kind, rule_code ORDER BY records DESC, kind, rule_code""").df()
    return df.merge(_rule_descriptions(), on="rule_code", how="left")


def by_operator(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per party_id (and operator name where known): quarantined records, the rules broken, and the
    accepted locations / EVSEs / sessions of that party. ``party_id`` '' means "could not be read"."""
    return con.execute("""
        WITH q AS (
            SELECT coalesce(party_id, '') AS party_id, count(*) AS quarantined,
                   string_agg(DISTINCT operator, '; ' ORDER BY operator) AS operator_q,
                   string_agg(DISTINCT rule_code, ', ' ORDER BY rule_code) AS rules
            FROM quarantine GROUP BY 1),
        l AS (SELECT coalesce(party_id, '') AS party_id, count(*) AS locations,
                     string_agg(DISTINCT operator, '; ' ORDER BY operator) AS operator_l FROM locations GROUP BY 1),
        e AS (SELECT coalesce(party_id, '') AS party_id, count(*) AS evses FROM evses GROUP BY 1),
        s AS (SELECT coalesce(party_id, '') AS party_id, count(*) AS sessions FROM sessions GROUP BY 1),
        p AS (SELECT party_id FROM q UNION SELECT party_id FROM l UNION SELECT party_id FROM s)
        SELECT p.party_id, coalesce(l.operator_l, q.operator_q) AS operator,
               coalesce(q.quarantined, 0) AS quarantined, coalesce(l.locations, 0) AS locations,
               coalesce(e.evses, 0) AS evses, coalesce(s.sessions, 0) AS sessions,
               coalesce(q.quarantined, 0) / nullif(coalesce(q.quarantined, 0) + coalesce(l.locations, 0)
                                                   + coalesce(s.sessions, 0), 0) AS quarantined_share,
               q.rules
        FROM p LEFT JOIN q USING (party_id) LEFT JOIN l USING (party_id) LEFT JOIN e USING (party_id)
        LEFT JOIN s USING (party_id)
        ORDER BY quarantined DESC, p.party_id""").df()


def by_operator_rule(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Quarantined records per party_id, operator and rule (long form)."""
    return con.execute("""
        SELECT coalesce(party_id, '') AS party_id, coalesce(operator, '') AS operator, rule_code,
               count(*) AS records
        FROM quarantine GROUP BY ALL ORDER BY records DESC, party_id, rule_code""").df()


def ingest_runs(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every ingest run, oldest first, with a check that accepted + quarantined == read."""
    df = con.execute("""
        SELECT run_id, kind, source_file, started_utc, finished_utc, records_read, records_accepted,
               records_quarantined, rows_inserted, rows_updated,
               records_accepted + records_quarantined = records_read AS balanced
        FROM ingest_runs ORDER BY started_utc, kind, source_file""").df()
    return df


def quarantine_listing(con: duckdb.DuckDBPyConnection, rule: str | None = None, kind: str | None = None,
                       limit: int = 50, raw_chars: int = 120) -> pd.DataFrame:
    """Quarantined records (optionally of one rule / kind), the raw text cut to ``raw_chars``."""
    where, params = [], []
    if rule:
        where.append("rule_code = ?")
        params.append(rule)
    if kind:
        where.append("kind = ?")
        params.append(kind)
    sql = ("SELECT kind, rule_code, source_file, position, record_id, party_id, operator, message, "
           f"left(raw, {int(raw_chars)}) AS raw FROM quarantine"
           + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY kind, source_file, position, rule_code LIMIT {int(limit)}")
    return con.execute(sql, params).df()
