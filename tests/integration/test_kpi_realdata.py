"""Status-based occupancy on the real NDW hourly snapshots for the Zeeland locations (June 2026).

The file is loaded through the status reader (``laadplan.ingest.reader("status")``) when it exists. While
that reader is not in the tree yet, the test maps the CSV itself exactly as the reader is specified to
(subject_level 'location', occupancy_share = occ_pct / 100, evses_observed = n_evses, observed_utc = local
date + hour converted to UTC) so the KPI code is still checked against the real data. Either way the
per-location figures are compared with an independent pandas groupby over the raw CSV.
"""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest

from laadplan.kpi import status_occupancy
from laadplan.kpi.calendar import how_label

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def _load(store, cfg, path):
    if importlib.util.find_spec("laadplan.ingest.status") is not None:
        from laadplan.ingest import reader

        res = reader("status")(store, str(path), cfg)
        assert res.accepted + res.quarantined == res.read
        return "reader"
    raw = pd.read_csv(path, dtype={"location_id": "string", "gm_code": "string"})
    local = pd.to_datetime(raw["date"]) + pd.to_timedelta(raw["hour"], unit="h")
    utc = local.dt.tz_localize(cfg.region.time_zone).dt.tz_convert("UTC").dt.tz_localize(None)
    store.upsert("occupancy_observations", pd.DataFrame({
        "subject_level": "location", "subject_id": raw["location_id"], "gm_code": raw["gm_code"],
        "observed_utc": utc, "evses_observed": raw["n_evses"], "evses_occupied": raw["n_evses"] * raw["occ_pct"] / 100,
        "occupancy_share": raw["occ_pct"] / 100, "source": "ndw-occupancy-csv", "source_file": str(path)}))
    return "test"


def test_zeeland_location_peak_hour_of_week(store, cfg, shared_data):
    path = shared_data / "ndw_ocpi" / "occupancy_location_hourly_sample.csv"
    _load(store, cfg, path)
    got = status_occupancy(store, cfg, "location").set_index("location_id")

    raw = pd.read_csv(path, dtype={"location_id": "string"})
    raw = raw[raw["n_evses"] > 0]
    raw["occ"] = raw["n_evses"] * raw["occ_pct"] / 100
    raw["how"] = pd.to_datetime(raw["date"]).dt.day_of_week * 24 + raw["hour"]
    per_how = raw.groupby(["location_id", "how"])[["occ", "n_evses"]].sum()
    per_how["share"] = per_how["occ"] / per_how["n_evses"]
    share = per_how["share"].reset_index().sort_values(["location_id", "share", "how"],
                                                        ascending=[True, False, True])
    peak = share.groupby("location_id").first()
    tot = raw.groupby("location_id")[["occ", "n_evses"]].sum()

    assert len(got) == raw["location_id"].nunique() == len(peak)
    assert got["observations"].sum() == len(raw)
    pd.testing.assert_series_equal(got["peak_how_occupancy_share"].sort_index(), peak["share"].sort_index(),
                                   check_names=False, check_index_type=False, rtol=1e-9)
    pd.testing.assert_series_equal(got["mean_occupancy_share"].sort_index(),
                                   (tot["occ"] / tot["n_evses"]).sort_index(), check_names=False,
                                   check_index_type=False, rtol=1e-9)
    # the label is the argmax (ties -> earliest hour of week) wherever the peak is positive
    pos = peak["share"] > 0
    assert (got.loc[peak.index[pos], "peak_how"] == peak.loc[pos, "how"].map(how_label)).all()
    # the region's busiest location is genuinely busy at its peak
    assert got["peak_how_occupancy_share"].max() == pytest.approx(1.0)
    # gemeente level sums the locations per snapshot hour
    gm = status_occupancy(store, cfg, "gemeente").set_index("gm_code")
    g = raw.groupby("gm_code")[["occ", "n_evses"]].sum()
    assert set(gm.index) == set(g.index)
    assert gm["mean_occupancy_share"].sort_index().to_numpy() == pytest.approx(
        (g["occ"] / g["n_evses"]).sort_index().to_numpy(), rel=1e-9)
