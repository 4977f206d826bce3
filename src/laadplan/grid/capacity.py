"""Capacity-map helpers: RAG colours and status codes, PC6 and EAN18 codes, and the congestion status
of points (sites, connections) from the ``grid_areas`` table.

Pure functions over values and DataFrames; the capacity-map reader is :mod:`laadplan.ingest.grid`.

Status codes (Netbeheer Nederland capaciteitskaart, offtake = *afname*):
``0`` available, ``1`` limited, ``2`` under investigation / congestion management, ``3`` shortage,
``-1`` unknown. The official JSON schema (v1.3.0) carries RAG colours instead of numbers; we map
``transparant -> 0``, ``yellow -> 1``, ``amber -> 2``, ``red -> 3`` (the colour legend of the public map).
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd

from laadplan import geo

RAG_TO_STATUS: dict[str, int] = {"transparant": 0, "transparent": 0, "yellow": 1, "amber": 2, "red": 3}
UNKNOWN_STATUS = -1
_PC6 = re.compile(r"^\s*([1-9][0-9]{3})\s*([A-Za-z]{2})\s*$")


def status_from_value(v) -> int | None:
    """A capacity-map status from a number (-1..3), a numeric string or a RAG colour; None if invalid."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return UNKNOWN_STATUS
    if isinstance(v, str):
        s = v.strip().lower()
        if s == "":
            return UNKNOWN_STATUS
        if s in RAG_TO_STATUS:
            return RAG_TO_STATUS[s]
        try:
            f = float(s.replace(",", "."))
        except ValueError:
            return None
    else:
        try:
            f = float(v)
        except (TypeError, ValueError):
            return None
    if f != int(f) or not -1 <= f <= 3:
        return None
    return int(f)


def normalise_pc6(v) -> str | None:
    """``'3011 ab'`` -> ``'3011AB'``; None when not a Dutch PC6."""
    if v is None or v is pd.NA or not isinstance(v, str):
        return None
    m = _PC6.match(v)
    return (m.group(1) + m.group(2).upper()) if m else None


def ean18_valid(code) -> bool:
    """True for an 18-digit EAN (GTIN/GSRN style) whose last digit is the GS1 mod-10 check digit.

    GS1: from the rightmost data digit leftwards, weights alternate 3, 1, 3, ...; the check digit makes
    the weighted sum a multiple of 10.
    """
    if not isinstance(code, str) or len(code) != 18 or not code.isdigit():
        return False
    return int(code[-1]) == ean18_check_digit(code[:17])


def ean18_check_digit(first17: str) -> int:
    digits = [int(c) for c in first17]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def wkb_bytes(df: pd.DataFrame, col: str = "geometry_wkb") -> pd.DataFrame:
    """A copy with ``col`` as ``bytes`` (DuckDB returns BLOBs as ``bytearray``, which shapely refuses)."""
    out = df.copy()
    out[col] = [bytes(b) if isinstance(b, (bytearray, memoryview)) else b for b in out[col]]
    return out


def year_refuses(year: int, refuse_from: date, request_month: int = 7) -> bool:
    """A plan year refuses new connections in congested areas when its connection requests (assumed made
    on the first of ``request_month`` of that year) fall on or after the refusal date."""
    return date(year, request_month, 1) >= refuse_from


def point_status(x_rd, y_rd, postal_codes, grid_areas: pd.DataFrame) -> pd.DataFrame:
    """Capacity-map area and offtake status of each RD point.

    Precedence: the PC6 row of the point's postal code (finest), else the supply-area polygon that
    contains the point, else unknown (-1). Returns columns ``area_code``, ``offtake_status``,
    ``demand_alleviation_year``, ``demand_available_mw``, ``area_level`` and ``capacity_area`` (the supply
    area whose available MW bounds new connections; a PC6's parent) aligned with the input.
    """
    n = len(x_rd)
    out = pd.DataFrame({
        "area_code": pd.Series([pd.NA] * n, dtype="string"),
        "offtake_status": np.full(n, UNKNOWN_STATUS, dtype="int64"),
        "demand_alleviation_year": pd.Series([pd.NA] * n, dtype="Int64"),
        "demand_available_mw": np.full(n, np.nan),
        "area_level": pd.Series([pd.NA] * n, dtype="string"),
        "capacity_area": pd.Series([pd.NA] * n, dtype="string"),
    })
    if n == 0 or grid_areas is None or grid_areas.empty:
        return out
    ga = grid_areas.copy()
    ga["offtake_status"] = ga["offtake_status"].fillna(UNKNOWN_STATUS).astype("int64")
    # supply areas with a polygon
    sa = wkb_bytes(ga[(ga["level"] == "supply_area") & ga["geometry_wkb"].notna()].reset_index(drop=True))
    if len(sa):
        lon, lat = geo.to_wgs84(x_rd, y_rd)
        codes = geo.assign_area(lon, lat, sa, code_col="area_code")
        hit = codes.notna().to_numpy()
        if hit.any():
            m = sa.set_index("area_code").loc[codes[hit].to_numpy()]
            out.loc[hit, "area_code"] = codes[hit].to_numpy()
            out.loc[hit, "offtake_status"] = m["offtake_status"].to_numpy()
            out.loc[hit, "demand_alleviation_year"] = m["demand_alleviation_year"].to_numpy()
            out.loc[hit, "demand_available_mw"] = m["demand_available_mw"].astype("float64").to_numpy()
            out.loc[hit, "area_level"] = "supply_area"
            out.loc[hit, "capacity_area"] = codes[hit].to_numpy()
    # PC6 rows override (finer); a PC6 inherits the alleviation year of its parent supply area
    pc = ga[ga["level"] == "pc6"]
    if len(pc) and postal_codes is not None:
        parent = ga[ga["level"] != "pc6"].drop_duplicates("area_code").set_index("area_code")
        pcs = pd.Series([normalise_pc6(p) for p in postal_codes], dtype="object")
        lut = pc.drop_duplicates("area_code").set_index("area_code")
        hit = pcs.isin(lut.index).to_numpy()
        if hit.any():
            rows = lut.loc[pcs[hit].to_numpy()]
            out.loc[hit, "area_code"] = pcs[hit].to_numpy()
            out.loc[hit, "offtake_status"] = rows["offtake_status"].to_numpy()
            alle = rows["demand_alleviation_year"].astype("Int64")
            par = rows["parent_code"].astype("object")
            fill = [parent["demand_alleviation_year"].get(p) if (pd.isna(a) and isinstance(p, str)) else a
                    for a, p in zip(alle, par)]
            out.loc[hit, "demand_alleviation_year"] = pd.array(fill, dtype="Int64")
            mw = [parent["demand_available_mw"].get(p) if isinstance(p, str) else np.nan for p in par]
            out.loc[hit, "demand_available_mw"] = np.asarray(mw, dtype="float64")
            out.loc[hit, "area_level"] = "pc6"
            out.loc[hit, "capacity_area"] = pd.array([p if isinstance(p, str) else pd.NA for p in par],
                                                     dtype="string")
    return out
