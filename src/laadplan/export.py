"""GeoPackage export of map layers (``--format gpkg``): every layer a command draws on its map, with its
attributes, in one ``.gpkg`` file in RD New (EPSG:28992), ready to open in QGIS. Written with geopandas
(pyogrio); store geometries are WGS84 WKB, logistics layers already RD New."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from laadplan.geo import RD_NEW, WGS84

log = logging.getLogger(__name__)


def layer_name(label: str) -> str:
    """A GeoPackage layer name from a map legend label: lower case, ``[a-z0-9_]`` only."""
    name = re.sub(r"[^a-z0-9]+", "_", str(label).lower()).strip("_")
    return name or "layer"


def _plain_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Columns a GeoPackage can hold: bytes (WKB) dropped; lists, dicts and other objects as text."""
    out = df.drop(columns=[c for c in df.columns if df[c].map(lambda v: isinstance(v, (bytes, bytearray))).any()])
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v))
                                else (v if isinstance(v, (str, int, float, bool)) else str(v)))
    return out


def points_layer(df: pd.DataFrame, *, lon: str = "lon", lat: str = "lat", x: str | None = None,
                 y: str | None = None) -> gpd.GeoDataFrame:
    """Rows as points in RD New: from WGS84 ``lon``/``lat`` columns, or RD New ``x``/``y`` when given."""
    attrs = _plain_columns(df.reset_index(drop=True))
    if x is not None and y is not None:
        return gpd.GeoDataFrame(attrs, geometry=gpd.points_from_xy(df[x].astype(float), df[y].astype(float)),
                                crs=RD_NEW)
    g = gpd.GeoDataFrame(attrs, geometry=gpd.points_from_xy(df[lon].astype(float), df[lat].astype(float)), crs=WGS84)
    return g.to_crs(RD_NEW)


def wkb_layer(df: pd.DataFrame, wkb_col: str = "geometry_wkb") -> gpd.GeoDataFrame:
    """Rows with a WGS84 WKB geometry column as a layer in RD New (rows without geometry left out)."""
    d = df[df[wkb_col].notna()].reset_index(drop=True)
    geoms = shapely.from_wkb([bytes(b) for b in d[wkb_col]])
    return gpd.GeoDataFrame(_plain_columns(d.drop(columns=[wkb_col])), geometry=geoms, crs=WGS84).to_crs(RD_NEW)


def write_gpkg(path: str | Path, layers: dict[str, gpd.GeoDataFrame]) -> Path:
    """Write ``layers`` (name -> GeoDataFrame) into one GeoPackage at ``path`` (replaced if present);
    empty layers are left out. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    written = 0
    for name, g in layers.items():
        if g is None or len(g) == 0:
            continue
        g = g.to_crs(RD_NEW) if g.crs is not None and g.crs != RD_NEW else g.set_crs(RD_NEW, allow_override=True)
        g.to_file(path, layer=layer_name(name), driver="GPKG", engine="pyogrio")
        written += 1
    if written == 0:  # an empty file still opens and says there is nothing
        gpd.GeoDataFrame({"note": []}, geometry=[], crs=RD_NEW).to_file(path, layer="empty", driver="GPKG",
                                                                        engine="pyogrio")
    log.info("GeoPackage %s: %d layers", path, written)
    return path


def plan_layers(main: pd.DataFrame, other: pd.DataFrame, *, primary_rule: bool = True,
                grid_areas: pd.DataFrame | None = None, areas: pd.DataFrame | None = None,
                locations: pd.DataFrame | None = None) -> dict[str, gpd.GeoDataFrame]:
    """The layers of the plan map: new sites of the plan (all years, every column), the other plan (with or
    without the congestion rule), supply areas with their offtake status, gemeenten and existing locations."""
    layers: dict[str, gpd.GeoDataFrame] = {}
    for name, sites in (("plan_sites", main), ("plan_sites_" + ("without" if primary_rule else "with")
                                               + "_congestion_rule", other)):
        s = sites[sites["lat"].notna() & sites["lon"].notna()] if len(sites) else sites
        if len(s):
            layers[name] = points_layer(s)
    if grid_areas is not None and len(grid_areas) and "geometry_wkb" in grid_areas:
        layers["grid_areas"] = wkb_layer(grid_areas)
    if areas is not None and len(areas) and "geometry_wkb" in areas:
        gem = areas[areas["level"] == "gemeente"] if "level" in areas else areas
        keep = [c for c in ("area_code", "name", "geometry_wkb") if c in gem.columns]
        layers["gemeenten"] = wkb_layer(gem[keep])
    if locations is not None and len(locations) and {"lat", "lon"} <= set(locations.columns):
        loc = locations[locations["lat"].notna() & locations["lon"].notna()]
        keep = [c for c in ("country_code", "party_id", "location_id", "name", "gm_code", "operator", "n_evses",
                            "max_power_kw", "has_dc", "lat", "lon") if c in loc.columns]
        layers["existing_locations"] = points_layer(loc[keep])
    return layers
