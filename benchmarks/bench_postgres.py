"""Benchmark: the PostgreSQL/PostGIS store against the DuckDB file store, same machine, same run (issue 14).

1. **ingest**: ``N`` generated OCPI CDRs (1,000,000 by default; the generator of bench_ingest.py, ~1 % bad)
   through ``reader("cdrs")`` - the path of ``laadplan ingest cdrs``, one atomic run - into a new DuckDB file
   and into a new PostgreSQL database. Goal: PostgreSQL within 2x of DuckDB.
2. **db copy**: a store of ``S`` sessions (10,000,000 by default; bench_kpi.py's generator) made as a DuckDB
   file, copied with ``laadplan db copy`` into PostgreSQL: rows per second.
3. **KPIs**: usage KPIs per EVSE per month over those sessions (``usage_kpis``, the ``laadplan kpi`` path) on
   each store; the results must be equal. On PostgreSQL twice: *cold*, the first KPI after the sessions changed
   (it copies them into the local DuckDB mirror, :mod:`laadplan.store.mirror`), and *warm*, the mirror current
   (no COPY). Goal: PostgreSQL warm within 1.5x of DuckDB; the cold figure is printed beside it.

Every timed step runs in its own subprocess (imports and connection set-up excluded from the timing). The
PostgreSQL server is ``--pg`` (default postgresql://postgres@127.0.0.1:5432/postgres); the benchmark makes
its own databases there and drops them. The load average is printed: the machine may be shared.

    .venv/bin/python benchmarks/bench_postgres.py [--quick] [--cdrs N] [--sessions S] [--pg URL]
        [--step-timeout S]

At the end it prints the README table rows of the run (figures, baselines, ratios, load averages).

Run time on the project's 2-core machine: ``--quick`` 168 s at a load average of 8-21. Scaled from it, a full
run is roughly 15-20 minutes (1 M CDRs twice ~1.5 min plus their generation; 10 M sessions: generation ~1 min,
copy to PostgreSQL ~3.5 min, copy back ~8.5 min, KPIs ~4 min); ``--skip copy-back`` saves about 40 %. It needs
several GB of free disk (estimated 8 GB: the 1.3 GB CDR file, three DuckDB stores, the PostgreSQL databases).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _child(argv: list[str]) -> None:
    mode, db, arg = argv
    if mode == "ingest":
        from laadplan.config import RegionConfig
        from laadplan.ingest import reader
        from laadplan.store import Store

        with Store(db) as s:
            t0, c0 = time.perf_counter(), time.process_time()
            r = reader("cdrs")(s, Path(arg), RegionConfig())
            sec, cpu = time.perf_counter() - t0, time.process_time() - c0
            n = s.count("sessions")
        print(json.dumps({"seconds": sec, "cpu": cpu, "read": r.read, "accepted": r.accepted, "sessions": n}))
    elif mode == "kpi":
        sys.path.insert(0, str(HERE))
        from bench_kpi import FIRST, LAST

        from laadplan.config import RegionConfig
        from laadplan.kpi import usage_kpis
        from laadplan.store import Store

        from laadplan.store import mirror

        with Store(db) as s:
            t0, c0 = time.perf_counter(), time.process_time()
            df = usage_kpis(s, RegionConfig(), "evse", FIRST, LAST, period="month")
            sec, cpu = time.perf_counter() - t0, time.process_time() - c0
        df = df.sort_values(["location_id", "evse_uid", "period_start"])
        print(json.dumps({"seconds": sec, "cpu": cpu, "rows": len(df), "mirror": dict(mirror.STATS),
                          "occupancy_sum": float(df["occupancy_share"].sum()),
                          "energy_sum": float(df["energy_kwh"].sum()) if "energy_kwh" in df else None}))
    elif mode == "generate":
        sys.path.insert(0, str(HERE))
        from bench_kpi import generate

        sec = generate(db, int(arg), 20_000)
        print(json.dumps({"seconds": sec}))
    elif mode == "copy":
        from laadplan.store.copy import copy_store

        r = copy_store(db, arg)
        print(json.dumps({"seconds": r.seconds, "rows": r.total, "rows_per_s": r.rows_per_s}))


#: per-step limit in seconds (--step-timeout): a full run stays bounded even on a slow or stuck server
STEP_TIMEOUT_S = [3600.0]


def _run(*args: str) -> dict:
    """One timed step in its own process; its result plus the 1-minute load average when it ended."""
    try:
        res = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                             timeout=STEP_TIMEOUT_S[0])
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{args[0]} took longer than {STEP_TIMEOUT_S[0]:.0f} s (--step-timeout); stopped") from None
    if res.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{res.stderr[-3000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["load"] = os.getloadavg()[0]
    return out


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200,000 CDRs and 1,000,000 sessions")
    ap.add_argument("--cdrs", type=int, default=None)
    ap.add_argument("--sessions", type=int, default=None)
    ap.add_argument("--pg", default=os.environ.get("LAADPLAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--skip", action="append", default=[], choices=["ingest", "kpi", "copy-back"],
                    help="leave out a part (copy-back: the PostgreSQL -> DuckDB copy, ~40 %% of a full run)")
    ap.add_argument("--step-timeout", type=float, default=STEP_TIMEOUT_S[0],
                    help="stop when one step takes longer than this, s [default: %(default)s]")
    a = ap.parse_args()
    STEP_TIMEOUT_S[0] = a.step_timeout
    n_cdrs = a.cdrs or (200_000 if a.quick else 1_000_000)
    n_sessions = a.sessions or (1_000_000 if a.quick else 10_000_000)
    quick = " --quick" if a.quick and not (a.cdrs or a.sessions) else (
        "".join(f" --{k} {v}" for k, v in (("cdrs", a.cdrs), ("sessions", a.sessions)) if v) +
        (" --quick" if a.quick else ""))

    sys.path.insert(0, str(HERE))
    from bench_ingest import generate as gen_cdrs

    from laadplan.store import postgres as pg

    tag = f"laadplan_bench_{os.getpid()}_{secrets.token_hex(3)}"
    made: list[str] = []

    def new_pg(suffix: str) -> str:
        url = pg.with_database(a.pg, f"{tag}_{suffix}")
        pg.create_database(url)
        made.append(url)
        return url

    import duckdb

    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"load average at start: {os.getloadavg()[0]:.1f} (cores: {os.cpu_count()}); DuckDB {duckdb.__version__}; "
          f"PostgreSQL {_server_version(a.pg)}")
    t_start = time.perf_counter()
    rows: list[str] = []  # the README table rows of this run
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
            tmp = Path(tmp)
            if "ingest" not in a.skip:
                src = tmp / "cdrs.ndjson"
                gen_cdrs(src, n_cdrs)
                d = _run("ingest", str(tmp / "ingest.duckdb"), str(src))
                p = _run("ingest", new_pg("ingest"), str(src))
                assert (d["read"], d["accepted"], d["sessions"]) == (p["read"], p["accepted"], p["sessions"]), (d, p)
                r = p["seconds"] / d["seconds"]
                print(f"ingest {n_cdrs:,} CDRs: DuckDB {d['seconds']:.1f} s ({n_cdrs / d['seconds']:,.0f}/s, "
                      f"{d['cpu']:.1f} s CPU, load {d['load']:.1f}), PostgreSQL {p['seconds']:.1f} s "
                      f"({n_cdrs / p['seconds']:,.0f}/s, {p['cpu']:.1f} s CPU in laadplan's process, load "
                      f"{p['load']:.1f}): ratio {r:.2f} (goal <= 2: {'met' if r <= 2 else 'NOT met'}); "
                      f"{p['sessions']:,} sessions in each")
                rows.append(f"| `bench_postgres.py{quick}`: ingest {n_cdrs:,} CDRs (~1 % bad), one atomic run, into "
                            f"PostgreSQL (load {_loads(d, p)}) | {p['seconds']:.1f} s | the same into a DuckDB file: "
                            f"{d['seconds']:.1f} s | {r:.2f} | <= 2: {'met' if r <= 2 else '**not met**'} |")
            if "kpi" not in a.skip:
                db = str(tmp / "kpi.duckdb")
                g = _run("generate", db, str(n_sessions))
                print(f"generated {n_sessions:,} sessions on 20,000 EVSEs into DuckDB in {g['seconds']:.1f} s")
                url = new_pg("kpi")
                c = _run("copy", db, url)
                print(f"db copy DuckDB -> PostgreSQL: {c['rows']:,} rows in {c['seconds']:.1f} s "
                      f"({c['rows_per_s']:,.0f} rows/s, load {c['load']:.1f})")
                c2 = None
                if "copy-back" not in a.skip:
                    c2 = _run("copy", url, str(tmp / "back.duckdb"))
                    print(f"db copy PostgreSQL -> DuckDB: {c2['rows']:,} rows in {c2['seconds']:.1f} s "
                          f"({c2['rows_per_s']:,.0f} rows/s, load {c2['load']:.1f})")
                d = _run("kpi", db, "")
                # cold: the first KPI after the sessions changed (db copy) makes the local mirror; warm: it is
                # current and read again (laadplan.store.mirror); the mirror folder is this run's own
                os.environ["LAADPLAN_MIRROR_DIR"] = str(tmp / "mirror")
                p = _run("kpi", url, "")
                w = _run("kpi", url, "")
                if p["mirror"].get("built") != 1 or w["mirror"].get("reused") != 1:
                    raise SystemExit(f"the mirror was not made then reused: cold {p['mirror']}, warm {w['mirror']}")
                same = all(d["rows"] == x["rows"] and abs(d["occupancy_sum"] - x["occupancy_sum"])
                           < 1e-6 * max(1, d["occupancy_sum"]) for x in (p, w))
                r, rw = p["seconds"] / d["seconds"], w["seconds"] / d["seconds"]
                print(f"KPIs per EVSE per month over {n_sessions:,} sessions: DuckDB {d['seconds']:.1f} s "
                      f"({d['cpu']:.1f} s CPU, load {d['load']:.1f}); PostgreSQL cold (makes the mirror) "
                      f"{p['seconds']:.1f} s ({p['cpu']:.1f} s CPU, load {p['load']:.1f}): ratio {r:.2f}; "
                      f"PostgreSQL warm (mirror current) {w['seconds']:.1f} s ({w['cpu']:.1f} s CPU, load "
                      f"{w['load']:.1f}): ratio {rw:.2f} (goal <= 1.5 on the warm run: "
                      f"{'met' if rw <= 1.5 else 'NOT met'}); {d['rows']:,} rows, equal results: {same}")
                if not same:
                    raise SystemExit(f"the KPIs differ between the backends: {d} vs {p} vs {w}")
                rows.append(f"| `bench_postgres.py{quick}`: KPIs per EVSE per month, {n_sessions:,} sessions on "
                            f"20,000 EVSEs on PostgreSQL, warm: local mirror current (load {_loads(d, w)}) | "
                            f"{w['seconds']:.1f} s; results equal ({d['rows']:,} rows) | the same on a DuckDB file: "
                            f"{d['seconds']:.1f} s | {rw:.2f} | <= 1.5: {'met' if rw <= 1.5 else '**not met**'} |")
                rows.append(f"| the same, cold: first KPI after the sessions changed, makes the mirror (load "
                            f"{_loads(d, p)}) | {p['seconds']:.1f} s | DuckDB file: {d['seconds']:.1f} s | {r:.2f} "
                            f"| - (goal judged warm) |")
                back = (f"; back {c2['seconds']:.1f} s ({c2['rows_per_s']:,.0f} rows/s)" if c2 else "")
                rows.append(f"| `laadplan db copy`, {c['rows']:,} rows (load {_loads(c, *([c2] if c2 else []))}) | "
                            f"DuckDB -> PostgreSQL {c['seconds']:.1f} s ({c['rows_per_s']:,.0f} rows/s){back} | - | - "
                            f"| - |")
    finally:
        for url in made:
            pg.drop_database(url)
    print(f"load average at end: {os.getloadavg()[0]:.1f}; whole run {time.perf_counter() - t_start:.0f} s")
    if rows:
        print("README rows (a load average above 1 makes the ratios 'not a result'):")
        print("\n".join(rows))
    return 0


def _loads(*steps: dict) -> str:
    lo, hi = min(s["load"] for s in steps), max(s["load"] for s in steps)
    return f"{lo:.1f}" if f"{lo:.1f}" == f"{hi:.1f}" else f"{lo:.1f}-{hi:.1f}"


def _server_version(url: str) -> str:
    """The server's version (a failed connection is one clear line, before any data is generated)."""
    from laadplan.store import StoreError
    from laadplan.store import postgres as pg

    try:
        con, _ = pg._admin(url)
    except StoreError as e:
        raise SystemExit(str(e)) from None
    try:
        return str(con.execute("SELECT * FROM postgres_query('adm', 'SELECT current_setting(''server_version'')')").fetchone()[0])
    finally:
        con.close()


if __name__ == "__main__":
    sys.exit(main())
