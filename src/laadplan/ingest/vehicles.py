"""Reader for CBS vehicle fleet counts per area (StatLine 85236NED "Motorvoertuigenpark; inwoners, soort
voertuig en regio, 1 januari"), as CSV.

Two layouts are accepted (both as in the CBS OData column names):

* per region: ``region_code,region_name,year,TotaalWegvoertuigen_1,Personenauto_2,Bestelauto_5,
  VrachtautoExclTrekkerVoorOplegger_6,TrekkerVoorOplegger_7,Bus_9,Motorfiets_13`` with region codes
  ``NL01`` (country), ``PVnn`` (province), ``GMnnnn`` (gemeente), ``WKnnnnnn``, ``BUnnnnnnnn``;
* per PC4: ``pc4_code,name,gm_code,province,year,<same counts>`` with ``PCnnnn`` or ``nnnn``.

PC4 codes are stored as the bare four digits (``3011``), like the areas table. Rows go to
``vehicle_counts`` keyed by (area_code, area_level, year); a reload of the same file changes nothing.
CBS figures carry no modification time, so a stored (area, year) is kept when a file repeats it: to load
revised figures, clear the table first (``DELETE FROM vehicle_counts``).
"""

from __future__ import annotations

import csv
import re
from typing import Any

import pandas as pd

from laadplan.ingest import rules as R
from laadplan.ingest._io import open_text, source_name
from laadplan.ingest.base import IngestResult, Progress, Quarantine, SourceError, log_run, utcnow
from laadplan.store import Store

VEHICLE_CODE = R.rule("LP-VEHICLES-CODE", "vehicles",
                      "area code is not a CBS region code (NL01, PVnn, GMnnnn, WKnnnnnn, BUnnnnnnnn) or a PC4")
VEHICLE_COUNT = R.rule("LP-VEHICLES-COUNT", "vehicles", "a vehicle count is negative")

COUNT_COLUMNS = {
    "TotaalWegvoertuigen_1": "road_vehicles",
    "Personenauto_2": "cars",
    "Bestelauto_5": "vans",
    "VrachtautoExclTrekkerVoorOplegger_6": "trucks",
    "TrekkerVoorOplegger_7": "tractor_units",
    "Bus_9": "buses",
    "Motorfiets_13": "motorcycles",
}
_LEVELS = [
    (re.compile(r"^NL0\d$"), "country"),
    (re.compile(r"^PV\d{2}$"), "province"),
    (re.compile(r"^GM\d{4}$"), "gemeente"),
    (re.compile(r"^WK\d{6}$"), "wijk"),
    (re.compile(r"^BU\d{8}$"), "buurt"),
    (re.compile(r"^(?:PC)?(\d{4})$"), "pc4"),
]
SOURCE = "cbs-85236NED-csv"


def area_level(code: str) -> tuple[str, str] | None:
    """(normalised code, level) for a CBS region code or PC4, else None."""
    code = code.strip().upper()
    for pat, level in _LEVELS:
        m = pat.match(code)
        if m:
            return (m.group(1) if level == "pc4" else code), level
    return None


def ingest_vehicles(store: Store, source, cfg, *, progress: Progress | None = None) -> IngestResult:
    name = source_name(source)
    started = utcnow()
    result = IngestResult("vehicles", name)
    q = Quarantine(store, "vehicles", name, result)
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, int], tuple] = {}
    with open_text(source) as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise SourceError(f"{name}: empty file, expected a CBS 85236NED vehicle CSV") from None
        except csv.Error as e:
            raise SourceError(f"{name}: not a CSV file ({e})") from None
        header = [h.strip() for h in header]
        code_col = "region_code" if "region_code" in header else "pc4_code" if "pc4_code" in header else None
        missing = [c for c in ("year", "Personenauto_2") if c not in header]
        if code_col is None or missing:
            raise SourceError(f"{name}: not a CBS 85236NED vehicle CSV: needs region_code or pc4_code, year and "
                              f"the count columns (e.g. Personenauto_2); header is {header}")
        name_col = "region_name" if "region_name" in header else "name" if "name" in header else None
        pos = 1
        try:
            for rec in reader:
                pos += 1
                result.read += 1
                raw = ",".join(rec)
                if len(rec) != len(header):
                    q.add("LP-MALFORMED", pos, raw, f"{len(rec)} fields, header has {len(header)}")
                    continue
                r = dict(zip(header, (v.strip() for v in rec)))
                code_raw = r.get(code_col, "")
                if not code_raw or not r.get("year"):
                    q.add("LP-MISSING", pos, raw, f"{code_col} or year is empty", record_id=code_raw or None)
                    continue
                norm = area_level(code_raw)
                if norm is None:
                    q.add("LP-VEHICLES-CODE", pos, raw, f"{code_col} {code_raw!r} is not a CBS code or PC4",
                          record_id=code_raw)
                    continue
                code, level = norm
                try:
                    year = int(float(r["year"]))
                    counts = {out: (None if r.get(col, "") == "" else int(float(r[col])))
                              for col, out in COUNT_COLUMNS.items() if col in r}
                except ValueError as e:
                    q.add("LP-TYPE", pos, raw, f"year or a count is not a number ({e})", record_id=code_raw)
                    continue
                neg = [k for k, v in counts.items() if v is not None and v < 0]
                if neg:
                    q.add("LP-VEHICLES-COUNT", pos, raw, f"negative count in {', '.join(neg)}", record_id=code_raw)
                    continue
                row = {"area_code": code, "area_level": level, "year": year,
                       "name": r.get(name_col) if name_col else None,
                       "gm_code": r.get("gm_code") or (code if level == "gemeente" else None),
                       "province": r.get("province") or None, **counts,
                       "source": SOURCE, "source_file": name}
                key = (code, level, year)
                content = tuple(sorted((k, str(v)) for k, v in row.items()))
                if key in seen:
                    if seen[key] != content:
                        q.add("LP-DUPLICATE", pos, raw, f"{code} {year} appears twice with different counts",
                              record_id=code_raw)
                    else:
                        result.accepted += 1  # identical repeat: accepted, stored once
                    continue
                seen[key] = content
                rows.append(row)
                result.accepted += 1
                if progress and result.read % 1000 == 0:
                    progress(1000)
        except csv.Error as e:
            raise SourceError(f"{name}: CSV error near line {pos + 1}: {e}") from None
    if progress and result.read % 1000:
        progress(result.read % 1000)
    q.flush()
    if rows:
        result.upserts["vehicle_counts"] = store.upsert("vehicle_counts", pd.DataFrame(rows))
    log_run(store, result, started)
    return result
