"""Demo step: ingest the generated demo inputs through the ordinary readers (``laadplan ingest KIND``).

Order matters: areas first (gemeenten, then buurten) so that locations and CDRs get their gemeente and buurt
codes, tariffs before locations, locations before CDRs and status. Each file's read / accepted / quarantined
counts are compared with the generator's manifest of injected bad records.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from laadplan.config import RegionConfig
from laadplan.demo.base import FILES
from laadplan.ingest import reader
from laadplan.ingest.base import SourceError
from laadplan.store import Store

log = logging.getLogger(__name__)

#: (file key in FILES, ingest kind) in ingest order
ORDER: tuple[tuple[str, str], ...] = (
    ("gemeenten", "areas"), ("buurten", "areas"), ("tariffs", "tariffs"), ("locations", "locations"),
    ("cdrs", "cdrs"), ("status", "status"),
)


def ingest_inputs(store: Store, cfg: RegionConfig, inputs_dir: Path, manifest: dict[str, Any] | None = None,
                  say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Ingest every demo input file of ``inputs_dir``; returns per file (and per kind in ``by_kind``) the counts
    read / accepted / quarantined with the quarantine counts per rule and, from ``manifest``, how many bad
    records were injected (``expected_bad``, ``expected_by_rule``). A kind whose reader does not exist yet is
    reported with ``available: False``; an unreadable file with its ``error``."""
    inputs_dir = Path(inputs_dir)
    if manifest is None and (inputs_dir / "manifest.json").exists():
        manifest = json.loads((inputs_dir / "manifest.json").read_text(encoding="utf-8"))
    files_meta = (manifest or {}).get("files", {})
    out: dict[str, Any] = {"files": {}, "by_kind": {}}
    for key, kind in ORDER:
        path = inputs_dir / FILES[key]
        meta = files_meta.get(FILES[key], {})
        expected = Counter()
        for v in meta.get("bad_kinds", {}).values():
            expected[v["rule"]] += v["count"]
        row: dict[str, Any] = {"kind": kind, "file": FILES[key], "available": True,
                               "expected_bad": int(meta.get("bad", 0)), "expected_by_rule": dict(sorted(expected.items()))}
        try:
            fn = reader(kind)
        except ModuleNotFoundError as e:
            if not (e.name or "").startswith("laadplan.ingest"):
                raise
            row["available"] = False
            out["files"][key] = row
            log.warning("demo ingest: no reader for %s yet (%s)", kind, e.name)
            if say:
                say(f"  {FILES[key]}: reader '{kind}' not available yet")
            continue
        t0 = time.perf_counter()
        try:
            res = fn(store, str(path), cfg)
        except SourceError as e:
            row["error"] = str(e)
            out["files"][key] = row
            log.error("demo ingest: %s", e)
            if say:
                say(f"  {FILES[key]}: [red]{e}[/]")
            continue
        row.update(read=res.read, accepted=res.accepted, quarantined=res.quarantined,
                   quarantined_by_rule=dict(sorted(res.by_rule.items())), seconds=round(time.perf_counter() - t0, 1))
        out["files"][key] = row
        agg = out["by_kind"].setdefault(kind, {"read": 0, "accepted": 0, "quarantined": 0})
        for k in agg:
            agg[k] += row[k]
        if say:
            say(f"  {FILES[key]}: read {res.read:,}, accepted {res.accepted:,}, quarantined {res.quarantined:,} "
                f"(injected bad: {row['expected_bad']}) in {row['seconds']} s")
    return out


def step(ctx) -> dict[str, Any]:
    """Demo step: ingest the files written by :func:`laadplan.demo.base.step` into ``ctx.store``."""
    manifest = ctx.results.get("demo_manifest")
    return ingest_inputs(ctx.store, ctx.cfg, ctx.inputs_dir, manifest, say=ctx.log)
