"""OCPI CDR intake benchmark: CDRs per second acknowledged by a real ``laadplan serve`` (loopback, DuckDB store
in a temp folder) with 1, 8 and 32 concurrent clients, p50/p99 latency. Bounded: each level stops after
``--max-cdrs`` CDRs or ``--seconds`` seconds, whichever first. One CDR per POST (as OCPI defines it).

    .venv/bin/python benchmarks/bench_ocpi.py [--seconds 10] [--max-cdrs 3000] [--clients 1,8,32]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from test_ocpi_fault import free_port, make_cdr, operator_token, start_server  # noqa: E402


def level(port: int, headers: dict, n_clients: int, seconds: float, max_cdrs: int, start_id: int) -> dict:
    lat: list[float] = []
    errors = {"n": 0}
    lock = threading.Lock()
    counter = {"i": start_id}
    stop_at = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            while time.monotonic() < stop_at:
                with lock:
                    if counter["i"] - start_id >= max_cdrs:
                        return
                    i = counter["i"]
                    counter["i"] += 1
                body = json.dumps(make_cdr(i))
                t = time.perf_counter()
                r = c.post("/ocpi/2.2.1/receiver/cdrs", headers={**headers, "Content-Type": "application/json"},
                           content=body)
                dt = time.perf_counter() - t
                with lock:
                    if r.status_code == 200 and r.json()["status_code"] == 1000:
                        lat.append(dt)
                    else:
                        errors["n"] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()
    q = (lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000) if lat else (lambda p: float("nan"))
    return {"clients": n_clients, "acked": len(lat), "errors": errors["n"], "seconds": round(wall, 2),
            "cdrs_per_s": round(len(lat) / wall, 1), "p50_ms": round(q(0.50), 1), "p99_ms": round(q(0.99), 1),
            "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--max-cdrs", type=int, default=3000)
    ap.add_argument("--clients", default="1,8,32")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        token = operator_token(db)
        headers = {"Authorization": "Token " + base64.b64encode(token.encode()).decode()}
        port = free_port()
        server = start_server(db, port)
        try:
            start = 0
            print(f"load average before: {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores", flush=True)
            for n in [int(x) for x in a.clients.split(",")]:
                r = level(port, headers, n, a.seconds, a.max_cdrs, start)
                start += a.max_cdrs
                r["loadavg_1m"] = round(os.getloadavg()[0], 2)
                print(json.dumps(r), flush=True)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)


if __name__ == "__main__":
    main()
