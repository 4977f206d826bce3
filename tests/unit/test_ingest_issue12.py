"""Regression tests for issue 12 (every record read is stored or quarantined with its rule, nothing is lost,
a bad file gets a clear error). Each test names the defect it guards; each failed on the code before the fix.

Expected counts are worked out from the files written here (how many records, which are bad and why), not
copied from the code's output.
"""

from __future__ import annotations

import copy
import gzip
import json

import pandas as pd
import pytest

from laadplan.ingest._records import iter_json_records
from laadplan.ingest.cdrs import ingest_cdrs
from laadplan.ingest.locations import ingest_locations
from laadplan.ingest.status import ingest_status
from laadplan.ingest.tariffs import ingest_tariffs

from test_ingest_cdrs import CDR_221  # noqa: E402 (tests/unit is on sys.path)
from test_ingest_locations import loc  # noqa: E402 (tests/unit is on sys.path)
from test_ingest_tariffs import T  # noqa: E402 (tests/unit is on sys.path)


def _cdr(i: int, **changes) -> dict:
    d = copy.deepcopy(CDR_221)
    d["id"] = f"CDR{i}"
    d.update(changes)
    return d


def _loc(i: int, **changes) -> dict:
    """Location ``LOC{i}`` with EVSEs of its own (one EVSE under two locations is an LP-DUPLICATE copy)."""
    return loc(id=f"LOC{i}", **changes)


def _tariff(i: int, **changes) -> dict:
    d = copy.deepcopy(T)
    d["id"] = f"T{i}"
    d.update(changes)
    return d


def _evse(i: int) -> dict:
    return {"uid": f"E{i}", "location_id": "L1", "country_code": "NL", "party_id": "ABC", "status": "CHARGING",
            "last_updated": f"2026-05-01T10:{i:02d}:00Z"}


def _write(path, data: bytes, gz: bool = False) -> str:
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


def _q(store) -> pd.DataFrame:
    return store.frame("quarantine").sort_values("position").reset_index(drop=True)


READERS = {
    "cdrs": (ingest_cdrs, _cdr, "sessions"),
    "locations": (ingest_locations, _loc, "locations"),
    "tariffs": (ingest_tariffs, _tariff, "tariffs"),
    "status": (ingest_status, _evse, "status_observations"),
}

# -- 12.1: a token the streaming parser rejected stopped arrays and envelopes ----------------------------
# Each case: three records; the middle one carries the defect as raw JSON text. "read" = the element is
# valid (an unknown field with a big integer or a Latin-1 byte in a text is no reason to reject the record);
# "bad" = the element is broken and must cost only itself.
_DEFECTS = {
    "bigint_unknown_field": (b'"x_extra": 123456789012345678901234567890', "read"),
    "nan_unknown_field": (b'"x_extra": NaN', "read"),
    "infinity_unknown_field": (b'"x_extra": -Infinity', "read"),
    "latin1_byte": (b'"x_extra": "caf\xe9"', "read"),
    "broken_literal": (b'"x_extra": tru', "bad"),
    "unbalanced": (b'"x_extra": [1, 2}', "bad"),
}


def _container(elements: list[bytes], layout: str) -> bytes:
    if layout == "array":
        return b"[\n" + b",\n".join(elements) + b"\n]\n"
    return b'{"status_code": 1000, "data": [' + b", ".join(elements) + b'], "timestamp": "2026-06-01T00:00:00Z"}'


def _with_defect(obj: dict, defect: bytes) -> bytes:
    text = json.dumps(obj).encode()
    return text[:-1] + b", " + defect + b"}"


@pytest.mark.parametrize("kind", list(READERS))
@pytest.mark.parametrize("layout", ["array", "envelope"])
@pytest.mark.parametrize("defect", list(_DEFECTS))
def test_12_1_bad_array_element_costs_only_itself(store, cfg, tmp_path, kind, layout, defect):
    ingest, make, table = READERS[kind]
    text, verdict = _DEFECTS[defect]
    elements = [json.dumps(make(1)).encode(), _with_defect(make(2), text), json.dumps(make(3)).encode()]
    r = ingest(store, _write(tmp_path / "f.json", _container(elements, layout)), cfg)
    assert r.read == 3, "every element is judged, also the ones after the defect"
    assert r.accepted + r.quarantined == 3
    if verdict == "read":
        assert r.accepted == 3 and r.quarantined == 0
    else:
        assert r.accepted == 2 and dict(r.by_rule) == {"LP-MALFORMED": 1}
        assert list(_q(store).position) == [2]
    assert len(store.frame(table)) == (3 if verdict == "read" else 2)


