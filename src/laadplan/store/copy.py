"""``laadplan db copy``: a whole store from one backend to another (DuckDB file <-> PostgreSQL, or same kind).

The destination is opened as a store (so it is created and migrated to the current schema), the source is
ATTACHed read-only to the destination's DuckDB connection, and each table is copied with one
``INSERT .. SELECT`` - all in one transaction of the destination: a failed or interrupted copy leaves it empty.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from laadplan import model
from laadplan.store import Store, StoreError, migrations
from laadplan.store import postgres as pg

SRC = "lp_copy_src"


@dataclass
class CopyResult:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_s(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else float("nan")


def copy_store(src: str, dst: str, progress: Callable[[str, int, int], None] | None = None) -> CopyResult:
    """Copy every table of the store ``src`` into the empty store ``dst``; ``progress(table, rows, total)``
    is called after each table."""
    if src == dst:
        raise StoreError("db copy: source and destination are the same store")
    with Store(src, read_only=True, create=False) as s:  # opens, checks the schema version, counts
        counts = {t.name: s.count(t.name) for t in model.all_tables()
                  if t.name != "schema_version" and s.has_table(t.name)}
        have = migrations.schema_of(s.con)
        src_cols = {t: {c for c, _ in have[t][0]} for t in counts}
    t0 = time.perf_counter()
    out = CopyResult()
    with Store(dst, create=True) as d:
        busy = {t: n for t in counts if (n := d.count(t))}
        if busy:
            raise StoreError(f"db copy: the destination {d.display} already holds data "
                             f"({', '.join(f'{t}: {n}' for t, n in list(busy.items())[:3])}); copy into an empty "
                             f"store (a new file, or a new database: createdb)")
        if pg.is_postgres_url(src):
            d.con.execute(f"LOAD '{pg.extension_path()}'")
            pg.check_url(src)
            d.con.execute(f"ATTACH '{src.replace(chr(39), chr(39) * 2)}' AS {SRC} (TYPE postgres, READ_ONLY)")
            schema = f"{SRC}.public"
        else:
            d.con.execute(f"ATTACH '{src.replace(chr(39), chr(39) * 2)}' AS {SRC} (READ_ONLY)")
            schema = f"{SRC}.main"
        try:
            total = sum(counts.values())
            done = 0
            with d.transaction():
                for name, n in counts.items():
                    t = model.table(name)
                    cols = [c for c in t.column_names if c in src_cols[name]]
                    if n:
                        q = ", ".join(f'"{c}"' for c in cols)
                        d.con.execute(f'INSERT INTO "{name}" ({q}) SELECT {q} FROM {schema}."{name}"')
                    out.rows[name] = n
                    done += n
                    if progress:
                        progress(name, done, total)
        finally:
            d.con.execute(f"DETACH {SRC}")
    out.seconds = time.perf_counter() - t0
    return out
