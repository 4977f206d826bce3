"""Locations reader: OCPI 2.1.1/2.2.1 in every container, the NDW flat CSVs, each validation rule,
idempotence and newer-wins. Expected values are computed from the input here, not by the reader."""

from __future__ import annotations

import copy
import gzip
import json
import math
import os
from pathlib import Path

import pandas as pd
import pytest

from laadplan.ingest import SourceError
from laadplan.ingest import ocpi
from laadplan.ingest.locations import connector_power, ingest_locations

SHARED = Path(os.environ.get("LAADPLAN_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))
EXAMPLES = SHARED / "ocpi_examples" / "ocpi_2.2.1"
NO_EXAMPLES = f"official OCPI examples not found at {EXAMPLES} (set LAADPLAN_SHARED_DATA)"

NL_LOC = {
    "country_code": "NL", "party_id": "ABC", "id": "LOC1", "publish": True, "name": "Plein 1",
    "address": "Coolsingel 40", "city": "Rotterdam", "postal_code": "3011 AD", "country": "NLD",
    "coordinates": {"latitude": "51.922500", "longitude": "4.479170"}, "parking_type": "ON_STREET",
    "time_zone": "Europe/Amsterdam", "last_updated": "2026-05-01T10:00:00Z",
    "operator": {"name": "Laadbedrijf"},
    "evses": [
        {"uid": "E1", "evse_id": "NL*ABC*E1", "status": "AVAILABLE", "capabilities": ["CHARGING_PROFILE_CAPABLE"],
         "last_updated": "2026-05-01T10:00:00Z",
         "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
                         "max_voltage": 230, "max_amperage": 16, "tariff_ids": ["T1"],
                         "last_updated": "2026-05-01T10:00:00Z"}]},
        {"uid": "E2", "evse_id": "NL*ABC*E2", "status": "CHARGING", "last_updated": "2026-05-01T10:00:00Z",
         "connectors": [{"id": "1", "standard": "IEC_62196_T2_COMBO", "format": "CABLE", "power_type": "DC",
                         "max_voltage": 500, "max_amperage": 100, "max_electric_power": 50000,
                         "last_updated": "2026-05-01T10:00:00Z"}]},
    ],
}


def loc(**changes) -> dict:
    d = copy.deepcopy(NL_LOC)
    d.update(changes)
    if d.get("id") != NL_LOC["id"] and "evses" not in changes and isinstance(d.get("evses"), list):
        # another location publishes its own EVSEs (the same EVSE under two locations is an LP-DUPLICATE copy)
        for e in d["evses"]:
            e["uid"], e["evse_id"] = f"{d['id']}-{e['uid']}", e["evse_id"].replace("*E", f"*E{d['id']}-")
    return d


def ndjson(path: Path, objs: list, gz: bool = False) -> str:
    text = "\n".join(o if isinstance(o, str) else json.dumps(o) for o in objs) + "\n"
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return str(path)


def quarantine(store) -> pd.DataFrame:
    return store.frame("quarantine").sort_values("position").reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# connector power
# --------------------------------------------------------------------------------------------------
def test_connector_power_by_hand(cfg):
    pt = pd.Series(["AC_3_PHASE", "AC_3_PHASE", "DC", "AC_1_PHASE", "AC_3_PHASE", "AC_3_PHASE", "AC_3_PHASE",
                    "DC"])
    v = pd.Series([230, 400, 500, 230, 230, None, 230, 1000])
    a = pd.Series([16, 16, 100, 32, 32, 16, 0, 3000])
    rep = pd.Series([None, None, None, None, 7_360_000, None, None, None])
    p, d, prob = connector_power(pt, v, a, rep, cfg)
    expect = [3 * 230 * 16 / 1000, 3 * (400 / math.sqrt(3)) * 16 / 1000, 500 * 100 / 1000, 230 * 32 / 1000,
              3 * 230 * 32 / 1000, None, None, None]
    for got, exp in zip(p, expect):
        assert (pd.isna(got) and exp is None) or got == pytest.approx(exp)
    assert list(d) == [True, True, True, True, True, False, False, False]
    assert prob[4] == "reported power implausible, derived from V x A"  # 7,360 kW on a 32 A socket
    assert prob[5] == prob[6] == "power missing and not derivable from V x A"
    assert prob[7] == "power implausible (reported and V x A)"  # 3 MW above the 1,500 kW limit
    assert prob[:4].isna().all()


def test_reported_power_is_used_and_not_flagged(cfg):
    p, d, _ = connector_power(pd.Series(["DC"]), pd.Series([920]), pd.Series([400]), pd.Series([300_000]), cfg)
    assert p[0] == 300.0 and not d[0]


