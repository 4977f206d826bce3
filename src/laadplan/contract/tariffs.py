"""Tariff compliance: what a driver can pay at each concession connector against the maximum tariff of the
period.

Scope. The norm is the concession's: it applies to the connectors of the concession's operator(s)
(``tariff_norm_party_ids``; empty = every operator) with a power type in ``tariff_norm_power_types`` (the
AC points; DC fast charging is not under the concession maximum). Other connectors get the same figures
with ``in_scope = False``: shown for comparison, never alerted. A connector without a power type is held to
the norm when its operator is.

Two figures per tariff (version), both incl. VAT and both held against the EUR/kWh norm:

* **per kWh**: the largest ENERGY component over all elements, whatever their restrictions (time of day,
  power, ...), ``price * (1 + vat / 100)``: the norm is a maximum, so the most expensive case counts.
* **typical session**: the price of ``typical_session_energy_kwh`` charged in ``typical_session_charging_h``
  and then ``typical_session_parking_h`` parked, with every component: FLAT once, ENERGY per kWh, TIME per
  hour charging, PARKING_TIME per hour connected without charging (OCPI 2.2.1). The session is walked in
  one-minute steps; at each step a dimension's price comes from the first element with that component whose
  energy / duration / power restrictions hold then (``min/max_kwh``, ``min/max_duration``,
  ``min/max_power``; reservation elements never). Elements restricted by time of day, weekday or date may or
  may not apply to a typical session, so each is a candidate and the most expensive candidate counts (the
  worst case, like the per-kWh figure). ``step_size`` is not applied. Divided by the energy it is an
  effective price per kWh, held against the same norm: a FLAT or idle fee counts too.

VAT. OCPI prices exclude VAT; a component may omit ``vat``. Then the region's assumption
``vat_pct_when_missing`` is used when set; when it is not, the incl.-VAT figure is unknown (NaN). A tariff
is **over** when a figure is above the norm (already without VAT when VAT is unknown: VAT can only add),
else **vat_unknown** when a non-zero component lacks VAT, else **compliant**. A connector takes the worst
verdict of its ``tariff_ids`` (over > vat_unknown > compliant); connectors without a known tariff are
``unknown``. The norm of a month is its quarter's (``max_tariff_by_period['2026Q3']``, else
``max_tariff_eur_kwh_incl_vat``).

Versions (``tariff_versions``): a tariff may change during the concession, so the price is taken from the
versions **in force during the period**. A version is in force from its ``last_updated_utc`` (or its OCPI
``start_utc`` when that is later) until the next version's start, and never outside ``start_utc`` ..
``end_utc``. The earliest known version also covers the time before its ``last_updated_utc`` (within its
OCPI window): no earlier version is known, and a store without history (one version per tariff, read from
``tariffs``) then behaves as before. When several versions of a connector's tariffs are in force in one
period (a change inside the quarter), the **worst** counts, like the most expensive element: the norm is a
maximum that must hold throughout the period. Versions not in force in the period are ignored.
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
_FIGURES = ["price_eur_kwh_incl_vat", "price_eur_kwh_excl_vat", "session_price_eur_incl_vat",
            "session_price_eur_excl_vat", "vat_known"]
_PRICE_COLUMNS = TARIFF_KEY + _FIGURES + ["start_utc", "end_utc", "last_updated_utc"]
STATUS_RANK = {"compliant": 0, "vat_unknown": 1, "over": 2}


def _parse_elements(elements: Any) -> list | None:
    if elements is None or (isinstance(elements, float) and np.isnan(elements)):
        return None
    if isinstance(elements, str):
        try:
            elements = json.loads(elements)
        except ValueError:
            return None
    return elements if isinstance(elements, list) else None


def _vat_factor(pc: dict, vat_when_missing: float | None) -> float | None:
    vat = pc.get("vat")
    if vat is None:
        return None if vat_when_missing is None else 1 + vat_when_missing / 100.0
    return 1 + float(vat) / 100.0


def energy_price_incl_vat_max(elements: Any, vat_when_missing: float | None = None) -> float | None:
    """Largest ENERGY price incl. VAT (EUR/kWh) over an OCPI tariff's elements (list or JSON text); None
    when there is no ENERGY component or a non-zero one lacks VAT and no assumption is given."""
    best = None
    for el in _parse_elements(elements) or []:
        for pc in (el or {}).get("price_components") or []:
            if pc.get("type") != "ENERGY" or pc.get("price") is None:
                continue
            price = float(pc["price"])
            f = _vat_factor(pc, vat_when_missing)
            if f is None and price != 0:
                return None
            p = price * (f or 1.0)
            best = p if best is None else max(best, p)
    return best


def energy_price_excl_vat_max(elements: Any) -> float | None:
    """Largest ENERGY price excl. VAT (EUR/kWh); None without an ENERGY component."""
    vals = [float(pc["price"]) for el in _parse_elements(elements) or []
            for pc in (el or {}).get("price_components") or []
            if pc.get("type") == "ENERGY" and pc.get("price") is not None]
    return max(vals) if vals else None


_TIME_RESTRICTIONS = ("start_time", "end_time", "start_date", "end_date", "day_of_week", "min_current",
                      "max_current")


def _holds(r: dict, kwh: float, hours: float, power_kw: float) -> bool:
    """Do an element's energy / duration / power restrictions hold at this moment of the session?"""
    def num(k):
        v = r.get(k)
        return None if v is None else float(v)
    checks = ((num("min_kwh"), kwh, True), (num("max_kwh"), kwh, False),
              (num("min_duration"), hours * 3600.0, True), (num("max_duration"), hours * 3600.0, False),
              (num("min_power"), power_kw, True), (num("max_power"), power_kw, False))
    return all(v is None or (x >= v if is_min else x < v) for v, x, is_min in checks)


