"""Edges of the forecast/load runner: local dates to UTC and the store round trip of forecast_need."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from laadplan.forecast.runner import forecast_run, utc_range


def test_utc_range_local_dates(cfg):
    # winter (CET, UTC+1) start, summer (CEST, UTC+2) end; the end day is included whole
    start, end = utc_range(cfg, date(2026, 3, 1), date(2026, 7, 1))
    assert start == datetime(2026, 2, 28, 23, 0)
    assert end == datetime(2026, 7, 1, 22, 0)
    assert utc_range(cfg, None, None) == (None, None)


def test_forecast_run_replaces_only_its_level(store, cfg, tmp_path):
    store.upsert("areas", pd.DataFrame({"area_code": ["GM0001", "GM0002", "BU00010001"],
                                        "level": ["gemeente", "gemeente", "buurt"], "gm_code": ["GM0001", "GM0002",
                                                                                                "GM0001"],
                                        "cars": [1000, 3000, 400], "urbanity": [1, 4, 1]}))
    store.upsert("locations", pd.DataFrame({"country_code": "NL", "party_id": "X", "location_id": ["a"],
                                            "gm_code": ["GM0001"], "bu_code": ["BU00010001"], "n_evses": [3],
                                            "max_power_kw": [11.0]}))
    forecast_run(store, cfg, level="gemeente", scenarios=("middle",), out_dir=tmp_path)
    forecast_run(store, cfg, level="buurt", scenarios=("middle",))
    need = store.frame("forecast_need")
    assert sorted(need.groupby("area_level").size().to_dict().items()) == [("buurt", 11), ("gemeente", 22)]
    # a second gemeente run replaces the gemeente rows only
    forecast_run(store, cfg, level="gemeente", scenarios=("low", "middle"))
    need = store.frame("forecast_need")
    assert sorted(need.groupby("area_level").size().to_dict().items()) == [("buurt", 11), ("gemeente", 44)]
    g = need[(need["area_code"] == "GM0001") & (need["year"] == 2025) & (need["scenario"] == "middle")].iloc[0]
    # 2025: both gemeenten together hold the national share 17.5 % of their 4,000 cars
    tot = need[(need["area_level"] == "gemeente") & (need["year"] == 2025) & (need["scenario"] == "middle")]
    assert tot["ev_count"].sum() == pytest.approx(4000 * 1621141 / 9247810, rel=1e-12)
    # the urban gemeente (urbanity 1: 80 % without private parking) gets a lower adoption weight
    by = tot.set_index("area_code")["ev_count"]
    assert by["GM0001"] / 1000 < by["GM0002"] / 3000
    assert g["evses_existing"] == 3
    assert (tmp_path / "forecast_need_gemeente.csv").exists() and (tmp_path / "stock_paths.png").exists()
