"""Configuration of the EV forecast and public charging need."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ForecastConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    base_year: int = Field(2025, description="Last observed year")
    years: list[int] = Field(list(range(2025, 2036)), description="Forecast years")
    bev_share_2035: dict[str, float] = Field(
        {"low": 0.38, "middle": 0.50, "high": 0.62},
        description="National share of passenger cars battery-electric in 2035 per scenario (ElaadNL 2025: 50 %)")
    van_bev_share_2035: dict[str, float] = Field(
        {"low": 0.25, "middle": 0.40, "high": 0.55}, description="Share of vans electric in 2035 per scenario")
    truck_bev_share_2035: dict[str, float] = Field(
        {"low": 0.10, "middle": 0.20, "high": 0.30}, description="Share of trucks electric in 2035 per scenario")
    public_dependence_share: float = Field(
        0.45, ge=0, le=1, description="Share of EVs that depend on public charging where homes lack private parking")
    default_share_no_private_parking: float = Field(
        0.55, ge=0, le=1, description="Share of homes without private parking when the data has none")
    energy_kwh_per_ev_year: float = Field(2500.0, description="Public charging energy per dependent EV per year, kWh")
    kwh_per_session: float = Field(9.0, description="Energy per public session, kWh (8-10)")
    target_occupancy_share: float = Field(0.35, ge=0, le=1, description="Target mean occupancy per EVSE when sizing need")
    evse_power_kw: float = Field(11.0, description="Power of a public AC EVSE for sizing, kW")
    afir_kw_per_bev: float = Field(1.3, description="AFIR: public power per registered BEV, kW")
    afir_kw_per_phev: float = Field(0.8, description="AFIR: public power per registered PHEV, kW")
    phev_per_bev: float = Field(0.25, description="PHEVs per BEV when PHEV counts are unknown")