def _candidates(elements: list, dim: str, kwh: float, hours: float, power_kw: float) -> list[dict]:
    """Components of type ``dim`` that may set the price at this moment (see the module doc)."""
    out = []
    for el in elements:
        r = (el or {}).get("restrictions") or {}
        if r.get("reservation"):
            continue
        comps = [pc for pc in (el or {}).get("price_components") or [] if pc.get("type") == dim
                 and pc.get("price") is not None]
        if not comps or not _holds(r, kwh, hours, power_kw):
            continue
        out.extend(comps)
        if not any(r.get(k) not in (None, [], "") for k in _TIME_RESTRICTIONS):
            break  # this element always applies when reached: later ones never do
    return out


def session_price(elements: Any, energy_kwh: float, charging_h: float, parking_h: float,
                  vat_when_missing: float | None = None, step_h: float = 1 / 60) -> tuple[float | None, float | None]:
    """(price excl. VAT, price incl. VAT) in EUR of one session under an OCPI tariff, by the rule in the
    module doc; incl. VAT is None when a component that adds money lacks VAT and no assumption is given.
    (None, None) when the elements cannot be read."""
    els = _parse_elements(elements)
    if els is None:
        return None, None
    power = energy_kwh / charging_h
    total_h = charging_h + parking_h
    n = max(1, int(round(total_h / step_h)))
    dt = total_h / n
    excl, incl, known = 0.0, 0.0, True
    flat_excl, flat_incl = 0.0, 0.0
    for i in range(n):
        t0, t1 = i * dt, (i + 1) * dt
        tm = (t0 + t1) / 2
        charging_part = max(0.0, min(t1, charging_h) - t0)
        parking_part = dt - charging_part
        kwh_at = power * min(tm, charging_h)
        for dim, qty in (("ENERGY", power * charging_part), ("TIME", charging_part), ("PARKING_TIME", parking_part),
                         ("FLAT", None)):
            if qty == 0:
                continue
            cands = _candidates(els, dim, kwh_at, tm, power if tm < charging_h else 0.0)
            if not cands:
                continue
            prices = [float(pc["price"]) for pc in cands]
            facs = [_vat_factor(pc, vat_when_missing) for pc in cands]
            if any(f is None and p != 0 for p, f in zip(prices, facs)):
                known = False
            best_excl = max(prices)
            best_incl = max(p * (f or 1.0) for p, f in zip(prices, facs))
            if dim == "FLAT":
                flat_excl, flat_incl = max(flat_excl, best_excl), max(flat_incl, best_incl)
            else:
                excl += best_excl * qty
                incl += best_incl * qty
    return excl + flat_excl, (incl + flat_incl) if known else None


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
    """Per tariff (version): country_code, party_id, tariff_id, price_eur_kwh_incl_vat / _excl_vat (largest
    ENERGY component), session_price_eur_incl_vat / _excl_vat (the typical session), vat_known, start_utc,
    end_utc, last_updated_utc (NaT when not given). Incl.-VAT figures are NaN when VAT is unknown.

    From ``elements_json`` when present (the definitions above), else the store's
    ``energy_price_eur_kwh_max(_incl_vat)`` (no session figure then).
    """
    t = tariffs.copy()
    if t.empty:
        return pd.DataFrame(columns=_PRICE_COLUMNS)
    el = t["elements_json"] if "elements_json" in t else pd.Series(None, index=t.index, dtype="object")
    vm = cc.vat_pct_when_missing
    has_el = el.map(lambda x: _parse_elements(x) is not None)
    inc = el.map(lambda x: energy_price_incl_vat_max(x, vm))
    exc = el.map(energy_price_excl_vat_max)
    memo: dict = {}  # many tariffs (and versions) share their elements

    def sess_of(x):
        k = x if isinstance(x, str) else json.dumps(x, sort_keys=True, default=str)
        if k not in memo:
            memo[k] = session_price(x, cc.typical_session_energy_kwh, cc.typical_session_charging_h,
                                    cc.typical_session_parking_h, vm)
        return memo[k]

    sess = el.map(sess_of)
    fb_inc = pd.to_numeric(t.get("energy_price_eur_kwh_max_incl_vat", pd.Series(np.nan, index=t.index)))
    fb_exc = pd.to_numeric(t.get("energy_price_eur_kwh_max", pd.Series(np.nan, index=t.index)))
    t["price_eur_kwh_incl_vat"] = pd.to_numeric(inc.where(has_el), errors="coerce").where(has_el, fb_inc)
    t["price_eur_kwh_excl_vat"] = pd.to_numeric(exc.where(has_el), errors="coerce").where(has_el, fb_exc)
    t["session_price_eur_excl_vat"] = pd.to_numeric(sess.map(lambda x: x[0]), errors="coerce")
    t["session_price_eur_incl_vat"] = pd.to_numeric(sess.map(lambda x: x[1]), errors="coerce")
    kwh_known = t["price_eur_kwh_incl_vat"].notna() | t["price_eur_kwh_excl_vat"].isna()
    sess_known = t["session_price_eur_incl_vat"].notna() | t["session_price_eur_excl_vat"].isna()
    t["vat_known"] = (kwh_known & sess_known).astype(bool)
    for c in ("start_utc", "end_utc", "last_updated_utc"):
        t[c] = pd.to_datetime(t[c]) if c in t else pd.NaT
    return t[_PRICE_COLUMNS]


