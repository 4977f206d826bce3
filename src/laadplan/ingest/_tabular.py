"""Reading flat record files for the placement readers: CSV (``,`` or ``;``), Parquet and GeoJSON points.

Every record comes back as strings with its 1-based position (CSV: the line number, header = line 1;
Parquet / GeoJSON: the record index + 1). CSV lines with the wrong field count go to the quarantine
(``LP-MALFORMED``) instead of stopping the run.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd

from laadplan.ingest._io import SourceError, open_binary
from laadplan.ingest._csvstream import MAX_FIELD_CHARS, RowRules, csv_error_message, set_field_limit
from laadplan.ingest.base import Quarantine
from laadplan.store import UpsertResult


def _sniff_delimiter(header: str) -> str:
    return ";" if header.count(";") > header.count(",") else ","


def read_records(source: str, q: Quarantine, max_field_chars: int = MAX_FIELD_CHARS) -> pd.DataFrame:
    """All records of ``source`` as a string DataFrame with lower-case column names and ``_pos``.

    A CSV row the csv module cannot read (a field longer than ``max_field_chars``, a NUL byte) is
    quarantined as ``LP-MALFORMED`` and reading goes on with the next row."""
    name = str(source)
    set_field_limit(max_field_chars)
    with open_binary(source) as b:
        head = b.peek(4)[:4] if hasattr(b, "peek") else b""
        data = b.read()
    if head == b"PAR1" or data[:4] == b"PAR1":
        try:
            df = pd.read_parquet(io.BytesIO(data))
        except (OSError, ValueError) as e:
            raise SourceError(f"{name}: not a readable Parquet file ({e})") from None
        df = df.astype("string")
        df.columns = [str(c).strip().lower() for c in df.columns]
        df["_pos"] = np.arange(1, len(df) + 1)
        df["_raw"] = df.drop(columns="_pos").to_json(orient="records", lines=True).splitlines() if len(df) else []
        return df
    text = data.decode("utf-8-sig", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        return _geojson_records(name, stripped)
    lines = io.StringIO(text, newline="")
    first = text.split("\n", 1)[0]
    if not first.strip():
        raise SourceError(f"{name}: empty file or no header line")
    reader = csv.reader(lines, delimiter=_sniff_delimiter(first))
    header = [h.strip().lower() for h in next(reader)]
    rows, pos, raws = [], [], []
    while True:
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as e:  # this row only: the reader goes on with the next line
            line = reader.line_num
            q.add("LP-MALFORMED", line, "<unreadable CSV row>",
                  f"{name} line {line}: {csv_error_message(e, max_field_chars)}")
            continue
        if not rec or (len(rec) == 1 and not rec[0].strip()):
            continue
        line = reader.line_num
        raw = ",".join(rec)
        if len(rec) != len(header):
            q.add("LP-MALFORMED", line, raw, f"{name} line {line}: {len(rec)} fields, header has {len(header)}")
            continue
        rows.append(rec)
        pos.append(line)
        raws.append(raw)
    df = pd.DataFrame(rows, columns=header, dtype="string") if rows else pd.DataFrame(
        {h: pd.Series(dtype="string") for h in header})
    df["_pos"] = np.asarray(pos, dtype="int64")
    df["_raw"] = raws
    return df


def _geojson_records(name: str, text: str) -> pd.DataFrame:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise SourceError(f"{name}: not valid JSON ({e})") from None
    except RecursionError:
        raise SourceError(f"{name}: JSON nested too deeply to be a list of records") from None
    feats = obj.get("features") if isinstance(obj, dict) else obj
    if not isinstance(feats, list):
        raise SourceError(f"{name}: expected a GeoJSON FeatureCollection or a JSON array of records")
    rows = []
    for f in feats:
        if isinstance(f, dict) and "properties" in f:
            props = dict(f.get("properties") or {})
            g = f.get("geometry") or {}
            if isinstance(g, dict) and g.get("type") == "Point" and isinstance(g.get("coordinates"), list) \
                    and len(g["coordinates"]) >= 2:
                props.setdefault("lon", g["coordinates"][0])
                props.setdefault("lat", g["coordinates"][1])
        elif isinstance(f, dict):
            props = dict(f)
        else:
            props = {"_invalid": json.dumps(f)}
        rows.append(props)
    df = pd.DataFrame(rows)
    df.columns = [str(c).strip().lower() for c in df.columns]
    raws = [json.dumps(r, ensure_ascii=False, default=str) for r in rows]
    df = df.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)).astype("string")
    df["_pos"] = np.arange(1, len(df) + 1)
    df["_raw"] = raws
    return df


def pick(df: pd.DataFrame, *names: str) -> pd.Series:
    """The first present column among ``names`` (aliases), else an all-missing string column."""
    for n in names:
        if n in df.columns:
            return df[n].astype("string").str.strip().replace("", pd.NA)
    return pd.Series(pd.NA, index=df.index, dtype="string")


def to_float(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(values, bad) where bad marks present values that are not finite numbers (decimal comma accepted);
    NaN, inf and 1e400 are bad and come back as missing."""
    v = pd.to_numeric(s.str.replace(",", ".", regex=False), errors="coerce").astype("float64")
    finite = np.isfinite(v)
    return v.where(finite), s.notna() & ~finite


