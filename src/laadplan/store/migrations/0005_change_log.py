"""0005: on PostgreSQL, a change log for the local DuckDB mirrors of :mod:`laadplan.store.mirror` and a random
store id (a no-op on DuckDB files: they are read in place).

In the schema ``laadplan_meta`` (outside ``public``, so not part of the data model's tables):

- ``store_identity``: one row, ``store_id`` = ``gen_random_uuid()`` when this step ran. A mirror is keyed by it
  (with the database's oid, see the mirror module), so a database dropped and made again under the same name
  never reuses an old mirror.
- ``table_changes(id, table_name, weight, at)``: statement-level ``AFTER INSERT OR UPDATE OR DELETE OR
  TRUNCATE`` triggers on the mirrored tables (:data:`TABLES`; the mirror module checks that the trigger is
  there and enabled before it trusts a table's version) insert one row
  per statement, in the writing transaction. A table's version is ``sum(weight)`` of its rows: it grows with
  every committed statement that may have changed the table and with nothing else (a rolled-back statement's
  row goes with it). Inserting a row never waits for other writers (a counter row updated in place would
  serialise every writer of the table). The triggers are ``ENABLE ALWAYS``: they fire also under
  ``session_replication_role = replica`` (logical replication, pg_restore).
"""

from __future__ import annotations

from laadplan.store.mirror import META_SCHEMA, TRIGGER

#: the tables this step puts the trigger on (frozen with the step: a later one adds tables)
TABLES = ("sessions",)


def change_log_sql(tables: tuple[str, ...]) -> list[str]:
    """PostgreSQL statements making the change log and the triggers on ``tables`` (idempotent)."""
    m = META_SCHEMA
    out = [
        f"CREATE SCHEMA IF NOT EXISTS {m}",
        f"CREATE TABLE IF NOT EXISTS {m}.store_identity (store_id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
        f"created_utc timestamptz NOT NULL DEFAULT now())",
        f"INSERT INTO {m}.store_identity (store_id) SELECT gen_random_uuid() "
        f"WHERE NOT EXISTS (SELECT 1 FROM {m}.store_identity)",
        f"CREATE TABLE IF NOT EXISTS {m}.table_changes (id bigserial PRIMARY KEY, table_name text NOT NULL, "
        f"weight bigint NOT NULL DEFAULT 1 CHECK (weight > 0), at timestamptz NOT NULL DEFAULT clock_timestamp())",
        f"CREATE INDEX IF NOT EXISTS table_changes_table_id ON {m}.table_changes (table_name, id)",
        f"CREATE OR REPLACE FUNCTION {m}.note_change() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
        f"INSERT INTO {m}.table_changes (table_name) VALUES (TG_TABLE_NAME); RETURN NULL; END $f$",
    ]
    for t in tables:
        out += [f"DROP TRIGGER IF EXISTS {TRIGGER} ON public.{t}",
                f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON public.{t} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {m}.note_change()",
                f"ALTER TABLE public.{t} ENABLE ALWAYS TRIGGER {TRIGGER}"]
    return out


def upgrade(store) -> None:
    if store.backend != "postgres":
        return
    for stmt in change_log_sql(TABLES):
        store.native_execute(stmt)
