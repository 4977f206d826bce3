"""Coordinate helpers: WGS84 <-> RD New (EPSG:28992), CBS grid cells, point-in-area assignment.

Distances and buffers are always computed in RD New metres; storage and serving stay WGS84.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from pyproj import Transformer

WGS84 = "EPSG:4326"
RD_NEW = "EPSG:28992"


@lru_cache(maxsize=None)
def _to_rd() -> Transformer:
    return Transformer.from_crs(WGS84, RD_NEW, always_xy=True)


@lru_cache(maxsize=None)
def _to_wgs() -> Transformer:
    return Transformer.from_crs(RD_NEW, WGS84, always_xy=True)


def to_rd(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 lon/lat (degrees) -> RD New x/y (metres). NaN in, NaN out."""
    x, y = _to_rd().transform(np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64"))
    return np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")


def to_wgs84(x, y) -> tuple[np.ndarray, np.ndarray]:
    """RD New x/y (metres) -> WGS84 lon/lat (degrees)."""
    lon, lat = _to_wgs().transform(np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64"))
    return np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")


def cell_code(x, y, size_m: int = 500) -> pd.Series:
    """CBS grid cell code of RD points: ``E`` + easting and ``N`` + northing of the cell's lower-left corner
    in hectometres, 4 digits each (``E0920N4370`` for the 500 m cell whose corner is 92000, 437000)."""
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    ok = np.isfinite(x) & np.isfinite(y)
    ex = (np.floor(np.where(ok, x, 0) / size_m) * size_m / 100).astype("int64")
    ny = (np.floor(np.where(ok, y, 0) / size_m) * size_m / 100).astype("int64")
    codes = pd.Series([f"E{a:04d}N{b:04d}" for a, b in zip(ex, ny)], dtype="string")
    codes[~ok] = pd.NA
    return codes


def cell_bounds(code: str, size_m: int = 500) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) in RD New of a cell code made by :func:`cell_code`."""
    x0 = int(code[1:5]) * 100.0
    y0 = int(code[6:10]) * 100.0
    return x0, y0, x0 + size_m, y0 + size_m


def assign_area(lon, lat, areas: "pd.DataFrame", code_col: str = "area_code") -> pd.Series:
    """Code of the polygon each WGS84 point falls in (``<NA>`` outside all of them).

    ``areas`` has ``code_col`` and ``geometry_wkb`` (WGS84). A point on a shared border goes to the first
    polygon in ``areas`` order that covers it.
    """
    import shapely

    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    out = pd.Series(pd.NA, index=range(len(lon)), dtype="string")
    if len(lon) == 0 or len(areas) == 0:
        return out
    polys = shapely.from_wkb(areas["geometry_wkb"].to_numpy())
    ok = np.isfinite(lon) & np.isfinite(lat)
    pts = shapely.points(lon[ok], lat[ok])
    tree = shapely.STRtree(polys)
    pidx, aidx = tree.query(pts, predicate="covered_by")
    if len(pidx):
        # first polygon (lowest index) per point
        order = np.lexsort((aidx, pidx))
        pidx, aidx = pidx[order], aidx[order]
        first = np.unique(pidx, return_index=True)[1]
        okpos = np.flatnonzero(ok)
        codes = areas[code_col].astype("string").to_numpy()
        out.iloc[okpos[pidx[first]]] = codes[aidx[first]]
    return out


def pairwise_within(xa, ya, xb, yb, radius_m: float):
    """Index pairs (i in a, j in b) with Euclidean RD distance <= radius_m, and the distances.

    Uses a KD-tree from shapely's STRtree (dwithin predicate) so it scales to region size.
    """
    import shapely

    a = shapely.points(np.asarray(xa, dtype="float64"), np.asarray(ya, dtype="float64"))
    b = shapely.points(np.asarray(xb, dtype="float64"), np.asarray(yb, dtype="float64"))
    tree = shapely.STRtree(b)
    ia, ib = tree.query(a, predicate="dwithin", distance=radius_m)
    d = np.hypot(np.asarray(xa, dtype="float64")[ia] - np.asarray(xb, dtype="float64")[ib],
                 np.asarray(ya, dtype="float64")[ia] - np.asarray(yb, dtype="float64")[ib])
    return ia, ib, d
