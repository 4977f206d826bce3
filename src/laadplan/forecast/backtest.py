"""Backtest of the forecast methods on CBS data: fit on 2019-2022, predict later years, report errors.

* Municipal fleet: :func:`laadplan.forecast.spread.project_fleet` (the method the forecast uses to carry
  area fleets forward) is given only the fit years and predicts the test year (2023) per area.
* National BEV stock: the logit of the BEV share is fitted linearly on the fit years (the same logistic
  family as the scenario paths of :mod:`laadplan.forecast.fleet`), the car fleet log-linearly; the
  predicted stock (share x fleet) is compared with the observed stock of the later years (2023-2025).

Errors: absolute percentage error ``APE = |pred - obs| / obs``; ``MAPE`` its mean; a naive forecast
(last fitted value carried forward) is reported alongside as the baseline to beat.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laadplan.forecast.fleet import _fc, observed_car_shares
from laadplan.forecast.spread import fit_growth, project_fleet


def _summary(ape: np.ndarray, naive_ape: np.ndarray) -> dict:
    return {"n": int(len(ape)), "mape": float(np.mean(ape)), "median_ape": float(np.median(ape)),
            "max_ape": float(np.max(ape)), "naive_mape": float(np.mean(naive_ape))}


def backtest_areas(counts: pd.DataFrame, cfg, *, fit_years=(2019, 2020, 2021, 2022), test_year: int = 2023,
                   vehicle: str = "car") -> tuple[pd.DataFrame, dict]:
    """Predict ``test_year`` fleets per area from ``fit_years`` only.

    ``counts``: area_code, year, cars / vans / trucks (vehicle_counts rows of one level).
    Returns per-area rows (area_code, observed, predicted, naive, ape, naive_ape) and a summary dict.
    """
    fit = counts[counts["year"].isin(fit_years)]
    pred = project_fleet(fit, [test_year], cfg)
    pred = pred[pred["vehicle"] == vehicle][["area_code", "fleet_count"]].rename(columns={"fleet_count": "predicted"})
    col = {"car": "cars", "van": "vans", "truck": "trucks"}[vehicle]
    obs_df = counts[counts["year"] == test_year].copy()
    if vehicle == "truck" and "tractor_units" in obs_df.columns:
        obs_df[col] = obs_df[col].astype("float64") + obs_df["tractor_units"].astype("float64")
    obs = obs_df[["area_code", col]].rename(columns={col: "observed"})
    last_fit = fit[fit["year"] == max(fit_years)].copy()
    if vehicle == "truck" and "tractor_units" in last_fit.columns:
        last_fit[col] = last_fit[col].astype("float64") + last_fit["tractor_units"].astype("float64")
    naive = last_fit[["area_code", col]].rename(columns={col: "naive"})
    df = obs.merge(pred, on="area_code").merge(naive, on="area_code")
    df["observed"] = df["observed"].astype("float64")
    df["naive"] = df["naive"].astype("float64")
    # Areas that did not exist (zero fleet) in the last fit year, e.g. a municipality created by a merger,
    # cannot be predicted from their own history: excluded and listed.
    excluded = sorted(df.loc[(df["naive"] <= 0) | (df["observed"] <= 0), "area_code"].astype(str))
    df = df[(df["observed"] > 0) & (df["naive"] > 0)].reset_index(drop=True)
    df["ape"] = (df["predicted"] - df["observed"]).abs() / df["observed"]
    df["naive_ape"] = (df["naive"] - df["observed"]).abs() / df["observed"]
    if df.empty:
        raise ValueError(f"backtest: no areas with {col} observed in {test_year} and in the fit years {fit_years}")
    summary = _summary(df["ape"].to_numpy(), df["naive_ape"].to_numpy())
    summary["excluded"] = excluded
    return df, summary


def backtest_national(cfg, *, fit_years=(2019, 2020, 2021, 2022), test_years=(2023, 2024, 2025),
                      ) -> tuple[pd.DataFrame, dict]:
    """Predict the national BEV car stock of ``test_years`` from a logistic fit on ``fit_years``.

    logit(share) = a + b t (least squares on the fit years); fleet = exp(c + g t); stock = share x fleet.
    Also reports the error with the observed fleet (share model alone).
    """
    fc = _fc(cfg)
    shares = observed_car_shares(fc)
    missing = [y for y in (*fit_years, *test_years) if y not in shares]
    if missing:
        raise ValueError(f"backtest: no observed BEV stock for years {missing} in the forecast config")
    fy = np.array(fit_years, float)
    s = np.array([shares[y] for y in fit_years])
    b, a = np.polyfit(fy, np.log(s / (1 - s)), 1)
    fleet_fit = np.array([fc.car_fleet_observed[y] for y in fit_years])
    g = fit_growth(fy, fleet_fit)
    last = max(fit_years)
    rows = []
    for y in test_years:
        share = 1 / (1 + np.exp(-(a + b * y)))
        fleet_pred = fc.car_fleet_observed[last] * np.exp(g * (y - last))
        obs = fc.bev_stock_observed[y]
        pred = share * fleet_pred
        pred_obs_fleet = share * fc.car_fleet_observed[y]
        naive = fc.bev_stock_observed[last]
        rows.append({"year": y, "observed": obs, "predicted": pred, "predicted_share": share,
                     "predicted_with_observed_fleet": pred_obs_fleet, "naive": naive,
                     "ape": abs(pred - obs) / obs, "ape_observed_fleet": abs(pred_obs_fleet - obs) / obs,
                     "naive_ape": abs(naive - obs) / obs})
    df = pd.DataFrame(rows)
    summary = _summary(df["ape"].to_numpy(), df["naive_ape"].to_numpy())
    summary.update({"logit_slope_per_year": float(b), "fleet_growth_per_year": float(np.expm1(g))})
    return df, summary
