"""``laadplan forecast`` (EV forecast and public charging need) and ``laadplan load`` (grid usage: load
profiles and smart charging)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import pandas as pd
import typer

from laadplan.commands.common import parse_date, STATE, console, emit_json, fail, print_frame, silence_solver_banner


class Scenario(str, Enum):
    low = "low"
    middle = "middle"
    high = "high"
    all = "all"


class ForecastLevel(str, Enum):
    gemeente = "gemeente"
    pc4 = "pc4"
    buurt = "buurt"
    wijk = "wijk"


class LoadLevel(str, Enum):
    region = "region"
    gemeente = "gemeente"
    buurt = "buurt"
    location = "location"
    evse = "evse"


class Smart(str, Enum):
    cap = "cap"
    shift = "shift"
    limit = "limit"


def backtest_table(bt: dict) -> pd.DataFrame:
    """The backtest errors per target with ``beats_naive``: the model's mean absolute percentage error is
    below the naive baseline's (False flags a target where the forecast is worse than carrying the last
    fitted value forward; None when the baseline is unknown)."""
    rows = []
    for k, v in bt.items():
        row = {"target": k, **{m: v.get(m) for m in ("n", "mape", "median_ape", "max_ape", "naive_mape")}}
        known = row["mape"] is not None and row["naive_mape"] is not None
        row["beats_naive"] = bool(row["mape"] < row["naive_mape"]) if known else None
        rows.append(row)
    return pd.DataFrame(rows, columns=["target", "n", "mape", "median_ape", "max_ape", "naive_mape", "beats_naive"])


def register(app: typer.Typer) -> None:
    @app.command("forecast")
    def forecast_cmd(
        scenario: Scenario = typer.Option(Scenario.all, "--scenario", help="EV scenario (all = low, middle, high)"),
        level: ForecastLevel = typer.Option(ForecastLevel.gemeente, "--level",
                                            help="Areas to spread the forecast over (needs vehicle counts or areas "
                                                 "with cars at that level)"),
        out: Path = typer.Option(Path("forecast-output"), "--out", help="Folder for tables (CSV) and charts (PNG)"),
        year: int = typer.Option(2030, "--year", help="Year shown in the summary and the need chart"),
        backtest: bool = typer.Option(False, "--backtest",
                                      help="Also run the backtest (fit 2019-2022; predict 2023 per area and the "
                                           "2023-2025 national BEV stock) and write backtest_*.csv"),
    ) -> None:
        """EV forecast 2025-2035 per area (cars, vans, trucks; low/middle/high), public charging need and gap
        (table forecast_need), the AFIR fleet check per gemeente and region, with charts."""
        from laadplan.forecast.runner import forecast_run

        cfg = STATE.config()
        scenarios = ("low", "middle", "high") if scenario is Scenario.all else (scenario.value,)
        with STATE.store() as store:
            try:
                summary = forecast_run(store, cfg, level=level.value, scenarios=scenarios, out_dir=out,
                                       chart_year=year, backtest=backtest)
            except ValueError as e:
                fail(str(e))
        if STATE.json:
            emit_json(summary)
            return
        rows = [{"scenario": sc, "year": year, **summary[f"{sc}_{year}"]} for sc in scenarios
                if f"{sc}_{year}" in summary]
        print_frame(pd.DataFrame(rows), title=f"public charging need, {summary['areas']} areas ({level.value})")
        console.print(f"existing EVSEs in the store: {summary['evses_existing_total']:,}")
        for n in summary.get("notes", []):
            console.print(f"note: {n}")
        print_frame(pd.DataFrame(summary["afir_region"]), title=f"AFIR fleet check, region {year}")
        if backtest:
            bt = backtest_table(summary["backtest"])
            print_frame(bt, title="backtest (fit 2019-2022), errors as shares")
            worse = bt.loc[bt["beats_naive"].eq(False), "target"].tolist()
            if worse:
                console.print(f"[yellow]warning:[/] the forecast is worse than the naive baseline (last fitted value "
                              f"carried forward) for: {', '.join(worse)}")
        console.print(f"tables and charts in {out}/")

    @app.command("load")
    def load_cmd(
        level: LoadLevel = typer.Option(LoadLevel.gemeente, "--level", help="Level of the profile summary"),
        smart: Smart = typer.Option(None, "--smart", help="Also simulate a smart-charging strategy: cap (capped "
                                                           "power in the evening window), shift (LP peak "
                                                           "flattening), limit (kW limit per connection)"),
        gm: str = typer.Option(None, "--gm", help="Only sessions in this gemeente (CBS code, e.g. GM0599)"),
        bu: str = typer.Option(None, "--bu", help="Only sessions in this buurt (CBS code)"),
        date_from: str = typer.Option(None, "--from", help="First local day YYYY-MM-DD"),
        date_to: str = typer.Option(None, "--to", help="Last local day YYYY-MM-DD (included)"),
        out: Path = typer.Option(Path("load-output"), "--out", help="Folder for tables (CSV) and charts (PNG)"),
        cap_kw: float = typer.Option(None, "--cap-kw", help="Power in the evening window for --smart cap "
                                                            "[default: load.cap_power_kw]"),
        limit_kw: float = typer.Option(None, "--limit-kw", help="kW limit per connection for --smart limit "
                                                                "[default: load.ean_limit_kw]"),
        limits: Path = typer.Option(None, "--limits", help="GAC-like limit events for --smart limit: CSV with "
                                                           "connection (EAN18 or CC*PARTY*LOCATION), start_utc, "
                                                           "end_utc, limit_kw; no limit outside the events unless "
                                                           "--limit-kw is given"),
    ) -> None:
        """15-minute load profiles of charging (uncontrolled), evening-window shares, coincidence of peaks,
        and smart-charging simulations against uncontrolled charging."""
        from laadplan.forecast.runner import load_run

        start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
        if start and end and end < start:
            fail(f"--to {end} is before --from {start}")
        events = None
        if limits is not None:
            if smart is not Smart.limit:
                fail("--limits needs --smart limit")
            try:
                events = pd.read_csv(limits, dtype={"connection": "string"})
            except (OSError, ValueError) as e:
                fail(f"{limits}: cannot read limit events ({e})")
            missing = {"connection", "start_utc", "end_utc", "limit_kw"} - set(events.columns)
            if missing:
                fail(f"{limits}: missing columns {sorted(missing)}")
            try:
                events["start_utc"] = pd.to_datetime(events["start_utc"])
                events["end_utc"] = pd.to_datetime(events["end_utc"])
                events["limit_kw"] = pd.to_numeric(events["limit_kw"], errors="raise")
            except (ValueError, TypeError) as e:
                fail(f"{limits}: start_utc/end_utc must be times and limit_kw a number ({e})")
            bad = events.index[(events["limit_kw"] < 0) | (events["end_utc"] <= events["start_utc"])]
            if len(bad):
                fail(f"{limits}: record {int(bad[0]) + 1}: limit_kw must not be negative and end_utc must be after "
                     f"start_utc ({len(bad)} such records)")
        for name, v in (("--cap-kw", cap_kw), ("--limit-kw", limit_kw)):
            if v is not None and not (v > 0 and v != float("inf")):
                fail(f"{name} must be a positive power in kW, not {v:g}")
        if cap_kw is not None and smart is not Smart.cap:
            fail("--cap-kw needs --smart cap")
        if limit_kw is not None and smart is not Smart.limit:
            fail("--limit-kw needs --smart limit")
        cfg = STATE.config()
        if cap_kw is not None:
            cfg.load.cap_power_kw = cap_kw
        if limit_kw is not None:
            cfg.load.ean_limit_kw = limit_kw
        if smart is not None:
            silence_solver_banner()
        with STATE.store() as store:
            try:
                result = load_run(store, cfg, level=level.value, smart=smart.value if smart else None, gm_code=gm,
                                  bu_code=bu, t_from=start, t_to=end, out_dir=out, limit_events=events,
                                  limit_kw=limit_kw)
            except (ValueError, RuntimeError) as e:
                fail(str(e))
        if STATE.json:
            emit_json(result)
            return
        summ = pd.read_csv(out / f"load_summary_{level.value}.csv")
        cols = [c for c in summ.columns if c not in ("peak_utc", "coincidence_unit", "coincidence_note")]
        print_frame(summ[cols].sort_values("peak_kw", ascending=False), title=f"load per {level.value}")
        if "smart" in result:
            smart_rows = pd.DataFrame({"measure": list(result["smart"]),
                                       "value": ["n/a" if v is None else str(v) for v in result["smart"].values()]})
            print_frame(smart_rows, title=f"smart charging: {smart.value}")
        for note in result.get("notes", []):
            console.print(note)
        console.print(f"tables and charts in {out}/")
