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


def _table(block: bytes, first_line: int) -> tuple[pa.Table, int]:
    """Split ``block`` (ending with a newline) into lines; returns the table and the number of lines."""
    nl = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    offsets = np.empty(len(nl) + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = nl + 1
    raw = pa.LargeStringArray.from_buffers(len(nl), pa.py_buffer(offsets), pa.py_buffer(block))
    try:
        raw.validate(full=True)
    except pa.ArrowInvalid:  # invalid UTF-8 somewhere in the block: replace it, keep the line structure
        return _table(block.decode("utf-8", errors="replace").encode("utf-8"), first_line)
    lengths = np.diff(offsets)
    starts = offsets[:-1]
    arr = np.frombuffer(block, dtype=np.uint8)
    # a line is blank when it is "\n" or "\r\n"; other whitespace-only lines are judged (rarely) by SQL
    blank = (lengths == 1) | ((lengths == 2) & (arr[np.maximum(starts, 0)] == 13))
    positions = np.arange(first_line, first_line + len(nl), dtype=np.int64)
    keep = ~blank
    table = pa.table({"position": pa.array(positions[keep]), "raw": raw.filter(pa.array(keep))})
    return table, len(nl)


def iter_line_batches(src: str | os.PathLike, block_bytes: int = BLOCK_BYTES) -> Iterator[pa.Table]:
    """Yield ``(position, raw)`` tables of about ``block_bytes`` each from a path or URL (gzip or not)."""
    with open_binary(src) as stream:
        yield from _iter_stream(stream, block_bytes)


def _iter_stream(stream: IO[bytes], block_bytes: int) -> Iterator[pa.Table]:
    line = 1
    rest = b""
    first = True
    while True:
        chunk = stream.read(block_bytes)
        if first:
            first = False
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM):]
        if not chunk:
            break
        buf = rest + chunk if rest else chunk
        cut = buf.rfind(b"\n")
        if cut < 0:  # a line longer than the block: keep reading
            rest = buf
            continue
        block, rest = buf[: cut + 1], buf[cut + 1:]
        table, n = _table(block, line)
        line += n
        if table.num_rows:
            yield table
    if rest:
        table, _ = _table(rest + b"\n", line)
        if table.num_rows:
            yield table
