"""The CBS 85236NED vehicle-count reader: layouts, bad rows, idempotence, sources."""

from __future__ import annotations

import pytest

from laadplan.ingest import SourceError, reader

HEADER = ("region_code,region_name,year,TotaalWegvoertuigen_1,Personenauto_2,Bestelauto_5,"
          "VrachtautoExclTrekkerVoorOplegger_6,TrekkerVoorOplegger_7,Bus_9,Motorfiets_13")
ROWS = [
    "GM0599,Rotterdam,2022,400000,290000,30000,2000,1500,300,20000",
    "GM0599,Rotterdam,2023,405000,292000,31000,2050,1550,310,20500",
    "PV28,Zuid-Holland (PV),2023,2432593,1645748,166919,9983,16545,1053,119696",
    "NL01,\"Nederland, totaal\",2023,13286925,8917107,989841,60811,85679,8756,690724",
    "XX12,Nowhere,2023,1,1,1,1,1,1,1",            # LP-VEHICLES-CODE
    "GM0518,Den Haag,twenty,1,1,1,1,1,1,1",       # LP-TYPE
    "GM0518,Den Haag,2023,1,-1,1,1,1,1,1",        # LP-VEHICLES-COUNT
    "GM0518,Den Haag,2023,1",                      # LP-MALFORMED
    ",Den Haag,2023,1,1,1,1,1,1,1",               # LP-MISSING
    "GM0599,Rotterdam,2023,405000,292000,31000,2050,1550,310,20500",  # identical repeat: accepted once
    "GM0599,Rotterdam,2023,1,1,1,1,1,1,1",        # LP-DUPLICATE
]


def test_region_layout_with_bad_rows(store, cfg, tmp_path):
    p = tmp_path / "v.csv"
    p.write_text(HEADER + "\n" + "\n".join(ROWS) + "\n", encoding="utf-8")
    r = reader("vehicles")(store, str(p), cfg)
    assert r.read == 11
    assert r.accepted + r.quarantined == r.read
    assert dict(r.by_rule) == {"LP-VEHICLES-CODE": 1, "LP-TYPE": 1, "LP-VEHICLES-COUNT": 1, "LP-MALFORMED": 1,
                               "LP-MISSING": 1, "LP-DUPLICATE": 1}
    vc = store.frame("vehicle_counts").set_index(["area_code", "year"])
    assert len(vc) == 4
    assert vc.loc[("GM0599", 2023), "cars"] == 292000 and vc.loc[("GM0599", 2023), "tractor_units"] == 1550
    assert vc.loc[("PV28", 2023), "area_level"] == "province"
    assert vc.loc[("NL01", 2023), "area_level"] == "country" and vc.loc[("NL01", 2023), "name"] == "Nederland, totaal"
    q = store.frame("quarantine", "kind = 'vehicles'")
    assert set(q["position"]) == {6, 7, 8, 9, 10, 12}
    # idempotent
    r2 = reader("vehicles")(store, str(p), cfg)
    assert r2.upserts["vehicle_counts"].inserted == 0 and store.count("vehicle_counts") == 4
    assert store.count("quarantine", "kind = 'vehicles'") == 6


def test_pc4_layout_over_http(store, cfg, http_server):
    base, d = http_server
    (d / "pc4.csv").write_text(
        "pc4_code,name,gm_code,province,year,TotaalWegvoertuigen_1,Personenauto_2,Bestelauto_5,"
        "VrachtautoExclTrekkerVoorOplegger_6,TrekkerVoorOplegger_7,Bus_9,Motorfiets_13,gm_code_raw\n"
        "PC3011,Rotterdam,GM0599,Zuid-Holland,2023,900,600,80,3,1,0,40,GM0599\n", encoding="utf-8")
    r = reader("vehicles")(store, f"{base}/pc4.csv", cfg)
    assert (r.read, r.accepted) == (1, 1)
    row = store.frame("vehicle_counts").iloc[0]
    assert (row["area_code"], row["area_level"], row["gm_code"], row["province"]) == ("3011", "pc4", "GM0599",
                                                                                      "Zuid-Holland")


def test_unreadable_sources_raise_source_error(store, cfg, tmp_path):
    with pytest.raises(SourceError, match="file not found"):
        reader("vehicles")(store, str(tmp_path / "missing.csv"), cfg)
    p = tmp_path / "other.csv"
    p.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(SourceError, match="other.csv: not a CBS 85236NED vehicle CSV"):
        reader("vehicles")(store, str(p), cfg)
    e = tmp_path / "empty.csv"
    e.write_text("", encoding="utf-8")
    with pytest.raises(SourceError, match="empty file"):
        reader("vehicles")(store, str(e), cfg)