# --------------------------------------------------------------------------------------------------
# the official OCPI 2.2.1 examples
# --------------------------------------------------------------------------------------------------
def _examples(pattern: str) -> list[Path]:
    found = sorted(EXAMPLES.glob(pattern)) if EXAMPLES.is_dir() else []
    return found or [pytest.param(None, marks=pytest.mark.skip(reason=NO_EXAMPLES))]


@pytest.mark.parametrize("path", _examples("location_example*.json"), ids=lambda p: getattr(p, "name", "none"))
def test_official_location_examples(store, cfg, path):
    obj = json.loads(path.read_text())
    ocpi.Location221.model_validate(obj)  # every official example parses
    lat, lon = float(obj["coordinates"]["latitude"]), float(obj["coordinates"]["longitude"])
    v = cfg.validation
    inside = v.bbox_lat_min <= lat <= v.bbox_lat_max and v.bbox_lon_min <= lon <= v.bbox_lon_max
    r = ingest_locations(store, str(path), cfg)
    assert r.read == 1
    if not inside:  # Stockholm: outside; Gent and Cologne lie inside the rectangular bounding box
        assert dict(r.by_rule) == {"LP-COORDS-NL": 1}
        assert store.count("locations") == 0
        return
    assert r.accepted == 1 and r.quarantined == 0
    row = store.frame("locations").iloc[0]
    assert (row.country_code, row.party_id, row.location_id) == (obj["country_code"], obj["party_id"], obj["id"])
    assert store.count("evses") == len(obj["evses"])
    conns = [c for e in obj["evses"] for c in e["connectors"]]
    assert store.count("connectors") == len(conns)
    stored = store.frame("connectors").sort_values(["evse_uid", "connector_id"])
    exp = sorted(((e["uid"], c["id"]), c) for e in obj["evses"] for c in e["connectors"])
    for (_, c), (_, s) in zip(exp, stored.iterrows()):
        phases = 3 if c["power_type"] == "AC_3_PHASE" else 1
        assert s.power_kw == pytest.approx(phases * c["max_voltage"] * c["max_amperage"] / 1000)
        assert bool(s.power_derived)


def test_examples_are_found():
    if not EXAMPLES.is_dir():
        pytest.skip(NO_EXAMPLES)
    assert len(_examples("location_example*.json")) == 6


# --------------------------------------------------------------------------------------------------
# containers, URL, versions
# --------------------------------------------------------------------------------------------------
def _tables(store) -> dict:
    out = {}
    for t in ("locations", "evses", "connectors"):
        df = store.frame(t).drop(columns=["source_file", "run_id"])  # run ids differ between stores
        out[t] = df.sort_values(list(df.columns[:5])).reset_index(drop=True)
    return out


@pytest.mark.parametrize("layout", ["array", "envelope", "ndjson", "ndjson_gz", "single"])
def test_containers_load_the_same(tmp_path, cfg, layout):
    from laadplan.store import Store

    objs = [loc(), loc(id="LOC2", coordinates={"latitude": "51.50", "longitude": "3.60"})]
    if layout == "single":
        objs = objs[:1]
    p = tmp_path / "l.json"
    if layout == "array":
        p.write_text(json.dumps(objs, indent=1))
    elif layout == "envelope":
        p.write_text(json.dumps({"status_code": 1000, "data": objs}))
    elif layout == "single":
        p.write_text(json.dumps(objs[0], indent=2))
    else:
        ndjson(p, objs, gz=layout == "ndjson_gz")
    s = Store(":memory:")
    r = ingest_locations(s, str(p), cfg)
    assert (r.read, r.accepted, r.quarantined) == (len(objs), len(objs), 0)
    assert s.count("locations") == len(objs)
    assert s.count("evses") == 2 * len(objs) and s.count("connectors") == 2 * len(objs)
    row = s.frame("locations", "location_id = 'LOC1'").iloc[0]
    assert row.n_evses == 2 and row.max_power_kw == pytest.approx(50.0) and bool(row.has_dc)
    assert row.lat == pytest.approx(51.9225) and row.parking_type == "ON_STREET" and row.operator == "Laadbedrijf"
    # RD New coordinates and the CBS cell, computed independently with pyproj
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True).transform(4.479170, 51.9225)
    assert row.x_rd == pytest.approx(x) and row.y_rd == pytest.approx(y)
    assert row.cell500_code == f"E{int(x // 500 * 5):04d}N{int(y // 500 * 5):04d}"
    e1 = s.frame("evses", "evse_uid = 'E1'").iloc[0]
    assert bool(e1.smart_charging_capable) and e1.max_power_kw == pytest.approx(11.04)
    s.close()


def test_url_source(store, cfg, http_server):
    base, d = http_server
    ndjson(d / "locs.ndjson.gz", [loc()], gz=True)
    r = ingest_locations(store, f"{base}/locs.ndjson.gz", cfg)
    assert r.accepted == 1 and store.count("connectors") == 2
    with pytest.raises(SourceError, match="missing.json"):
        ingest_locations(store, f"{base}/missing.json", cfg)


