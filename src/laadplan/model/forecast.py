"""Forecast family tables: CBS vehicle counts per area, the EV forecast per area, the public charging
need per area (consumed by placement) and the AFIR fleet check."""

from __future__ import annotations

from . import Column as C
from . import Table, register

SCENARIOS = ("low", "middle", "high")
VEHICLES = ("car", "van", "truck")
VEHICLE_AREA_LEVELS = ("country", "province", "gemeente", "wijk", "buurt", "pc4")

VEHICLE_COUNTS = Table(
    "vehicle_counts",
    "Registered vehicles per area on 1 January (CBS StatLine 85236NED 'Motorvoertuigenpark; inwoners, soort "
    "voertuig en regio'), all fuels.",
    (
        C("area_code", "str", "CBS code: NL01, province PV28, gemeente GM0599, PC4 '3011'", nullable=False),
        C("area_level", "str", "area level", nullable=False, allowed=VEHICLE_AREA_LEVELS),
        C("year", "int", "reference year (stock on 1 January)", nullable=False, minimum=1990, maximum=2100),
        C("name", "str", "area name"),
        C("gm_code", "str", "municipality of the area (for PC4: the latest valid code)"),
        C("province", "str", "province name when known"),
        C("road_vehicles", "int", "all road vehicles (TotaalWegvoertuigen)", "vehicles", minimum=0),
        C("cars", "int", "passenger cars (Personenauto)", "vehicles", minimum=0),
        C("vans", "int", "vans (Bestelauto)", "vehicles", minimum=0),
        C("trucks", "int", "rigid trucks (Vrachtauto excl. trekker voor oplegger)", "vehicles", minimum=0),
        C("tractor_units", "int", "tractor units (Trekker voor oplegger)", "vehicles", minimum=0),
        C("buses", "int", "buses", "vehicles", minimum=0),
        C("motorcycles", "int", "motorcycles", "vehicles", minimum=0),
        C("source", "str", "reader and format"),
        C("source_file", "str", "file path or URL"),
        C("run_id", "str", "ingest run that wrote the row (ingest_runs.run_id)"),
    ),
    primary_key=("area_code", "area_level", "year"),
    family="forecast",
    indexes=(("gm_code",),),
)

EV_FORECAST = Table(
    "ev_forecast",
    "Battery-electric vehicles per area, year and scenario: the national share path applied to the area's "
    "fleet and spread by adoption weights so that areas sum to the control total (see laadplan.forecast.spread).",
    (
        C("area_code", "str", "area code", nullable=False),
        C("area_level", "str", "area level (gemeente, buurt, pc4, ...)", nullable=False),
        C("year", "int", "year (stock on 1 January)", nullable=False),
        C("scenario", "str", "EV scenario", nullable=False, allowed=SCENARIOS),
        C("vehicle", "str", "vehicle class", nullable=False, allowed=VEHICLES),
        C("gm_code", "str", "municipality of the area"),
        C("fleet_count", "float", "vehicles of this class (all fuels) in the area", "vehicles", minimum=0),
        C("weight", "float", "relative adoption weight of the area (1 = regional mean)", minimum=0),
        C("ev_count", "float", "battery-electric vehicles", "vehicles", minimum=0),
        C("ev_share", "float", "ev_count / fleet_count", "share", minimum=0, maximum=1),
    ),
    primary_key=("area_code", "area_level", "year", "scenario", "vehicle"),
    family="forecast",
)

FORECAST_NEED = Table(
    "forecast_need",
    "Public charging need per area, year and scenario: EVSEs needed for the EVs that depend on public "
    "charging versus EVSEs existing now (placement consumes this).",
    (
        C("area_code", "str", "area code", nullable=False),
        C("area_level", "str", "area level (gemeente, buurt, pc4, wijk)", nullable=False),
        C("year", "int", "forecast year", nullable=False),
        C("scenario", "str", "EV scenario", nullable=False, allowed=SCENARIOS),
        C("gm_code", "str", "municipality of the area"),
        C("ev_count", "float", "battery-electric passenger cars", "vehicles", minimum=0),
        C("public_ev_count", "float", "EVs depending on public charging", "vehicles", minimum=0),
        C("public_energy_kwh", "float", "public charging energy per year", "kWh", minimum=0),
        C("evses_needed", "int", "public EVSEs needed at the target occupancy", "EVSEs", minimum=0),
        C("evses_existing", "int", "public EVSEs existing now (evses / locations tables)", "EVSEs", minimum=0),
        C("evses_gap", "int", "max(0, evses_needed - evses_existing)", "EVSEs", minimum=0),
    ),
    primary_key=("area_code", "area_level", "year", "scenario"),
    family="forecast",
    indexes=(("area_level", "year", "scenario"),),
)

AFIR_FLEET_CHECK = Table(
    "afir_fleet_check",
    "AFIR art. 3 fleet-based target per municipality and for the region: public charging power >= "
    "kW per BEV x BEVs + kW per PHEV x PHEVs.",
    (
        C("area_code", "str", "gemeente code or REGION", nullable=False),
        C("area_level", "str", "gemeente or region", nullable=False),
        C("year", "int", "year", nullable=False),
        C("scenario", "str", "EV scenario", nullable=False, allowed=SCENARIOS),
        C("bev_count", "float", "battery-electric light-duty vehicles: cars and vans (M1 + N1)", "vehicles", minimum=0),
        C("phev_count", "float", "plug-in hybrid cars (estimated as phev_per_bev x battery-electric cars)", "vehicles", minimum=0),
        C("required_kw", "float", "AFIR required public power", "kW", minimum=0),
        C("public_kw", "float", "public charging power existing now", "kW", minimum=0),
        C("kw_per_bev", "float", "public_kw / bev_count", "kW/vehicle", minimum=0),
        C("compliant", "bool", "public_kw >= required_kw"),
    ),
    primary_key=("area_code", "area_level", "year", "scenario"),
    family="forecast",
)

register(VEHICLE_COUNTS, EV_FORECAST, FORECAST_NEED, AFIR_FLEET_CHECK)
