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
    """SIGTERM while an operator's CDR POST is in flight (its body still arriving, over ~3 s): no new
    connections are taken, the request is finished and answered 1000, the CDR is in the store, then the server
    exits. (The request used to be a first contract computation, which got fast enough to end before the
    signal.)"""
    import base64

    from test_ocpi_fault import make_cdr

    from laadplan.store import Store

    db = copy_of_demo(tmp_path)
    tok = json.loads(subprocess.run([LAADPLAN, "--db", str(db), "--json", "token", "create", "--role", "operator",
                                     "--country-code", "NL", "--party-id", "EQU"],
                                    check=True, capture_output=True, text=True).stdout)["token"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    proc = start_server(db, port, log, "--graceful-s", "60")
    body = json.dumps(make_cdr(424242)).encode()
    try:
        wait_ready(base, proc)
        assert httpx.get(base + "/api/health").json() == {"status": "ok"}
        assert httpx.get(base + "/api/docs").status_code == 200
        result: dict = {}

        def pieces():
            step = len(body) // 6 + 1
            for i in range(0, len(body), step):
                yield body[i:i + step]
                time.sleep(0.5)  # the whole body takes ~3 s to arrive

        def slow() -> None:
            t0 = time.monotonic()
            r = httpx.post(base + "/ocpi/2.2.1/receiver/cdrs", content=pieces(),
                           headers={"Authorization": "Token " + base64.b64encode(tok.encode()).decode(),
                                    "Content-Type": "application/json", "X-Request-ID": "slow-1"}, timeout=120)
            result.update(status=r.status_code, body=r.json(), s=time.monotonic() - t0)

        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.8)
        assert th.is_alive(), "the request was not slow enough to test a shutdown during it"
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(httpx.HTTPError):  # no new connections once shutting down
            httpx.get(base + "/api/health", timeout=2)
        th.join(120)
        assert result["status"] == 200 and result["body"]["status_code"] == 1000, result
        assert result["s"] >= 2.5  # it was answered after its whole body, during the shutdown
        # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly (exit status -15)
        assert proc.wait(60) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with Store(str(db), read_only=True) as s:
        assert s.count("sessions", "session_id LIKE ?", ["%K424242"]) == 1  # acknowledged, so stored
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    slow_line = [x for x in lines if x.get("request_id") == "slow-1"]
    assert slow_line and slow_line[0]["status"] == 200 and slow_line[0]["path"] == "/ocpi/2.2.1/receiver/cdrs"
    assert slow_line[0]["ms"] > 800
    assert not any("Traceback" in x for x in log.read_text().splitlines())
