"""OCPI CDR ingest (2.1.1 and 2.2.1): mapping to sessions, every validation rule, containers, URL,
idempotence, newer-wins, and the official OCPI example with swapped coordinates."""

from __future__ import annotations

import copy
import gzip
import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from laadplan.ingest.cdrs import detect_format, ingest_cdrs

# -- hand-built records ------------------------------------------------------------------------------

CDR_221 = {
    "country_code": "NL", "party_id": "ABC", "id": "CDR1",
    "start_date_time": "2025-03-01T18:00:00Z", "end_date_time": "2025-03-01T20:30:00Z",
    "cdr_token": {"country_code": "NL", "party_id": "EMP", "uid": "TOK1", "type": "RFID",
                  "contract_id": "NL-EMP-C12345678-X"},
    "auth_method": "WHITELIST",
    "cdr_location": {"id": "LOC1", "name": "Coolsingel", "address": "Coolsingel 40", "city": "Rotterdam",
                     "postal_code": "3011 AD", "country": "NLD",
                     "coordinates": {"latitude": "51.922500", "longitude": "4.479170"},
                     "evse_uid": "EVSE1", "evse_id": "NL*ABC*E1", "connector_id": "1",
                     "connector_standard": "IEC_62196_T2", "connector_format": "SOCKET",
                     "connector_power_type": "AC_3_PHASE"},
    "currency": "EUR",
    "tariffs": [{"country_code": "NL", "party_id": "ABC", "id": "T1", "currency": "EUR",
                 "elements": [{"price_components": [{"type": "ENERGY", "price": 0.35, "vat": 21.0, "step_size": 1}]}],
                 "last_updated": "2025-01-01T00:00:00Z"}],
    "charging_periods": [{"start_date_time": "2025-03-01T18:00:00Z",
                          "dimensions": [{"type": "ENERGY", "volume": 16.5}, {"type": "MAX_POWER", "volume": 11.0}]}],
    "total_cost": {"excl_vat": 5.78, "incl_vat": 6.99},
    "total_fixed_cost": {"excl_vat": 0.0, "incl_vat": 0.0},
    "total_energy": 16.5,
    "total_energy_cost": {"excl_vat": 5.78, "incl_vat": 6.99},
    "total_time": 2.5,
    "total_parking_time": 0.75,
    "last_updated": "2025-03-01T20:31:00Z",
}

CDR_211 = {
    "id": "CDR211", "start_date_time": "2017-05-10T08:00:00Z", "stop_date_time": "2017-05-10T10:00:00Z",
    "auth_id": "DE8ACC12E46L89", "auth_method": "WHITELIST",
    "location": {"id": "LOC2", "type": "ON_STREET", "address": "Spui 70", "city": "Den Haag", "postal_code": "2511 BT",
                 "country": "NLD", "coordinates": {"latitude": "52.077000", "longitude": "4.316000"},
                 "evses": [{"uid": "3256", "evse_id": "NL*XYZ*E3256", "status": "AVAILABLE",
                            "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                                            "power_type": "AC_3_PHASE", "voltage": 230, "amperage": 16,
                                            "last_updated": "2017-01-01T00:00:00Z"}],
                            "last_updated": "2017-01-01T00:00:00Z"}],
                 "last_updated": "2017-01-01T00:00:00Z"},
    "currency": "EUR",
    "tariffs": [{"id": "12", "currency": "EUR", "elements": [{"price_components": [
        {"type": "TIME", "price": 2.00, "step_size": 300}]}], "last_updated": "2017-01-01T00:00:00Z"}],
    "charging_periods": [{"start_date_time": "2017-05-10T08:00:00Z",
                          "dimensions": [{"type": "ENERGY", "volume": 15.342}]}],
    "total_cost": 4.00, "total_energy": 15.342, "total_time": 2.0, "total_parking_time": 0.5,
    "last_updated": "2017-05-10T10:01:00Z",
}


def _write_ndjson(path, records, extra_lines=()):
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _ingest(store, cfg, tmp_path, records, name="cdrs.ndjson"):
    src = _write_ndjson(tmp_path / name, records)
    res = ingest_cdrs(store, src, cfg)
    q = store.frame("quarantine", "source_file = ?", [src])
    return res, q


