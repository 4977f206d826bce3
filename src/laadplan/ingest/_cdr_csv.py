"""Session CSVs in the ElaadNL open-data layout, normalised to the relation of :mod:`._cdr_sql`.

Columns (header names case-insensitive; ``;`` with decimal commas is accepted too):

- ``Started``, ``Ended``: LOCAL wall-clock times in ``cfg.region.time_zone`` (Europe/Amsterdam); or
  ``UTCTransactionStart``, ``UTCTransactionStop`` (the ElaadNL open transactions): UTC, used as they are;
- ``TotalEnergy`` in Wh, ``ConnectedTime`` and ``ChargeTime`` in hours, ``MaxPower`` in W (0 = unknown);
- optional ``ChargePoint``/``EVSE``/``EVSEId`` (-> evse_uid), ``Connector``, ``Location``/``LocationId``,
  ``StartCard``/``UserId``/``ContractId`` (-> user_id).

**Local time to UTC.** Each local time is localised twice, once reading it as summer time (the first
occurrence of an ambiguous hour, ``fold=0``) and once as standard time. For a wall time that does not exist
(the skipped hour, e.g. 2018-03-25 02:30) both readings use the offset in force before the jump, so
02:30 becomes 01:30 UTC (= 03:30 CEST), as :mod:`zoneinfo` does for ``fold=0``. For an ambiguous time
(2018-10-28 02:00-03:00 occurs twice) the pair (start, end) is chosen whose duration is closest to the
row's own ``ConnectedTime``; ties (and rows without a usable ConnectedTime) take summer time, the first
occurrence. Unambiguous times have a single reading, so this only ever decides the DST-ambiguous hour.

**Ids.** A CSV row has no id: ``session_id`` is ``csv*`` + the SHA-1 of the row's text, so reloading a
file is idempotent; two identical rows are the same session. ``last_updated_utc`` stays empty.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from typing import IO, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from laadplan.ingest._cdr_sql import NORM_COLUMNS

#: canonical name -> accepted header spellings (lower case, without spaces, underscores or dashes)
ALIASES: dict[str, tuple[str, ...]] = {
    "started": ("started", "start", "starttime", "startdatetime", "starttimelocal"),
    "ended": ("ended", "end", "endtime", "stopped", "stoptime", "enddatetime"),
    "started_utc": ("utctransactionstart", "startedutc", "startutc"),
    "ended_utc": ("utctransactionstop", "endedutc", "endutc", "stoputc"),
    "total_energy_wh": ("totalenergy", "totalenergywh", "energywh"),
    "connected_h": ("connectedtime", "connectedtimeh"),
    "charge_h": ("chargetime", "chargetimeh"),
    "max_power_w": ("maxpower", "maxpowerw"),
    "evse_uid": ("chargepoint", "chargepointid", "evse", "evseid", "evseuid", "cpid"),
    "connector_id": ("connector", "connectorid"),
    "location_id": ("location", "locationid"),
    "user_id": ("startcard", "card", "userid", "contractid", "tokenuid"),
}
REQUIRED = ("started", "ended", "total_energy_wh", "connected_h")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
BATCH_ROWS = 50_000


def _norm_name(name: str) -> str:
    return re.sub(r"[\s_\-()\[\]]", "", name.strip().lstrip("\ufeff")).lower()


def header_map(fields: list[str]) -> dict[str, int]:
    """Canonical column -> index in the row, for the header ``fields``."""
    out: dict[str, int] = {}
    normed = [_norm_name(f) for f in fields]
    for canon, names in ALIASES.items():
        for i, n in enumerate(normed):
            if n in names and canon not in out:
                out[canon] = i
    return out


def sniff_delimiter(line: str) -> str:
    return ";" if line.count(";") > line.count(",") else ","


def looks_like_session_csv(first_line: str) -> bool:
    """True when the first line is a header with at least the start and end columns."""
    s = first_line.strip()
    if not s or s[0] in "[{":
        return False
    fields = next(csv.reader([s], delimiter=sniff_delimiter(s)), [])
    m = header_map(fields)
    return ("started" in m and "ended" in m) or ("started_utc" in m and "ended_utc" in m)


def iter_rows(text: IO[str]) -> Iterator[tuple[list[str], int, list[list[str] | None], list[str], list[int]]]:
    """Yield batches ``(header, n_fields, rows, raws, positions)`` from a CSV text stream.

    ``rows[i]`` is the list of fields, ``raws[i]`` the row's text and ``positions[i]`` its first line
    number (the header is line 1). Blank lines are skipped.
    """
    header_line = text.readline()
    delim = sniff_delimiter(header_line)
    header = next(csv.reader([header_line], delimiter=delim))
    consumed: list[str] = []
    line_no = [1]

    def lines() -> Iterator[str]:
        for ln in text:
            line_no[0] += 1
            consumed.append(ln)
            yield ln

    reader = csv.reader(lines(), delimiter=delim)
    rows: list[list[str]] = []
    raws: list[str] = []
    positions: list[int] = []
    while True:
        consumed.clear()
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:  # e.g. a NUL byte or an unterminated quote: keep the text, judge it later
            fields = [f"<csv error: {e}>"]
        raw = "".join(consumed).rstrip("\r\n")
        first = line_no[0] - max(len(consumed) - 1, 0)
        if not raw.strip():
            continue
        rows.append(fields)
        raws.append(raw)
        positions.append(first)
        if len(rows) >= BATCH_ROWS:
            yield header, len(header), rows, raws, positions
            rows, raws, positions = [], [], []
    if rows:
        yield header, len(header), rows, raws, positions


def _num(s: pd.Series, decimal_comma: bool) -> pd.Series:
    if decimal_comma:
        s = s.str.replace(",", ".", regex=False)
    v = pd.to_numeric(s.str.strip(), errors="coerce").astype("float64")
    return v.where(np.isfinite(v))  # NaN, inf, 1e400: not a number here (LP-TYPE)


def _local_to_utc(local: pd.Series, tz: str, summer: bool) -> pd.Series:
    """Naive local times -> naive UTC; ambiguous times read as summer (True) or standard (False) time."""
    amb = np.full(len(local), summer)
    aware = local.dt.tz_localize(tz, ambiguous=amb, nonexistent=pd.Timedelta(hours=1))
    return aware.dt.tz_convert("UTC").dt.tz_localize(None)


def start_end_utc(start_local: pd.Series, end_local: pd.Series, connected_h: pd.Series,
                  tz: str) -> tuple[pd.Series, pd.Series]:
    """UTC start and end from local wall times, resolving DST ambiguity with the connected time."""
    s_a, s_b = _local_to_utc(start_local, tz, True), _local_to_utc(start_local, tz, False)
    e_a, e_b = _local_to_utc(end_local, tz, True), _local_to_utc(end_local, tz, False)
    combos = [(s_a, e_a), (s_a, e_b), (s_b, e_a), (s_b, e_b)]  # first = summer/summer wins ties
    target = connected_h.to_numpy(dtype="float64", na_value=np.nan)
    errs = np.column_stack([np.abs((e - s).dt.total_seconds().to_numpy(dtype="float64", na_value=np.nan)
                                   / 3600 - target) for s, e in combos])
    errs = np.where(np.isnan(errs), np.inf, errs)
    best = np.argmin(errs, axis=1)
    start = s_a.copy()
    end = e_a.copy()
    for k, (s, e) in enumerate(combos):
        sel = best == k
        if sel.any():
            start[sel] = s[sel]
            end[sel] = e[sel]
    return start, end


def normalise(header: list[str], rows: list[list[str]], raws: list[str], positions: list[int], tz: str,
              delim_semicolon: bool = False) -> tuple[pa.Table, pa.Table]:
    """The normalised relation (see :data:`NORM_COLUMNS`) and the ``(position, raw)`` table of a batch."""
    cols = header_map(header)
    utc = "started" not in cols and "started_utc" in cols and "ended_utc" in cols
    if utc:
        cols["started"], cols["ended"] = cols.pop("started_utc"), cols.pop("ended_utc")
    n_fields = len(header)
    n = len(rows)
    ok = np.array([len(r) == n_fields for r in rows], dtype=bool)
    data = {c: pd.Series([r[i] if len(r) == n_fields else None for r in rows], dtype="string")
            for c, i in cols.items()}
    empty = pd.Series([None] * n, dtype="string")

    def col(name: str) -> pd.Series:
        return data.get(name, empty)

    def present(name: str) -> np.ndarray:
        s = col(name)
        return (s.notna() & (s.str.strip() != "")).to_numpy(dtype=bool, na_value=False)

    wrong_masks: dict[str, np.ndarray] = {}
    missing_masks: dict[str, np.ndarray] = {}
    nums = {}
    for name in ("total_energy_wh", "connected_h", "charge_h", "max_power_w"):
        v = _num(col(name), delim_semicolon)
        nums[name] = v
        wrong_masks[name] = present(name) & v.isna().to_numpy()
    locs = {}
    for name in ("started", "ended"):
        s = col(name).str.strip()
        if utc:
            s = s.str.removesuffix("Z")
        good = s.str.match(_TS).to_numpy(dtype=bool, na_value=False)
        locs[name] = pd.to_datetime(s.where(pd.Series(good, index=s.index)), format="ISO8601", errors="coerce")
        wrong_masks[name] = present(name) & (~good | locs[name].isna().to_numpy())
    for name in REQUIRED:
        missing_masks[name] = ~present(name)
    if utc:
        start_utc, end_utc = locs["started"], locs["ended"]
    else:
        start_utc, end_utc = start_end_utc(locs["started"], locs["ended"], nums["connected_h"], tz)

    header_names = {c: header[i] for c, i in cols.items()}
    wrong = [[header_names[k] for k, m in wrong_masks.items() if m[i]] if ok[i] else [] for i in range(n)]
    missing = [[header_names.get(k, k) for k, m in missing_masks.items() if m[i]] if ok[i] else []
               for i in range(n)]
    power_w = nums["max_power_w"]
    frame = {
        "position": positions,
        "source": ["elaad-csv"] * n,
        "record_error_code": [None if o else "LP-MALFORMED" for o in ok],
        "record_error": [None if len(r) == n_fields else f"expected {n_fields} fields, found {len(r)}" for r in rows],
        "wrong": wrong,
        "missing": missing,
        "session_id": ["csv*" + hashlib.sha1(r.strip().encode("utf-8")).hexdigest()[:32] for r in raws],
        "country_code": [None] * n,
        "party_id": [None] * n,
        "location_id": col("location_id").str.strip(),
        "evse_uid": col("evse_uid").str.strip(),
        "evse_id": [None] * n,
        "connector_id": col("connector_id").str.strip(),
        "start_utc": start_utc,
        "end_utc": end_utc,
        "total_time_h": nums["connected_h"],
        "charging_h": nums["charge_h"],
        "energy_kwh": nums["total_energy_wh"] / 1000.0,
        "own_power_kw": power_w.where(power_w > 0) / 1000.0,
        "user_id": col("user_id").str.strip(),
        "auth_method": [None] * n,
        "total_cost_eur": [None] * n,
        "total_cost_incl_vat_eur": [None] * n,
        "currency": [None] * n,
        "lat": [None] * n,
        "lon": [None] * n,
        "last_updated_utc": [None] * n,
    }
    arrow_types = {"BIGINT": pa.int64(), "VARCHAR": pa.string(), "VARCHAR[]": pa.list_(pa.string()),
                   "TIMESTAMP": pa.timestamp("us"), "DOUBLE": pa.float64()}
    arrays = {}
    for c, typ in NORM_COLUMNS.items():
        v = frame[c]
        if isinstance(v, pd.Series):
            if typ == "VARCHAR":
                v = v.to_numpy(dtype=object, na_value=None)
            elif typ == "DOUBLE":
                v = v.to_numpy(dtype="float64", na_value=np.nan)
            arrays[c] = pa.array(v, type=arrow_types[typ], from_pandas=True)
        else:
            arrays[c] = pa.array(v, type=arrow_types[typ])
    norm = pa.table(arrays)
    raw = pa.table({"position": pa.array(positions, pa.int64()), "raw": pa.array(raws, pa.string())})
    return norm, raw


def open_rows(text: IO[str]) -> tuple[bool, Iterator]:
    """Peek the delimiter and return ``(decimal_comma, batches)``."""
    head = text.readline()
    rest = io.StringIO(head)
    semicolon = sniff_delimiter(head) == ";"
    return semicolon, iter_rows(_Chain(rest, text))


class _Chain(io.TextIOBase):
    """A text stream that first yields one string buffer then the rest of another stream."""

    def __init__(self, first: io.StringIO, rest: IO[str]):
        self._first, self._rest = first, rest

    def readline(self, size: int = -1) -> str:  # noqa: D401
        line = self._first.readline()
        return line if line else self._rest.readline()

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line
