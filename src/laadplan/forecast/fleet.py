"""National EV stock paths per scenario (passenger cars, vans, trucks).

The share of a vehicle class that is battery-electric follows a logistic (S-shaped) path: its logit
is linear in time,

    logit(s(t)) = logit(s_base) + (logit(s_2035) - logit(s_base)) * (t - t_base) / (2035 - t_base),

through the observed base-year share ``s_base`` and the scenario's 2035 share. For passenger cars the
years up to the base year are the observed CBS stock (config ``bev_stock_observed`` / ``car_fleet_observed``,
CBS StatLine 85237NED); the base-year share 1.62 M / 9.25 M = 17.5 % and the middle 2035 share of 50 %
(ElaadNL 2025) make the middle path consistent with DOMAIN.md section 4. The national car fleet grows by
``car_fleet_growth_per_year`` after the last observed year.

The same logit-linear family is what the backtest (:mod:`laadplan.forecast.backtest`) fits on 2019-2022
and checks against 2023-2025.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from laadplan.forecast.settings import ForecastConfig

TARGET_YEAR = 2035
VEHICLES = ("car", "van", "truck")


def _fc(cfg) -> ForecastConfig:
    """Accept a RegionConfig or a ForecastConfig."""
    return cfg if isinstance(cfg, ForecastConfig) else cfg.forecast


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def observed_car_shares(cfg) -> dict[int, float]:
    """Observed national BEV share of passenger cars per year (years present in both config series)."""
    fc = _fc(cfg)
    return {y: fc.bev_stock_observed[y] / fc.car_fleet_observed[y]
            for y in sorted(fc.bev_stock_observed) if y in fc.car_fleet_observed}


def _base(vehicle: str, fc: ForecastConfig) -> tuple[int, float]:
    if vehicle == "car":
        obs = observed_car_shares(fc)
        years = [y for y in obs if y <= fc.base_year]
        if not years:
            raise ValueError("forecast config: no observed BEV stock at or before base_year")
        y0 = max(years)
        return y0, obs[y0]
    if vehicle == "van":
        return fc.base_year, fc.van_bev_share_base
    if vehicle == "truck":
        return fc.base_year, fc.truck_bev_share_base
    raise ValueError(f"unknown vehicle {vehicle!r}; one of {VEHICLES}")


def _target(vehicle: str, scenario: str, fc: ForecastConfig) -> float:
    if vehicle not in VEHICLES:
        raise ValueError(f"unknown vehicle {vehicle!r}; one of {VEHICLES}")
    table = {"car": fc.bev_share_2035, "van": fc.van_bev_share_2035, "truck": fc.truck_bev_share_2035}[vehicle]
    try:
        return table[scenario]
    except KeyError:
        raise ValueError(f"unknown scenario {scenario!r}; one of {sorted(table)}") from None


def electric_share(vehicle: str, year: int, scenario: str, cfg) -> float:
    """National share of the ``vehicle`` fleet (car|van|truck) that is battery-electric in ``year``.

    Observed years (cars) return the CBS share; later years follow the scenario's logistic path (module
    docstring); earlier years without observations extrapolate the same path backwards.
    """
    fc = _fc(cfg)
    target = _target(vehicle, scenario, fc)
    if vehicle == "car":
        obs = observed_car_shares(fc)
        if year in obs and year <= fc.base_year:
            return obs[year]
    y0, s0 = _base(vehicle, fc)
    if y0 >= TARGET_YEAR:
        return target
    slope = (logit(target) - logit(s0)) / (TARGET_YEAR - y0)
    return expit(logit(s0) + slope * (year - y0))


def national_car_fleet(year: int, cfg) -> float:
    """National passenger car fleet (all fuels): observed, else grown from the last observed year."""
    fc = _fc(cfg)
    obs = fc.car_fleet_observed
    if year in obs:
        return obs[year]
    last = max(obs)
    first = min(obs)
    if year < first:
        return obs[first] * (1 + fc.car_fleet_growth_per_year) ** (year - first)
    return obs[last] * (1 + fc.car_fleet_growth_per_year) ** (year - last)


def stock_paths(cfg, years: list[int] | None = None, scenarios: tuple[str, ...] = ("low", "middle", "high"),
                ) -> pd.DataFrame:
    """National paths: year, scenario, vehicle, ev_share, and for cars fleet and BEV stock.

    ``observed`` marks car rows taken from CBS rather than the scenario path.
    """
    fc = _fc(cfg)
    years = years or list(range(min(fc.bev_stock_observed), max(fc.years) + 1))
    obs = observed_car_shares(fc)
    rows = []
    for sc in scenarios:
        for v in VEHICLES:
            for y in years:
                s = electric_share(v, y, sc, fc)
                fleet = national_car_fleet(y, fc) if v == "car" else np.nan
                rows.append({"year": y, "scenario": sc, "vehicle": v, "ev_share": s,
                             "national_fleet": fleet, "national_ev_stock": s * fleet if v == "car" else np.nan,
                             "observed": v == "car" and y in obs and y <= fc.base_year})
    return pd.DataFrame(rows)


def stations_once(locations: pd.DataFrame, evses: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Locations and EVSEs with every charge point counted once, for the AFIR fleet check's public power.

    Operators publish the same EVSEs under two OCPI locations (the same ``country_code, party_id,
    evse_uid`` at two location ids, at one point: 20,939 EVSEs in the NDW feed of Zuid-Holland and
    Zeeland); summing per location would count their power twice. The EVSE is kept at its first location
    (sorted by location key); a location whose EVSEs are all counted elsewhere is left out (else its
    ``n_evses x max_power_kw`` would count them again). Locations without EVSE rows (point-only sources)
    listed twice, with the same coordinates, operator, EVSE count and power, count once. Returns the two
    frames and the counts removed (``evses``, ``locations``).
    """
    lk = ["country_code", "party_id", "location_id"]
    ek = ["country_code", "party_id", "evse_uid"]
    if len(evses) and set(ek) <= set(evses.columns):
        ev = evses.sort_values(lk + ["evse_uid"], kind="stable")
        dup = ev.duplicated(ek, keep="first")
        kept = ev[~dup]
    else:
        ev, dup, kept = evses, pd.Series(False, index=evses.index), evses
    had = ev[lk].drop_duplicates()
    still = kept[lk].drop_duplicates().assign(_keep=True)
    gone = had.merge(still, on=lk, how="left")
    gone = gone[gone["_keep"].isna()][lk]
    loc = locations.merge(gone.assign(_gone=True), on=lk, how="left")
    n_gone = int(loc["_gone"].notna().sum())
    loc = loc[loc["_gone"].isna()].drop(columns="_gone")
    # point-only duplicates: no EVSE rows, same place, operator, count and power
    no_rows = ~loc.set_index(lk).index.isin(had.set_index(lk).index)
    sig = [c for c in ("lat", "lon", "operator", "n_evses", "max_power_kw") if c in loc.columns]
    n_point = 0
    if {"lat", "lon"} <= set(sig):
        key = loc[sig].astype("string").fillna("")
        twice = key.duplicated(keep="first") & no_rows & loc["lat"].notna().to_numpy()
        n_point = int(twice.sum())
        loc = loc[~twice.to_numpy()]
    return loc.reset_index(drop=True), kept.reset_index(drop=True), \
        {"evses": int(dup.sum()), "locations": n_gone + n_point}
