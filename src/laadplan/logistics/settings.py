"""Configuration of the AFIR corridor check, truck hubs, business parks and construction sites."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AfirMilestone(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year: int = Field(..., description="Milestone (end of year)")
    spacing_km: float = Field(..., description="Maximum distance between pools along the corridor, km")
    min_pool_kw: float = Field(..., description="Minimum pool output, kW")
    min_station_kw: float = Field(..., description="Power of the required high-power stations, kW")
    min_stations: int = Field(..., description="Stations of at least min_station_kw per pool")
    length_share: float = Field(1.0, description="Share of the network length that must be covered")
    network: str = Field("core", description="core, comprehensive or both")


def _heavy() -> list[AfirMilestone]:
    return [
        AfirMilestone(year=2025, spacing_km=120, min_pool_kw=1400, min_station_kw=350, min_stations=1,
                      length_share=0.15, network="both"),
        AfirMilestone(year=2027, spacing_km=120, min_pool_kw=1400, min_station_kw=350, min_stations=1,
                      length_share=0.50, network="both"),
        AfirMilestone(year=2030, spacing_km=60, min_pool_kw=3600, min_station_kw=350, min_stations=2,
                      length_share=1.0, network="core"),
        AfirMilestone(year=2030, spacing_km=100, min_pool_kw=1500, min_station_kw=350, min_stations=1,
                      length_share=1.0, network="comprehensive"),
    ]


def _light() -> list[AfirMilestone]:
    return [
        AfirMilestone(year=2025, spacing_km=60, min_pool_kw=400, min_station_kw=150, min_stations=1, network="core"),
        AfirMilestone(year=2027, spacing_km=60, min_pool_kw=600, min_station_kw=150, min_stations=1, network="core"),
    ]


class LogisticsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    heavy: list[AfirMilestone] = Field(default_factory=_heavy, description="AFIR heavy-duty milestones")
    light: list[AfirMilestone] = Field(default_factory=_light, description="AFIR light-duty milestones")
    pool_max_distance_km: float = Field(3.0, description="A pool counts for a corridor within this distance of the road, km")
    heavy_min_dc_kw: float = Field(150.0, description="A DC point counts for heavy duty from this power, kW")
    van_kwh_per_day: float = Field(60.0, description="Energy per electric van per working day, kWh")
    truck_kwh_per_day: float = Field(300.0, description="Energy per electric truck per working day, kWh")
    hub_charger_kw: list[float] = Field([22.0, 50.0, 150.0, 350.0], description="Power classes of hub chargers, kW")
    hub_charging_window_h: float = Field(10.0, description="Hours a day a hub charges its fleet (night and breaks)")
    battery_unit_kwh: float = Field(1000.0, description="Stationary or mobile battery unit size, kWh (about 1 MWh)")
    battery_power_kw: float = Field(500.0, description="Battery unit power, kW")
    temp_connection_cost_eur: float = Field(25000.0, description="Cost of a temporary grid connection, EUR")
    temp_connection_lead_weeks: float = Field(15.0, description="Lead time of a temporary connection, weeks")
    battery_swap_cost_eur: float = Field(450.0, description="Cost per mobile battery swap, EUR")
    battery_rent_eur_per_week: float = Field(1500.0, description="Rent per mobile battery unit per week, EUR")
    hub_cost_eur_per_kwh: float = Field(0.45, description="Energy price at a nearby hub, EUR/kWh")
    hub_max_distance_km: float = Field(5.0, description="A hub counts as nearby within this distance, km")