def _one(store, session_id):
    df = store.frame("sessions", "session_id = ?", [session_id])
    assert len(df) == 1, f"{session_id} not stored"
    return df.iloc[0]


# -- mapping ------------------------------------------------------------------------------------------

def test_valid_221_maps_to_session_columns(store, cfg, tmp_path):
    res, q = _ingest(store, cfg, tmp_path, [CDR_221])
    assert (res.read, res.accepted, res.quarantined) == (1, 1, 0), q[["rule_code", "message"]]
    s = _one(store, "NL*ABC*CDR1")
    assert s.start_utc == pd.Timestamp("2025-03-01 18:00:00")
    assert s.end_utc == pd.Timestamp("2025-03-01 20:30:00")
    assert s.connected_h == pytest.approx(2.5)  # 18:00 -> 20:30
    assert s.charging_h == pytest.approx(2.5 - 0.75)  # total_time - total_parking_time
    assert s.energy_kwh == pytest.approx(16.5)
    assert s.user_id == "NL-EMP-C12345678-X"  # contract_id
    assert (s.country_code, s.party_id, s.location_id, s.evse_uid, s.evse_id, s.connector_id) == \
        ("NL", "ABC", "LOC1", "EVSE1", "NL*ABC*E1", "1")
    assert s.max_power_kw == pytest.approx(11.0)  # MAX_POWER dimension
    assert (s.total_cost_eur, s.total_cost_incl_vat_eur) == (pytest.approx(5.78), pytest.approx(6.99))
    assert (s.lat, s.lon) == (pytest.approx(51.9225), pytest.approx(4.47917))
    assert s.source == "ocpi-2.2.1" and s.auth_method == "WHITELIST" and s.currency == "EUR"
    assert s.last_updated_utc == pd.Timestamp("2025-03-01 20:31:00")


def test_valid_211_maps_to_session_columns(store, cfg, tmp_path):
    res, q = _ingest(store, cfg, tmp_path, [CDR_211])
    assert (res.read, res.accepted, res.quarantined) == (1, 1, 0), q[["rule_code", "message"]]
    # 2.1.1 has no country_code/party_id: taken from the eMI3 evse_id NL*XYZ*E3256
    s = _one(store, "NL*XYZ*CDR211")
    assert s.start_utc == pd.Timestamp("2017-05-10 08:00:00") and s.end_utc == pd.Timestamp("2017-05-10 10:00:00")
    assert s.connected_h == pytest.approx(2.0)
    assert s.charging_h == pytest.approx(1.5)
    assert s.energy_kwh == pytest.approx(15.342)
    assert s.user_id == "DE8ACC12E46L89"  # auth_id
    assert (s.location_id, s.evse_uid, s.evse_id, s.connector_id) == ("LOC2", "3256", "NL*XYZ*E3256", "1")
    assert s.max_power_kw == pytest.approx(230 * 16 * 3 / 1000)  # AC_3_PHASE, V x A x 3
    assert s.total_cost_eur == pytest.approx(4.0) and pd.isna(s.total_cost_incl_vat_eur)
    assert s.source == "ocpi-2.1.1"


def test_times_with_offset_are_converted_to_utc(store, cfg, tmp_path):
    cdr = copy.deepcopy(CDR_221)
    cdr["start_date_time"] = "2025-03-01T19:00:00+01:00"
    cdr["end_date_time"] = "2025-03-01T21:30:00+01:00"
    res, _ = _ingest(store, cfg, tmp_path, [cdr])
    assert res.accepted == 1
    s = _one(store, "NL*ABC*CDR1")
    assert (s.start_utc, s.end_utc) == (pd.Timestamp("2025-03-01 18:00:00"), pd.Timestamp("2025-03-01 20:30:00"))


# -- one rule at a time --------------------------------------------------------------------------------

def _set(path, value):
    def f(c):
        d = c
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value
    return f


def _del(path):
    def f(c):
        d = c
        for k in path[:-1]:
            d = d[k]
        del d[path[-1]]
    return f


def _swap_coords(loc_key):
    def f(c):
        co = c[loc_key]["coordinates"]
        co["latitude"], co["longitude"] = co["longitude"], co["latitude"]
    return f


