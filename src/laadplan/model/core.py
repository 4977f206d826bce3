"""Foundation tables: areas, charge points (locations / EVSEs / connectors), tariffs and their version
history, sessions, status observations, quarantine and the ingest log."""

from __future__ import annotations

from dataclasses import replace

from . import Column as C
from . import POINT_COLUMNS, SOURCE_COLUMNS, Table, register

EVSE_STATUSES = ("AVAILABLE", "BLOCKED", "CHARGING", "INOPERATIVE", "OUTOFORDER", "PLANNED", "REMOVED",
                 "RESERVED", "UNKNOWN")
PARKING_TYPES = ("ON_STREET", "PARKING_LOT", "PARKING_GARAGE", "UNDERGROUND_GARAGE", "ALONG_MOTORWAY",
                 "ON_DRIVEWAY")
POWER_TYPES = ("AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC")
AREA_LEVELS = ("province", "gemeente", "wijk", "buurt", "pc4", "pc6", "cell500", "supply_area")

_src = SOURCE_COLUMNS
_area_codes = (
    C("gm_code", "str", "CBS municipality code the point falls in (point-in-polygon), e.g. GM0599"),
    C("wk_code", "str", "CBS district code, when wijk areas are loaded"),
    C("bu_code", "str", "CBS neighbourhood code, when buurt areas are loaded"),
    C("cell500_code", "str", "CBS 500 m grid cell (RD New), always set when coordinates are valid"),
)
_point = POINT_COLUMNS

AREAS = Table(
    "areas",
    "Administrative and statistical areas with CBS facts. Polygons in WGS84 as WKB.",
    (
        C("area_code", "str", "CBS code (GM0599, WK059901, BU05990101, PC4 3011, cell E0920N4370)", nullable=False),
        C("level", "str", "area level", nullable=False, allowed=AREA_LEVELS),
        C("name", "str", "area name"),
        C("parent_code", "str", "code of the enclosing area (buurt -> wijk -> gemeente -> province)"),
        C("gm_code", "str", "municipality the area belongs to"),
        C("province", "str", "province name"),
        C("inhabitants", "int", "inhabitants (CBS)", "persons", minimum=0),
        C("households", "int", "private households (CBS)", "households", minimum=0),
        C("cars", "int", "passenger cars registered (CBS)", "cars", minimum=0),
        C("cars_per_household", "float", "passenger cars per household (CBS)", "cars/household", minimum=0),
        C("income_per_inhabitant_keur", "float", "average income per inhabitant (CBS)", "kEUR", minimum=0),
        C("urbanity", "int", "CBS stedelijkheid 1 (very strongly urban) .. 5 (not urban)", minimum=1, maximum=5),
        C("share_apartments", "float", "share of dwellings that are apartments (CBS)", "share", minimum=0, maximum=1),
        C("share_no_private_parking", "float", "share of homes without private parking", "share", minimum=0, maximum=1),
        C("area_km2", "float", "land area", "km2", minimum=0),
        C("centroid_lat", "float", "representative point latitude", "deg"),
        C("centroid_lon", "float", "representative point longitude", "deg"),
        C("geometry_wkb", "blob", "polygon or multipolygon, WGS84, WKB"),
        *_src,
        C("last_updated_utc", "timestamp", "record modification time (UTC)"),
    ),
    primary_key=("area_code",),
    version_column="last_updated_utc",
    indexes=(("level",), ("gm_code",)),
)

