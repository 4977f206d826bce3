"""The forecast demo step and the forecast/load commands on a store filled from the synthetic demo region
(written straight into the store here, so the test does not depend on the other readers)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from laadplan.config import RegionConfig
from laadplan.store import Store


def _fill(store: Store, seed: int = 7, scale: float = 0.1) -> None:
    from laadplan.demo.base import generate_demo

    d = generate_demo(seed, scale=scale)
    g, b = d.gemeenten, d.buurten
    store.upsert("areas", pd.DataFrame({
        "area_code": g["gm_code"], "level": "gemeente", "name": g["name"], "gm_code": g["gm_code"],
        "province": g["province"], "cars": g["cars"], "households": g["households"],
        "cars_per_household": g["cars_per_household"], "income_per_inhabitant_keur": g["income_per_inhabitant_keur"],
        "urbanity": g["urbanity"]}))
    store.upsert("areas", pd.DataFrame({
        "area_code": b["bu_code"], "level": "buurt", "name": b["name"], "gm_code": b["gm_code"],
        "province": b["province"], "cars": b["cars"], "households": b["households"],
        "cars_per_household": b["cars_per_household"], "income_per_inhabitant_keur": b["income_per_inhabitant_keur"],
        "urbanity": b["urbanity"]}))
    loc = d.locations
    store.upsert("locations", loc[["country_code", "party_id", "location_id", "postal_code", "gm_code", "bu_code",
                                   "n_evses"]])
    ev = d.evses
    store.upsert("evses", ev[["country_code", "party_id", "location_id", "evse_uid"]].assign(
        max_power_kw=ev["power_kw"], status="AVAILABLE"))
    s = d.sessions
    e = ev.iloc[s["evse"].to_numpy()].reset_index(drop=True)
    store.upsert("sessions", pd.DataFrame({
        "session_id": s["cdr_id"], "country_code": e["country_code"], "party_id": e["party_id"],
        "location_id": e["location_id"], "evse_uid": e["evse_uid"],
        "start_utc": pd.to_datetime(s["start_s"], unit="s"), "end_utc": pd.to_datetime(s["end_s"], unit="s"),
        "energy_kwh": s["energy_kwh"], "charging_h": s["charging_h"],
        "max_power_kw": np.minimum(s["car_kw"], e["power_kw"])}))


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("fc") / "demo.duckdb"
    with Store(path) as s:
        _fill(s)
    return path


def test_demo_step_writes_need_before_placement(demo_store, tmp_path):
    import shutil

    from laadplan.demo.forecast import step
    from laadplan.demo.run import DemoContext

    db = tmp_path / "d.duckdb"
    shutil.copy(demo_store, db)
    cfg = RegionConfig()
    with Store(db) as store:
        ctx = DemoContext(store=store, cfg=cfg, out_dir=tmp_path, inputs_dir=tmp_path / "inputs", seed=1,
                          log=lambda s: None)
        ctx.inputs_dir.mkdir()
        summary = step(ctx)
        # the two planted bad vehicle rows are quarantined, the rest accepted
        assert summary["vehicles_ingest"]["quarantined"] == 2
        assert summary["vehicles_ingest"]["accepted"] == 63 * 7
        rules = set(store.frame("quarantine", "kind = 'vehicles'")["rule_code"])
        assert rules == {"LP-VEHICLES-CODE", "LP-VEHICLES-COUNT"}
        need = store.frame("forecast_need")
        assert set(need["area_level"]) == {"gemeente", "buurt"}
        assert set(need["scenario"]) == {"low", "middle", "high"}
        assert set(need["year"]) == set(cfg.forecast.years)
        # existing EVSEs per gemeente equal an independent count from the evses table
        ev = store.query("SELECT l.gm_code, count(*) AS n FROM evses e JOIN locations l "
                         "USING (country_code, party_id, location_id) GROUP BY 1")
        got = need[(need["area_level"] == "gemeente") & (need["year"] == 2030) & (need["scenario"] == "middle")]
        m = got.merge(ev, left_on="area_code", right_on="gm_code", how="left").fillna({"n": 0})
        assert (m["evses_existing"] == m["n"]).all()
        assert (m["evses_gap"] == (m["evses_needed"] - m["n"]).clip(lower=0)).all()
        # buurt EVs per gemeente sum to the gemeente's share of the forecast: both spread the same
        # national share over the same cars (buurt cars sum to gemeente cars in the demo) in 2025
        bu = need[(need["area_level"] == "buurt") & (need["year"] == 2025) & (need["scenario"] == "middle")]
        areas = store.frame("areas", "level = 'buurt'", columns=["area_code", "cars"])
        assert bu["ev_count"].sum() == pytest.approx(areas["cars"].sum() * 1621141 / 9247810, rel=1e-9)
    for f in ["forecast/stock_paths.png", "forecast/need_vs_existing_gemeente.png", "forecast/forecast_need_buurt.csv",
              "forecast/backtest_national.csv", "load/load_profile_region.png", "load/load_summary_gemeente.csv",
              "load/smart_summary.csv"]:
        assert (tmp_path / f).stat().st_size > 0, f
    smart = pd.read_csv(tmp_path / "load" / "smart_summary.csv").set_index("strategy")
    assert smart.loc["shift", "peak_smart_kw"] <= smart.loc["shift", "peak_uncontrolled_kw"] + 1e-6
    assert smart.loc["shift", "energy_not_delivered_kwh"] == pytest.approx(0, abs=1e-6)
    # region load: energy under the profile equals the session energy read independently
    prof = pd.read_csv(tmp_path / "load" / "load_profile_region.csv")
    total = Store(db, read_only=True).query("SELECT sum(energy_kwh) AS e FROM sessions WHERE energy_kwh > 0 "
                                            "AND end_utc > start_utc")["e"].iloc[0]
    assert prof["energy_kwh"].sum() == pytest.approx(total, rel=1e-9)


def test_cli_forecast_and_load(demo_store, tmp_path):
    import shutil

    from typer.testing import CliRunner

    from laadplan.cli import app

    db = tmp_path / "c.duckdb"
    shutil.copy(demo_store, db)
    runner = CliRunner()
    r = runner.invoke(app, ["--db", str(db), "--json", "forecast", "--level", "buurt", "--scenario", "middle",
                            "--out", str(tmp_path / "f")])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["level"] == "buurt" and out["fleet_source"] == "areas.cars"
    assert (tmp_path / "f" / "need_vs_existing_buurt.png").exists()
    with Store(db, read_only=True) as s:
        assert set(s.frame("forecast_need")["scenario"]) == {"middle"}
    gm = Store(db, read_only=True).query("SELECT l.gm_code, count(*) n FROM sessions s JOIN locations l "
                                         "USING (country_code, party_id, location_id) GROUP BY 1 ORDER BY 2 "
                                         "DESC LIMIT 1")["gm_code"].iloc[0]
    r = runner.invoke(app, ["--db", str(db), "--json", "load", "--level", "buurt", "--gm", gm, "--smart", "cap",
                            "--from", "2026-03-01", "--to", "2026-03-07", "--out", str(tmp_path / "l")])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["smart"]["window_peak_smart_kw"] <= res["smart"]["window_peak_uncontrolled_kw"] + 1e-9
    assert (tmp_path / "l" / "smart_cap.png").exists()
    # the table output (no --json) and the connection limit
    r = runner.invoke(app, ["--db", str(db), "load", "--level", "location", "--gm", gm, "--smart", "limit",
                            "--limit-kw", "11", "--from", "2026-03-01", "--to", "2026-03-03",
                            "--out", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    assert "smart charging: limit" in r.output and "energy_not_delivered_kwh" in r.output
    summ = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert summ["smart"]["limit_kw"] == 11.0 and summ["smart"]["connections"] >= 1
    sessions = pd.read_csv(tmp_path / "m" / "smart_limit_sessions.csv")
    assert sessions["delivered_kwh"].sum() + summ["smart"]["energy_not_delivered_kwh"] == pytest.approx(
        sessions["energy_kwh"].sum(), rel=1e-9)
    # GAC-like events from a file: one location limited to 3 kW on one evening
    loc = pd.read_csv(tmp_path / "m" / "load_summary_location.csv").sort_values("peak_kw").iloc[-1]
    label = f"{loc['country_code']}*{loc['party_id']}*{loc['location_id']}"
    ev_file = tmp_path / "gac.csv"
    ev_file.write_text("connection,start_utc,end_utc,limit_kw\n"
                       f"{label},2026-03-01 16:00,2026-03-01 20:00,3\n", encoding="utf-8")
    r = runner.invoke(app, ["--db", str(db), "--json", "load", "--level", "region", "--gm", gm, "--smart", "limit",
                            "--limits", str(ev_file), "--from", "2026-03-01", "--to", "2026-03-03",
                            "--out", str(tmp_path / "g")])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)["smart"]
    prof = pd.read_csv(tmp_path / "g" / "smart_limit_profile.csv", parse_dates=["slot_utc"])
    assert res["limit_kw"] is None
    # outside the event nothing is limited; the sessions of other locations are never affected
    assert res["sessions_affected"] <= int(loc["sessions"])
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    r = runner.invoke(app, ["--db", str(db), "load", "--smart", "limit", "--limits", str(bad), "--gm", gm,
                            "--out", str(tmp_path / "g2")])
    assert r.exit_code == 1 and "missing columns" in r.output
    # a gemeente without vehicle counts at pc4 level: a clear error, not a traceback
    r = runner.invoke(app, ["--db", str(db), "forecast", "--level", "pc4", "--out", str(tmp_path / "p")])
    assert r.exit_code == 1 and "no vehicle counts for level 'pc4'" in r.output
