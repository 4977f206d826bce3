"""Construction sites: weekly energy and peak, and the supply options (each one winning once)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from laadplan.config import RegionConfig
from laadplan.logistics import sites as si

HEADER = "site_id,name,lat,lon,start_date,end_date,machine_type,count,kwh_per_day,power_kw\n"


def load(tmp_path, body: str):
    p = tmp_path / "sites.csv"
    p.write_text(HEADER + body)
    return si.read_sites(p, RegionConfig())


def test_weekly_energy_and_peak_by_hand(tmp_path):
    rows, problems = load(tmp_path, "S,Site,51.9,4.5,2026-09-02,2026-09-08,excavator,2,100,50\n"
                                    "S,Site,51.9,4.5,2026-09-07,2026-09-08,cabin,1,30,20\n")
    assert len(problems) == 0
    w = si.site_weekly(rows, RegionConfig()).set_index("week_start")
    # 2026-09-02 is a Wednesday: week of Mon 08-31 has Wed-Fri (3 days), week of 09-07 has Mon-Tue (2 days)
    assert list(w.index) == [date(2026, 8, 31), date(2026, 9, 7)]
    assert w.loc[date(2026, 8, 31), "working_days"] == 3
    assert w.loc[date(2026, 8, 31), "energy_kwh"] == 2 * 100 * 3
    assert w.loc[date(2026, 8, 31), "peak_kw"] == 2 * 50
    assert w.loc[date(2026, 9, 7), "energy_kwh"] == 2 * 100 * 2 + 30 * 2
    assert w.loc[date(2026, 9, 7), "peak_kw"] == 2 * 50 + 20
    assert w.loc[date(2026, 9, 7), "daily_kwh"] == pytest.approx(230.0)


def test_weekend_and_six_day_weeks(tmp_path):
    rows, _ = load(tmp_path, "S,Site,51.9,4.5,2026-09-05,2026-09-06,x,1,10,5\n")  # Sat-Sun only
    cfg = RegionConfig()
    assert si.site_weekly(rows, cfg)["energy_kwh"].sum() == 0
    cfg.logistics.site_working_days_per_week = 6
    assert si.site_weekly(rows, cfg)["energy_kwh"].sum() == 10  # Saturday works


AS_OF = date(2026, 1, 5)


def options(tmp_path, body, hubs_offset_m, status=None):
    rows, problems = load(tmp_path, body)
    assert len(problems) == 0
    cfg = RegionConfig()
    weekly = si.site_weekly(rows, cfg)
    first = rows.drop_duplicates("site_id")
    hubs = pd.DataFrame({"name": ["hub"], "x_rd": [first["x_rd"].iloc[0] + hubs_offset_m],
                         "y_rd": [first["y_rd"].iloc[0]]})
    o = si.site_options(rows, weekly, cfg, as_of=AS_OF, grid_status=status or {}, hubs=hubs)
    return o.set_index("option")


def test_grid_wins_for_a_long_site_planned_early(tmp_path):
    # Mon 2026-06-01 .. Fri 2026-10-16: 20 weeks x 5 days; 2 excavators x 400 kWh/day, 150 kW
    o = options(tmp_path, "G,Long,51.5,3.8,2026-06-01,2026-10-16,excavator,2,400,150\n", 20_000)
    e = 100 * 800
    assert o.loc["grid", "feasible"] and o.loc["grid", "cost_eur"] == pytest.approx(25_000 + 0.25 * e)
    assert o.loc["battery", "units"] == 1 and o.loc["battery", "swaps_total"] == 100
    assert o.loc["battery", "cost_eur"] == pytest.approx(1 * 20 * 1500 + 100 * 450 + 0.35 * e)
    assert not o.loc["hub", "feasible"] and o.loc["hub", "hub_km"] == pytest.approx(20.0)
    assert o["recommended"].sum() == 1 and o.loc["grid", "recommended"]


def test_battery_wins_when_the_lead_time_does_not_fit(tmp_path):
    # starts two weeks after the planning date: a 15-week connection cannot be ready
    o = options(tmp_path, "B,Short,51.5,3.8,2026-01-19,2026-01-30,excavator,1,400,150\n", 20_000)
    assert not o.loc["grid", "feasible"] and "lead time" in o.loc["grid", "reason"]
    assert o.loc["battery", "cost_eur"] == pytest.approx(1 * 2 * 1500 + 10 * 450 + 0.35 * 4000)
    assert o.loc["battery", "recommended"]


def test_hub_wins_when_one_is_near(tmp_path):
    o = options(tmp_path, "H,Near,51.9,4.5,2026-01-19,2026-01-30,excavator,1,400,150\n", 1000)
    assert o.loc["hub", "hub_km"] == pytest.approx(1.0)
    assert o.loc["hub", "cost_eur"] == pytest.approx(0.45 * 4000 + 10 * 2 * 1.0 * 3.0)
    assert o.loc["hub", "recommended"] and not o.loc["battery", "recommended"]


def test_congestion_blocks_the_grid_and_too_many_swaps_block_batteries(tmp_path):
    o = options(tmp_path, "G,Long,51.5,3.8,2026-06-01,2026-10-16,excavator,2,400,150\n", 20_000, {"G": 3})
    assert not o.loc["grid", "feasible"] and "congested" in o.loc["grid", "reason"]
    assert o.loc["battery", "recommended"]
    # 20 excavators: 8,000 kWh a day = 8 swaps > 6, and 3,000 kW > the 1,000 kW temporary connection
    o2 = options(tmp_path, "X,Huge,51.5,3.8,2026-06-01,2026-06-12,excavator,20,400,150\n", 20_000)
    assert not o2["feasible"].any() and not o2["recommended"].any()
    assert o2.loc["battery", "swaps_per_day_max"] == 8 and o2.loc["battery", "units"] == 6
    assert "3000 kW" in o2.loc["grid", "reason"]


def test_read_sites_quarantines_bad_rows(tmp_path):
    rows, problems = load(tmp_path, "A,ok,51.9,4.5,2026-01-05,2026-01-09,x,1,10,5\n"
                                    "B,backwards,51.9,4.5,2026-02-05,2026-01-09,x,1,10,5\n"
                                    "C,baddate,51.9,4.5,2026-13-05,2026-01-09,x,1,10,5\n"
                                    ",noid,51.9,4.5,2026-01-05,2026-01-09,x,1,10,5\n"
                                    "D,nopower,51.9,4.5,2026-01-05,2026-01-09,x,1,10,\n"
                                    "E,abroad,48.9,2.3,2026-01-05,2026-01-09,x,1,10,5\n"
                                    "A,ok2,52.9,5.5,2026-01-05,2026-01-09,y,,20,6\n")
    assert list(problems["rule_code"]) == ["LP-TYPE", "LP-TYPE", "LP-MISSING", "LP-MISSING", "LP-COORDS-NL"]
    assert list(rows["site_id"]) == ["A", "A"]
    assert rows["count"].iloc[1] == 1.0  # count defaults to 1
    assert rows["lat"].iloc[1] == 51.9  # a site's position comes from its first row
