"""Smart charging: cap, shift (LP) and connection limit, by hand and against brute force / max flow."""

from __future__ import annotations

import itertools
from collections import deque

import numpy as np
import pandas as pd
import pytest

from laadplan.grid.load import Grid, session_power
from laadplan.grid.smart import make_pairs, schedule_shift, schedule_uncontrolled, simulate, slot_power

T0 = pd.Timestamp("2026-01-05 00:00")  # winter: local = UTC + 1


def _sess(rows, **extra):
    """rows: (start hour, end hour, energy kWh, power kW) relative to T0 (UTC)."""
    df = pd.DataFrame({"start_utc": [T0 + pd.Timedelta(hours=r[0]) for r in rows],
                       "end_utc": [T0 + pd.Timedelta(hours=r[1]) for r in rows],
                       "energy_kwh": [float(r[2]) for r in rows], "max_power_kw": [float(r[3]) for r in rows]})
    for k, v in extra.items():
        df[k] = v
    return df


def test_cap_by_hand(cfg):
    # A: connected 15:00-22:00 local, 22 kWh at 11 kW: 11 kWh before 16:00, then 4 kW -> done 18:45 local
    # B: connected 16:00-18:00 local, 20 kWh at 11 kW: only 8 kWh at 4 kW -> 12 kWh not delivered
    r = simulate(_sess([(14, 21, 22, 11), (15, 17, 20, 11)]), cfg, "cap")
    s = r.summary
    assert s["energy_not_delivered_kwh"] == pytest.approx(12.0)
    assert s["sessions_affected"] == 2 and s["sessions_short"] == 1
    prof = r.profile.set_index("slot_utc")["smart_kw"]
    assert prof[T0 + pd.Timedelta(hours=14.75)] == pytest.approx(11)
    assert prof[T0 + pd.Timedelta(hours=15)] == pytest.approx(8)  # both capped at 4 kW
    assert prof[T0 + pd.Timedelta(hours=17.5)] == pytest.approx(4)  # A until 18:45 local = 17:45 UTC
    assert prof[T0 + pd.Timedelta(hours=17.75)] == pytest.approx(0)
    # uncontrolled peak: A (11 kW until 16:00 UTC) and B (11 kW from 15:00 UTC) overlap -> 22 kW
    assert s["peak_uncontrolled_kw"] == pytest.approx(22) and s["peak_smart_kw"] == pytest.approx(11)


def test_shift_by_hand(cfg):
    cfg.load.resolution_min = 60
    # B must charge 5 kWh in hour 0; A (10 kWh, hours 0-1) tops up hour 0 to 7.5 kW and puts 7.5 in hour 1
    r = simulate(_sess([(0, 2, 10, 10), (0, 1, 5, 10)]), cfg, "shift")
    assert r.summary["peak_uncontrolled_kw"] == pytest.approx(15)
    assert r.summary["peak_smart_kw"] == pytest.approx(7.5)
    assert r.summary["energy_not_delivered_kwh"] == pytest.approx(0, abs=1e-9)
    assert r.sessions["delivered_kwh"].tolist() == pytest.approx([10, 5])


def test_limit_by_hand(cfg):
    # two sessions at location L (10 kW each) share a 10 kW connection; one at M is not limited
    s = _sess([(10, 13, 10, 10), (10, 11.5, 10, 10), (10, 11, 10, 10)],
              location_id=["L", "L", "M"], country_code="NL", party_id="X")
    r = simulate(s, cfg, "limit", limit_kw=10.0)
    # L: 5 kW each; the second session leaves after 1.5 h with 7.5 kWh; the first then takes 10 kW
    assert r.sessions["delivered_kwh"].tolist() == pytest.approx([10, 7.5, 10])
    assert r.summary["energy_not_delivered_kwh"] == pytest.approx(2.5)
    assert r.summary["connections"] == 2 and r.summary["sessions_affected"] == 2
    assert r.summary["peak_smart_kw"] == pytest.approx(20) and r.summary["peak_uncontrolled_kw"] == pytest.approx(30)
    # a GAC event limits only its own time: 10 kW on L from 10:00 to 10:30 UTC, unlimited after
    ev = pd.DataFrame({"connection": ["NL*X*L"], "start_utc": [T0 + pd.Timedelta(hours=10)],
                       "end_utc": [T0 + pd.Timedelta(hours=10.5)], "limit_kw": [10.0]})
    r2 = simulate(s, cfg, "limit", limit_kw=np.inf, limit_events=ev)
    assert r2.summary["energy_not_delivered_kwh"] == pytest.approx(0)
    prof = r2.profile.set_index("slot_utc")["smart_kw"]
    assert prof[T0 + pd.Timedelta(hours=10.25)] == pytest.approx(10 + 10)
    assert prof[T0 + pd.Timedelta(hours=10.5)] == pytest.approx(30)


