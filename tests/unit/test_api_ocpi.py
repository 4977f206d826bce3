"""OCPI receiver: every endpoint's happy path and bad input, the credentials handshake with a test client as the
operator, scope isolation, idempotent and durable pushes through the file ingest's rules."""

from __future__ import annotations

import base64
import copy
import json
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from laadplan.api import auth
from laadplan.api.app import create_app
from laadplan.api.ocpi.credentials import open_registration
from laadplan.config import load_config

EX = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ocpi_examples" / "ocpi_2.2.1"
pytestmark = pytest.mark.skipif(not EX.exists(), reason="OCPI examples not available")


def ex(name: str) -> dict:
    return json.loads((EX / name).read_text())


def cdr(cdr_id: str = "C1", party: str = "EQU", energy: float = 15.342, updated: str = "2025-06-29T23:40:00Z") -> dict:
    """The OCPI example CDR as party NL*<party>, coordinates put right (the example swaps them), the LINDA
    profile's fields added."""
    c = ex("cdr_example.json")
    c.update(country_code="NL", party_id=party, id=cdr_id, total_energy=energy, last_updated=updated,
             start_date_time="2025-06-29T21:39:09Z", end_date_time="2025-06-29T23:37:32Z",
             total_parking_time=0.0, total_fixed_cost={"excl_vat": 0.0}, total_energy_cost={"excl_vat": 4.0})
    c["cdr_location"]["coordinates"] = {"latitude": "51.4416", "longitude": "3.5734"}
    c["cdr_location"]["evse_id"] = f"NL*{party}*E041503003"
    return c


def location(party: str = "EQU", loc_id: str = "LOC1") -> dict:
    loc = ex("location_example.json")
    loc.update(country_code="NL", party_id=party, id=loc_id, country="NLD", postal_code="4381 AA",
               coordinates={"latitude": "51.4416", "longitude": "3.5734"}, time_zone="Europe/Amsterdam")
    for e in loc["evses"]:
        e["evse_id"] = e["evse_id"].replace("BE*BEC", f"NL*{party}")
    return loc


def tok(t: str, b64: bool = True) -> dict:
    return {"Authorization": "Token " + (base64.b64encode(t.encode()).decode() if b64 else t)}


@pytest.fixture()
def env(tmp_path):
    cfg = load_config(None)
    app = create_app(str(tmp_path / "ocpi.duckdb"), cfg)
    with TestClient(app) as c:
        s = app.state.store
        a, _ = auth.create_token(s, "operator", country_code="NL", party_id="EQU")
        b, _ = auth.create_token(s, "operator", country_code="NL", party_id="OTH")
        region, _ = auth.create_token(s, "region")
        yield c, app, tok(a), tok(b), tok(region, b64=False)


def post(c, h, body, v="2.2.1"):
    return c.post(f"/ocpi/{v}/receiver/cdrs", headers=h, json=body)


# -- versions -----------------------------------------------------------------------------------------------
def test_versions_and_details(env):
    c, app, A, _, _ = env
    r = c.get("/ocpi/versions", headers=A)
    assert r.status_code == 200 and r.json()["status_code"] == 1000
    assert [v["version"] for v in r.json()["data"]] == ["2.2.1", "2.1.1"]
    d = c.get("/ocpi/2.2.1", headers=A).json()["data"]
    mods = {(e["identifier"], e["role"]) for e in d["endpoints"]}
    assert {("cdrs", "RECEIVER"), ("locations", "RECEIVER"), ("credentials", "SENDER"), ("tariffs", "RECEIVER")} <= mods
    d11 = c.get("/ocpi/2.1.1", headers=A).json()["data"]
    assert "tariffs" not in {e["identifier"] for e in d11["endpoints"]}  # laadplan reads no 2.1.1 tariffs
    assert c.get("/ocpi/versions").status_code == 401
    assert c.get("/ocpi/3.0", headers=A).status_code == 404


def test_unknown_paths_methods_are_ocpi_errors(env):
    c, _, A, _, _ = env
    r = c.get("/ocpi/2.2.1/receiver/chargingprofiles/x", headers=A)
    assert r.status_code == 404 and r.json()["status_code"] == 2000 and "timestamp" in r.json()
    r = c.delete("/ocpi/2.2.1/receiver/cdrs", headers=A)
    assert r.status_code == 405 and r.json()["status_code"] == 2000
    r = c.put("/ocpi/2.1.1/receiver/tariffs/NL/EQU/T1", headers=A, json={})
    assert r.status_code == 404 and r.json()["status_code"] == 2000


