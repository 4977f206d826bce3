"""Realisation against plan: EVSEs placed versus planned per municipality per year, and the region's
total against the concession target.

"Placed in year Y" means the EVSE's first appearance (:func:`laadplan.contract.delivery.first_seen`: the
earlier of its first status observation and its ``last_updated_utc``) falls in Y (local time). This
over-counts EVSEs whose history starts in Y only because the data does; the report says so. Planned
EVSEs are ``plan_sites.evses`` summed per ``year`` and ``gm_code``. The region's cumulative placements
since the concession start are held against ``concession_target_evses`` and against a linear path
``target * years_elapsed / len(placement_years)``.
"""

from __future__ import annotations

import pandas as pd

from laadplan.config import RegionConfig


def realisation(placed: pd.DataFrame, plan: pd.DataFrame | None, tz: str = "Europe/Amsterdam") -> pd.DataFrame:
    """Per year and gm_code: placed, planned (NaN without a plan), realisation_share = placed / planned.

    ``placed``: one row per EVSE with gm_code and first_seen_utc. ``plan``: plan_sites (year, gm_code, evses).
    """
    p = placed.dropna(subset=["first_seen_utc"]).copy()
    local = pd.to_datetime(p["first_seen_utc"]).dt.tz_localize("UTC").dt.tz_convert(tz)
    p["year"] = local.dt.year.astype(int)
    got = p.groupby(["year", p["gm_code"].fillna("onbekend")]).size().rename("placed")
    if plan is not None and not plan.empty:
        want = plan.groupby([plan["year"].astype(int), plan["gm_code"].fillna("onbekend")])["evses"].sum() \
            .rename("planned").astype(float)
        out = pd.concat([got, want], axis=1)
        out["placed"] = out["placed"].fillna(0).astype(int)
    else:
        out = got.to_frame()
        out["planned"] = float("nan")
    out.index.names = ["year", "gm_code"]
    out = out.reset_index()
    out["realisation_share"] = (out["placed"] / out["planned"]).where(out["planned"] > 0)
    return out.sort_values(["year", "gm_code"]).reset_index(drop=True)


def region_progress(real: pd.DataFrame, year: int, cfg: RegionConfig) -> dict:
    """Cumulative placements since the concession start up to ``year`` against the target."""
    cc, bc = cfg.contract, cfg.budget
    start_year = cc.concession_start.year
    cum = int(real.loc[(real["year"] >= start_year) & (real["year"] <= year), "placed"].sum())
    years = sorted(bc.placement_years)
    elapsed = sum(1 for y in years if y <= year)
    path = cc.concession_target_evses * elapsed / len(years) if years else float("nan")
    planned_year = real.loc[real["year"] == year, "planned"].sum(min_count=1)
    return {
        "year": year,
        "placed_in_year": int(real.loc[real["year"] == year, "placed"].sum()),
        "planned_in_year": None if pd.isna(planned_year) else float(planned_year),
        "placed_cumulative": cum,
        "target_evses": cc.concession_target_evses,
        "target_share": cum / cc.concession_target_evses if cc.concession_target_evses else None,
        "target_path_evses": path,
        "on_path": bool(cum >= path) if years else None,
    }
