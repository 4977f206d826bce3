"""The regional store: an embedded DuckDB file holding every table of :mod:`laadplan.model`.

The interface is deliberately small and SQL-standard so it can be backed by PostgreSQL/PostGIS for a
multi-user server later: ``upsert`` (newer ``version_column`` wins, identical reloads change nothing),
``insert_new`` (keys not yet present), ``frame`` and ``query`` (results as pandas DataFrames).
Analyses never touch the connection: they take and return tables.

**Atomicity** is the database's: :meth:`Store.transaction` is one database transaction (``BEGIN`` ..
``COMMIT``; nested blocks join the outer one), so an ingest run's records, quarantine rows and run row are
committed together or not at all - a killed process leaves nothing of its file behind (DuckDB discards the
uncommitted transaction on the next open, as PostgreSQL would). No lock files or hand-held locks: the
database's own lock keeps a second writer out, and :class:`StoreError` says so in one line.

While :attr:`Store.run_id` is set (an ingest run is active), every row written to a table with a ``run_id``
column carries it, so a run can be taken out again (``laadplan ingest undo``).
"""

from __future__ import annotations

import contextlib
# not `import copy`: importing the submodule laadplan.store.copy (`laadplan db copy`) rebinds that name here
from copy import copy as shallow_copy
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import duckdb
import pandas as pd

from laadplan import model

DEFAULT_DB = "laadplan.duckdb"


def default_db_path() -> str:
    return os.environ.get("LAADPLAN_DB", DEFAULT_DB)


def complete(con: duckdb.DuckDBPyConnection) -> None:
    """Finish a pending result on ``con`` before the next register()/COMMIT (DuckDB 2's ``complete()``;
    DuckDB 1.x finishes it by itself)."""
    fn = getattr(con, "complete", None)
    if fn is not None:
        fn()


class StoreError(Exception):
    """The store cannot be opened or written (one clear line for the user, naming the store file)."""


def explain(e: BaseException, path: str) -> str:
    """One line saying what went wrong with the store at ``path`` and what to do (a URL's password is never
    shown)."""
    from laadplan.store.postgres import redact

    path = redact(str(path))
    msg = redact(str(e))
    low = msg.lower()
    if "could not set lock" in low or "conflicting lock" in low:
        pid = ""
        if "PID " in msg:
            pid = " (pid " + msg.split("PID ", 1)[1].split(")", 1)[0].strip() + ")"
        return (f"another laadplan process{pid} holds the store {path} (an ingest or analysis is running); "
                f"wait for it to finish and run this again")
    if "server closed the connection" in low or "connection to server" in low and "lost" in low \
            or "terminating connection" in low or "no connection to the server" in low:
        return (f"lost the connection to the PostgreSQL store {path}; nothing of this step was stored (the "
                f"server rolled it back) - run it again when the server is reachable")
    if "could not serialize access" in low or "deadlock detected" in low:
        return (f"another process changed the same rows of {path} at the same time; nothing of this step was "
                f"stored - run it again")
    if "no space left" in low or "disk full" in low or "file too large" in low:
        return (f"no space left on the device of the store {path}; nothing of this step was stored - free "
                f"space (or point --db elsewhere) and run it again")
    if "not a valid duckdb database" in low or "not a valid database" in low:
        return f"{path} is not a laadplan store (not a DuckDB database file); check --db / LAADPLAN_DB"
    if "is a directory" in low:
        return (f"--db {path} is a folder, not a store file; give a file path, e.g. "
                f"{Path(path) / DEFAULT_DB}")
    if "read-only" in low or "permission denied" in low:
        return f"cannot write the store {path} ({msg.splitlines()[0]}); choose a writable --db"
    return f"store {path}: {msg.splitlines()[0] if msg else type(e).__name__}"


def schema_markdown() -> str:
    """``laadplan schema``: the data model and how both backends hold it (docs/data-model.md)."""
    from laadplan.store.postgres import backends_markdown

    return model.markdown().rstrip() + "\n\n" + backends_markdown()


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


#: seconds after which a connection's prepared statements are made again (:meth:`Store.prepare_upsert`)
PREPARED_RENEW_S = 60.0

