"""Tariff compliance: the highest energy price a driver can pay at each concession connector against the
maximum tariff of the period.

For an OCPI 2.2.1 tariff the price per kWh incl. VAT of one ENERGY price component is
``price * (1 + vat / 100)``; OCPI prices exclude VAT and an omitted ``vat`` means no VAT applies (the
configurable ``vat_pct_when_missing`` is used then, default 0). A tariff's figure is the **largest** ENERGY
component over all its elements, whatever their restrictions (time of day, power, ...): the norm is a
maximum, so the most expensive case counts. A connector's figure is the largest over its ``tariff_ids``;
a connector is compliant when that figure is at or below the norm of the period's quarter
(``max_tariff_by_period['2026Q3']``, else ``max_tariff_eur_kwh_incl_vat``). Connectors without a known
tariff are counted as ``unknown``, not as compliant.

Versions (``tariff_versions``): a tariff may change during the concession, so the price is taken from the
versions **in force during the period**. A version is in force from its ``last_updated_utc`` (or its OCPI
``start_utc`` when that is later) until the next version's start, and never outside ``start_utc`` ..
``end_utc``. The earliest known version also covers the time before its ``last_updated_utc`` (within its
OCPI window): no earlier version is known, and a store without history (one version per tariff, read from
``tariffs``) then behaves as before. When several versions of a connector's tariffs are in force in one
period (a change inside the quarter), the **highest** price counts, like the most expensive element:
the norm is a maximum that must hold throughout the period. Versions not in force in the period are ignored.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from laadplan.contract.periods import parse_period, quarter_label
from laadplan.contract.settings import ContractConfig

CONNECTOR_KEY = ["country_code", "party_id", "location_id", "evse_uid", "connector_id"]
TARIFF_KEY = ["country_code", "party_id", "tariff_id"]
_PRICE_COLUMNS = TARIFF_KEY + ["price_eur_kwh_incl_vat", "start_utc", "end_utc", "last_updated_utc"]


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


def tariff_history(tariffs: pd.DataFrame, versions: pd.DataFrame | None) -> pd.DataFrame:
    """Every known tariff version: the ``tariff_versions`` rows plus any ``tariffs`` row the history lacks
    (a store filled before the history existed). Both tables have the same columns."""
    if versions is None or versions.empty:
        return tariffs
    return pd.concat([versions, tariffs], ignore_index=True).drop_duplicates(
        TARIFF_KEY + ["last_updated_utc"], keep="first")


def versions_in_force(prices: pd.DataFrame) -> pd.DataFrame:
    """``prices`` (from :func:`tariff_prices`) with ``in_force_from_utc`` / ``in_force_until_utc`` (NaT =
    open), by the rule in the module doc: from max(last_updated, start) -- for the earliest version of a
    tariff its start -- until min(end, the next version's from)."""
    p = prices.sort_values(TARIFF_KEY + ["last_updated_utc"], kind="mergesort", na_position="first")
    p = p.reset_index(drop=True)
    frm = pd.concat([p["last_updated_utc"], p["start_utc"]], axis=1).max(axis=1)
    p["in_force_from_utc"] = frm.where(p.duplicated(TARIFF_KEY), p["start_utc"])
    nxt = p.groupby(TARIFF_KEY, dropna=False)["in_force_from_utc"].shift(-1)
    p["in_force_until_utc"] = pd.concat([p["end_utc"], nxt], axis=1).min(axis=1)
    return p


def tariff_prices(tariffs: pd.DataFrame, cc: ContractConfig) -> pd.DataFrame:
    """Per tariff (version): country_code, party_id, tariff_id, price_eur_kwh_incl_vat, start_utc, end_utc,
    last_updated_utc (NaT when not given).

    From ``elements_json`` when present (the definition above), else the store's
    ``energy_price_eur_kwh_max_incl_vat``.
    """
    t = tariffs.copy()
    if t.empty:
        return pd.DataFrame(columns=_PRICE_COLUMNS)
    from_el = t["elements_json"].map(lambda s: energy_price_incl_vat_max(s, cc.vat_pct_when_missing)) \
        if "elements_json" in t else pd.Series(None, index=t.index)
    fallback = t.get("energy_price_eur_kwh_max_incl_vat", pd.Series(np.nan, index=t.index))
    t["price_eur_kwh_incl_vat"] = pd.to_numeric(from_el, errors="coerce").fillna(pd.to_numeric(fallback))
    for c in ("start_utc", "end_utc", "last_updated_utc"):
        t[c] = pd.to_datetime(t[c]) if c in t else pd.NaT
    return t[_PRICE_COLUMNS]


def connector_tariffs(connectors: pd.DataFrame, tariffs: pd.DataFrame, period: str, cc: ContractConfig,
                      period_bounds: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> pd.DataFrame:
    """Per connector: max_price_eur_kwh_incl_vat over every version of its tariffs in force in the period
    (the worst one counts, see the module doc), n_tariffs (distinct tariffs priced), tariff_ids,
    worst_tariff_id, norm, status ('compliant' | 'over' | 'unknown').

    ``tariffs`` holds tariff versions (:func:`tariff_history`) or one row per tariff (``tariffs`` alone).
    Without ``period_bounds`` every version counts.
    """
    prices = tariff_prices(tariffs, cc)
    if period_bounds is not None and not prices.empty:
        p0, p1 = period_bounds
        prices = versions_in_force(prices)
        f, u = prices["in_force_from_utc"], prices["in_force_until_utc"]
        ok = (f.isna() | (f < p1)) & (u.isna() | (u > p0)) & (f.isna() | u.isna() | (f < u))
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
            worst_tariff_id=("tariff_id", "first"), n_tariffs=("tariff_id", "nunique")).reset_index()
    out = connectors[CONNECTOR_KEY + ["tariff_ids"]].merge(worst, on=CONNECTOR_KEY, how="left")
    norm = max_tariff_norm(period, cc)
    out["norm"] = norm
    price = out["max_price_eur_kwh_incl_vat"].astype(float)
    out["status"] = np.where(price.isna(), "unknown", np.where(price <= norm + 1e-9, "compliant", "over"))
    out["n_tariffs"] = out["n_tariffs"].fillna(0).astype(int)
    return out
