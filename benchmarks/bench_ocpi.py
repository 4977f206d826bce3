"""OCPI CDR intake benchmark: CDRs per second acknowledged by a real ``laadplan serve`` (loopback) with 1, 8 and
32 concurrent clients, p50/p99 latency, on a DuckDB store in a temp folder and on PostgreSQL (a database made
for the run and dropped after it; ``--pg`` names the server). Bounded: each level stops after ``--max-cdrs``
CDRs or ``--seconds`` seconds, whichever first. One CDR per POST (as OCPI defines it); the server groups the
POSTs that arrive together into one validation batch and one commit (group commit).

**HTTP ceiling.** The same POSTs with a body naming another party are refused (403) by the checks that run
before the commit (token from the cache, body read and parsed, party compared): what the HTTP layer, the
middleware and the token check alone allow on this machine, with the same clients. The intake can not be
faster than that; the ratio intake / ceiling is printed.

``--ceiling`` also measures the machine's own HTTP ceiling: the same clients and POSTs against a trivial ASGI
app (:mod:`trivial_asgi`: reads the body, answers a fixed envelope) under uvicorn with ``laadplan serve``'s
settings. Whether 2,000 POSTs/s can be reached on this machine at all, with the clients on the same cores.

The clients speak plain HTTP/1.1 keep-alive over sockets with pre-built requests, spread over
``--client-procs`` processes (:mod:`httpload`; an httpx client costs more CPU per request than the server's
work on this 2-core machine). The server and client CPU per POST are printed with every level (less sensitive
to a shared machine than the rates). The server runs with its rate limit raised (one operator token sends all
the POSTs). PostgreSQL is served by ``--workers`` processes. The 1-minute load average is printed with every
figure. As a reference the same CDRs go through the file ingest's batch validator in-process
(``ingest_cdr_records`` on one batch, own temp store): the ratio shows what HTTP, the per-request checks and the
group commit cost on top of the validator.

**The store.** With ``--store region`` (the default when ``../shared/data`` is there) the store holds the real
region's NDW charge points first (locations, EVSEs and 27,902 connectors of Zuid-Holland and Zeeland), as a
production store does: the CDR rules look up connector power, and an empty store hid what that lookup cost.
``--store empty`` (or no shared data) serves an empty store. ``--stored N`` first adds N earlier CDRs of the
party (sessions and their pushed objects, random ids among which the benchmark's fall): a store that has been
receiving for a while, where a lookup that reads every stored key shows.

    .venv/bin/python benchmarks/bench_ocpi.py [--seconds 10] [--max-cdrs 3000] [--clients 1,8,32]
        [--backends duckdb,postgres] [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--workers 2]
        [--ceiling] [--client-procs 2] [--store region|empty] [--stored N]
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
import time
from pathlib import Path

import subprocess

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
import httpload  # noqa: E402
from realdata import NDW_CHARGE_POINTS, SHARED  # noqa: E402
from test_ocpi_fault import LAADPLAN, free_port, make_cdr, operator_token  # noqa: E402


def _request(port: int, auth: str, body: bytes) -> bytes:
    return (f"POST /ocpi/2.2.1/receiver/cdrs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def level(port: int, auth: str, n_clients: int, seconds: float, max_cdrs: int, start_id: int, *,
          refused: bool = False, procs: int = 2, server_pid: int | None = None) -> dict:
    """One level: ``n_clients`` clients (keep-alive connections spread over ``procs`` processes) POST CDRs
    (``refused``: of another party, answered 403 before the commit - the HTTP ceiling)."""
    party = "XXX" if refused else "EQU"
    want_status, want_body = (403, b'"status_code":2000') if refused else (200, b'"status_code":1000')
    each = -(-max_cdrs // n_clients)
    plans = [[("cdr", _request(port, auth, json.dumps(make_cdr(start_id + k * each + j, party)).encode()),
               want_status, want_body) for j in range(each)] for k in range(n_clients)]
    srv0 = httpload.tree_cpu_s(server_pid) if server_pid else 0.0
    res = httpload.run(port, plans, seconds, each, procs=procs)
    srv = httpload.tree_cpu_s(server_pid) - srv0 if server_pid else None
    lat = sorted(res["lat"].get("cdr", []))
    wall = res["wall_s"]
    q = (lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000) if lat else (lambda p: float("nan"))
    return {"clients": n_clients, "answered" if refused else "acked": len(lat),
            "errors": sum(res["errors"].values()), "seconds": round(wall, 2),
            "cdrs_per_s": round(len(lat) / wall, 1), "p50_ms": round(q(0.50), 1), "p99_ms": round(q(0.99), 1),
            "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
            "server_cpu_ms_per_post": round(srv * 1000 / len(lat), 3) if srv is not None and lat else None,
            "client_cpu_ms_per_post": round(res["client_cpu_s"] * 1000 / len(lat), 3) if lat else None,
            "client_procs": res["client_procs"]}


def load_region(db: str) -> dict:
    """The real region's NDW locations and connectors into the store at ``db`` (the file ingest); counts."""
    from laadplan.config import RegionConfig
    from laadplan.ingest import reader
    from laadplan.store import Store

    with Store(db) as s:
        for f in NDW_CHARGE_POINTS:
            reader("locations")(s, str(f), RegionConfig())
        return {t: s.count(t) for t in ("locations", "evses", "connectors")}