#: optimizers that build the table statistics of planning time into the plan (pruned filters, compressed
#: columns, skipped row groups): a statement prepared once and executed after the data changed would give
#: wrong results (DuckDB 1.5.5: ``PREPARE p AS SELECT count(*) FROM t WHERE v IS NULL`` on an empty ``t``
#: counts 0 after a NULL was inserted)
STALE_STATS_OPTIMIZERS = ("statistics_propagation", "compressed_materialization", "row_group_pruner")
_PREPARE_LOCK = threading.Lock()


def _upsert_sql(t: model.Table, stage: str) -> dict[str, str]:
    """The statements of an upsert of the staged rows ``stage`` (one row per key) into ``t``, shared by
    :meth:`Store.upsert` and the prepared :meth:`Store.upsert_rows`: ``count`` (rows that replace a stored one,
    keys already stored), ``delete`` (the stored rows a newer version replaces), ``insert`` (keys not stored);
    ``insert_all``: ``insert`` when ``count`` found no key stored (the usual push: new keys) - without the
    anti-join against the table, which DuckDB runs as a scan of the whole table (14 ms per call on 300,000
    ``ocpi_objects`` rows, growing with the table). Newer means a greater version, or a version where the
    stored row has none."""
    match = " AND ".join(f't."{k}" = s."{k}"' for k in t.primary_key)
    v = t.version_column
    newer = (f'(s."{v}" > t."{v}" OR (t."{v}" IS NULL AND s."{v}" IS NOT NULL))' if v else "FALSE")
    names = ", ".join(f'"{c}"' for c in t.column_names)
    sel = ", ".join(f's."{c}"' for c in t.column_names)
    insert_all = f'INSERT INTO "{t.name}" ({names}) SELECT {sel} FROM {stage} s'
    return {
        "count": f'SELECT count(*) FILTER (WHERE {newer}), count(*) FROM {stage} s JOIN "{t.name}" t ON {match}',
        "delete": f'DELETE FROM "{t.name}" t USING {stage} s WHERE {match} AND {newer}',
        "insert": f'{insert_all} WHERE NOT EXISTS (SELECT 1 FROM "{t.name}" t WHERE {match})',
        "insert_all": insert_all,
    }


def prepare_statement(con: duckdb.DuckDBPyConnection, name: str, sql: str) -> None:
    """``PREPARE name AS sql`` planned without :data:`STALE_STATS_OPTIMIZERS`, so that the plan holds for any
    later content of its tables. The setting is global in DuckDB: it is switched off for the PREPARE only, under
    a lock, and put back (other connections planning meanwhile just miss those optimizations)."""
    with _PREPARE_LOCK:
        before = con.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0] or ""
        have = [o.strip() for o in before.split(",") if o.strip()]
        off = have + [o for o in STALE_STATS_OPTIMIZERS if o not in have]
        con.execute(f"SET disabled_optimizers = '{','.join(off)}'")
        try:
            con.execute(f"PREPARE {name} AS {sql}")
        finally:
            con.execute(f"SET disabled_optimizers = '{before}'")


def _keyed_table(table: str, rows: list[dict[str, Any]]) -> model.Table:
    """The model of ``table`` for :meth:`Store.upsert_rows` / :meth:`Store.put_rows`: it must have a primary key,
    and ``rows`` may name only its columns."""
    t = model.table(table)
    if not t.primary_key:
        raise ValueError(f"{t.name} has no primary key; use append()")
    unknown = set().union(*rows) - set(t.column_names)
    if unknown:
        raise ValueError(f"{t.name}: columns not in the data model: {sorted(unknown)}")
    return t


def sql_literal(v: Any) -> str:
    """``v`` as a SQL string literal (``'`` doubled), for DuckDB and PostgreSQL alike."""
    return "'" + str(v).replace("'", "''") + "'"


