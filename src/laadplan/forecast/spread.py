"""Spreading the national EV share over areas (gemeente, PC4, buurt: whatever the user loaded).

For a vehicle class ``v``, a year ``t`` and a scenario, each group ``G`` of areas (a province when the
areas carry one, else the whole set) receives the control total

    T_G = s_v(t) * sum_{a in G} f_a(t),

the national electric share :func:`laadplan.forecast.fleet.electric_share` times the group's fleet.
The total is spread in proportion to fleet times adoption weight,

    EV_a = T_G * f_a w_a / sum_{b in G} f_b w_b,

with no area above ``max_area_ev_share`` of its fleet: capped areas are fixed at the cap and the rest is
spread again over the others (water filling), so ``sum_a EV_a = T_G`` always holds when the cap allows.

Adoption weight (passenger cars; vans and trucks use w = 1, business fleets follow the fleet):

    w_a = (inc_a / inc_mean)^e_inc * (cph_a / cph_mean)^e_cph
          * exp(b_park * (priv_a - priv_mean)) * exp(b_urb * (urb_a - urb_mean)),

inc = income per inhabitant, cph = cars per household, priv = 1 - share of homes without private
parking (driveways lead to private points and earlier adoption), urb = CBS urbanity class 1..5. A factor
whose input is missing for an area is 1. Means are plain means over the areas that have the value. The
share without private parking comes from the data, else from ``share_no_private_parking_by_urbanity``,
else ``default_share_no_private_parking``.

Area fleets ``f_a(t)``: observed counts where present; later years extrapolate the area's log-linear
trend ``ln f = alpha + g t`` fitted on its observed years (``g`` clipped to the configured range); one
observation grows with the national car fleet growth.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from laadplan.forecast.fleet import _fc, electric_share

log = logging.getLogger(__name__)

VEHICLE_COLUMNS = {"car": "cars", "van": "vans", "truck": "trucks"}


def fit_growth(years: np.ndarray, counts: np.ndarray) -> float:
    """Least-squares slope g of ln(count) on year (continuous growth rate per year); 0 with < 2 points."""
    ok = counts > 0
    years, counts = np.asarray(years, float)[ok], np.asarray(counts, float)[ok]
    if len(years) < 2 or np.ptp(years) == 0:
        return 0.0
    return float(np.polyfit(years, np.log(counts), 1)[0])


def project_fleet(counts: pd.DataFrame, years: list[int], cfg) -> pd.DataFrame:
    """Fleet per area, year and vehicle class for ``years``.

    ``counts`` has area_code, year and any of cars, vans, trucks (plus tractor_units, added to trucks).
    Returns area_code, year, vehicle, fleet_count (observed when the year was observed, else the
    extrapolated trend from the last observed year). Zero counts before an area's first positive one
    mean the area did not exist yet (municipal merger) and are ignored. Vectorised: the least-squares
    slope is ``g = sum (t - t_mean)(ln f - lnf_mean) / sum (t - t_mean)^2`` per area from group sums.
    """
    fc = _fc(cfg)
    c = counts.copy()
    if "tractor_units" in c.columns and "trucks" in c.columns:
        c["trucks"] = c["trucks"].astype("float64") + c["tractor_units"].astype("float64").fillna(0)
    value_cols = [col for col in VEHICLE_COLUMNS.values() if col in c.columns]
    long = c.melt(id_vars=["area_code", "year"], value_vars=value_cols, var_name="col", value_name="f")
    long["f"] = pd.to_numeric(long["f"], errors="coerce").astype("float64")
    long = long[long["f"].notna() & (long["f"] >= 0)].sort_values(["col", "area_code", "year"])
    long["year"] = long["year"].astype("int64")
    keys = ["col", "area_code"]
    started = long.assign(pos=long["f"] > 0).groupby(keys)["pos"].cummax()
    any_pos = long.assign(pos=long["f"] > 0).groupby(keys)["pos"].transform("any")
    long = long[started | ~any_pos]
    last = long.groupby(keys).tail(1).set_index(keys)[["year", "f"]].rename(columns={"year": "last_year",
                                                                                    "f": "last_f"})
    pos = long[long["f"] > 0].assign(lnf=lambda d: np.log(d["f"]))
    grp = pos.groupby(keys)
    n = grp.size()
    tm = grp["year"].transform("mean")
    lm = grp["lnf"].transform("mean")
    pos = pos.assign(sxy=(pos["year"] - tm) * (pos["lnf"] - lm), sxx=(pos["year"] - tm) ** 2)
    sums = pos.groupby(keys)[["sxy", "sxx"]].sum()
    g = np.where((n >= 2) & (sums["sxx"] > 0), sums["sxy"] / sums["sxx"].where(sums["sxx"] > 0, 1.0),
                 np.log1p(fc.car_fleet_growth_per_year))
    g = pd.Series(np.clip(g, np.log1p(fc.area_fleet_growth_min), np.log1p(fc.area_fleet_growth_max)), index=n.index)
    last["g"] = g.reindex(last.index).fillna(np.log1p(fc.car_fleet_growth_per_year))
    obs = long.set_index(keys + ["year"])["f"]
    grid = last.reset_index().merge(pd.DataFrame({"year": list(years)}), how="cross")
    trend = grid["last_f"] * np.exp(grid["g"] * (grid["year"] - grid["last_year"]))
    seen = obs.reindex(pd.MultiIndex.from_frame(grid[keys + ["year"]])).to_numpy()
    grid["fleet_count"] = np.where(np.isfinite(seen), seen, trend)
    inv = {v: k for k, v in VEHICLE_COLUMNS.items()}
    grid["vehicle"] = grid["col"].map(inv)
    out = grid[["area_code", "year", "vehicle", "fleet_count"]].sort_values(["vehicle", "area_code", "year"])
    return out.reset_index(drop=True)


def share_no_private_parking(attrs: pd.DataFrame, cfg) -> pd.Series:
    """Share of homes without private parking per area: data, else by urbanity class, else the default."""
    fc = _fc(cfg)
    idx = attrs["area_code"]
    s = pd.Series(np.nan, index=idx.values, dtype="float64")
    if "share_no_private_parking" in attrs.columns:
        s[:] = pd.to_numeric(attrs["share_no_private_parking"], errors="coerce").to_numpy(dtype="float64",
                                                                                         na_value=np.nan)
    if "urbanity" in attrs.columns:
        urb = pd.to_numeric(attrs["urbanity"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        by_urb = np.array([fc.share_no_private_parking_by_urbanity.get(int(u), np.nan) if np.isfinite(u) else np.nan
                           for u in urb])
        s = s.where(s.notna(), pd.Series(by_urb, index=s.index))
    return s.fillna(fc.default_share_no_private_parking)


def adoption_weights(attrs: pd.DataFrame, cfg) -> pd.DataFrame:
    """Adoption weight per area (module docstring); returns area_code, weight, share_no_private_parking."""
    fc = _fc(cfg)
    n = len(attrs)
    logw = np.zeros(n)

    def col(name: str) -> np.ndarray:
        if name not in attrs.columns:
            return np.full(n, np.nan)
        return pd.to_numeric(attrs[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)

    for name, e in (("income_per_inhabitant_keur", fc.weight_income_elasticity),
                    ("cars_per_household", fc.weight_cars_per_household_elasticity)):
        x = col(name)
        ok = np.isfinite(x) & (x > 0)
        if ok.any() and e != 0:
            logw[ok] += e * np.log(x[ok] / x[ok].mean())
    snp = share_no_private_parking(attrs, fc).to_numpy()
    priv = 1.0 - snp
    logw += fc.weight_private_parking * (priv - priv.mean())
    urb = col("urbanity")
    ok = np.isfinite(urb)
    if ok.any() and fc.weight_urbanity_per_step != 0:
        logw[ok] += fc.weight_urbanity_per_step * (urb[ok] - urb[ok].mean())
    return pd.DataFrame({"area_code": attrs["area_code"].to_numpy(), "weight": np.exp(logw),
                         "share_no_private_parking": snp})


def spread_total(total: float, fleet: np.ndarray, weight: np.ndarray, cap_share: float = 1.0) -> np.ndarray:
    """Split ``total`` over areas in proportion to fleet x weight, no area above cap_share x fleet.

    Water filling: areas whose proportional part exceeds their cap are fixed at the cap and the
    remainder is spread again over the others. The result sums to ``total`` unless every area is capped.
    """
    f = np.asarray(fleet, float)
    w = np.asarray(weight, float)
    ev = np.zeros_like(f)
    cap = cap_share * f
    free = (f > 0) & (w > 0)
    remaining = float(total)
    for _ in range(len(f) + 1):
        denom = float((f[free] * w[free]).sum())
        if denom <= 0 or remaining <= 0:
            break
        trial = np.where(free, remaining * f * w / denom, 0.0)
        over = free & (trial > cap)
        if not over.any():
            ev[free] = trial[free]
            remaining = 0.0
            break
        ev[over] = cap[over]
        remaining -= float(cap[over].sum())
        free &= ~over
    if remaining > 1e-6 * max(total, 1.0):
        log.warning("spread: %.0f of %.0f vehicles could not be placed under the %.0f %% cap",
                    remaining, total, 100 * cap_share)
    return ev


def forecast_areas(fleet: pd.DataFrame, areas: pd.DataFrame, cfg, *, area_level: str,
                   scenarios: tuple[str, ...] = ("low", "middle", "high")) -> pd.DataFrame:
    """EV forecast per area (ev_forecast table rows).

    ``fleet``: area_code, year, vehicle, fleet_count (see :func:`project_fleet`). ``areas``: area_code and
    optionally gm_code, province, income_per_inhabitant_keur, cars_per_household, urbanity,
    share_no_private_parking. Areas missing from ``areas`` get weight 1 and no group.
    """
    fc = _fc(cfg)
    attrs = pd.DataFrame({"area_code": fleet["area_code"].drop_duplicates()}).merge(areas, on="area_code", how="left")
    w = adoption_weights(attrs, fc).set_index("area_code")["weight"]
    df = fleet.merge(attrs[["area_code"] + [c for c in ("gm_code", "province") if c in attrs.columns]],
                     on="area_code", how="left")
    if "gm_code" not in df.columns:
        df["gm_code"] = pd.NA
    group = df["province"].astype("object").fillna("") if "province" in df.columns else pd.Series("", index=df.index)
    df["_group"] = group.to_numpy()
    df["weight"] = np.where(df["vehicle"] == "car", df["area_code"].map(w).to_numpy(dtype=float), 1.0)
    df = df.sort_values(["year", "vehicle", "_group", "area_code"]).reset_index(drop=True)
    f_all = df["fleet_count"].to_numpy(float)
    w_all = df["weight"].to_numpy(float)
    gid = df.groupby(["year", "vehicle", "_group"], sort=False).ngroup().to_numpy()
    bounds = np.r_[0, np.flatnonzero(np.diff(gid)) + 1, len(df)]
    years, vehicles = df["year"].to_numpy(), df["vehicle"].to_numpy()
    out = []
    for sc in scenarios:
        ev = np.zeros(len(df))
        for b0, b1 in zip(bounds[:-1], bounds[1:]):
            f = f_all[b0:b1]
            share = electric_share(str(vehicles[b0]), int(years[b0]), sc, fc)
            ev[b0:b1] = spread_total(share * f.sum(), f, w_all[b0:b1], fc.max_area_ev_share)
        part = df[["area_code", "gm_code", "year", "vehicle", "fleet_count", "weight"]].copy()
        part["scenario"] = sc
        part["ev_count"] = ev
        part["ev_share"] = np.divide(ev, f_all, out=np.zeros_like(ev), where=f_all > 0)
        out.append(part)
    res = pd.concat(out, ignore_index=True)
    res["area_level"] = area_level
    res["year"] = res["year"].astype("int64")
    return res[["area_code", "area_level", "year", "scenario", "vehicle", "gm_code", "fleet_count", "weight",
                "ev_count", "ev_share"]]
