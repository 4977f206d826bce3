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


@pytest.mark.slow
@pytest.mark.realdata
def test_forecast_plan_spreads_over_years_without_ceiling(store, cfg, shared_data):
    """Real NDW points, gemeente boundaries and CBS vehicles: the forecast plan for the 13 Zeeland gemeenten.

    Before: every EVSE in 2026, at most 8 cells x 4 candidates x 4 EVSEs = 128 per gemeente (+ usage), sites
    at the western edge of each gemeente, and the unmet need unreported. Measured when written: need 8,192
    EVSE-equivalents by 2030; plan 4,071 / 881 / 970 / 1,053 / 1,133 EVSEs in 2026-2030; unmet 84."""
    from laadplan.forecast.runner import forecast_run
    from laadplan.placement.plan import make_plan, unmet_need

    nd = shared_data / "ndw_ocpi"
    reader("areas")(store, str(shared_data / "gemeenten" / "gemeenten_zh_ze.geojson"), cfg)
    reader("locations")(store, str(nd / "locations_zh_ze.csv"), cfg)
    reader("vehicles")(store, str(shared_data / "cbs_vehicles" / "cbs_85236NED_vehicles_by_region_zh_ze.csv"), cfg)
    forecast_run(store, cfg, level="gemeente", scenarios=("middle",))
    zeeland = sorted(set(pd.read_csv(nd / "occupancy_location_hourly_sample.csv", usecols=["gm_code"])["gm_code"]))
    years = [2026, 2027, 2028, 2029, 2030]
    cfg.placement.years = years
    cfg.placement.time_limit_s = 10
    cfg.region.concession_gm_codes = zeeland  # the plan keeps to the concession, as contract does
    inp, notes = load_inputs(store, cfg)
    assert notes["coverage"].startswith("n/a")  # no buurten or cells in the shared data
    res = make_plan(inp, cfg)
    s = res.sites
    assert set(s["gm_code"]) <= set(zeeland) and set(res.demand["gm_code"]) <= set(zeeland)
    # the need by hand: per gemeente the running maximum of the forecast gap (growth counts when it appears)
    f = store.frame("forecast_need")
    f = f[(f["scenario"] == "middle") & f["area_level"].eq("gemeente") & f["area_code"].isin(zeeland)
          & f["year"].isin(years)].sort_values(["area_code", "year"])
    f["cum"] = f.groupby("area_code")["evses_gap"].cummax().clip(lower=0)
    need = f.pivot(index="area_code", columns="year", values="cum").fillna(0)
    un = unmet_need(res.demand, years)
    assert un.groupby("year")["need_units"].sum().to_numpy() == pytest.approx(need.sum().to_numpy())
    assert res.stats["unmet_units_last_year"] == pytest.approx(need[2030].sum() - res.demand["served_2030"].sum())
    # no ceiling: a gemeente with need far above 128 gets far more than 128 EVSEs
    per_gm = s.groupby("gm_code")["evses"].sum()
    assert need[2030].max() > 500 and per_gm.max() > 500
    # spread by need: by each year no gemeente has more EVSEs than its need so far (plus at most one for a
    # fractional unit per year), and later years get EVSEs for the growth in them
    cum = s.pivot_table(index="gm_code", columns="year", values="evses", aggfunc="sum", fill_value=0) \
        .reindex(columns=years, fill_value=0).cumsum(axis=1)
    assert (cum - need.reindex(cum.index)[years] <= len(years)).all().all()
    by_year = s.groupby("year")["evses"].sum()
    assert set(by_year.index) == set(years) and by_year[2026] < 0.6 * by_year.sum()
    assert (s["demand_covered"] > 0).all()  # every year's new EVSEs serve demand in that year
    # the gemeente's sites are no longer one clump at its western edge: they lie in many 500 m cells
    from laadplan import geo

    u = s.drop_duplicates("site_id").reset_index(drop=True)
    u["cell"] = geo.cell_code(u["x_rd"], u["y_rd"]).to_numpy()
    assert u.groupby("gm_code")["cell"].nunique().min() >= 2
    assert u.groupby("cell").size().max() <= 8
    # the operator's build capacity caps each year; the rest waits (never earlier than needed)
    cfg.placement.build_capacity_evses_by_year = {y: 1500 for y in years}
    capped = make_plan(inp, cfg)
    cy = capped.sites.groupby("year")["evses"].sum()
    assert (cy <= 1500).all() and cy[2026] == 1500 and capped.stats["unmet_units_last_year"] > res.stats[
        "unmet_units_last_year"]
