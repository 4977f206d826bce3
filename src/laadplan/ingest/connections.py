"""``laadplan ingest connections``: existing grid connections (CSV ``,``/``;`` or Parquet).

Columns (aliases in brackets)::

    ean18 (ean, ean_code), lat, lon (or x_rd, y_rd in RD New), contracted_kw (gecontracteerd_kw),
    peak_kw (piek_kw, measured peak), feeds_charge_points (laadpunten: true/false/1/0/ja/nee),
    postal_code (postcode, optional PC6), gm_code (optional), last_updated (optional measurement date)

``spare_kw = max(0, contracted_kw - peak_kw)``. A record with an EAN that is not 18 digits or fails the
GS1 check digit (``LP-EAN18``), coordinates outside the Netherlands (``LP-COORDS-NL``), a missing or
non-numeric power (``LP-MISSING`` / ``LP-TYPE``) or a negative / zero contract (``LP-GRID-KW``) is
quarantined. Duplicate EANs: the newest ``last_updated`` wins; the same EAN with the same (or no)
``last_updated`` as an earlier record of the file or a stored one, but different content, is
``LP-DUPLICATE`` (as for CDRs and locations: a changed record needs a newer date).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laadplan import geo
from laadplan.config import RegionConfig
from laadplan.grid.capacity import ean18_valid, normalise_pc6
from laadplan.ingest import rules as R
from laadplan.ingest._csvstream import future_limit, future_message
from laadplan.ingest._tabular import fill_gm_code, RowErrors, pick, read_records, store_checked, to_bool, to_date, \
    to_float
from laadplan.ingest.base import IngestResult, Quarantine, log_run, utcnow
from laadplan.store import Store

EAN18 = R.rule("LP-EAN18", "connections", "EAN18 code is not 18 digits or fails the GS1 check digit")
GRID_KW = R.rule("LP-GRID-KW", "connections", "contracted kW not positive or peak kW negative")
PC6_CODE = R.rule("LP-PC6", ("grid", "requests", "candidates", "connections"),
                  "postal code is not a Dutch PC6 (1234AB)")


def point_columns(df: pd.DataFrame, err: RowErrors, cfg: RegionConfig) -> pd.DataFrame:
    """lat/lon/x_rd/y_rd from lat+lon or x_rd+y_rd columns, flagging missing, non-numeric and outside-NL."""
    lat, bad_lat = to_float(pick(df, "lat", "latitude", "breedtegraad"))
    lon, bad_lon = to_float(pick(df, "lon", "lng", "longitude", "lengtegraad"))
    x, bad_x = to_float(pick(df, "x_rd", "x"))
    y, bad_y = to_float(pick(df, "y_rd", "y"))
    err.flag(bad_lat | bad_lon | bad_x | bad_y, "LP-TYPE", "coordinate is not a number")
    use_rd = lat.isna() & lon.isna() & x.notna() & y.notna()
    if use_rd.any():
        lo, la = geo.to_wgs84(x[use_rd].to_numpy(), y[use_rd].to_numpy())
        lat[use_rd], lon[use_rd] = la, lo
    err.flag(lat.isna() | lon.isna(), "LP-MISSING", "coordinates missing")
    v = cfg.validation
    outside = ~(lat.between(v.bbox_lat_min, v.bbox_lat_max) & lon.between(v.bbox_lon_min, v.bbox_lon_max))
    err.flag(outside & lat.notna() & lon.notna(), "LP-COORDS-NL",
             lambda d: "coordinates outside the Netherlands (lat/lon swapped?)")
    xr, yr = geo.to_rd(lon.to_numpy(), lat.to_numpy())
    return pd.DataFrame({"lat": lat, "lon": lon, "x_rd": xr, "y_rd": yr}, index=df.index)


def ingest_connections(store: Store, source, cfg: RegionConfig, *, progress=None) -> IngestResult:
    started = utcnow()
    name = str(source)
    res = IngestResult("connections", name)
    q = Quarantine(store, "connections", name, res)
    df = read_records(name, q, cfg.validation.max_csv_field_chars)
    res.read = len(df) + res.quarantined
    if progress:
        progress(res.read)
    err = RowErrors(df)
    ean = pick(df, "ean18", "ean", "ean_code")
    err.flag(ean.isna(), "LP-MISSING", "ean18 missing")
    err.flag(~ean.fillna("").map(ean18_valid).astype(bool), "LP-EAN18",
             lambda d: "EAN " + pick(d, "ean18", "ean", "ean_code").astype(str) + " is not a valid EAN18")
    pts = point_columns(df, err, cfg)
    raw_c, raw_p = pick(df, "contracted_kw", "gecontracteerd_kw"), pick(df, "peak_kw", "piek_kw")
    contracted, bad_c = to_float(raw_c)
    peak, bad_p = to_float(raw_p)
    err.flag(raw_c.isna() | raw_p.isna(), "LP-MISSING", "contracted_kw or peak_kw missing")
    err.flag(bad_c | bad_p, "LP-TYPE", "contracted_kw or peak_kw is not a number")
    err.flag((contracted <= 0) | (peak < 0), "LP-GRID-KW", "contracted_kw <= 0 or peak_kw < 0")
    feeds, bad_f = to_bool(pick(df, "feeds_charge_points", "laadpunten", "charge_points"))
    err.flag(bad_f, "LP-TYPE", "feeds_charge_points is not true/false")
    raw_pc = pick(df, "postal_code", "postcode", "pc6")
    pc = pd.Series([normalise_pc6(v) if v is not pd.NA else None for v in raw_pc], index=df.index, dtype="object")
    err.flag(raw_pc.notna() & pc.isna(), "LP-PC6", "postal_code is not a PC6")
    updated, bad_u = to_date(pick(df, "last_updated", "measured_date", "meetdatum"))
    err.flag(bad_u, "LP-TYPE", "last_updated is not a date")
    err.flag(updated > future_limit(cfg), "LP-FUTURE", future_message(cfg))
    err.quarantine(q, name, id_col="ean18" if "ean18" in df.columns else None)
    ok = ~err.bad
    out = pd.concat([pd.DataFrame({"ean18": ean}), pts], axis=1)[ok]
    out["contracted_kw"] = contracted[ok]
    out["peak_kw"] = peak[ok]
    out["spare_kw"] = np.maximum(0.0, contracted[ok] - peak[ok])
    out["feeds_charge_points"] = feeds[ok].fillna(False)
    out["postal_code"] = pc[ok].astype("string")
    out["gm_code"] = pick(df, "gm_code")[ok]
    out["last_updated_utc"] = updated[ok]
    out["source"] = "connections-parquet" if name.endswith(".parquet") else "connections-csv"
    out["source_file"] = name
    out["_pos"], out["_raw"] = df["_pos"][ok], df["_raw"][ok]
    fill_gm_code(store, out)
    n_over = int((peak[ok] > contracted[ok]).sum())
    if n_over:
        res.notes.append(f"{n_over} connection(s) with peak above contract: spare_kw set to 0")
    res.accepted = store_checked(store, "grid_connections", out.reset_index(drop=True), q, name, "connection",
                                 "ean18", res)
    q.flush()
    log_run(store, res, started)
    return res
