"""Local DuckDB mirrors of PostgreSQL tables, for analyses that read a whole table (issue 14).

On the PostgreSQL store every read of a table is a binary COPY out of the server; for the usage KPIs over 10 M
sessions that COPY costs as much as the KPI maths. :meth:`laadplan.store.Store.scanned` therefore reads the
columns it needs from a DuckDB file in a local cache folder, made once and made again only after the table
changed in PostgreSQL.

**Change detection** (migration 0005): statement-level triggers on the mirrored tables insert one row per
INSERT / UPDATE / DELETE / TRUNCATE statement into ``laadplan_meta.table_changes``, in the writing transaction.
The table's *version* is ``sum(weight)`` over its rows. Why this never serves stale data:

1. Every committed statement that can change the table adds at least 1 to the version, in the same transaction
   as its change, so a change is visible to a snapshot exactly when its version increment is (a rolled-back
   statement takes its increment with it). DuckDB's postgres extension writes with COPY FROM (fires statement
   INSERT triggers) and ``ctid`` DELETE/UPDATE statements (fire theirs); the triggers are ``ENABLE ALWAYS``, so
   ``session_replication_role = replica`` does not skip them; DDL that rewrites the table without such a
   statement (a new table, a column added, changed or dropped) changes the table's oid or column list, which
   are part of the mirror's *key* (below) - and a version is trusted only while the trigger is there and
   enabled ``ALWAYS`` (else: no mirror, a warning).
2. The version is read *before* the copy starts, in a statement that has finished, outside any store
   transaction (inside one the store's own uncommitted writes would be counted and copied; then the mirror is
   not used). PostgreSQL snapshots only grow: the copy's snapshot holds every commit the version's snapshot held,
   possibly more. So a mirror labelled ``v`` holds at least the changes counted in ``v``; a change committed
   between the two reads is in the copy but not in the label, and the next reader sees a version above ``v``
   and makes the mirror again (one refresh too many, never a stale answer). A mirror is used only when its
   label equals the version read now: equal sums mean no statement committed since the label's snapshot.
3. Compaction (when a table has more than :data:`COMPACT_ABOVE` log rows) is one statement
   ``WITH d AS (DELETE .. id <= max(id) RETURNING weight) INSERT .. sum(weight)``: the rows it removes and the row
   it adds are one atomic change, so every snapshot sees the same sum; two compactions at once either serialise
   (the second finds nothing to delete, and inserts nothing) or one fails and is ignored.

**Identity**: the mirror's file name carries a hash (its key) of the DuckDB version, the server address, the
database's oid, the random ``store_id`` made by migration 0005, the server's system identifier and timeline
(when the user may read them), the table's oid and column types, and the columns read - and the version. A
database made again under the same name has a new oid and a new store id; a copy made from a template
(``CREATE DATABASE .. TEMPLATE``) shares the store id but has its own oid; a promoted replica has a new timeline.

**Files**: in ``$LAADPLAN_MIRROR_DIR`` (``off`` turns mirrors off), by default
``$XDG_CACHE_HOME/laadplan/mirror`` (``~/.cache/...``; a temp folder when that cannot be made). A new mirror is
written to a temp file and renamed into place (``os.replace``), so two processes refreshing at once both end
with a whole file; readers ATTACH it read-only. Superseded versions of the same key are removed after a
build; mirrors unused for :data:`MAX_AGE_DAYS` days and any beyond the :data:`MAX_FILES` most recently used
are removed too. Anything going wrong with the cache (full disk, read-only folder) is a logged warning and the
analysis reads PostgreSQL directly, as before: the cache never fails a KPI.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from urllib.parse import urlsplit

import duckdb
import pandas as pd

from laadplan.store import sql_literal

if TYPE_CHECKING:
    from laadplan.store import Store

log = logging.getLogger(__name__)

#: the schema holding laadplan's bookkeeping on PostgreSQL (not the data model's ``public``)
META_SCHEMA = "laadplan_meta"
#: the change-log trigger on each mirrored table
TRIGGER = "lp_note_change"
#: the environment variable naming the mirror folder (``off``: no mirrors)
ENV = "LAADPLAN_MIRROR_DIR"
#: compact a table's change log when it has more rows than this
COMPACT_ABOVE = 1000
#: mirrors not used for this many days are removed
MAX_AGE_DAYS = 14
#: at most this many mirror files are kept (the least recently used go first)
MAX_FILES = 24

#: the environment variable of the churn window in seconds (default :data:`CHURN_S`; 0 turns the check off)
CHURN_ENV = "LAADPLAN_MIRROR_CHURN_S"
#: a table written by two or more transactions within this many seconds is *churning* (an OCPI receiver
#: taking pushes): no mirror is made for it, since the next push would supersede it before any reuse, and
#: making one costs more than the direct read (compressed file vs in-memory temp table); it is read from
#: PostgreSQL directly, as without mirrors. A mirror already current is still used.
CHURN_S = 60.0

#: what happened, for tests and benchmarks: built, reused, fallback, compacted, churning
STATS: Counter = Counter()
_SERIAL = itertools.count(1)
_SERIAL_LOCK = threading.Lock()


def mirror_dir() -> Path | None:
    """The mirror folder, or None when mirrors are turned off (``LAADPLAN_MIRROR_DIR=off``)."""
    v = (os.environ.get(ENV) or "").strip()
    if v.lower() in ("off", "0", "no", "false", "none"):
        return None
    if v:
        return Path(v).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "laadplan" / "mirror"


def _ready_dir() -> Path | None:
    d = mirror_dir()
    if d is None:
        return None
    try:
        d.mkdir(parents=True, exist_ok=True)
        return d
    except OSError:
        if os.environ.get(ENV):
            raise  # the user named this folder: say that it cannot be used
    d = Path(tempfile.gettempdir()) / f"laadplan-mirror-{os.getuid()}"
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


@dataclass(frozen=True)
class TableVersion:
    """What the server says about a table now: the mirror key (identity) and the version (change count)."""
    key: str
    version: int
    log_rows: int
    #: transactions that wrote the table within the churn window
    recent_tx: int = 0


def churn_s() -> float:
    v = (os.environ.get(CHURN_ENV) or "").strip()
    try:
        return max(0.0, float(v)) if v else CHURN_S
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %s", CHURN_ENV, v, CHURN_S)
        return CHURN_S


def read_version(store: "Store", table: str, columns: list[str]) -> TableVersion | str:
    """The table's key and version, or a reason why it has none (no change log, trigger missing)."""
    m = META_SCHEMA
    t = sql_literal(table)
    have = store.native_query(
        f"SELECT to_regclass('{m}.table_changes') IS NOT NULL AS log, "
        f"to_regclass('{m}.store_identity') IS NOT NULL AS ident, "
        f"has_function_privilege('pg_control_system()', 'EXECUTE') "
        f"AND has_function_privilege('pg_control_checkpoint()', 'EXECUTE') AS control").iloc[0]
    if not (have["log"] and have["ident"]):
        return "the database has no change log (schema version below 5: run `laadplan db upgrade`)"
    control = ("(SELECT system_identifier::text FROM pg_control_system()) || '/' || "
               "(SELECT timeline_id::text FROM pg_control_checkpoint())") if have["control"] else "''"
    row = store.native_query(
        f"SELECT (SELECT store_id::text FROM {m}.store_identity ORDER BY created_utc, store_id LIMIT 1) AS store_id, "
        f"d.oid::bigint AS db_oid, c.oid::bigint AS table_oid, {control} AS cluster, "
        f"coalesce(host(inet_server_addr()), '') || ':' || current_setting('port') AS server, "
        f"(SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) "
        f" FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS cols, "
        f"(SELECT count(*) FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = {sql_literal(TRIGGER)} "
        f" AND g.tgenabled = 'A')::bigint AS triggers, "
        f"(SELECT coalesce(sum(weight), 0) FROM {m}.table_changes WHERE table_name = {t})::bigint AS version, "
        f"(SELECT count(*) FROM {m}.table_changes WHERE table_name = {t})::bigint AS log_rows, "
        f"(SELECT count(DISTINCT xmin::text) FROM {m}.table_changes WHERE table_name = {t} "
        f" AND at > clock_timestamp() - make_interval(secs => {churn_s()!r}))::bigint AS recent_tx "
        f"FROM pg_database d, pg_class c "
        f"WHERE d.datname = current_database() AND c.oid = to_regclass({sql_literal('public.' + table)})")
    if row.empty:
        return f"no table {table}"
    r = row.iloc[0]
    if int(r["triggers"]) != 1:
        return (f"the change-log trigger of {table} is missing or not enabled ALWAYS (run `laadplan db upgrade`, "
                f"or ALTER TABLE {table} ENABLE ALWAYS TRIGGER {TRIGGER})")
    if r["store_id"] is None or pd.isna(r["store_id"]):
        return "the database has no store id (run `laadplan db upgrade`)"
    u = urlsplit(store.path)
    ident = [duckdb.__version__, u.hostname, u.port, u.path, str(r["server"]), str(r["cluster"]),
             str(r["store_id"]), int(r["db_oid"]), table, int(r["table_oid"]), str(r["cols"]), list(columns)]
    key = hashlib.sha256(json.dumps(ident, default=str).encode()).hexdigest()[:24]
    return TableVersion(key=key, version=int(r["version"]), log_rows=int(r["log_rows"]),
                        recent_tx=int(r["recent_tx"]))


