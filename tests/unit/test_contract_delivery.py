"""Data delivery (rejected CDRs, tariff freshness), smart charging and realisation against plan."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from laadplan.config import RegionConfig
from laadplan.contract.delivery import (cdr_rejections, first_seen, smart_charging, tariff_freshness,
                                       undated_rejections)
from laadplan.contract.realisation import realisation, region_progress
from laadplan.contract.settings import ContractConfig


def _q(pos, rule, party, raw, ingested="2026-10-05"):
    return {"kind": "cdrs", "rule_code": rule, "source_file": "f.ndjson", "position": pos, "party_id": party,
            "raw": raw, "ingested_utc": pd.Timestamp(ingested)}


def test_rejected_cdrs_attributed_to_their_own_month_per_operator_and_rule():
    q = pd.DataFrame([
        _q(1, "LINDA-START-END", "AAA", json.dumps({"start_date_time": "2026-09-10T10:00:00Z"})),
        _q(1, "LINDA-TIME-MISMATCH", "AAA", json.dumps({"start_date_time": "2026-09-10T10:00:00Z"})),  # same record
        _q(2, "LINDA-FUTURE", "AAA", json.dumps({"start_date_time": "2031-01-01T00:00:00Z"})),  # -> undated
        _q(3, "LP-MALFORMED", "BBB", "{not json", ingested="2026-09-20"),  # -> undated (no readable start)
        _q(4, "LINDA-START-END", "BBB", json.dumps({"start_date_time": "2026-08-31T23:30:00Z"})),  # local 1 Sept
    ])
    s = pd.DataFrame({"party_id": ["AAA"] * 6 + ["BBB"] * 2,
                      "start_utc": pd.to_datetime(["2026-09-02"] * 6 + ["2026-09-03", "2026-10-03"])})
    per, by_rule = cdr_rejections(q, s, ["2026-09"])
    per = per.set_index("party_id")
    assert (per.loc["AAA", "accepted"], per.loc["AAA", "rejected"]) == (6, 1)
    assert (per.loc["BBB", "accepted"], per.loc["BBB", "rejected"]) == (1, 1)
    assert per.loc["*", "rejected_share"] == pytest.approx(2 / 9)
    assert per.loc["BBB", "rejected_share"] == pytest.approx(1 / 2)
    rules = by_rule.set_index("rule_code")["rejected"].to_dict()
    assert rules == {"LINDA-START-END": 2, "LINDA-TIME-MISMATCH": 1}
    # the records without a usable start belong to no month (they used to count in their ingestion month,
    # which made old sessions read this year "100 % rejected"); they are counted apart by ingestion time
    per10, _ = cdr_rejections(q, s, ["2026-10"])
    assert "AAA" not in set(per10["party_id"]) or per10.set_index("party_id").loc["AAA", "rejected"] == 0
    assert undated_rejections(q, pd.Timestamp("2026-09-01"), pd.Timestamp("2026-11-01")) == 2
    assert undated_rejections(q, pd.Timestamp("2026-09-01"), pd.Timestamp("2026-10-01")) == 1


def test_old_sessions_read_this_year_are_not_100_percent_rejected():
    # 2018 sessions read in 2026: 3 accepted (2018), 1 CSV row rejected (raw is CSV text, no readable start)
    q = pd.DataFrame([_q(9, "LINDA-START-END", None, "2018-03-01 10:00:00,2018-03-01 09:00:00,1000,1,1,3000",
                         ingested="2026-12-06")])
    s = pd.DataFrame({"party_id": [None] * 3, "start_utc": pd.to_datetime(["2018-03-01"] * 3)})
    per, _ = cdr_rejections(q, s, ["2026-12"])
    assert per.empty or per["rejected"].sum() == 0  # was: 1 rejected, 0 accepted -> 100 %
    per18, _ = cdr_rejections(q, s, ["2018-03"])
    assert per18.set_index("party_id").loc["*", "rejected_share"] == 0


def test_tariff_freshness_by_session():
    key = dict(country_code="NL", party_id="AAA", location_id="L", evse_uid="E")
    sessions = pd.DataFrame([
        {"session_id": "s1", **key, "connector_id": "1", "end_utc": pd.Timestamp("2026-09-01 10:00")},
        {"session_id": "s2", **key, "connector_id": "1", "end_utc": pd.Timestamp("2026-08-01 10:00")},
        {"session_id": "s3", **key, "connector_id": "2", "end_utc": pd.Timestamp("2026-09-01 10:00")},
    ])
    connectors = pd.DataFrame([{**key, "connector_id": "1", "tariff_ids": "T1"},
                               {**key, "connector_id": "2", "tariff_ids": "NOPE"}])
    tariffs = pd.DataFrame([{"country_code": "NL", "party_id": "AAA", "tariff_id": "T1",
                             "last_updated_utc": pd.Timestamp("2026-09-02 09:00")}])
    out = tariff_freshness(sessions, connectors, tariffs, ContractConfig(max_tariff_age_h=24)).set_index("session_id")
    # s1: tariff published 23 h after the session -> current; s2: a month later -> not; s3: unknown tariff
    assert out["tariff_current"].to_dict() == {"s1": True, "s2": False, "s3": False}


def test_first_seen_smart_charging_and_realisation():
    k = ["country_code", "party_id", "location_id", "evse_uid"]
    ev = pd.DataFrame([("NL", "A", "L1", "E1", "GM1", True, "2026-10-01"), ("NL", "A", "L1", "E2", "GM1", False, "2026-10-01"),
                       ("NL", "A", "L2", "E3", "GM2", None, "2026-09-15"), ("NL", "A", "L2", "E4", "GM2", True, "2025-03-01")],
                      columns=k + ["gm_code", "smart_charging_capable", "last_updated_utc"])
    ev["last_updated_utc"] = pd.to_datetime(ev["last_updated_utc"])
    st = pd.DataFrame([("NL", "A", "L1", "E1", "2025-11-01"), ("NL", "A", "L1", "E2", "2026-08-01"),
                       ("NL", "A", "L1", "E2", "2026-08-05")], columns=k + ["observed_utc"])
    st["observed_utc"] = pd.to_datetime(st["observed_utc"])
    fs = first_seen(ev, st)
    ev = ev.merge(fs.reset_index(), on=k)
    assert list(ev["first_seen_utc"].dt.strftime("%Y-%m-%d")) == ["2025-11-01", "2026-08-01", "2026-09-15", "2025-03-01"]
    sm = smart_charging(ev, pd.Timestamp("2026-07-01"))
    assert list(sm["new"]) == [False, True, True, False] and list(sm["smart"]) == [True, False, False, True]
    # E3's capability is not stated: it is not evidence of "cannot charge smart" (shares are over the known)
    assert list(sm["smart_known"]) == [True, True, False, True]
    plan = pd.DataFrame({"year": [2026, 2026, 2027], "gm_code": ["GM1", "GM2", "GM1"], "evses": [4, 1, 3]})
    real = realisation(ev[["gm_code", "first_seen_utc"]], plan).set_index(["year", "gm_code"])
    assert real.loc[(2026, "GM1"), "placed"] == 1 and real.loc[(2026, "GM1"), "realisation_share"] == 0.25
    assert real.loc[(2026, "GM2"), "placed"] == 1 and real.loc[(2027, "GM1"), "placed"] == 0
    assert real.loc[(2025, "GM1"), "placed"] == 1 and pd.isna(real.loc[(2025, "GM1"), "planned"])
    cfg = RegionConfig()
    cfg.contract.concession_target_evses = 100
    prog = region_progress(real.reset_index(), 2027, cfg)
    # concession starts 2026: 2 placed in 2026 + 0 in 2027; path after 2 of 5 placement years = 40
    assert prog["placed_cumulative"] == 2 and prog["target_path_evses"] == 40 and prog["on_path"] is False
    assert prog["planned_in_year"] == 3


def _loc(lid: str, evses: list[tuple[str, str]], party: str = "AAA") -> dict:
    """A minimal OCPI 2.2.1 Location with EVSEs (uid, last_updated)."""
    return {"country_code": "NL", "party_id": party, "id": lid, "publish": True, "address": "Kade 1",
            "city": "Rotterdam", "country": "NLD", "coordinates": {"latitude": "51.92", "longitude": "4.47"},
            "time_zone": "Europe/Amsterdam", "last_updated": max(lu for _, lu in evses),
            "evses": [{"uid": u, "evse_id": f"NL*{party}*E{u}", "status": "AVAILABLE", "last_updated": lu,
                       "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                                       "power_type": "AC_3_PHASE", "max_voltage": 230, "max_amperage": 16,
                                       "last_updated": lu}]} for u, lu in evses]}


def test_placed_counts_commissioned_evses_not_the_first_load(store, tmp_path):
    from laadplan.contract.run import compute_contract
    from laadplan.ingest import reader

    cfg = RegionConfig()
    cfg.region.concession_gm_codes = []
    ingest = reader("locations")
    # first load of the feed: two EVSEs, one updated after the concession start: both existing stock
    f1 = tmp_path / "v1.json"
    f1.write_text(json.dumps([_loc("L1", [("1", "2024-05-01T00:00:00Z"), ("2", "2026-08-15T00:00:00Z")])]))
    ingest(store, str(f1), cfg)
    res = compute_contract(store, cfg, "2026", write=False)
    assert res.summary["placed_in_year"] == 0 and res.summary["placed_cumulative"] == 0  # was 1 (EVSE 2)
    # second load: EVSE 1 updated again (not new), EVSE 3 new, commissioned 2026-09-10; a new operator's
    # first load (BBB) is its own baseline
    f2 = tmp_path / "v2.json"
    f2.write_text(json.dumps([_loc("L1", [("1", "2026-10-01T00:00:00Z"), ("2", "2026-08-15T00:00:00Z"),
                                          ("3", "2026-09-10T00:00:00Z")]),
                              _loc("L9", [("7", "2026-11-01T00:00:00Z")], party="BBB")]))
    ingest(store, str(f2), cfg)
    res = compute_contract(store, cfg, "2026", write=False)
    assert res.summary["placed_in_year"] == 1 and res.summary["placed_cumulative"] == 1
    assert res.summary["evses_new"] == 1
    c = store.frame("evse_commissioning").set_index("evse_uid")
    assert c["baseline"].to_dict() == {"1": True, "2": True, "3": False, "7": True}
    # a store filled by hand (no stamps): placed is n/a, not the whole stock
    store.con.execute("DELETE FROM evse_commissioning")
    res = compute_contract(store, cfg, "2026", write=False)
    assert res.summary["placed_in_year"] is None and res.summary["target_share"] is None
