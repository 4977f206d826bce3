"""``laadplan contract``, ``laadplan alerts`` and ``laadplan report``: concession contract management and the
yearly progress report."""

from __future__ import annotations

from pathlib import Path

import typer

from laadplan.commands.common import STATE, console, emit_json, err_console, fail, print_frame

LEVEL_CHOICES = ("evse", "location", "gemeente", "operator", "region")

#: columns shown per level in table mode, with short headers (the JSON output has them all)
SHOW = {"subject_id": "subject", "n_evses": "evses", "uptime_share": "uptime", "failures": "failures",
        "mean_failure_h": "mean_fail_h", "evses_below_uptime_norm": "below_uptime",
        "evses_over_failure_norm": "over_failures", "recurring_fault_evses": "recurring",
        "tariff_compliant_share": "tariff_ok", "smart_charging_share": "smart"}


def default_month(store) -> str:
    """The last complete local month of status data, else of sessions, else the current month."""
    import pandas as pd

    from laadplan.contract.periods import month_of

    t = store.query("SELECT greatest(max(observed_utc), (SELECT max(start_utc) FROM sessions)) AS t "
                    "FROM status_observations")["t"].iloc[0]
    if t is None or pd.isna(t):
        return str(pd.Timestamp.now().to_period("M"))
    m = month_of(pd.Series([pd.Timestamp(t)]))[0]
    return str(pd.Period(m, "M") - 1)


def _read_requests(path: Path | None):
    if path is None:
        return None
    from laadplan.contract.leadtime import read_request_log
    from laadplan.ingest import SourceError

    try:
        return read_request_log(path)
    except SourceError as e:
        fail(str(e))


