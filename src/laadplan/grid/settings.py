"""Configuration of grid inputs (capacity map, connections) and grid-usage / smart-charging analysis."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class GridConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    refuse_new_connections_from: date = Field(
        date(2026, 7, 1), description="From this date new small connections (KVA) in congested areas are refused")
    refuse_at_offtake_status: int = Field(
        2, ge=0, le=3, description="Capacity-map offtake status (0 available, 1 limited, 2 congestion management, "
                                   "3 shortage) at or above which new connections are refused")
    kva_max_kw: float = Field(55.0, description="Largest small-consumer connection (3x80 A), kW")
    connection_lead_time_weeks: float = Field(15.0, description="Grid connection lead time without congestion (12-18 weeks)")
    congested_connection_lead_time_weeks: float = Field(
        52.0, description="Lead time where a new connection is possible only after congestion management")
    max_cable_m: float = Field(
        150.0, description="Maximum cable distance from a site to an existing connection with spare capacity, m")
    spare_capacity_margin: float = Field(
        0.9, ge=0, le=1, description="Share of a connection's spare kW that may be allocated (safety margin)")


class LoadConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    resolution_min: int = Field(15, description="Load profile time step, minutes")
    cap_power_kw: float = Field(4.0, description="Capped power in the peak window (smart strategy 'cap'), kW")
    cap_window_start_hour: int = Field(16, description="Peak window start (local hour)")
    cap_window_end_hour: int = Field(21, description="Peak window end (local hour, exclusive)")
    default_session_power_kw: float = Field(11.0, description="Session power when none is known, kW")
    ean_limit_kw: float = Field(
        50.0, description="Default import capacity limit per connection (OpenADR 3 GAC IMPORT_CAPACITY_LIMIT), kW")
    shift_time_limit_s: float = Field(120.0, gt=0, description="Time limit of the HiGHS shift LP, seconds")
    shift_max_sessions: int = Field(
        5000, gt=0, description="Largest number of sessions the shift LP accepts in one run (split larger areas)")
    coincidence_unit: str = Field(
        "evse", description="Unit whose individual peaks define the coincidence factor: evse or location")
