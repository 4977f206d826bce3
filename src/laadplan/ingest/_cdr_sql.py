"""Set-based parsing and validation of charging sessions in DuckDB SQL (used by :mod:`laadplan.ingest.cdrs`).

The reader hands over batches of raw records ``_cdr_in(position BIGINT, raw VARCHAR)`` (one JSON text per
record). Everything else happens in SQL, vectorised over the batch:

1. :func:`norm_sql` parses each record once (``json_valid`` + ``from_json`` into a struct whose leaves are
   JSON text), detects the OCPI version, COALESCEs the 2.1.1 and 2.2.1 field paths and classifies every
   field as present / missing / wrongly typed. Its output, the *normalised* relation, has the columns of
   :data:`NORM_COLUMNS`; the ElaadNL CSV reader produces the same relation from pandas.
2. :func:`checked_sql` applies every rule to the normalised rows and lists, per record, each rule it
   breaks (``broken``: a list of ``{code, msg}``) in the fixed order of :data:`RULE_ORDER`.
3. :func:`duplicate_sql` adds ``LP-DUPLICATE`` for otherwise valid records whose id and last_updated equal
   an earlier record of the batch or a stored session while the content differs.

A record is accepted when ``broken`` is empty; otherwise it gets one quarantine row per broken rule (so
the analyst sees everything wrong with it at once) and counts once as quarantined.

Field versions (OCPI 2.2.1 path | 2.1.1 path):

==================  ===============================  ==========================================
session column      2.2.1                            2.1.1
==================  ===============================  ==========================================
end                 end_date_time                    stop_date_time
user_id             cdr_token.contract_id            auth_id
location_id         cdr_location.id                  location.id
lat / lon           cdr_location.coordinates.*       location.coordinates.*
evse_uid / evse_id  cdr_location.evse_uid/evse_id    location.evses[0].uid / evse_id
connector_id        cdr_location.connector_id        location.evses[0].connectors[0].id
country/party       country_code / party_id          country_code / party_id, else the eMI3 evse_id
total_cost          total_cost.excl_vat (Price)      total_cost (number, excl. VAT)
==================  ===============================  ==========================================

Derived values: ``connected_h = (end - start)`` in hours; ``charging_h = total_time - total_parking_time``
(NULL when the parking time is not delivered); the record's own power is the largest ``MAX_POWER``
dimension of its charging periods (2.2.1) or ``voltage x amperage (x 3 for AC_3_PHASE)`` of the 2.1.1
connector.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from laadplan.config import RegionConfig

#: The order in which rules are listed for a record (and the first one is the record's main reason).
RULE_ORDER = (
    "LP-MALFORMED", "LP-TYPE", "LP-MISSING", "LINDA-ENERGY-NEG", "LINDA-FUTURE", "LP-FUTURE", "LINDA-BEFORE-2009",
    "LINDA-START-END", "LINDA-TIME-NEG", "LINDA-TIME-MISMATCH", "LP-CHARGE-GT-CONNECTED", "LP-ENERGY-POWER",
    "LP-COORDS-NL", "LP-DUPLICATE",
)

#: Columns of the normalised relation (``_cdr_norm``), shared by the JSON and CSV readers.
NORM_COLUMNS = {
    "position": "BIGINT", "source": "VARCHAR", "record_error_code": "VARCHAR", "record_error": "VARCHAR",
    "wrong": "VARCHAR[]", "missing": "VARCHAR[]", "session_id": "VARCHAR", "country_code": "VARCHAR",
    "party_id": "VARCHAR", "location_id": "VARCHAR", "evse_uid": "VARCHAR", "evse_id": "VARCHAR",
    "connector_id": "VARCHAR", "start_utc": "TIMESTAMP", "end_utc": "TIMESTAMP", "total_time_h": "DOUBLE",
    "charging_h": "DOUBLE", "energy_kwh": "DOUBLE", "own_power_kw": "DOUBLE", "user_id": "VARCHAR",
    "auth_method": "VARCHAR", "total_cost_eur": "DOUBLE", "total_cost_incl_vat_eur": "DOUBLE",
    "currency": "VARCHAR", "lat": "DOUBLE", "lon": "DOUBLE", "last_updated_utc": "TIMESTAMP",
}

#: Session columns whose values make up a record's content (for LP-DUPLICATE); provenance and the
#: connector-dependent max power are left out.
CONTENT_COLUMNS = ("country_code", "party_id", "location_id", "evse_uid", "evse_id", "connector_id", "start_utc",
                   "end_utc", "charging_h", "energy_kwh", "user_id", "auth_method", "total_cost_eur",
                   "total_cost_incl_vat_eur", "currency", "lat", "lon")

#: Columns the checked relation carries on (besides max_power_kw and broken): what sessions needs.
CHECKED_COLUMNS = ("position", "source", "session_id", "country_code", "party_id", "location_id", "evse_uid",
                   "evse_id", "connector_id", "start_utc", "end_utc", "connected_h", "charging_h", "energy_kwh",
                   "user_id", "auth_method", "total_cost_eur", "total_cost_incl_vat_eur", "currency", "lat", "lon",
                   "last_updated_utc")

# Macros classifying a leaf: JSON text (numbers, prices) or text (strings, times, coordinates); NULL
# means absent or null.
MACROS = r"""
CREATE OR REPLACE TEMP MACRO lp_present(v) AS v IS NOT NULL AND v NOT IN ('""', '[]', '{}');
CREATE OR REPLACE TEMP MACRO lp_tpresent(v) AS v IS NOT NULL AND v <> '';
-- text, NULL for an object or array (first character '{' = 123 or '[' = 91: one ascii() instead of two starts_with)
CREATE OR REPLACE TEMP MACRO lp_str(v) AS CASE WHEN ascii(v) IN (123, 91) THEN NULL ELSE v END;
CREATE OR REPLACE TEMP MACRO lp_fin(x) AS CASE WHEN isfinite(x) THEN x END;
CREATE OR REPLACE TEMP MACRO lp_num(v) AS lp_fin(TRY_CAST(CAST(v AS VARCHAR) AS DOUBLE));
-- a TIMESTAMPTZ's UTC wall time: from its epoch microseconds (timezone('UTC', x) goes through ICU's calendar,
-- 3x slower, the same value for every finite timestamp), ICU only for +-infinity
CREATE OR REPLACE TEMP MACRO lp_utc(x) AS CASE WHEN isfinite(x) THEN make_timestamp(epoch_us(x)) ELSE timezone('UTC', x) END;
CREATE OR REPLACE TEMP MACRO lp_ts(v) AS lp_utc(TRY_CAST(v AS TIMESTAMPTZ));
CREATE OR REPLACE TEMP MACRO lp_coord(v) AS lp_fin(TRY_CAST(v AS DOUBLE));
-- a Price object's excl_vat, else the number (2.1.1). (Without a CASE on the first character, which costs as much
-- as the extraction: a text that is no object has no excl_vat, and an object's text is no number.)
CREATE OR REPLACE TEMP MACRO lp_price(v) AS coalesce(lp_fin(TRY_CAST(v ->> '$.excl_vat' AS DOUBLE)), lp_num(v));
CREATE OR REPLACE TEMP MACRO lp_price_incl(v) AS lp_fin(TRY_CAST(v ->> '$.incl_vat' AS DOUBLE));
-- one part of a session id: '*' and '\' escaped so that the joined id cannot collide (replace only where one
-- occurs: the rare case)
CREATE OR REPLACE TEMP MACRO lp_idpart(v) AS CASE WHEN contains(v, '*') OR contains(v, '\')
    THEN replace(replace(v, '\', '\\'), '*', '\*') ELSE v END;
"""

# from_json structure. Numbers and prices stay JSON text so that a number given as a string is caught;
# strings, times and coordinates are read as text (a JSON number there is taken as its text, an object or
# array is a wrong type); the two arrays (charging_periods, tariffs) are parsed typed, for speed: one that
# is not an array counts as missing.
_STRUCTURE = (
    '{"country_code":"VARCHAR","party_id":"VARCHAR","id":"VARCHAR","start_date_time":"VARCHAR",'
    '"end_date_time":"VARCHAR","stop_date_time":"VARCHAR",'
    '"cdr_token":{"uid":"VARCHAR","type":"VARCHAR","contract_id":"VARCHAR"},"auth_id":"VARCHAR",'
    '"auth_method":"VARCHAR","cdr_location":{"id":"VARCHAR","coordinates":{"latitude":"VARCHAR",'
    '"longitude":"VARCHAR"},"evse_uid":"VARCHAR","evse_id":"VARCHAR","connector_id":"VARCHAR"},'
    '"location":{"id":"VARCHAR","coordinates":{"latitude":"VARCHAR","longitude":"VARCHAR"},"evses":"JSON"},'
    '"currency":"VARCHAR","charging_periods":[{"dimensions":[{"type":"VARCHAR","volume":"DOUBLE"}]}],'
    '"total_cost":"JSON","total_energy":"JSON","total_time":"JSON","total_parking_time":"JSON",'
    '"total_fixed_cost":"JSON","total_energy_cost":"JSON","tariffs":[{"id":"VARCHAR"}],"last_updated":"VARCHAR"}'
)


@dataclass(frozen=True)
class Field:
    """One CDR field: its JSON leaf in 2.2.1 and 2.1.1, its kind and whether it is mandatory.

    ``need`` per version: "M" mandatory in OCPI, "P" mandatory in the LINDA profile only
    (``validation.linda_profile``), "" optional.
    """

    name: str
    kind: str  # str, num, ts, coord, list (typed array), price
    v221: str
    v211: str
    need221: str
    need211: str
    label221: str
    label211: str


_E = "j.location.evses"
FIELDS = (
    Field("country_code", "str", "j.country_code", "j.country_code", "M", "", "country_code", "country_code"),
    Field("party_id", "str", "j.party_id", "j.party_id", "M", "", "party_id", "party_id"),
    Field("id", "str", "j.id", "j.id", "M", "M", "id", "id"),
    Field("start", "ts", "j.start_date_time", "j.start_date_time", "M", "M", "start_date_time", "start_date_time"),
    Field("end", "ts", "j.end_date_time", "j.stop_date_time", "M", "M", "end_date_time", "stop_date_time"),
    Field("token_uid", "str", "j.cdr_token.uid", "NULL", "M", "", "cdr_token.uid", ""),
    Field("token_type", "str", "j.cdr_token.type", "NULL", "M", "", "cdr_token.type", ""),
    Field("user", "str", "j.cdr_token.contract_id", "j.auth_id", "M", "M", "cdr_token.contract_id", "auth_id"),
    Field("auth_method", "str", "j.auth_method", "j.auth_method", "M", "M", "auth_method", "auth_method"),
    Field("location_id", "str", "j.cdr_location.id", "j.location.id", "M", "M", "cdr_location.id", "location.id"),
    Field("lat", "coord", "j.cdr_location.coordinates.latitude", "j.location.coordinates.latitude", "M", "M",
          "cdr_location.coordinates.latitude", "location.coordinates.latitude"),
    Field("lon", "coord", "j.cdr_location.coordinates.longitude", "j.location.coordinates.longitude", "M", "M",
          "cdr_location.coordinates.longitude", "location.coordinates.longitude"),
    Field("evse_uid", "str", "j.cdr_location.evse_uid", f"json_extract_string({_E}, '$[0].uid')", "M", "M",
          "cdr_location.evse_uid", "location.evses[0].uid"),
    Field("evse_id", "str", "j.cdr_location.evse_id", f"json_extract_string({_E}, '$[0].evse_id')", "M", "",
          "cdr_location.evse_id", "location.evses[0].evse_id"),
    Field("connector_id", "str", "j.cdr_location.connector_id", f"json_extract_string({_E}, '$[0].connectors[0].id')",
          "M", "", "cdr_location.connector_id", "location.evses[0].connectors[0].id"),
    Field("currency", "str", "j.currency", "j.currency", "M", "M", "currency", "currency"),
    Field("charging_periods", "list", "j.charging_periods", "j.charging_periods", "M", "M", "charging_periods",
          "charging_periods"),
    Field("total_cost", "price", "j.total_cost", "j.total_cost", "M", "M", "total_cost", "total_cost"),
    Field("total_energy", "num", "j.total_energy", "j.total_energy", "M", "M", "total_energy", "total_energy"),
    Field("total_time", "num", "j.total_time", "j.total_time", "M", "M", "total_time", "total_time"),
    Field("total_parking_time", "num", "j.total_parking_time", "j.total_parking_time", "P", "P",
          "total_parking_time", "total_parking_time"),
    Field("tariffs", "list", "j.tariffs", "j.tariffs", "P", "P", "tariffs", "tariffs"),
    Field("total_fixed_cost", "price", "j.total_fixed_cost", "NULL", "P", "", "total_fixed_cost", ""),
    Field("total_energy_cost", "price", "j.total_energy_cost", "NULL", "P", "", "total_energy_cost", ""),
    Field("last_updated", "ts", "j.last_updated", "j.last_updated", "M", "M", "last_updated", "last_updated"),
)

def _need(f: Field, version: str, profile: bool) -> bool | None:
    n = f.need221 if version == "2.2.1" else f.need211
    return n == "M" or (n == "P" and profile)


def _label(f: Field) -> str:
    if f.label221 == f.label211 or not f.label211:
        return f"'{f.label221}'"
    return f"CASE WHEN is211 THEN '{f.label211}' ELSE '{f.label221}' END"


def _present(f: Field) -> str:
    if f.kind == "list":
        return f"(f_{f.name} IS NOT NULL AND len(f_{f.name}) > 0)"
    if f.kind in ("str", "ts", "coord"):
        return f"lp_tpresent(f_{f.name})"
    return f"lp_present(f_{f.name})"


_VALUE = {"str": "lp_str", "num": "lp_num", "ts": "lp_ts", "coord": "lp_coord", "price": "lp_price"}


def norm_sql(source_table: str, profile: bool) -> str:
    """SQL turning ``source_table(position, raw)`` into the normalised relation (:data:`NORM_COLUMNS`).

    Each field is converted once (``v_*``, NULL when absent or not convertible) next to its presence
    (``pr_*``); "wrong type" is then *present but not convertible*. The lists of missing and wrongly typed
    fields are only built for the (rare) records with a problem.
    """
    leaf = ",\n      ".join(
        (f"{f.v221} AS f_{f.name}" if f.v211 == f.v221 else
         f"CASE WHEN is211 THEN {f.v211} ELSE {f.v221} END AS f_{f.name}") for f in FIELDS)
    vals = ",\n      ".join(
        f"{_present(f)} AS pr_{f.name}, "
        + (f"{_VALUE[f.kind]}(f_{f.name})" if f.kind in _VALUE else f"f_{f.name}") + f" AS v_{f.name}"
        for f in FIELDS)
    miss_items, wrong_items, miss_any, wrong_any = [], [], [], []
    for f in FIELDS:
        versions = [v for v in ("2.2.1", "2.1.1") if _need(f, v, profile)]
        if versions:
            cond = (f"(NOT pr_{f.name})" if len(versions) == 2 else
                    f"(NOT pr_{f.name} AND {'NOT is211' if versions == ['2.2.1'] else 'is211'})")
            miss_items.append(f"CASE WHEN {cond} THEN {_label(f)} END")
            miss_any.append(cond)
        if f.kind in _VALUE:
            cond = f"(pr_{f.name} AND v_{f.name} IS NULL)"
            wrong_items.append(f"CASE WHEN {cond} THEN {_label(f)} END")
            wrong_any.append(cond)
    return f"""
WITH src AS (
    SELECT position, raw, error, error IS NULL AND json_valid(raw) AS valid,
           CASE WHEN starts_with(raw, '{{') THEN TRUE ELSE regexp_matches(raw, '^\\s*\\{{') END AS is_obj
    FROM {source_table}
    WHERE CASE WHEN starts_with(raw, '{{') THEN TRUE ELSE trim(raw, chr(32) || chr(9) || chr(13) || chr(10)) <> '' END
), parsed AS (
    SELECT position, error, valid, is_obj,
           CASE WHEN valid AND is_obj THEN from_json(raw, '{_STRUCTURE}') END AS j
    FROM src
), versioned AS (
    -- the version as a flag (never NULL), tested once per field and rule
    SELECT *, (j.cdr_location IS NULL AND j.cdr_token IS NULL AND j.end_date_time IS NULL
               AND (j.location IS NOT NULL OR j.stop_date_time IS NOT NULL OR j.auth_id IS NOT NULL)) AS is211
    FROM parsed
), leaves AS (
    SELECT position, error, valid, is_obj, is211, j.location.evses AS f_evses,
      {leaf}
    FROM versioned
), vals AS (
    SELECT position, error, valid, is_obj, is211, f_evses, f_total_cost,
      {vals}
    FROM leaves
), ids AS (
    SELECT *,
      coalesce(v_country_code,
               CASE WHEN is211 AND contains(v_evse_id, '*') THEN split_part(v_evse_id, '*', 1) END,
               CASE WHEN is211 THEN '' END) AS country_code_v,
      coalesce(v_party_id,
               CASE WHEN is211 AND contains(v_evse_id, '*') THEN split_part(v_evse_id, '*', 2) END,
               CASE WHEN is211 THEN '' END) AS party_id_v
    FROM vals
)
SELECT
    position,
    CASE WHEN is211 THEN 'ocpi-2.1.1' ELSE 'ocpi-2.2.1' END AS source,
    CASE WHEN NOT valid THEN 'LP-MALFORMED' WHEN NOT is_obj THEN 'LP-TYPE' END AS record_error_code,
    CASE WHEN NOT valid THEN coalesce(error, 'not valid JSON') WHEN NOT is_obj THEN 'record is not a JSON object' END AS record_error,
    CASE WHEN valid AND is_obj AND ({' OR '.join(wrong_any)})
         THEN list_filter([{', '.join(wrong_items)}], lambda x: x IS NOT NULL) ELSE [] END AS wrong,
    CASE WHEN valid AND is_obj AND ({' OR '.join(miss_any)})
         THEN list_filter([{', '.join(miss_items)}], lambda x: x IS NOT NULL) ELSE [] END AS missing,
    lp_idpart(country_code_v) || '*' || lp_idpart(party_id_v) || '*' || lp_idpart(v_id) AS session_id,
    country_code_v AS country_code,
    party_id_v AS party_id,
    v_location_id AS location_id,
    v_evse_uid AS evse_uid,
    v_evse_id AS evse_id,
    v_connector_id AS connector_id,
    v_start AS start_utc,
    v_end AS end_utc,
    v_total_time AS total_time_h,
    v_total_time - v_total_parking_time AS charging_h,
    v_total_energy AS energy_kwh,
    CASE WHEN is211 THEN
        TRY_CAST(coalesce(json_extract_string(f_evses, '$[0].connectors[0].max_electric_power'), '') AS DOUBLE) / 1000
        ELSE lp_fin(list_max(flatten(list_transform(v_charging_periods, lambda p: list_transform(
            list_filter(p.dimensions, lambda d: d.type = 'MAX_POWER'), lambda d: d.volume))))) END AS own_power_kw_a,
    CASE WHEN is211 THEN
        TRY_CAST(coalesce(json_extract_string(f_evses, '$[0].connectors[0].voltage'),
                          json_extract_string(f_evses, '$[0].connectors[0].max_voltage')) AS DOUBLE)
        * TRY_CAST(coalesce(json_extract_string(f_evses, '$[0].connectors[0].amperage'),
                            json_extract_string(f_evses, '$[0].connectors[0].max_amperage')) AS DOUBLE)
        * CASE WHEN json_extract_string(f_evses, '$[0].connectors[0].power_type') = 'AC_3_PHASE' THEN 3 ELSE 1 END
        / 1000 END AS own_power_kw_b,
    v_user AS user_id,
    v_auth_method AS auth_method,
    v_total_cost AS total_cost_eur,
    lp_price_incl(f_total_cost) AS total_cost_incl_vat_eur,
    v_currency AS currency,
    v_lat AS lat,
    v_lon AS lon,
    v_last_updated AS last_updated_utc
FROM ids
"""


def norm_select(inner: str) -> str:
    """Wrap :func:`norm_sql` so that the result has exactly :data:`NORM_COLUMNS` (own power merged)."""
    cols = []
    for c, typ in NORM_COLUMNS.items():
        if c == "own_power_kw":
            cols.append("CAST(coalesce(own_power_kw_a, own_power_kw_b) AS DOUBLE) AS own_power_kw")
        else:
            cols.append(f"CAST({c} AS {typ}) AS {c}")
    return f"SELECT {', '.join(cols)} FROM ({inner})"


def _lit_ts(ts: datetime) -> str:
    return f"TIMESTAMP '{ts:%Y-%m-%d %H:%M:%S}'"


#: a record (alias ``n``) and a connector (alias ``{a}``) of the same EVSE
_EVSE_KEY = ("n.country_code IS NOT DISTINCT FROM {a}.country_code AND n.party_id IS NOT DISTINCT FROM {a}.party_id "
             "AND n.location_id = {a}.location_id AND n.evse_uid = {a}.evse_uid")


def checked_sql(norm_table: str, cfg: RegionConfig, now_utc: datetime | None, *, now_sql: str | None = None,
                few: bool = False, connectors: str = "connectors") -> str:
    """SQL listing, per normalised record, every rule it breaks (``broken``) plus the session columns.

    ``norm_table`` is a table name or a parenthesised query giving the normalised relation. The list is
    only built for records that break something. The time the future rules compare with is ``now_utc`` as a
    literal, or the SQL expression ``now_sql`` (a TIMESTAMP; e.g. a parameter of a statement prepared once
    and executed for many batches).

    The power limit of a record's EVSE (its connectors' largest power) is aggregated from ``connectors``:
    for a big batch over all connectors once; with ``few`` (a few pushed records) only over the connectors
    of the batch's EVSEs (the same values): aggregating all of a region's connectors (28,000 in Zuid-Holland
    and Zeeland) cost ~6 ms per pushed group, more than the rest of the rules. ``connectors`` names the
    relation read instead of the table (:func:`power_sql`'s copy of the batch's EVSEs' connectors).
    """
    v = cfg.validation
    now = now_sql if now_sql is not None else _lit_ts(now_utc)
    future = now + f" + INTERVAL ({float(v.future_tolerance_s)}) SECOND"
    future_upd = now + f" + INTERVAL ({float(v.last_updated_future_h) * 3600}) SECOND"
    earliest = f"TIMESTAMP '{v.earliest_date:%Y-%m-%d} 00:00:00'"
    tol = float(v.total_time_tolerance_h)
    margin = float(v.energy_power_margin)
    default_kw = float(v.default_max_power_kw)
    bbox = (f"(lat NOT BETWEEN {v.bbox_lat_min} AND {v.bbox_lat_max} "
            f"OR lon NOT BETWEEN {v.bbox_lon_min} AND {v.bbox_lon_max})")
    # (condition, {code, msg}) per rule, in RULE_ORDER; a NULL condition (value unknown) is not broken
    rules = [
        ("record_error_code IS NOT NULL", "{'code': record_error_code, 'msg': record_error}"),
        ("len(wrong) > 0", "{'code': 'LP-TYPE', 'msg': 'wrong type or format: ' || array_to_string(wrong, ', ')}"),
        ("len(missing) > 0",
         "{'code': 'LP-MISSING', 'msg': 'mandatory field missing or empty: ' || array_to_string(missing, ', ')}"),
        ("energy_kwh < 0", "{'code': 'LINDA-ENERGY-NEG', 'msg': printf('total energy %.4f kWh < 0', energy_kwh)}"),
        (f"start_utc > {future} OR end_utc > {future}",
         "{'code': 'LINDA-FUTURE', 'msg': printf('start %s or end %s lies in the future', "
         "start_utc::VARCHAR, end_utc::VARCHAR)}"),
        (f"last_updated_utc > {future_upd}",
         "{'code': 'LP-FUTURE', 'msg': printf('last_updated %s lies more than "
         f"{float(v.last_updated_future_h):g} h in the future', last_updated_utc::VARCHAR)}}"),
        (f"start_utc < {earliest} OR end_utc < {earliest}",
         f"{{'code': 'LINDA-BEFORE-2009', 'msg': printf('start %s or end %s before {v.earliest_date}', "
         "start_utc::VARCHAR, end_utc::VARCHAR)}"),
        ("start_utc >= end_utc",
         "{'code': 'LINDA-START-END', 'msg': printf('start %s is not before end %s', "
         "start_utc::VARCHAR, end_utc::VARCHAR)}"),
        ("total_time_h < 0 OR charging_h < 0",
         "{'code': 'LINDA-TIME-NEG', 'msg': printf('total time %.4f h or charging time %.4f h < 0', "
         "total_time_h, charging_h)}"),
        (f"abs(total_time_h - connected_h) > {tol}",
         "{'code': 'LINDA-TIME-MISMATCH', 'msg': printf('total time %.4f h differs from end - start = %.4f h', "
         "total_time_h, connected_h)}"),
        ("charging_h > total_time_h + 1e-9",
         "{'code': 'LP-CHARGE-GT-CONNECTED', 'msg': printf('charging time %.4f h longer than connected time "
         "%.4f h', charging_h, total_time_h)}"),
        (f"start_utc < end_utc AND energy_kwh > limit_kw * connected_h * {margin}",
         "{'code': 'LP-ENERGY-POWER', 'msg': printf('energy %.3f kWh above %.1f kW (%s) x %.4f h x "
         f"{margin}', energy_kwh, limit_kw, limit_src, connected_h)}}"),
        (bbox, "{'code': 'LP-COORDS-NL', 'msg': printf('coordinates (%.6f, %.6f) outside the Netherlands "
               "(latitude and longitude swapped?)', lat, lon)}"),
    ]
    any_broken = " OR ".join(f"({c})" for c, _ in rules)
    items = ", ".join(f"CASE WHEN {c} THEN {m} END" for c, m in rules)
    if few:  # the batch once (it is read twice), and only its EVSEs' connectors aggregated
        batch, src = f"b AS MATERIALIZED (SELECT * FROM {norm_table}), ", "b"
        evse_power = ("SELECT c.country_code, c.party_id, c.location_id, c.evse_uid, max(c.power_kw) AS power_kw "
                      f"FROM {connectors} c SEMI JOIN b n ON {_EVSE_KEY.format(a='c')} GROUP BY ALL")
    else:
        batch, src = "", norm_table
        evse_power = ("SELECT country_code, party_id, location_id, evse_uid, max(power_kw) AS power_kw "
                      f"FROM {connectors} GROUP BY ALL")
    return f"""
WITH {batch}n AS (
    SELECT n.*,
        date_diff('millisecond', n.start_utc, n.end_utc) / 3600000.0 AS connected_h,
        coalesce(ce.power_kw, cv.power_kw) AS conn_power_kw
    FROM {src} n
    LEFT JOIN {connectors} ce ON {_EVSE_KEY.format(a='ce')} AND n.connector_id = ce.connector_id
    LEFT JOIN ({evse_power}) cv ON {_EVSE_KEY.format(a='cv')}
), l AS (
    SELECT *,
        CASE WHEN conn_power_kw > 0 THEN conn_power_kw WHEN own_power_kw > 0 THEN own_power_kw
             ELSE {default_kw} END AS limit_kw,
        CASE WHEN conn_power_kw > 0 THEN 'connector' WHEN own_power_kw > 0 THEN 'record max power'
             ELSE 'default' END AS limit_src
    FROM n
)
SELECT {', '.join(CHECKED_COLUMNS)},
    CASE WHEN conn_power_kw > 0 OR own_power_kw > 0 THEN greatest(conn_power_kw, own_power_kw) END AS max_power_kw,
    CASE WHEN {any_broken} THEN list_filter([{items}], lambda x: x IS NOT NULL) ELSE [] END AS broken
FROM l
"""


def power_sql(norm_table: str, connectors: str = "connectors") -> str:
    """The connectors of the EVSEs of the records in ``norm_table`` (``country_code, party_id, location_id,
    evse_uid, connector_id, power_kw``): all that :func:`checked_sql` reads of ``connectors`` for them.
    ``connectors`` may name a relation of the stored connectors at the batch's locations only."""
    return ("SELECT c.country_code, c.party_id, c.location_id, c.evse_uid, c.connector_id, c.power_kw "
            f"FROM {connectors} c SEMI JOIN {norm_table} n ON {_EVSE_KEY.format(a='c')}")


def _content_hash(alias: str) -> str:
    return "hash(" + ", ".join(f"{alias}.{c}" for c in CONTENT_COLUMNS) + ")"


def multi_sql(checked_table: str) -> str:
    """Session ids occurring more than once among the otherwise valid records of the batch (usually none)."""
    return (f"SELECT session_id FROM {checked_table} WHERE len(broken) = 0 "
            "GROUP BY session_id HAVING count(*) > 1")


def stored_sql(checked_table: str, sessions: str = "sessions") -> str:
    """The stored sessions sharing an id with an otherwise valid record of the batch: ``position, session_id,
    last_updated_utc`` of the record, the stored ``s_last_updated_utc``, ``s_source_file`` and whether the
    content ``differs``. The one scan of ``sessions`` per batch (usually no row: a new file's ids are new);
    the duplicate check and the upsert both work from it. ``sessions`` may name a relation of the stored
    sessions with the batch's ids only (PostgreSQL: see :class:`laadplan.ingest.cdrs._Batch`)."""
    return f"""
SELECT c.position, c.session_id, c.last_updated_utc, s.last_updated_utc AS s_last_updated_utc,
       s.source_file AS s_source_file, {_content_hash('s')} <> {_content_hash('c')} AS differs
FROM {checked_table} c JOIN {sessions} s ON s.session_id = c.session_id
WHERE len(c.broken) = 0
"""


def hit_sql(checked_table: str) -> str:
    """The ids of the otherwise valid records of the batch that are stored already (``session_id``): a scan
    of the one key column of ``sessions``, to skip :func:`stored_sql` when there are none."""
    return f"""
SELECT s.session_id FROM sessions s
WHERE s.session_id IN (SELECT session_id FROM {checked_table} WHERE len(broken) = 0)
"""


def duplicate_sql(checked_table: str, multi_table: str, stored_table: str) -> str:
    """SQL listing the otherwise valid records that are LP-DUPLICATE: ``position, msg`` (usually none).

    Only ids listed in ``multi_table`` (see :func:`multi_sql`) need the in-batch window, and only records
    whose id and last_updated match a stored session (``stored_table``, see :func:`stored_sql`) need a
    content comparison with it.
    """
    c_hash = _content_hash("c")
    return f"""
WITH inbatch AS (
    SELECT c.position, c.session_id, {c_hash} AS h,
           first_value({c_hash}) OVER w AS h0, first_value(c.position) OVER w AS p0
    FROM {checked_table} c
    WHERE len(c.broken) = 0 AND c.session_id IN (SELECT session_id FROM {multi_table})
    WINDOW w AS (PARTITION BY c.session_id, c.last_updated_utc ORDER BY c.position)
)
SELECT position, arg_min(msg, prio) AS msg FROM (
    SELECT position, 1 AS prio, printf('same id %s and last_updated as record %d of this source, '
                                       'different content', session_id, p0) AS msg
    FROM inbatch WHERE h <> h0
    UNION ALL
    SELECT position, 2 AS prio, printf('same id %s and last_updated as a stored session (from %s), '
                                       'different content', session_id, s_source_file) AS msg
    FROM {stored_table}
    WHERE differs AND s_last_updated_utc IS NOT DISTINCT FROM last_updated_utc
) GROUP BY position
"""