def in_list(values: Iterable[str]) -> str:
    """``IN (...)`` of the distinct text ``values`` as DuckDB literals, for a filter on an attached PostgreSQL
    table: DuckDB hands it to PostgreSQL, whose key index finds the rows. One value is named twice: DuckDB sends a
    one-value filter (``= ?`` or ``IN ('v')``) as ``col = 'v' COLLATE "C"``, and PostgreSQL cannot use an index
    built with the database's collation (C.UTF-8 here) for that comparison, so it read the whole table (at 1 M
    rows a lone pushed CDR's commit took 88 ms instead of 18, a GET of a pushed object ~200 ms instead of ~1).
    Values with a NUL character cannot be literals (and PostgreSQL text holds none): leave them out before."""
    vals = sorted(set(values))
    return "IN (" + ", ".join(sql_literal(v) for v in (vals * 2 if len(vals) == 1 else vals)) + ")"


def key_filter(backend: str, key: dict[str, str]) -> tuple[str, list]:
    """``(where, params)`` selecting the rows whose text columns equal ``key``'s values, as each backend finds
    them by an index: on PostgreSQL :func:`in_list` literals (a value with a NUL character matches nothing
    there: ``FALSE``), on DuckDB ``col = ?`` parameters (its key lookups by ``=`` are the fast form there)."""
    if backend == "postgres":
        if any("\x00" in v for v in key.values()):
            return "FALSE", []
        return " AND ".join(f'"{c}" {in_list([v])}' for c, v in key.items()), []
    return " AND ".join(f'"{c}" = ?' for c in key), list(key.values())


def _pg_literal(v: Any) -> str:
    """A value as a PostgreSQL literal for :meth:`Store.put_rows` (strings quoted with standard conforming
    strings, PostgreSQL's default: only ``'`` is doubled)."""
    import datetime as dt
    import math

    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else f"'{v!r}'::double precision"
    if isinstance(v, dt.datetime):
        return f"TIMESTAMP '{v.isoformat(sep=' ')}'"
    if isinstance(v, dt.date):
        return f"DATE '{v.isoformat()}'"
    s = str(v)
    if "\x00" in s:
        raise ValueError("PostgreSQL text cannot hold a NUL character")
    return sql_literal(s)


