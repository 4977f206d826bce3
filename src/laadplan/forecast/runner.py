"""Edges of the forecast and grid-usage analyses: read the store, run the pure analyses, write the store
tables, CSV files and charts. Used by ``laadplan forecast`` / ``laadplan load`` and the demo step."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from laadplan import model
from laadplan.forecast import charts
from laadplan.forecast.backtest import backtest_areas, backtest_national
from laadplan.forecast.need import existing_unassigned
from laadplan.forecast.pipeline import ForecastResult, run_forecast
from laadplan.grid.load import EVSE_KEY, LOCATION_KEY, load_profile, profile_summary, session_power
from laadplan.grid.smart import simulate
from laadplan.store import Store

log = logging.getLogger(__name__)

AREA_COLS = ["area_code", "level", "name", "gm_code", "province", "inhabitants", "households", "cars",
             "cars_per_household", "income_per_inhabitant_keur", "urbanity", "share_apartments",
             "share_no_private_parking"]
LOAD_LEVELS = {"region": None, "gemeente": ["gm_code"], "buurt": ["bu_code"], "location": LOCATION_KEY,
               "evse": EVSE_KEY}
MAX_PROFILE_ROWS = 400_000  # larger per-group profiles: summary only (CSV would be huge)


def read_forecast_inputs(store: Store) -> dict[str, pd.DataFrame]:
    return {
        "vehicle_counts": store.frame("vehicle_counts"),
        "areas": store.frame("areas", columns=AREA_COLS),
        "locations": store.frame("locations", columns=["country_code", "party_id", "location_id", "postal_code",
                                                       "gm_code", "wk_code", "bu_code", "cell500_code",
                                                       "n_evses", "max_power_kw"]),
        "evses": store.frame("evses", columns=["country_code", "party_id", "location_id", "evse_uid", "status",
                                               "max_power_kw"]),
    }


def _replace_level(store: Store, table: str, level: str, df: pd.DataFrame) -> None:
    store.con.execute(f'DELETE FROM "{table}" WHERE area_level = ?', [level])
    store.append(table, df)


def forecast_run(store: Store, cfg, *, level: str = "gemeente", scenarios=("low", "middle", "high"),
                 out_dir: Path | None = None, chart_year: int = 2030, backtest: bool = False) -> dict[str, Any]:
    """Run the forecast for one level, store ev_forecast / forecast_need / afir_fleet_check, write files.

    The summary states the existing EVSEs the same way at every level: ``evses_existing_total`` (all counted
    EVSEs in the store), of which ``evses_existing_no_area_code`` have no area code at this level (no postal
    code for pc4) and ``evses_existing_area_without_forecast`` lie in areas with no forecast; ``notes`` says so.
    """
    years = list(cfg.forecast.years)
    if chart_year not in years:
        raise ValueError(f"year {chart_year} is outside the forecast years {min(years)}-{max(years)} "
                         f"(setting forecast.years): no forecast to show for it")
    inp = read_forecast_inputs(store)
    res: ForecastResult = run_forecast(inp["vehicle_counts"], inp["areas"], inp["locations"], inp["evses"], cfg,
                                       level=level, scenarios=tuple(scenarios))
    need_cols = model.table("forecast_need").column_names
    _replace_level(store, "ev_forecast", level, res.ev_forecast)
    _replace_level(store, "forecast_need", level, res.need[need_cols])
    store.replace_all("afir_fleet_check", res.afir)
    summary: dict[str, Any] = {"level": level, "areas": int(res.need["area_code"].nunique()),
                               "fleet_source": res.fleet_source, "scenarios": list(scenarios)}
    for sc in scenarios:
        d = res.need[(res.need["scenario"] == sc) & (res.need["year"] == chart_year)]
        summary[f"{sc}_{chart_year}"] = {"ev_count": round(float(d["ev_count"].sum())),
                                         "evses_needed": int(d["evses_needed"].sum()),
                                         "evses_existing": int(d["evses_existing"].sum()),
                                         "evses_gap": int(d["evses_gap"].sum())}
    un = existing_unassigned(inp["locations"], inp["evses"], level)
    in_rows = int(res.need[(res.need["year"] == chart_year) & (res.need["scenario"] == scenarios[0])]
                  ["evses_existing"].sum()) if len(res.need) else 0
    summary["evses_existing_total"] = un["total"]
    summary["evses_existing_no_area_code"] = un["no_area_code"]
    summary["evses_existing_area_without_forecast"] = un["total"] - un["no_area_code"] - in_rows
    notes = []
    if un["no_area_code"]:
        why = ("no postal code: the pc4 gaps where they stand are overstated" if level == "pc4"
               else f"their location lies outside the {level} areas in the store")
        notes.append(f"{un['no_area_code']:,} of {un['total']:,} existing EVSEs are in no {level} row ({why})")
    if summary["evses_existing_area_without_forecast"]:
        notes.append(f"{summary['evses_existing_area_without_forecast']:,} existing EVSEs lie in {level} areas "
                     f"without a forecast (no vehicle counts or cars there)")
    summary["notes"] = notes
    for n in notes:
        log.info("forecast %s: %s", level, n)
    reg = res.afir[(res.afir["area_level"] == "region") & (res.afir["year"] == chart_year)]
    summary["afir_region"] = reg[["scenario", "required_kw", "public_kw", "compliant"]].to_dict("records")
    if backtest:
        summary["backtest"] = backtest_run(inp["vehicle_counts"], cfg, out_dir)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        res.paths.to_csv(out / "stock_paths.csv", index=False)
        res.ev_forecast.to_csv(out / f"ev_forecast_{level}.csv", index=False)
        res.need.to_csv(out / f"forecast_need_{level}.csv", index=False)
        res.afir.to_csv(out / "afir_fleet_check.csv", index=False)
        charts.stock_paths_chart(res.paths, out / "stock_paths.png")
        names = inp["areas"].set_index("area_code")["name"].dropna().to_dict()
        sc = "middle" if "middle" in scenarios else scenarios[0]
        charts.need_chart(res.need, out / f"need_vs_existing_{level}.png", year=chart_year, scenario=sc,
                          names=names)
        (out / f"summary_{level}.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
        summary["out_dir"] = str(out)
    return summary


def backtest_run(vehicle_counts: pd.DataFrame, cfg, out_dir: Path | None = None) -> dict[str, Any]:
    """Backtest (fit 2019-2022): national BEV stock 2023-2025 and, when loaded, area fleets 2023."""
    nat, nat_s = backtest_national(cfg)
    result: dict[str, Any] = {"national_bev_stock": nat_s}
    frames = {"backtest_national.csv": nat}
    for level in ("gemeente", "pc4"):
        vc = vehicle_counts[vehicle_counts["area_level"] == level]
        if vc.empty or not {2019, 2022, 2023} <= set(vc["year"]):
            continue
        for vehicle in ("car", "van", "truck"):
            df, s = backtest_areas(vc, cfg, vehicle=vehicle)
            result[f"{level}_{vehicle}"] = s
            frames[f"backtest_{level}_{vehicle}.csv"] = df
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        for name, df in frames.items():
            df.to_csv(Path(out_dir) / name, index=False)
    return result


def utc_range(cfg, t_from: date | None, t_to: date | None) -> tuple[datetime | None, datetime | None]:
    """Local dates (end inclusive) -> naive UTC bounds."""
    tz = cfg.region.time_zone

    def conv(d: date) -> datetime:
        return pd.Timestamp(d).tz_localize(tz).tz_convert("UTC").tz_localize(None).to_pydatetime()

    return (conv(t_from) if t_from else None), (conv(t_to + timedelta(days=1)) if t_to else None)


def read_sessions(store: Store, *, gm_code: str | None = None, bu_code: str | None = None,
                  start_utc: datetime | None = None, end_utc: datetime | None = None) -> pd.DataFrame:
    """Sessions with their location's areas and the EVSE power (fallback for the session power)."""
    where, params = ["1=1"], []
    if gm_code:
        where.append("l.gm_code = ?")
        params.append(gm_code)
    if bu_code:
        where.append("l.bu_code = ?")
        params.append(bu_code)
    if start_utc:
        where.append("s.end_utc > ?")
        params.append(start_utc)
    if end_utc:
        where.append("s.start_utc < ?")
        params.append(end_utc)
    sql = f"""
        SELECT s.session_id, s.country_code, s.party_id, s.location_id, s.evse_uid, s.start_utc, s.end_utc,
               s.energy_kwh, s.charging_h, coalesce(s.max_power_kw, e.max_power_kw) AS max_power_kw,
               l.gm_code, l.bu_code
        FROM sessions s
        LEFT JOIN locations l USING (country_code, party_id, location_id)
        LEFT JOIN evses e USING (country_code, party_id, location_id, evse_uid)
        WHERE {' AND '.join(where)}"""
    return store.query(sql, params)