@pytest.mark.parametrize("kind", list(READERS))
@pytest.mark.parametrize("layout", ["array", "envelope"])
@pytest.mark.parametrize("gz", [False, True])
def test_12_1_bom_before_the_document_is_read(store, cfg, tmp_path, kind, layout, gz):
    ingest, make, table = READERS[kind]
    data = b"\xef\xbb\xbf" + _container([json.dumps(make(i)).encode() for i in (1, 2)], layout)
    r = ingest(store, _write(tmp_path / "f.json", data, gz), cfg)
    assert (r.read, r.accepted, r.quarantined) == (2, 2, 0)
    assert len(store.frame(table)) == 2


def test_12_1_big_integer_in_a_valid_document_is_read_exactly(tmp_path):
    big = 2 ** 70 + 1
    p = _write(tmp_path / "a.json", json.dumps([{"id": "a", "n": big}, {"id": "b"}]).encode())
    assert [r.obj for r in iter_json_records(p)] == [{"id": "a", "n": big}, {"id": "b"}]


def test_12_1_truncated_array_keeps_what_came_before(tmp_path):
    text = json.dumps([{"id": i} for i in range(5)])[:-8]  # cut inside the last element
    recs = list(iter_json_records(_write(tmp_path / "t.json", text.encode())))
    assert [r.obj for r in recs[:4]] == [{"id": i} for i in range(4)]
    assert len(recs) == 5 and recs[4].error is not None and recs[4].position == 5


def test_12_1_record_boundaries_across_read_chunks(tmp_path, monkeypatch):
    """Elements and strings with brackets, commas and escaped quotes split over tiny read chunks."""
    import laadplan.ingest._records as rec

    monkeypatch.setattr(rec, "_CHUNK", 7)
    objs = [{"id": i, "s": 'a"b,]}[{', "n": [i, {"k": i * 1.5}]} for i in range(40)]
    elements = [json.dumps(o).encode() for o in objs]
    elements.insert(20, b'{"id": "bad", "x": nan}')  # lower-case nan is not JSON
    recs = list(iter_json_records(_write(tmp_path / "c.json", _container(elements, "envelope"))))
    assert [r.obj for r in recs if r.error is None] == objs
    assert [r.position for r in recs if r.error is not None] == [21]


# -- 12.3: session ids collided --------------------------------------------------------------------------
def test_12_3_session_ids_cannot_collide(store, cfg, tmp_path):
    a = _cdr(0, party_id="SHL", id="A*B")
    b = _cdr(0, party_id="SHL*A", id="B")
    c = _cdr(0, party_id="SHL", id="A\\*B")  # a backslash in the id must not undo the escape
    p = _write(tmp_path / "c.ndjson", "\n".join(json.dumps(x) for x in (a, b, c)).encode())
    r = ingest_cdrs(store, p, cfg)
    assert (r.read, r.accepted) == (3, 3)
    ids = store.frame("sessions").session_id
    assert ids.nunique() == 3


def test_12_3_plain_ids_are_unchanged(store, cfg, tmp_path):
    p = _write(tmp_path / "c.ndjson", json.dumps(_cdr(7)).encode())
    ingest_cdrs(store, p, cfg)
    assert list(store.frame("sessions").session_id) == ["NL*ABC*CDR7"]


