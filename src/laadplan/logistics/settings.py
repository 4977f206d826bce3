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
    """AFIR Art. 4(1)(a)-(d): heavy-duty pools per direction of travel on the TEN-T road network."""
    return [
        AfirMilestone(year=2025, spacing_km=120, min_pool_kw=1400, min_station_kw=350, min_stations=1,
                      length_share=0.15, network="both"),
        AfirMilestone(year=2027, spacing_km=120, min_pool_kw=2800, min_station_kw=350, min_stations=2,
                      length_share=0.50, network="core"),
        AfirMilestone(year=2027, spacing_km=120, min_pool_kw=1400, min_station_kw=350, min_stations=1,
                      length_share=0.50, network="comprehensive"),
        AfirMilestone(year=2030, spacing_km=60, min_pool_kw=3600, min_station_kw=350, min_stations=2,
                      length_share=1.0, network="core"),
        AfirMilestone(year=2030, spacing_km=100, min_pool_kw=1500, min_station_kw=350, min_stations=1,
                      length_share=1.0, network="comprehensive"),
    ]


def _light() -> list[AfirMilestone]:
    """AFIR Art. 3(2) (core) and 3(3) (comprehensive): light-duty pools per direction of travel."""
    return [
        AfirMilestone(year=2025, spacing_km=60, min_pool_kw=400, min_station_kw=150, min_stations=1, network="core"),
        AfirMilestone(year=2027, spacing_km=60, min_pool_kw=600, min_station_kw=150, min_stations=2, network="core"),
        AfirMilestone(year=2027, spacing_km=60, min_pool_kw=300, min_station_kw=150, min_stations=1,
                      length_share=0.50, network="comprehensive"),
        AfirMilestone(year=2030, spacing_km=60, min_pool_kw=300, min_station_kw=150, min_stations=1,
                      network="comprehensive"),
        AfirMilestone(year=2035, spacing_km=60, min_pool_kw=600, min_station_kw=150, min_stations=2,
                      network="comprehensive"),
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
    # -- corridor check (AFIR) -------------------------------------------------------------------------
    end_rule: str = Field(
        "half", pattern="^(half|pool)$",
        description="How corridor ends count: 'half' = a virtual pool half a spacing beyond each end (the first "
                    "and last real pool must lie within spacing/2 of the end; neutral assumption about the "
                    "network outside the region); 'pool' = each end counts as a pool (optimistic)")
    direction_rule: str = Field(
        "carriageway", pattern="^(both|side|carriageway)$",
        description="Which direction of travel a site serves (AFIR asks the power per direction): 'carriageway' "
                    "(default): sites facing each other across the road (within carriageway_pair_m along it, "
                    "carriageway_min_separation_m apart across it) serve one direction each, the right-hand one "
                    "the forward direction, and are never merged into one pool; a lone site serves the direction "
                    "of its side of the line (right-hand traffic); 'side': side of the line only, within "
                    "side_tolerance_m of it both; 'both': every site serves both directions (old behaviour)")
    side_tolerance_m: float = Field(
        50.0, description="With direction_rule 'side', a pool this close to the line serves both directions, m")
    carriageway_pair_m: float = Field(
        600.0, description="With direction_rule 'carriageway', sites this close along the road are checked for "
                           "lying on opposite carriageways (service areas such as '... Oost' / '... West'), m")
    carriageway_min_separation_m: float = Field(
        150.0, description="With direction_rule 'carriageway', sites at least this far apart across the road lie on "
                          "opposite carriageways, m")
    both_directions_min_offset_m: float = Field(
        0.0, ge=0, description="With direction_rule 'carriageway', a site at least this far from the road line is "
                               "off the motorway (at an exit) and reachable from both directions; 0 (default): off, "
                               "no site counts for both directions, m")
    pool_merge_m: float = Field(
        300.0, description="Charge locations closer than this are one pool (power and stations add up), m")
    light_min_dc_kw: float = Field(50.0, description="A DC location counts as a light-duty pool from this power, kW")
    freight_stations_assumed: int = Field(
        1, ge=1, description="High-power stations assumed per freight-feed location (the feed gives only max kW)")
    heavy_requires_truck_access: bool = Field(
        True, description="A heavy-capable site counts for heavy-duty only when its data says trucks can reach it "
                          "(truck parking nearby, truck hub flag, truck name or operator); off: every high-power "
                          "site counts for trucks as well (a car fast-charging site is no truck pool)")
    truck_name_pattern: str = Field(
        r"truck|vrachtwagen|\bhgv\b|\bmcs\b|megawatt",
        description="Regular expression (case-insensitive) on a site's name that says trucks can reach it")
    truck_operators: list[str] = Field(
        ["Milence", "WattHub"], description="Operators whose sites are truck charging hubs *(verify)*")
    truck_access_radius_m: float = Field(
        300.0, description="A site within this distance of a truck parking is reachable by trucks, m")
    heavy_store_layers: list[str] = Field(
        ["freight"], description="Store location layers whose DC points count as heavy-duty pools")
    # -- hub suggestions ----------------------------------------------------------------------------------
    hub_grid_penalty_km: float = Field(
        10.0, description="Ranking penalty per capacity-map offtake status level (0-3), km of extra deviation")
    hub_non_truck_penalty_km: float = Field(
        5.0, description="Ranking penalty for a candidate that is no truck parking or service area, km")
    hub_candidate_radius_km: float = Field(
        2.0, description="Truck parkings within this distance of a corridor are hub candidates, km")
    urban_nodes: list[str] = Field(
        ["GM0599", "GM0518"],
        description="Gemeenten that are TEN-T urban nodes (Rotterdam, 's-Gravenhage) *(verify against the TEN-T list)*")
    urban_node_kw: dict[str, float] = Field(
        {"2025": 900.0, "2030": 1800.0},
        description="AFIR: aggregated heavy-duty charging power per urban node by end of year, kW *(verify)*")
    urban_node_min_station_kw: float = Field(
        150.0, description="AFIR Art. 4(1)(e): only heavy-duty stations of at least this power count for an urban "
                           "node, kW")
    safe_parking_stations: dict[str, int] = Field(
        {"2027": 2, "2030": 4},
        description="AFIR: high-power stations per safe and secure truck parking area by end of year *(verify)*")
    safe_parking_min_station_kw: float = Field(
        100.0, description="Station power that counts at a safe truck parking area, kW *(verify)*")
    safe_parking_radius_m: float = Field(
        300.0, description="Stations within this distance of a truck parking count for it, m")
    # -- business parks -----------------------------------------------------------------------------------
    vans_per_firm: float = Field(2.0, description="Vans per firm on a business park when the park gives none")
    trucks_per_firm: float = Field(0.3, description="Trucks per firm on a business park when the park gives none")
    van_charger_kw: float = Field(22.0, description="Hub charger class used for vans, kW (one of hub_charger_kw)")
    truck_charger_kw: float = Field(150.0, description="Hub charger class used for trucks, kW (one of hub_charger_kw)")
    hub_charger_utilisation: float = Field(
        0.8, gt=0, le=1, description="Share of the charging window a hub charger delivers energy")
    hub_simultaneity: float = Field(
        0.8, gt=0, le=1, description="Share of installed hub charger power drawn at the same time (peak)")
    hub_battery_units: int = Field(1, ge=0, description="Stationary battery units per hub for peak shaving")
    park_scenario: str = Field("middle", description="Forecast scenario used for business parks")
    park_years: list[int] = Field([2026, 2027, 2028, 2030, 2035], description="Years reported for business parks")
    park_priority_year: int = Field(2030, description="Year whose hub sizing ranks the parks")
    # -- construction sites -------------------------------------------------------------------------------
    site_working_days_per_week: int = Field(5, ge=1, le=7, description="Working days per week on a site")
    site_simultaneity: float = Field(1.0, gt=0, le=1, description="Share of machine power drawn at the same time")
    temp_connection_max_kw: float = Field(
        1000.0, description="Largest temporary connection offered without a new substation, kW")
    grid_energy_eur_per_kwh: float = Field(0.25, description="Energy price on a temporary connection, EUR/kWh")
    battery_energy_eur_per_kwh: float = Field(
        0.35, description="Energy price of the charge a mobile battery arrives with, EUR/kWh")
    battery_max_swaps_per_day: int = Field(6, ge=0, description="Most mobile battery swaps a site can handle per day")
    hub_trip_eur_per_km: float = Field(
        3.0, description="Transport cost per km to fetch energy from a nearby hub (machine or battery trailer), EUR")
