"""Benchmark: ingest of OCPI 2.2.1 CDRs (NDJSON) with validation, against DuckDB's own ``read_json``.

Generates ``N`` CDRs (1,000,000 by default, 100,000 with ``--quick``) into a temp dir, about 1 % of them
bad (truncated JSON lines, negative energy, swapped coordinates, start >= end, missing or wrongly typed
fields, duplicate ids with different content). Then, each in a fresh subprocess so that peak memory
(``ru_maxrss``) is that run's alone:

1. **baseline**: ``CREATE TABLE t AS SELECT * FROM read_json(copy, format='newline_delimited',
   ignore_errors=false)`` into an in-memory DuckDB, where ``copy`` is the same file without its malformed
   (truncated) lines, so that DuckDB is not slowed by error handling: parsing only, no validation;
2. **laadplan**: ``reader("cdrs")`` - the path of ``laadplan ingest cdrs``: one atomic run (one transaction)
   into a new store file beside the CDR file (removed afterwards), with the default config (so DuckDB's memory
   limit is ``sources.ingest_memory_mb``): parse, validate every LINDA/LP rule, upsert the accepted sessions, quarantine the
   rest, hash the content, write the run row.
3. **baseline into a file**, for reference: the statement of 1. into a new DuckDB database file (written and
   committed, as durable as the store the ingest writes). The goal is judged against 1., as the issue sets it.

Timed: the ingest call / the ``CREATE TABLE`` statement only (imports, store schema and connection setup
excluded from both). Printed per run: wall time and CDRs per second of each, their CPU time (user + system,
all threads) and CPU use (CPU time / wall time: about the core count when the machine is free, less when
other work takes cores), the time ratio laadplan / baseline (goal <= 2), the peak resident memory of the
laadplan ingest process (goal < 1 GB) and the load average. With ``--runs N`` the pair is measured N times
(alternating) and the median ratio is printed too. On a shared machine the wall-time ratio moves with load:
a baseline whose CPU use is well below the core count was slowed down, and its ratio is not a result.

    .venv/bin/python benchmarks/bench_ingest.py [--quick] [--n N] [--runs N] [--keep DIR [--reuse]]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("bench_ingest")

_TEMPLATE = (
    '{{"country_code":"NL","party_id":"{party}","id":"{id}","start_date_time":"{start}",'
    '"end_date_time":"{end}","cdr_token":{{"country_code":"NL","party_id":"EMP","uid":"{uid}","type":"RFID",'
    '"contract_id":"NL-EMP-C{user:08d}-X"}},"auth_method":"WHITELIST","cdr_location":{{"id":"LOC{loc}",'
    '"name":"Laadpunt {loc}","address":"Straat {loc}","city":"Rotterdam","postal_code":"3011 AB","country":"NLD",'
    '"coordinates":{{"latitude":"{lat}","longitude":"{lon}"}},"evse_uid":"E{loc}-1","evse_id":"NL*{party}*E{loc}1",'
    '"connector_id":"1","connector_standard":"IEC_62196_T2","connector_format":"SOCKET",'
    '"connector_power_type":"AC_3_PHASE"}},"currency":"EUR","tariffs":[{{"country_code":"NL","party_id":"{party}",'
    '"id":"T1","currency":"EUR","elements":[{{"price_components":[{{"type":"ENERGY","price":0.35,"vat":21.0,'
    '"step_size":1}}]}}],"last_updated":"2025-01-01T00:00:00Z"}}],"charging_periods":[{{"start_date_time":"{start}",'
    '"dimensions":[{{"type":"ENERGY","volume":{energy}}},{{"type":"MAX_POWER","volume":11.0}}],"tariff_id":"T1"}}],'
    '"total_cost":{{"excl_vat":{cost},"incl_vat":{cost_vat}}},"total_fixed_cost":{{"excl_vat":0.0,"incl_vat":0.0}},'
    '"total_energy":{energy},"total_energy_cost":{{"excl_vat":{cost},"incl_vat":{cost_vat}}},"total_time":{total},'
    '"total_parking_time":{parking},"last_updated":"{updated}"}}'
)


def _iso(ts: np.ndarray) -> list[str]:
    return [s + "Z" for s in np.datetime_as_string(ts.astype("datetime64[s]"), unit="s")]


def generate(path: Path, n: int, *, seed: int = 1, bad_share: float = 0.01,
             clean_path: Path | None = None) -> dict[str, int]:
    """Write ``n`` OCPI 2.2.1 CDRs as NDJSON; return how many of each defect were planted. With
    ``clean_path`` also write a copy without the malformed (truncated) lines, for the baseline."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-01-01T00:00:00") + rng.integers(0, 300 * 86400, n).astype("timedelta64[s]")
    connected_s = rng.integers(600, 14 * 3600, n)
    end = start + connected_s.astype("timedelta64[s]")
    parking_h = np.round(connected_s / 3600 * rng.uniform(0, 0.6, n), 4)
    total_h = np.round(connected_s / 3600, 4)
    energy = np.round((total_h - parking_h) * rng.uniform(2, 11, n), 3)
    lat = np.round(rng.uniform(51.3, 52.3, n), 6)
    lon = np.round(rng.uniform(3.5, 4.9, n), 6)
    loc = rng.integers(1, 20_000, n)
    user = rng.integers(1, 200_000, n)
    s_iso, e_iso, u_iso = _iso(start), _iso(end), _iso(end + np.timedelta64(60, "s"))
    bad = rng.random(n) < bad_share
    kinds = rng.integers(0, 7, n)
    planted: dict[str, int] = {}
    clean = open(clean_path, "w", encoding="utf-8") if clean_path else None
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            rec = {"party": "ABC", "id": f"CDR{i:09d}", "start": s_iso[i], "end": e_iso[i], "uid": f"{user[i]:010X}",
                   "user": int(user[i]), "loc": int(loc[i]), "lat": lat[i], "lon": lon[i], "energy": energy[i],
                   "cost": round(energy[i] * 0.35, 2), "cost_vat": round(energy[i] * 0.35 * 1.21, 2),
                   "total": total_h[i], "parking": parking_h[i], "updated": u_iso[i]}
            kind = "good"
            if bad[i]:
                k = int(kinds[i])
                if k == 1:
                    rec["energy"] = -abs(rec["energy"]) - 1
                    kind = "LINDA-ENERGY-NEG"
                elif k == 2:
                    rec["lat"], rec["lon"] = rec["lon"], rec["lat"]
                    kind = "LP-COORDS-NL"
                elif k == 3:
                    rec["end"] = rec["start"]
                    kind = "LINDA-START-END"
                elif k == 4:
                    rec["id"] = f"CDR{max(i - 1, 0):09d}"  # same id as the previous line, different content
                    rec["updated"] = u_iso[max(i - 1, 0)]
                    kind = "LP-DUPLICATE"
                elif k == 5:
                    rec["total"] = '"about two hours"'
                    kind = "LP-TYPE"
            line = _TEMPLATE.format(**rec)
            if bad[i] and int(kinds[i]) == 0:
                line = line[: len(line) // 2]
                kind = "LP-MALFORMED"
            elif bad[i] and int(kinds[i]) == 6:
                line = line.replace('"auth_method":"WHITELIST",', "")
                kind = "LP-MISSING"
            f.write(line + "\n")
            if clean is not None and kind != "LP-MALFORMED":
                clean.write(line + "\n")
            planted[kind] = planted.get(kind, 0) + 1
    if clean is not None:
        clean.close()
    return planted


def _child(mode: str, path: str) -> None:
    """Run one measurement in this (fresh) process and print a JSON line with its figures."""
    if mode in ("baseline", "baseline-file"):
        import duckdb

        db = Path(path).with_suffix(".baseline.duckdb")
        for f in (db, db.with_suffix(".duckdb.wal")):
            f.unlink(missing_ok=True)
        # the baseline: an in-memory table; "baseline-file": the same statement into a database file
        # (written and committed, as durable as the ingest's store), removed afterwards
        con = duckdb.connect(":memory:" if mode == "baseline" else str(db))
        cpu0 = _cpu()
        t0 = time.perf_counter()
        con.execute("CREATE TABLE t AS SELECT * FROM read_json(?, format='newline_delimited', ignore_errors=false)",
                    [path])
        seconds = time.perf_counter() - t0
        cpu_seconds = _cpu() - cpu0
        rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
        out = {"rows": int(rows)}
        con.close()
        for f in (db, db.with_suffix(".duckdb.wal")):
            f.unlink(missing_ok=True)
    else:
        from laadplan.config import RegionConfig
        from laadplan.ingest import reader
        from laadplan.store import Store

        # a store file next to the CDR file, as `laadplan ingest cdrs` writes one (removed by the parent)
        store = Store(str(Path(path).with_suffix(".bench.duckdb")))
        cfg = RegionConfig()
        ingest_cdrs = reader("cdrs")  # the CLI's path: one atomic run
        cpu0 = _cpu()
        t0 = time.perf_counter()
        res = ingest_cdrs(store, path, cfg)
        seconds = time.perf_counter() - t0
        cpu_seconds = _cpu() - cpu0
        out = {"rows": res.accepted, "read": res.read, "quarantined": res.quarantined,
               "by_rule": dict(res.by_rule), "sessions": store.count("sessions")}
    out["seconds"] = seconds
    out["cpu_seconds"] = cpu_seconds
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(json.dumps(out) + "\n")


def _cpu() -> float:
    """CPU seconds (user + system) of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run_child(mode: str, path: Path) -> dict:
    for f in (path.with_suffix(".bench.duckdb"), path.with_suffix(".bench.duckdb.wal")):
        f.unlink(missing_ok=True)  # each laadplan run starts from an empty store
    proc = subprocess.run([sys.executable, __file__, "--child", mode, str(path)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100,000 CDRs instead of 1,000,000")
    ap.add_argument("--n", type=int, default=None, help="number of CDRs")
    ap.add_argument("--runs", type=int, default=1, help="measure the pair this many times (alternating)")
    ap.add_argument("--keep", default=None, help="write the generated file into this directory and keep it")
    ap.add_argument("--reuse", action="store_true", help="with --keep: reuse files generated there before")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        _child(*a.child)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    n = a.n or (100_000 if a.quick else 1_000_000)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        d = Path(a.keep) if a.keep else Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"cdrs_{n}.ndjson"
        clean = d / f"cdrs_{n}_wellformed.ndjson"
        t0 = time.perf_counter()
        if a.reuse and path.exists() and clean.exists():
            planted = {"reused": n}
        else:
            planted = generate(path, n, clean_path=clean)
        log.info("generated %s CDRs (%.0f MB) in %.1f s; planted defects: %s", f"{n:,}",
                 path.stat().st_size / 1e6, time.perf_counter() - t0,
                 {k: v for k, v in sorted(planted.items()) if k != "good"})
        runs = []
        for _ in range(max(1, a.runs)):
            load_before = _load()
            base = _run_child("baseline", clean)
            ours = _run_child("laadplan", path)
            base_file = _run_child("baseline-file", clean)
            for f in (path.with_suffix(".bench.duckdb"), path.with_suffix(".bench.duckdb.wal")):
                f.unlink(missing_ok=True)
            runs.append((base, ours, load_before, _load(), base_file))
    cores = os.cpu_count() or 1
    lines = [f"CDRs: {n:,} (file {path.name}); {cores} cores"]
    for k, (base, ours, load_before, load_after, base_file) in enumerate(runs, 1):
        ratio = ours["seconds"] / base["seconds"]
        use_b, use_o = base["cpu_seconds"] / base["seconds"], ours["cpu_seconds"] / ours["seconds"]
        lines += [
            f"run {k}: load average (1, 5, 15 min) before {' '.join(load_before)}, after {' '.join(load_after)}",
            f"  DuckDB read_json of the well-formed copy (ignore_errors=false, no validation): "
            f"{base['seconds']:.2f} s, {base['rows'] / base['seconds']:,.0f} CDRs/s, {base['rows']:,} rows, "
            f"CPU {base['cpu_seconds']:.1f} s (use {use_b:.2f} of {cores}), peak RSS {base['peak_rss_mb']:.0f} MB",
            f"  laadplan ingest_cdrs (validated): {ours['seconds']:.2f} s, {n / ours['seconds']:,.0f} CDRs/s, "
            f"CPU {ours['cpu_seconds']:.1f} s (use {use_o:.2f} of {cores}), peak RSS {ours['peak_rss_mb']:.0f} MB",
            f"  DuckDB read_json of the same copy into a database file (committed, as durable as the store): "
            f"{base_file['seconds']:.2f} s, CPU {base_file['cpu_seconds']:.1f} s; ratio laadplan / this: "
            f"{ours['seconds'] / base_file['seconds']:.2f} (for reference; the goal is against the in-memory one)",
            f"  read {ours['read']:,}, accepted {ours['rows']:,}, quarantined {ours['quarantined']:,}, "
            f"sessions in store {ours['sessions']:,}; by rule: {dict(sorted(ours['by_rule'].items()))}",
            f"  ratio laadplan / read_json: {ratio:.2f} (goal <= 2: {'met' if ratio <= 2 else 'NOT met'}); "
            f"CPU-time ratio {ours['cpu_seconds'] / base['cpu_seconds']:.2f}; peak memory goal < 1024 MB: "
            f"{'met' if ours['peak_rss_mb'] < 1024 else 'NOT met'}"
            + ("" if use_b >= 0.75 * cores else
               f"; the baseline used {use_b:.2f} of {cores} cores: slowed by other work, not a result"),
        ]
    if len(runs) > 1:
        ratios = sorted(o["seconds"] / b["seconds"] for b, o, _, _, _ in runs)
        lines.append(f"median ratio over {len(runs)} runs: {statistics.median(ratios):.2f} (all: "
                     + ", ".join(f"{r:.2f}" for r in ratios) + ")")
    for line in lines:
        log.info(line)
    return 0


def _load() -> list[str]:
    p = Path("/proc/loadavg")
    return p.read_text().split()[:3] if p.exists() else []


if __name__ == "__main__":
    raise SystemExit(main())
