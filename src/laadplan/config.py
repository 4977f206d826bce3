"""The typed region configuration.

One TOML file configures a region; every section is a pydantic model with documented fields and the
NAL-regio Zuidwest defaults (DOMAIN.md). Every number DOMAIN.md marks *(verify)* is a field here, never a
constant in code. ``laadplan config`` prints the effective configuration as commented TOML; the shipped
``data/zuidwest.toml`` is that output for the defaults (a test keeps them equal).

Family sections are declared next to the code that uses them (``<family>/settings.py``) and composed
here, so each analysis owns its parameters while the region still has one config.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from laadplan.api.settings import ServerConfig
from laadplan.contract.settings import BudgetConfig, ContractConfig
from laadplan.forecast.settings import ForecastConfig
from laadplan.grid.settings import GridConfig, LoadConfig
from laadplan.logistics.settings import LogisticsConfig
from laadplan.placement.settings import PlacementConfig


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RegionSection(Section):
    name: str = Field("NAL-regio Zuidwest", description="Region name used in outputs and the report")
    provinces: list[str] = Field(["Zuid-Holland", "Zeeland"], description="Provinces making up the region")
    time_zone: str = Field("Europe/Amsterdam", description="Local time zone for reporting (storage is UTC)")
    concession_gm_codes: list[str] = Field(
        [], description="CBS codes of the municipalities in the public charging concession (42 in Zuidwest). "
                        "Empty means every municipality in the store.")
    contracting_authority_gm_code: str = Field("GM0599", description="Penvoerder of the concession (Rotterdam)")


class ValidationSection(Section):
    bbox_lat_min: float = Field(50.70, description="Netherlands bounding box (incl. territorial waters), south")
    bbox_lat_max: float = Field(53.60, description="Netherlands bounding box, north")
    bbox_lon_min: float = Field(3.20, description="Netherlands bounding box, west")
    bbox_lon_max: float = Field(7.25, description="Netherlands bounding box, east")
    earliest_date: date = Field(date(2009, 1, 1), description="LINDA: start or end before this date is rejected")
    future_tolerance_s: float = Field(300.0, description="Start/end later than now + this is 'in the future'")
    total_time_tolerance_h: float = Field(
        1 / 60, description="LINDA: |total_time - (end - start)| above this rejects the CDR (hours)")
    energy_power_margin: float = Field(
        1.10, description="Energy above connector power x connected time x this factor is implausible")
    default_max_power_kw: float = Field(
        350.0, description="Power assumed for the plausibility check when the connector's is unknown")
    max_session_h: float = Field(24 * 14, description="Sessions longer than this (hours) are implausible")
    linda_profile: bool = Field(
        True, description="Also require the LINDA profile's extra CDR fields (2.2.1: tariffs, total_fixed_cost, "
                          "total_energy_cost, total_parking_time; 2.1.1: tariffs, total_parking_time)")
    connector_max_power_kw: float = Field(
        1500.0, description="LP-POWER: connector power above this (kW) is implausible and left empty")
    connector_max_ac_power_kw: float = Field(
        50.0, description="LP-POWER: AC connector power above this (kW) is implausible (Type 2 tops at 3x63 A, 43.5 kW)")
    max_json_depth: int = Field(
        64, ge=2, description="Guard: a JSON record nested deeper than this is LP-MALFORMED (OCPI objects reach "
                              "about 8 levels)")
    max_record_bytes: int = Field(
        64 << 20, ge=1024, description="Guard: a record (NDJSON or CSV line, JSON array element) longer than this "
                                       "many characters is LP-MALFORMED and never held whole in memory")
    max_csv_field_chars: int = Field(
        32 << 20, ge=1024, description="Guard: a CSV field longer than this many characters is LP-MALFORMED "
                                       "(a detailed supply-area polygon in WKT takes a few MB)")
    last_updated_future_h: float = Field(
        24.0, ge=0, description="A last_updated (or request date) later than now + this many hours is LP-TYPE, "
                                "so that a year-9999 date cannot block every later update")
    requests_dayfirst: bool = Field(
        False, description="Requests CSV: read ambiguous dates like 03/04/2026 day first (3 April); when false, "
                           "only ISO dates (2026-04-03) are accepted and others are LP-TYPE")

    point_only_copies_count_once: bool = Field(
        True, description="LP-DUPLICATE: rows of the NDW locations CSV without EVSE detail (detail_level point_only) "
        "with the same operator, name, coordinates and n_evses are one location published twice: the one with the "
        "newest last_updated (then the smallest location_id) counts, the others are quarantined (assumption: of "
        "the rows with EVSE detail, 99.3 % of such groups hold a verified older copy of the same EVSEs)")


class SourcesSection(Section):
    """Guards on every ingest source (file or URL): gzip bombs, stalled or endless downloads."""

    max_decompressed_bytes: int = Field(
        32 << 30, gt=0, description="A source (gzip or URL) yielding more bytes than this is refused (32 GiB; a "
                                    "year of the region's CDRs is a few GB)")
    max_decompression_ratio: float = Field(
        200.0, gt=1, description="A gzip source decompressing more than this many times its compressed size is "
                                 "refused as a gzip bomb (JSON/CSV compress 5-30x; a bomb ~1000x)")
    ratio_floor_bytes: int = Field(
        64 << 20, ge=0, description="The ratio is checked only after this many decompressed bytes (small files "
                                    "may compress better)")
    url_read_timeout_s: float = Field(60.0, gt=0, description="A URL sending no data for this long is a stalled "
                                                               "download (error)")
    url_total_timeout_s: float = Field(3600.0, gt=0, description="A URL download taking longer than this in all "
                                                                  "is stopped (error)")
    ingest_memory_mb: int = Field(
        384, ge=0, description="DuckDB's memory limit while a file is ingested, for its parse and validation "
                               "(beyond it DuckDB evicts or spills), plus room for the store's indexes (which "
                               "DuckDB holds in memory); 0: DuckDB's default (80 % of RAM). A run that still "
                               "runs out of memory under it is rolled back and run again without it. The process "
                               "also holds the batches being read (about 2-3 x 48 MB) and Python (about 170 MB)")


class KpiSection(Section):
    evening_start_hour: int = Field(16, ge=0, le=23, description="Start of the evening peak (local hour)")
    evening_end_hour: int = Field(21, ge=1, le=24, description="End of the evening peak (local hour, exclusive)")
    occupied_statuses: list[str] = Field(
        ["CHARGING"], description="EVSE statuses that count as occupied in status-based occupancy")
    evse_detail_missing_warn_share: float = Field(
        0.25, ge=0, le=1, description="Warn when more than this share of a gemeente's EVSEs has no detail (EVSE "
        "records derived from the location's n_evses count) (assumption)")


class WalkingSection(Section):
    walk_m_default: float = Field(250.0, description="Walking distance a driver accepts (placement, requests)")
    walk_m_by_gm_code: dict[str, float] = Field(
        {"GM0599": 200.0}, description="Per-municipality walking distance (Rotterdam 200 m)")
    walk_m_upper_bound: float = Field(300.0, description="Upper bound drivers accept")


class RegionConfig(Section):
    region: RegionSection = RegionSection()
    validation: ValidationSection = ValidationSection()
    sources: SourcesSection = SourcesSection()
    kpi: KpiSection = KpiSection()
    walking: WalkingSection = WalkingSection()
    grid: GridConfig = GridConfig()
    placement: PlacementConfig = PlacementConfig()
    forecast: ForecastConfig = ForecastConfig()
    load: LoadConfig = LoadConfig()
    logistics: LogisticsConfig = LogisticsConfig()
    contract: ContractConfig = ContractConfig()
    budget: BudgetConfig = BudgetConfig()
    server: ServerConfig = ServerConfig()

    def walk_m(self, gm_code: str | None) -> float:
        return self.walking.walk_m_by_gm_code.get(gm_code or "", self.walking.walk_m_default)


DEFAULT_CONFIG_PATH = Path(__file__).parent / "data" / "zuidwest.toml"


def load_config(path: str | Path | None = None) -> RegionConfig:
    """Load and validate a region config; ``None`` gives the Zuidwest defaults."""
    if path is None:
        return RegionConfig()
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {p}") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{p}: not valid TOML: {e}") from None
    return RegionConfig.model_validate(raw)


def _toml_value(v: Any) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v)} to TOML")


def to_toml(cfg: RegionConfig) -> str:
    """The configuration as TOML with each field's description as a comment."""
    lines = ["# laadplan region configuration (generated by `laadplan config`).",
             "# Every value has a default for NAL-regio Zuidwest; override only what differs.", ""]

    def emit(model: BaseModel, prefix: str) -> None:
        simple, nested, arrays = [], [], []
        for name, f in type(model).model_fields.items():
            val = getattr(model, name)
            if isinstance(val, BaseModel):
                nested.append((name, f, val))
            elif isinstance(val, list) and val and all(isinstance(x, BaseModel) for x in val):
                arrays.append((name, f, val))
            else:
                simple.append((name, f, val))
        if simple:
            lines.append(f"[{prefix}]")
            for name, f, val in simple:
                if f.description:
                    lines.append(f"# {f.description}")
                # TOML has no null: an unset optional value is written commented out
                lines.append(f"# {name} = (not set)" if val is None else f"{name} = {_toml_value(val)}")
            lines.append("")
        for name, f, val in arrays:
            if f.description:
                lines.append(f"# {f.description}")
            for item in val:
                lines.append(f"[[{prefix}.{name}]]")
                for iname in type(item).model_fields:
                    lines.append(f"{iname} = {_toml_value(getattr(item, iname))}")
                lines.append("")
        for name, f, val in nested:
            emit(val, f"{prefix}.{name}" if prefix else name)

    for name in type(cfg).model_fields:
        emit(getattr(cfg, name), name)
    return "\n".join(lines)