def compact(store: "Store", table: str) -> None:
    """Replace the table's change-log rows by one row with their summed weight (one atomic statement)."""
    m, t = META_SCHEMA, sql_literal(table)
    store.native_execute(
        f"WITH d AS (DELETE FROM {m}.table_changes WHERE table_name = {t} AND id <= "
        f"(SELECT max(id) FROM {m}.table_changes WHERE table_name = {t}) RETURNING weight) "
        f"INSERT INTO {m}.table_changes (table_name, weight) "
        f"SELECT {t}, s FROM (SELECT sum(weight) AS s FROM d) x WHERE s IS NOT NULL")
    STATS["compacted"] += 1


def _alias(kind: str) -> str:
    with _SERIAL_LOCK:
        return f"_lp_mirror_{kind}{os.getpid()}_{next(_SERIAL)}"


def _detach(con: duckdb.DuckDBPyConnection, alias: str) -> None:
    with contextlib.suppress(duckdb.Error):
        con.execute(f"DETACH DATABASE IF EXISTS {alias}")


def _unlink(p: Path) -> None:
    for q in (p, p.with_name(p.name + ".wal")):
        with contextlib.suppress(OSError):
            q.unlink()


def _publish(tmp: Path, final: Path) -> None:
    """Rename a whole new mirror into place (atomic: a reader sees the old file or the new one)."""
    os.replace(tmp, final)


