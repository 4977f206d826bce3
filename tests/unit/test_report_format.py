"""Dutch number formatting and the figure registry of the progress report."""

from __future__ import annotations

import pandas as pd
import pytest

from laadplan.report.builder import Figures, fmt_value, table_html


@pytest.mark.parametrize("value, kind, text", [
    (1234567, "int", "1.234.567"), (0.2345, "pct", "23,4 %"), (0.99957, "pct", "99,96 %"), (1.0, "pct", "100,0 %"),
    (158595.4, "eur", "\u20ac 158.595"), (0.42351, "price", "\u20ac 0,424"), (148.0, "days", "148,0 dagen"),
    (1234.56, "h", "1.234,6 uur"), (None, "int", "niet beschikbaar"), (float("nan"), "pct", "niet beschikbaar"),
])
def test_dutch_formatting(value, kind, text):
    assert fmt_value(value, kind) == text


def test_figures_run_their_query_and_carry_it(store):
    store.upsert("costs", pd.DataFrame([
        {"source_file": "c.csv", "position": 2, "year": 2026, "category": "data", "amount_eur": 1500.0},
        {"source_file": "c.csv", "position": 3, "year": 2026, "category": "advies", "amount_eur": 250.5}]))
    F = Figures(store)
    sql = "SELECT sum(amount_eur) FROM costs WHERE year = 2026"
    html = str(F.num("kosten", sql, "eur"))
    assert 'data-value="1750.5"' in html and "\u20ac 1.750" in html and 'data-query="SELECT sum(amount_eur)' in html
    missing = str(F.num("bestaat niet", "SELECT count(*) FROM no_such_table"))
    assert 'class="num na"' in missing and "niet beschikbaar" in missing
    assert [f.fid for f in F.items] == ["f1", "f2"] and F.items[0].value == 1750.5
    q = "SELECT category, amount_eur FROM costs ORDER BY amount_eur DESC"
    t = str(table_html(F.frame(q), {"category": ("categorie", "str"), "amount_eur": ("bedrag", "eur")}, query=q,
                       sid="s1"))
    assert t.index("data") < t.index("advies") and "\u20ac 1.500" in t and 'data-query="SELECT category' in t
