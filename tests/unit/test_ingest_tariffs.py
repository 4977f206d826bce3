"""Tariffs reader: every official OCPI 2.2.1 tariff example, summaries computed independently, rules."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from laadplan.ingest import SourceError
from laadplan.ingest.tariffs import ingest_tariffs

SHARED = Path(os.environ.get("LAADPLAN_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))
EXAMPLES = SHARED / "ocpi_examples" / "ocpi_2.2.1"
NO_EXAMPLES = f"official OCPI examples not found at {EXAMPLES} (set LAADPLAN_SHARED_DATA)"
FILES = (sorted(EXAMPLES.glob("tariff_*.json")) if EXAMPLES.is_dir() else []) or [
    pytest.param(None, marks=pytest.mark.skip(reason=NO_EXAMPLES))]


def _expected(obj: dict) -> dict:
    """Brute-force maxima over every price component of every element."""
    comps = [pc for el in obj["elements"] for pc in el["price_components"]]

    def mx(kind, vat=False):
        if vat and any(pc.get("vat") is None and pc["price"] != 0 for pc in comps if pc["type"] == kind):
            return None  # VAT unknown
        v = [pc["price"] * (1 + pc.get("vat", 0) / 100) if vat else pc["price"] for pc in comps if pc["type"] == kind]
        return max(v) if v else None

    return {"energy_price_eur_kwh_max": mx("ENERGY"), "energy_price_eur_kwh_max_incl_vat": mx("ENERGY", True),
            "time_price_eur_h_max": mx("TIME"), "parking_price_eur_h_max": mx("PARKING_TIME"),
            "flat_price_eur_max": mx("FLAT")}


@pytest.mark.parametrize("path", FILES, ids=lambda p: getattr(p, "name", "none"))
def test_official_tariff_examples(store, cfg, path):
    obj = json.loads(path.read_text())
    r = ingest_tariffs(store, str(path), cfg)
    assert r.read == 1
    if "last_updated" not in obj:  # tariff_put_example: the PUT body omits it
        assert dict(r.by_rule) == {"LP-MISSING": 1}
        assert "last_updated" in store.frame("quarantine").message[0]
        return
    assert r.accepted == 1, store.frame("quarantine").message.tolist()
    row = store.frame("tariffs").iloc[0]
    assert (row.country_code, row.party_id, row.tariff_id, row.currency) == (
        obj["country_code"], obj["party_id"], obj["id"], obj["currency"])
    for k, v in _expected(obj).items():
        assert (pd.isna(row[k]) and v is None) or row[k] == pytest.approx(v), k
    assert json.loads(row.elements_json) == obj["elements"]
    if "end_date_time" in obj:
        assert row.end_utc == pd.Timestamp(obj["end_date_time"]).tz_convert(None)


def test_example_count():
    if not EXAMPLES.is_dir():
        pytest.skip(NO_EXAMPLES)
    assert len(FILES) == 19


T = {"country_code": "NL", "party_id": "ABC", "id": "T1", "currency": "EUR", "type": "AD_HOC_PAYMENT",
     "elements": [{"price_components": [{"type": "ENERGY", "price": 0.40, "vat": 21.0, "step_size": 1},
                                        {"type": "FLAT", "price": 0.35, "vat": 21.0, "step_size": 1}]},
                  {"price_components": [{"type": "ENERGY", "price": 0.50, "vat": 9.0, "step_size": 1},
                                        {"type": "PARKING_TIME", "price": 2.0, "vat": 21.0, "step_size": 60}],
                   "restrictions": {"start_time": "07:00", "end_time": "19:00",
                                    "day_of_week": ["MONDAY", "FRIDAY"]}}],
     "last_updated": "2026-05-01T00:00:00Z"}


def _file(tmp_path, objs, name="t.json"):
    p = tmp_path / name
    p.write_text(json.dumps({"data": objs, "status_code": 1000}))
    return str(p)


def test_summary_by_hand(store, cfg, tmp_path):
    ingest_tariffs(store, _file(tmp_path, [T]), cfg)
    row = store.frame("tariffs").iloc[0]
    assert row.energy_price_eur_kwh_max == pytest.approx(0.50)
    # incl. VAT: max(0.40 x 1.21, 0.50 x 1.09) = max(0.484, 0.545)
    assert row.energy_price_eur_kwh_max_incl_vat == pytest.approx(0.545)
    assert row.flat_price_eur_max == pytest.approx(0.35) and row.parking_price_eur_h_max == pytest.approx(2.0)
    assert pd.isna(row.time_price_eur_h_max) and row.vat_pct == 21.0 and row.type == "AD_HOC_PAYMENT"


@pytest.mark.parametrize("mutate,rule", [
    (lambda t: t.pop("currency"), "LP-MISSING"),
    (lambda t: t.update(elements=[]), "LP-MISSING"),
    (lambda t: t["elements"][0]["price_components"][0].update(price="cheap"), "LP-TYPE"),
    (lambda t: t["elements"][0]["price_components"][0].update(type="KWH"), "LP-TYPE"),
    (lambda t: t["elements"][1]["restrictions"].update(day_of_week=["FUNDAY"]), "LP-TYPE"),
    (lambda t: t.update(type="CHEAP"), "LP-TYPE"),
])
def test_rules(store, cfg, tmp_path, mutate, rule):
    bad = copy.deepcopy(T)
    bad["id"] = "BAD"
    mutate(bad)
    r = ingest_tariffs(store, _file(tmp_path, [T, bad]), cfg)
    assert r.accepted == 1 and dict(r.by_rule) == {rule: 1}
    assert store.frame("quarantine").record_id[0] == "BAD"


def test_malformed_duplicate_newer_and_idempotent(store, cfg, tmp_path):
    other = copy.deepcopy(T)
    other["currency"] = "USD"
    newer = copy.deepcopy(T)
    newer["last_updated"] = "2026-06-01T00:00:00Z"
    newer["elements"][1]["price_components"][0]["price"] = 0.45
    p = tmp_path / "t.ndjson"
    p.write_text("\n".join([json.dumps(T), '{"id": "broken', json.dumps(other), json.dumps(newer)]) + "\n")
    r = ingest_tariffs(store, str(p), cfg)
    assert (r.read, r.accepted) == (4, 2) and dict(r.by_rule) == {"LP-MALFORMED": 1, "LP-DUPLICATE": 1}
    dup = store.frame("quarantine", "rule_code = 'LP-DUPLICATE'").iloc[0]
    assert (dup.position, dup.record_id, dup.party_id) == (3, T["id"], T["party_id"])
    assert dup.message == (f"{p} record 3: tariff {T['id']} already read with the same last_updated but "
                           "different content")
    assert json.loads(dup.raw) == other
    # the newer version replaced the first: max(0.40, 0.45)
    assert store.frame("tariffs").energy_price_eur_kwh_max[0] == pytest.approx(0.45)
    before = store.frame("tariffs")
    r2 = ingest_tariffs(store, str(p), cfg)
    assert r2.upserts["tariffs"].inserted == 0 and r2.upserts["tariffs"].updated == 0
    pd.testing.assert_frame_equal(before, store.frame("tariffs"))


def test_url_and_missing(store, cfg, http_server):
    base, d = http_server
    (d / "tariffs.json").write_text(json.dumps([T]))
    assert ingest_tariffs(store, f"{base}/tariffs.json", cfg).accepted == 1
    with pytest.raises(SourceError, match="nothere"):
        ingest_tariffs(store, f"{base}/nothere.json", cfg)


def _newer(price: float = 0.45, last_updated: str = "2026-06-01T00:00:00Z") -> dict:
    """T with its second ENERGY component re-priced (max excl. VAT = max(0.40, price))."""
    t = copy.deepcopy(T)
    t["last_updated"] = last_updated
    t["elements"][1]["price_components"][0]["price"] = price
    return t


def test_history_same_file_twice_adds_no_version(store, cfg, tmp_path):
    p = _file(tmp_path, [T, _newer()])
    r1 = ingest_tariffs(store, p, cfg)
    assert r1.upserts["tariff_versions"].inserted == 2 and store.count("tariff_versions") == 2
    before = store.frame("tariff_versions")
    r2 = ingest_tariffs(store, p, cfg)
    assert (r2.upserts["tariff_versions"].inserted, r2.upserts["tariff_versions"].unchanged) == (0, 2)
    pd.testing.assert_frame_equal(before, store.frame("tariff_versions"))


def test_older_file_after_newer_keeps_tariffs_newest_and_history_both(store, cfg, tmp_path):
    ingest_tariffs(store, _file(tmp_path, [_newer()], "new.json"), cfg)
    r = ingest_tariffs(store, _file(tmp_path, [T], "old.json"), cfg)
    assert r.upserts["tariffs"].unchanged == 1 and r.upserts["tariff_versions"].inserted == 1
    cur = store.frame("tariffs")
    assert len(cur) == 1 and cur.last_updated_utc[0] == pd.Timestamp("2026-06-01")
    assert cur.energy_price_eur_kwh_max[0] == pytest.approx(0.45)
    hist = store.frame("tariff_versions").sort_values("last_updated_utc")
    assert hist.last_updated_utc.tolist() == [pd.Timestamp("2026-05-01"), pd.Timestamp("2026-06-01")]
    # 2026-05-01: max(0.40, 0.50); 2026-06-01: max(0.40, 0.45)
    assert hist.energy_price_eur_kwh_max.tolist() == pytest.approx([0.50, 0.45])
    assert [Path(f).name for f in hist.source_file] == ["old.json", "new.json"]


def test_duplicate_of_an_earlier_version_is_caught_in_the_history(store, cfg, tmp_path):
    """`tariffs` holds only the newest version: a changed copy of the older one is found in the history."""
    ingest_tariffs(store, _file(tmp_path, [T, _newer()], "a.json"), cfg)
    other = copy.deepcopy(T)
    other["currency"] = "USD"
    r = ingest_tariffs(store, _file(tmp_path, [other], "b.json"), cfg)
    assert r.accepted == 0 and dict(r.by_rule) == {"LP-DUPLICATE": 1}
    assert set(store.frame("tariff_versions").currency) == {"EUR"}


def test_tariff_without_type_is_accepted_with_a_linda_note(store, cfg, tmp_path):
    el = [{"price_components": [{"type": "ENERGY", "price": 0.3, "vat": 21, "step_size": 1}]}]
    base = {"country_code": "NL", "party_id": "ABC", "currency": "EUR", "elements": el,
            "last_updated": "2026-05-01T00:00:00Z"}
    f = tmp_path / "t.json"
    f.write_text(json.dumps([{**base, "id": "T1"}, {**base, "id": "T2", "type": "REGULAR"}, {**base, "id": "T3"}]))
    r = ingest_tariffs(store, str(f), cfg)
    assert (r.accepted, r.quarantined) == (3, 0)
    assert r.notes == ["LINDA-TARIFF-TYPE: 2 accepted with a note (tariff without type; e.g. 'T1')"]
