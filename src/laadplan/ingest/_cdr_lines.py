"""Batches of raw text lines as Arrow tables ``(position, raw)``, without a Python object per line.

A block of bytes is split at its newline bytes with numpy and wrapped as an Arrow ``large_string`` array
over the same buffer (zero copy): each string keeps its trailing newline, which JSON parsing ignores and
the quarantine strips. Positions are 1-based line numbers of the file; blank lines are dropped (they are
no records) but still counted in the numbering. Invalid UTF-8 is replaced (U+FFFD) so that such a line
reaches validation (and the quarantine) instead of stopping the run.
"""

from __future__ import annotations

import os
from typing import IO, Iterator

import numpy as np
import pyarrow as pa

from laadplan.ingest._io import open_binary

BLOCK_BYTES = 64 << 20
_BOM = b"\xef\xbb\xbf"


def _newlines(block: bytes, end: int) -> Iterator[int]:
    """Offsets of the newline bytes before ``end`` (memchr via bytes.find: faster than a numpy scan)."""
    find = block.find
    i = find(b"\n", 0, end)
    while i >= 0:
        yield i
        i = find(b"\n", i + 1, end)


def _table(buf: bytes, first_line: int, end: int | None = None) -> tuple[pa.Table, int]:
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
        return _table(bytes(block).decode("utf-8", errors="replace").encode("utf-8"), first_line)
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
    return pa.table({"position": pa.array(positions), "raw": raw}), len(nl)


def iter_line_batches(src: str | os.PathLike, block_bytes: int = BLOCK_BYTES) -> Iterator[pa.Table]:
    """Yield ``(position, raw)`` tables of about ``block_bytes`` each from a path or URL (gzip or not)."""
    with open_binary(src) as stream:
        yield from _iter_stream(stream, block_bytes)


def _iter_stream(stream: IO[bytes], block_bytes: int) -> Iterator[pa.Table]:
    line = 1
    rest = b""
    bom_checked = False
    while True:
        chunk = stream.read(block_bytes)
        if not chunk:
            break
        buf = rest + chunk if rest else chunk
        if not bom_checked:
            if len(buf) < len(_BOM):
                rest = buf
                continue
            bom_checked = True
            if buf.startswith(_BOM):
                buf = buf[len(_BOM):]
        cut = buf.rfind(b"\n")
        if cut < 0:  # a line longer than the block: keep reading
            rest = buf
            continue
        rest = buf[cut + 1:]
        table, n = _table(buf, line, cut + 1)
        line += n
        if table.num_rows:
            yield table
    if rest:
        if not bom_checked and rest.startswith(_BOM):
            rest = rest[len(_BOM):]
        table, _ = _table(rest + b"\n", line)
        if table.num_rows:
            yield table
