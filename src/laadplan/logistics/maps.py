"""Static PNG maps of the logistics outputs (matplotlib, Agg backend, RD New axes, no web tiles)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from laadplan.geo import RD_NEW, WGS84


@dataclass
class PointLayer:
    x: np.ndarray
    y: np.ndarray
    label: str
    style: dict = field(default_factory=dict)
    attrs: pd.DataFrame | None = None  # one row per point: exported with the layer (--format gpkg)


@dataclass
class LineLayer:
    geoms: list  # shapely lines in RD New
    label: str
    style: dict = field(default_factory=dict)
    attrs: pd.DataFrame | None = None  # one row per line


def map_layers(outline: list, lines: list[LineLayer] = (), points: list[PointLayer] = ()) -> dict:
    """The layers of a map as GeoDataFrames in RD New (name -> frame): ``gemeenten`` and one per legend
    entry, with the layer's attributes when it has them."""
    import geopandas as gpd

    def frame(attrs: pd.DataFrame | None, n: int, label: str) -> pd.DataFrame:
        if attrs is not None and len(attrs) == n:
            return attrs.reset_index(drop=True).assign(layer=label)
        return pd.DataFrame({"layer": [label] * n})

    out = {"gemeenten": gpd.GeoDataFrame(geometry=list(outline), crs=RD_NEW)}
    for layer in lines:
        out[layer.label] = gpd.GeoDataFrame(frame(layer.attrs, len(layer.geoms), layer.label),
                                            geometry=list(layer.geoms), crs=RD_NEW)
    for layer in points:
        out[layer.label] = gpd.GeoDataFrame(frame(layer.attrs, len(layer.x), layer.label),
                                            geometry=gpd.points_from_xy(np.asarray(layer.x, float),
                                                                        np.asarray(layer.y, float)), crs=RD_NEW)
    return out


def outline_from_areas(areas: pd.DataFrame | None, bbox: tuple[float, float, float, float] | None = None) -> list:
    """Gemeente polygons (WGS84 WKB in ``geometry_wkb``) as RD New shapely geometries; [] when absent.
    With ``bbox`` (lon_min, lat_min, lon_max, lat_max) polygons whose representative point lies outside it
    (broken records) are left out so they do not stretch the map."""
    if areas is None or len(areas) == 0 or "geometry_wkb" not in areas:
        return []
    import geopandas as gpd

    geoms = np.asarray(shapely.from_wkb([bytes(b) for b in areas["geometry_wkb"].dropna()]))  # DuckDB gives bytearray
    if bbox is not None and len(geoms):
        rp = shapely.point_on_surface(geoms)
        x, y = shapely.get_x(rp), shapely.get_y(rp)
        geoms = geoms[(x >= bbox[0]) & (y >= bbox[1]) & (x <= bbox[2]) & (y <= bbox[3])]
    if len(geoms) == 0:
        return []
    return list(gpd.GeoSeries(geoms, crs=WGS84).to_crs(RD_NEW))


def extent_around(x, y, margin_m: float) -> tuple[float, float, float, float] | None:
    """(xmin, ymin, xmax, ymax) of the points (RD New metres) widened by ``margin_m``; None without points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return None
    return (float(x[ok].min()) - margin_m, float(y[ok].min()) - margin_m,
            float(x[ok].max()) + margin_m, float(y[ok].max()) + margin_m)


def draw_map(path: str | Path, title: str, outline: list, lines: list[LineLayer] = (),
             points: list[PointLayer] = (), labels: list[tuple[float, float, str]] = (),
             extent: tuple[float, float, float, float] | None = None, gpkg: str | Path | None = None) -> Path:
    """Write a PNG map: grey region outline, line and point layers with a legend, optional text labels.
    ``extent`` (xmin, ymin, xmax, ymax in RD New) zooms the map to that box (layers outside it are cut off).
    ``gpkg``: also write every layer of the map into this GeoPackage (:func:`map_layers`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 8), dpi=100)
    for g in outline:
        for poly in getattr(g, "geoms", [g]):
            if poly.geom_type == "Polygon":
                xs, ys = poly.exterior.xy
                ax.fill(xs, ys, facecolor="#f2f2f2", edgecolor="#b0b0b0", linewidth=0.4)
    for layer in lines:
        first = True
        for g in layer.geoms:
            for part in getattr(g, "geoms", [g]):
                xs, ys = part.xy
                ax.plot(xs, ys, label=layer.label if first else None, **{"linewidth": 2, **layer.style})
                first = False
    for layer in points:
        if len(layer.x):
            ax.scatter(layer.x, layer.y, label=layer.label, zorder=3, **{"s": 25, **layer.style})
    for x, y, text in labels:
        ax.annotate(text, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_aspect("equal")
    if extent is not None:
        ax.set_xlim(extent[0], extent[2])
        ax.set_ylim(extent[1], extent[3])
    ax.set_title(title)
    ax.set_xlabel("RD x (m)")
    ax.set_ylabel("RD y (m)")
    ax.ticklabel_format(style="plain")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    if gpkg is not None:
        from laadplan.export import write_gpkg

        write_gpkg(gpkg, map_layers(outline, lines, points))
    return path
