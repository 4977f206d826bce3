"""The 10,188 real Dutch sessions of 2018 (ElaadNL layout): every bad row quarantined by its rule.

The expected counts per rule are computed here independently: row by row with :mod:`zoneinfo` (not
pandas' tz_localize) and plain Python arithmetic on the CSV text.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from laadplan.ingest.cdrs import ingest_cdrs

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

AMS = ZoneInfo("Europe/Amsterdam")


def _utc_readings(local: datetime) -> list[datetime]:
    """UTC instants a local wall time can mean: two for the repeated autumn hour, else one.

    A wall time in the spring gap gets the offset before the jump (zoneinfo's fold=0).
    """
    out = []
    for fold in (0, 1):
        aware = local.replace(tzinfo=AMS, fold=fold)
        back = aware.astimezone(timezone.utc).astimezone(AMS).replace(tzinfo=None)
        if back != local and fold == 1:
            continue  # nonexistent time: only the fold=0 reading
        out.append(aware.astimezone(timezone.utc).replace(tzinfo=None))
    return sorted(set(out), key=out.index)


def _expected(path, cfg):
    v = cfg.validation
    counts: Counter = Counter()
    bad_rows = 0
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        broken = set()
        try:
            s_local = datetime.strptime(r["Started"], "%Y-%m-%d %H:%M:%S")
            e_local = datetime.strptime(r["Ended"], "%Y-%m-%d %H:%M:%S")
        except ValueError:
            counts["LP-TYPE"] += 1
            bad_rows += 1
            continue
        energy = float(r["TotalEnergy"]) / 1000
        conn, charge, power_w = float(r["ConnectedTime"]), float(r["ChargeTime"]), float(r["MaxPower"])
        # pick the (start, end) reading closest to ConnectedTime; ties -> the earliest readings (summer time)
        best = None
        for s in _utc_readings(s_local):
            for e in _utc_readings(e_local):
                err = abs((e - s).total_seconds() / 3600 - conn)
                if best is None or err < best[0]:
                    best = (err, s, e)
        _, s, e = best
        hours = (e - s).total_seconds() / 3600
        if energy < 0:
            broken.add("LINDA-ENERGY-NEG")
        if s < datetime(2009, 1, 1) or e < datetime(2009, 1, 1):
            broken.add("LINDA-BEFORE-2009")
        if s >= e:
            broken.add("LINDA-START-END")
        if conn < 0 or charge < 0:
            broken.add("LINDA-TIME-NEG")
        if abs(conn - hours) > v.total_time_tolerance_h:
            broken.add("LINDA-TIME-MISMATCH")
        if charge > conn + 1e-9:
            broken.add("LP-CHARGE-GT-CONNECTED")
        limit = power_w / 1000 if power_w > 0 else v.default_max_power_kw
        if s < e and energy > limit * hours * v.energy_power_margin:
            broken.add("LP-ENERGY-POWER")
        counts.update(broken)
        bad_rows += bool(broken)
    return len(rows), bad_rows, counts


def test_real_sessions_load_with_bad_rows_quarantined_by_rule(store, cfg, shared_data):
    path = shared_data / "sessions_nl" / "laadpaaldata_2018.csv"
    n_rows, n_bad, expected = _expected(path, cfg)
    res = ingest_cdrs(store, str(path), cfg)
    assert n_rows == 10_188
    assert (res.read, res.quarantined, res.accepted) == (n_rows, n_bad, n_rows - n_bad)
    assert dict(res.by_rule) == dict(expected)
    # the quirks documented in PROVENANCE.txt
    assert res.by_rule["LINDA-TIME-NEG"] == 10
    assert res.by_rule["LP-CHARGE-GT-CONNECTED"] == 2
    assert store.count("sessions") == n_rows - n_bad
    q = store.frame("quarantine")
    assert q.groupby("position").ngroups == n_bad
    s = store.frame("sessions")
    assert s.start_utc.min() >= datetime(2017, 12, 31, 22) and s.end_utc.max() < datetime(2019, 1, 2)
    assert (s.connected_h > 0).all() and (s.energy_kwh >= 0).all()
    # idempotent
    res2 = ingest_cdrs(store, str(path), cfg)
    assert res2.upserts["sessions"].inserted == 0 and store.count("sessions") == n_rows - n_bad
