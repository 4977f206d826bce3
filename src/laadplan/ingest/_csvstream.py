"""Streaming CSV in batches, for the location, connector and status readers.

:func:`iter_csv_batches` yields string DataFrames of at most ``batch`` rows, each row with its 1-based
line number (``_pos``; the header is line 1) and raw text (``_raw``), so memory stays flat in the file
size. Rows with the wrong number of fields come back separately (``malformed``) for ``LP-MALFORMED``.
Also the small vectorised helpers the readers share (first-rule-per-row bookkeeping, number parsing).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pandas as pd

from laadplan.ingest._io import SourceError, open_text
from laadplan.ingest.base import Quarantine

BATCH = 20_000
#: default of validation.max_csv_field_chars (Python's csv module stops at 131,072 characters)
MAX_FIELD_CHARS = 32 << 20


#: default of validation.max_record_bytes: a longer CSV line is LP-MALFORMED and never held whole
MAX_LINE_CHARS = 64 << 20
_LINE_LIMIT = [MAX_LINE_CHARS]


def set_field_limit(max_field_chars: int, max_line_chars: int | None = None) -> None:
    """Let the csv module read fields up to ``max_field_chars`` (a longer one is a csv.Error for its row);
    with ``max_line_chars`` also the line-length guard of :func:`iter_csv_batches`."""
    csv.field_size_limit(int(max_field_chars))
    if max_line_chars is not None:
        _LINE_LIMIT[0] = int(max_line_chars)


def _guarded_lines(f, limit: int, too_long: set[int]) -> Iterator[str]:
    """The lines of ``f`` after the header; a line longer than ``limit`` is skipped without being held and
    replaced by an empty stand-in line (its file line number goes to ``too_long``)."""
    n = 1
    while True:
        line = f.readline(limit + 1)
        if not line:
            return
        n += 1
        if len(line) > limit and not line.endswith("\n"):
            while True:
                more = f.readline(1 << 20)
                if not more or more.endswith("\n"):
                    break
            too_long.add(n)
            yield "\n"
        else:
            yield line


def csv_error_message(e: csv.Error, max_field_chars: int) -> str:
    if "field larger than field limit" in str(e):
        return f"a field longer than validation.max_csv_field_chars = {max_field_chars:,} characters"
    return f"CSV syntax error: {e}"


@dataclass
class CsvBatch:
    header: list[str]
    rows: pd.DataFrame  # text columns (object dtype, None when empty) + _pos (int) + _raw (str)
    malformed: list[tuple[int, str, str]] = field(default_factory=list)  # (line, raw, message)


def read_header(source: str) -> list[str]:
    """The lower-cased header of a CSV source ([] when the file is empty)."""
    with open_text(source) as f:
        first = f.readline()
    if not first.strip():
        return []
    return [h.strip().lower() for h in next(csv.reader([first], delimiter=_delimiter(first)))]


def _delimiter(line: str) -> str:
    return ";" if line.count(";") > line.count(",") else ","


def iter_csv_batches(source: str, batch: int = BATCH, max_field_chars: int | None = None) -> Iterator[CsvBatch]:
    """Yield the rows of a CSV source in batches (``,`` or ``;`` separated, header required).

    A row the csv module cannot read (a field longer than ``max_field_chars``, a NUL byte) comes back in
    ``malformed`` and reading goes on with the next row. ``max_field_chars`` None: the limit last set with
    :func:`set_field_limit` (the readers set ``validation.max_csv_field_chars``)."""
    name = str(source)
    if max_field_chars is None:
        max_field_chars = max(csv.field_size_limit(), MAX_FIELD_CHARS) if csv.field_size_limit() == 131_072 \
            else csv.field_size_limit()
    set_field_limit(max_field_chars)
    with open_text(source) as f:
        first = f.readline()
        if not first.strip():
            raise SourceError(f"{name}: empty file or no header line")
        delim = _delimiter(first)
        header = [h.strip().lower() for h in next(csv.reader([first], delimiter=delim))]
        if len(set(header)) != len(header):
            raise SourceError(f"{name}: duplicate column names in the header {header}")
        too_long: set[int] = set()
        reader = csv.reader(_guarded_lines(f, _LINE_LIMIT[0], too_long), delimiter=delim)
        rows: list[list[str]] = []
        pos: list[int] = []
        raws: list[str] = []
        bad: list[tuple[int, str, str]] = []
        consumed = 0  # physical lines the csv reader has consumed after the header
        while True:
            line = consumed + 2  # first physical line of this record (header = line 1)
            try:
                rec = next(reader)
            except StopIteration:
                break
            except csv.Error as e:  # this row only; the reader goes on with the next line
                consumed = reader.line_num
                bad.append((line, "<unreadable CSV row>", csv_error_message(e, max_field_chars)))
                rec = None
            else:
                consumed = reader.line_num
                if line in too_long:  # the stand-in of an over-long line
                    bad.append((line, "<line too long>",
                                f"line longer than validation.max_record_bytes = {_LINE_LIMIT[0]:,} characters"))
                    rec = None
            if rec is not None:
                if not rec or (len(rec) == 1 and not rec[0].strip()):
                    continue
                raw = delim.join(rec)
                if len(rec) != len(header):
                    bad.append((line, raw, f"{len(rec)} fields where the header has {len(header)}"))
                else:
                    rows.append(rec)
                    pos.append(line)
                    raws.append(raw)
            if len(rows) + len(bad) >= batch:
                yield _make(header, rows, pos, raws, bad)
                rows, pos, raws, bad = [], [], [], []
        if rows or bad:
            yield _make(header, rows, pos, raws, bad)


def _make(header: list[str], rows: list[list[str]], pos: list[int], raws: list[str],
          bad: list[tuple[int, str, str]]) -> CsvBatch:
    # object columns (cheaper than Arrow strings for a batch); empty or blank fields become None
    data = {}
    for j, h in enumerate(header):
        data[h] = pd.Series([None if not (v := r[j].strip()) else v for r in rows], dtype="object")
    df = pd.DataFrame(data) if rows else pd.DataFrame({h: pd.Series(dtype="object") for h in header})
    df["_pos"] = np.asarray(pos, dtype="int64")
    df["_raw"] = pd.Series(raws, dtype="object", index=df.index)
    return CsvBatch(header, df, bad)


def quarantine_malformed(q: Quarantine, name: str, bad: list[tuple[int, str, str]]) -> None:
    for line, raw, msg in bad:
        q.add("LP-MALFORMED", line, raw, f"{name} line {line}: {msg}")


def col(df: pd.DataFrame, *names: str) -> pd.Series:
    """The first present column among ``names``, else an all-missing string column."""
    for n in names:
        if n in df.columns:
            return df[n]
    return pd.Series(pd.NA, index=df.index, dtype="string")


def to_float(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(values, bad): bad marks present values that are not finite numbers (a decimal comma is accepted)."""
    s = s.astype("string")
    v = pd.to_numeric(s.str.replace(",", ".", regex=False), errors="coerce").astype("float64")
    bad = s.notna() & ~np.isfinite(v)
    return v.where(np.isfinite(v)), bad


