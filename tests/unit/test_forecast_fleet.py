"""National stock paths and the spreading of EVs over areas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from laadplan.forecast.fleet import electric_share, national_car_fleet, stock_paths
from laadplan.forecast.spread import adoption_weights, forecast_areas, project_fleet, spread_total


def _logit(p):
    return math.log(p / (1 - p))


def _expit(x):
    return 1 / (1 + math.exp(-x))


def test_car_share_observed_and_2035_targets(cfg):
    # CBS 85237NED 1 January 2025: 1,621,141 BEV of 9,247,810 cars (17.5 %, DOMAIN.md section 4)
    assert electric_share("car", 2025, "middle", cfg) == pytest.approx(1621141 / 9247810)
    assert electric_share("car", 2019, "high", cfg) == pytest.approx(314311 / 8442982)
    for sc, target in {"low": 0.38, "middle": 0.50, "high": 0.62}.items():
        assert electric_share("car", 2035, sc, cfg) == pytest.approx(target)
    # logistic path: 2030 is halfway on the logit scale between 2025 and 2035
    s25 = 1621141 / 9247810
    assert electric_share("car", 2030, "middle", cfg) == pytest.approx(_expit((_logit(s25) + _logit(0.5)) / 2))


def test_van_truck_paths_and_ordering(cfg):
    assert electric_share("van", 2025, "low", cfg) == pytest.approx(0.03)
    assert electric_share("truck", 2035, "high", cfg) == pytest.approx(0.30)
    for v in ("car", "van", "truck"):
        for y in range(2026, 2036):
            lo, mid, hi = (electric_share(v, y, s, cfg) for s in ("low", "middle", "high"))
            assert lo < mid < hi
            assert electric_share(v, y, "middle", cfg) > electric_share(v, y - 1, "middle", cfg)
    with pytest.raises(ValueError, match="unknown vehicle"):
        electric_share("bus", 2030, "middle", cfg)
    with pytest.raises(ValueError, match="unknown scenario"):
        electric_share("car", 2030, "extreme", cfg)


def test_stock_paths_middle_consistent_with_domain(cfg):
    p = stock_paths(cfg)
    cars = p[(p["vehicle"] == "car") & (p["scenario"] == "middle")].set_index("year")
    assert cars.loc[2025, "national_ev_stock"] == pytest.approx(1621141)
    assert bool(cars.loc[2023, "observed"]) and not bool(cars.loc[2026, "observed"])
    assert national_car_fleet(2027, cfg) == pytest.approx(9247810 * 1.012 ** 2)
    assert cars.loc[2035, "national_ev_stock"] == pytest.approx(0.5 * 9247810 * 1.012 ** 10)


def test_spread_total_by_hand():
    # proportional to fleet x weight: 100*2 : 300*1 = 2 : 3
    assert spread_total(100, np.array([100, 300]), np.array([2.0, 1.0])) == pytest.approx([40, 60])
    # cap at 30 % of the fleet: area 0 would get 40 > 30, fixed at 30; the other takes the remaining 70
    assert spread_total(100, np.array([100, 300]), np.array([2.0, 1.0]), 0.3) == pytest.approx([30, 70])
    # cascading caps: fleets 10, 10, 100, weights 10, 5, 1, total 30, cap 50 %
    # step 1: trial 30*[100,50,100]/250 = [12,6,12] -> area 0 capped at 5; step 2: 25 over [50,100] ->
    # [8.33, 16.67] -> area 1 capped at 5; step 3: area 2 takes 20
    assert spread_total(30, np.array([10, 10, 100]), np.array([10.0, 5.0, 1.0]), 0.5) == pytest.approx([5, 5, 20])


def test_adoption_weights_by_hand(cfg):
    attrs = pd.DataFrame({"area_code": ["a", "b"], "income_per_inhabitant_keur": [20.0, 40.0],
                          "cars_per_household": [1.0, 1.0], "share_no_private_parking": [0.8, 0.2]})
    w = adoption_weights(attrs, cfg).set_index("area_code")["weight"]
    # (inc/30)^1 * exp(1.0 * (priv - 0.5)); priv = 0.2 and 0.8
    assert w["a"] == pytest.approx((20 / 30) * math.exp(-0.3))
    assert w["b"] == pytest.approx((40 / 30) * math.exp(0.3))
    # missing facts: urbanity class gives the parking share, else the default; weight factor 1
    attrs = pd.DataFrame({"area_code": ["c", "d"], "urbanity": [1, None]})
    out = adoption_weights(attrs, cfg).set_index("area_code")
    assert out.loc["c", "share_no_private_parking"] == pytest.approx(0.80)
    assert out.loc["d", "share_no_private_parking"] == pytest.approx(0.55)
    assert out.loc["c", "weight"] == pytest.approx(math.exp(1.0 * (0.20 - (0.20 + 0.45) / 2)))


def test_project_fleet_trend_and_mergers(cfg):
    years = np.arange(2019, 2024)
    counts = pd.DataFrame({"area_code": "A", "year": years, "cars": 1000 * np.exp(0.02 * (years - 2019)),
                           "vans": 100.0, "trucks": 10.0, "tractor_units": 5.0})
    merged = pd.DataFrame({"area_code": "M", "year": years, "cars": [0, 0, 0, 0, 500.0], "vans": [0, 0, 0, 0, 50.0],
                           "trucks": 0.0, "tractor_units": 0.0})
    f = project_fleet(pd.concat([counts, merged]), [2023, 2025], cfg).set_index(["area_code", "vehicle", "year"])
    assert f.loc[("A", "car", 2023), "fleet_count"] == pytest.approx(1000 * math.exp(0.08))  # observed
    assert f.loc[("A", "car", 2025), "fleet_count"] == pytest.approx(1000 * math.exp(0.02 * 6))  # trend
    assert f.loc[("A", "truck", 2025), "fleet_count"] == pytest.approx(15)  # trucks + tractor units, flat
    # a municipality that did not exist before 2023 grows with the national default from its one year
    assert f.loc[("M", "car", 2025), "fleet_count"] == pytest.approx(500 * 1.012 ** 2)
    # growth is clipped to the configured range
    fast = pd.DataFrame({"area_code": "F", "year": years, "cars": 1000 * 1.5 ** (years - 2019)})
    g = project_fleet(fast, [2024], cfg)["fleet_count"].iloc[0]
    assert g == pytest.approx(1000 * 1.5 ** 4 * 1.03)


@pytest.mark.parametrize("cap", [0.95, 0.68])
def test_spreading_sums_to_control_totals(cfg, cap):
    """For every year, scenario and vehicle, the areas of each province sum to share x provincial fleet."""
    cfg.forecast.max_area_ev_share = cap
    rng = np.random.default_rng(3)
    n = 40
    areas = pd.DataFrame({"area_code": [f"GM{i:04d}" for i in range(n)],
                          "province": np.where(np.arange(n) < 25, "Zuid-Holland", "Zeeland"),
                          "gm_code": [f"GM{i:04d}" for i in range(n)],
                          "income_per_inhabitant_keur": rng.uniform(20, 60, n),
                          "cars_per_household": rng.uniform(0.6, 1.6, n), "urbanity": rng.integers(1, 6, n)})
    counts = pd.DataFrame({"area_code": areas["area_code"], "year": 2023, "cars": rng.integers(1000, 90000, n),
                           "vans": rng.integers(100, 9000, n), "trucks": rng.integers(10, 900, n)})
    fleet = project_fleet(counts, cfg.forecast.years, cfg)
    ev = forecast_areas(fleet, areas, cfg, area_level="gemeente")
    assert len(ev) == n * 3 * 3 * len(cfg.forecast.years)
    assert (ev["ev_share"] <= cap + 1e-12).all()
    if cap < 0.9:  # the cap binds somewhere, so the water filling is exercised
        assert (ev["ev_share"] >= cap - 1e-9).any()
    m = ev.merge(areas[["area_code", "province"]], on="area_code")
    for (y, sc, v, prov), g in m.groupby(["year", "scenario", "vehicle", "province"]):
        assert g["ev_count"].sum() == pytest.approx(electric_share(v, y, sc, cfg) * g["fleet_count"].sum(), rel=1e-9)
    # higher income -> higher share (other weight inputs equal)
    eq = areas.assign(cars_per_household=1.0, urbanity=3)
    ev2 = forecast_areas(fleet, eq, cfg, area_level="gemeente")
    s = ev2[(ev2["year"] == 2026) & (ev2["scenario"] == "middle") & (ev2["vehicle"] == "car")].merge(eq)
    s = s[s["ev_share"] < cap - 1e-9]
    for _, g in s.groupby("province"):
        assert np.all(np.diff(g.sort_values("income_per_inhabitant_keur")["ev_share"].to_numpy()) > 0)