def test_ocpi_211_variant(store, cfg, tmp_path):
    """A 2.1.1 Location derived from a 2.2.1 one: no country_code/party_id/publish, ``type``, voltage/amperage."""
    o = loc()
    for k in ("country_code", "party_id", "publish", "time_zone", "parking_type"):
        o.pop(k)
    o["type"] = "ON_STREET"
    for e in o["evses"]:
        for c in e["connectors"]:
            c["voltage"], c["amperage"] = c.pop("max_voltage"), c.pop("max_amperage")
            c.pop("max_electric_power", None)
    r = ingest_locations(store, ndjson(tmp_path / "a.ndjson", [o]), cfg)
    assert r.accepted == 1
    row = store.frame("locations").iloc[0]
    assert (row.country_code, row.party_id, row.source) == ("NL", "ABC", "ocpi-2.1.1")
    p = store.frame("connectors").set_index("evse_uid").power_kw
    assert p["E1"] == pytest.approx(11.04) and p["E2"] == pytest.approx(50.0)


def test_211_mandatory_fields_differ_from_221(store, cfg, tmp_path):
    o = loc()
    for k in ("country_code", "party_id", "publish", "parking_type"):
        o.pop(k)
    o["type"] = "ON_STREET"
    o.pop("time_zone")  # mandatory in 2.2.1 only
    o2 = loc(id="X")
    o2.pop("time_zone")
    r = ingest_locations(store, ndjson(tmp_path / "a.ndjson", [o, o2]), cfg)
    assert r.accepted == 1 and dict(r.by_rule) == {"LP-MISSING": 1}
    assert quarantine(store).record_id[0] == "X"


# --------------------------------------------------------------------------------------------------
# rules
# --------------------------------------------------------------------------------------------------
MANDATORY_221 = ["country_code", "id", "publish", "address", "city", "country", "coordinates", "time_zone",
                 "last_updated"]


@pytest.mark.parametrize("field", MANDATORY_221)
def test_missing_mandatory_field(store, cfg, tmp_path, field):
    o = loc()
    o.pop(field)
    r = ingest_locations(store, ndjson(tmp_path / "a.ndjson", [o, loc(id="OK")]), cfg)
    assert r.accepted == 1 and dict(r.by_rule) == {"LP-MISSING": 1}
    q = quarantine(store)
    assert q.position[0] == 1 and field in q.message[0] and json.loads(q.raw[0]) == o


def test_empty_mandatory_string_is_missing(store, cfg, tmp_path):
    r = ingest_locations(store, ndjson(tmp_path / "a.ndjson", [loc(address="  ")]), cfg)
    assert dict(r.by_rule) == {"LP-MISSING": 1}


def test_null_party_id_taken_from_evse_ids(store, cfg, tmp_path):
    o = loc(party_id=None)
    for e in o["evses"]:
        e["evse_id"] = e["evse_id"].replace("NL*ABC*", "NLXYZ")
    r = ingest_locations(store, ndjson(tmp_path / "a.ndjson", [o]), cfg)
    assert r.accepted == 1 and store.frame("locations").party_id[0] == "XYZ"


@pytest.mark.parametrize("mutate", [
    lambda o: o["coordinates"].update(latitude="abc"),
    lambda o: o.update(evses={"uid": "x"}),
    lambda o: o.update(publish="maybe"),
    lambda o: o.update(last_updated="yesterday"),
    lambda o: o["evses"][0]["connectors"][0].update(max_voltage="high"),
    lambda o: o.update(coordinates=[51.9, 4.4]),
], ids=["lat-text", "evses-object", "publish-text", "date-text", "voltage-text", "coords-list"])
def test_wrong_type(store, cfg, tmp_path, mutate):
    o = loc()
    mutate(o)
    r = ingest_locations(store, ndjson(tmp_path / "a.ndjson", [o]), cfg)
    assert dict(r.by_rule) == {"LP-TYPE": 1}
    assert store.count("locations") == 0


def test_non_object_record_is_wrong_type(store, cfg, tmp_path):
    r = ingest_locations(store, ndjson(tmp_path / "a.ndjson", [loc(), "[1, 2]", '"text"']), cfg)
    assert r.accepted == 1 and dict(r.by_rule) == {"LP-TYPE": 2}


def test_invalid_evse_status(store, cfg, tmp_path):
    o = loc()
    o["evses"][1]["status"] = "BROKEN"
    r = ingest_locations(store, ndjson(tmp_path / "a.ndjson", [o]), cfg)
    assert dict(r.by_rule) == {"LP-STATUS": 1}
    assert "BROKEN" in quarantine(store).message[0]


