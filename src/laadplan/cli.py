"""The ``laadplan`` command line: global options, then the command groups of :mod:`laadplan.commands`."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import typer

from laadplan.commands import MODULES
from laadplan.commands.common import STATE
from laadplan.store import default_db_path

app = typer.Typer(
    name="laadplan",
    help="Plan and monitor public EV charging infrastructure (NAL-regio Zuidwest).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global(
    db: str = typer.Option(None, "--db", envvar="LAADPLAN_DB", help="Store: a DuckDB file, or postgresql://user@host:port/dbname [default: ./laadplan.duckdb]"),
    config: Path = typer.Option(None, "--config", envvar="LAADPLAN_CONFIG", help="Region config TOML [default: Zuidwest]"),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable JSON on stdout"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log details"),
) -> None:
    STATE.db = db or default_db_path()
    STATE.config_path = str(config) if config else None
    STATE.json = json_out
    STATE.quiet = quiet
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


for _m in MODULES:
    importlib.import_module(_m).register(app)


def main() -> None:
    """Run the CLI; an error no command handled still ends in one line naming what failed, never a traceback
    (``-v`` logs the traceback for a bug report)."""
    try:
        app()
    except KeyboardInterrupt:
        _die("interrupted; the file being ingested was not stored (each file is one atomic run)", 130)
    except Exception as e:  # noqa: BLE001 - the last line of defence
        logging.getLogger("laadplan").debug("unhandled error", exc_info=True)
        _die(_describe(e))


def _describe(e: BaseException) -> str:
    import duckdb

    from laadplan.ingest import SourceError
    from laadplan.store import StoreError, explain

    if isinstance(e, (SourceError, StoreError)):
        return str(e)
    if isinstance(e, duckdb.Error):
        return explain(e, STATE.db or default_db_path())
    if isinstance(e, FileExistsError) or isinstance(e, NotADirectoryError):
        return f"{e.filename}: a file is in the way where a folder is needed ({e.strerror}); choose another --out"
    if isinstance(e, OSError):
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        what = e.strerror or str(e)
        return f"{where}{what}" + ("; free space and run again" if e.errno == 28 else "")
    if isinstance(e, MemoryError):
        return "out of memory; try a smaller input or a machine with more memory"
    return f"unexpected {type(e).__name__}: {e} (run with -v for details and report it)"


def _die(message: str, code: int = 1) -> None:
    from laadplan.commands.common import err_console

    err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
