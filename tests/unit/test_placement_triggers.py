"""Triggers and request rules on hand-built cases (distances in RD metres, boundary at exactly 250 m)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from laadplan.placement import triggers as TR
from laadplan.placement.requests import decide_requests

X0, Y0 = 100_000.0, 450_000.0  # an RD point outside Rotterdam (walk 250 m)


def _locs(xy, n_evses, gm="GM0001"):
    return pd.DataFrame({"country_code": "NL", "party_id": "ABC", "location_id": [f"L{k}" for k in range(len(xy))],
                         "x_rd": [X0 + a for a, _ in xy], "y_rd": [Y0 + b for _, b in xy], "gm_code": gm,
                         "n_evses": n_evses})


def _kpi(peaks, occ, kwh=None):
    n = len(peaks)
    return pd.DataFrame({"country_code": "NL", "party_id": "ABC", "location_id": [f"L{k}" for k in range(n)],
                         "peak_how_occupancy_share": peaks, "occupancy_share": occ,
                         "kwh_per_evse_day": kwh if kwh is not None else [np.nan] * n,
                         "peak_how": ["Tue 19:00"] * n})


# -- usage trigger ---------------------------------------------------------------------------------------
def test_usage_trigger_catchment_boundary_and_quantity(cfg):
    # L0 busy (peak 0.95, 2 EVSEs); L1 at exactly 250 m quiet (peak 0.5, 2 EVSEs); L2 at 250.5 m very busy
    locs = _locs([(0, 0), (250, 0), (-250.5, 0)], [2, 2, 4])
    kpi = _kpi([0.95, 0.5, 1.0], [0.3, 0.2, 0.3])
    c = TR.usage_catchments(kpi, locs, cfg).set_index("location_id")
    # L0's catchment holds L0 and L1 (exactly 250 m) but not L2 (250.5 m)
    assert c.loc["L0", "catch_locations"] == 2 and c.loc["L0", "catch_evses"] == 4
    assert c.loc["L0", "catch_peak"] == pytest.approx((2 * 0.95 + 2 * 0.5) / 4)
    assert c.loc["L2", "catch_locations"] == 1 and c.loc["L2", "catch_peak"] == pytest.approx(1.0)
    d = TR.usage_trigger(kpi, locs, cfg, 2026)
    # only L2 fires (0.725 < 0.85 for L0/L1's catchments; L1's catchment is L0+L1 too)
    assert list(d["source_id"]) == ["L2"]
    # 4 EVSEs at peak 1.0 vs threshold 0.85: ceil(4 * 1.0 / 0.85) - 4 = 1
    assert d["quantity"].iloc[0] == math.ceil(4 / 0.85) - 4 == 1
    assert d["trigger"].iloc[0] == "usage" and "100 %" in d["reason"].iloc[0] and "Tue 19:00" in d["reason"].iloc[0]
    assert d["weight"].iloc[0] == cfg.placement.weight_usage


def test_usage_trigger_mean_and_kwh_thresholds_and_clustering(cfg):
    locs = _locs([(0, 0), (100, 0), (2000, 0)], [10, 10, 2])
    # L0/L1 mean occupancy 0.6 >= 0.5: one cluster; L2 kWh 45 >= 40
    kpi = _kpi([0.7, 0.7, 0.2], [0.6, 0.6, 0.1], [10, 10, 45])
    d = TR.usage_trigger(kpi, locs, cfg, 2027).sort_values("source_id")
    assert len(d) == 2  # L0 and L1 form one cluster
    q = dict(zip(d["source_id"], d["quantity"]))
    clustered = [k for k in q if k in ("L0", "L1")]
    assert len(clustered) == 1
    assert q[clustered[0]] == math.ceil(20 * 0.6 / 0.5) - 20 == 4
    assert q["L2"] == math.ceil(2 * 45 / 40) - 2 == 1
    assert (d["year"] == 2027).all()
    # exactly at a threshold fires, just under does not
    kpi2 = _kpi([0.85, 0.8499], [0.0, 0.0])
    d2 = TR.usage_trigger(kpi2, _locs([(0, 0), (5000, 0)], [1, 1]), cfg, 2026)
    assert list(d2["source_id"]) == ["L0"]


def test_usage_trigger_accepts_status_occupancy_columns(cfg):
    kpi = pd.DataFrame({"location_id": ["L0"], "mean_occupancy_share": [0.55], "peak_how_occupancy_share": [0.6]})
    d = TR.usage_trigger(kpi, _locs([(0, 0)], [2]), cfg, 2026)
    assert len(d) == 1 and "mean occupancy 55 %" in d["reason"].iloc[0]


def test_rotterdam_walk_distance_is_200(cfg):
    locs = _locs([(0, 0), (210, 0)], [1, 1], gm="GM0599")
    c = TR.usage_catchments(_kpi([0.9, 0.9], [0.1, 0.1]), locs, cfg)
    assert (c["catch_locations"] == 1).all() and (c["walk_m"] == 200).all()


# -- coverage --------------------------------------------------------------------------------------------
def test_coverage_trigger(cfg):
    cells = pd.DataFrame({"cell500_code": ["E1000N4500", "E1005N4500", "E1010N4500"],
                          "households": [125, 124.9, 400], "x_rd": [X0 + 250, X0 + 750, X0 + 1250],
                          "y_rd": [Y0 + 250] * 3, "gm_code": "GM0001"})
    locs = _locs([(1100, 100)], [2])  # a point inside the third cell
    d = TR.coverage_trigger(cells, locs, cfg, 2026)
    assert list(d["source_id"]) == ["E1000N4500"]  # 125 counts; 124.9 not; third cell has a point
    assert d["walk_m"].iloc[0] == 250 and d["quantity"].iloc[0] == 1


def test_households_per_cell_area_share(cfg):
    """A buurt that is exactly the RD square [100000,101000] x [450000,450500] spans two cells: half each."""
    import shapely

    from laadplan import geo
    xs = np.array([100_000, 101_000, 101_000, 100_000, 100_000.0])
    ys = np.array([450_000, 450_000, 450_500, 450_500, 450_000.0])
    lon, lat = geo.to_wgs84(xs, ys)
    poly = shapely.Polygon(np.column_stack([lon, lat]))
    b = pd.DataFrame({"area_code": ["BU1"], "households": [300], "geometry_wkb": [shapely.to_wkb(poly)],
                      "gm_code": ["GM0001"]})
    c = TR.households_per_cell(b).set_index("cell500_code").sort_index()
    big = c[c["households"] > 1]
    assert list(big.index) == ["E1000N4500", "E1005N4500"]
    assert big["households"].to_numpy() == pytest.approx([150, 150], rel=0.01)  # WGS84 edges are not exactly RD lines
    assert c["households"].sum() == pytest.approx(300)


# -- forecast --------------------------------------------------------------------------------------------
def test_forecast_trigger_increments(cfg):
    need = pd.DataFrame({"area_code": ["GM0001"] * 3 + ["GM0002"], "area_level": "gemeente",
                         "year": [2026, 2027, 2028, 2026], "scenario": ["middle"] * 3 + ["high"],
                         "ev_count": 0, "evses_needed": 0, "evses_existing": 0, "evses_gap": [4, 10, 7, 50]})
    areas = pd.DataFrame({"area_code": ["GM0001"], "level": "gemeente", "gm_code": ["GM0001"],
                          "geometry_wkb": [None], "centroid_lat": [52.0], "centroid_lon": [4.5]})
    d = TR.forecast_trigger(need, areas, cfg, [2026, 2027, 2028], "middle")
    # gap 4 in 2026, grows by 6 in 2027, falls to 7 in 2028 (no new demand); GM0002 is another scenario
    assert dict(zip(d["year"], d["quantity"])) == {2026: 4, 2027: 6}
    assert (d["trigger"] == "forecast").all() and d["reason"].str.contains("GM0001").all()


def test_forecast_spread_follows_need_not_a_fixed_ceiling(cfg):
    """A 5 x 5 km gemeente (100 cells of 500 m) with existing EVSEs in three cells. The old trigger put any
    need at the first 8 cells by code (its western edge), 8 x 4 candidates x 4 EVSEs = at most 128 EVSEs.
    Now: ceil(need / 16) cells, the cells with existing EVSEs first (most first), the rest spread evenly,
    whole units per cell."""
    import shapely

    from laadplan import geo

    x0, y0 = 100_000.0, 450_000.0
    xs, ys = np.array([x0, x0 + 5000, x0 + 5000, x0, x0]), np.array([y0, y0, y0 + 5000, y0 + 5000, y0])
    lon, lat = geo.to_wgs84(xs, ys)
    poly = shapely.Polygon(np.column_stack([lon, lat]))
    areas = pd.DataFrame({"area_code": ["GM0001"], "level": "gemeente", "gm_code": ["GM0001"],
                          "geometry_wkb": [shapely.to_wkb(poly)], "centroid_lat": [np.nan], "centroid_lon": [np.nan]})
    locs = pd.DataFrame({"location_id": ["a", "b", "c", "d"], "gm_code": "GM0001", "n_evses": [2, 2, 6, 3],
                         "x_rd": [x0 + 4100, x0 + 4200, x0 + 2600, x0 + 1100],
                         "y_rd": [y0 + 4100, y0 + 4300, y0 + 2600, y0 + 3100]})
    busiest = geo.cell_code([x0 + 2600, x0 + 4100, x0 + 1100], [y0 + 2600, y0 + 4100, y0 + 3100]).tolist()

    def need(gaps):
        return pd.DataFrame({"area_code": "GM0001", "area_level": "gemeente", "year": [2026, 2027][:len(gaps)],
                             "scenario": "middle", "evses_gap": gaps})

    d = TR.forecast_trigger(need([100.0]), areas, cfg, [2026], "middle", locations=locs)
    assert len(d) == math.ceil(100 / 16) == 7 and d["quantity"].sum() == pytest.approx(100)
    assert (d["quantity"] == np.round(d["quantity"])).all() and d["quantity"].max() <= 16
    codes = geo.cell_code(d["x_rd"], d["y_rd"]).tolist()
    assert codes[:3] == busiest  # 6 EVSEs, then 4 (a + b), then 3
    assert len(set(codes)) == 7 and d["reason"].str.contains("existing public EVSEs").all()
    # 2,000 units: more than 100 cells x 16 -> every cell, 20 units each (no 128 ceiling)
    d2 = TR.forecast_trigger(need([2000.0]), areas, cfg, [2026], "middle", locations=locs)
    assert len(d2) == 100 and d2["quantity"].sum() == pytest.approx(2000) and (d2["quantity"] == 20).all()
    # growth in a later year goes to the same cells, in that year, in whole units rotating over the cells
    d3 = TR.forecast_trigger(need([32.0, 35.0]), areas, cfg, [2026, 2027], "middle", locations=locs)
    assert d3.groupby("year")["quantity"].sum().to_dict() == {2026: 32.0, 2027: 3.0}
    assert (d3["quantity"] == np.round(d3["quantity"])).all()
    # the named cap still bounds the cells
    cfg.placement.forecast_max_points_per_area = 2
    assert len(TR.forecast_trigger(need([100.0]), areas, cfg, [2026], "middle", locations=locs)) == 2


# -- requests --------------------------------------------------------------------------------------------
def _req(rows):
    base = {"requested_date": pd.Timestamp("2026-03-02"), "gm_code": "GM0001", "lives_in_gm": True,
            "works_in_gm": pd.NA, "drives_ev": True, "has_private_parking": False}
    df = pd.DataFrame([{**base, **r} for r in rows])
    df["x_rd"] = X0 + df["dx"]
    df["y_rd"] = Y0 + df["dy"]
    return df


def test_request_rules(cfg):
    locs = _locs([(0, 0), (1000, 0), (1000, 10)], [2, 2, 2])
    kpi = _kpi([0.2, 0.9, 0.95], [0.1, 0.3, 0.3])  # L0 quiet, L1 and L2 busy
    req = _req([
        {"request_id": "at250", "dx": 250.0, "dy": 0.0},          # L0 exactly 250 m: available -> refused
        {"request_id": "over", "dx": -250.01, "dy": 0.0},         # just over 250 m from L0 -> granted, no point
        {"request_id": "busy", "dx": 1100.0, "dy": 0.0},          # L1 + L2 within, both busy -> granted
        {"request_id": "noev", "dx": 2000.0, "dy": 0.0, "drives_ev": False},
        {"request_id": "away", "dx": 2000.0, "dy": 0.0, "lives_in_gm": False, "works_in_gm": False},
        {"request_id": "priv", "dx": 2000.0, "dy": 0.0, "has_private_parking": True},
        {"request_id": "works", "dx": 5000.0, "dy": 0.0, "lives_in_gm": False, "works_in_gm": True},
    ])
    d = decide_requests(req, locs, kpi, cfg).set_index("request_id")
    assert d.loc["at250", "decision_rule"] == "REQ-POINT-AVAILABLE" and d.loc["at250", "decision"] == "refused"
    assert d.loc["at250", "nearest_point_m"] == pytest.approx(250.0)
    assert d.loc["over", "decision_rule"] == "REQ-NO-POINT" and d.loc["over", "decision"] == "granted"
    assert d.loc["busy", "decision_rule"] == "REQ-POINTS-BUSY" and d.loc["busy", "points_within_walk"] == 2
    assert d.loc["noev", "decision_rule"] == "REQ-ELIG-EV"
    assert d.loc["away", "decision_rule"] == "REQ-ELIG-RESIDENCE"
    assert d.loc["priv", "decision_rule"] == "REQ-ELIG-PRIVATE-PARKING"
    assert d.loc["works", "decision_rule"] == "REQ-NO-POINT"
    # dates (requested 2026-03-02): decision after 8 weeks, objection 6 weeks later, operational 20 weeks
    # after the request (29 + 30 + 31 + 30 + 20 = 140 days: 2026-07-20), not after the decision
    assert d.loc["over", "decided_date"] == pd.Timestamp("2026-04-27")
    assert d.loc["over", "objection_end_date"] == pd.Timestamp("2026-06-08")
    assert d.loc["over", "operational_date"] == pd.Timestamp("2026-07-20")
    assert pd.isna(d.loc["at250", "operational_date"])
    dem = TR.request_demand(d.reset_index(), cfg, [2026, 2027])
    assert sorted(dem["source_id"]) == ["busy", "over", "works"]
    assert (dem["weight"] == cfg.placement.weight_request).all() and (dem["year"] == 2026).all()


def test_request_eligibility_switch(cfg):
    cfg.placement.request_refuse_private_parking = False
    d = decide_requests(_req([{"request_id": "priv", "dx": 0.0, "dy": 0.0, "has_private_parking": True}]),
                        _locs([(5000, 0)], [1]), None, cfg)
    assert d["decision_rule"].iloc[0] == "REQ-NO-POINT"


def _profile(rows):
    """rows: {location_id: {how: occupancy_share}}"""
    return pd.DataFrame([{"country_code": "NL", "party_id": "ABC", "location_id": lid, "how": h, "occupancy_share": v}
                         for lid, hv in rows.items() for h, v in hv.items()])


def test_usage_catchment_peak_is_the_peak_of_summed_occupancy(cfg):
    """Two locations 100 m apart (one catchment), each full (100 %) in a different hour of the week. With 2
    and 3 EVSEs and 70 % in the other hour the summed occupancy is (2 * 1.0 + 3 * 0.7) / 5 = 82 % at hour 10
    and (2 * 0.7 + 3 * 1.0) / 5 = 88 % at hour 20: the catchment's peak is 88 % at hour 20."""
    from laadplan.kpi.calendar import how_label

    locs = _locs([(0, 0), (100, 0)], [2, 3])
    kpi = _kpi([1.0, 1.0], [0.2, 0.2])
    prof = _profile({"L0": {10: 1.0, 20: 0.7}, "L1": {10: 0.7, 20: 1.0}})
    c = TR.usage_catchments(kpi, locs, cfg, prof).set_index("location_id")
    assert c.loc["L0", "catch_peak"] == pytest.approx((2 * 0.7 + 3 * 1.0) / 5)
    assert c.loc["L0", "catch_peak_how"] == how_label(20)
    # with the peaks in different hours at 0.6 the summed peak is 0.8 < 0.85: no usage demand, where the
    # old EVSE-weighted mean of the peaks (1.0) fired
    prof2 = _profile({"L0": {10: 1.0, 20: 0.6}, "L1": {10: 0.6, 20: 1.0}})
    locs2 = _locs([(0, 0), (100, 0)], [2, 2])
    assert TR.usage_catchments(kpi, locs2, cfg, prof2)["catch_peak"].max() == pytest.approx(0.8)
    assert TR.usage_trigger(kpi, locs2, cfg, 2026, prof2).empty
    assert len(TR.usage_trigger(kpi, locs2, cfg, 2026)) == 1  # without a profile: the upper bound fires
    assert "upper bound" in TR.usage_trigger(kpi, locs2, cfg, 2026)["reason"].iloc[0]
    # the same busy hour at both: the summed peak equals the peaks
    prof3 = _profile({"L0": {10: 0.9}, "L1": {10: 0.9, 20: 0.1}})
    d = TR.usage_trigger(kpi, locs2, cfg, 2026, prof3)
    assert len(d) == 1 and f"90 % ({how_label(10)})" in d["reason"].iloc[0] and "upper bound" not in d["reason"].iloc[0]