def _build(store: "Store", table: str, columns: list[str], final: Path) -> None:
    """Copy ``columns`` of the PostgreSQL table straight into a new DuckDB file, renamed to ``final`` when
    whole (a crash or a full disk leaves at most a temp file, removed here or by a later prune)."""
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    alias = _alias("b")
    cols = ", ".join(f'"{c}"' for c in columns)
    try:
        store.con.execute(f"ATTACH {sql_literal(str(tmp))} AS {alias}")
        try:
            store.con.execute(f'CREATE TABLE {alias}.main."{table}" AS SELECT {cols} FROM "{table}"')
        finally:
            _detach(store.con, alias)  # closes the file (checkpointed)
        _publish(tmp, final)
    except BaseException:
        _unlink(tmp)
        raise
    STATS["built"] += 1


def _prune(d: Path, table: str, key: str, keep: Path) -> None:
    """Remove the other versions of this key, temp files of crashed builders, and old or surplus mirrors."""
    now = time.time()
    mirrors = []
    for p in d.iterdir():
        try:
            st = p.stat()
        except OSError:
            continue
        name = p.name
        if name.endswith(".tmp") or name.endswith(".tmp.wal"):
            if now - st.st_mtime > 86400:  # a builder that died a day ago
                _unlink(p)
            continue
        if not name.endswith(".duckdb") or p == keep:
            continue
        if name.startswith(f"{table}-{key}-v") or now - st.st_mtime > MAX_AGE_DAYS * 86400:
            _unlink(p)
        else:
            mirrors.append((st.st_mtime, p))
    for _, p in sorted(mirrors, reverse=True)[max(0, MAX_FILES - 1):]:
        _unlink(p)


