"""The PostgreSQL/PostGIS backend of the store: an in-process DuckDB with the PostgreSQL database ATTACHed.

Design: the tables live in PostgreSQL, every statement of laadplan still runs in DuckDB (DuckDB's ``postgres``
extension reads PostgreSQL tables with binary COPY and writes them with COPY / ctid DELETE/UPDATE). So the
ingest SQL, the KPI, placement and contract maths stay one implementation for both backends, and a DuckDB
transaction is one PostgreSQL transaction (an ingest run commits with its records or not at all).
PostgreSQL-native work (PostGIS layers, GIST indexes, advisory transaction locks) goes through
:func:`native_execute` / :func:`native_query` (``postgres_execute`` / ``postgres_query`` on the same
connection and transaction).

The extension comes from the PyPI wheel ``duckdb-extension-postgres`` (pinned to the DuckDB version); DuckDB
derives the extension's entry point from its file name, so it is linked as ``postgres_scanner.duckdb_extension``
into a per-user cache folder and loaded from there (no network access at run time).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Iterable
from urllib.parse import urlsplit

import duckdb

#: the DuckDB catalog name the PostgreSQL database is attached as
ALIAS = "pg"
#: PostgreSQL schema holding the PostGIS layer views (QGIS / ogrinfo open these)
GIS_SCHEMA = "gis"

_URL = re.compile(r"^(postgres|postgresql)://", re.I)


def is_postgres_url(s: str) -> bool:
    return bool(_URL.match(s or ""))


def redact(url: str) -> str:
    """The URL without its password (for messages)."""
    return re.sub(r"(://[^:@/]*):[^@/]*@", r"\1:***@", url)


def check_url(url: str) -> None:
    """A malformed PostgreSQL URL is one clear line before any connection attempt."""
    from laadplan.store import StoreError

    try:
        u = urlsplit(url)
        u.port  # noqa: B018 - raises on a non-numeric port
    except ValueError as e:
        raise StoreError(f"{redact(url)}: not a valid PostgreSQL URL ({e}); use "
                         f"postgresql://user@host:port/dbname") from None
    if not u.hostname and "host=" not in (u.query or ""):
        raise StoreError(f"{redact(url)}: the URL names no host; use postgresql://user@host:port/dbname")
    if not u.path.strip("/"):
        raise StoreError(f"{redact(url)}: the URL names no database; use postgresql://user@host:port/dbname")


def extension_path() -> Path:
    """The postgres extension of the installed DuckDB, linked under the name DuckDB's loader needs."""
    from laadplan.store import StoreError

    try:
        import duckdb_extension_postgres
    except ImportError:
        raise StoreError("the PostgreSQL store needs the package duckdb-extension-postgres (pip install "
                         "laadplan again: it is a dependency)") from None
    version = "v" + duckdb.__version__
    src = Path(duckdb_extension_postgres.__file__).parent / "extensions" / version / "postgres.duckdb_extension"
    if not src.is_file():
        raise StoreError(f"duckdb-extension-postgres has no build for DuckDB {duckdb.__version__} (need "
                         f"{src}); install matching versions (pip install -e . pins both)")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "laadplan" / "duckdb" / version
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        cache = Path(tempfile.gettempdir()) / f"laadplan-duckdb-{os.getuid()}" / version
        cache.mkdir(parents=True, exist_ok=True)
    dst = cache / "postgres_scanner.duckdb_extension"
    if not (dst.is_symlink() and dst.resolve() == src.resolve()):
        tmp = cache / f".postgres_scanner.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(src)
        os.replace(tmp, dst)  # atomic: concurrent processes never see a half-made link
    return dst


def explain_connect(e: BaseException, url: str) -> str:
    """One line for a failed connection, naming what to do."""
    msg = str(e)
    low = msg.lower()
    where = redact(url)
    detail = re.sub(r"\s+", " ", msg.split("failed:", 1)[-1]).strip() if "failed:" in msg else msg.splitlines()[0]
    if "connection refused" in low or "could not translate host" in low or "timeout expired" in low \
            or "no route to host" in low:
        return (f"cannot reach PostgreSQL at {where} ({detail}); start the server or correct host/port in "
                f"--db / LAADPLAN_DB")
    if "does not exist" in low and "database" in low:
        return f"{where}: {detail}; create it (createdb) or correct the database name in --db / LAADPLAN_DB"
    if "role" in low and "does not exist" in low or "authentication failed" in low or "no password" in low:
        return f"{where}: {detail}; check the user/password in the URL (or ~/.pgpass)"
    return f"PostgreSQL store {where}: {detail}"


