"""Benchmark of the placement plan at region scale.

Generates (seeded, in memory / a temp dir) a synthetic region: 32,000 existing locations, 50,000 candidate
sites, 100,000 demand points (usage, request, coverage and forecast, arriving over 5 years), 63
municipalities, 240 supply areas (about a third refusing new connections) and 15,000 existing connections.
Then makes the 2026-2030 plan with the congestion rule twice in the same run: the greedy baseline and the
optimiser (at region scale: the LP relaxation solved block by block, rounded and repaired by the greedy;
small: the HiGHS MIP warm-started from the greedy plan), and prints time to a plan (wall and CPU), the
objective, the certified upper bound of the whole problem and the gap to it, where the bound comes from,
the objective ratio optimiser / greedy and peak memory (ru_maxrss).

    .venv/bin/python benchmarks/bench_placement.py            # region scale
    .venv/bin/python benchmarks/bench_placement.py --quick    # small: also forces the LP-relaxation path
    .venv/bin/python benchmarks/bench_placement.py --mclp 10k,30k,100k   # plain maximal covering only

Plain maximal covering (``--mclp``): choose p = 200 sites to cover the most demand within r = 250 m, one
year, expressed through :class:`PlacementModel` with one EVSE per site and a kappa so large that one EVSE
serves all it reaches. Demand is clustered like a city (Gaussian clusters of Pareto-distributed sizes),
candidates sit on a jittered grid over the same square; sizes 10k x 2k, 30k x 10k and 100k x 50k (demand x
candidates). Each size runs in its own process (so its peak memory is its own) with, in the same run: the
greedy baseline, the optimiser (strong formulation, reductions), the former aggregated formulation without
reductions (the baseline, at 10k x 2k and 30k x 10k, time-limited) and spopt's MCLP at 10k x 2k when the
optional extra is installed (``pip install spopt``; never a runtime dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import shapely

from laadplan import geo
from laadplan.config import RegionConfig
from laadplan.grid.capacity import ean18_check_digit
from laadplan.placement.candidates import site_grid_feasibility
from laadplan.placement.plan import PlanInputs, make_plan

X0, Y0, W, H = 20_000.0, 370_000.0, 110_000.0, 90_000.0  # a box over Zuid-Holland + Zeeland in RD New


def synth(n_loc: int, n_sites: int, n_dem: int, n_conn: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    n_cent = 120
    cx, cy = X0 + rng.uniform(0, W, n_cent), Y0 + rng.uniform(0, H, n_cent)
    size = rng.pareto(1.2, n_cent) + 1

    def pts(n, spread):
        k = rng.choice(n_cent, n, p=size / size.sum())
        return cx[k] + rng.normal(0, spread, n) * np.sqrt(size[k]), cy[k] + rng.normal(0, spread, n) * np.sqrt(size[k])

    gx, gy = 9, 7  # 63 municipalities on a grid

    def gm_of(x, y):
        i = np.clip(((x - X0) / W * gx).astype(int), 0, gx - 1)
        j = np.clip(((y - Y0) / H * gy).astype(int), 0, gy - 1)
        return np.array([f"GM{1000 + a * gy + b:04d}" for a, b in zip(i, j)])

    lx, ly = pts(n_loc, 700)
    locations = pd.DataFrame({"location_id": [f"L{k}" for k in range(n_loc)], "x_rd": lx, "y_rd": ly,
                              "gm_code": gm_of(lx, ly), "n_evses": rng.choice([1, 2, 2, 4], n_loc)})
    dx, dy = pts(n_dem, 800)
    trig = rng.choice(["usage", "request", "coverage", "forecast"], n_dem, p=[0.1, 0.05, 0.15, 0.7])
    year = np.where(trig == "forecast", rng.choice([2026, 2027, 2028, 2029, 2030], n_dem), 2026)
    wmap = {"usage": 1.0, "request": 1.5, "coverage": 1.0, "forecast": 0.8}
    demand = pd.DataFrame({"demand_id": [f"d{k}" for k in range(n_dem)], "trigger": trig, "x_rd": dx, "y_rd": dy,
                           "gm_code": gm_of(dx, dy), "quantity": np.where(trig == "forecast",
                                                                          rng.integers(1, 4, n_dem), 1).astype(float),
                           "weight": [wmap[t] for t in trig], "year": year, "walk_m": 250.0,
                           "reason": [f"{t} demand {k}" for k, t in enumerate(trig)], "source_id": "synthetic"})
    # candidates near demand
    base = rng.integers(0, n_dem, n_sites)
    sx, sy = dx[base] + rng.normal(0, 120, n_sites), dy[base] + rng.normal(0, 120, n_sites)
    sites = pd.DataFrame({"site_id": [f"S{k}" for k in range(n_sites)], "x_rd": sx, "y_rd": sy,
                          "gm_code": gm_of(sx, sy), "kind": "parking_bay", "max_evses": rng.choice([2, 4], n_sites)})
    base = rng.integers(0, n_loc, n_conn)
    ex, ey = lx[base] + rng.normal(0, 60, n_conn), ly[base] + rng.normal(0, 60, n_conn)
    conns = pd.DataFrame({"ean18": [(lambda s: s + str(ean18_check_digit(s)))(f"871{k:014d}") for k in range(n_conn)],
                          "x_rd": ex, "y_rd": ey, "spare_kw": rng.choice([0.0, 10.0, 25.0, 40.0], n_conn),
                          "feeds_charge_points": rng.random(n_conn) < 0.5})
    # 20 x 12 supply areas, a third refusing (status 2-3)
    ax, ay = 20, 12
    rows = []
    for a in range(ax):
        for b in range(ay):
            x0, y0 = X0 + a * W / ax, Y0 + b * H / ay
            xs = np.array([x0, x0 + W / ax, x0 + W / ax, x0, x0])
            ys = np.array([y0, y0, y0 + H / ay, y0 + H / ay, y0])
            lon, lat = geo.to_wgs84(xs, ys)
            st = int(rng.choice([0, 1, 2, 3], p=[0.45, 0.2, 0.2, 0.15]))
            rows.append({"area_code": f"VG{a:02d}{b:02d}", "level": "supply_area", "parent_code": None,
                         "offtake_status": st, "demand_available_mw": float(rng.uniform(1, 10)),
                         "demand_alleviation_year": (2029 if st >= 2 and rng.random() < 0.3 else None),
                         "geometry_wkb": shapely.to_wkb(shapely.Polygon(np.column_stack([lon, lat])))})
    grid = pd.DataFrame(rows)
    grid["demand_alleviation_year"] = grid["demand_alleviation_year"].astype("Int64")
    return locations, demand, sites, conns, grid


MCLP_SIZES = {"10k": (10_000, 2_000), "30k": (30_000, 10_000), "100k": (100_000, 50_000)}
MCLP_TIME_LIMIT = {"10k": 60.0, "30k": 60.0, "100k": 300.0}


def mclp_frames(n_dem: int, n_cand: int, seed: int = 1, r_m: float = 250.0):
    """Clustered demand (weight 1) and a jittered grid of candidates over a square that grows with the demand."""
    rng = np.random.default_rng(seed)
    side = 15_000.0 * np.sqrt(n_dem / 10_000)
    x0, y0 = 80_000.0, 430_000.0
    n_cent = max(8, n_dem // 400)
    cx, cy = x0 + rng.uniform(0.1, 0.9, n_cent) * side, y0 + rng.uniform(0.1, 0.9, n_cent) * side
    size = rng.pareto(1.5, n_cent) + 1
    k = rng.choice(n_cent, n_dem, p=size / size.sum())
    spread = 500.0 * np.sqrt(size[k])
    dx, dy = cx[k] + rng.normal(0, 1, n_dem) * spread, cy[k] + rng.normal(0, 1, n_dem) * spread
    g = int(np.ceil(np.sqrt(n_cand)))
    step = side / g
    gx, gy = np.meshgrid(np.arange(g), np.arange(g))
    sel = rng.choice(g * g, n_cand, replace=False)
    sx = x0 + (gx.ravel()[sel] + 0.5 + rng.uniform(-0.3, 0.3, n_cand)) * step
    sy = y0 + (gy.ravel()[sel] + 0.5 + rng.uniform(-0.3, 0.3, n_cand)) * step
    demand = pd.DataFrame({"x_rd": dx, "y_rd": dy, "quantity": 1.0, "weight": 1.0, "year": 2026, "walk_m": r_m})
    sites = pd.DataFrame({"site_id": [f"c{j}" for j in range(n_cand)], "x_rd": sx, "y_rd": sy,
                          "gm_code": "GM0001", "allowed_2026": True})
    return demand, sites


def mclp_one(name: str, p: int = 200, r_m: float = 250.0) -> dict:
    """One maximal-covering size (run in its own process)."""
    from laadplan.placement.optimise import PlacementModel

    n_dem, n_cand = MCLP_SIZES[name]
    limit = MCLP_TIME_LIMIT[name]
    demand, sites = mclp_frames(n_dem, n_cand, r_m=r_m)
    out: dict = {"size": f"{n_dem:,} demand x {n_cand:,} candidates", "p": p, "r_m": r_m,
                 "loadavg_before": open("/proc/loadavg").read().split()[:3]}
    t = time.perf_counter()
    m = PlacementModel.from_frames(demand, sites, None, [2026], budget_per_year=p, evses_per_site_max=1,
                                   min_spacing_m=0, max_candidates_per_demand=100_000, kappa=float(n_dem))
    out["build_s"] = round(time.perf_counter() - t, 2)
    out["pairs"] = len(m.inst.pair_i)
    t = time.perf_counter()
    g = m.solve("greedy")
    out["greedy"] = {"seconds": round(time.perf_counter() - t, 2), "objective": g.objective}
    t, c = time.perf_counter(), time.process_time()
    s = m.solve("mip", time_limit_s=limit)
    out["optimiser"] = {"seconds": round(time.perf_counter() - t, 2), "cpu_seconds": round(time.process_time() - c, 2),
                        "method": s.method, "status": s.status, "objective": s.objective,
                        "certified_bound": round(s.bound, 3), "certified_gap_pct": round(100 * s.gap, 4),
                        "beats_greedy": s.beats_greedy, "bound_source": s.bound_source,
                        "time_limit_s": limit}
    out["peak_memory_mb_after_optimiser"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)
    if name in ("10k", "30k"):  # the former model (aggregated rows, no reductions), same time limit
        t = time.perf_counter()
        o = m.solve("mip", time_limit_s=limit, strong=False, reduce=False)
        out["former_aggregated"] = {"seconds": round(time.perf_counter() - t, 2), "method": o.method,
                                    "objective": o.objective, "bound": round(o.bound, 3),
                                    "gap_pct": round(100 * o.gap, 4)}
    if name == "10k":
        out["spopt"] = _spopt(demand, sites, p, r_m)
    out["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    out["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)
    return out


def _spopt(demand: pd.DataFrame, sites: pd.DataFrame, p: int, r_m: float) -> dict:
    """spopt's MCLP on the same instance (sparse distances within r only, as a dense matrix is what it takes)."""
    try:
        import pulp
        from spopt.locate import MCLP
    except ImportError:
        return {"skipped": "spopt is not installed (optional: pip install spopt)"}
    t = time.perf_counter()
    ia, ib, d = geo.pairwise_within(demand["x_rd"], demand["y_rd"], sites["x_rd"], sites["y_rd"], r_m)
    cost = np.full((len(demand), len(sites)), 10 * r_m)
    cost[ia, ib] = d
    mclp = MCLP.from_cost_matrix(cost, demand["weight"].to_numpy(), service_radius=r_m, p_facilities=p)
    mclp = mclp.solve(pulp.HiGHS(msg=False) if hasattr(pulp, "HiGHS") else pulp.PULP_CBC_CMD(msg=False))
    obj = float(pulp.value(mclp.problem.objective))
    return {"seconds": round(time.perf_counter() - t, 2), "objective": obj}


