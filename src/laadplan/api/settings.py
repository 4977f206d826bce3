"""Settings of the regional server (``laadplan serve``): limits, tokens and the region's own OCPI identity."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    public_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL the server is reached at; OCPI version details and the "
        "credentials the region hands out name their endpoints under it")
    ocpi_country_code: str = Field("NL", description="OCPI country_code of the region as a party (receiver)")
    ocpi_party_id: str = Field("LPZ", description="OCPI party_id of the region as a party (receiver) (assumption)")
    max_body_bytes: int = Field(
        2_000_000, gt=0, description="Requests with a larger body are refused (413) before they are read whole")
    rate_limit_per_minute: int = Field(
        6000, gt=0, description="Requests per token (or per client address without a token) per minute; more "
        "gets 429 with Retry-After")
    request_timeout_s: float = Field(30.0, gt=0, description="A request taking longer than this gets 503")
    token_days_default: int = Field(365, gt=0, description="Validity of a new API token (days)")
    page_size_default: int = Field(100, gt=0, description="Items per page of a list endpoint by default")
    page_size_max: int = Field(1000, gt=0, description="Largest page a client may ask for (limit=)")
    opentelemetry: bool = Field(
        False, description="FastAPI's native OpenTelemetry spans, metrics and logs for every request (needs an "
        "OpenTelemetry SDK and exporter configured in the environment). Off: FastAPI then skips its per-request "
        "check of the OpenTelemetry providers (~8 % of the server's event loop under a CDR push load)")
    duckdb_threads: int = Field(
        1, ge=0, description="DuckDB threads per query in the server (0: DuckDB's "
        "default, one per core). The server runs many small queries at once, each on its request's own thread "
        "(DuckDB executes on the calling thread and releases the GIL), so spreading one small query over a "
        "pool only adds hand-over cost: with 1, committing a group of 8 pushed CDRs takes about 19 ms CPU "
        "instead of 29 ms. On PostgreSQL the same holds for the DuckDB engine that runs the store's statements "
        "(its postgres extension): a pushed CDR's commit there took 81 ms CPU, with 1 51 ms")
    duckdb_checkpoint_mb: int = Field(
        256, ge=0, description="MB of write-ahead log after which the server's DuckDB store checkpoints (0: "
        "DuckDB's default, 16 MB). A checkpoint rewrites the store's key indexes whatever was added: ~1 s on a "
        "store of 1 M sessions and pushed CDRs, which at 16 MB stalled the CDR intake every ~10,000 CDRs. After a "
        "crash the log is replayed at start: 158 MB in 2 s. Not used on PostgreSQL")
    # ---- web app (laadplan.web) -------------------------------------------------------------------------
    web_background_tiles: str = Field(
        "", description="Background map of the web app: empty for none (works offline), or an XYZ raster tile "
        "URL such as PDOK's BRT achtergrondkaart "
        "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/grijs/EPSG:3857/{z}/{x}/{y}.png")
    web_geocoder_url: str = Field(
        "", description="Address search of the residents' form: empty for none (the resident clicks the map or "
        "gives coordinates), or PDOK Locatieserver https://api.pdok.nl/bzk/locatieserver/search/v3_1/free")
    web_requests_per_hour_per_client: int = Field(
        5, gt=0, description="Residents' form: requests per client address per hour; more are refused")
    web_request_retention_days: int = Field(
        365, gt=0, description="Residents' form: days the personal data of a request (address, postal code, exact "
        "point) is kept; then purged (AVG/GDPR)")
    web_session_hours: float = Field(12.0, gt=0, description="Web app: a log-in session lasts this many hours")
