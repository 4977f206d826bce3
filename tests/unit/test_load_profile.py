"""Uncontrolled load profiles: hand cases, energy conservation, a second method, coincidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from laadplan.grid.load import Grid, energy_matrix, load_profile, profile_summary, session_power, unit_peaks
from laadplan.grid.smart import make_pairs, schedule_uncontrolled, slot_power


def _s(rows):
    return pd.DataFrame(rows, columns=["start_utc", "end_utc", "energy_kwh", "max_power_kw", "evse_uid", "gm_code"])


def test_hand_case_two_sessions(cfg):
    s = _s([("2026-01-05 10:07", "2026-01-05 13:00", 11.0, 11.0, "a", "GM1"),
            ("2026-01-05 10:20", "2026-01-05 11:00", 5.0, None, "b", "GM1")])
    p = load_profile(s, cfg).set_index("slot_utc")["energy_kwh"]
    # a: 11 kW from 10:07 for 1 h; b: default 11 kW from 10:20 for 5/11 h (until 10:47:16)
    assert p[pd.Timestamp("2026-01-05 10:00")] == pytest.approx(11 * 8 / 60)
    assert p[pd.Timestamp("2026-01-05 10:15")] == pytest.approx(11 * 15 / 60 + 11 * 10 / 60)
    assert p[pd.Timestamp("2026-01-05 10:30")] == pytest.approx(11 * 15 / 60 + 11 * 15 / 60)
    assert p[pd.Timestamp("2026-01-05 10:45")] == pytest.approx(11 * 15 / 60 + 5 - 11 * 25 / 60)
    assert p[pd.Timestamp("2026-01-05 11:00")] == pytest.approx(11 * 7 / 60)
    assert p.sum() == pytest.approx(16)


def test_power_rules(cfg):
    s = pd.DataFrame({"start_utc": ["2026-01-05 10:00"] * 4, "end_utc": ["2026-01-05 12:00"] * 4,
                      "energy_kwh": [10.0, 10.0, 30.0, 0.0], "max_power_kw": [None, 0.0, 3.7, 11.0],
                      "charging_h": [4.0, 1.0, None, None]})
    d = session_power(s, cfg)
    assert len(d) == 3  # zero energy carries no load
    # no max power: energy / charging time, but charging time capped by connected time (2 h) -> 5 kW
    # max power 0: energy / charging_h = 10 kW; 30 kWh cannot be delivered at 3.7 kW in 2 h -> 15 kW
    assert d["power_kw"].tolist() == pytest.approx([5.0, 10.0, 15.0])
    assert d["charge_h"].tolist() == pytest.approx([2.0, 1.0, 2.0])


def _random_sessions(rng, n, n_evse=20):
    start = pd.Timestamp("2026-03-27") + pd.to_timedelta(rng.uniform(0, 72, n), unit="h")  # over the DST switch
    conn = rng.uniform(0.1, 20, n)
    return pd.DataFrame({"start_utc": start, "end_utc": start + pd.to_timedelta(conn, unit="h"),
                         "energy_kwh": rng.uniform(0.5, 60, n), "max_power_kw": rng.choice([3.7, 7.4, 11, 22, 50], n),
                         "evse_uid": rng.integers(0, n_evse, n).astype(str),
                         "gm_code": rng.choice(["GM1", "GM2", "GM3"], n)})


def test_energy_conserved_and_matches_explode(cfg):
    rng = np.random.default_rng(5)
    s = _random_sessions(rng, 500)
    prof = load_profile(s, cfg, "gm_code")
    per = prof.groupby("gm_code")["energy_kwh"].sum()
    assert per.to_dict() == pytest.approx(s.groupby("gm_code")["energy_kwh"].sum().to_dict(), rel=1e-9)
    # second method: explode every session into its connected slots and fill earliest-first
    d = session_power(s, cfg)
    grid = Grid.covering(d["start_utc"], d["end_utc"], 15)
    pairs = make_pairs(d, grid)
    explode_kw = slot_power(pairs, schedule_uncontrolled(pairs))
    diff_kw = load_profile(s, cfg, t_from=grid.t0, t_to=grid.t0 + pd.Timedelta(hours=grid.n_slots * grid.dt_h))
    assert diff_kw["power_kw"].to_numpy() == pytest.approx(explode_kw, abs=1e-6)


def test_clipping_to_a_period(cfg):
    s = _s([("2026-01-05 23:00", "2026-01-06 03:00", 22.0, 11.0, "a", "GM1")])
    p = load_profile(s, cfg, t_from="2026-01-06", t_to="2026-01-07")
    assert p["energy_kwh"].sum() == pytest.approx(11.0)  # the hour after midnight only
    assert len(p) == 96


def test_unit_peaks_equal_dense(cfg):
    rng = np.random.default_rng(9)
    d = session_power(_random_sessions(rng, 300, n_evse=30), cfg)
    grid = Grid.covering(d["start_utc"], d["end_utc"], 15)
    u = d["evse_uid"].astype(int).to_numpy()
    s = grid.hours(d["start_utc"])
    stop = s + d["charge_h"].to_numpy()
    dense = energy_matrix(s, stop, d["power_kw"].to_numpy(), u, 30, grid).max(axis=1) / grid.dt_h
    assert unit_peaks(s, stop, d["power_kw"].to_numpy(), u, 30, grid) == pytest.approx(dense, abs=1e-9)


def test_coincidence_and_evening_by_hand(cfg):
    # winter: local = UTC + 1. EVSE a charges 17:00-18:00 local, b 19:00-20:00 local, c 10:00-11:00 local
    s = _s([("2026-01-05 16:00", "2026-01-05 17:00", 10.0, 10.0, "a", "GM1"),
            ("2026-01-05 18:00", "2026-01-05 19:00", 10.0, 10.0, "b", "GM1"),
            ("2026-01-05 09:00", "2026-01-05 10:00", 10.0, 10.0, "c", "GM2"),
            ("2026-01-05 09:00", "2026-01-05 10:00", 10.0, 10.0, "d", "GM2")])
    out = profile_summary(s, cfg, "gm_code").set_index("gm_code")
    # GM1 peaks never coincide: peak 10 kW / (10 + 10) = 0.5; GM2 peaks together: 20 / 20 = 1
    assert out.loc["GM1", "coincidence_factor"] == pytest.approx(0.5)
    assert out.loc["GM2", "coincidence_factor"] == pytest.approx(1.0)
    assert out.loc["GM1", "evening_energy_share"] == pytest.approx(1.0)
    assert out.loc["GM2", "evening_energy_share"] == pytest.approx(0.0)
    assert bool(out.loc["GM1", "peak_in_evening"]) and out.loc["GM2", "peak_kw"] == pytest.approx(20)
    assert out.loc["GM1", "evening_peak_share"] == pytest.approx(1.0)
    assert out.loc["GM2", "evening_peak_share"] == pytest.approx(0.0)
    assert out.loc["GM1", "n_units"] == 2 and out.loc["GM1", "coincidence_unit"] == "evse"
    region = profile_summary(s, cfg).iloc[0]
    assert region["coincidence_factor"] == pytest.approx(20 / 40)
    assert region["evening_energy_share"] == pytest.approx(0.5)
    # summer: local = UTC + 2, so 15:00 UTC is 17:00 local, inside the window
    summer = _s([("2026-07-06 15:00", "2026-07-06 16:00", 10.0, 10.0, "a", "GM1")])
    assert profile_summary(summer, cfg).iloc[0]["evening_energy_share"] == pytest.approx(1.0)


def test_session_power_from_charging_time_capped_by_evse_power(cfg):
    # a: 10 kWh charged in 2 h at an 11 kW EVSE: the car drew 5 kW, not the rated 11 kW
    # b: 30 kWh "charged" in 1 h at an 11 kW EVSE is impossible: capped at 11 kW (2.727 h, inside 4 h connected)
    # c: no charging time: the EVSE power; d: nothing known: the default power
    s = pd.DataFrame({"start_utc": ["2026-01-05 10:00"] * 4,
                      "end_utc": ["2026-01-05 13:00", "2026-01-05 14:00", "2026-01-05 13:00", "2026-01-05 13:00"],
                      "energy_kwh": [10.0, 30.0, 7.4, 5.5], "max_power_kw": [11.0, 11.0, 3.7, None],
                      "charging_h": [2.0, 1.0, None, None]})
    d = session_power(s, cfg)
    assert d["power_kw"].tolist() == pytest.approx([5.0, 11.0, 3.7, cfg.load.default_session_power_kw])
    assert d["charge_h"].tolist() == pytest.approx([2.0, 30 / 11, 2.0, 5.5 / cfg.load.default_session_power_kw])
    # the profile follows: session a puts 5 kW in each quarter of its first two hours, none after
    p = load_profile(s.iloc[[0]], cfg).set_index("slot_utc")["power_kw"]
    assert p[pd.Timestamp("2026-01-05 10:00")] == pytest.approx(5.0)
    assert p[pd.Timestamp("2026-01-05 11:45")] == pytest.approx(5.0)
    assert p[pd.Timestamp("2026-01-05 12:00")] == pytest.approx(0.0)


def test_coincidence_without_unit_ids_is_na_with_a_note(cfg):
    # sessions without EVSE (or location) ids: no units, so no coincidence factor (was: every session its own
    # unit, CF = peak / sum of all session peaks = 10 / 30 here)
    s = pd.DataFrame({"start_utc": ["2026-01-05 10:00", "2026-01-05 10:00", "2026-01-05 14:00"],
                      "end_utc": ["2026-01-05 11:00", "2026-01-05 11:00", "2026-01-05 15:00"],
                      "energy_kwh": [5.0, 5.0, 10.0], "max_power_kw": [5.0, 5.0, 10.0]})
    out = profile_summary(s, cfg).iloc[0]
    assert out["peak_kw"] == pytest.approx(10.0)
    assert np.isnan(out["coincidence_factor"]) and pd.isna(out["n_units"]) and out["coincidence_unit"] is None
    assert "no evse ids" in out["coincidence_note"]
    # with ids the factor is there and has no note: a and b peak together (10 kW), c alone: 10 / (5+5+10)
    s["evse_uid"] = ["a", "b", "c"]
    out = profile_summary(s, cfg).iloc[0]
    assert out["coincidence_factor"] == pytest.approx(0.5) and out["coincidence_note"] is None
