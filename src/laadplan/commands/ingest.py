"""``laadplan ingest KIND SOURCE...``: load files or URLs into the store, reporting counts per rule."""

from __future__ import annotations

import typer

from laadplan.commands.common import STATE, console, emit_json, print_frame, progress
from laadplan.commands.input_columns import columns_help
from laadplan.ingest import DESCRIPTIONS, READERS, SourceError, reader


def register(app: typer.Typer) -> None:
    ingest_app = typer.Typer(help="Load sources (files or URLs) into the store; bad records go to quarantine.",
                             no_args_is_help=True)
    app.add_typer(ingest_app, name="ingest")

    for kind in READERS:
        _add(ingest_app, kind)


def _add(ingest_app: typer.Typer, kind: str) -> None:
    def cmd(sources: list[str] = typer.Argument(..., help="Files or http(s) URLs")) -> None:
        import pandas as pd

        fn = reader(kind)
        cfg = STATE.config()
        results, errors = [], []
        with STATE.store() as store:
            for src in sources:
                with progress(f"{kind}: {src}") as advance:
                    try:
                        results.append(fn(store, src, cfg, progress=advance))
                    except SourceError as e:
                        errors.append(str(e))
        if STATE.json:
            emit_json({"results": [r.to_dict() for r in results], "errors": errors})
        else:
            for r in results:
                console.print(f"[bold]{r.source_file}[/]: read {r.read:,}, accepted {r.accepted:,}, "
                              f"quarantined {r.quarantined:,}")
                if r.by_rule:
                    # a record that breaks several rules counts once under each: hits, not records
                    print_frame(pd.DataFrame(sorted(r.by_rule.items()), columns=["rule_code", "rule_hits"]),
                                title="quarantine by rule (a record breaking several rules counts under each)")
                for table, u in r.upserts.items():
                    console.print(f"  {table}: {u.inserted:,} new, {u.updated:,} updated, {u.unchanged:,} unchanged")
                for n in r.notes:
                    console.print(f"  note: {n}")
            for e in errors:
                console.print(f"[bold red]error:[/] {e}")
        if errors:
            raise typer.Exit(1)

    cmd.__doc__ = f"Ingest {DESCRIPTIONS.get(kind, kind)}." + columns_help(kind)
    ingest_app.command(kind)(cmd)