# -- CDRs -------------------------------------------------------------------------------------------------
def test_cdr_push_lands_in_sessions_and_is_idempotent(env):
    c, app, A, _, _ = env
    r = post(c, A, cdr())
    assert r.status_code == 200, r.text
    assert r.json()["status_code"] == 1000
    assert r.headers["location"].endswith("/ocpi/2.2.1/receiver/cdrs/NL/EQU/C1")
    assert r.headers["x-request-id"]
    s = app.state.store
    row = s.query("SELECT * FROM sessions").iloc[0]
    assert row["session_id"] == "NL*EQU*C1" and row["energy_kwh"] == pytest.approx(15.342)
    # 21:39:09 -> 23:37:32 = 7103 s
    assert row["connected_h"] == pytest.approx(7103 / 3600)
    assert row["source_file"] == "ocpi-push:NL*EQU"
    runs = s.query("SELECT * FROM ingest_runs")
    assert len(runs) == 1 and runs["records_accepted"].iloc[0] == 1 and runs["source_file"].iloc[0] == "ocpi-push:NL*EQU"
    # the same push again: nothing changes (no new run, row, or quarantine row)
    r2 = post(c, A, cdr())
    assert r2.status_code == 200 and "unchanged" in r2.json()["status_message"]
    assert s.count("sessions") == 1 and s.count("ingest_runs") == 1 and s.count("quarantine") == 0
    # an older version does not replace the newer
    post(c, A, cdr(energy=99.0, updated="2025-06-29T23:50:00Z"))
    post(c, A, cdr(energy=50.0, updated="2025-06-29T23:45:00Z"))
    assert s.query("SELECT energy_kwh FROM sessions")["energy_kwh"].tolist() == [99.0]
    got = c.get(r.headers["location"].replace("http://127.0.0.1:8000", ""), headers=A)
    assert got.status_code == 200 and got.json()["data"]["total_energy"] == 99.0


def test_cdr_rejected_names_the_rule_and_is_quarantined_once(env):
    c, app, A, _, _ = env
    bad = cdr(energy=-1.0)
    r = post(c, A, bad)
    assert r.status_code == 400 and r.json()["status_code"] == 2001
    assert "LINDA-ENERGY-NEG" in r.json()["data"]["rule_codes"]
    s = app.state.store
    q = s.query("SELECT rule_code, source_file, record_id FROM quarantine")
    assert q.values.tolist() == [["LINDA-ENERGY-NEG", "ocpi-push:NL*EQU", "NL*EQU*C1"]]
    assert s.count("sessions") == 0
    post(c, A, bad)  # retry: the same quarantine row, no second one
    assert s.count("quarantine") == 1 and s.count("ingest_runs") == 1
    swapped = cdr("C2")
    swapped["cdr_location"]["coordinates"] = {"latitude": "3.5734", "longitude": "51.4416"}
    r = post(c, A, swapped)
    assert r.json()["data"]["rule_codes"] == ["LP-COORDS-NL"]


def test_pushed_and_file_records_share_the_rules(env, tmp_path):
    """The same CDR through the file reader and through the receiver: same verdict, same stored row."""
    from laadplan.ingest import reader

    c, app, A, _, _ = env
    bad = cdr("F1", energy=-2.0)
    good = cdr("F2")
    f = tmp_path / "cdrs.ndjson"
    f.write_text(json.dumps(bad) + "\n" + json.dumps(good) + "\n")
    s = app.state.store
    reader("cdrs")(s.cursor(), str(f), load_config(None))
    file_rules = s.query("SELECT rule_code FROM quarantine WHERE record_id = 'NL*EQU*F1'")["rule_code"].tolist()
    r = post(c, A, bad)
    assert r.json()["data"]["rule_codes"] == file_rules == ["LINDA-ENERGY-NEG"]
    n = s.count("sessions")
    post(c, A, good)  # already loaded from the file with the same last_updated: unchanged
    assert s.count("sessions") == n == 1


