"""Uptime, failures and recurring faults on hand-built status histories (hand-computed expectations).

Local months (Europe/Amsterdam, CEST = UTC+2 in September): 2026-09 is [08-31 22:00, 09-30 22:00) UTC,
720 h; 2026-10 is [09-30 22:00, 10-31 23:00) UTC, 745 h (DST ends on 25 October).
"""

from __future__ import annotations

import pandas as pd
import pytest

from laadplan.contract.availability import availability, status_intervals
from laadplan.contract.settings import ContractConfig


def _obs(evse: str, rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"country_code": "NL", "party_id": "ABC", "location_id": "L" + evse, "evse_uid": evse,
                          "observed_utc": pd.Timestamp(t), "status": s} for t, s in rows])


def _row(monthly: pd.DataFrame, evse: str, month: str) -> pd.Series:
    r = monthly[(monthly["evse_uid"] == evse) & (monthly["month"] == month)]
    assert len(r) == 1, r
    return r.iloc[0]


def test_fault_spanning_two_months_counts_once_with_down_hours_in_both():
    cc = ContractConfig(status_gap_h=10_000)
    obs = _obs("A", [("2026-08-31 22:00", "AVAILABLE"), ("2026-09-29 22:00", "OUTOFORDER"),
                     ("2026-10-02 22:00", "AVAILABLE")])
    monthly, fails = availability(obs, ["2026-09", "2026-10"], cc, as_of=pd.Timestamp("2026-10-31 23:00"))
    sep, oct_ = _row(monthly, "A", "2026-09"), _row(monthly, "A", "2026-10")
    assert sep["up_h"] == pytest.approx(696) and sep["down_h"] == pytest.approx(24)
    assert sep["uptime_share"] == pytest.approx(696 / 720)
    assert sep["failures"] == 1 and sep["failure_h"] == pytest.approx(72)
    assert oct_["down_h"] == pytest.approx(48) and oct_["up_h"] == pytest.approx(697)
    assert oct_["uptime_share"] == pytest.approx(697 / 745)
    assert oct_["failures"] == 0
    assert len(fails) == 1 and fails.iloc[0]["fault_status"] == "OUTOFORDER" and not fails.iloc[0]["ongoing"]
    assert bool(sep["uptime_breach"]) and not bool(sep["failure_breach"])  # 0.967 < 0.99


def test_overlapping_statuses_at_one_instant_worst_wins():
    cc = ContractConfig(status_gap_h=10_000)
    obs = pd.concat([
        _obs("B", [("2026-08-31 22:00", "AVAILABLE"), ("2026-09-05 10:00", "CHARGING"),
                   ("2026-09-05 12:00", "AVAILABLE")]),
        _obs("B", [("2026-09-05 10:00", "OUTOFORDER")]),  # a second source says the EVSE failed
    ])
    monthly, fails = availability(obs, ["2026-09"], cc, as_of=pd.Timestamp("2026-09-30 22:00"))
    r = _row(monthly, "B", "2026-09")
    assert r["down_h"] == pytest.approx(2) and r["up_h"] == pytest.approx(718)
    assert r["failures"] == 1 and fails.iloc[0]["duration_h"] == pytest.approx(2)


def _gap_history() -> pd.DataFrame:
    return _obs("C", [("2026-08-31 22:00", "AVAILABLE"), ("2026-09-10 22:00", "AVAILABLE"),
                      ("2026-09-12 22:00", "INOPERATIVE"), ("2026-09-13 22:00", "AVAILABLE")])


def test_missing_stretch_excluded_from_uptime():
    cc = ContractConfig(status_gap_h=72, status_gap_policy="excluded")
    monthly, fails = availability(_gap_history(), ["2026-09"], cc, as_of=pd.Timestamp("2026-09-30 22:00"))
    r = _row(monthly, "C", "2026-09")
    # held 72 h, then 168 h without data; 48 h up; 24 h down; 72 h up, then 336 h without data
    assert r["up_h"] == pytest.approx(192) and r["down_h"] == pytest.approx(24)
    assert r["nodata_h"] == pytest.approx(504)
    assert r["uptime_share"] == pytest.approx(192 / 216)
    assert r["coverage_share"] == pytest.approx(216 / 720)
    assert r["failures"] == 1 and fails.iloc[0]["fault_status"] == "INOPERATIVE"


