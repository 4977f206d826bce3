"""The yearly progress report (*voortgangsrapportage*): one self-contained HTML file (Dutch), optionally a PDF.

Every number in the report is the result of a SQL query on the store, run here when the report is built:
:class:`Figures` executes the query, formats the first cell and emits
``<span class="num" id="fN" data-query="SQL" data-value="raw">`` so anyone can re-run it; the appendix
lists every figure with its SQL. Tables and charts carry the query (or the laadplan function) they were
drawn from in ``data-query`` / ``data-source``. Contract figures come from ``contract_kpis``, which
:func:`laadplan.contract.run.compute_contract` fills for the report year first. Absent analyses (no
plan, no forecast, no logistics tables) show "niet beschikbaar".
"""

from __future__ import annotations

import html
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from laadplan.config import RegionConfig
from laadplan.report import charts
from laadplan.report.labels import month_nl, nl, weekday_nl
from laadplan.store import Store, sql_literal

log = logging.getLogger(__name__)
NA = "niet beschikbaar"
NOTES_NL = {"no request log: lead times not available":
            "er is geen aanvraaglog (tabel requests of --requests): doorlooptijden zijn niet beschikbaar.",
            "no placement workflow events (site_events) before the period end: realisation and lead time of the "
            "plan sites n/a":
            "er zijn geen besluiten over plan-locaties vastgelegd in het werkproces van de webapp (tabel "
            "site_events): realisatie en doorlooptijd van de plan-locaties zijn niet beschikbaar."}
#: the contract run's notes with figures in them (pattern -> Dutch text with the same groups)
NOTES_NL_PATTERNS = [
    (re.compile(r"(\d+) EVSEs were in the first load of their operator's feed: the baseline, not counted as placed"),
     lambda m: f"{fmt_value(int(m.group(1)))} laadpunten zaten in de eerste levering van de databron van hun "
               "operator: dat is de nulmeting (bestaande voorraad), niet geplaatst."),
    (re.compile(r"no commissioning stamps in the store.*"),
     lambda m: "de gegevens vermelden niet wanneer laadpunten voor het eerst zijn ingelezen: geplaatste laadpunten "
               "zijn niet beschikbaar."),
    (re.compile(r"tariff norm applied to party ids (.*) and power types (.*); (\d+) priced connectors of other "
                r"operators or power types are shown for comparison only"),
     lambda m: f"het maximumtarief geldt voor partij(en) {m.group(1)} en vermogenstype(n) {m.group(2)}; "
               f"{fmt_value(int(m.group(3)))} connectoren met een tarief van andere aanbieders of typen staan alleen "
               "ter vergelijking in de gegevens."),
    (re.compile(r"(\d+) concession connectors have a tariff without VAT.*"),
     lambda m: f"{fmt_value(int(m.group(1)))} connectoren van de concessie hebben een tarief zonder btw-opgave: "
               "oordeel 'btw onbekend' (de instelling contract.vat_pct_when_missing legt een aanname vast)."),
]


def note_nl(note: str) -> str:
    """A contract note in Dutch (the report shows no English text)."""
    if note in NOTES_NL:
        return NOTES_NL[note]
    for pat, dutch in NOTES_NL_PATTERNS:
        m = pat.fullmatch(note)
        if m:
            return dutch(m)
    return note


# -- number formatting (Dutch) -------------------------------------------------------------------------
def fmt_value(v: Any, kind: str = "int") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return NA
    if kind == "pct":
        s = f"{float(v) * 100:,.{2 if 0.99 <= float(v) < 1 else 1}f}"
        return s.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".") + " %"
    if kind == "eur":
        return "\u20ac " + f"{float(v):,.0f}".replace(",", ".")
    if kind == "price":
        return "\u20ac " + f"{float(v):.3f}".replace(".", ",")
    if kind in ("dec1", "days", "h"):
        s = f"{float(v):,.1f}".replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")
        return s + {"days": " dagen", "h": " uur", "dec1": ""}[kind]
    return f"{float(v):,.0f}".replace(",", ".")


@dataclass
class Figure:
    fid: str
    label: str
    sql: str
    value: Any
    text: str
    kpi: str | None = None


@dataclass
class Figures:
    """Numbers with the query behind them."""

    store: Store
    items: list[Figure] = field(default_factory=list)
    sources: list[tuple[str, str, str]] = field(default_factory=list)  # (id, label, query or function)

    def value(self, sql: str) -> Any:
        try:
            r = self.store.con.execute(sql).fetchone()
        except duckdb.Error as e:  # a table of another family may be absent: the report says so
            log.info("report query failed (%s): %s", e, sql)
            return None
        if r is None or r[0] is None:
            return None
        v = r[0]
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    def num(self, label: str, sql: str, kind: str = "int", kpi: str | None = None) -> Markup:
        v = self.value(sql)
        fid = f"f{len(self.items) + 1}"
        text = fmt_value(v, kind)
        self.items.append(Figure(fid, label, sql, v, text, kpi))
        attrs = (f' id="{fid}" class="num{" na" if v is None else ""}" data-query="{html.escape(sql)}"'
                 f' data-value="{"" if v is None else html.escape(repr(v))}" title="{html.escape(label)}"')
        if kpi:
            attrs += f' data-kpi="{html.escape(kpi)}"'
        return Markup(f"<span{attrs}>{html.escape(text)}</span>")

    def kpi(self, period: str, kpi: str, label: str, kind: str = "int", level: str = "region",
            subject: str = "region") -> Markup:
        sql = (f"SELECT value FROM contract_kpis WHERE period = {sql_literal(period)} AND level = "
               f"{sql_literal(level)} AND subject_id = {sql_literal(subject)} AND kpi = {sql_literal(kpi)}")
        return self.num(label, sql, kind, kpi=kpi if level == "region" and subject == "region" else None)

    def frame(self, sql: str) -> pd.DataFrame | None:
        try:
            return self.store.query(sql)
        except duckdb.Error as e:  # absent table of another family
            log.info("report query failed (%s): %s", e, sql)
            return None

    def source(self, label: str, query: str) -> str:
        sid = f"s{len(self.sources) + 1}"
        self.sources.append((sid, label, query))
        return sid


