"""Demo step: contract management and the progress report.

Writes two synthetic (seeded) inputs into ``ctx.inputs_dir``: ``request_log.csv`` (driver requests from
request to working point, used when the store has no requests with operational dates) and ``costs.csv``
(the region's concession costs, ingested with ``laadplan ingest costs``). Then computes the concession
KPIs and alerts for 2026 (every month, September in the log) and writes the 2026 progress report to ``ctx.out_dir / "report"``
(HTML, and PDF when headless Chromium is installed).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from laadplan.contract.leadtime import read_request_log
from laadplan.ingest import reader

log = logging.getLogger(__name__)

DEMO_MONTH = "2026-09"
DEMO_YEAR = 2026


def synthetic_request_log(rng: np.random.Generator, gm_codes: list[str], n: int = 160) -> pd.DataFrame:
    """Requests 2025-06 .. 2026-09: 85 % granted; decision after 2-6 weeks, 6 weeks objection period,
    then a lognormal build time (median ~13 weeks, some over half a year); recent ones still open."""
    req = pd.Timestamp("2025-06-01") + pd.to_timedelta(rng.integers(0, 480, n), unit="D")
    granted = rng.random(n) < 0.85
    decided = req + pd.to_timedelta(rng.integers(14, 43, n), unit="D")
    obj_end = decided + pd.Timedelta(weeks=6)
    build = pd.to_timedelta(np.round(rng.lognormal(np.log(90), 0.45, n)), unit="D")
    oper = obj_end + build
    horizon = pd.Timestamp("2026-10-31")
    df = pd.DataFrame({
        "request_id": [f"AV{i:05d}" for i in range(n)],
        "requested_date": req.strftime("%Y-%m-%d"),
        "gm_code": rng.choice(gm_codes, n) if gm_codes else None,
        "decision": np.where(granted, "granted", "rejected"),
        "decided_date": decided.strftime("%Y-%m-%d"),
        "objection_end_date": pd.Series(obj_end.strftime("%Y-%m-%d")).where(granted, None),
        "operational_date": pd.Series(oper.strftime("%Y-%m-%d")).where(granted & (oper <= horizon), None),
    })
    return df


def synthetic_costs(rng: np.random.Generator) -> pd.DataFrame:
    rows = [(2025, "voorbereiding", 48000, "aanbesteding concessie Zuidwest")]
    for year, scale in ((2026, 1.0), (2027, 0.4)):  # 2027: the first months only
        rows += [(year, "personeel", round(96000 * scale * rng.uniform(0.95, 1.05), 2), "regiomanager en data-analist"),
                 (year, "data", round(36000 * scale * rng.uniform(0.9, 1.2), 2), "LINDA-koppeling en dashboards"),
                 (year, "advies", round(20000 * scale * rng.uniform(0.8, 1.3), 2), "juridisch en technisch advies")]
    return pd.DataFrame(rows, columns=["year", "category", "amount_eur", "description"])


def step(ctx) -> dict[str, Any]:
    rng = np.random.default_rng(ctx.seed + 6)
    store, cfg = ctx.store, ctx.cfg.model_copy(deep=True)
    # the demo region's concession operators are its AC operators (one per gemeente); the maximum tariff
    # applies to their AC points
    from laadplan.demo.base import AC_CPOS

    cfg.contract.tariff_norm_party_ids = sorted(AC_CPOS)
    gms = [g for g in store.query("SELECT DISTINCT gm_code FROM locations WHERE gm_code IS NOT NULL "
                                  "ORDER BY gm_code")["gm_code"]]
    req_path = Path(ctx.inputs_dir) / "request_log.csv"
    synthetic_request_log(rng, gms).to_csv(req_path, index=False)
    costs_path = Path(ctx.inputs_dir) / "costs.csv"
    synthetic_costs(rng).to_csv(costs_path, index=False)
    reader("costs")(store, str(costs_path), cfg)

    have = store.query("SELECT count(*) AS n FROM requests WHERE operational_date IS NOT NULL")["n"].iloc[0]
    requests = None if have else read_request_log(req_path)
    # the report computes the whole year (every month's KPIs and alerts) and stores it in contract_kpis
    from laadplan.report import build_report, chromium_path, html_to_pdf

    out = Path(ctx.out_dir) / "report"
    html_path = build_report(store, cfg, DEMO_YEAR, out, requests=requests)
    kp = store.query("SELECT period, kpi, value FROM contract_kpis WHERE level = 'region' AND subject_id = 'region' "
                     "AND period IN (?, ?)", [str(DEMO_YEAR), DEMO_MONTH])
    s = {f"{r.period}:{r.kpi}": r.value for r in kp.itertuples(index=False)}
    n_alerts = store.count("alerts", "period = ?", [DEMO_MONTH])
    ctx.log(f"  {DEMO_MONTH}: uptime {s.get(DEMO_MONTH + ':uptime_share', 0):.2%}, "
            f"{s.get(DEMO_MONTH + ':failures', 0):,.0f} failures, {n_alerts} alerts; year {DEMO_YEAR}: "
            f"{s.get(f'{DEMO_YEAR}:n_evses', 0):,.0f} EVSEs, tariff compliance "
            f"{s.get(f'{DEMO_YEAR}:tariff_compliant_share', 0):.1%}, {s.get(f'{DEMO_YEAR}:alerts', 0):,.0f} alerts")
    result = {"month": DEMO_MONTH, "year": DEMO_YEAR, "summary": s, "alerts_month": n_alerts,
              "report_html": str(html_path), "request_source": "store" if have else str(req_path)}
    if chromium_path():
        try:
            result["report_pdf"] = str(html_to_pdf(html_path, html_path.with_suffix(".pdf")))
        except RuntimeError as e:
            log.warning("report PDF not written: %s", e)
            result["report_pdf_error"] = str(e)
    ctx.log(f"  report: {html_path}" + (" (+ PDF)" if "report_pdf" in result else ""))
    return result