def load_run(store: Store, cfg, *, level: str = "gemeente", smart: str | None = None, gm_code: str | None = None,
             bu_code: str | None = None, t_from: date | None = None, t_to: date | None = None,
             out_dir: Path | None = None, sessions: pd.DataFrame | None = None,
             limit_events: pd.DataFrame | None = None, limit_kw: float | None = None) -> dict[str, Any]:
    """Load profiles (summary per ``level`` + region profile) and optionally one smart strategy.

    ``limit_events`` (connection, start_utc, end_utc, limit_kw) apply to ``smart="limit"``; outside them
    ``limit_kw`` applies, or no limit when it is None.
    """
    if level not in LOAD_LEVELS:
        raise ValueError(f"unknown level {level!r}; one of {sorted(LOAD_LEVELS)}")
    start, end = utc_range(cfg, t_from, t_to)
    s = sessions if sessions is not None else read_sessions(store, gm_code=gm_code, bu_code=bu_code,
                                                             start_utc=start, end_utc=end)
    if s.empty:
        raise ValueError("no sessions in the store for this selection (ingest CDRs first)")
    by = LOAD_LEVELS[level]
    prepared = session_power(s, cfg)
    summ = profile_summary(prepared, cfg, by, t_from=start, t_to=end, prepared=True)
    region = profile_summary(prepared, cfg, None, t_from=start, t_to=end, prepared=True).iloc[0].to_dict()
    window = (cfg.kpi.evening_start_hour, cfg.kpi.evening_end_hour)
    result: dict[str, Any] = {"level": level, "sessions": int(len(s)), "groups": int(len(summ)),
                              "region": {k: (v.isoformat() if hasattr(v, "isoformat") else
                                             None if v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v)
                                         for k, v in region.items()}}
    if region.get("coincidence_note"):
        result["notes"] = [region["coincidence_note"]]
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        summ.to_csv(out / f"load_summary_{level}.csv", index=False)
        prof = load_profile(prepared, cfg, None, t_from=start, t_to=end, prepared=True)
        prof.to_csv(out / "load_profile_region.csv", index=False, float_format="%.10g")
        charts.load_profile_chart(prof, out / "load_profile_region.png", tz=cfg.region.time_zone, window=window,
                                  title=f"uncontrolled charging load ({len(s):,} sessions)")
        if by is not None and len(summ) * len(prof) <= MAX_PROFILE_ROWS:
            load_profile(prepared, cfg, by, t_from=start, t_to=end, prepared=True).to_csv(
                out / f"load_profile_{level}.csv", index=False)
    if smart:
        # smart charging: the sessions that start in the period, each simulated whole
        sel = s
        if start is not None:
            sel = sel[sel["start_utc"] >= start]
        if end is not None:
            sel = sel[sel["start_utc"] < end]
        if sel.empty:
            raise ValueError("no sessions start in the selected period for smart charging")
        if limit_events is not None:
            r = simulate(sel, cfg, smart, limit_events=limit_events,
                         limit_kw=float("inf") if limit_kw is None else limit_kw)
        else:
            r = simulate(sel, cfg, smart)
        result["smart"] = r.summary
        if out is not None:
            r.profile.to_csv(out / f"smart_{smart}_profile.csv", index=False)
            r.sessions.to_csv(out / f"smart_{smart}_sessions.csv", index=False)
            where = gm_code or bu_code or "selection"
            charts.smart_chart(r.profile, out / f"smart_{smart}.png", tz=cfg.region.time_zone,
                               window=(cfg.load.cap_window_start_hour, cfg.load.cap_window_end_hour),
                               title=f"{smart}: peak {r.summary['peak_uncontrolled_kw']:.0f} -> "
                                     f"{r.summary['peak_smart_kw']:.0f} kW ({where})")
    if out is not None:
        (out / "summary.json").write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    return result
