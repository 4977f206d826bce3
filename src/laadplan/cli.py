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
    db: str = typer.Option(None, "--db", envvar="LAADPLAN_DB", help="Store file (DuckDB) [default: ./laadplan.duckdb]"),
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
    app()


if __name__ == "__main__":
    main()
