"""The laadplan data model: every table, column, unit and constraint, declared once.

Ingest validates against it, the store creates its tables from it, analyses name its columns and
``laadplan schema`` documents it. Conventions (see docs/data-model.md, generated from here):

* units are in column names: ``energy_kwh``, ``power_kw``, ``walk_m``, ``occupancy_share`` (0..1);
* every timestamp is UTC, stored as a naive ``TIMESTAMP`` and named ``*_utc``; reports convert to
  Europe/Amsterdam;
* coordinates are stored in WGS84 (``lat``, ``lon``) and, for distance work, RD New metres
  (``x_rd``, ``y_rd``, EPSG:28992); polygons are WKB in WGS84 (``geometry_wkb``);
* CBS area codes: ``gm_code`` ``GM0599``, ``wk_code`` ``WK059901``, ``bu_code`` ``BU05990101``,
  ``cell500_code`` ``E0920N4370`` (lower-left corner of a 500 m RD cell in hectometres).

Table declarations live in the submodules of this package, one per family (``core`` for the
foundation); each submodule calls :func:`register`. This package is the single registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

# Logical types -> DuckDB (and PostgreSQL) SQL types.
SQL_TYPES = {
    "str": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP",  # naive, always UTC
    "date": "DATE",
    "blob": "BLOB",
    "json": "VARCHAR",  # JSON text
}
# Logical types -> pandas dtypes for empty/typed frames.
PANDAS_TYPES = {
    "str": "string",
    "int": "Int64",
    "float": "float64",
    "bool": "boolean",
    "timestamp": "datetime64[us]",
    "date": "datetime64[us]",
    "blob": "object",
    "json": "string",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    unit: str | None = None
    nullable: bool = True
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.type not in SQL_TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")

    def sql(self) -> str:
        parts = [f'"{self.name}" {SQL_TYPES[self.type]}']
        if not self.nullable:
            parts.append("NOT NULL")
        checks = []
        if self.minimum is not None:
            checks.append(f'"{self.name}" >= {self.minimum}')
        if self.maximum is not None:
            checks.append(f'"{self.name}" <= {self.maximum}')
        if self.allowed is not None:
            vals = ", ".join("'" + v.replace("'", "''") + "'" for v in self.allowed)
            checks.append(f'"{self.name}" IN ({vals})')
        if checks:
            parts.append("CHECK (" + " AND ".join(checks) + ")")
        return " ".join(parts)


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    family: str = "core"
    #: column holding the record's own modification time: a newer value replaces an older row
    version_column: str | None = None
    indexes: tuple[tuple[str, ...], ...] = field(default_factory=tuple)
    #: the backends that carry ``indexes`` (the primary key is on every backend)
    index_backends: tuple[str, ...] = ("duckdb", "postgres")

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name}: duplicate column names")
        for k in self.primary_key + ((self.version_column,) if self.version_column else ()):
            if k not in names:
                raise ValueError(f"table {self.name}: key column {k} not declared")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name}.{name}")

    def ddl(self) -> str:
        cols = [c.sql() for c in self.columns]
        if self.primary_key:
            cols.append("PRIMARY KEY (" + ", ".join(f'"{k}"' for k in self.primary_key) + ")")
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" (\n  ' + ",\n  ".join(cols) + "\n)"

    def empty_frame(self):
        import pandas as pd

        return pd.DataFrame({c.name: pd.Series(dtype=PANDAS_TYPES[c.type]) for c in self.columns})


# Column groups shared by every family's tables.
POINT_COLUMNS = (
    Column("lat", "float", "latitude WGS84", "deg", minimum=-90, maximum=90),
    Column("lon", "float", "longitude WGS84", "deg", minimum=-180, maximum=180),
    Column("x_rd", "float", "easting RD New (EPSG:28992)", "m"),
    Column("y_rd", "float", "northing RD New (EPSG:28992)", "m"),
)
SOURCE_COLUMNS = (
    Column("source", "str", "reader and format the row came from, e.g. ocpi-2.2.1, ndw-csv, elaad-csv, "
                            "capaciteitskaart-json, connections-csv"),
    Column("source_file", "str", "file path or URL the row was read from"),
    Column("run_id", "str", "ingest run that wrote the row (ingest_runs.run_id; `laadplan ingest undo`)"),
)

TABLES: dict[str, Table] = {}


def register(*tables: Table) -> None:
    for t in tables:
        if t.name in TABLES and TABLES[t.name] != t:
            raise ValueError(f"table {t.name} declared twice")
        TABLES[t.name] = t


def table(name: str) -> Table:
    _load_all()
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {sorted(TABLES)}") from None


def all_tables() -> Iterable[Table]:
    _load_all()
    return list(TABLES.values())


_LOADED = False


def _load_all() -> None:
    """Import every family's declarations (each submodule registers its tables)."""
    global _LOADED
    if _LOADED:
        return
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    _LOADED = True


def markdown() -> str:
    """The data model as Markdown (docs/data-model.md is generated from this)."""
    out = ["# laadplan data model", "", "Generated by `laadplan schema`; do not edit by hand.", ""]
    by_family: dict[str, list[Table]] = {}
    for t in all_tables():
        by_family.setdefault(t.family, []).append(t)
    for fam in sorted(by_family):
        out += [f"## {fam}", ""]
        for t in by_family[fam]:
            out += [f"### `{t.name}`", "", t.description, ""]
            if t.primary_key:
                out += [f"Primary key: `{', '.join(t.primary_key)}`."
                        + (f" A newer `{t.version_column}` replaces an older row." if t.version_column else ""), ""]
            out += ["| column | type | unit | null | constraint | meaning |", "|---|---|---|---|---|---|"]
            for c in t.columns:
                cons = []
                if c.minimum is not None:
                    cons.append(f">= {c.minimum:g}")
                if c.maximum is not None:
                    cons.append(f"<= {c.maximum:g}")
                if c.allowed:
                    cons.append("one of " + ", ".join(c.allowed))
                out.append(f"| `{c.name}` | {c.type} | {c.unit or ''} | {'yes' if c.nullable else 'no'} | "
                           f"{'; '.join(cons)} | {c.description} |")
            out.append("")
    return "\n".join(out)
