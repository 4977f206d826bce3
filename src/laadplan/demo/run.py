"""``laadplan demo``: generate the demo region, ingest it, run every analysis, write an output folder.

Each family contributes one step (a function ``step(ctx) -> dict``) in its own module of this package;
this module only orders them and shows progress. Steps communicate through the store and ``ctx.results``.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from laadplan.config import RegionConfig
from laadplan.store import Store

DEMO_SEED = 20260701


@dataclass
class DemoContext:
    store: Store
    cfg: RegionConfig
    out_dir: Path
    inputs_dir: Path
    seed: int = DEMO_SEED
    #: size of the generated region (1.0: the full demo; tests use a few per cent)
    scale: float = 1.0
    results: dict[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = print


#: (title, module) in order; each module has ``step(ctx) -> dict`` (a summary for the console/JSON)
STEPS: list[tuple[str, str]] = [
    ("generate demo region", "laadplan.demo.base"),
    ("ingest demo data", "laadplan.demo.ingest"),
    ("usage KPIs and data quality", "laadplan.demo.kpi"),
    ("forecast and grid load", "laadplan.demo.forecast"),
    ("placement plan", "laadplan.demo.placement"),
    ("logistics and construction", "laadplan.demo.logistics"),
    ("contract management and report", "laadplan.demo.contract"),
]


def run_demo(store: Store, cfg: RegionConfig, out_dir: Path, *, seed: int = DEMO_SEED,
             log: Callable[[str], None] = print, only: list[str] | None = None,
             scale: float = 1.0) -> DemoContext:
    out_dir = Path(out_dir)
    inputs = out_dir / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(store=store, cfg=cfg, out_dir=out_dir, inputs_dir=inputs, seed=seed, log=log, scale=scale)
    for title, mod in STEPS:
        if only and mod.rsplit(".", 1)[-1] not in only:
            continue
        step = importlib.import_module(mod).step
        t0 = time.perf_counter()
        summary = step(ctx)
        ctx.results[mod.rsplit(".", 1)[-1]] = summary
        log(f"- {title}: done in {time.perf_counter() - t0:.1f} s")
    return ctx