#: largest whole number a float carries exactly; an integer column takes nothing beyond it
MAX_INT = 2 ** 53


def int_bad(v: pd.Series) -> pd.Series:
    """Present values that are not whole numbers an integer column can hold (1e19, 1e308, 2.5, inf)."""
    v = pd.to_numeric(v, errors="coerce").astype("float64")
    return v.notna() & ~(np.isfinite(v) & (v.abs() <= MAX_INT) & (v % 1 == 0))


def to_int(v: pd.Series) -> pd.Series:
    """Whole numbers as Int64; values :func:`int_bad` flags become missing (flag them first)."""
    v = pd.to_numeric(v, errors="coerce").astype("float64")
    return v.where(~int_bad(v)).round().astype("Int64")


def to_bool(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    m = {"1": True, "true": True, "yes": True, "ja": True, "y": True, "j": True,
         "0": False, "false": False, "no": False, "nee": False, "n": False}
    low = s.str.lower()
    v = low.map(m).astype("boolean")
    return v, s.notna() & v.isna()


def to_date(s: pd.Series, dayfirst: bool = False) -> tuple[pd.Series, pd.Series]:
    """(naive UTC values, bad). ISO 8601 only (``2026-04-03``, ``2026-04-03T10:00:00Z``; no offset = UTC), so
    that ``03/04/2026`` is never silently read as 4 March; with ``dayfirst`` also day-first dates
    (``03/04/2026`` = 3 April, ``3-4-2026``)."""
    s = s.astype("string").str.strip()
    v = pd.to_datetime(s, errors="coerce", format="ISO8601", utc=True)
    if dayfirst and v.isna().any():
        rest = s.notna() & v.isna()
        alt = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
        for i in rest[rest].index:  # one by one: a mixed-format column must not fail as a whole
            alt[i] = pd.to_datetime(s[i], errors="coerce", dayfirst=True, utc=True)
        v = v.fillna(alt)
    v = v.dt.tz_convert(None)
    return v.astype("datetime64[us]"), s.notna() & v.isna()


def quarantine_duplicates(q: Quarantine, out: pd.DataFrame, dups: pd.DataFrame, name: str, what: str, id_col: str,
                          *, with_party: bool = False, verb: str = "read") -> None:
    """Quarantine ``dups`` (rows of ``out``, same index; ``out`` carries ``_pos`` and ``_raw``) as LP-DUPLICATE,
    with the record's id and, ``with_party``, its ``party_id``: the one message of every tabular reader."""
    for i in dups.index:
        q.add("LP-DUPLICATE", int(out.at[i, "_pos"]), out.at[i, "_raw"],
              f"{name} {RowErrors.position_label} {out.at[i, '_pos']}: {what} {dups.at[i, id_col]} already {verb} "
              "with the same last_updated but different content", record_id=str(dups.at[i, id_col]),
              party_id=str(dups.at[i, "party_id"]) if with_party else None)


def store_checked(store, table: str, out: pd.DataFrame, q: Quarantine, name: str, what: str, id_col: str,
                  res) -> int:
    """LP-DUPLICATE (same key and version as an earlier record of the file or a stored row of the same
    source format, different content; versions NULL on both sides count as equal, as for CDRs and
    locations), then upsert the rest into ``table``. ``out`` carries ``_pos`` and ``_raw``. Returns the
    number of records accepted."""
    from laadplan.ingest.locations import split_duplicates

    if out.empty:
        return 0
    kept, dups = split_duplicates(store, table, out.drop(columns=["_pos", "_raw"]))
    quarantine_duplicates(q, out, dups, name, what, id_col)
    if len(kept):
        res.upserts[table] = res.upserts.get(table) or UpsertResult()
        res.upserts[table] += store.upsert(table, kept.reset_index(drop=True))
    return len(kept)


class RowErrors(RowRules):
    """:class:`RowRules` for flat record files, whose positions are record numbers (Parquet, GeoJSON) as well as
    CSV lines."""

    position_label = "record"


def fill_gm_code(store, out: pd.DataFrame) -> None:
    """Set a missing ``gm_code`` of point records (``lat``/``lon``) from the gemeente polygons in the store
    (in place); records outside every gemeente keep ``<NA>``."""
    from laadplan import geo
    from laadplan.grid.capacity import wkb_bytes

    if not out["gm_code"].isna().any():
        return
    gms = wkb_bytes(store.frame("areas", "level = 'gemeente' AND geometry_wkb IS NOT NULL",
                                columns=["area_code", "geometry_wkb"]))
    if len(gms):
        miss = out["gm_code"].isna().to_numpy()
        out.loc[miss, "gm_code"] = geo.assign_area(out["lon"][miss], out["lat"][miss], gms).to_numpy()
