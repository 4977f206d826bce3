"""``laadplan ingest candidates``: candidate sites for new public charge points (CSV ``,``/``;``,
GeoJSON points or Parquet).

Columns (aliases in brackets)::

    site_id (id), lat, lon (or x_rd, y_rd, or a GeoJSON Point), kind (parking_bay, municipal_list,
    generated, other; default other), max_evses (optional), gm_code (optional), postal_code (optional PC6),
    name (optional), last_updated (optional)

Missing id or coordinates, a non-numeric or < 1 max_evses, an unknown kind, a bad PC6 or coordinates
outside the Netherlands quarantine the record under its rule.
"""

from __future__ import annotations

import pandas as pd

from laadplan.config import RegionConfig
from laadplan.grid.capacity import normalise_pc6
from laadplan.ingest import rules as R
from laadplan.ingest._tabular import fill_gm_code, RowErrors, pick, read_records, to_date, to_float
from laadplan.ingest.base import IngestResult, Quarantine, log_run, utcnow
from laadplan.ingest.connections import point_columns
from laadplan.model.placement import CANDIDATE_KINDS
from laadplan.store import Store

PC6_CODE = R.rule("LP-PC6", ("grid", "requests", "candidates", "connections"),
                  "postal code is not a Dutch PC6 (1234AB)")


def ingest_candidates(store: Store, source, cfg: RegionConfig, *, progress=None) -> IngestResult:
    started = utcnow()
    name = str(source)
    res = IngestResult("candidates", name)
    q = Quarantine(store, "candidates", name, res)
    df = read_records(name, q)
    res.read = len(df) + res.quarantined
    if progress:
        progress(res.read)
    err = RowErrors(df)
    sid = pick(df, "site_id", "id")
    err.flag(sid.isna(), "LP-MISSING", "site_id missing")
    pts = point_columns(df, err, cfg)
    kind = pick(df, "kind", "soort").fillna("other").str.lower()
    err.flag(~kind.isin(CANDIDATE_KINDS), "LP-TYPE", f"kind is not one of {', '.join(CANDIDATE_KINDS)}")
    mx, bad_m = to_float(pick(df, "max_evses", "max_laadpunten"))
    err.flag(bad_m | (mx < 1), "LP-TYPE", "max_evses is not a number >= 1")
    raw_pc = pick(df, "postal_code", "postcode")
    pc = pd.Series([normalise_pc6(v) if v is not pd.NA else None for v in raw_pc], index=df.index, dtype="object")
    err.flag(raw_pc.notna() & pc.isna(), "LP-PC6", "postal_code is not a PC6")
    upd, bad_u = to_date(pick(df, "last_updated"))
    err.flag(bad_u, "LP-TYPE", "last_updated is not a date")
    out = pd.concat([pd.DataFrame({"site_id": sid}), pts], axis=1)
    out["kind"] = kind
    out["max_evses"] = mx.round().astype("Int64")
    out["postal_code"] = pc.astype("string")
    out["gm_code"] = pick(df, "gm_code")
    out["name"] = pick(df, "name", "naam", "straat")
    out["last_updated_utc"] = upd
    err.quarantine(q, name, id_col="site_id" if "site_id" in df.columns else None)
    out = out[~err.bad].reset_index(drop=True)
    fill_gm_code(store, out)
    out["source"] = "candidates"
    out["source_file"] = name
    res.accepted = len(out)
    if len(out):
        res.upserts["candidates"] = store.upsert("candidates", out)
    q.flush()
    log_run(store, res, started)
    return res
