"""CLI outputs on the small hand-built store of test_contract_report: one report per gemeente (--gm,
--all-gm) with that gemeente's own figures, Dutch texts, contract/alerts CSV without extra lines, kpi --out,
and the plan's table output and GeoPackage."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from laadplan.cli import app
from laadplan.store import Store
from test_contract_report import _Nums, build_store  # noqa: E402 (tests/integration is on sys.path)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    p = tmp_path_factory.mktemp("report_output") / "store.duckdb"
    build_store(p)
    return p


def _cli(db, *args) -> str:
    r = CliRunner().invoke(app, ["--db", str(db), *args])
    assert r.exit_code == 0, r.output + repr(r.exception)
    return r.stdout


def test_report_of_one_gemeente_has_its_own_figures(db, tmp_path):
    res = json.loads(_cli(db, "--json", "report", "--year", "2026", "--out", str(tmp_path), "--gm", "GM0002"))
    path = Path(res["html"])
    assert path.name == "voortgangsrapportage_2026_GM0002.html"
    text = path.read_text()
    assert "gemeente Tweedorp" in text and 'data-gm="GM0002"' in text
    assert 'id="logistiek"' not in text and 'id="budget"' not in text  # regional chapters left out
    p = _Nums()
    p.feed(text)
    by_title = {n["title"]: n for n in p.nums}
    # GM0002 holds L2 (BBB, E3) and L3 (AAA, E4); the 3 sessions of BBB/L2 (i = 5..7) start in 2026
    assert float(by_title["laadlocaties in de store"]["data-value"]) == 2
    assert float(by_title["EVSE's in de store (zonder REMOVED/PLANNED)"]["data-value"]) == 2
    assert float(by_title["laadsessies gestart in 2026"]["data-value"]) == 3
    assert float(by_title["geladen energie in 2026 (kWh, sessies gestart in het jaar)"]["data-value"]) == \
        15 + 16 + 17
    rows = {r["subject_id"]: r for r in json.loads(
        _cli(db, "--json", "contract", "--year", "2026", "--level", "gemeente"))["rows"]}
    uptime = next(n for n in p.nums if n["title"] == "beschikbaarheid (uptime) (GM0002)")
    assert float(uptime["data-value"]) == pytest.approx(rows["GM0002"]["uptime_share"])
    assert rows["GM0002"]["uptime_share"] != rows["GM0001"]["uptime_share"]
    with Store(db, read_only=True) as s:  # every number is its query's result
        for n in p.nums:
            r = s.con.execute(n["data-query"]).fetchone()
            got = None if r is None or r[0] is None else float(r[0])
            assert got == pytest.approx(None if n["data-value"] == "" else float(n["data-value"])), n
    # the gemeente's usage sentence: its busiest hour of the week in Dutch
    m = re.search(r"drukste uur van de week\s*\((\w\w) (\d\d):00\)", text)
    assert m and m.group(1) in ("ma", "di", "wo", "do", "vr", "za", "zo"), text[text.find("drukste"):][:120]


def test_all_gm_writes_the_region_and_every_gemeente(db, tmp_path):
    res = json.loads(_cli(db, "--json", "report", "--year", "2026", "--out", str(tmp_path), "--all-gm"))
    names = sorted(Path(p).name for p in res["html"])
    assert names == ["voortgangsrapportage_2026.html", "voortgangsrapportage_2026_GM0001.html",
                     "voortgangsrapportage_2026_GM0002.html"]
    region = (tmp_path / "voortgangsrapportage_2026.html").read_text()
    assert 'id="logistiek"' in region and "data-gm" not in region


def test_report_refuses_an_unknown_gemeente(db, tmp_path):
    r = CliRunner().invoke(app, ["--db", str(db), "report", "--year", "2026", "--out", str(tmp_path), "--gm", "GM9999"])
    assert r.exit_code == 1 and "GM9999" in r.output and not list(tmp_path.glob("*.html"))


def test_region_report_has_no_english_codes_or_weekdays(db, tmp_path):
    res = json.loads(_cli(db, "--json", "report", "--year", "2026", "--out", str(tmp_path)))
    text = Path(res["html"]).read_text()
    body = text[:text.index('id="verantwoording"')]  # the appendix quotes the SQL, which may hold codes
    for word in ("breach", "warning", ">cdrs<", "EVSE uptime in a month", "Mon ", "Tue ", "Thu ", "Sat ", "k EUR"):
        assert word not in body, word
    assert "overschrijding" in body and "laadsessies (CDR" in body


def test_contract_and_alerts_csv_are_only_csv(db):
    text = _cli(db, "contract", "--month", "2026-09", "--format", "csv")
    assert text.splitlines()[0].startswith("subject_id,n_evses,uptime_share,")
    d = pd.read_csv(StringIO(text)).set_index("subject_id")
    assert d.loc["GM0001", "uptime_share"] == pytest.approx((714 + 624) / 1440, abs=1e-9)  # a number, not "92.92%"
    assert "%" not in text
    text = _cli(db, "alerts", "--month", "2026-09", "--format", "csv")
    assert text.splitlines()[0].startswith("alert_id,period,rule,")


def test_kpi_out_writes_table_and_charts(db, tmp_path):
    out = tmp_path / "kpi"
    _cli(db, "kpi", "--level", "gemeente", "--out", str(out))
    t = pd.read_csv(out / "kpi_sessions_gemeente.csv")
    assert sorted(t["gm_code"]) == ["GM0001", "GM0002"] and t["sessions"].sum() == 8
    for name in ("region_hour_of_week.png", "region_monthly.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    _cli(db, "kpi", "--level", "location", "--gm", "GM0001", "--out", str(out))
    assert (out / "GM0001_monthly.png").exists()
    assert pd.read_csv(out / "kpi_sessions_location_GM0001.csv")["sessions"].sum() == 5


def test_plan_output_is_clean_and_exports_a_geopackage(tmp_path):
    """In a real process (the HiGHS banner goes to file descriptor 1, past CliRunner)."""
    import geopandas as gpd
    import pyogrio
    from test_placement_cli import _wgs  # noqa: E402

    db = tmp_path / "s.duckdb"
    lat, lon = _wgs([0, 2000], [0, 0])
    with Store(db) as s:
        s.upsert("locations", pd.DataFrame({"location_id": ["L0", "L1"], "country_code": "NL", "party_id": "ABC",
                                            "lat": lat, "lon": lon, "gm_code": "GM0001", "n_evses": [2, 2]}))
    slat, slon = _wgs([500, -800, 3000], [0, 0, 0])
    pd.DataFrame({"site_id": ["P1", "P2", "P3"], "lat": slat, "lon": slon, "kind": "parking_bay",
                  "max_evses": 2}).to_csv(tmp_path / "candidates.csv", index=False)
    rlat, rlon = _wgs([500, -800, 100, 3000], [0, 0, 0, 0])
    pd.DataFrame({"request_id": ["R1", "R2", "R3", "R4"], "requested_date": "2026-02-01", "lat": rlat, "lon": rlon,
                  "woont_in_gemeente": "ja", "rijdt_elektrisch": "ja", "eigen_parkeerplaats": "nee",
                  "gm_code": "GM0001"}).to_csv(tmp_path / "requests.csv", index=False)
    for kind in ("candidates", "requests"):
        _cli(db, "ingest", kind, str(tmp_path / f"{kind}.csv"))

    def run(*args) -> str:
        r = subprocess.run([sys.executable, "-m", "laadplan.cli", "--db", str(db), *args], capture_output=True,
                           text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
        assert r.returncode == 0, r.stderr
        return r.stdout

    out = tmp_path / "plan"
    text = run("plan", "--years", "2026-2027", "--out", str(out), "--format", "gpkg")
    assert "HiGHS" not in text and "{'" not in text and "--format csv" not in text
    assert re.search(r"inputs: usage kpi source: \w+", text)
    plan = pd.read_csv(out / "plan_sites.csv")
    layers = {n for n, _ in pyogrio.list_layers(out / "plan.gpkg")}
    assert {"plan_sites", "existing_locations"} <= layers
    g = gpd.read_file(out / "plan.gpkg", layer="plan_sites")
    assert g.crs.to_epsg() == 28992 and len(g) == len(plan) and g["evses"].sum() == plan["evses"].sum()
    assert sorted(g["site_id"]) == sorted(plan["site_id"])
    text = run("requests")
    assert "NaT" not in text and "00:00:00" not in text and "2026-02-01" in text


@pytest.mark.slow
@pytest.mark.realdata
def test_gemeente_report_on_real_occupancy(shared_data, store, cfg, tmp_path):
    """Middelburg's report from the real NDW occupancy snapshots (no sessions): its occupancy figure is the
    occupied EVSE-hours (occupancy_pct x evses_observed) over the observed EVSE-hours of its own rows in the
    source file."""
    from laadplan.ingest import reader
    from laadplan.report.builder import build_report

    reader("areas")(store, str(shared_data / "gemeenten" / "gemeenten_zh_ze.geojson"), cfg)
    src = shared_data / "ndw_ocpi" / "occupancy_gemeente_hourly.csv"
    reader("status")(store, str(src), cfg)
    path = build_report(store, cfg, 2026, tmp_path, gm="GM0687")
    text = path.read_text()
    raw = pd.read_csv(src)
    mid = raw[raw["gm_code"] == "GM0687"]
    want = (mid["occupancy_pct"] / 100 * mid["evses_observed"]).sum() / mid["evses_observed"].sum()
    m = re.search(r'uit statuswaarnemingen(?: \([^)]*\))?: <span class="fn" data-source="[^"]*status_occupancy[^"]*" '
                  r'data-source-id="s\d+" data-value="([0-9.e-]+)">([0-9,]+ %)</span>', text)
    assert m, text[text.find("statuswaarnemingen"):][:300]
    assert float(m.group(1)) == pytest.approx(want, rel=1e-6)
    assert m.group(2) == f"{want * 100:.1f}".replace(".", ",") + " %"
    assert "Middelburg" in text and 'data-gm="GM0687"' in text
