"""Status-based occupancy on hand-built observations (times in comments are local CEST = UTC+2)."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from laadplan.kpi import status_occupancy


def _status(store, rows, loc="L1"):
    store.upsert("status_observations", pd.DataFrame([
        dict(country_code="NL", party_id="ABC", location_id=loc, evse_uid=e, observed_utc=t, status=s)
        for e, t, s in rows]))


def _locations(store, *locs):
    store.upsert("locations", pd.DataFrame([dict(country_code="NL", party_id="ABC", location_id=l, gm_code=g)
                                            for l, g in locs]))


def test_status_changes_sampled_hourly(store, cfg):
    _locations(store, ("L1", "GM0599"), ("L2", "GM0599"))
    # Mon 1 Jun 2026. E1: AVAILABLE 10:00, CHARGING 11:30, AVAILABLE 13:10 (UTC); E2: CHARGING 10:00,
    # AVAILABLE 14:00; E3 at L1 is REMOVED all along (not observed). Snapshots at 10..14 UTC:
    #   10: 1/2, 11: 1/2, 12: 2/2, 13: 2/2, 14: 0/2  -> mean 3/5, peak 1.0 at 12 UTC = Mon 14:00 local.
    _status(store, [("E1", datetime(2026, 6, 1, 10), "AVAILABLE"), ("E1", datetime(2026, 6, 1, 11, 30), "CHARGING"),
                    ("E1", datetime(2026, 6, 1, 13, 10), "AVAILABLE"), ("E2", datetime(2026, 6, 1, 10), "CHARGING"),
                    ("E2", datetime(2026, 6, 1, 14), "AVAILABLE"), ("E3", datetime(2026, 6, 1, 9), "REMOVED")])
    # L2: one EVSE, UNKNOWN (observed, not occupied) 10:00, CHARGING from 12:30 UTC
    _status(store, [("F1", datetime(2026, 6, 1, 10), "UNKNOWN"), ("F1", datetime(2026, 6, 1, 12, 30), "CHARGING")],
            loc="L2")
    df = status_occupancy(store, cfg, "location").set_index("location_id")
    l1 = df.loc["L1"]
    assert l1["observations"] == 5 and l1["evses_observed_max"] == 2
    assert l1["mean_occupancy_share"] == pytest.approx(3 / 5)
    assert l1["peak_how_occupancy_share"] == pytest.approx(1.0) and l1["peak_how"] == "Mon 14:00"
    assert (l1["period_start"], l1["period_end"]) == (date(2026, 6, 1), date(2026, 6, 1))
    # L2 snapshots 10, 11, 12 (UNKNOWN) then 13, 14 (CHARGING, carried to the end of the data at 14:00)
    assert df.loc["L2", "observations"] == 5 and df.loc["L2", "mean_occupancy_share"] == pytest.approx(2 / 5)
    # gemeente: per snapshot sum occupied / sum observed over L1 + L2:
    #   10: 1/3, 11: 1/3, 12: 2/3, 13: 3/3, 14: 1/3 -> mean 8/15, peak 1.0 at 13 UTC = Mon 15:00
    gm = status_occupancy(store, cfg, "gemeente").set_index("gm_code").loc["GM0599"]
    assert gm["observations"] == 5 and gm["mean_occupancy_share"] == pytest.approx(8 / 15)
    assert gm["peak_how_occupancy_share"] == pytest.approx(1.0) and gm["peak_how"] == "Mon 15:00"
    prof = status_occupancy(store, cfg, "gemeente", profile=True).set_index("how_label")
    assert list(prof["occupancy_share"]) == pytest.approx([1 / 3, 1 / 3, 2 / 3, 1.0, 1 / 3])
    # configured occupied statuses: UNKNOWN counted as occupied too
    cfg.kpi.occupied_statuses = ["CHARGING", "UNKNOWN"]
    l2 = status_occupancy(store, cfg, "location").set_index("location_id").loc["L2"]
    assert l2["mean_occupancy_share"] == pytest.approx(1.0)


def test_occupancy_observations_averaged_per_hour_of_week(store, cfg):
    _locations(store, ("X", "GM0001"))
    obs = [  # location X, 4 EVSEs: Tue 19:05 local two weeks running, 2 then 4 occupied; Tue 20:05 1 occupied
        ("location", "X", "GM0001", datetime(2026, 6, 2, 17, 5), 4, 2.0, 0.5),
        ("location", "X", "GM0001", datetime(2026, 6, 9, 17, 5), 4, 4.0, 1.0),
        ("location", "X", "GM0001", datetime(2026, 6, 2, 18, 5), 4, 1.0, 0.25),
        # gemeente rows take precedence over summing location X for GM0001
        ("gemeente", "GM0001", "GM0001", datetime(2026, 6, 2, 17, 5), 100, 30.0, 0.3),
        ("gemeente", "GM0001", "GM0001", datetime(2026, 6, 3, 17, 5), 100, 50.0, 0.5),
    ]
    store.upsert("occupancy_observations", pd.DataFrame(
        obs, columns=["subject_level", "subject_id", "gm_code", "observed_utc", "evses_observed", "evses_occupied",
                      "occupancy_share"]))
    x = status_occupancy(store, cfg, "location").set_index("location_id").loc["X"]
    assert x["observations"] == 3 and x["mean_occupancy_share"] == pytest.approx(7 / 12)
    assert x["peak_how_occupancy_share"] == pytest.approx(6 / 8) and x["peak_how"] == "Tue 19:00"
    assert pd.isna(x["party_id"])  # aggregated snapshots carry no party
    g = status_occupancy(store, cfg, "gemeente").set_index("gm_code").loc["GM0001"]
    assert g["observations"] == 2 and g["mean_occupancy_share"] == pytest.approx(0.4)
    assert g["peak_how_occupancy_share"] == pytest.approx(0.5) and g["peak_how"] == "Wed 19:00"
    # a date filter keeps the first week only
    wk1 = status_occupancy(store, cfg, "location", "2026-06-01", "2026-06-07").set_index("location_id").loc["X"]
    assert wk1["observations"] == 2 and wk1["peak_how_occupancy_share"] == pytest.approx(0.5)


def test_share_only_observations_and_empty(store, cfg):
    assert status_occupancy(store, cfg, "location").empty
    store.upsert("occupancy_observations", pd.DataFrame([
        dict(subject_level="location", subject_id="Y", observed_utc=datetime(2026, 6, 1, 8), occupancy_share=0.2),
        dict(subject_level="location", subject_id="Y", observed_utc=datetime(2026, 6, 1, 9), occupancy_share=0.6)]))
    y = status_occupancy(store, cfg, "location").set_index("location_id").loc["Y"]
    assert y["mean_occupancy_share"] == pytest.approx(0.4) and y["peak_how"] == "Mon 11:00"
    with pytest.raises(ValueError):
        status_occupancy(store, cfg, "buurt", "2026-06-01", "2026-06-02")


def test_snapshot_blocks_do_not_change_results(store, cfg, monkeypatch):
    """Snapshots are built in blocks of locations; a block of one location gives the same figures."""
    import laadplan.kpi.status as S

    _locations(store, *[(f"L{i}", f"GM000{i % 2}") for i in range(5)])
    for i in range(5):
        _status(store, [(f"E{i}", datetime(2026, 6, 1, 8 + i), "AVAILABLE"),
                        (f"E{i}", datetime(2026, 6, 1, 10 + i, 30), "CHARGING"),
                        (f"E{i}", datetime(2026, 6, 2, 1 + i), "AVAILABLE")], loc=f"L{i}")
    ref = status_occupancy(store, cfg, "gemeente", "2026-06-01", "2026-06-02")
    monkeypatch.setattr(S, "SNAPSHOT_BLOCK", 10)
    small = status_occupancy(store, cfg, "gemeente", "2026-06-01", "2026-06-02")
    pd.testing.assert_frame_equal(ref, small)
    # carried to the end of the requested days: E0 observed from 08:00 UTC 1 June to 22:00 UTC 2 June
    loc = status_occupancy(store, cfg, "location", "2026-06-01", "2026-06-02").set_index("location_id")
    assert loc.loc["L0", "observations"] == 16 + 22
    # CHARGING at the snapshots 11:00..23:00 on 1 June and 00:00 on 2 June: 14 of 38
    assert loc.loc["L0", "mean_occupancy_share"] == pytest.approx(14 / 38)
