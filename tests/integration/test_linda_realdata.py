"""LINDA format rules on the real NDW feed (issue 11.8): counted with a note, never quarantined (LINDA
only warns), each count checked by an independent character-by-character reading of the CSV."""

from __future__ import annotations

import csv
import json

import pytest

from laadplan.ingest import reader

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def _pc_ok(pc: str) -> bool:
    s = pc.replace(" ", "").upper()
    return len(s) == 6 and s[:4].isdigit() and s[0] != "0" and s[4:].isascii() and s[4:].isalpha()


def _evse_id_ok(e: str) -> bool:
    if len(e) < 2 or not (e[:2].isascii() and e[:2].isalpha()):
        return False
    rest = e[2:]
    rest = rest[1:] if rest.startswith("*") else rest
    if len(rest) < 3 or not (rest[:3].isascii() and rest[:3].isalnum()):
        return False
    rest = rest[3:]
    rest = rest[1:] if rest.startswith("*") else rest
    tail = rest[1:]
    return rest[:1] in ("E", "e") and 1 <= len(tail) <= 30 and all(c.isascii() and (c.isalnum() or c == "*")
                                                                 for c in tail)


def _count(note_list, code):
    n = [x for x in note_list if x.startswith(code + ":")]
    return int(n[0].split(":")[1].split()[0].replace(",", "")) if n else 0


def test_linda_rules_on_the_real_ndw_feed(shared_data, store, cfg):
    nd = shared_data / "ndw_ocpi"
    with open(nd / "locations_zh_ze.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    no_op = sum(1 for r in rows if not r["operator"].strip())
    bad_pc = sum(1 for r in rows if r["postal_code"].strip() and not _pc_ok(r["postal_code"]))
    with open(nd / "connectors_zh_ze.csv", newline="") as f:
        evse_ids = {}
        for r in csv.DictReader(f):
            evse_ids.setdefault((r["location_id"], r["evse_uid"]), r["evse_id"])
    bad_id = sum(1 for e in evse_ids.values() if not _evse_id_ok(e))
    tariffs = json.loads((nd / "ocpi_tariffs_sample.json").read_text())
    no_type = sum(1 for t in tariffs if not t.get("type"))

    r1 = reader("locations")(store, str(nd / "locations_zh_ze.csv"), cfg)
    r2 = reader("locations")(store, str(nd / "connectors_zh_ze.csv"), cfg)
    r3 = reader("tariffs")(store, str(nd / "ocpi_tariffs_sample.json"), cfg)
    # nothing quarantined for a warning-level rule: only the feed's second copies of the same charge points
    # (LP-DUPLICATE, issue 10.1) are set aside
    assert set(r1.by_rule) <= {"LP-DUPLICATE"} and set(r2.by_rule) <= {"LP-DUPLICATE"} and r3.quarantined == 0
    assert _count(r1.notes, "LINDA-OPERATOR") == no_op == 11
    assert _count(r1.notes, "LINDA-POSTAL-CODE") == bad_pc and 0 < bad_pc < 100
    assert _count(r2.notes, "LINDA-EVSE-ID") == bad_id and 0 < bad_id < 200
    assert _count(r3.notes, "LINDA-TARIFF-TYPE") == no_type == 59
    # every valid postal code is stored in LINDA's form '1234 AB'
    pcs = store.query("SELECT postal_code FROM locations WHERE postal_code IS NOT NULL")["postal_code"]
    valid = pcs[pcs.map(_pc_ok)]
    assert len(valid) > 10_000  # of the 18,954 locations left once the feed's stale copies are set aside
    assert valid.str.fullmatch(r"[1-9][0-9]{3} [A-Z]{2}").all()
