"""Contract management over the store: read the inputs, run the pure analyses of this package, write
``contract_kpis`` and ``alerts``.

This is the only module of :mod:`laadplan.contract` that touches the store; the CLI, the demo and the
report call :func:`compute_contract`. Every figure it returns at region level is also stored in
``contract_kpis`` (level ``region``, subject ``region``) so the report can cite the query behind it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from laadplan import model
from laadplan.config import RegionConfig
from laadplan.contract import availability as av
from laadplan.contract import budget as bu
from laadplan.contract import delivery as dl
from laadplan.contract import leadtime as lt
from laadplan.contract import realisation as rl
from laadplan.contract import sites as sw
from laadplan.contract import tariffs as tf
from laadplan.contract.periods import parse_period, period_bounds
from laadplan.ingest.base import utcnow
from laadplan.store import Store

log = logging.getLogger(__name__)

LEVELS = ("evse", "location", "gemeente", "operator", "region")
EVSE_KEY = av.EVSE_KEY

#: alert rules: code -> (severity, description)
ALERT_RULES: dict[str, tuple[str, str]] = {
    "CM-UPTIME": ("breach", "EVSE uptime in a month below the norm"),
    "CM-FAILURES": ("breach", "more failures of an EVSE in a month than the norm allows"),
    "CM-RECURRING": ("breach", "an EVSE failed in each of the last N months"),
    "CM-TARIFF": ("breach", "a concession connector's tariff incl. VAT (per kWh or the typical session per kWh) "
                            "above the maximum"),
    "CM-LEAD-TIME": ("breach", "granted request not working within the lead-time norm"),
    "CM-CDR-REJECTED": ("breach", "share of an operator's CDRs rejected above the norm"),
    "CM-STATUS-COVERAGE": ("warning", "an operator's EVSE-hours covered by status data below the norm"),
    "CM-SMART-CHARGING": ("breach", "EVSEs placed since the concession start that cannot charge smart"),
    "CM-BUDGET": ("warning", "the region's concession costs of a year above its budget"),
    "CM-BUDGET-TOTAL": ("breach", "cumulative concession costs above the maximum in all"),
    "CM-REALISATION": ("warning", "cumulative placements behind the linear path to the concession target"),
    "CM-SITE-LEAD-TIME": ("breach", "plan site agreed by its municipality not realised within the lead-time norm"),
}

#: region KPI -> (unit, description in Dutch for the report)
KPI_LABELS: dict[str, tuple[str, str]] = {
    "n_evses": ("count", "laadpunten (EVSE's) met statusdata"),
    "uptime_share": ("share", "beschikbaarheid (uptime)"),
    "down_h": ("h", "uren storing"),
    "failures": ("count", "storingen"),
    "mean_failure_h": ("h", "gemiddelde storingsduur"),
    "evses_below_uptime_norm": ("count", "laadpunten onder de beschikbaarheidsnorm"),
    "evses_over_failure_norm": ("count", "laadpunten boven de storingsnorm"),
    "recurring_fault_evses": ("count", "laadpunten met terugkerende storingen"),
    "status_coverage_share": ("share", "dekking statusdata"),
    "connectors_with_tariff": ("count", "connectoren met bekend tarief"),
    "tariff_compliant_share": ("share", "connectoren binnen het maximumtarief (van de toetsbare)"),
    "connectors_over_max_tariff": ("count", "connectoren boven het maximumtarief"),
    "connectors_tariff_unknown": ("count", "connectoren zonder bekend tarief"),
    "connectors_tariff_vat_unknown": ("count", "connectoren met tarief zonder btw-opgave"),
    "connectors_tariff_comparison": ("count", "connectoren buiten de tariefnorm (ter vergelijking)"),
    "smart_charging_share": ("share", "laadpunten geschikt voor slim laden"),
    "evses_new": ("count", "nieuwe laadpunten sinds start concessie"),
    "smart_charging_share_new": ("share", "nieuwe laadpunten geschikt voor slim laden"),
    "requests_operational": ("count", "aanvragen gerealiseerd"),
    "lead_time_median_days": ("days", "doorlooptijd aanvraag-werkend laadpunt, mediaan"),
    "lead_time_p90_days": ("days", "doorlooptijd, 90e percentiel"),
    "lead_time_excl_objection_median_days": ("days", "doorlooptijd zonder bezwaartermijn, mediaan"),
    "lead_time_excl_objection_p90_days": ("days", "doorlooptijd zonder bezwaartermijn, 90e percentiel"),
    "requests_over_norm": ("count", "gerealiseerde aanvragen boven de norm"),
    "requests_open": ("count", "openstaande toegekende aanvragen"),
    "requests_open_over_norm": ("count", "openstaande aanvragen ouder dan de norm"),
    "cdrs_accepted": ("count", "geaccepteerde CDR's"),
    "cdrs_rejected": ("count", "afgekeurde CDR's"),
    "cdr_rejected_share": ("share", "aandeel afgekeurde CDR's"),
    "sessions": ("count", "laadsessies"),
    "cdrs_rejected_undated": ("count", "afgekeurde CDR's zonder leesbare starttijd (geen maand)"),
    "tariff_current_share": ("share", "sessies met tijdig actueel tarief"),
    "placed_in_year": ("count", "geplaatste laadpunten in het jaar"),
    "planned_in_year": ("count", "geplande laadpunten in het jaar"),
    "placed_cumulative": ("count", "geplaatst sinds start concessie"),
    "target_share": ("share", "deel van de concessiedoelstelling"),
    "target_path_evses": ("count", "lineair pad naar de doelstelling"),
    "actual_eur": ("EUR", "werkelijke kosten"),
    "budget_eur": ("EUR", "budget"),
    "cumulative_eur": ("EUR", "cumulatieve kosten"),
    "remaining_reserved_eur": ("EUR", "resterend van de reservering"),
    "alerts": ("count", "signaleringen"),
    **sw.SITE_KPI_LABELS,
}


COUNT_COLUMNS = ["n_evses", "failures", "evses_below_uptime_norm", "evses_over_failure_norm", "recurring_fault_evses",
                 "connectors", "connectors_with_tariff", "connectors_over_max_tariff", "connectors_tariff_unknown",
                 "connectors_tariff_vat_unknown",
                 "evses", "evses_new", *sw.COUNT_KPIS]
#: KPIs stored per EVSE (the other levels store every numeric column)
EVSE_KPIS = {"uptime_share", "up_h", "down_h", "nodata_h", "failures", "failure_h", "status_coverage_share",
             "evses_below_uptime_norm", "evses_over_failure_norm", "recurring_fault_evses",
             "max_price_eur_kwh_incl_vat", "connectors_over_max_tariff", "smart_charging_share"}
MONTHLY_KPIS = ["uptime_share", "down_h", "failures", "evses_below_uptime_norm", "status_coverage_share", "n_evses"]


@dataclass
class ContractResult:
    period: str
    kind: str  # month | year
    summary: dict[str, Any]
    levels: dict[str, pd.DataFrame]
    kpis: pd.DataFrame
    alerts: pd.DataFrame
    failures: pd.DataFrame
    monthly: pd.DataFrame
    tariffs: pd.DataFrame
    lead_times: pd.DataFrame
    delivery: pd.DataFrame
    delivery_by_rule: pd.DataFrame
    realisation: pd.DataFrame
    budget: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    #: per operator, every connector incl. those outside the tariff norm's scope (for comparison, no alerts)
    tariff_comparison: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: per plan site: its placement-workflow state at the period end and its moments (contract.sites)
    site_timeline: pd.DataFrame = field(default_factory=pd.DataFrame)


# -- reading the store --------------------------------------------------------------------------------
def evse_meta(store: Store, cfg: RegionConfig) -> pd.DataFrame:
    """EVSEs in the concession scope with location, gm_code, operator and first_seen_utc."""
    e = store.query(
        "SELECT e.country_code, e.party_id, e.location_id, e.evse_uid, e.evse_id, e.smart_charging_capable, "
        "e.last_updated_utc, l.gm_code, COALESCE(NULLIF(l.operator, ''), e.party_id) AS operator, l.lat, l.lon "
        "FROM evses e LEFT JOIN locations l USING (country_code, party_id, location_id)")
    scope = cfg.region.concession_gm_codes
    if scope:
        e = e[e["gm_code"].isin(scope)]
    return e.reset_index(drop=True)


def _status(store: Store, end: pd.Timestamp) -> pd.DataFrame:
    return store.query("SELECT country_code, party_id, location_id, evse_uid, observed_utc, status "
                       "FROM status_observations WHERE observed_utc < ?", [end.to_pydatetime()])


# -- aggregation --------------------------------------------------------------------------------------
def subject_ids(df: pd.DataFrame, level: str) -> pd.Series:
    if level == "evse":
        return av.evse_subject(df)
    if level == "location":
        return (df["country_code"].astype("string") + "*" + df["party_id"].astype("string") + "*"
                + df["location_id"].astype("string"))
    if level == "gemeente":
        return df["gm_code"].astype("string").fillna("onbekend")
    if level == "operator":
        return df["operator"].astype("string").fillna("onbekend")
    return pd.Series("region", index=df.index, dtype="string")


def aggregate_availability(monthly: pd.DataFrame, level: str) -> pd.DataFrame:
    """Sum a per-EVSE-month frame (with gm_code, operator) over the period to ``level``."""
    m = monthly.copy()
    m["evse"] = av.evse_subject(m)
    m["subject_id"] = subject_ids(m, level)
    g = m.groupby("subject_id")
    out = g[["up_h", "down_h", "nodata_h", "excluded_h", "failures", "failure_h"]].sum()
    out["n_evses"] = g["evse"].nunique()
    for flag, name in (("uptime_breach", "evses_below_uptime_norm"), ("failure_breach", "evses_over_failure_norm"),
                       ("recurring", "recurring_fault_evses")):
        out[name] = m[m[flag].astype(bool)].groupby("subject_id")["evse"].nunique().reindex(out.index).fillna(0)
    out["uptime_share"] = dl.share(out["up_h"], out["up_h"] + out["down_h"])
    data_h = out["up_h"] + out["down_h"] + out["excluded_h"]
    out["status_coverage_share"] = dl.share(data_h, data_h + out["nodata_h"])
    out["mean_failure_h"] = dl.share(out["failure_h"], out["failures"])
    return out.reset_index()


def _policy_uptime(monthly: pd.DataFrame, policy: str) -> pd.DataFrame:
    m = monthly.copy()
    if policy == "up":
        m["up_h"] = m["up_h"] + m["nodata_h"]
    elif policy == "down":
        m["down_h"] = m["down_h"] + m["nodata_h"]
    return m


def aggregate_count(df: pd.DataFrame, level: str, cols: dict[str, tuple[str, str]]) -> pd.DataFrame:
    d = df.copy()
    d["subject_id"] = subject_ids(d, level)
    return d.groupby("subject_id").agg(**cols).reset_index()


# -- the computation ----------------------------------------------------------------------------------
def compute_contract(store: Store, cfg: RegionConfig, period: str, *, requests: pd.DataFrame | None = None,
                     write: bool = True) -> ContractResult:
    """All concession KPIs and alerts for a month ``'YYYY-MM'`` or a year ``'YYYY'``."""
    cc, tz = cfg.contract, cfg.region.time_zone
    kind, months = parse_period(period)
    start, end = period_bounds(period, tz)
    notes: list[str] = []
    now = utcnow()

    meta = evse_meta(store, cfg)
    status = _status(store, end)
    as_of_row = store.query("SELECT max(observed_utc) AS t FROM status_observations")
    as_of = as_of_row["t"].iloc[0] if len(as_of_row) else None
    as_of = min(pd.Timestamp(as_of), end) if as_of is not None and not pd.isna(as_of) else end
    keys = meta[EVSE_KEY]
    feed = status
    status = status.merge(keys, on=EVSE_KEY, how="inner")
    recur_months = sorted(set(months) | {m for mm in months for m in _prev(mm, cc.recurring_fault_months)})
    monthly, fails = av.availability(status, recur_months, cc, as_of=as_of, feed=feed, tz=tz)
    monthly = monthly[monthly["month"].isin(months)].merge(
        meta[EVSE_KEY + ["gm_code", "operator"]], on=EVSE_KEY, how="left")
    monthly = _policy_uptime(monthly, cc.status_gap_policy)
    fails_p = fails[fails["month"].isin(months)].merge(meta[EVSE_KEY + ["gm_code", "operator", "evse_id"]],
                                                        on=EVSE_KEY, how="left")

    # tariffs per concession connector
    conns = store.frame("connectors").merge(meta[EVSE_KEY + ["gm_code", "operator"]], on=EVSE_KEY, how="inner")
    tariffs = store.frame("tariffs")
    versions = tf.tariff_history(tariffs, store.frame("tariff_versions")  # absent in a read-only old store
                                 if store.has_table("tariff_versions") else None)
    ct_all = tf.connector_tariffs(conns, versions, period, cc, (start, end))
    ct_all = ct_all.merge(conns[tf.CONNECTOR_KEY + ["gm_code", "operator"]], on=tf.CONNECTOR_KEY, how="left")
    ct = ct_all[ct_all["in_scope"]].reset_index(drop=True)  # the concession norm: KPIs and alerts
    comparison = _tariff_comparison(ct_all)
    n_cmp = int((~ct_all["in_scope"] & (ct_all["status"] != "unknown")).sum())
    if n_cmp:
        notes.append(f"tariff norm applied to party ids {cc.tariff_norm_party_ids or 'all'} and power types "
                     f"{cc.tariff_norm_power_types or 'all'}; {n_cmp} priced connectors of other operators or "
                     f"power types are shown for comparison only")
    if cc.vat_pct_when_missing is None and (ct["status"] == "vat_unknown").any():
        notes.append(f"{int((ct['status'] == 'vat_unknown').sum())} concession connectors have a tariff without VAT: "
                     f"verdict 'VAT unknown' (set contract.vat_pct_when_missing to assume one)")

    # smart charging and first appearance
    fs = dl.first_seen(meta, status)
    meta = meta.merge(fs.reset_index(), on=EVSE_KEY, how="left")
    # placed = commissioned since the concession start, not in the first load of its feed (realisation.py)
    com = rl.commissioned(store, cc.concession_start)
    placed_known = com is not None
    if placed_known:
        meta = meta.merge(com[EVSE_KEY + ["baseline", "commissioned_utc", "placed"]], on=EVSE_KEY, how="left")
        meta["placed"] = meta["placed"].astype("boolean").fillna(False).astype(bool)
        n_base = int(meta["baseline"].astype("boolean").fillna(False).sum())
        if n_base:
            notes.append(f"{n_base} EVSEs were in the first load of their operator's feed: the baseline, not "
                         f"counted as placed")
    else:
        meta["commissioned_utc"], meta["placed"] = pd.NaT, False
        notes.append("no commissioning stamps in the store (EVSEs not loaded through `laadplan ingest "
                     "locations`): placed EVSEs n/a")
    sm = dl.smart_charging(meta, pd.Timestamp(cc.concession_start))
    sm["new"] = sm["placed"] & (pd.to_datetime(sm["commissioned_utc"]) < end).fillna(False)
    sm_period = sm[sm["first_seen_utc"].isna() | (sm["first_seen_utc"] < end)]

    # sessions and data delivery
    sessions = store.query(
        "SELECT session_id, country_code, party_id, location_id, evse_uid, connector_id, start_utc, end_utc "
        "FROM sessions WHERE start_utc >= ? AND start_utc < ?", [start.to_pydatetime(), end.to_pydatetime()])
    quarantine = store.query("SELECT kind, rule_code, source_file, position, party_id, raw, ingested_utc "
                             "FROM quarantine WHERE kind IN ('cdrs', 'sessions')")
    delivery, by_rule = dl.cdr_rejections(quarantine, sessions, months, tz)
    delivery_p = (delivery.groupby("party_id")[["accepted", "rejected"]].sum().reset_index())
    delivery_p["rejected_share"] = dl.share(delivery_p["rejected"], delivery_p["accepted"] + delivery_p["rejected"])
    by_rule_p = by_rule.groupby("rule_code")["rejected"].sum().reset_index()
    n_recs = float(delivery_p.loc[delivery_p["party_id"] == "*", ["accepted", "rejected"]].sum().sum())
    by_rule_p["rejected_share"] = by_rule_p["rejected"] / n_recs if n_recs else np.nan
    fresh = dl.tariff_freshness(sessions, store.frame("connectors"), tariffs, cc) if len(sessions) else \
        pd.DataFrame(columns=["session_id", "tariff_current"])

    # lead times
    if requests is None and store.has_table("requests"):
        requests = store.query("SELECT * FROM requests")
    if requests is not None and len(requests):
        lts = lt.lead_times(requests, cc)
        if cfg.region.concession_gm_codes and "gm_code" in lts:
            lts = lts[lts["gm_code"].isin(cfg.region.concession_gm_codes) | lts["gm_code"].isna()]
        lead = lt.summarise(lts, start, end, cc)
    else:
        lts = pd.DataFrame()
        lead = {}
        notes.append("no request log: lead times not available")

    # realisation and budget (years)
    year = int(months[0][:4])
    plan = store.query("SELECT year, gm_code, evses FROM plan_sites") if store.has_table("plan_sites") else None
    if plan is not None and plan.empty:
        plan = None
    placed = meta.loc[meta["placed"], ["gm_code", "commissioned_utc"]].rename(
        columns={"commissioned_utc": "first_seen_utc"})
    real = rl.realisation(placed, plan, tz)
    prog = rl.region_progress(real, year, cfg, known=placed_known)
    costs = store.frame("costs")
    budget = bu.budget_table(costs, cfg.budget, [year]) if len(costs) else pd.DataFrame()

    # realisation and lead time of the plan sites from the placement workflow (contract/sites.py)
    timeline = _site_timeline(store, cfg, end)
    site_region = sw.site_kpis(timeline, start, end, cc.max_lead_time_days)
    site_gm = sw.site_kpis_by_gemeente(timeline, start, end, cc.max_lead_time_days)
    if site_region["sites_agreed"] is None:
        notes.append("no placement workflow events (site_events) before the period end: realisation and lead "
                     "time of the plan sites n/a")

    # ---- per level tables -------------------------------------------------------------------------
    levels: dict[str, pd.DataFrame] = {}
    st = ct["status"].astype(str)
    ct_flags = ct.assign(known=(st != "unknown").astype(int), over=(st == "over").astype(int),
                         unknown=(st == "unknown").astype(int), vat_unknown=(st == "vat_unknown").astype(int),
                         compliant=(st == "compliant").astype(int))
    sm_flags = sm_period.assign(smart=sm_period["smart"].astype(int), new=sm_period["new"].astype(int),
                                smart_new=(sm_period["smart"] & sm_period["new"]).astype(int),
                                known=sm_period["smart_known"].astype(int),
                                new_known=(sm_period["new"] & sm_period["smart_known"]).astype(int))
    for level in LEVELS:
        a = aggregate_availability(monthly, level) if len(monthly) else _empty_subjects()
        t = aggregate_count(ct_flags, level, {
            "connectors": ("known", "size"), "connectors_with_tariff": ("known", "sum"),
            "connectors_over_max_tariff": ("over", "sum"), "connectors_tariff_unknown": ("unknown", "sum"),
            "connectors_tariff_vat_unknown": ("vat_unknown", "sum"), "_compliant": ("compliant", "sum"),
            "max_price_eur_kwh_incl_vat": ("max_price_eur_kwh_incl_vat", "max"),
            "session_price_eur_kwh_incl_vat": ("session_price_eur_kwh_incl_vat", "max"),
        }) if len(ct) else _empty_subjects()
        if len(t):
            # of the connectors with a verdict (compliant or over): 'VAT unknown' is neither, counted apart
            t["tariff_compliant_share"] = dl.share(t["_compliant"], t["_compliant"] + t["connectors_over_max_tariff"])
            t = t.drop(columns=["_compliant"])
        s = aggregate_count(sm_flags, level, {
            "evses": ("smart", "size"), "smart": ("smart", "sum"), "evses_new": ("new", "sum"),
            "smart_new": ("smart_new", "sum"), "known": ("known", "sum"), "new_known": ("new_known", "sum"),
        }) if len(sm_period) else _empty_subjects()
        if len(s):
            # over the EVSEs whose capability the source states: n/a (not 0 %) when it states none
            s["smart_charging_share"] = dl.share(s["smart"], s["known"])
            s["smart_charging_share_new"] = dl.share(s["smart_new"], s["new_known"])
            s = s.drop(columns=["smart", "smart_new", "known", "new_known"])
        tab = a.merge(t, on="subject_id", how="outer").merge(s, on="subject_id", how="outer")
        if level == "gemeente" and len(site_gm):
            tab = tab.merge(site_gm, on="subject_id", how="outer")
        if level != "region":
            names = _names(meta, level)
            tab = names.merge(tab, on="subject_id", how="right")
        for c in COUNT_COLUMNS:
            if c in tab:
                tab[c] = pd.to_numeric(tab[c]).round().astype("Int64")
        levels[level] = tab.sort_values("subject_id").reset_index(drop=True)

    # ---- region summary -----------------------------------------------------------------------------
    reg = levels["region"].iloc[0].to_dict() if len(levels["region"]) else {}
    summary: dict[str, Any] = {"period": period, "kind": kind,
                               "max_tariff_norm_eur_kwh": tf.max_tariff_norm(period, cc)}
    for k in ("n_evses", "uptime_share", "down_h", "failures", "mean_failure_h", "evses_below_uptime_norm",
              "evses_over_failure_norm", "recurring_fault_evses", "status_coverage_share",
              "connectors_with_tariff", "tariff_compliant_share", "connectors_over_max_tariff",
              "connectors_tariff_unknown", "connectors_tariff_vat_unknown", "smart_charging_share", "evses_new",
              "smart_charging_share_new"):
        summary[k] = _num(reg.get(k))
    summary["connectors_tariff_comparison"] = n_cmp
    if not placed_known:
        summary["evses_new"] = summary["smart_charging_share_new"] = None
        for lv, tab in levels.items():
            levels[lv] = tab.drop(columns=[c for c in ("evses_new", "smart_charging_share_new") if c in tab])
    summary.update({k: _num(v) for k, v in lead.items()})
    summary.update({k: _num(v) for k, v in site_region.items()})
    tot = delivery_p[delivery_p["party_id"] == "*"]
    summary["cdrs_accepted"] = int(tot["accepted"].sum()) if len(tot) else 0
    summary["cdrs_rejected"] = int(tot["rejected"].sum()) if len(tot) else 0
    summary["cdr_rejected_share"] = _num(tot["rejected_share"].iloc[0]) if len(tot) else None
    summary["cdrs_rejected_undated"] = dl.undated_rejections(quarantine, start, end)
    summary["sessions"] = int(len(sessions))
    summary["tariff_current_share"] = _num(fresh["tariff_current"].mean()) if len(fresh) else None
    if kind == "year":
        for k in ("placed_in_year", "planned_in_year", "placed_cumulative", "target_share", "target_path_evses"):
            summary[k] = _num(prog[k])
        if len(budget):
            b = budget.set_index("year").loc[year]
            for k in ("actual_eur", "budget_eur", "cumulative_eur", "remaining_reserved_eur"):
                summary[k] = _num(b[k])

    # ---- alerts -------------------------------------------------------------------------------------
    alerts = _alerts(period, monthly, fails, fails_p, ct, lts, start, end, delivery, by_rule, sm_period, prog, budget,
                     year, kind, cfg, now, timeline)
    summary["alerts"] = int(len(alerts))

    kpis = _kpi_rows(period, levels, summary, cfg, now)
    extra = []
    if kind == "year":
        # per-municipality realisation and the region's month-by-month availability, for the report
        ry = real[real["year"] == year]
        for col in ("placed", "planned"):
            extra.append(pd.DataFrame({"period": period, "level": "gemeente", "subject_id": ry["gm_code"],
                                       "kpi": f"{col}_in_year", "value": ry[col].astype(float), "unit": "count"}))
        if len(monthly):
            for m, g in monthly.groupby("month"):
                a = aggregate_availability(g, "region").iloc[0]
                extra.append(pd.DataFrame({"period": m, "level": "region", "subject_id": "region",
                                           "kpi": MONTHLY_KPIS, "value": [float(a[k]) for k in MONTHLY_KPIS],
                                           "unit": [KPI_LABELS[k][0] for k in MONTHLY_KPIS]}))
    if extra:
        ex = pd.concat(extra, ignore_index=True).dropna(subset=["value"])
        ex["computed_utc"] = now
        ex = ex.merge(kpis[["period", "level", "subject_id", "kpi"]], how="left", indicator=True)
        ex = ex[ex["_merge"] == "left_only"].drop(columns="_merge")
    if write:
        store.con.execute("DELETE FROM contract_kpis WHERE period = ?", [period])
        store.append("contract_kpis", kpis)
        if extra and len(ex):
            store.con.register("_ex", ex)
            store.con.execute("DELETE FROM contract_kpis c USING _ex e WHERE c.period = e.period AND "
                              "c.level = e.level AND c.subject_id = e.subject_id AND c.kpi = e.kpi")
            store.con.unregister("_ex")
            store.append("contract_kpis", ex)
        store.con.execute("DELETE FROM alerts WHERE period IN (SELECT unnest(?::VARCHAR[]))",
                          [months + ([period] if kind == "year" else [])])
        if len(alerts):
            store.upsert("alerts", alerts)
    return ContractResult(period, kind, summary, levels, kpis, alerts, fails_p, monthly, ct, lts, delivery_p,
                          by_rule_p, real, budget, notes, comparison, timeline)


def _site_timeline(store: Store, cfg: RegionConfig, end: pd.Timestamp) -> pd.DataFrame:
    """The plan sites in the concession scope with their workflow state at ``end`` (contract/sites.py)."""
    if not store.has_table("plan_sites"):
        return sw.site_timeline(None, pd.DataFrame(columns=["site_id", "gm_code"]))
    sites = store.query("SELECT site_id, any_value(gm_code) AS gm_code FROM plan_sites GROUP BY site_id "
                        "ORDER BY site_id")
    scope = cfg.region.concession_gm_codes
    if scope:
        sites = sites[sites["gm_code"].isin(scope)]
    ev = store.query("SELECT seq, created_utc, site_id, action, state, decision_date FROM site_events "
                     "WHERE created_utc < ? ORDER BY seq", [end.to_pydatetime()]) \
        if store.has_table("site_events") else None
    return sw.site_timeline(ev, sites, end, cfg.region.time_zone)


def _tariff_comparison(ct: pd.DataFrame) -> pd.DataFrame:
    """Per operator and scope: connectors, priced ones, compliant / over / VAT unknown, highest prices."""
    if ct.empty:
        return pd.DataFrame()
    st = ct["status"].astype(str)
    d = ct.assign(operator=ct["operator"].fillna("onbekend"), priced=(st != "unknown").astype(int),
                  compliant=(st == "compliant").astype(int), over=(st == "over").astype(int),
                  vat_unknown=(st == "vat_unknown").astype(int))
    return d.groupby(["operator", "in_scope"]).agg(
        connectors=("priced", "size"), priced=("priced", "sum"), compliant=("compliant", "sum"),
        over=("over", "sum"), vat_unknown=("vat_unknown", "sum"),
        max_price_eur_kwh_incl_vat=("max_price_eur_kwh_incl_vat", "max"),
        session_price_eur_kwh_incl_vat=("session_price_eur_kwh_incl_vat", "max")).reset_index()


def _empty_subjects() -> pd.DataFrame:
    return pd.DataFrame({"subject_id": pd.Series(dtype="string")})


def _prev(month: str, n: int) -> list[str]:
    from laadplan.contract.periods import previous_months

    return previous_months(month, n)


def _num(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.floating, float)):
        return float(v)
    return v


def _names(meta: pd.DataFrame, level: str) -> pd.DataFrame:
    m = meta.copy()
    m["subject_id"] = subject_ids(m, level)
    cols = {"evse": ["evse_id", "gm_code", "operator"], "location": ["gm_code", "operator"],
            "gemeente": [], "operator": []}[level]
    out = m[["subject_id"] + cols].drop_duplicates("subject_id")
    out["subject_id"] = out["subject_id"].astype("string")
    return out


def _norms(cfg: RegionConfig, period: str) -> dict[str, tuple[float, str]]:
    cc = cfg.contract
    return {"uptime_share": (cc.uptime_norm_share, "min"),
            "status_coverage_share": (cc.min_status_coverage_share, "min"),
            "tariff_compliant_share": (1.0, "min"),
            "smart_charging_share_new": (cc.min_smart_charging_share_new, "min"),
            "lead_time_p90_days": (cc.max_lead_time_days, "max"),
            "lead_time_median_days": (cc.max_lead_time_days, "max"),
            "site_lead_time_median_days": (cc.max_lead_time_days, "max"),
            "site_lead_time_p90_days": (cc.max_lead_time_days, "max"),
            "cdr_rejected_share": (cc.max_cdr_rejected_share, "max"),
            "failures": (float(cc.max_failures_per_month), "max_per_evse_month")}


def _kpi_rows(period: str, levels: dict[str, pd.DataFrame], summary: dict, cfg: RegionConfig,
              now: pd.Timestamp) -> pd.DataFrame:
    norms = _norms(cfg, period)
    rows = []
    skip = {"subject_id", "evse_id", "gm_code", "operator", "connectors"}
    for level, tab in levels.items():
        if level == "region":
            continue
        for col in tab.columns:
            if col in skip or not pd.api.types.is_numeric_dtype(tab[col]):
                continue
            if level == "evse" and col not in EVSE_KPIS:
                continue
            part = pd.DataFrame({"period": period, "level": level, "subject_id": tab["subject_id"], "kpi": col,
                                 "value": tab[col].astype(float)})
            rows.append(part)
    reg = [{"period": period, "level": "region", "subject_id": "region", "kpi": k,
            "value": float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None}
           for k, v in summary.items() if k not in ("period", "kind")]
    rows.append(pd.DataFrame(reg))
    out = pd.concat(rows, ignore_index=True)
    out = out.dropna(subset=["value"]) if len(out) else out
    kpi_names = out["kpi"].unique()
    out["unit"] = out["kpi"].map({k: KPI_LABELS.get(k, ("", ""))[0] or _unit_guess(k) for k in kpi_names})
    out["norm"] = out["kpi"].map({k: norms[k][0] for k in kpi_names
                                  if k in norms and norms[k][1] != "max_per_evse_month"})
    n = out["norm"].astype(float)
    kind = out["kpi"].map({k: norms.get(k, (None, ""))[1] for k in kpi_names})
    out["breach"] = ((kind == "min") & (out["value"] < n - 1e-12)) | ((kind == "max") & (out["value"] > n + 1e-12))
    out["computed_utc"] = now
    return out.drop_duplicates(["period", "level", "subject_id", "kpi"]).reset_index(drop=True)


def _unit_guess(k: str) -> str:
    for suf, u in (("_share", "share"), ("_h", "h"), ("_days", "days"), ("_eur", "EUR"), ("_eur_kwh_incl_vat", "EUR/kWh")):
        if k.endswith(suf):
            return u
    return "count"


def _alert(period: str, rule: str, level: str, subject: str, value: Any, norm: Any, unit: str, message: str,
           evidence: Any, now: pd.Timestamp, gm_code: Any = None, operator: Any = None) -> dict:
    aid = hashlib.sha1(f"{rule}|{period}|{level}|{subject}".encode()).hexdigest()[:20]
    return {"alert_id": aid, "period": period, "rule": rule, "severity": ALERT_RULES[rule][0], "level": level,
            "subject_id": subject, "gm_code": None if pd.isna(gm_code) else gm_code,
            "operator": None if pd.isna(operator) else operator, "value": _num(value), "norm": _num(norm),
            "unit": unit, "message": message,
            "evidence_json": json.dumps(evidence, default=str, ensure_ascii=False), "created_utc": now}


def _records(df: pd.DataFrame, cols: list[str], n: int | None = 50) -> list[dict]:
    d = (df[cols] if n is None else df[cols].head(n)).copy()
    for c in d.columns:
        if pd.api.types.is_datetime64_any_dtype(d[c]):
            d[c] = d[c].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.loads(d.to_json(orient="records", force_ascii=False))


def _alerts(period, monthly, fails, fails_p, ct, lts, start, end, delivery, by_rule, sm, prog, budget, year, kind,
            cfg: RegionConfig, now, timeline: pd.DataFrame | None = None) -> pd.DataFrame:
    cc = cfg.contract
    out: list[dict] = []
    fcols = ["start_utc", "end_utc", "duration_h", "ongoing", "fault_status"]
    flagged = monthly[monthly["uptime_breach"].astype(bool) | monthly["failure_breach"].astype(bool)
                      | monthly["recurring"].astype(bool)] if len(monthly) else monthly
    by_month: dict[tuple, list] = {}
    by_evse: dict[str, list] = {}
    if len(flagged) and len(fails):
        f = fails.copy()
        f["subject"] = av.evse_subject(f)
        f = f[f["subject"].isin(set(av.evse_subject(flagged)))].sort_values("start_utc")
        for rec in _records(f, fcols + ["month", "subject"], n=None):
            by_month.setdefault((rec["subject"], rec["month"]), []).append(rec)
            by_evse.setdefault(rec["subject"], []).append(rec)
    for r in flagged.itertuples(index=False):
        subj = f"{r.country_code}*{r.party_id}*{r.location_id}*{r.evse_uid}"
        in_month = [{k: v for k, v in x.items() if k in fcols} for x in by_month.get((subj, r.month), [])]
        hours = {"up_h": r.up_h, "down_h": r.down_h, "nodata_h": r.nodata_h, "excluded_h": r.excluded_h}
        if r.uptime_breach:
            out.append(_alert(r.month, "CM-UPTIME", "evse", subj, r.uptime_share, cc.uptime_norm_share, "share",
                              f"EVSE {subj} uptime {r.uptime_share:.2%} in {r.month} below {cc.uptime_norm_share:.0%}",
                              {**hours, "failures": in_month}, now, r.gm_code, r.operator))
        if r.failure_breach:
            out.append(_alert(r.month, "CM-FAILURES", "evse", subj, r.failures, cc.max_failures_per_month, "count",
                              f"EVSE {subj} failed {r.failures} times in {r.month} (norm {cc.max_failures_per_month})",
                              {"failures": in_month}, now, r.gm_code, r.operator))
        if r.recurring:
            out.append(_alert(r.month, "CM-RECURRING", "evse", subj, cc.recurring_fault_months,
                              cc.recurring_fault_months, "months",
                              f"EVSE {subj} failed in each of the {cc.recurring_fault_months} months up to {r.month}",
                              {"failures": [x for x in by_evse.get(subj, []) if x["month"] <= r.month][-20:]},
                              now, r.gm_code, r.operator))
    over = ct[(ct["status"] == "over") & ct["in_scope"]]
    for (cco, party, tid), g in over.groupby(["country_code", "party_id", "worst_tariff_id"]):
        kwh = g["max_price_eur_kwh_incl_vat"].max()
        sess = g["session_price_eur_kwh_incl_vat"].max()
        price = float(g["effective_eur_kwh"].max())
        what = (f"EUR {kwh:.3f}/kWh incl. VAT" if pd.notna(kwh) else
                f"EUR {price:.3f}/kWh already without VAT (VAT unknown)") + \
            (f", typical session EUR {sess:.3f}/kWh incl. VAT" if pd.notna(sess) else "")
        out.append(_alert(period, "CM-TARIFF", "operator", f"{cco}*{party}*{tid}", price, float(g["norm"].iloc[0]),
                          "EUR/kWh", f"tariff {tid} of {party}: {what}, above the maximum "
                          f"EUR {g['norm'].iloc[0]:.2f} at {len(g)} connector(s)",
                          {"connectors": _records(g, tf.CONNECTOR_KEY + ["max_price_eur_kwh_incl_vat",
                                                                         "session_price_eur_kwh_incl_vat"])}, now,
                          g["gm_code"].iloc[0], g["operator"].iloc[0]))
    if len(lts):
        done = lts[(~lts["open"]) & (lts["operational_date"] >= start) & (lts["operational_date"] < end)
                   & (lts["lead_time_days"] > cc.max_lead_time_days)]
        opn = lts[lts["open"] & (lts["requested_date"] < end)]
        opn = opn[(end - opn["requested_date"]).dt.total_seconds() / 86400 > cc.max_lead_time_days]
        lcols = [c for c in ("request_id", "gm_code", "requested_date", "decided_date", "objection_end_date",
                             "operational_date") if c in lts]
        for r in pd.concat([done, opn]).itertuples(index=False):
            days = r.lead_time_days if not r.open else (end - r.requested_date).total_seconds() / 86400
            rec = _records(pd.DataFrame([r._asdict()]), lcols)[0]
            out.append(_alert(period, "CM-LEAD-TIME", "gemeente", str(r.request_id), days, cc.max_lead_time_days,
                              "days", f"request {r.request_id}: {days:.0f} days from request to working point"
                              f"{' (still open)' if r.open else ''}, norm {cc.max_lead_time_days:.0f}", rec, now,
                              getattr(r, "gm_code", None)))
    if timeline is not None and len(timeline):
        for r in sw.site_overdue(timeline, start, end, cc.max_lead_time_days).itertuples(index=False):
            rec = {"site_id": r.site_id, "gm_code": r.gm_code, "state": r.state, "agreed_utc": r.agreed_utc,
                   "decision_date": r.decision_date, "realised_utc": r.realised_utc}
            out.append(_alert(period, "CM-SITE-LEAD-TIME", "gemeente", str(r.site_id), r.lead_time_days,
                              cc.max_lead_time_days, "days",
                              f"plan site {r.site_id}: {r.lead_time_days:.0f} days from the municipality's agreement "
                              f"to {'the period end (not realised yet)' if r.open else 'realisation'}, norm "
                              f"{cc.max_lead_time_days:.0f}", rec, now, r.gm_code))
    for r in delivery[(delivery["party_id"] != "*") & (delivery["rejected_share"] > cc.max_cdr_rejected_share)] \
            .itertuples(index=False):
        rules = by_rule[by_rule["month"] == r.month][["rule_code", "rejected"]]
        out.append(_alert(r.month, "CM-CDR-REJECTED", "operator", r.party_id or "onbekend", r.rejected_share,
                          cc.max_cdr_rejected_share, "share",
                          f"operator {r.party_id}: {r.rejected} of {r.accepted + r.rejected} CDRs rejected in {r.month}",
                          {"accepted": r.accepted, "rejected": r.rejected,
                           "region_by_rule": _records(rules, ["rule_code", "rejected"])}, now, None, r.party_id))
    if len(monthly):
        m = monthly.copy()
        m["data_h"] = m["up_h"] + m["down_h"] + m["excluded_h"]
        cov = m.groupby(["month", "operator"])[["data_h", "nodata_h"]].sum().reset_index()
        cov["share"] = cov["data_h"] / (cov["data_h"] + cov["nodata_h"])
        for r in cov[cov["share"] < cc.min_status_coverage_share].itertuples(index=False):
            out.append(_alert(r.month, "CM-STATUS-COVERAGE", "operator", r.operator, r.share,
                              cc.min_status_coverage_share, "share",
                              f"operator {r.operator}: status data for {r.share:.1%} of EVSE-hours in {r.month}",
                              {"data_h": r.data_h, "nodata_h": r.nodata_h}, now, None, r.operator))
    new = sm[sm["new"] & sm["smart_known"]]  # unknown capability is no evidence of a breach
    if len(new):
        for op, g in new.groupby(new["operator"].fillna("onbekend")):
            sh = float(g["smart"].mean())
            if sh < cc.min_smart_charging_share_new:
                bad = g[~g["smart"]]
                out.append(_alert(period, "CM-SMART-CHARGING", "operator", op, sh, cc.min_smart_charging_share_new,
                                  "share", f"operator {op}: {len(bad)} of {len(g)} new EVSEs cannot charge smart",
                                  {"evses": _records(bad, EVSE_KEY + ["evse_id", "commissioned_utc"])}, now, None,
                                  op))
    if kind == "year":
        if len(sm) and prog["target_path_evses"] and prog["placed_cumulative"] is not None \
                and prog["placed_cumulative"] < prog["target_path_evses"]:
            out.append(_alert(period, "CM-REALISATION", "region", "region", prog["placed_cumulative"],
                              prog["target_path_evses"], "count",
                              f"{prog['placed_cumulative']} EVSEs placed since the concession start, "
                              f"path to the target asks {prog['target_path_evses']:.0f}", prog, now))
        if len(budget):
            b = budget.set_index("year").loc[year]
            if b["over_budget"]:
                out.append(_alert(period, "CM-BUDGET", "region", "region", b["actual_eur"], b["budget_eur"], "EUR",
                                  f"costs {year} EUR {b['actual_eur']:,.0f} above the budget EUR {b['budget_eur']:,.0f}",
                                  b.to_dict(), now))
            if b["cumulative_eur"] > cfg.budget.budget_eur_total_max:
                out.append(_alert(period, "CM-BUDGET-TOTAL", "region", "region", b["cumulative_eur"],
                                  cfg.budget.budget_eur_total_max, "EUR",
                                  f"cumulative costs EUR {b['cumulative_eur']:,.0f} above the maximum", b.to_dict(), now))
    cols = model.table("alerts").column_names
    return pd.DataFrame(out, columns=cols).drop_duplicates("alert_id")
