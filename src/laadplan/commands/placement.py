"""``laadplan plan`` (the yearly placement plan with and without the congestion rule) and
``laadplan requests`` (driver requests with the rule that decided each)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from laadplan.commands.common import (Fmt, STATE, console, emit_json, err_console, fail, fmt_cell, print_frame,
                                     silence_solver_banner)


class MapFormat(str, Enum):
    png = "png"
    gpkg = "gpkg"


class Method(str, Enum):
    mip = "mip"
    greedy = "greedy"


def parse_years(text: str) -> list[int]:
    """``2026-2030`` -> [2026, ..., 2030]; ``2026,2028`` -> [2026, 2028]."""
    try:
        if "-" in text:
            a, b = (int(v) for v in text.split("-", 1))
            if b < a:
                raise ValueError
            return list(range(a, b + 1))
        return sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        fail(f"--years must look like 2026-2030 or 2026,2027, not {text!r}")
        raise


def register(app: typer.Typer) -> None:
    @app.command("plan")
    def plan_cmd(
        years: str = typer.Option(None, "--years", help="Plan years, e.g. 2026-2030 [default: placement.years]"),
        out: Path = typer.Option(Path("plan"), "--out", help="Output folder"),
        no_congestion: bool = typer.Option(False, "--no-congestion",
                                           help="Make the plan without the congestion rule the main plan"),
        scenario: str = typer.Option("middle", "--scenario", help="Forecast scenario (low, middle, high)"),
        method: Method = typer.Option(None, "--method", help="mip (HiGHS) or greedy [default: placement.method]"),
        time_limit: float = typer.Option(None, "--time-limit", help="HiGHS time limit, s [default: placement.time_limit_s]"),
        fmt: MapFormat = typer.Option(MapFormat.png, "--format", help="png: the map as PNG; gpkg: also every map "
                                                                      "layer in plan.gpkg (RD New, for QGIS)"),
    ) -> None:
        """Make the yearly placement plan (with and without the congestion rule) and write CSV, GeoJSON,
        Parquet, summaries, the congestion comparison and a map into OUT."""
        from laadplan.placement.plan import plan_both, summary
        from laadplan.placement.store_io import load_inputs, save, write_outputs

        cfg = STATE.config()
        ys = parse_years(years) if years else list(cfg.placement.years)
        fy = list(cfg.forecast.years)
        if not ys or min(ys) < min(fy) or max(ys) > max(fy):
            fail(f"--years {years}: plan years must lie within the forecast years {min(fy)}-{max(fy)} (setting "
                 f"forecast.years); there is no charging need to plan for outside them")
        if scenario not in ("low", "middle", "high"):
            fail(f"--scenario must be low, middle or high, not {scenario!r}")
        silence_solver_banner()
        with STATE.store() as store:
            inp, notes = load_inputs(store, cfg)
            if inp.locations.empty and inp.requests is None and inp.forecast_need is None:
                fail("the store has no locations, requests or forecast need: ingest data first "
                     "(laadplan ingest locations ..., laadplan ingest requests ...)")
            a, b, cmp = plan_both(inp, cfg, ys, scenario=scenario,
                                  method=(method.value if method else cfg.placement.method),
                                  time_limit_s=time_limit)
            decided = a.stats.pop("requests", None)
            save(store, a, b, decided, primary_rule=not no_congestion)
        files = write_outputs(out, a, b, cmp, decided, inp.grid_areas, inp.areas, inp.locations,
                              primary_rule=not no_congestion)
        if fmt is MapFormat.gpkg:
            from laadplan.export import plan_layers, write_gpkg

            main_sites, other_sites = (b.sites, a.sites) if no_congestion else (a.sites, b.sites)
            files["plan.gpkg"] = str(write_gpkg(out / "plan.gpkg", plan_layers(
                main_sites, other_sites, primary_rule=not no_congestion, grid_areas=inp.grid_areas,
                areas=inp.areas, locations=inp.locations)))
        main = b if no_congestion else a
        if STATE.json:
            emit_json({"inputs": notes, "with_congestion_rule": a.stats, "without_congestion_rule": b.stats,
                       "files": files})
            return
        st = main.stats
        gap = "unknown" if st["gap"] is None else f"{100 * st['gap']:.2f} %"
        console.print(f"[bold]plan {ys[0]}-{ys[-1]}[/] ({'without' if no_congestion else 'with'} congestion rule): "
                      f"{st['evses']:,} new EVSEs at {st['sites']:,} sites; objective {st['objective']:.1f} "
                      f"(gap {gap}, "
                      f"greedy {st['greedy_objective']:.1f}), {st['seconds']:.1f} s, "
                      f"{st['method']}")
        by_year = ", ".join(f"{y}: {v:,}" for y, v in st["evses_by_year"].items())
        console.print(f"new EVSEs per year: {by_year} (budget per year: "
                      f"{', '.join(f'{v:,}' for v in st['budget_by_year'].values())})")
        if st.get("closest_sites_m") is not None:
            console.print(f"spacing: sites at least {st['min_spacing_m']:,.0f} m apart (placement.min_spacing_m); "
                          f"closest two: {st['closest_sites_m']:,.0f} m")
        console.print(f"need in {ys[-1]}: {st['need_units_last_year']:,.0f} EVSE-equivalents, unmet "
                      f"{st['unmet_units_last_year']:,.0f} (per municipality and year: unmet_need.csv)")
        console.print("inputs: " + "; ".join(f"{k.replace('_', ' ')}: {fmt_cell(v)}" for k, v in notes.items()))
        print_frame(summary(main.sites).groupby("gm_code", as_index=False)[["sites", "evses", "power_kw",
                                                                            "demand_covered"]].sum(),
                    title="per municipality (all years)", more_hint=f"all, per year, in {out}/summary_gemeente.csv")
        from laadplan.placement.plan import unmet_need

        un = unmet_need(main.demand, ys)
        if len(un):
            print_frame(un[un["year"] == ys[-1]].sort_values("unmet_units", ascending=False)
                        .drop(columns="year").round(1), title=f"unmet need in {ys[-1]} (EVSE-equivalents)",
                        more_hint=f"all, per year, in {out}/unmet_need.csv")
        if len(cmp):
            print_frame(cmp, title="with vs without the congestion rule",
                        more_hint=f"all rows in {out}/comparison_congestion.csv")
        console.print(f"files in {out}/: {', '.join(sorted(files))}")

    requests_app = typer.Typer(help="Decide every driver request (granted / refused) and show the rule and reason "
                                    "for each; `requests purge`: the residents' personal-data retention.",
                               invoke_without_command=True, no_args_is_help=False)
    app.add_typer(requests_app, name="requests")

    @requests_app.callback(invoke_without_command=True)
    def requests_cmd(
        ctx: typer.Context,
        fmt: Fmt = typer.Option(Fmt.table, "--format", help="Output format"),
        decision: str = typer.Option(None, "--decision", help="Only granted or refused"),
    ) -> None:
        """Decide every driver request (granted / refused) and show the rule and reason for each."""
        if ctx.invoked_subcommand is not None:
            return
        from laadplan.placement.requests import decide_requests
        from laadplan.placement.store_io import load_inputs

        cfg = STATE.config()
        with STATE.store() as store:
            inp, _ = load_inputs(store, cfg)
            if inp.requests is None:
                fail("no requests in the store: laadplan ingest requests PATH")
            d = decide_requests(inp.requests, inp.locations, inp.kpi, cfg)
            from laadplan import model

            rc = model.table("requests").column_names
            store.replace_all("requests", d[[c for c in rc if c in d.columns]])
        if inp.kpi is None or not len(inp.kpi):
            err_console.print("note: no occupancy data in the store (sessions or status): requests with a public point "
                          "within walking distance are n/a (rule REQ-NO-OCCUPANCY-DATA), not refused")
        if decision:
            d = d[d["decision"] == decision]
        cols = ["request_id", "requested_date", "gm_code", "decision", "decision_rule", "decision_reason",
                "decided_date", "operational_date"]
        print_frame(d[cols], title="driver requests", fmt=fmt.value)

    @requests_app.command("purge")
    def purge_cmd(
        dry_run: bool = typer.Option(False, "--dry-run", help="Only count what would be purged; change nothing"),
    ) -> None:
        """Purge the personal data of residents' web-form requests older than the retention period.

        The retention period is server.web_request_retention_days. Address and postal code are emptied, the
        point rounded to the centre of its 100 m cell, the client-address hash emptied; the decision and its
        rule stay. The web form does this too whenever it is used; run this daily (cron) so it happens
        without the form. Requests loaded from a municipality's CSV are not touched."""
        from laadplan.web.residents import purge, retention_status

        cfg = STATE.config()
        with STATE.store() as store:
            st = retention_status(store, cfg)
            n = purge(store, cfg, now=st["now_utc"], dry_run=dry_run)
        out = {"dry_run": dry_run, "retention_days": st["retention_days"],
               "cutoff_utc": st["cutoff_utc"].strftime("%Y-%m-%dT%H:%M:%SZ"),
               ("would_purge" if dry_run else "purged"): n, "already_purged": st["already_purged"],
               "kept": st["kept"]}
        if STATE.json:
            emit_json(out)
            return
        verb = "would be purged (dry run, nothing changed)" if dry_run else "purged"
        console.print(f"web requests created before {out['cutoff_utc']} (retention {st['retention_days']} days): "
                      f"{n} {verb}; {st['already_purged']} purged before; {st['kept']} within the retention period")
