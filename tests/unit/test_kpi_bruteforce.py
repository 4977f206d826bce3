"""Occupancy and hour-of-week occupancy against a minute-by-minute brute force in plain Python.

Random sessions with minute-resolution times (seeded) over windows that contain a DST change, some
starting before or ending after the window. The brute force walks every UTC minute of the local
period, labels it with its local hour of the week through ``zoneinfo`` and counts connected minutes.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from laadplan.kpi import hour_of_week_occupancy, usage_kpis
from laadplan.kpi.calendar import how_label

TZ = ZoneInfo("Europe/Amsterdam")


def _utc_midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=TZ).astimezone(timezone.utc).replace(tzinfo=None)


def brute_force(sessions: list[tuple[str, datetime, datetime]], evses: list[str], first: date, last: date):
    t0, t1 = _utc_midnight(first), _utc_midnight(last + timedelta(days=1))
    n_min = int((t1 - t0).total_seconds() // 60)
    labels = []
    for m in range(n_min):
        loc = (t0 + timedelta(minutes=m)).replace(tzinfo=timezone.utc).astimezone(TZ)
        labels.append(loc.weekday() * 24 + loc.hour)
    minutes_per_label = Counter(labels)
    lab = np.array(labels)
    t = np.array([t0 + timedelta(minutes=m) for m in range(n_min)], dtype="datetime64[us]")
    connected = Counter()  # label -> connected minutes over all EVSEs
    per_evse = Counter()
    for evse, a, b in sessions:  # every minute, vectorised over the minutes of the period
        on = (t >= np.datetime64(a, "us")) & (t < np.datetime64(b, "us"))
        for w, k in zip(*np.unique(lab[on], return_counts=True)):
            connected[int(w)] += int(k)
        per_evse[evse] += int(on.sum())
    n = len(evses)
    occ = sum(connected.values()) / (n * n_min)
    how = {how_label(w): connected[w] / (n * k) for w, k in minutes_per_label.items()}
    per_evse_occ = {e: per_evse[e] / n_min for e in evses}
    return occ, how, per_evse_occ, n_min / 60


@pytest.mark.parametrize("seed,first,last,max_h", [
    (1, date(2026, 10, 22), date(2026, 10, 28), 30),   # autumn change on Sun 25 Oct
    (2, date(2026, 3, 26), date(2026, 4, 1), 30),      # spring change on Sun 29 Mar
    (3, date(2026, 1, 30), date(2026, 2, 3), 30),      # month boundary, no change
    (4, date(2026, 10, 12), date(2026, 11, 4), 400),   # sessions longer than a week (and than 14 days) over a change
])
def test_occupancy_matches_minute_brute_force(store, cfg, seed, first, last, max_h):
    rng = np.random.default_rng(seed)
    evses = ["E1", "E2", "E3"]
    t0 = _utc_midnight(first) - timedelta(hours=20)
    span_min = int((_utc_midnight(last + timedelta(days=1)) - t0).total_seconds() // 60) + 1200
    sessions = []
    for _ in range(40):
        a = t0 + timedelta(minutes=int(rng.integers(0, span_min)))
        b = a + timedelta(minutes=int(rng.integers(1, max_h * 60)))
        sessions.append((str(rng.choice(evses)), a, b))
    store.upsert("locations", pd.DataFrame([dict(country_code="NL", party_id="P", location_id="L",
                                                 gm_code="GM0001")]))
    store.upsert("evses", pd.DataFrame([dict(country_code="NL", party_id="P", location_id="L", evse_uid=e,
                                             status="AVAILABLE") for e in evses]))
    store.upsert("sessions", pd.DataFrame([dict(session_id=f"s{i}", country_code="NL", party_id="P", location_id="L",
                                                evse_uid=e, start_utc=a, end_utc=b, energy_kwh=1.0)
                                           for i, (e, a, b) in enumerate(sessions)]))
    occ, how, per_evse, hours = brute_force(sessions, evses, first, last)

    reg = usage_kpis(store, cfg, "region", first, last).iloc[0]
    assert reg["hours"] == pytest.approx(hours)
    assert reg["occupancy_share"] == pytest.approx(occ, rel=1e-9)
    assert reg["peak_how_occupancy_share"] == pytest.approx(max(how.values()), rel=1e-9)

    ev = usage_kpis(store, cfg, "evse", first, last).set_index("evse_uid")["occupancy_share"]
    for e in evses:
        assert ev[e] == pytest.approx(per_evse[e], rel=1e-9, abs=1e-12)

    prof = hour_of_week_occupancy(store, cfg, "region", first, last).set_index("how_label")["occupancy_share"]
    assert set(prof.index) == set(how)
    for label, v in how.items():
        assert prof[label] == pytest.approx(v, rel=1e-9, abs=1e-12), label


def _random_sessions(store, seed: int, n_loc: int, n: int, t0: datetime, start_min: tuple[int, int],
                     max_dur_min: int, n_users: int, partyless_every: int = 0, userless_every: int = 0) -> None:
    """Locations, two EVSEs per location and ``n`` random sessions (seeded; starts ``start_min`` minutes
    from ``t0``); every ``partyless_every``-th session without a party, every ``userless_every``-th without
    a user (0: none)."""
    rng = np.random.default_rng(seed)
    store.upsert("locations", pd.DataFrame([dict(country_code="NL", party_id="P", location_id=f"L{i}",
                                                 gm_code=f"GM000{i % 3}") for i in range(n_loc)]))
    store.upsert("evses", pd.DataFrame([dict(country_code="NL", party_id="P", location_id=f"L{i % n_loc}",
                                             evse_uid=f"E{i}", status="AVAILABLE") for i in range(2 * n_loc)]))
    rows = []
    for i in range(n):
        a = t0 + timedelta(minutes=int(rng.integers(*start_min)))
        rows.append(dict(session_id=f"s{i}", country_code="NL",
                         party_id=None if partyless_every and i % partyless_every == 0 else "P",
                         location_id=f"L{i % (2 * n_loc) % n_loc}", evse_uid=f"E{i % (2 * n_loc)}", start_utc=a,
                         end_utc=a + timedelta(minutes=int(rng.integers(5, max_dur_min))),
                         energy_kwh=float(rng.integers(1, 40)), charging_h=float(rng.random() * 5),
                         user_id=None if userless_every and i % userless_every == 0
                         else f"u{rng.integers(0, n_users)}"))
    store.upsert("sessions", pd.DataFrame(rows))


def test_chunking_does_not_change_results(store, cfg, monkeypatch):
    """The split processes sessions in chunks per start month; tiny chunks must give the same figures."""
    import laadplan.kpi.usage as U

    _random_sessions(store, 11, 6, 300, datetime(2026, 2, 20), (0, 60 * 24 * 60), 3000, 40)
    ref = usage_kpis(store, cfg, "location", "2026-02-20", "2026-04-20", period="month")
    monkeypatch.setattr(U, "SPLIT_CHUNK", 7)
    small = usage_kpis(store, cfg, "location", "2026-02-20", "2026-04-20", period="month")
    pd.testing.assert_frame_equal(ref, small, check_exact=False, rtol=1e-12)
    assert ref["sessions"].sum() == 300 and ref["peak_how_occupancy_share"].max() > 0


@pytest.mark.parametrize("period,level", [("month", "evse"), ("range", "evse"), ("range", "region"),
                                          ("month", "gemeente")])
def test_threads_and_groups_do_not_change_results(store, cfg, monkeypatch, period, level):
    """Sessions are summed in groups (per start period and key range) in parallel threads; one thread with
    whole chunks must give the same figures as three threads with many small groups and chunks."""
    import laadplan.kpi.usage as U

    _random_sessions(store, 5, 8, 400, datetime(2026, 9, 25), (-3000, 60 * 24 * 70), 4000, 30,
                     partyless_every=9, userless_every=7)
    monkeypatch.setattr(U, "THREADS", 1)
    ref = usage_kpis(store, cfg, level, "2026-10-01", "2026-11-30", period=period)
    monkeypatch.setattr(U, "THREADS", 3)
    monkeypatch.setattr(U, "SPLIT_CHUNK", 5)
    monkeypatch.setattr(U, "KEYS_PER_TASK", 2)
    par = usage_kpis(store, cfg, level, "2026-10-01", "2026-11-30", period=period)
    pd.testing.assert_frame_equal(ref, par, check_exact=False, rtol=1e-12)
    assert ref["sessions"].sum() > 300 and ref["unique_users"].max() > 1
    assert ref["peak_how_occupancy_share"].max() > 0
