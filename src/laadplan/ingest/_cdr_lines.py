"""Batches of raw text lines as Arrow tables ``(position, raw, error)``, without a Python object per line.

A block of bytes is split at its newline bytes with numpy and wrapped as an Arrow ``large_string`` array
over the same buffer (zero copy): each string keeps its trailing newline, which JSON parsing ignores and
the quarantine strips. Positions are 1-based line numbers of the file; blank lines are dropped (they are
no records) but still counted in the numbering. Invalid UTF-8 is replaced (U+FFFD) so that such a line
reaches validation (and the quarantine) instead of stopping the run.
"""

from __future__ import annotations

import contextvars
import os
import queue
import threading
from typing import IO, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laadplan.ingest._io import open_binary

#: bytes read per block; blocks are split into lines and regrouped into batches of ``max_rows`` lines, so this
#: only bounds the raw text held beyond the current batch
BLOCK_BYTES = 16 << 20
#: defaults of validation.max_record_bytes and of the rows per validation batch
MAX_RECORD_BYTES = 64 << 20
MAX_ROWS = 100_000
#: raw text per validation batch (before the row limit is reached); about 36,000 OCPI 2.2.1 CDRs (with sources.ingest_memory_mb, the peak of a 1 M-CDR ingest stays under 1 GB)
BATCH_BYTES = 48 << 20
RAW_KEEP = 20_000
_BOM = b"\xef\xbb\xbf"


def _newlines(block: bytes, end: int) -> Iterator[int]:
    """Offsets of the newline bytes before ``end`` (memchr via bytes.find: faster than a numpy scan)."""
    find = block.find
    i = find(b"\n", 0, end)
    while i >= 0:
        yield i
        i = find(b"\n", i + 1, end)


