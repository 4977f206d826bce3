"""Per-request costs the server leaves out unless asked: FastAPI's native OpenTelemetry check (it asks the
OpenTelemetry API for its tracer provider on every request), and the OCPI timestamp format."""

from __future__ import annotations

import re

import opentelemetry.trace as otel_trace
from fastapi.testclient import TestClient

from laadplan.api.app import create_app
from laadplan.api.ocpi.core import envelope, now_text
from laadplan.api.settings import ServerConfig
from laadplan.config import RegionConfig


def _provider_lookups(tmp_path, monkeypatch, cfg: RegionConfig) -> int:
    calls = {"n": 0}
    real = otel_trace.get_tracer_provider

    def counted():
        calls["n"] += 1
        return real()

    monkeypatch.setattr(otel_trace, "get_tracer_provider", counted)
    with TestClient(create_app(str(tmp_path / "s.duckdb"), cfg)) as c:
        calls["n"] = 0
        for _ in range(5):
            assert c.get("/api/health").status_code == 200
    return calls["n"]


def test_opentelemetry_provider_is_not_asked_per_request_unless_turned_on(tmp_path, monkeypatch):
    assert _provider_lookups(tmp_path, monkeypatch, RegionConfig()) == 0
    on = RegionConfig(server=ServerConfig(opentelemetry=True))
    assert _provider_lookups(tmp_path, monkeypatch, on) >= 5  # FastAPI's own check, once per request


def test_ocpi_timestamp_is_utc_with_milliseconds():
    t = now_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t), t
    body = envelope({"x": 1}).body.decode()
    assert re.search(r'"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"', body), body


def test_server_process_freezes_its_startup_objects_out_of_the_collector(tmp_path, monkeypatch):
    """``laadplan serve``'s app (app_from_env) moves the objects alive at its start out of the garbage
    collector's reach, so that a full collection no longer scans them (~70 ms per collection before, measured
    by bench_ocpi.py); an app made by create_app alone (tests, embedding) leaves the collector as it is."""
    import gc

    from laadplan.api.app import app_from_env

    gc.unfreeze()
    try:
        with TestClient(create_app(str(tmp_path / "a.duckdb"))) as c:
            assert c.get("/api/health").status_code == 200
            assert gc.get_freeze_count() == 0
        monkeypatch.setenv("LAADPLAN_DB", str(tmp_path / "b.duckdb"))
        monkeypatch.delenv("LAADPLAN_CONFIG", raising=False)
        gc.collect()
        tracked = len(gc.get_objects())
        with TestClient(app_from_env()) as c:
            assert c.get("/api/health").status_code == 200
            frozen = gc.get_freeze_count()
            assert frozen >= tracked * 0.9  # (what the test process holds is frozen too)
            assert len(gc.get_objects()) < frozen / 10  # what a full collection still scans
    finally:
        gc.unfreeze()
