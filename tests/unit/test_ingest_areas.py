"""Areas reader: the municipality GeoJSON shape and the PDOK wijk-en-buurtkaart shape (GeoJSON and
GeoPackage in RD New), CBS missing-value codes, levels, rules, re-assignment of stored locations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import shapely

from laadplan import geo
from laadplan.ingest import SourceError
from laadplan.ingest.areas import ingest_areas, level_of


def square(x0, y0, x1, y1):
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def gm_feature(code, name, geom, **facts):
    props = {"code": code, "gemeente": name, "province": "Zuid-Holland", "inwoners": 1000.0, "autos_totaal": 400.0,
             "autos_per_huishouden": 0.8, "inkomen_per_inwoner": 30.5, "stedelijkheid": 2.0, "supply_gap": -3}
    props.update(facts)
    return {"type": "Feature", "properties": props, "geometry": geom}


def fc(features):
    return json.dumps({"type": "FeatureCollection", "features": features})


def test_level_of():
    assert [level_of(c) for c in ["GM0599", "WK059901", "BU05990101", "PV28", "3011", "XX1", None, "GM599"]] == [
        "gemeente", "wijk", "buurt", "province", "pc4", None, None, None]


def test_gemeente_geojson(store, cfg, tmp_path):
    feats = [gm_feature("GM0001", "Oost", square(4.45, 51.8, 4.6, 52.0)),
             gm_feature("GM0002", "West", square(4.3, 51.8, 4.45, 52.0), stedelijkheid=7.0, inwoners=-99999999),
             gm_feature("GM0003", "Leeg", None),
             gm_feature("XX", "Fout", square(4.0, 51.0, 4.1, 51.1))]
    p = tmp_path / "g.geojson"
    p.write_text(fc(feats))
    r = ingest_areas(store, str(p), cfg)
    assert (r.read, r.accepted) == (4, 2) and dict(r.by_rule) == {"LP-GEOMETRY": 1, "LP-AREA-CODE": 1}
    a = store.frame("areas").set_index("area_code")
    assert a.loc["GM0001", "level"] == "gemeente" and a.loc["GM0001", "parent_code"] == "PV28"
    assert a.loc["GM0001", "inhabitants"] == 1000 and a.loc["GM0001", "cars"] == 400
    assert a.loc["GM0001", "income_per_inhabitant_keur"] == 30.5 and a.loc["GM0001", "urbanity"] == 2
    assert pd.isna(a.loc["GM0002", "inhabitants"]) and pd.isna(a.loc["GM0002", "urbanity"])  # sentinel, 7 not 1-5
    # area in RD New, computed independently by transforming the corners densely
    xs = np.linspace(4.45, 4.6, 200)
    ys = np.linspace(51.8, 52.0, 200)
    ring = ([(x, 51.8) for x in xs] + [(4.6, y) for y in ys] + [(x, 52.0) for x in xs[::-1]]
            + [(4.45, y) for y in ys[::-1]])
    rx, ry = geo.to_rd([p[0] for p in ring], [p[1] for p in ring])
    assert a.loc["GM0001", "area_km2"] == pytest.approx(shapely.Polygon(zip(rx, ry)).area / 1e6, rel=1e-4)
    poly = shapely.from_wkb(bytes(a.loc["GM0001", "geometry_wkb"]))
    assert poly.equals(shapely.geometry.shape(square(4.45, 51.8, 4.6, 52.0)))
    assert shapely.Point(a.loc["GM0001", "centroid_lon"], a.loc["GM0001", "centroid_lat"]).within(poly)
    # idempotent
    before = store.frame("areas")
    r2 = ingest_areas(store, str(p), cfg)
    assert r2.upserts["areas"].inserted == 0 and r2.upserts["areas"].updated == 0
    pd.testing.assert_frame_equal(before, store.frame("areas"))


def _buurten_gdf():
    import geopandas as gpd

    # RD New squares of 1 km: two buurten of one wijk of GM0599
    rows = [
        {"buurtcode": "BU05990101", "buurtnaam": "Centrum", "wijkcode": "WK059901", "gemeentecode": "GM0599",
         "gemeentenaam": "Rotterdam", "aantal_inwoners": 2000, "aantal_huishoudens": 1200,
         "personenautos_totaal": 600, "gemiddeld_inkomen_per_inwoner": 31.2, "stedelijkheid_adressen_per_km2": 1,
         "percentage_meergezinswoning": 85, "geometry": shapely.box(92000, 437000, 93000, 438000)},
        {"buurtcode": "BU05990102", "buurtnaam": "Haven", "wijkcode": "WK059901", "gemeentecode": "GM0599",
         "gemeentenaam": "Rotterdam", "aantal_inwoners": -99999999, "aantal_huishoudens": -99997,
         "personenautos_totaal": 10, "gemiddeld_inkomen_per_inwoner": -99999999,
         "stedelijkheid_adressen_per_km2": 3, "percentage_meergezinswoning": -99999999,
         "geometry": shapely.box(93000, 437000, 94000, 438000)},
    ]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:28992")


@pytest.mark.parametrize("fmt", ["gpkg", "geojson-rd"])
def test_pdok_buurten(store, cfg, tmp_path, fmt):
    gdf = _buurten_gdf()
    p = tmp_path / ("b.gpkg" if fmt == "gpkg" else "b.geojson")
    gdf.to_file(p, driver="GPKG" if fmt == "gpkg" else "GeoJSON")
    r = ingest_areas(store, str(p), cfg)
    assert r.accepted == 2
    a = store.frame("areas").set_index("area_code")
    b1 = a.loc["BU05990101"]
    assert (b1.level, b1.parent_code, b1.gm_code, b1["name"]) == ("buurt", "WK059901", "GM0599", "Centrum")
    assert (b1.inhabitants, b1.households, b1.cars) == (2000, 1200, 600)
    assert b1.cars_per_household == pytest.approx(0.5) and b1.share_apartments == pytest.approx(0.85)
    assert b1.urbanity == 1 and b1.income_per_inhabitant_keur == pytest.approx(31.2)
    assert b1.area_km2 == pytest.approx(1.0, rel=1e-3)  # a 1 km square in RD, back from WGS84
    b2 = a.loc["BU05990102"]
    assert pd.isna(b2.inhabitants) and pd.isna(b2.households) and pd.isna(b2.share_apartments)
    assert pd.isna(b2.cars_per_household)  # households missing
    # stored in WGS84: every vertex maps back onto a corner of the RD square (within centimetres)
    poly = shapely.from_wkb(bytes(b1.geometry_wkb))
    lon, lat = np.asarray(poly.exterior.coords).T
    x, y = geo.to_rd(lon, lat)
    corners = {(92000, 437000), (93000, 437000), (93000, 438000), (92000, 438000)}
    got = {(round(a), round(b)) for a, b in zip(x, y)}
    assert got == corners and np.all(np.abs(x - np.round(x)) < 0.05)


def test_reassigns_existing_locations(store, cfg, tmp_path):
    lon, lat = geo.to_wgs84([92500, 93500, 99000], [437500, 437500, 437500])
    store.upsert("locations", pd.DataFrame({"location_id": ["A", "B", "C"], "country_code": "NL", "party_id": "",
                                            "lat": lat, "lon": lon}))
    p = tmp_path / "b.gpkg"
    _buurten_gdf().to_file(p, driver="GPKG")
    r = ingest_areas(store, str(p), cfg)
    assert any("2 stored locations" in n for n in r.notes)
    loc = store.frame("locations").set_index("location_id")
    assert loc.bu_code["A"] == "BU05990101" and loc.bu_code["B"] == "BU05990102" and pd.isna(loc.bu_code["C"])


def test_url_gzip_and_errors(store, cfg, http_server, tmp_path):
    import gzip

    base, d = http_server
    (d / "g.geojson.gz").write_bytes(gzip.compress(fc([gm_feature("GM0001", "A", square(4, 51, 5, 52))]).encode()))
    r = ingest_areas(store, f"{base}/g.geojson.gz", cfg)
    assert r.accepted == 1
    with pytest.raises(SourceError, match="absent.geojson"):
        ingest_areas(store, f"{base}/absent.geojson", cfg)
    bad = tmp_path / "bad.geojson"
    bad.write_text("this is not json")
    with pytest.raises(SourceError, match="bad.geojson"):
        ingest_areas(store, str(bad), cfg)


def test_multilayer_geopackage(store, cfg, tmp_path):
    """A PDOK-like GeoPackage: gemeenten, wijken and buurten layers (and a point layer that is skipped)."""
    import geopandas as gpd

    p = tmp_path / "wijkenbuurten.gpkg"
    gm = gpd.GeoDataFrame([{"statcode": "GM0599", "statnaam": "Rotterdam", "aantal_inwoners": 5000,
                            "geometry": shapely.box(90000, 435000, 96000, 440000)}], crs="EPSG:28992")
    wk = gpd.GeoDataFrame([{"wijkcode": "WK059901", "wijknaam": "Centrum", "gemeentecode": "GM0599",
                            "geometry": shapely.box(92000, 437000, 94000, 438000)}], crs="EPSG:28992")
    pts = gpd.GeoDataFrame([{"x": 1, "geometry": shapely.Point(92000, 437000)}], crs="EPSG:28992")
    gm.to_file(p, layer="gemeenten", driver="GPKG")
    wk.to_file(p, layer="wijken", driver="GPKG")
    _buurten_gdf().to_file(p, layer="buurten", driver="GPKG")
    pts.to_file(p, layer="punten", driver="GPKG")
    r = ingest_areas(store, str(p), cfg)
    assert (r.read, r.accepted) == (4, 4)
    a = store.frame("areas").set_index("area_code")
    assert a.level.to_dict() == {"GM0599": "gemeente", "WK059901": "wijk", "BU05990101": "buurt",
                                 "BU05990102": "buurt"}
    assert a.parent_code["WK059901"] == "GM0599" and a.inhabitants["GM0599"] == 5000


def test_cbs_500m_cells_are_accepted(store, cfg, tmp_path):
    """CBS vierkantstatistieken: both code styles become E0920N4370-style cell500 areas with households;
    a code off the 500 m grid is LP-AREA-CODE (the old reader rejected every cell code)."""
    import geopandas as gpd

    rows = [{"crs28992res500m": "E0920N4370", "aantal_part_huishoudens": 300, "aantal_inwoners": 600,
             "geometry": shapely.box(92000, 437000, 92500, 437500)},
            {"crs28992res500m": "CRS28992RES500mN437000E092500", "aantal_part_huishoudens": -99997,
             "geometry": shapely.box(92500, 437000, 93000, 437500)},
            {"crs28992res500m": "E0921N4370", "aantal_part_huishoudens": 5,  # 92100: not a 500 m corner
             "geometry": shapely.box(92100, 437000, 92600, 437500)}]
    p = tmp_path / "vk500.gpkg"
    gpd.GeoDataFrame(rows, crs="EPSG:28992").to_file(p, driver="GPKG")
    r = ingest_areas(store, str(p), cfg)
    assert (r.read, r.accepted, r.quarantined) == (3, 2, 1)
    a = store.frame("areas").set_index("area_code")
    assert sorted(a.index) == ["E0920N4370", "E0925N4370"] and set(a["level"]) == {"cell500"}
    assert a.loc["E0920N4370", "households"] == 300 and pd.isna(a.loc["E0925N4370", "households"])
    assert a.loc["E0920N4370", "area_km2"] == pytest.approx(0.25, rel=1e-3)
    q = store.query("SELECT rule_code, record_id FROM quarantine")
    assert q.values.tolist() == [["LP-AREA-CODE", "E0921N4370"]]