def grow_store(db: str, n: int) -> dict:
    """``n`` earlier CDRs of the benchmark's party in the store at ``db``: sessions and their pushed objects
    (``ocpi_objects``), with random ids (an md5) among which the benchmark's own ids fall, as a server's store
    holds after months of pushes. A store's size showed only with such keys: a lookup that reads every stored
    key is pruned by min/max when the new ids sort after the stored ones."""
    from laadplan.store import Store
    from laadplan.store import postgres as pgm

    sessions = ("INSERT INTO sessions (session_id, country_code, party_id, location_id, evse_uid, connector_id, "
                "start_utc, end_utc, energy_kwh, source, source_file, run_id, last_updated_utc) "
                "SELECT 'NL*EQU*K' || md5(i::VARCHAR), 'NL', 'EQU', 'LOC' || (i % 5000), 'E' || (i % 9), '1', "
                "TIMESTAMP '2025-01-01' + (i % 100000) * INTERVAL '1 minute', "
                "TIMESTAMP '2025-01-01' + (i % 100000 + 60) * INTERVAL '1 minute', 10.0, 'ocpi', 'ocpi:NL*EQU', "
                "'grown', TIMESTAMP '2025-06-01' FROM {range}")
    objects = ("INSERT INTO ocpi_objects (module, country_code, party_id, object_id, version, object_json, "
               "last_updated_utc, received_utc, run_id) SELECT 'cdrs', 'NL', 'EQU', 'K' || md5(i::VARCHAR), '2.2.1', "
               "'{{\"id\": \"' || i || '\", \"x\": \"' || repeat('y', 800) || '\"}}', TIMESTAMP '2025-06-01', "
               "TIMESTAMP '2025-06-01', 'grown' FROM {range}")
    with Store(db) as s:
        if s.backend == "postgres":
            with s.transaction():
                for sql in (sessions, objects):
                    pgm.native_execute(s.con, sql.format(range=f"generate_series(0, {n - 1}) g(i)"))
        else:
            for sql in (sessions, objects):
                s.con.execute(sql.format(range=f"range({n}) r(i)"))
            s.con.execute("CHECKPOINT")
        return {"sessions": s.count("sessions"), "ocpi_objects": s.count("ocpi_objects")}


#: the benchmark's one operator token may send more than the default 6,000 requests a minute
BENCH_CONFIG = "[server]\nrate_limit_per_minute = 100000000\n"


