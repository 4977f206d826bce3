"""``laadplan ingest grid``: the Netbeheer Nederland capacity map (capaciteitskaart).

Accepted inputs (path or URL, gzip allowed):

* **JSON** following the official schema (``im_capaciteitskaart.schema.json`` v1.3.0): every
  ``energy_areas[]`` item becomes a ``supply_area`` row (``congestion_area`` for a TSO congestion area)
  and every ``postcode_areas[]`` item a ``pc6`` row whose parent is that energy area. RAG colours map to
  status codes (transparant 0, yellow 1, amber 2, red 3). An energy area without its own
  ``demand_constraint`` takes the worst status of its PC6 areas.
* **CSV per supply area** (``voedingsgebieden.csv``; ``,`` or ``;`` separated), columns::

      area_code (alias voedingsgebied_id, short_code), name, operator (alias netbeheerder),
      offtake_status (alias status_afname; 0-3, -1 unknown, or a RAG colour),
      feedin_status (alias status_invoeding), demand_available_mw, demand_quoted_mw, demand_queue_mw,
      demand_requests_in_queue, demand_alleviation_year, valid_from, geometry_wkt (WGS84 polygon, optional)

* **CSV per PC6** (``congestie_pc6.csv``), recognised by a ``postcode``/``pc6`` column::

      postcode (alias pc6), area_code (alias voedingsgebied_id: the feeding supply area),
      offtake_status (alias status_afname), feedin_status (alias status_invoeding), valid_from

A record with a missing code, a status outside -1..3 (or an unknown colour), a non-numeric capacity,
an invalid PC6 or an unreadable polygon is quarantined under its rule.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime

import numpy as np
import pandas as pd
import shapely

from laadplan.config import RegionConfig
from laadplan.grid.capacity import normalise_pc6, status_from_value
from laadplan.ingest import rules as R
from laadplan.ingest._io import SourceError, open_binary
from laadplan.ingest._tabular import MAX_INT, RowErrors, int_bad, pick, read_records, store_checked, to_date, \
    to_float, to_int
from laadplan.ingest.base import IngestResult, Quarantine, log_run, utcnow
from laadplan.store import Store

log = logging.getLogger(__name__)

GRID_STATUS = R.rule("LP-GRID-STATUS", "grid", "capacity-map status not in -1..3 and not a known RAG colour")
GRID_GEOMETRY = R.rule("LP-GRID-GEOMETRY", "grid", "supply-area polygon (geometry_wkt) not readable")
PC6_CODE = R.rule("LP-PC6", ("grid", "requests", "candidates", "connections"),
                  "postal code is not a Dutch PC6 (1234AB)")


def ingest_grid(store: Store, source, cfg: RegionConfig, *, progress=None) -> IngestResult:
    started = utcnow()
    name = str(source)
    res = IngestResult("grid", name)
    q = Quarantine(store, "grid", name, res)
    with open_binary(source) as b:
        head = b.read(64).lstrip()
    if head.startswith(b"{"):
        frame = _json_frame(name, q, res)
    else:
        frame = _csv_frame(name, q, res, cfg)
    if progress:
        progress(res.read)
    q.flush()
    if len(frame):
        frame["source_file"] = name
    res.accepted = store_checked(store, "grid_areas", frame, q, name, "area", "area_code", res)
    log_run(store, res, started)
    return res


# -- JSON (official schema) -------------------------------------------------------------------------
def _json_frame(name: str, q: Quarantine, res: IngestResult) -> pd.DataFrame:
    with open_binary(name) as b:
        try:
            obj = json.loads(b.read().decode("utf-8-sig", errors="replace"))
        except json.JSONDecodeError as e:
            raise SourceError(f"{name}: not valid JSON ({e})") from None
        except RecursionError:
            raise SourceError(f"{name}: JSON nested too deeply to be a capacity map") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("energy_areas"), list):
        raise SourceError(f"{name}: not a capacity map (no 'energy_areas' list; schema im-capaciteitskaart)")
    issued = _parse_day(obj.get("issued"))
    valid = obj.get("valid") if isinstance(obj.get("valid"), dict) else {}
    valid_from = _parse_day(obj.get("date")) or _parse_day(valid.get("start")) or issued
    operator = obj.get("publisher") or obj.get("creator")
    rows: list[dict] = []
    pos = 0
    for ea in obj["energy_areas"]:
        pos += 1
        res.read += 1
        if not isinstance(ea, dict):
            q.add("LP-TYPE", pos, ea, f"{name} energy area {pos}: not an object")
            continue
        code = ea.get("short_code")
        pcs = ea.get("postcode_areas") or []
        pc_rows = []
        for pa in pcs if isinstance(pcs, list) else []:
            pos += 1
            res.read += 1
            if not isinstance(pa, dict):
                q.add("LP-TYPE", pos, pa, f"{name} postcode area {pos}: not an object")
                continue
            pc = normalise_pc6(pa.get("postcode"))
            st = status_from_value(pa.get("demand_constraint"))
            fs = status_from_value(pa.get("generation_constraint"))
            if pa.get("postcode") in (None, ""):
                q.add("LP-MISSING", pos, pa, f"{name} postcode area {pos}: postcode missing")
            elif pc is None:
                q.add("LP-PC6", pos, pa, f"{name} postcode area {pos}: {pa.get('postcode')!r} is not a PC6")
            elif st is None or fs is None:
                q.add("LP-GRID-STATUS", pos, pa, f"{name} postcode area {pc}: unknown constraint colour "
                                                 f"{pa.get('demand_constraint')!r}/{pa.get('generation_constraint')!r}")
            else:
                pc_rows.append({"area_code": pc, "level": "pc6", "parent_code": code,
                                "name": pa.get("description"), "operator": operator,
                                "offtake_status": st, "feedin_status": fs, "_pos": pos, "_raw": _dump(pa)})
        if not code:
            q.add("LP-MISSING", pos - len(pcs), ea, f"{name} energy area: short_code missing")
            # its PC6 rows stay valid without a parent
            for r in pc_rows:
                r["parent_code"] = None
            rows.extend(pc_rows)
            continue
        st = status_from_value(ea.get("demand_constraint")) if "demand_constraint" in ea else None
        fs = status_from_value(ea.get("generation_constraint")) if "generation_constraint" in ea else -1
        bad_num = [k for k in ("demand_available_capacity", "demand_quoted_capacity", "demand_capacity_in_queue")
                   if ea.get(k) is not None and not _finite(ea.get(k))]
        bad_num += [k for k in ("demand_requests_in_queue", "demand_alleviation_year")
                    if ea.get(k) is not None and not _whole(ea.get(k))]
        if ("demand_constraint" in ea and st is None) or fs is None:
            q.add("LP-GRID-STATUS", pos - len(pcs), ea,
                  f"{name} energy area {code}: unknown constraint colour {ea.get('demand_constraint')!r}")
            rows.extend(pc_rows)
            continue
        if bad_num:
            q.add("LP-TYPE", pos - len(pcs), ea, f"{name} energy area {code}: {bad_num} not numbers")
            rows.extend(pc_rows)
            continue
        if st is None:  # no own constraint: the worst of its PC6 areas (unknown without any)
            st = max((r["offtake_status"] for r in pc_rows), default=-1)
        rows.append({
            "area_code": code, "level": "congestion_area" if ea.get("type") == "congestion_area" else "supply_area",
            "name": ea.get("description"), "operator": operator, "parent_code": ea.get("demand_energy_area_short_code"),
            "offtake_status": st, "feedin_status": fs,
            "demand_available_mw": ea.get("demand_available_capacity"),
            "demand_quoted_mw": ea.get("demand_quoted_capacity"),
            "demand_queue_mw": ea.get("demand_capacity_in_queue"),
            "demand_requests_in_queue": ea.get("demand_requests_in_queue"),
            "demand_alleviation_year": ea.get("demand_alleviation_year"),
            "_pos": pos - len(pcs), "_raw": _dump({k: v for k, v in ea.items() if k != "postcode_areas"}),
        })
        rows.extend(pc_rows)
    df = pd.DataFrame(rows)
    if len(df):
        df["valid_from"] = pd.Timestamp(valid_from) if valid_from else pd.NaT
        df["last_updated_utc"] = pd.Timestamp(issued) if issued else pd.NaT
        df["source"] = "capaciteitskaart-json"
    return df


def _dump(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)[:20_000]


def _finite(v) -> bool:
    """A JSON number that is finite (NaN, Infinity and 1e400 are not; neither is a boolean)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _whole(v) -> bool:
    """A whole number an integer column can hold (not 1e19, not 2.5)."""
    return _finite(v) and float(v).is_integer() and abs(v) <= MAX_INT


