r"""Charging sessions: OCPI CDRs 2.1.1 / 2.2.1 and ElaadNL-layout session CSVs -> table ``sessions``.

``laadplan ingest cdrs SOURCE...`` reads a path or http(s) URL, gzip or not. The format is detected from
the content, not the name: a first line that is a CSV header with start and end columns is a session CSV
(:mod:`._cdr_csv`); otherwise JSON, as NDJSON (one CDR per line), a JSON array, an OCPI envelope
``{"data": [...]}`` or one object.

**Pipeline (streaming, memory flat).** NDJSON is cut into blocks of raw lines (:mod:`._cdr_lines`, no
Python object per line) and regrouped into batches of up to 100,000 lines or 48 MB, which a background
thread reads, hashes and splits one batch ahead of the validation; arrays and envelopes stream through
:func:`iter_json_records` into the same kind of batches. Each batch ``(position, raw)`` is parsed and
validated set-wise in DuckDB SQL (:mod:`._cdr_sql`) on the store's connection, handed over as Arrow record
batches of :data:`CHUNK_ROWS` rows so that all cores work on it; accepted rows are upserted into
``sessions`` straight from SQL with :meth:`Store.upsert`'s semantics (newer ``last_updated`` replaces,
identical reloads change nothing), rejected records go to the quarantine (written in bulk). ``sessions``
is scanned once per batch, for the stored versions of the batch's ids (:func:`_cdr_sql.stored_sql`).

**Rules.** Every rule a record breaks is quarantined as its own row (rule code, source, position, raw
record, message), listed in this order: LP-MALFORMED, LP-TYPE, LP-MISSING, LINDA-ENERGY-NEG,
LINDA-FUTURE, LP-FUTURE, LINDA-BEFORE-2009, LINDA-START-END, LINDA-TIME-NEG, LINDA-TIME-MISMATCH,
LP-CHARGE-GT-CONNECTED, LP-ENERGY-POWER, LP-COORDS-NL, and LP-DUPLICATE (checked only for records that
break nothing else). A record counts once: ``accepted + quarantined == read``; ``by_rule`` counts records
per rule. Rules that need a value a record lacks (e.g. start >= end without a start) are not evaluated
for it; LP-MISSING or LP-TYPE already names the field.

- LP-MALFORMED: not valid JSON (a broken line, a truncated document); CSV rows with the wrong field count.
- LP-TYPE: a record that is not a JSON object; a number field given as a string or object (``"16.5"``);
  a time that does not parse; coordinates that are not numbers; an object or array where text is due (a
  JSON number where text is due is taken as its text). CSV: a value that is not a number or a date.
- LP-MISSING: OCPI's mandatory CDR fields of the record's version; with ``validation.linda_profile`` also
  the LINDA profile's (2.2.1: tariffs, total_fixed_cost, total_energy_cost, total_parking_time; 2.1.1,
  which has no cost breakdown: tariffs, total_parking_time). For CSVs: Started, Ended, TotalEnergy,
  ConnectedTime.
- LP-FUTURE: last_updated more than ``validation.last_updated_future_h`` in the future (it would win
  over every later version).
- LINDA-TIME-NEG: total_time < 0 or charging time (total_time - total_parking_time, CSV ChargeTime) < 0.
- LINDA-TIME-MISMATCH: ``|total_time - (end - start)| > validation.total_time_tolerance_h`` (CSV:
  ConnectedTime against Ended - Started).
- LP-CHARGE-GT-CONNECTED: charging time > total (connected) time, i.e. total_parking_time < 0.
- LP-ENERGY-POWER: ``energy > P x (end - start) x validation.energy_power_margin`` with P the power of
  the EVSE's connector in the ``connectors`` table (the exact connector, else the EVSE's largest), else
  the record's own maximum power (CDR MAX_POWER dimension, CSV MaxPower; 0 counts as unknown), else
  ``validation.default_max_power_kw``.
- LP-COORDS-NL: coordinates outside the Netherlands' bounding box (``validation.bbox_*``).
- LP-DUPLICATE: same session_id and last_updated as an earlier record of the source or a stored session,
  with different content.

**Session id.** ``country_code*party_id*id`` with ``\`` and ``*`` inside each part escaped (``\\``,
``\*``), so that ``{party_id "SHL", id "A*B"}`` (``NL*SHL*A\*B``) and ``{party_id "SHL*A", id "B"}``
(``NL*SHL\*A*B``) stay two sessions; ids without those characters are unchanged.

**Guards.** A JSON record nested deeper than ``validation.max_json_depth`` (arrays and envelopes) or a
line / record longer than ``validation.max_record_bytes`` is LP-MALFORMED and never held whole; NDJSON
is validated in batches of at most 100,000 lines (or 48 MB) whatever their size, so memory stays flat for
many tiny records. Non-finite numbers (NaN, Infinity, 1e400) are LP-TYPE.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from typing import Iterator

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from laadplan import model
from laadplan.config import RegionConfig
from laadplan.ingest import _cdr_csv, _cdr_sql
from laadplan.ingest._cdr_lines import iter_line_batches, prefetched
from laadplan.ingest._csvstream import set_field_limit
from laadplan.ingest._io import SourceError, open_binary, open_text, source_name
from laadplan.ingest._records import Limits, detect_container, iter_json_records
from laadplan.ingest.base import IngestResult, Progress, Quarantine, log_run, utcnow
from laadplan.store import Store, UpsertResult, complete, in_list, prepare_statement, sql_literal

log = logging.getLogger(__name__)

JSON_BATCH = 20_000
#: batches up to this many records materialise their scratch results from the executed statement (see _scratch)
SMALL_BATCH = 2_000
#: trailing whitespace cut from a quarantined record's raw text (the NDJSON line's newline among it), in
#: SQL and for Arrow
_WS = "chr(32) || chr(9) || chr(13) || chr(10)"
_WS_CHARS = " \t\r\n"


def detect_format(src: str | os.PathLike, limits: Limits | None = None) -> str:
    """'csv', 'ndjson', 'array', 'document' or 'empty', judged from the content."""
    with open_binary(src) as b:
        head = b.read(1 << 16)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        return "empty"
    if text[0] not in "[{" and _cdr_csv.looks_like_session_csv(text.split("\n", 1)[0]):
        return "csv"
    return detect_container(str(src), limits)


def ingest_cdrs(store: Store, source: str | os.PathLike, cfg: RegionConfig, *,
                progress: Progress | None = None) -> IngestResult:
    """Ingest one source of CDRs or session rows; see the module docstring for formats and rules."""
    src = source_name(source)
    started = utcnow()
    limits = Limits.of(cfg)
    fmt = detect_format(src, limits)
    kind = "sessions" if fmt == "csv" else "cdrs"
    result = IngestResult(kind=kind, source_file=src)
    result.upserts["sessions"] = UpsertResult()
    quarantine = Quarantine(store, kind, src, result)
    batch = _Batch(store, cfg, src, result, quarantine, now_utc=started)
    try:
        if fmt == "csv":
            set_field_limit(cfg.validation.max_csv_field_chars)
            with open_text(src) as text:
                semicolon, batches = _cdr_csv.open_rows(text)
                for header, _n, rows, raws, positions in batches:
                    norm, raw = _cdr_csv.normalise(header, rows, raws, positions, cfg.region.time_zone,
                                                   delim_semicolon=semicolon)
                    batch.run_normalised(norm, raw)
                    _advance(progress, raw.num_rows)
        elif fmt == "ndjson":
            tables = prefetched(iter_line_batches(src, max_record_bytes=limits.max_record_bytes))
            # each batch is handed over in a box that run_json empties: no reference here keeps its raw text
            # (the bulk of its memory) alive once validation no longer needs it
            while (box := [next(tables, None)])[0] is not None:
                n = box[0].num_rows
                batch.run_json(box)
                _advance(progress, n)
        elif fmt in ("array", "document"):
            for table in _json_record_batches(src, limits):
                batch.run_json([table])
                _advance(progress, table.num_rows)
        batch.flush()
    except (UnicodeDecodeError, OSError, EOFError) as e:  # truncated gzip, broken connection mid-stream
        raise SourceError(f"{src}: read failed after {result.read:,} records ({e})") from None
    finally:
        batch.cleanup()
    if fmt == "ndjson" and result.read and not result.accepted and result.by_rule.get("LP-MALFORMED") == result.read:
        result.notes.append("no line was valid JSON: is this a CDR file (NDJSON / JSON / session CSV)?")
    log_run(store, result, started)
    log.info("%s: read %d, accepted %d, quarantined %d %s", src, result.read, result.accepted,
             result.quarantined, dict(result.by_rule))
    return result


def ingest_cdr_records(store: Store, records: list[tuple[int, str]], cfg: RegionConfig, name: str, *,
                       digest: str | None = None, prepared: bool | None = None) -> IngestResult:
    """CDRs that did not come from a file (the OCPI receiver's pushes): ``(position, JSON text)`` pairs go
    through the same SQL validation, storage and quarantine as a file's records (:class:`_Batch`), as one
    ingest run named ``name`` (e.g. ``ocpi-push:NL*EQU``; ``digest`` names its content).

    ``prepared``: run the statements prepared over TEMP tables (the small-batch path, reused by the next
    call on the same connection) or bound to Arrow tables (the file ingest's path); by default the small
    path up to :data:`SMALL_BATCH` records when :func:`prepare_cdr_batches` made its state on the connection
    (or no transaction is open). Both give the same verdicts, rows and counts."""
    started = utcnow()
    result = IngestResult(kind="cdrs", source_file=name, digest=digest)
    result.upserts["sessions"] = UpsertResult()
    quarantine = Quarantine(store, "cdrs", name, result)
    if prepared is None:  # (TEMP tables made inside the caller's transaction would go with its rollback)
        prepared = len(records) <= SMALL_BATCH and (not store.in_transaction or _has_prepared(store, cfg))
    table = pa.table({"position": pa.array([p for p, _ in records], pa.int64()),
                      "raw": pa.array([r for _, r in records], pa.large_string()),
                      "error": pa.nulls(len(records), pa.large_string())})
    batch = None
    try:
        batch = _Batch(store, cfg, name, result, quarantine, now_utc=started, prepared=prepared)
        batch.run_json([table])
        batch.flush()  # the quarantine rows are in the store before the run row and the receiver's answer
    except BaseException:
        if prepared:
            forget_prepared(store)
        raise
    finally:
        if batch is not None:
            batch.cleanup()
    log_run(store, result, started)
    return result


def _advance(progress: Progress | None, n: int) -> None:
    if progress is not None:
        progress(n)


def _json_record_batches(src: str, limits: Limits | None = None) -> Iterator[pa.Table]:
    """``(position, raw, error)`` tables of the records of a JSON array / envelope / document; ``error`` is
    the parser's verdict (broken element, guard) so that SQL does not judge such a text again."""
    positions: list[int] = []
    raws: list[str] = []
    errors: list[str | None] = []

    def table() -> pa.Table:
        return pa.table({"position": pa.array(positions, pa.int64()), "raw": pa.array(raws, pa.large_string()),
                         "error": pa.array(errors, pa.large_string())})

    for rec in iter_json_records(src, limits):
        positions.append(rec.position)
        raws.append(rec.raw_text())
        errors.append(rec.error)
        if len(raws) >= JSON_BATCH:
            yield table()
            positions, raws, errors = [], [], []
    if raws:
        yield table()


#: names of a batch's scratch relations: Arrow tables bound by name to each statement (a file's big batches)
_ARROW_NAMES = {"in": "_cdr_in", "norm": "_cdr_norm", "checked": "_cdr_checked", "multi": "_cdr_multi",
                "stored": "_cdr_stored", "dup": "_cdr_dup", "replace": "_cdr_replace", "ctx": "_cdr_ctx",
                "power": "_cdr_power"}
#: ... or TEMP tables of the connection, refilled per batch (small batches through prepared statements)
_TEMP_NAMES = {k: "temp.main._cdrp_" + k for k in _ARROW_NAMES}
# the batch's time, source name and run id ride on its records (one INSERT fills both, one DELETE empties both:
# each statement costs ~0.2-0.4 ms, more than the rows of a pushed group): ``ctx`` is their one-row view
_TEMP_NAMES["ctx"] = f"(SELECT now_utc, source_file, run_id FROM {_TEMP_NAMES['in']} LIMIT 1)"


class _Prepared:
    """The small-batch path's state on one connection: its TEMP scratch tables and the statements prepared
    over them (SQL text -> statement name). A statement costs DuckDB more to plan (parse, bind, optimise)
    than to run on a few records; prepared once per connection, each batch pays only the execution.
    The SQL is the same text the big-batch path runs (same builders), over other relation names."""

    _serial = 0
    _lock = threading.Lock()

    def __init__(self, con, cfg: RegionConfig) -> None:
        with _Prepared._lock:
            _Prepared._serial += 1
            self.prefix = f"_lp_cdr{_Prepared._serial}_"
        self.con, self.statements, self.key = con, {}, _Prepared.key_of(cfg)
        self.made = time.monotonic()
        self.dirty: set[str] = set()  # scratch tables holding the last batch's rows
        self.texts: dict[str, str] = {}  # the small-batch statements' SQL text (see _Batch)

    @staticmethod
    def key_of(cfg: RegionConfig) -> str:
        return cfg.validation.model_dump_json() if hasattr(cfg.validation, "model_dump_json") else repr(cfg.validation)

    def run(self, sql: str):
        """Execute ``sql`` prepared. (No parameters: DuckDB 1.5 binds and plans a statement with parameters
        again at every EXECUTE; the batch's values come from the one-row TEMP table ``ctx`` instead.)"""
        name = self.statements.get(sql)
        if name is None:
            name = f"{self.prefix}{len(self.statements)}"
            prepare_statement(self.con, name, sql)  # (planned without the statistics of this moment)
            self.statements[sql] = name
        return self.con.execute(f"EXECUTE {name}")


#: seconds after which a connection's prepared statements are made again (see prepare_cdr_batches)
PREPARED_RENEW_S = 60.0


def prepare_cdr_batches(store: Store, cfg: RegionConfig) -> None:
    """Make (or renew) the small-batch path's state on ``store``'s connection *outside* a transaction.

    DuckDB 1.5 keeps a prepared statement's plan only while the catalog version it was planned at holds: a
    statement prepared in a transaction that also created its TEMP tables, or one prepared before a later
    CREATE/ALTER anywhere in the database, is bound and planned again at every EXECUTE (as slow as not
    preparing it). So the TEMP tables and macros are made here, before the caller's transaction, and the
    statements are renewed every :data:`PREPARED_RENEW_S` seconds."""
    if store.in_transaction:
        return
    p = getattr(store, "_cdr_prepared", None)
    if p is None or p.con is not store.con or p.key != _Prepared.key_of(cfg) \
            or time.monotonic() - p.made > PREPARED_RENEW_S:
        _prepared_of(store, cfg, renew=True)


def _has_prepared(store: Store, cfg: RegionConfig) -> bool:
    p = getattr(store, "_cdr_prepared", None)
    return p is not None and p.con is store.con and p.key == _Prepared.key_of(cfg)


def _prepared_of(store: Store, cfg: RegionConfig, *, renew: bool = False) -> _Prepared:
    """The connection's :class:`_Prepared` (made, with its macros and TEMP tables, on first use)."""
    p = getattr(store, "_cdr_prepared", None)
    if not renew and p is not None and p.con is store.con and p.key == _Prepared.key_of(cfg):
        return p
    if p is not None and p.con is store.con:
        for name in p.statements.values():
            try:
                store.con.execute(f"DEALLOCATE {name}")
            except duckdb.Error:
                pass
    con = store.con
    complete(con)
    for stmt in _cdr_sql.MACROS.split(";"):
        if stmt.strip():
            con.execute(stmt)
    n = _TEMP_NAMES
    zero = "CAST('2000-01-01' AS TIMESTAMP)"
    norm = _cdr_sql.norm_select(_cdr_sql.norm_sql(n["in"], cfg.validation.linda_profile))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {n['in'].split('.')[-1]} "
                "(position BIGINT, raw VARCHAR, error VARCHAR, now_utc TIMESTAMP, source_file VARCHAR, run_id VARCHAR)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {n['checked'].split('.')[-1]} AS "
                f"SELECT * FROM ({_cdr_sql.checked_sql(f'({norm})', cfg, None, now_sql=zero)}) LIMIT 0")
    if store.backend == "postgres":  # the parsed batch and its EVSEs' connectors (see _Batch.__init__)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {n['norm'].split('.')[-1]} AS "
                    f"SELECT *, {zero} AS _now_utc FROM ({norm}) LIMIT 0")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {n['power'].split('.')[-1]} AS "
                    f"SELECT * FROM ({_cdr_sql.power_sql(n['norm'])}) LIMIT 0")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {n['multi'].split('.')[-1]} (session_id VARCHAR)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {n['stored'].split('.')[-1]} AS "
                f"SELECT * FROM ({_cdr_sql.stored_sql(n['checked'])}) LIMIT 0")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {n['dup'].split('.')[-1]} (position BIGINT, msg VARCHAR)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {n['replace'].split('.')[-1]} (session_id VARCHAR)")
    p = _Prepared(con, cfg)
    store._cdr_prepared = p  # type: ignore[attr-defined]
    return p


