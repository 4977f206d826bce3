"""The server's DuckDB threads setting (``server.duckdb_threads``): the server runs many small queries at once,
each on its request's own thread, so by default each query runs on one DuckDB thread; 0 keeps DuckDB's own
default (one per core)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from laadplan.api.app import create_app
from laadplan.api.settings import ServerConfig
from laadplan.config import RegionConfig
from laadplan.store import Store


def _threads_in_server(db: str, cfg: RegionConfig) -> int:
    app = create_app(db, cfg)
    with TestClient(app):
        return int(app.state.store.con.execute("SELECT current_setting('threads')").fetchone()[0])


def test_server_runs_duckdb_queries_on_the_configured_threads(tmp_path):
    db = str(tmp_path / "s.duckdb")
    with Store(db, create=True) as s:  # what a store opened outside the server runs with
        own = int(s.con.execute("SELECT current_setting('threads')").fetchone()[0])
    assert _threads_in_server(db, RegionConfig()) == 1
    assert _threads_in_server(db, RegionConfig(server=ServerConfig(duckdb_threads=3))) == 3
    assert _threads_in_server(db, RegionConfig(server=ServerConfig(duckdb_threads=0))) == own


def test_server_on_postgresql_runs_its_duckdb_engine_on_the_configured_threads(pg_url):
    # on PostgreSQL the store's statements run in DuckDB (its postgres extension): the same setting applies
    assert _threads_in_server(pg_url, RegionConfig()) == 1
    assert _threads_in_server(pg_url, RegionConfig(server=ServerConfig(duckdb_threads=2))) == 2
