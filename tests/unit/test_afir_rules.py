"""AFIR rules as the regulation states them (issue 11.1-11.6), on hand-built corridors and sites.

Every expected value is worked out by hand in the comment next to it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from laadplan.config import RegionConfig
from laadplan.forecast.need import afir_check as fleet_check
from laadplan.geo import to_wgs84
from laadplan.logistics import corridors as co
from laadplan.logistics.settings import LogisticsConfig

from test_logistics_corridors import X0, Y0, pools, straight


def cov(res, vehicle, year, direction="forward"):
    c = res.coverage
    return c[(c["vehicle"] == vehicle) & (c["milestone_year"] == year) & (c["direction"] == direction)].iloc[0]


# -- 1. heavy-duty 2027: core 2,800 kW with two 350 kW stations, comprehensive 1,400 kW with one -------------
def test_heavy_2027_core_needs_2800_kw_and_two_350_kw_stations():
    # end rule 'half': virtual pools at -60 and 180 km, so the 120 km corridor complies with one qualifying
    # pool at 60 km (gaps 120 + 120 km) and fails without one (gap 240 km)
    cfg = LogisticsConfig(end_rule="half", direction_rule="both")
    one = pools(("P", 60.0, 0.0, 1400.0, [350.0] + [150.0] * 7, "both"))  # 350 + 7 x 150 = 1,400 kW
    core = co.afir_check(straight(120), one, cfg, vehicles=("heavy",))
    comp = co.afir_check(straight(120, network="comprehensive"), one, cfg, vehicles=("heavy",))
    assert not cov(core, "heavy", 2027)["compliant"]  # core: 1,400 < 2,800 kW and 1 < 2 stations
    assert cov(comp, "heavy", 2027)["compliant"]  # comprehensive: 1,400 kW with one 350 kW station is enough
    big = pools(("Q", 60.0, 0.0, 2800.0, [350.0] * 8, "both"))  # 8 x 350 = 2,800 kW
    assert cov(co.afir_check(straight(120), big, cfg, vehicles=("heavy",)), "heavy", 2027)["compliant"]


# -- 2. light-duty: core 2027 two 150 kW stations; comprehensive network rules ---------------------------
def test_light_core_2027_needs_two_150_kw_stations():
    # end rule 'half' on 60 km: virtual pools at -30 and 90 km; one qualifying pool at 30 km closes it
    cfg = LogisticsConfig(end_rule="half", direction_rule="both")
    p = pools(("P", 30.0, 0.0, 600.0, [150.0, 50.0, 50.0, 50.0, 50.0, 50.0, 50.0, 50.0, 50.0], "light"))
    res = co.afir_check(straight(60), p, cfg, vehicles=("light",))
    assert cov(res, "light", 2025)["compliant"]  # 600 >= 400 kW with one 150 kW station
    assert not cov(res, "light", 2027)["compliant"]  # 2027 asks two stations of 150 kW


def test_light_comprehensive_network_2027_2030_2035():
    cfg = LogisticsConfig(end_rule="half", direction_rule="both")  # 60 km: a pool at 30 km closes it
    p = pools(("P", 30.0, 0.0, 300.0, [150.0, 150.0], "light"))  # 300 kW, two 150 kW stations
    res = co.afir_check(straight(60, network="comprehensive"), p, cfg, vehicles=("light",))
    years = sorted(set(res.coverage["milestone_year"]))
    assert years == [2027, 2030, 2035]
    assert cov(res, "light", 2027)["required_share"] == 0.5 and cov(res, "light", 2027)["compliant"]
    assert cov(res, "light", 2030)["compliant"]  # 300 kW with one 150 kW station
    assert not cov(res, "light", 2035)["compliant"]  # 2035: 600 kW
    # a pool without a 150 kW station does not count
    slow = pools(("S", 30.0, 0.0, 400.0, [100.0] * 4, "light"))
    r2 = co.afir_check(straight(60, network="comprehensive"), slow, cfg, vehicles=("light",))
    assert cov(r2, "light", 2030)["qualifying_pools"] == 0 and not cov(r2, "light", 2030)["compliant"]


# -- 6. the length share is of the whole TEN-T length, reported per corridor as well -----------------------
def test_share_verdict_is_on_the_whole_network_length():
    m = co.AfirMilestone(year=2027, spacing_km=120, min_pool_kw=1000, min_station_kw=350, min_stations=1,
                         length_share=0.5, network="both")
    cfg = LogisticsConfig(heavy=[m], light=[], end_rule="pool", direction_rule="both")
    a, b = straight(100, cid="A"), straight(100, cid="B")
    b = b.set_geometry(b.geometry.translate(0, 50_000))
    corr = pd.concat([a, b], ignore_index=True)
    # end rule 'pool': ends are pools, spacing 120 > 100 km, so both corridors are fully covered; A with its
    # ends only would be 100 %: use 'half' so an empty corridor covers 0 % and a pool at 50 km covers 100 %
    cfg = cfg.model_copy(update={"end_rule": "half"})
    p = pools(("P", 50.0, 0.0, 1000.0, [350.0], "both"))
    res = co.afir_check(corr, p, cfg, vehicles=("heavy",))
    per = res.coverage[res.coverage["direction"] == "forward"].set_index("corridor_id")
    # A: virtual ends at -60 and 160 km, pool at 50: covered [0, 100] = 100 %; B: ends only: [0, 0] and
    # [100, 100] -> 0 km
    assert per.loc["A", "covered_share"] == 1.0 and per.loc["B", "covered_share"] == 0.0
    assert per.loc["A", "compliant"] and not per.loc["B", "compliant"]
    net = co.network_verdict(res.coverage).set_index("direction")
    # whole network: (100 + 0) / 200 = 50 % >= 50 %: compliant, though corridor B alone is not
    assert net.loc["forward", "covered_share"] == 0.5 and net.loc["forward", "compliant"]
    assert net.loc["forward", "corridors_compliant"] == 1


def test_fleet_check_counts_cars_and_vans():
    cfg = RegionConfig()
    ev = pd.DataFrame({"area_code": ["GM1", "GM1", "GM1"], "gm_code": ["GM1"] * 3, "year": [2030] * 3,
                       "scenario": ["middle"] * 3, "vehicle": ["car", "van", "truck"],
                       "ev_count": [1000.0, 200.0, 50.0]})
    out = fleet_check(ev, pd.Series({"GM1": 1500.0}), cfg)
    g = out[out["area_level"] == "gemeente"].iloc[0]
    # M1 + N1: 1,000 cars + 200 vans = 1,200 BEVs (trucks are not light-duty); PHEVs 0.25 x 1,000 cars = 250
    assert g["bev_count"] == 1200.0 and g["phev_count"] == 250.0
    # required 1.3 x 1,200 + 0.8 x 250 = 1,560 + 200 = 1,760 kW > 1,500 kW: not compliant (cars only: 1,500)
    assert g["required_kw"] == 1760.0 and not g["compliant"]


# -- 3. per direction of travel ------------------------------------------------------------------------
def test_sites_facing_each_other_serve_one_direction_each():
    m = co.AfirMilestone(year=2030, spacing_km=60, min_pool_kw=1000, min_station_kw=350, min_stations=1,
                         network="both")
    cfg = LogisticsConfig(heavy=[m], light=[], end_rule="pool")  # default direction_rule
    # two 600 kW service areas 150 m either side of the road at 60 km of a 120 km corridor, 200 m apart:
    # old rule: merged within 300 m into one 1,200 kW pool serving both directions (compliant both ways)
    sites = pools(("N", 60.0, 100.0, 600.0, [600.0], "both"), ("S", 60.1, -100.0, 600.0, [600.0], "both"))
    sites["name"] = ["Plas Noord", "Plas Zuid"]
    res = co.afir_check_all(straight(120), sites, cfg, vehicles=("heavy",))
    for d in ("forward", "backward"):
        r = cov(res, "heavy", 2030, d)
        assert r["qualifying_pools"] == 0 and not r["compliant"]  # 600 < 1,000 kW on each carriageway
    assert len(res.pool_checks) == 2  # two pools, not one merged
    # a 1,000 kW site right of the line (south, digitised west -> east) serves the forward direction only
    one = pools(("R", 60.0, -120.0, 1000.0, [1000.0], "both"))
    r1 = co.afir_check_all(straight(120), one, cfg, vehicles=("heavy",))
    assert cov(r1, "heavy", 2030, "forward")["compliant"] and not cov(r1, "heavy", 2030, "backward")["compliant"]
    # the setting for sites off the motorway: 120 m from the line counts for both directions
    both = cfg.model_copy(update={"both_directions_min_offset_m": 100.0})
    r2 = co.afir_check_all(straight(120), one, both, vehicles=("heavy",))
    assert cov(r2, "heavy", 2030, "backward")["compliant"]


def test_carriageway_pair_compared_with_each_other_not_with_a_shifted_line():
    cfg = LogisticsConfig()
    # the line is 400 m off: both sites lie north (left) of it; their names and relative position still say
    # the southern one is on the right-hand (forward) carriageway
    sites = pools(("W", 50.0, 300.0, 400.0, [400.0], "light"), ("O", 50.2, 550.0, 400.0, [400.0], "light"))
    sites["name"] = ["Fastned Hoek-West", "Fastned Hoek-Oost"]
    cw = co.assign_carriageways(straight(120), sites, cfg)
    assert list(cw["carriageway"]) == ["forward", "backward"]
    # without side words: the 250 m step across the road (>= 150 m) splits them the same way
    sites["name"] = ["Coosenhoek", "Tussenhoek"]
    assert list(co.assign_carriageways(straight(120), sites, cfg)["carriageway"]) == ["forward", "backward"]


# -- 4. dedicated to heavy-duty ------------------------------------------------------------------------
def _feed(tmp_path, feats):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
         "properties": {"locationId": i, "name": n, "operatorName": op, "maxPowerKw": kw, "isMegawatt": mw,
                        "source": src}} for i, n, op, kw, mw, src, lon, lat in feats]}
    p = tmp_path / "freight.geojson"
    p.write_text(json.dumps(fc))
    return p


def test_car_fast_charging_site_is_no_truck_pool(tmp_path):
    src = _feed(tmp_path, [("car", "Fastned De Plas", "Fastned", 400, False, "ndw", 4.50, 51.90),
                           ("etruck", "DCB CHARGE X (E-Truck)", "E-Flux by Road", 360, False, "ndw", 4.51, 51.90),
                           ("hub", "Some hub", "Other", 400, False, "curated", 4.52, 51.90),
                           ("mcs", "MW site", "Other", 1000, True, "ndw", 4.53, 51.90),
                           ("nearpark", "Shell X", "Shell Recharge", 400, False, "ndw", 4.54, 51.90)])
    cfg = LogisticsConfig()
    fr = co.read_freight_chargers(src, cfg=cfg).set_index("pool_id")
    assert fr.loc["car", "vehicle"] == "light"  # nothing says trucks can reach it
    assert (fr.loc[["etruck", "hub", "mcs"], "vehicle"] == "both").all()  # name, curated hub, megawatt flag
    assert co.light_only_count(fr.reset_index()) == 2  # car and nearpark
    # a truck parking 200 m from 'nearpark' makes it a truck pool (radius 300 m); 'car' is 700 m off
    x, y = fr.loc["nearpark", "x_rd"], fr.loc["nearpark", "y_rd"]
    parks = pd.DataFrame({"candidate_id": ["tp"], "name": ["tp"], "kind": ["truck_parking"],
                          "x_rd": [x + 200.0], "y_rd": [y]})
    out = co.apply_truck_parkings(fr.reset_index(), parks, cfg).set_index("pool_id")
    assert out.loc["nearpark", "vehicle"] == "both" and out.loc["car", "vehicle"] == "light"
    # the old behaviour is a setting
    old = co.read_freight_chargers(src, cfg=cfg.model_copy(update={"heavy_requires_truck_access": False}))
    assert (old["vehicle"] == "both").all()


# -- 5. impossible power values ------------------------------------------------------------------------
def test_watt_figure_in_the_freight_feed_is_quarantined(tmp_path):
    src = _feed(tmp_path, [("ac", "Eneco AC site", "Eneco", 7360, True, "ndw", 4.47, 51.91),
                           ("ok", "DCB (E-Truck)", "E-Flux by Road", 360, False, "ndw", 4.50, 51.90)])
    fr = co.read_freight_chargers(src, cfg=LogisticsConfig(), max_power_kw=1500.0)
    assert list(fr["pool_id"]) == ["ok"]
    (prob,) = fr.attrs["problems"]
    assert prob["rule_code"] == "LP-POWER" and prob["record_id"] == "ac" and "7360" in prob["message"]


def test_watt_figure_of_a_point_only_location_is_not_a_pool():
    cfg = LogisticsConfig()
    lon, lat = to_wgs84(np.array([X0, X0 + 5000.0]), np.array([Y0, Y0]))
    loc = pd.DataFrame({"country_code": "NL", "party_id": "", "location_id": ["W", "D"],
                        "name": ["Eneco E-Truck AC", "E-Truck DC"], "operator": "o", "lat": lat, "lon": lon,
                        "layer": "freight", "has_dc": pd.array([pd.NA, pd.NA], dtype="boolean"),
                        "max_power_kw": [7360.0, 400.0]})
    p = co.pools_from_charge_points(loc, None, cfg, max_power_kw=1500.0)
    assert list(p["pool_id"]) == ["D"]


def test_location_power_plausible():
    from laadplan.ingest.locations import location_power_plausible

    cfg = RegionConfig()  # connector_max_power_kw 1,500, AC 50 kW
    p = pd.Series([7360.0, 2222.0, 1500.0, 400.0, 49.0, 60.0, None])
    dc = pd.Series([pd.NA, pd.NA, True, True, False, False, pd.NA], dtype="boolean")
    assert location_power_plausible(p, dc, cfg).tolist() == [False, False, True, True, True, False, True]


def test_two_service_area_names_face_each_other():
    # the real A15 layout against the coarse reference line: all three sites lie left of it, Fastned and
    # bp pulse Coosenhoek 104 m apart across the road on one service area, Tussenhoek 160 m further, 3 m
    # across from Fastned Coosenhoek; the geometry alone cannot tell the carriageways apart
    cfg = LogisticsConfig()
    sites = pools(("FC", 14.1226, 10.1, 400.0, [400.0], "light"), ("BC", 14.1301, 114.2, 300.0, [300.0], "light"),
                  ("FT", 14.2839, 13.5, 400.0, [400.0], "light"))
    sites["name"] = ["Fastned Coosenhoek", "bp pulse Coosenhoek", "Fastned Tussenhoek"]
    cw = co.assign_carriageways(straight(120), sites, cfg)
    # Coosenhoek (mean offset 62 m) lies left of Tussenhoek (13.5 m): Tussenhoek forward, Coosenhoek backward
    assert list(cw["carriageway"]) == ["backward", "backward", "forward"]
    # one site listed twice under two names at one point is no pair: both take the side of the line
    dup = pools(("A", 30.0, -400.0, 300.0, [300.0], "light"), ("B", 30.0, -400.0, 300.0, [300.0], "light"))
    dup["name"] = ["Shell Recharge NL8522 - Shell Blijdorp", "Shell Recharge Abraham van Stolkweg 3"]
    assert list(co.assign_carriageways(straight(120), dup, cfg)["carriageway"]) == ["forward", "forward"]


def test_a_station_published_under_two_locations_counts_once():
    from laadplan.forecast.fleet import stations_once
    from laadplan.forecast.need import existing_supply

    k = {"country_code": "NL", "party_id": "ABC"}
    locs = pd.DataFrame([{**k, "location_id": "L1", "gm_code": "GM1", "n_evses": 2, "max_power_kw": 22.0},
                         {**k, "location_id": "L2", "gm_code": "GM1", "n_evses": 3, "max_power_kw": 22.0},
                         {**k, "location_id": "L3", "gm_code": "GM1", "n_evses": 2, "max_power_kw": 22.0}])
    ev = pd.DataFrame([{**k, "location_id": "L1", "evse_uid": "E1", "status": "AVAILABLE", "max_power_kw": 22.0},
                       {**k, "location_id": "L1", "evse_uid": "E2", "status": "AVAILABLE", "max_power_kw": 22.0},
                       # L2 republishes E1 and E2 and has one EVSE of its own
                       {**k, "location_id": "L2", "evse_uid": "E1", "status": "AVAILABLE", "max_power_kw": 22.0},
                       {**k, "location_id": "L2", "evse_uid": "E2", "status": "AVAILABLE", "max_power_kw": 22.0},
                       {**k, "location_id": "L2", "evse_uid": "E3", "status": "AVAILABLE", "max_power_kw": 11.0},
                       # L3 is L1 published again: all its EVSEs are counted at L1
                       {**k, "location_id": "L3", "evse_uid": "E1", "status": "AVAILABLE", "max_power_kw": 22.0},
                       {**k, "location_id": "L3", "evse_uid": "E2", "status": "AVAILABLE", "max_power_kw": 22.0}])
    before = existing_supply(locs, ev, "gemeente")["public_kw"].iloc[0]
    assert before == 22 * 6 + 11  # the old sum: E1 and E2 three times
    loc2, ev2, n = stations_once(locs, ev)
    assert n == {"evses": 4, "locations": 1} and list(loc2["location_id"]) == ["L1", "L2"]
    assert existing_supply(loc2, ev2, "gemeente")["public_kw"].iloc[0] == 22 + 22 + 11  # each EVSE once


def test_pool_counts_an_evse_published_twice_once():
    cfg = LogisticsConfig()
    lon, lat = to_wgs84(np.array([X0, X0]), np.array([Y0, Y0]))
    loc = pd.DataFrame({"country_code": "NL", "party_id": "FAS", "location_id": ["31350", "a8a7"],
                        "name": ["Fastned De Andel"] * 2, "operator": "Fastned", "lat": lat, "lon": lon,
                        "layer": "passenger", "has_dc": pd.array([True, True], dtype="boolean"),
                        "max_power_kw": [150.0, 150.0]})
    con = pd.DataFrame({"country_code": "NL", "party_id": "FAS", "location_id": ["31350"] * 2 + ["a8a7"] * 2,
                        "evse_uid": ["E1", "E2", "E1", "E2"], "connector_id": "1", "power_type": "DC",
                        "power_kw": 150.0})
    p = co.pools_from_charge_points(loc, con, cfg)
    assert list(p["pool_id"]) == ["31350"] and p["power_kw"].iloc[0] == 300.0  # not 2 x 300 kW after merging