def test_cdr_bad_input(env):
    c, app, A, B, R = env
    assert c.post("/ocpi/2.2.1/receiver/cdrs", headers=A, content=b'{"id": ').status_code == 400
    r = c.post("/ocpi/2.2.1/receiver/cdrs", headers={**A, "Content-Type": "text/plain"}, content=b"{}")
    assert r.status_code == 415 and r.json()["status_code"] == 2001
    r = c.post("/ocpi/2.2.1/receiver/cdrs", headers=A, json=[cdr()])
    assert r.status_code == 400 and r.json()["status_code"] == 2001
    r = post(c, B, cdr())  # party EQU in the body, token of OTH
    assert r.status_code == 403 and "data" not in r.json()
    assert post(c, R, cdr()).status_code == 403  # the region reads, does not push
    assert post(c, {}, cdr()).status_code == 401
    assert post(c, tok("lp_000000000000_nope"), cdr()).status_code == 401
    big = cdr()
    big["padding"] = "x" * (load_config(None).server.max_body_bytes + 10)
    assert post(c, A, big).status_code == 413
    r = c.post("/ocpi/2.2.1/receiver/cdrs", headers=A, content=b"[" * 100_000 + b"]" * 100_000)
    assert r.status_code in (400, 413) and r.status_code != 500
    assert app.state.store.count("sessions") == 0


def test_expired_and_revoked_tokens(env):
    c, app, A, _, _ = env
    s = app.state.store
    t, row = auth.create_token(s, "operator", country_code="NL", party_id="EQU",
                               now=datetime.utcnow() - timedelta(days=400), days=1)
    assert post(c, tok(t), cdr()).status_code == 401
    t2, row2 = auth.create_token(s, "operator", country_code="NL", party_id="EQU")
    assert post(c, tok(t2), cdr()).status_code == 200
    auth.revoke_token(s, row2["token_id"])
    assert post(c, tok(t2), cdr("C9")).status_code == 401


# -- scope isolation --------------------------------------------------------------------------------------------
def test_operator_never_reads_another_partys_objects(env):
    c, app, A, B, R = env
    assert post(c, A, cdr("X1")).status_code == 200
    assert post(c, B, cdr("Y1", party="OTH")).status_code == 200
    assert c.put("/ocpi/2.2.1/receiver/locations/NL/OTH/L9", headers=B, json=location("OTH", "L9")).status_code == 200
    for path in ("/ocpi/2.2.1/receiver/cdrs/NL/OTH/Y1", "/ocpi/2.2.1/receiver/locations/NL/OTH/L9",
                 "/ocpi/2.2.1/receiver/locations/NL/OTH/L9/3256", "/ocpi/2.2.1/receiver/cdrs/nl/oth/Y1"):
        r = c.get(path, headers=A)
        assert r.status_code == 403 and "data" not in r.json(), path
    # the own id under the other party's URL does not exist; A's own records are visible to A
    assert c.get("/ocpi/2.2.1/receiver/cdrs/NL/EQU/Y1", headers=A).status_code == 404
    assert c.get("/ocpi/2.2.1/receiver/cdrs/NL/EQU/X1", headers=A).json()["data"]["id"] == "X1"
    assert c.get("/ocpi/2.2.1/receiver/cdrs/NL/OTH/Y1", headers=R).json()["data"]["id"] == "Y1"  # the region reads all


