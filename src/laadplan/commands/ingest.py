"""``laadplan ingest KIND SOURCE...``: load files or URLs into the store, reporting counts per rule."""

from __future__ import annotations

import typer

from laadplan.commands.common import STATE, console, emit_json, err_console, fail, print_frame, progress
from laadplan.commands.input_columns import columns_help
from laadplan.ingest import DESCRIPTIONS, READERS, SourceError, reader
from laadplan.store import StoreError


def register(app: typer.Typer) -> None:
    ingest_app = typer.Typer(help="Load sources (files or URLs) into the store; bad records go to quarantine. "
                                  "Each file is one atomic run: its records, quarantine rows and run row are "
                                  "stored together or not at all (`ingest undo RUN_ID` takes a run out again).",
                             no_args_is_help=True)
    app.add_typer(ingest_app, name="ingest")

    for kind in READERS:
        _add(ingest_app, kind)
    _add_undo(ingest_app)


def _add_undo(ingest_app: typer.Typer) -> None:
    @ingest_app.command("undo")
    def undo(run_id: str = typer.Argument(..., help="The run's id (`laadplan quality` lists the runs; a unique "
                                                      "prefix is enough)")) -> None:
        """Take one ingest run out again: the rows it wrote, its quarantine rows and its run row.

        Refused when the run replaced existing rows by newer versions (rows_updated > 0): the older versions
        are gone and undo cannot restore them - re-ingest the older file instead. Rows this run wrote that a
        later load of the same data found unchanged go too (re-ingest that file to bring them back). All in one
        transaction: the store holds the run entirely or not at all.
        """
        from laadplan.ingest.base import undo_run

        with STATE.store() as store:
            try:
                out = undo_run(store, run_id)
            except ValueError as e:
                fail(str(e))
        if STATE.json:
            emit_json(vars(out))
            return
        rows = ", ".join(f"{t} {n:,}" for t, n in sorted(out.rows_deleted.items())) or "no rows"
        console.print(f"undone run {out.run_id} ({out.kind} {out.source_file}): removed {rows}, "
                      f"{out.quarantine_deleted:,} quarantine rows")


def _add(ingest_app: typer.Typer, kind: str) -> None:
    def cmd(sources: list[str] = typer.Argument(..., help="Files or http(s) URLs")) -> None:
        import pandas as pd

        fn = reader(kind)
        cfg = STATE.config()
        results, errors = [], []
        with STATE.store(create=True) as store:
            for src in sources:
                with progress(f"{kind}: {src}") as advance:
                    try:
                        results.append(fn(store, src, cfg, progress=advance))
                    except SourceError as e:  # this file is bad or refused; the next one may be fine
                        errors.append(str(e))
                    except StoreError as e:  # the store failed (disk full, ...): later files would too
                        errors.append(str(e))
                        break
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
        for e in errors:  # on stderr, also with --json (stdout stays machine-readable)
            err_console.print(f"[bold red]error:[/] {e}", highlight=False)
        if errors:
            raise typer.Exit(1)

    cmd.__doc__ = f"Ingest {DESCRIPTIONS.get(kind, kind)}." + columns_help(kind)
    ingest_app.command(kind)(cmd)