def attach(con: duckdb.DuckDBPyConnection, url: str, read_only: bool) -> None:
    """Load the extension, ATTACH ``url`` as :data:`ALIAS` and make it the default catalog."""
    from laadplan.store import StoreError

    check_url(url)
    try:
        con.execute(f"LOAD '{extension_path()}'")
    except duckdb.Error as e:
        raise StoreError(f"cannot load DuckDB's postgres extension ({str(e).splitlines()[0]})") from None
    opts = "TYPE postgres" + (", READ_ONLY" if read_only else "")
    lit = url.replace("'", "''")
    try:
        con.execute(f"ATTACH '{lit}' AS {ALIAS} ({opts})")
    except duckdb.Error as e:
        raise StoreError(explain_connect(e, url)) from None
    con.execute(f"USE {ALIAS}")


def native_query(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    """Run ``sql`` in PostgreSQL itself (same connection and transaction as the store's statements)."""
    return con.execute(f"SELECT * FROM postgres_query('{ALIAS}', ?)", [sql]).fetchall()


def native_execute(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Run a PostgreSQL statement without a result (DDL, PostGIS, locks) in the store's transaction."""
    con.execute(f"CALL postgres_execute('{ALIAS}', ?)", [sql]).fetchall()


def clear_cache(con: duckdb.DuckDBPyConnection) -> None:
    """Forget DuckDB's cached PostgreSQL catalog (after native DDL or a rolled-back CREATE)."""
    try:
        con.execute("CALL pg_clear_cache()").fetchall()
    except duckdb.Error:
        pass


def ensure_postgis(con: duckdb.DuckDBPyConnection, url: str) -> str:
    """The PostGIS version of the database; creates the extension when the server has it and the user may.
    A server without PostGIS is one line saying what to install."""
    from laadplan.store import StoreError

    have = native_query(con, "SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
    if have:
        return str(have[0][0])
    avail = native_query(con, "SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'")
    if not avail:
        raise StoreError(f"{redact(url)}: the PostgreSQL server has no PostGIS extension; install it (Debian: "
                         f"apt install postgresql-15-postgis-3, or ./dev setup as root) and run again")
    try:
        native_execute(con, "CREATE EXTENSION IF NOT EXISTS postgis")
    except duckdb.Error as e:
        raise StoreError(f"{redact(url)}: PostGIS is installed on the server but not enabled in this database, "
                         f"and this user may not enable it ({str(e).splitlines()[0][:120]}); ask an "
                         f"administrator to run CREATE EXTENSION postgis in it") from None
    return str(native_query(con, "SELECT extversion FROM pg_extension WHERE extname = 'postgis'")[0][0])


# -- PostGIS layers ---------------------------------------------------------------------------------------
def _pt(lon: str, lat: str) -> str:
    return f"ST_SetSRID(ST_MakePoint({lon}, {lat}), 4326)::geometry(Point,4326)"


def _rd(x: str, y: str) -> str:
    return f"ST_SetSRID(ST_MakePoint({x}, {y}), 28992)::geometry(Point,28992)"


def _poly(wkb: str) -> str:
    return f"ST_Multi(ST_GeomFromWKB({wkb}, 4326))::geometry(MultiPolygon,4326)"


def _poly_rd(wkb: str) -> str:
    return f"ST_Transform(ST_Multi(ST_GeomFromWKB({wkb}, 4326)), 28992)::geometry(MultiPolygon,28992)"


def _line(wkb: str) -> str:
    return f"ST_GeomFromWKB({wkb}, 4326)::geometry(LineString,4326)"


def _line_rd(wkb: str) -> str:
    return f"ST_Transform(ST_GeomFromWKB({wkb}, 4326), 28992)::geometry(LineString,28992)"


def _pt_to_rd(lon: str, lat: str) -> str:
    return f"ST_Transform(ST_SetSRID(ST_MakePoint({lon}, {lat}), 4326), 28992)::geometry(Point,28992)"


#: layer -> (FROM clause, [(geometry column, expression, indexed base table or None)])
#: ``geom`` is WGS84 (EPSG:4326); ``geom_rd`` is RD New (EPSG:28992), where laadplan measures distances.
#: An indexed expression is the view's own expression, so PostgreSQL uses the GIST index through the view.
LAYERS: dict[str, tuple[str, list[tuple[str, str, str | None]]]] = {
    "areas": ('public.areas t', [("geom", _poly("t.geometry_wkb"), "areas"),
                                 ("geom_rd", _poly_rd("t.geometry_wkb"), "areas")]),
    "congestion_areas": ('public.grid_areas t', [("geom", _poly("t.geometry_wkb"), "grid_areas"),
                                                 ("geom_rd", _poly_rd("t.geometry_wkb"), "grid_areas")]),
    "locations": ('public.locations t', [("geom", _pt("t.lon", "t.lat"), "locations"),
                                         ("geom_rd", _rd("t.x_rd", "t.y_rd"), "locations")]),
    "evses": ('public.evses t JOIN public.locations l USING (country_code, party_id, location_id)',
              [("geom", _pt("coalesce(t.lon, l.lon)", "coalesce(t.lat, l.lat)"), None)]),
    "grid_connections": ('public.grid_connections t', [("geom", _pt("t.lon", "t.lat"), "grid_connections"),
                                                       ("geom_rd", _rd("t.x_rd", "t.y_rd"), "grid_connections")]),
    "requests": ('public.requests t', [("geom", _pt("t.lon", "t.lat"), "requests"),
                                       ("geom_rd", _rd("t.x_rd", "t.y_rd"), "requests")]),
    "candidates": ('public.candidates t', [("geom", _pt("t.lon", "t.lat"), "candidates"),
                                           ("geom_rd", _rd("t.x_rd", "t.y_rd"), "candidates")]),
    "plan_sites": ('public.plan_sites t', [("geom", _pt("t.lon", "t.lat"), "plan_sites"),
                                           ("geom_rd", _rd("t.x_rd", "t.y_rd"), "plan_sites")]),
    "hub_suggestions": ('public.hub_suggestions t', [("geom", _pt("t.lon", "t.lat"), "hub_suggestions"),
                                                     ("geom_rd", _pt_to_rd("t.lon", "t.lat"), "hub_suggestions")]),
    "corridors": ('public.corridors t', [("geom", _line("t.geometry_wkb"), "corridors"),
                                         ("geom_rd", _line_rd("t.geometry_wkb"), "corridors")]),
    "park_hubs": ('public.park_hubs t', [("geom", _pt("t.lon", "t.lat"), "park_hubs"),
                                         ("geom_rd", _rd("t.x_rd", "t.y_rd"), "park_hubs")]),
    "demand_cells": ("public.forecast_need t JOIN public.areas a ON a.area_code = t.area_code",
                     [("geom", _poly("a.geometry_wkb"), None), ("geom_rd", _poly_rd("a.geometry_wkb"), None)]),
}


def layer_sql(names: Iterable[str] | None = None) -> list[str]:
    """PostgreSQL statements creating the ``gis`` schema's layer views ``names`` (default: all) and their GIST
    indexes (idempotent: views are dropped and made again, so a migration that changes a table or adds
    geometry columns calls this again for its layers)."""
    out = [f"CREATE SCHEMA IF NOT EXISTS {GIS_SCHEMA}"]
    want = set(LAYERS) if names is None else set(names)
    if want - set(LAYERS):
        raise KeyError(f"no PostGIS layer {sorted(want - set(LAYERS))}")
    for name, (src, geoms) in LAYERS.items():
        if name not in want:
            continue
        cols = ", ".join(f"{expr} AS {g}" for g, expr, _ in geoms)
        out.append(f"DROP VIEW IF EXISTS {GIS_SCHEMA}.{name}")
        out.append(f"CREATE VIEW {GIS_SCHEMA}.{name} AS SELECT t.*, {cols} FROM {src}")
        out.append(f"COMMENT ON VIEW {GIS_SCHEMA}.{name} IS 'laadplan layer: {name} with geometry "
                   f"(EPSG:4326{', RD New EPSG:28992 in geom_rd' if len(geoms) > 1 else ''})'")
        for g, expr, base in geoms:
            if base:
                expr_t = expr.replace("t.", "")
                out.append(f"CREATE INDEX IF NOT EXISTS gix_{base}_{g} ON public.{base} USING gist (({expr_t}))")
    return out


def backends_markdown() -> str:
    """The part of ``laadplan schema`` that documents the two backends and the PostGIS layers."""
    out = ["## Backends", "",
           "`--db` / `LAADPLAN_DB` selects the store: a DuckDB file path (the default, `laadplan.duckdb`) or a "
           "PostgreSQL database with PostGIS, `postgresql://user@host:port/dbname`. Both hold the same tables "
           "with the same columns (above; logical types map to DuckDB / PostgreSQL as str: VARCHAR / varchar, "
           "int: BIGINT / bigint, float: DOUBLE / double precision, bool: BOOLEAN / boolean, timestamp: "
           "TIMESTAMP / timestamp (UTC), date: DATE / date, blob: BLOB / bytea, json: VARCHAR / varchar). "
           "The schema is created and upgraded by the numbered migrations in `src/laadplan/store/migrations` "
           "(table `schema_version`; `laadplan db upgrade`).", "",
           f"On PostgreSQL, migrations 0002 to 0004 add read-only layer views in the schema `{GIS_SCHEMA}` with PostGIS "
           "geometry columns, for QGIS and `ogrinfo`: `geom` in WGS84 (EPSG:4326) and, where laadplan measures "
           "distances, `geom_rd` in RD New (EPSG:28992). Each view has every column of its table; the "
           "geometry expressions carry GIST indexes on the base tables.", "",
           "Migration 0005 adds, on PostgreSQL only, the schema `laadplan_meta`: `store_identity` (a random "
           "`store_id`) and `table_changes` (one row per INSERT/UPDATE/DELETE/TRUNCATE statement on `sessions`, "
           "written by the statement trigger `lp_note_change`). They tell a local DuckDB mirror of the sessions "
           "(what the KPIs read, `laadplan.store.mirror`) whether it is still current.", "",
           "Migration 0006 drops the two secondary indexes of `sessions` (`location_id, evse_uid` and "
           "`start_utc`) from DuckDB files; PostgreSQL keeps them. DuckDB's ART indexes serve point lookups only "
           "(its scans use zone maps), so there they cost every ingest time and memory and sped up nothing.", "",
           "| layer | rows from | geometry columns |", "|---|---|---|"]
    for name, (src, geoms) in LAYERS.items():
        gs = ", ".join(f"`{g}` {expr.split('::geometry(')[1].rstrip(')').replace(',', ' EPSG:')}"
                       for g, expr, _ in geoms)
        tables = " + ".join(f"`{w.split('.')[1]}`" for w in src.split() if w.startswith("public."))
        out.append(f"| `{GIS_SCHEMA}.{name}` | {tables} | {gs} |")
    return "\n".join(out) + "\n"


# -- databases (tests, set-up) ----------------------------------------------------------------------------
def _admin(url: str) -> tuple[duckdb.DuckDBPyConnection, str]:
    """A DuckDB connection with the server's ``postgres`` maintenance database attached, and the database
    name of ``url``."""
    from laadplan.store import StoreError

    check_url(url)
    u = urlsplit(url)
    name = u.path.strip("/")
    admin = u._replace(path="/postgres").geturl()
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"LOAD '{extension_path()}'")
    try:
        con.execute(f"ATTACH '{admin.replace(chr(39), chr(39) * 2)}' AS adm (TYPE postgres)")
    except duckdb.Error as e:
        con.close()
        raise StoreError(explain_connect(e, admin)) from None
    return con, name


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_database(url: str, template: str | None = None) -> None:
    """CREATE DATABASE for ``url`` (optionally as a copy of the database ``template``)."""
    con, name = _admin(url)
    try:
        tpl = f" TEMPLATE {_ident(template)}" if template else ""
        con.execute("CALL postgres_execute('adm', ?, use_transaction := false)",
                    [f"CREATE DATABASE {_ident(name)}{tpl}"])
    finally:
        con.close()


def drop_database(url: str) -> None:
    """DROP DATABASE IF EXISTS for ``url`` (closing other sessions on it)."""
    con, name = _admin(url)
    try:
        con.execute("CALL postgres_execute('adm', ?, use_transaction := false)",
                    [f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)"])
    finally:
        con.close()


def with_database(url: str, name: str) -> str:
    """``url`` naming the database ``name`` instead."""
    return urlsplit(url)._replace(path="/" + name).geturl()
