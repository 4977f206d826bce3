"""One EVSE published under two locations (issue 10 point 1): the newest copy is kept, the older copies and
a location left with none of its own EVSEs go to quarantine (LP-DUPLICATE), counts balance, reloads change
nothing. Every expected value is worked out by hand from the small feeds below."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest

from laadplan.ingest.locations import ingest_locations

LOC_HEADER = ("gm_code,gemeente,province,location_id,name,address,postal_code,city,lat,lon,operator,owner,"
              "parking_type,twentyfourseven,layer,n_evses,n_connectors,max_power_kw,power_source,has_dc,standards,"
              "status,price_kwh,last_updated,detail_level")
CONN_HEADER = ("gm_code,location_id,evse_uid,evse_id,evse_status,connector_id,standard,format,power_type,"
               "max_voltage,max_amperage,max_electric_power_w,power_kw,power_kw_sane,power_source,tariff_ids,"
               "price_kwh,price_vat,last_updated")


def _loc(lid: str, n: int, lu: str, op: str = "bp pulse") -> str:
    return (f"GM0599,Rotterdam,Zuid-Holland,{lid},Station {lid},Weg 1,3011 AD,Rotterdam,51.9225,4.47917,{op},,"
            f"ON_STREET,True,passenger,{n},{n},11,reported,False,IEC_62196_T2,,,{lu},full")


def _conn(lid: str, uid: str, evse_id: str, cid: str, lu: str) -> str:
    return (f"GM0599,{lid},{uid},{evse_id},AVAILABLE,{cid},IEC_62196_T2,SOCKET,AC_3_PHASE,230,16,11000,11,11,"
            f"reported,T1,,,{lu}")


FEB, JUN = "2026-02-09T10:00:00Z", "2026-06-06T08:00:00Z"
# OLD: a stale copy of NEW's EVSE X1 (both its connectors). MIX: a stale copy of X2 plus its own Y1.
# NEW: X1, X2 (newer copies) and the genuine G1. OTH: another operator (party XYZ) with uid X1: not the same EVSE.
CONN_ROWS = [
    _conn("OLD", "X1", "NL*BPE*E1", "1", FEB),  # line 2
    _conn("OLD", "X1", "NL*BPE*E1", "2", FEB),  # line 3
    _conn("MIX", "X2", "NL*BPE*E3", "1", FEB),  # line 4
    _conn("MIX", "Y1", "NL*BPE*E4", "1", FEB),  # line 5
    _conn("NEW", "X1", "NL*BPE*E1", "1", JUN),  # line 6
    _conn("NEW", "X1", "NL*BPE*E1", "2", JUN),  # line 7
    _conn("NEW", "X2", "NL*BPE*E3", "1", JUN),  # line 8
    _conn("NEW", "G1", "NL*BPE*E2", "1", JUN),  # line 9
    _conn("OTH", "X1", "NL*XYZ*E1", "1", "2026-01-01T00:00:00Z"),  # line 10
]
LOC_ROWS = [
    _loc("OLD", 1, "2026-02-10T10:48:46Z"),  # line 2
    _loc("MIX", 2, "2026-02-10T10:48:46Z"),  # line 3
    _loc("NEW", 3, "2026-06-07T19:19:48Z"),  # line 4
    _loc("OTH", 1, "2026-01-01T00:00:00Z", op="Other"),  # line 5
]
KEPT_EVSES = {("BPE", "NEW", "X1"), ("BPE", "NEW", "X2"), ("BPE", "NEW", "G1"), ("BPE", "MIX", "Y1"),
              ("XYZ", "OTH", "X1")}


def _csv(path: Path, header: str, rows: list[str]) -> str:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return str(path)


def _state(store) -> dict:
    return {t: store.query(f"SELECT * EXCLUDE (source_file) FROM {t} ORDER BY ALL")
            for t in ("locations", "evses", "connectors")}


def _quarantine(store) -> pd.DataFrame:
    return store.query("SELECT source_file, position, rule_code, record_id, party_id, message FROM quarantine "
                       "ORDER BY source_file, position")


@pytest.mark.parametrize("order", ["locations-first", "connectors-first"])
def test_ndw_csv_keeps_the_newest_copy_of_an_evse(store, cfg, tmp_path, order):
    lp = _csv(tmp_path / "locations.csv", LOC_HEADER, LOC_ROWS)
    cp = _csv(tmp_path / "connectors.csv", CONN_HEADER, CONN_ROWS)
    files = [lp, cp] if order == "locations-first" else [cp, lp]
    runs = {f: ingest_locations(store, f, cfg) for f in files}

    E = store.query("SELECT party_id, location_id, evse_uid FROM evses WHERE NOT coalesce(derived_from_count, false)")
    assert set(map(tuple, E.itertuples(index=False))) == KEPT_EVSES
    assert store.count("evses", "derived_from_count") == 0  # the stale OLD gets no EVSEs from its n_evses either
    # connectors: NEW X1 (2), X2, G1, MIX Y1, OTH X1
    assert store.count("connectors") == 6
    # OLD published nothing of its own: set aside; MIX keeps Y1
    assert sorted(store.frame("locations").location_id) == ["MIX", "NEW", "OTH"]

    c = runs[cp]  # 9 connector rows: the 3 of the stale copies (lines 2, 3, 4) quarantined
    assert (c.read, c.accepted, c.quarantined) == (9, 6, 3) and c.by_rule == {"LP-DUPLICATE": 3}
    assert c.upserts["evses"].inserted == 5 and c.upserts["connectors"].inserted == 6
    q = _quarantine(store)
    qc = q[q.source_file == cp]
    assert list(qc.position) == [2, 3, 4] and set(qc.rule_code) == {"LP-DUPLICATE"}
    assert list(qc.record_id) == ["OLD", "OLD", "MIX"] and set(qc.party_id) == {"BPE"}
    assert qc.message.iloc[0] == (
        f"{cp} line 2: EVSE NL*BPE*E1 (uid X1) is also published under location NEW, last updated "
        "2026-06-06 08:00:00; this copy under location OLD (2026-02-09 10:00:00) is not counted")
    assert "EVSE NL*BPE*E3 (uid X2) is also published under location NEW" in qc.message.iloc[2]

    lr = runs[lp]
    ql = q[q.source_file == lp]
    if order == "connectors-first":
        # the locations file comes second: OLD's row (line 2) is quarantined when read
        assert (lr.read, lr.accepted, lr.quarantined) == (4, 3, 1)
        assert list(ql.position) == [2] and list(ql.record_id) == ["OLD"]
        assert "every EVSE of location OLD (last updated 2026-02-10 10:48:46) is also published under " \
               "location(s) with a newer last_updated" in ql.message.iloc[0]
    else:
        # read first, OLD was accepted; the connectors run removes it from the store and says so
        assert (lr.read, lr.accepted, lr.quarantined) == (4, 4, 0) and ql.empty
        assert any("1 stored locations from earlier files set aside" in n for n in c.notes)
    for r in runs.values():
        assert r.accepted + r.quarantined == r.read


def test_ndw_csv_reload_changes_nothing(store, cfg, tmp_path):
    lp = _csv(tmp_path / "locations.csv", LOC_HEADER, LOC_ROWS)
    cp = _csv(tmp_path / "connectors.csv", CONN_HEADER, CONN_ROWS)
    for f in (cp, lp):
        ingest_locations(store, f, cfg)
    state, q = _state(store), _quarantine(store)
    again = [ingest_locations(store, f, cfg) for f in (cp, lp, cp, lp)]
    assert all(a.equals(b) for a, b in zip(_state(store).values(), state.values()))
    assert _quarantine(store).equals(q) and len(q) == 4  # 3 connector rows + OLD's location row, once each
    c, lr = again[2], again[3]
    assert (c.read, c.accepted, c.quarantined) == (9, 6, 3) and (lr.read, lr.accepted, lr.quarantined) == (4, 3, 1)
    assert c.upserts["evses"].inserted == 0 and c.upserts["connectors"].inserted == 0
    assert lr.upserts["locations"].inserted == 0


def test_without_a_second_copy_nothing_is_set_aside(store, cfg, tmp_path):
    """OTH's uid X1 equals BPE's X1 but its EVSE id and party differ: a different EVSE, never matched."""
    cp = _csv(tmp_path / "c.csv", CONN_HEADER, [CONN_ROWS[4], CONN_ROWS[8]])
    r = ingest_locations(store, cp, cfg)
    assert (r.read, r.accepted, r.quarantined) == (2, 2, 0) and store.count("evses") == 2


# --------------------------------------------------------------------------------------------------
# OCPI JSON: the Location is the record
# --------------------------------------------------------------------------------------------------
def _evse(uid: str, evse_id: str, lu: str) -> dict:
    return {"uid": uid, "evse_id": evse_id, "status": "AVAILABLE", "last_updated": lu,
            "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
                            "max_voltage": 230, "max_amperage": 16, "last_updated": lu}]}


BASE = {"country_code": "NL", "party_id": "BPE", "publish": True, "address": "Weg 1", "city": "Rotterdam",
        "postal_code": "3011 AD", "country": "NLD", "coordinates": {"latitude": "51.9225", "longitude": "4.47917"},
        "time_zone": "Europe/Amsterdam"}


def _location(lid: str, lu: str, evses: list[dict]) -> dict:
    d = copy.deepcopy(BASE)
    d.update(id=lid, name=f"bp pulse {lid}", last_updated=lu, evses=evses)
    return d


def test_ocpi_stale_location_is_quarantined_as_a_record(store, cfg, tmp_path):
    old = _location("c5c90f96", "2026-02-10T10:48:46Z", [_evse("X1", "NL*BPE*E1", FEB)])
    new = _location("8269fdb2", "2026-06-07T19:19:48Z", [_evse("X1", "NL*BPE*E1", JUN), _evse("G1", "NL*BPE*E2", JUN)])
    mix = _location("m1", "2026-02-10T10:48:46Z", [_evse("X1", "NL*BPE*E1", "2026-01-01T00:00:00Z"),
                                                   _evse("Y1", "NL*BPE*E4", FEB)])
    path = tmp_path / "locs.json"
    path.write_text(json.dumps([old, new, mix]))
    r = ingest_locations(store, str(path), cfg)
    # three records: old quarantined (its only EVSE is X1, newer under 8269fdb2); new and mix accepted, mix
    # with Y1 only (its X1 copy is older still)
    assert (r.read, r.accepted, r.quarantined) == (3, 2, 1) and r.by_rule == {"LP-DUPLICATE": 1}
    E = store.query("SELECT location_id, evse_uid FROM evses ORDER BY ALL")
    assert list(map(tuple, E.itertuples(index=False))) == [("8269fdb2", "G1"), ("8269fdb2", "X1"), ("m1", "Y1")]
    assert sorted(store.frame("locations").location_id) == ["8269fdb2", "m1"]
    q = _quarantine(store)
    assert list(q.record_id) == ["c5c90f96"]
    assert ("every EVSE of location c5c90f96 (last updated 2026-02-10 10:48:46) is also published under "
            "location(s) 8269fdb2 with a newer last_updated; this stale location is not counted") in q.message.iloc[0]
    assert json.loads(store.query("SELECT raw FROM quarantine").raw.iloc[0])["id"] == "c5c90f96"
    assert any("2 EVSE copies published again under a newer location set aside" in n for n in r.notes)
    # the run's counts are what it left behind: the EVSE copies written for old and mix and then set aside were
    # never really added (were reported as 5 EVSEs inserted, and the copies again on every reload)
    assert r.upserts["evses"].inserted == store.count("evses") == 3
    assert r.upserts["connectors"].inserted == store.count("connectors") > 0
    state = _state(store)
    r2 = ingest_locations(store, str(path), cfg)
    assert (r2.read, r2.accepted, r2.quarantined) == (3, 2, 1)
    assert all(a.equals(b) for a, b in zip(_state(store).values(), state.values())) and len(_quarantine(store)) == 1
    assert {t: (u.inserted, u.updated) for t, u in r2.upserts.items()} == {
        "locations": (0, 0), "evses": (0, 0), "connectors": (0, 0)}


# --------------------------------------------------------------------------------------------------
# NDW rows without EVSE detail (point_only): one location listed twice under two ids
# --------------------------------------------------------------------------------------------------
def _point(lid: str, n: int, name: str = "EQUANS SGZH 2.0 89320315", lat: str = "51.93419", op: str = "EQUANS",
           level: str = "point_only") -> str:
    return (f"GM0599,Rotterdam,Zuid-Holland,{lid},{name},,,Rotterdam,{lat},4.44085,{op},,,,passenger,{n},,,,,,,,,"
            f"{level}")


@pytest.mark.parametrize("enabled", [True, False])
def test_point_only_location_listed_twice_counts_once(store, cfg, tmp_path, enabled):
    rows = [
        _point("b2", 2),  # line 2: same operator, name, place and count as a1: a copy
        _point("a1", 2),  # line 3: kept (smallest location_id; neither is dated)
        _point("c3", 4),  # line 4: same place and name but another count: kept
        _point("d4", 2, op="Eneco"),  # line 5: another operator: kept
        _point("e5", 2, lat="51.93420"),  # line 6: 1 m away, not the same coordinates: kept
        _point("f6", 2, level="full"),  # line 7: a row with EVSE detail is never judged by this rule: kept
    ]
    lp = _csv(tmp_path / "locations.csv", LOC_HEADER, rows)
    if not enabled:
        cfg = cfg.model_copy(update={"validation": cfg.validation.model_copy(
            update={"point_only_copies_count_once": False})})
    for _ in range(2):  # a reload changes nothing
        r = ingest_locations(store, lp, cfg)
    kept = sorted(store.frame("locations").location_id)
    if not enabled:
        assert kept == ["a1", "b2", "c3", "d4", "e5", "f6"] and (r.read, r.accepted, r.quarantined) == (6, 6, 0)
        return
    assert kept == ["a1", "c3", "d4", "e5", "f6"]
    assert (r.read, r.accepted, r.quarantined) == (6, 5, 1) and r.upserts["locations"].inserted == 0
    # b2's derived EVSEs are gone with it: 2 (a1) + 4 + 2 + 2 + 2
    assert store.count("evses", "derived_from_count") == 12
    q = _quarantine(store)
    assert len(q) == 1 and (q.position.iloc[0], q.record_id.iloc[0], q.rule_code.iloc[0]) == (2, "b2", "LP-DUPLICATE")
    assert q.message.iloc[0] == (f"{lp} line 2: location b2 has the same operator (EQUANS), name, coordinates and "
                                 "n_evses (2) as location a1 and neither has EVSE detail: one location published "
                                 "twice, counted once (at a1)")