def test_missing_stretch_counted_down():
    cc = ContractConfig(status_gap_h=72, status_gap_policy="down")
    monthly, fails = availability(_gap_history(), ["2026-09"], cc, as_of=pd.Timestamp("2026-09-30 22:00"))
    r = _row(monthly, "C", "2026-09")
    assert r["uptime_share"] == pytest.approx(192 / 720)
    # up -> no data is a failure (168 h), the INOPERATIVE one (24 h), and the trailing gap (ongoing, 336 h)
    assert r["failures"] == 3
    assert sorted(fails["duration_h"].round(6)) == [24, 168, 336]
    assert fails["ongoing"].sum() == 1
    assert set(fails["fault_status"]) == {"NO_DATA", "INOPERATIVE"}


def test_excluded_status_is_skipped_between_up_and_down():
    cc = ContractConfig(status_gap_h=10_000)
    obs = _obs("R", [("2026-08-31 22:00", "AVAILABLE"), ("2026-09-10 22:00", "REMOVED"),
                     ("2026-09-11 22:00", "OUTOFORDER"), ("2026-09-12 22:00", "PLANNED"),
                     ("2026-09-13 22:00", "OUTOFORDER"), ("2026-09-14 22:00", "AVAILABLE")])
    monthly, fails = availability(obs, ["2026-09"], cc, as_of=pd.Timestamp("2026-09-30 22:00"))
    r = _row(monthly, "R", "2026-09")
    assert r["excluded_h"] == pytest.approx(48) and r["down_h"] == pytest.approx(48)
    assert r["up_h"] == pytest.approx(720 - 96)
    assert len(fails) == 1  # up -> REMOVED -> down -> PLANNED -> down -> up: one failure
    assert fails.iloc[0]["duration_h"] == pytest.approx(72)  # 09-11 22:00 .. 09-14 22:00


def test_history_starting_down_has_down_hours_but_no_failure():
    cc = ContractConfig(status_gap_h=10_000)
    obs = _obs("S", [("2026-08-31 22:00", "INOPERATIVE"), ("2026-09-01 22:00", "AVAILABLE")])
    monthly, fails = availability(obs, ["2026-09"], cc, as_of=pd.Timestamp("2026-09-30 22:00"))
    r = _row(monthly, "S", "2026-09")
    assert r["down_h"] == pytest.approx(24) and r["failures"] == 0 and fails.empty


def test_failure_norm_and_recurring_faults():
    cc = ContractConfig(status_gap_h=10_000, max_failures_per_month=3, recurring_fault_months=3)
    rows = [("2026-06-30 22:00", "AVAILABLE")]
    for m in ("07", "08", "09"):
        rows += [(f"2026-{m}-15 10:00", "OUTOFORDER"), (f"2026-{m}-15 11:00", "AVAILABLE")]
    d = _obs("D", rows)
    e_rows = [("2026-08-31 22:00", "AVAILABLE")]
    for day in (2, 4, 6, 8):
        e_rows += [(f"2026-09-{day:02d} 10:00", "INOPERATIVE"), (f"2026-09-{day:02d} 10:30", "AVAILABLE")]
    e = _obs("E", e_rows)
    monthly, fails = availability(pd.concat([d, e]), ["2026-08", "2026-09"], cc,
                                  as_of=pd.Timestamp("2026-09-30 22:00"))
    assert bool(_row(monthly, "D", "2026-09")["recurring"])
    assert not bool(_row(monthly, "D", "2026-08")["recurring"])  # no failure in June
    assert not bool(_row(monthly, "D", "2026-09")["failure_breach"])
    er = _row(monthly, "E", "2026-09")
    assert er["failures"] == 4 and bool(er["failure_breach"]) and er["failure_h"] == pytest.approx(2.0)
    assert not bool(er["recurring"])


