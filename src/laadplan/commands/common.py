"""Shared CLI state and output helpers (the only place that knows about --db, --config and --json)."""

from __future__ import annotations

import json
import logging
import os
from datetime import date, datetime
from enum import Enum
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
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
    sys.stdout.write(json.dumps(tidy_floats(obj), ensure_ascii=False, indent=2, default=str) + "\n")


#: decimals kept in machine-readable output (CSV, JSON): removes float noise such as 94759.22099999999 or
#: 5.7e-11 (a sum that should be 0) without losing any figure the analyses mean
OUTPUT_DECIMALS = 9


def tidy_floats(obj: Any) -> Any:
    """``obj`` with every float rounded to :data:`OUTPUT_DECIMALS` (dicts and lists walked); NaN stays."""
    if isinstance(obj, float):
        return obj if obj != obj else round(obj, OUTPUT_DECIMALS) + 0.0  # + 0.0: no "-0.0"
    if isinstance(obj, dict):
        return {k: tidy_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [tidy_floats(v) for v in obj]
    return obj


def tidy_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Float columns rounded to :data:`OUTPUT_DECIMALS` (for CSV and JSON output)."""
    fl = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
    if not fl:
        return df
    return df.assign(**{c: df[c].round(OUTPUT_DECIMALS) + 0.0 for c in fl})


def frame_records(df: pd.DataFrame) -> list[dict]:
    """A table as JSON records the way ``--json`` prints tables: floats to :data:`OUTPUT_DECIMALS`, times in
    ISO 8601, missing values as null (never NaN, which is not JSON). The read API uses it too."""
    if df is None or not len(df):
        return []
    return json.loads(tidy_frame(df.reset_index(drop=True)).to_json(orient="records", date_format="iso",
                                                                     force_ascii=False))


class Fmt(str, Enum):
    """Output format of table commands (``--format``)."""

    table = "table"
    csv = "csv"
    json = "json"


def print_frame(df: pd.DataFrame, title: str | None = None, fmt: str = "table", max_rows: int = 60,
                more_hint: str = "use --format csv for all") -> None:
    """Print a table as a rich table, CSV or JSON (``--json`` forces JSON).

    Table mode shows numbers in one format (``1,100``, ``352``, ``0.125``: thousands separated, no trailing
    zeros), dates as ``YYYY-MM-DD`` (times only when not midnight) and missing values as ``n/a``. CSV and
    JSON keep raw values, floats rounded to :data:`OUTPUT_DECIMALS`. ``more_hint`` tells how to see the
    rows left out (commands without ``--format`` name their output file instead)."""
    if STATE.json or fmt == "json":
        sys.stdout.write(tidy_frame(df).to_json(orient="records", date_format="iso", force_ascii=False, indent=2)
                         + "\n")
        return
    if fmt == "csv":
        tidy_frame(df).to_csv(sys.stdout, index=False)
        return
    t = RichTable(title=title, show_lines=False)
    for c in df.columns:
        t.add_column(str(c), justify="right" if pd.api.types.is_numeric_dtype(df[c]) and
                     not pd.api.types.is_bool_dtype(df[c]) else "left")
    plain = [_plain_column(str(c)) for c in df.columns]
    for _, row in df.head(max_rows).iterrows():
        t.add_row(*[fmt_cell(v, p) for v, p in zip(row, plain)])
    console.print(t)
    if len(df) > max_rows:
        console.print(f"... {len(df) - max_rows} more rows ({more_hint})")


def _plain_column(name: str) -> bool:
    """Columns of years, codes and ids: whole numbers without a thousands separator (2026, not 2,026)."""
    n = name.lower()
    return n.endswith(("year", "_id", "code", "pc4")) or n in ("year", "position", "rank", "id")


def fmt_cell(v: Any, plain: bool = False) -> str:
    """One table cell as text (see :func:`print_frame`); ``plain``: a year, code or id (no separator)."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
        return "n/a"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if abs(v) >= 1e15 or v == int(v):
            return f"{v:.0f}" if plain else f"{v:,.0f}"
        decimals = 1 if abs(v) >= 100 else 3
        text = f"{v:,.{decimals}f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if isinstance(v, (int, np.integer)):
        return str(int(v)) if plain else f"{int(v):,}"
    if isinstance(v, pd.Timestamp) or isinstance(v, datetime):
        ts = pd.Timestamp(v)
        if ts.tzinfo is None and ts == ts.normalize():
            return ts.strftime("%Y-%m-%d")
        return ts.isoformat(sep=" ", timespec="minutes")
    return str(v)


def silence_solver_banner() -> None:
    """HiGHS prints a two-line banner to stdout (file descriptor 1, outside Python) the first time a solver
    is made in a process, whatever its ``output_flag``. Make that first solver here with stdout pointed at
    /dev/null, so command output (tables, CSV, JSON) stays clean."""
    try:
        import highspy
    except ImportError:
        return
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


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
