"""Contract-management tables: monthly concession KPIs, alerts with their evidence, and the region's
actual concession costs."""

from __future__ import annotations

from . import Column as C
from . import Table, register

CONTRACT_LEVELS = ("evse", "location", "gemeente", "operator", "region")
SEVERITIES = ("info", "warning", "breach")

CONTRACT_KPIS = Table(
    "contract_kpis",
    "Concession KPIs in long form: one value per period, level, subject and KPI, with its norm. Written by "
    "`laadplan contract`; the progress report reads its numbers from here.",
    (
        C("period", "str", "month 'YYYY-MM' (local time) or year 'YYYY'", nullable=False),
        C("level", "str", "aggregation level", nullable=False, allowed=CONTRACT_LEVELS),
        C("subject_id", "str", "EVSE 'CC*PARTY*LOC*UID', location 'CC*PARTY*LOC', gm_code, operator or 'region'",
          nullable=False),
        C("kpi", "str", "KPI name, e.g. uptime_share, failures, tariff_compliant_share", nullable=False),
        C("value", "float", "KPI value (unit in `unit`)"),
        C("norm", "float", "the contract norm the value is held against, when there is one"),
        C("unit", "str", "unit of value and norm: share, count, h, days, EUR/kWh, EUR"),
        C("breach", "bool", "value breaks the norm"),
        C("computed_utc", "timestamp", "when the KPI was computed (UTC)"),
    ),
    primary_key=("period", "level", "subject_id", "kpi"),
    family="contract",
    indexes=(("kpi",),),
)

ALERTS = Table(
    "alerts",
    "Breaches of the concession norms, each with the evidence that shows it (JSON).",
    (
        C("alert_id", "str", "stable id: rule, period and subject hashed (recomputing does not duplicate)",
          nullable=False),
        C("period", "str", "month 'YYYY-MM' or year 'YYYY' the alert is about", nullable=False),
        C("rule", "str", "alert rule code, e.g. CM-UPTIME, CM-FAILURES, CM-TARIFF (see laadplan.contract.alerts)",
          nullable=False),
        C("severity", "str", "info, warning or breach", allowed=SEVERITIES),
        C("level", "str", "level of the subject", allowed=CONTRACT_LEVELS),
        C("subject_id", "str", "EVSE, location, gm_code, operator, tariff or request id"),
        C("gm_code", "str", "municipality, when the subject has one"),
        C("operator", "str", "operator (CPO) name or party id, when known"),
        C("value", "float", "measured value"),
        C("norm", "float", "norm it breaks"),
        C("unit", "str", "unit of value and norm"),
        C("message", "str", "what is wrong, for a person"),
        C("evidence_json", "json", "the records that show the breach (JSON)"),
        C("created_utc", "timestamp", "when the alert was raised (UTC)"),
    ),
    primary_key=("alert_id",),
    family="contract",
    indexes=(("period",), ("rule",)),
)

COSTS = Table(
    "costs",
    "The region's actual concession costs (CSV: year, category, amount_eur, description).",
    (
        C("source_file", "str", "file path or URL", nullable=False),
        C("position", "int", "line in the file (1-based, header is line 1)", nullable=False),
        C("year", "int", "calendar year the cost belongs to", nullable=False, minimum=2000, maximum=2100),
        C("category", "str", "cost category, e.g. personeel, data, advies"),
        C("amount_eur", "float", "amount (negative for a correction)", "EUR"),
        C("description", "str", "what the cost is for"),
        C("ingested_utc", "timestamp", "when it was read (UTC)"),
        C("run_id", "str", "ingest run that wrote the row (ingest_runs.run_id)"),
    ),
    primary_key=("source_file", "position"),
    family="contract",
)

EVSE_COMMISSIONING = Table(
    "evse_commissioning",
    "When each EVSE first appeared in the store, stamped by every locations ingest. EVSEs of an operator "
    "(party) seen in its feed's first load are the baseline (existing stock); the others were commissioned "
    "at their first last_updated and count as placed.",
    (
        C("country_code", "str", "CPO country", nullable=False),
        C("party_id", "str", "CPO party id", nullable=False),
        C("location_id", "str", "location", nullable=False),
        C("evse_uid", "str", "EVSE", nullable=False),
        C("first_ingested_utc", "timestamp", "start of the ingest run that first stored the EVSE (UTC)"),
        C("first_last_updated_utc", "timestamp", "the EVSE's OCPI last_updated when first stored (UTC)"),
        C("baseline", "bool", "in the first load of its operator's feed: existing stock, not placed"),
    ),
    primary_key=("country_code", "party_id", "location_id", "evse_uid"),
    family="contract",
)

register(CONTRACT_KPIS, ALERTS, COSTS, EVSE_COMMISSIONING)