def mclp_main(names: list[str]) -> None:
    for name in names:
        r = subprocess.run([sys.executable, __file__, "--mclp-one", name], capture_output=True, text=True,
                           env=dict(os.environ))
        if r.returncode:
            print(json.dumps({"size": name, "error": r.stderr[-2000:]}, indent=2))
        else:
            print(r.stdout.strip())
        sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mclp", default=None, help="plain maximal covering only, e.g. 10k,30k,100k")
    ap.add_argument("--mclp-one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="small size (2,000 locations, 3,000 sites, 6,000 demand)")
    ap.add_argument("--time-limit", type=float, default=90.0, help="HiGHS time limit for the whole plan, s")
    ap.add_argument("--pairs", type=int, default=None,
                    help="placement.max_candidates_per_demand (default: the config's)")
    args = ap.parse_args()
    if args.mclp_one:
        print(json.dumps(mclp_one(args.mclp_one), indent=2))
        return
    if args.mclp:
        mclp_main(args.mclp.split(","))
        return
    sizes = (2_000, 3_000, 6_000, 1_000) if args.quick else (32_000, 50_000, 100_000, 15_000)
    t = time.perf_counter()
    locations, demand, sites, conns, grid = synth(*sizes)
    t_gen = time.perf_counter() - t
    cfg = RegionConfig()
    cfg.placement.generate_candidates = False
    if args.pairs:
        cfg.placement.max_candidates_per_demand = args.pairs
    years = [2026, 2027, 2028, 2029, 2030]
    inp = PlanInputs(locations=locations, connections=conns, grid_areas=grid)
    out = {"size": dict(zip(["locations", "candidate_sites", "demand_points", "connections"], sizes)),
           "max_candidates_per_demand": cfg.placement.max_candidates_per_demand,
           "generate_s": round(t_gen, 1)}
    t = time.perf_counter()
    g = make_plan(inp, cfg, years, demand=demand, sites=sites, method="greedy")
    out["greedy"] = {"seconds_to_plan": round(time.perf_counter() - t, 1), "objective": round(g.stats["objective"], 2),
                     "evses": g.stats["evses"], "sites": g.stats["sites"]}
    t, c = time.perf_counter(), time.process_time()
    m = make_plan(inp, cfg, years, demand=demand, sites=sites, method="mip", time_limit_s=args.time_limit)
    st = m.stats
    out["mip"] = {"seconds_to_plan": round(time.perf_counter() - t, 1), "cpu_seconds": round(time.process_time() - c, 1),
                  "solve_s": round(st["seconds"], 1), "method": st["method"], "objective": round(st["objective"], 2),
                  "certified_bound": round(st["bound"], 2) if st["bound"] else None,
                  "certified_gap_pct": round(100 * st["gap"], 3) if st["gap"] is not None else None,
                  "bound_source": st["bound_source"], "evses": st["evses"], "sites": st["sites"],
                  "blocks": st["components"]}
    out["ratio_mip_over_greedy"] = round(st["objective"] / g.stats["objective"], 5) if g.stats["objective"] else None
    if args.quick:  # small: the quick size is solved whole by the MIP; force the LP-relaxation path to compare
        cfg.placement.decompose_max_vars = 0
        t = time.perf_counter()
        rel = make_plan(inp, cfg, years, demand=demand, sites=sites, method="mip", time_limit_s=args.time_limit)
        out["lp_relaxation_forced"] = {"seconds_to_plan": round(time.perf_counter() - t, 1),
                                       "objective": round(rel.stats["objective"], 2),
                                       "certified_bound": round(rel.stats["bound"], 2),
                                       "certified_gap_pct": round(100 * rel.stats["gap"], 3)}
    # congestion rule effect in the same instance (sites that need an existing connection)
    feas, _ = site_grid_feasibility(sites, conns, grid, cfg, years)
    out["sites_in_refusing_areas"] = int(feas[[f"refuses_{y}" for y in years]].any(axis=1).sum())
    out["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)
    print(json.dumps(out, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
