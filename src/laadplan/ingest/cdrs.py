r"""Charging sessions: OCPI CDRs 2.1.1 / 2.2.1 and ElaadNL-layout session CSVs -> table ``sessions``.

``laadplan ingest cdrs SOURCE...`` reads a path or http(s) URL, gzip or not. The format is detected from
the content, not the name: a first line that is a CSV header with start and end columns is a session CSV
(:mod:`._cdr_csv`); otherwise JSON, as NDJSON (one CDR per line), a JSON array, an OCPI envelope
``{"data": [...]}`` or one object.

**Pipeline (streaming, memory flat).** NDJSON is cut into blocks of raw lines (:mod:`._cdr_lines`, no
Python object per line); arrays and envelopes stream through :func:`iter_json_records` into the same
batches. Each batch ``(position, raw)`` is parsed and validated set-wise in DuckDB SQL
(:mod:`._cdr_sql`) on the store's connection; accepted rows are upserted into ``sessions`` straight from
SQL with :meth:`Store.upsert`'s semantics (newer ``last_updated`` replaces, identical reloads change
nothing), rejected records go to the quarantine.

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
is validated in batches of at most 100,000 lines whatever their size, so memory stays flat for many tiny
records. Non-finite numbers (NaN, Infinity, 1e400) are LP-TYPE.
"""

from __future__ import annotations

import logging
import os
from typing import Iterator

import pyarrow as pa

from laadplan import model
from laadplan.config import RegionConfig
from laadplan.ingest import _cdr_csv, _cdr_sql
from laadplan.ingest._cdr_lines import iter_line_batches
from laadplan.ingest._csvstream import set_field_limit
from laadplan.ingest._io import SourceError, open_binary, open_text, source_name
from laadplan.ingest._records import Limits, detect_container, iter_json_records
from laadplan.ingest.base import IngestResult, Progress, Quarantine, log_run, utcnow
from laadplan.store import Store, UpsertResult, complete

log = logging.getLogger(__name__)