def test_request_lead_time_parts_add_up_to_the_setting(cfg):
    """Request to working point is request_lead_time_weeks (20 weeks = 140 days, inside DOMAIN's 4-6 months);
    the old code added the 8 decision weeks on top (28 weeks, 196 days: more than 6 months)."""
    d = decide_requests(_req([{"request_id": "r", "dx": 0.0, "dy": 0.0}]), _locs([(5000, 0)], [1]), None, cfg)
    r = d.iloc[0]
    assert r["decision"] == "granted"
    total = (r["operational_date"] - r["requested_date"]).days
    assert total == 7 * cfg.placement.request_lead_time_weeks == 140
    assert 4 * 365.25 / 12 <= total <= 6 * 365.25 / 12
    assert (r["decided_date"] - r["requested_date"]).days == 56
    assert (r["objection_end_date"] - r["decided_date"]).days == 42
    assert r["objection_end_date"] <= r["operational_date"]
    # a lead time shorter than decision + objection is refused as configuration
    with pytest.raises(ValueError, match="exceed request_lead_time_weeks"):
        cfg.placement.request_lead_time_weeks = 12.0


def test_request_without_occupancy_data_is_na_not_room(cfg):
    """Locations within 250 m but no occupancy data: the old code said "2 of 2 have room" and refused."""
    locs = _locs([(0, 0), (100, 0), (3000, 0), (3100, 0)], [2, 2, 2, 2])
    req = _req([{"request_id": "a", "dx": 50.0, "dy": 0.0}, {"request_id": "b", "dx": 3050.0, "dy": 0.0}])
    d = decide_requests(req, locs, None, cfg).set_index("request_id")
    assert pd.isna(d.loc["a", "decision"]) and d.loc["a", "decision_rule"] == "REQ-NO-OCCUPANCY-DATA"
    assert d.loc["a", "decision_reason"].startswith(
        "n/a: 2 of 2 public location(s) within 250 m have no occupancy data")
    assert "have room (" not in d.loc["a", "decision_reason"]
    assert pd.isna(d.loc["a", "decided_date"]) and pd.isna(d.loc["a", "operational_date"])
    # data for L2 only (quiet): b has a location with room -> refused, and the unknown one is named
    kpi = _kpi([0.2], [0.1]).assign(location_id=["L2"])
    d2 = decide_requests(req, locs, kpi, cfg).set_index("request_id")
    assert d2.loc["b", "decision_rule"] == "REQ-POINT-AVAILABLE"
    assert d2.loc["b", "decision_reason"].startswith("1 of 2 public location(s) within 250 m have room")
    assert "1 without occupancy data" in d2.loc["b", "decision_reason"]
    assert d2.loc["a", "decision_rule"] == "REQ-NO-OCCUPANCY-DATA"
    # L0 busy, L1 without data: still not decided (n/a), and it says one is busy
    kpi3 = _kpi([0.95], [0.1])
    d3 = decide_requests(req, locs, kpi3, cfg).set_index("request_id")
    assert d3.loc["a", "decision_rule"] == "REQ-NO-OCCUPANCY-DATA" and "(1 busy)" in d3.loc["a", "decision_reason"]
    assert TR.request_demand(d3.reset_index(), cfg, [2026]).empty
