"""Named validation rules. Every rejected record carries one of these codes into the quarantine.

Codes are stable identifiers (``LINDA-*`` for the LINDA profile's rules, ``LP-*`` for laadplan's own).
``laadplan rules`` lists them. Readers declare the rules they apply by code; a reader must never quarantine
under a code that is not registered here. A rule's ``action`` is ``quarantine`` (the record is rejected)
or ``note`` (LINDA only warns: the record is accepted and the run's notes count it under the code).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    code: str
    kinds: tuple[str, ...]
    description: str
    source: str = "laadplan"  # LINDA, OCPI or laadplan
    action: str = "quarantine"  # quarantine | note (accepted, counted in the run's notes)


RULES: dict[str, Rule] = {}


def rule(code: str, kinds: tuple[str, ...] | str, description: str, source: str = "laadplan",
         action: str = "quarantine") -> Rule:
    if isinstance(kinds, str):
        kinds = (kinds,)
    if action not in ("quarantine", "note"):
        raise ValueError(f"rule {code}: action must be quarantine or note, not {action!r}")
    r = Rule(code, kinds, description, source, action)
    if code in RULES and RULES[code] != r:
        raise ValueError(f"rule {code} registered twice with different content")
    RULES[code] = r
    return r


def get(code: str) -> Rule:
    try:
        return RULES[code]
    except KeyError:
        raise KeyError(f"unknown validation rule {code!r}") from None


ALL = ("locations", "cdrs", "sessions", "status", "areas", "tariffs", "grid", "connections", "requests",
       "candidates", "parks", "sites", "costs")

# -- rules shared by every reader -------------------------------------------------------------------
MALFORMED = rule("LP-MALFORMED", ALL, "record is not parseable (broken JSON line, wrong CSV field count)")
WRONG_TYPE = rule("LP-TYPE", ALL, "a field has the wrong type or format (not a number, not a date, not an object)")
MISSING = rule("LP-MISSING", ALL, "a mandatory field is missing or empty", "LINDA")
DUPLICATE = rule("LP-DUPLICATE", ALL, "same id as another record with the same last_updated but different content; "
                 "locations: an older copy of an EVSE also published under another location (same party, uid "
                 "and EVSE id), or a location all of whose EVSEs are such copies")
FUTURE_UPDATE = rule("LP-FUTURE", ALL, "last_updated (or a request date) more than validation.last_updated_future_h "
                     "in the future: it would win over every later update")
PERIOD = rule("LP-PERIOD", ("tariffs",), "validity period ends before it starts (start_date_time >= end_date_time)")
COORDS_NL = rule("LP-COORDS-NL", ("locations", "cdrs", "sessions", "requests", "candidates", "connections",
                                  "parks", "sites"),
                 "coordinates outside the Netherlands (often latitude and longitude swapped)")

# -- CDR / session rules (LINDA rejection rules plus our own) ----------------------------------------
ENERGY_NEGATIVE = rule("LINDA-ENERGY-NEG", ("cdrs", "sessions"), "total_energy < 0", "LINDA")
FUTURE = rule("LINDA-FUTURE", ("cdrs", "sessions"), "start or end lies in the future", "LINDA")
BEFORE_2009 = rule("LINDA-BEFORE-2009", ("cdrs", "sessions"), "start or end before 2009", "LINDA")
START_NOT_BEFORE_END = rule("LINDA-START-END", ("cdrs", "sessions"), "start >= end", "LINDA")
TOTAL_TIME_NEGATIVE = rule("LINDA-TIME-NEG", ("cdrs", "sessions"), "total_time < 0 (or charging time < 0)", "LINDA")
TOTAL_TIME_MISMATCH = rule("LINDA-TIME-MISMATCH", ("cdrs", "sessions"),
                           "total_time differs from end - start by more than the tolerance", "LINDA")
ENERGY_IMPLAUSIBLE = rule("LP-ENERGY-POWER", ("cdrs", "sessions"),
                          "energy above what the connector's power could deliver over the connected time")
CHARGE_GT_CONNECTED = rule("LP-CHARGE-GT-CONNECTED", ("cdrs", "sessions"),
                           "charging time longer than connected time (or parking time < 0)")

# -- location / status / tariff / area rules ----------------------------------------------------------
EVSE_STATUS = rule("LP-STATUS", ("locations", "status"), "EVSE status is not an OCPI status")
POWER_IMPLAUSIBLE = rule("LP-POWER", "locations", "connector power missing and not derivable, or implausible; a "
                         "location or freight-feed power above connector_max_power_kw (a watt figure) is never used")
AREA_GEOMETRY = rule("LP-GEOMETRY", "areas", "area geometry missing or invalid")
AREA_CODE = rule("LP-AREA-CODE", "areas", "area code missing or not a CBS code")
SHARE_RANGE = rule("LP-SHARE-RANGE", ("status",), "a share or percentage outside 0..100 % or more occupied than observed")

# -- LINDA profile format rules for Locations and Tariffs: LINDA warns, the record is accepted with a note --
EVSE_ID_FORMAT = rule("LINDA-EVSE-ID", "locations",
                      "evse_id missing or not in eMI3/IDACS form (CC*OOO*E..., e.g. NL*ABC*E12345; '*' optional)",
                      "LINDA", "note")
OPERATOR_MISSING = rule("LINDA-OPERATOR", "locations", "location without operator", "LINDA", "note")
POSTAL_CODE = rule("LINDA-POSTAL-CODE", "locations",
                   "Dutch postal code not 4 digits and 2 letters; valid ones are stored as LINDA writes them, "
                   "'1234 AB' (upper case, one space)", "LINDA", "note")
TARIFF_TYPE = rule("LINDA-TARIFF-TYPE", "tariffs",
                   "tariff without type (AD_HOC_PAYMENT, PROFILE_CHEAP, PROFILE_FAST, PROFILE_GREEN, REGULAR)",
                   "LINDA", "note")
