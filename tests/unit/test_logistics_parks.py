"""Business parks: hub sizing and battery peak shaving on hand-computed cases, demand, reader, priority."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from laadplan.config import RegionConfig
from laadplan.logistics import parks as pk


def lcfg(**kw):
    cfg = RegionConfig()
    base = dict(van_kwh_per_day=60.0, truck_kwh_per_day=300.0, hub_charging_window_h=10.0,
                hub_charger_utilisation=0.8, hub_simultaneity=0.8, van_charger_kw=22.0, truck_charger_kw=150.0,
                hub_charger_kw=[22.0, 50.0, 150.0, 350.0], hub_battery_units=1, battery_unit_kwh=1000.0,
                battery_power_kw=500.0)
    base.update(kw)
    for k, v in base.items():
        setattr(cfg.logistics, k, v)
    return cfg


def test_hub_sizing_by_hand():
    h = pk.size_hub(10, 2, lcfg().logistics)
    # vans: 10 x 60 = 600 kWh on 22 kW chargers delivering 22 x 10 h x 0.8 = 176 kWh each -> 4 chargers
    # trucks: 2 x 300 = 600 kWh on 150 kW chargers delivering 1,200 kWh each -> 1 charger
    assert h["daily_kwh"] == 1200.0
    assert h["chargers_22kw"] == 4 and h["chargers_150kw"] == 1 and h["chargers_50kw"] == 0
    assert h["installed_kw"] == 4 * 22 + 150  # 238
    assert h["peak_kw"] == pytest.approx(0.8 * 238)  # 190.4 > 1,200 / 10
    assert h["connection_kw"] == pytest.approx(190.4)
    # big battery (1 MWh, 500 kW): C = max(1200/24, 190.4 - 500, 190.4 - 1000 / (1200/190.4)) = 50
    assert h["connection_kw_battery"] == pytest.approx(50.0)
    assert h["shaved_kw"] == pytest.approx(140.4)


def test_peak_shaving_with_a_small_battery_by_hand_and_by_simulation():
    c = lcfg(battery_unit_kwh=200.0, battery_power_kw=100.0).logistics
    h = pk.size_hub(10, 2, c)
    t = 1200 / 190.4  # hours at peak
    want = max(1200 / 24, 190.4 - 100, 190.4 - 200 / t)  # = 158.67: the energy limit binds
    assert h["connection_kw_battery"] == pytest.approx(want)
    assert want == pytest.approx(158.6667, abs=1e-3)

    def feasible(conn_kw: float, step_h: float = 1 / 360) -> bool:
        """Second method: simulate one day in 10-second steps; battery starts full and must end full."""
        soc, b, pb = 200.0, 200.0, 100.0
        n = int(round(24 / step_h))
        for i in range(n):
            load = 190.4 if i * step_h < t else 0.0
            need = load - conn_kw
            if need > 0:  # discharge
                if need > pb + 1e-9:
                    return False
                soc -= need * step_h
                if soc < -1e-6:
                    return False
            else:  # spare connection capacity recharges the battery
                soc = min(b, soc + min(-need, pb) * step_h)
        return soc >= b - 1e-3

    assert feasible(want + 0.5)
    assert not feasible(want - 0.5)


def test_energy_floor_binds_when_battery_is_large():
    # a huge battery cannot push the connection below the day's energy spread over 24 h
    h = pk.size_hub(100, 0, lcfg(battery_unit_kwh=50_000.0, battery_power_kw=10_000.0).logistics)
    assert h["daily_kwh"] == 6000.0
    assert h["connection_kw_battery"] == pytest.approx(6000 / 24)
    # no vehicles: nothing to size
    z = pk.size_hub(0, 0, lcfg().logistics)
    assert z["installed_kw"] == 0 and z["connection_kw"] == 0 and z["connection_kw_battery"] == 0


def test_no_battery_means_no_shaving():
    h = pk.size_hub(10, 2, lcfg(hub_battery_units=0).logistics)
    assert h["connection_kw_battery"] == pytest.approx(h["connection_kw"])


def test_park_demand_with_given_share():
    cfg = lcfg()
    parks = pd.DataFrame({"park_id": ["P"], "name": ["p"], "vans": [100.0], "trucks": [20.0]})
    shares = {"van": 0.1, "truck": 0.05}
    d = pk.park_demand(parks, cfg, years=[2030], scenario="high",
                       share_fn=lambda v, y, s, c: shares[v] if (y, s) == (2030, "high") else math.nan)
    r = d.iloc[0]
    assert r["ev_vans"] == pytest.approx(10.0) and r["ev_trucks"] == pytest.approx(1.0)
    assert r["daily_kwh"] == pytest.approx(10 * 60 + 1 * 300)


def test_park_demand_uses_the_forecast_fleet_share():
    from laadplan.forecast.fleet import electric_share

    cfg = RegionConfig()
    parks = pd.DataFrame({"park_id": ["P"], "name": ["p"], "vans": [200.0], "trucks": [50.0]})
    d = pk.park_demand(parks, cfg, years=[2027, 2035])
    for r in d.itertuples():
        assert r.ev_vans == pytest.approx(200 * electric_share("van", r.year, "middle", cfg))
        assert r.ev_trucks == pytest.approx(50 * electric_share("truck", r.year, "middle", cfg))
    assert d["ev_vans"].iloc[1] > d["ev_vans"].iloc[0]  # adoption grows


def test_read_parks_estimates_and_quarantines(tmp_path):
    p = tmp_path / "parks.csv"
    p.write_text("park_id,name,lat,lon,area_ha,firms,vans,trucks,spare_kw\n"
                 "A,Alpha,51.9,4.5,100,50,,,\n"
                 "B,Beta,51.8,4.4,80,10,30,6,500\n"
                 ",NoId,51.8,4.4,80,10,,,\n"
                 "C,Swapped,4.4,51.8,80,10,,,\n"
                 "D,Text,51.8,4.4,80,many,,,\n"
                 "B,Again,51.8,4.4,80,10,,,\n"
                 "E,NoFirms,51.8,4.4,80,,12,,\n")
    parks, problems = pk.read_parks(p, RegionConfig())
    assert list(parks["park_id"]) == ["A", "B"]
    a = parks.set_index("park_id").loc["A"]
    assert a["vans"] == 50 * 2.0 and a["trucks"] == pytest.approx(50 * 0.3) and a["vehicles_estimated"]
    assert parks.set_index("park_id").loc["B", "spare_kw"] == 500
    assert list(problems["rule_code"]) == ["LP-MISSING", "LP-COORDS-NL", "LP-TYPE", "LP-DUPLICATE", "LP-MISSING"]
    assert list(problems["position"]) == [3, 4, 5, 6, 7]
    assert all(str(p) in m for m in problems["message"])


def test_read_parks_geojson_polygon(tmp_path):
    import json

    poly = [[4.50, 51.90], [4.52, 51.90], [4.52, 51.92], [4.50, 51.92], [4.50, 51.90]]
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [poly]},
         "properties": {"park_id": "G", "name": "Geo", "firms": 40, "vans": 90, "trucks": 9}}]}
    f = tmp_path / "parks.geojson"
    f.write_text(json.dumps(doc))
    parks, problems = pk.read_parks(f, RegionConfig())
    assert len(problems) == 0 and parks["vans"].iloc[0] == 90
    assert 4.50 < parks["lon"].iloc[0] < 4.52 and 51.90 < parks["lat"].iloc[0] < 51.92


def test_priority_respects_grid_status():
    cfg = lcfg()
    parks = pd.DataFrame({"park_id": ["free", "congested_fits", "congested_wait", "unknown", "free_small"],
                          "name": list("abcde"), "vans": [100.0, 300.0, 400.0, 50.0, 10.0],
                          "trucks": [0.0, 0.0, 0.0, 0.0, 0.0],
                          "spare_kw": [0.0, 10_000.0, 0.0, 0.0, 0.0]})
    d = pk.park_demand(parks, cfg, years=[2030], share_fn=lambda v, y, s, c: 1.0)
    status = pd.Series([0, 3, 2, pd.NA, 1], dtype="Int64")
    pr = pk.prioritise(d, parks, status, cfg, year=2030)
    assert list(pr["park_id"]) == ["free", "unknown", "free_small", "congested_fits", "congested_wait"]
    cls = dict(zip(pr["park_id"], pr["priority_class"]))
    assert cls == {"free": "now", "unknown": "now", "free_small": "now", "congested_fits": "battery",
                   "congested_wait": "wait"}
    assert pr.set_index("park_id").loc["unknown", "grid_unknown"]
    assert list(pr["priority"]) == [1, 2, 3, 4, 5]
    assert np.all(np.diff(pr["daily_kwh"].to_numpy()[:3]) <= 0)
