"""What every reader shares: counting, quarantining and logging one ingest of one source.

A reader streams records, validates each against named rules (:mod:`laadplan.ingest.rules`), sends
accepted rows to the store in batches and rejected records to the quarantine with their rule code,
source, position and raw text. ``accepted + quarantined == read`` always holds; an unreadable source
raises :class:`SourceError` with the file name, and a bad record never stops a run.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import pandas as pd

from laadplan.ingest import rules as R
from laadplan.ingest._io import SourceError  # noqa: F401  (re-exported for readers)
from laadplan.store import Store, UpsertResult

#: progress callback: (records_read_so_far, bytes_read_or_None) -> None
Progress = Callable[[int], None]


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class IngestResult:
    kind: str
    source_file: str
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    by_rule: Counter = field(default_factory=Counter)
    upserts: dict[str, UpsertResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source_file": self.source_file,
            "read": self.read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "quarantined_by_rule": dict(sorted(self.by_rule.items())),
            "tables": {k: vars(v) for k, v in self.upserts.items()},
            "notes": self.notes,
        }


class Quarantine:
    """Collects rejected records of one source and writes them to the store in batches."""

    def __init__(self, store: Store, kind: str, source_file: str, result: IngestResult, batch: int = 10_000):
        self.store, self.kind, self.source_file, self.result, self.batch = store, kind, source_file, result, batch
        self._rows: list[dict[str, Any]] = []

    def add(self, rule_code: str, position: int, raw: Any, message: str, *, record_id: str | None = None,
            party_id: str | None = None, operator: str | None = None) -> None:
        R.get(rule_code)  # unknown codes are a programming error
        if not isinstance(raw, str):
            try:
                raw = json.dumps(raw, ensure_ascii=False, default=str)
            except (TypeError, ValueError):
                raw = repr(raw)
        self._rows.append({
            "kind": self.kind, "rule_code": rule_code, "source_file": self.source_file, "position": position,
            "record_id": record_id, "party_id": party_id, "operator": operator, "message": message,
            "raw": raw[:20_000], "ingested_utc": utcnow(),
        })
        self.result.quarantined += 1
        self.result.by_rule[rule_code] += 1
        if len(self._rows) >= self.batch:
            self.flush()

    def add_frame(self, df: pd.DataFrame) -> None:
        """Bulk add: ``df`` has rule_code, position, raw, message and optionally record_id, party_id, operator."""
        if df.empty:
            return
        unknown = set(df["rule_code"]) - set(R.RULES)
        if unknown:
            raise KeyError(f"unknown validation rules {sorted(unknown)}")
        q = df.copy()
        q["kind"] = self.kind
        q["source_file"] = self.source_file
        q["ingested_utc"] = utcnow()
        self.store.upsert("quarantine", q)
        self.result.quarantined += len(df)
        self.result.by_rule.update(df["rule_code"].value_counts().to_dict())

    def flush(self) -> None:
        if self._rows:
            self.store.upsert("quarantine", pd.DataFrame(self._rows))
            self._rows = []


def log_run(store: Store, result: IngestResult, started: datetime) -> None:
    """Record one finished ingest. Every reader ends here, so the invariant of all of them is checked here:
    each record read was either accepted or quarantined (none lost, none counted twice)."""
    if result.accepted + result.quarantined != result.read:
        raise AssertionError(f"{result.kind} {result.source_file}: accepted {result.accepted} + quarantined "
                             f"{result.quarantined} != read {result.read}")
    ups = result.upserts.values()
    store.upsert("ingest_runs", pd.DataFrame([{
        "run_id": uuid.uuid4().hex, "kind": result.kind, "source_file": result.source_file,
        "started_utc": started, "finished_utc": utcnow(), "records_read": result.read,
        "records_accepted": result.accepted, "records_quarantined": result.quarantined,
        "rows_inserted": sum(u.inserted for u in ups), "rows_updated": sum(u.updated for u in ups),
    }]))
