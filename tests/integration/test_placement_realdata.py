"""Real data: the NDW charge points of Zuid-Holland + Zeeland and the Zeeland per-location occupancy
snapshots (June 2026), ingested through the project's readers; a plan for the Zeeland municipalities."""

from __future__ import annotations

import pandas as pd
import pytest

from laadplan.ingest import reader
from laadplan.placement.plan import plan_both
from laadplan.placement.store_io import load_inputs


@pytest.mark.slow
@pytest.mark.realdata
def test_zeeland_plan_from_real_points_and_occupancy(store, cfg, shared_data):
    nd = shared_data / "ndw_ocpi"
    reader("areas")(store, str(shared_data / "gemeenten" / "gemeenten_zh_ze.geojson"), cfg)
    reader("locations")(store, str(nd / "locations_zh_ze.csv"), cfg)
    reader("status")(store, str(nd / "occupancy_location_hourly_sample.csv"), cfg)
    zeeland = set(pd.read_csv(nd / "occupancy_location_hourly_sample.csv", usecols=["gm_code"])["gm_code"])
    assert len(zeeland) == 13
    cfg.placement.years = [2026, 2027, 2028, 2029, 2030]
    cfg.placement.time_limit_s = 20
    inp, notes = load_inputs(store, cfg)
    assert notes["usage_kpi_source"] == "status"
    inp.locations = inp.locations[inp.locations["gm_code"].isin(zeeland)].reset_index(drop=True)
    inp.kpi = inp.kpi[inp.kpi["location_id"].isin(inp.locations["location_id"])]
    inp.areas = inp.areas[inp.areas["area_code"].isin(zeeland)]
    n_csv = pd.read_csv(nd / "locations_zh_ze.csv", usecols=["gm_code"])["gm_code"].isin(zeeland).sum()
    assert 0.9 * n_csv <= len(inp.locations) <= n_csv  # the reader keeps nearly all of them
    assert len(inp.kpi) > 0.5 * len(inp.locations)
    a, b, cmp = plan_both(inp, cfg)
    assert len(a.demand) > 0 and (a.demand["trigger"] == "usage").all()
    # the busiest real catchments (peak-hour occupancy >= 85 %) get new EVSEs, only in Zeeland
    assert len(a.sites) > 0 and set(a.sites["gm_code"]) <= zeeland
    assert a.sites["reasons"].str.startswith("usage:").all()
    assert a.sites["reasons"].str.contains("occupancy").all() or a.sites["reasons"].str.contains("kWh").all()
    assert (a.sites["triggers"] == "usage").all()
    assert a.stats["objective"] >= a.stats["greedy_objective"] - 1e-6
    # no capacity map loaded: every site gets a new connection (status unknown, treated as available)
    assert (a.sites["grid_route"] == "new_connection").all()
    assert set(cmp["gm_code"]) <= zeeland
