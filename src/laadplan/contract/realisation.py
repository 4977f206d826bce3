"""Realisation against plan: EVSEs placed versus planned per municipality per year, and the region's
total against the concession target.

"Placed" means **commissioned**: an EVSE that was not in its operator's feed when that feed was first
loaded, and whose first ``last_updated`` (when it first reached the store; else that ingest's time) falls
on or after the concession start. Every locations ingest stamps the EVSEs it sees for the first time
(:func:`stamp_evses`, table ``evse_commissioning``); the EVSEs of an operator (party) in the first load of
its feed are the **baseline**: existing stock, never placed. So a first load of the NDW feed places
nothing, and the next loads place what is new. A store without stamps (filled before this table existed,
or by hand) has no placement figure: n/a, not its whole stock. Planned EVSEs are ``plan_sites.evses``
summed per ``year`` and ``gm_code``. The region's cumulative placements since the concession start are
held against ``concession_target_evses`` and against a linear path
``target * years_elapsed / len(placement_years)``.
"""

from __future__ import annotations

import pandas as pd

from laadplan.config import RegionConfig

EVSE_KEY = ["country_code", "party_id", "location_id", "evse_uid"]


def stamp_evses(store, run_utc) -> int:
    """Record the EVSEs in ``evses`` not stamped yet (see the module doc): first_ingested_utc = ``run_utc``,
    first_last_updated_utc = their last_updated now, baseline = their party had no stamped EVSE before this
    run. Returns the number stamped."""
    if not store.has_table("evse_commissioning"):
        return 0
    match = " AND ".join(f'c."{k}" = e."{k}"' for k in EVSE_KEY)
    cols = ", ".join(f'e."{k}"' for k in EVSE_KEY)
    before = store.query("SELECT count(*) AS n FROM evse_commissioning")["n"].iloc[0]
    store.con.execute(
        f"INSERT INTO evse_commissioning ({', '.join(EVSE_KEY)}, first_ingested_utc, first_last_updated_utc, "
        f"baseline) SELECT {cols}, ?::TIMESTAMP, e.last_updated_utc, "
        f"e.party_id NOT IN (SELECT DISTINCT party_id FROM evse_commissioning) "
        f"FROM evses e WHERE NOT EXISTS (SELECT 1 FROM evse_commissioning c WHERE {match})", [run_utc])
    return int(store.query("SELECT count(*) AS n FROM evse_commissioning")["n"].iloc[0] - before)


def commissioned(store, since) -> pd.DataFrame | None:
    """Per stamped EVSE: the EVSE key, baseline, commissioned_utc (first last_updated, else first ingest;
    NaT for the baseline) and placed (not baseline and commissioned on or after ``since``). None when the
    store has no stamps."""
    if not store.has_table("evse_commissioning"):
        return None
    c = store.query("SELECT * FROM evse_commissioning")
    if c.empty:
        return None
    t = pd.to_datetime(c["first_last_updated_utc"]).fillna(pd.to_datetime(c["first_ingested_utc"]))
    base = c["baseline"].astype("boolean").fillna(False).astype(bool)
    c["commissioned_utc"] = t.where(~base)
    c["placed"] = (~base & (c["commissioned_utc"] >= pd.Timestamp(since))).fillna(False).astype(bool)
    return c[EVSE_KEY + ["baseline", "commissioned_utc", "placed"]]


def realisation(placed: pd.DataFrame, plan: pd.DataFrame | None, tz: str = "Europe/Amsterdam") -> pd.DataFrame:
    """Per year and gm_code: placed, planned (NaN without a plan), realisation_share = placed / planned.

    ``placed``: one row per placed EVSE with gm_code and first_seen_utc (its commissioning time).
    ``plan``: plan_sites (year, gm_code, evses).
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


def region_progress(real: pd.DataFrame, year: int, cfg: RegionConfig, known: bool = True) -> dict:
    """Cumulative placements since the concession start up to ``year`` against the target. ``known=False``
    (no commissioning data): placed figures are None."""
    cc, bc = cfg.contract, cfg.budget
    start_year = cc.concession_start.year
    cum = int(real.loc[(real["year"] >= start_year) & (real["year"] <= year), "placed"].sum())
    years = sorted(bc.placement_years)
    elapsed = sum(1 for y in years if y <= year)
    path = cc.concession_target_evses * elapsed / len(years) if years else float("nan")
    planned_year = real.loc[real["year"] == year, "planned"].sum(min_count=1)
    return {
        "year": year,
        "placed_in_year": int(real.loc[real["year"] == year, "placed"].sum()) if known else None,
        "planned_in_year": None if pd.isna(planned_year) else float(planned_year),
        "placed_cumulative": cum if known else None,
        "target_evses": cc.concession_target_evses,
        "target_share": cum / cc.concession_target_evses if cc.concession_target_evses and known else None,
        "target_path_evses": path,
        "on_path": bool(cum >= path) if years and known else None,
    }