def _table(buf: bytes, first_line: int, end: int | None = None, max_record_bytes: int = MAX_RECORD_BYTES
           ) -> tuple[pa.Table, int]:
    """Split ``buf[:end]`` (ending with a newline) into lines without copying them.

    Returns the table and the number of lines (blank ones included).
    """
    end = len(buf) if end is None else end
    block = memoryview(buf)[:end]
    nl = np.fromiter(_newlines(buf, end), dtype=np.int64)
    offsets = np.empty(len(nl) + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = nl + 1
    raw = pa.LargeStringArray.from_buffers(len(nl), pa.py_buffer(offsets), pa.py_buffer(block))
    try:
        raw.validate(full=True)
    except pa.ArrowInvalid:  # invalid UTF-8 somewhere in the block: replace it, keep the line structure
        return _table(bytes(block).decode("utf-8", errors="replace").encode("utf-8"), first_line,
                      max_record_bytes=max_record_bytes)
    lengths = np.diff(offsets)
    starts = offsets[:-1]
    # a line is blank when it is "\n" or "\r\n"; other whitespace-only lines are dropped in SQL
    blank = lengths == 1
    short = np.flatnonzero(lengths == 2)
    if len(short):
        blank[short] = [buf[i] == 13 for i in starts[short]]
    positions = np.arange(first_line, first_line + len(nl), dtype=np.int64)
    if blank.any():  # filtering copies the strings: only when there is something to drop
        keep = ~blank
        positions, raw = positions[keep], raw.filter(pa.array(keep))
    error = pa.nulls(len(positions), pa.large_string())
    if len(lengths) and lengths.max() > max_record_bytes:  # rare: cut over-long lines, name the guard
        too = lengths > max_record_bytes
        if blank.any():
            too = too[~blank]
        too_a = pa.array(too)
        raw = pc.if_else(too_a, pc.utf8_slice_codeunits(raw, 0, RAW_KEEP), raw)
        error = pc.if_else(too_a, pa.scalar(f"line longer than validation.max_record_bytes = {max_record_bytes:,}",
                                            pa.large_string()), error)
    return pa.table({"position": pa.array(positions), "raw": raw, "error": error}), len(nl)


def _sliced(table: pa.Table, max_rows: int) -> Iterator[pa.Table]:
    """``table`` in zero-copy slices of at most ``max_rows`` rows (many tiny lines must not make one huge
    batch: validation memory grows with the rows of a batch, not its bytes)."""
    for off in range(0, table.num_rows, max_rows):
        yield table.slice(off, max_rows)


def _too_long(line: int, head: bytes, max_bytes: int) -> pa.Table:
    text = head[:RAW_KEEP].decode("utf-8", errors="replace")
    return pa.table({"position": pa.array([line], pa.int64()), "raw": pa.array([text], pa.large_string()),
                     "error": pa.array([f"line longer than validation.max_record_bytes = {max_bytes:,}"],
                                       pa.large_string())})


def iter_line_batches(src: str | os.PathLike, block_bytes: int = BLOCK_BYTES, *,
                      max_record_bytes: int = MAX_RECORD_BYTES, max_rows: int = MAX_ROWS) -> Iterator[pa.Table]:
    """Yield ``(position, raw, error)`` tables of about ``block_bytes`` (at most ``max_rows`` lines) each from
    a path or URL (gzip or not). ``error`` is NULL except for a line longer than ``max_record_bytes``, which
    comes as one row with its first :data:`RAW_KEEP` bytes and is never held whole."""
    with open_binary(src) as stream:
        yield from _regrouped(_iter_stream(stream, block_bytes, max_record_bytes), max_rows)


def _regrouped(tables: Iterator[pa.Table], max_rows: int, max_bytes: int = BATCH_BYTES) -> Iterator[pa.Table]:
    """The rows of ``tables`` regrouped, zero copy, into batches of ``max_rows`` rows, or fewer once they hold
    ``max_bytes`` of raw text (and the rest at the end).

    Each batch costs a fixed planning time in DuckDB (the validation SQL is large), so batches are filled
    up to these limits whatever the block size; the row limit keeps memory flat for many tiny records, the
    byte limit for large ones (the raw text of a batch and of the next one, read ahead, are in memory)."""
    pending: list[pa.Table] = []
    n = nbytes = 0

    def joined() -> pa.Table:
        return pa.concat_tables(pending) if len(pending) > 1 else pending[0]

    for t in tables:
        pending.append(t)
        n += t.num_rows
        nbytes += t.column("raw").nbytes
        if n >= max_rows:
            whole = joined()
            full = (n // max_rows) * max_rows
            yield from _sliced(whole.slice(0, full), max_rows)
            pending = [whole.slice(full)] if n > full else []
            n -= full
            nbytes = pending[0].column("raw").nbytes if pending else 0
        elif nbytes >= max_bytes:
            yield joined()
            pending, n, nbytes = [], 0, 0
    if n:
        yield joined()


def _iter_stream(stream: IO[bytes], block_bytes: int, max_record_bytes: int = MAX_RECORD_BYTES
                 ) -> Iterator[pa.Table]:
    line = 1
    rest = b""
    bom_checked = False
    skipping: bytes | None = None  # head of an over-long line whose end is still to be found
    while True:
        chunk = stream.read(block_bytes)
        if not chunk:
            break
        if skipping is not None:
            nl = chunk.find(b"\n")
            if nl < 0:
                continue
            yield _too_long(line, skipping, max_record_bytes)
            line += 1
            skipping = None
            chunk = chunk[nl + 1:]
            if not chunk:
                continue
        buf = rest + chunk if rest else chunk
        if not bom_checked:
            if len(buf) < len(_BOM):
                rest = buf
                continue
            bom_checked = True
            if buf.startswith(_BOM):
                buf = buf[len(_BOM):]
        cut = buf.rfind(b"\n")
        if cut < 0:  # a line longer than the block: keep reading, up to the limit
            if len(buf) > max_record_bytes:
                skipping, rest = buf[:RAW_KEEP], b""
            else:
                rest = buf
            continue
        rest = buf[cut + 1:]
        table, n = _table(buf, line, cut + 1, max_record_bytes)
        line += n
        if table.num_rows:
            yield table
    if skipping is not None:
        yield _too_long(line, skipping, max_record_bytes)
        return
    if rest:
        if not bom_checked and rest.startswith(_BOM):
            rest = rest[len(_BOM):]
        table, _ = _table(rest + b"\n", line, max_record_bytes=max_record_bytes)
        if table.num_rows:
            yield table


def prefetched(batches: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """``batches``, each produced in a background thread while the consumer works on the previous one.

    Reading, gunzipping, hashing and splitting the next batch (Python, with the GIL released in the read,
    zlib and SHA-256) then overlaps with the validation of the current one in DuckDB (which releases the
    GIL too). At most one batch is made ahead (memory: two batches of raw text). The producer runs in a
    copy of the caller's context (source limits, digest tracking). An exception of the producer is raised
    in the consumer, at the batch where it happened; when the consumer stops early (an error of its own,
    or it is closed), the producer is told to stop and joined.
    """
    q: queue.Queue = queue.Queue()
    slot = threading.Semaphore(1)  # taken by the producer for each batch it makes; given back when consumed
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            while True:
                while not slot.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                b = next(batches, done)
                q.put((b, None))
                if b is done:
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
            q.put((None, e))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    ctx = contextvars.copy_context()
    worker = threading.Thread(target=ctx.run, args=(produce,), name="laadplan-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, err = q.get()
            slot.release()
            if err is not None:
                raise err
            if item is done:
                return
            box = [item]
            item = None
            yield box.pop()  # this frame keeps no reference: the consumer decides when the batch is freed
    finally:
        stop.set()
        slot.release()
        worker.join()