def tariff_verdicts(prices: pd.DataFrame, norm: float, energy_kwh: float) -> pd.DataFrame:
    """``prices`` with session_price_eur_kwh_incl_vat (typical session / its energy), effective_eur_kwh (the
    larger per-kWh figure, excl. VAT where VAT is unknown) and status (compliant | over | vat_unknown; see
    the module doc)."""
    p = prices.copy()
    p["session_price_eur_kwh_incl_vat"] = p["session_price_eur_incl_vat"].astype(float) / energy_kwh
    sess_exc = p["session_price_eur_excl_vat"].astype(float) / energy_kwh
    lower = pd.concat([p["price_eur_kwh_incl_vat"].astype(float).fillna(p["price_eur_kwh_excl_vat"].astype(float)),
                       p["session_price_eur_kwh_incl_vat"].fillna(sess_exc)], axis=1).max(axis=1)
    p["effective_eur_kwh"] = lower
    over = (lower > norm + 1e-9).fillna(False)
    p["status"] = np.where(over, "over", np.where(p["vat_known"].astype(bool), "compliant", "vat_unknown"))
    p.loc[lower.isna() & ~over, "status"] = None  # no price at all: unknown
    return p


def in_norm_scope(connectors: pd.DataFrame, cc: ContractConfig) -> pd.Series:
    """True for the connectors the concession norm applies to (party and power type, see the module doc)."""
    ok = pd.Series(True, index=connectors.index)
    if cc.tariff_norm_party_ids:
        ok &= connectors["party_id"].astype("string").str.upper().isin(
            [x.upper() for x in cc.tariff_norm_party_ids]).fillna(False)
    if cc.tariff_norm_power_types and "power_type" in connectors:
        pt = connectors["power_type"].astype("string")
        ok &= (pt.isin(cc.tariff_norm_power_types) | pt.isna()).fillna(True)  # unknown type: held to the norm
    return ok.astype(bool)


