"""OCPI 2.2.1 Tariffs -> the ``tariffs`` table.

Any OCPI container (JSON array, ``{"data": [...]}``, NDJSON, a single object; gzip; path or URL). Each
tariff is validated with :class:`laadplan.ingest.ocpi.Tariff` (mandatory: country_code, party_id, id,
currency, elements with price components, last_updated; ``LP-MISSING`` / ``LP-TYPE``; broken JSON is
``LP-MALFORMED``; same key and last_updated as an earlier tariff but different content ``LP-DUPLICATE``).

Summaries per tariff, over all elements (whatever their restrictions), prices excl. VAT as in OCPI:
``energy_price_eur_kwh_max`` = max ENERGY price; ``energy_price_eur_kwh_max_incl_vat`` = max over ENERGY
components of ``price x (1 + vat/100)``, null when a non-zero ENERGY component omits vat (VAT unknown; the
contract check applies the region's ``contract.vat_pct_when_missing`` when set); ``time_price_eur_h_max``,
``parking_price_eur_h_max``, ``flat_price_eur_max`` the maxima of TIME, PARKING_TIME and FLAT;
``vat_pct`` the VAT of the first ENERGY component (else of the first component). The elements are kept
verbatim as JSON (``elements_json``) for tariff calculations.

A tariff without ``type`` breaks the LINDA profile (``LINDA-TARIFF-TYPE``); LINDA only warns, so it is
accepted and counted in the run's notes.

``tariffs`` keeps the newest version of each (country_code, party_id, tariff_id); ``tariff_versions``
gains every version not seen before (key plus ``last_updated``), so reloading a file changes nothing and an
older file loaded after a newer one still adds its version to the history. LP-DUPLICATE is checked
against both.
"""

from __future__ import annotations

import json
import logging
from typing import Iterable

import pandas as pd
from pydantic import ValidationError

from laadplan.config import RegionConfig
from laadplan.ingest import ocpi
from laadplan.ingest._csvstream import BATCH, future_limit, future_message
from laadplan.ingest._io import source_name
from laadplan.ingest._records import JsonRecord, Limits, iter_json_records
from laadplan.ingest._tabular import quarantine_duplicates
from laadplan.ingest.base import IngestResult, Progress, Quarantine, log_run, utcnow
from laadplan.ingest.locations import split_duplicates
from laadplan.model import table
from laadplan.store import Store, UpsertResult

log = logging.getLogger(__name__)


def tariff_row(t: ocpi.Tariff, elements: list) -> dict:
    """The ``tariffs`` row of a validated tariff (``elements`` = the original JSON elements)."""
    comps = [pc for el in t.elements for pc in el.price_components]

    def mx(kind: str, incl_vat: bool = False) -> float | None:
        of = [pc for pc in comps if pc.type == kind]
        if incl_vat and any(pc.vat is None and pc.price != 0 for pc in of):
            return None  # VAT unknown: not "no VAT"
        vals = [pc.price * (1 + (pc.vat or 0) / 100) if incl_vat else pc.price for pc in of]
        return max(vals) if vals else None

    energy = [pc for pc in comps if pc.type == "ENERGY"]
    vat_src = energy[0] if energy else (comps[0] if comps else None)
    return {
        "country_code": t.country_code.upper(), "party_id": t.party_id.upper(), "tariff_id": t.id,
        "currency": t.currency.upper(), "type": t.type,
        "energy_price_eur_kwh_max": mx("ENERGY"), "energy_price_eur_kwh_max_incl_vat": mx("ENERGY", True),
        "time_price_eur_h_max": mx("TIME"), "parking_price_eur_h_max": mx("PARKING_TIME"),
        "flat_price_eur_max": mx("FLAT"), "vat_pct": vat_src.vat if vat_src is not None else None,
        "start_utc": t.start_date_time, "end_utc": t.end_date_time,
        "elements_json": json.dumps(elements, ensure_ascii=False, sort_keys=True),
        "last_updated_utc": t.last_updated,
    }


def ingest_tariffs(store: Store, source: str, cfg: RegionConfig, *, progress: Progress | None = None
                   ) -> IngestResult:
    """Ingest OCPI 2.2.1 Tariff objects (see the module doc)."""
    name = source_name(source)
    return _ingest_records(store, iter_json_records(source, Limits.of(cfg)), cfg, name, progress=progress)


