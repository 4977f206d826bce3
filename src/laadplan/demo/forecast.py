"""Demo step: EV forecast, public charging need (table ``forecast_need``, read by the placement step that
runs next) and the grid-usage analysis with smart charging on one busy buurt.

The demo has no CBS vehicle counts over time, so this step writes **synthetic** CBS-like counts per
gemeente for 2019-2025 (``inputs/cbs_85236NED_vehicles_demo.csv``, the CBS 85236NED CSV layout): the
gemeente's cars (CBS Kerncijfers 2024, from the demo areas or the facts table) carried back and forward
with a per-gemeente growth rate around 1.2 %/year, vans, trucks and tractor units as seeded shares of the
cars, plus two bad rows the reader must quarantine. It ingests them with ``laadplan ingest vehicles``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from laadplan.forecast.runner import forecast_run, load_run, read_sessions
from laadplan.grid.smart import simulate
from laadplan.ingest import reader

log = logging.getLogger(__name__)

YEARS = list(range(2019, 2026))
FACTS_YEAR = 2024
SMART_SESSIONS = 400  # target size of the shift LP in the demo
DEMO_LIMIT_KW = 11.0  # a tight GAC-like limit per location (demo locations have 1-2 EVSEs of 11 kW) to show its effect


def synthetic_vehicle_counts(gem: pd.DataFrame, seed: int) -> pd.DataFrame:
    """CBS 85236NED-like rows (region layout) per gemeente for 2019-2025 from each gemeente's cars."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 4]))
    n = len(gem)
    growth = rng.normal(0.012, 0.006, n)
    van_share = rng.uniform(0.08, 0.16, n)
    truck_share = rng.uniform(0.004, 0.012, n)
    tractor_share = rng.uniform(0.002, 0.015, n)
    rows = []
    for i, g in enumerate(gem.itertuples(index=False)):
        for y in YEARS:
            cars = g.cars * (1 + growth[i]) ** (y - FACTS_YEAR) * rng.lognormal(0, 0.003)
            vans = cars * van_share[i] * (1 + 0.02) ** (y - FACTS_YEAR)
            trucks, tractors = cars * truck_share[i], cars * tractor_share[i]
            buses, moto = cars * 0.001, cars * 0.07
            rows.append({"region_code": g.area_code, "region_name": g.name, "year": y,
                         "TotaalWegvoertuigen_1": round(cars + vans + trucks + tractors + buses + moto),
                         "Personenauto_2": round(cars), "Bestelauto_5": round(vans),
                         "VrachtautoExclTrekkerVoorOplegger_6": round(trucks), "TrekkerVoorOplegger_7": round(tractors),
                         "Bus_9": round(buses), "Motorfiets_13": round(moto)})
    return pd.DataFrame(rows)


def _gemeenten(ctx) -> pd.DataFrame:
    gem = ctx.store.frame("areas", "level = 'gemeente' AND cars IS NOT NULL", columns=["area_code", "name", "cars"])
    if gem.empty:
        from laadplan.demo.facts import municipalities

        f = municipalities()
        gem = pd.DataFrame({"area_code": f["gm_code"], "name": f["name"], "cars": f["cars"]})
    return gem.sort_values("area_code").reset_index(drop=True)


def step(ctx) -> dict[str, Any]:
    t0 = time.perf_counter()
    cfg, store = ctx.cfg, ctx.store
    summary: dict[str, Any] = {"synthetic_vehicle_counts": True}
    # -- vehicle counts -> store
    counts = synthetic_vehicle_counts(_gemeenten(ctx), ctx.seed)
    path = ctx.inputs_dir / "cbs_85236NED_vehicles_demo.csv"
    lines = counts.to_csv(index=False).splitlines()
    lines.insert(5, "GM9999X,Bad code,2021,1,1,0,0,0,0,0")  # -> LP-VEHICLES-CODE
    lines.insert(9, lines[9].split(",")[0] + ",Negative,2030,-5,-5,0,0,0,0,0")  # -> LP-VEHICLES-COUNT
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = reader("vehicles")(store, path, cfg)
    summary["vehicles_ingest"] = {"read": r.read, "accepted": r.accepted, "quarantined": r.quarantined}
    # -- forecast per gemeente (vehicle counts) and per buurt (areas' cars): forecast_need for placement
    fdir = ctx.out_dir / "forecast"
    summary["gemeente"] = forecast_run(store, cfg, level="gemeente", out_dir=fdir, backtest=True)
    n_bu = store.count("areas", "level = 'buurt' AND cars IS NOT NULL")
    if n_bu:
        summary["buurt"] = forecast_run(store, cfg, level="buurt", out_dir=fdir)
    summary["forecast_need_rows"] = store.count("forecast_need")
    t1 = time.perf_counter()
    # -- grid usage: profiles for the region and per gemeente; smart charging on the busiest buurt
    ldir = ctx.out_dir / "load"
    sessions = read_sessions(store)
    if sessions.empty:
        ctx.log("  forecast step: no sessions in the store, load analysis skipped")
        summary["load"] = None
        return summary
    load = load_run(store, cfg, level="gemeente", out_dir=ldir, sessions=sessions)
    summary["load_region"] = {k: load["region"][k] for k in ("sessions", "energy_kwh", "peak_kw",
                                                              "evening_energy_share", "coincidence_factor")}
    busiest = sessions.dropna(subset=["bu_code"]).groupby("bu_code").size().idxmax()
    sub = sessions[sessions["bu_code"] == busiest]
    end = sub["end_utc"].max()
    per_day = len(sub) / max((end - sub["start_utc"].min()).total_seconds() / 86400, 1.0)
    days = float(np.clip(SMART_SESSIONS / max(per_day, 1e-9), 2, 14))
    sub = sub[sub["start_utc"] >= end - pd.Timedelta(days=days)]
    smart: dict[str, Any] = {"bu_code": busiest, "sessions": len(sub), "days": round(days, 1)}
    from laadplan.forecast import charts

    profiles = {}
    for strategy in ("cap", "shift", "limit"):
        res = simulate(sub, cfg, strategy, limit_kw=DEMO_LIMIT_KW if strategy == "limit" else None)
        res.profile.to_csv(ldir / f"smart_{strategy}_{busiest}.csv", index=False)
        profiles[f"{strategy}: peak {res.summary['peak_smart_kw']:.0f} kW"] = res.profile
        smart[strategy] = {k: res.summary[k] for k in ("peak_uncontrolled_kw", "peak_smart_kw", "peak_reduction_share",
                                                        "energy_not_delivered_kwh", "sessions_affected")}
    charts.smart_comparison_chart(profiles, ldir / f"smart_{busiest}.png", tz=cfg.region.time_zone,
                                  window=(cfg.load.cap_window_start_hour, cfg.load.cap_window_end_hour),
                                  title=f"smart charging in {busiest} ({len(sub)} sessions), uncontrolled "
                                        f"peak {res.summary['peak_uncontrolled_kw']:.0f} kW")
    pd.DataFrame([{"strategy": k, **v} for k, v in smart.items() if isinstance(v, dict)]).to_csv(
        ldir / "smart_summary.csv", index=False)
    summary["smart"] = smart
    log.info("demo forecast step: forecast %.1f s, load %.1f s", t1 - t0, time.perf_counter() - t1)
    return summary