def test_lowercase_status_is_accepted(store, cfg, tmp_path):
    o = loc()
    o["evses"][0]["status"] = "available"
    assert ingest_locations(store, ndjson(tmp_path / "a.ndjson", [o]), cfg).accepted == 1


def test_malformed_line_does_not_stop_the_run(store, cfg, tmp_path):
    good = json.dumps(loc())
    lines = [good, good[: len(good) // 2], json.dumps(loc(id="LOC3"))]
    r = ingest_locations(store, ndjson(tmp_path / "a.ndjson", lines), cfg)
    assert (r.read, r.accepted) == (3, 2) and dict(r.by_rule) == {"LP-MALFORMED": 1}
    q = quarantine(store)
    assert q.position[0] == 2 and q.raw[0] == good[: len(good) // 2]


def test_coordinates_outside_nl_and_swapped(store, cfg, tmp_path):
    swapped = loc(id="SW", coordinates={"latitude": "4.479170", "longitude": "51.922500"})
    paris = loc(id="PA", coordinates={"latitude": "48.8566", "longitude": "2.3522"})
    r = ingest_locations(store, ndjson(tmp_path / "a.ndjson", [swapped, paris, loc()]), cfg)
    assert r.accepted == 1 and dict(r.by_rule) == {"LP-COORDS-NL": 2}
    q = quarantine(store).set_index("record_id")
    assert "swapped" in q.message["SW"] and "swapped" not in q.message["PA"]


def test_bbox_comes_from_config(store, cfg, tmp_path):
    cfg.validation.bbox_lat_max = 51.5  # Rotterdam now lies north of the box
    r = ingest_locations(store, ndjson(tmp_path / "a.ndjson", [loc()]), cfg)
    assert dict(r.by_rule) == {"LP-COORDS-NL": 1}


def test_duplicate_same_version_different_content(store, cfg, tmp_path):
    r = ingest_locations(store, ndjson(tmp_path / "a.ndjson", [loc(), loc(name="Other name"), loc()]), cfg)
    # the identical third copy is fine; the second (same last_updated, other content) is LP-DUPLICATE
    assert (r.accepted, dict(r.by_rule)) == (2, {"LP-DUPLICATE": 1})
    assert quarantine(store).position[0] == 2
    assert store.frame("locations").name[0] == "Plein 1"
    # ... also against what is already stored, from a later file
    r2 = ingest_locations(store, ndjson(tmp_path / "b.ndjson", [loc(name="Third name")]), cfg)
    assert dict(r2.by_rule) == {"LP-DUPLICATE": 1}


@pytest.mark.parametrize("order", ["old-first", "new-first"])
def test_newer_version_replaces_older_without_quarantine(store, cfg, tmp_path, order):
    old = loc()
    new = loc(name="Renamed", last_updated="2026-06-01T00:00:00Z")
    new["evses"] = new["evses"][:1]  # EVSE E2 removed in the newer version
    objs = [old, new] if order == "old-first" else [new, old]
    r = ingest_locations(store, ndjson(tmp_path / "a.ndjson", objs), cfg)
    assert r.quarantined == 0 and r.accepted == 2
    assert store.frame("locations").name.tolist() == ["Renamed"]
    assert store.frame("evses").evse_uid.tolist() == ["E1"]
    assert store.count("connectors") == 1


def test_newer_version_in_a_later_file_replaces_children(store, cfg, tmp_path):
    ingest_locations(store, ndjson(tmp_path / "a.ndjson", [loc()]), cfg)
    new = loc(last_updated="2026-06-01T00:00:00Z")
    new["evses"] = new["evses"][1:]
    r = ingest_locations(store, ndjson(tmp_path / "b.ndjson", [new]), cfg)
    assert r.upserts["locations"].updated == 1
    assert store.frame("evses").evse_uid.tolist() == ["E2"]
    # and an older version afterwards changes nothing
    r = ingest_locations(store, ndjson(tmp_path / "c.ndjson", [loc()]), cfg)
    assert r.upserts["locations"].unchanged == 1 and store.frame("evses").evse_uid.tolist() == ["E2"]


def test_power_problem_keeps_the_location(store, cfg, tmp_path):
    o = loc()
    c = o["evses"][0]["connectors"][0]
    c.pop("max_voltage")
    r = ingest_locations(store, ndjson(tmp_path / "a.ndjson", [o]), cfg)
    assert r.accepted == 1 and r.quarantined == 0
    assert any(n.startswith("LP-POWER: 1 connectors") for n in r.notes)
    conn = store.frame("connectors").set_index("evse_uid")
    assert pd.isna(conn.power_kw["E1"]) and conn.power_kw["E2"] == 50.0


def test_idempotent(store, cfg, tmp_path):
    p = ndjson(tmp_path / "a.ndjson", [loc(), loc(id="B"), loc(id="C", name=None)])
    ingest_locations(store, p, cfg)
    before = _tables(store)
    r = ingest_locations(store, p, cfg)
    after = _tables(store)
    for t in before:
        pd.testing.assert_frame_equal(before[t], after[t])
    assert all(u.inserted == 0 and u.updated == 0 for u in r.upserts.values())
    assert store.count("ingest_runs") == 2


def test_unreadable_sources(store, cfg, tmp_path):
    with pytest.raises(SourceError, match="nope.json"):
        ingest_locations(store, str(tmp_path / "nope.json"), cfg)
    p = tmp_path / "odd.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(SourceError, match="odd.csv"):
        ingest_locations(store, str(p), cfg)


def test_cli_exit_code(tmp_path):
    from typer.testing import CliRunner

    from laadplan.cli import app

    good = ndjson(tmp_path / "a.ndjson", [loc()])
    db = str(tmp_path / "t.duckdb")
    ok = CliRunner().invoke(app, ["--db", db, "ingest", "locations", good])
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(app, ["--db", db, "ingest", "locations", good, str(tmp_path / "missing.json")])
    assert bad.exit_code == 1 and "missing.json" in bad.output


# --------------------------------------------------------------------------------------------------
# NDW flat CSVs
# --------------------------------------------------------------------------------------------------
LOC_HEADER = ("gm_code,gemeente,province,location_id,name,address,postal_code,city,lat,lon,operator,owner,"
              "parking_type,twentyfourseven,layer,n_evses,n_connectors,max_power_kw,power_source,has_dc,standards,"
              "status,price_kwh,last_updated,detail_level")
CONN_HEADER = ("gm_code,location_id,evse_uid,evse_id,evse_status,connector_id,standard,format,power_type,"
               "max_voltage,max_amperage,max_electric_power_w,power_kw,power_kw_sane,power_source,tariff_ids,"
               "price_kwh,price_vat,last_updated")
LOC_ROWS = [
    "GM0599,Rotterdam,Zuid-Holland,L1,Plein,Coolsingel 1,3011 AD,Rotterdam,51.9225,4.47917,Op,Own,ON_STREET,True,"
    "passenger,2,2,11.04,derived_VxA,False,IEC_62196_T2,AVAILABLE:2,,2026-06-07T16:33:32Z,full",
    "GM0518,'s-Gravenhage,Zuid-Holland,P1,Punt,Straat 2,,Den Haag,52.07,4.30,Op2,,,,passenger,4,,0,,,,,,,point_only",
    # the same location listed under a second gemeente (identical content)
    "GM0505,Dordrecht,Zuid-Holland,L1,Plein,Coolsingel 1,3011 AD,Rotterdam,51.9225,4.47917,Op,Own,ON_STREET,True,"
    "passenger,2,2,11.04,derived_VxA,False,IEC_62196_T2,AVAILABLE:2,,2026-06-07T16:33:32Z,full",
]
CONN_ROWS = [
    "GM0599,L1,U1,NL*ABC*E1*1,AVAILABLE,1,IEC_62196_T2,SOCKET,AC_3_PHASE,400,16,,19.2,11.04,derived_VxA,T1,,,"
    "2026-06-06T20:04:14Z",
    "GM0599,L1,U2,NLABCE1*2,CHARGING,1,IEC_62196_T2,SOCKET,AC_3_PHASE,230,32,7360000,7360,,reported,T1,,,"
    "2026-06-06T20:04:14Z",
]


def _csv(path: Path, header: str, rows: list[str]) -> str:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return str(path)


@pytest.mark.parametrize("order", ["locations-first", "connectors-first"])
def test_ndw_csv_pair_shares_one_key(store, cfg, tmp_path, order):
    lp = _csv(tmp_path / "locations.csv", LOC_HEADER, LOC_ROWS)
    cp = _csv(tmp_path / "connectors.csv", CONN_HEADER, CONN_ROWS)
    for p in ([lp, cp] if order == "locations-first" else [cp, lp]):
        ingest_locations(store, p, cfg)
    L = store.frame("locations").set_index("location_id")
    assert len(L) == 2  # L1 once (listed twice), P1
    assert (L.loc["L1", "country_code"], L.loc["L1", "party_id"]) == ("NL", "ABC")
    assert L.loc["P1", "party_id"] == "" and L.loc["P1", "n_evses"] == 4 and pd.isna(L.loc["P1", "max_power_kw"])
    E = store.frame("evses")
    real = E[~E.derived_from_count.fillna(False).astype(bool)]
    assert set(real.party_id) == {"ABC"} and set(real.location_id) == {"L1"}
    # P1 has only a count (point_only): 4 EVSE records derived from it, none for L1
    derived = E[E.derived_from_count.fillna(False).astype(bool)]
    assert sorted(derived.evse_uid) == ["count-1", "count-2", "count-3", "count-4"] and set(derived.location_id) == {"P1"}
    C = store.frame("connectors").set_index("evse_uid")
    # 400 V reported for three phases is the line voltage: 3 x 400/sqrt(3) x 16 A
    assert C.loc["U1", "power_kw"] == pytest.approx(3 * 400 / math.sqrt(3) * 16 / 1000)
    # 7,360 kW reported on a 32 A socket is absurd: derived 3 x 230 x 32 instead
    assert C.loc["U2", "power_kw"] == pytest.approx(22.08) and bool(C.loc["U2", "power_derived"])


def _evse_counts(store) -> dict:
    E = store.frame("evses")
    E["d"] = E.derived_from_count.fillna(False).astype(bool)
    return {(lid, bool(d)): int(n) for (lid, d), n in E.groupby(["location_id", "d"]).size().items()}


@pytest.mark.parametrize("order", ["locations-first", "connectors-first"])
def test_point_only_locations_get_evses_from_their_count(store, cfg, tmp_path, order):
    """A location with only a count (NDW point_only) gets n_evses derived EVSE records; one with EVSE detail
    keeps its real EVSEs and gets none; the result does not depend on the loading order or on reloads."""
    rows = LOC_ROWS + ["GM0599,Rotterdam,Zuid-Holland,P2,Punt 2,,,Rotterdam,51.92,4.48,Op2,,,,passenger,3,,22,,,,,,,"
                       "point_only",
                       "GM0599,Rotterdam,Zuid-Holland,P0,Punt 0,,,Rotterdam,51.92,4.48,Op2,,,,passenger,0,,,,,,,,,"
                       "point_only"]
    lp = _csv(tmp_path / "locations.csv", LOC_HEADER, rows)
    cp = _csv(tmp_path / "connectors.csv", CONN_HEADER, CONN_ROWS)
    files = [lp, cp] if order == "locations-first" else [cp, lp]
    for p in files + files:  # loaded twice: nothing changes
        r = ingest_locations(store, p, cfg)
    # by hand: L1 2 real EVSEs (U1, U2); P1 4 and P2 3 from their counts; P0 none
    assert _evse_counts(store) == {("L1", False): 2, ("P1", True): 4, ("P2", True): 3}
    E = store.frame("evses", "location_id = 'P2'")
    assert (E.max_power_kw == 22.0).all() and E.status.isna().all()
    # 7 of the 9 EVSEs of GM0599 (P2 3 of 3, and P1 4 of 4 in GM0518) lack detail: warned
    assert any("GM0518 4 of 4" in n and "GM0599 3 of 5" in n for n in r.notes)


def test_derived_evses_give_way_to_real_ones(store, cfg, tmp_path):
    """Once the connectors of a point_only location arrive its derived records go; a lower count drops the
    surplus."""
    ingest_locations(store, _csv(tmp_path / "l.csv", LOC_HEADER, LOC_ROWS), cfg)
    assert _evse_counts(store) == {("L1", True): 2, ("P1", True): 4}
    ingest_locations(store, _csv(tmp_path / "c.csv", CONN_HEADER, CONN_ROWS), cfg)
    assert _evse_counts(store) == {("L1", False): 2, ("P1", True): 4}
    newer = LOC_ROWS[1].replace(",4,,0,", ",1,,0,").replace(",,point_only", ",2026-07-01T00:00:00Z,point_only")
    ingest_locations(store, _csv(tmp_path / "l2.csv", LOC_HEADER, [newer]), cfg)
    assert _evse_counts(store) == {("L1", False): 2, ("P1", True): 1}


def test_ndw_locations_csv_rules(store, cfg, tmp_path):
    rows = LOC_ROWS[:2] + [
        "GM0599,R,ZH,L3,N,A,,C,,4.4,Op,,,,passenger,1,,,,,,,,,point_only",  # lat missing
        "GM0599,R,ZH,L4,N,A,,C,abc,4.4,Op,,,,passenger,1,,,,,,,,,point_only",  # lat not a number
        "GM0599,R,ZH,L5,N,A,,C,4.4,51.9,Op,,,,passenger,1,,,,,,,,,point_only",  # swapped
        "GM0599,R,ZH,L6,too,few,fields",  # malformed
        "GM0599,R,ZH,L7,N,A,,C,51.9,4.4,Op,,,,passenger,1,,,,,,,,2026-13-45T00:00:00Z,full",  # bad date
    ]
    r = ingest_locations(store, _csv(tmp_path / "l.csv", LOC_HEADER, rows), cfg)
    assert r.read == 7 and r.accepted == 2
    assert dict(r.by_rule) == {"LP-MISSING": 1, "LP-TYPE": 2, "LP-COORDS-NL": 1, "LP-MALFORMED": 1}
    q = quarantine(store).set_index("position")
    assert q.loc[4, "rule_code"] == "LP-MISSING" and q.loc[7, "rule_code"] == "LP-MALFORMED"
    assert "swapped" in q.loc[6, "message"]
    # without gemeente polygons loaded, the file's own gm_code is kept
    assert store.frame("locations", "location_id = 'L1'").gm_code[0] == "GM0599"


def test_ndw_connectors_status_rule(store, cfg, tmp_path):
    rows = CONN_ROWS + [CONN_ROWS[0].replace("U1,NL*ABC*E1*1,AVAILABLE", "U3,NL*ABC*E3,WEIRD")]
    r = ingest_locations(store, _csv(tmp_path / "c.csv", CONN_HEADER, rows), cfg)
    assert r.accepted == 2 and dict(r.by_rule) == {"LP-STATUS": 1}


# --------------------------------------------------------------------------------------------------
# areas present at load time
# --------------------------------------------------------------------------------------------------
def test_area_assignment_at_load(store, cfg, tmp_path):
    from laadplan.ingest.areas import ingest_areas

    def sq(code, x0, y0, x1, y1):
        return {"type": "Feature", "properties": {"code": code, "gemeente": code},
                "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}}

    gj = {"type": "FeatureCollection", "features": [sq("GM0001", 4.0, 51.5, 4.45, 52.2), sq("GM0002", 4.45, 51.5, 5.0, 52.2)]}
    (tmp_path / "g.geojson").write_text(json.dumps(gj))
    ingest_areas(store, str(tmp_path / "g.geojson"), cfg)
    ingest_locations(store, ndjson(tmp_path / "a.ndjson", [
        loc(), loc(id="W", coordinates={"latitude": "51.9", "longitude": "4.30"}),
        loc(id="OUT", coordinates={"latitude": "53.0", "longitude": "6.0"})]), cfg)
    gm = store.frame("locations").set_index("location_id").gm_code
    assert gm["LOC1"] == "GM0002" and gm["W"] == "GM0001" and pd.isna(gm["OUT"])


def test_ndjson_with_broken_first_line(store, cfg, tmp_path):
    good = json.dumps(loc())
    r = ingest_locations(store, ndjson(tmp_path / "a.ndjson", ["{", good]), cfg)
    assert (r.read, r.accepted, dict(r.by_rule)) == (2, 1, {"LP-MALFORMED": 1})


def test_real_ocpi_sample(store, cfg, tmp_path, shared_data):
    """The 30 real NL locations of the national feed (header re-assembled by the data scout)."""
    objs = json.loads((shared_data / "ndw_ocpi" / "ocpi_locations_sample.json").read_text())
    for o in objs:
        o.pop("_scout_gm_code")
    r = ingest_locations(store, ndjson(tmp_path / "s.ndjson", objs), cfg)
    assert (r.read, r.accepted, r.quarantined) == (30, 30, 0)
    assert store.count("locations") == 30
    assert store.count("evses") == sum(len(o["evses"]) for o in objs)
    conns = [(o["id"], e["uid"], c) for o in objs for e in o["evses"] for c in e["connectors"]]
    assert store.count("connectors") == len(conns)
    got = store.frame("connectors").set_index(["location_id", "evse_uid", "connector_id"]).power_kw
    for lid, uid, c in conns:
        if c.get("max_electric_power"):
            assert got[(lid, uid, str(c["id"]))] == pytest.approx(c["max_electric_power"] / 1000)
    # a null party_id (11 of them) is parsed from the EVSE ids, e.g. NLLMSE... -> LMS
    parties = store.frame("locations").set_index("location_id").party_id
    for o in objs:
        if o["party_id"] is None:
            assert parties[o["id"]] == ocpi.parse_evse_id(o["evses"][0]["evse_id"])[1]
        else:
            assert parties[o["id"]] == o["party_id"]


# --------------------------------------------------------------------------------------------------
# streaming: batch boundaries change nothing
# --------------------------------------------------------------------------------------------------
def _run_batched(tmp_path, cfg, monkeypatch, batch, files):
    from laadplan.ingest import _csvstream, locations
    from laadplan.store import Store

    real = _csvstream.iter_csv_batches
    monkeypatch.setattr(locations, "BATCH", batch)
    monkeypatch.setattr(locations, "iter_csv_batches", lambda src, batch_=batch: real(src, batch=batch_))
    s = Store(":memory:")
    results = [ingest_locations(s, f, cfg) for f in files]
    out = _tables(s), sorted(s.frame("quarantine").rule_code), [(r.read, r.accepted) for r in results]
    s.close()
    return out


def test_batches_do_not_change_the_result(tmp_path, cfg, monkeypatch):
    newer = loc(last_updated="2026-06-01T00:00:00Z", name="Newer")
    objs = [loc(), loc(id="B"), loc(name="Conflict"), newer, loc(id="C"), loc(id="B"), "{bad"]
    files = [ndjson(tmp_path / "a.ndjson", objs),
             _csv(tmp_path / "l.csv", LOC_HEADER, LOC_ROWS),
             _csv(tmp_path / "c.csv", CONN_HEADER, CONN_ROWS + [
                 CONN_ROWS[0].replace("L1,U1", "L2,V1").replace("NL*ABC", "NL*QQQ"),
                 CONN_ROWS[0].replace("L1,U1", "L2,V2").replace("NL*ABC", "NL*QQQ")])]
    whole = _run_batched(tmp_path, cfg, monkeypatch, 10_000, files)
    for b in (1, 3):
        got = _run_batched(tmp_path, cfg, monkeypatch, b, files)
        assert got[1:] == whole[1:]
        for t in whole[0]:
            pd.testing.assert_frame_equal(got[0][t], whole[0][t])
    tables, rules, counts = whole
    assert rules == ["LP-DUPLICATE", "LP-MALFORMED"] and counts[0] == (7, 5)
    assert tables["locations"].set_index("location_id").name["LOC1"] == "Newer"


# -- LINDA format rules: accepted with a note (issue 11.8) ----------------------------------------------
def _linda_loc(lid, postal, operator, evse_ids):
    return {"country_code": "NL", "party_id": "ABC", "id": lid, "publish": True, "address": "Kade 1",
            "city": "Rotterdam", "postal_code": postal, "country": "NLD",
            "coordinates": {"latitude": "51.92", "longitude": "4.47"}, "time_zone": "Europe/Amsterdam",
            "last_updated": "2026-05-01T00:00:00Z", **({"operator": {"name": operator}} if operator else {}),
            "evses": [{"uid": f"{lid}-{i}", **({"evse_id": e} if e else {}), "status": "AVAILABLE",
                       "last_updated": "2026-05-01T00:00:00Z",
                       "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                                       "power_type": "AC_3_PHASE", "max_voltage": 230, "max_amperage": 16,
                                       "last_updated": "2026-05-01T00:00:00Z"}]} for i, e in enumerate(evse_ids)]}


def test_linda_location_rules_accept_with_a_note_and_normalise_postal_codes(store, cfg, tmp_path):
    import json

    from laadplan.ingest import reader

    f = tmp_path / "locs.json"
    f.write_text(json.dumps([
        _linda_loc("L1", "3011ad", "Op", ["NL*ABC*E1", "NLABCE2"]),  # fine; postal code normalised
        _linda_loc("L2", "3011", None, ["NL.ABC.E3", None]),  # PC4 only, no operator, 2 bad evse ids
        _linda_loc("L3", " 2264 bm ", "Op", ["NL*ABC*E4*1"]),
    ]))
    r = reader("locations")(store, str(f), cfg)
    assert (r.read, r.accepted, r.quarantined) == (3, 3, 0)  # LINDA only warns: nothing quarantined
    notes = {n.split(":")[0]: n for n in r.notes}
    assert notes["LINDA-POSTAL-CODE"].startswith("LINDA-POSTAL-CODE: 1 accepted") and "'3011'" in notes[
        "LINDA-POSTAL-CODE"]
    assert notes["LINDA-OPERATOR"].startswith("LINDA-OPERATOR: 1 accepted")
    assert notes["LINDA-EVSE-ID"].startswith("LINDA-EVSE-ID: 2 accepted")
    pcs = store.frame("locations").set_index("location_id")["postal_code"].to_dict()
    assert pcs == {"L1": "3011 AD", "L2": "3011", "L3": "2264 BM"}  # LINDA's form '1234 AB'


def test_linda_rules_are_listed_with_their_action():
    from typer.testing import CliRunner

    from laadplan.cli import app

    out = CliRunner().invoke(app, ["rules"], env={"COLUMNS": "250"}).stdout
    for code in ("LINDA-EVSE-ID", "LINDA-OPERATOR", "LINDA-POSTAL-CODE", "LINDA-TARIFF-TYPE"):
        line = next(x for x in out.splitlines() if code in x)
        assert "note" in line, line
    assert "quarantine" in next(x for x in out.splitlines() if "LINDA-START-END" in x)


def test_reload_over_a_store_with_unnormalised_postal_codes_is_no_duplicate(store, cfg, tmp_path):
    import json

    from laadplan.ingest import reader

    f = tmp_path / "locs.json"
    f.write_text(json.dumps([_linda_loc("L1", "3011ad", "Op", ["NL*ABC*E1"])]))
    reader("locations")(store, str(f), cfg)
    # as an older laadplan stored it: the postal code as delivered
    store.con.execute("UPDATE locations SET postal_code = '3011ad'")
    r = reader("locations")(store, str(f), cfg)
    assert r.quarantined == 0 and r.accepted == 1
