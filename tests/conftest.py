"""Shared fixtures. Real open data lives in ../shared/data (never copied here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LAADPLAN_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session", autouse=True)
def _mirror_cache(tmp_path_factory):
    """PostgreSQL stores' local mirrors (laadplan.store.mirror) go to a per-run folder, not ~/.cache (also for
    the CLI run in subprocesses: they inherit the environment)."""
    if "LAADPLAN_MIRROR_DIR" not in os.environ:
        os.environ["LAADPLAN_MIRROR_DIR"] = str(tmp_path_factory.mktemp("mirror"))
    yield


@pytest.fixture
def store():
    from laadplan.store import Store

    s = Store(":memory:")
    yield s
    s.close()


# -- PostgreSQL/PostGIS backend ------------------------------------------------------------------------
#: server the PostgreSQL tests use (a per-run database is created on it and dropped afterwards)
PG_SERVER = os.environ.get("LAADPLAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("LAADPLAN_REQUIRE_PG"))


@pytest.fixture(scope="session")
def pg_template():
    """A per-run template database (``laadplan_test_<pid>_<random>_tpl``) with PostGIS and the migrated
    schema; tests get copies of it. An unreachable server FAILS the test under CI / LAADPLAN_REQUIRE_PG=1
    (``./dev test`` sets it) and is reported as a skip with the reason otherwise - never silently."""
    import secrets

    from laadplan.store import Store, StoreError
    from laadplan.store import postgres as pg

    name = f"laadplan_test_{os.getpid()}_{secrets.token_hex(3)}_tpl"
    url = pg.with_database(PG_SERVER, name)
    try:
        pg.create_database(url)
        Store(url).close()  # PostGIS + migrations, once per run
    except StoreError as e:
        try:
            pg.drop_database(url)
        except StoreError:
            pass
        msg = f"PostgreSQL backend unavailable at {pg.redact(PG_SERVER)} (LAADPLAN_TEST_PG): {e}"
        if _pg_required():
            pytest.fail(msg + " - required here (CI / LAADPLAN_REQUIRE_PG=1)", pytrace=False)
        pytest.skip(msg)
    yield url, name
    pg.drop_database(url)


@pytest.fixture
def pg_url(pg_template):
    """A fresh, migrated PostgreSQL/PostGIS store URL for one test (a copy of the run's template),
    dropped after the test."""
    import secrets

    from laadplan.store import postgres as pg

    _, tpl = pg_template
    url = pg.with_database(PG_SERVER, f"{tpl[:-4]}_{secrets.token_hex(3)}")
    pg.create_database(url, template=tpl)
    yield url
    pg.drop_database(url)


@pytest.fixture(params=["duckdb", "postgres"])
def backend(request, tmp_path):
    """A new, empty store location on each backend: a DuckDB file path or a PostgreSQL URL."""
    if request.param == "duckdb":
        return str(tmp_path / "store.duckdb")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def cfg():
    from laadplan.config import RegionConfig

    return RegionConfig()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips the test with a clear message when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real open data folder not found at {SHARED_DATA} (set LAADPLAN_SHARED_DATA); "
                    "real-data tests need it")
    return SHARED_DATA


@pytest.fixture(scope="session")
def http_server():
    """A local HTTP server (127.0.0.1, random port) serving files from a temp dir: ``(base_url, dir)``."""
    import functools
    import http.server
    import tempfile
    import threading

    d = tempfile.mkdtemp(prefix="laadplan-http-")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=d)

    class Quiet(handler.func):  # type: ignore[misc,name-defined]
        def log_message(self, *a):  # noqa: D401
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=d))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", Path(d)
    srv.shutdown()
