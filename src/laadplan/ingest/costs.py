"""Reader for the region's actual concession costs: a CSV with ``year, category, amount_eur, description``.

Amounts may use a decimal comma (``1234,56``) when they have no thousands separator. A row with a missing
year or amount is quarantined under ``LP-MISSING``, an unparseable one under ``LP-TYPE``, a year outside
2000..2100 under ``LP-COST-YEAR``, a row with the wrong number of fields under ``LP-MALFORMED``. Rows are
keyed by (source file, line): reading the same file again changes nothing; a corrected file replaces the
lines that changed.
"""

from __future__ import annotations

import csv
import logging

import pandas as pd

from laadplan.config import RegionConfig
from laadplan.ingest import rules as R
from laadplan.ingest._io import SourceError, open_text, source_name
from laadplan.ingest.base import IngestResult, Progress, Quarantine, log_run, utcnow
from laadplan.store import Store, UpsertResult

log = logging.getLogger(__name__)

COST_YEAR = R.rule("LP-COST-YEAR", "costs", "cost year outside 2000..2100")
COLUMNS = ("year", "category", "amount_eur", "description")


def _amount(s: str) -> float:
    s = s.strip().replace("\u20ac", "").replace(" ", "")
    if "," in s and "." not in s:
        s = s.replace(",", ".")
    return float(s)


def ingest_costs(store: Store, source: str, cfg: RegionConfig, *, progress: Progress | None = None) -> IngestResult:
    name = source_name(source)
    started = utcnow()
    res = IngestResult("costs", name)
    q = Quarantine(store, "costs", name, res)
    rows = []
    try:
        with open_text(source) as f:
            reader = csv.reader(f)
            try:
                header = [h.strip().lower() for h in next(reader)]
            except StopIteration:
                raise SourceError(f"{name}: empty file, expected a header {','.join(COLUMNS)}") from None
            missing = [c for c in ("year", "amount_eur") if c not in header]
            if missing:
                raise SourceError(f"{name}: costs CSV lacks column(s) {missing}; expected {','.join(COLUMNS)}")
            idx = {c: header.index(c) for c in COLUMNS if c in header}
            for line_no, rec in enumerate(reader, start=2):
                if not rec or all(not x.strip() for x in rec):
                    continue
                res.read += 1
                raw = ",".join(rec)
                if len(rec) != len(header):
                    q.add("LP-MALFORMED", line_no, raw, f"{len(rec)} fields, header has {len(header)}")
                    continue
                year_s, amt_s = rec[idx["year"]].strip(), rec[idx["amount_eur"]].strip()
                if not year_s or not amt_s:
                    q.add("LP-MISSING", line_no, raw, "year and amount_eur are mandatory")
                    continue
                try:
                    year, amount = int(year_s), _amount(amt_s)
                except ValueError:
                    q.add("LP-TYPE", line_no, raw, f"year {year_s!r} or amount {amt_s!r} is not a number")
                    continue
                if not 2000 <= year <= 2100:
                    q.add("LP-COST-YEAR", line_no, raw, f"year {year} outside 2000..2100")
                    continue
                rows.append({"source_file": name, "position": line_no, "year": year,
                             "category": rec[idx["category"]].strip() if "category" in idx else None,
                             "amount_eur": amount,
                             "description": rec[idx["description"]].strip() if "description" in idx else None,
                             "ingested_utc": started})
                if progress:
                    progress(1)
    except (UnicodeDecodeError, csv.Error) as e:
        raise SourceError(f"{name}: not a readable CSV ({e})") from None
    q.flush()
    df = pd.DataFrame(rows, columns=["source_file", "position", "year", "category", "amount_eur", "description",
                                     "ingested_utc"])
    res.accepted = len(df)
    # a corrected file: drop lines of this file whose content changed (or that disappeared)
    old = store.frame("costs", "source_file = ?", [name])
    n_old = len(old)
    if n_old:
        cmp = ["position", "year", "category", "amount_eur", "description"]
        same = old[cmp].astype(str).merge(df[cmp].astype(str), how="inner", on=cmp)["position"]
        store.con.execute("DELETE FROM costs WHERE source_file = ? AND NOT list_contains(?, position)",
                          [name, [int(p) for p in same]])
    changed = n_old - store.count("costs", "source_file = ?", [name])
    up = store.upsert("costs", df) if len(df) else UpsertResult()
    if changed and up.inserted:
        up.updated, up.inserted = min(changed, up.inserted), up.inserted - min(changed, up.inserted)
    res.upserts["costs"] = up
    log_run(store, res, started)
    return res
