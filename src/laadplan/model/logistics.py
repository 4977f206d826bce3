"""Logistics family tables: AFIR corridor coverage and gaps, truck hub suggestions, business-park hubs and
construction-site supply options. All are analysis outputs (replaced as a whole by each run)."""

from __future__ import annotations

from . import Column as C
from . import Table, register

_VEH = ("heavy", "light")
_DIR = ("forward", "backward")
_key = (
    C("corridor_id", "str", "corridor (road ref, '#2' for a second part)", nullable=False),
    C("ref", "str", "road reference, e.g. A16"),
    C("network", "str", "TEN-T network", allowed=("core", "comprehensive")),
    C("vehicle", "str", "AFIR vehicle class", nullable=False, allowed=_VEH),
    C("milestone_year", "int", "AFIR milestone (end of year)", nullable=False),
)

CORRIDORS = Table(
    "corridors",
    "The TEN-T corridor lines the AFIR check ran on (the shipped reference geometry or the user's road file, "
    "parts of one road merged): one row per corridor, its line as WGS84 WKB (PostGIS layer gis.corridors).",
    (
        C("corridor_id", "str", "corridor (road ref, '#2' for a second part)", nullable=False),
        C("ref", "str", "road reference, e.g. A16"),
        C("network", "str", "TEN-T network", allowed=("core", "comprehensive")),
        C("name", "str", "corridor name (from the road file, else the ref)"),
        C("length_km", "float", "length of the line in RD New", "km", minimum=0),
        C("source", "str", "road file the line came from ('reference' = laadplan's shipped geometry)"),
        C("geometry_wkb", "blob", "the corridor line (LineString), WGS84, WKB"),
    ),
    primary_key=("corridor_id",),
    family="logistics",
)

AFIR_COVERAGE = Table(
    "afir_coverage",
    "AFIR check per corridor, direction, vehicle class and milestone: qualifying pools, covered length "
    "(within spacing/2 of a qualifying pool), gaps over the spacing and compliance.",
    (
        *_key,
        C("direction", "str", "forward = digitised direction of the line", nullable=False, allowed=_DIR),
        C("length_km", "float", "corridor length", "km", minimum=0),
        C("spacing_km", "float", "maximum distance between pools", "km", minimum=0),
        C("required_share", "float", "share of the length that must be covered", "share", minimum=0, maximum=1),
        C("pools_near", "int", "pools within pool_max_distance_km serving this vehicle class", minimum=0),
        C("qualifying_pools", "int", "pools meeting power and station minima and serving the direction", minimum=0),
        C("covered_km", "float", "length within spacing/2 of a qualifying pool (or virtual end)", "km", minimum=0),
        C("covered_share", "float", "covered_km / length_km", "share", minimum=0, maximum=1),
        C("gaps_over_spacing", "int", "gaps longer than the spacing", minimum=0),
        C("longest_gap_km", "float", "longest stretch inside the corridor between qualifying pools or its ends", "km"),
        C("compliant", "bool", "share reached (milestones below 100 %) or no gap over the spacing"),
    ),
    primary_key=("corridor_id", "vehicle", "milestone_year", "direction"),
    family="logistics",
)

AFIR_GAPS = Table(
    "afir_gaps",
    "Stretches of a corridor lacking a qualifying pool within the AFIR spacing.",
    (
        *_key,
        C("direction", "str", "travel direction", nullable=False, allowed=_DIR),
        C("spacing_km", "float", "required spacing", "km"),
        C("gap_km", "float", "length of the stretch inside the corridor (to_km - from_km)", "km"),
        C("excess_km", "float", "distance between the anchors (pools or virtual ends) minus spacing_km", "km"),
        C("from_km", "float", "start of the stretch along the direction (clipped to the corridor)", "km",
          nullable=False),
        C("to_km", "float", "end of the stretch (clipped)", "km"),
        C("from_pool", "str", "name of the pool at the start, or 'end'"),
        C("to_pool", "str", "name of the pool at the end, or 'end'"),
        C("new_pools_needed", "int", "ceil(gap/spacing) - 1", minimum=0),
    ),
    primary_key=("corridor_id", "vehicle", "milestone_year", "direction", "from_km"),
    family="logistics",
)

