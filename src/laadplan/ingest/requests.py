"""``laadplan ingest requests``: driver requests for a public charge point (CSV ``,``/``;``).

Columns (aliases in brackets)::

    request_id (id, aanvraag_id), requested_date (date, datum), address (adres), postal_code (postcode),
    lat, lon (or x_rd, y_rd), gm_code (optional; else point-in-polygon on loaded gemeenten),
    lives_in_gm (woont_in_gemeente), works_in_gm (werkt_in_gemeente), drives_ev (rijdt_elektrisch),
    has_private_parking (eigen_parkeerplaats), annual_kwh (kwh_per_jaar), last_updated (optional)

Dates are ISO 8601 (``2026-04-03``); ``validation.requests_dayfirst`` also accepts day-first dates
(``03/04/2026`` = 3 April). A date more than ``validation.last_updated_future_h`` ahead is LP-FUTURE. The
same request id with the same (or no) last_updated as an earlier record or a stored one but other content
is LP-DUPLICATE: a changed request needs a newer last_updated.

Booleans accept true/false, 1/0, yes/no, ja/nee. Decisions are made by ``laadplan requests`` (or
``laadplan plan``), not at ingest. A request without id, date or coordinates, with a bad date or
number, or outside the Netherlands is quarantined under its rule.
"""

from __future__ import annotations

import pandas as pd

from laadplan.config import RegionConfig
from laadplan.grid.capacity import normalise_pc6
from laadplan.ingest import rules as R
from laadplan.ingest._csvstream import future_limit, future_message
from laadplan.ingest._tabular import fill_gm_code, RowErrors, pick, read_records, store_checked, to_bool, to_date, \
    to_float
from laadplan.ingest.base import IngestResult, Quarantine, log_run, utcnow
from laadplan.ingest.connections import point_columns
from laadplan.store import Store

PC6_CODE = R.rule("LP-PC6", ("grid", "requests", "candidates", "connections"),
                  "postal code is not a Dutch PC6 (1234AB)")

_BOOLS = {"lives_in_gm": ("lives_in_gm", "woont_in_gemeente"),
          "works_in_gm": ("works_in_gm", "werkt_in_gemeente"),
          "drives_ev": ("drives_ev", "rijdt_elektrisch"),
          "has_private_parking": ("has_private_parking", "eigen_parkeerplaats")}


def ingest_requests(store: Store, source, cfg: RegionConfig, *, progress=None) -> IngestResult:
    started = utcnow()
    name = str(source)
    res = IngestResult("requests", name)
    q = Quarantine(store, "requests", name, res)
    df = read_records(name, q, cfg.validation.max_csv_field_chars)
    res.read = len(df) + res.quarantined
    if progress:
        progress(res.read)
    err = RowErrors(df)
    rid = pick(df, "request_id", "id", "aanvraag_id")
    err.flag(rid.isna(), "LP-MISSING", "request_id missing")
    raw_date = pick(df, "requested_date", "date", "datum")
    rdate, bad_d = to_date(raw_date, dayfirst=cfg.validation.requests_dayfirst)
    err.flag(raw_date.isna(), "LP-MISSING", "requested_date missing")
    err.flag(bad_d, "LP-TYPE", "requested_date is not an ISO date (YYYY-MM-DD)" if not cfg.validation.requests_dayfirst
             else "requested_date is not a date (ISO or day first)")
    limit = future_limit(cfg)
    err.flag(rdate > limit, "LP-FUTURE", future_message(cfg, "requested_date"))
    pts = point_columns(df, err, cfg)
    out = pd.concat([pd.DataFrame({"request_id": rid, "requested_date": rdate}), pts], axis=1)
    for col, aliases in _BOOLS.items():
        v, bad = to_bool(pick(df, *aliases))
        err.flag(bad, "LP-TYPE", f"{col} is not true/false")
        out[col] = v
    kwh, bad_k = to_float(pick(df, "annual_kwh", "kwh_per_jaar"))
    err.flag(bad_k | (kwh < 0), "LP-TYPE", "annual_kwh is not a non-negative number")
    out["annual_kwh"] = kwh
    raw_pc = pick(df, "postal_code", "postcode")
    pc = pd.Series([normalise_pc6(v) if v is not pd.NA else None for v in raw_pc], index=df.index, dtype="object")
    err.flag(raw_pc.notna() & pc.isna(), "LP-PC6", "postal_code is not a PC6")
    out["postal_code"] = pc.astype("string")
    out["address"] = pick(df, "address", "adres")
    out["gm_code"] = pick(df, "gm_code", "gemeentecode")
    upd, bad_u = to_date(pick(df, "last_updated"), dayfirst=cfg.validation.requests_dayfirst)
    err.flag(bad_u, "LP-TYPE", "last_updated is not a date")
    err.flag(upd > limit, "LP-FUTURE", future_message(cfg))
    out["last_updated_utc"] = upd
    err.quarantine(q, name, id_col="request_id" if "request_id" in df.columns else None)
    out["_pos"], out["_raw"] = df["_pos"], df["_raw"]
    out = out[~err.bad].reset_index(drop=True)
    fill_gm_code(store, out)
    out["source"] = "requests-csv"
    out["source_file"] = name
    res.accepted = store_checked(store, "requests", out, q, name, "request", "request_id", res)
    q.flush()
    log_run(store, res, started)
    return res
