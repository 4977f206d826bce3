"""Benchmark: 15-minute load profiles of many sessions and the smart-charging shift LP.

Each measurement runs in its own child process (so its peak memory, ``ru_maxrss``, is its own) on
synthetic sessions generated there with a fixed seed (one year, 500 areas, AC/DC powers):

* ``profile``: :func:`laadplan.grid.load.profile_matrix` per area and for the region (numpy difference
  arrays + ``bincount``) on N sessions (default 10,000,000);
* ``pandas``: the straightforward pandas way (one row per session and 15-minute slot via
  ``explode``, overlap per row, ``groupby(area, slot).sum()``) on a subsample, extrapolated linearly to N
  (stated as such in the output) because the full explode would need ~N x 10 rows;
* ``shift``: the shift LP (HiGHS) for one area with 2,000 sessions over two weeks, and the cap strategy
  on the same sessions for comparison.

    .venv/bin/python benchmarks/bench_load.py           # N = 10,000,000
    .venv/bin/python benchmarks/bench_load.py --quick   # N = 200,000, LP with 500 sessions
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def sessions(n: int, seed: int = 1, n_areas: int = 500, days: float = 365.0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    t0 = np.datetime64("2026-01-01T00:00:00", "s").astype("int64")
    start = t0 + (rng.uniform(0, days * 86400, n)).astype("int64")
    conn_s = (rng.lognormal(np.log(4 * 3600), 0.8, n)).astype("int64") + 300
    power = rng.choice(np.array([3.7, 7.4, 11.0, 22.0, 50.0]), n, p=[0.15, 0.2, 0.5, 0.1, 0.05])
    energy = np.minimum(rng.lognormal(np.log(9), 0.6, n), power * conn_s / 3600 * 0.98)
    return pd.DataFrame({
        "start_utc": pd.to_datetime(start, unit="s").astype("datetime64[us]"),
        "end_utc": pd.to_datetime(start + conn_s, unit="s").astype("datetime64[us]"),
        "energy_kwh": energy, "max_power_kw": power,
        "area": rng.integers(0, n_areas, n).astype(np.int64)})


def task_profile(n: int) -> dict:
    from laadplan.config import RegionConfig
    from laadplan.grid.load import profile_matrix

    cfg = RegionConfig()
    df = sessions(n)
    t, c = time.perf_counter(), time.process_time()
    keys, grid, P = profile_matrix(df, cfg, "area")
    t_area, c_area = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    _, _, R = profile_matrix(df, cfg, None)
    t_region, c_region = time.perf_counter() - t, time.process_time() - c
    return {"sessions": n, "areas": len(keys), "slots": grid.n_slots, "seconds_per_area": t_area,
            "cpu_seconds_per_area": c_area, "seconds_region": t_region,
            "cpu_seconds_region": c_region,
            "energy_check": float(P.sum() * grid.dt_h / df["energy_kwh"].sum())}


def task_pandas(n: int) -> dict:
    """The straightforward pandas implementation (explode per slot)."""
    import numpy as np
    import pandas as pd

    df = sessions(n)
    t, c = time.perf_counter(), time.process_time()
    d = df.copy()
    d["power_kw"] = np.maximum(d["max_power_kw"], d["energy_kwh"] /
                               ((d["end_utc"] - d["start_utc"]).dt.total_seconds() / 3600))
    d["stop_utc"] = d["start_utc"] + pd.to_timedelta(d["energy_kwh"] / d["power_kw"], unit="h")
    d["slot_utc"] = [pd.date_range(a.floor("15min"), b, freq="15min")
                     for a, b in zip(d["start_utc"], d["stop_utc"])]
    e = d.explode("slot_utc")
    e["slot_utc"] = pd.to_datetime(e["slot_utc"])
    lo = np.maximum(e["slot_utc"], e["start_utc"])
    hi = np.minimum(e["slot_utc"] + pd.Timedelta(minutes=15), e["stop_utc"])
    e["energy"] = e["power_kw"] * ((hi - lo).dt.total_seconds().clip(lower=0) / 3600)
    out = e.groupby(["area", "slot_utc"])["energy"].sum()
    secs, cpu = time.perf_counter() - t, time.process_time() - c
    return {"sessions": n, "rows": len(e), "seconds": secs, "cpu_seconds": cpu,
            "energy_check": float(out.sum() / df["energy_kwh"].sum())}


def task_shift(n: int) -> dict:
    from laadplan.config import RegionConfig
    from laadplan.grid.smart import simulate

    cfg = RegionConfig()
    df = sessions(n, seed=2, n_areas=1, days=14)
    out = {}
    for strategy in ("cap", "shift"):
        t, c = time.perf_counter(), time.process_time()
        r = simulate(df, cfg, strategy)
        out[strategy] = {"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c, "peak_uncontrolled_kw": r.summary["peak_uncontrolled_kw"],
                         "peak_smart_kw": r.summary["peak_smart_kw"],
                         "energy_not_delivered_kwh": r.summary["energy_not_delivered_kwh"]}
    out["sessions"] = n
    return out


TASKS = {"profile": task_profile, "pandas": task_pandas, "shift": task_shift}


def child(task: str, n: int) -> dict:
    res = subprocess.run([sys.executable, __file__, "--task", task, "--n", str(n)], capture_output=True, text=True,
                         check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{task} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200,000 sessions, LP with 500 sessions")
    ap.add_argument("--n", type=int, default=None, help="sessions for the profile benchmark")
    ap.add_argument("--task", choices=sorted(TASKS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.task:
        out = TASKS[args.task](args.n)
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        sys.stdout.write(json.dumps(out) + "\n")
        return
    n = args.n or (200_000 if args.quick else 10_000_000)
    n_pandas = min(n, 20_000 if args.quick else 50_000)
    n_lp = 500 if args.quick else 2_000
    prof = child("profile", n)
    pdb = child("pandas", n_pandas)
    lp = child("shift", n_lp)
    pandas_extrapolated = pdb["seconds"] * n / n_pandas
    pandas_cpu_extrapolated = pdb["cpu_seconds"] * n / n_pandas
    ours = prof["seconds_per_area"]
    lines = [
        f"load profiles, {n:,} sessions, {prof['slots']:,} slots of 15 min, {prof['areas']} areas:",
        f"  laadplan (numpy difference arrays): per area {ours:.2f} s wall ({prof['cpu_seconds_per_area']:.2f} s "
        f"CPU), region {prof['seconds_region']:.2f} s wall "
        f"({prof['cpu_seconds_region']:.2f} s CPU), "
        f"peak RSS {prof['peak_rss_mb']:,.0f} MB (energy check {prof['energy_check']:.9f})",
        f"  pandas explode per slot: {pdb['seconds']:.2f} s for {n_pandas:,} sessions ({pdb['rows']:,} rows), "
        f"peak RSS {pdb['peak_rss_mb']:,.0f} MB; EXTRAPOLATED linearly to {n:,} sessions: "
        f"{pandas_extrapolated:,.0f} s (energy check {pdb['energy_check']:.9f})",
        f"  ratio pandas (extrapolated) / laadplan: {pandas_extrapolated / ours:,.0f}x wall, "
        f"{pandas_cpu_extrapolated / prof['cpu_seconds_per_area']:,.0f}x CPU",
        f"smart charging, one area with {lp['sessions']:,} sessions over 14 days: shift LP (HiGHS, two solves) "
        f"{lp['shift']['seconds']:.2f} s wall ({lp['shift']['cpu_seconds']:.2f} s CPU), peak {lp['shift']['peak_uncontrolled_kw']:.0f} -> "
        f"{lp['shift']['peak_smart_kw']:.0f} kW, not delivered {lp['shift']['energy_not_delivered_kwh']:.2g} kWh; "
        f"cap {lp['cap']['seconds']:.2f} s; peak RSS {lp['peak_rss_mb']:,.0f} MB",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
