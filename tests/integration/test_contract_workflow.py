"""The plan sites' realisation and lead time from the placement workflow (issue 16.3) are the same figures in
`laadplan --json contract`, the read API /api/v1/contract and the progress report (region and gemeente),
on the hand-built store of test_contract_report with a workflow trail whose figures are computed by hand."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from laadplan.store import Store
from test_contract_report import _cli, _Nums, build_store

SITE_KPIS_BY_HAND = {
    # P1 (GM0001): agreed 2026-02-01 00:00, realised 2026-06-01 12:00 = 28 + 31 + 30 + 31 days + 12 h = 120.5
    # days; its traffic decision 2026-02-20 -> 2026-06-01 = 101 days. P2 (GM0002): agreed 2026-03-01, still
    # open at the year end (2026-12-31 23:00 UTC): 305 days 23 h, above the norm of 182 days.
    "sites_agreed": 2, "sites_gerealiseerd": 1, "site_realisation_share": 0.5, "sites_realised_in_period": 1,
    "site_lead_time_median_days": 120.5, "site_lead_time_p90_days": 120.5,
    "site_decision_lead_time_median_days": 101.0, "sites_realised_over_norm": 0, "sites_open": 1,
    "sites_open_over_norm": 1, "sites_akkoord_gemeente": 1, "sites_voorgesteld": 0,
}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    from laadplan.web.workflow import append_event

    p = tmp_path_factory.mktemp("workflow") / "store.duckdb"
    build_store(p)
    s = Store(p)
    for sid, gm, state, when, decided in (
            ("P1", "GM0001", "akkoord_gemeente", datetime(2026, 2, 1), None),
            ("P1", "GM0001", "verkeersbesluit_genomen", datetime(2026, 2, 20, 10), date(2026, 2, 20)),
            ("P2", "GM0002", "akkoord_gemeente", datetime(2026, 3, 1), None),
            ("P1", "GM0001", "in_aanleg", datetime(2026, 4, 10), None),
            ("P1", "GM0001", "gerealiseerd", datetime(2026, 6, 1, 12), None)):
        append_event(s, {"site_id": sid, "gm_code": gm, "action": "state", "state": state, "reason": "test",
                         "decision_date": decided, "actor": "test"}, now=when)
    s.close()
    return p


def test_cli_api_and_report_agree_on_the_workflow_figures(db, tmp_path):
    from laadplan.api import auth
    from laadplan.api.app import create_app
    from laadplan.config import load_config

    out = json.loads(_cli(db, "--json", "contract", "--year", "2026", "--level", "gemeente"))
    summary, rows = out["summary"], {r["subject_id"]: r for r in out["rows"]}
    for k, v in SITE_KPIS_BY_HAND.items():
        assert summary[k] == pytest.approx(v), k
    assert rows["GM0001"]["site_realisation_share"] == 1.0 and rows["GM0001"]["site_lead_time_median_days"] == 120.5
    assert rows["GM0002"]["site_realisation_share"] == 0.0 and rows["GM0002"]["site_lead_time_median_days"] is None
    assert rows["GM0002"]["sites_open_over_norm"] == 1
    assert summary["site_decision_lead_time_p90_days"] == pytest.approx(101.0)
    table = " ".join(_cli(db, "contract", "--year", "2026", "--level", "region").split())
    assert "2 agreed, 1 realised (50.00%); 1 realised in 2026, lead time agreement to realisation median " \
           "120.5 days, p90 120.5 days; 1 open over the norm" in table

    # the read API: the same summary and rows
    with Store(db) as s:
        tok = auth.create_token(s, "region")[0]
    conf = Path(db).parent / "concession_aaa.toml"
    app = create_app(str(db), load_config(conf))
    with TestClient(app) as c:
        api = c.get("/api/v1/contract", params={"period": "2026", "level": "gemeente", "limit": 100},
                    headers={"Authorization": f"Token {tok}"}).json()
    api_rows = {r["subject_id"]: r for r in api["rows"]}
    for k in SITE_KPIS_BY_HAND:
        assert api["summary"][k] == summary[k], k
        for gm in ("GM0001", "GM0002"):
            assert api_rows[gm].get(k) == rows[gm].get(k), (gm, k)

    # the report: region figures carry the KPI (data-kpi) and equal the CLI; the gemeente report its own row
    res = json.loads(_cli(db, "--json", "report", "--year", "2026", "--out", str(tmp_path)))
    text = Path(res["html"]).read_text()
    p = _Nums()
    p.feed(text)
    shown = {n["data-kpi"]: n for n in p.nums if (n.get("data-kpi") or "").startswith(("site", "sites_"))}
    assert set(shown) >= set(SITE_KPIS_BY_HAND)
    for k, n in shown.items():
        assert (None if n["data-value"] == "" else float(n["data-value"])) == (
            None if summary[k] is None else pytest.approx(float(summary[k]))), k
    assert "120,5 dagen" in text and "101,0 dagen" in text and "50,0 %" in text
    res = json.loads(_cli(db, "--json", "report", "--year", "2026", "--out", str(tmp_path), "--gm", "GM0002"))
    text = Path(res["html"]).read_text()
    p = _Nums()
    p.feed(text)
    gm2 = {re.search(r"kpi = '(\w+)'", n["data-query"]).group(1): n for n in p.nums
           if "subject_id = 'GM0002'" in n["data-query"] and "kpi = 'site" in n["data-query"]}
    assert gm2["site_realisation_share"]["data-value"] == "0.0"
    assert gm2["sites_open_over_norm"]["data-value"] == "1.0"
    # nothing realised in GM0002: no median sentence (n/a), not a median of 0
    assert "site_lead_time_median_days" not in gm2 and gm2["sites_realised_in_period"]["data-value"] == "0.0"
    assert re.search(r">0</span> plan-locaties werden in 2026 gerealiseerd", text)
    # the alert of the open site over the norm
    al = json.loads(_cli(db, "--json", "alerts", "--month", "2026-12"))["alerts"]
    assert [(a["subject_id"], a["gm_code"]) for a in al if a["rule"] == "CM-SITE-LEAD-TIME"] == [("P2", "GM0002")]


def test_without_workflow_events_the_report_says_not_available(tmp_path):
    p = tmp_path / "s.duckdb"
    build_store(p)
    summary = json.loads(_cli(p, "--json", "contract", "--year", "2026", "--level", "region"))["summary"]
    assert all(summary[k] is None for k in SITE_KPIS_BY_HAND)
    res = json.loads(_cli(p, "--json", "report", "--year", "2026", "--out", str(tmp_path)))
    text = Path(res["html"]).read_text()
    assert "realisatie en doorlooptijd van de plan-locaties zijn niet beschikbaar" in text
    p = _Nums()
    p.feed(text)
    shown = [n for n in p.nums if (n.get("data-kpi") or "").startswith(("site", "sites_"))]
    assert shown and all(n["data-value"] == "" and "niet beschikbaar" in n.get("class", "") + text for n in shown)
    assert all("na" in n["class"].split() for n in shown)  # shown as "niet beschikbaar", never 0


def test_report_writes_weekdays_months_and_numbers_the_dutch_way(db, tmp_path):
    """Issue 16.6: "do 20:00", not "Thu 20:00", also in the progress report. The store's sessions start at
    17:00 UTC = 19:00 CEST on 2026-09-12 .. 19; the two Saturdays (12th on E1, 19th on E3) make Saturday
    19:00 the busiest hour of the week (first of the tied 19-21 h)."""
    from laadplan.report.labels import month_nl

    assert [month_nl(m) for m in ("2026-01", "2026-03", "2026-10", "2026-13", None)] == [
        "jan 2026", "mrt 2026", "okt 2026", "2026-13", ""]
    res = json.loads(_cli(db, "--json", "report", "--year", "2026", "--out", str(tmp_path)))
    html = Path(res["html"]).read_text()
    visible = re.sub(r"<style.*?</style>|<script.*?</script>|<[^>]+>", " ", html, flags=re.S)
    visible = visible[:visible.index("Getallen en hun queries")]  # the appendix quotes SQL with ISO dates
    assert re.search(r"drukste uur van de week\s*\(za 19:00\)", visible)
    assert not re.search(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b", visible)
    assert not re.search(r"\b(January|February|March|April|May|June|July|August|September|October|November|"
                         r"December)\b", visible)
    assert not re.search(r"\b\d{4}-\d{2}(-\d{2})?\b", visible)  # no ISO dates or months in the text ...
    # ... nor on the month axis of the availability and failure charts (SVG text)
    ticks = re.findall(r"<!-- ([^<>]*?) -->", html)
    assert "sep 2026" in html and not any(re.fullmatch(r"\d{4}-\d{2}", t.strip()) for t in ticks)
    assert not re.search(r">\s*2026-\d{2}\s*<", html)
    # numbers: decimal comma, thousands dot
    assert not re.search(r"\b\d+\.\d{1,2}\s*(%|dagen|uur|kWh)", visible)
