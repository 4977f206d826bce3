"""Versioned schema migrations, applied in order on both backends.

A migration is a file ``NNNN_name.sql`` (statements separated by ``;``, run through the store's DuckDB
connection, so one file serves DuckDB files and PostgreSQL) or ``NNNN_name.py`` with ``upgrade(store)``
(for work that differs per backend, e.g. PostGIS layers). The table ``schema_version`` records each applied
step. A store opened for writing is brought up to date (``laadplan db upgrade`` does it explicitly and says
what it did); a store whose version is above :data:`LATEST` is refused with one line.

All pending steps run in one transaction; on PostgreSQL a transaction-scoped advisory lock makes a second
process opening the same fresh database wait and then find the work done (no lock held by hand: PostgreSQL
releases it at COMMIT or ROLLBACK, also when the process dies).

Changing the data model (src/laadplan/model) means adding a migration: tests/unit/test_migrations.py compares
the migrated schema with the model and prints the DDL of the step to add.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import duckdb

if TYPE_CHECKING:
    from laadplan.store import Store

HERE = Path(__file__).parent
#: advisory lock key for schema work on PostgreSQL ("laadplan" as an int)
LOCK_KEY = 0x6C616164706C616E % (2**63)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    run: Callable[["Store"], None]


def _sql_step(path: Path) -> Callable[["Store"], None]:
    def run(store: "Store") -> None:
        for stmt in split_sql(path.read_text(encoding="utf-8")):
            store.con.execute(stmt)
    return run


def split_sql(text: str) -> list[str]:
    """Statements of a migration file (``--`` comments dropped; ``;`` ends a statement)."""
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def discover() -> list[Migration]:
    steps: dict[int, Migration] = {}
    for p in sorted(HERE.iterdir()):
        m = re.match(r"^(\d{4})_(\w+)\.(sql|py)$", p.name)
        if not m:
            continue
        v = int(m.group(1))
        if v in steps:
            raise RuntimeError(f"two migrations numbered {v:04d}")
        if m.group(3) == "sql":
            run = _sql_step(p)
        else:
            spec = importlib.util.spec_from_file_location(f"{__name__}.m{p.stem}", p)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            run = mod.upgrade
        steps[v] = Migration(v, p.name, run)
    out = [steps[v] for v in sorted(steps)]
    if [m.version for m in out] != list(range(1, len(out) + 1)):
        raise RuntimeError("migrations must be numbered 0001, 0002, ... without gaps")
    return out


MIGRATIONS: list[Migration] = []


def migrations() -> list[Migration]:
    if not MIGRATIONS:
        MIGRATIONS.extend(discover())
    return MIGRATIONS


def latest() -> int:
    return migrations()[-1].version


def current_version(store: "Store") -> int:
    """Highest applied migration; 0 for an empty store or one made before versioned migrations."""
    if not store.has_table("schema_version"):
        return 0
    r = store.con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(r[0]) if r and r[0] is not None else 0


def newer_error(store: "Store", have: int) -> str:
    return (f"the store {store.display} has schema version {have}, newer than this laadplan knows "
            f"({latest()}); upgrade laadplan (pip install -U laadplan) to use it - it was not changed")


def check(store: "Store") -> int:
    """The store's version; a newer one than the code knows is a :class:`StoreError`."""
    from laadplan.store import StoreError

    have = current_version(store)
    if have > latest():
        raise StoreError(newer_error(store, have))
    return have


def upgrade(store: "Store") -> tuple[int, int]:
    """Apply the pending migrations in one transaction; returns (version before, version after)."""
    from laadplan.store import StoreError

    before = check(store)
    if before == latest():
        return before, before
    with store.transaction():
        if store.backend == "postgres":
            store.native_execute(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
            store.clear_catalog_cache()
            before = current_version(store)  # another process may have done it while we waited
            if before > latest():
                raise StoreError(newer_error(store, before))
        for m in migrations()[before:]:
            m.run(store)
            store.con.execute("INSERT INTO schema_version (version, name, applied_utc) VALUES "
                              "(?, ?, CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP))", [m.version, m.name])
    if store.backend == "postgres":
        store.clear_catalog_cache()
    return before, latest()


# -- the frozen schema a SQL file declares (for reconciling stores made before versioned migrations) --------
def declared_schema(sql_text: str) -> dict[str, tuple[list[tuple[str, str]], list[str]]]:
    """{table: ([(column, type), ...], [primary key columns])} of the CREATE TABLE statements in ``sql_text``,
    read by running them in a scratch in-memory DuckDB."""
    con = duckdb.connect(":memory:")
    try:
        for stmt in split_sql(sql_text):
            con.execute(stmt)
        return schema_of(con)
    finally:
        con.close()


def schema_of(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[list[tuple[str, str]], list[str]]]:
    """The tables of the connection's current catalog and schema: columns with DuckDB types, primary key."""
    cols = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = current_schema() "
        "ORDER BY table_name, ordinal_position").fetchall()
    out: dict[str, tuple[list[tuple[str, str]], list[str]]] = {}
    for t, c, typ in cols:
        out.setdefault(t, ([], []))[0].append((c, typ))
    for t, pk in con.execute(
            "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
            "WHERE database_name = current_database() AND schema_name = current_schema() "
            "AND constraint_type = 'PRIMARY KEY'").fetchall():
        if t in out:
            out[t][1].extend(pk)
    return out


def reconcile(store: "Store", sql_text: str) -> None:
    """Bring tables made by an unversioned earlier laadplan up to ``sql_text``'s declarations: add missing
    columns; rebuild a table whose primary key changed (keeping every row, in the open transaction)."""
    have = schema_of(store.con)
    if not have:
        return  # a new store: the CREATE statements make everything
    target = declared_schema(sql_text)
    for name, (cols, pk) in target.items():
        if name not in have:
            continue  # created by the statements themselves
        have_cols = [c for c, _ in have[name][0]]
        for c, typ in cols:
            if c not in have_cols:
                store.con.execute(f'ALTER TABLE "{name}" ADD COLUMN "{c}" {typ}')
        if not pk or not have[name][1] or have[name][1] == pk:
            continue
        ddl = next(s for s in split_sql(sql_text) if re.match(rf'CREATE TABLE IF NOT EXISTS "{name}"', s))
        names = ", ".join(f'"{c}"' for c, _ in cols)
        fill = ", ".join(f"coalesce(\"{c}\", '')" if c in pk and c not in have_cols else f'"{c}"'
                         for c, _ in cols)
        store.con.execute(f'ALTER TABLE "{name}" RENAME TO "_old_{name}"')
        store.con.execute(ddl)
        store.con.execute(f'INSERT INTO "{name}" ({names}) SELECT {fill} FROM "_old_{name}"')
        store.con.execute(f'DROP TABLE "_old_{name}"')
