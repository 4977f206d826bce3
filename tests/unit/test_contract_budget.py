"""Costs reader and budget against the region's budget rules."""

from __future__ import annotations

import pandas as pd
import pytest

from laadplan.contract.budget import budget_for_year, budget_table, by_category
from laadplan.contract.settings import BudgetConfig
from laadplan.ingest import reader
from laadplan.ingest.base import SourceError

CSV = """year,category,amount_eur,description
2026,personeel,90000,regiomanager en data-analist
2026,data,"45000,50",LINDA en dashboards
2026,advies,20000,juridisch advies
2027,personeel,95000,
2027,data,,ontbreekt
2027,data,veel,geen getal
1999,data,10,te vroeg
2028,data,1,2,3
"""


def test_costs_reader_quarantines_bad_rows_and_is_idempotent(store, cfg, tmp_path):
    p = tmp_path / "costs.csv"
    p.write_text(CSV)
    ingest = reader("costs")
    r = ingest(store, str(p), cfg)
    assert (r.read, r.accepted, r.quarantined) == (8, 4, 4)
    assert dict(r.by_rule) == {"LP-MISSING": 1, "LP-TYPE": 1, "LP-COST-YEAR": 1, "LP-MALFORMED": 1}
    costs = store.frame("costs")
    assert costs.loc[costs["year"] == 2026, "amount_eur"].sum() == pytest.approx(155000.5)
    r2 = ingest(store, str(p), cfg)
    assert r2.upserts["costs"].inserted == 0 and store.count("costs") == 4
    assert store.count("quarantine", "kind = 'costs'") == 4
    # a corrected file replaces the changed line
    p.write_text(CSV.replace("20000,juridisch", "25000,juridisch"))
    ingest(store, str(p), cfg)
    assert store.count("costs") == 4
    assert store.frame("costs")["amount_eur"].sum() == pytest.approx(90000 + 45000.5 + 25000 + 95000)


def test_costs_reader_rejects_wrong_header(store, cfg, tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("jaar,bedrag\n2026,1\n")
    with pytest.raises(SourceError, match="x.csv"):
        reader("costs")(store, str(p), cfg)


def test_budget_per_year_and_cumulative():
    bc = BudgetConfig(placement_years=[2026, 2027], budget_eur_per_year_placement=150_000,
                      budget_eur_per_year_exploitation=40_000, exploitation_years=2,
                      budget_eur_total_max=400_000, reserved_eur=500_000)
    assert [budget_for_year(y, bc) for y in (2025, 2026, 2027, 2028, 2029, 2030)] == \
        [0, 150_000, 150_000, 40_000, 40_000, 0]
    costs = pd.DataFrame({"year": [2026, 2026, 2027, 2028], "category": ["a", "b", "a", None],
                          "amount_eur": [100_000.0, 60_000.0, 120_000.0, 50_000.0]})
    t = budget_table(costs, bc).set_index("year")
    assert t.loc[2026, "actual_eur"] == 160_000 and bool(t.loc[2026, "over_budget"])
    assert t.loc[2026, "variance_eur"] == 10_000
    assert not bool(t.loc[2027, "over_budget"]) and bool(t.loc[2028, "over_budget"])
    assert t.loc[2028, "cumulative_eur"] == 330_000
    assert t.loc[2028, "remaining_total_eur"] == 70_000 and t.loc[2028, "remaining_reserved_eur"] == 170_000
    cat = by_category(costs, 2026)
    assert list(cat["category"]) == ["a", "b"] and list(cat["amount_eur"]) == [100_000, 60_000]
