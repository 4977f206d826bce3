"""Issue 11.5 on the real NDW data: watt figures (maxPowerKw 7360 on AC sites) are never kW giants, and the
Rotterdam urban node verdict follows from the truck-capable power."""

from __future__ import annotations

import pytest

from laadplan.config import RegionConfig
from laadplan.ingest.areas import ingest_areas
from laadplan.ingest.locations import ingest_locations
from laadplan.logistics import corridors as co
from laadplan.logistics import pipeline as pl

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

ENECO = {"B619A3E6-59DB-435F-B1CB-34F6B2B53F3B",  # Afrikaweg 1 Hulst, 7360 (AC, full detail)
         "01edd4aa-6800-11f0-aa8f-42010aa400b8",  # Erasmus MC - Westzeedijk 353, 2222
         "12e35d7e-4e73-11e8-926c-42010a840002",  # Airportplein 60, 7360
         "8df8261e-b638-11ea-9e50-42010a840fda"}  # Erasmus MC - Westzeedijk, 7360


@pytest.fixture(scope="module")
def real(shared_data):
    from laadplan.store import Store

    cfg = RegionConfig()
    store = Store(":memory:")
    ingest_areas(store, str(shared_data / "gemeenten" / "gemeenten_zh_ze.geojson"), cfg)
    res = ingest_locations(store, str(shared_data / "ndw_ocpi" / "locations_zh_ze.csv"), cfg)
    yield cfg, store, res, shared_data / "ndw_ocpi" / "nederland_freight_chargers.geojson"
    store.close()


def test_watt_figures_are_left_empty_at_ingest(real):
    cfg, store, res, _ = real
    got = store.query("SELECT location_id, max_power_kw FROM locations WHERE location_id IN "
                      f"({', '.join(repr(i) for i in ENECO)})")
    assert set(got["location_id"]) == ENECO and got["max_power_kw"].isna().all()
    # every row read; the only ones set aside repeat another row (LP-DUPLICATE, counted in test_ingest_realdata)
    assert res.read == 31_703 and set(res.by_rule) <= {"LP-DUPLICATE"}
    assert any("LP-POWER" in n and ": 4" in n for n in res.notes)
    # nothing else in the file is above 1,500 kW (the raw maximum of the other rows is 400 kW)
    assert float(store.query("SELECT max(max_power_kw) AS m FROM locations").m.iloc[0]) <= 1500


def test_watt_figures_are_no_truck_pools_and_rotterdam_node_changes(real):
    cfg, store, _, freight = real
    out = pl.load_pools(store, cfg, freight)
    assert not ENECO & set(out.tables["locations"]["pool_id"])
    lp = out.problems[out.problems["rule_code"] == "LP-POWER"]
    assert ENECO <= set(lp["record_id"])  # the feed's copies are quarantined with the rule code
    areas = store.frame("areas", where="level = 'gemeente'", columns=["area_code", "name", "geometry_wkb"])
    nodes = co.urban_node_check(out.tables["pools"], areas, cfg.logistics).set_index(["gm_code", "milestone_year"])
    assert not nodes.loc[("GM0599", 2030), "compliant"]  # was 'compliant' with 18,088 kW
    # every high-power site counted for trucks (the old rule): Truck parking Waalhaven 396 + Knaap tankstation
    # 350 + WattHub Maasvlakte 400 = 1,146 kW (by hand from the file), not 18,088
    loose = cfg.model_copy(update={"logistics": cfg.logistics.model_copy(update={"heavy_requires_truck_access": False})})
    o2 = pl.load_pools(store, loose, freight)
    n2 = co.urban_node_check(o2.tables["pools"], areas, loose.logistics).set_index(["gm_code", "milestone_year"])
    assert n2.loc[("GM0599", 2030), "power_kw"] == 1146.0 and not n2.loc[("GM0599", 2030), "compliant"]
    assert n2.loc[("GM0599", 2025), "compliant"]  # 1,146 >= 900 kW