def forget_prepared(store: Store) -> None:
    """Drop the connection's small-batch state (after an error: a rolled-back transaction may have taken
    its TEMP tables or macros with it); the next small batch makes it again."""
    store._cdr_prepared = None  # type: ignore[attr-defined]


class _Batch:
    """Runs the SQL stages for one batch on the store's connection and books the outcome.

    Two ways to run the same statements: a big batch binds its scratch relations as Arrow tables by name
    (no copy; a file's run is one transaction, in which replaced TEMP tables would be kept until the commit);
    a small batch (``prepared=True``: the OCPI receiver's pushes) fills TEMP tables of the connection and runs
    the statements prepared once per connection (:class:`_Prepared`), skipping those that cannot find
    anything. The statements' text comes from the same builders; only the relation names and where the
    current time, source name and run id come from (literals or parameters) differ."""

    def __init__(self, store: Store, cfg: RegionConfig, src: str, result: IngestResult, quarantine: Quarantine,
                 now_utc, *, prepared: bool = False):
        self.store, self.cfg, self.src, self.result, self.q = store, cfg, src, result, quarantine
        self.con = store.con
        self._tables: dict[str, pa.Table] = {}
        self._n_in = 0  # records of the batch being validated
        self._rejected: list[pd.DataFrame] = []  # quarantine rows not yet written (see flush)
        self._rejected_records = self._rejected_rows = 0
        self.prep = _prepared_of(store, cfg) if prepared else None
        self.n = _TEMP_NAMES if prepared else _ARROW_NAMES
        n = self.n
        if self.prep is None:
            complete(self.con)
            for stmt in _cdr_sql.MACROS.split(";"):
                if stmt.strip():
                    self.con.execute(stmt)
        self.now_utc = now_utc
        # the statements' text: the same for every small batch on a connection (built once, kept with its
        # prepared statements: building it cost ~0.4 ms per pushed group); a big batch's has its time in it
        sqls = self.prep.texts if self.prep is not None else {}
        # PostgreSQL, small batches: DuckDB binds a prepared statement that reads an attached PostgreSQL table
        # again at every EXECUTE, and binding the big parse-and-check statement cost ~15 ms per pushed group.
        # So there the batch is parsed into the TEMP table ``norm``, its EVSEs' connectors are copied into
        # ``power`` (a small statement, bound each time), and the rules read only TEMP tables.
        self.split = prepared and store.backend == "postgres"
        if not sqls:
            norm = _cdr_sql.norm_select(_cdr_sql.norm_sql(n["in"], cfg.validation.linda_profile))
            if prepared:  # the time of the future rules from the batch's ctx row (see _Prepared.run)
                norm = f"SELECT _n.*, _x.now_utc AS _now_utc FROM ({norm}) _n, {n['ctx']} _x"
                now_sql = "_now_utc"
            else:
                now_sql = _cdr_sql._lit_ts(now_utc)
            if self.split:
                sqls.update(norm=norm,
                            checked_json=_cdr_sql.checked_sql(n["norm"], cfg, None, now_sql=now_sql,
                                                              connectors=n["power"]))
            else:
                sqls.update(checked_json=_cdr_sql.checked_sql(f"({norm})", cfg, None, now_sql=now_sql,  # parse + check
                                                              few=prepared))
            sqls.update(checked=_cdr_sql.checked_sql(n["norm"], cfg, None, now_sql=now_sql),
                        stored=_cdr_sql.stored_sql(n["checked"]), hit=_cdr_sql.hit_sql(n["checked"]),
                        dup=_cdr_sql.duplicate_sql(n["checked"], n["multi"], n["stored"]))
        self.sqls = sqls
        self.checked_json_sql, self.checked_sql = sqls["checked_json"], sqls["checked"]
        self.stored_sql, self.hit_sql, self.dup_sql = sqls["stored"], sqls["hit"], sqls["dup"]
        self._empty_stored: pa.Table | None = None  # the schema of _cdr_stored, for batches with no stored id
        self._big_batches = 0  # big batches of this file so far
        self._known: _KnownIds | None = None  # ids stored before or by this run (DuckDB, from the 2nd big batch)

    def run_json(self, box: list[pa.Table]) -> None:
        """Validate and store the ``(position, raw, error)`` table in ``box`` (taken out of it, so that its raw
        text is freed once the quarantine rows are taken)."""
        table = box.pop()
        self._n_in = table.num_rows  # (kept: the raw text is dropped before the upsert)
        if self.prep is not None:
            self._fill_in(table)
        else:
            self._tables["_cdr_in"] = _chunked(table)  # zero copy; bound by name to each statement of the batch
        del table
        try:
            self._validate_and_store(self.checked_json_sql)
            if self.prep is not None:
                # emptied in the batch's own transaction: committed or rolled back, the tables are empty after
                # it (on an error the caller forgets the connection's state, see forget_prepared)
                self._clear()
        finally:
            self.cleanup()

    def run_normalised(self, norm: pa.Table, raw: pa.Table) -> None:
        if self.prep is not None:
            raise ValueError("the small-batch path takes JSON records only")
        self._tables["_cdr_norm"] = _chunked(norm)
        self._tables["_cdr_in"] = _chunked(raw)
        self._n_in = raw.num_rows
        try:
            self._validate_and_store(self.checked_sql)
        finally:
            self.cleanup()

    def _sql(self, sql: str, params: list | None = None):
        """Run ``sql`` with this batch's tables bound by name (:meth:`Store.run_sql`: no registered views,
        which a transaction would keep alive until its commit)."""
        return self.store.run_sql(sql, params, **self._tables)

    # -- the small-batch path's helpers ----------------------------------------------------------
    def _clear(self) -> None:
        """Empty the TEMP scratch tables the last batch filled."""
        for k in sorted(self.prep.dirty):
            self.prep.run(f"DELETE FROM {self.n[k]}").fetchall()
        self.prep.dirty.clear()

    def _fill_in(self, table: pa.Table) -> None:
        self.prep.dirty.add("in")
        self.con.execute(f"INSERT INTO {self.n['in']} SELECT unnest(?::BIGINT[]), unnest(?::VARCHAR[]), "
                         f"unnest(?::VARCHAR[]), {_cdr_sql._lit_ts(self.now_utc)}, ?, ?",
                         [table.column("position").to_pylist(), table.column("raw").to_pylist(),
                          table.column("error").to_pylist(), self.src, self.store.run_id]).fetchall()

    def _stored_by_ids(self, ids: list[str]) -> int:
        """Small batches: fill ``stored`` from the sessions with the batch's ids, named as literals. On both
        backends the key's index then finds them, where the join of :func:`_cdr_sql.stored_sql` reads the whole
        ``session_id`` column: on PostgreSQL over the wire (280 ms per group at 200,000 stored sessions), on
        DuckDB as a scan (29 ms per group of 128 at 1 M stored sessions with random ids; the literal list
        ~2-4 ms). Not prepared: its text is the batch's. An id with a NUL character cannot be a SQL literal:
        PostgreSQL text holds no NUL, so no stored session there has one and it is left out; a DuckDB store may
        hold one, so such a batch takes the join."""
        if any("\x00" in i for i in ids):
            if self.store.backend != "postgres":
                return self._fill("stored", self.stored_sql)
            ids = [i for i in ids if "\x00" not in i]
        if not ids:
            return 0
        return self._fill("stored", _cdr_sql.stored_sql(
            self.n["checked"], sessions=f"(SELECT * FROM sessions WHERE session_id {in_list(ids)})"), prepared=False)

    def _power_by_locations(self) -> int:
        """PostgreSQL, small batches: fill ``power`` with the connectors of the batch's EVSEs, read through a
        filter on the batch's parties and locations named as literals: DuckDB hands it to PostgreSQL, whose
        primary-key index (country_code, party_id, location_id, ...) finds them, where the semi-join of
        :func:`_cdr_sql.power_sql` read every connector over the wire (16.5 ms per group of 64 on the region's
        27,902 connectors). Records without a party or location match no connector (the key's columns are NOT
        NULL), nor do values with a NUL character (PostgreSQL text holds none)."""
        rows = self.con.execute(f"SELECT DISTINCT country_code, party_id, location_id FROM {self.n['norm']}").fetchall()
        keys = [k for k in rows if all(v is not None and "\x00" not in v for v in k)]
        if not keys:
            return 0
        where = " AND ".join(f"{col} {in_list(k[i] for k in keys)}"
                             for i, col in enumerate(("country_code", "party_id", "location_id")))
        return self._fill("power", _cdr_sql.power_sql(
            self.n["norm"], connectors=f"(SELECT * FROM connectors WHERE {where})"), prepared=False)

    def _fill(self, key: str, sql: str, *, prepared: bool = True) -> int:
        """Small batches: insert the rows of ``sql`` into the TEMP table ``key``; their number. A table that got
        no row is not marked for :meth:`_clear` (usually ``multi``, ``stored``, ``dup``, ``replace``: an empty
        DELETE still costs a statement's fixed time, ~0.5 ms). ``prepared=False``: a statement whose text is the
        batch's own (literals), executed once."""
        insert = f"INSERT INTO {self.n[key]} {sql}"
        n = int((self.prep.run(insert) if prepared else self.con.execute(insert)).fetchall()[0][0])
        if n:
            self.prep.dirty.add(key)
        return n

    def _rejected_sql(self, *, raw: bool) -> str:
        """The quarantine rows of the batch, with the records' raw text (``raw``, small batches) or without
        it (big batches take it by position with Arrow, see :func:`_raw_of`)."""
        n = self.n
        raw_col = f"rtrim(i.raw, {_WS}) AS raw, " if raw else ""
        raw_join = f" JOIN {n['in']} i USING (position)" if raw else ""
        return f"""SELECT b.code AS rule_code, v.position, {raw_col}b.msg AS message,
                           c.session_id AS record_id, c.party_id
                    FROM (SELECT position, unnest(broken) AS b FROM {n['checked']} WHERE len(broken) > 0
                          UNION ALL
                          SELECT position, {{'code': 'LP-DUPLICATE', 'msg': msg}} AS b FROM {n['dup']}) v
                    JOIN {n['checked']} c USING (position){raw_join}
                    ORDER BY v.position"""

    def _validate_and_store(self, checked_sql: str) -> None:
        # Big batches: scratch relations are Arrow tables bound by name to each statement, not TEMP tables:
        # the whole run is one transaction, and a database keeps every replaced table version until the
        # commit (2.5 GB at 1 M). Only _cdr_checked has a row per record; the others are small (usually
        # empty). Each statement costs a fixed planning time, so the ones that would find nothing are not
        # run. Small batches: the same statements, prepared, over TEMP tables (see the class docstring).
        if self.prep is not None:
            if self.split:  # (PostgreSQL: see __init__)
                self._fill("norm", self.sqls["norm"])
                self._power_by_locations()
            n_read = self._fill("checked", checked_sql)
            # the broken records, and whether a valid record's id occurs twice (usually not: then the statement
            # filling ``multi`` is not run). Counted here from the batch's few rows: a DISTINCT count in SQL
            # costs as much as filling ``multi`` (its hash table's set-up)
            rows = self.prep.run(f"SELECT len(broken) > 0, session_id FROM {self.n['checked']}").fetchall()
            n_broken = sum(1 for bad, _ in rows if bad)
            ids = [sid for bad, sid in rows if not bad and sid is not None]
            n_multi = self._fill("multi", f"SELECT session_id FROM ({_cdr_sql.multi_sql(self.n['checked'])}) "
                                          "WHERE session_id IS NOT NULL") if len(set(ids)) < len(ids) else 0
            n_stored = self._stored_by_ids(ids)
            n_dup = self._fill("dup", self.dup_sql) if n_multi or n_stored else 0
        else:
            self._scratch("_cdr_checked", checked_sql)
            checked = self._tables["_cdr_checked"]
            n_read = checked.num_rows
            n_broken = int(pc.sum(pc.greater(pc.list_value_length(checked.column("broken")), 0)).as_py() or 0)
            self._tables["_cdr_multi"] = _multi(checked)  # (Arrow: a DuckDB statement costs its planning time)
            self._stored()
            n_stored = self._tables["_cdr_stored"].num_rows
            if self._tables["_cdr_multi"].num_rows or n_stored:
                self._scratch("_cdr_dup", self.dup_sql)
            else:  # no id twice in the batch, none stored: no duplicate
                self._tables["_cdr_dup"] = _EMPTY_DUP
            n_dup = self._tables["_cdr_dup"].num_rows
        n_bad = n_broken + n_dup
        if n_bad:
            if self.prep is not None:
                rejected = self.prep.run(self._rejected_sql(raw=True)).df()
                rejected["raw"] = rejected["raw"].str.slice(0, 20_000)
            else:
                rejected = self._sql(self._rejected_sql(raw=False)).df()
                rejected.insert(2, "raw", _raw_of(self._tables["_cdr_in"], rejected["position"]))
            self._rejected.append(rejected)
            self._rejected_records += n_bad
            self._rejected_rows += len(rejected)
            if self._rejected_rows >= QUARANTINE_FLUSH_ROWS:
                self.flush()
        self._tables.pop("_cdr_in", None)  # the raw text is no longer needed
        if n_read > n_bad:
            n_multi = self._tables["_cdr_multi"].num_rows if self.prep is None else n_multi
            self.result.upserts["sessions"] += self._upsert_sessions(int(n_read - n_bad), n_stored,
                                                                     n_multi=n_multi, n_dup=n_dup)
        self.result.read += int(n_read)
        self.result.accepted += int(n_read - n_bad)

    def _stored(self) -> None:
        """Bind ``_cdr_stored`` (:func:`_cdr_sql.stored_sql`): the stored sessions sharing an id with the batch.

        A big batch first looks for its ids in the ``session_id`` column alone (:func:`_cdr_sql.hit_sql`): a
        new file's ids are usually all new, and then the full lookup, which reads every content column of
        ``sessions`` to compare, is not run (it cost 0.1-0.2 s per batch on 1 M stored sessions). From a file's
        second big batch on, a DuckDB store answers that question from :class:`_KnownIds` instead of a scan of
        ``sessions`` per batch. A batch of at most :data:`SMALL_BATCH` records runs the full lookup at once: one
        statement costs less than two there."""
        if self._n_in > SMALL_BATCH:
            if self._known is None and self._big_batches and self.store.backend == "duckdb":
                self._known = _KnownIds(self.store)  # (the scan the hit lookup would make, once for the file)
            self._big_batches += 1
            if self._known is not None:
                ids = self._sql("SELECT hash(session_id) AS h FROM _cdr_checked WHERE len(broken) = 0").fetchnumpy()["h"]
                hits = self._known.any_of(ids)
                self._known.add(ids)  # (before the upsert: ids that end up quarantined only cost a false hit)
            else:
                self._scratch("_cdr_hit", self.hit_sql)
                hits = self._tables.pop("_cdr_hit").num_rows
            if not hits:
                if self._empty_stored is None:
                    self._scratch("_cdr_stored", self.stored_sql + " LIMIT 0")
                    self._empty_stored = self._tables["_cdr_stored"]
                self._tables["_cdr_stored"] = self._empty_stored
                return
        self._scratch("_cdr_stored", self.stored_sql)

    def flush(self) -> None:
        """Write the quarantine rows collected so far (one store upsert for many batches: each costs a
        fixed time, whatever its size)."""
        if not self._rejected:
            return
        frame = pd.concat(self._rejected, ignore_index=True) if len(self._rejected) > 1 else self._rejected[0]
        before = self.result.quarantined
        self.q.add_frame(frame)
        # add_frame counts rows; a record breaking several rules counts once
        self.result.quarantined = before + self._rejected_records
        self._rejected, self._rejected_records, self._rejected_rows = [], 0, 0

    def _upsert_sessions(self, n_accepted: int, n_stored: int, *, n_multi: int = 1, n_dup: int = 1) -> UpsertResult:
        """Set-based newer-wins upsert of the accepted rows, with the semantics of :meth:`Store.upsert`.

        Within the batch the newest ``last_updated`` of a session_id wins (the first record on ties); a
        stored row is replaced only by a strictly newer version (or any version when it has none).
        Done here on the store's connection, straight from the checked rows, to avoid a round trip
        through Arrow and a second staging copy (the ingest benchmark's hot path). The stored versions
        come from ``_cdr_stored`` (:func:`_cdr_sql.stored_sql`, the batch's one read of stored versions):
        no stored version, insert; an older one, delete it and insert; else unchanged.
        """
        n = self.n
        t = model.table("sessions")
        if self.prep is not None:  # the prepared statement takes them from the batch's ctx row
            src_sql, run_sql, ctx = "_x.source_file", "_x.run_id", f", {n['ctx']} _x"
        else:
            src_sql, ctx = sql_literal(self.src), ""
            run_sql = sql_literal(self.store.run_id) if self.store.run_id is not None else "NULL"
        sel = ", ".join(f"CAST({src_sql} AS {model.SQL_TYPES[c.type]}) AS {c.name}" if c.name == "source_file"
                        else f"CAST({run_sql} AS {model.SQL_TYPES[c.type]}) AS {c.name}" if c.name == "run_id"
                        else f"CAST(c.{c.name} AS {model.SQL_TYPES[c.type]}) AS {c.name}" for c in t.columns)
        # (an empty ``dup`` or ``multi`` - the usual case - drops its part: ``x NOT IN (empty)`` is TRUE and
        # ``x IN (empty)`` FALSE, so the result is the same, and the simpler statement costs a few ms less to
        # run: each part is a join or window of its own)
        ok = "len(c.broken) = 0" + (f" AND c.position NOT IN (SELECT position FROM {n['dup']})" if n_dup else "")
        # ids seen once in the batch go straight in; repeated ids keep their newest version (first on ties)
        if n_multi:
            winners = (f"SELECT c.* FROM {n['checked']} c WHERE {ok} "
                       f"AND c.session_id NOT IN (SELECT session_id FROM {n['multi']}) UNION ALL "
                       f"(SELECT c.* FROM {n['checked']} c WHERE {ok} "
                       f"AND c.session_id IN (SELECT session_id FROM {n['multi']}) "
                       "QUALIFY row_number() OVER (PARTITION BY c.session_id "
                       "ORDER BY c.last_updated_utc DESC NULLS LAST, c.position) = 1)")
        else:
            winners = f"SELECT c.* FROM {n['checked']} c WHERE {ok}"
        newer = ("(w.last_updated_utc > st.s_last_updated_utc OR "
                 "(st.s_last_updated_utc IS NULL AND w.last_updated_utc IS NOT NULL))")
        cols = ", ".join(t.column_names)
        replace_sql = (f"SELECT DISTINCT w.session_id FROM ({winners}) w JOIN {n['stored']} st "
                       f"ON st.session_id = w.session_id WHERE {newer}")
        delete_sql = f"DELETE FROM sessions t USING {n['replace']} r WHERE t.session_id = r.session_id"
        n_upd = 0
        with self.store.transaction():  # joins the run's transaction
            if n_stored:  # a stored version exists for some ids: replace older ones
                if self.prep is not None:
                    n_replace = self._fill("replace", replace_sql)
                    if n_replace:
                        n_upd = self.prep.run(delete_sql).fetchall()[0][0]
                else:
                    self._scratch("_cdr_replace", replace_sql)
                    if self._tables["_cdr_replace"].num_rows:
                        n_upd = self._sql(delete_sql).fetchall()[0][0]
                keep = (f"AND (c.session_id NOT IN (SELECT session_id FROM {n['stored']}) "
                        f"OR c.session_id IN (SELECT session_id FROM {n['replace']}))")
            else:
                keep = ""
            insert_sql = f"INSERT INTO sessions ({cols}) SELECT {sel} FROM ({winners}) c{ctx} WHERE TRUE {keep}"
            n_ins = (self.prep.run(insert_sql) if self.prep is not None
                     else self._sql(insert_sql)).fetchall()[0][0]
        self._unscratch("_cdr_replace")
        return UpsertResult(inserted=int(n_ins - n_upd), updated=int(n_upd), unchanged=int(n_accepted - n_ins))

    def _scratch(self, name: str, sql: str) -> None:
        """Materialise ``sql`` as an Arrow table bound as ``name`` for the rest of the batch.

        A small batch (a few pushed CDRs, :data:`SMALL_BATCH` records at most) is fetched from the executed
        statement: the relation path (``con.sql(...).to_arrow_table()``) binds the statement twice, and for a
        handful of rows planning is all the cost; a big batch takes the relation path, which copies no rows."""
        if self._n_in <= SMALL_BATCH:
            complete(self.con)
            ns: dict = {"_con": self.con, "_sql": sql, **self._tables}
            with warnings.catch_warnings():  # "makes an extra copy of the rows": of a few rows, on purpose
                warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
                exec("_r = _con.execute(_sql).to_arrow_table()", ns, ns)  # noqa: S102 - names = replacement scans
            self._tables[name] = ns["_r"]
        else:
            self._tables[name] = _chunked(self.store.run_sql(sql, arrow=True, **self._tables))

    def _unscratch(self, name: str) -> None:
        self._tables.pop(name, None)

    def cleanup(self) -> None:
        self._tables.clear()


