"""Demo step: usage KPIs, status occupancy and data quality of the (synthetic) demo region.

Writes into ``ctx.out_dir``:

* ``kpi/kpi_<level>_month.csv`` and ``kpi/kpi_<level>_period.csv`` for every level (evse, location,
  gemeente, buurt, region) -- per local month and for the whole data period;
* ``kpi/hour_of_week_region.csv`` and the charts ``kpi/region_hour_of_week.png`` (7 x 24 heatmap of the
  region's session-based occupancy) and ``kpi/region_monthly.png`` (kWh and sessions per month);
* ``kpi/status_occupancy_gemeente.csv`` (status-based, last two weeks of status data);
* ``quality/quarantine_by_rule.csv``, ``quality/quarantine_by_operator.csv``,
  ``quality/quarantine_by_operator_rule.csv`` and ``quality/ingest_runs.csv``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from laadplan.kpi import hour_of_week_occupancy, status_occupancy, usage_kpis
from laadplan.kpi import quality as Q
from laadplan.kpi.calendar import DAY_NAMES
from laadplan.kpi.usage import LEVELS

log = logging.getLogger(__name__)


def _csv(df: pd.DataFrame, path: Path) -> None:
    """Write a CSV quickly (pyarrow's writer; pandas' float formatting is slow on EVSE x month tables)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    t = pa.Table.from_pandas(df.astype({c: "string" for c in df.columns if df[c].dtype == object}),
                             preserve_index=False)
    pacsv.write_csv(t, path)


