"""Placement family tables: grid capacity (capacity map), existing grid connections, driver requests,
candidate sites and the yearly placement plan."""

from __future__ import annotations

from . import Column as C
from . import POINT_COLUMNS, SOURCE_COLUMNS, Table, register

GRID_AREA_LEVELS = ("supply_area", "pc6", "congestion_area")
REQUEST_DECISIONS = ("granted", "refused")
CANDIDATE_KINDS = ("parking_bay", "municipal_list", "generated", "other")
GRID_ROUTES = ("new_connection", "existing_connection")

_src = SOURCE_COLUMNS
_point = POINT_COLUMNS

GRID_AREAS = Table(
    "grid_areas",
    "Netbeheer Nederland capacity map: offtake (afname) and feed-in status per supply area (voedingsgebied) "
    "and per PC6. Status 0 available, 1 limited, 2 under investigation / congestion management, 3 shortage, "
    "-1 unknown. JSON RAG colours map transparant 0, yellow 1, amber 2, red 3.",
    (
        C("area_code", "str", "supply area short code (Uniek ID voedingsgebied) or PC6 written 3011AB",
          nullable=False),
        C("level", "str", "supply_area, pc6 or congestion_area (TSO)", nullable=False, allowed=GRID_AREA_LEVELS),
        C("name", "str", "recognisable name (Herkenbare naam voedingsgebied)"),
        C("operator", "str", "grid operator (DSO/TSO) publishing the area"),
        C("parent_code", "str", "for a PC6: the supply area / substation that feeds it"),
        C("offtake_status", "int", "offtake status 0-3 (-1 unknown)", minimum=-1, maximum=3),
        C("feedin_status", "int", "feed-in status 0-3 (-1 unknown)", minimum=-1, maximum=3),
        C("demand_available_mw", "float", "available transport capacity for offtake, present year", "MW", minimum=0),
        C("demand_quoted_mw", "float", "needed (quoted) transport capacity for offtake", "MW", minimum=0),
        C("demand_queue_mw", "float", "waiting list for offtake", "MW", minimum=0),
        C("demand_requests_in_queue", "int", "number of offtake requests in the waiting list", minimum=0),
        C("demand_alleviation_year", "int", "year from which offtake congestion is expected to be solved"),
        C("geometry_wkb", "blob", "supply-area polygon, WGS84, WKB (when the source has one)"),
        C("valid_from", "date", "first day the data is valid (dataset date / valid.start)"),
        *_src,
        C("last_updated_utc", "timestamp", "dataset issue date (UTC); a newer issue replaces an older row"),
    ),
    primary_key=("level", "area_code"),
    version_column="last_updated_utc",
    family="placement",
)

GRID_CONNECTIONS = Table(
    "grid_connections",
    "Existing grid connections (EAN18) with contracted and measured peak power; spare_kw = contracted - peak "
    "(0 when the peak exceeds the contract).",
    (
        C("ean18", "str", "EAN18 connection code (18 digits, GS1 check digit)", nullable=False),
        *_point,
        C("gm_code", "str", "municipality the connection lies in (when areas are loaded)"),
        C("postal_code", "str", "PC6 of the connection, written 3011AB"),
        C("contracted_kw", "float", "contracted transport capacity", "kW", minimum=0),
        C("peak_kw", "float", "measured peak offtake", "kW", minimum=0),
        C("spare_kw", "float", "contracted - peak, floored at 0", "kW", minimum=0),
        C("feeds_charge_points", "bool", "the connection already feeds public charge points"),
        *_src,
        C("last_updated_utc", "timestamp", "measurement / export date (UTC)"),
    ),
    primary_key=("ean18",),
    version_column="last_updated_utc",
    family="placement",
)