def open_mirror(store: "Store", table: str, columns: list[str]) -> str | None:
    """The name of a current mirror of ``columns`` of ``table`` (ATTACHed read-only to the store's
    connection; :func:`close_mirror` it after use), made first when needed; None when there is none to be had
    (turned off, in a transaction, no change log, or a cache failure - logged)."""
    if store.in_transaction:
        log.debug("%s read directly: the store is in a transaction (its own changes may be uncommitted)", table)
        return None
    alias = None
    try:
        d = _ready_dir()
        if d is None:
            return None
        v = read_version(store, table, columns)
        if isinstance(v, str):
            log.warning("no local mirror of %s for %s: %s; reading PostgreSQL directly", table, store.display, v)
            STATS["fallback"] += 1
            return None
        final = d / f"{table}-{v.key}-v{v.version}.duckdb"
        alias = _alias("r")
        if final.exists():
            try:
                store.con.execute(f"ATTACH {sql_literal(str(final))} AS {alias} (READ_ONLY)")
                cols = ", ".join(f'"{c}"' for c in columns)
                store.con.execute(f'SELECT {cols} FROM {alias}.main."{table}" LIMIT 0').fetchall()
                STATS["reused"] += 1
                with contextlib.suppress(OSError):
                    os.utime(final)  # last use, for pruning
            except duckdb.Error as e:  # removed meanwhile by another process, or damaged: make it again
                _detach(store.con, alias)
                log.info("mirror %s unusable (%s); making it again", final.name, str(e).splitlines()[0])
                final.unlink(missing_ok=True)
                _build(store, table, columns, final)
                store.con.execute(f"ATTACH {sql_literal(str(final))} AS {alias} (READ_ONLY)")
        elif churn_s() > 0 and v.recent_tx >= 2:
            log.info("%s is being written (%d transactions in the last %.0f s): read from PostgreSQL directly, "
                     "no mirror made", table, v.recent_tx, churn_s())
            STATS["churning"] += 1
            return None
        else:
            _build(store, table, columns, final)
            store.con.execute(f"ATTACH {sql_literal(str(final))} AS {alias} (READ_ONLY)")
            try:
                _prune(d, table, v.key, final)
            except OSError as e:
                log.debug("mirror folder %s not pruned: %s", d, e)
        if v.log_rows > COMPACT_ABOVE and not store.read_only:
            try:
                compact(store, table)
            except duckdb.Error as e:  # a concurrent compaction: it did the work
                log.debug("change log of %s not compacted: %s", table, e)
        return f'{alias}.main."{table}"'
    except Exception as e:  # noqa: BLE001 - whatever goes wrong with the cache, the KPI reads PostgreSQL
        if alias is not None:
            _detach(store.con, alias)
        log.warning("local mirror of %s unusable (%s); reading PostgreSQL directly", table,
                    str(e).splitlines()[0] if str(e) else type(e).__name__)
        STATS["fallback"] += 1
        return None


def close_mirror(store: "Store", relation: str) -> None:
    _detach(store.con, relation.split(".", 1)[0])


@contextlib.contextmanager
def mirrored(store: "Store", table: str, columns: list[str]) -> Iterator[str | None]:
    rel = open_mirror(store, table, columns)
    try:
        yield rel
    finally:
        if rel is not None:
            close_mirror(store, rel)