def hour_of_week_chart(prof: pd.DataFrame, path: Path, title: str) -> None:
    """7 x 24 heatmap of an hour-of-week occupancy profile (``how``, ``occupancy_share``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.full((7, 24), np.nan)
    for how, v in zip(prof["how"], prof["occupancy_share"]):
        grid[int(how) // 24, int(how) % 24] = v
    fig, ax = plt.subplots(figsize=(10, 3.6))
    im = ax.imshow(grid * 100, aspect="auto", cmap="viridis", vmin=0)
    ax.set_yticks(range(7), DAY_NAMES)
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    ax.set_xlabel("local hour (Europe/Amsterdam)")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="occupancy (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def monthly_chart(df: pd.DataFrame, path: Path, title: str) -> None:
    """Energy (bars) and sessions (line) per month of monthly usage KPIs (``period_start``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [pd.Timestamp(d).strftime("%Y-%m") for d in df["period_start"]]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.bar(labels, df["energy_kwh"] / 1000, color="#4c72b0", label="energy (MWh)")
    ax.set_ylabel("energy delivered (MWh)")
    ax.tick_params(axis="x", rotation=45)
    ax2 = ax.twinx()
    ax2.plot(labels, df["sessions"], color="#dd8452", marker="o", label="sessions")
    ax2.set_ylabel("sessions started")
    ax2.set_ylim(bottom=0)
    ax.set_title(title)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def step(ctx) -> dict[str, Any]:
    """Compute and write the KPI and data-quality outputs; return a small summary."""
    t0 = time.perf_counter()
    store, cfg = ctx.store, ctx.cfg
    kdir = Path(ctx.out_dir) / "kpi"
    qdir = Path(ctx.out_dir) / "quality"
    kdir.mkdir(parents=True, exist_ok=True)
    qdir.mkdir(parents=True, exist_ok=True)
    files: list[str] = []

    def write(df: pd.DataFrame, path: Path) -> None:
        _csv(df, path)
        files.append(str(path.relative_to(ctx.out_dir)))

    frames: dict[tuple[str, str], pd.DataFrame] = {}
    for level in LEVELS:
        for period, name in (("month", "month"), ("range", "period")):
            df = usage_kpis(store, cfg, level, period=period)
            frames[(level, name)] = df
            write(df, kdir / f"kpi_{level}_{name}.csv")
    region = frames[("region", "period")]
    monthly = frames[("region", "month")]
    summary: dict[str, Any] = {"files": files}
    if region.empty:
        ctx.log("  no sessions in the store: KPI files are empty")
    else:
        prof = hour_of_week_occupancy(store, cfg, "region")
        write(prof, kdir / "hour_of_week_region.csv")
        r = region.iloc[0]
        hour_of_week_chart(prof, kdir / "region_hour_of_week.png",
                 f"{cfg.region.name}: occupancy by hour of week, {r['period_start']} .. {r['period_end']} "
                 "(synthetic demo)")
        monthly_chart(monthly, kdir / "region_monthly.png", f"{cfg.region.name}: energy and sessions per month "
                 "(synthetic demo)")
        files += ["kpi/region_hour_of_week.png", "kpi/region_monthly.png"]
        gm = frames[("gemeente", "period")].dropna(subset=["peak_how_occupancy_share"])
        busiest = gm.sort_values("peak_how_occupancy_share", ascending=False).head(3)
        loc = frames[("location", "period")]
        summary.update({
            "period": [str(r["period_start"]), str(r["period_end"])],
            "evses": int(r["n_evses"]), "sessions": int(r["sessions"]),
            "sessions_unmatched": int(r["sessions_unmatched"]),
            "energy_mwh": round(float(r["energy_kwh"]) / 1000, 3),
            "occupancy_share": round(float(r["occupancy_share"]), 4),
            "charging_share": round(float(r["charging_share"]), 4),
            "kwh_per_session": round(float(r["kwh_per_session"]), 2),
            "evening_session_share": round(float(r["evening_session_share"]), 3),
            "peak_how": r["peak_how"], "peak_how_occupancy_share": round(float(r["peak_how_occupancy_share"]), 4),
            "busiest_gemeenten": [{"gm_code": g, "peak_how_occupancy_share": round(float(v), 3), "peak_how": h}
                                  for g, v, h in zip(busiest["gm_code"], busiest["peak_how_occupancy_share"],
                                                     busiest["peak_how"])],
            "locations_peak_over_80pct": int((loc["peak_how_occupancy_share"] > 0.8).sum()),
        })
        ctx.log(f"  {summary['sessions']:,} sessions on {summary['evses']:,} EVSEs: occupancy "
                f"{summary['occupancy_share']:.1%}, peak hour of week {summary['peak_how']} "
                f"({summary['peak_how_occupancy_share']:.1%}), {summary['locations_peak_over_80pct']} locations "
                "with a peak above 80 %")
    # status-based occupancy per gemeente over the last two weeks with status data (keeps the step fast)
    last = store.query("SELECT max(observed_utc) AS t FROM status_observations")["t"].iloc[0]
    if pd.notna(last):
        end = pd.Timestamp(last).tz_localize("UTC").tz_convert(cfg.region.time_zone).date()
        start = (pd.Timestamp(end) - pd.Timedelta(days=13)).date()
        st = status_occupancy(store, cfg, "gemeente", start, end)
        write(st, kdir / "status_occupancy_gemeente.csv")
        summary["status_gemeenten"] = len(st)
    # data quality
    rules = Q.by_rule(store.con)
    write(rules, qdir / "quarantine_by_rule.csv")
    write(Q.by_operator(store.con), qdir / "quarantine_by_operator.csv")
    write(Q.by_operator_rule(store.con), qdir / "quarantine_by_operator_rule.csv")
    runs = Q.ingest_runs(store.con)
    write(runs, qdir / "ingest_runs.csv")
    summary.update({"quarantined": int(rules["records"].sum()) if len(rules) else 0,
                    "quarantine_rules": int(rules["rule_code"].nunique()) if len(rules) else 0,
                    "ingest_runs": len(runs),
                    "ingest_runs_unbalanced": int((~runs["balanced"].astype(bool)).sum()) if len(runs) else 0})
    ctx.log(f"  data quality: {summary['quarantined']} records quarantined under {summary['quarantine_rules']} "
            f"rules in {summary['ingest_runs']} ingest runs")
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    return summary
