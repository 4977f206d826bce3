"""Tables of the OCPI receiver (``laadplan serve``, :mod:`laadplan.api.ocpi`): the registered operator parties,
their endpoints, the objects they pushed (as JSON, to answer their GETs and merge their PATCHes) and the
sessions in progress they report (OCPI Sessions; the finished session arrives as a CDR in ``sessions``)."""

from __future__ import annotations

from . import SOURCE_COLUMNS
from . import Column as C
from . import Table, register

PARTY_STATUSES = ("pending", "registered", "unregistered")
MODULES = ("locations", "sessions", "cdrs", "tariffs")

OCPI_PARTIES = Table(
    "ocpi_parties",
    "Operators (OCPI parties) known to the receiver. `laadplan ocpi register` makes the party `pending` with its "
    "token A (valid for the credentials exchange only); the party's POST to `credentials` with its token B makes "
    "it `registered` and gets token C (the only token its module calls may use); DELETE makes it `unregistered`.",
    (
        C("country_code", "str", "OCPI country_code of the party", nullable=False),
        C("party_id", "str", "OCPI party_id of the party", nullable=False),
        C("status", "str", "where the registration stands", nullable=False, allowed=PARTY_STATUSES),
        C("role", "str", "OCPI role the party registered with (CPO)"),
        C("business_name", "str", "business_details.name the party sent"),
        C("versions_url", "str", "URL of the party's versions endpoint (credentials.url)"),
        C("version", "str", "OCPI version agreed (2.2.1 or 2.1.1)"),
        C("token_b", "str", "the party's token B: the receiver's credential to call the party (kept to use it)"),
        C("token_a_id", "str", "api_tokens.token_id of the party's token A"),
        C("token_c_id", "str", "api_tokens.token_id of the party's current token C"),
        C("created_utc", "timestamp", "when the registration was opened (UTC)"),
        C("registered_utc", "timestamp", "when the party last registered or updated its credentials (UTC)"),
        C("unregistered_utc", "timestamp", "when the party unregistered (UTC)"),
    ),
    primary_key=("country_code", "party_id"),
    family="ocpi",
)

OCPI_ENDPOINTS = Table(
    "ocpi_endpoints",
    "The endpoints of a registered party's agreed OCPI version (from its version details).",
    (
        C("country_code", "str", "party", nullable=False),
        C("party_id", "str", "party", nullable=False),
        C("identifier", "str", "OCPI module identifier (locations, cdrs, ...)", nullable=False),
        C("role", "str", "SENDER or RECEIVER ('' in OCPI 2.1.1)", nullable=False),
        C("url", "str", "endpoint URL"),
    ),
    primary_key=("country_code", "party_id", "identifier", "role"),
    family="ocpi",
)

OCPI_OBJECTS = Table(
    "ocpi_objects",
    "The current version of every object a party pushed and the receiver accepted (OCPI JSON as merged from its "
    "PUTs and PATCHes): what the party's GET returns and what a PATCH is merged into. The validated rows live in "
    "`locations`/`evses`/`connectors`, `sessions`, `tariffs` and `ocpi_sessions`.",
    (
        C("module", "str", "OCPI module", nullable=False, allowed=MODULES),
        C("country_code", "str", "party", nullable=False),
        C("party_id", "str", "party", nullable=False),
        C("object_id", "str", "Location id, Session id, CDR id or Tariff id", nullable=False),
        C("version", "str", "OCPI version of the object (2.2.1 or 2.1.1)"),
        C("object_json", "json", "the object as OCPI JSON", nullable=False),
        C("last_updated_utc", "timestamp", "the object's last_updated (UTC)"),
        C("received_utc", "timestamp", "when this version was accepted (UTC)"),
        C("run_id", "str", "ingest run that accepted this version"),
    ),
    primary_key=("module", "country_code", "party_id", "object_id"),
    version_column="last_updated_utc",
    family="ocpi",
)

OCPI_SESSIONS = Table(
    "ocpi_sessions",
    "Charging sessions in progress as the operator reports them (OCPI Session objects, PUT/PATCH). Interim data: "
    "the finished session is the CDR in `sessions`, which analyses use.",
    (
        C("session_id", "str", "CC*PARTY*id (as sessions.session_id)", nullable=False),
        C("country_code", "str", "CPO country"),
        C("party_id", "str", "CPO party id"),
        C("location_id", "str", "location"),
        C("evse_uid", "str", "EVSE uid"),
        C("connector_id", "str", "connector id"),
        C("start_utc", "timestamp", "session start (UTC)", nullable=False),
        C("end_utc", "timestamp", "session end (UTC), empty while active"),
        C("energy_kwh", "float", "energy charged so far (kwh)", "kWh", minimum=0),
        C("status", "str", "OCPI SessionStatus", allowed=("ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION")),
        C("auth_method", "str", "OCPI auth method"),
        C("user_id", "str", "cdr_token.contract_id (2.2.1) or auth_id (2.1.1)"),
        C("total_cost_eur", "float", "total cost so far excl. VAT", "EUR"),
        C("currency", "str", "ISO 4217"),
        *SOURCE_COLUMNS,
        C("last_updated_utc", "timestamp", "OCPI last_updated (UTC)"),
    ),
    primary_key=("session_id",),
    version_column="last_updated_utc",
    family="ocpi",
)

register(OCPI_PARTIES, OCPI_ENDPOINTS, OCPI_OBJECTS, OCPI_SESSIONS)
