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
