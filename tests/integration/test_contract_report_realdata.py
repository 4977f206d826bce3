"""The progress report on real open data (NDW locations and hourly occupancy, CBS municipalities): no EVSE
status history, no sessions, so contract figures are "niet beschikbaar" while the maps come from the data."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from laadplan.ingest import reader
from laadplan.report import build_report

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def test_report_on_real_locations_and_occupancy(shared_data, store, cfg, tmp_path):
    reader("areas")(store, str(shared_data / "gemeenten" / "gemeenten_zh_ze.geojson"), cfg)
    reader("locations")(store, str(shared_data / "ndw_ocpi" / "locations_zh_ze.csv"), cfg)
    reader("status")(store, str(shared_data / "ndw_ocpi" / "occupancy_gemeente_hourly.csv"), cfg)
    html = build_report(store, cfg, 2026, tmp_path).read_text()
    n_loc = store.count("locations")
    # the distinct location ids of the file, less the rows without EVSE detail that repeat another such row's
    # operator, name, coordinates and EVSE count (one location listed twice, counted once)
    csv = pd.read_csv(shared_data / "ndw_ocpi" / "locations_zh_ze.csv", dtype=str)
    sig = ["operator", "name", "lat", "lon", "n_evses"]
    once = csv.location_id.map(csv.location_id.value_counts()) == 1
    po = csv[(csv.detail_level == "point_only") & once & csv[sig].notna().all(axis=1)
             & (pd.to_numeric(csv.n_evses) > 0)]
    assert n_loc == csv.location_id.nunique() - po.duplicated(sig).sum() > 28_000
    m = re.search(r'data-query="SELECT count\(\*\) FROM locations" data-value="([0-9.]+)"', html)
    assert m and float(m.group(1)) == n_loc
    # the occupancy map falls back to status-based occupancy and is drawn (a PNG in its figure)
    fig = re.search(r'<figure data-query="laadplan.kpi.status_occupancy[^"]*"[^>]*>(.*?)</figure>', html, re.S)
    assert fig and "data:image/png;base64," in fig.group(1)
    assert 'data-kpi="uptime_share"' in html and "niet beschikbaar" in html
    assert "geen aanvraaglog" in html
