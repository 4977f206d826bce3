"""Configuration of data-driven placement: triggers, requests, candidates and the optimiser."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    build_capacity_evses_by_year: dict[int, int] = Field(
        {}, description="EVSEs the operator can build in a plan year, where lower than new_evses_per_year (e.g. a "
                        "ramp-up after the concession's award in Q2 2026); a year not listed: new_evses_per_year")
    share_budget_by_need: bool = Field(
        True, description="When the need so far exceeds the budget so far, give every municipality the same share of "
                          "its need by each year (cumulative budget / cumulative need), as yearly per-gemeente caps, "
                          "instead of filling some municipalities and leaving others empty")
    evses_per_site_max: int = Field(4, description="Most new EVSEs at one site")
    evse_power_kw: float = Field(11.0, description="Power of a new public AC EVSE, kW")
    site_connection_kw: float = Field(
        0.0, description="Extra kW a site draws beyond its EVSEs' power (0: the EVSEs' total)")
    min_spacing_m: float = Field(
        150.0, ge=0, description="Minimum distance between two sites of one plan (new sites, loaded candidate sites "
                                 "included; existing charge points are not sites), m; a pair exactly this far apart "
                                 "is allowed. Above the candidate grid's diagonal (141 m on the 100 m grid), so "
                                 "neighbouring grid points are never both sites: on the grid the nearest two sites "
                                 "are 200 m apart, and a cell's demand is met by spaced sites (see "
                                 "generated_candidates_per_demand). 0: no spacing rule")
    candidate_grid_m: float = Field(100.0, description="Spacing of generated candidate sites in built-up areas, m")
    weight_usage: float = Field(1.0, description="Objective weight of usage-trigger demand")
    weight_request: float = Field(1.5, description="Objective weight of granted driver requests")
    weight_coverage: float = Field(1.0, description="Objective weight of coverage demand")
    weight_forecast: float = Field(0.8, description="Objective weight of forecast demand")
    request_objection_weeks: float = Field(6.0, description="Objection period on the traffic decision, weeks")
    request_lead_time_weeks: float = Field(
        20.0, description="Weeks from a driver's request to a working point without grid work (DOMAIN: about 4-6 "
                          "months); includes the decision and the objection period")
    method: Literal["mip", "greedy"] = Field(
        "mip", description="mip: HiGHS branch-and-cut from the greedy plan, within time_limit_s (a solve that "
                           "reaches the limit on a busy machine can end at another plan than on a quiet one; its "
                           "status says so); greedy: the greedy plan only (fast, deterministic, never better)")
    time_limit_s: float = Field(60.0, description="HiGHS time limit per solve, s")
    mip_rel_gap: float = Field(0.01, description="Relative optimality gap at which HiGHS stops")
    max_candidates_per_demand: int = Field(
        8, ge=1, description="Optimiser: a demand point may be served by this many nearest candidate sites (more "
                             "where its demand needs more full sites)")
    decompose_max_vars: int = Field(
        250_000, description="Optimiser: above this many flow variables, solve the LP relaxation block by block and "
                              "round it (certified bound) instead of the MIP")
    demand_units_per_evse: float = Field(
        1.0, gt=0, description="Demand units (EVSE-equivalents) one new EVSE serves per year")
    unknown_offtake_status: int = Field(
        0, ge=0, le=3, description="Offtake status assumed where the capacity map has no area (-1 unknown)")
    connection_request_month: int = Field(
        7, ge=1, le=12, description="Month of the plan year in which a site's connection is requested (refusal test)")
    area_capacity_share: float = Field(
        0.05, ge=0, le=1, description="Share of a supply area's available offtake capacity (capacity map, MW) that "
                                      "new public charge points may take over the plan")
    connections_charge_points_only: bool = Field(
        False, description="Only connections that already feed charge points may be shared by new sites")
    request_decision_weeks: float = Field(8.0, description="Weeks from a request to its decision")
    request_require_lives_or_works: bool = Field(
        True, description="Eligibility: the driver lives or works in the municipality")
    request_require_ev: bool = Field(True, description="Eligibility: the driver drives an electric car")
    request_refuse_private_parking: bool = Field(
        True, description="Eligibility: drivers with private parking are refused")
    forecast_max_points_per_area: int = Field(
        0, ge=0, description="Optional cap on the 500 m cells an area's forecast demand is spread over (0: as "
                             "many as its growth needs, see forecast_units_per_point). A cap limits what the plan "
                             "can place in an area: cap x generated_candidates_per_demand x evses_per_site_max")
    forecast_units_per_point: float = Field(
        0.0, ge=0, description="Most forecast demand units (EVSE-equivalents) put at one 500 m cell; an area's growth "
                               "is spread over growth / this cells (0: generated_candidates_per_demand x "
                               "evses_per_site_max, what the cell's candidate sites can take)")
    generated_candidates_per_demand: int = Field(
        4, ge=1, description="Generated candidates per demand point: at least this many grid points within its walking "
                             "distance, pairwise at least min_spacing_m apart (nearest first), and more where its "
                             "demand needs more sites (units / (evses_per_site_max x demand_units_per_evse)); fewer "
                             "only where no more fit within the walking distance (then unmet, reported)")
    candidates_in_demand_gemeente: bool = Field(
        True, description="Generated candidates for a demand point lie in its own gemeente (its municipality decides "
                          "on its street space, and per-gemeente EVSEs, budget shares and unmet need count its own "
                          "sites); False: in any gemeente within walking distance (a cell at a border is then partly "
                          "served by sites across it)")
    generate_candidates: bool = Field(
        True, description="Generate grid candidates near demand (inside gemeenten) besides loaded candidate sites")

    @model_validator(mode="after")
    def _lead_time_parts(self) -> "PlacementConfig":
        parts = self.request_decision_weeks + self.request_objection_weeks
        if parts > self.request_lead_time_weeks + 1e-9:
            raise ValueError(f"request_decision_weeks + request_objection_weeks ({parts:g}) exceed "
                             f"request_lead_time_weeks ({self.request_lead_time_weeks:g}): the request-to-working-"
                             "point lead time includes both")
        return self
