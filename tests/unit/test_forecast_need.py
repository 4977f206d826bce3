"""Public charging need, existing supply and the AFIR fleet check, by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from laadplan.forecast.need import afir_check, evse_capacity_kwh_year, existing_supply, public_need


def _locations():
    return pd.DataFrame({
        "country_code": ["NL"] * 4, "party_id": ["ABC"] * 4, "location_id": ["L1", "L2", "L3", "L4"],
        "postal_code": ["3011 AB", "3011 CD", "3012 AA", None], "gm_code": ["GM0599", "GM0599", "GM0599", "GM0518"],
        "bu_code": ["BU1", "BU1", "BU2", None], "wk_code": None, "cell500_code": None,
        "n_evses": [2, 2, 4, 1], "max_power_kw": [11.0, 11.0, 22.0, 50.0]})


def _evses():
    return pd.DataFrame({
        "country_code": "NL", "party_id": "ABC",
        "location_id": ["L1", "L1", "L2", "L2", "L2"], "evse_uid": ["a", "b", "c", "d", "e"],
        "status": ["AVAILABLE", "CHARGING", "AVAILABLE", "REMOVED", "PLANNED"],
        "max_power_kw": [11.0, 11.0, 22.0, 22.0, 22.0]})


def test_existing_supply_counts_evses_and_falls_back_to_location():
    g = existing_supply(_locations(), _evses(), "gemeente").set_index("area_code")
    # GM0599: L1 two EVSEs (22 kW), L2 one counted EVSE (REMOVED and PLANNED not; 22 kW), L3 no EVSE rows:
    # its n_evses 4 x 22 kW
    assert g.loc["GM0599", "evses_existing"] == 2 + 1 + 4
    assert g.loc["GM0599", "public_kw"] == pytest.approx(22 + 22 + 88)
    assert g.loc["GM0518", "evses_existing"] == 1 and g.loc["GM0518", "public_kw"] == pytest.approx(50)
    pc = existing_supply(_locations(), _evses(), "pc4").set_index("area_code")["evses_existing"].to_dict()
    assert pc == {"3011": 3, "3012": 4}
    bu = existing_supply(_locations(), _evses(), "buurt").set_index("area_code")["evses_existing"].to_dict()
    assert bu == {"BU1": 3, "BU2": 4}
    with pytest.raises(ValueError, match="unknown area level"):
        existing_supply(_locations(), _evses(), "street")


def test_public_need_by_hand(cfg):
    ev = pd.DataFrame({"area_code": ["GM0599", "GM0518", "GM0599"], "area_level": "gemeente",
                       "year": [2030, 2030, 2030], "scenario": ["middle", "middle", "middle"],
                       "vehicle": ["car", "car", "van"], "gm_code": ["GM0599", "GM0518", "GM0599"],
                       "ev_count": [1000.0, 400.0, 999.0]})
    snp = pd.Series({"GM0599": 0.6})  # GM0518 unknown -> default 0.55
    existing = pd.DataFrame({"area_code": ["GM0599", "GM0518"], "evses_existing": [50, 500]})
    need = public_need(ev, snp, existing, cfg).set_index("area_code")
    assert len(need) == 2  # vans do not enter the public car need
    # dependent share 0.6*0.45 + 0.4*0.05 = 0.29; energy 290 * 2500 kWh; EVSE capacity
    # 365 days * (24 h * 0.35 / 8 h) sessions * 9 kWh = 3449.25 kWh/year
    assert evse_capacity_kwh_year(cfg) == pytest.approx(3449.25)
    assert need.loc["GM0599", "public_ev_count"] == pytest.approx(290)
    assert need.loc["GM0599", "evses_needed"] == math.ceil(290 * 2500 / 3449.25) == 211
    assert need.loc["GM0599", "evses_gap"] == 211 - 50
    dep = 0.55 * 0.45 + 0.45 * 0.05
    assert need.loc["GM0518", "evses_needed"] == math.ceil(400 * dep * 2500 / 3449.25)
    assert need.loc["GM0518", "evses_gap"] == 0  # surplus: gap never negative


def test_afir_check_by_hand(cfg):
    ev = pd.DataFrame({"area_code": ["BU1", "BU2", "BU3"], "gm_code": ["GM0599", "GM0599", "GM0518"],
                       "year": 2030, "scenario": "middle", "vehicle": "car", "ev_count": [60.0, 40.0, 10.0]})
    kw = pd.Series({"GM0599": 150.0, "GM0518": 5.0})
    a = afir_check(ev, kw, cfg).set_index("area_code")
    # GM0599: 100 BEV, 25 PHEV -> 1.3*100 + 0.8*25 = 150 kW required; 150 available: compliant
    assert a.loc["GM0599", "required_kw"] == pytest.approx(150)
    assert bool(a.loc["GM0599", "compliant"])
    assert a.loc["GM0518", "required_kw"] == pytest.approx(13 + 2) and not bool(a.loc["GM0518", "compliant"])
    assert a.loc["REGION", "bev_count"] == pytest.approx(110)
    assert a.loc["REGION", "required_kw"] == pytest.approx(165) and a.loc["REGION", "public_kw"] == pytest.approx(155)
    assert a.loc["REGION", "kw_per_bev"] == pytest.approx(155 / 110)
