"""Load profile on the 10,188 real Dutch sessions of 2018: they carry no charge-point id, so there is no
coincidence factor (it used to fall back to per-session units: CF 0.0017), and session power comes from the
session's own energy and charging time."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from laadplan.forecast.runner import load_run, read_sessions
from laadplan.ingest.cdrs import ingest_cdrs

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def test_real_sessions_coincidence_na_and_power_from_charging_time(shared_data, store, cfg, tmp_path):
    path = shared_data / "sessions_nl" / "laadpaaldata_2018.csv"
    ingest_cdrs(store, str(path), cfg)
    out = load_run(store, cfg, level="region", out_dir=tmp_path)
    assert out["region"]["coincidence_factor"] is None and out["region"]["coincidence_unit"] is None
    assert any("coincidence factor n/a" in n for n in out["notes"])
    s = read_sessions(store)
    # independent: every row of the CSV with energy, a charging time inside the connected time and a
    # max power: the power it drew is E / charging time, never above its max power (the cap)
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f)
                if float(r["TotalEnergy"]) > 0 and 0 < float(r["ChargeTime"]) <= float(r["ConnectedTime"])
                and float(r["MaxPower"]) > 0]
    own = np.array([min(float(r["TotalEnergy"]) / 1000 / float(r["ChargeTime"]), float(r["MaxPower"]) / 1000)
                    for r in rows])
    from laadplan.grid.load import session_power
    got = session_power(s, cfg)["power_kw"].to_numpy()
    # the same sessions (up to the few rows quarantined at ingest): the same median power, well below the
    # 11 kW a rated-power rule gives
    assert abs(len(got) - len(own)) < 0.01 * len(own)
    assert np.median(got) == pytest.approx(np.median(own), rel=0.01)
