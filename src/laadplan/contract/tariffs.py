"""Tariff compliance: the highest energy price a driver can pay at each concession connector against the
maximum tariff of the period.

For an OCPI 2.2.1 tariff the price per kWh incl. VAT of one ENERGY price component is
``price * (1 + vat / 100)``; OCPI prices exclude VAT and an omitted ``vat`` means no VAT applies (the
configurable ``vat_pct_when_missing`` is used then, default 0). A tariff's figure is the **largest** ENERGY
component over all its elements, whatever their restrictions (time of day, power, ...): the norm is a
maximum, so the most expensive case counts. A connector's figure is the largest over its ``tariff_ids``;
a connector is compliant when that figure is at or below the norm of the period's quarter
(``max_tariff_by_period['2026Q3']``, else ``max_tariff_eur_kwh_incl_vat``). Connectors without a known
tariff are counted as ``unknown``, not as compliant. Tariffs whose validity window (``start_utc`` ..
``end_utc``) does not overlap the period are ignored.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from laadplan.contract.periods import parse_period, quarter_label
from laadplan.contract.settings import ContractConfig

CONNECTOR_KEY = ["country_code", "party_id", "location_id", "evse_uid", "connector_id"]


def energy_price_incl_vat_max(elements: Any, vat_when_missing: float = 0.0) -> float | None:
    """Largest ENERGY price incl. VAT (EUR/kWh) over an OCPI tariff's elements (list or JSON text)."""
    if elements is None or (isinstance(elements, float) and np.isnan(elements)):
        return None
    if isinstance(elements, str):
        try:
            elements = json.loads(elements)
        except ValueError:
            return None
    best = None
    for el in elements or []:
        for pc in (el or {}).get("price_components") or []:
            if pc.get("type") != "ENERGY" or pc.get("price") is None:
                continue
            vat = pc.get("vat")
            vat = vat_when_missing if vat is None else float(vat)
            p = float(pc["price"]) * (1 + vat / 100.0)
            best = p if best is None else max(best, p)
    return best


def max_tariff_norm(period: str, cc: ContractConfig) -> float:
    """Norm for a month label (its quarter's override or the default); a year takes its strictest quarter."""
    _, months = parse_period(period)
    return min(cc.max_tariff_by_period.get(quarter_label(m), cc.max_tariff_eur_kwh_incl_vat) for m in months)


def tariff_prices(tariffs: pd.DataFrame, cc: ContractConfig) -> pd.DataFrame:
    """Per tariff: country_code, party_id, tariff_id, price_eur_kwh_incl_vat, start_utc, end_utc.

    From ``elements_json`` when present (the definition above), else the store's
    ``energy_price_eur_kwh_max_incl_vat``.
    """
    t = tariffs.copy()
    if t.empty:
        return pd.DataFrame(columns=["country_code", "party_id", "tariff_id", "price_eur_kwh_incl_vat",
                                     "start_utc", "end_utc"])
    from_el = t["elements_json"].map(lambda s: energy_price_incl_vat_max(s, cc.vat_pct_when_missing)) \
        if "elements_json" in t else pd.Series(None, index=t.index)
    fallback = t.get("energy_price_eur_kwh_max_incl_vat", pd.Series(np.nan, index=t.index))
    t["price_eur_kwh_incl_vat"] = pd.to_numeric(from_el, errors="coerce").fillna(pd.to_numeric(fallback))
    for c in ("start_utc", "end_utc"):
        if c not in t:
            t[c] = pd.NaT
    return t[["country_code", "party_id", "tariff_id", "price_eur_kwh_incl_vat", "start_utc", "end_utc"]]


def connector_tariffs(connectors: pd.DataFrame, tariffs: pd.DataFrame, period: str, cc: ContractConfig,
                      period_bounds: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> pd.DataFrame:
    """Per connector: max_price_eur_kwh_incl_vat over its tariffs valid in the period, n_tariffs,
    tariff_ids, worst_tariff_id, norm, status ('compliant' | 'over' | 'unknown')."""
    prices = tariff_prices(tariffs, cc)
    if period_bounds is not None and not prices.empty:
        p0, p1 = period_bounds
        ok = (prices["start_utc"].isna() | (prices["start_utc"] < p1)) & \
             (prices["end_utc"].isna() | (prices["end_utc"] > p0))
        prices = prices[ok]
    c = connectors[CONNECTOR_KEY + ["tariff_ids"]].copy()
    c["tariff_id"] = c["tariff_ids"].astype("string").fillna("").str.split(";")
    ex = c.explode("tariff_id")
    ex["tariff_id"] = ex["tariff_id"].astype("string").str.strip()
    ex = ex[ex["tariff_id"].notna() & (ex["tariff_id"] != "")]
    ex = ex.merge(prices[["country_code", "party_id", "tariff_id", "price_eur_kwh_incl_vat"]],
                  on=["country_code", "party_id", "tariff_id"], how="left")
    ex = ex.dropna(subset=["price_eur_kwh_incl_vat"])
    if ex.empty:
        worst = pd.DataFrame(columns=CONNECTOR_KEY + ["max_price_eur_kwh_incl_vat", "worst_tariff_id", "n_tariffs"])
    else:
        ex = ex.sort_values("price_eur_kwh_incl_vat", ascending=False, kind="mergesort")
        worst = ex.groupby(CONNECTOR_KEY, dropna=False).agg(
            max_price_eur_kwh_incl_vat=("price_eur_kwh_incl_vat", "first"),
            worst_tariff_id=("tariff_id", "first"), n_tariffs=("tariff_id", "size")).reset_index()
    out = connectors[CONNECTOR_KEY + ["tariff_ids"]].merge(worst, on=CONNECTOR_KEY, how="left")
    norm = max_tariff_norm(period, cc)
    out["norm"] = norm
    price = out["max_price_eur_kwh_incl_vat"].astype(float)
    out["status"] = np.where(price.isna(), "unknown", np.where(price <= norm + 1e-9, "compliant", "over"))
    out["n_tariffs"] = out["n_tariffs"].fillna(0).astype(int)
    return out
