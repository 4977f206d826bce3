"""Status reader: EVSE status CSV / OCPI JSON, hourly occupancy per location and per gemeente with the
local-hour -> UTC conversion over both DST transitions, rules and idempotence."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest

from laadplan.ingest import SourceError
from laadplan.ingest.status import ingest_status, local_hour_to_utc


def _write(p, text):
    p.write_text(text)
    return str(p)


STATUS_CSV = """country_code,party_id,location_id,evse_uid,observed_utc,status
NL,ABC,L1,E1,2026-06-01T10:00:00Z,AVAILABLE
NL,ABC,L1,E1,2026-06-01T10:05:00Z,CHARGING
NL,ABC,L1,E2,2026-06-01T10:05:00+02:00,charging
NL,ABC,L1,E2,2026-06-01T12:00:00Z,BROKEN
NL,ABC,L1,,2026-06-01T12:00:00Z,AVAILABLE
NL,ABC,L1,E3,not a time,AVAILABLE
NL,ABC,L1,E1,2026-06-01T10:05:00Z,OUTOFORDER
NL,ABC,L1,E1
"""


def test_evse_status_csv(store, cfg, tmp_path):
    r = ingest_status(store, _write(tmp_path / "s.csv", STATUS_CSV), cfg)
    assert (r.read, r.accepted) == (8, 3)
    assert dict(r.by_rule) == {"LP-STATUS": 1, "LP-MISSING": 1, "LP-TYPE": 1, "LP-DUPLICATE": 1, "LP-MALFORMED": 1}
    q = store.frame("quarantine").set_index("position")
    assert q.loc[5, "rule_code"] == "LP-STATUS" and q.loc[8, "rule_code"] == "LP-DUPLICATE"
    assert q.loc[9, "rule_code"] == "LP-MALFORMED"
    obs = store.frame("status_observations").sort_values(["evse_uid", "observed_utc"])
    assert obs.status.tolist() == ["AVAILABLE", "CHARGING", "CHARGING"]
    # +02:00 is converted to UTC
    assert obs.observed_utc.tolist()[2] == pd.Timestamp("2026-06-01 08:05:00")
    # idempotent
    r2 = ingest_status(store, str(tmp_path / "s.csv"), cfg)
    assert r2.upserts["status_observations"].inserted == 0 and store.count("status_observations") == 3


def test_status_csv_without_cpo_looks_it_up(store, cfg, tmp_path):
    store.upsert("evses", pd.DataFrame([{"country_code": "NL", "party_id": "XYZ", "location_id": "L9",
                                         "evse_uid": "E9"}]))
    ingest_status(store, _write(tmp_path / "s.csv", "location_id,evse_uid,observed_utc,status\n"
                                "L9,E9,2026-06-01T10:00:00Z,AVAILABLE\nL8,E8,2026-06-01T10:00:00Z,AVAILABLE\n"),
                  cfg)
    obs = store.frame("status_observations").set_index("evse_uid")
    assert obs.loc["E9", "party_id"] == "XYZ" and obs.loc["E8", "party_id"] == ""


def test_ocpi_evse_and_location_objects(store, cfg, tmp_path):
    lines = [
        {"uid": "E1", "status": "CHARGING", "last_updated": "2026-06-01T10:00:00Z", "location_id": "L1",
         "country_code": "NL", "party_id": "ABC", "connectors": []},
        {"country_code": "NL", "party_id": "ABC", "id": "L2", "publish": True, "address": "a", "city": "c",
         "country": "NLD", "coordinates": {"latitude": "52.0", "longitude": "4.5"}, "time_zone": "Europe/Amsterdam",
         "last_updated": "2026-06-01T11:00:00Z",
         "evses": [{"uid": "E2", "status": "AVAILABLE", "connectors": []},
                   {"uid": "E3", "status": "OUTOFORDER", "last_updated": "2026-06-01T09:00:00Z", "connectors": []}]},
        {"uid": "E4", "status": "FLYING", "last_updated": "2026-06-01T10:00:00Z", "location_id": "L1"},
        {"uid": "E5", "status": "AVAILABLE", "location_id": "L1"},
        {"uid": "E6", "status": "AVAILABLE", "last_updated": "2026-06-01T10:00:00Z"},
    ]
    p = tmp_path / "s.ndjson"
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\n{broken\n")
    r = ingest_status(store, str(p), cfg)
    assert (r.read, r.accepted) == (6, 2)
    assert dict(r.by_rule) == {"LP-STATUS": 1, "LP-MISSING": 2, "LP-MALFORMED": 1}
    obs = store.frame("status_observations").set_index("evse_uid")
    assert obs.loc["E2", "observed_utc"] == pd.Timestamp("2026-06-01 11:00")  # the location's last_updated
    assert obs.loc["E3", "observed_utc"] == pd.Timestamp("2026-06-01 09:00")
    assert obs.loc["E1", "location_id"] == "L1" and len(obs) == 3


def test_local_hour_to_utc_over_dst():
    date = pd.Series(["2026-06-02", "2026-01-10", "2026-10-25", "2026-10-25", "2026-03-29", "2026-03-29"])
    hour = pd.Series([16, 16, 2, 2, 2, 3])
    second = pd.Series([False, False, False, True, False, False])
    got = local_hour_to_utc(date, hour, "Europe/Amsterdam", second)
    exp = [datetime(2026, 6, 2, 14), datetime(2026, 1, 10, 15), datetime(2026, 10, 25, 0),
           datetime(2026, 10, 25, 1), None, datetime(2026, 3, 29, 1)]
    for g, e in zip(got, exp):
        assert (pd.isna(g) and e is None) or g == pd.Timestamp(e)


OCC_LOC = """date,hour,gm_code,location_id,n_evses,occ_pct
2026-06-02,16,GM0654,20154,2,50
2026-06-02,17,GM0654,20154,2,0
2026-10-25,2,GM0654,20154,4,25
2026-10-25,2,GM0654,20154,4,75
2026-03-29,2,GM0654,20154,2,50
2026-06-02,16,GM0654,X,2,150
2026-06-02,25,GM0654,X,2,50
2026-06-02,16,GM0654,,2,50
2026-06-02,16,GM0654,20154,2,100
"""


def test_occupancy_per_location(store, cfg, tmp_path):
    r = ingest_status(store, _write(tmp_path / "o.csv", OCC_LOC), cfg)
    assert (r.read, r.accepted) == (9, 4)
    assert dict(r.by_rule) == {"LP-TYPE": 2, "LP-SHARE-RANGE": 1, "LP-MISSING": 1, "LP-DUPLICATE": 1}
    q = store.frame("quarantine").set_index("position")
    assert "does not exist" in q.loc[6, "message"] and q.loc[10, "rule_code"] == "LP-DUPLICATE"
    o = store.frame("occupancy_observations").sort_values("observed_utc").reset_index(drop=True)
    assert set(o.subject_level) == {"location"} and set(o.subject_id) == {"20154"}
    assert o.observed_utc.tolist() == [pd.Timestamp("2026-06-02 14:00"), pd.Timestamp("2026-06-02 15:00"),
                                       pd.Timestamp("2026-10-25 00:00"), pd.Timestamp("2026-10-25 01:00")]
    assert o.occupancy_share.tolist() == [0.5, 0.0, 0.25, 0.75]
    assert o.evses_occupied.tolist() == [1.0, 0.0, 1.0, 3.0] and o.evses_observed.tolist() == [2, 2, 4, 4]


def test_occupancy_repeated_hour_across_batches(store, cfg, tmp_path, monkeypatch):
    import laadplan.ingest._csvstream as cs

    real = cs.iter_csv_batches
    monkeypatch.setattr("laadplan.ingest.status.iter_csv_batches", lambda src: real(src, batch=1))
    text = "date,hour,gm_code,location_id,n_evses,occ_pct\n2026-10-25,2,G,L,4,25\n2026-10-25,2,G,L,4,75\n"
    r = ingest_status(store, _write(tmp_path / "o.csv", text), cfg)
    assert r.accepted == 2 and store.count("occupancy_observations") == 2


OCC_GM = """date,hour,gm_code,gemeente,locations_observed,evses_observed,evses_charging,occupancy_pct
2026-06-02,16,GM0482,Alblasserdam,59,139,31,22.35
2026-06-02,17,GM0482,Alblasserdam,59,139,150,22.35
2026-06-02,18,GM0482,Alblasserdam,59,139,20,-1
"""


def test_occupancy_per_gemeente(store, cfg, tmp_path):
    r = ingest_status(store, _write(tmp_path / "g.csv", OCC_GM), cfg)
    assert r.accepted == 1 and dict(r.by_rule) == {"LP-SHARE-RANGE": 2}
    o = store.frame("occupancy_observations").iloc[0]
    assert (o.subject_level, o.subject_id, o.gm_code) == ("gemeente", "GM0482", "GM0482")
    assert o.observed_utc == pd.Timestamp("2026-06-02 14:00")
    assert o.occupancy_share == pytest.approx(0.2235) and o.evses_occupied == pytest.approx(139 * 0.2235)


def test_url_and_errors(store, cfg, http_server, tmp_path):
    base, d = http_server
    (d / "occ.csv").write_text(OCC_GM)
    assert ingest_status(store, f"{base}/occ.csv", cfg).read == 3
    with pytest.raises(SourceError, match="gone.csv"):
        ingest_status(store, f"{base}/gone.csv", cfg)
    with pytest.raises(SourceError, match="weird.csv"):
        ingest_status(store, _write(tmp_path / "weird.csv", "x,y\n1,2\n"), cfg)
