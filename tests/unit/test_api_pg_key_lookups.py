"""Lookups of one location by its key in the read API on PostgreSQL go out as IN lists: DuckDB sends a one-value
filter as ``= 'v' COLLATE "C"``, which PostgreSQL cannot answer from the key index (see laadplan.store.in_list).
Checked on the statements DuckDB sends (``pg_debug_show_queries``) and on the answer."""

from __future__ import annotations

from fastapi.testclient import TestClient

from laadplan.api import auth
from laadplan.api.app import create_app
from laadplan.config import RegionConfig


def test_location_by_key_reaches_the_key_indexes_on_postgresql(pg_url, capfd):
    app = create_app(pg_url, RegionConfig())
    with TestClient(app) as c:
        s = app.state.store
        s.con.execute("INSERT INTO locations (location_id, country_code, party_id, gm_code, lat, lon) "
                      "VALUES ('L''1', 'NL', 'ABC', 'GM0599', 51.9, 4.5), ('L2', 'NL', 'ABC', 'GM0599', 51.8, 4.4)")
        s.con.execute("INSERT INTO evses (country_code, party_id, location_id, evse_uid, status) "
                      "VALUES ('NL', 'ABC', 'L''1', 'E1', 'AVAILABLE'), ('NL', 'ABC', 'L2', 'E2', 'CHARGING')")
        token, _ = auth.create_token(s, "region")
        s.con.execute("SET pg_debug_show_queries = true")
        capfd.readouterr()
        r = c.get("/api/v1/locations/NL/ABC/L'1", headers={"Authorization": f"Token {token}"})
        cap = capfd.readouterr()
        s.con.execute("SET pg_debug_show_queries = false")
    assert r.status_code == 200, r.text
    props = r.json()["properties"]
    assert props["location_id"] == "L'1" and [e["evse_uid"] for e in props["evses"]] == ["E1"]
    sent = [ln for ln in (cap.out + cap.err).splitlines() if "COPY (SELECT" in ln]
    for table in ("locations", "evses"):
        mine = [ln for ln in sent if f'FROM "public"."{table}" WHERE' in ln]
        assert mine, (table, sent)
        assert all('COLLATE "C"' not in ln and '"location_id" IN (' in ln for ln in mine), mine