def table_html(df: pd.DataFrame | None, cols: dict[str, tuple[str, str]], *, query: str, sid: str,
               max_rows: int = 25) -> Markup:
    """An HTML table; ``cols`` maps column -> (Dutch header, kind). Kind ``nl:<family>`` shows a stored code
    by its Dutch label (:mod:`laadplan.report.labels`)."""
    if df is None or df.empty:
        return Markup(f'<p class="na" data-query="{html.escape(query)}">{NA}</p>')
    head = "".join(f"<th>{html.escape(h)}</th>" for h, _ in cols.values())
    rows = []
    for _, r in df.head(max_rows).iterrows():
        cells = []
        for c, (_, kind) in cols.items():
            v = r.get(c)
            if kind.startswith("nl:"):
                cells.append(f"<td>{html.escape(nl(kind[3:], None if v is pd.NA else v) or chr(8211))}</td>")
            elif kind == "str":
                if isinstance(v, (bool, np.bool_)):
                    txt = "ja" if v else "nee"
                else:
                    txt = "" if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else str(v)
                cells.append(f"<td>{html.escape(txt)}</td>")
            else:
                v = None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v
                if isinstance(v, bool):
                    cells.append(f'<td class="r">{"ja" if v else "nee"}</td>')
                else:
                    cells.append(f'<td class="r">{html.escape(fmt_value(v, kind)) if v is not None else "&ndash;"}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (f'<p class="more">{len(df) - max_rows} rijen meer (zie de query in bijlage {sid})</p>'
            if len(df) > max_rows else "")
    return Markup(f'<table data-query="{html.escape(query)}" data-source-id="{sid}"><thead><tr>{head}</tr></thead>'
                  f'<tbody>{"".join(rows)}</tbody></table>{more}')


def _fn_span(text: str, value: Any, source: str, sid: str) -> Markup:
    """A number computed by a laadplan function (not a single query): it names the function call."""
    v = "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))
    return Markup(f'<span class="fn" data-source="{html.escape(source)}" data-source-id="{sid}" '
                  f'data-value="{v}">{html.escape(text)}</span>')


def figure_html(content: Markup | None, caption: str, query: str, sid: str) -> Markup:
    if content is None:
        return Markup(f'<p class="na">{html.escape(caption)}: {NA}</p>')
    return Markup(f'<figure data-query="{html.escape(query)}" data-source-id="{sid}">{content}'
                  f'<figcaption>{html.escape(caption)} <span class="src">[{sid}]</span></figcaption></figure>')


# -- the report ------------------------------------------------------------------------------------------
def _areas(F: Figures, gm: str | None = None) -> tuple[pd.DataFrame | None, str]:
    """The map areas: the region's gemeenten, or for one gemeente its buurten (else its own outline)."""
    q = "SELECT area_code, name, geometry_wkb FROM areas WHERE level = 'gemeente' AND geometry_wkb IS NOT NULL"
    if gm:
        q = ("SELECT area_code, name, geometry_wkb FROM areas WHERE level = 'buurt' AND geometry_wkb IS NOT NULL "
             f"AND gm_code = {sql_literal(gm)}")
        a = F.frame(q)
        if a is None or a.empty:
            q = ("SELECT area_code, name, geometry_wkb FROM areas WHERE level = 'gemeente' AND "
                 f"geometry_wkb IS NOT NULL AND area_code = {sql_literal(gm)}")
    a = F.frame(q)
    return (a if a is not None and len(a) else None), q


