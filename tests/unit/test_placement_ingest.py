"""Readers of the placement family: capacity map (JSON, CSV, URL), connections, requests, candidates."""

from __future__ import annotations

import gzip
import shutil

import pandas as pd
import pytest

from laadplan.grid.capacity import ean18_check_digit, ean18_valid, normalise_pc6, status_from_value
from laadplan.ingest import SourceError, reader


def _ean(prefix17: str) -> str:
    return prefix17 + str(ean18_check_digit(prefix17))


# -- EAN18 / PC6 / status helpers ---------------------------------------------------------------------
def test_ean18_check_digit_by_hand():
    # 87 1234 5678 9012 345 + check: weights 3,1,3,... from the right of the 17 data digits
    data = "87123456789012345"
    digits = [int(c) for c in data]
    s = sum(d * w for d, w in zip(reversed(digits), [3, 1] * 9))
    expected = (10 - s % 10) % 10
    assert ean18_check_digit(data) == expected
    assert ean18_valid(data + str(expected))
    assert not ean18_valid(data + str((expected + 1) % 10))
    assert not ean18_valid(data)  # 17 digits
    assert not ean18_valid(data + "X")
    # a GS1 textbook case: GTIN-13 629104150021 -> check 3; the same rule on 17 digits with 5 zeros in front
    assert ean18_check_digit("00000629104150021") == 3


def test_status_and_pc6_helpers():
    assert [status_from_value(v) for v in ("transparant", "yellow", "amber", "red")] == [0, 1, 2, 3]
    assert status_from_value("2") == 2 and status_from_value(3.0) == 3 and status_from_value("") == -1
    assert status_from_value("-1") == -1
    assert status_from_value("4") is None and status_from_value("purple") is None and status_from_value("1.5") is None
    assert normalise_pc6("3011 ab") == "3011AB" and normalise_pc6("0123AB") is None and normalise_pc6("3011") is None


# -- capacity map ---------------------------------------------------------------------------------------
def test_capacity_json_official_fictitious_dso(store, cfg, shared_data):
    src = shared_data / "capaciteitskaart_schema" / "example_dso_fictitious.json"
    r = reader("grid")(store, str(src), cfg)
    assert (r.read, r.accepted, r.quarantined) == (4, 4, 0)
    g = store.frame("grid_areas").set_index("area_code")
    # the energy area has no own demand_constraint: worst of its PC6 areas (red = 3)
    assert g.loc["OS FICTIEF 20-3i", "offtake_status"] == 3
    assert g.loc["OS FICTIEF 20-3i", "demand_available_mw"] == 47
    assert g.loc["1234AC", "offtake_status"] == 2 and g.loc["1234AD", "offtake_status"] == 3
    assert g.loc["1234AE", "offtake_status"] == 1 and g.loc["1234AE", "feedin_status"] == 0
    assert g.loc["1234AE", "parent_code"] == "OS FICTIEF 20-3i"
    # idempotent
    r2 = reader("grid")(store, str(src), cfg)
    assert r2.upserts["grid_areas"].inserted == 0 and r2.upserts["grid_areas"].updated == 0
    assert store.count("grid_areas") == 4


def test_capacity_json_official_fictitious_tso(store, cfg, shared_data):
    src = shared_data / "capaciteitskaart_schema" / "example_tso_fictitious.json"
    r = reader("grid")(store, str(src), cfg)
    assert (r.read, r.accepted) == (3, 3)
    g = store.frame("grid_areas").set_index("area_code")
    assert g.loc["Drenthe", "level"] == "congestion_area"
    assert g.loc["OS FICTIEF1", "level"] == "supply_area"
    assert g.loc["OS FICTIEF1", "offtake_status"] == 2  # amber
    assert g.loc["OS FICTIEF1", "feedin_status"] == 0  # transparant
    assert g.loc["OS FICTIEF1", "demand_alleviation_year"] == 2030
    assert g.loc["OS FICTIEF1", "parent_code"] == "Drenthe"


