"""Configuration of concession contract management and the region's budget."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class ContractConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    uptime_norm_share: float = Field(0.99, ge=0, le=1, description="Minimum uptime per EVSE per month")
    max_failures_per_month: int = Field(3, description="Most failures per EVSE per month")
    up_statuses: list[str] = Field(["AVAILABLE", "CHARGING", "RESERVED", "BLOCKED"], description="Statuses counting as up")
    down_statuses: list[str] = Field(["OUTOFORDER", "INOPERATIVE", "UNKNOWN"], description="Statuses counting as down")
    recurring_fault_months: int = Field(3, description="A fault recurring in this many consecutive months is recurring")
    max_tariff_eur_kwh_incl_vat: float = Field(0.48, description="Maximum energy tariff incl. VAT (revised quarterly)")
    max_tariff_by_period: dict[str, float] = Field(
        {}, description="Maximum tariff incl. VAT per quarter, e.g. {\"2026Q3\" = 0.45}; overrides the default")
    max_lead_time_days: float = Field(182.0, description="Norm: granted request to working point, days")
    max_status_age_s: float = Field(30.0, description="LINDA: EVSE status at most this old, s")
    max_tariff_age_h: float = Field(24.0, description="LINDA: tariffs current within this after a session, h")
    max_cdr_rejected_share: float = Field(0.02, description="Norm: share of CDRs rejected per month")
    concession_target_evses: int = Field(40000, description="Concession target of new EVSEs 2026-2030 (verify)")
    excluded_statuses: list[str] = Field(
        ["PLANNED", "REMOVED"], description="Statuses counting neither up nor down: the EVSE is not in service")
    status_gap_h: float = Field(
        24.0, description="A feed silent longer than this (h) after an observation has no data from then on")
    status_gap_scope: str = Field(
        "party", pattern="^(evse|party|all)$",
        description="Whose silence makes a missing stretch: the operator's feed (party), the whole feed (all) or "
                    "the EVSE itself (evse, for snapshot sources)")
    status_gap_policy: str = Field(
        "excluded", pattern="^(excluded|down|up)$",
        description="What time without status data counts as: excluded (not in the uptime denominator), down or up")
    min_status_coverage_share: float = Field(
        0.95, ge=0, le=1, description="Norm: share of an operator's EVSE-hours covered by status data per month")
    vat_pct_when_missing: float | None = Field(
        None, ge=0, description="VAT % the region assumes when an OCPI price component omits vat (most NDW tariffs "
                                "do); empty: no assumption, such a tariff's verdict is 'vat_unknown', not 'compliant'")
    tariff_norm_party_ids: list[str] = Field(
        ["LMS"], description="Party ids of the concession's operator(s): only their connectors are held to the "
                             "maximum tariff and alerted; others are shown for comparison. Default the incumbent "
                             "EQUANS (LMS) until the new concession's operator is known (verify); empty: every operator")
    tariff_norm_power_types: list[str] = Field(
        ["AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE"],
        description="Connector power types the maximum tariff applies to (the concession's AC points, not DC fast "
                    "charging)")
    typical_session_energy_kwh: float = Field(
        10.0, gt=0, description="Typical session priced against the norm with all price components: energy, kWh")
    typical_session_charging_h: float = Field(
        2.0, gt=0, description="Typical session: charging time (OCPI TIME), h")
    typical_session_parking_h: float = Field(
        1.0, ge=0, description="Typical session: time connected but not charging after charging (OCPI PARKING_TIME), h")
    granted_decisions: list[str] = Field(
        ["granted", "toegekend", "approved", "accepted"], description="requests.decision values meaning granted")
    concession_start: date = Field(date(2026, 7, 1), description="Start of the placement period of the concession")
    min_smart_charging_share_new: float = Field(
        1.0, ge=0, le=1, description="Norm: share of EVSEs placed since the concession start that can charge smart")


class BudgetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    placement_years: list[int] = Field([2026, 2027, 2028, 2029, 2030], description="Years of the placement period")
    budget_eur_per_year_placement: float = Field(150000.0, description="Budget per year during placement, EUR")
    budget_eur_per_year_exploitation: float = Field(40000.0, description="Budget per year during exploitation (30-50k), EUR")
    budget_eur_total_max: float = Field(1000000.0, description="Most spent in all, EUR")
    reserved_eur: float = Field(1440000.0, description="Reserved to cover the costs, EUR")
    exploitation_years: int = Field(5, description="Years of exploitation after the placement period")
