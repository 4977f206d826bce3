"""OCPI CDR intake benchmark: CDRs per second acknowledged by a real ``laadplan serve`` (loopback, DuckDB store
in a temp folder) with 1, 8 and 32 concurrent clients, p50/p99 latency. Bounded: each level stops after
``--max-cdrs`` CDRs or ``--seconds`` seconds, whichever first. One CDR per POST (as OCPI defines it); the
server groups the POSTs that arrive together into one validation batch and one commit (group commit).

The clients speak plain HTTP/1.1 keep-alive over sockets with pre-built requests (an httpx client costs more
CPU per request than the server's work on this 2-core machine). The machine is shared: the 1-minute load
average is printed with every figure. As a reference the same CDRs go through the file ingest's batch
validator in-process (``ingest_cdr_records`` on one batch, own temp store): the ratio shows what HTTP, the
per-request checks and the group commit cost on top of the validator.

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

import socket

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from test_ocpi_fault import free_port, make_cdr, operator_token, start_server  # noqa: E402


def _request(port: int, auth: str, body: bytes) -> bytes:
    return (f"POST /ocpi/2.2.1/receiver/cdrs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def _answer(sock: socket.socket, buf: bytearray) -> tuple[int, bytes]:
    """(HTTP status, body) of one response on a keep-alive connection; ``buf`` keeps what was read beyond."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    n = next(int(v) for k, _, v in (ln.partition(b":") for ln in lines[1:]) if k.strip().lower() == b"content-length")
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        rest += chunk
    buf[:] = rest[n:]
    return status, rest[:n]


def level(port: int, auth: str, n_clients: int, seconds: float, max_cdrs: int, start_id: int) -> dict:
    lat: list[float] = []
    errors = {"n": 0}
    lock = threading.Lock()
    counter = {"i": start_id}
    reqs = [_request(port, auth, json.dumps(make_cdr(i)).encode()) for i in range(start_id, start_id + max_cdrs)]
    stop_at = time.monotonic() + seconds

    def client() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = bytearray()
            while time.monotonic() < stop_at:
                with lock:
                    if counter["i"] - start_id >= max_cdrs:
                        return
                    i = counter["i"]
                    counter["i"] += 1
                t = time.perf_counter()
                sock.sendall(reqs[i - start_id])
                status, body = _answer(sock, buf)
                dt = time.perf_counter() - t
                with lock:
                    if status == 200 and b'"status_code":1000' in body:
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


def file_path_baseline(n: int, start_id: int) -> dict:
    """Records/s of the file ingest's batch validator on ``n`` of the same CDRs as one batch (one run, one
    transaction, own temp store) - the validator's own speed without HTTP and per-request work."""
    from laadplan.config import load_config
    from laadplan.ingest.cdrs import ingest_cdr_records
    from laadplan.store import Store

    cfg = load_config(None)
    recs = [(k + 1, json.dumps(make_cdr(start_id + k))) for k in range(n)]
    with tempfile.TemporaryDirectory() as tmp, Store(str(Path(tmp) / "base.duckdb"), create=True) as s:
        out = {}
        s.run_id = "bench-warm-up"  # the first statements of a connection pay a start-up cost: not counted
        with s.transaction():
            ingest_cdr_records(s, [(1, json.dumps(make_cdr(start_id - 1)))], cfg, "bench", digest="warm-up")
        for size in (1, n):
            s.run_id = f"bench-{size}"
            t = time.perf_counter()
            with s.transaction():
                res = ingest_cdr_records(s, recs[:size], cfg, "bench", digest=f"d{size}")
            dt = time.perf_counter() - t
            assert res.accepted == size
            out[f"batch_{size}_ms"] = round(dt * 1000, 1)
            out[f"batch_{size}_records_per_s"] = round(size / dt, 1)
        return out


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--max-cdrs", type=int, default=3000)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--baseline", type=int, default=3000, help="CDRs in the file-path baseline batch (0: none)")
    a = ap.parse_args()
    print(f"{os.cpu_count()} cores; load average before: {loadavg()}", flush=True)
    if a.baseline:
        b = file_path_baseline(a.baseline, 10_000_000)
        print(json.dumps({"file_path_ingest_cdr_records": b, "loadavg_1m": loadavg()}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        token = operator_token(db)
        auth = "Token " + base64.b64encode(token.encode()).decode()
        port = free_port()
        server = start_server(db, port)
        try:
            start = 0
            for n in [int(x) for x in a.clients.split(",")]:
                r = level(port, auth, n, a.seconds, a.max_cdrs, start)
                start += a.max_cdrs
                r["loadavg_1m"] = loadavg()
                print(json.dumps(r), flush=True)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)


if __name__ == "__main__":
    main()
