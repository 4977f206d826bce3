"""Configuration of the EV forecast and public charging need."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: CBS StatLine 85237NED "Personenauto's actief; voertuigkenmerken, regio's, 1 januari", Nederland,
#: brandstofsoort Elektriciteit (battery-electric passenger cars), 1 January of each year.
CBS_BEV_STOCK = {2019: 314311.0, 2020: 401917.0, 2021: 526122.0, 2022: 724986.0, 2023: 957886.0,
                 2024: 1254510.0, 2025: 1621141.0}
#: Same table, all fuels (Totaal), Nederland.
CBS_CAR_FLEET = {2019: 8442982.0, 2020: 8584391.0, 2021: 8686419.0, 2022: 8827709.0, 2023: 8917107.0,
                 2024: 9067393.0, 2025: 9247810.0}


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
    # -- national stock paths -------------------------------------------------------------------------
    bev_stock_observed: dict[int, float] = Field(
        dict(CBS_BEV_STOCK),
        description="National battery-electric passenger car stock on 1 January (CBS StatLine 85237NED, "
                    "Nederland, brandstof Elektriciteit); the observed part of every scenario path")
    car_fleet_observed: dict[int, float] = Field(
        dict(CBS_CAR_FLEET), description="National passenger car fleet on 1 January, all fuels (CBS 85237NED Totaal)")
    car_fleet_growth_per_year: float = Field(
        0.012, description="Growth of the national car fleet per year after the last observed year "
                           "(CBS 2019-2025: about 1.5 %/year)")
    van_bev_share_base: float = Field(
        0.03, ge=0, le=1, description="Share of vans battery-electric in the base year (DOMAIN: about 3 %)")
    truck_bev_share_base: float = Field(
        0.008, ge=0, le=1, description="Share of trucks (incl. tractor units) electric in the base year (under 1 %)")
    # -- spreading over areas ---------------------------------------------------------------------------
    weight_income_elasticity: float = Field(
        1.0, description="Adoption weight exponent on income per inhabitant relative to the regional mean")
    weight_cars_per_household_elasticity: float = Field(
        0.5, description="Adoption weight exponent on cars per household relative to the regional mean")
    weight_private_parking: float = Field(
        1.0, description="Adoption weight: exp(this x (share of homes with private parking - regional mean))")
    weight_urbanity_per_step: float = Field(
        0.0, description="Adoption weight: exp(this x (CBS urbanity class - regional mean)); 0 = urbanity acts "
                         "only through the private-parking share")
    share_no_private_parking_by_urbanity: dict[int, float] = Field(
        {1: 0.80, 2: 0.65, 3: 0.50, 4: 0.35, 5: 0.25},
        description="Share of homes without private parking per CBS urbanity class (1 very strongly urban .. 5 "
                    "not urban) when the area has no measured share (assumption, verify)")
    max_area_ev_share: float = Field(
        0.95, gt=0, le=1, description="Highest share of an area's fleet that may be electric; excess is "
                                      "redistributed to other areas so totals are kept")
    area_fleet_growth_min: float = Field(-0.02, description="Lowest yearly fleet growth extrapolated for an area")
    area_fleet_growth_max: float = Field(0.03, description="Highest yearly fleet growth extrapolated for an area")
    # -- public need ------------------------------------------------------------------------------------
    public_share_with_private_parking: float = Field(
        0.05, ge=0, le=1, description="Share of EVs whose home has private parking that still depend on public "
                                      "charging")
    connected_h_per_session: float = Field(
        8.0, gt=0, description="Mean connected time of a public session, h (sets sessions an EVSE can serve)")
