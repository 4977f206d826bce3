"""The CDR validation's SQL macros (:data:`laadplan.ingest._cdr_sql.MACROS`) against a second method.

The macros were rewritten for speed (``lp_ts`` from epoch microseconds instead of ICU's ``timezone('UTC', ..)``,
``lp_price`` without a CASE on the first character, ``lp_idpart`` replacing only where needed); these tests pin
their values on edge cases against the plain definitions and Python, and the quarantine's raw text taken per
chunk (``cdrs._raw_of``) against Arrow's ``take``."""

from __future__ import annotations

import json
import random

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from laadplan.ingest import _cdr_sql
from laadplan.ingest.cdrs import _chunked, _raw_of


def _con(time_zone: str = "UTC") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{time_zone}'")
    for stmt in _cdr_sql.MACROS.split(";"):
        if stmt.strip():
            con.execute(stmt)
    return con


_TIMES = ["2025-01-01T00:00:00Z", "2025-03-30T01:30:00+02:00", "2025-03-30T02:30:00", "2025-10-26T02:30:00",
          "infinity", "-infinity", "epoch", "1582-10-10T00:00:00Z", "1000-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
          "9999-12-31T23:59:59.999999Z", "2025-06-01T12:00:00.123456789Z", "2025-06-01 12:00:00.5-05:30",
          "294247-01-01T00:00:00Z", "0044-03-15 (BC) 12:00:00", "2025-13-01", None, "", "abc", "2024-02-29T23:59:60Z",
          "2025-01-01T00:00:00 Europe/Amsterdam", "1969-12-31T23:59:59.999999Z"]


@pytest.mark.parametrize("time_zone", ["UTC", "Europe/Amsterdam", "America/St_Johns"])
def test_lp_ts_equals_icu_utc_wall_time(time_zone):
    rng = random.Random(3)
    texts = list(_TIMES) + [
        f"{rng.randint(1, 9999):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
        f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999999):06d}"
        f"{rng.choice(['Z', '+01:00', '-07:30', ''])}" for _ in range(3000)]
    con = _con(time_zone)
    con.execute("CREATE TABLE t (s VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[s] for s in texts])
    n, differ, parsed = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE lp_ts(s) IS DISTINCT FROM timezone('UTC', TRY_CAST(s AS TIMESTAMPTZ))), "
        "count(lp_ts(s)) FROM t").fetchone()
    assert (n, differ) == (len(texts), 0)
    assert parsed > 3000  # the random times and most edge cases parse
    # hand-checked values: an offset, the session zone for a naive time, infinity
    got = con.execute("SELECT lp_ts('2025-03-30T03:30:00+02:00')::VARCHAR, lp_ts('infinity')::VARCHAR").fetchone()
    assert got == ("2025-03-30 01:30:00", "infinity")


def _price_py(text: str | None) -> tuple[float | None, float | None]:
    """(excl, incl) by hand: an object's excl_vat / incl_vat, else the number itself (excl only)."""
    if text is None:
        return None, None
    v = json.loads(text)

    def num(x):
        if isinstance(x, bool) or x is None or isinstance(x, (dict, list)):
            return None
        try:
            f = float(x)
        except ValueError:
            return None
        return f if np.isfinite(f) else None

    if isinstance(v, dict):
        return num(v.get("excl_vat")), num(v.get("incl_vat"))
    if isinstance(v, str):  # a number given as a string is a wrong type
        return None, None
    return num(v), None


@pytest.mark.parametrize("text", [
    '{"excl_vat": 3.5, "incl_vat": 4.235}', '{"excl_vat": "3.5"}', '{"incl_vat": 4}', '{"excl_vat": {"a": 1}}',
    '{"excl_vat": [1]}', '{"excl_vat": null, "incl_vat": 2}', '{"excl_vat": 1e400}', '{}', "12.5", "-0.0", "1e400",
    '"12.5"', "[1, 2]", "[]", "true", "null", None, '{"excl_vat": 1, "excl_vat": 2}'])
def test_lp_price_takes_excl_vat_of_an_object_else_the_number(text):
    con = _con()
    excl, incl = con.execute("SELECT lp_price(?), lp_price_incl(?)", [text, text]).fetchone()
    # (a repeated key: the first one counts in DuckDB's JSON reader, the last one in Python's)
    want = (1.0, None) if text == '{"excl_vat": 1, "excl_vat": 2}' else _price_py(text)
    assert (excl, incl) == want


@pytest.mark.parametrize("part", ["SHL", "A*B", "A\\B", "*\\*", "", None, "\\\\*", "é*ü"])
def test_lp_idpart_escapes_backslash_and_star(part):
    got = _con().execute("SELECT lp_idpart(?)", [part]).fetchone()[0]
    assert got == (None if part is None else part.replace("\\", "\\\\").replace("*", "\\*"))


@pytest.mark.parametrize("text", ["", "{", "[a", " {", "€{", None, "a{", "{}", "[]", "abc", "[", "\\{"])
def test_lp_str_is_null_for_an_object_or_array_text(text):
    got = _con().execute("SELECT lp_str(?)", [text]).fetchone()[0]
    assert got == (None if text is None or text[:1] in ("{", "[") else text)


def test_raw_of_takes_each_record_from_its_chunk():
    rng = np.random.default_rng(1)
    n = 3 * 4096 + 17  # several Arrow chunks
    texts = ["x" * int(rng.integers(0, 30)) + "é€" + " \t\r\n"[int(rng.integers(0, 4))] * int(rng.integers(0, 3))
             for _ in range(n)]
    texts[5] = "y" * 25_000 + " \n"  # cut to 20,000 characters
    positions = np.arange(n, dtype=np.int64) * 2 + 7
    table = _chunked(pa.table({"position": pa.array(positions), "raw": pa.array(texts, pa.large_string())}))
    assert table.column("raw").num_chunks > 1
    want_idx = [5, 0, 4095, 4096, n - 1, 8191, 8192, 17, 17]
    picked = pd.Series(positions[want_idx])
    # second method: Arrow's take over the whole column, trimmed and cut
    idx = pc.index_in(pa.array(picked.to_numpy()), table.column("position"))
    want = pc.utf8_rtrim(pc.take(table.column("raw"), idx), characters=" \t\r\n").to_pandas().str.slice(0, 20_000)
    got = _raw_of(table, picked)
    assert got.tolist() == want.tolist()
    assert got[0] == "y" * 20_000 and got[2] == texts[4095].rstrip(" \t\r\n")
    assert list(got.index) == list(picked.index)