def start_serve(db: str, port: int, workers: int = 1) -> subprocess.Popen:
    """``laadplan serve`` on ``db`` with ``workers`` processes, up and answering; the rate limit raised
    (:data:`BENCH_CONFIG`: the token bucket is still taken per request, it just does not run dry)."""
    cfg = Path(tempfile.gettempdir()) / f"laadplan-bench-ocpi-{os.getpid()}.toml"
    cfg.write_text(BENCH_CONFIG)
    p = subprocess.Popen([LAADPLAN, "--db", str(db), "--config", str(cfg), "serve", "--host", "127.0.0.1", "--port", str(port),
                          "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    _wait_up(p, port)
    return p


def start_trivial(port: int, workers: int = 1) -> subprocess.Popen:
    """The trivial ASGI app of :mod:`trivial_asgi` under uvicorn with ``laadplan serve``'s settings."""
    p = subprocess.Popen([sys.executable, str(Path(__file__).with_name("trivial_asgi.py")), str(port), str(workers)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _wait_up(p, port)
    return p


def _wait_up(p: subprocess.Popen, port: int) -> None:
    import httpx

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
        if p.poll() is not None:
            raise RuntimeError("server exited at start")
    p.kill()
    raise RuntimeError("server did not come up in 90 s")


def file_path_baseline(n: int, start_id: int) -> dict:
    """Records/s of the CDR validator in-process (``ingest_cdr_records``, one run and one transaction per batch,
    own temp store): batches of 1 and 32 through the small-batch path (prepared statements, as the receiver's
    groups), and one batch of ``n`` through the file ingest's big-batch path - the validator's own speed
    without HTTP and per-request work."""
    from laadplan.config import load_config
    from laadplan.ingest.cdrs import SMALL_BATCH, ingest_cdr_records, prepare_cdr_batches
    from laadplan.store import Store

    cfg = load_config(None)
    recs = [(k + 1, json.dumps(make_cdr(start_id + k))) for k in range(n)]
    with tempfile.TemporaryDirectory() as tmp, Store(str(Path(tmp) / "base.duckdb"), create=True) as s:
        out = {}
        off = 0
        for size in (1, 32, n):
            small = size <= SMALL_BATCH
            reps = 10 if small else 1
            t = time.perf_counter()
            for r in range(reps + (1 if small else 0)):  # small: one warm-up batch (prepares), not counted
                if small and r == 1:
                    t = time.perf_counter()
                batch = [(k + 1, json.dumps(make_cdr(start_id + n + off + k))) for k in range(size)] if small else recs
                off += size
                prepare_cdr_batches(s, cfg)
                s.run_id = f"bench-{size}-{r}"
                with s.transaction():
                    res = ingest_cdr_records(s, batch, cfg, "bench", digest=f"d{size}-{r}", prepared=small)
                assert res.accepted == size
            dt = (time.perf_counter() - t) / reps
            out[f"batch_{size}_ms"] = round(dt * 1000, 1)
            out[f"batch_{size}_records_per_s"] = round(size / dt, 1)
        return out


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def run_backend(backend: str, pg: str, levels: list[int], seconds: float, max_cdrs: int, workers: int = 1,
                procs: int = 2, region: bool = False, stored: int = 0) -> list[dict]:
    """Serve a fresh store of ``backend``, measure the HTTP ceiling and every level; the rows printed."""
    from laadplan.store import Store
    from laadplan.store import postgres as pgm

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "postgres":
            db = pgm.with_database(pg, f"laadplan_bench_ocpi_{os.getpid()}")
            pgm.drop_database(db)
            pgm.create_database(db)
        else:
            db = str(Path(tmp) / "bench.duckdb")
        server = None
        try:
            Store(db, create=True).close()
            if region:
                print(json.dumps({"backend": backend, "store": "region", **load_region(str(db))}), flush=True)
            if stored:
                print(json.dumps({"backend": backend, "stored": grow_store(str(db), stored)}), flush=True)
            token = operator_token(db)
            auth = "Token " + base64.b64encode(token.encode()).decode()
            port = free_port()
            server = start_serve(db, port, workers)
            # every worker verifies the token once (scrypt) before the clock starts
            level(port, auth, 4 * workers, 2.0, 8 * workers, 90_000_000, refused=True, procs=1)
            ceiling = level(port, auth, max(levels), seconds, max_cdrs, 0, refused=True, procs=procs,
                            server_pid=server.pid)
            ceiling.update(backend=backend, workers=workers, what="http_ceiling_refused_before_commit",
                           loadavg_1m=loadavg())
            print(json.dumps(ceiling), flush=True)
            rows.append(ceiling)
            start = 0
            for n in levels:
                r = level(port, auth, n, seconds, max_cdrs, start, procs=procs, server_pid=server.pid)
                start += max_cdrs
                r.update(backend=backend, workers=workers, what="cdr_intake", loadavg_1m=loadavg(),
                         ratio_to_http_ceiling=round(r["cdrs_per_s"] / ceiling["cdrs_per_s"], 3)
                         if ceiling["cdrs_per_s"] else None)
                print(json.dumps(r), flush=True)
                rows.append(r)
        finally:
            if server is not None:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(30)
            if backend == "postgres":
                pgm.drop_database(db)
    return rows


def run_trivial(levels: list[int], seconds: float, max_cdrs: int, workers: int, procs: int) -> list[dict]:
    """The machine's HTTP ceiling: the same POSTs and clients against a trivial ASGI app (reads the body,
    answers a fixed OCPI envelope) under uvicorn with ``laadplan serve``'s settings."""
    port = free_port()
    server = start_trivial(port, workers)
    rows = []
    try:
        for n in levels:
            r = level(port, "Token x", n, seconds, max_cdrs, 0, procs=procs, server_pid=server.pid)
            r.update(what="trivial_asgi_app_ceiling", workers=workers, loadavg_1m=loadavg())
            print(json.dumps(r), flush=True)
            rows.append(r)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--max-cdrs", type=int, default=3000)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--backends", default="duckdb,postgres")
    ap.add_argument("--pg", default=os.environ.get("LAADPLAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
                    help="PostgreSQL server (a database is made for the run and dropped after it)")
    ap.add_argument("--baseline", type=int, default=3000, help="CDRs in the file-path baseline batch (0: none)")
    ap.add_argument("--quick", action="store_true", help="3 s and 500 CDRs per level, a baseline of 300")
    ap.add_argument("--workers", type=int, default=1,
                    help="Server worker processes (PostgreSQL only; DuckDB is always served by one)")
    ap.add_argument("--client-procs", type=int, default=2, help="Processes the clients are spread over")
    ap.add_argument("--store", choices=("region", "empty"), default=None,
                    help="region: load the real region's NDW charge points first (default when ../shared/data is "
                         "there); empty: an empty store")
    ap.add_argument("--stored", type=int, default=0,
                    help="First store this many earlier CDRs of the party (sessions and pushed objects, random ids): "
                         "the intake of a store that has been receiving for a while")
    ap.add_argument("--ceiling", action="store_true",
                    help="Also measure the machine's HTTP ceiling: the same clients against a trivial ASGI app "
                         "under the same uvicorn settings (with --workers processes)")
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.max_cdrs, a.baseline = min(a.seconds, 3.0), min(a.max_cdrs, 500), min(a.baseline, 300)
    print(f"{os.cpu_count()} cores; load average before: {loadavg()}", flush=True)
    if a.baseline:
        b = file_path_baseline(a.baseline, 10_000_000)
        print(json.dumps({"file_path_ingest_cdr_records": b, "loadavg_1m": loadavg()}), flush=True)
    have = all(f.is_file() for f in NDW_CHARGE_POINTS)
    if a.store is None:
        a.store = "region" if have else "empty"
        if not have:
            print(f"note: the real open data was not found at {SHARED}: serving an empty store", flush=True)
    elif a.store == "region" and not have:
        sys.exit(f"--store region needs the real open data at {SHARED} (set LAADPLAN_SHARED_DATA)")
    levels = [int(x) for x in a.clients.split(",")]
    if a.ceiling:
        run_trivial(levels, a.seconds, a.max_cdrs, a.workers, a.client_procs)
    for backend in filter(None, (b.strip() for b in a.backends.split(","))):
        run_backend(backend, a.pg, levels, a.seconds, a.max_cdrs,
                    a.workers if backend == "postgres" else 1, a.client_procs, region=a.store == "region",
                    stored=a.stored)


if __name__ == "__main__":
    main()