def register(app: typer.Typer) -> None:
    @app.command("contract")
    def contract_cmd(
        month: str = typer.Option(None, "--month", help="Month YYYY-MM (local time) [default: last full month]"),
        year: int = typer.Option(None, "--year", help="A whole year instead of a month"),
        municipality: str = typer.Option(None, "--municipality", help="Only this gm_code (e.g. GM0599)"),
        level: str = typer.Option("gemeente", "--level", help="evse | location | gemeente | operator | region"),
        requests: Path = typer.Option(None, "--requests", help="Request-log CSV (else the store's requests table)"),
        fmt: str = typer.Option("table", "--format", help="table | csv | json"),
    ) -> None:
        """Concession KPIs (uptime, failures, tariffs, lead times, data delivery, smart charging) against
        the contract norms; stores them and the alerts they raise."""
        import pandas as pd

        from laadplan.contract.run import compute_contract

        if level not in LEVEL_CHOICES:
            fail(f"--level must be one of {', '.join(LEVEL_CHOICES)}")
        if month and year:
            fail("give --month or --year, not both")
        req = _read_requests(requests)
        with STATE.store() as store:
            period = str(year) if year else (month or default_month(store))
            _check_period(period)
            if municipality:
                _check_municipality(store, municipality)
            res = compute_contract(store, STATE.config(), period, requests=req)
        tab = res.levels[level]
        if municipality:
            if level in ("evse", "location"):
                tab = tab[tab["gm_code"] == municipality]
            elif level == "gemeente":
                tab = tab[tab["subject_id"] == municipality]
            else:
                fail("--municipality filters the evse, location and gemeente levels")
        if STATE.json or fmt == "json":
            emit_json({"period": res.period, "level": level, "summary": res.summary, "notes": res.notes,
                       "rows": _records(tab), "tariff_comparison": _records(res.tariff_comparison)})
            return
        cols = [c for c in SHOW if c in tab.columns]
        tab = tab[cols].copy()
        if fmt == "csv":  # CSV: only the header and rows, shares as numbers 0..1 (the JSON keys as columns)
            print_frame(tab, fmt="csv")
            for n in res.notes:
                err_console.print(f"note: {n}")
            return
        for c in cols:
            if c.endswith("_share"):
                tab[c] = tab[c].map(lambda v: "n/a" if pd.isna(v) else f"{v:.2%}")
        tab = tab.rename(columns=SHOW)
        cols = list(tab.columns)
        s = res.summary
        console.print(f"[bold]Concession KPIs {res.period}[/]: {_count(s.get('n_evses'))} EVSEs with status data, "
                      f"uptime {_pct(s.get('uptime_share'))}, {_count(s.get('failures'))} failures, "
                      f"{s.get('alerts', 0)} alerts")
        print_frame(tab if len(tab) else pd.DataFrame(columns=cols), title=f"level {level}", fmt=fmt)
        if s.get("sites_agreed") is not None:
            console.print(f"plan sites (placement workflow, at the period end): {_count(s.get('sites_agreed'))} agreed, "
                          f"{_count(s.get('sites_gerealiseerd'))} realised ({_pct(s.get('site_realisation_share'))}); "
                          f"{_count(s.get('sites_realised_in_period'))} realised in {res.period}, lead time agreement "
                          f"to realisation median {_days(s.get('site_lead_time_median_days'))}, p90 "
                          f"{_days(s.get('site_lead_time_p90_days'))}; {_count(s.get('sites_open_over_norm'))} open "
                          f"over the norm")
        for n in res.notes:
            console.print(f"note: {n}")

    @app.command("alerts")
    def alerts_cmd(
        month: str = typer.Option(None, "--month", help="Month YYYY-MM [default: last full month]"),
        rule: str = typer.Option(None, "--rule", help="Only this rule, e.g. CM-UPTIME"),
        recompute: bool = typer.Option(True, "--recompute/--stored", help="Recompute the month's KPIs first"),
        fmt: str = typer.Option("table", "--format", help="table | csv | json"),
    ) -> None:
        """Alerts of a month: breaches of the concession norms with their evidence."""
        from laadplan.contract.run import compute_contract

        with STATE.store() as store:
            period = month or default_month(store)
            _check_period(period)
            if recompute:
                compute_contract(store, STATE.config(), period)
            where, params = "period = ?", [period]
            if rule:
                where += " AND rule = ?"
                params.append(rule)
            df = store.frame("alerts", where + " ORDER BY rule, subject_id", params)
        if STATE.json or fmt == "json":
            emit_json({"period": period, "alerts": _records(df)})
            return
        (err_console if fmt == "csv" else console).print(f"[bold]{len(df)} alerts in {period}[/]")
        print_frame(df[["rule", "subject_id", "value", "norm", "unit"]] if fmt == "table" else df,
                    title="alerts (--json for messages and evidence)", fmt=fmt)

    @app.command("report")
    def report_cmd(
        year: int = typer.Option(..., "--year", help="Report year"),
        out: Path = typer.Option(Path("report"), "--out", help="Output folder"),
        pdf: bool = typer.Option(False, "--pdf", help="Also print a PDF with headless Chromium"),
        requests: Path = typer.Option(None, "--requests", help="Request-log CSV (else the store's requests table)"),
        gm: list[str] = typer.Option(None, "--gm", help="Report of this gemeente only (CBS code, e.g. GM0599; "
                                                        "repeat for several): voortgangsrapportage_<year>_<gm>.html"),
        all_gm: bool = typer.Option(False, "--all-gm", help="Also one report per gemeente: those of "
                                                            "region.concession_gm_codes, else every gemeente "
                                                            "in the store with charge points or a plan"),
    ) -> None:
        """Write the yearly progress report (voortgangsrapportage) as self-contained HTML (and PDF): the
        region's, or with --gm / --all-gm one per gemeente with its own figures and maps."""
        from laadplan.report import html_to_pdf
        from laadplan.report.builder import build_reports, gemeente_name, report_gemeenten

        if gm and all_gm:
            fail("give --gm or --all-gm, not both")
        req = _read_requests(requests)
        out.mkdir(parents=True, exist_ok=True)
        cfg = STATE.config()
        with STATE.store() as store:
            for code in gm or []:
                if gemeente_name(store, code) is None:
                    fail(f"--gm {code}: no gemeente with this code in the store's areas (laadplan ingest areas ...)")
            codes = list(dict.fromkeys(gm)) if gm else (report_gemeenten(store, cfg) if all_gm else [])
            paths = build_reports(store, cfg, year, out, requests=req, gms=codes, region=not gm)
        result = {"html": [str(p) for p in paths]}
        if pdf:
            try:
                result["pdf"] = [str(html_to_pdf(p, p.with_suffix(".pdf"))) for p in paths]
            except RuntimeError as e:
                fail(str(e))
        if STATE.json:
            emit_json(result if len(paths) > 1 else {k: v[0] for k, v in result.items()})
        else:
            for k, v in result.items():
                shown = v if len(v) <= 3 else [*v[:2], f"... {len(v) - 2} more in {out}/"]
                console.print(f"{k}: {', '.join(shown)}")


def _check_period(period: str) -> None:
    """A month or year label that has begun: a period in the future has no data, so any figure for it
    would be made up."""
    import pandas as pd

    from laadplan.contract.periods import parse_period, period_bounds

    try:
        parse_period(period)
    except ValueError as e:
        fail(str(e))
    tz = STATE.config().region.time_zone
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    if period_bounds(period, tz)[0] > now:
        fail(f"period {period} lies in the future (today is {pd.Timestamp.now(tz=tz).date()}): there is no data "
             f"for it yet")


def _check_municipality(store, gm_code: str) -> None:
    """--municipality must name a gemeente the store knows (an area or a location's gm_code)."""
    known = store.query("SELECT area_code AS gm FROM areas WHERE level = 'gemeente' UNION "
                        "SELECT DISTINCT gm_code FROM locations WHERE gm_code IS NOT NULL")["gm"]
    if gm_code not in set(known):
        fail(f"--municipality {gm_code}: not a gemeente in the store ({len(known)} known"
             + (f", e.g. {', '.join(sorted(known)[:3])}" if len(known) else "; ingest areas or locations first")
             + ")")


def _records(df) -> list[dict]:
    import json

    return json.loads(df.to_json(orient="records", date_format="iso", force_ascii=False))


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:.2%}"


def _count(v) -> str:
    return "n/a" if v is None else f"{v:,.0f}"


def _days(v) -> str:
    return "n/a" if v is None else f"{v:,.1f} days"