# -- locations ----------------------------------------------------------------------------------------------------
def test_location_put_patch_evse_connector(env):
    c, app, A, _, _ = env
    s = app.state.store
    base = "/ocpi/2.2.1/receiver/locations/NL/EQU/LOC1"
    assert c.get(base, headers=A).json()["status_code"] == 2003
    r = c.put(base, headers=A, json=location())
    assert r.status_code == 200, r.text
    assert s.count("locations") == 1 and s.count("evses") == 2 and s.count("connectors") == 3
    assert s.query("SELECT source_file FROM locations")["source_file"].iloc[0] == "ocpi-push:NL*EQU"
    # PATCH of an EVSE status (OCPI example) merges into the stored Location
    patch = ex("location_patch_example_status.json") | {"last_updated": "2025-01-01T00:00:00Z"}
    r = c.patch(base + "/3256", headers=A, json=patch)
    assert r.status_code == 200, r.text
    st = s.query("SELECT evse_uid, status FROM evses ORDER BY evse_uid").values.tolist()
    assert st == [["3256", "CHARGING"], ["3257", "RESERVED"]]
    assert c.get(base + "/3256", headers=A).json()["data"]["status"] == "CHARGING"
    # an older PATCH does not overwrite the newer
    old = {"status": "OUTOFORDER", "last_updated": "2024-01-01T00:00:00Z"}
    assert "not applied" in c.patch(base + "/3256", headers=A, json=old).json()["status_message"]
    assert s.query("SELECT status FROM evses WHERE evse_uid = '3256'")["status"].iloc[0] == "CHARGING"
    # PATCH without last_updated: 2001
    r = c.patch(base + "/3256", headers=A, json={"status": "AVAILABLE"})
    assert r.status_code == 400 and r.json()["status_code"] == 2001
    # PUT of a new EVSE (OCPI example), then of a connector with a power
    evse = ex("location_put_example_add_evse.json") | {"uid": "4000", "evse_id": "NL*EQU*E4000",
                                                       "last_updated": "2025-02-01T00:00:00Z"}
    assert c.put(base + "/4000", headers=A, json=evse).status_code == 200
    conn = {"id": "2", "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
            "max_voltage": 230, "max_amperage": 32, "max_electric_power": 22000, "last_updated": "2025-02-02T00:00:00Z"}
    assert c.put(base + "/4000/2", headers=A, json=conn).status_code == 200
    got = s.query("SELECT power_kw FROM connectors WHERE evse_uid = '4000' AND connector_id = '2'")
    assert got["power_kw"].iloc[0] == pytest.approx(22.0)
    assert s.count("evses") == 3
    # unknown location / EVSE: 2003
    r = c.put("/ocpi/2.2.1/receiver/locations/NL/EQU/NOPE/1", headers=A, json=evse)
    assert r.status_code == 404 and r.json()["status_code"] == 2003
    r = c.patch(base + "/9999", headers=A, json=patch)
    assert r.status_code == 404 and r.json()["status_code"] == 2003
    # a bad status: the Location is rejected as a file record would be (LP-STATUS), the stored one stays
    r = c.patch(base + "/3256", headers=A, json={"status": "BROKEN", "last_updated": "2025-03-01T00:00:00Z"})
    assert r.status_code == 400 and r.json()["data"]["rule_codes"] == ["LP-STATUS"]
    assert s.query("SELECT status FROM evses WHERE evse_uid = '3256'")["status"].iloc[0] == "CHARGING"
    # the id of the body must be the URL's; the party of the body the token's
    assert c.put(base, headers=A, json=location(loc_id="OTHER")).status_code == 400
    assert c.put(base, headers=A, json=location(party="OTH")).status_code == 403


# -- sessions and tariffs -------------------------------------------------------------------------------------------
def test_sessions_put_patch(env):
    c, app, A, _, _ = env
    s = app.state.store
    ses = ex("session_example_1_simple_start.json") | {"party_id": "EQU", "id": "S1"}
    url = "/ocpi/2.2.1/receiver/sessions/NL/EQU/S1"
    assert c.put(url, headers=A, json=ses).status_code == 200
    patch = ex("session_patch_example_total_cost.json") | {"kwh": 7.5, "last_updated": "2020-03-09T11:00:00Z"}
    assert c.patch(url, headers=A, json=patch).status_code == 200
    row = s.query("SELECT * FROM ocpi_sessions").iloc[0]
    assert row["session_id"] == "NL*EQU*S1" and row["energy_kwh"] == 7.5 and row["total_cost_eur"] == 0.60
    assert c.get(url, headers=A).json()["data"]["kwh"] == 7.5
    r = c.patch(url, headers=A, json={"kwh": -3, "last_updated": "2020-03-09T12:00:00Z"})
    assert r.status_code == 400 and r.json()["data"]["rule_codes"] == ["LINDA-ENERGY-NEG"]
    r = c.put("/ocpi/2.2.1/receiver/sessions/NL/EQU/S2", headers=A, json={"id": "S2", "last_updated": "2020-01-01T00:00:00Z"})
    assert r.status_code == 400 and r.json()["data"]["rule_codes"] == ["LP-MISSING"]
    assert c.patch("/ocpi/2.2.1/receiver/sessions/NL/EQU/NOPE", headers=A, json=patch).status_code == 404


