"""Shared CLI state and output helpers (the only place that knows about --db, --config and --json)."""

from __future__ import annotations

import json
import logging
from datetime import date
from enum import Enum
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from laadplan.config import RegionConfig, load_config
from laadplan.store import Store, StoreError, default_db_path

def _console(stderr: bool) -> Console:
    """Rich console; when output is not a terminal (pipes, CI, tests) tables and messages are not cut or
    wrapped at 80 columns."""
    c = Console(stderr=stderr, soft_wrap=True)
    if not c.is_terminal:
        c = Console(stderr=stderr, soft_wrap=True, width=max(c.width, 240))
    return c


console = _console(stderr=False)
err_console = _console(stderr=True)
log = logging.getLogger("laadplan")


@dataclass
class State:
    db: str = ""
    config_path: str | None = None
    json: bool = False
    quiet: bool = False

    def store(self, read_only: bool = False, create: bool = False) -> Store:
        """Open the store; only commands that fill it (``ingest``, ``demo``) pass ``create=True``, so a
        mistyped ``--db`` is an error on every other command instead of a new, empty store."""
        try:
            return Store(self.db or default_db_path(), read_only=read_only, create=create)
        except StoreError as e:
            fail(str(e))
        raise AssertionError("unreachable")

    def config(self) -> RegionConfig:
        from pydantic import ValidationError

        try:
            return load_config(self.config_path)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
            fail(f"config {self.config_path}: {problems}")
        except (FileNotFoundError, ValueError) as e:
            fail(str(e))
        raise AssertionError("unreachable")


STATE = State()


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Any]:
    """A rich progress bar on stderr (silent with --json or --quiet); yields ``advance(n=1)``."""
    if STATE.json or STATE.quiet or not sys.stderr.isatty() and total is None:
        yield lambda n=1, **kw: None
        return
    with Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err_console, transient=True) as p:
        task = p.add_task(description, total=total)

        def advance(n: int = 1, **kw: Any) -> None:
            p.update(task, advance=n, **kw)

        yield advance


def parse_date(value: str | None, name: str) -> date | None:
    """A CLI date option (YYYY-MM-DD); a clear error names the option."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{name} must be a date YYYY-MM-DD, not {value!r}")
    return None


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


class Fmt(str, Enum):
    """Output format of table commands (``--format``)."""

    table = "table"
    csv = "csv"
    json = "json"


def print_frame(df: pd.DataFrame, title: str | None = None, fmt: str = "table", max_rows: int = 60) -> None:
    """Print a table as a rich table, CSV or JSON (``--json`` forces JSON)."""
    if STATE.json or fmt == "json":
        sys.stdout.write(df.to_json(orient="records", date_format="iso", force_ascii=False, indent=2) + "\n")
        return
    if fmt == "csv":
        df.to_csv(sys.stdout, index=False)
        return
    t = RichTable(title=title, show_lines=False)
    for c in df.columns:
        t.add_column(str(c), justify="right" if pd.api.types.is_numeric_dtype(df[c]) else "left")
    for _, row in df.head(max_rows).iterrows():
        t.add_row(*[_fmt(v) for v in row])
    console.print(t)
    if len(df) > max_rows:
        console.print(f"... {len(df) - max_rows} more rows (use --format csv for all)")


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def out_dir(path: str | Path) -> Path:
    """The output folder ``path``, made when missing; one clear error when it is a file or cannot be made."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        fail(f"--out {p} is an existing file, not a folder; give a folder (it is made when missing)")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"--out {p}: cannot make this folder ({e.strerror}); give a writable folder")
    return p
