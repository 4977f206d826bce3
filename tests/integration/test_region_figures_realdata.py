"""Issue 10.1, 10.4, 10.5 and 10.6 on the real open data of the region, through the CLI as a user runs it.

Expected figures are computed here with plain pandas from the source CSVs, independently of laadplan."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from laadplan.cli import app
from laadplan.config import RegionConfig
from laadplan.ingest import reader
from laadplan.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.realdata]
runner = CliRunner()


@pytest.fixture(scope="module")
def db(shared_data, tmp_path_factory):
    path = tmp_path_factory.mktemp("region") / "real.duckdb"
    cfg = RegionConfig()
    d = shared_data / "ndw_ocpi"
    with Store(path) as s:
        for kind, files in (
                ("areas", [shared_data / "gemeenten" / "gemeenten_zh_ze.geojson"]),
                ("locations", [d / "locations_zh_ze.csv", d / "connectors_zh_ze.csv"]),
                ("cdrs", [shared_data / "sessions_nl" / "laadpaaldata_2018.csv"]),
                ("status", [d / "occupancy_gemeente_hourly.csv"]),
                ("vehicles", [shared_data / "cbs_vehicles" / "cbs_85236NED_vehicles_by_region_zh_ze.csv",
                              shared_data / "cbs_vehicles" / "cbs_85236NED_vehicles_by_pc4_zh_ze.csv"])):
            for f in files:
                reader(kind)(s, str(f), cfg)
    return str(path)


@pytest.fixture(scope="module")
def expected(shared_data):
    """EVSEs per location from the CSVs: the distinct non-REMOVED EVSEs of the connectors file where the
    location has connectors, else the locations file's n_evses (the point_only rows' only count)."""
    d = shared_data / "ndw_ocpi"
    locs = pd.read_csv(d / "locations_zh_ze.csv", dtype=str)
    conns = pd.read_csv(d / "connectors_zh_ze.csv", dtype=str)
    # a location listed twice: the dated version wins (50006), identical duplicates (3467) count once
    locs = locs.assign(_lu=pd.to_datetime(locs["last_updated"], utc=True, format="ISO8601")).sort_values(
        "_lu", na_position="first").drop_duplicates("location_id", keep="last")
    # one EVSE published under two locations (same party from the EVSE id, uid and EVSE id) counts once, at
    # the copy with the newest last_updated; a location all of whose EVSEs are older copies counts none
    conns["party"] = conns["evse_id"].str.extract(r"^[A-Za-z]{2}[*.\- ]?([A-Za-z0-9]{3})")[0].str.upper()
    conns["copy_lu"] = conns.groupby(["location_id", "evse_uid"])["last_updated"].transform("max")
    ev = conns.drop_duplicates(["location_id", "evse_uid"])
    once = ev.sort_values(["copy_lu", "location_id"], ascending=[False, True]).drop_duplicates(
        ["party", "evse_uid", "evse_id"])
    assert len(once) == ev[["evse_uid", "evse_id"]].drop_duplicates().shape[0] == 27_771
    real = once[once["evse_status"] != "REMOVED"].groupby("location_id").size()
    # rows without EVSE detail that repeat another's operator, name, place and count: one location listed
    # twice, counted once (the first by location_id)
    sig = ["operator", "name", "lat", "lon", "n_evses"]
    raw = pd.read_csv(d / "locations_zh_ze.csv", dtype=str)
    once = raw["location_id"].map(raw["location_id"].value_counts()) == 1
    po = raw[(raw["detail_level"] == "point_only") & once & raw[sig].notna().all(axis=1)
             & (pd.to_numeric(raw["n_evses"]) > 0)].sort_values("location_id")
    locs = locs[~locs["location_id"].isin(set(po.loc[po.duplicated(sig), "location_id"]))]
    has_detail = locs["location_id"].isin(set(ev["location_id"]))
    n = pd.to_numeric(locs["n_evses"]).fillna(0)
    locs["evses"] = n.where(~has_detail, locs["location_id"].map(real).fillna(0))
    # the gemeente a location lies in (3467 is listed under two gemeenten): point in polygon with geopandas
    gm = gpd.read_file(shared_data / "gemeenten" / "gemeenten_zh_ze.geojson")[["code", "geometry"]]
    pts = gpd.GeoDataFrame(locs, geometry=gpd.points_from_xy(pd.to_numeric(locs["lon"]), pd.to_numeric(locs["lat"])),
                           crs="EPSG:4326")
    inside = gpd.sjoin(pts, gm.to_crs("EPSG:4326"), how="inner", predicate="within")
    return {"total": int(locs["evses"].sum()),
            "by_gm": inside.groupby("code")["evses"].sum().astype(int).to_dict(),
            "no_postal_code": int(locs.loc[locs["postal_code"].isna(), "evses"].sum())}


def cli(db, *args):
    res = runner.invoke(app, ["--db", db, "-q", *args], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    return res


def test_rotterdam_and_den_haag_are_counted_at_every_level(db, expected, tmp_path):
    # the point_only rows of Rotterdam and Den Haag hold 30,537 EVSEs, 8,917 of them in rows that repeat another
    # row (same operator, name, place and count); without them the total was 48,6xx
    assert expected["by_gm"]["GM0599"] > 10_000 and expected["by_gm"]["GM0518"] > 10_000
    kpi = pd.DataFrame(json.loads(cli(db, "kpi", "--level", "gemeente", "--format", "json").stdout))
    by_gm = kpi.set_index("gm_code")["n_evses"]
    assert by_gm["GM0599"] == expected["by_gm"]["GM0599"] and by_gm["GM0518"] == expected["by_gm"]["GM0518"]
    assert int(kpi["n_evses"].sum()) == expected["total"]
    region = json.loads(cli(db, "kpi", "--format", "json").stdout)[0]
    assert region["n_evses"] == expected["total"]
    for level in ("gemeente", "pc4"):
        s = json.loads(cli(db, "--json", "forecast", "--level", level, "--scenario", "middle",
                           "--out", str(tmp_path / level)).stdout)
        assert s["evses_existing_total"] == expected["total"], level
        assert (s["middle_2030"]["evses_existing"] + s["evses_existing_no_area_code"]
                + s["evses_existing_area_without_forecast"]) == expected["total"]
    # pc4: the EVSEs of locations without a postal code are stated, not lost
    assert s["evses_existing_no_area_code"] == expected["no_postal_code"] > 20_000
    assert any("no postal code" in n for n in s["notes"])


def test_report_counts_the_same_evses_and_maps_status_occupancy(db, expected, tmp_path):
    cli(db, "report", "--year", "2026", "--out", str(tmp_path))
    html = (tmp_path / "voortgangsrapportage_2026.html").read_text()
    m = re.search(r'data-query="SELECT count\(\*\) FROM evses[^"]*" data-value="([0-9.]+)"', html)
    assert m and float(m.group(1)) == expected["total"]
    # no session of 2026 is linked to a laadpunt: the map shows the status-based occupancy of all 63
    # gemeenten and says so, instead of a pale map of zeros
    fig = re.search(r'<figure data-query="laadplan.kpi.status_occupancy[^"]*"[^>]*>(.*?)</figure>', html, re.S)
    assert fig and "data:image/png;base64," in fig.group(1) and "uit statuswaarnemingen" in fig.group(1)
    assert "uit laadsessies)</figcaption>" not in html
    from laadplan.kpi import status_occupancy

    with Store(db, read_only=True) as s:
        occ = status_occupancy(s, RegionConfig(), "gemeente", "2026-01-01", "2026-12-31")
    assert occ["mean_occupancy_share"].notna().sum() == 63 and occ["mean_occupancy_share"].min() > 0.05
    # missing figures are worded, not "0,0 %": no smart-charging capability in the NDW CSV, no status history
    assert "Slim laden: de gegevens vermelden voor geen enkel laadpunt" in html
    assert "Beschikbaarheid en storingen: geen statusgegevens" in html
    # sentences stay grammatical Dutch when a figure is missing (issue 10.4): no "n/a" standing in for a
    # number inside a sentence, and no English note in the Dutch report
    import html as html_mod
    text = " ".join(html_mod.unescape(re.sub(r"<[^>]+>", "", html)).split())
    for broken in ("samen niet beschikbaar", "rekende niet beschikbaar", "gaf niet beschikbaar uit",
                   "mediaan van niet beschikbaar", "niet beschikbaar van de aangeleverde",
                   "budget van niet beschikbaar", "EVSEs were in the first load"):
        assert broken not in text, broken
    assert "dat is de nulmeting (bestaande voorraad), niet geplaatst" in text
    # and it warns that Rotterdam and Den Haag are known only as counts per location
    rdam = f"{expected['by_gm']['GM0599']:,}".replace(",", ".")
    assert f"Rotterdam ({rdam} van {rdam})" in html and "alleen het aantal per locatie bekend" in html
    # the contract figures behind it (computed by the report for 2026): smart charging n/a, not 0 %, and
    # unknown capability raises no CM-SMART-CHARGING alert
    with Store(db, read_only=True) as s:
        smart = s.query("SELECT value FROM contract_kpis WHERE period = '2026' AND level = 'region' "
                        "AND kpi = 'smart_charging_share'")["value"]
        alerts = s.count("alerts", "rule = 'CM-SMART-CHARGING'")
    assert (smart.empty or smart.isna().all()) and alerts == 0
    m = re.search(r'<table data-query="laadplan.kpi.usage_kpis[^>]*>(.*?)</table>', html, re.S)
    if m is None:  # no session linked to a charge point: the usage table is one n/a line, not rows of zeros
        assert "Gebruikskengetallen uit laadsessies: " in html
    else:
        assert "0,0 %" not in m.group(1)


def test_2018_sessions_without_charge_point_are_na(db):
    with Store(db, read_only=True) as s:
        n = s.count("sessions")
    r = json.loads(cli(db, "kpi", "--format", "json").stdout)[0]
    assert r["sessions"] == n == r["sessions_unmatched"] > 10_000
    assert r["occupancy_share"] is None and r["peak_how_occupancy_share"] is None
    prof = json.loads(cli(db, "kpi", "--hour-of-week", "--format", "json").stdout)
    assert len(prof) == 168 and all(p["occupancy_share"] is None for p in prof)


@pytest.mark.parametrize("args, message", [
    (["alerts", "--month", "2030-01"], "lies in the future"),
    (["contract", "--municipality", "GM9999"], "not a gemeente in the store"),
    (["forecast", "--year", "2040"], "outside the forecast years"),
])
def test_bad_arguments_on_the_real_store(db, args, message):
    res = runner.invoke(app, ["--db", db, *args], env={"COLUMNS": "250"})
    assert res.exit_code == 1 and message in res.output


def test_every_evse_counts_once(db, shared_data):
    """Issue 10.1: the NDW feed publishes 20,939 EVSEs under two or three locations; the store holds each
    once (27,771 distinct EVSE uid + id pairs in the connectors file), the older copies are in quarantine."""
    conns = pd.read_csv(shared_data / "ndw_ocpi" / "connectors_zh_ze.csv", dtype=str)
    distinct = conns[["evse_uid", "evse_id"]].drop_duplicates()
    per_copy = conns.drop_duplicates(["location_id", "evse_uid"])
    assert len(per_copy) == 48_749 and len(distinct) == 27_771
    with Store(db, read_only=True) as s:
        ev = s.frame("evses", "NOT coalesce(derived_from_count, false)")
        q = s.query("SELECT count(*) AS n FROM quarantine WHERE kind = 'locations' AND rule_code = 'LP-DUPLICATE' "
                    "AND message LIKE '%also published under location%'").n.iloc[0]
    assert len(ev) == len(distinct) and not ev.duplicated(["country_code", "party_id", "evse_uid"]).any()
    # the connector rows of the 48,749 - 27,771 = 20,978 older copies
    stale = per_copy.merge(ev[["location_id", "evse_uid"]].assign(kept=True), on=["location_id", "evse_uid"],
                           how="left")
    stale = stale[stale["kept"].isna()][["location_id", "evse_uid"]]
    assert len(stale) == 48_749 - 27_771
    assert q == conns.merge(stale, on=["location_id", "evse_uid"]).shape[0] == 21_032