def test_tariffs_put_delete(env):
    c, app, A, B, _ = env
    s = app.state.store
    t = ex("tariff_1_simple_2hour.json") | {"country_code": "NL", "party_id": "EQU", "id": "T1", "type": "REGULAR"}
    url = "/ocpi/2.2.1/receiver/tariffs/NL/EQU/T1"
    assert c.put(url, headers=A, json=t).status_code == 200
    assert s.query("SELECT time_price_eur_h_max FROM tariffs")["time_price_eur_h_max"].iloc[0] == 2.0
    assert c.get(url, headers=A).json()["data"]["id"] == "T1"
    assert c.delete(url, headers=B).status_code == 403
    assert c.delete(url, headers=A).json()["status_code"] == 1000
    assert s.count("tariffs") == 0 and s.count("tariff_versions") == 1
    assert c.delete(url, headers=A).status_code == 404
    bad = t | {"elements": []}
    assert c.put(url, headers=A, json=bad).json()["data"]["rule_codes"] == ["LP-MISSING"]


# -- credentials handshake ----------------------------------------------------------------------------------------
def _operator_api(token_b: str) -> httpx.MockTransport:
    """The operator's own versions endpoints, answering only to token B."""
    def handler(req: httpx.Request) -> httpx.Response:
        if req.headers.get("authorization") != "Token " + base64.b64encode(token_b.encode()).decode():
            return httpx.Response(401, json={"status_code": 2000})
        if req.url.path == "/ocpi/versions":
            return httpx.Response(200, json={"data": [{"version": "2.2.1", "url": "https://cpo.example/ocpi/2.2.1"}],
                                             "status_code": 1000})
        return httpx.Response(200, json={"data": {"version": "2.2.1", "endpoints": [
            {"identifier": "locations", "role": "SENDER", "url": "https://cpo.example/ocpi/2.2.1/locations"}]},
            "status_code": 1000})
    return httpx.MockTransport(handler)


def test_credentials_handshake_end_to_end(env):
    c, app, _, _, _ = env
    s = app.state.store
    token_a, _ = open_registration(s, "nl", "new")
    A = tok(token_a)
    token_b = "operator-secret-b"
    app.state.ocpi_transport = _operator_api(token_b)
    creds = {"token": token_b, "url": "https://cpo.example/ocpi/versions",
             "roles": [{"role": "CPO", "party_id": "NEW", "country_code": "NL", "business_details": {"name": "New CPO"}}]}
    assert c.get("/ocpi/versions", headers=A).status_code == 200  # token A may read the versions
    assert post(c, A, cdr(party="NEW")).status_code == 403  # but not push
    wrong = copy.deepcopy(creds)
    wrong["roles"][0]["party_id"] = "EQU"
    assert c.post("/ocpi/2.2.1/credentials", headers=A, json=wrong).status_code == 403
    r = c.post("/ocpi/2.2.1/credentials", headers=A, json=creds)
    assert r.status_code == 200, r.text
    token_c = r.json()["data"]["token"]
    assert token_c != token_a and r.json()["data"]["url"].endswith("/ocpi/versions")
    C = tok(token_c)
    party = s.query("SELECT status, token_b, version, business_name FROM ocpi_parties").iloc[0].tolist()
    assert party == ["registered", token_b, "2.2.1", "New CPO"]
    assert s.query("SELECT identifier, url FROM ocpi_endpoints").values.tolist() == [
        ["locations", "https://cpo.example/ocpi/2.2.1/locations"]]
    auth._CACHE._entries.clear()
    assert post(c, A, cdr(party="NEW")).status_code == 401  # token A is gone
    assert post(c, C, cdr(party="NEW")).status_code == 200  # token C pushes
    assert c.post("/ocpi/2.2.1/credentials", headers=C, json=creds).status_code == 405  # registered: POST refused
    assert c.get("/ocpi/2.2.1/credentials", headers=C).json()["data"]["token"] == token_c
    # PUT: new token C, the old one stops
    r = c.put("/ocpi/2.2.1/credentials", headers=C, json=creds)
    assert r.status_code == 200
    C2 = tok(r.json()["data"]["token"])
    auth._CACHE._entries.clear()
    assert post(c, C, cdr("N2", party="NEW")).status_code == 401
    assert post(c, C2, cdr("N2", party="NEW")).status_code == 200
    # DELETE: unregistered, token C revoked; PUT/DELETE then 405
    assert c.delete("/ocpi/2.2.1/credentials", headers=C2).json()["status_code"] == 1000
    auth._CACHE._entries.clear()
    assert post(c, C2, cdr("N3", party="NEW")).status_code == 401
    assert s.query("SELECT status FROM ocpi_parties")["status"].iloc[0] == "unregistered"
    # registering again needs a new token A
    token_a2, _ = open_registration(s, "NL", "NEW")
    assert c.delete("/ocpi/2.2.1/credentials", headers=tok(token_a2)).status_code == 405
    assert c.post("/ocpi/2.2.1/credentials", headers=tok(token_a2), json=creds).status_code == 200


