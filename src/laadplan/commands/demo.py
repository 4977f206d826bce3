"""``laadplan demo``: the whole pipeline on the synthetic demo region."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from laadplan.commands.common import STATE, console, emit_json, out_dir


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        out: Path = typer.Option(Path("demo-output"), "--out", help="Output folder"),
        seed: int = typer.Option(None, help="Random seed of the generator (default: the fixed demo seed)"),
        only: list[str] = typer.Option(None, "--only", help="Run only these steps (base, ingest, kpi, ...)"),
    ) -> None:
        """Generate the synthetic demo region, ingest it, run every analysis and write OUT."""
        from laadplan.demo.run import DEMO_SEED, run_demo

        out_dir(out)  # an existing file as --out: one clear error before any work
        t0 = time.perf_counter()
        log = (lambda s: None) if STATE.json else console.print
        log(f"[bold]laadplan demo[/] -> {out} (store {STATE.db})")
        with STATE.store(create=True) as store:
            ctx = run_demo(store, STATE.config(), out, seed=seed or DEMO_SEED, log=log, only=only)
        elapsed = time.perf_counter() - t0
        if STATE.json:
            emit_json({"out": str(out), "seconds": round(elapsed, 1), "steps": ctx.results})
        else:
            console.print(f"[green]demo finished in {elapsed:.0f} s[/]; outputs in {out}/")
