"""The region's concession costs against its budget (DOMAIN.md section 1).

Budget of a year: ``budget_eur_per_year_placement`` in a placement year, ``budget_eur_per_year_exploitation``
in the ``exploitation_years`` after the last placement year, else 0. ``remaining_total = budget_eur_total_max
- cumulative actuals`` and ``remaining_reserved = reserved_eur - cumulative actuals``.
"""

from __future__ import annotations

import pandas as pd

from laadplan.contract.settings import BudgetConfig


def budget_for_year(year: int, bc: BudgetConfig) -> float:
    if year in bc.placement_years:
        return bc.budget_eur_per_year_placement
    last = max(bc.placement_years) if bc.placement_years else None
    if last is not None and last < year <= last + bc.exploitation_years:
        return bc.budget_eur_per_year_exploitation
    return 0.0


def budget_table(costs: pd.DataFrame, bc: BudgetConfig, years: list[int] | None = None) -> pd.DataFrame:
    """Per year: actual_eur, budget_eur, variance_eur (actual - budget), over_budget, cumulative_eur,
    remaining_total_eur, remaining_reserved_eur."""
    c = costs.copy()
    c["year"] = c["year"].astype(int)
    act = c.groupby("year")["amount_eur"].sum()
    ys = sorted(set(years or []) | set(act.index) | set(bc.placement_years))
    out = pd.DataFrame({"year": ys})
    out["actual_eur"] = out["year"].map(act).fillna(0.0).astype(float)
    out["budget_eur"] = out["year"].map(lambda y: budget_for_year(int(y), bc)).astype(float)
    out["variance_eur"] = out["actual_eur"] - out["budget_eur"]
    out["over_budget"] = out["actual_eur"] > out["budget_eur"]
    out["cumulative_eur"] = out["actual_eur"].cumsum()
    out["remaining_total_eur"] = bc.budget_eur_total_max - out["cumulative_eur"]
    out["remaining_reserved_eur"] = bc.reserved_eur - out["cumulative_eur"]
    return out


def by_category(costs: pd.DataFrame, year: int) -> pd.DataFrame:
    c = costs[costs["year"].astype(int) == year]
    return (c.groupby(c["category"].fillna("overig"))["amount_eur"].sum().rename("amount_eur")
            .reset_index().sort_values("amount_eur", ascending=False).reset_index(drop=True))