LOCATIONS = Table(
    "locations",
    "Public charge locations (OCPI Location). One row per location.",
    (
        C("location_id", "str", "OCPI Location.id (scoped by country_code and party_id)", nullable=False),
        C("country_code", "str", "ISO 3166 alpha-2 country of the CPO", nullable=False),
        C("party_id", "str", "CPO party id (eMI3); '' when the source has none", nullable=False),
        C("name", "str", "display name"),
        C("address", "str", "street and number"),
        C("postal_code", "str", "postal code, written '1234 AB'"),
        C("city", "str", "city"),
        *_point,
        *_area_codes,
        C("operator", "str", "operator name"),
        C("owner", "str", "owner name"),
        C("parking_type", "str", "OCPI parking type", allowed=PARKING_TYPES),
        C("publish", "bool", "published to the public"),
        C("twentyfourseven", "bool", "open 24/7"),
        C("time_zone", "str", "IANA time zone"),
        C("n_evses", "int", "EVSEs at the location (from evses or the source's count)", minimum=0),
        C("max_power_kw", "float", "highest connector power at the location", "kW", minimum=0),
        C("has_dc", "bool", "at least one DC connector"),
        C("layer", "str", "passenger or freight", allowed=("passenger", "freight")),
        *_src,
        C("last_updated_utc", "timestamp", "OCPI last_updated (UTC)"),
    ),
    primary_key=("country_code", "party_id", "location_id"),
    version_column="last_updated_utc",
    indexes=(("gm_code",), ("location_id",)),
)

EVSES = Table(
    "evses",
    "EVSEs (OCPI EVSE) of each location.",
    (
        C("country_code", "str", "CPO country", nullable=False),
        C("party_id", "str", "CPO party id", nullable=False),
        C("location_id", "str", "location the EVSE belongs to", nullable=False),
        C("evse_uid", "str", "OCPI EVSE.uid, unique within the CPO", nullable=False),
        C("evse_id", "str", "eMI3 EVSE id, e.g. NL*ABC*E12345"),
        C("status", "str", "last known OCPI status", allowed=EVSE_STATUSES),
        C("capabilities", "str", "OCPI capabilities, ';'-joined"),
        C("smart_charging_capable", "bool", "has CHARGING_PROFILE_CAPABLE"),
        C("max_power_kw", "float", "highest connector power", "kW", minimum=0),
        C("n_connectors", "int", "connectors on the EVSE", minimum=0),
        C("lat", "float", "EVSE latitude when it has its own", "deg"),
        C("lon", "float", "EVSE longitude when it has its own", "deg"),
        C("derived_from_count", "bool", "created from the location's n_evses because the source lists no EVSE "
          "detail (NDW point_only rows): no id, status or connectors; uid 'count-<i>'"),
        *_src,
        C("last_updated_utc", "timestamp", "OCPI last_updated (UTC)"),
    ),
    primary_key=("country_code", "party_id", "location_id", "evse_uid"),
    version_column="last_updated_utc",
    indexes=(("location_id",),),
)

CONNECTORS = Table(
    "connectors",
    "Connectors (OCPI Connector) of each EVSE. Missing power is derived V x A (x3 for AC_3_PHASE at 230 V).",
    (
        C("country_code", "str", "CPO country", nullable=False),
        C("party_id", "str", "CPO party id", nullable=False),
        C("location_id", "str", "location", nullable=False),
        C("evse_uid", "str", "EVSE", nullable=False),
        C("connector_id", "str", "OCPI Connector.id within the EVSE", nullable=False),
        C("standard", "str", "OCPI connector standard, e.g. IEC_62196_T2"),
        C("format", "str", "SOCKET or CABLE"),
        C("power_type", "str", "AC_1_PHASE, AC_3_PHASE or DC", allowed=POWER_TYPES),
        C("max_voltage_v", "float", "maximum voltage", "V", minimum=0),
        C("max_amperage_a", "float", "maximum current", "A", minimum=0),
        C("power_kw", "float", "maximum electric power", "kW", minimum=0),
        C("power_derived", "bool", "power_kw derived from voltage x amperage (not reported)"),
        C("tariff_ids", "str", "OCPI tariff ids, ';'-joined"),
        *_src,
        C("last_updated_utc", "timestamp", "OCPI last_updated (UTC)"),
    ),
    primary_key=("country_code", "party_id", "location_id", "evse_uid", "connector_id"),
    version_column="last_updated_utc",
)

