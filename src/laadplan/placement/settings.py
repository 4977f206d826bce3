"""Configuration of data-driven placement: triggers, requests, candidates and the optimiser."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PlacementConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    years: list[int] = Field([2026, 2027, 2028, 2029, 2030], description="Planning years")
    trigger_window_days: int = Field(91, description="Usage trigger window: days of data before the plan (a quarter)")
    trigger_peak_occupancy_share: float = Field(
        0.85, ge=0, le=1, description="Usage trigger: peak-hour-of-week occupancy at or above this (80-90 %)")
    trigger_mean_occupancy_share: float = Field(
        0.50, ge=0, le=1, description="Usage trigger: mean occupancy at or above this (Utrecht: about 50 %)")
    trigger_kwh_per_evse_day: float = Field(40.0, description="Usage trigger: kWh per EVSE per day at or above this")
    coverage_min_households: int = Field(125, description="Coverage: 500 m cells with at least this many households need a point")
    new_evses_per_year: int = Field(8000, description="Budget of new public EVSEs per year in the region (about 40,000 over 2026-2030)")
    new_evses_per_year_by_gm_code: dict[str, int] = Field({}, description="Optional per-municipality yearly caps")
    evses_per_site_max: int = Field(4, description="Most new EVSEs at one site")
    evse_power_kw: float = Field(11.0, description="Power of a new public AC EVSE, kW")
    site_connection_kw: float = Field(
        0.0, description="Extra kW a site draws beyond its EVSEs' power (0: the EVSEs' total)")
    min_spacing_m: float = Field(100.0, description="Minimum distance between two new sites, m")
    candidate_grid_m: float = Field(100.0, description="Spacing of generated candidate sites in built-up areas, m")
    weight_usage: float = Field(1.0, description="Objective weight of usage-trigger demand")
    weight_request: float = Field(1.5, description="Objective weight of granted driver requests")
    weight_coverage: float = Field(1.0, description="Objective weight of coverage demand")
    weight_forecast: float = Field(0.8, description="Objective weight of forecast demand")
    request_objection_weeks: float = Field(6.0, description="Objection period on the traffic decision, weeks")
    request_lead_time_weeks: float = Field(20.0, description="Request to working point without grid work (4-6 months)")
    time_limit_s: float = Field(60.0, description="HiGHS time limit per solve, s")
    mip_rel_gap: float = Field(0.01, description="Relative optimality gap at which HiGHS stops")