def _maxflow_min_peak(E, caps, n_slots, dt):
    """Smallest P such that a flow source -> session (E_i) -> slot (a_ik) -> sink (P dt) carries sum E
    (Edmonds-Karp on the tiny network, bisection on P): an independent exact solution of the shift LP."""
    n = len(E)

    def feasible(P):
        N = 2 + n + n_slots
        cap = np.zeros((N, N))
        for i in range(n):
            cap[0, 2 + i] = E[i]
            for k, a in caps[i].items():
                cap[2 + i, 2 + n + k] = a
        for k in range(n_slots):
            cap[2 + n + k, 1] = P * dt
        flow = 0.0
        while True:
            prev = [-1] * N
            prev[0] = 0
            q = deque([0])
            while q and prev[1] < 0:
                u = q.popleft()
                for v in range(N):
                    if prev[v] < 0 and cap[u, v] > 1e-12:
                        prev[v] = u
                        q.append(v)
            if prev[1] < 0:
                return flow >= sum(E) - 1e-9
            v, aug = 1, np.inf
            while v != 0:
                aug = min(aug, cap[prev[v], v])
                v = prev[v]
            v = 1
            while v != 0:
                cap[prev[v], v] -= aug
                cap[v, prev[v]] += aug
                v = prev[v]
            flow += aug

    lo, hi = 0.0, sum(E) / dt
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if feasible(mid) else (mid, hi)
    return hi


def _brute_min_peak(E, caps, n_slots):
    """Enumerate all integer-kWh schedules (1 h slots): the best integer peak (>= the LP optimum)."""
    options = []
    for i, e in enumerate(E):
        slots = sorted(caps[i])
        opts = []
        for combo in itertools.product(*[range(int(caps[i][k]) + 1) for k in slots]):
            if sum(combo) == e:
                opts.append(dict(zip(slots, combo)))
        options.append(opts)
    best = np.inf
    for choice in itertools.product(*options):
        load = np.zeros(n_slots)
        for sched in choice:
            for k, x in sched.items():
                load[k] += x
        best = min(best, load.max())
    return best


@pytest.mark.parametrize("seed", range(8))
def test_shift_against_brute_force_and_max_flow(cfg, seed):
    cfg.load.resolution_min = 60
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(3):
        a = int(rng.integers(0, 4))
        b = a + int(rng.integers(1, 4))
        p = int(rng.integers(1, 4))
        e = int(rng.integers(1, p * (b - a) + 1))
        rows.append((a, b, e, p))
    df = session_power(_sess(rows), cfg)
    grid = Grid(T0, 1.0, 8)
    pairs = make_pairs(df, grid)
    x = schedule_shift(pairs, cfg)
    lp_peak = slot_power(pairs, x).max()
    x0 = schedule_uncontrolled(pairs)
    # never above the EVSE power, all energy delivered, peak not above uncontrolled
    assert np.all(x <= pairs.cap_kwh + 1e-9) and np.all(x >= -1e-12)
    assert np.bincount(pairs.session, weights=x) == pytest.approx(df["energy_kwh"].to_numpy(), abs=1e-7)
    assert lp_peak <= slot_power(pairs, x0).max() + 1e-7
    caps = [{int(k): float(c) for k, c in zip(pairs.slot[pairs.session == i], pairs.cap_kwh[pairs.session == i])}
            for i in range(len(rows))]
    E = [float(r[2]) for r in rows]
    assert lp_peak == pytest.approx(_maxflow_min_peak(E, caps, 8, 1.0), abs=1e-6)
    assert lp_peak <= _brute_min_peak(E, caps, 8) + 1e-7


