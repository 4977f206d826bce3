"""Output details (issue 10.8, 10.10): one number format in CLI tables, clean CSV/JSON floats, dates without
midnight times, Dutch labels and axis numbers in the report, chart titles that say what they leave out,
the backtest flag, construction-site texts and map zoom, GeoPackage layers, documented input columns."""

from __future__ import annotations

import io
import json
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from laadplan.commands import common

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value, plain, text", [
    (352.0, False, "352"), (1100.0, False, "1,100"), (94759.22099999999, False, "94,759.2"),
    (5.7e-11, False, "0"), (0.125, False, "0.125"), (0.1, False, "0.1"), (3.9474, False, "3.947"),
    (2026, True, "2026"), (2026.0, True, "2026"), (294146, False, "294,146"), (True, False, "True"),
    (None, False, "n/a"), (float("nan"), False, "n/a"), (pd.NaT, False, "n/a"), (pd.NA, False, "n/a"),
    (pd.Timestamp("2026-06-26"), False, "2026-06-26"), (pd.Timestamp("2026-06-26 20:15"), False, "2026-06-26 20:15"),
    (np.float64(-0.0000001), False, "0"), (np.int64(1696), False, "1,696"), ("GM0599", False, "GM0599"),
])
def test_table_cells_have_one_number_format(value, plain, text):
    assert common.fmt_cell(value, plain) == text


@pytest.fixture(autouse=True)
def _table_mode(monkeypatch):
    """CLI state is global: a --json run of another test in this process must not leak in."""
    monkeypatch.setattr(common.STATE, "json", False)


def _capture(monkeypatch, fn) -> str:
    buf = io.StringIO()
    monkeypatch.setattr(common.sys, "stdout", buf)
    fn()
    return buf.getvalue()


def test_csv_and_json_output_round_float_noise(monkeypatch):
    df = pd.DataFrame({"id": ["a", "b"], "energy_kwh": [94759.22099999999, 5.7e-11], "share": [1 / 3, 0.5]})
    csv = _capture(monkeypatch, lambda: common.print_frame(df, fmt="csv"))
    assert csv.splitlines() == ["id,energy_kwh,share", "a,94759.221,0.333333333", "b,0.0,0.5"]
    js = json.loads(_capture(monkeypatch, lambda: common.print_frame(df, fmt="json")))
    assert js[0]["energy_kwh"] == 94759.221 and js[1]["energy_kwh"] == 0.0 and js[0]["share"] == 0.333333333
    assert common.tidy_floats({"a": [5.7e-11, 2.5], "b": "x", "c": -1e-12}) == {"a": [0.0, 2.5], "b": "x", "c": 0.0}


def test_table_output_dates_missing_values_and_hint(monkeypatch):
    from rich.console import Console

    buf = io.StringIO()
    monkeypatch.setattr(common, "console", Console(file=buf, width=240))
    df = pd.DataFrame({"request_id": [f"R{i}" for i in range(3)],
                       "requested_date": pd.to_datetime(["2026-06-26", "2026-01-23", "2026-08-19"]),
                       "operational_date": pd.to_datetime([None, None, "2027-03-03"]),
                       "power_kw": [352.0, 1100.0, 737.0], "milestone_year": [2025, 2027, 2030]})
    common.print_frame(df, max_rows=2, more_hint="all rows in plan/summary.csv")
    out = buf.getvalue()
    assert "00:00:00" not in out and "NaT" not in out and "352.000" not in out
    assert "2026-06-26" in out and "n/a" in out and "1,100" in out and "2027" in out and "2,027" not in out
    assert "1 more rows (all rows in plan/summary.csv)" in out and "--format csv" not in out