def test_credentials_unusable_operator_api_is_3001(env):
    c, app, _, _, _ = env
    token_a, _ = open_registration(app.state.store, "NL", "BAD")
    app.state.ocpi_transport = _operator_api("another-token")
    creds = {"token": "b", "url": "https://cpo.example/ocpi/versions",
             "roles": [{"role": "CPO", "party_id": "BAD", "country_code": "NL"}]}
    r = c.post("/ocpi/2.2.1/credentials", headers=tok(token_a), json=creds)
    assert r.json()["status_code"] == 3001 and r.status_code == 400
    assert app.state.store.query("SELECT status FROM ocpi_parties")["status"].iloc[0] == "pending"
    r = c.post("/ocpi/2.2.1/credentials", headers=tok(token_a), json={"url": 3})
    assert r.status_code == 400 and r.json()["status_code"] == 2001


def test_ocpi_211_cdr_takes_the_tokens_party(env):
    c, app, A, _, _ = env
    c211 = {"id": "OLD1", "start_date_time": "2025-06-29T21:39:09Z", "stop_date_time": "2025-06-29T23:37:32Z",
            "auth_id": "DE8ACC12E46L89", "auth_method": "WHITELIST",
            "location": {"id": "LOC1", "coordinates": {"latitude": "51.4416", "longitude": "3.5734"},
                         "evses": [{"uid": "3256", "evse_id": "NL*EQU*E1", "connectors": [{"id": "1"}]}]},
            "currency": "EUR", "total_cost": 4.0, "total_energy": 15.342, "total_time": 1.973,
            "total_parking_time": 0.0, "tariffs": [{"id": "11"}], "last_updated": "2025-06-29T23:40:00Z",
            "charging_periods": [{"start_date_time": "2025-06-29T21:39:09Z",
                                  "dimensions": [{"type": "ENERGY", "volume": 15.342}]}]}
    r = post(c, A, c211, v="2.1.1")
    assert r.status_code == 200, r.text
    row = app.state.store.query("SELECT session_id, source FROM sessions").iloc[0].tolist()
    assert row == ["NL*EQU*OLD1", "ocpi-2.1.1"]


def test_session_duplicate_names_the_party(tmp_path):
    """Two Sessions with the same id and last_updated but other content in one batch: the second is
    LP-DUPLICATE, its quarantine row names the pushing party and says 'already received'."""
    from laadplan.config import RegionConfig
    from laadplan.ingest._records import JsonRecord
    from laadplan.ingest.ocpi_sessions import ingest_session_records
    from laadplan.store import Store

    ses = ex("session_example_1_simple_start.json") | {"party_id": "EQU", "id": "S9"}
    other = copy.deepcopy(ses) | {"kwh": ses["kwh"] + 1.5}
    recs = [JsonRecord(1, ses, json.dumps(ses)), JsonRecord(2, other, json.dumps(other))]
    with Store(str(tmp_path / "s.duckdb")) as s:
        r = ingest_session_records(s, recs, RegionConfig(), "push-1", party=("NL", "EQU"))
        assert (r.read, r.accepted, dict(r.by_rule)) == (2, 1, {"LP-DUPLICATE": 1})
        q = s.frame("quarantine").iloc[0]
        assert (q.position, q.record_id, q.party_id) == (2, "NL*EQU*S9", "EQU")
        assert q.message == ("push-1 record 2: session NL*EQU*S9 already received with the same last_updated "
                             "but different content")
        assert s.frame("ocpi_sessions").energy_kwh.tolist() == [pytest.approx(ses["kwh"])]
