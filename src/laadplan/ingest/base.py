"""What every reader shares: counting, quarantining and logging one ingest of one source.

A reader streams records, validates each against named rules (:mod:`laadplan.ingest.rules`), sends
accepted rows to the store in batches and rejected records to the quarantine with their rule code,
source, position and raw text. ``accepted + quarantined == read`` always holds; an unreadable source
raises :class:`SourceError` with the file name, and a bad record never stops a run.

**One run per source, atomic** (:func:`run_reader`, used by :func:`laadplan.ingest.reader` and so by the
CLI and the demo): the reader runs inside one store transaction; its records, quarantine rows and its
``ingest_runs`` row commit together, or - on any error, a refused file or a killed process - not at all.
Analyses therefore see a file entirely or not at all; no "running" run rows exist.

**Sources are named by what they are**: the resolved path (or the URL) and the SHA-256 of the decompressed
content. Quarantine rows carry their run; when a run finishes, the quarantine rows of earlier runs of the
same kind and the same content are dropped, so one file read under four spellings (or twice) keeps each bad
record once - the newest run's verdict.

**Wrong file type**: when not one record of a non-empty source could be parsed, nothing in it looks like
the kind: the file is refused with one error and nothing is stored (see :func:`refuse_wrong_kind`).
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import re
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import pandas as pd

from laadplan.ingest import _io
from laadplan.ingest import rules as R
from laadplan.ingest._io import SourceError  # noqa: F401  (re-exported for readers)
from laadplan.store import Store, StoreError, UpsertResult, explain

log = logging.getLogger(__name__)


#: progress callback: (records_read_so_far, bytes_read_or_None) -> None
Progress = Callable[[int], None]


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class IngestResult:
    kind: str
    source_file: str
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    by_rule: Counter = field(default_factory=Counter)
    upserts: dict[str, UpsertResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    run_id: str | None = None
    #: SHA-256 of the content when the source is not a file (a record pushed over OCPI); else read from the file
    digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source_file": self.source_file,
            "run_id": self.run_id,
            "read": self.read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "quarantined_by_rule": dict(sorted(self.by_rule.items())),
            "tables": {k: vars(v) for k, v in self.upserts.items()},
            "notes": self.notes,
        }


class Quarantine:
    """Collects rejected records of one source and writes them to the store in batches."""

    def __init__(self, store: Store, kind: str, source_file: str, result: IngestResult, batch: int = 10_000):
        self.store, self.kind, self.result, self.batch = store, kind, result, batch
        self.source_file = _io.source_name(source_file)
        self._rows: list[dict[str, Any]] = []
        if store.run_id is None or getattr(store, "_implicit_run", False):
            # a reader called directly (not through run_reader): still tag its rows with one run id
            store.run_id = uuid.uuid4().hex
            store._implicit_run = True  # type: ignore[attr-defined]

    def add(self, rule_code: str, position: int, raw: Any, message: str, *, record_id: str | None = None,
            party_id: str | None = None, operator: str | None = None) -> None:
        R.get(rule_code)  # unknown codes are a programming error
        if not isinstance(raw, str):
            try:
                raw = json.dumps(raw, ensure_ascii=False, default=str)
            except (TypeError, ValueError):
                raw = repr(raw)
        self._rows.append({
            "kind": self.kind, "rule_code": rule_code, "source_file": self.source_file, "position": position,
            "record_id": record_id, "party_id": party_id, "operator": operator, "message": message,
            "raw": raw[:20_000], "ingested_utc": utcnow(),
        })
        self.result.quarantined += 1
        self.result.by_rule[rule_code] += 1
        if len(self._rows) >= self.batch:
            self.flush()

    def add_frame(self, df: pd.DataFrame) -> None:
        """Bulk add: ``df`` has rule_code, position, raw, message and optionally record_id, party_id, operator."""
        if df.empty:
            return
        unknown = set(df["rule_code"]) - set(R.RULES)
        if unknown:
            raise KeyError(f"unknown validation rules {sorted(unknown)}")
        q = df.copy()
        q["kind"] = self.kind
        q["source_file"] = self.source_file
        q["ingested_utc"] = utcnow()
        self.store.upsert("quarantine", q)
        self.result.quarantined += len(df)
        self.result.by_rule.update(df["rule_code"].value_counts().to_dict())

    def flush(self) -> None:
        if self._rows:
            self.store.upsert("quarantine", pd.DataFrame(self._rows))
            self._rows = []


def log_run(store: Store, result: IngestResult, started: datetime) -> None:
    """Record one finished ingest. Every reader ends here, so the invariant of all of them is checked here:
    each record read was either accepted or quarantined (none lost, none counted twice).

    Also: refuses a file of the wrong kind (:func:`refuse_wrong_kind`), names the source by its content hash
    and keeps each bad record of one content once (older runs' quarantine rows of the same content go)."""
    if result.accepted + result.quarantined != result.read:
        raise AssertionError(f"{result.kind} {result.source_file}: accepted {result.accepted} + quarantined "
                             f"{result.quarantined} != read {result.read}")
    implicit = bool(getattr(store, "_implicit_run", False))
    run_id = store.run_id or uuid.uuid4().hex
    name = _io.source_name(result.source_file)
    try:
        refuse_wrong_kind(result)
    except SourceError:
        if implicit:  # no surrounding transaction: take this run's quarantine rows out by hand
            store.con.execute("DELETE FROM quarantine WHERE run_id = ?", [run_id]).fetchall()
            store.run_id, store._implicit_run = None, False  # type: ignore[attr-defined]
        raise
    try:
        digest: str | None = result.digest or (None if _io.is_pushed(name) else _io.content_digest(name))
    except SourceError as e:  # the source went away after it was read: keep the run, without a hash
        log.warning("%s", e)
        digest = None
    ups = result.upserts.values()
    with store.transaction():
        # (not for pushes: a pushed run's id is derived from its party and content, so a push of the same content
        # is this very run, which the lookup leaves out; it could only find a file of byte for byte the same
        # content. The lookup reads all of ingest_runs, which grows by a row per pushed group: 6 ms per push
        # at 250,000 runs. The CDR receiver drops an earlier push's rows of the same bad record itself.)
        if digest and not _io.is_pushed(name):
            store.con.execute(
                "DELETE FROM quarantine WHERE kind = ? AND run_id <> ? AND (run_id IN (SELECT run_id FROM "
                "ingest_runs WHERE kind = ? AND source_sha256 = ?) OR (run_id = '' AND source_file = ?))",
                [result.kind, run_id, result.kind, digest, name]).fetchall()
        store.put_rows("ingest_runs", [{  # (one statement; on PostgreSQL through the key's index)
            "run_id": run_id, "kind": result.kind, "source_file": name, "source_sha256": digest,
            "started_utc": started, "finished_utc": utcnow(), "records_read": result.read,
            "records_accepted": result.accepted, "records_quarantined": result.quarantined,
            "rows_inserted": sum(u.inserted for u in ups), "rows_updated": sum(u.updated for u in ups),
        }])
    result.run_id = run_id
    if implicit:
        store.run_id, store._implicit_run = None, False  # type: ignore[attr-defined]


def refuse_wrong_kind(result: IngestResult) -> None:
    """Raise :class:`SourceError` when nothing in a non-empty source looks like ``result.kind``: not one
    record could even be parsed in the kind's format (every record LP-MALFORMED, e.g. a CSV given to
    ``ingest tariffs``). Readers of columnar files check their identifying columns themselves (a CSV
    without any of them is refused there); a file whose records parse but break rules is quarantined."""
    if result.read == 0 or result.accepted or set(result.by_rule) != {"LP-MALFORMED"}:
        return
    raise SourceError(f"{result.source_file}: does not look like a {result.kind} file: none of its "
                      f"{result.read:,} records could be parsed (LP-MALFORMED); nothing was stored - check the "
                      f"file and the kind (`laadplan ingest --help`)")


def source_limits(cfg: Any) -> _io.SourceLimits:
    """The source guards of the config section ``[sources]`` (defaults when the config has none)."""
    sec = getattr(cfg, "sources", None)
    if sec is None:
        return _io.SourceLimits()
    return _io.SourceLimits(**{k: getattr(sec, k) for k in _io.SourceLimits.__dataclass_fields__ if hasattr(sec, k)})


@contextlib.contextmanager
def _memory_limit(store: Store, mb: int | None) -> Iterator[None]:
    """DuckDB's memory limit set to ``mb`` MB for one run (None or 0: DuckDB's default), and reset after it."""
    if not mb:
        yield
        return
    before = store.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    store.con.execute(f"SET memory_limit = '{int(mb)}MB'")
    try:
        yield
    finally:  # set back (not RESET: DuckDB 1.5.5 then shows the default but keeps enforcing the cap)
        store.con.execute(f"SET memory_limit = '{_unrounded(before)}'")


_UNITS = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50,
          "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def _unrounded(shown: str) -> str:
    """A memory limit as DuckDB shows it (``18.8 GiB``, rounded to one decimal) as a value to SET that shows
    the same again: the middle of the rounding interval, so restoring it never creeps downwards."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]+)\s*", shown)
    if not m or m.group(2) not in _UNITS:
        return shown
    number, unit = m.group(1), m.group(2)
    decimals = len(number.split(".")[1]) if "." in number else 0
    value = (float(number) + (0.5 * 10**-decimals if decimals else 0)) * _UNITS[unit]
    return f"{int(value) // 1024}KiB"


#: bytes of DuckDB memory allowed per stored row and index on top of ``sources.ingest_memory_mb``: a DuckDB
#: file holds its tables' ART indexes in memory, and they count against the limit (1 M sessions with the three
#: indexes they had before migration 0006 took ~100 MB, i.e. ~35 bytes per row and index; this leaves room)
INDEX_BYTES_PER_ROW = 128


def _memory_cap(store: Store, cfg: Any) -> int | None:
    """DuckDB's memory limit for an ingest run in MB: ``[sources] ingest_memory_mb`` (0: none) plus room for
    the store's indexes (:data:`INDEX_BYTES_PER_ROW`). DuckDB's default limit (80 % of RAM) lets a big file's
    parse and validation keep gigabytes that its allocator does not give back during the run; with a cap it
    evicts and reuses them (a 1 M-CDR file into a new store then peaks under 1 GB). Should the cap still be
    too small, :func:`run_reader` runs the file again without it."""
    mb = getattr(getattr(cfg, "sources", None), "ingest_memory_mb", None)
    if not mb:
        return None
    rows = store.con.execute("SELECT coalesce(sum(estimated_size * index_count), 0) FROM duckdb_tables() "
                             "WHERE index_count > 0 AND NOT temporary").fetchone()[0]
    return int(mb + int(rows) * INDEX_BYTES_PER_ROW // (1 << 20))


def run_reader(fn: Callable[..., IngestResult], store: Store, source: Any, cfg: Any, *,
               progress: Progress | None = None) -> IngestResult:
    """Run one reader on one source as one atomic ingest run (see the module docstring).

    The source is passed to the reader under its canonical name (resolved path or URL). Errors: the
    reader's :class:`SourceError` (bad or refused file), :class:`StoreError` (the store failed, e.g. a full
    disk); either way nothing of the source is left in the store."""
    import duckdb

    name = _io.source_name(source)
    if store.in_transaction:
        raise RuntimeError("run_reader inside an open transaction: a run must commit on its own")
    previous = store.run_id
    store.run_id = uuid.uuid4().hex
    store._implicit_run = False  # type: ignore[attr-defined]
    cap = _memory_cap(store, cfg)

    def attempt(limit_mb: int | None) -> IngestResult:
        with _io.limits(source_limits(cfg)), _io.tracking(), _memory_limit(store, limit_mb), store.transaction():
            return fn(store, name, cfg, progress=progress)

    try:
        try:
            return attempt(cap)
        except duckdb.OutOfMemoryException:
            if not cap:
                raise
        # The cap was too small for this store: the run was rolled back whole; run it again under DuckDB's
        # default limit, and say so.
        log.warning("%s: the ingest needed more than its memory cap of %d MB (sources.ingest_memory_mb plus room "
                    "for the store's indexes); running it again without that cap", name, cap)
        result = attempt(None)
        result.notes.append(f"ran without the sources.ingest_memory_mb cap ({cap} MB with room for the store's "
                            "indexes): the first attempt ran out of memory under it and was rolled back; raise the "
                            "setting for this store")
        return result
    except duckdb.Error as e:
        raise StoreError(f"{name}: nothing of this file was stored: {explain(e, store.path)}") from None
    except (csv.Error, UnicodeError, EOFError, zlib.error) as e:  # a reader met bytes it cannot read at all
        raise SourceError(f"{name}: cannot be read as a {getattr(fn, '__name__', 'source').replace('ingest_', '')} "
                          f"file ({type(e).__name__}: {e}); nothing of this file was stored - is it the right "
                          f"file and kind?") from None
    except OSError as e:  # the disk under a temp copy, a vanished file: the file's problem, named
        raise SourceError(f"{name}: read failed ({e.strerror or e}); nothing of this file was stored") from None
    except MemoryError:
        raise StoreError(f"{name}: out of memory; nothing of this file was stored - split the file or use a "
                         f"machine with more memory") from None
    finally:
        store.run_id = previous


@dataclass
class UndoResult:
    run_id: str
    kind: str
    source_file: str
    rows_deleted: dict[str, int] = field(default_factory=dict)
    quarantine_deleted: int = 0


def undo_run(store: Store, run_id: str) -> UndoResult:
    """Take one ingest run out again: the rows it wrote, its quarantine rows and its run row, in one transaction.

    Refused (:class:`ValueError`) when the run replaced existing rows (``rows_updated > 0``): the older
    versions are gone, so undoing it cannot restore them - re-ingest the older file instead. Rows this run
    wrote that a later run of the same data found unchanged still belong to this run and go with it (that
    later run's row stays; re-ingest its file to bring them back)."""
    from laadplan import model

    row = store.query("SELECT run_id, kind, source_file, rows_updated FROM ingest_runs WHERE run_id = ? "
                      "OR run_id LIKE ? || '%'", [run_id, run_id])
    if row.empty:
        raise ValueError(f"no ingest run {run_id!r}; `laadplan quality` lists the runs")
    if len(row) > 1:
        raise ValueError(f"run id {run_id!r} is ambiguous ({len(row)} runs start with it); give more of it")
    r = row.iloc[0]
    if int(r["rows_updated"] or 0) > 0:
        raise ValueError(f"run {r['run_id']} ({r['kind']} {r['source_file']}) replaced {int(r['rows_updated']):,} "
                         f"older rows, which the store no longer holds: undo cannot restore them; re-ingest the "
                         f"older file instead")
    out = UndoResult(str(r["run_id"]), str(r["kind"]), str(r["source_file"]))
    with store.transaction():
        for t in model.all_tables():
            if t.name in ("quarantine", "ingest_runs") or "run_id" not in t.column_names:
                continue
            if not store.has_table(t.name):
                continue
            n = store.con.execute(f'DELETE FROM "{t.name}" WHERE run_id = ?', [out.run_id]).fetchone()
            if n and n[0]:
                out.rows_deleted[t.name] = int(n[0])
        n = store.con.execute("DELETE FROM quarantine WHERE run_id = ?", [out.run_id]).fetchone()
        out.quarantine_deleted = int(n[0]) if n else 0
        store.con.execute("DELETE FROM ingest_runs WHERE run_id = ?", [out.run_id]).fetchall()
    return out
