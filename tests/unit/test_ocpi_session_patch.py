"""OCPI 2.2.1 Sessions PATCH with charging_periods: the periods are added to the stored list (mod_sessions, PATCH
method); an omitted or empty list changes nothing; a PUT replaces the whole list."""

from __future__ import annotations

import pytest

from test_api_ocpi import EX, env, ex  # noqa: F401  (env is a fixture)

pytestmark = pytest.mark.skipif(not EX.exists(), reason="OCPI examples not available")

URL = "/ocpi/2.2.1/receiver/sessions/NL/EQU/S1"
P1 = {"start_date_time": "2020-03-09T10:17:09Z", "dimensions": [{"type": "ENERGY", "volume": 1.5}]}


def periods(c, A) -> list:
    return c.get(URL, headers=A).json()["data"].get("charging_periods")


def test_session_patch_adds_charging_periods(env):
    c, app, A, _, _ = env
    ses = ex("session_example_1_simple_start.json") | {"party_id": "EQU", "id": "S1", "charging_periods": [P1]}
    assert c.put(URL, headers=A, json=ses).status_code == 200
    # the OCPI example "adding a new ChargingPeriod" (its last_updated moved after the PUT's)
    patch = ex("session_patch_example_charging_period.json") | {"last_updated": "2020-03-09T11:00:00Z"}
    p2 = patch["charging_periods"][0]
    r = c.patch(URL, headers=A, json=patch)
    assert r.status_code == 200, r.text
    assert periods(c, A) == [P1, p2]
    got = c.get(URL, headers=A).json()["data"]
    assert got["kwh"] == 15.0 and got["total_cost"] == {"excl_vat": 0.80, "incl_vat": 0.88}
    assert app.state.store.query("SELECT energy_kwh FROM ocpi_sessions")["energy_kwh"].tolist() == [15.0]
    # the same PATCH again (a retry) adds nothing twice
    assert c.patch(URL, headers=A, json=patch).status_code == 200
    assert periods(c, A) == [P1, p2]
    # omitted or empty: no change to the list (other fields still patched)
    assert c.patch(URL, headers=A, json={"kwh": 16.0, "charging_periods": [],
                                         "last_updated": "2020-03-09T11:10:00Z"}).status_code == 200
    assert c.patch(URL, headers=A, json={"kwh": 17.0, "last_updated": "2020-03-09T11:20:00Z"}).status_code == 200
    assert periods(c, A) == [P1, p2] and c.get(URL, headers=A).json()["data"]["kwh"] == 17.0
    # a third period is appended after the two
    p3 = {"start_date_time": "2020-03-09T11:30:00Z", "dimensions": [{"type": "TIME", "volume": 0.5}]}
    assert c.patch(URL, headers=A, json={"charging_periods": [p3], "last_updated": "2020-03-09T11:30:00Z"}
                   ).status_code == 200
    assert periods(c, A) == [P1, p2, p3]
    # a PUT replaces the whole list
    assert c.put(URL, headers=A, json=ses | {"charging_periods": [p3], "last_updated": "2020-03-09T12:00:00Z"}
                 ).status_code == 200
    assert periods(c, A) == [p3]
    # an older PATCH is not applied (its periods are not added)
    old = {"charging_periods": [P1], "last_updated": "2020-03-09T10:30:00Z"}
    assert "not applied" in c.patch(URL, headers=A, json=old).json()["status_message"]
    assert periods(c, A) == [p3]


def test_session_patch_to_a_session_without_periods(env):
    c, _, A, _, _ = env
    ses = ex("session_example_1_simple_start.json") | {"party_id": "EQU", "id": "S1"}
    assert "charging_periods" not in ses
    assert c.put(URL, headers=A, json=ses).status_code == 200
    assert c.patch(URL, headers=A, json={"charging_periods": [P1], "last_updated": "2020-03-09T11:00:00Z"}
                   ).status_code == 200
    assert periods(c, A) == [P1]