# -- 12.5: non-finite numbers were stored ----------------------------------------------------------------
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize("field", ["total_cost", "total_time", "total_energy"])
def test_12_5_non_finite_cdr_number_is_lp_type(store, cfg, tmp_path, literal, field):
    good = json.dumps(_cdr(1))
    bad = json.dumps(_cdr(2)).replace(f'"{field}": ', f'"{field}": {literal}, "_old_{field}": ', 1)
    for name, text in (("n.ndjson", good + "\n" + bad + "\n"), ("a.json", "[" + good + "," + bad + "]")):
        store.con.execute("DELETE FROM sessions; DELETE FROM quarantine")
        r = ingest_cdrs(store, _write(tmp_path / name, text.encode()), cfg)
        assert (r.read, r.accepted) == (2, 1), name
        q = _q(store)
        assert q.rule_code.iloc[0] == "LP-TYPE" and field in q.message.iloc[0], (name, q.message.tolist())


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "1e400"])
def test_12_5_non_finite_tariff_price_is_lp_type(store, cfg, tmp_path, literal):
    bad = json.dumps(_tariff(2)).replace('"price": 0.4', f'"price": {literal}', 1)
    p = _write(tmp_path / "t.json", ("[" + json.dumps(_tariff(1)) + "," + bad + "]").encode())
    r = ingest_tariffs(store, p, cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (2, 1, {"LP-TYPE": 1})
    assert list(store.frame("tariffs").tariff_id) == ["T1"]


def test_12_5_non_finite_session_csv_value_is_lp_type(store, cfg, tmp_path):
    head = "Started,Ended,TotalEnergy,ConnectedTime,ChargeTime,MaxPower\n"
    rows = ["2018-03-01 08:00:00,2018-03-01 10:00:00,10000,2.0,1.5,11000",
            "2018-03-02 08:00:00,2018-03-02 10:00:00,inf,2.0,1.5,11000",
            "2018-03-03 08:00:00,2018-03-03 10:00:00,10000,NaN,1.5,11000"]
    r = ingest_cdrs(store, _write(tmp_path / "s.csv", (head + "\n".join(rows) + "\n").encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (3, 1, {"LP-TYPE": 2})


# -- 12.8: guards ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["array", "ndjson"])
def test_12_8_deep_nesting_is_one_malformed_record(store, cfg, tmp_path, layout):
    deep = '{"id": "D", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    good = [json.dumps(_loc(i)) for i in (1, 2)]
    items = [good[0], deep, good[1]]
    text = "[" + ",".join(items) + "]" if layout == "array" else "\n".join(items) + "\n"
    r = ingest_locations(store, _write(tmp_path / "d.json", text.encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (3, 2, {"LP-MALFORMED": 1})
    msg = _q(store).message.iloc[0]
    assert "max_json_depth = 64" in msg and "5001" in msg


def test_12_8_depth_limit_comes_from_config(store, cfg, tmp_path):
    cfg.validation.max_json_depth = 3  # a Location with EVSEs and connectors is 4 deep, one without is not
    doc = json.dumps([_loc(1), _loc(2, evses=[])]).encode()  # one record parses: not a wrong-kind file
    r = ingest_locations(store, _write(tmp_path / "l.json", doc), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (2, 1, {"LP-MALFORMED": 1})


@pytest.mark.parametrize("layout", ["array", "ndjson"])
def test_12_8_over_long_record_is_quarantined_and_the_next_read(store, cfg, tmp_path, layout):
    cfg.validation.max_record_bytes = 4096
    long = _tariff(2, x_pad="z" * 10_000)
    items = [json.dumps(_tariff(1)), json.dumps(long), json.dumps(_tariff(3))]
    text = "[" + ",".join(items) + "]" if layout == "array" else "\n".join(items) + "\n"
    r = ingest_tariffs(store, _write(tmp_path / "t.json", text.encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (3, 2, {"LP-MALFORMED": 1})
    q = _q(store)
    assert "max_record_bytes = 4,096" in q.message.iloc[0] and len(q.raw.iloc[0]) <= 20_000


def test_12_8_over_long_cdr_line_is_quarantined_and_the_next_read(store, cfg, tmp_path):
    cfg.validation.max_record_bytes = 4096
    lines = [json.dumps(_cdr(1)), json.dumps(_cdr(2, x_pad="z" * 100_000)), json.dumps(_cdr(3))]
    r = ingest_cdrs(store, _write(tmp_path / "c.ndjson", ("\n".join(lines) + "\n").encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (3, 2, {"LP-MALFORMED": 1})
    assert list(_q(store).position) == [2]


def test_12_8_line_longer_than_a_read_block_is_skipped_not_held(tmp_path):
    from laadplan.ingest._cdr_lines import _iter_stream
    import io

    data = b'{"a":1}\n' + b"x" * 5000 + b'\n{"a":3}\n'
    tables = list(_iter_stream(io.BytesIO(data), 256, max_record_bytes=1000))
    rows = [r for t in tables for r in t.to_pylist()]
    assert [r["position"] for r in rows] == [1, 2, 3]
    assert rows[1]["error"] is not None and len(rows[1]["raw"]) <= 20_000
    assert rows[0]["error"] is None and rows[2]["raw"].strip() == '{"a":3}'


def test_12_8_many_tiny_lines_make_bounded_batches(tmp_path):
    from laadplan.ingest._cdr_lines import iter_line_batches

    p = _write(tmp_path / "tiny.ndjson", b"{}\n" * 250_001)
    sizes = [t.num_rows for t in iter_line_batches(p, max_rows=100_000)]
    assert sizes == [100_000, 100_000, 50_001]


# -- 12.2: CSV fields longer than 131,072 characters ended the file or crashed ---------------------------
def _polygon_wkt(n: int) -> str:
    """A valid polygon ring of ``n`` vertices (a circle around Rotterdam), several MB of WKT for large n."""
    import math

    pts = [(4.48 + 0.05 * math.cos(2 * math.pi * k / n), 51.92 + 0.03 * math.sin(2 * math.pi * k / n))
           for k in range(n)]
    pts.append(pts[0])
    return "POLYGON ((" + ", ".join(f"{x:.12f} {y:.12f}" for x, y in pts) + "))"


def test_12_2_multi_megabyte_polygon_is_read(store, cfg, tmp_path):
    from laadplan.ingest.grid import ingest_grid

    wkt = _polygon_wkt(200_000)
    assert len(wkt) > 5_000_000
    rows = [f'SA1,Noord,Stedin,1,0,"{wkt}"', 'SA2,Zuid,Stedin,2,0,"POLYGON ((4 51, 4.1 51, 4.1 51.1, 4 51))"']
    p = _write(tmp_path / "v.csv", ("area_code,name,operator,offtake_status,feedin_status,geometry_wkt\n"
                                    + "\n".join(rows) + "\n").encode())
    r = ingest_grid(store, p, cfg)
    assert (r.read, r.accepted, r.quarantined) == (2, 2, 0)
    g = store.frame("grid_areas").set_index("area_code")
    import shapely

    assert len(shapely.from_wkb(bytes(g.loc["SA1", "geometry_wkb"])).exterior.coords) == 200_001


def test_12_2_field_beyond_the_limit_costs_only_its_row_grid(store, cfg, tmp_path):
    from laadplan.ingest.grid import ingest_grid

    cfg.validation.max_csv_field_chars = 10_000
    rows = [f'SA1,Noord,Stedin,1,0,"{_polygon_wkt(2_000)}"', "SA2,Zuid,Stedin,2,0,", "SA3,West,Stedin,0,0,"]
    p = _write(tmp_path / "v.csv", ("area_code,name,operator,offtake_status,feedin_status,geometry_wkt\n"
                                    + "\n".join(rows) + "\n").encode())
    r = ingest_grid(store, p, cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (3, 2, {"LP-MALFORMED": 1})
    assert sorted(store.frame("grid_areas").area_code) == ["SA2", "SA3"]
    q = _q(store)
    assert q.position.iloc[0] == 2 and "max_csv_field_chars = 10,000" in q.message.iloc[0]


def test_12_2_long_field_in_status_csv_does_not_end_the_file(store, cfg, tmp_path):
    cfg.validation.max_csv_field_chars = 5_000
    head = "location_id,evse_uid,observed_utc,status\n"
    rows = ["L1,E1,2026-05-01T10:00:00Z,CHARGING", "L1,E2,2026-05-01T10:00:00Z," + "X" * 6_000,
            "L1,E3,2026-05-01T10:00:00Z,AVAILABLE"]
    r = ingest_status(store, _write(tmp_path / "s.csv", (head + "\n".join(rows) + "\n").encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (3, 2, {"LP-MALFORMED": 1})
    assert list(_q(store).position) == [3]


def test_12_2_default_limit_reads_fields_beyond_131072(store, cfg, tmp_path):
    from laadplan.ingest.connections import ingest_connections

    head = "ean18,lat,lon,contracted_kw,peak_kw,note\n"
    rows = ["871687120000000014,51.92,4.48,100,50," + "n" * 200_000, "871687120000000021,51.93,4.48,100,50,x"]
    r = ingest_connections(store, _write(tmp_path / "c.csv", (head + "\n".join(rows) + "\n").encode()), cfg)
    assert (r.read, r.accepted + r.quarantined) == (2, 2) and r.by_rule.get("LP-MALFORMED", 0) == 0


# -- 12.4: duplicates in requests, areas, grid and connections -------------------------------------------
_REQ_HEAD = "request_id,requested_date,lat,lon,annual_kwh,last_updated\n"


def _ean(prefix17: str) -> str:
    from laadplan.grid.capacity import ean18_check_digit

    return prefix17 + str(ean18_check_digit(prefix17))


def test_12_4_request_duplicate_in_file_is_lp_duplicate(store, cfg, tmp_path):
    from laadplan.ingest.requests import ingest_requests

    rows = ["R1,2026-03-01,51.92,4.48,2000,", "R1,2026-03-01,51.92,4.48,3000,", "R2,2026-03-02,51.93,4.48,2000,"]
    r = ingest_requests(store, _write(tmp_path / "r.csv", (_REQ_HEAD + "\n".join(rows) + "\n").encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (3, 2, {"LP-DUPLICATE": 1})
    assert list(_q(store).position) == [3]  # line 3 = the second R1
    assert store.frame("requests").set_index("request_id").loc["R1", "annual_kwh"] == 2000


def test_12_4_changed_request_without_a_date_is_not_silently_unchanged(store, cfg, tmp_path):
    from laadplan.ingest.requests import ingest_requests

    p1 = _write(tmp_path / "r1.csv", (_REQ_HEAD + "R1,2026-03-01,51.92,4.48,2000,\n").encode())
    p2 = _write(tmp_path / "r2.csv", (_REQ_HEAD + "R1,2026-03-01,51.92,4.48,3000,\n").encode())
    ingest_requests(store, p1, cfg)
    r = ingest_requests(store, p2, cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (1, 0, {"LP-DUPLICATE": 1})
    # the same file again is no duplicate: nothing changed
    r3 = ingest_requests(store, p1, cfg)
    assert (r3.accepted, r3.quarantined) == (1, 0)


def test_12_4_request_decision_columns_do_not_count_as_content(store, cfg, tmp_path):
    from laadplan.ingest.requests import ingest_requests

    p = _write(tmp_path / "r.csv", (_REQ_HEAD + "R1,2026-03-01,51.92,4.48,2000,\n").encode())
    ingest_requests(store, p, cfg)
    store.con.execute("UPDATE requests SET decision = 'granted', decision_rule = 'X'")
    r = ingest_requests(store, p, cfg)
    assert (r.accepted, r.quarantined) == (1, 0)


def test_12_4_connection_changed_without_date_and_in_file(store, cfg, tmp_path):
    from laadplan.ingest.connections import ingest_connections

    e1, e2 = _ean("87168712000000001"), _ean("87168712000000002")
    head = "ean18,lat,lon,contracted_kw,peak_kw\n"
    rows = [f"{e1},51.92,4.48,100,50", f"{e1},51.92,4.48,100,80", f"{e2},51.93,4.48,60,10"]
    r = ingest_connections(store, _write(tmp_path / "c.csv", (head + "\n".join(rows) + "\n").encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (3, 2, {"LP-DUPLICATE": 1})
    r2 = ingest_connections(store, _write(tmp_path / "c2.csv", (head + f"{e2},51.93,4.48,60,30\n").encode()), cfg)
    assert dict(r2.by_rule) == {"LP-DUPLICATE": 1}
    assert store.frame("grid_connections").set_index("ean18").loc[e2, "peak_kw"] == 10


def test_12_4_grid_csv_duplicate_area(store, cfg, tmp_path):
    from laadplan.ingest.grid import ingest_grid

    text = "area_code,name,offtake_status,feedin_status\nSA1,Noord,1,0\nSA1,Noord,3,0\nSA2,Zuid,2,0\n"
    r = ingest_grid(store, _write(tmp_path / "g.csv", text.encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (3, 2, {"LP-DUPLICATE": 1})
    assert store.frame("grid_areas").set_index("area_code").loc["SA1", "offtake_status"] == 1


def test_12_4_areas_duplicate_code_in_file(store, cfg, tmp_path):
    from test_ingest_areas import fc, gm_feature, square
    from laadplan.ingest.areas import ingest_areas

    feats = [gm_feature("GM0001", "Oost", square(4.45, 51.8, 4.6, 52.0)),
             gm_feature("GM0001", "Oost", square(4.45, 51.8, 4.6, 52.0), inwoners=2000.0),
             gm_feature("GM0002", "West", square(4.3, 51.8, 4.45, 52.0))]
    r = ingest_areas(store, _write(tmp_path / "a.geojson", fc(feats).encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (3, 2, {"LP-DUPLICATE": 1})
    assert store.frame("areas").set_index("area_code").loc["GM0001", "inhabitants"] == 1000


# -- 12.5 on the flat readers ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["NaN", "inf", "-Infinity", "1e400"])
def test_12_5_non_finite_numbers_in_flat_files_are_lp_type(store, cfg, tmp_path, value):
    from laadplan.ingest.connections import ingest_connections
    from laadplan.ingest.grid import ingest_grid
    from laadplan.ingest.requests import ingest_requests

    e1, e2 = _ean("87168712000000001"), _ean("87168712000000002")
    head = "ean18,lat,lon,contracted_kw,peak_kw\n"
    r = ingest_connections(store, _write(tmp_path / "c.csv", (
        head + f"{e1},51.92,4.48,{value},50\n{e2},51.93,4.48,60,10\n").encode()), cfg)
    assert (r.accepted, dict(r.by_rule)) == (1, {"LP-TYPE": 1})
    r = ingest_requests(store, _write(tmp_path / "r.csv", (
        _REQ_HEAD + f"R1,2026-03-01,51.92,4.48,{value},\nR2,2026-03-01,51.92,4.48,10,\n").encode()), cfg)
    assert (r.accepted, dict(r.by_rule)) == (1, {"LP-TYPE": 1})
    r = ingest_grid(store, _write(tmp_path / "g.csv", (
        f"area_code,offtake_status,feedin_status,demand_available_mw\nSA1,1,0,{value}\nSA2,1,0,3\n").encode()), cfg)
    assert (r.accepted, dict(r.by_rule)) == (1, {"LP-TYPE": 1})


@pytest.mark.parametrize("value", ["1e19", "1e308", "2.5"])
def test_12_5_integer_columns_out_of_range_are_lp_type_not_a_crash(store, cfg, tmp_path, value):
    from laadplan.ingest.grid import ingest_grid

    r = ingest_grid(store, _write(tmp_path / "g.csv", (
        f"area_code,offtake_status,feedin_status,demand_requests_in_queue\nSA1,1,0,{value}\nSA2,1,0,3\n").encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (2, 1, {"LP-TYPE": 1})


def test_12_5_capacity_json_non_finite_and_huge_integers(store, cfg, tmp_path):
    from laadplan.ingest.grid import ingest_grid

    areas = [{"short_code": "A1", "demand_constraint": "red", "demand_available_capacity": 1e400},
             {"short_code": "A2", "demand_constraint": "red", "demand_requests_in_queue": 10 ** 19},
             {"short_code": "A3", "demand_constraint": "red", "demand_available_capacity": 3.5}]
    text = json.dumps({"issued": "2026-05-01", "energy_areas": areas}).replace("Infinity", "1e400")
    r = ingest_grid(store, _write(tmp_path / "g.json", text.encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (3, 1, {"LP-TYPE": 2})


def test_12_5_huge_counts_in_ndw_and_occupancy_csv(store, cfg, tmp_path):
    head = "location_id,lat,lon,n_evses\n"
    r = ingest_locations(store, _write(tmp_path / "l.csv", (head + "L1,51.92,4.48,1e19\nL2,51.92,4.48,2\n").encode()),
                         cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (2, 1, {"LP-TYPE": 1})
    head = "date,hour,gm_code,evses_observed,occupancy_pct\n"
    r = ingest_status(store, _write(tmp_path / "o.csv", (
        head + "2026-06-01,10,GM0599,1e19,50\n2026-06-01,11,GM0599,10,50\n").encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (2, 1, {"LP-TYPE": 1})


# -- 12.10: small ones ------------------------------------------------------------------------------------
def test_12_10_year_9999_last_updated_is_rejected_and_blocks_nothing(store, cfg, tmp_path):
    far = "9999-12-31T00:00:00Z"
    r = ingest_locations(store, _write(tmp_path / "l.json", json.dumps([_loc(1, last_updated=far)]).encode()), cfg)
    assert dict(r.by_rule) == {"LP-FUTURE": 1}
    r = ingest_tariffs(store, _write(tmp_path / "t.json", json.dumps([_tariff(1, last_updated=far)]).encode()), cfg)
    assert dict(r.by_rule) == {"LP-FUTURE": 1}
    r = ingest_cdrs(store, _write(tmp_path / "c.ndjson", json.dumps(_cdr(1, last_updated=far)).encode()), cfg)
    assert dict(r.by_rule) == {"LP-FUTURE": 1}
    r = ingest_status(store, _write(tmp_path / "s.json", json.dumps([dict(_evse(1), last_updated=far)]).encode()), cfg)
    assert dict(r.by_rule) == {"LP-FUTURE": 1}
    head = "location_id,lat,lon,last_updated\n"
    r = ingest_locations(store, _write(tmp_path / "l.csv", (head + f"L1,51.92,4.48,{far}\n").encode()), cfg)
    assert dict(r.by_rule) == {"LP-FUTURE": 1}
    # within the tolerance (now + 1 h) is fine
    from datetime import datetime, timedelta, timezone

    soon = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = ingest_tariffs(store, _write(tmp_path / "t2.json", json.dumps([_tariff(2, last_updated=soon)]).encode()), cfg)
    assert (r.accepted, r.quarantined) == (1, 0)


def test_12_10_tariff_start_after_end(store, cfg, tmp_path):
    bad = _tariff(1, start_date_time="2026-06-01T00:00:00Z", end_date_time="2026-05-01T00:00:00Z")
    ok = _tariff(2, start_date_time="2026-05-01T00:00:00Z", end_date_time="2026-06-01T00:00:00Z")
    r = ingest_tariffs(store, _write(tmp_path / "t.json", json.dumps([bad, ok]).encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (2, 1, {"LP-PERIOD": 1})


def test_12_10_request_dates_are_iso_unless_day_first_is_configured(store, cfg, tmp_path):
    from laadplan.ingest.requests import ingest_requests

    text = _REQ_HEAD + "R1,03/04/2026,51.92,4.48,2000,\nR2,2026-04-03,51.92,4.48,2000,\n"
    r = ingest_requests(store, _write(tmp_path / "r.csv", text.encode()), cfg)
    assert (r.accepted, dict(r.by_rule)) == (1, {"LP-TYPE": 1})
    assert "ISO" in _q(store).message.iloc[0]
    cfg.validation.requests_dayfirst = True
    store.con.execute("DELETE FROM requests; DELETE FROM quarantine")
    r = ingest_requests(store, _write(tmp_path / "r.csv", text.encode()), cfg)
    assert r.accepted == 2
    d = store.frame("requests").set_index("request_id").requested_date
    assert str(d["R1"])[:10] == "2026-04-03" == str(d["R2"])[:10]  # 3 April both


def test_12_10_nan_total_time_is_lp_type_not_time_mismatch(store, cfg, tmp_path):
    text = json.dumps(_cdr(1)).replace('"total_time": 2.5', '"total_time": NaN')
    r = ingest_cdrs(store, _write(tmp_path / "c.ndjson", text.encode()), cfg)
    assert dict(r.by_rule) == {"LP-TYPE": 1}


def test_12_10_duplicate_evse_uid_within_a_location(store, cfg, tmp_path):
    loc = _loc(1)
    loc["evses"][1]["uid"] = loc["evses"][0]["uid"]
    r = ingest_locations(store, _write(tmp_path / "l.json", json.dumps([loc, _loc(2)]).encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (2, 1, {"LP-DUPLICATE": 1})
    assert "E1" in _q(store).message.iloc[0]


def test_12_10_one_unreadable_polygon_costs_only_its_feature(store, cfg, tmp_path):
    from test_ingest_areas import fc, gm_feature, square
    from laadplan.ingest.areas import ingest_areas

    unclosed = {"type": "Polygon", "coordinates": [[[4.3, 51.8], [4.45, 51.8], [4.45, 52.0], [4.3, 52.1]]]}
    feats = [gm_feature("GM0001", "Oost", square(4.45, 51.8, 4.6, 52.0)), gm_feature("GM0002", "West", unclosed),
             gm_feature("GM0003", "Zuid", square(4.3, 51.6, 4.45, 51.8))]
    r = ingest_areas(store, _write(tmp_path / "a.geojson", fc(feats).encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (3, 2, {"LP-GEOMETRY": 1})
    assert sorted(store.frame("areas").area_code) == ["GM0001", "GM0003"]


def test_12_10_bow_tie_polygon_is_repaired_and_noted(store, cfg, tmp_path):
    from test_ingest_areas import fc, gm_feature
    from laadplan.ingest.areas import ingest_areas
    from laadplan.ingest.grid import ingest_grid
    import shapely

    bow = {"type": "Polygon", "coordinates": [[[4.3, 51.8], [4.5, 52.0], [4.5, 51.8], [4.3, 52.0], [4.3, 51.8]]]}
    r = ingest_areas(store, _write(tmp_path / "a.geojson", fc([gm_feature("GM0001", "Oost", bow)]).encode()), cfg)
    assert r.accepted == 1 and any("make_valid" in n and "GM0001" in n for n in r.notes)
    g = shapely.from_wkb(bytes(store.frame("areas").geometry_wkb.iloc[0]))
    assert g.is_valid and g.geom_type == "MultiPolygon" and len(g.geoms) == 2
    wkt = "POLYGON ((4.3 51.8, 4.5 52.0, 4.5 51.8, 4.3 52.0, 4.3 51.8))"
    r = ingest_grid(store, _write(tmp_path / "g.csv", (
        f'area_code,offtake_status,feedin_status,geometry_wkt\nSA1,1,0,"{wkt}"\n').encode()), cfg)
    assert r.accepted == 1 and any("make_valid" in n and "SA1" in n for n in r.notes)
    g = shapely.from_wkb(bytes(store.frame("grid_areas").geometry_wkb.iloc[0]))
    # two triangles of 0.1 x 0.1 / 2 degrees^2 each
    assert g.is_valid and abs(g.area - 2 * (0.2 * 0.1 / 2)) < 1e-9


@pytest.mark.parametrize("value", ["veel", "-5", "1e19"])
def test_12_10_non_numeric_or_negative_inhabitants_are_lp_type(store, cfg, tmp_path, value):
    from test_ingest_areas import fc, gm_feature, square
    from laadplan.ingest.areas import ingest_areas

    v = value if value == "veel" else float(value)
    feats = [gm_feature("GM0001", "Oost", square(4.45, 51.8, 4.6, 52.0), inwoners=v),
             gm_feature("GM0002", "West", square(4.3, 51.8, 4.45, 52.0), inwoners=-99999999)]  # CBS: secret
    r = ingest_areas(store, _write(tmp_path / "a.geojson", fc(feats).encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (2, 1, {"LP-TYPE": 1})
    a = store.frame("areas").set_index("area_code")
    assert list(a.index) == ["GM0002"] and pd.isna(a.loc["GM0002", "inhabitants"])


def test_12_8_over_long_csv_line_is_quarantined_and_the_next_read(store, cfg, tmp_path):
    cfg.validation.max_record_bytes = 2_000
    head = "location_id,evse_uid,observed_utc,status\n"
    rows = ["L1,E1,2026-05-01T10:00:00Z,CHARGING", "L1,E2,2026-05-01T10:00:00Z,CHARGING" + ",x" * 5_000,
            "L1,E3,2026-05-01T10:00:00Z,AVAILABLE"]
    r = ingest_status(store, _write(tmp_path / "s.csv", (head + "\n".join(rows) + "\n").encode()), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (3, 2, {"LP-MALFORMED": 1})
    q = _q(store)
    assert q.position.iloc[0] == 3 and "max_record_bytes = 2,000" in q.message.iloc[0]
