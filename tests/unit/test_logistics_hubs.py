"""Hub suggestions per corridor gap, grid status lookup and the truck parking reader."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import shapely

from laadplan.geo import to_wgs84
from laadplan.logistics import corridors as co
from laadplan.logistics import hubs as hb
from laadplan.logistics.settings import AfirMilestone, LogisticsConfig

from test_logistics_corridors import X0, Y0, pools, straight


def cands(*specs) -> pd.DataFrame:
    """specs: (id, km along, kind, truck_friendly)."""
    rows = []
    for cid, km, kind, truck in specs:
        x, y = X0 + km * 1000, Y0 + 300.0
        lon, lat = to_wgs84([x], [y])
        rows.append({"candidate_id": cid, "name": cid, "kind": kind, "lon": float(lon[0]), "lat": float(lat[0]),
                     "x_rd": x, "y_rd": y, "existing_kw": 0.0, "stations_kw": [], "truck_friendly": truck})
    return pd.DataFrame(rows, columns=hb.CANDIDATE_COLUMNS)


def square_wkb(x0, y0, x1, y1) -> bytes:
    lon, lat = to_wgs84(np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1]))
    return shapely.to_wkb(shapely.Polygon(list(zip(lon, lat))))


def cfg() -> LogisticsConfig:
    m = AfirMilestone(year=2030, spacing_km=60, min_pool_kw=3600, min_station_kw=350, min_stations=2,
                      network="both")
    return LogisticsConfig(heavy=[m], light=[], end_rule="pool", hub_grid_penalty_km=10, hub_non_truck_penalty_km=5)


def test_ranking_by_ideal_position_grid_and_kind():
    c = cfg()
    corr = straight(200)
    res = co.afir_check(corr, pools(), c, vehicles=("heavy",))
    # gap 0..200 with spacing 60 needs ceil(200/60) - 1 = 3 new pools, ideally at 50, 100, 150 km
    grid = pd.DataFrame({"area_code": ["red", "unknown"], "offtake_status": [3, -1],
                         "geometry_wkb": [square_wkb(X0 + 99_000, Y0 - 1000, X0 + 101_000, Y0 + 1000),
                                          square_wkb(X0 + 47_000, Y0 - 1000, X0 + 49_000, Y0 + 1000)]})
    cs = cands(("T48", 48.0, "truck_parking", True), ("S100", 100.0, "service_area", True),
               ("R120", 120.0, "rest_area", False))
    s = hb.suggest_hubs(res, corr, cs, c, year=2026, grid_areas=grid)
    assert set(s["directions"]) == {"forward+backward"} and (s["new_pools_needed"] == 3).all()
    s = s.set_index("candidate_id")
    # scores: T48 |48-50| = 2; S100 0 + 10 x 3 = 30; R120 |120-100|... nearest ideal 100 or 150 -> 20, +5 = 25
    assert s.loc["T48", "score_km"] == pytest.approx(2.0, abs=1e-6)
    assert s.loc["S100", "score_km"] == pytest.approx(30.0, abs=1e-6)
    assert s.loc["R120", "score_km"] == pytest.approx(25.0, abs=1e-6)
    assert list(s.sort_values("rank").index) == ["T48", "R120", "S100"]
    assert pd.isna(s.loc["T48", "grid_status"]) and s.loc["S100", "grid_status"] == 3  # -1 means unknown
    assert (s["needed_kw"] == 3600).all() and (s["needed_stations"] == 2).all()
    assert not s["closes_gap"].any()  # one pool cannot close a 200 km gap at 60 km spacing


def test_closes_gap_and_upgrade_candidate():
    c = cfg()
    corr = straight(100)
    small = pools(("OLD", 30.0, 200.0, 1200.0, [400.0, 300.0], "both"))
    res = co.afir_check(corr, small, c, vehicles=("heavy",))
    cs = pd.concat([cands(("MID", 50.0, "truck_parking", True)), hb.pool_candidates(small)], ignore_index=True)
    s = hb.suggest_hubs(res, corr, cs, c, year=2030).set_index("candidate_id")
    assert s.loc["MID", "closes_gap"]  # 50 <= 60 and 100 - 50 <= 60
    assert not s.loc["OLD", "closes_gap"]  # 100 - 30 = 70 > 60
    assert s.loc["OLD", "kind"] == "existing_pool"
    assert s.loc["OLD", "needed_kw"] == 3600 - 1200 and s.loc["OLD", "needed_stations"] == 1
    assert s.loc["MID", "rank"] == 1


def test_no_gap_no_suggestion_and_no_later_milestone():
    c = cfg()
    corr = straight(100)
    ok = pools(("A", 40.0, 0, 4000.0, [350.0, 350.0], "both"), ("B", 80.0, 0, 4000.0, [350.0, 350.0], "both"))
    res = co.afir_check(corr, ok, c, vehicles=("heavy",))
    assert len(hb.suggest_hubs(res, corr, cands(("X", 50.0, "truck_parking", True)), c, year=2026)) == 0
    res2 = co.afir_check(corr, pools(), c, vehicles=("heavy",))
    assert len(hb.suggest_hubs(res2, corr, cands(("X", 50.0, "truck_parking", True)), c, year=2031)) == 0


def test_gap_without_candidates_is_still_listed():
    c = cfg()
    corr = straight(100)
    res = co.afir_check(corr, pools(), c, vehicles=("heavy",))
    s = hb.suggest_hubs(res, corr, cands(), c, year=2026)
    assert len(s) == 1 and s["rank"].iloc[0] == 0 and s["needed_kw"].iloc[0] == 3600


def test_read_truck_parkings_polygons_and_kinds(tmp_path):
    poly = [[4.50, 51.90], [4.51, 51.90], [4.51, 51.91], [4.50, 51.91], [4.50, 51.90]]
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [poly]},
         "properties": {"id": "p1", "name": "Unnamed", "road": "A15", "is_truck_parking": True}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [4.6, 51.8]},
         "properties": {"id": "p2", "name": "Rest", "is_rest_area": True, "hgv": "designated"}},
        {"type": "Feature", "geometry": None, "properties": {"id": "p3"}},
    ]}
    p = tmp_path / "tp.geojson"
    p.write_text(json.dumps(doc))
    df = hb.read_truck_parkings(p).set_index("candidate_id")
    assert list(df.index) == ["p1", "p2"]
    assert shapely.Polygon(poly).contains(shapely.Point(df.loc["p1", "lon"], df.loc["p1", "lat"]))
    assert df.loc["p1", "kind"] == "truck_parking" and df.loc["p1", "name"] == "A15"
    assert df.loc["p2", "kind"] == "rest_area" and df.loc["p2", "truck_friendly"]
    assert [q["record_id"] for q in df.attrs["problems"]] == ["p3"]


def test_grid_status_worst_on_overlap_and_absent_table():
    a = square_wkb(X0, Y0, X0 + 2000, Y0 + 2000)
    b = square_wkb(X0 + 1000, Y0, X0 + 3000, Y0 + 2000)
    grid = pd.DataFrame({"area_code": ["a", "b"], "offtake_status": [1, 2], "geometry_wkb": [a, b]})
    lon, lat = to_wgs84(np.array([X0 + 500, X0 + 1500, X0 + 2500, X0 + 9000]), np.array([Y0 + 500] * 4))
    st = hb.grid_status(lon, lat, grid)
    assert st.iloc[0] == 1 and st.iloc[1] == 2 and st.iloc[2] == 2 and pd.isna(st.iloc[3])
    assert hb.grid_status(lon, lat, None).isna().all()


def test_truck_parking_station_check():
    c = LogisticsConfig(safe_parking_stations={"2027": 2, "2030": 4}, safe_parking_min_station_kw=100,
                        safe_parking_radius_m=300)
    tp = cands(("P1", 10.0, "truck_parking", True), ("P2", 50.0, "truck_parking", True),
               ("S", 80.0, "service_area", True))
    # candidates sit 300 m north of the line; pools at offset 300 + 200 (P1) and 300 - 100 = 400 m away (P2)
    p = pools(("near", 10.0, 500.0, 550.0, [350.0, 150.0, 50.0], "both"),
              ("far", 50.4, 300.0, 700.0, [350.0, 350.0], "both"),
              ("cars", 50.0, 250.0, 700.0, [350.0, 350.0], "light"))
    out = hb.truck_parking_check(tp, p, c).set_index(["candidate_id", "milestone_year"])
    assert set(out.index.get_level_values(0)) == {"P1", "P2"}  # service areas are not checked
    assert out.loc[("P1", 2027), "stations"] == 2 and out.loc[("P1", 2027), "compliant"]
    assert out.loc[("P1", 2030), "missing"] == 2 and not out.loc[("P1", 2030), "compliant"]
    assert out.loc[("P2", 2027), "stations"] == 0 and out.loc[("P2", 2027), "missing"] == 2


def test_business_parks_are_candidates():
    c = cfg()
    corr = straight(100)
    res = co.afir_check(corr, pools(), c, vehicles=("heavy",))
    x, y = X0 + 50_000, Y0 + 800.0
    lon, lat = to_wgs84([x], [y])
    parks = pd.DataFrame({"park_id": ["BT1"], "name": ["Park"], "lon": lon, "lat": lat, "x_rd": [x], "y_rd": [y]})
    cs = pd.concat([cands(("T30", 30.0, "truck_parking", True)), hb.park_candidates(parks)], ignore_index=True)
    s = hb.suggest_hubs(res, corr, cs, c, year=2030).set_index("candidate_id")
    # gap 100 km at 60 km spacing: one new pool, ideally at 50 km -> the park beats the parking 20 km off
    assert s.loc["park:BT1", "rank"] == 1 and s.loc["park:BT1", "kind"] == "business_park"
    assert s.loc["park:BT1", "closes_gap"] and s.loc["park:BT1", "offset_km"] == pytest.approx(0.8, abs=1e-3)
    assert s.loc["T30", "deviation_km"] == pytest.approx(20.0, abs=1e-6)
