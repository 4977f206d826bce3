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


def _wal_mb_after_writing(db, cfg: RegionConfig, mb: int) -> float:
    """Write ``mb`` MB of text through the server's store (committed, in 8 transactions); the write-ahead log's
    size after it (0 when the store has checkpointed it away)."""
    import os

    app = create_app(db, cfg)
    with TestClient(app):
        s = app.state.store
        s.con.execute("CREATE TABLE IF NOT EXISTS filler (t VARCHAR)")
        for _ in range(8):
            s.con.execute(f"INSERT INTO filler SELECT repeat('x', 1000) || i FROM range({mb * 1000 // 8}) r(i)")
        wal = db + ".wal"
        return os.path.getsize(wal) / 1e6 if os.path.exists(wal) else 0.0


def test_server_checkpoints_its_duckdb_store_after_the_configured_log_size(tmp_path):
    """server.duckdb_checkpoint_mb: a checkpoint rewrites the store's key indexes (~1 s at 1 M sessions), so the
    server lets the write-ahead log grow to 256 MB by default; with 0 DuckDB's own 16 MB holds. Measured by the
    log's size after 24 MB were written: kept with the default, checkpointed away with 0 and with 8 MB."""
    from laadplan.api.settings import ServerConfig

    assert RegionConfig().server.duckdb_checkpoint_mb == 256
    kept = _wal_mb_after_writing(str(tmp_path / "a.duckdb"), RegionConfig(), 24)
    duck = _wal_mb_after_writing(str(tmp_path / "b.duckdb"), RegionConfig(server=ServerConfig(duckdb_checkpoint_mb=0)), 24)
    small = _wal_mb_after_writing(str(tmp_path / "c.duckdb"), RegionConfig(server=ServerConfig(duckdb_checkpoint_mb=8)), 24)
    assert kept > 20, kept  # 24 MB of text (and their log records) not checkpointed
    assert duck < 16 and small < 8, (duck, small)
