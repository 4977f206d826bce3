"""Benchmark: generate and write the demo region (laadplan.demo.base), in a temporary directory.

Prints the time (wall clock and CPU of this process; on a shared machine the CPU time is the steadier figure)
of the pure generator, of writing the six input files, the size of the files, the CDR
serialisation against a baseline measured in the same run (``json.dumps`` of one ready-made dict per CDR, the
obvious way; building those dicts is not timed) and the peak memory (RSS) of the process.

    .venv/bin/python benchmarks/bench_demo_generate.py          # default scale 1.0 (~2,000 locations)
    .venv/bin/python benchmarks/bench_demo_generate.py --quick  # scale 0.1
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small size (scale 0.1)")
    ap.add_argument("--scale", type=float, default=None, help="generator scale (default 1.0, quick 0.1)")
    ap.add_argument("--seed", type=int, default=20260701)
    args = ap.parse_args()
    scale = args.scale if args.scale is not None else (0.1 if args.quick else 1.0)

    from laadplan.demo.base import _cdr_lines, generate_demo, write_demo

    t0, c0 = time.perf_counter(), time.process_time()
    data = generate_demo(args.seed, scale)
    t_gen, c_gen = time.perf_counter() - t0, time.process_time() - c0
    with tempfile.TemporaryDirectory(prefix="laadplan-bench-demo-") as d:
        t0, c0 = time.perf_counter(), time.process_time()
        write_demo(data, Path(d))
        t_write, c_write = time.perf_counter() - t0, time.process_time() - c0
        size = {p.name: p.stat().st_size for p in Path(d).iterdir()}

    peak_gen_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the baseline's dicts

    # CDR serialisation: string fragments (ours, from the arrays) vs json.dumps of a ready dict per CDR
    # (baseline; building the dicts is NOT timed, which favours the baseline)
    t0 = time.perf_counter()
    lines = _cdr_lines(data)
    t_ours = time.perf_counter() - t0
    objs = [json.loads(line) for line in lines]
    t0 = time.perf_counter()
    base = [json.dumps(o, separators=(",", ":")) for o in objs]
    t_base = time.perf_counter() - t0
    assert [json.loads(x) for x in base[:2000]] == objs[:2000], "baseline output differs"
    del objs, base

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"scale {scale}: {len(data.locations):,} locations, {len(data.evses):,} EVSEs, "
          f"{len(data.sessions):,} CDRs, {len(data.status):,} status rows, {len(data.buurten)} buurten")
    print(f"generate (pure)       : {t_gen:6.2f} s wall, {c_gen:6.2f} s CPU")
    print(f"write six files       : {t_write:6.2f} s wall, {c_write:6.2f} s CPU  ({sum(size.values()) / 1e6:.0f} MB; "
          f"cdrs.ndjson {size['cdrs.ndjson'] / 1e6:.0f} MB)")
    print(f"generate + write      : {t_gen + t_write:6.2f} s wall, {c_gen + c_write:6.2f} s CPU")
    print(f"CDR lines, fragments  : {t_ours:6.2f} s   baseline json.dumps per CDR: {t_base:6.2f} s   "
          f"ratio baseline/ours {t_base / t_ours:4.1f}x")
    print(f"peak RSS generate+write: {peak_gen_mb:5.0f} MB (whole run incl. baseline {peak_mb:.0f} MB)")


if __name__ == "__main__":
    main()
