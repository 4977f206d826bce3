r"""Charging sessions: OCPI CDRs 2.1.1 / 2.2.1 and ElaadNL-layout session CSVs -> table ``sessions``.

``laadplan ingest cdrs SOURCE...`` reads a path or http(s) URL, gzip or not. The format is detected from
the content, not the name: a first line that is a CSV header with start and end columns is a session CSV
(:mod:`._cdr_csv`); otherwise JSON, as NDJSON (one CDR per line), a JSON array, an OCPI envelope
``{"data": [...]}`` or one object.

**Pipeline (streaming, memory flat).** NDJSON is cut into blocks of raw lines (:mod:`._cdr_lines`, no
Python object per line) and regrouped into batches of up to 100,000 lines or 64 MB, which a background
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
is validated in batches of at most 100,000 lines (or 64 MB) whatever their size, so memory stays flat for
many tiny records. Non-finite numbers (NaN, Infinity, 1e400) are LP-TYPE.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Iterator

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
from laadplan.store import Store, UpsertResult, complete

log = logging.getLogger(__name__)

JSON_BATCH = 20_000
#: batches up to this many records materialise their scratch results from the executed statement (see _scratch)
SMALL_BATCH = 2_000
#: trailing whitespace cut from a quarantined record's raw text (the NDJSON line's newline among it)
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
                       digest: str | None = None) -> IngestResult:
    """CDRs that did not come from a file (the OCPI receiver's pushes): ``(position, JSON text)`` pairs go
    through the same SQL validation, storage and quarantine as a file's records (:class:`_Batch`), as one
    ingest run named ``name`` (e.g. ``ocpi-push:NL*EQU``; ``digest`` names its content)."""
    started = utcnow()
    result = IngestResult(kind="cdrs", source_file=name, digest=digest)
    result.upserts["sessions"] = UpsertResult()
    quarantine = Quarantine(store, "cdrs", name, result)
    batch = _Batch(store, cfg, name, result, quarantine, now_utc=started)
    table = pa.table({"position": pa.array([p for p, _ in records], pa.int64()),
                      "raw": pa.array([r for _, r in records], pa.large_string()),
                      "error": pa.nulls(len(records), pa.large_string())})
    try:
        batch.run_json([table])
        batch.flush()  # the quarantine rows are in the store before the run row and the receiver's answer
    finally:
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


class _Batch:
    """Runs the SQL stages for one batch on the store's connection and books the outcome."""

    def __init__(self, store: Store, cfg: RegionConfig, src: str, result: IngestResult, quarantine: Quarantine,
                 now_utc):
        self.store, self.cfg, self.src, self.result, self.q = store, cfg, src, result, quarantine
        self.con = store.con
        self._tables: dict[str, pa.Table] = {}
        self._n_in = 0  # records of the batch being validated
        self._rejected: list[pd.DataFrame] = []  # quarantine rows not yet written (see flush)
        self._rejected_records = self._rejected_rows = 0
        complete(self.con)
        for stmt in _cdr_sql.MACROS.split(";"):
            if stmt.strip():
                self.con.execute(stmt)
        norm = _cdr_sql.norm_select(_cdr_sql.norm_sql("_cdr_in", cfg.validation.linda_profile))
        self.checked_json_sql = _cdr_sql.checked_sql(f"({norm})", cfg, now_utc)  # parse + check in one pass
        self.checked_sql = _cdr_sql.checked_sql("_cdr_norm", cfg, now_utc)
        self.stored_sql = _cdr_sql.stored_sql("_cdr_checked")
        self.hit_sql = _cdr_sql.hit_sql("_cdr_checked")
        self._empty_stored: pa.Table | None = None  # the schema of _cdr_stored, for batches with no stored id
        self.dup_sql = _cdr_sql.duplicate_sql("_cdr_checked", "_cdr_multi", "_cdr_stored")

    def run_json(self, box: list[pa.Table]) -> None:
        """Validate and store the ``(position, raw, error)`` table in ``box`` (taken out of it, so that its raw
        text is freed once the quarantine rows are taken)."""
        self._tables["_cdr_in"] = _chunked(box.pop())  # zero copy; bound by name to each statement of the batch
        self._n_in = self._tables["_cdr_in"].num_rows  # (kept: the raw text is dropped before the upsert)
        try:
            self._validate_and_store(self.checked_json_sql)
        finally:
            self.cleanup()

    def run_normalised(self, norm: pa.Table, raw: pa.Table) -> None:
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

    def _validate_and_store(self, checked_sql: str) -> None:
        # Scratch relations are Arrow tables bound by name to each statement, not TEMP tables: the whole run
        # is one transaction, and a database keeps every replaced table version until the commit (2.5 GB at
        # 1 M). Only _cdr_checked has a row per record; the others are small (usually empty). Each statement
        # costs a fixed planning time, so the ones that would find nothing are not run.
        self._scratch("_cdr_checked", checked_sql)
        checked = self._tables["_cdr_checked"]
        n_read = checked.num_rows
        n_broken = int(pc.sum(pc.greater(pc.list_value_length(checked.column("broken")), 0)).as_py() or 0)
        self._tables["_cdr_multi"] = _multi(checked)  # (Arrow: a DuckDB statement costs its planning time)
        self._stored()
        if self._tables["_cdr_multi"].num_rows or self._tables["_cdr_stored"].num_rows:
            self._scratch("_cdr_dup", self.dup_sql)
        else:  # no id twice in the batch, none stored: no duplicate
            self._tables["_cdr_dup"] = _EMPTY_DUP
        n_bad = n_broken + self._tables["_cdr_dup"].num_rows
        if n_bad:
            rejected = self._sql(
                """SELECT b.code AS rule_code, v.position, b.msg AS message, c.session_id AS record_id, c.party_id
                   FROM (SELECT position, unnest(broken) AS b FROM _cdr_checked WHERE len(broken) > 0
                         UNION ALL
                         SELECT position, {'code': 'LP-DUPLICATE', 'msg': msg} AS b FROM _cdr_dup) v
                   JOIN _cdr_checked c USING (position)
                   ORDER BY v.position""").df()
            rejected.insert(2, "raw", _raw_of(self._tables["_cdr_in"], rejected["position"]))
            self._rejected.append(rejected)
            self._rejected_records += n_bad
            self._rejected_rows += len(rejected)
            if self._rejected_rows >= QUARANTINE_FLUSH_ROWS:
                self.flush()
        self._tables.pop("_cdr_in", None)  # the raw text is no longer needed
        if n_read > n_bad:
            self.result.upserts["sessions"] += self._upsert_sessions(int(n_read - n_bad))
        self.result.read += int(n_read)
        self.result.accepted += int(n_read - n_bad)

    def _stored(self) -> None:
        """Bind ``_cdr_stored`` (:func:`_cdr_sql.stored_sql`): the stored sessions sharing an id with the batch.

        A big batch first looks for its ids in the ``session_id`` column alone (:func:`_cdr_sql.hit_sql`): a
        new file's ids are usually all new, and then the full lookup, which reads every content column of
        ``sessions`` to compare, is not run (it cost 0.1-0.2 s per batch on 1 M stored sessions). A small
        batch (a push) runs the full lookup at once: one statement costs less than two there."""
        if self._n_in > SMALL_BATCH:
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

    def _upsert_sessions(self, n_accepted: int) -> UpsertResult:
        """Set-based newer-wins upsert of the accepted rows, with the semantics of :meth:`Store.upsert`.

        Within the batch the newest ``last_updated`` of a session_id wins (the first record on ties); a
        stored row is replaced only by a strictly newer version (or any version when it has none).
        Done here on the store's connection, straight from the checked rows, to avoid a round trip
        through Arrow and a second staging copy (the ingest benchmark's hot path). The stored versions
        come from ``_cdr_stored`` (:func:`_cdr_sql.stored_sql`, the batch's one scan of ``sessions``):
        no stored version, insert; an older one, delete it and insert; else unchanged.
        """
        t = model.table("sessions")
        sel = ", ".join(f"CAST(? AS {model.SQL_TYPES[c.type]}) AS {c.name}" if c.name in ("source_file", "run_id")
                        else f"CAST(c.{c.name} AS {model.SQL_TYPES[c.type]}) AS {c.name}" for c in t.columns)
        params = [self.src if c.name == "source_file" else self.store.run_id
                  for c in t.columns if c.name in ("source_file", "run_id")]
        for p in params:
            sel = sel.replace("?", "'" + str(p).replace("'", "''") + "'", 1)
        ok = "len(c.broken) = 0 AND c.position NOT IN (SELECT position FROM _cdr_dup)"
        # ids seen once in the batch go straight in; repeated ids keep their newest version (first on ties)
        winners = (f"SELECT c.* FROM _cdr_checked c WHERE {ok} "
                   "AND c.session_id NOT IN (SELECT session_id FROM _cdr_multi) UNION ALL "
                   f"(SELECT c.* FROM _cdr_checked c WHERE {ok} "
                   "AND c.session_id IN (SELECT session_id FROM _cdr_multi) "
                   "QUALIFY row_number() OVER (PARTITION BY c.session_id "
                   "ORDER BY c.last_updated_utc DESC NULLS LAST, c.position) = 1)")
        newer = ("(w.last_updated_utc > st.s_last_updated_utc OR "
                 "(st.s_last_updated_utc IS NULL AND w.last_updated_utc IS NOT NULL))")
        cols = ", ".join(t.column_names)
        n_upd = 0
        with self.store.transaction():  # joins the run's transaction
            if self._tables["_cdr_stored"].num_rows:  # a stored version exists for some ids: replace older ones
                self._scratch("_cdr_replace",
                              f"SELECT DISTINCT w.session_id FROM ({winners}) w JOIN _cdr_stored st "
                              f"ON st.session_id = w.session_id WHERE {newer}")
                if self._tables["_cdr_replace"].num_rows:
                    n_upd = self._sql("DELETE FROM sessions t USING _cdr_replace r "
                                      "WHERE t.session_id = r.session_id").fetchall()[0][0]
                keep = ("AND (c.session_id NOT IN (SELECT session_id FROM _cdr_stored) "
                        "OR c.session_id IN (SELECT session_id FROM _cdr_replace))")
            else:
                keep = ""
            n_ins = self._sql(f"INSERT INTO sessions ({cols}) SELECT {sel} FROM ({winners}) c "
                              f"WHERE TRUE {keep}").fetchall()[0][0]
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


def _raw_of(records: pa.Table, positions: pd.Series) -> pd.Series:
    """The raw text of the records at ``positions`` (``records``: the batch's ``position, raw`` table), without
    trailing whitespace and cut to 20,000 characters, as stored in the quarantine. Taken by position with
    Arrow: a join in SQL would hash the batch's whole raw text (64 MB) for the few quarantined records."""
    idx = pc.index_in(pa.array(positions.to_numpy(), pa.int64()), records.column("position"))
    raw = pc.utf8_rtrim(pc.take(records.column("raw"), idx), characters=_WS_CHARS)
    return raw.to_pandas().str.slice(0, 20_000)


def _multi(checked: pa.Table) -> pa.Table:
    """``session_id`` of the ids occurring more than once among the otherwise valid records (usually none);
    what :func:`_cdr_sql.multi_sql` selects."""
    ok = checked.filter(pc.equal(pc.list_value_length(checked.column("broken")), 0))
    counts = pc.value_counts(ok.column("session_id"))
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


__all__ = ["ingest_cdrs", "ingest_cdr_records", "detect_format"]