HUB_SUGGESTIONS = Table(
    "hub_suggestions",
    "Ranked candidate sites (truck parkings, service areas, existing pools to upgrade) per corridor gap of the "
    "next AFIR milestone, with grid status and the power a pool there needs.",
    (
        C("corridor_id", "str", "corridor", nullable=False),
        C("ref", "str", "road reference"),
        C("milestone_year", "int", "milestone the gap belongs to", nullable=False),
        C("directions", "str", "directions the gap applies to (forward+backward)"),
        C("gap_from_km", "float", "gap start (forward positions)", "km", nullable=False),
        C("gap_to_km", "float", "gap end", "km"),
        C("gap_km", "float", "gap length incl. virtual ends", "km"),
        C("new_pools_needed", "int", "new pools the gap needs", minimum=0),
        C("rank", "int", "rank within the gap (1 best; 0 = no candidate)", nullable=False, minimum=0),
        C("candidate_id", "str", "truck parking id or pool id"),
        C("name", "str", "candidate name"),
        C("kind", "str", "truck_parking, service_area, rest_area, other or existing_pool"),
        C("pos_km", "float", "position along the corridor", "km"),
        C("offset_km", "float", "distance from the road line", "km"),
        C("deviation_km", "float", "distance to the nearest ideal position", "km"),
        C("grid_status", "int", "capacity-map offtake status 0-3 (null unknown)"),
        C("score_km", "float", "ranking score (lower is better)", "km"),
        C("closes_gap", "bool", "one pool here splits the gap into compliant parts"),
        C("existing_kw", "float", "power already there", "kW", minimum=0),
        C("needed_kw", "float", "additional pool power for the milestone", "kW", minimum=0),
        C("needed_stations", "int", "additional high-power stations for the milestone", minimum=0),
        C("lat", "float", "latitude WGS84", "deg"),
        C("lon", "float", "longitude WGS84", "deg"),
    ),
    primary_key=("corridor_id", "milestone_year", "gap_from_km", "rank"),
    family="logistics",
)

PARK_HUBS = Table(
    "park_hubs",
    "Business parks: electric vans and trucks per year, daily energy and the shared hub sizing.",
    (
        C("park_id", "str", "business park id", nullable=False),
        C("name", "str", "park name"),
        C("year", "int", "year", nullable=False),
        C("scenario", "str", "forecast scenario"),
        C("ev_vans", "float", "electric vans", "vehicles", minimum=0),
        C("ev_trucks", "float", "electric trucks", "vehicles", minimum=0),
        C("daily_kwh", "float", "energy per working day", "kWh", minimum=0),
        C("installed_kw", "float", "installed charger power", "kW", minimum=0),
        C("peak_kw", "float", "peak demand", "kW", minimum=0),
        C("connection_kw", "float", "connection needed without battery", "kW", minimum=0),
        C("connection_kw_battery", "float", "connection needed with the stationary battery", "kW", minimum=0),
        C("chargers_json", "json", "chargers per power class, {kW: count}"),
        C("grid_status", "int", "capacity-map offtake status (null unknown)"),
        C("priority_class", "str", "now, battery or wait (priority year only)"),
        C("priority", "int", "rank across parks in the priority year"),
        C("lat", "float", "latitude WGS84 of the park (its point on surface for a polygon)", "deg"),
        C("lon", "float", "longitude WGS84", "deg"),
        C("x_rd", "float", "RD New x (EPSG:28992)", "m"),
        C("y_rd", "float", "RD New y (EPSG:28992)", "m"),
    ),
    primary_key=("park_id", "year"),
    family="logistics",
)

SITE_OPTIONS = Table(
    "site_options",
    "Construction sites: supply options (temporary grid connection, mobile batteries, nearby hub) with "
    "feasibility, reason and cost.",
    (
        C("site_id", "str", "site id", nullable=False),
        C("name", "str", "site name"),
        C("option", "str", "supply option", nullable=False, allowed=("grid", "battery", "hub")),
        C("feasible", "bool", "option possible"),
        C("reason", "str", "why (not)"),
        C("cost_eur", "float", "cost over the site's life", "EUR"),
        C("units", "int", "mobile battery units on site"),
        C("swaps_per_day_max", "int", "battery swaps (or hub trips) on the busiest day"),
        C("swaps_total", "float", "swaps (or trips) over the site's life"),
        C("lead_weeks", "float", "lead time", "weeks"),
        C("hub_name", "str", "nearest hub"),
        C("hub_km", "float", "distance to the nearest hub", "km"),
        C("recommended", "bool", "cheapest feasible option"),
    ),
    primary_key=("site_id", "option"),
    family="logistics",
)

register(CORRIDORS, AFIR_COVERAGE, AFIR_GAPS, HUB_SUGGESTIONS, PARK_HUBS, SITE_OPTIONS)
