"""Pushed EVSE statuses (OCPI Locations PUT/PATCH) land in ``status_observations`` as the status reader records
them, so status-based occupancy and availability see them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from laadplan.config import load_config
from laadplan.store import Store

from test_api_ocpi import EX, env, location  # noqa: F401  (env is a fixture)

pytestmark = pytest.mark.skipif(not EX.exists(), reason="OCPI examples not available")

BASE = "/ocpi/2.2.1/receiver/locations/NL/EQU/LOC1"
COLS = "country_code, party_id, location_id, evse_uid, observed_utc, status, source, source_file"


def obs(s) -> list[list]:
    return s.query(f"SELECT {COLS} FROM status_observations ORDER BY evse_uid, observed_utc").values.tolist()


def test_pushed_statuses_are_status_observations(env):
    c, app, A, _, _ = env
    s = app.state.store
    assert c.put(BASE, headers=A, json=location()).status_code == 200
    src = "ocpi-push:NL*EQU"
    # the Location PUT: each EVSE's status at its own last_updated (the example's)
    first = [["NL", "EQU", "LOC1", "3256", pd.Timestamp("2015-06-28 08:12:01"), "AVAILABLE", "ocpi", src],
             ["NL", "EQU", "LOC1", "3257", pd.Timestamp("2015-06-29 20:39:09"), "RESERVED", "ocpi", src]]
    assert obs(s) == first
    # an EVSE status PATCH: one more observation of that EVSE at the PATCH's last_updated
    patch = {"status": "CHARGING", "last_updated": "2025-01-01T10:00:00Z"}
    assert c.patch(BASE + "/3256", headers=A, json=patch).status_code == 200
    charging = ["NL", "EQU", "LOC1", "3256", pd.Timestamp("2025-01-01 10:00:00"), "CHARGING", "ocpi", src]
    assert obs(s) == [first[0], charging, first[1]]
    # the same PATCH again, an older one (not applied), a PATCH without status, a connector PUT: nothing new
    assert c.patch(BASE + "/3256", headers=A, json=patch).status_code == 200
    assert "not applied" in c.patch(BASE + "/3256", headers=A, json={
        "status": "OUTOFORDER", "last_updated": "2024-01-01T00:00:00Z"}).json()["status_message"]
    assert c.patch(BASE + "/3256", headers=A, json={"floor_level": "2",
                                                      "last_updated": "2025-01-02T00:00:00Z"}).status_code == 200
    conn = {"id": "9", "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
            "max_voltage": 230, "max_amperage": 16, "last_updated": "2025-01-03T00:00:00Z"}
    assert c.put(BASE + "/3256/9", headers=A, json=conn).status_code == 200
    assert obs(s) == [first[0], charging, first[1]]
    # an EVSE PUT with a status: observed at the EVSE's last_updated
    evse = {"uid": "4000", "evse_id": "NL*EQU*E4000", "status": "OUTOFORDER", "last_updated": "2025-02-01T00:00:00Z",
            "connectors": [conn | {"id": "1"}]}
    assert c.put(BASE + "/4000", headers=A, json=evse).status_code == 200
    assert obs(s)[-1] == ["NL", "EQU", "LOC1", "4000", pd.Timestamp("2025-02-01"), "OUTOFORDER", "ocpi", src]
    # each status push is an ingest run of kind status from the party, beside the Location runs (the repeated
    # PATCH is the same run again: Location PUT 2 EVSEs, PATCH 1, EVSE PUT 1)
    runs = s.query("SELECT kind, source_file, records_accepted FROM ingest_runs WHERE kind = 'status' "
                   "ORDER BY started_utc")
    assert runs["source_file"].unique().tolist() == [src] and runs["records_accepted"].tolist() == [2, 1, 1]
    assert s.count("quarantine") == 0


def test_pushed_status_equals_the_status_readers_row(env, tmp_path):
    """The same EVSE status through a status file (the status reader) gives the same row but its source file."""
    from laadplan.ingest import reader

    c, app, A, _, _ = env
    assert c.put(BASE, headers=A, json=location()).status_code == 200
    patch = {"status": "BLOCKED", "last_updated": "2025-05-05T05:05:05+02:00"}
    assert c.patch(BASE + "/3257", headers=A, json=patch).status_code == 200
    pushed = app.state.store.query(f"SELECT {COLS} FROM status_observations WHERE status = 'BLOCKED'")
    f = tmp_path / "status.json"
    f.write_text(json.dumps([{"uid": "3257", "location_id": "LOC1", "country_code": "NL", "party_id": "EQU",
                              "status": "BLOCKED", "last_updated": "2025-05-05T05:05:05+02:00"}]))
    with Store(str(tmp_path / "file.duckdb"), create=True) as s2:
        reader("status")(s2, str(f), load_config(None))
        from_file = s2.query(f"SELECT {COLS} FROM status_observations")
    assert len(pushed) == len(from_file) == 1
    a, b = pushed.iloc[0].to_dict(), from_file.iloc[0].to_dict()
    assert a.pop("source_file") == "ocpi-push:NL*EQU" and b.pop("source_file") == str(f)
    assert a == b and a["observed_utc"] == pd.Timestamp("2025-05-05 03:05:05")
