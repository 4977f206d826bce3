"""Issue 10.4 and 10.6 on a small hand-built store: bad arguments get a clear error (never made-up figures),
and missing data is n/a (null in JSON), never 0."""

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
    path = tmp_path / "args.duckdb"
    with Store(path) as s:
        s.upsert("areas", pd.DataFrame([dict(area_code=g, level="gemeente", name=n)
                                        for g, n in (("GM0599", "Rotterdam"), ("GM0518", "'s-Gravenhage"))]))
        s.upsert("locations", pd.DataFrame([dict(country_code="NL", party_id="ABC", location_id=l, gm_code=g,
                                                 operator="Op", lat=51.9, lon=4.4)
                                            for l, g in (("L1", "GM0599"), ("L2", "GM0518"))]))
        s.upsert("evses", pd.DataFrame([dict(country_code="NL", party_id="ABC", location_id=l, evse_uid=e,
                                             status="AVAILABLE") for l, e in (("L1", "E1"), ("L1", "E2"),
                                                                              ("L2", "F1"))]))
        # two sessions with no charge point (as the ElaadNL 2018 CSV): Tue 3 Mar 2026 08:00-14:00 and 18-20 local
        s.upsert("sessions", pd.DataFrame([
            dict(session_id=i, country_code=None, party_id=None, location_id=None, evse_uid=None, start_utc=a,
                 end_utc=b, energy_kwh=e, max_power_kw=11.0)
            for i, a, b, e in (("a", datetime(2026, 3, 3, 7), datetime(2026, 3, 3, 13), 12.0),
                               ("b", datetime(2026, 3, 3, 17), datetime(2026, 3, 3, 19), 8.0))]))
        s.upsert("occupancy_observations", pd.DataFrame([
            dict(subject_level="gemeente", subject_id="GM0599", gm_code="GM0599", observed_utc=t, evses_observed=4,
                 evses_occupied=o, occupancy_share=o / 4)
            for t, o in ((datetime(2026, 6, 2, 17), 1.0), (datetime(2026, 6, 2, 18), 3.0))]))
    return str(path)


def invoke(db, *args):
    return runner.invoke(app, ["--db", db, *args], env={"COLUMNS": "250"})


@pytest.mark.parametrize("args, message", [
    (["load", "--smart", "cap", "--cap-kw", "-3"], "--cap-kw must be a positive power in kW, not -3"),
    (["load", "--smart", "limit", "--limit-kw", "0"], "--limit-kw must be a positive power in kW, not 0"),
    (["load", "--cap-kw", "5"], "--cap-kw needs --smart cap"),
    (["forecast", "--year", "2040"], "year 2040 is outside the forecast years 2025-2035"),
    (["plan", "--years", "2040-2045"], "plan years must lie within the forecast years 2025-2035"),
    (["alerts", "--month", "2999-01"], "period 2999-01 lies in the future"),
    (["contract", "--month", "2999-01"], "period 2999-01 lies in the future"),
    (["contract", "--month", "2026-03", "--municipality", "GM9999"], "GM9999: not a gemeente in the store"),
    (["kpi", "--level", "buurt"], "no location has a buurt code"),
])
def test_bad_arguments_are_refused(db, args, message):
    res = invoke(db, *args)
    assert res.exit_code == 1, res.output
    assert message in res.output.replace("\n", " ")
    assert "Traceback" not in res.output


def test_known_municipality_is_accepted(db):
    res = invoke(db, "contract", "--month", "2026-03", "--municipality", "GM0518")
    assert res.exit_code == 0, res.output


def test_kpi_status_works_with_its_default_level(db):
    res = invoke(db, "kpi", "--source", "status", "--format", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    # gemeente level by default: GM0599's two snapshots, 1 and 3 of 4 occupied -> mean 0.5
    assert [r["gm_code"] for r in rows] == ["GM0599"]
    assert rows[0]["mean_occupancy_share"] == pytest.approx((1 / 4 + 3 / 4) / 2)


def test_sessions_without_charge_point_give_na_not_zero(db):
    res = invoke(db, "kpi", "--format", "json")
    assert res.exit_code == 0, res.output
    (r,) = json.loads(res.stdout)
    # the sessions count, but no EVSE has one: occupancy and per-EVSE figures are unknown, not 0
    assert r["sessions"] == 2 and r["sessions_unmatched"] == 2 and r["n_evses"] == 3
    for c in ("occupancy_share", "peak_how_occupancy_share", "kwh_per_evse_day", "sessions_per_evse_day",
              "peak_how"):
        assert r[c] is None, c
    assert r["kwh_per_session"] == pytest.approx(10.0)  # (12 + 8) / 2: known without a charge point
    assert "none of the 2 sessions in the store is linked to a charge point" in res.stderr.replace("\n", " ")
    prof = json.loads(invoke(db, "kpi", "--hour-of-week", "--format", "json").stdout)
    assert prof and all(p["occupancy_share"] is None for p in prof)
    # the gemeente rows likewise, and the table prints n/a
    table = invoke(db, "kpi", "--level", "gemeente").stdout
    assert "n/a" in table and "0.000" not in table.split("GM0599")[1].split("\n")[0]


def test_placement_usage_trigger_falls_back_to_status_when_sessions_are_unlinked(db, cfg):
    """Sessions without a charge point give n/a occupancy: the plan's usage trigger uses status data then."""
    from laadplan.placement.store_io import usage_kpi_frame

    with Store(db) as s:
        s.upsert("occupancy_observations", pd.DataFrame([
            dict(subject_level="location", subject_id="L1", gm_code="GM0599", observed_utc=datetime(2026, 6, 2, 17),
                 evses_observed=2, evses_occupied=2.0, occupancy_share=1.0)]))
        k, source = usage_kpi_frame(s, cfg)
    assert source == "status"
    assert k.set_index("location_id").loc["L1", "mean_occupancy_share"] == pytest.approx(1.0)
