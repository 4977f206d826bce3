"""Pydantic v2 models of the OCPI objects laadplan reads: Location / EVSE / Connector (2.1.1 and 2.2.1)
and Tariff (2.2.1), plus the mapping from validation errors to rule codes.

The models check presence and type of what laadplan needs and ignore the rest (``extra="ignore"``):
they are validators for ingest, not a full OCPI implementation.

Mandatory fields enforced (rule ``LP-MISSING`` when absent or empty):

===========  ==========================================================================================
object       mandatory here
===========  ==========================================================================================
Location     2.2.1: country_code, party_id, id, publish, address, city, country, coordinates,
             time_zone, last_updated (the OCPI 2.2.1 list). One pragmatic exception: a null or absent
             party_id is taken from the EVSE ids (``NL*ABC*E..``; the NDW national feed has such nulls),
             and is ``''`` when they give none.
             2.1.1: id, address, city, country, coordinates, last_updated (2.1.1 has no country_code,
             party_id, publish or time_zone; its ``type`` and ``postal_code`` are not needed by laadplan
             and not enforced). country_code/party_id then come from the EVSE ids (``NL*ABC*E..``).
Coordinates  latitude, longitude (strings in OCPI; numbers are accepted as well)
EVSE         uid, status (the LINDA profile also wants last_updated; the Location's is used if absent)
Connector    id (standard, format, power_type, voltage and amperage are optional here: a connector whose
             power cannot be known keeps a null power with a note, rule ``LP-POWER``)
Tariff       country_code, party_id, id, currency, elements (each with price_components of type,
             price, step_size), last_updated
===========  ==========================================================================================

A wrong type (a number that is not a number, a list where an object belongs) is ``LP-TYPE``; an EVSE
status outside the OCPI enumeration is ``LP-STATUS``.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from laadplan.model.core import EVSE_STATUSES

EvseStatus = Literal["AVAILABLE", "BLOCKED", "CHARGING", "INOPERATIVE", "OUTOFORDER", "PLANNED", "REMOVED",
                     "RESERVED", "UNKNOWN"]
assert set(EvseStatus.__args__) == set(EVSE_STATUSES)  # type: ignore[attr-defined]


def _to_utc_naive(v: Any) -> Any:
    """OCPI DateTime (RFC 3339, UTC, 'Z' optional) -> naive UTC datetime."""
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        try:
            d = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an RFC 3339 date-time: {v!r}") from None
        if d.tzinfo is not None:
            d = d.astimezone(timezone.utc).replace(tzinfo=None)
        return d
    if isinstance(v, datetime) or v is None:
        return v
    # OCPI DateTime is a string; pydantic would read a number as epoch seconds (and make it tz-aware)
    raise ValueError(f"not an RFC 3339 date-time string: {v!r}")


def _naive_utc(d: datetime | None) -> datetime | None:
    if d is not None and d.tzinfo is not None:
        d = d.astimezone(timezone.utc).replace(tzinfo=None)
    return d


def _strip(v: Any) -> Any:
    return v.strip() if isinstance(v, str) else v


UtcDateTime = Annotated[datetime, BeforeValidator(_to_utc_naive), AfterValidator(_naive_utc)]
# an id: non-empty string; a bare number is accepted and written as text (some feeds do that)
Id = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else _strip(v)),
               Field(min_length=1)]
Text = Annotated[str, BeforeValidator(_strip)]
Status = Annotated[EvseStatus, BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v)]


class _M(BaseModel):
    # NaN / Infinity / 1e400 are not numbers here (LP-TYPE), whatever the JSON parser made of them
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=False, allow_inf_nan=False)


class GeoLocation(_M):
    latitude: float
    longitude: float

    @field_validator("latitude", "longitude", mode="before")
    @classmethod
    def _num(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("a coordinate is a decimal number, not a boolean")
        return v


class BusinessDetails(_M):
    name: Text | None = None


class Connector(_M):
    id: Id
    standard: Text | None = None
    format: Text | None = None
    power_type: Text | None = None
    max_voltage: float | None = None  # 2.2.1
    max_amperage: float | None = None  # 2.2.1
    voltage: float | None = None  # 2.1.1
    amperage: float | None = None  # 2.1.1
    max_electric_power: float | None = None  # W (2.2.1)
    tariff_ids: list[Id] | None = None
    tariff_id: Id | None = None  # 2.1.1
    last_updated: UtcDateTime | None = None

    @property
    def volts(self) -> float | None:
        return self.max_voltage if self.max_voltage is not None else self.voltage

    @property
    def amps(self) -> float | None:
        return self.max_amperage if self.max_amperage is not None else self.amperage

    @property
    def tariffs(self) -> list[str]:
        return list(self.tariff_ids or ([self.tariff_id] if self.tariff_id else []))


class Evse(_M):
    uid: Id
    evse_id: Text | None = None
    status: Status
    capabilities: list[Text] | None = None
    connectors: list[Connector] = []
    coordinates: GeoLocation | None = None
    last_updated: UtcDateTime | None = None


class _LocationBase(_M):
    id: Id
    name: Text | None = None
    address: Text = Field(min_length=1)
    city: Text = Field(min_length=1)
    postal_code: Text | None = None
    country: Text = Field(min_length=1)
    coordinates: GeoLocation
    operator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    evses: list[Evse] = []
    last_updated: UtcDateTime


class Location221(_LocationBase):
    """OCPI 2.2.1 Location."""

    country_code: Id
    #: mandatory in OCPI 2.2.1, but the national feed has nulls: taken from the EVSE ids then (see locations.py)
    party_id: Id | None = None
    publish: bool
    parking_type: Text | None = None
    time_zone: Text = Field(min_length=1)
    twentyfourseven: bool | None = None
    opening_times: dict | None = None


class Location211(_LocationBase):
    """OCPI 2.1.1 Location (no country_code, party_id, publish, time_zone; ``type`` is the parking type)."""

    type: Text | None = None
    time_zone: Text | None = None
    opening_times: dict | None = None


def location_version(obj: dict) -> str:
    """'2.2.1' when the object carries 2.2.1-only fields (country_code, party_id, publish), else '2.1.1'
    when it has the 2.1.1 ``type`` field; defaults to '2.2.1'."""
    if any(k in obj for k in ("country_code", "party_id", "publish", "parking_type")):
        return "2.2.1"
    if "type" in obj:
        return "2.1.1"
    return "2.2.1"


class PriceComponent(_M):
    type: Literal["ENERGY", "FLAT", "PARKING_TIME", "TIME"]
    price: float = Field(ge=0)
    vat: float | None = Field(None, ge=0)
    step_size: int = Field(ge=0)


class TariffRestrictions(_M):
    start_time: Text | None = None
    end_time: Text | None = None
    start_date: Text | None = None
    end_date: Text | None = None
    min_kwh: float | None = None
    max_kwh: float | None = None
    min_current: float | None = None
    max_current: float | None = None
    min_power: float | None = None
    max_power: float | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    day_of_week: list[Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]] | None = None
    reservation: Literal["RESERVATION", "RESERVATION_EXPIRES"] | None = None


class TariffElement(_M):
    price_components: list[PriceComponent] = Field(min_length=1)
    restrictions: TariffRestrictions | None = None


class Tariff(_M):
    """OCPI 2.2.1 Tariff."""

    country_code: Id
    party_id: Id
    id: Id
    currency: Text = Field(min_length=3, max_length=3)
    type: Literal["AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR"] | None = None
    elements: list[TariffElement] = Field(min_length=1)
    start_date_time: UtcDateTime | None = None
    end_date_time: UtcDateTime | None = None
    last_updated: UtcDateTime


class CdrToken(_M):
    uid: Id
    type: Text = Field(min_length=1)
    contract_id: Id


class Price(_M):
    excl_vat: float
    incl_vat: float | None = None


class Session221(_M):
    """OCPI 2.2.1 Session (a charging session in progress; the finished one is the CDR)."""

    country_code: Id
    party_id: Id
    id: Id
    start_date_time: UtcDateTime
    end_date_time: UtcDateTime | None = None
    kwh: float
    cdr_token: CdrToken
    auth_method: Literal["AUTH_REQUEST", "COMMAND", "WHITELIST"]
    location_id: Id
    evse_uid: Id
    connector_id: Id
    currency: Text = Field(min_length=3, max_length=3)
    total_cost: Price | None = None
    status: Literal["ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION"]
    last_updated: UtcDateTime


class _SessionLocation211(_M):
    id: Id
    evses: list[Evse] = Field(min_length=1)


class Session211(_M):
    """OCPI 2.1.1 Session (``start_datetime``, ``auth_id``, a ``location`` object with the one EVSE)."""

    id: Id
    start_datetime: UtcDateTime
    end_datetime: UtcDateTime | None = None
    kwh: float
    auth_id: Id
    auth_method: Literal["AUTH_REQUEST", "WHITELIST"]
    location: _SessionLocation211
    currency: Text = Field(min_length=3, max_length=3)
    total_cost: float | None = None
    status: Literal["ACTIVE", "COMPLETED", "INVALID", "PENDING"]
    last_updated: UtcDateTime


_MISSING_TYPES = {"missing", "string_too_short", "too_short"}


def rule_for(err: ValidationError) -> tuple[str, str]:
    """(rule code, message) for a pydantic validation error: the first of LP-MISSING, LP-TYPE, LP-STATUS
    that applies (a record is quarantined under one rule; the message lists every problem)."""
    errs = err.errors(include_url=False)
    codes = []
    parts = []
    for e in errs:
        loc = ".".join(str(x) for x in e["loc"])
        is_status = bool(e["loc"]) and e["loc"][-1] == "status" and "evses" in e["loc"]
        if e["type"] in _MISSING_TYPES or (e["type"].endswith("_type") and e.get("input", "") is None):
            codes.append("LP-MISSING")
        elif is_status and e["type"] == "literal_error":
            codes.append("LP-STATUS")
        else:
            codes.append("LP-TYPE")
        parts.append(f"{loc}: {e['msg']}" + (f" (got {e['input']!r:.60})" if e["type"] != "missing" else ""))
    for code in ("LP-MISSING", "LP-TYPE", "LP-STATUS"):
        if code in codes:
            return code, "; ".join(parts)
    return "LP-TYPE", "; ".join(parts)


def parse_evse_id(evse_id: str | None) -> tuple[str | None, str | None]:
    """(country_code, party_id) of an eMI3 EVSE id: ``NL*ABC*E123``, ``NLABCE123``, ``NL.ABC.E123``."""
    if not evse_id or not isinstance(evse_id, str):
        return None, None
    m = _EVSE_RE.match(evse_id.strip())
    if not m:
        return None, None
    return m.group(1).upper(), m.group(2).upper()


_EVSE_RE = re.compile(r"^([A-Za-z]{2})[*.\- ]?([A-Za-z0-9]{3})")

#: ISO 3166 alpha-3 -> alpha-2 for the countries around the region (2.1.1 has only ``country``)
ALPHA3 = {"NLD": "NL", "BEL": "BE", "DEU": "DE", "FRA": "FR", "LUX": "LU", "GBR": "GB", "SWE": "SE", "DNK": "DK",
          "AUT": "AT", "CHE": "CH", "ITA": "IT", "ESP": "ES", "POL": "PL", "NOR": "NO"}
