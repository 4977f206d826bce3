"""``laadplan db``: the store itself - its schema version and backend, upgrades, copies between backends."""

from __future__ import annotations

import typer

from laadplan.commands.common import STATE, console, emit_json, fail, progress


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="The store: schema version, upgrade, copy between DuckDB and PostgreSQL.",
                     no_args_is_help=True)
    app.add_typer(db, name="db")

    @db.command("info")
    def info_cmd() -> None:
        """Backend, schema version (and the newest this laadplan knows) and row counts."""
        from laadplan import model
        from laadplan.store import migrations

        with STATE.store(read_only=True) as s:
            rows = {t.name: s.count(t.name) for t in model.all_tables() if s.has_table(t.name)}
            info = {"store": s.display, "backend": s.backend, "schema_version": s.schema_version,
                    "latest_schema_version": migrations.latest(), "rows": rows}
        if STATE.json:
            emit_json(info)
            return
        console.print(f"{info['store']}: {info['backend']}, schema version {info['schema_version']} "
                      f"(this laadplan: {info['latest_schema_version']}), "
                      f"{sum(rows.values()):,} rows in {sum(1 for n in rows.values() if n)} tables")

    @db.command("upgrade")
    def upgrade_cmd() -> None:
        """Create the store's tables or bring them to the current schema version (numbered migrations)."""
        from laadplan.store import Store, StoreError, migrations

        try:
            # open without migrating first, to report from which version it went
            with Store(STATE.db, read_only=False, create=True, migrate=False) as s:
                before, after = migrations.upgrade(s)
                where = s.display
        except StoreError as e:
            fail(str(e))
        if STATE.json:
            emit_json({"store": where, "from": before, "to": after})
        elif before == after:
            console.print(f"{where}: schema version {after}, up to date")
        else:
            console.print(f"{where}: schema upgraded from version {before} to {after}")

    @db.command("copy")
    def copy_cmd(
        src: str = typer.Argument(..., help="Source store: a DuckDB file or postgresql://user@host:port/dbname"),
        dst: str = typer.Argument(..., help="Destination store (empty; created and migrated as needed)"),
    ) -> None:
        """Copy a whole store, e.g. a PostgreSQL database into a DuckDB file to take home, or back."""
        from laadplan.store import StoreError
        from laadplan.store.copy import copy_store

        try:
            with progress("copying tables", total=None) as advance:
                seen = [0]

                def step(table: str, done: int, total: int) -> None:
                    advance(done - seen[0], description=f"copied {table}")
                    seen[0] = done
                    if not STATE.quiet and not STATE.json:
                        console.print(f"  {table}: {done:,} / {total:,} rows", highlight=False)

                r = copy_store(src, dst, progress=step)
        except StoreError as e:
            fail(str(e))
        if STATE.json:
            emit_json({"rows": r.rows, "total_rows": r.total, "seconds": round(r.seconds, 2),
                       "rows_per_s": round(r.rows_per_s)})
        else:
            console.print(f"copied {r.total:,} rows in {sum(1 for n in r.rows.values() if n)} tables in "
                          f"{r.seconds:.1f} s ({r.rows_per_s:,.0f} rows/s)")