JSON_BATCH = 20_000
_WS = "chr(32) || chr(9) || chr(13) || chr(10)"


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
            for table in iter_line_batches(src, max_record_bytes=limits.max_record_bytes):
                batch.run_json(table)
                _advance(progress, table.num_rows)
        elif fmt in ("array", "document"):
            for table in _json_record_batches(src, limits):
                batch.run_json(table)
                _advance(progress, table.num_rows)
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
        complete(self.con)
        for stmt in _cdr_sql.MACROS.split(";"):
            if stmt.strip():
                self.con.execute(stmt)
        norm = _cdr_sql.norm_select(_cdr_sql.norm_sql("_cdr_in", cfg.validation.linda_profile))
        self.checked_json_sql = _cdr_sql.checked_sql(f"({norm})", cfg, now_utc)  # parse + check in one pass
        self.checked_sql = _cdr_sql.checked_sql("_cdr_norm", cfg, now_utc)
        self.multi_sql = _cdr_sql.multi_sql("_cdr_checked")
        self.dup_sql = _cdr_sql.duplicate_sql("_cdr_checked", "_cdr_multi")

    def run_json(self, table: pa.Table) -> None:
        self._tables["_cdr_in"] = table  # zero copy; bound by name to each statement of the batch
        try:
            self._validate_and_store(self.checked_json_sql)
        finally:
            self.cleanup()

    def run_normalised(self, norm: pa.Table, raw: pa.Table) -> None:
        self._tables["_cdr_norm"] = norm
        self._tables["_cdr_in"] = raw
        try:
            self._validate_and_store(self.checked_sql)
        finally:
            self.cleanup()

    def _sql(self, sql: str, params: list | None = None):
        """Run ``sql`` with this batch's tables bound by name (:meth:`Store.run_sql`: no registered views,
        which a transaction would keep alive until its commit)."""
        return self.store.run_sql(sql, params, **self._tables)

    def _validate_and_store(self, checked_sql: str) -> None:
        con = self.con
        # Scratch relations are Arrow tables registered on the connection, not TEMP tables: the whole run is
        # one transaction, and a database keeps every replaced table version until the commit (2.5 GB at 1 M).
        self._scratch("_cdr_checked", checked_sql)
        self._scratch("_cdr_multi", self.multi_sql)
        self._scratch("_cdr_verdict", self.dup_sql)
        n_read, n_bad = self._sql(
            "SELECT count(*), count(*) FILTER (WHERE len(broken) > 0) FROM _cdr_verdict").fetchall()[0]
        if n_read > n_bad:
            self.result.upserts["sessions"] += self._upsert_sessions(int(n_read - n_bad))
        if n_bad:
            rejected = self._sql(
                f"""SELECT b.code AS rule_code, v.position, rtrim(i.raw, {_WS}) AS raw, b.msg AS message,
                           c.session_id AS record_id, c.party_id
                    FROM (SELECT position, unnest(broken) AS b FROM _cdr_verdict WHERE len(broken) > 0) v
                    JOIN _cdr_checked c USING (position) JOIN _cdr_in i USING (position)
                    ORDER BY v.position""").df()
            rejected["raw"] = rejected["raw"].str.slice(0, 20_000)
            before = self.result.quarantined
            self.q.add_frame(rejected)
            # add_frame counts rows; a record breaking several rules counts once
            self.result.quarantined = before + int(n_bad)
        self.result.read += int(n_read)
        self.result.accepted += int(n_read - n_bad)

    def _upsert_sessions(self, n_accepted: int) -> UpsertResult:
        """Set-based newer-wins upsert of the accepted rows, with the semantics of :meth:`Store.upsert`.

        Within the batch the newest ``last_updated`` of a session_id wins (the first record on ties); a
        stored row is replaced only by a strictly newer version (or any version when it has none).
        Done here on the store's connection, straight from the checked rows, to avoid a round trip
        through Arrow and a second staging copy (the ingest benchmark's hot path).
        """
        con = self.con
        t = model.table("sessions")
        sel = ", ".join(f"CAST(? AS {model.SQL_TYPES[c.type]}) AS {c.name}" if c.name in ("source_file", "run_id")
                        else f"CAST(c.{c.name} AS {model.SQL_TYPES[c.type]}) AS {c.name}" for c in t.columns)
        params = [self.src if c.name == "source_file" else self.store.run_id
                  for c in t.columns if c.name in ("source_file", "run_id")]
        for p in params:
            sel = sel.replace("?", "'" + str(p).replace("'", "''") + "'", 1)
        # ids seen once in the batch go straight in; repeated ids keep their newest version (first on ties)
        self._scratch("_cdr_acc",
            f"SELECT {sel} FROM _cdr_checked c "
            "JOIN _cdr_verdict v USING (position) WHERE len(v.broken) = 0 "
            "AND c.session_id NOT IN (SELECT session_id FROM _cdr_multi) UNION ALL "
            f"(SELECT {sel} FROM _cdr_checked c "
            "JOIN _cdr_verdict v USING (position) WHERE len(v.broken) = 0 "
            "AND c.session_id IN (SELECT session_id FROM _cdr_multi) "
            "QUALIFY row_number() OVER (PARTITION BY c.session_id "
            "ORDER BY c.last_updated_utc DESC NULLS LAST, c.position) = 1)")
        cols = ", ".join(t.column_names)
        newer = ("(s.last_updated_utc > t.last_updated_utc OR "
                 "(t.last_updated_utc IS NULL AND s.last_updated_utc IS NOT NULL))")
        try:
            with self.store.transaction():  # joins the run's transaction
                n_upd = self._sql(f"DELETE FROM sessions t USING _cdr_acc s WHERE t.session_id = s.session_id "
                                  f"AND {newer}").fetchall()[0][0]
                n_ins = self._sql(f"INSERT INTO sessions ({cols}) SELECT {cols} FROM _cdr_acc s WHERE NOT EXISTS "
                                  "(SELECT 1 FROM sessions t WHERE t.session_id = s.session_id)").fetchall()[0][0]
        finally:
            self._unscratch("_cdr_acc")
        return UpsertResult(inserted=int(n_ins - n_upd), updated=int(n_upd), unchanged=int(n_accepted - n_ins))

    def _scratch(self, name: str, sql: str) -> None:
        """Materialise ``sql`` as an Arrow table bound as ``name`` for the rest of the batch."""
        self._tables[name] = self.store.run_sql(sql, arrow=True, **self._tables)

    def _unscratch(self, name: str) -> None:
        self._tables.pop(name, None)

    def cleanup(self) -> None:
        self._tables.clear()


__all__ = ["ingest_cdrs", "detect_format"]
