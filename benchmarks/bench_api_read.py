"""Benchmark: the read API under 50 concurrent readers, on a real ``laadplan serve`` process (loopback).

Builds the synthetic demo store (every ``laadplan demo`` step, at ``--scale``; or uses ``--db``), makes one
gemeente token per reader (the municipality with the most locations; 50 readers = 50 users, each under its
own rate limit), starts ``laadplan serve`` on 127.0.0.1 and warms each endpoint once. Then ``--readers``
readers (50: 50 users, each with its own keep-alive connection, closed loop, no think time) loop over three
requests for ``--seconds`` (at most ``--max-requests`` in all):

* ``GET /api/v1/kpi?level=gemeente``      the gemeente's usage KPIs (as ``laadplan kpi --level gemeente --gm``)
* ``GET /api/v1/locations?limit=1000``    its locations as GeoJSON
* ``GET /api/v1/plan?limit=1000``         its plan sites (GeoJSON, with reasons)

The readers are still 50 connections, but they are threads spread over ``--client-procs`` processes (2)
sending pre-built requests over plain sockets (:mod:`httpload`): the former client (httpx, all 50 as threads
of this one process; ``--client httpx``) spent ~2 ms of CPU per request, as much as the server, on this 2-core
machine, so it limited the figures. The client's and the server's CPU per request are printed with every phase
(CPU per request is less sensitive to a shared machine than latency).

and prints p50/p99/max latency per endpoint, requests per second, errors, and the load average (1 min)
before and after (the machine may be shared). Goal: p99 under 200 ms for the gemeente's KPIs.

The readers run twice: idle, then while ``--pushers`` OCPI clients (an operator token) POST CDRs to the
receiver as fast as it acknowledges them (a backfill), or together at ``--push-rate`` CDRs/s, paced (the
region's operators push a few per second on average; the issue's "while CDRs are being pushed"); both phases' p50/p99
are printed, with the CDRs/s acknowledged meanwhile. The idle phase is the baseline of the loaded one.

With ``--pg URL`` the demo store is copied into a PostgreSQL database made for the run (dropped after it) and
served by ``--workers`` processes.

    .venv/bin/python benchmarks/bench_api_read.py [--scale 0.1] [--db FILE] [--readers 50] [--seconds 20]
        [--pushers 8] [--push-rate R] [--client-procs 2] [--client socket|httpx] [--pg URL --workers 2]
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

import httpload  # noqa: E402
from httpload import pct  # noqa: E402
from web_browser import free_port  # noqa: E402

ENDPOINTS = {
    "kpi_gemeente": ("/api/v1/kpi", {"level": "gemeente"}),
    "locations_geojson": ("/api/v1/locations", {"limit": 1000}),
    "plan": ("/api/v1/plan", {"limit": 1000}),
}


def build_store(db: Path, scale: float) -> float:
    from laadplan.config import load_config
    from laadplan.demo.run import DEMO_SEED, STEPS, DemoContext
    from laadplan.store import Store

    t0 = time.perf_counter()
    with Store(str(db), create=True) as store:
        ctx = DemoContext(store=store, cfg=load_config(None), out_dir=db.parent / "out",
                          inputs_dir=db.parent / "out" / "inputs", seed=DEMO_SEED, log=lambda s: None)
        ctx.inputs_dir.mkdir(parents=True, exist_ok=True)
        ctx.scale = scale
        for _, mod in STEPS:
            ctx.results[mod.rsplit(".", 1)[-1]] = importlib.import_module(mod).step(ctx)
    return time.perf_counter() - t0


def make_tokens(db: str, n: int) -> tuple[str, list[str]]:
    from laadplan.api import auth
    from laadplan.store import Store

    with Store(db) as s:
        gm = s.query("SELECT gm_code FROM locations WHERE gm_code IS NOT NULL GROUP BY 1 "
                     "ORDER BY count(*) DESC, gm_code LIMIT 1")["gm_code"].iloc[0]
        return gm, [auth.create_token(s, "gemeente", gm_code=gm, label=f"bench reader {i}")[0] for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", help="Use this store (a copy is made) instead of building the demo")
    ap.add_argument("--scale", type=float, default=0.1, help="Demo scale when building (1.0 = laadplan demo)")
    ap.add_argument("--readers", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0, help="Measured run time")
    ap.add_argument("--max-requests", type=int, default=20_000, help="Stop after this many requests in all")
    ap.add_argument("--keep", help="Keep the work folder here")
    ap.add_argument("--pushers", type=int, default=8, help="OCPI clients pushing CDRs in the loaded phase (0: none)")
    ap.add_argument("--push-rate", type=float, default=0.0,
                    help="CDRs/s the pushers send together, paced (0: each as fast as it is acknowledged, a backfill)")
    ap.add_argument("--client-procs", type=int, default=2, help="Processes the readers are spread over")
    ap.add_argument("--client", choices=("socket", "httpx"), default="socket",
                    help="socket: lean keep-alive sockets over --client-procs processes; httpx: the former "
                         "client (httpx, all readers as threads of this process), to compare")
    ap.add_argument("--workers", type=int, default=1, help="Server worker processes (PostgreSQL only)")
    ap.add_argument("--pg", help="Serve a copy of the store in this PostgreSQL server (a database made for the "
                                 "run and dropped after it), e.g. postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--quick", action="store_true", help="demo scale 0.02, 5 s per phase")
    a = ap.parse_args()
    if a.quick:
        a.scale, a.seconds = min(a.scale, 0.02), min(a.seconds, 5.0)
    import httpx

    work = Path(a.keep or tempfile.mkdtemp(prefix="bench-api-read-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "bench.duckdb"
    if a.db:
        shutil.copy(a.db, db)
        built = None
    elif not db.exists():
        built = build_store(db, a.scale)
        print(f"demo store built at scale {a.scale} in {built:.0f} s", file=sys.stderr)
    store_at = str(db)
    if a.pg:  # the demo store copied into a database made for this run
        from laadplan.store import postgres as pgm
        from laadplan.store.copy import copy_store

        store_at = pgm.with_database(a.pg, f"laadplan_bench_read_{os.getpid()}")
        pgm.drop_database(store_at)
        pgm.create_database(store_at)
        copy_store(str(db), store_at)
    elif a.workers > 1:
        raise SystemExit("--workers > 1 needs --pg (a DuckDB file is held by one process)")
    gm, tokens = make_tokens(store_at, a.readers)
    op_token = None
    if a.pushers:  # made before the server holds the store
        from test_ocpi_fault import operator_token  # noqa: E402

        op_token = operator_token(store_at)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    exe = str(Path(sys.executable).with_name("laadplan"))
    log = open(work / "serve.log", "wb")
    proc = subprocess.Popen([exe, "--db", store_at, "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(a.workers)], stdout=log, stderr=subprocess.STDOUT)
    result: dict = {"gemeente": gm, "readers": a.readers, "backend": "postgres" if a.pg else "duckdb",
                    "server_workers": a.workers}
    try:
        t0 = time.monotonic()
        while True:
            try:
                if httpx.get(base + "/api/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() - t0 > 120:
                raise SystemExit(f"server did not start; see {work / 'serve.log'}")
            time.sleep(0.2)
        cold = {}
        for name, (path, params) in ENDPOINTS.items():  # first request: computes and caches
            t = time.perf_counter()
            r = httpx.get(base + path, params=params, headers={"Authorization": f"Token {tokens[0]}"}, timeout=120)
            cold[name] = round((time.perf_counter() - t) * 1000, 1)
            assert r.status_code == 200, r.text[:300]
        result["cold_ms"] = cold
        t = time.perf_counter()
        for tok in tokens * (2 * a.workers):  # each token verified (scrypt) in each worker before the clock starts
            httpx.get(base + "/api/v1/kpi", params={"level": "gemeente"}, headers={"Authorization": f"Token {tok}"},
                      timeout=120).raise_for_status()
        result["token_warmup_s"] = round(time.perf_counter() - t, 1)
        result["phases"] = {}
        result["phases"]["idle"] = read_phase(port, tokens, a, proc.pid)
        if a.pushers:
            from test_ocpi_fault import make_cdr  # noqa: E402

            import httpload

            auth = "Token " + base64.b64encode(op_token.encode()).decode()
            plans = [[("cdr", httpload.post_request(port, "/ocpi/2.2.1/receiver/cdrs", {"Authorization": auth},
                                                     json.dumps(make_cdr(k * 1_000_000 + j)).encode()),
                       200, b'"status_code":1000') for j in range(a.max_requests // a.pushers + 1)]
                     for k in range(1, a.pushers + 1)]
            push: dict = {}
            # the pushers run in their own process, 1 s ahead and 1 s beyond the readers
            interval = a.pushers / a.push_rate if a.push_rate > 0 else 0.0
            th = threading.Thread(target=lambda: push.update(httpload.run(port, plans, a.seconds + 2.5,
                                                                           a.max_requests, procs=1,
                                                                           interval_s=interval)))
            th.start()
            time.sleep(1.5)  # the push load is on before the readers start
            result["phases"]["while_pushing"] = read_phase(port, tokens, a, proc.pid)
            th.join()
            acked = len(push["lat"].get("cdr", []))
            result["phases"]["while_pushing"].update(
                pushers=a.pushers, push_rate_target=a.push_rate or None, cdrs_acked_whole_push=acked, cdrs_per_s=round(acked / push["wall_s"], 1),
                push_errors=push["errors"], pusher_cpu_s=round(push["client_cpu_s"], 2))
        result["endpoints"] = result["phases"].get("while_pushing", result["phases"]["idle"])["endpoints"]
        kp = result["endpoints"].get("kpi_gemeente", {}).get("p99_ms")
        result["goal_kpi_p99_under_200ms"] = kp is not None and kp < 200
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        if a.pg:
            pgm.drop_database(store_at)
    print(json.dumps(result, indent=1))
    idle = result["phases"]["idle"]["endpoints"]
    for phase, r in result["phases"].items():
        print(f"-- {phase} ({r['requests_per_s']} requests/s, load {r['load_avg_1min_after']}"
              + (f", {r['cdrs_per_s']} CDRs/s pushed" if "cdrs_per_s" in r else "") + ")", file=sys.stderr)
        for k, v in r["endpoints"].items():
            ratio = v["p99_ms"] / idle[k]["p99_ms"] if idle.get(k, {}).get("p99_ms") else float("nan")
            print(f"{k:18s} n={v['n']:6d}  p50 {v['p50_ms']:7.1f} ms  p99 {v['p99_ms']:7.1f} ms  "
                  f"max {v['max_ms']:7.1f} ms  p99/idle {ratio:.2f}", file=sys.stderr)


def read_phase(port: int, tokens: list[str], a, server_pid: int) -> dict:
    """``a.readers`` readers loop over the endpoints for ``a.seconds`` (at most ``a.max_requests`` in all):
    one connection each, spread over ``a.client_procs`` processes (``--client httpx``: the former client,
    httpx clients as threads of this one process)."""
    load_before = os.getloadavg()
    srv0 = httpload.tree_cpu_s(server_pid)
    if a.client == "httpx":
        res = _httpx_phase(port, tokens, a)
    else:
        plans = []
        for i in range(a.readers):
            names = list(ENDPOINTS)
            names = names[i % len(names):] + names[:i % len(names)]
            hdr = {"Authorization": f"Token {tokens[i]}"}
            plans.append([(n, httpload.get_request(port, ENDPOINTS[n][0] + "?" + urlencode(ENDPOINTS[n][1]), hdr),
                           200, b"") for n in names])
        res = httpload.run(port, plans, a.seconds, -(-a.max_requests // a.readers), procs=a.client_procs)
    srv_cpu = httpload.tree_cpu_s(server_pid) - srv0
    load_after = os.getloadavg()
    lat = res["lat"]
    n = sum(len(v) for v in lat.values())
    wall = res["wall_s"]
    return {
        "client": a.client, "client_procs": res["client_procs"],
        "seconds": round(wall, 1), "requests": n, "requests_per_s": round(n / wall, 1),
        "errors": res["errors"], "load_avg_1min_before": round(load_before[0], 2),
        "load_avg_1min_after": round(load_after[0], 2), "cpus": os.cpu_count(),
        "server_cpu_s": round(srv_cpu, 2), "client_cpu_s": round(res["client_cpu_s"], 2),
        "server_cpu_ms_per_request": round(srv_cpu * 1000 / n, 3) if n else None,
        "client_cpu_ms_per_request": round(res["client_cpu_s"] * 1000 / n, 3) if n else None,
        "client_cpu_share_of_wall": round(res["client_cpu_s"] / wall, 2),
        "endpoints": {k: {"n": len(v), "p50_ms": round(pct(v, 0.5) * 1000, 1), "p99_ms": round(pct(v, 0.99) * 1000, 1),
                          "max_ms": round(max(v) * 1000, 1), "mean_ms": round(statistics.fmean(v) * 1000, 1)}
                      for k, v in lat.items() if v},
    }


def _httpx_phase(port: int, tokens: list[str], a) -> dict:
    """The former client: ``a.readers`` threads of this process, each with its own httpx client."""
    import httpx

    lat: dict[str, list[float]] = {k: [] for k in ENDPOINTS}
    errors: dict[str, int] = {}
    lock = threading.Lock()
    count = {"n": 0}
    stop_at = time.monotonic() + a.seconds

    def reader(i: int) -> None:
        names = list(ENDPOINTS)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Token {tokens[i]}"},
                          timeout=60) as c:
            k = i
            while time.monotonic() < stop_at:
                with lock:
                    if count["n"] >= a.max_requests:
                        return
                    count["n"] += 1
                name = names[k % len(names)]
                k += 1
                path, params = ENDPOINTS[name]
                t = time.perf_counter()
                try:
                    r = c.get(path, params=params)
                    ok = r.status_code == 200
                    code = str(r.status_code)
                except httpx.HTTPError as e:
                    ok, code = False, type(e).__name__
                dt = time.perf_counter() - t
                with lock:
                    if ok:
                        lat[name].append(dt)
                    else:
                        errors[code] = errors.get(code, 0) + 1

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(a.readers)]
    cpu0, t0 = time.process_time(), time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {"lat": lat, "errors": errors, "wall_s": time.perf_counter() - t0,
            "client_cpu_s": time.process_time() - cpu0, "client_procs": 1}


if __name__ == "__main__":
    main()