def to_bool(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    m = {"1": True, "true": True, "yes": True, "ja": True, "0": False, "false": False, "no": False, "nee": False}
    v = s.astype("string").str.lower().map(m).astype("boolean")
    return v, s.notna() & v.isna()


def to_utc(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """RFC 3339 / ISO 8601 text -> naive UTC; text without an offset is taken as UTC."""
    v = pd.to_datetime(s.astype("string"), errors="coerce", utc=True, format="ISO8601")
    v = v.dt.tz_convert(None).astype("datetime64[us]")
    return v, s.notna() & v.isna()


def future_limit(cfg) -> "pd.Timestamp":
    """The latest acceptable last_updated: now + ``validation.last_updated_future_h`` (naive UTC)."""
    from laadplan.ingest.base import utcnow

    return pd.Timestamp(utcnow()) + pd.Timedelta(hours=float(cfg.validation.last_updated_future_h))


def future_message(cfg, what: str = "last_updated") -> str:
    return f"{what} more than {cfg.validation.last_updated_future_h:g} h in the future"


class RowRules:
    """The first rule each row breaks, in the order the rules are checked (one quarantine row per record)."""

    #: what a position counts, in quarantine messages
    position_label = "line"

    def __init__(self, df: pd.DataFrame):
        self.df = df
        self.rule = pd.Series(None, index=df.index, dtype="object")
        self.msg = pd.Series(None, index=df.index, dtype="object")

    def flag(self, mask: pd.Series, rule: str, message) -> None:
        mask = pd.Series(mask, index=self.df.index).fillna(False).astype(bool) & self.rule.isna()
        if not mask.any():
            return
        self.rule[mask] = rule
        self.msg[mask] = message(self.df[mask]) if callable(message) else message

    @property
    def bad(self) -> pd.Series:
        return self.rule.notna()

    def quarantine(self, q: Quarantine, name: str, id_col: str | None = None,
                   operator_col: str | None = None, party_col: str | None = None) -> None:
        b = self.bad
        if not b.any():
            return
        d = self.df[b]

        def opt(c: str | None) -> list:
            if c and c in d.columns:
                return [None if pd.isna(x) else str(x) for x in d[c]]
            return [None] * len(d)

        q.add_frame(pd.DataFrame({
            "rule_code": self.rule[b].astype(str).to_numpy(),
            "position": d["_pos"].astype("int64").to_numpy(),
            "raw": d["_raw"].astype(str).to_numpy(),
            "message": [f"{name} {self.position_label} {p}: {m}" for p, m in zip(d["_pos"], self.msg[b])],
            "record_id": opt(id_col), "operator": opt(operator_col), "party_id": opt(party_col),
        }))
