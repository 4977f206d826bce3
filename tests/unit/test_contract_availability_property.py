"""Availability against a brute-force hour-by-hour replay of random status histories (hypothesis)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laadplan.contract.availability import availability
from laadplan.contract.settings import ContractConfig

START = pd.Timestamp("2026-08-31 22:00")  # local 2026-09-01 00:00 (CEST)
HOURS = 720  # September
STATUSES = ["AVAILABLE", "CHARGING", "OUTOFORDER", "INOPERATIVE", "UNKNOWN", "REMOVED", "PLANNED", "BLOCKED"]
RANK = {"down": 0, "excluded": 1, "up": 2}


def _state(s: str, cc: ContractConfig) -> str:
    return "up" if s in cc.up_statuses else "down" if s in cc.down_statuses else "excluded"


def _replay(obs: list[tuple[int, str]], cc: ContractConfig) -> tuple[dict, int]:
    """Hour-by-hour: each hour's state from the last observation at or before it (worst at one instant),
    no data once the EVSE has been silent for gap hours; failures = up -> down in the up/down sequence."""
    at: dict[int, str] = {}
    for h, s in obs:
        st_ = _state(s, cc)
        if h not in at or RANK[st_] < RANK[at[h]]:
            at[h] = st_
    hours = {"up": 0, "down": 0, "nodata": 0, "excluded": 0}
    last_t, last_s, prev_eff, fails = None, None, None, 0
    for h in range(min(at), HOURS):
        if h in at:
            last_t, last_s = h, at[h]
        state = "nodata" if h >= last_t + cc.status_gap_h else last_s
        hours[state] += 1
        eff = {"nodata": None if cc.status_gap_policy == "excluded" else cc.status_gap_policy}.get(state, state)
        if eff in ("up", "down"):
            if eff == "down" and prev_eff == "up":
                fails += 1
            prev_eff = eff
    return hours, fails


@settings(max_examples=40, deadline=None)
@given(obs=st.lists(st.tuples(st.integers(0, HOURS - 1), st.sampled_from(STATUSES)), min_size=1, max_size=14),
       gap=st.integers(2, 200), policy=st.sampled_from(["excluded", "down"]))
def test_hours_and_failures_match_a_brute_force_replay(obs, gap, policy):
    cc = ContractConfig(status_gap_h=gap, status_gap_policy=policy, status_gap_scope="evse")
    df = pd.DataFrame([{"country_code": "NL", "party_id": "P", "location_id": "L", "evse_uid": "E",
                        "observed_utc": START + pd.Timedelta(hours=h), "status": s} for h, s in obs])
    monthly, fails = availability(df, ["2026-09"], cc, as_of=START + pd.Timedelta(hours=HOURS))
    hours, n_fail = _replay(obs, cc)
    r = monthly.iloc[0]
    for k in ("up", "down", "nodata", "excluded"):
        assert r[f"{k}_h"] == pytest.approx(hours[k]), k
    assert len(fails) == n_fail and r["failures"] == n_fail