def ingest_tariff_records(store: Store, records: Iterable[JsonRecord], cfg: RegionConfig, name: str, *,
                          digest: str | None = None) -> IngestResult:
    """Tariff objects that did not come from a file (the OCPI receiver's pushes): the same validation, storage
    and quarantine as a file's records, as one ingest run named ``name`` (``digest`` names its content)."""
    return _ingest_records(store, records, cfg, name, digest=digest)


def _ingest_records(store: Store, records: Iterable[JsonRecord], cfg: RegionConfig, name: str, *,
                    progress: Progress | None = None, digest: str | None = None) -> IngestResult:
    started = utcnow()
    res = IngestResult("tariffs", name, digest=digest)
    q = Quarantine(store, "tariffs", name, res)
    rows: list[dict] = []
    n = 0
    no_type, example = 0, None
    limit = future_limit(cfg).to_pydatetime()
    for rec in records:
        res.read += 1
        n += 1
        if rec.error is not None:
            q.add("LP-MALFORMED", rec.position, rec.raw_text(), f"{name} record {rec.position}: {rec.error}")
        elif not isinstance(rec.obj, dict):
            q.add("LP-TYPE", rec.position, rec.obj, f"{name} record {rec.position}: a Tariff is a JSON object")
        else:
            row = None
            try:
                t = ocpi.Tariff.model_validate(rec.obj)
            except ValidationError as e:
                code, msg = ocpi.rule_for(e)
                q.add(code, rec.position, rec.obj, f"{name} record {rec.position} (Tariff {rec.obj.get('id')}): {msg}",
                      record_id=str(rec.obj.get("id")), party_id=rec.obj.get("party_id")
                      if isinstance(rec.obj.get("party_id"), str) else None)
            else:
                rid, pid = str(t.id), t.party_id
                if t.last_updated > limit:
                    q.add("LP-FUTURE", rec.position, rec.obj, f"{name} record {rec.position} (Tariff {rid}): "
                          + future_message(cfg), record_id=rid, party_id=pid)
                elif t.start_date_time and t.end_date_time and t.start_date_time >= t.end_date_time:
                    q.add("LP-PERIOD", rec.position, rec.obj, f"{name} record {rec.position} (Tariff {rid}): "
                          f"start_date_time {t.start_date_time} is not before end_date_time {t.end_date_time}",
                          record_id=rid, party_id=pid)
                else:
                    if t.type is None:
                        no_type += 1
                        example = example or rid
                    row = tariff_row(t, rec.obj.get("elements"))
            if row is not None:
                row.update(source="ocpi-2.2.1", source_file=name, _pos=rec.position, _raw=rec.obj)
                rows.append(row)
        if n >= BATCH:
            _flush(store, rows, name, res, q)
            if progress is not None:
                progress(n)
            rows, n = [], 0
    _flush(store, rows, name, res, q)
    if progress is not None:
        progress(n)
    q.flush()
    if no_type:
        res.notes.append(f"LINDA-TARIFF-TYPE: {no_type:,} accepted with a note (tariff without type; e.g. "
                         f"{example!r})")
    log_run(store, res, started)
    return res


def _flush(store: Store, rows: list[dict], name: str, res: IngestResult, q: Quarantine) -> None:
    if not rows:
        return
    df = pd.DataFrame(rows)
    for c in ("start_utc", "end_utc", "last_updated_utc"):
        df[c] = pd.to_datetime(df[c]).astype("datetime64[us]")
    kept, dups = df.drop(columns=["_raw"]), df.iloc[0:0]
    for tab in ("tariffs", "tariff_versions"):  # the newest version, then every earlier one
        kept, d = split_duplicates(store, tab, kept)
        dups = pd.concat([dups, d]) if len(d) else dups
    quarantine_duplicates(q, df, dups, name, "tariff", "tariff_id", with_party=True)
    res.accepted += len(kept)
    if len(kept):
        for tab in ("tariffs", "tariff_versions"):  # same columns; only the key differs
            res.upserts.setdefault(tab, UpsertResult())
            res.upserts[tab] += store.upsert(tab, kept.reindex(columns=table(tab).column_names))