TARIFFS = Table(
    "tariffs",
    "OCPI 2.2.1 tariffs. Prices excl. VAT as in OCPI; the *_incl_vat columns add the element VAT.",
    (
        C("country_code", "str", "CPO country", nullable=False),
        C("party_id", "str", "CPO party id", nullable=False),
        C("tariff_id", "str", "OCPI Tariff.id", nullable=False),
        C("currency", "str", "ISO 4217 currency"),
        C("type", "str", "OCPI tariff type (AD_HOC_PAYMENT, PROFILE_CHEAP, PROFILE_FAST, PROFILE_GREEN, REGULAR)"),
        C("energy_price_eur_kwh_max", "float", "highest ENERGY price component excl. VAT", "EUR/kWh", minimum=0),
        C("energy_price_eur_kwh_max_incl_vat", "float", "highest ENERGY price incl. VAT", "EUR/kWh", minimum=0),
        C("time_price_eur_h_max", "float", "highest TIME price excl. VAT", "EUR/h", minimum=0),
        C("parking_price_eur_h_max", "float", "highest PARKING_TIME price excl. VAT", "EUR/h", minimum=0),
        C("flat_price_eur_max", "float", "highest FLAT price excl. VAT", "EUR", minimum=0),
        C("vat_pct", "float", "VAT percentage of the ENERGY component (or the first one)", "%", minimum=0),
        C("start_utc", "timestamp", "tariff valid from (OCPI start_date_time)"),
        C("end_utc", "timestamp", "tariff valid until (OCPI end_date_time)"),
        C("elements_json", "json", "the OCPI elements as JSON text (price components and restrictions)"),
        *_src,
        C("last_updated_utc", "timestamp", "OCPI last_updated (UTC)"),
    ),
    primary_key=("country_code", "party_id", "tariff_id"),
    version_column="last_updated_utc",
)

TARIFF_VERSIONS = Table(
    "tariff_versions",
    "Every distinct version of an OCPI tariff ever ingested (same columns as `tariffs`, which keeps only the "
    "newest). A version is in force from its `last_updated_utc` (or `start_utc` when later; the earliest "
    "known version also before) until the next version's start, within `start_utc` .. `end_utc`; contract "
    "tariff compliance per period reads it.",
    tuple(replace(c, nullable=False) if c.name == "last_updated_utc" else c for c in TARIFFS.columns),
    primary_key=TARIFFS.primary_key + ("last_updated_utc",),
)

SESSIONS = Table(
    "sessions",
    "Charging sessions: OCPI CDRs (2.1.1, 2.2.1) and session CSV exports (ElaadNL layout).",
    (
        C("session_id", "str", "CDR id scoped as CC*PARTY*id; for CSV rows a content hash", nullable=False),
        C("country_code", "str", "CPO country"),
        C("party_id", "str", "CPO party id"),
        C("location_id", "str", "location (cdr_location.id / location.id)"),
        C("evse_uid", "str", "EVSE uid"),
        C("evse_id", "str", "eMI3 EVSE id"),
        C("connector_id", "str", "connector id"),
        C("start_utc", "timestamp", "session start (UTC)", nullable=False),
        C("end_utc", "timestamp", "session end (UTC)", nullable=False),
        C("connected_h", "float", "connected time = end - start", "h", minimum=0),
        C("charging_h", "float", "time actually charging (total_time - total_parking_time)", "h", minimum=0),
        C("energy_kwh", "float", "energy delivered", "kWh", minimum=0),
        C("max_power_kw", "float", "maximum power seen or the connector's power", "kW", minimum=0),
        C("user_id", "str", "contract id or token uid, not hashed (unique users)"),
        C("auth_method", "str", "OCPI auth method"),
        C("total_cost_eur", "float", "total cost excl. VAT", "EUR"),
        C("total_cost_incl_vat_eur", "float", "total cost incl. VAT", "EUR"),
        C("currency", "str", "ISO 4217"),
        C("lat", "float", "CDR location latitude", "deg"),
        C("lon", "float", "CDR location longitude", "deg"),
        *_src,
        C("last_updated_utc", "timestamp", "OCPI last_updated (UTC)"),
    ),
    primary_key=("session_id",),
    version_column="last_updated_utc",
    indexes=(("location_id", "evse_uid"), ("start_utc",)),
    # DuckDB scans sessions (its ART indexes serve point lookups only) and paid for these at every ingest
    # commit; PostgreSQL's planner uses them (migration 0006)
    index_backends=("postgres",),
)

