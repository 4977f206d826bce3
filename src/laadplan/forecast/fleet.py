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