def _parse_day(v):
    if not isinstance(v, str):
        return None
    try:
        return datetime.fromisoformat(v[:10]).date()
    except ValueError:
        return None


# -- CSV ----------------------------------------------------------------------------------------------
_INT_COLUMNS = ("demand_requests_in_queue", "demand_alleviation_year")


def _status_series(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    vals = [status_from_value(v if v is not pd.NA else None) for v in s]
    bad = pd.Series([v is None for v in vals], index=s.index)
    return pd.Series([(-1 if v is None else v) for v in vals], index=s.index, dtype="Int64"), bad


def _csv_frame(name: str, q: Quarantine, res: IngestResult, cfg: RegionConfig) -> pd.DataFrame:
    df = read_records(name, q, cfg.validation.max_csv_field_chars)
    res.read += len(df) + res.quarantined
    is_pc6 = any(c in df.columns for c in ("postcode", "pc6"))
    if len(df) and not is_pc6 and not any(c in df.columns for c in ("area_code", "voedingsgebied_id", "short_code")):
        raise SourceError(f"{name}: not a capacity-map CSV: it has no postcode/pc6 column (congestion per PC6) "
                          f"and no area_code/voedingsgebied_id/short_code column (supply areas); nothing was stored")
    err = RowErrors(df)
    off, bad_off = _status_series(pick(df, "offtake_status", "status_afname", "afname"))
    feed, bad_feed = _status_series(pick(df, "feedin_status", "status_invoeding", "invoeding"))
    valid_from, bad_date = to_date(pick(df, "valid_from", "datum", "date"))
    out = pd.DataFrame(index=df.index)
    if is_pc6:
        raw_pc = pick(df, "postcode", "pc6")
        pc = pd.Series([normalise_pc6(v) if v is not pd.NA else None for v in raw_pc], index=df.index, dtype="object")
        err.flag(raw_pc.isna(), "LP-MISSING", "postcode missing")
        err.flag(pc.isna(), "LP-PC6", lambda d: "postcode " + d.get("postcode", d.get("pc6")).astype(str) + " is not a PC6")
        out["area_code"] = pc.astype("string")
        out["level"] = "pc6"
        out["parent_code"] = pick(df, "area_code", "voedingsgebied_id", "short_code")
        out["source"] = "congestie-pc6-csv"
    else:
        code = pick(df, "area_code", "voedingsgebied_id", "short_code")
        err.flag(code.isna(), "LP-MISSING", "area_code (voedingsgebied_id) missing")
        out["area_code"] = code
        out["level"] = "supply_area"
        out["parent_code"] = pick(df, "parent_code")
        out["source"] = "voedingsgebieden-csv"
        nums = {}
        for col, aliases in {"demand_available_mw": ("demand_available_mw", "aanwezige_capaciteit_afname_mw"),
                             "demand_quoted_mw": ("demand_quoted_mw", "benodigde_capaciteit_afname_mw"),
                             "demand_queue_mw": ("demand_queue_mw", "wachtrij_afname_mw"),
                             "demand_requests_in_queue": ("demand_requests_in_queue", "aantal_aanvragen_afname"),
                             "demand_alleviation_year": ("demand_alleviation_year", "jaar_opgelost_afname")}.items():
            v, bad = to_float(pick(df, *aliases))
            err.flag(bad, "LP-TYPE", f"{col} is not a number")
            err.flag(v < 0, "LP-TYPE", f"{col} is negative")
            if col in _INT_COLUMNS:
                err.flag(int_bad(v), "LP-TYPE", f"{col} is not a whole number")
            nums[col] = v
        for col, v in nums.items():
            out[col] = to_int(v) if col in _INT_COLUMNS else v
        wkt = pick(df, "geometry_wkt", "wkt", "geometry")
        geoms = np.full(len(df), None, dtype=object)
        has = wkt.notna().to_numpy()
        if has.any():
            parsed = shapely.from_wkt(wkt[has].astype(str).to_numpy(), on_invalid="ignore")
            ok = np.array([g is not None and not g.is_empty and g.geom_type in ("Polygon", "MultiPolygon")
                           for g in parsed])
            badg = pd.Series(False, index=df.index)
            badg.iloc[np.flatnonzero(has)[~ok]] = True
            err.flag(badg, "LP-GRID-GEOMETRY", "geometry_wkt is not a polygon in WKT")
            good = parsed[ok]
            invalid = ~shapely.is_valid(good)
            if invalid.any():  # a bow-tie: repaired to its polygonal part, and said so
                good = good.copy()
                good[invalid] = shapely.make_valid(good[invalid], method="structure", keep_collapsed=False)
                codes = pick(df, "area_code", "voedingsgebied_id", "short_code")[has].to_numpy()[ok][invalid]
                res.notes.append(f"{int(invalid.sum())} invalid supply-area polygon(s) (e.g. self-intersecting) "
                                 "repaired with make_valid: " + ", ".join(map(str, codes[:10])))
            geoms[np.flatnonzero(has)[ok]] = shapely.to_wkb(good)
        out["geometry_wkb"] = pd.Series(list(geoms), index=df.index, dtype="object")
    err.flag(bad_off, "LP-GRID-STATUS", "offtake status not in -1..3 or a RAG colour")
    err.flag(bad_feed, "LP-GRID-STATUS", "feed-in status not in -1..3 or a RAG colour")
    err.flag(bad_date, "LP-TYPE", "valid_from is not a date")
    out["name"] = pick(df, "name", "naam")
    out["operator"] = pick(df, "operator", "netbeheerder")
    out["offtake_status"] = off
    out["feedin_status"] = feed
    out["valid_from"] = valid_from
    out["last_updated_utc"] = valid_from
    err.quarantine(q, name, id_col=None)
    out["_pos"], out["_raw"] = df["_pos"], df["_raw"]
    return out[~err.bad].reset_index(drop=True)
