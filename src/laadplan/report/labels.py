"""Dutch labels for the codes the analyses store (vehicle classes, hub kinds, grid statuses, alert rules,
ingest kinds ...), so the report shows no raw English codes. Pure lookups: a code without a label is shown
as it is (and a test checks every code the analyses produce has one)."""

from __future__ import annotations

import re
from typing import Any

#: code families -> {code: Dutch label}
LABELS: dict[str, dict[Any, str]] = {
    "vehicle": {"heavy": "zwaar (vrachtwagen)", "light": "licht (auto, bestel)"},
    "hub_kind": {"service_area": "verzorgingsplaats", "rest_area": "parkeerplaats langs de snelweg",
                 "truck_parking": "truckparking", "existing_pool": "bestaand laadplein",
                 "business_park": "bedrijventerrein", "other": "overige parkeerplaats"},
    # capacity-map offtake status (DOMAIN: 0 available, 1 limited, 2 under investigation, 3 shortage)
    "grid_status": {-1: "onbekend", 0: "ruimte", 1: "beperkt", 2: "in onderzoek / congestiemanagement",
                    3: "tekort"},
    "park_priority": {"now": "nu", "battery": "met batterij", "wait": "wachten op net"},
    "site_option": {"grid": "tijdelijke netaansluiting", "battery": "mobiele batterij", "hub": "nabije laadhub"},
    "severity": {"breach": "overschrijding", "warning": "waarschuwing"},
    "kind": {"areas": "gebieden", "locations": "laadlocaties", "tariffs": "tarieven", "cdrs": "laadsessies (CDR's)",
             "sessions": "laadsessies", "status": "statusdata", "vehicles": "voertuigen", "grid": "netcapaciteit",
             "connections": "netaansluitingen", "requests": "aanvragen", "candidates": "kandidaatlocaties",
             "costs": "kosten", "parks": "bedrijventerreinen", "sites": "bouwlocaties"},
    "grid_route": {"existing_connection": "bestaande aansluiting", "new_connection": "nieuwe aansluiting"},
    # the alert rules of laadplan.contract.run.ALERT_RULES, in Dutch
    "alert_rule": {
        "CM-UPTIME": "beschikbaarheid van een laadpunt in een maand onder de norm",
        "CM-FAILURES": "meer storingen van een laadpunt in een maand dan de norm toestaat",
        "CM-RECURRING": "een laadpunt had storingen in elk van de laatste N maanden",
        "CM-TARIFF": "energietarief van een concessieconnector inclusief btw boven het maximum",
        "CM-LEAD-TIME": "toegekende aanvraag niet binnen de doorlooptijdnorm een werkend laadpunt",
        "CM-CDR-REJECTED": "aandeel afgekeurde CDR's van een operator boven de norm",
        "CM-STATUS-COVERAGE": "laadpunt-uren van een operator met statusdata onder de norm",
        "CM-SMART-CHARGING": "sinds de start van de concessie geplaatste laadpunten die niet slim kunnen laden",
        "CM-BUDGET": "kosten van de regio voor de concessie in een jaar boven het budget",
        "CM-BUDGET-TOTAL": "cumulatieve kosten van de concessie boven het totale maximum",
        "CM-REALISATION": "cumulatief geplaatste laadpunten achter op het lineaire pad naar de doelstelling",
        "CM-SITE-LEAD-TIME": "plan-locatie met akkoord van de gemeente niet binnen de doorlooptijdnorm gerealiseerd",
    },
}

WEEKDAYS_NL = {"Mon": "ma", "Tue": "di", "Wed": "wo", "Thu": "do", "Fri": "vr", "Sat": "za", "Sun": "zo"}
_DAY = re.compile(r"\b(" + "|".join(WEEKDAYS_NL) + r")\b")


def nl(family: str, code: Any) -> str:
    """The Dutch label of ``code`` in ``family``; the code itself when it has none, "" when missing."""
    if code is None or (isinstance(code, float) and code != code):
        return ""
    labels = LABELS[family]
    if family == "grid_status":
        try:
            code = int(code)
        except (TypeError, ValueError):
            return str(code)
    return labels.get(code, str(code))


def weekday_nl(text: str | None) -> str:
    """English weekday abbreviations in a text (``Thu 20:00``) in Dutch (``do 20:00``)."""
    return "" if not text else _DAY.sub(lambda m: WEEKDAYS_NL[m.group(1)], str(text))


MONTHS_NL_SHORT = ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec")


def month_nl(period: str | None) -> str:
    """A month label ``2026-09`` the Dutch way (``sep 2026``); anything else unchanged."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", str(period or ""))
    if not m or not 1 <= int(m.group(2)) <= 12:
        return "" if period is None else str(period)
    return f"{MONTHS_NL_SHORT[int(m.group(2)) - 1]} {m.group(1)}"