def test_solver_banner_does_not_reach_stdout():
    import subprocess
    import sys

    code = ("from laadplan.commands.common import silence_solver_banner\n"
            "silence_solver_banner()\nimport highspy\nh = highspy.Highs()\nprint('table')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert r.stdout == "table\n"


# -- report: Dutch -------------------------------------------------------------------------------------
def test_dutch_labels_weekdays_and_alert_texts():
    from laadplan.contract.run import ALERT_RULES
    from laadplan.report.builder import table_html
    from laadplan.report.labels import LABELS, nl, weekday_nl

    assert weekday_nl("Thu 20:00") == "do 20:00" and weekday_nl("Sun 09:00, Mon 10:00") == "zo 09:00, ma 10:00"
    assert set(ALERT_RULES) <= set(LABELS["alert_rule"])  # every alert rule has a Dutch text
    assert nl("grid_status", 3.0) == "tekort" and nl("grid_status", None) == "" and nl("vehicle", "x") == "x"
    df = pd.DataFrame({"vehicle": ["heavy", "light"], "kind": ["service_area", "existing_pool"],
                       "grid_status": pd.array([2, None], dtype="Int64")})
    t = str(table_html(df, {"vehicle": ("voertuig", "nl:vehicle"), "kind": ("soort", "nl:hub_kind"),
                            "grid_status": ("netstatus", "nl:grid_status")}, query="q", sid="s1"))
    assert "heavy" not in t and "service_area" not in t and "existing_pool" not in t
    assert "zwaar (vrachtwagen)" in t and "verzorgingsplaats" in t and "bestaand laadplein" in t
    assert "in onderzoek / congestiemanagement" in t


def test_every_code_the_analyses_produce_has_a_dutch_label():
    """The codes written by the logistics analyses (read from their source) all have a label."""
    from laadplan.ingest import READERS
    from laadplan.report.labels import LABELS

    parks = (ROOT / "src/laadplan/logistics/parks.py").read_text()
    assert set(re.findall(r'"(now|battery|wait)"', parks)) <= set(LABELS["park_priority"])
    hubs = (ROOT / "src/laadplan/logistics/hubs.py").read_text()
    expr = hubs[hubs.index("kind = \"truck_parking\""):hubs.index("name = props")]  # the parking kinds
    kinds = {a or b for a, b in re.findall(r'"([a-z_]+)" if|else "([a-z_]+)"', expr)}
    kinds |= set(re.findall(r'"kind": "([a-z_]+)"', hubs))
    assert {"truck_parking", "service_area", "rest_area", "other", "existing_pool", "business_park"} <= kinds
    assert kinds and kinds <= set(LABELS["hub_kind"]), kinds - set(LABELS["hub_kind"])
    assert set(READERS) <= set(LABELS["kind"])


def test_report_numbers_share_one_thousands_separator():
    from laadplan.report.builder import fmt_value

    assert fmt_value(12.345, "pct") == "1.234,5 %" and fmt_value(1234, "int") == "1.234"
    assert fmt_value(1234.5, "dec1") == "1.234,5"


def test_chart_axes_use_dutch_numbers():
    from laadplan.report import charts

    assert charts._nl_tick(1000.0) == "1.000" and charts._nl_tick(2.5) == "2,5" and charts._nl_tick(0.25) == "0,25"
    svg = str(charts.line_chart(["2026-01", "2026-02"], {"beschikbaarheid": [0.991, 0.998]}, norm=0.99, pct=True))
    ticks = re.findall(r">\s*([0-9.,]+ ?%)\s*<", svg)
    assert ticks and all(re.fullmatch(r"\d+,\d %", t) for t in ticks), ticks
    svg = str(charts.budget_chart([2025, 2026], [48000.0, 158595.0], [150000.0, 150000.0]))
    assert "duizend euro" in svg and "k EUR" not in svg


def test_need_chart_says_it_shows_the_largest_of_all(tmp_path, monkeypatch):
    from laadplan.forecast import charts

    need = pd.DataFrame({"area_code": [f"GM{i:04d}" for i in range(63)], "year": 2030, "scenario": "middle",
                         "evses_needed": np.arange(63.0), "evses_existing": 1.0})
    titles = []
    real_close = charts.plt.close
    monkeypatch.setattr(charts.plt, "close", lambda fig: (titles.append(fig.axes[0].get_title()), real_close(fig)))
    charts.need_chart(need, tmp_path / "n.png", year=2030, scenario="middle")
    charts.need_chart(need.head(20), tmp_path / "m.png", year=2030, scenario="middle")
    assert titles == ["Public charging need vs existing EVSEs: the 30 of 63 areas with the largest need",
                      "Public charging need vs existing EVSEs"]


def test_backtest_table_flags_targets_worse_than_naive():
    from laadplan.commands.forecast import backtest_table

    bt = backtest_table({"pc4_car": {"n": 10, "mape": 0.30, "median_ape": 0.2, "max_ape": 0.9, "naive_mape": 0.12},
                         "gemeente_car": {"n": 63, "mape": 0.05, "median_ape": 0.04, "max_ape": 0.2,
                                          "naive_mape": 0.10}})
    assert dict(zip(bt["target"], bt["beats_naive"])) == {"pc4_car": False, "gemeente_car": True}


# -- logistics: construction sites ----------------------------------------------------------------------
def _sites_csv(path: Path) -> Path:
    path.write_text("site_id,name,lat,lon,start_date,end_date,machine_type,count,kwh_per_day,power_kw\n"
                    "S1,Begonnen,51.90,4.45,2026-01-05,2026-06-26,excavator,2,100,40\n"
                    "S2,Later,51.95,4.55,2026-09-07,2026-12-18,loader,1,80,30\n")
    return path


def test_started_site_says_it_started_not_negative_weeks(tmp_path, cfg):
    from laadplan.logistics import sites as si

    rows, problems = si.read_sites(_sites_csv(tmp_path / "s.csv"), cfg)
    assert problems.empty
    opts = si.site_options(rows, si.site_weekly(rows, cfg), cfg, as_of=date(2026, 4, 6))
    grid = opts[opts["option"] == "grid"].set_index("site_id")["reason"]
    # S1 started 2026-01-05, 13 weeks before 2026-04-06
    assert "started 13.0 weeks before the planning date 2026-04-06" in grid["S1"]
    assert "-" not in re.sub(r"\d{4}-\d{2}-\d{2}", "", grid["S1"])
    weeks = (date(2026, 9, 7) - date(2026, 4, 6)).days / 7  # 22 weeks: more than the lead time
    assert weeks > cfg.logistics.temp_connection_lead_weeks and "started" not in grid["S2"]


def test_sites_map_zooms_to_the_sites_and_exports_layers(tmp_path, store, cfg):
    import geopandas as gpd
    import pyogrio

    from laadplan.geo import to_rd
    from laadplan.logistics.pipeline import run_sites

    res = run_sites(store, cfg, _sites_csv(tmp_path / "s.csv"), tmp_path / "out", as_of=date(2026, 4, 6),
                    gpkg=True)
    x, y = to_rd(np.array([4.45, 4.55]), np.array([51.90, 51.95]))
    m = 2000 * cfg.logistics.hub_max_distance_km
    assert res.extra["map_extent"] == pytest.approx((x.min() - m, y.min() - m, x.max() + m, y.max() + m))
    gp = tmp_path / "out" / "sites.gpkg"
    assert gp in res.files
    layers = {n for n, _ in pyogrio.list_layers(gp)}
    best = [n for n in layers if n.startswith("best_")]
    got = pd.concat([gpd.read_file(gp, layer=n) for n in best])
    assert sorted(got["site_id"]) == ["S1", "S2"] and got.crs.to_epsg() == 28992
    p = got.set_index("site_id").geometry
    assert p["S1"].x == pytest.approx(x[0], abs=0.01) and p["S2"].y == pytest.approx(y[1], abs=0.01)


# -- input columns documented ---------------------------------------------------------------------------
def _required(kind: str) -> list[str]:
    from laadplan.commands.input_columns import INPUT_COLUMNS

    names = []
    for col, req, _ in INPUT_COLUMNS[kind][1]:
        if req:  # "lat, lon (or x_rd, y_rd)" -> lat, lon; "request_id (id, aanvraag_id)" -> request_id
            names += [c.strip() for c in col.split(" (")[0].split(",")]
    return names


def test_a_file_with_the_documented_required_columns_is_accepted(tmp_path, store, cfg):
    """The docs against the readers: a one-row file with exactly the documented required columns loads."""
    from laadplan.commands.input_columns import INPUT_COLUMNS, columns_markdown
    from laadplan.grid.capacity import ean18_check_digit
    from laadplan.ingest import reader
    from laadplan.logistics.parks import read_parks
    from laadplan.logistics.sites import read_sites

    assert (ROOT / "docs" / "input-files.md").read_text(encoding="utf-8") == columns_markdown()
    ean = "8712345678901234" + "0"
    values = {"request_id": "R1", "requested_date": "2026-02-01", "lat": "51.9", "lon": "4.45", "year": "2026",
              "category": "data", "amount_eur": "100", "ean18": ean + str(ean18_check_digit(ean)),
              "contracted_kw": "40", "peak_kw": "15", "site_id": "S1", "park_id": "P1", "firms": "3",
              "start_date": "2026-01-05", "end_date": "2026-02-01", "kwh_per_day": "10", "power_kw": "5"}
    for kind in INPUT_COLUMNS:
        cols = _required(kind) + (["firms"] if kind == "parks" else [])  # parks: firms, or vans and trucks
        path = tmp_path / f"{kind}.csv"
        path.write_text(",".join(cols) + "\n" + ",".join(values[c] for c in cols) + "\n")
        if kind == "parks":
            df, problems = read_parks(path, cfg)
            assert len(df) == 1 and problems.empty, problems
        elif kind == "sites":
            df, problems = read_sites(path, cfg)
            assert len(df) == 1 and problems.empty, problems
        else:
            r = reader(kind)(store, str(path), cfg)
            assert (r.read, r.accepted) == (1, 1), (kind, dict(r.by_rule))


def test_ingest_and_logistics_help_list_the_columns():
    from typer.testing import CliRunner

    from laadplan.cli import app

    for args, col in ((["ingest", "requests", "--help"], "request_id"), (["ingest", "costs", "--help"], "amount_eur"),
                      (["ingest", "connections", "--help"], "contracted_kw"),
                      (["ingest", "candidates", "--help"], "max_evses"), (["parks", "--help"], "spare_kw"),
                      (["sites", "--help"], "kwh_per_day")):
        r = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
        assert r.exit_code == 0 and col in r.output, (args, r.output)
