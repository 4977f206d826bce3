"""The regional store: an embedded DuckDB file holding every table of :mod:`laadplan.model`.

The interface is deliberately small and SQL-standard so it can be backed by PostgreSQL/PostGIS for a
multi-user server later: ``upsert`` (newer ``version_column`` wins, identical reloads change nothing),
``insert_new`` (keys not yet present), ``frame`` and ``query`` (results as pandas DataFrames).
Analyses never touch the connection: they take and return tables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from laadplan import model

DEFAULT_DB = "laadplan.duckdb"


def default_db_path() -> str:
    return os.environ.get("LAADPLAN_DB", DEFAULT_DB)


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __iadd__(self, other: "UpsertResult") -> "UpsertResult":
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


class Store:
    """A laadplan store in one DuckDB file (``":memory:"`` for tests)."""

    def __init__(self, path: str | os.PathLike | None = None, *, read_only: bool = False):
        self.path = str(path) if path is not None else default_db_path()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(self.path, read_only=read_only)
        self.con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            self.init_schema()

    # -- lifecycle -------------------------------------------------------------------------------
    def init_schema(self) -> None:
        for t in model.all_tables():
            self.con.execute(t.ddl())
            for cols in t.indexes:
                name = f"idx_{t.name}_{'_'.join(cols)}"
                self.con.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{t.name}" ('
                                 + ", ".join(f'"{c}"' for c in cols) + ")")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------------
    def query(self, sql: str, params: list | dict | None = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()

    def frame(self, table: str, where: str | None = None, params: list | dict | None = None,
              columns: list[str] | None = None) -> pd.DataFrame:
        t = model.table(table)
        cols = ", ".join(f'"{c}"' for c in (columns or t.column_names))
        sql = f'SELECT {cols} FROM "{t.name}"' + (f" WHERE {where}" if where else "")
        return self.query(sql, params)

    def has_table(self, name: str) -> bool:
        """True when the store file holds the table (a file made by an older version, opened read-only, may
        lack tables declared since)."""
        q = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
        return bool(self.con.execute(q, [name]).fetchone()[0])

    def count(self, table: str, where: str | None = None, params: list | None = None) -> int:
        t = model.table(table)
        sql = f'SELECT count(*) FROM "{t.name}"' + (f" WHERE {where}" if where else "")
        return int(self.con.execute(sql, params or []).fetchone()[0])

    # -- writing ---------------------------------------------------------------------------------
    def _register_incoming(self, t: model.Table, data: Any) -> set[str]:
        """Register ``data`` as the view ``_incoming``; return its columns. Unknown columns are an error."""
        self.con.complete()  # DuckDB 2: finish a pending execute() result before register()
        if isinstance(data, pd.DataFrame) and not isinstance(data.index, pd.RangeIndex):
            data = data.reset_index(drop=True)  # else Arrow-backed frames leak "__index_level_0__"
        self.con.register("_incoming", data)
        have = {r[0] for r in self.con.execute("SELECT * FROM _incoming LIMIT 0").description}
        unknown = have - set(t.column_names)
        if unknown:
            self.con.unregister("_incoming")
            raise ValueError(f"{t.name}: columns not in the data model: {sorted(unknown)}")
        return have

    def _stage(self, t: model.Table, data: Any) -> str:
        """Register ``data`` (DataFrame / Arrow table / relation) as a typed, deduplicated stage."""
        have = self._register_incoming(t, data)
        sel = []
        for c in t.columns:
            typ = model.SQL_TYPES[c.type]
            sel.append(f'CAST("{c.name}" AS {typ}) AS "{c.name}"' if c.name in have
                       else f'CAST(NULL AS {typ}) AS "{c.name}"')
        key = ", ".join(f'"{k}"' for k in t.primary_key)
        order = f'"{t.version_column}" DESC NULLS LAST' if t.version_column else "1"
        self.con.execute("DROP TABLE IF EXISTS _stage")
        self.con.execute(
            f"CREATE TEMP TABLE _stage AS SELECT * EXCLUDE (_rn) FROM ("
            f"SELECT {', '.join(sel)}, row_number() OVER (PARTITION BY {key} ORDER BY {order}) AS _rn "
            f"FROM _incoming) WHERE _rn = 1"
        )
        self.con.unregister("_incoming")
        return "_stage"

    def upsert(self, table: str, data: Any) -> UpsertResult:
        """Insert new keys; replace a row only when the incoming version is newer.

        Within ``data`` the newest version of each key wins. Without a version column a present key is
        left as it is. Reloading the same data is a no-op (``unchanged`` counts it).
        """
        t = model.table(table)
        if not t.primary_key:
            raise ValueError(f"{t.name} has no primary key; use append()")
        n_in = len(data) if hasattr(data, "__len__") else None
        if n_in == 0:
            return UpsertResult()
        stage = self._stage(t, data)
        match = " AND ".join(f't."{k}" = s."{k}"' for k in t.primary_key)
        newer = (f'(s."{t.version_column}" > t."{t.version_column}" OR '
                 f'(t."{t.version_column}" IS NULL AND s."{t.version_column}" IS NOT NULL))'
                 if t.version_column else "FALSE")
        self.con.execute("BEGIN TRANSACTION")
        try:
            n_stage = self.con.execute(f"SELECT count(*) FROM {stage}").fetchone()[0]
            n_upd = self.con.execute(
                f'SELECT count(*) FROM {stage} s JOIN "{t.name}" t ON {match} WHERE {newer}').fetchone()[0]
            n_exist = self.con.execute(
                f'SELECT count(*) FROM {stage} s JOIN "{t.name}" t ON {match}').fetchone()[0]
            if n_upd:
                self.con.execute(f'DELETE FROM "{t.name}" t USING {stage} s WHERE {match} AND {newer}')
            cols = ", ".join(f'"{c}"' for c in t.column_names)
            self.con.execute(
                f'INSERT INTO "{t.name}" ({cols}) SELECT {", ".join("s." + chr(34) + c + chr(34) for c in t.column_names)} '
                f'FROM {stage} s WHERE NOT EXISTS (SELECT 1 FROM "{t.name}" t WHERE {match})')
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {stage}")
        n_new = n_stage - n_exist
        dup_in_batch = (n_in - n_stage) if n_in is not None else 0
        return UpsertResult(inserted=n_new, updated=n_upd, unchanged=n_exist - n_upd + dup_in_batch)

    def replace_all(self, table: str, data: Any) -> int:
        """Replace a derived table's whole content (for analysis outputs such as plans)."""
        t = model.table(table)
        self.con.execute(f'DELETE FROM "{t.name}"')
        return self.append(table, data)

    def append(self, table: str, data: Any) -> int:
        t = model.table(table)
        if hasattr(data, "__len__") and len(data) == 0:
            return 0
        have = self._register_incoming(t, data)
        sel = [(f'CAST("{c.name}" AS {model.SQL_TYPES[c.type]})' if c.name in have else "NULL")
               for c in t.columns]
        cols = ", ".join(f'"{c}"' for c in t.column_names)
        n = self.con.execute(f'INSERT INTO "{t.name}" ({cols}) SELECT {", ".join(sel)} FROM _incoming').fetchone()
        self.con.unregister("_incoming")
        return int(n[0]) if n else 0