def test_capacity_json_bad_records_quarantined(store, cfg, tmp_path):
    obj = {"conforms_to": "x", "creator": "x", "identifier": "x", "issued": "2026-01-01",
           "energy_areas": [
               {"short_code": "A", "demand_constraint": "purple", "works": []},
               {"works": [], "postcode_areas": [{"postcode": "1234AB", "demand_constraint": "red",
                                                 "generation_constraint": "red"}]},
               {"short_code": "B", "demand_constraint": "red", "works": [],
                "postcode_areas": [{"postcode": "12X4AB", "demand_constraint": "red",
                                    "generation_constraint": "red"}]},
           ]}
    p = tmp_path / "cap.json"
    import json
    p.write_text(json.dumps(obj))
    r = reader("grid")(store, str(p), cfg)
    assert r.read == 5 and r.accepted + r.quarantined == 5
    assert dict(r.by_rule) == {"LP-GRID-STATUS": 1, "LP-MISSING": 1, "LP-PC6": 1}
    assert set(store.frame("grid_areas")["area_code"]) == {"1234AB", "B"}


def test_capacity_csv_supply_areas_and_pc6(store, cfg, tmp_path):
    sa = tmp_path / "voedingsgebieden.csv"
    sa.write_text(
        "voedingsgebied_id;name;operator;status_afname;status_invoeding;demand_available_mw;demand_alleviation_year;geometry_wkt\n"
        "VG1;Noord;Stedin;3;1;0;2029;POLYGON((4.4 51.9,4.5 51.9,4.5 52.0,4.4 52.0,4.4 51.9))\n"
        "VG2;Zuid;Stedin;0;0;12.5;;\n"
        "VG3;Bad;Stedin;7;0;1;;\n"
        "VG4;Badgeom;Stedin;1;0;1;;POLYGON((4 51\n"
        ";NoCode;Stedin;1;0;1;;\n"
        "VG5;Short;Stedin\n")
    r = reader("grid")(store, str(sa), cfg)
    assert r.read == 6 and r.accepted == 2 and r.quarantined == 4
    assert dict(r.by_rule) == {"LP-GRID-STATUS": 1, "LP-GRID-GEOMETRY": 1, "LP-MISSING": 1, "LP-MALFORMED": 1}
    pc = tmp_path / "congestie_pc6.csv"
    pc.write_text("postcode,voedingsgebied_id,status_afname,status_invoeding\n3011 AB,VG2,2,0\n3011AC,VG2,red,red\n"
                  "30,VG2,1,1\n")
    r = reader("grid")(store, str(pc), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (3, 2, {"LP-PC6": 1})
    g = store.frame("grid_areas").set_index("area_code")
    assert g.loc["VG1", "offtake_status"] == 3 and g.loc["VG2", "demand_available_mw"] == 12.5
    assert g.loc["3011AB", "offtake_status"] == 2 and g.loc["3011AC", "offtake_status"] == 3
    assert g.loc["3011AB", "parent_code"] == "VG2"
    # status of points: inside VG1's polygon; PC6 3011AC; neither
    from laadplan import geo
    from laadplan.grid.capacity import point_status

    x, y = geo.to_rd([4.45, 5.5, 5.5], [51.95, 52.0, 52.0])
    st = point_status(x, y, [None, "3011 AC", None], store.frame("grid_areas"))
    assert list(st["offtake_status"]) == [3, 3, -1]
    assert list(st["area_code"].fillna("")) == ["VG1", "3011AC", ""]
    assert st["capacity_area"].iloc[1] == "VG2" and st["demand_available_mw"].iloc[1] == 12.5
    assert st["demand_alleviation_year"].iloc[0] == 2029


def test_capacity_csv_via_url_and_gzip(store, cfg, http_server, tmp_path):
    base, d = http_server
    raw = tmp_path / "v.csv"
    raw.write_text("area_code,offtake_status\nU1,2\nU2,0\n")
    with open(raw, "rb") as f, gzip.open(d / "voedingsgebieden.csv.gz", "wb") as g:
        shutil.copyfileobj(f, g)
    r = reader("grid")(store, f"{base}/voedingsgebieden.csv.gz", cfg)
    assert (r.read, r.accepted) == (2, 2)
    assert dict(zip(store.frame("grid_areas")["area_code"], store.frame("grid_areas")["offtake_status"])) == {
        "U1": 2, "U2": 0}
    with pytest.raises(SourceError, match="404"):
        reader("grid")(store, f"{base}/missing.csv", cfg)


# -- connections -------------------------------------------------------------------------------------
def test_connections_csv_and_parquet(store, cfg, tmp_path):
    good1, good2 = _ean("87171234567890123"), _ean("87171234567890124")
    bad_check = good1[:-1] + str((int(good1[-1]) + 1) % 10)
    p = tmp_path / "conn.csv"
    p.write_text("ean18,lat,lon,contracted_kw,peak_kw,feeds_charge_points\n"
                 f"{good1},51.92,4.48,50,20,true\n"
                 f"{good2},51.93,4.47,40,55,nee\n"
                 f"{bad_check},51.93,4.47,40,5,0\n"
                 f"{_ean('87171234567890125')},4.47,51.93,40,5,0\n"
                 f"{_ean('87171234567890126')},51.93,4.47,0,5,0\n"
                 f"{_ean('87171234567890127')},51.93,4.47,abc,5,0\n")
    r = reader("connections")(store, str(p), cfg)
    assert (r.read, r.accepted) == (6, 2)
    assert dict(r.by_rule) == {"LP-EAN18": 1, "LP-COORDS-NL": 1, "LP-GRID-KW": 1, "LP-TYPE": 1}
    c = store.frame("grid_connections").set_index("ean18")
    assert c.loc[good1, "spare_kw"] == 30 and bool(c.loc[good1, "feeds_charge_points"])
    assert c.loc[good2, "spare_kw"] == 0 and not bool(c.loc[good2, "feeds_charge_points"])
    assert abs(c.loc[good1, "x_rd"] - 92_000) < 3_000  # Rotterdam-ish
    q = store.frame("quarantine", "kind = 'connections'")
    assert set(q["rule_code"]) == set(r.by_rule) and q["message"].str.contains("conn.csv").all()
    # Parquet with RD coordinates
    pq = tmp_path / "conn.parquet"
    pd.DataFrame({"ean18": [_ean("87171234567890200")], "x_rd": [92000.0], "y_rd": [437000.0],
                  "contracted_kw": [100.0], "peak_kw": [60.0], "feeds_charge_points": [False]}).to_parquet(pq)
    r = reader("connections")(store, str(pq), cfg)
    assert (r.read, r.accepted) == (1, 1)
    row = store.frame("grid_connections", "ean18 = ?", [_ean("87171234567890200")]).iloc[0]
    assert row["spare_kw"] == 40 and abs(row["lat"] - 51.92) < 0.02


# -- requests / candidates ---------------------------------------------------------------------------
def test_requests_reader(store, cfg, tmp_path):
    p = tmp_path / "req.csv"
    p.write_text("request_id;requested_date;lat;lon;postcode;woont_in_gemeente;rijdt_elektrisch;eigen_parkeerplaats\n"
                 "R1;2026-02-01;51.92;4.48;3011 AB;ja;ja;nee\n"
                 "R2;not-a-date;51.92;4.48;;ja;ja;nee\n"
                 ";2026-02-01;51.92;4.48;;ja;ja;nee\n"
                 "R4;2026-02-03;51.92;4.48;;misschien;ja;nee\n")
    r = reader("requests")(store, str(p), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (4, 1, {"LP-TYPE": 2, "LP-MISSING": 1})
    row = store.frame("requests").iloc[0]
    assert row["request_id"] == "R1" and row["postal_code"] == "3011AB" and bool(row["lives_in_gm"])
    assert str(row["requested_date"])[:10] == "2026-02-01" and pd.isna(row["decision"])
    r2 = reader("requests")(store, str(p), cfg)
    assert r2.upserts["requests"].inserted == 0


def test_candidates_reader_geojson(store, cfg, tmp_path):
    import json
    feats = [{"type": "Feature", "properties": {"site_id": "S1", "kind": "parking_bay", "max_evses": 2},
              "geometry": {"type": "Point", "coordinates": [4.48, 51.92]}},
             {"type": "Feature", "properties": {"site_id": "S2", "kind": "spaceship"},
              "geometry": {"type": "Point", "coordinates": [4.48, 51.92]}},
             {"type": "Feature", "properties": {"site_id": "S3"}, "geometry": None}]
    p = tmp_path / "c.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    r = reader("candidates")(store, str(p), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (3, 1, {"LP-TYPE": 1, "LP-MISSING": 1})
    row = store.frame("candidates").iloc[0]
    assert row["site_id"] == "S1" and row["max_evses"] == 2 and row["kind"] == "parking_bay"


def test_unreadable_source_names_file(store, cfg, tmp_path):
    with pytest.raises(SourceError, match="nope.csv"):
        reader("candidates")(store, str(tmp_path / "nope.csv"), cfg)


def test_plan_inputs_use_cbs_500m_cells_for_coverage(store, cfg, tmp_path):
    """Loaded CBS 500 m cells drive the coverage trigger (cell centre from the code, gemeente from the polygon);
    the old reader quarantined every cell code, so there was no coverage demand without buurten."""
    import geopandas as gpd
    import shapely

    from laadplan.placement.plan import build_demand
    from laadplan.placement.store_io import load_inputs

    gm = gpd.GeoDataFrame([{"code": "GM0001", "gemeente": "A", "geometry": shapely.box(90000, 435000, 95000, 440000)}],
                          crs="EPSG:28992")
    gm.to_file(tmp_path / "gm.gpkg", driver="GPKG")
    cells = gpd.GeoDataFrame([
        {"crs28992res500m": "E0920N4370", "aantal_part_huishoudens": 300,
         "geometry": shapely.box(92000, 437000, 92500, 437500)},
        {"crs28992res500m": "E0925N4370", "aantal_part_huishoudens": 124,
         "geometry": shapely.box(92500, 437000, 93000, 437500)},
        {"crs28992res500m": "E0930N4370", "aantal_part_huishoudens": 125,
         "geometry": shapely.box(93000, 437000, 93500, 437500)},
    ], crs="EPSG:28992")
    cells.to_file(tmp_path / "vk500.gpkg", driver="GPKG")
    reader("areas")(store, str(tmp_path / "gm.gpkg"), cfg)
    reader("areas")(store, str(tmp_path / "vk500.gpkg"), cfg)
    inp, notes = load_inputs(store, cfg)
    assert notes["coverage"].startswith("exact")
    c = inp.cells.set_index("cell500_code")
    assert (c.loc["E0920N4370", "x_rd"], c.loc["E0920N4370", "y_rd"]) == (92250.0, 437250.0)
    assert set(c["gm_code"]) == {"GM0001"}
    inp.locations = pd.DataFrame({"country_code": ["NL"], "party_id": ["X"], "location_id": ["L1"], "x_rd": [93100.0],
                                  "y_rd": [437100.0], "gm_code": ["GM0001"], "n_evses": [2]})
    d, _ = build_demand(inp, cfg, [2026])
    # 300 >= 125 and no point: demand; 124 < 125: none; 125 but a point inside: none
    assert d["trigger"].tolist() == ["coverage"] and d["source_id"].tolist() == ["E0920N4370"]
    assert (d["x_rd"].iloc[0], d["y_rd"].iloc[0], d["gm_code"].iloc[0]) == (92250.0, 437250.0, "GM0001")
