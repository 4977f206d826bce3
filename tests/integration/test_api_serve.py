"""A real ``laadplan serve`` process on 127.0.0.1: health and readiness, the JSON access log, and a graceful
shutdown (SIGTERM) that finishes the request in flight and then exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from web_browser import free_port  # (tests/integration is on sys.path)

sys.path.insert(0, str(Path(__file__).parent))
from api_demo import copy_of_demo  # noqa: E402

pytestmark = pytest.mark.slow
LAADPLAN = str(Path(sys.executable).with_name("laadplan"))


def start_server(db: Path, port: int, log: Path, *extra: str) -> subprocess.Popen:
    out = open(log, "wb")
    return subprocess.Popen([LAADPLAN, "--db", str(db), "serve", "--host", "127.0.0.1", "--port", str(port),
                             *extra], stdout=out, stderr=subprocess.STDOUT)


def wait_ready(base: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        assert proc.poll() is None, "server exited before it was ready"
        try:
            if httpx.get(base + "/api/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server not ready in time")


def test_sigterm_finishes_the_request_in_flight(tmp_path):
    db = copy_of_demo(tmp_path)
    tok = json.loads(subprocess.run([LAADPLAN, "--db", str(db), "--json", "token", "create", "--role", "region"],
                                    check=True, capture_output=True, text=True).stdout)["token"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    proc = start_server(db, port, log, "--graceful-s", "60")
    try:
        wait_ready(base, proc)
        assert httpx.get(base + "/api/health").json() == {"status": "ok"}
        assert httpx.get(base + "/api/docs").status_code == 200
        # the contract KPIs of a month take seconds to compute the first time: a slow request
        result: dict = {}

        def slow() -> None:
            t0 = time.monotonic()
            r = httpx.get(base + "/api/v1/contract", params={"level": "evse", "limit": 1000},
                          headers={"Authorization": f"Token {tok}", "X-Request-ID": "slow-1"}, timeout=120)
            result.update(status=r.status_code, body=r.json(), s=time.monotonic() - t0)

        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.8)  # the request is in flight (the computation takes several seconds)
        assert th.is_alive(), "the request was not slow enough to test a shutdown during it"
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(httpx.HTTPError):  # no new connections once shutting down
            httpx.get(base + "/api/health", timeout=2)
        th.join(120)
        assert result["status"] == 200, result
        assert len(result["body"]["rows"]) > 0 and result["body"]["level"] == "evse"
        # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly (exit status -15)
        assert proc.wait(60) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    slow_line = [x for x in lines if x.get("request_id") == "slow-1"]
    assert slow_line and slow_line[0]["status"] == 200 and slow_line[0]["path"] == "/api/v1/contract"
    assert slow_line[0]["ms"] > 800
    assert not any("Traceback" in x for x in log.read_text().splitlines())
