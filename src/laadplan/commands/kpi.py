"""``laadplan kpi``: usage KPIs from sessions, or occupancy from status snapshots."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import pandas as pd
import typer

from laadplan.commands.common import Fmt, STATE, console, err_console, fail, parse_date, print_frame, tidy_frame


class Level(str, Enum):
    evse = "evse"
    location = "location"
    gemeente = "gemeente"
    buurt = "buurt"
    region = "region"


class PeriodKind(str, Enum):
    range = "range"
    month = "month"


class Source(str, Enum):
    sessions = "sessions"
    status = "status"


def register(app: typer.Typer) -> None:
    @app.command("kpi")
    def kpi_cmd(
        level: Level = typer.Option(None, "--level", help="Aggregation level [default: region for --source "
                                                          "sessions, gemeente for --source status]"),
        date_from: str = typer.Option(None, "--from", help="First local (Europe/Amsterdam) day, YYYY-MM-DD "
                                                          "[default: first day with data]"),
        date_to: str = typer.Option(None, "--to", help="Last local day, included whole [default: last day with data]"),
        period: PeriodKind = typer.Option(PeriodKind.range, "--period", help="One row per key (range) or per month"),
        fmt: Fmt = typer.Option(Fmt.table, "--format", help="Output format"),
        gm: str = typer.Option(None, "--gm", help="Only this gemeente (CBS code, e.g. GM0599)"),
        source: Source = typer.Option(Source.sessions, "--source",
                                      help="sessions: usage KPIs from CDRs; status: hour-of-week occupancy from "
                                           "status snapshots (levels location, gemeente)"),
        hour_of_week: bool = typer.Option(False, "--hour-of-week",
                                          help="Print the occupancy per local hour of the week (168 rows per key)"),
        out: Path = typer.Option(None, "--out", help="Also write the table (CSV) and, from sessions, the charts "
                                                     "of the region or --gm into this folder: hour-of-week "
                                                     "occupancy heatmap and energy/sessions per month (PNG)"),
    ) -> None:
        """Usage KPIs per EVSE, location, gemeente, buurt or region (occupancy, kWh and sessions per EVSE per
        day, evening shares, unique users, peak-hour-of-week occupancy), or status-based occupancy.

        Occupancy counts only EVSEs known in the store (not REMOVED/PLANNED) and their sessions; sessions
        matching no EVSE count in the region's session and energy figures only (column sessions_unmatched).
        """
        if level is None:
            level = Level.gemeente if source is Source.status else Level.region
        start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
        cfg = STATE.config()
        with STATE.store() as store:
            try:
                df, title = kpi_table(store, cfg, level.value, start, end, period.value, gm=gm,
                                      source=source.value, hour_of_week=hour_of_week)
            except KpiSelectionError as e:
                fail(str(e))
            notes = _na_notes(store, df, source, level.value)
        if df.empty and not (STATE.json or fmt is not Fmt.table):
            fail("no data for this selection (ingest sessions/status first, or widen --from/--to)")
        if fmt is Fmt.table and not STATE.json and source is Source.sessions and not hour_of_week:
            df = df[[c for c in df.columns if c not in _WIDE_ONLY]]
            title += " (--format csv for every column)"
        if out is not None:
            files = _write_outputs(df, out, level.value, source, start, end, gm, cfg)
            (err_console if STATE.json or fmt is not Fmt.table else console).print(
                f"written: {', '.join(str(f) for f in files)}")
        print_frame(df, title=title, fmt=fmt.value)
        for n in notes:
            err_console.print(f"note: {n}")


class KpiSelectionError(ValueError):
    """A selection ``laadplan kpi`` (and the read API) cannot compute; the message names the option."""


def kpi_table(store, cfg, level: str, start=None, end=None, period: str = "range", *, gm: str | None = None,
              source: str = "sessions", hour_of_week: bool = False) -> tuple[pd.DataFrame, str]:
    """The table of ``laadplan kpi`` (its ``--json`` rows) and its title: usage KPIs, the session hour-of-week
    occupancy, or status occupancy. One function for the CLI and the read API (``/api/v1/kpi``), so both show
    the same figures. Raises :class:`KpiSelectionError` for a selection that cannot be computed."""
    from laadplan.kpi import hour_of_week_occupancy, status_occupancy, usage_kpis

    if level not in {lv.value for lv in Level}:
        raise KpiSelectionError(f"--level must be one of {', '.join(lv.value for lv in Level)}, not {level!r}")
    if start and end and end < start:
        raise KpiSelectionError(f"--to {end} is before --from {start}")
    if level == "buurt" and source == "sessions" and not store.count("locations", "bu_code IS NOT NULL"):
        raise KpiSelectionError("no location has a buurt code: load buurt areas first (laadplan ingest areas "
                                "wijkenbuurten.gpkg); --level buurt has nothing to group by")
    if source == "status":
        if level not in ("location", "gemeente"):
            raise KpiSelectionError("--source status supports --level location or gemeente")
        if period == "month":
            raise KpiSelectionError("--source status reports one range; use --from/--to per month")
        df = status_occupancy(store, cfg, level, start, end, profile=hour_of_week)
        if gm:
            df = df[df["gm_code"] == gm]
        title = f"status occupancy per {level}" + (" and hour of week" if hour_of_week else "")
    elif hour_of_week:
        if period == "month":
            raise KpiSelectionError("--hour-of-week reports one range; use --from/--to per month")
        df = hour_of_week_occupancy(store, cfg, level, start, end, gm=gm)
        title = f"occupancy per hour of week ({level})"
    else:
        df = usage_kpis(store, cfg, level, start, end, period, gm=gm)
        title = f"usage KPIs per {level}" + (" and month" if period == "month" else "")
    df = df.reset_index(drop=True)
    for c in ("period_start", "period_end"):
        if c in df.columns:
            df[c] = df[c].map(lambda d: d.isoformat() if d is not None and not pd.isna(d) else None)
    return df, title


def _na_notes(store, df: pd.DataFrame, source: Source, level: str) -> list[str]:
    """Why figures are n/a (null in JSON): said once per run, on stderr (CSV/JSON on stdout stay clean)."""
    from laadplan.ingest.locations import detail_warning

    notes = []
    if source is Source.sessions and "occupancy_share" in df.columns and len(df):
        na = df["occupancy_share"].isna()
        if na.all():
            n = int(store.count("sessions"))
            notes.append(f"occupancy and per-EVSE figures n/a: none of the {n:,} sessions in the store is linked to "
                         f"a charge point known in the store (sessions without EVSE/location id, or no EVSEs)")
        elif na.any():
            notes.append(f"{int(na.sum()):,} of {len(df):,} rows n/a: no session linked to the EVSEs of their "
                         f"location(s) in this range (no CDRs delivered for them)")
    for c in ("mean_occupancy_share", "occupancy_share"):
        if source is Source.status and c in df.columns and len(df) and df[c].isna().any():
            notes.append(f"{int(df[c].isna().sum()):,} rows n/a: no status observations for them in this range")
            break
    if level in ("gemeente", "location", "buurt", "region"):
        w = detail_warning(store, STATE.config())
        if w:
            notes.append(w)
    return notes


def _write_outputs(df: pd.DataFrame, out: Path, level: str, source: Source, start, end, gm, cfg) -> list[Path]:
    """The table as CSV and, for session KPIs, the hour-of-week heatmap and the monthly chart of the region
    (or of ``gm``)."""
    from laadplan.demo.kpi import hour_of_week_chart, monthly_chart
    from laadplan.kpi import hour_of_week_occupancy, usage_kpis

    out.mkdir(parents=True, exist_ok=True)
    scope = gm or "region"
    table = out / f"kpi_{source.value}_{level}{'_' + gm if gm else ''}.csv"
    tidy_frame(df).to_csv(table, index=False)
    files = [table]
    if source is Source.sessions:
        with STATE.store(read_only=True) as store:
            prof = hour_of_week_occupancy(store, cfg, "region", start, end, gm=gm)
            monthly = usage_kpis(store, cfg, "region", start, end, "month", gm=gm)
        name = f"{cfg.region.name}" + (f", {gm}" if gm else "")
        if len(prof) and prof["occupancy_share"].notna().any():
            files.append(out / f"{scope}_hour_of_week.png")
            hour_of_week_chart(prof, files[-1], f"{name}: occupancy by hour of week")
        if len(monthly):
            files.append(out / f"{scope}_monthly.png")
            monthly_chart(monthly, files[-1], f"{name}: energy and sessions per month")
    return files


#: columns left out of the terminal table (they are in CSV and JSON output)
_WIDE_ONLY = {"country_code", "party_id", "bu_code", "days", "hours", "connected_h", "charging_h", "unique_users",
              "sessions_per_evse_day", "kwh_per_session", "evening_energy_share", "energy_kwh"}
