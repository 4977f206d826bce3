"""AFIR spacing check on hand-built straight corridors (RD New metres)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from laadplan.geo import RD_NEW, to_wgs84
from laadplan.ingest._io import SourceError
from laadplan.logistics import corridors as co
from laadplan.logistics.settings import AfirMilestone, LogisticsConfig

X0, Y0 = 100_000.0, 400_000.0


def straight(length_km: float, cid: str = "T1", network: str = "core") -> gpd.GeoDataFrame:
    line = shapely.LineString([(X0, Y0), (X0 + length_km * 1000, Y0)])  # digitised west -> east
    return gpd.GeoDataFrame({"corridor_id": [cid], "ref": [cid], "network": [network], "name": [cid],
                             "length_km": [length_km]}, geometry=[line], crs=RD_NEW)


def pools(*specs) -> pd.DataFrame:
    """specs: (pool_id, km along, offset_m north (+) / south (-), power_kw, stations_kw list, vehicle)."""
    rows = []
    for pid, km, off, kw, st, veh in specs:
        x, y = X0 + km * 1000, Y0 + off
        lon, lat = to_wgs84([x], [y])
        rows.append({"pool_id": pid, "name": pid, "operator": "t", "source": "test", "lon": float(lon[0]),
                     "lat": float(lat[0]), "x_rd": x, "y_rd": y, "power_kw": kw, "stations_kw": st, "vehicle": veh})
    return pd.DataFrame(rows, columns=co.POOL_COLUMNS)


def cfg_with(spacing_km=60.0, end_rule="pool", direction_rule="both", share=1.0, network="both",
             min_pool_kw=1000.0, min_stations=1) -> LogisticsConfig:
    m = AfirMilestone(year=2030, spacing_km=spacing_km, min_pool_kw=min_pool_kw, min_station_kw=350,
                      min_stations=min_stations, length_share=share, network=network)
    return LogisticsConfig(heavy=[m], light=[], end_rule=end_rule, direction_rule=direction_rule)


def row(res: co.AfirResult, direction: str) -> pd.Series:
    c = res.coverage
    return c[c["direction"] == direction].iloc[0]


def brute_covered_km(anchors_km, length_km, spacing_km, step_m=10.0) -> float:
    """Second method: sample the corridor every step_m and count samples within spacing/2 of an anchor."""
    s = np.arange(step_m / 2, length_km * 1000, step_m)
    a = np.asarray(anchors_km) * 1000
    d = np.min(np.abs(s[:, None] - a[None, :]), axis=1)
    return float((d <= spacing_km * 500 + 1e-9).sum() * step_m / 1000)


def test_gap_exactly_at_the_limit_complies():
    cfg = cfg_with(spacing_km=60, end_rule="pool")
    res = co.afir_check(straight(120), pools(("P", 60.0, 0.0, 1400.0, [350.0], "both")), cfg, vehicles=("heavy",))
    for d in ("forward", "backward"):
        r = row(res, d)
        assert r["gaps_over_spacing"] == 0 and r["compliant"]
        assert r["longest_gap_km"] == pytest.approx(60.0)
        assert r["covered_share"] == pytest.approx(1.0)
    assert len(res.gaps) == 0


def test_gap_just_over_the_limit_is_reported_in_both_directions():
    cfg = cfg_with(spacing_km=60, end_rule="pool")
    res = co.afir_check(straight(120), pools(("P", 60.01, 0.0, 1400.0, [350.0], "both")), cfg, vehicles=("heavy",))
    fw, bw = row(res, "forward"), row(res, "backward")
    assert not fw["compliant"] and not bw["compliant"]
    g = res.gaps.set_index("direction")
    # forward: P at 60.01 -> end at 120: 59.99 ok; 0 -> 60.01 is the 60.01 km gap
    assert g.loc["forward", "from_km"] == pytest.approx(0.0)
    assert g.loc["forward", "to_km"] == pytest.approx(60.01)
    assert g.loc["forward", "from_pool"] == "end" and g.loc["forward", "to_pool"] == "P"
    assert g.loc["forward", "excess_km"] == pytest.approx(0.01)
    # backward: P sits at 120 - 60.01 = 59.99 from the east end; the long stretch is P -> west end
    assert g.loc["backward", "from_km"] == pytest.approx(59.99)
    assert g.loc["backward", "to_km"] == pytest.approx(120.0)
    assert g.loc["backward", "from_pool"] == "P" and g.loc["backward", "to_pool"] == "end"
    # covered: anchors 0, 60.01, 120 with +-30 km; only (30, 30.01) is uncovered
    assert fw["covered_km"] == pytest.approx(119.99, abs=1e-6)
    assert fw["covered_km"] == pytest.approx(brute_covered_km([0, 60.01, 120], 120, 60), abs=0.02)


def test_half_spacing_end_rule():
    cfg = cfg_with(spacing_km=60, end_rule="half")
    ok = co.afir_check(straight(90), pools(("A", 30.0, 0, 1500.0, [350.0], "both"),
                                           ("B", 60.0, 0, 1500.0, [350.0], "both")), cfg, vehicles=("heavy",))
    # virtual ends at -30 and 120: gaps 60, 30, 60; inside the 90 km corridor the stretches are 30, 30, 30
    assert row(ok, "forward")["compliant"] and row(ok, "forward")["longest_gap_km"] == pytest.approx(30.0)
    assert row(ok, "forward")["covered_share"] == pytest.approx(1.0)
    bad = co.afir_check(straight(90), pools(("A", 31.0, 0, 1500.0, [350.0], "both"),
                                            ("B", 60.0, 0, 1500.0, [350.0], "both")), cfg, vehicles=("heavy",))
    g = bad.gaps[bad.gaps["direction"] == "forward"].iloc[0]
    # anchors -30 and 31 are 61 km apart (1 km too far); the stretch inside the corridor is 0..31 km
    assert g["gap_km"] == pytest.approx(31.0) and g["from_km"] == 0.0 and g["to_km"] == pytest.approx(31.0)
    assert g["anchor_from_km"] == pytest.approx(-30.0) and g["excess_km"] == pytest.approx(1.0)
    assert g["from_pool"] == "end" and g["to_pool"] == "A" and g["to_pool_id"] == "A"
    # covered by real pools only: [1, 90] (A covers 1..61, B covers 30..90)
    assert row(bad, "forward")["covered_km"] == pytest.approx(89.0)
    assert row(bad, "forward")["covered_km"] == pytest.approx(brute_covered_km([-30, 31, 60, 120], 90, 60), abs=0.02)


def test_direction_by_side_right_hand_traffic():
    # eastbound (forward) traffic keeps right = south of the west->east line
    specs = [("S", 60.0, -200.0, 1500.0, [350.0], "both"),  # south: forward only
             ("N", 30.0, 200.0, 1500.0, [350.0], "both")]  # north: backward only
    res = co.afir_check(straight(120), pools(*specs), cfg_with(end_rule="pool", direction_rule="side"),
                        vehicles=("heavy",))
    assert row(res, "forward")["qualifying_pools"] == 1 and row(res, "forward")["compliant"]
    bw = row(res, "backward")
    assert bw["qualifying_pools"] == 1 and not bw["compliant"]
    g = res.gaps[res.gaps["direction"] == "backward"].iloc[0]
    # westbound, N sits 90 km from the east end: the 90 km stretch runs from the east end to N
    assert g["gap_km"] == pytest.approx(90.0) and g["from_pool"] == "end" and g["to_pool"] == "N"
    # with the 'both' rule both pools serve both directions: 0, 30, 60, 120 -> all gaps <= 60
    res2 = co.afir_check(straight(120), pools(*specs), cfg_with(end_rule="pool", direction_rule="both"),
                         vehicles=("heavy",))
    assert row(res2, "backward")["compliant"] and row(res2, "forward")["compliant"]
    # a pool within side_tolerance_m of the line serves both directions
    res3 = co.afir_check(straight(120), pools(("C", 60.0, 20.0, 1500.0, [350.0], "both")),
                         cfg_with(end_rule="pool", direction_rule="side"), vehicles=("heavy",))
    assert row(res3, "forward")["qualifying_pools"] == 1 and row(res3, "backward")["qualifying_pools"] == 1


def test_pool_short_of_power_or_stations_does_not_qualify():
    cfg = cfg_with(spacing_km=60, end_rule="pool", min_pool_kw=3600, min_stations=2)
    p = pools(("LOW", 40.0, 0, 1400.0, [350.0, 350.0, 350.0, 350.0], "both"),  # 1,400 kW < 3,600
              ("ONE", 80.0, 0, 4000.0, [400.0, 300.0], "both"),  # only one station >= 350 kW
              ("OK", 60.0, 0, 3600.0, [350.0, 350.0], "both"),
              ("LIGHT", 20.0, 0, 9000.0, [350.0] * 4, "light"))  # not usable by trucks
    res = co.afir_check(straight(120), p, cfg, vehicles=("heavy",))
    chk = res.pool_checks.set_index("pool_id")
    assert set(chk.index) == {"LOW", "ONE", "OK"}
    assert not chk.loc["LOW", "qualifies"] and chk.loc["LOW", "power_short_kw"] == 2200.0
    assert chk.loc["LOW", "stations_short"] == 0
    assert not chk.loc["ONE", "qualifies"] and chk.loc["ONE", "stations_short"] == 1
    assert chk.loc["ONE", "power_short_kw"] == 0.0
    assert chk.loc["OK", "qualifies"]
    assert row(res, "forward")["qualifying_pools"] == 1 and row(res, "forward")["compliant"]


def test_length_share_milestone_and_network_filter():
    m15 = AfirMilestone(year=2025, spacing_km=120, min_pool_kw=1400, min_station_kw=350, min_stations=1,
                        length_share=0.15, network="both")
    core30 = AfirMilestone(year=2030, spacing_km=60, min_pool_kw=3600, min_station_kw=350, min_stations=2,
                           network="core")
    cfg = LogisticsConfig(heavy=[m15, core30], light=[], end_rule="half")
    res = co.afir_check(straight(200, network="comprehensive"), pools(("P", 100.0, 0, 1400.0, [350.0], "both")),
                        cfg, vehicles=("heavy",))
    assert set(res.coverage["milestone_year"]) == {2025}  # the core-only milestone does not apply
    r = row(res, "forward")
    # P covers 40..160 = 120 km of 200 -> 60 % >= 15 %, compliant although gaps of 160 km exist
    assert r["covered_share"] == pytest.approx(0.6) and r["compliant"] and r["gaps_over_spacing"] == 2


def test_pool_beyond_max_distance_is_ignored():
    cfg = cfg_with(end_rule="pool")
    far = cfg.pool_max_distance_km * 1000 + 50
    res = co.afir_check(straight(120), pools(("FAR", 60.0, far, 9000.0, [350.0] * 4, "both")), cfg,
                        vehicles=("heavy",))
    assert row(res, "forward")["pools_near"] == 0 and not row(res, "forward")["compliant"]


def test_merge_pools_adds_power_and_dedupes_ids():
    p = pools(("A", 10.0, 0, 400.0, [400.0], "both"), ("B", 10.1, 0, 350.0, [350.0], "light"),
              ("C", 30.0, 0, 400.0, [400.0], "both"))
    dup = p.iloc[[0]].assign(source="freight-feed")
    m = co.merge_pools(pd.concat([p, dup], ignore_index=True), merge_m=300)
    assert len(m) == 2
    ab = m[m["pool_id"].str.contains("A")].iloc[0]
    assert ab["power_kw"] == 750.0 and ab["stations_kw"] == [400.0, 350.0] and ab["vehicle"] == "both"
    assert ab["source"] == "test"


def test_pools_from_charge_points_uses_dc_evses():
    cfg = LogisticsConfig()
    loc = pd.DataFrame({"country_code": ["NL"] * 5, "party_id": ["X"] * 5,
                        "location_id": ["L1", "L2", "L3", "L4", "L5"], "name": ["truck hub", "ac", "point", "na", "na-ac"],
                        "operator": ["o"] * 5, "lat": [51.9, 51.91, 51.92, 51.93, 51.94], "lon": [4.5] * 5,
                        "layer": ["freight", "passenger", "passenger", "passenger", "passenger"],
                        "has_dc": pd.array([True, False, True, pd.NA, pd.NA], dtype="boolean"),
                        "max_power_kw": [350.0, 22.0, 120.0, 175.0, 22.0]})
    con = pd.DataFrame({"country_code": "NL", "party_id": "X", "location_id": ["L1"] * 4,
                        "evse_uid": ["E1", "E1", "E2", "E3"], "connector_id": ["1", "2", "1", "1"],
                        "power_type": ["DC", "DC", "DC", "AC_3_PHASE"], "power_kw": [350.0, 50.0, 150.0, 22.0]})
    p = co.pools_from_charge_points(loc, con, cfg).set_index("pool_id")
    assert set(p.index) == {"L1", "L3", "L4"}  # unknown has_dc counts from 50 kW (must be DC)
    assert p.loc["L1", "power_kw"] == 500.0 and p.loc["L1", "stations_kw"] == [350.0, 150.0]
    assert p.loc["L1", "vehicle"] == "both" and p.loc["L3", "vehicle"] == "light"
    assert p.loc["L3", "stations_kw"] == [120.0]


def test_reference_corridors_are_complete():
    c = co.load_corridors()
    assert {"A4", "A12", "A13", "A15", "A16", "A20", "A29", "A58"} <= set(c["ref"])
    assert set(c["network"]) <= {"core", "comprehensive"}
    assert (c["length_km"] > 10).all() and (c["length_km"] < 150).all()
    # lengths in RD agree with a geodesic measure of the same polylines within 0.5 %
    from pyproj import Geod

    raw = gpd.read_file(co.REFERENCE_CORRIDORS)
    geod = Geod(ellps="WGS84")
    for r in raw.itertuples():
        want = geod.geometry_length(r.geometry) / 1000
        got = c.loc[c["ref"] == r.ref, "length_km"].iloc[0]
        assert got == pytest.approx(want, rel=0.005)


def test_user_road_file_merges_segments_and_skips_bad_features(tmp_path):
    def feat(coords, **props):
        lon, lat = to_wgs84(np.array([p[0] for p in coords]), np.array([p[1] for p in coords]))
        return {"type": "Feature", "properties": props,
                "geometry": {"type": "LineString", "coordinates": [[a, b] for a, b in zip(lon, lat)]}}

    doc = {"type": "FeatureCollection", "features": [
        feat([(X0, Y0), (X0 + 10_000, Y0)], ref="A99", network="core"),
        feat([(X0 + 10_000, Y0), (X0 + 25_000, Y0)], ref="A99", network="Core"),
        feat([(X0, Y0 + 5000), (X0 + 5_000, Y0 + 5000)], ref="A98", network="motorway"),  # bad network
    ]}
    p = tmp_path / "roads.geojson"
    p.write_text(json.dumps(doc))
    c = co.load_corridors(p)
    assert list(c["corridor_id"]) == ["A99"]
    assert c["length_km"].iloc[0] == pytest.approx(25.0, rel=1e-3)
    bad = tmp_path / "noprops.geojson"
    doc2 = {"type": "FeatureCollection", "features": [feat([(X0, Y0), (X0 + 1000, Y0)], ref="A1")]}
    bad.write_text(json.dumps(doc2))
    with pytest.raises(SourceError, match="network"):
        co.load_corridors(bad)
    with pytest.raises(SourceError, match="not found"):
        co.load_corridors(tmp_path / "missing.geojson")


def test_read_freight_chargers_over_http_keeps_problems(http_server):
    base, d = http_server
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [4.5, 51.9]},
         "properties": {"locationId": "a", "name": "A", "maxPowerKw": 400}},
        {"type": "Feature", "geometry": None, "properties": {"locationId": "b", "maxPowerKw": 400}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [4.6, 51.9]},
         "properties": {"locationId": "c", "maxPowerKw": 0}},
    ]}
    (d / "freight.geojson").write_text(json.dumps(doc))
    df = co.read_freight_chargers(f"{base}/freight.geojson", stations_assumed=2)
    assert list(df["pool_id"]) == ["a"]
    assert df["power_kw"].iloc[0] == 800.0 and df["stations_kw"].iloc[0] == [400.0, 400.0]
    assert [p["rule_code"] for p in df.attrs["problems"]] == ["LP-MISSING", "LP-TYPE"]
    with pytest.raises(SourceError):
        co.read_freight_chargers(f"{base}/nope.geojson")


def test_urban_node_power():
    def square(x0, y0, size=5000.0):
        lon, lat = to_wgs84(np.array([x0, x0 + size, x0 + size, x0]), np.array([y0, y0, y0 + size, y0 + size]))
        return shapely.to_wkb(shapely.Polygon(list(zip(lon, lat))))

    areas = pd.DataFrame({"area_code": ["GM0599", "GM0518", "GM0505"], "name": ["R", "DH", "D"],
                          "geometry_wkb": [square(X0, Y0), square(X0 + 10_000, Y0), square(X0 + 20_000, Y0)]})
    # pool a: a 350 kW station plus four 100 kW ones (800 kW); only the 350 kW station counts (Art. 4(1)(e))
    p = pools(("a", 1.0, 1000.0, 750.0, [350.0, 100.0, 100.0, 100.0, 100.0], "both"),
              ("b", 2.0, 2000.0, 650.0, [400.0, 150.0, 100.0], "heavy"),
              ("cars", 3.0, 1000.0, 5000.0, [350.0] * 10, "light"), ("c", 12.0, 1000.0, 500.0, [500.0], "both"),
              ("slow", 13.0, 1000.0, 1200.0, [120.0] * 10, "both"),
              ("d", 22.0, 1000.0, 2000.0, [350.0] * 4, "both"))
    out = co.urban_node_check(p, areas, LogisticsConfig()).set_index(["gm_code", "milestone_year"])
    assert set(out.index.get_level_values(0)) == {"GM0599", "GM0518"}  # Dordrecht is not a node by default
    # by hand: 350 (a) + 400 + 150 (b) = 900 kW >= 900 kW; the old sum of pool power said 1,400 kW
    assert out.loc[("GM0599", 2025), "power_kw"] == 900.0 and out.loc[("GM0599", 2025), "compliant"]
    assert out.loc[("GM0599", 2030), "short_kw"] == 900.0 and not out.loc[("GM0599", 2030), "compliant"]
    # 's-Gravenhage: 500 kW; the pool of 120 kW stations (1,200 kW) does not count and is no node pool
    assert out.loc[("GM0518", 2025), "short_kw"] == 400.0 and out.loc[("GM0518", 2025), "pools"] == 1


def test_check_all_merges_per_vehicle_class():
    heavy = AfirMilestone(year=2030, spacing_km=60, min_pool_kw=1400, min_station_kw=350, min_stations=1)
    light = AfirMilestone(year=2030, spacing_km=60, min_pool_kw=1500, min_station_kw=150, min_stations=1,
                          network="core")
    cfg = LogisticsConfig(heavy=[heavy], light=[light], end_rule="pool")
    # a truck charger and a passenger fast charger 100 m apart at 60 km of a 120 km corridor
    locs = pools(("truck", 59.95, 0.0, 1000.0, [350.0], "both"), ("cars", 60.05, 0.0, 1000.0, [150.0], "light"))
    res = co.afir_check_all(straight(120), locs, cfg)
    cov = res.coverage.set_index(["vehicle", "direction"])
    # trucks may not count the passenger charger's power: 1,000 < 1,400 kW
    assert cov.loc[("heavy", "forward"), "qualifying_pools"] == 0
    # cars may use both: one pool of 2,000 kW >= 1,500 kW
    assert cov.loc[("light", "forward"), "qualifying_pools"] == 1 and cov.loc[("light", "forward"), "compliant"]
    chk = res.pool_checks.set_index("vehicle")
    assert chk.loc["heavy", "power_kw"] == 1000.0 and chk.loc["light", "power_kw"] == 2000.0


def test_gap_is_never_longer_than_the_corridor_and_names_its_pools():
    """Issue 10.10: A29 (23.7 km, no pool) showed a gap of 143.7 km (the virtual ends 60 km beyond it)."""
    cfg = cfg_with(spacing_km=120, end_rule="half")
    res = co.afir_check(straight(23.7), pools(), cfg, vehicles=("heavy",))
    g = res.gaps[res.gaps["direction"] == "forward"].iloc[0]
    assert g["gap_km"] == pytest.approx(23.7) and g["excess_km"] == pytest.approx(23.7)  # 143.7 - 120
    assert row(res, "forward")["longest_gap_km"] == pytest.approx(23.7)
    p = pools(("50475+cb6a", 100.0, 0.0, 900.0, [350.0], "both"))
    p["name"] = "Fastned Ridderkerk"
    r2 = co.afir_check(straight(200), p, cfg_with(spacing_km=60, end_rule="half", min_pool_kw=800),
                       vehicles=("heavy",))
    g2 = r2.gaps[r2.gaps["direction"] == "forward"].sort_values("from_km")
    assert list(g2["to_pool"])[0] == "Fastned Ridderkerk" and list(g2["to_pool_id"])[0] == "50475+cb6a"
