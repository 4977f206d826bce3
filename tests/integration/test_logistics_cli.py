"""``laadplan corridors | hubs | parks | sites`` and the demo step, end to end on synthetic inputs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from laadplan.cli import app
from laadplan.config import RegionConfig
from laadplan.demo import logistics as dl
from laadplan.demo.run import DemoContext
from laadplan.store import Store

runner = CliRunner()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("logistics-in")
    return dl.generate(d, np.random.default_rng(7), None)


def run(db: Path, *args: str):
    res = runner.invoke(app, ["--db", str(db), *args])
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res


def test_corridors_and_hubs_commands(tmp_path, inputs):
    db, out = tmp_path / "l.duckdb", tmp_path / "out"
    run(db, "corridors", "--freight", str(inputs["freight"]), "--out", str(out))
    assert (out / "corridors.png").stat().st_size > 10_000
    cov = pd.read_csv(out / "afir_coverage.csv")
    with Store(db) as s:
        stored = s.frame("afir_coverage")
    assert len(stored) == len(cov) > 0
    # every corridor is checked in both directions for each applicable heavy milestone
    assert set(cov["direction"]) == {"forward", "backward"}
    assert {"A4", "A12", "A13", "A15", "A16", "A20", "A29", "A58"} <= set(cov["corridor_id"])
    # gaps in the CSV agree with the coverage counts
    gaps = pd.read_csv(out / "afir_gaps.csv")
    n = gaps.groupby(["corridor_id", "vehicle", "milestone_year", "direction"]).size()
    c = cov.set_index(["corridor_id", "vehicle", "milestone_year", "direction"])["gaps_over_spacing"]
    assert (c[c > 0].sort_index() == n.sort_index()).all()

    res = run(db, "--json", "hubs", "--freight", str(inputs["freight"]), "--parkings", str(inputs["parkings"]),
              "--out", str(out), "--year", "2026")
    doc = json.loads(res.stdout)
    assert any(f.endswith("hubs.png") for f in doc["files"])
    sugg = pd.read_csv(out / "hub_suggestions.csv")
    assert len(sugg) > 0 and set(sugg["milestone_year"]) == {2027}
    with Store(db) as s:
        assert s.count("hub_suggestions") == len(sugg)
    tpc = pd.read_csv(out / "truck_parking_stations.csv")
    n_truck = sum(f["properties"]["is_truck_parking"] for f in json.loads(inputs["parkings"].read_text())["features"])
    assert len(tpc) == 2 * n_truck and set(tpc["required"]) == {2, 4}


def test_corridors_with_a_user_road_file(tmp_path, inputs):
    roads = tmp_path / "roads.geojson"
    roads.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"ref": "N57", "network": "comprehensive"},
         "geometry": {"type": "LineString", "coordinates": [[3.60, 51.50], [3.70, 51.60], [3.80, 51.70]]}}]}))
    out = tmp_path / "o"
    run(tmp_path / "l.duckdb", "corridors", "--roads", str(roads), "--out", str(out))
    cov = pd.read_csv(out / "afir_coverage.csv")
    # light-duty has comprehensive-network rules too (AFIR Art. 3(3): 2027 on 50 %, 2030, 2035)
    assert set(cov["corridor_id"]) == {"N57"} and set(cov["vehicle"]) == {"heavy", "light"}
    assert sorted(set(cov.loc[cov["vehicle"] == "light", "milestone_year"])) == [2027, 2030, 2035]


def test_bad_freight_file_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["--db", str(tmp_path / "l.duckdb"), "corridors", "--freight",
                              str(tmp_path / "missing.geojson"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "missing.geojson" in res.output and "not found" in res.output


def test_parks_and_sites_commands(tmp_path, inputs):
    db, out = tmp_path / "l.duckdb", tmp_path / "out"
    run(db, "parks", str(inputs["parks"]), "--out", str(out))
    assert (out / "parks.png").exists()
    prio = pd.read_csv(out / "park_priority.csv")
    assert list(prio["priority"]) == list(range(1, len(prio) + 1))
    with Store(db) as s:
        q = s.frame("quarantine", where="kind = 'parks'")
        hubs = s.frame("park_hubs")
    assert list(q["rule_code"]) == ["LP-MISSING"]  # the demo's record without park_id
    assert len(hubs) == len(prio) * len(RegionConfig().logistics.park_years)
    assert hubs["chargers_json"].map(lambda t: sum(json.loads(t).values())).gt(0).any()

    run(db, "sites", str(inputs["sites"]), "--parks", str(inputs["parks"]), "--freight", str(inputs["freight"]),
        "--as-of", "2026-09-01", "--out", str(out))
    opts = pd.read_csv(out / "site_options.csv")
    assert (opts.groupby("site_id")["recommended"].sum() <= 1).all()
    assert set(opts["option"]) == {"grid", "battery", "hub"}
    weekly = pd.read_csv(out / "site_weekly.csv")
    # total energy per site from the machine rows, recomputed day by day
    rows = pd.read_csv(inputs["sites"]).dropna(subset=["site_id"])
    rows = rows[pd.to_datetime(rows["end_date"]) >= pd.to_datetime(rows["start_date"])]
    for sid, g in rows.groupby("site_id"):
        total = 0.0
        for r in g.itertuples():
            days = pd.date_range(r.start_date, r.end_date)
            total += r.count * r.kwh_per_day * int((days.day_of_week < 5).sum())
        assert weekly.loc[weekly["site_id"] == sid, "energy_kwh"].sum() == pytest.approx(total)
    res = runner.invoke(app, ["--db", str(db), "sites", str(inputs["sites"]), "--as-of", "01-09-2026"])
    assert res.exit_code == 1 and "--as-of" in res.output


def test_demo_step_is_fast_and_complete(tmp_path):
    with Store(":memory:") as s:
        ctx = DemoContext(store=s, cfg=RegionConfig(), out_dir=tmp_path / "demo", inputs_dir=tmp_path / "demo" / "in",
                          seed=11)
        t0 = time.process_time()  # CPU time: robust to other processes loading the machine
        summary = dl.step(ctx)
        assert time.process_time() - t0 < 10
        assert summary["corridors"] >= 8 and summary["quarantined"] == 2
        assert summary["sites"] == s.query("SELECT count(DISTINCT site_id) AS n FROM site_options")["n"].iloc[0]
        assert s.count("afir_coverage") > 0 and s.count("park_hubs") > 0
    files = {p.name for p in (tmp_path / "demo" / "logistics").iterdir()}
    assert {"corridors.png", "hubs.png", "parks.png", "sites.png", "afir_coverage.csv", "hub_suggestions.csv",
            "park_priority.csv", "site_options.csv"} <= files
    # deterministic: the same seed gives the same inputs
    a = (tmp_path / "demo" / "in" / "logistics" / "construction_sites.csv").read_text()
    again = dl.generate(tmp_path / "again", np.random.default_rng(11 + 5), None)
    assert again["sites"].read_text() == a