def test_shift_random_properties(cfg):
    rng = np.random.default_rng(11)
    n = 120
    start = T0 + pd.to_timedelta(rng.uniform(0, 48, n), unit="h")
    s = pd.DataFrame({"start_utc": start, "end_utc": start + pd.to_timedelta(rng.uniform(0.3, 14, n), unit="h"),
                      "energy_kwh": rng.uniform(1, 40, n), "max_power_kw": rng.choice([3.7, 11, 22], n)})
    r = simulate(s, cfg, "shift")
    assert r.summary["peak_smart_kw"] <= r.summary["peak_uncontrolled_kw"] + 1e-6
    assert r.summary["energy_not_delivered_kwh"] == pytest.approx(0, abs=1e-6)
    assert r.sessions["delivered_kwh"].to_numpy() == pytest.approx(r.sessions["energy_kwh"].to_numpy(), abs=1e-6)
    assert r.profile["smart_kw"].sum() == pytest.approx(r.profile["uncontrolled_kw"].sum(), rel=1e-9)
    with pytest.raises(ValueError, match="unknown smart strategy"):
        simulate(s, cfg, "magic")


def test_connections_by_ean_then_location():
    from laadplan.grid.smart import connection_codes

    df = pd.DataFrame({"country_code": "NL", "party_id": "X", "location_id": ["A", "B", "C", "C"],
                       "ean18": ["871687140000000001", "871687140000000001", None, None]})
    codes, labels = connection_codes(df)
    assert labels == ["871687140000000001", "NL*X*C"]
    assert codes.tolist() == [0, 0, 1, 1]  # A and B share one EAN; C is its own connection
    codes, labels = connection_codes(pd.DataFrame({"energy_kwh": [1.0, 2.0]}))
    assert labels == ["ALL"] and codes.tolist() == [0, 0]


def test_shared_ean_limit(cfg):
    # two locations on one EAN of 10 kW: both sessions share it (5 kW each for 2 h)
    s = _sess([(10, 13, 10, 10), (10, 13, 10, 10)], location_id=["A", "B"], country_code="NL", party_id="X",
              ean18="871687140000000001")
    r = simulate(s, cfg, "limit", limit_kw=10.0)
    assert r.summary["connections"] == 1 and r.summary["peak_smart_kw"] == pytest.approx(10)
    assert r.summary["energy_not_delivered_kwh"] == pytest.approx(0)
    prof = r.profile.set_index("slot_utc")["smart_kw"]
    assert prof[T0 + pd.Timedelta(hours=11.75)] == pytest.approx(10) and prof[T0 + pd.Timedelta(hours=12)] == 0
    # an event for a connection that does not exist changes nothing
    ev = pd.DataFrame({"connection": ["nope"], "start_utc": [T0], "end_utc": [T0 + pd.Timedelta(days=1)],
                       "limit_kw": [1.0]})
    r2 = simulate(s, cfg, "limit", limit_kw=np.inf, limit_events=ev)
    assert r2.summary["sessions_affected"] == 0


def test_shift_clusters_same_optimum(cfg):
    from laadplan.grid.smart import schedule_shift_clustered, time_clusters

    cfg.load.resolution_min = 60
    # two nights with a gap between them, plus a session chained to the first night
    df = session_power(_sess([(0, 3, 6, 3), (2, 5, 6, 3), (4, 6, 3, 3), (10, 12, 4, 4), (10, 11, 2, 4)]), cfg)
    pairs = make_pairs(df, Grid(T0, 1.0, 14))
    assert time_clusters(pairs).tolist() == [0, 0, 0, 1, 1]
    whole, split = schedule_shift(pairs, cfg), schedule_shift_clustered(pairs, cfg)
    assert slot_power(pairs, split).max() == pytest.approx(slot_power(pairs, whole).max(), abs=1e-7)
    assert np.bincount(pairs.session, weights=split) == pytest.approx(df["energy_kwh"].to_numpy(), abs=1e-7)
    # by hand: hours 0-5 carry 15 kWh of sessions chained over 6 h -> 2.5 kW; hours 10-11: 6 kWh -> 3 kW
    assert slot_power(pairs, split).max() == pytest.approx(3.0)
