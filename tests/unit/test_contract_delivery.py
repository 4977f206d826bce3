"""Data delivery (rejected CDRs, tariff freshness), smart charging and realisation against plan."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from laadplan.config import RegionConfig
from laadplan.contract.delivery import cdr_rejections, first_seen, smart_charging, tariff_freshness
from laadplan.contract.realisation import realisation, region_progress
from laadplan.contract.settings import ContractConfig


def _q(pos, rule, party, raw, ingested="2026-10-05"):
    return {"kind": "cdrs", "rule_code": rule, "source_file": "f.ndjson", "position": pos, "party_id": party,
            "raw": raw, "ingested_utc": pd.Timestamp(ingested)}


def test_rejected_cdrs_attributed_to_their_own_month_per_operator_and_rule():
    q = pd.DataFrame([
        _q(1, "LINDA-START-END", "AAA", json.dumps({"start_date_time": "2026-09-10T10:00:00Z"})),
        _q(1, "LINDA-TIME-MISMATCH", "AAA", json.dumps({"start_date_time": "2026-09-10T10:00:00Z"})),  # same record
        _q(2, "LINDA-FUTURE", "AAA", json.dumps({"start_date_time": "2031-01-01T00:00:00Z"})),  # -> ingest month
        _q(3, "LP-MALFORMED", "BBB", "{not json", ingested="2026-09-20"),  # -> ingest month (September)
        _q(4, "LINDA-START-END", "BBB", json.dumps({"start_date_time": "2026-08-31T23:30:00Z"})),  # local 1 Sept
    ])
    s = pd.DataFrame({"party_id": ["AAA"] * 6 + ["BBB"] * 2,
                      "start_utc": pd.to_datetime(["2026-09-02"] * 6 + ["2026-09-03", "2026-10-03"])})
    per, by_rule = cdr_rejections(q, s, ["2026-09"])
    per = per.set_index("party_id")
    assert (per.loc["AAA", "accepted"], per.loc["AAA", "rejected"]) == (6, 1)
    assert (per.loc["BBB", "accepted"], per.loc["BBB", "rejected"]) == (1, 2)
    assert per.loc["*", "rejected_share"] == pytest.approx(3 / 10)
    assert per.loc["BBB", "rejected_share"] == pytest.approx(2 / 3)
    rules = by_rule.set_index("rule_code")["rejected"].to_dict()
    assert rules == {"LINDA-START-END": 2, "LINDA-TIME-MISMATCH": 1, "LP-MALFORMED": 1}
    per10, _ = cdr_rejections(q, s, ["2026-10"])
    assert per10.set_index("party_id").loc["AAA", "rejected"] == 1  # the future-dated one, by ingestion


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
