"""End to end through the CLI: ingest grid, connections, candidates and requests files, make the plan,
decide requests; the written files agree with the store and with each other."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import shapely
from typer.testing import CliRunner

from laadplan import geo
from laadplan.cli import app
from laadplan.grid.capacity import ean18_check_digit
from laadplan.store import Store

X0, Y0 = 100_000.0, 450_000.0


def _wgs(dx, dy):
    lon, lat = geo.to_wgs84(np.asarray(dx) + X0, np.asarray(dy) + Y0)
    return np.round(lat, 7), np.round(lon, 7)


def test_cli_plan_and_requests(tmp_path):
    db = tmp_path / "s.duckdb"
    # existing locations straight into the store (the locations reader belongs to another family)
    lat, lon = _wgs([0, 2000], [0, 0])
    with Store(db) as s:
        s.upsert("locations", pd.DataFrame({"location_id": ["L0", "L1"], "country_code": "NL", "party_id": "ABC",
                                            "lat": lat, "lon": lon, "x_rd": [X0, X0 + 2000], "y_rd": [Y0, Y0],
                                            "gm_code": "GM0001", "n_evses": [2, 2]}))
    # capacity map: the west half (x < X0 + 1000) refuses (status 3)
    xs = np.array([-5000, 1000, 1000, -5000, -5000.0])
    ys = np.array([-5000, -5000, 5000, 5000, -5000.0])
    lo, la = geo.to_wgs84(xs + X0, ys + Y0)
    wkt = shapely.to_wkt(shapely.Polygon(np.column_stack([lo, la])))
    (tmp_path / "voedingsgebieden.csv").write_text(f'area_code;offtake_status;demand_available_mw;geometry_wkt\n'
                                                    f'WEST;3;1.0;{wkt}\n')
    ean = "8712345678901234" + "0"
    ean = ean + str(ean18_check_digit(ean))
    clat, clon = _wgs([600], [0])
    (tmp_path / "connections.csv").write_text(f"ean18,lat,lon,contracted_kw,peak_kw,feeds_charge_points\n"
                                              f"{ean},{clat[0]},{clon[0]},40,15,true\n")
    slat, slon = _wgs([500, -800, 3000], [0, 0, 0])
    pd.DataFrame({"site_id": ["P1", "P2", "P3"], "lat": slat, "lon": slon, "kind": "parking_bay",
                  "max_evses": 2}).to_csv(tmp_path / "candidates.csv", index=False)
    rlat, rlon = _wgs([500, -800, 100, 3000], [0, 0, 0, 0])
    pd.DataFrame({"request_id": ["R1", "R2", "R3", "R4"], "requested_date": "2026-02-01", "lat": rlat, "lon": rlon,
                  "woont_in_gemeente": "ja", "rijdt_elektrisch": "ja", "eigen_parkeerplaats": "nee",
                  "gm_code": "GM0001"}).to_csv(tmp_path / "requests.csv", index=False)
    r = CliRunner()
    for kind, f in (("grid", "voedingsgebieden.csv"), ("connections", "connections.csv"),
                    ("candidates", "candidates.csv"), ("requests", "requests.csv")):
        res = r.invoke(app, ["--db", str(db), "ingest", kind, str(tmp_path / f)])
        assert res.exit_code == 0, res.output
    out = tmp_path / "plan"
    res = r.invoke(app, ["--db", str(db), "--json", "plan", "--years", "2026-2027", "--out", str(out)])
    assert res.exit_code == 0, res.output
    st = json.loads(res.output)
    assert st["with_congestion_rule"]["evses"] <= st["without_congestion_rule"]["evses"]
    plan = pd.read_csv(out / "plan_sites.csv", dtype={"ean18": str})
    # R1 (near P1, west, connection 100 m away with (40-15)*0.9 = 22.5 kW -> 2 EVSEs), R2 (near P2, west,
    # no connection: blocked), R4 (near P3, east: new connection); R3 is 100 m from L0, whose occupancy is
    # unknown (no status or sessions loaded) -> n/a, not decided
    west = plan[plan["x_rd"] < X0 + 1000]
    assert len(west) and (west["grid_route"] == "existing_connection").all() and (west["ean18"] == ean).all()
    assert west["power_kw"].sum() <= (40 - 15) * 0.9
    # nothing in the west farther than the 150 m cable distance from the connection (R2's spot is blocked)
    assert (np.hypot(west["x_rd"] - (X0 + 600), west["y_rd"] - Y0) <= 150 + 1e-6).all()
    assert (plan["x_rd"] < X0 - 500).sum() == 0
    assert plan["reasons"].str.len().min() > 0
    no = pd.read_csv(out / "plan_sites_without_congestion_rule.csv")
    assert (no["grid_route"] == "new_connection").all()
    assert (no["x_rd"] < X0 - 500).sum() >= 1  # without the rule R2 is served in the west
    gj = json.loads((out / "plan_sites.geojson").read_text())
    assert len(gj["features"]) == len(plan)
    assert pd.read_parquet(out / "plan_sites.parquet")["evses"].sum() == plan["evses"].sum()
    cmp = pd.read_csv(out / "comparison_congestion.csv")
    assert cmp["blocked_sites"].sum() >= 1
    assert (out / "plan_map.png").stat().st_size > 10_000
    with Store(db) as s:
        sp = s.frame("plan_sites")
        assert sp["congestion_rule"].all() and len(sp) == len(plan)  # only the main plan is stored
        assert sp["evses"].sum() == plan["evses"].sum()
    # placement.method in the config is the default of --method; --method still wins
    conf = tmp_path / "greedy.toml"
    conf.write_text('[placement]\nmethod = "greedy"\n')
    res = r.invoke(app, ["--db", str(db), "--config", str(conf), "--json", "plan", "--years", "2026-2027", "--out",
                         str(tmp_path / "plan_g")])
    assert res.exit_code == 0, res.output
    g = json.loads(res.output)["with_congestion_rule"]
    assert (g["status"], g["bound"]) == ("heuristic", None)  # the greedy plan alone: no bound, no proof
    assert (st["with_congestion_rule"]["status"], st["with_congestion_rule"]["gap"]) == ("Optimal", 0.0)  # the MIP
    res = r.invoke(app, ["--db", str(db), "--config", str(conf), "--json", "plan", "--years", "2026-2027", "--out",
                         str(tmp_path / "plan_m"), "--method", "mip"])
    assert json.loads(res.output)["with_congestion_rule"]["status"] == "Optimal"
    res = r.invoke(app, ["--db", str(db), "requests", "--format", "csv"])
    assert res.exit_code == 0, res.output
    from io import StringIO
    assert "no occupancy data" in res.stderr
    d = pd.read_csv(StringIO(res.stdout)).set_index("request_id")
    assert d.loc["R3", "decision_rule"] == "REQ-NO-OCCUPANCY-DATA" and pd.isna(d.loc["R3", "decision"])
    assert d.loc["R1", "decision_rule"] == "REQ-NO-POINT" and d.loc["R4", "decision"] == "granted"
    with Store(db) as s:
        assert pd.isna(s.frame("requests").set_index("request_id").loc["R3", "decision"])
