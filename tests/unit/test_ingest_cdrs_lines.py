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