def connector_tariffs(connectors: pd.DataFrame, tariffs: pd.DataFrame, period: str, cc: ContractConfig,
                      period_bounds: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> pd.DataFrame:
    """Per connector: max_price_eur_kwh_incl_vat (largest ENERGY price, NaN when its VAT is unknown),
    session_price_eur_incl_vat and session_price_eur_kwh_incl_vat (typical session), over every version of
    its tariffs in force in the period (the worst one counts, see the module doc); n_tariffs (distinct
    tariffs priced), tariff_ids, worst_tariff_id, effective_eur_kwh (the larger per-kWh figure, excl. VAT
    where VAT is unknown: what the verdict compares), norm, status ('compliant' | 'over' | 'vat_unknown' |
    'unknown') and in_scope (the concession norm applies; needs ``power_type`` to check power types).

    ``tariffs`` holds tariff versions (:func:`tariff_history`) or one row per tariff (``tariffs`` alone).
    Without ``period_bounds`` every version counts.
    """
    norm = max_tariff_norm(period, cc)
    prices = tariff_prices(tariffs, cc)
    if period_bounds is not None and not prices.empty:
        p0, p1 = period_bounds
        prices = versions_in_force(prices)
        f, u = prices["in_force_from_utc"], prices["in_force_until_utc"]
        ok = (f.isna() | (f < p1)) & (u.isna() | (u > p0)) & (f.isna() | u.isna() | (f < u))
        prices = prices[ok]
    prices = tariff_verdicts(prices, norm, cc.typical_session_energy_kwh) if len(prices) else \
        prices.assign(session_price_eur_kwh_incl_vat=np.nan, effective_eur_kwh=np.nan, status=None)
    prices = prices[prices["status"].notna()]
    c = connectors[CONNECTOR_KEY + ["tariff_ids"]].copy()
    c["tariff_id"] = c["tariff_ids"].astype("string").fillna("").str.split(";")
    ex = c.explode("tariff_id")
    ex["tariff_id"] = ex["tariff_id"].astype("string").str.strip()
    ex = ex[ex["tariff_id"].notna() & (ex["tariff_id"] != "")]
    cols = ["price_eur_kwh_incl_vat", "session_price_eur_incl_vat", "session_price_eur_kwh_incl_vat",
            "effective_eur_kwh", "status"]
    ex = ex.merge(prices[["country_code", "party_id", "tariff_id"] + cols],
                  on=["country_code", "party_id", "tariff_id"], how="inner")
    if ex.empty:
        worst = pd.DataFrame(columns=CONNECTOR_KEY + ["max_price_eur_kwh_incl_vat", "session_price_eur_incl_vat",
                                                      "session_price_eur_kwh_incl_vat", "effective_eur_kwh",
                                                      "worst_tariff_id", "n_tariffs", "status"])
    else:
        ex["_rank"] = ex["status"].map(STATUS_RANK)
        ex = ex.sort_values(["_rank", "effective_eur_kwh"], ascending=False, kind="mergesort")
        worst = ex.groupby(CONNECTOR_KEY, dropna=False).agg(
            status=("status", "first"), worst_tariff_id=("tariff_id", "first"), n_tariffs=("tariff_id", "nunique"),
            max_price_eur_kwh_incl_vat=("price_eur_kwh_incl_vat", lambda x: x.max(skipna=False)),
            session_price_eur_incl_vat=("session_price_eur_incl_vat", lambda x: x.max(skipna=False)),
            session_price_eur_kwh_incl_vat=("session_price_eur_kwh_incl_vat", lambda x: x.max(skipna=False)),
            effective_eur_kwh=("effective_eur_kwh", "max"),
        ).reset_index()
    keep = CONNECTOR_KEY + ["tariff_ids"] + (["power_type"] if "power_type" in connectors else [])
    out = connectors[keep].merge(worst, on=CONNECTOR_KEY, how="left")
    out["norm"] = norm
    out["status"] = out["status"].fillna("unknown").astype(str)
    out["n_tariffs"] = out["n_tariffs"].fillna(0).astype(int)
    for col in ("max_price_eur_kwh_incl_vat", "session_price_eur_incl_vat", "session_price_eur_kwh_incl_vat",
                "effective_eur_kwh"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    out["in_scope"] = in_norm_scope(out, cc).to_numpy()
    return out
