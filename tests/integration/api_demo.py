"""The demo store the read-API tests share: the whole ``laadplan demo`` pipeline at a small scale, built once
per test process and copied (DuckDB file) for each test module that needs one."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

#: scale of the synthetic region (1.0 is ``laadplan demo``); small keeps the build well under a minute
SCALE = float(os.environ.get("LAADPLAN_API_TEST_SCALE", "0.1"))
_LOCK = threading.Lock()
_BUILT: dict[str, Path] = {}


def build_demo_store() -> Path:
    """Path to a DuckDB file with every demo step run (areas, locations, sessions, status, KPIs, forecast,
    plan, requests, logistics, contract KPIs and alerts); built once per process."""
    with _LOCK:
        if "db" in _BUILT:
            return _BUILT["db"]
        prebuilt = os.environ.get("LAADPLAN_API_TEST_DB")  # a store built before (for quick local reruns)
        if prebuilt and Path(prebuilt).is_file():
            _BUILT["db"] = Path(prebuilt)
            return _BUILT["db"]
        from laadplan.config import load_config
        from laadplan.demo.run import DEMO_SEED, DemoContext, STEPS
        from laadplan.store import Store
        import importlib

        d = Path(tempfile.mkdtemp(prefix="laadplan-api-demo-"))
        db = d / "demo.duckdb"
        cfg = load_config(None)
        with Store(str(db), create=True) as store:
            ctx = DemoContext(store=store, cfg=cfg, out_dir=d / "out", inputs_dir=d / "out" / "inputs",
                              seed=DEMO_SEED, log=lambda s: None)
            ctx.inputs_dir.mkdir(parents=True)
            ctx.scale = SCALE  # read by the base step
            for _, mod in STEPS:
                ctx.results[mod.rsplit(".", 1)[-1]] = importlib.import_module(mod).step(ctx)
        _BUILT["db"] = db
        return db


def copy_of_demo(dest_dir: Path) -> Path:
    src = build_demo_store()
    dest = Path(dest_dir) / "demo.duckdb"
    shutil.copy(src, dest)
    wal = Path(str(src) + ".wal")
    if wal.exists():
        shutil.copy(wal, Path(str(dest) + ".wal"))
    return dest
