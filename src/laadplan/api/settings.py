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