def _future(end_key):
    def f(c):
        start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=10)
        c["start_date_time"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        c[end_key] = (start + timedelta(hours=c["total_time"])).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f


def _times(start, end, total, parking):
    def f(c):
        c["start_date_time"] = start
        c["stop_date_time" if "stop_date_time" in c else "end_date_time"] = end
        c["total_time"] = total
        c["total_parking_time"] = parking
    return f


CASES_221 = [
    ("LINDA-ENERGY-NEG", _set(["total_energy"], -1.0)),
    ("LINDA-FUTURE", _future("end_date_time")),
    ("LINDA-BEFORE-2009", _times("2008-06-01T10:00:00Z", "2008-06-01T12:30:00Z", 2.5, 0.75)),
    ("LINDA-START-END", _times("2025-03-01T18:00:00Z", "2025-03-01T18:00:00Z", 0.0, 0.0)),
    ("LINDA-TIME-NEG", _set(["total_parking_time"], 3.0)),  # charging time 2.5 - 3.0 < 0
    ("LINDA-TIME-MISMATCH", _set(["total_time"], 3.0)),  # end - start is 2.5 h
    ("LP-CHARGE-GT-CONNECTED", _set(["total_parking_time"], -0.5)),  # charging 3.0 h > 2.5 h connected
    ("LP-ENERGY-POWER", _set(["total_energy"], 40.0)),  # > 11 kW x 2.5 h x 1.1 = 30.25 kWh
    ("LP-COORDS-NL", _swap_coords("cdr_location")),
    ("LP-MISSING", _del(["cdr_token", "contract_id"])),
    ("LP-MISSING", _set(["cdr_location", "evse_uid"], "")),
    ("LP-MISSING", _del(["total_fixed_cost"])),  # LINDA profile field
    ("LP-TYPE", _set(["total_energy"], "16.5")),
    ("LP-TYPE", _set(["id"], {"value": "CDR1"})),  # (a number where a string is due is taken as its text)
    ("LP-TYPE", _set(["start_date_time"], "yesterday evening")),
    ("LP-TYPE", _set(["cdr_location", "coordinates", "latitude"], "north")),
    # an object where the array is required: the array is missing
    ("LP-MISSING", _set(["charging_periods"], {"start_date_time": "2025-03-01T18:00:00Z"})),
    ("LP-TYPE", _set(["total_cost"], {"excl_vat": "five"})),
    ("LP-TYPE", _set(["last_updated"], 20250301)),
]

CASES_211 = [
    ("LINDA-ENERGY-NEG", _set(["total_energy"], -0.1)),
    ("LINDA-FUTURE", _future("stop_date_time")),
    ("LINDA-BEFORE-2009", _times("2008-05-10T08:00:00Z", "2008-05-10T10:00:00Z", 2.0, 0.5)),
    ("LINDA-START-END", _times("2017-05-10T08:00:00Z", "2017-05-10T08:00:00Z", 0.0, 0.0)),
    ("LINDA-TIME-MISMATCH", _set(["total_time"], 1.5)),
    ("LP-CHARGE-GT-CONNECTED", _set(["total_parking_time"], -1.0)),
    ("LP-ENERGY-POWER", _set(["total_energy"], 30.0)),  # > 11.04 kW x 2 h x 1.1 = 24.3 kWh
    ("LP-COORDS-NL", _swap_coords("location")),
    ("LP-MISSING", _del(["auth_id"])),
    ("LP-MISSING", _set(["location", "evses"], [])),
    ("LP-TYPE", _set(["total_time"], "2 hours")),
]


@pytest.mark.parametrize("version", ["2.2.1", "2.1.1"])
def test_each_rule_quarantines_a_record_breaking_only_it(store, cfg, tmp_path, version):
    """One file per version: the valid record first, then one record per case, each breaking one rule."""
    good, cases = (CDR_221, CASES_221) if version == "2.2.1" else (CDR_211, CASES_211)
    bads = []
    for i, (_code, mutate) in enumerate(cases):
        bad = copy.deepcopy(good)
        bad["id"] = f"BAD{i}"
        mutate(bad)
        bads.append(bad)
    res, q = _ingest(store, cfg, tmp_path, [good] + bads)
    n = len(cases)
    assert (res.read, res.accepted, res.quarantined) == (n + 1, 1, n), q[["position", "rule_code", "message"]]
    for i, (code, _m) in enumerate(cases):
        rows = q[q.position == i + 2]
        assert rows["rule_code"].tolist() == [code], (version, i, code, rows[["rule_code", "message"]].to_string())
        assert json.loads(rows.iloc[0].raw) == bads[i]  # the raw record is kept verbatim
    assert (q.kind == "cdrs").all()
    expected = pd.Series([c for c, _ in cases]).value_counts().to_dict()
    assert dict(res.by_rule) == expected
    assert store.count("sessions") == 1


def test_missing_profile_field_is_accepted_without_linda_profile(store, cfg, tmp_path):
    cdr = copy.deepcopy(CDR_221)
    del cdr["total_fixed_cost"], cdr["total_energy_cost"], cdr["total_parking_time"], cdr["tariffs"]
    cfg.validation.linda_profile = False
    res, _ = _ingest(store, cfg, tmp_path, [cdr])
    assert res.accepted == 1
    assert pd.isna(_one(store, "NL*ABC*CDR1").charging_h)  # no parking time: charging time unknown
    cfg.validation.linda_profile = True
    res, q = _ingest(store, cfg, tmp_path, [cdr], name="again.ndjson")
    assert res.quarantined == 1 and q["rule_code"].tolist() == ["LP-MISSING"]
    for f in ("tariffs", "total_fixed_cost", "total_energy_cost", "total_parking_time"):
        assert f in q.iloc[0].message


def test_energy_power_uses_the_connector_table_first(store, cfg, tmp_path):
    store.upsert("connectors", pd.DataFrame([{
        "country_code": "NL", "party_id": "ABC", "location_id": "LOC1", "evse_uid": "EVSE1", "connector_id": "1",
        "power_kw": 3.7}]))
    # 16.5 kWh in 2.5 h is fine for the CDR's own 11 kW but not for a 3.7 kW connector (3.7 x 2.5 x 1.1 = 10.2)
    res, q = _ingest(store, cfg, tmp_path, [CDR_221])
    assert q["rule_code"].tolist() == ["LP-ENERGY-POWER"]
    assert "3.7 kW (connector)" in q.iloc[0].message


def test_energy_power_default_when_no_power_is_known(store, cfg, tmp_path):
    cdr = copy.deepcopy(CDR_221)
    cdr["charging_periods"][0]["dimensions"] = [{"type": "ENERGY", "volume": 16.5}]
    cfg.validation.default_max_power_kw = 5.0  # 5 x 2.5 x 1.1 = 13.75 < 16.5
    res, q = _ingest(store, cfg, tmp_path, [cdr])
    assert q["rule_code"].tolist() == ["LP-ENERGY-POWER"] and "(default)" in q.iloc[0].message


def test_record_breaking_several_rules_is_one_record_with_a_row_per_rule(store, cfg, tmp_path):
    bad = copy.deepcopy(CDR_221)
    bad["total_energy"] = -2.0
    _swap_coords("cdr_location")(bad)
    bad["total_time"] = 4.0
    res, q = _ingest(store, cfg, tmp_path, [bad, CDR_211])
    assert (res.read, res.accepted, res.quarantined) == (2, 1, 1)
    assert sorted(q["rule_code"]) == ["LINDA-ENERGY-NEG", "LINDA-TIME-MISMATCH", "LP-COORDS-NL"]
    assert set(q.position) == {1}
    assert res.by_rule == {"LINDA-ENERGY-NEG": 1, "LINDA-TIME-MISMATCH": 1, "LP-COORDS-NL": 1}


def test_malformed_lines_and_non_objects_never_stop_the_run(store, cfg, tmp_path):
    good2 = copy.deepcopy(CDR_221)
    good2["id"] = "CDR2"
    truncated = json.dumps(CDR_221)[:100]
    src = _write_ndjson(tmp_path / "m.ndjson", [CDR_221, truncated, "", " " * 100, "[1, 2]", "not json at all", good2])
    res = ingest_cdrs(store, src, cfg)
    q = store.frame("quarantine").sort_values("position")
    assert (res.read, res.accepted, res.quarantined) == (5, 2, 3)  # blank lines are no records
    assert list(zip(q.position, q.rule_code)) == [(2, "LP-MALFORMED"), (5, "LP-TYPE"), (6, "LP-MALFORMED")]
    assert q.iloc[0].raw == truncated


# -- duplicates, idempotence, newer wins -------------------------------------------------------------------

def test_duplicate_id_same_last_updated_different_content(store, cfg, tmp_path):
    twin = copy.deepcopy(CDR_221)
    twin["total_energy"] = 12.0
    same = copy.deepcopy(CDR_221)
    res, q = _ingest(store, cfg, tmp_path, [CDR_221, same, twin])
    assert (res.read, res.accepted, res.quarantined) == (3, 2, 1)  # an identical copy is no conflict
    assert list(zip(q.position, q.rule_code)) == [(3, "LP-DUPLICATE")]
    assert _one(store, "NL*ABC*CDR1").energy_kwh == pytest.approx(16.5)
    # against the store, from another file
    res2, q2 = _ingest(store, cfg, tmp_path, [twin], name="other.ndjson")
    assert q2["rule_code"].tolist() == ["LP-DUPLICATE"] and "stored session" in q2.iloc[0].message


def test_ingest_twice_adds_nothing(store, cfg, tmp_path):
    bad = copy.deepcopy(CDR_221)
    bad["id"], bad["total_energy"] = "X", -1
    src = _write_ndjson(tmp_path / "a.ndjson", [CDR_221, CDR_211, bad])
    r1 = ingest_cdrs(store, src, cfg)
    n_s, n_q = store.count("sessions"), store.count("quarantine")
    r2 = ingest_cdrs(store, src, cfg)
    assert r1.upserts["sessions"].inserted == 2
    u = r2.upserts["sessions"]
    assert (u.inserted, u.updated, u.unchanged) == (0, 0, 2)
    assert (store.count("sessions"), store.count("quarantine")) == (n_s, n_q) == (2, 1)
    assert store.count("ingest_runs") == 2


def test_newer_last_updated_replaces(store, cfg, tmp_path):
    newer = copy.deepcopy(CDR_221)
    newer["total_energy"] = 20.0
    newer["last_updated"] = "2025-03-02T08:00:00Z"
    _ingest(store, cfg, tmp_path, [CDR_221], name="v1.ndjson")
    r = ingest_cdrs(store, _write_ndjson(tmp_path / "v2.ndjson", [newer]), cfg)
    assert r.upserts["sessions"].updated == 1
    assert _one(store, "NL*ABC*CDR1").energy_kwh == pytest.approx(20.0)
    # and an older version afterwards changes nothing
    r = ingest_cdrs(store, _write_ndjson(tmp_path / "v1b.ndjson", [CDR_221]), cfg)
    assert r.upserts["sessions"].unchanged == 1 and _one(store, "NL*ABC*CDR1").energy_kwh == pytest.approx(20.0)


# -- containers, gzip, URL ---------------------------------------------------------------------------------

def _containers(tmp_path, records):
    ndjson = "\n".join(json.dumps(r) for r in records) + "\n"
    files = {
        "array.json": json.dumps(records, indent=2),
        "envelope.json": json.dumps({"data": records, "status_code": 1000, "timestamp": "2025-03-02T00:00:00Z"}),
        "cdrs.ndjson": ndjson,
    }
    out = {}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        out[name] = str(tmp_path / name)
    (tmp_path / "cdrs.ndjson.gz").write_bytes(gzip.compress(ndjson.encode()))
    out["cdrs.ndjson.gz"] = str(tmp_path / "cdrs.ndjson.gz")
    (tmp_path / "array.bin").write_bytes(gzip.compress(files["array.json"].encode()))  # gzip without the name
    out["array.bin"] = str(tmp_path / "array.bin")
    return out


def test_all_containers_give_identical_tables(cfg, tmp_path):
    from laadplan.store import Store

    bad = copy.deepcopy(CDR_221)
    bad["id"], bad["end_date_time"] = "B", bad["start_date_time"]
    records = [CDR_221, CDR_211, bad]
    tables, quarantines = {}, {}
    for name, path in _containers(tmp_path, records).items():
        with Store(":memory:") as s:
            res = ingest_cdrs(s, path, cfg)
            assert (res.read, res.accepted, res.quarantined) == (3, 2, 1), name
            tables[name] = s.frame("sessions").drop(columns=["source_file", "run_id"]).sort_values("session_id") \
                .reset_index(drop=True)
            quarantines[name] = s.frame("quarantine")[["position", "rule_code"]].sort_values("rule_code") \
                .reset_index(drop=True)
    assert detect_format(_containers(tmp_path, records)["envelope.json"]) == "document"
    first = next(iter(tables.values()))
    for name in tables:
        pd.testing.assert_frame_equal(tables[name], first, obj=name)
        pd.testing.assert_frame_equal(quarantines[name], quarantines["cdrs.ndjson"], obj=name)


def test_url_source(store, cfg, http_server):
    base, d = http_server
    (d / "cdrs_url.ndjson.gz").write_bytes(gzip.compress((json.dumps(CDR_221) + "\n").encode()))
    res = ingest_cdrs(store, f"{base}/cdrs_url.ndjson.gz", cfg)
    assert (res.read, res.accepted) == (1, 1)
    assert store.frame("sessions").source_file.tolist() == [f"{base}/cdrs_url.ndjson.gz"]


def test_unreadable_source_raises_source_error(store, cfg, tmp_path, http_server):
    from laadplan.ingest import SourceError

    with pytest.raises(SourceError, match="missing.ndjson"):
        ingest_cdrs(store, str(tmp_path / "missing.ndjson"), cfg)
    base, _ = http_server
    with pytest.raises(SourceError, match="404"):
        ingest_cdrs(store, f"{base}/nope.json", cfg)


# -- the official OCPI example -----------------------------------------------------------------------------

def test_official_cdr_example_is_quarantined_for_swapped_coordinates(store, cfg, shared_data, tmp_path):
    path = shared_data / "ocpi_examples" / "ocpi_2.2.1" / "cdr_example.json"
    res = ingest_cdrs(store, str(path), cfg)
    q = store.frame("quarantine")
    assert (res.read, res.accepted, res.quarantined) == (1, 0, 1)
    assert "LP-COORDS-NL" in set(q.rule_code)
    # it also lacks the LINDA profile's cost breakdown and parking time
    assert set(q.rule_code) == {"LP-COORDS-NL", "LP-MISSING"}

    # swap back (derived in code; the file itself stays unmodified) -> accepted under plain OCPI 2.2.1
    fixed = json.loads(path.read_text(encoding="utf-8"))
    co = fixed["cdr_location"]["coordinates"]
    co["latitude"], co["longitude"] = co["longitude"], co["latitude"]
    cfg.validation.linda_profile = False
    res2, q2 = _ingest(store, cfg, tmp_path, [fixed], name="cdr_example_fixed.ndjson")
    assert (res2.accepted, res2.quarantined) == (1, 0), q2
    s = _one(store, "BE*BEC*12345")
    assert s.energy_kwh == pytest.approx(15.342)
    assert s.connected_h == pytest.approx((23 * 3600 + 37 * 60 + 32 - (21 * 3600 + 39 * 60 + 9)) / 3600)
    assert s.user_id == "DE8ACC12E46L89"
    assert (s.lat, s.lon) == (pytest.approx(51.047599), pytest.approx(3.729944))


def test_repeated_ids_found_in_arrow_match_the_sql():
    """cdrs._multi (pyarrow, no statement to plan) lists the same ids as _cdr_sql.multi_sql."""
    import duckdb
    import pyarrow as pa

    from laadplan.ingest import _cdr_sql
    from laadplan.ingest.cdrs import _multi

    broken = pa.list_(pa.struct([("code", pa.string()), ("msg", pa.string())]))
    checked = pa.table({
        "session_id": ["a", "b", "a", "c", "c", "d", "d", "d"],
        "broken": pa.array([[], [], [], [], [{"code": "LP-TYPE", "msg": "x"}], [], [], []], broken),
    })
    _cdr_checked = checked  # noqa: F841 - bound by DuckDB's replacement scan
    want = sorted(r[0] for r in duckdb.connect().execute(_cdr_sql.multi_sql("_cdr_checked")).fetchall())
    assert want == ["a", "d"]  # c counts once: its second record is broken
    assert sorted(_multi(checked).column("session_id").to_pylist()) == want
