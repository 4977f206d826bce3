"""Shared fixtures. Real open data lives in ../shared/data (never copied here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LAADPLAN_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def store():
    from laadplan.store import Store

    s = Store(":memory:")
    yield s
    s.close()


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