def _usage(store: Store, cfg: RegionConfig, year: int,
           gm: str | None = None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Usage KPIs of the year: (region, per gemeente), or for one gemeente (that gemeente, per buurt)."""
    try:
        from laadplan.kpi import usage_kpis
    except ImportError:
        return None, None
    try:
        if gm:
            reg = usage_kpis(store, cfg, "gemeente", f"{year}-01-01", f"{year}-12-31", gm=gm)
            gem = usage_kpis(store, cfg, "buurt", f"{year}-01-01", f"{year}-12-31", gm=gm)
            return reg[reg["gm_code"] == gm], gem
        reg = usage_kpis(store, cfg, "region", f"{year}-01-01", f"{year}-12-31")
        gem = usage_kpis(store, cfg, "gemeente", f"{year}-01-01", f"{year}-12-31")
    except (duckdb.Error, ValueError, KeyError) as e:  # another family failing must not sink the report
        log.warning("usage KPIs not available for the report: %s", e)
        return None, None
    return reg, gem


def _status_occupancy(store: Store, cfg: RegionConfig, year: int) -> pd.DataFrame | None:
    try:
        from laadplan.kpi import status_occupancy

        occ = status_occupancy(store, cfg, "gemeente", f"{year}-01-01", f"{year}-12-31")
    except (ImportError, duckdb.Error, ValueError, KeyError) as e:
        log.warning("status occupancy not available for the report: %s", e)
        return None
    return occ.dropna(subset=["gm_code", "mean_occupancy_share"]) if len(occ) else None


def _detail_note(F: Figures, cfg: RegionConfig) -> str | None:
    """A note naming the gemeenten where most laadpunten are known only as a count per location."""
    q = ("SELECT l.gm_code, coalesce(a.name, l.gm_code) AS name, count(*) AS evses, "
         "count(*) FILTER (WHERE e.derived_from_count) AS derived FROM evses e JOIN locations l "
         "USING (country_code, party_id, location_id) LEFT JOIN areas a ON a.area_code = l.gm_code "
         "WHERE l.gm_code IS NOT NULL GROUP BY ALL ORDER BY derived DESC, l.gm_code")
    df = F.frame(q)
    if df is None or df.empty:
        return None
    df = df[df["derived"] > cfg.kpi.evse_detail_missing_warn_share * df["evses"]]
    if df.empty:
        return None
    names = ", ".join(f"{n} ({fmt_value(d)} van {fmt_value(t)})" for n, d, t in
                      zip(df["name"].head(6), df["derived"].head(6), df["evses"].head(6)))
    more = f" en {len(df) - 6} andere gemeenten" if len(df) > 6 else ""
    return (f"van veel laadpunten is alleen het aantal per locatie bekend, zonder gegevens per laadpunt (status, "
            f"id, vermogen): {names}{more}. Ze tellen mee in de aantallen, niet in beschikbaarheid en tarieven.")


def gemeente_name(store: Store, gm: str) -> str | None:
    """The name of gemeente ``gm`` in the store's areas (None when the store does not know the code)."""
    try:
        r = store.con.execute("SELECT name FROM areas WHERE level = 'gemeente' AND area_code = ?", [gm]).fetchone()
    except duckdb.Error:
        return None
    return None if r is None else (r[0] or gm)


def build_context(store: Store, cfg: RegionConfig, year: int, *, requests: pd.DataFrame | None = None,
                  gm: str | None = None, contract=None) -> dict:
    """Everything the report template shows. With ``gm`` (a CBS gemeente code) the report of one gemeente:
    its own KPIs (contract_kpis level gemeente), charge points, usage per buurt, plan and alerts; the
    regional chapters (logistics, construction, budget, data delivery) are left to the regional report.
    ``contract``: the year's :func:`compute_contract` result when already computed (several reports)."""
    from laadplan.contract.periods import period_bounds
    from laadplan.contract.run import ALERT_RULES, KPI_LABELS, compute_contract

    P = str(year)
    res = contract if contract is not None else compute_contract(store, cfg, P, requests=requests)
    F = Figures(store)
    tz = cfg.region.time_zone
    start, end = (t.strftime("%Y-%m-%d %H:%M:%S") for t in period_bounds(P, tz))
    in_year = f"start_utc >= TIMESTAMP '{start}' AND start_utc < TIMESTAMP '{end}'"
    months_in = ", ".join(sql_literal(f"{P}-{m:02d}") for m in range(1, 13))
    areas, areas_q = _areas(F, gm)
    gm_name = gemeente_name(store, gm) if gm else None
    ctx: dict[str, Any] = {"year": year, "region": cfg.region.name, "cfg": cfg, "F": F, "NA": NA,
                           "notes": [note_nl(n) for n in res.notes], "gm": gm, "gm_name": gm_name}
    # the gemeente filter of the store queries ("" for the region)
    gm_loc = f" AND gm_code = {sql_literal(gm)}" if gm else ""
    gm_sessions = (f" AND (country_code, party_id, location_id) IN (SELECT country_code, party_id, location_id "
                   f"FROM locations WHERE gm_code = {sql_literal(gm)})") if gm else ""

    def k(kpi: str, kind: str = "int") -> Markup:
        if gm:
            return F.kpi(P, kpi, KPI_LABELS.get(kpi, (None, kpi))[1] + f" ({gm})", kind, level="gemeente",
                         subject=gm)
        return F.kpi(P, kpi, KPI_LABELS.get(kpi, (None, kpi))[1], kind)

    ctx["k"] = k
    detail = _detail_note(F, cfg)
    if detail:
        ctx["notes"].append(detail)
    # a figure whose value is missing (rendered "niet beschikbaar"): the template then words the sentence
    # around it instead of putting "niet beschikbaar" where a number belongs
    ctx["is_na"] = lambda fig: 'class="num na"' in str(fig)

    # ---- summary figures (all from contract_kpis, equal to `laadplan --json contract --year`) -------
    ctx["summary_cards"] = [
        ("Laadpunten in de concessie", k("n_evses")),
        ("Beschikbaarheid (uptime)", k("uptime_share", "pct")),
        ("Storingen", k("failures")),
        ("Connectoren binnen maximumtarief", k("tariff_compliant_share", "pct")),
        ("Doorlooptijd aanvraag (mediaan)", k("lead_time_median_days", "days")),
        ("Afgekeurde CDR's", k("cdr_rejected_share", "pct")),
        ("Geplaatst in " + P, k("placed_in_year")),
        ("Plan-locaties gerealiseerd (van akkoord)", k("site_realisation_share", "pct")),
        ("Kosten " + P, k("actual_eur", "eur")),
        ("Signaleringen", k("alerts")),
    ]
    if gm:
        ctx["summary_cards"] = [c for c in ctx["summary_cards"] if not c[0].startswith(
            ("Doorlooptijd", "Afgekeurde", "Kosten", "Signaleringen"))]
    ctx["store_figs"] = {
        "locations": F.num("laadlocaties in de store", "SELECT count(*) FROM locations" + (f" WHERE gm_code = {sql_literal(gm)}" if gm else "")),
        # the count every other output uses (kpi, forecast): REMOVED and PLANNED EVSEs are not laadpunten
        "evses": F.num("EVSE's in de store (zonder REMOVED/PLANNED)",
                       "SELECT count(*) FROM evses WHERE coalesce(status, '') NOT IN ('REMOVED', 'PLANNED')" + (
            f" AND (country_code, party_id, location_id) IN (SELECT country_code, party_id, location_id FROM "
            f"locations WHERE gm_code = {sql_literal(gm)})" if gm else "")),
        "sessions": F.num(f"laadsessies gestart in {P}", f"SELECT count(*) FROM sessions WHERE {in_year}{gm_sessions}"),
        "energy": F.num(f"geladen energie in {P} (kWh, sessies gestart in het jaar)",
                        f"SELECT round(sum(energy_kwh)) FROM sessions WHERE {in_year}{gm_sessions}"),
        "gemeenten": F.num("gemeenten met laadpunten",
                           "SELECT count(DISTINCT gm_code) FROM locations WHERE gm_code IS NOT NULL"),
    }

    # ---- Personenvervoer ----------------------------------------------------------------------------
    q = "SELECT lat, lon, has_dc FROM locations WHERE lat IS NOT NULL AND lon IS NOT NULL" + gm_loc
    loc = F.frame(q)
    sid = F.source("kaart laadlocaties", q)
    ctx["map_points"] = figure_html(
        charts.points_map(areas, loc.assign(kind=loc["has_dc"].fillna(False).map({True: "DC", False: "AC"})),
                          color_col="kind", categories={"AC": (charts.BLUE, "AC"), "DC": (charts.ORANGE, "snellader (DC)")})
        if loc is not None and len(loc) else None, "Publieke laadlocaties", q, sid)
    reg_u, gem_u = _usage(store, cfg, year, gm)
    usage_src = f"laadplan.kpi.usage_kpis(store, cfg, level, '{year}-01-01', '{year}-12-31')"
    # per gemeente in the regional report, per buurt in a gemeente's report
    sub, sub_level, sub_name = ("bu_code", "buurt", "buurt") if gm else ("gm_code", "gemeente", "gemeente")
    if gm:
        usage_src = usage_src.replace(")", f", gm={gm!r})")
    if gem_u is not None and len(gem_u) and (gem_u["sessions"].fillna(0) > 0).any():  # else: no session data
        sid = F.source(f"gebruikskengetallen per {sub_name}", usage_src.replace("level", f"'{sub_level}'"))
        g = gem_u.sort_values("sessions", ascending=False)
        if areas is not None:
            g = g.merge(areas[["area_code", "name"]].rename(columns={"area_code": sub}), on=sub, how="left")
        ctx["usage_table"] = table_html(g, {
            sub: (sub_name, "str"), "name": ("naam", "str"), "n_evses": ("EVSE's", "int"), "sessions": ("sessies", "int"),
            "energy_kwh": ("kWh", "int"), "occupancy_share": ("bezetting", "pct"),
            "peak_how_occupancy_share": ("piekuur-bezetting", "pct"), "kwh_per_session": ("kWh/sessie", "dec1"),
            "evening_session_share": ("avondsessies", "pct")}, query=usage_src, sid=sid, max_rows=15)
    else:
        ctx["usage_table"] = Markup(f'<p class="na">Gebruikskengetallen uit laadsessies: {NA}</p>')
    # the occupancy map: from sessions when any area has sessions linked to its laadpunten, else from
    # status observations (the caption says which); never a map of zeros standing for missing data
    if gem_u is not None and len(gem_u) and gem_u["occupancy_share"].notna().any():
        sid = F.source("kaart bezetting", usage_src.replace("level", f"'{sub_level}'"))
        ctx["map_occupancy"] = figure_html(
            charts.choropleth(areas, gem_u.set_index(sub)["occupancy_share"], label="bezetting",
                              cmap="YlOrRd", pct=True) if areas is not None else None,
            f"Gemiddelde bezetting per {sub_name} (uit laadsessies)", usage_src, sid)
        ctx["occupancy_source"] = "sessions"
    else:
        occ = _status_occupancy(store, cfg, year)
        if gm and occ is not None:  # status occupancy is per gemeente: map the gemeente itself
            occ = occ[occ["gm_code"] == gm]
            areas_occ = F.frame("SELECT area_code, name, geometry_wkb FROM areas WHERE level = 'gemeente' AND "
                                f"area_code = {sql_literal(gm)}")
        else:
            areas_occ = areas
        src = f"laadplan.kpi.status_occupancy(store, cfg, 'gemeente', '{year}-01-01', '{year}-12-31')"
        sid = F.source("kaart bezetting uit statusdata", src)
        if gm and occ is not None and len(occ):  # one gemeente: its figure, not a one-colour map
            v = occ["mean_occupancy_share"].iloc[0]
            ctx["map_occupancy"] = Markup(f"<p>Gemiddelde bezetting in {year} uit statuswaarnemingen (geen "
                                          f"laadsessies gekoppeld aan laadpunten): "
                                          f"{_fn_span(fmt_value(v, 'pct'), v, src, sid)}.</p>")
        else:
            ctx["map_occupancy"] = figure_html(
                charts.choropleth(areas_occ, occ.set_index("gm_code")["mean_occupancy_share"], label="bezetting",
                                  cmap="YlOrRd", pct=True)
                if occ is not None and len(occ) and areas_occ is not None and len(areas_occ) else None,
                "Gemiddelde bezetting per gemeente uit statuswaarnemingen (geen laadsessies gekoppeld aan "
                "laadpunten)", src, sid)
        ctx["occupancy_source"] = "status" if occ is not None and len(occ) else None
    if reg_u is not None and len(reg_u) and (reg_u.iloc[0].get("sessions") or 0) > 0 \
            and not pd.isna(reg_u.iloc[0].get("occupancy_share")):
        r = reg_u.iloc[0]
        reg_src = usage_src.replace("level", "'gemeente'" if gm else "'region'")
        sid = F.source("gebruikskengetallen regio", reg_src)
        ctx["usage_region"] = {c: _fn_span(fmt_value(r.get(c), kind), r.get(c), reg_src, sid) for c, kind in (
            ("occupancy_share", "pct"), ("peak_how_occupancy_share", "pct"), ("kwh_per_session", "dec1"),
            ("evening_session_share", "pct"), ("unique_users", "int"))}
        ctx["usage_region"]["peak_how"] = weekday_nl(r.get("peak_how"))
    q = ("SELECT p.gm_code, a.name, p.evses AS planned, c.value AS placed FROM (SELECT gm_code, sum(evses) AS evses "
         f"FROM plan_sites WHERE year = {year}{gm_loc} GROUP BY gm_code) p LEFT JOIN areas a ON a.area_code = p.gm_code "
         f"LEFT JOIN contract_kpis c ON c.period = {sql_literal(P)} AND c.level = 'gemeente' AND c.kpi = "
         "'placed_in_year' AND c.subject_id = p.gm_code ORDER BY p.evses DESC, p.gm_code")
    sid = F.source("realisatie per gemeente", q)
    ctx["realisation_table"] = table_html(F.frame(q), {"gm_code": ("gemeente", "str"), "name": ("naam", "str"),
                                                       "planned": ("gepland", "int"), "placed": ("geplaatst", "int")},
                                          query=q, sid=sid, max_rows=20)
    # the grid route tells how a site is fed; congestion_rule only says the plan applied the rule
    q = (f"SELECT lat, lon, evses, grid_route = 'existing_connection' AS on_existing FROM plan_sites "
         f"WHERE year = {year} AND lat IS NOT NULL AND lon IS NOT NULL{gm_loc} ORDER BY site_id, congestion_rule")
    plan = F.frame(q)
    sid = F.source("kaart plan", q)
    ctx["map_plan"] = figure_html(
        charts.points_map(areas, plan.assign(cong=plan["on_existing"].fillna(False).astype(bool)),
                          color_col="cong", size_col="evses",
                          categories={False: (charts.GREEN, "nieuwe aansluiting"),
                                      True: (charts.RED, "bestaande aansluiting (congestie)")})
        if plan is not None and len(plan) else None, f"Plan {year}: nieuwe laadlocaties", q, sid)
    ctx["real_figs"] = {"planned": k("planned_in_year"), "placed": k("placed_in_year"),
                        "cum": k("placed_cumulative"), "target_share": k("target_share", "pct"),
                        "path": k("target_path_evses")}

    # ---- Data -------------------------------------------------------------------------------------------
    q = ("SELECT kind, rule_code, count(*) AS records FROM quarantine GROUP BY kind, rule_code "
         "ORDER BY records DESC, kind, rule_code")
    qd = F.frame(q)
    sid = F.source("quarantaine per regel", q)
    ctx["quarantine_table"] = table_html(qd, {"kind": ("bron", "nl:kind"), "rule_code": ("regel", "str"),
                                              "records": ("aantal", "int")}, query=q, sid=sid)
    ctx["quarantine_chart"] = figure_html(
        charts.bar_chart((qd["kind"].map(lambda c: nl("kind", c)) + ": " + qd["rule_code"]).head(15),
                         qd["records"].head(15), horizontal=True, ylabel="aantal records in quarantaine")
        if qd is not None and len(qd) else None,
        "Records in quarantaine per validatieregel (de 15 grootste)" if qd is not None and len(qd) > 15
        else "Records in quarantaine per validatieregel", q, sid)
    q = ("SELECT kind, count(*) AS runs, sum(records_read) AS read, sum(records_accepted) AS accepted, "
         "sum(records_quarantined) AS quarantined FROM ingest_runs GROUP BY kind ORDER BY kind")
    sid = F.source("inleesrondes", q)
    ctx["ingest_table"] = table_html(F.frame(q), {"kind": ("bron", "nl:kind"), "runs": ("bestanden", "int"),
                                                  "read": ("gelezen", "int"), "accepted": ("geaccepteerd", "int"),
                                                  "quarantined": ("quarantaine", "int")}, query=q, sid=sid)
    ctx["data_figs"] = {"rejected": k("cdr_rejected_share", "pct"), "cdrs": k("cdrs_accepted"),
                        "undated": k("cdrs_rejected_undated"),
                        "cdrs_rej": k("cdrs_rejected"), "tariff_current": k("tariff_current_share", "pct"),
                        "coverage": k("status_coverage_share", "pct")}
    dsrc = f"laadplan.contract.delivery.cdr_rejections(quarantine, sessions, months of {P})"
    sid = F.source("aanlevering per operator", dsrc)
    dlv = res.delivery[res.delivery["party_id"] != "*"].copy()
    dlv["party_id"] = dlv["party_id"].replace("", "onbekend")
    ctx["delivery_table"] = table_html(dlv.sort_values(
        "rejected_share", ascending=False), {"party_id": ("operator (party)", "str"),
                                             "accepted": ("geaccepteerd", "int"), "rejected": ("afgekeurd", "int"),
                                             "rejected_share": ("aandeel afgekeurd", "pct")}, query=dsrc, sid=sid)
    gap_level, gap_key = ("buurt", "area_code") if gm else ("gemeente", "gm_code")
    q = (f"SELECT n.{gap_key}, n.year, sum(n.evses_gap) AS gap FROM forecast_need n WHERE n.area_level = '{gap_level}'{gm_loc} "
         f"AND n.year = (SELECT min(year) FROM forecast_need WHERE year >= {year}) AND n.scenario = "
         f"(SELECT min(scenario) FROM forecast_need WHERE scenario IN ('middle', 'midden', 'mid')) GROUP BY n.{gap_key}, n.year")
    gaps = F.frame(q)
    if gaps is None or gaps.empty:
        q = (f"SELECT {gap_key}, min(year) AS year, sum(evses_gap) AS gap FROM forecast_need WHERE area_level = "
             f"'{gap_level}'{gm_loc} AND year = (SELECT min(year) FROM forecast_need WHERE year >= {year}) "
             f"GROUP BY {gap_key}")
        gaps = F.frame(q)
    sid = F.source("kaart tekort laadpunten", q)
    ctx["map_gaps"] = figure_html(
        charts.choropleth(areas, gaps.set_index(gap_key)["gap"], label="tekort aan laadpunten", cmap="Reds")
        if gaps is not None and len(gaps) and areas is not None else None,
        f"Prognose: tekort aan publieke laadpunten per {sub_name}", q, sid)

    # ---- Logistiek & bedrijventerreinen ------------------------------------------------------------------
    q = ("SELECT ref, vehicle, milestone_year, round(min(covered_share), 3) AS covered_share, "
         "max(longest_gap_km) AS longest_gap_km, bool_and(compliant) AS compliant FROM afir_coverage "
         "WHERE milestone_year = (SELECT coalesce(min(milestone_year) FILTER (WHERE milestone_year >= "
         f"{year}), max(milestone_year)) FROM afir_coverage) GROUP BY ref, vehicle, milestone_year "
         "ORDER BY ref, vehicle")
    sid = F.source("AFIR-dekking corridors", q)
    ctx["afir_table"] = table_html(F.frame(q), {"ref": ("corridor", "str"), "vehicle": ("voertuig", "nl:vehicle"),
                                                "milestone_year": ("mijlpaal", "str"), "covered_share": ("gedekt (min. richting)", "pct"),
                                                "longest_gap_km": ("grootste gat (km)", "dec1"),
                                                "compliant": ("voldoet", "str")}, query=q, sid=sid)
    q = ("SELECT ref, name, kind, new_pools_needed, needed_kw, grid_status, lat, lon FROM hub_suggestions "
         "ORDER BY rank")
    hubs = F.frame(q)
    sid = F.source("voorgestelde truckhubs", q)
    ctx["hubs_table"] = table_html(hubs, {"ref": ("corridor", "str"), "name": ("locatie", "str"),
                                          "kind": ("soort", "nl:hub_kind"), "needed_kw": ("benodigd kW", "int"),
                                          "grid_status": ("netstatus", "nl:grid_status")}, query=q, sid=sid, max_rows=12)
    q2 = "SELECT area_code, offtake_status, geometry_wkb FROM grid_areas WHERE geometry_wkb IS NOT NULL"
    ga = F.frame(q2)
    sid = F.source("kaart netcongestie", q2)
    ctx["map_congestion"] = figure_html(
        charts.choropleth(ga, ga.set_index("area_code")["offtake_status"], label="afnamestatus (0 vrij .. 3 tekort)",
                          cmap="RdYlGn_r", vmin=0, vmax=3) if ga is not None and len(ga) else None,
        "Netcongestie (afname) per voedingsgebied", q2, sid)
    q = ("SELECT name, year, scenario, ev_vans, ev_trucks, round(daily_kwh) AS daily_kwh, round(connection_kw) AS "
         "connection_kw, grid_status, priority_class FROM park_hubs WHERE year = (SELECT coalesce(min(year) FILTER "
         f"(WHERE year >= {year} AND priority_class IS NOT NULL), min(year) FILTER (WHERE year >= {year}), max(year)) "
         "FROM park_hubs) ORDER BY priority NULLS LAST, name")
    sid = F.source("laadhubs bedrijventerreinen", q)
    ctx["parks_table"] = table_html(F.frame(q), {"name": ("bedrijventerrein", "str"), "year": ("jaar", "str"),
                                                 "ev_vans": ("e-bestel", "int"), "ev_trucks": ("e-truck", "int"),
                                                 "daily_kwh": ("kWh/dag", "int"),
                                                 "connection_kw": ("aansluiting kW", "int"),
                                                 "grid_status": ("netstatus", "nl:grid_status"),
                                                 "priority_class": ("prioriteit", "nl:park_priority")}, query=q, sid=sid)
    ctx["logi_figs"] = {
        "hubs": F.num("voorgestelde truckhubs", "SELECT count(*) FROM hub_suggestions"),
        "parks": F.num("bedrijventerreinen met laadhub-advies", "SELECT count(DISTINCT park_id) FROM park_hubs"),
    }

    # ---- Bouwlogistiek ----------------------------------------------------------------------------------
    q = ("SELECT name, option, feasible, round(cost_eur) AS cost_eur, lead_weeks, recommended FROM site_options "
         "ORDER BY name, recommended DESC")
    sid = F.source("bouwlocaties: opties", q)
    ctx["sites_table"] = table_html(F.frame(q), {"name": ("bouwlocatie", "str"), "option": ("optie", "nl:site_option"),
                                                 "feasible": ("haalbaar", "str"), "cost_eur": ("kosten", "eur"),
                                                 "lead_weeks": ("doorlooptijd (wk)", "dec1"),
                                                 "recommended": ("advies", "str")}, query=q, sid=sid)
    ctx["sites_fig"] = F.num("bouwlocaties beoordeeld", "SELECT count(DISTINCT site_id) FROM site_options")

    # ---- Contractmanagement -----------------------------------------------------------------------------
    q = ("SELECT period, value FROM contract_kpis WHERE level = 'region' AND subject_id = 'region' AND "
         f"kpi = 'uptime_share' AND period IN ({months_in}) ORDER BY period")
    up = F.frame(q)
    sid = F.source("beschikbaarheid per maand", q)
    ctx["uptime_chart"] = Markup("") if gm else figure_html(
        charts.line_chart(up["period"].map(month_nl), {"beschikbaarheid": up["value"]}, norm=cfg.contract.uptime_norm_share,
                          pct=True, ylabel="beschikbaarheid") if up is not None and len(up) else None,
        "Beschikbaarheid van de laadpunten per maand (norm gestippeld)", q, sid)
    q = ("SELECT period, value FROM contract_kpis WHERE level = 'region' AND subject_id = 'region' AND "
         f"kpi = 'failures' AND period IN ({months_in}) ORDER BY period")
    fl = F.frame(q)
    sid = F.source("storingen per maand", q)
    ctx["failures_chart"] = Markup("") if gm else figure_html(
        charts.bar_chart(fl["period"].map(month_nl), fl["value"], ylabel="storingen") if fl is not None and len(fl) else None,
        "Storingen (overgang beschikbaar naar storing) per maand", q, sid)
    pivot = ", ".join(f"max(value) FILTER (WHERE kpi = '{c}') AS {c}" for c in (
        "n_evses", "uptime_share", "failures", "mean_failure_h", "evses_below_uptime_norm",
        "evses_over_failure_norm", "recurring_fault_evses", "tariff_compliant_share", "smart_charging_share"))
    q = (f"SELECT subject_id AS operator, {pivot} FROM contract_kpis WHERE period = {sql_literal(P)} AND "
         "level = 'operator' GROUP BY subject_id ORDER BY n_evses DESC NULLS LAST, subject_id")
    sid = F.source("KPI's per operator", q)
    ctx["operator_table"] = table_html(F.frame(q), {
        "operator": ("operator", "str"), "n_evses": ("EVSE's", "int"), "uptime_share": ("uptime", "pct"),
        "failures": ("storingen", "int"), "mean_failure_h": ("gem. duur", "h"),
        "evses_below_uptime_norm": ("< uptime-norm", "int"), "evses_over_failure_norm": ("> storingsnorm", "int"),
        "recurring_fault_evses": ("terugkerend", "int"), "tariff_compliant_share": ("tarief ok", "pct"),
        "smart_charging_share": ("slim laden", "pct")}, query=q, sid=sid)
    q = ("SELECT rule, severity, count(*) AS alerts FROM alerts WHERE period IN "
         f"({months_in}, {sql_literal(P)}){gm_loc} GROUP BY rule, severity ORDER BY alerts DESC, rule, severity")
    sid = F.source("signaleringen per regel", q)
    al = F.frame(q)
    if al is not None and len(al):
        al["description"] = al["rule"].map(lambda r: nl("alert_rule", r) if r in ALERT_RULES else "")
    ctx["alerts_table"] = table_html(al, {"rule": ("regel", "str"), "description": ("betekenis", "str"),
                                          "severity": ("ernst", "nl:severity"), "alerts": ("aantal", "int")},
                                     query=q, sid=sid)
    gm_evse = (f" AND (split_part(subject_id, '*', 1), split_part(subject_id, '*', 2), split_part(subject_id, '*', 3))"
               f" IN (SELECT country_code, party_id, location_id FROM locations WHERE gm_code = {sql_literal(gm)})"
               if gm else "")
    q = ("SELECT subject_id, value AS down_h FROM contract_kpis WHERE period = " + sql_literal(P)
         + f" AND level = 'evse' AND kpi = 'down_h' AND value > 0{gm_evse} ORDER BY value DESC, subject_id LIMIT 10")
    sid = F.source("laadpunten met de meeste storingsuren", q)
    ctx["worst_table"] = table_html(F.frame(q), {"subject_id": ("laadpunt (EVSE)", "str"),
                                                 "down_h": ("uren storing", "dec1")}, query=q, sid=sid)
    q = ("SELECT subject_id AS tariff, value AS price, norm, message FROM alerts WHERE rule = 'CM-TARIFF' AND period = "
         f"{sql_literal(P)}{gm_loc} ORDER BY value DESC, subject_id")
    sid = F.source("tarieven boven het maximum", q)
    ctx["tariff_table"] = table_html(F.frame(q), {"tariff": ("tarief", "str"), "price": ("prijs/kWh incl. btw", "price"),
                                                  "norm": ("maximum", "price")}, query=q, sid=sid, max_rows=15)
    ctx["contract_figs"] = {key: k(key, kind) for key, kind in (
        ("uptime_share", "pct"), ("failures", "int"), ("mean_failure_h", "h"), ("down_h", "dec1"),
        ("evses_below_uptime_norm", "int"), ("evses_over_failure_norm", "int"), ("recurring_fault_evses", "int"),
        ("status_coverage_share", "pct"), ("connectors_with_tariff", "int"), ("connectors_over_max_tariff", "int"),
        ("connectors_tariff_unknown", "int"), ("connectors_tariff_vat_unknown", "int"),
        ("connectors_tariff_comparison", "int"), ("tariff_compliant_share", "pct"), ("smart_charging_share", "pct"),
        ("evses_new", "int"), ("smart_charging_share_new", "pct"), ("requests_operational", "int"),
        ("lead_time_median_days", "days"), ("lead_time_p90_days", "days"),
        ("lead_time_excl_objection_median_days", "days"), ("lead_time_excl_objection_p90_days", "days"),
        ("requests_over_norm", "int"), ("requests_open", "int"), ("requests_open_over_norm", "int"))}
    ctx["max_tariff"] = fmt_value(res.summary.get("max_tariff_norm_eur_kwh"), "price")
    # realisation and lead time of the plan sites from the placement workflow (laadplan.contract.sites)
    from laadplan.contract.sites import SITE_KPI_LABELS

    ctx["site_figs"] = {key: k(key, {"share": "pct", "days": "days"}.get(unit, "int"))
                        for key, (unit, _) in SITE_KPI_LABELS.items()}

    # ---- Budget -----------------------------------------------------------------------------------------
    q = "SELECT year, sum(amount_eur) AS actual_eur FROM costs GROUP BY year ORDER BY year"
    sid = F.source("kosten per jaar (budget uit de configuratie)", q)
    if len(res.budget):
        b = res.budget
        ctx["budget_chart"] = figure_html(charts.budget_chart(b["year"], b["actual_eur"], b["budget_eur"]),
                                          "Kosten van de regio voor de concessie tegen het budget", q, sid)
    else:
        ctx["budget_chart"] = Markup(f'<p class="na">Kosten: {NA}</p>')
    q = (f"SELECT category, sum(amount_eur) AS amount_eur FROM costs WHERE year = {year} GROUP BY category "
         "ORDER BY amount_eur DESC, category")
    sid = F.source("kosten per categorie", q)
    ctx["cost_table"] = table_html(F.frame(q), {"category": ("categorie", "str"), "amount_eur": ("bedrag", "eur")},
                                   query=q, sid=sid)
    ctx["budget_figs"] = {"actual": k("actual_eur", "eur"), "budget": k("budget_eur", "eur"),
                          "cum": k("cumulative_eur", "eur"), "remaining": k("remaining_reserved_eur", "eur")}
    bc = cfg.budget
    ctx["budget_cfg"] = {"total_max": fmt_value(bc.budget_eur_total_max, "eur"), "reserved": fmt_value(bc.reserved_eur, "eur")}
    ctx["norms"] = {"uptime": fmt_value(cfg.contract.uptime_norm_share, "pct"),
                    "failures": cfg.contract.max_failures_per_month,
                    "lead": fmt_value(cfg.contract.max_lead_time_days, "days"),
                    "cdr": fmt_value(cfg.contract.max_cdr_rejected_share, "pct"),
                    "gap_h": fmt_value(cfg.contract.status_gap_h),
                    "gap_policy": {"excluded": "niet meegeteld", "down": "storing", "up": "beschikbaar"}[
                        cfg.contract.status_gap_policy],
                    "gap_scope": {"party": "van een operator", "all": "als geheel", "evse": "van het laadpunt"}[
                        cfg.contract.status_gap_scope], "target": fmt_value(cfg.contract.concession_target_evses)}
    ctx["summary"] = res.summary
    ctx["contract_result"] = res
    ctx["generated"] = pd.Timestamp.now(tz=tz).strftime("%d-%m-%Y %H:%M")
    return ctx


def _css() -> str:
    return (Path(__file__).parent / "templates" / "report.css").read_text(encoding="utf-8")


def render(ctx: dict) -> str:
    env = Environment(loader=PackageLoader("laadplan.report", "templates"), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(css=Markup(_css()), **ctx)


def report_path(out_dir: Path, year: int, gm: str | None = None) -> Path:
    """``voortgangsrapportage_<year>.html`` (region) or ``voortgangsrapportage_<year>_<GMcode>.html``."""
    return Path(out_dir) / (f"voortgangsrapportage_{year}_{gm}.html" if gm else f"voortgangsrapportage_{year}.html")


def build_report(store: Store, cfg: RegionConfig, year: int, out_dir: Path, *,
                 requests: pd.DataFrame | None = None, gm: str | None = None) -> Path:
    """Compute the year's contract KPIs, render the report and write ``voortgangsrapportage_<year>.html``
    (with ``gm``: the report of that gemeente, ``voortgangsrapportage_<year>_<gm>.html``)."""
    return build_reports(store, cfg, year, out_dir, requests=requests, gms=[gm] if gm else [], region=not gm)[0]


def build_reports(store: Store, cfg: RegionConfig, year: int, out_dir: Path, *,
                  requests: pd.DataFrame | None = None, gms: list[str] = (), region: bool = True) -> list[Path]:
    """The region's report (``region``) and one per gemeente in ``gms``; the contract KPIs of the year are
    computed once for all of them."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, res = [], None
    for gm in ([None] if region else []) + list(gms):
        ctx = build_context(store, cfg, year, requests=requests, gm=gm, contract=res)
        res = ctx["contract_result"]
        path = report_path(out_dir, year, gm)
        path.write_text(render(ctx), encoding="utf-8")
        log.info("report written to %s (%d figures)", path, len(ctx["F"].items))
        paths.append(path)
    return paths


def report_gemeenten(store: Store, cfg: RegionConfig) -> list[str]:
    """The gemeenten that get their own report: the concession's (``region.concession_gm_codes``) when set,
    else every gemeente of the store's areas that has a charge point or a planned site."""
    if cfg.region.concession_gm_codes:
        return sorted(cfg.region.concession_gm_codes)
    parts = ["SELECT gm_code FROM locations WHERE gm_code IS NOT NULL"]
    if store.has_table("plan_sites"):
        parts.append("SELECT gm_code FROM plan_sites WHERE gm_code IS NOT NULL")
    q = ("SELECT area_code FROM areas WHERE level = 'gemeente' AND area_code IN (" + " UNION ".join(parts) + ") "
         "ORDER BY area_code")
    return [r[0] for r in store.con.execute(q).fetchall()]
