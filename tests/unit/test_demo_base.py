"""The demo region generator: determinism, realism and the bad-record manifest, checked on the written files
(re-parsed here independently of the generator's own frames)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import shapely

from laadplan.demo.base import BAD_RULES, FILES, generate_demo, write_demo
from laadplan.demo.facts import municipalities

SEED = 7
SCALE = 0.1
NL_BBOX = (3.2, 50.7, 7.3, 53.6)  # lon_min, lat_min, lon_max, lat_max
OCPI_STATUSES = {"AVAILABLE", "BLOCKED", "CHARGING", "INOPERATIVE", "OUTOFORDER", "PLANNED", "REMOVED",
                 "RESERVED", "UNKNOWN"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    data = generate_demo(SEED, SCALE)
    manifest = write_demo(data, d)
    return data, d, manifest


def _ts(s: str) -> float:
    return float(np.datetime64(s.rstrip("Z"), "s").astype("int64"))


def _bad_lines(manifest, key) -> set[int]:
    kinds = manifest["files"][FILES[key]]["bad_kinds"]
    return {p for v in kinds.values() for p in v["positions"]}


@pytest.fixture(scope="module")
def cdrs(demo):
    """(good CDR objects, all lines) of the written cdrs.ndjson."""
    _, d, manifest = demo
    lines = (d / FILES["cdrs"]).read_text(encoding="utf-8").splitlines()
    bad = _bad_lines(manifest, "cdrs")
    good = [json.loads(line) for i, line in enumerate(lines, start=1) if i not in bad]
    return good, lines


@pytest.fixture(scope="module")
def gemeente_polys(demo):
    _, d, _ = demo
    fc = json.loads((d / FILES["gemeenten"]).read_text(encoding="utf-8"))
    return {f["properties"]["statnaam"]: shapely.geometry.shape(f["geometry"])
            for f in fc["features"] if f["properties"]["statcode"] != "GM12X"}


# --------------------------------------------------------------------------------------------- facts
def test_facts_table_is_complete_and_consistent():
    f = municipalities()
    assert len(f) == 63 and f["gm_code"].is_unique
    assert f["gm_code"].str.fullmatch(r"GM\d{4}").all()
    assert (f["province"].value_counts().to_dict()) == {"Zuid-Holland": 50, "Zeeland": 13}
    assert (f["households"] == (f["inhabitants"] / 2.1).round().astype(int)).all()
    assert f["in_concession"].isna().all()  # unknown, documented
    assert f["urbanity"].between(1, 5).all()
    rd = f.set_index("gm_code")
    assert rd.loc["GM0599", "name"] == "Rotterdam" and rd.loc["GM0599", "inhabitants"] > 600_000


@pytest.mark.slow
@pytest.mark.realdata
def test_facts_match_the_cbs_source(shared_data):
    import geopandas as gpd

    g = gpd.read_file(shared_data / "gemeenten" / "gemeenten_zh_ze.geojson").set_index("code")
    f = municipalities().set_index("gm_code")
    assert sorted(f.index) == sorted(g.index)
    assert (f["inhabitants"] == g.loc[f.index, "inwoners"].astype(int)).all()
    assert (f["cars"] == g.loc[f.index, "autos_totaal"].astype(int)).all()
    assert (f["urbanity"] == g.loc[f.index, "stedelijkheid"].astype(int)).all()


# --------------------------------------------------------------------------------------- determinism
def test_same_seed_gives_byte_identical_files_and_other_seed_differs(tmp_path):
    paths = []
    for i, seed in enumerate((11, 11, 12)):
        d = tmp_path / f"run{i}"
        write_demo(generate_demo(seed, 0.03), d)
        paths.append(d)
    for name in FILES.values():
        assert (paths[0] / name).read_bytes() == (paths[1] / name).read_bytes(), name
    for name in ("areas_buurten.geojson", "locations.ndjson", "cdrs.ndjson", "status.csv"):
        assert (paths[0] / name).read_bytes() != (paths[2] / name).read_bytes(), name


# ------------------------------------------------------------------------------------------- realism
def test_sessions_energy_and_evening_share(cdrs):
    good, _ = cdrs
    assert 5_000 < len(good)
    energy = np.array([c["total_energy"] for c in good])
    assert 8.0 <= energy.mean() <= 11.0
    assert energy.min() > 0 and energy.max() <= 40.0
    ams = ZoneInfo("Europe/Amsterdam")
    hours = np.array([datetime.strptime(c["start_date_time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
                      .astimezone(ams).hour for c in good])
    share = ((hours >= 16) & (hours < 21)).mean()
    assert 0.35 <= share <= 0.55
    # the evening peak is a peak: 16-21 has more sessions per hour than 0-6
    assert ((hours >= 16) & (hours < 21)).sum() / 5 > 5 * ((hours < 6).sum() / 6 + 1)


def test_good_cdrs_are_internally_consistent(cdrs):
    good, _ = cdrs
    for c in good:
        dt_h = (_ts(c["end_date_time"]) - _ts(c["start_date_time"])) / 3600
        assert dt_h > 0
        assert abs(c["total_time"] - dt_h) < 1e-3, c["id"]
        charging = c["total_time"] - c["total_parking_time"]
        assert 0 < charging <= c["total_time"] + 1e-9
        assert c["total_parking_time"] >= 0
        assert _ts(c["start_date_time"]) >= _ts("2025-11-01T00:00:00Z")
        assert _ts(c["end_date_time"]) < _ts("2026-11-01T00:00:00Z")
        assert abs(c["total_energy_cost"]["excl_vat"] - c["total_energy"] * c["tariffs"][0]["elements"][0]
                   ["price_components"][0]["price"]) < 1e-3
    ids = Counter(c["id"] for c in good)
    assert max(ids.values()) == 1


def test_energy_fits_the_connector_power(demo, cdrs):
    _, d, manifest = demo
    bad = _bad_lines(manifest, "locations")
    power = {}
    for i, line in enumerate((d / FILES["locations"]).read_text(encoding="utf-8").splitlines(), start=1):
        if i in bad:
            continue
        loc = json.loads(line)
        for e in loc["evses"]:
            c = e["connectors"][0]
            phases = 3 if c["power_type"] == "AC_3_PHASE" else 1
            w = c.get("max_electric_power", c["max_voltage"] * c["max_amperage"] * (phases if c["power_type"] != "DC" else 1))
            power[e["uid"]] = w / 1000
    good, _ = cdrs
    for c in good:
        kw = power[c["cdr_location"]["evse_uid"]]
        charging = c["total_time"] - c["total_parking_time"]
        assert c["total_energy"] <= kw * charging * 1.001 + 1e-3, c["id"]


def test_good_cdr_coordinates_lie_in_their_gemeente(cdrs, gemeente_polys):
    good, _ = cdrs
    by_city: dict[str, list] = {}
    for c in good:
        co = c["cdr_location"]["coordinates"]
        by_city.setdefault(c["cdr_location"]["city"], []).append((float(co["longitude"]), float(co["latitude"])))
    for city, pts in by_city.items():
        xy = np.array(pts)
        assert shapely.contains_xy(gemeente_polys[city], xy[:, 0], xy[:, 1]).all(), city


def test_locations_inside_nl_except_injected(demo):
    _, d, manifest = demo
    kinds = manifest["files"][FILES["locations"]]["bad_kinds"]
    swapped = set(kinds["swapped_coordinates"]["positions"])
    skip = {p for k, v in kinds.items() if k in ("malformed_json", "missing_coordinates") for p in v["positions"]}
    for i, line in enumerate((d / FILES["locations"]).read_text(encoding="utf-8").splitlines(), start=1):
        if i in skip:
            continue
        co = json.loads(line)["coordinates"]
        lat, lon = float(co["latitude"]), float(co["longitude"])
        inside = NL_BBOX[0] <= lon <= NL_BBOX[2] and NL_BBOX[1] <= lat <= NL_BBOX[3]
        assert inside != (i in swapped), (i, lat, lon)


def test_inhabitants_sum_to_the_facts(demo):
    _, d, _ = demo
    facts = municipalities().set_index("gm_code")
    gem = json.loads((d / FILES["gemeenten"]).read_text(encoding="utf-8"))["features"]
    bu = json.loads((d / FILES["buurten"]).read_text(encoding="utf-8"))["features"]
    g_inh = {f["properties"]["statcode"]: f["properties"]["aantal_inwoners"] for f in gem}
    assert sum(v for k, v in g_inh.items() if k in facts.index) == facts["inhabitants"].sum()
    assert all(g_inh[k] == facts.loc[k, "inhabitants"] for k in facts.index)
    per_gm = Counter()
    hh = Counter()
    for f in bu:
        p = f["properties"]
        if p["buurtcode"] in ("BU12345",) or f["geometry"] is None:
            continue
        assert p["buurtcode"][2:6] == p["gemeentecode"][2:] and p["wijkcode"] == "WK" + p["buurtcode"][2:8]
        per_gm[p["gemeentecode"]] += p["aantal_inwoners"]
        hh[p["gemeentecode"]] += p["aantal_huishoudens"]
    assert dict(per_gm) == {k: int(v) for k, v in facts["inhabitants"].items()}
    assert dict(hh) == {k: int(v) for k, v in facts["households"].items()}


def test_buurten_tile_their_gemeente(demo, gemeente_polys):
    data, _, _ = demo
    for gm, grp in data.buurten.groupby("gm_code"):
        g = data.gemeenten.set_index("gm_code").loc[gm, "geometry_rd"]
        union = shapely.union_all(grp["geometry_rd"].to_numpy())
        assert abs(union.area - g.area) / g.area < 1e-6
        assert shapely.area(shapely.difference(union, g)) < 1.0  # m2


def test_busy_buurten_are_full_at_night_and_quiet_ones_are_not(demo, cdrs):
    """Share of weekday nights (Mon-Thu) on which an EVSE is connected at 02:30 local, per buurt: the busy
    buurten must exceed 85 % (so the data-driven placement trigger fires), typical ones stay far below."""
    data, _, _ = demo
    good, _ = cdrs
    ev = data.evses.set_index("evse_uid")
    ams = ZoneInfo("Europe/Amsterdam")
    nights = pd.date_range("2025-11-04", "2026-10-29", freq="D")
    nights = [n for n in nights if n.day_of_week in (1, 2, 3, 4)]  # 02:30 on Tue..Fri = Mon..Thu nights
    probes = np.array([datetime(n.year, n.month, n.day, 2, 30, tzinfo=ams).timestamp() for n in nights])
    occ = Counter()
    for c in good:
        a, b = _ts(c["start_date_time"]), _ts(c["end_date_time"])
        occ[c["cdr_location"]["evse_uid"]] += int(((probes >= a) & (probes < b)).sum())
    share = pd.Series({u: occ.get(u, 0) / len(probes) for u in ev.index})
    by_bu = share.groupby(ev["bu_code"]).mean()
    busy = data.buurten.loc[data.buurten["busy"], "bu_code"]
    busy = [b for b in busy if b in by_bu.index]
    assert busy, "no busy buurt has charge points"
    assert (by_bu.loc[busy] > 0.85).all()
    assert by_bu.drop(busy).median() < 0.2


def test_usage_grows_over_the_year(cdrs):
    good, _ = cdrs
    months = Counter(c["start_date_time"][:7] for c in good)
    first = months["2025-11"] + months["2025-12"] + months["2026-01"]
    last = months["2026-08"] + months["2026-09"] + months["2026-10"]
    assert last > 1.1 * first


def test_status_has_faults_over_the_norm(demo):
    """Uptime and failures per EVSE and month recomputed from the written status.csv."""
    _, d, manifest = demo
    bad = _bad_lines(manifest, "status")
    lines = (d / FILES["status"]).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "country_code,party_id,location_id,evse_uid,observed_utc,status"
    assert len(lines) < 100_000
    rows = [line.split(",") for i, line in enumerate(lines, start=1) if i > 1 and i not in bad]
    st = pd.DataFrame(rows, columns=lines[0].split(","))
    assert set(st["status"]) <= OCPI_STATUSES and {"OUTOFORDER", "INOPERATIVE", "UNKNOWN", "CHARGING"} <= set(st["status"])
    st["t"] = pd.to_datetime(st["observed_utc"].str.rstrip("Z"))
    st = st.sort_values(["evse_uid", "t"], kind="stable")
    st["next"] = st.groupby("evse_uid")["t"].shift(-1).fillna(pd.Timestamp("2026-11-01"))
    down = st[st["status"].isin(["OUTOFORDER", "INOPERATIVE", "UNKNOWN"])]
    faults = st[st["status"].isin(["OUTOFORDER", "INOPERATIVE"])]
    per_month = faults.groupby([faults["evse_uid"], faults["t"].dt.to_period("M")]).size()
    assert (per_month > 3).any()
    spans = faults[faults["t"].dt.to_period("M") != (faults["next"] - pd.Timedelta(seconds=1)).dt.to_period("M")]
    assert len(spans) >= 1
    # monthly uptime (down time booked in the month the fault starts): some EVSE-months below 99 %
    down_h = ((down["next"] - down["t"]).dt.total_seconds() / 3600).groupby(
        [down["evse_uid"], down["t"].dt.to_period("M")]).sum()
    uptime = 1 - down_h / (30 * 24)
    assert (uptime < 0.99).any()
    # ... but most EVSE-months have no fault at all
    assert st["evse_uid"].nunique() * 12 > 20 * len(down_h)
    # every EVSE starts AVAILABLE when it comes into service: most at the start of the period, some later
    first = st.groupby("evse_uid").first()
    assert (first["status"] == "AVAILABLE").all() and (first["observed_utc"] >= "2025-11-01T00:00:00Z").all()
    later = (first["observed_utc"] > "2025-11-01T00:00:00Z").mean()
    assert 0.03 < later < 0.25


def test_evses_commissioned_during_the_year_have_no_earlier_sessions(demo, cdrs):
    """Growth: EVSEs whose first status comes after the period start have no good CDR before it."""
    _, d, manifest = demo
    good, _ = cdrs
    bad = _bad_lines(manifest, "status")
    lines = (d / FILES["status"]).read_text(encoding="utf-8").splitlines()
    rows = [line.split(",") for i, line in enumerate(lines, start=1) if i > 1 and i not in bad]
    first = pd.DataFrame(rows, columns=lines[0].split(",")).groupby("evse_uid")["observed_utc"].min()
    later = first[first > "2025-11-01T00:00:00Z"]
    assert len(later) > 0
    starts = pd.DataFrame([(c["cdr_location"]["evse_uid"], c["start_date_time"]) for c in good],
                          columns=["evse_uid", "start"])
    s = starts[starts["evse_uid"].isin(later.index)]
    assert len(s) > 0  # they are used once in service
    assert (s["start"].to_numpy() >= later.reindex(s["evse_uid"]).to_numpy()).all()


def test_status_charging_matches_sessions(demo, cdrs):
    """For the EVSEs with CHARGING observations (Zeeland), each CHARGING is the start of a good CDR."""
    _, d, manifest = demo
    good, _ = cdrs
    starts = {(c["cdr_location"]["evse_uid"], c["start_date_time"]) for c in good}
    bad = _bad_lines(manifest, "status")
    n = 0
    for i, line in enumerate((d / FILES["status"]).read_text(encoding="utf-8").splitlines(), start=1):
        if i == 1 or i in bad:
            continue
        f = line.split(",")
        if f[5] == "CHARGING":
            assert (f[3], f[4]) in starts
            n += 1
    assert n > 100


# -------------------------------------------------------------------------------------------- manifest
def test_manifest_counts_match_the_cdr_file(demo, cdrs):
    data, d, manifest = demo
    _, lines = cdrs
    power = dict(zip(data.evses["evse_uid"], data.evses["power_kw"]))
    found: dict[str, set[int]] = {k: set() for k in BAD_RULES["cdrs"]}
    seen: dict[str, str] = {}
    for i, line in enumerate(lines, start=1):
        try:
            c = json.loads(line)
        except json.JSONDecodeError:
            found["malformed_json"].add(i)
            continue
        if c["id"] in seen:
            found["duplicate_id"].add(i)
        seen[c["id"]] = line
        if "end_date_time" not in c or "total_energy" not in c:
            found["missing_mandatory_field"].add(i)
            continue
        co = c["cdr_location"]["coordinates"]
        if not NL_BBOX[1] <= float(co["latitude"]) <= NL_BBOX[3]:
            found["swapped_coordinates"].add(i)
        a, b = _ts(c["start_date_time"]), _ts(c["end_date_time"])
        if c["total_energy"] < 0:
            found["negative_energy"].add(i)
        if a >= b:
            found["start_not_before_end"].add(i)
        elif abs(c["total_time"] - (b - a) / 3600) > 0.01:
            found["total_time_mismatch"].add(i)
        if a > _ts("2030-01-01T00:00:00Z"):
            found["start_in_future"].add(i)
        if a < _ts("2009-01-01T00:00:00Z"):
            found["before_2009"].add(i)
        if c["total_energy"] > power[c["cdr_location"]["evse_uid"]] * c["total_time"] + 1e-6:
            found["energy_impossible_for_power"].add(i)
        if c["total_parking_time"] < 0:
            found["negative_parking_time"].add(i)
    kinds = manifest["files"][FILES["cdrs"]]["bad_kinds"]
    for k in BAD_RULES["cdrs"]:
        assert found[k] == set(kinds[k]["positions"]), k
        assert kinds[k]["count"] == len(found[k]) > 0
        assert kinds[k]["rule"] == BAD_RULES["cdrs"][k]
    total_bad = manifest["files"][FILES["cdrs"]]["bad"]
    assert len(set().union(*found.values())) == total_bad
    assert 0.004 <= total_bad / len(lines) <= 0.012
    assert manifest["files"][FILES["cdrs"]]["records"] == len(lines)


def test_manifest_counts_match_locations_status_tariffs_and_areas(demo):
    _, d, manifest = demo
    # locations
    found: dict[str, set[int]] = {k: set() for k in BAD_RULES["locations"]}
    seen = set()
    for i, line in enumerate((d / FILES["locations"]).read_text(encoding="utf-8").splitlines(), start=1):
        try:
            o = json.loads(line)
        except json.JSONDecodeError:
            found["malformed_json"].add(i)
            continue
        key = (o["party_id"], o["id"])
        if key in seen:
            found["duplicate_id"].add(i)
        seen.add(key)
        if "coordinates" not in o:
            found["missing_coordinates"].add(i)
        elif float(o["coordinates"]["latitude"]) < 10:
            found["swapped_coordinates"].add(i)
        if any(e["status"] not in OCPI_STATUSES for e in o["evses"]):
            found["invalid_evse_status"].add(i)
    kinds = manifest["files"][FILES["locations"]]["bad_kinds"]
    for k in BAD_RULES["locations"]:
        assert found[k] == set(kinds[k]["positions"]) and kinds[k]["count"] > 0, k
    # status
    found = {k: set() for k in BAD_RULES["status"]}
    for i, line in enumerate((d / FILES["status"]).read_text(encoding="utf-8").splitlines(), start=1):
        f = line.split(",")
        if i == 1:
            continue
        if len(f) != 6:
            found["malformed_row"].add(i)
            continue
        if f[3] == "":
            found["missing_evse_uid"].add(i)
        if f[5] not in OCPI_STATUSES:
            found["invalid_status"].add(i)
        try:
            datetime.strptime(f[4], "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            found["bad_timestamp"].add(i)
    kinds = manifest["files"][FILES["status"]]["bad_kinds"]
    for k in BAD_RULES["status"]:
        assert found[k] == set(kinds[k]["positions"]) and kinds[k]["count"] > 0, k
    # tariffs: price must be a number, currency present
    tariffs = json.loads((d / FILES["tariffs"]).read_text(encoding="utf-8"))["data"]
    no_cur = [i for i, t in enumerate(tariffs, start=1) if "currency" not in t]
    nan_price = [i for i, t in enumerate(tariffs, start=1)
                 if not all(isinstance(pc["price"], (int, float)) for el in t["elements"] for pc in el["price_components"])]
    kinds = manifest["files"][FILES["tariffs"]]["bad_kinds"]
    assert kinds["missing_currency"]["positions"] == no_cur and kinds["price_not_a_number"]["positions"] == nan_price
    # some good tariffs are above the concession maximum of 0.48 incl. VAT, some below
    incl = [t["elements"][0]["price_components"][0]["price"] * 1.21 for t in tariffs if "currency" in t
            and isinstance(t["elements"][0]["price_components"][0]["price"], float) and t["type"] == "REGULAR"]
    assert min(incl) < 0.48 < max(incl)
    # areas
    for key in ("gemeenten", "buurten"):
        feats = json.loads((d / FILES[key]).read_text(encoding="utf-8"))["features"]
        code = "statcode" if key == "gemeenten" else "buurtcode"
        pat = r"GM\d{4}" if key == "gemeenten" else r"BU\d{8}"
        bad_code = [i for i, f in enumerate(feats, start=1) if not pd.Series([f["properties"][code]]).str.fullmatch(pat)[0]]
        no_geom = [i for i, f in enumerate(feats, start=1) if f["geometry"] is None]
        kinds = manifest["files"][FILES[key]]["bad_kinds"]
        assert kinds["invalid_code"]["positions"] == bad_code
        assert kinds.get("missing_geometry", {"positions": []})["positions"] == no_geom


def test_locations_have_realistic_mix(demo):
    data, d, manifest = demo
    bad = _bad_lines(manifest, "locations")
    locs = [json.loads(line) for i, line in enumerate((d / FILES["locations"]).read_text(encoding="utf-8")
                                                       .splitlines(), start=1) if i not in bad]
    assert len({(lo["party_id"], lo["id"]) for lo in locs}) == len(locs) == len(data.locations)
    conns = [c for lo in locs for e in lo["evses"] for c in e["connectors"]]
    evses = [e for lo in locs for e in lo["evses"]]
    ac = [c for c in conns if c["power_type"] != "DC"]
    assert sum(c["power_type"] == "AC_3_PHASE" and c["max_amperage"] == 16 for c in ac) / len(ac) > 0.7
    assert 0.05 < sum("max_electric_power" not in c for c in ac) / len(ac) < 0.3
    dc_kw = [c["max_electric_power"] / 1000 for c in conns if c["power_type"] == "DC"]
    assert dc_kw and min(dc_kw) >= 50 and max(dc_kw) <= 350
    assert any(lo["parking_type"] == "ALONG_MOTORWAY" for lo in locs)
    assert 0.7 < sum("CHARGING_PROFILE_CAPABLE" in e["capabilities"] for e in evses) / len(evses) < 0.95
    assert all(e["evse_id"].startswith(f"NL*{lo['party_id']}*E") for lo in locs for e in lo["evses"])
    assert len({lo["party_id"] for lo in locs}) >= 4
    evses_per_location = len(evses) / len(locs)
    assert evses_per_location > 1.5 and evses_per_location < 2.2