REQUESTS = Table(
    "requests",
    "Driver requests for a public charge point (aanvraaggestuurd plaatsen) and their decision with the rule "
    "that decided it (filled by `laadplan requests` / `laadplan plan`).",
    (
        C("request_id", "str", "request id", nullable=False),
        C("requested_date", "date", "date of the request", nullable=False),
        C("address", "str", "street and number of the driver"),
        C("postal_code", "str", "PC6 written 3011AB"),
        *_point,
        C("gm_code", "str", "municipality of the address (from the file or point-in-polygon)"),
        C("lives_in_gm", "bool", "the driver lives in the municipality"),
        C("works_in_gm", "bool", "the driver works in the municipality"),
        C("drives_ev", "bool", "the driver drives an electric car (registration checked)"),
        C("has_private_parking", "bool", "the driver has private parking (driveway, garage)"),
        C("annual_kwh", "float", "expected yearly charging energy (about 2,000 kWh)", "kWh", minimum=0),
        C("decision", "str", "granted or refused", allowed=REQUEST_DECISIONS),
        C("decision_rule", "str", "code of the rule that decided (see laadplan.placement.requests.RULES)"),
        C("decision_reason", "str", "the decision explained for a person"),
        C("nearest_point_m", "float", "walking-catchment distance (RD straight line) to the nearest public point",
          "m", minimum=0),
        C("points_within_walk", "int", "public locations within the walking distance", minimum=0),
        C("decided_date", "date", "date of the decision"),
        C("objection_end_date", "date", "end of the objection period on the traffic decision"),
        C("operational_date", "date", "expected date the point works"),
        *_src,
        C("last_updated_utc", "timestamp", "record modification time (UTC)"),
    ),
    primary_key=("request_id",),
    version_column="last_updated_utc",
    family="placement",
)

CANDIDATES = Table(
    "candidates",
    "Candidate sites for new public charge points: parking bays, a municipal location list or generated "
    "grid points inside built-up areas.",
    (
        C("site_id", "str", "candidate id", nullable=False),
        *_point,
        C("gm_code", "str", "municipality"),
        C("postal_code", "str", "PC6 written 3011AB (used for the PC6 capacity-map status)"),
        C("kind", "str", "where the candidate comes from", allowed=CANDIDATE_KINDS),
        C("max_evses", "int", "most EVSEs the site can take (empty: the configured maximum)", minimum=1),
        C("name", "str", "description, e.g. street"),
        *_src,
        C("last_updated_utc", "timestamp", "record modification time (UTC)"),
    ),
    primary_key=("site_id",),
    version_column="last_updated_utc",
    family="placement",
)

PLAN_SITES = Table(
    "plan_sites",
    "The placement plan: new EVSEs per site per year with the triggers and demand they cover and the grid "
    "route. Holds the main plan of the last run (with the congestion rule unless `laadplan plan --no-congestion`); "
    "the other variant and the comparison are written as files. grid_route tells whether a site uses an existing "
    "connection.",
    (
        C("year", "int", "plan year in which the EVSEs are placed", nullable=False),
        C("gm_code", "str", "municipality"),
        C("site_id", "str", "candidate site", nullable=False),
        C("lat", "float", "latitude WGS84", "deg"),
        C("lon", "float", "longitude WGS84", "deg"),
        C("x_rd", "float", "easting RD New", "m"),
        C("y_rd", "float", "northing RD New", "m"),
        C("evses", "int", "new EVSEs placed at the site in this year", minimum=0),
        C("evses_total", "int", "new EVSEs at the site up to and including this year", minimum=0),
        C("power_kw", "float", "power of the EVSEs placed this year", "kW", minimum=0),
        C("triggers", "str", "triggers of the demand the site covers (usage, request, coverage, forecast), ';'-joined"),
        C("demand_covered", "float", "demand units (EVSE-equivalents) the site serves in this year", "EVSE",
          minimum=0),
        C("reasons", "str", "the demand the site covers explained for a person"),
        C("grid_route", "str", "new_connection or existing_connection", allowed=GRID_ROUTES),
        C("ean18", "str", "existing connection used (existing_connection route)"),
        C("area_code", "str", "capacity-map area (PC6 or supply area) of the site"),
        C("offtake_status", "int", "offtake status of that area (-1 unknown)", minimum=-1, maximum=3),
        C("lead_time_weeks", "float", "expected weeks from decision to a working point", "weeks", minimum=0),
        C("congestion_rule", "bool", "plan made with the congestion rule (refusal of new connections)",
          nullable=False),
        C("scenario", "str", "forecast scenario used for forecast demand"),
        C("created_utc", "timestamp", "when the plan was made (UTC)"),
    ),
    primary_key=("congestion_rule", "year", "site_id"),
    family="placement",
)

register(GRID_AREAS, GRID_CONNECTIONS, REQUESTS, CANDIDATES, PLAN_SITES)
