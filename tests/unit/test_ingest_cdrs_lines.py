"""The zero-copy NDJSON line batcher: line numbers, blank lines, CRLF, BOM, bad UTF-8, block edges."""

from __future__ import annotations

import gzip

import pytest

from laadplan.ingest._cdr_lines import iter_line_batches


def _lines(path, block_bytes=1 << 20):
    out = []
    for t in iter_line_batches(str(path), block_bytes=block_bytes):
        out += list(zip(t.column("position").to_pylist(), t.column("raw").to_pylist()))
    return out


@pytest.mark.parametrize("block_bytes", [1 << 20, 7, 1])
def test_positions_blank_lines_crlf_and_last_line_without_newline(tmp_path, block_bytes):
    data = b'\xef\xbb\xbf{"a": 1}\r\n\n{"b": 2}\n\r\n   \n{"c": 3}'
    p = tmp_path / "f.ndjson"
    p.write_bytes(data)
    got = _lines(p, block_bytes)
    # expected by splitting the text by hand: BOM dropped, "\n" and "\r\n" lines skipped, numbering kept
    assert got == [(1, '{"a": 1}\r\n'), (3, '{"b": 2}\n'), (5, "   \n"), (6, '{"c": 3}\n')]


def test_invalid_utf8_is_replaced_not_fatal(tmp_path):
    p = tmp_path / "f.ndjson"
    p.write_bytes(b'{"a": "\xff\xfe"}\n{"b": 1}\n')
    got = _lines(p)
    assert [pos for pos, _ in got] == [1, 2]
    assert got[0][1] == '{"a": "\ufffd\ufffd"}\n'


def test_gzip_gives_the_same_lines(tmp_path):
    text = b"".join(b'{"i": %d}\n' % i for i in range(1000))
    (tmp_path / "a.ndjson").write_bytes(text)
    (tmp_path / "b.bin").write_bytes(gzip.compress(text))
    a, b = _lines(tmp_path / "a.ndjson", 4096), _lines(tmp_path / "b.bin", 4096)
    assert a == b and len(a) == 1000 and a[-1] == (1000, '{"i": 999}\n')


def test_batches_are_regrouped_across_read_blocks(tmp_path):
    """Batches hold max_rows lines whatever the read block size (each batch costs a fixed planning time),
    with the line numbers unbroken across block edges."""
    p = tmp_path / "f.ndjson"
    p.write_bytes(b"".join(b'{"i": %d}\n' % i for i in range(1000)))
    tables = list(iter_line_batches(str(p), block_bytes=100, max_rows=300))
    assert [t.num_rows for t in tables] == [300, 300, 300, 100]
    positions = [x for t in tables for x in t.column("position").to_pylist()]
    assert positions == list(range(1, 1001))
    assert tables[-1].column("raw")[-1].as_py() == '{"i": 999}\n'


def test_batches_stop_at_the_byte_limit():
    import pyarrow as pa

    from laadplan.ingest._cdr_lines import _regrouped

    def block(first, n, size):
        return pa.table({"position": pa.array(range(first, first + n), pa.int64()),
                         "raw": pa.array(["x" * (size - 1) + "\n"] * n, pa.large_string()),
                         "error": pa.nulls(n, pa.large_string())})

    # blocks of 10 lines of 100 bytes; 2,500 bytes per batch at most -> a batch closes after 3 blocks
    blocks = [block(1 + 10 * k, 10, 100) for k in range(7)]
    sizes = [t.num_rows for t in _regrouped(iter(blocks), max_rows=1000, max_bytes=2_500)]
    assert sizes == [30, 30, 10]


def test_read_ahead_keeps_order_and_raises_where_the_producer_failed():
    from laadplan.ingest._cdr_lines import prefetched

    closed = []

    def gen():
        try:
            yield 1
            yield 2
            raise OSError(28, "No space left on device")
        finally:
            closed.append(True)

    got = []
    with pytest.raises(OSError, match="No space"):
        for x in prefetched(gen()):
            got.append(x)
    assert got == [1, 2] and closed == [True]


def test_read_ahead_stops_the_producer_when_the_consumer_stops():
    import itertools

    from laadplan.ingest._cdr_lines import prefetched

    made = []

    def gen():
        for i in itertools.count():
            made.append(i)
            yield i

    it = prefetched(gen())
    assert [next(it), next(it)] == [0, 1]
    it.close()  # joins the producer thread
    assert len(made) <= 3  # at most one batch made ahead of the consumer