class _KnownIds:
    """The 64-bit hashes (DuckDB ``hash``) of every session id stored before a file's run or by it, as sorted
    numpy chunks: whether a batch holds a stored id is then a binary search of its ids' hashes, not a scan of
    ``sessions`` per batch (which grows with the store: 26 scans of up to 1 M ids for a 1 M-CDR file into a new
    store, of 10 M ids each into a store of 10 M sessions).

    Sound only while nothing but this run writes ``sessions``: so it is used on a DuckDB store (one writing
    process, the run in one transaction), and made inside the run's transaction. A hash shared by two ids only
    makes the exact lookup run (a false hit); an id is never missed: the chunks hold every stored id's hash,
    and each batch's ids are added before its upsert."""

    def __init__(self, store: Store) -> None:
        h = store.con.sql("SELECT hash(session_id) AS h FROM sessions").fetchnumpy()["h"]
        self.chunks: list[np.ndarray] = [np.sort(np.asarray(h, dtype=np.uint64))] if len(h) else []

    def any_of(self, ids: np.ndarray) -> bool:
        q = np.asarray(ids, dtype=np.uint64)
        for c in self.chunks:
            i = np.searchsorted(c, q)
            if (c[np.minimum(i, len(c) - 1)] == q).any():
                return True
        return False

    def add(self, ids: np.ndarray) -> None:
        if not len(ids):
            return
        self.chunks.append(np.sort(np.asarray(ids, dtype=np.uint64)))
        # merge while a chunk is not much bigger than the next: O(log n) chunks to search, each hash
        # sorted O(log n) times over a run
        while len(self.chunks) > 1 and len(self.chunks[-2]) <= 2 * len(self.chunks[-1]):
            b = self.chunks.pop()
            self.chunks[-1] = np.sort(np.concatenate([self.chunks[-1], b]))


