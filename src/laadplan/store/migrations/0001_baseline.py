"""0001: the baseline schema (every table of laadplan 0.1 with its indexes, in ``baseline_v1.sql``).

A store made before versioned migrations (it has tables but no ``schema_version``) is reconciled to it:
missing columns added, a table whose primary key changed rebuilt with every row kept."""

from __future__ import annotations

from pathlib import Path

from laadplan.store.migrations import reconcile, split_sql

SQL = (Path(__file__).parent / "baseline_v1.sql").read_text(encoding="utf-8")


def upgrade(store) -> None:
    reconcile(store, SQL)  # first: an index below may name a column an old table lacks
    for stmt in split_sql(SQL):
        store.con.execute(stmt)
