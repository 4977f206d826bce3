"""Usage KPIs against values worked out by hand on small constructed stores.

Times in the comments are local (Europe/Amsterdam); CET = UTC+1 (winter), CEST = UTC+2 (summer).
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from laadplan.kpi import hour_of_week_occupancy, usage_kpis

APPROX = dict(rel=1e-9, abs=1e-12)


def put(store, evses, sessions, locations=None):
    """evses: (location_id, evse_uid[, status]); sessions: dicts with at least location_id/evse_uid/start/end."""
    locs = locations or sorted({(e[0], "GM0599") for e in evses})
    store.upsert("locations", pd.DataFrame([dict(country_code="NL", party_id="ABC", location_id=l, gm_code=g,
                                                 bu_code=f"BU{g[2:]}01" if g else None) for l, g in locs]))
    store.upsert("evses", pd.DataFrame([dict(country_code="NL", party_id="ABC", location_id=e[0], evse_uid=e[1],
                                             status=e[2] if len(e) > 2 else "AVAILABLE") for e in evses]))
    rows = []
    for i, s in enumerate(sessions):
        r = dict(session_id=f"S{i}", country_code="NL", party_id="ABC", energy_kwh=10.0, charging_h=None,
                 user_id=f"u{i}")
        r.update(s)
        r["start_utc"], r["end_utc"] = r.pop("start"), r.pop("end")
        rows.append(r)
    if rows:
        store.upsert("sessions", pd.DataFrame(rows))


def one(df, **keys):
    m = pd.Series(True, index=df.index)
    for k, v in keys.items():
        m &= df[k] == v
    assert m.sum() == 1, f"expected one row for {keys}, got {m.sum()}"
    return df[m].iloc[0]


def test_session_across_month_boundary_is_split(store, cfg):
    # Sat 31 Jan 21:00 -> Sun 1 Feb 03:00 local = 20:00 -> 02:00 UTC: 3 h in January, 3 h in February.
    # Charging 4 h from plug-in: 3 h in Jan, 1 h in Feb; 12 kWh at constant power -> 9 kWh / 3 kWh.
    put(store, [("L1", "E1"), ("L1", "E2")],
        [dict(location_id="L1", evse_uid="E1", start=datetime(2026, 1, 31, 20), end=datetime(2026, 2, 1, 2),
              energy_kwh=12.0, charging_h=4.0)])
    df = usage_kpis(store, cfg, "evse", "2026-01-01", "2026-02-28", period="month")
    jan = one(df, evse_uid="E1", period_start=date(2026, 1, 1))
    feb = one(df, evse_uid="E1", period_start=date(2026, 2, 1))
    assert jan["period_end"] == date(2026, 1, 31) and feb["period_end"] == date(2026, 2, 28)
    assert (jan["hours"], feb["hours"], jan["days"], feb["days"]) == (744, 672, 31, 28)
    assert jan["connected_h"] == pytest.approx(3.0) and feb["connected_h"] == pytest.approx(3.0)
    assert jan["occupancy_share"] == pytest.approx(3 / 744, **APPROX)
    assert feb["occupancy_share"] == pytest.approx(3 / 672, **APPROX)
    assert jan["charging_h"] == pytest.approx(3.0) and feb["charging_h"] == pytest.approx(1.0)
    assert jan["charging_share"] == pytest.approx(1.0) and feb["charging_share"] == pytest.approx(1 / 3)
    assert jan["energy_kwh"] == pytest.approx(9.0) and feb["energy_kwh"] == pytest.approx(3.0)
    assert jan["kwh_per_evse_day"] == pytest.approx(9 / 31) and feb["kwh_per_evse_day"] == pytest.approx(3 / 28)
    # the session is counted once, in the month it starts
    assert (jan["sessions"], feb["sessions"]) == (1, 0)
    assert jan["kwh_per_session"] == pytest.approx(12.0) and pd.isna(feb["kwh_per_session"])
    assert jan["sessions_per_evse_day"] == pytest.approx(1 / 31)
    # January has 5 Saturdays: Sat 21:00 occupancy 1/5; February has 4 Sundays: Sun 00:00 -> 1/4
    assert jan["peak_how_occupancy_share"] == pytest.approx(0.2) and jan["peak_how"] == "Sat 21:00"
    assert feb["peak_how_occupancy_share"] == pytest.approx(0.25) and feb["peak_how"] == "Sun 00:00"
    # the location halves everything per EVSE (2 EVSEs, one idle)
    loc = usage_kpis(store, cfg, "location", "2026-01-01", "2026-02-28", period="month")
    lj = one(loc, period_start=date(2026, 1, 1))
    assert lj["n_evses"] == 2 and lj["occupancy_share"] == pytest.approx(3 / (2 * 744), **APPROX)
    assert lj["peak_how_occupancy_share"] == pytest.approx(0.1)
    # whole range: 6 h over 59 days
    rng = one(usage_kpis(store, cfg, "evse", "2026-01-01", "2026-02-28"), evse_uid="E1")
    assert rng["hours"] == 1416 and rng["occupancy_share"] == pytest.approx(6 / 1416, **APPROX)


def test_spring_forward_day_has_23_hours(store, cfg):
    # Sun 29 Mar 2026: 02:00 CET jumps to 03:00 CEST. Session 01:00 CET -> 04:00 CEST = 00:00 -> 02:00 UTC:
    # 2 real hours, one in local hour 01:00 and one in local hour 03:00 (there is no 02:00 that day).
    put(store, [("L1", "E1")], [dict(location_id="L1", evse_uid="E1", start=datetime(2026, 3, 29, 0),
                                     end=datetime(2026, 3, 29, 2))])
    r = one(usage_kpis(store, cfg, "evse", "2026-03-29", "2026-03-29"), evse_uid="E1")
    assert r["hours"] == 23 and r["days"] == 1
    assert r["connected_h"] == pytest.approx(2.0)
    assert r["occupancy_share"] == pytest.approx(2 / 23, **APPROX)
    assert r["peak_how_occupancy_share"] == pytest.approx(1.0) and r["peak_how"] == "Sun 01:00"
    prof = hour_of_week_occupancy(store, cfg, "evse", "2026-03-29", "2026-03-29")
    assert len(prof) == 23 and "Sun 02:00" not in set(prof["how_label"])
    got = prof.set_index("how_label")["connected_h"]
    assert got["Sun 01:00"] == pytest.approx(1.0) and got["Sun 03:00"] == pytest.approx(1.0)
    assert got.drop(["Sun 01:00", "Sun 03:00"]).abs().max() == 0


def test_fall_back_day_has_25_hours(store, cfg):
    # Sun 25 Oct 2026: 03:00 CEST falls back to 02:00 CET, local 02:00 happens twice.
    # Session 01:30 CEST -> 02:30 CET = Sat 24 Oct 23:30 -> Sun 25 Oct 01:30 UTC: 2 real hours.
    # Local 01:00 (23:00-00:00 UTC): 0.5 h of 1 h; local 02:00 (00:00-02:00 UTC, two hours): 1.5 h of 2 h.
    put(store, [("L1", "E1")], [dict(location_id="L1", evse_uid="E1", start=datetime(2026, 10, 24, 23, 30),
                                     end=datetime(2026, 10, 25, 1, 30))])
    r = one(usage_kpis(store, cfg, "evse", "2026-10-25", "2026-10-25"), evse_uid="E1")
    assert r["hours"] == 25 and r["days"] == 1
    assert r["connected_h"] == pytest.approx(2.0)
    assert r["occupancy_share"] == pytest.approx(2 / 25, **APPROX)
    assert r["peak_how_occupancy_share"] == pytest.approx(0.75) and r["peak_how"] == "Sun 02:00"
    prof = hour_of_week_occupancy(store, cfg, "evse", "2026-10-25", "2026-10-25").set_index("how_label")
    assert len(prof) == 24 and prof.loc["Sun 02:00", "n_hours"] == 2
    assert prof.loc["Sun 01:00", "occupancy_share"] == pytest.approx(0.5)
    # 23:30 UTC on the 24th is 01:30 local on the 25th: the session belongs wholly to Sunday
    assert r["sessions"] == 1
    sat = one(usage_kpis(store, cfg, "evse", "2026-10-24", "2026-10-24"), evse_uid="E1")
    assert sat["sessions"] == 0 and sat["hours"] == 24 and sat["connected_h"] == 0


def test_idle_evse_lowers_occupancy_and_areas_sum_not_average(store, cfg):
    # One day (Mon 2 Feb 2026, 24 h). L1: E1 12 h, E2 6 h, E3 idle, E4 REMOVED (not counted). L2: F1 12 h.
    day = datetime(2026, 2, 1, 23)  # Mon 00:00 CET
    h = pd.Timedelta(hours=1)
    put(store, [("L1", "E1"), ("L1", "E2"), ("L1", "E3"), ("L1", "E4", "REMOVED"), ("L2", "F1")],
        [dict(location_id="L1", evse_uid="E1", start=day, end=day + 12 * h, energy_kwh=20.0, charging_h=4.0,
              user_id="a"),
         dict(location_id="L1", evse_uid="E2", start=day + h, end=day + 7 * h, energy_kwh=10.0, charging_h=2.0,
              user_id="a"),
         dict(location_id="L2", evse_uid="F1", start=day, end=day + 12 * h, energy_kwh=30.0, charging_h=None,
              user_id="b")])
    loc = usage_kpis(store, cfg, "location", "2026-02-02", "2026-02-02")
    l1, l2 = one(loc, location_id="L1"), one(loc, location_id="L2")
    assert l1["n_evses"] == 3  # the REMOVED EVSE is not in the denominator
    assert l1["occupancy_share"] == pytest.approx(18 / 72)
    assert l1["charging_share"] == pytest.approx(6 / 18)
    assert l1["kwh_per_evse_day"] == pytest.approx(30 / 3) and l1["kwh_per_session"] == pytest.approx(15.0)
    assert l1["unique_users"] == 1  # same user on two EVSEs counts once at the location
    assert l2["occupancy_share"] == pytest.approx(0.5) and pd.isna(l2["charging_share"])
    gm = one(usage_kpis(store, cfg, "gemeente", "2026-02-02", "2026-02-02"), gm_code="GM0599")
    # sum of numerators / sum of denominators: 30 h / (4 EVSEs x 24 h); the mean of the location ratios
    # would be (0.25 + 0.5) / 2 = 0.375
    assert gm["n_evses"] == 4 and gm["occupancy_share"] == pytest.approx(30 / 96)
    assert gm["charging_share"] == pytest.approx(6 / 18)  # L2's unknown charging time is left out
    assert gm["sessions_per_evse_day"] == pytest.approx(3 / 4) and gm["unique_users"] == 2
    # 00:00-01:00 local Monday: E1 and F1 connected, E2 not yet -> 2 of 4 EVSEs
    assert gm["peak_how_occupancy_share"] == pytest.approx(3 / 4) and gm["peak_how"] == "Mon 01:00"
    ev = usage_kpis(store, cfg, "evse", "2026-02-02", "2026-02-02")
    assert one(ev, evse_uid="E3")["occupancy_share"] == 0 and one(ev, evse_uid="E3")["sessions"] == 0
    assert "E4" not in set(ev["evse_uid"])
    bu = usage_kpis(store, cfg, "buurt", "2026-02-02", "2026-02-02")
    assert list(bu["bu_code"]) == ["BU059901"] and bu["occupancy_share"].iloc[0] == pytest.approx(30 / 96)


def test_evening_shares_and_unique_users(store, cfg):
    # Starts (local): 15:30, 16:00, 20:45, 21:00 in February (CET) and 16:30 in June (CEST).
    # Window 16:00-21:00: sessions 16:00, 20:45, 16:30 -> 3 of 5; energy (2 + 4 + 5) / (1 + 2 + 4 + 8 + 5).
    starts = [(datetime(2026, 2, 3, 14, 30), 1.0, "u1"), (datetime(2026, 2, 4, 15, 0), 2.0, "u2"),
              (datetime(2026, 2, 5, 19, 45), 4.0, "u1"), (datetime(2026, 2, 6, 20, 0), 8.0, None),
              (datetime(2026, 6, 2, 14, 30), 5.0, "u3")]
    put(store, [("L1", "E1")], [dict(location_id="L1", evse_uid="E1", start=s, end=s + pd.Timedelta(minutes=50),
                                     energy_kwh=e, user_id=u) for s, e, u in starts])
    r = one(usage_kpis(store, cfg, "region", "2026-02-01", "2026-06-30"))
    assert r["sessions"] == 5
    assert r["evening_session_share"] == pytest.approx(3 / 5)
    assert r["evening_energy_share"] == pytest.approx(11 / 20)
    assert r["unique_users"] == 3  # u1 twice, one session without a user id
    m = usage_kpis(store, cfg, "region", "2026-02-01", "2026-06-30", period="month")
    assert list(m["sessions"]) == [4, 0, 0, 0, 1]
    assert list(m["evening_session_share"].iloc[[0, 4]]) == pytest.approx([0.5, 1.0])
    # a configured window moves the boundary: 15:00-21:00 takes the 15:30 start in
    cfg.kpi.evening_start_hour = 15
    assert one(usage_kpis(store, cfg, "region", "2026-02-01", "2026-06-30"))["evening_session_share"] == \
        pytest.approx(4 / 5)


def test_peak_hour_of_week_two_weeks(store, cfg):
    # Mon 1 - Sun 14 June 2026 (CEST), 2 EVSEs. Each local hour of the week occurs twice.
    #   Tue 2 Jun 18:00-20:00 E1; Tue 9 Jun 18:30-19:30 E1 and 18:00-19:00 E2; Wed 3 Jun 19:00-19:15 E2.
    # Tue 18:00: 1 + 0.5 + 1 = 2.5 h / (2 EVSEs x 2 hours) = 0.625 (peak); Tue 19:00: 1 + 0.5 = 1.5 / 4.
    utc = lambda d, hh, mm=0: datetime(2026, 6, d, hh - 2, mm)  # noqa: E731  local CEST -> UTC
    put(store, [("L1", "E1"), ("L1", "E2")],
        [dict(location_id="L1", evse_uid="E1", start=utc(2, 18), end=utc(2, 20)),
         dict(location_id="L1", evse_uid="E1", start=utc(9, 18, 30), end=utc(9, 19, 30)),
         dict(location_id="L1", evse_uid="E2", start=utc(9, 18), end=utc(9, 19)),
         dict(location_id="L1", evse_uid="E2", start=utc(3, 19), end=utc(3, 19, 15))])
    r = one(usage_kpis(store, cfg, "location", "2026-06-01", "2026-06-14"), location_id="L1")
    assert r["hours"] == 336
    assert r["peak_how_occupancy_share"] == pytest.approx(0.625) and r["peak_how"] == "Tue 18:00"
    assert r["occupancy_share"] == pytest.approx(4.25 / 672)
    prof = hour_of_week_occupancy(store, cfg, "location", "2026-06-01", "2026-06-14").set_index("how_label")
    assert len(prof) == 168 and (prof["n_hours"] == 2).all()
    assert prof.loc["Tue 19:00", "occupancy_share"] == pytest.approx(1.5 / 4)
    assert prof.loc["Wed 19:00", "occupancy_share"] == pytest.approx(0.25 / 4)
    assert prof["connected_h"].sum() == pytest.approx(4.25)


def test_unmatched_and_partyless_sessions(store, cfg):
    # E1 gets one session with its full key and one without party (matched on location_id + evse_uid);
    # one CSV-like session without any ids counts only in the region's sessions and energy.
    t = datetime(2026, 2, 2, 9)
    put(store, [("L1", "E1")],
        [dict(location_id="L1", evse_uid="E1", start=t, end=t + pd.Timedelta(hours=2), energy_kwh=6.0),
         dict(location_id="L1", evse_uid="E1", party_id=None, country_code=None, start=t + pd.Timedelta(hours=3),
              end=t + pd.Timedelta(hours=4), energy_kwh=4.0),
         dict(location_id=None, evse_uid=None, party_id=None, country_code=None, start=t,
              end=t + pd.Timedelta(hours=10), energy_kwh=20.0)])
    ev = one(usage_kpis(store, cfg, "evse", "2026-02-02", "2026-02-02"), evse_uid="E1")
    assert ev["sessions"] == 2 and ev["connected_h"] == pytest.approx(3.0)
    reg = one(usage_kpis(store, cfg, "region", "2026-02-02", "2026-02-02"))
    assert reg["sessions"] == 3 and reg["sessions_unmatched"] == 1
    assert reg["energy_kwh"] == pytest.approx(30.0) and reg["kwh_per_session"] == pytest.approx(10.0)
    assert reg["connected_h"] == pytest.approx(3.0)  # occupancy only over EVSEs known in the store
    assert reg["occupancy_share"] == pytest.approx(3 / 24)
    assert reg["kwh_per_evse_day"] == pytest.approx(10.0) and reg["sessions_per_evse_day"] == pytest.approx(2.0)
    gm = one(usage_kpis(store, cfg, "region", "2026-02-02", "2026-02-02", gm="GM0599"))
    assert gm["sessions"] == 2 and gm["sessions_unmatched"] == 0


def test_default_range_and_empty_store(store, cfg):
    assert usage_kpis(store, cfg, "region").empty
    put(store, [("L1", "E1")], [dict(location_id="L1", evse_uid="E1", start=datetime(2026, 3, 1, 23, 30),
                                     end=datetime(2026, 3, 2, 1)),
                                dict(location_id="L1", evse_uid="E1", start=datetime(2026, 3, 4, 8),
                                     end=datetime(2026, 3, 4, 9))])
    r = one(usage_kpis(store, cfg, "region"))
    # first start is 2 Mar 00:30 local, last 4 Mar 09:00 local -> 2..4 March
    assert (r["period_start"], r["period_end"], r["hours"]) == (date(2026, 3, 2), date(2026, 3, 4), 72)
    assert r["connected_h"] == pytest.approx(1.5 + 1.0)
    with pytest.raises(ValueError):
        usage_kpis(store, cfg, "province")