class Store:
    """A laadplan store: a DuckDB file (``":memory:"`` for tests) or a PostgreSQL/PostGIS database by URL.

    ``Store("zuidwest.duckdb")`` and ``Store("postgresql://user@host:5432/dbname")`` behave the same for
    callers: every statement runs on :attr:`con`, a DuckDB connection; for PostgreSQL the database is ATTACHed
    to an in-memory DuckDB and made its default catalog (:mod:`laadplan.store.postgres`), so the same SQL
    reads and writes PostgreSQL tables and :meth:`transaction` is one PostgreSQL transaction.
    :attr:`backend` is ``"duckdb"`` or ``"postgres"``; :meth:`native_query` / :meth:`native_execute` run
    PostgreSQL's own SQL (PostGIS) on the same connection and transaction.
    """

    _SERIAL = 0
    _SERIAL_LOCK = threading.Lock()

    def __init__(self, path: str | os.PathLike | None = None, *, read_only: bool = False, create: bool = True,
                 migrate: bool = True):
        """Open the store at ``path``; with ``create=False`` a missing file is an error (read commands must
        not leave an empty store behind a mistyped ``--db``). A PostgreSQL database must exist already (the
        tables are created in it); a store opened for writing is brought to the current schema version, and
        one with a newer version than this code knows is refused (:class:`StoreError`). ``migrate=False``
        skips both (``laadplan db upgrade`` and tests look at the version themselves)."""
        from laadplan.store import postgres as pg

        self.path = str(path) if path is not None else default_db_path()
        self.run_id: str | None = None
        self.read_only = read_only
        self._depth = 0
        self.backend = "postgres" if pg.is_postgres_url(self.path) else "duckdb"
        self.display = pg.redact(self.path) if self.backend == "postgres" else self.path
        if self.backend == "duckdb" and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", self.path):
            raise StoreError(f"{re.sub(r'//[^@/]*@', '//', self.path)}: not a store location; give --db a "
                             f"DuckDB file path (zuidwest.duckdb) or postgresql://user@host:port/dbname")
        if self.backend == "duckdb" and self.path != ":memory:":
            p = Path(self.path)
            if p.is_dir():
                raise StoreError(explain(IsADirectoryError("Is a directory"), self.path))
            if not p.exists():
                if not create or read_only:
                    raise StoreError(f"no store at {self.path}: check --db / LAADPLAN_DB, or make one with "
                                     f"`laadplan ingest` or `laadplan demo`")
                try:
                    p.parent.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise StoreError(f"cannot create the folder of the store {self.path} ({e.strerror}); "
                                     f"choose a writable --db") from None
        try:
            if self.backend == "postgres":
                self.con = duckdb.connect(":memory:")
            else:
                self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.Error as e:
            raise StoreError(explain(e, self.path)) from None
        try:
            self.con.execute("SET TimeZone = 'UTC'")
            self.con.execute("SET enable_progress_bar = false")  # no bar on the user's terminal
            if self.backend == "postgres":
                pg.attach(self.con, self.path, read_only)
                if not read_only:
                    self.postgis_version = pg.ensure_postgis(self.con, self.path)
                elif not create and not self.has_table("schema_version"):
                    raise StoreError(f"no laadplan store in {self.display} (no tables yet): make one with "
                                     f"`laadplan ingest`, `laadplan demo` or `laadplan db upgrade`")
            if not read_only and migrate:
                self.init_schema()
            elif migrate:
                from laadplan.store import migrations

                migrations.check(self)  # a newer schema is refused also for reading
        except StoreError:
            self.con.close()
            raise
        except duckdb.Error as e:
            self.con.close()
            raise StoreError(explain(e, self.display)) from None

    # -- lifecycle -------------------------------------------------------------------------------
    def init_schema(self) -> tuple[int, int]:
        """Apply the pending schema migrations (:mod:`laadplan.store.migrations`); (before, after)."""
        from laadplan.store import migrations

        return migrations.upgrade(self)

    @property
    def schema_version(self) -> int:
        from laadplan.store import migrations

        return migrations.current_version(self)

    # -- PostgreSQL's own SQL (PostGIS, catalog) ---------------------------------------------------
    def native_query(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` in PostgreSQL itself (PostGIS functions, pg_catalog) on the store's connection and
        transaction; a DataFrame. Only on the PostgreSQL backend."""
        from laadplan.store import postgres as pg

        self._need_postgres()
        return self.con.execute(f"SELECT * FROM postgres_query('{pg.ALIAS}', ?)", [sql]).df()

    def native_execute(self, sql: str) -> None:
        """Run a PostgreSQL statement (DDL, PostGIS, locks) on the store's connection and transaction."""
        from laadplan.store import postgres as pg

        self._need_postgres()
        pg.native_execute(self.con, sql)

    def clear_catalog_cache(self) -> None:
        """After native DDL: let DuckDB read PostgreSQL's catalog again."""
        if self.backend == "postgres":
            from laadplan.store import postgres as pg

            pg.clear_cache(self.con)

    def _need_postgres(self) -> None:
        if self.backend != "postgres":
            raise StoreError(f"{self.display}: PostgreSQL-native SQL needs a PostgreSQL store")

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Store"]:
        """One database transaction; a block inside another joins it (commits with the outer one).

        On an error the transaction is rolled back and the *original* error raised (a failed COMMIT, e.g. on
        a full disk, has already ended the transaction: the rollback must not hide why)."""
        if self._depth:
            self._depth += 1
            try:
                yield self
                complete(self.con)  # no pending result may outlive the block (as COMMIT would ensure)
            finally:
                self._depth -= 1
            return
        complete(self.con)
        self.con.execute("BEGIN TRANSACTION").fetchall()
        self._depth = 1
        try:
            yield self
        except BaseException:
            self._depth = 0
            self._rollback_quietly()
            raise
        self._depth = 0
        try:
            self.con.execute("COMMIT").fetchall()
        except BaseException:
            self._rollback_quietly()
            raise

    def _rollback_quietly(self) -> None:
        try:
            self.con.execute("ROLLBACK").fetchall()
        except duckdb.Error:
            pass  # already ended by the database (a failed COMMIT); the original error is what matters
        self.clear_catalog_cache()  # a rolled-back CREATE must not stay in DuckDB's view of PostgreSQL

    def _drop_quietly(self, name: str) -> None:
        """Drop a scratch table; inside a failed transaction that cannot run, and must not hide the error."""
        try:
            self.con.execute(f"DROP TABLE IF EXISTS {name}")
        except duckdb.Error:
            if not self._depth:
                raise

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def close(self) -> None:
        self.con.close()

    def cursor(self) -> "Store":
        """A second view of this open store with its own connection (and so its own transactions), for one
        thread or request of a server; close it after use. The database stays the one this store opened."""
        other = shallow_copy(self)
        other.con = self.con.cursor()
        other.run_id = None
        other._depth = 0
        other.__dict__.pop("_upsert_prepared", None)  # statements prepared on the other connection
        other.__dict__.pop("_cdr_prepared", None)
        other.con.execute("SET TimeZone = 'UTC'")
        if self.backend == "postgres":  # the attached database is shared; the default catalog is per connection
            from laadplan.store import postgres as pg

            other.con.execute(f"USE {pg.ALIAS}")
        return other

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------------
    def query(self, sql: str, params: list | dict | None = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()

    def frame(self, table: str, where: str | None = None, params: list | dict | None = None,
              columns: list[str] | None = None) -> pd.DataFrame:
        """Rows of a model table (optionally filtered), in primary-key order."""
        t = model.table(table)
        cols = ", ".join(f'"{c}"' for c in (columns or t.column_names))
        sql = f'SELECT {cols} FROM "{t.name}"' + (f" WHERE {where}" if where else "")
        if t.primary_key:  # the same row order on every backend (PostgreSQL has no insertion order)
            keys = ", ".join(f'"{k}"' for k in t.primary_key)
            if not where or not re.search(r"\border\s+by\b", where, re.I):
                sql += " ORDER BY " + keys
            elif not re.search(r"\b(limit|offset)\b", where, re.I):
                sql += ", " + keys  # the caller's order first, the key breaks its ties
        return self.query(sql, params)

    @contextlib.contextmanager
    def scanned(self, table: str, columns: list[str]) -> Iterator[str]:
        """A relation name holding ``columns`` of ``table`` for an analysis that reads it several times.

        On a DuckDB file that is the table itself. On PostgreSQL it is a local DuckDB mirror of the columns
        (:mod:`laadplan.store.mirror`: made by one binary COPY into a cache file, used again while the table is
        unchanged in PostgreSQL), so the analysis's passes run at DuckDB speed on the same rows; inside a
        transaction, or when the mirror cannot be had (turned off, cache folder unusable: a logged warning),
        the columns are read once into a DuckDB temp table instead."""
        t = model.table(table)
        if self.backend != "postgres":
            yield f'"{t.name}"'
            return
        from laadplan.store import mirror

        with mirror.mirrored(self, t.name, list(columns)) as rel:
            if rel is not None:
                yield rel
                return
        name = f"_lp_scan_{t.name}"
        cols = ", ".join(f'"{c}"' for c in columns)
        self.con.execute(f'CREATE OR REPLACE TEMP TABLE {name} AS SELECT {cols} FROM "{t.name}"')
        try:
            yield f"temp.main.{name}"
        finally:
            self._drop_quietly(f"temp.main.{name}")

    def has_table(self, name: str) -> bool:
        """True when the store file holds the table (a file made by an older version, opened read-only, may
        lack tables declared since)."""
        q = ("SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
             "AND table_catalog = current_database() AND table_schema = current_schema()")
        return bool(self.con.execute(q, [name]).fetchone()[0])

    def count(self, table: str, where: str | None = None, params: list | None = None) -> int:
        t = model.table(table)
        sql = f'SELECT count(*) FROM "{t.name}"' + (f" WHERE {where}" if where else "")
        return int(self.con.execute(sql, params or []).fetchone()[0])

    # -- writing ---------------------------------------------------------------------------------
    def run_sql(self, sql: str, params: list | None = None, *, arrow: bool = False, **tables: Any) -> Any:
        """Execute ``sql`` with in-memory tables (DataFrames, Arrow) bound by name for this statement only.

        Not ``register()``: a view registered inside a transaction (an ingest run is one) keeps its Python
        object alive until the commit - every batch of a 1 M-record file (2.5 GB). The names are resolved
        by DuckDB's replacement scan from the namespace the statement runs in, and released after it.
        With ``arrow=True`` the result is returned as an Arrow table (a scratch result to bind again)."""
        complete(self.con)
        ns: dict[str, Any] = {"_con": self.con, "_sql": sql, "_params": params or [], **tables}
        code = ("_r = _con.sql(_sql, params=_params).to_arrow_table()" if arrow
                else "_r = _con.execute(_sql, _params)")
        exec(code, ns, ns)  # noqa: S102 - fixed code; the names of ``tables`` are the replacement-scan scope
        return ns["_r"]

    def _default(self, t: model.Table, column: str) -> str:
        """SQL value of a column the incoming data lacks: the active run's id for ``run_id`` ('' outside a
        run when it is part of the key), else NULL."""
        if column == "run_id":
            if self.run_id:
                return sql_literal(self.run_id)
            if column in t.primary_key:
                return "''"
        return "NULL"

    def _incoming_columns(self, t: model.Table, data: Any) -> tuple[Any, set[str]]:
        """``data`` ready to bind as ``_incoming`` and its columns. Unknown columns are an error."""
        if isinstance(data, pd.DataFrame) and not isinstance(data.index, pd.RangeIndex):
            data = data.reset_index(drop=True)  # else Arrow-backed frames leak "__index_level_0__"
        have = {r[0] for r in self.run_sql("SELECT * FROM _incoming LIMIT 0", _incoming=data).description}
        unknown = have - set(t.column_names)
        if unknown:
            raise ValueError(f"{t.name}: columns not in the data model: {sorted(unknown)}")
        return data, have

    def _stage(self, t: model.Table, data: Any) -> Any:
        """``data`` (DataFrame / Arrow table) typed and deduplicated (newest version of each key), as an
        Arrow table to bind as ``_stage``."""
        data, have = self._incoming_columns(t, data)
        sel = []
        for c in t.columns:
            typ = model.SQL_TYPES[c.type]
            sel.append(f'coalesce(CAST("{c.name}" AS {typ}), CAST({self._default(t, c.name)} AS {typ})) AS "{c.name}"' if c.name in have
                       else f'CAST({self._default(t, c.name)} AS {typ}) AS "{c.name}"')
        key = ", ".join(f'"{k}"' for k in t.primary_key)
        # two sort keys (same order as DESC NULLS LAST): DuckDB 1.5 rewrites a one-key row_number() = 1 into
        # arg_max, which returns NULL for every column when the version of a key is NULL
        order = (f'("{t.version_column}" IS NULL), "{t.version_column}" DESC' if t.version_column
                 else "1")
        return self.run_sql(
            f"SELECT * EXCLUDE (_rn) FROM ("
            f"SELECT {', '.join(sel)}, row_number() OVER (PARTITION BY {key} ORDER BY {order}) AS _rn "
            f"FROM _incoming) WHERE _rn = 1", arrow=True, _incoming=data)

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
        staged = self._stage(t, data)
        sql = _upsert_sql(t, "_stage")
        with self.transaction():
            n_stage = staged.num_rows
            n_upd, n_exist = self.run_sql(sql["count"], _stage=staged).fetchone()
            if n_upd:
                self.run_sql(sql["delete"], _stage=staged).fetchall()
            self.run_sql(sql["insert" if n_exist else "insert_all"], _stage=staged).fetchall()
        n_new = n_stage - n_exist
        dup_in_batch = (n_in - n_stage) if n_in is not None else 0
        return UpsertResult(inserted=n_new, updated=n_upd, unchanged=n_exist - n_upd + dup_in_batch)

    # -- a few rows, many times (a server's pushes) -------------------------------------------------
    def prepare_upsert(self, table: str) -> None:
        """Make :meth:`upsert_rows`'s TEMP staging table and statements for ``table`` on this connection now,
        outside a transaction (DuckDB keeps a prepared plan only while the catalog version it was planned at
        holds; a staging table created inside the caller's transaction would make every EXECUTE plan again).
        Renewed after :data:`PREPARED_RENEW_S` seconds, so that a CREATE elsewhere costs at most that long."""
        st = self.__dict__.setdefault("_upsert_prepared", {})
        have = st.get(table)
        if self.in_transaction or (have is not None and have["con"] is self.con
                                   and time.monotonic() - have["made"] <= PREPARED_RENEW_S):
            return
        self._make_upsert(table)

    def _make_upsert(self, table: str) -> dict:
        t = model.table(table)
        st = self.__dict__.setdefault("_upsert_prepared", {})
        old = st.get(table)
        if old is not None and old["con"] is self.con:
            for name in old["statements"]:
                with contextlib.suppress(duckdb.Error):
                    self.con.execute(f"DEALLOCATE {name}")
        with Store._SERIAL_LOCK:
            Store._SERIAL += 1
            prefix = f"_lp_up{Store._SERIAL}_"
        stage = f"{prefix}stage"
        cols = ", ".join(f'"{c.name}" {model.SQL_TYPES[c.type]}' for c in t.columns)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {stage} ({cols})")
        sqls = _upsert_sql(t, f"temp.main.{stage}")
        sqls["clear"] = f"DELETE FROM temp.main.{stage}"
        stmts = {}
        for k, sql in sqls.items():
            prepare_statement(self.con, f"{prefix}{k}", sql)
            stmts[k] = f"{prefix}{k}"
        fill = (f"INSERT INTO temp.main.{stage} SELECT " + ", ".join(
            f"unnest(?::{model.SQL_TYPES[c.type]}[])" for c in t.columns))
        st[table] = entry = {"con": self.con, "made": time.monotonic(), "stmt": stmts,
                             "statements": list(stmts.values()), "fill": fill}
        return entry

    def upsert_rows(self, table: str, rows: list[dict[str, Any]]) -> UpsertResult:
        """:meth:`upsert` for a few rows given as dicts (same semantics: the newest version of a key within
        ``rows`` wins, the first on ties; a stored row is replaced only by a newer version; a missing or NULL
        ``run_id`` is the active run's). Through statements prepared once per connection over a TEMP staging
        table: the generic upsert plans five statements per call, which for a few rows costs more than the
        rows (see :meth:`prepare_upsert`)."""
        t = _keyed_table(table, rows)
        if not rows:
            return UpsertResult()
        st = self.__dict__.setdefault("_upsert_prepared", {})
        entry = st.get(table)
        if entry is None or entry["con"] is not self.con:
            if self.in_transaction:  # a staging table made now would go with a rollback: the generic upsert
                return self.upsert(table, pd.DataFrame(rows))
            entry = self._make_upsert(table)
        staged, cols = self._newest_rows(t, rows)
        stmt = entry["stmt"]
        with self.transaction():
            self.con.execute(entry["fill"], cols).fetchall()
            n_upd, n_exist = self.con.execute(f"EXECUTE {stmt['count']}").fetchone()
            if n_upd:
                self.con.execute(f"EXECUTE {stmt['delete']}").fetchall()
            self.con.execute(f"EXECUTE {stmt['insert' if n_exist else 'insert_all']}").fetchall()
            self.con.execute(f"EXECUTE {stmt['clear']}").fetchall()
        return UpsertResult(inserted=len(staged) - n_exist, updated=n_upd,
                            unchanged=n_exist - n_upd + len(rows) - len(staged))

    def _newest_rows(self, t: model.Table, rows: list[dict[str, Any]]) -> tuple[list[dict], list[list[Any]]]:
        """The rows :meth:`upsert_rows` and :meth:`put_rows` write: one per key, its newest version (the first on
        ties), and their values column by column (a missing or NULL ``run_id`` is the active run's)."""
        v = t.version_column
        newest: dict[tuple, dict] = {}
        for r in rows:
            k = tuple(r.get(c) for c in t.primary_key)
            have = newest.get(k)
            if have is None or (v and r.get(v) is not None and (have.get(v) is None or r[v] > have[v])):
                newest[k] = r
        has_run = "run_id" in t.column_names

        def value(r: dict, c: str) -> Any:
            x = r.get(c)
            if x is not None and x is not pd.NaT and not (isinstance(x, float) and x != x):
                return x.to_pydatetime() if isinstance(x, pd.Timestamp) else x
            if has_run and c == "run_id":
                return self.run_id if self.run_id else ("" if c in t.primary_key else None)
            return None

        staged = list(newest.values())
        return staged, [[value(r, c) for r in staged] for c in t.column_names]

    def put_rows(self, table: str, rows: list[dict[str, Any]], *, new_keys: bool = False) -> None:
        """:meth:`upsert_rows` without its counts, in one statement: ``INSERT ... ON CONFLICT (key) DO UPDATE ...
        WHERE newer`` (``DO NOTHING`` for a table without a version column, whose stored rows stay). The same
        rows end up stored as with :meth:`upsert_rows`, whose count and delete join the staged rows with the
        whole table. On PostgreSQL the statement runs in PostgreSQL itself (its own ON CONFLICT, which finds
        stored keys by the primary key's index), in the store's transaction, with the values as literals
        (:func:`_pg_literal`): through DuckDB the join read the whole table over the wire (150 ms per call at
        200,000 ``ocpi_objects`` rows, growing with the table). On DuckDB (1.5) ON CONFLICT is planned as a
        merge that scans the table's keys too (pruned by their min/max where the keys allow): one statement
        instead of four, at about the same cost.

        ``new_keys``: the caller's word that no row's key is stored yet. On DuckDB the rows then go in with a
        plain INSERT, whose key check uses the primary key's index: 128 ``ocpi_objects`` rows at 1 M stored
        ones with random keys took 5.7 ms, against 49 ms with ON CONFLICT. A key that is stored after all fails
        the statement with ``duckdb.ConstraintException`` (and with it the transaction): the caller redoes its
        work without the hint. Ignored on PostgreSQL (its ON CONFLICT is indexed)."""
        t = _keyed_table(table, rows)
        if not rows:
            return
        staged, cols = self._newest_rows(t, rows)
        names = ", ".join(f'"{c}"' for c in t.column_names)
        keys = ", ".join(f'"{k}"' for k in t.primary_key)
        v = t.version_column
        if v:
            sets = ", ".join(f'"{c}" = excluded."{c}"' for c in t.column_names if c not in t.primary_key)
            action = (f'DO UPDATE SET {sets} WHERE excluded."{v}" > "{t.name}"."{v}" '
                      f'OR ("{t.name}"."{v}" IS NULL AND excluded."{v}" IS NOT NULL)')
        else:
            action = "DO NOTHING"
        if self.backend == "postgres":
            from laadplan.store import postgres as pg

            values = ", ".join("(" + ", ".join(_pg_literal(cols[j][i]) for j in range(len(cols))) + ")"
                               for i in range(len(staged)))
            with self.transaction():
                pg.native_execute(self.con, f'INSERT INTO "{t.name}" ({names}) VALUES {values} '
                                            f"ON CONFLICT ({keys}) {action}")
            return
        fill = ", ".join(f"unnest(?::{model.SQL_TYPES[c.type]}[])" for c in t.columns)
        on_conflict = "" if new_keys else f" ON CONFLICT ({keys}) {action}"
        with self.transaction():
            self.con.execute(f'INSERT INTO "{t.name}" ({names}) SELECT {fill}{on_conflict}', cols).fetchall()

    def replace_all(self, table: str, data: Any) -> int:
        """Replace a derived table's whole content (for analysis outputs such as plans)."""
        t = model.table(table)
        self.con.execute(f'DELETE FROM "{t.name}"')
        return self.append(table, data)

    def append(self, table: str, data: Any) -> int:
        t = model.table(table)
        if hasattr(data, "__len__") and len(data) == 0:
            return 0
        data, have = self._incoming_columns(t, data)
        sel = [(f'coalesce(CAST("{c.name}" AS {model.SQL_TYPES[c.type]}), {self._default(t, c.name)})' if c.name in have
                else self._default(t, c.name)) for c in t.columns]
        cols = ", ".join(f'"{c}"' for c in t.column_names)
        n = self.run_sql(f'INSERT INTO "{t.name}" ({cols}) SELECT {", ".join(sel)} FROM _incoming',
                         _incoming=data).fetchone()
        complete(self.con)
        return int(n[0]) if n else 0