def test_intervals_partition_time_between_first_observation_and_horizon():
    cc = ContractConfig(status_gap_h=5)
    obs = _obs("P", [("2026-09-01 00:00", "AVAILABLE"), ("2026-09-01 03:00", "CHARGING"),
                     ("2026-09-02 00:00", "AVAILABLE")])
    iv = status_intervals(obs, cc, as_of=pd.Timestamp("2026-09-02 02:00"))
    total = (iv["end_utc"] - iv["start_utc"]).dt.total_seconds().sum() / 3600
    assert total == pytest.approx(26)
    assert (iv["start_utc"].iloc[1:].values == iv["end_utc"].iloc[:-1].values).all()
    assert list(iv["state"]) == ["up", "up", "nodata", "up"]


def test_silence_of_one_evse_is_not_missing_data_when_its_feed_is_alive():
    x = _obs("X", [("2026-08-31 22:00", "AVAILABLE")])
    y = _obs("Y", [(f"2026-09-{d:02d} 12:00", "CHARGING" if d % 2 else "AVAILABLE") for d in range(1, 31)])
    obs = pd.concat([x, y])
    as_of = pd.Timestamp("2026-09-30 22:00")
    party = availability(obs, ["2026-09"], ContractConfig(status_gap_h=24, status_gap_scope="party"), as_of=as_of)[0]
    rx = _row(party, "X", "2026-09")
    # the feed is silent only after the last Y observation (09-30 12:00 + 24 h > as_of): no missing data
    assert rx["nodata_h"] == 0 and rx["up_h"] == pytest.approx(720)
    # the feed's first silence: 08-31 22:00 .. 09-01 12:00 is 14 h < 24 h, so nothing missing either
    evse = availability(obs, ["2026-09"], ContractConfig(status_gap_h=24, status_gap_scope="evse"), as_of=as_of)[0]
    assert _row(evse, "X", "2026-09")["nodata_h"] == pytest.approx(720 - 24)


def test_feed_outage_is_missing_for_every_evse_of_the_operator():
    rows = [("2026-08-31 22:00", "AVAILABLE"), ("2026-09-05 22:00", "CHARGING"), ("2026-09-06 22:00", "AVAILABLE")]
    a = _obs("A1", rows)
    b = _obs("B1", [("2026-08-31 22:00", "AVAILABLE")])
    other = _obs("Z", [("2026-09-02 10:00", "AVAILABLE")]).assign(party_id="OTHER")
    cc = ContractConfig(status_gap_h=24, status_gap_scope="party")
    monthly, _ = availability(pd.concat([a, b, other]), ["2026-09"], cc, as_of=pd.Timestamp("2026-09-30 22:00"))
    # party ABC silent 09-01 22:00 .. 09-05 22:00 (96 h) and after 09-07 22:00 (552 h); OTHER's feed doesn't help
    for evse in ("A1", "B1"):
        r = _row(monthly, evse, "2026-09")
        assert r["nodata_h"] == pytest.approx(96 + 552)
        assert r["up_h"] + r["down_h"] + r["excluded_h"] == pytest.approx(720 - 648)
    allfeed = availability(pd.concat([a, b, other]), ["2026-09"], cc.model_copy(update={"status_gap_scope": "all"}),
                           as_of=pd.Timestamp("2026-09-30 22:00"))[0]
    # whole feed: Z's observation at 09-02 10:00 splits the first silence: 09-01 22:00..09-02 10:00 (12 h) and
    # 09-03 10:00 .. 09-05 22:00 (60 h)
    assert _row(allfeed, "B1", "2026-09")["nodata_h"] == pytest.approx(12 + 60 + 552)


def test_feed_activity_outside_the_scope_keeps_the_feed_alive():
    x = _obs("X", [("2026-08-31 22:00", "AVAILABLE")])
    y = _obs("Y", [(f"2026-09-{d:02d} 12:00", "AVAILABLE") for d in range(1, 31)])  # same operator, not analysed
    cc = ContractConfig(status_gap_h=24, status_gap_scope="party")
    as_of = pd.Timestamp("2026-09-30 22:00")
    alone = availability(x, ["2026-09"], cc, as_of=as_of)[0]
    assert _row(alone, "X", "2026-09")["nodata_h"] == pytest.approx(720 - 24)
    with_feed = availability(x, ["2026-09"], cc, as_of=as_of, feed=pd.concat([x, y]))[0]
    assert _row(with_feed, "X", "2026-09")["nodata_h"] == 0
