"""The KPI demo step on a small hand-built store: files, charts and summary figures."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from laadplan.demo import kpi as demo_kpi
from laadplan.demo.run import DemoContext


def test_demo_kpi_step_writes_kpis_quality_and_charts(store, cfg, tmp_path):
    store.upsert("locations", pd.DataFrame([dict(country_code="NL", party_id="ABC", location_id=l, gm_code=g,
                                                 bu_code=b) for l, g, b in (("L1", "GM0599", "BU05990101"),
                                                                            ("L2", "GM0518", "BU05180101"))]))
    store.upsert("evses", pd.DataFrame([dict(country_code="NL", party_id="ABC", location_id=l, evse_uid=e,
                                             status="AVAILABLE") for l, e in (("L1", "E1"), ("L1", "E2"), ("L2", "F1"))]))
    # 2 sessions in January, 1 in February (CET); 4 h + 2 h + 3 h connected, 10 + 6 + 9 kWh
    s = [("E1", "L1", datetime(2026, 1, 5, 17), 4, 10.0), ("F1", "L2", datetime(2026, 1, 20, 8), 2, 6.0),
         ("E2", "L1", datetime(2026, 2, 10, 18), 3, 9.0)]
    store.upsert("sessions", pd.DataFrame([dict(session_id=f"s{i}", country_code="NL", party_id="ABC", location_id=l,
                                                evse_uid=e, start_utc=t, end_utc=t + pd.Timedelta(hours=h),
                                                energy_kwh=kwh, user_id=f"u{i}") for i, (e, l, t, h, kwh) in enumerate(s)]))
    store.upsert("status_observations", pd.DataFrame([
        dict(country_code="NL", party_id="ABC", location_id="L1", evse_uid="E1", observed_utc=datetime(2026, 2, 1, 0),
             status="AVAILABLE"),
        dict(country_code="NL", party_id="ABC", location_id="L1", evse_uid="E1", observed_utc=datetime(2026, 2, 1, 6),
             status="CHARGING")]))
    store.upsert("quarantine", pd.DataFrame([dict(kind="cdrs", rule_code="LINDA-START-END", source_file="x",
                                                  position=3, party_id="ABC", message="start >= end", raw="{}")]))
    store.upsert("ingest_runs", pd.DataFrame([dict(run_id="r", kind="cdrs", source_file="x", records_read=4,
                                                   records_accepted=3, records_quarantined=1)]))
    ctx = DemoContext(store=store, cfg=cfg, out_dir=tmp_path, inputs_dir=tmp_path / "inputs", log=lambda m: None)
    summary = demo_kpi.step(ctx)

    for level in ("evse", "location", "gemeente", "buurt", "region"):
        for name in ("month", "period"):
            assert (tmp_path / "kpi" / f"kpi_{level}_{name}.csv").is_file()
    month = pd.read_csv(tmp_path / "kpi" / "kpi_region_month.csv")
    assert list(month["period_start"]) == ["2026-01-05", "2026-02-01"]  # default range starts at the first session
    assert list(month["sessions"]) == [2, 1]
    assert list(month["energy_kwh"]) == pytest.approx([16.0, 9.0])
    evse = pd.read_csv(tmp_path / "kpi" / "kpi_evse_period.csv")
    assert len(evse) == 3 and evse["connected_h"].sum() == pytest.approx(9.0)
    for png in ("region_hour_of_week.png", "region_monthly.png"):
        assert (tmp_path / "kpi" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    prof = pd.read_csv(tmp_path / "kpi" / "hour_of_week_region.csv")
    assert prof["connected_h"].sum() == pytest.approx(9.0)
    rules = pd.read_csv(tmp_path / "quality" / "quarantine_by_rule.csv")
    assert list(rules["rule_code"]) == ["LINDA-START-END"] and list(rules["records"]) == [1]
    assert (tmp_path / "quality" / "ingest_runs.csv").is_file()
    assert (tmp_path / "quality" / "quarantine_by_operator.csv").is_file()
    st = pd.read_csv(tmp_path / "kpi" / "status_occupancy_gemeente.csv")
    assert list(st["gm_code"]) == ["GM0599"]
    assert summary["sessions"] == 3 and summary["evses"] == 3 and summary["quarantined"] == 1
    assert summary["energy_mwh"] == pytest.approx(0.025)
    assert summary["ingest_runs"] == 1 and summary["ingest_runs_unbalanced"] == 0
