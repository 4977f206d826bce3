"""``laadplan kpi`` and ``laadplan quality`` through typer's CliRunner on a small store file."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest
from typer.testing import CliRunner

from laadplan.cli import app
from laadplan.store import Store

runner = CliRunner()


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "kpi.duckdb"
    with Store(path) as s:
        s.upsert("locations", pd.DataFrame([dict(country_code="NL", party_id="ABC", location_id=l, gm_code=g,
                                                 operator="Op " + g) for l, g in (("L1", "GM0599"), ("L2", "GM0518"))]))
        s.upsert("evses", pd.DataFrame([dict(country_code="NL", party_id="ABC", location_id=l, evse_uid=e,
                                             status="AVAILABLE") for l, e in (("L1", "E1"), ("L1", "E2"), ("L2", "F1"))]))
        # Tue 3 Mar 2026 (CET): E1 08:00-14:00 local (6 h), F1 18:00-20:00 local (2 h); Wed 1 Apr (CEST) E2 1 h
        s.upsert("sessions", pd.DataFrame([
            dict(session_id="a", country_code="NL", party_id="ABC", location_id="L1", evse_uid="E1",
                 start_utc=datetime(2026, 3, 3, 7), end_utc=datetime(2026, 3, 3, 13), energy_kwh=12.0, user_id="u"),
            dict(session_id="b", country_code="NL", party_id="ABC", location_id="L2", evse_uid="F1",
                 start_utc=datetime(2026, 3, 3, 17), end_utc=datetime(2026, 3, 3, 19), energy_kwh=8.0, user_id="v"),
            dict(session_id="c", country_code="NL", party_id="ABC", location_id="L1", evse_uid="E2",
                 start_utc=datetime(2026, 4, 1, 8), end_utc=datetime(2026, 4, 1, 9), energy_kwh=3.0, user_id="u")]))
        s.upsert("quarantine", pd.DataFrame([
            dict(kind="cdrs", rule_code=r, source_file="cdrs.ndjson", position=i, party_id=p, operator=o,
                 message="bad", raw='{"id": %d}' % i)
            for i, (r, p, o) in enumerate([("LINDA-START-END", "ABC", None), ("LINDA-START-END", "XYZ", "X"),
                                           ("LP-COORDS-NL", "ABC", None)], start=1)]))
        s.upsert("ingest_runs", pd.DataFrame([dict(run_id="r1", kind="cdrs", source_file="cdrs.ndjson",
                                                   started_utc=datetime(2026, 4, 2), records_read=6,
                                                   records_accepted=3, records_quarantined=3)]))
    return str(path)


def run(db, *args):
    res = runner.invoke(app, ["--db", db, *args], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    return res.output


def test_kpi_location_json_by_month(db):
    out = json.loads(run(db, "kpi", "--level", "location", "--period", "month", "--format", "json",
                         "--from", "2026-03-01", "--to", "2026-04-30"))
    rows = {(r["location_id"], r["period_start"]): r for r in out}
    assert len(rows) == 4
    mar = rows[("L1", "2026-03-01")]
    assert mar["period_end"] == "2026-03-31" and mar["n_evses"] == 2
    # March has 743 h (spring forward on the 29th): 6 h / (2 x 743)
    assert mar["hours"] == 743 and mar["occupancy_share"] == pytest.approx(6 / (2 * 743))
    assert mar["kwh_per_evse_day"] == pytest.approx(12 / (2 * 31))
    assert rows[("L1", "2026-04-01")]["sessions"] == 1 and rows[("L2", "2026-04-01")]["sessions"] == 0


def test_kpi_gemeente_filter_csv_and_evening(db):
    out = run(db, "kpi", "--level", "region", "--gm", "GM0518", "--format", "csv")
    df = pd.read_csv(pd.io.common.StringIO(out))
    assert len(df) == 1 and df.loc[0, "sessions"] == 1 and df.loc[0, "n_evses"] == 1
    assert df.loc[0, "evening_session_share"] == pytest.approx(1.0)  # starts 18:00 local
    # default range = local days of first and last session start: 3 Mar .. 1 Apr
    assert df.loc[0, "period_start"] == "2026-03-03" and df.loc[0, "period_end"] == "2026-04-01"


def test_kpi_table_and_errors(db):
    out = run(db, "kpi", "--level", "gemeente")
    assert "GM0599" in out and "GM0518" in out
    res = runner.invoke(app, ["--db", db, "kpi", "--from", "2026-13-01"])
    assert res.exit_code != 0
    res = runner.invoke(app, ["--db", db, "kpi", "--source", "status", "--level", "evse"])
    assert res.exit_code != 0


def test_kpi_hour_of_week(db):
    out = json.loads(run(db, "kpi", "--level", "region", "--hour-of-week", "--format", "json",
                         "--from", "2026-03-02", "--to", "2026-03-08"))
    assert len(out) == 168
    tue = {r["how_label"]: r for r in out}
    # Tue 08:00..13:00 local: E1 for the full hour, 1 of 3 EVSEs
    assert tue["Tue 08:00"]["occupancy_share"] == pytest.approx(1 / 3)
    assert tue["Tue 07:00"]["occupancy_share"] == 0


def test_kpi_status_source(db):
    with Store(db) as s:
        s.upsert("occupancy_observations", pd.DataFrame([
            dict(subject_level="location", subject_id="L1", observed_utc=datetime(2026, 6, 2, 17), evses_observed=2,
                 evses_occupied=1.0, occupancy_share=0.5)]))
    out = json.loads(run(db, "kpi", "--source", "status", "--level", "location", "--format", "json"))
    assert len(out) == 1 and out[0]["location_id"] == "L1" and out[0]["gm_code"] == "GM0599"
    assert out[0]["peak_how"] == "Tue 19:00" and out[0]["peak_how_occupancy_share"] == pytest.approx(0.5)


def test_quality(db):
    out = json.loads(run(db, "quality", "--format", "json"))
    rules = {r["rule_code"]: r["records"] for r in out["rules"]}
    assert rules == {"LINDA-START-END": 2, "LP-COORDS-NL": 1}
    ops = {r["party_id"]: r for r in out["operators"]}
    assert ops["ABC"]["quarantined"] == 2 and ops["ABC"]["sessions"] == 3 and ops["ABC"]["locations"] == 2
    assert ops["ABC"]["quarantined_share"] == pytest.approx(2 / 7)
    assert ops["XYZ"]["quarantined"] == 1 and ops["XYZ"]["operator"] == "X"
    assert out["runs"][0]["balanced"] is True
    assert len(out["quarantine"]) == 3
    listing = json.loads(run(db, "quality", "--section", "quarantine", "--rule", "LP-COORDS-NL", "--format", "json"))
    assert [r["position"] for r in listing["quarantine"]] == [3]
    limited = run(db, "quality", "--section", "quarantine", "--limit", "1", "--format", "csv")
    assert len(pd.read_csv(pd.io.common.StringIO(limited))) == 1
    assert runner.invoke(app, ["--db", db, "quality", "--format", "csv"]).exit_code != 0
    assert "LINDA-START-END" in run(db, "quality")