STATUS_OBSERVATIONS = Table(
    "status_observations",
    "EVSE status over time (OCPI EVSE status with the time it was observed or changed).",
    (
        C("country_code", "str", "CPO country", nullable=False),
        C("party_id", "str", "CPO party id", nullable=False),
        C("location_id", "str", "location", nullable=False),
        C("evse_uid", "str", "EVSE", nullable=False),
        C("observed_utc", "timestamp", "time of the observation or status change (UTC)", nullable=False),
        C("status", "str", "OCPI EVSE status", nullable=False, allowed=EVSE_STATUSES),
        *_src,
    ),
    primary_key=("country_code", "party_id", "location_id", "evse_uid", "observed_utc"),
    indexes=(("location_id",),),
)

OCCUPANCY_OBSERVATIONS = Table(
    "occupancy_observations",
    "Aggregated occupancy snapshots: EVSEs observed and occupied (status CHARGING) for a location or an area.",
    (
        C("subject_level", "str", "what was observed", nullable=False, allowed=("location", "gemeente")),
        C("subject_id", "str", "location_id or area code", nullable=False),
        C("gm_code", "str", "municipality"),
        C("observed_utc", "timestamp", "snapshot time (UTC)", nullable=False),
        C("evses_observed", "int", "EVSEs in the snapshot", "EVSEs", minimum=0),
        C("evses_occupied", "float", "EVSEs CHARGING (may be fractional when derived from a percentage)", "EVSEs", minimum=0),
        C("occupancy_share", "float", "evses_occupied / evses_observed", "share", minimum=0, maximum=1),
        *_src,
    ),
    primary_key=("subject_level", "subject_id", "observed_utc"),
)

QUARANTINE = Table(
    "quarantine",
    "Records that broke a validation rule: kept with their rule code, source and raw text, never dropped.",
    (
        C("kind", "str", "what was being ingested (locations, cdrs, sessions, status, areas, tariffs, ...)", nullable=False),
        C("rule_code", "str", "code of the rule broken (see `laadplan rules`)", nullable=False),
        C("source_file", "str", "file path (resolved: one file spelled several ways is one source) or URL",
          nullable=False),
        C("run_id", "str", "ingest run that quarantined it (ingest_runs.run_id; '' before runs were recorded)",
          nullable=False),
        C("position", "int", "record number in the file (1-based line for NDJSON/CSV, index for arrays)", nullable=False),
        C("record_id", "str", "record id when one could be read"),
        C("party_id", "str", "CPO party id when one could be read (for per-operator reporting)"),
        C("operator", "str", "operator name when one could be read"),
        C("message", "str", "what is wrong, for a person"),
        C("raw", "str", "the raw record text"),
        C("ingested_utc", "timestamp", "when it was quarantined (UTC)"),
    ),
    primary_key=("kind", "source_file", "run_id", "position", "rule_code"),
    indexes=(("rule_code",),),
)

INGEST_RUNS = Table(
    "ingest_runs",
    "One row per file ingested: what was read, accepted and quarantined. Written in the same transaction as the "
    "run's records and quarantine rows: a run that did not finish left none of them.",
    (
        C("run_id", "str", "unique run id", nullable=False),
        C("kind", "str", "what was ingested", nullable=False),
        C("source_file", "str", "file path (resolved) or URL", nullable=False),
        C("source_sha256", "str", "SHA-256 of the decompressed content: the same file under any name has the same"),
        C("started_utc", "timestamp", "start (UTC)"),
        C("finished_utc", "timestamp", "end (UTC)"),
        C("records_read", "int", "records read", minimum=0),
        C("records_accepted", "int", "records that passed validation", minimum=0),
        C("records_quarantined", "int", "records quarantined", minimum=0),
        C("rows_inserted", "int", "new rows in the store", minimum=0),
        C("rows_updated", "int", "rows replaced by a newer version", minimum=0),
    ),
    primary_key=("run_id",),
)

register(AREAS, LOCATIONS, EVSES, CONNECTORS, TARIFFS, TARIFF_VERSIONS, SESSIONS, STATUS_OBSERVATIONS,
         OCCUPANCY_OBSERVATIONS, QUARANTINE, INGEST_RUNS)