def _raw_of(records: pa.Table, positions: pd.Series) -> pd.Series:
    """The raw text of the records at ``positions`` (``records``: the batch's ``position, raw`` table), without
    trailing whitespace and cut to 20,000 characters, as stored in the quarantine. Taken by position with
    Arrow: a join in SQL would hash the batch's whole raw text (48 MB) for the few quarantined records.

    Each string is read from its own chunk: ``pc.take`` over the chunked column would first concatenate the
    batch's whole raw text (a 48 MB copy per batch, for a few hundred records)."""
    raw = records.column("raw")
    idx = pc.index_in(pa.array(positions.to_numpy(), pa.int64()), records.column("position")).to_numpy(
        zero_copy_only=False)
    starts = np.cumsum([0] + [len(c) for c in raw.chunks])
    chunk = np.searchsorted(starts, idx, side="right") - 1
    texts = [raw.chunk(c)[i - starts[c]].as_py().rstrip(_WS_CHARS)[:20_000]
             for c, i in zip(chunk.tolist(), idx.tolist())]
    return pd.Series(texts, index=positions.index, dtype="str")


def _multi(checked: pa.Table) -> pa.Table:
    """``session_id`` of the ids occurring more than once among the otherwise valid records (usually none);
    what :func:`_cdr_sql.multi_sql` selects."""
    ok = pc.equal(pc.list_value_length(checked.column("broken")), 0)  # (filtering the id column alone: the
    # table's filter would copy every column of the batch)
    counts = pc.value_counts(checked.column("session_id").filter(ok))
    ids = counts.field("values").filter(pc.greater(counts.field("counts"), 1)).drop_null()  # (none: ids are
    # mandatory; a NULL would make every ``NOT IN`` over this list NULL)
    return pa.table({"session_id": ids.cast(pa.string())})


#: quarantine rows collected before they are written
QUARANTINE_FLUSH_ROWS = 50_000
_EMPTY_DUP = pa.table({"position": pa.array([], pa.int64()), "msg": pa.array([], pa.string())})

#: rows per Arrow record batch handed to DuckDB: it scans one record batch per thread, so a batch of one
#: chunk would be validated on one core
CHUNK_ROWS = 4096


def _chunked(table: pa.Table) -> pa.Table:
    """``table`` as record batches of at most :data:`CHUNK_ROWS` rows (zero-copy slices)."""
    if table.num_rows <= CHUNK_ROWS:
        return table
    return pa.Table.from_batches(table.to_batches(max_chunksize=CHUNK_ROWS), schema=table.schema)


__all__ = ["ingest_cdrs", "ingest_cdr_records", "prepare_cdr_batches", "detect_format"]
