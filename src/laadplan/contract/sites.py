"""Realisation and lead time of the plan sites from the placement workflow's states (table ``site_events``,
written by :mod:`laadplan.web.workflow`): pure functions over that table and the plan's sites.

States: voorgesteld -> akkoord_gemeente (or afgewezen) -> verkeersbesluit_genomen -> in_aanleg ->
gerealiseerd. For a period ``[start, end)`` (UTC):

* the **state at the period end** of a site is the state of its last event created before ``end``
  (``voorgesteld`` without one). ``sites_agreed`` counts the sites then in akkoord_gemeente or a later state
  (not afgewezen, not reopened); ``site_realisation_share = sites_gerealiseerd / sites_agreed``;
* the **agreement** of a site is its last ``akkoord_gemeente`` state event before ``end`` (a site that was
  rejected and reopened counts from its last agreement); its **realisation** the ``gerealiseerd`` event
  (the automatic match or the region's own); its **traffic decision** the ``decision_date`` of its last
  ``verkeersbesluit_genomen`` event;
* ``site_lead_time_days = realised_utc - agreed_utc`` (days, fractional) and
  ``site_decision_lead_time_days = local date of realisation - decision_date`` (whole days), over the sites
  **realised in the period**; median and 90th percentile with linear interpolation (``numpy.percentile``,
  as :mod:`laadplan.contract.leadtime`); ``sites_realised_over_norm`` counts those with
  ``site_lead_time_days`` above the norm (``contract.max_lead_time_days``);
* ``sites_open``: agreed at the period end but not realised; ``sites_open_over_norm`` those agreed longer
  than the norm before ``end``.

Missing data is not zero: a scope (the region, a gemeente) without any workflow event before ``end`` has
every figure None (n/a) -- the workflow is not in use there, so "0 realised" would be made up; a median
over no realised site is None too.
"""

from __future__ import annotations

import pandas as pd

from laadplan.contract.leadtime import percentile_or_none

#: states that mean the municipality agreed (and the site is on its way or built)
AGREED_STATES = ("akkoord_gemeente", "verkeersbesluit_genomen", "in_aanleg", "gerealiseerd")
STATES = ("voorgesteld", "akkoord_gemeente", "afgewezen", "verkeersbesluit_genomen", "in_aanleg", "gerealiseerd")

#: KPI -> (unit, Dutch description); merged into :data:`laadplan.contract.run.KPI_LABELS`
SITE_KPI_LABELS: dict[str, tuple[str, str]] = {
    **{f"sites_{s}": ("count", f"plan-locaties in status '{s.replace('_', ' ')}' aan het eind van de periode")
       for s in STATES},
    "sites_agreed": ("count", "plan-locaties met akkoord gemeente (of verder) aan het eind van de periode"),
    "site_realisation_share": ("share", "gerealiseerd van de plan-locaties met akkoord gemeente"),
    "sites_realised_in_period": ("count", "plan-locaties gerealiseerd in de periode"),
    "site_lead_time_median_days": ("days", "doorlooptijd akkoord gemeente-gerealiseerd, mediaan"),
    "site_lead_time_p90_days": ("days", "doorlooptijd akkoord gemeente-gerealiseerd, 90e percentiel"),
    "site_decision_lead_time_median_days": ("days", "doorlooptijd verkeersbesluit-gerealiseerd, mediaan"),
    "site_decision_lead_time_p90_days": ("days", "doorlooptijd verkeersbesluit-gerealiseerd, 90e percentiel"),
    "sites_realised_over_norm": ("count", "in de periode gerealiseerde plan-locaties boven de doorlooptijdnorm"),
    "sites_open": ("count", "plan-locaties met akkoord, nog niet gerealiseerd"),
    "sites_open_over_norm": ("count", "plan-locaties met akkoord langer dan de norm geleden, nog niet gerealiseerd"),
}
SITE_KPIS = tuple(SITE_KPI_LABELS)
COUNT_KPIS = tuple(k for k, (u, _) in SITE_KPI_LABELS.items() if u == "count")


def _ts(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, errors="coerce")


def site_timeline(events: pd.DataFrame, sites: pd.DataFrame, end: pd.Timestamp | None = None,
                  tz: str = "Europe/Amsterdam") -> pd.DataFrame:
    """Per plan site (``sites``: site_id, gm_code): ``state`` at ``end`` and the moments of its workflow.

    ``events``: rows of ``site_events`` (seq, created_utc, site_id, action, state, decision_date; others
    ignored). Only events created before ``end`` count (all without ``end``); events of sites not in
    ``sites`` are ignored (a site the current plan no longer has). Columns: site_id, gm_code, n_events,
    state, agreed_utc, decision_date, realised_utc, realised_date (local)."""
    s = sites[["site_id", "gm_code"]].drop_duplicates("site_id").reset_index(drop=True)
    out = s.assign(n_events=0, state="voorgesteld", agreed_utc=pd.NaT, decision_date=pd.NaT, realised_utc=pd.NaT)
    if events is None or events.empty or s.empty:
        out["realised_date"] = pd.NaT
        return out
    ev = events.copy()
    ev["created_utc"] = _ts(ev["created_utc"])
    if end is not None:
        ev = ev[ev["created_utc"] < pd.Timestamp(end)]
    ev = ev[ev["site_id"].isin(set(s["site_id"]))].sort_values(["seq"] if "seq" in ev else ["created_utc"])
    if ev.empty:
        out["realised_date"] = pd.NaT
        return out
    n = ev.groupby("site_id").size()
    last = ev.groupby("site_id")["state"].last()
    st = ev[ev["action"] == "state"]
    agreed = st[st["state"] == "akkoord_gemeente"].groupby("site_id")["created_utc"].last()
    decision = st[st["state"] == "verkeersbesluit_genomen"].groupby("site_id")["decision_date"].last()
    realised = st[st["state"] == "gerealiseerd"].groupby("site_id")["created_utc"].first()
    idx = out["site_id"]

    def at(per_site: pd.Series) -> pd.Series:  # (Series.map of an empty datetime Series fails in pandas)
        return pd.Series(per_site.reindex(idx.to_numpy()).to_numpy(), index=out.index)

    out["n_events"] = at(n).fillna(0).astype(int)
    out["state"] = at(last).fillna("voorgesteld")
    on_way = out["state"].isin(AGREED_STATES)
    out["agreed_utc"] = _ts(at(agreed)).where(on_way)
    decided = out["state"].isin(("verkeersbesluit_genomen", "in_aanleg", "gerealiseerd"))
    out["decision_date"] = _ts(at(decision)).where(decided)
    out["realised_utc"] = _ts(at(realised)).where(out["state"] == "gerealiseerd")
    local = out["realised_utc"].dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)
    out["realised_date"] = local.dt.normalize()
    return out


def _realised_and_open(t: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.DataFrame,
                                                                                             pd.DataFrame]:
    """The timeline's sites realised in ``[start, end)`` and those agreed but not realised at ``end``, each with
    ``lead_time_days``: from the agreement to the realisation, or to ``end`` for an open site."""
    done = t[(t["realised_utc"] >= start) & (t["realised_utc"] < end)].copy()
    done["lead_time_days"] = (_ts(done["realised_utc"]) - _ts(done["agreed_utc"])) / pd.Timedelta(days=1)
    opn = t[t["state"].isin(AGREED_STATES) & (t["state"] != "gerealiseerd")].copy()
    opn["lead_time_days"] = (end - opn["agreed_utc"]).dt.total_seconds() / 86400
    return done, opn


def site_kpis(timeline: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, norm_days: float) -> dict:
    """The workflow figures of one scope (see the module doc) from :func:`site_timeline` rows taken at
    ``end``. Every value None when the scope has no workflow event."""
    if timeline.empty or int(timeline["n_events"].sum()) == 0:
        return {k: None for k in SITE_KPIS}
    t = timeline
    out: dict = {f"sites_{s}": int((t["state"] == s).sum()) for s in STATES}
    agreed = t["state"].isin(AGREED_STATES)
    out["sites_agreed"] = int(agreed.sum())
    out["site_realisation_share"] = (out["sites_gerealiseerd"] / out["sites_agreed"]) if out["sites_agreed"] else None
    done, opn = _realised_and_open(t, pd.Timestamp(start), pd.Timestamp(end))
    lead = done["lead_time_days"]
    dec = (_ts(done["realised_date"]) - _ts(done["decision_date"])) / pd.Timedelta(days=1)
    out["sites_realised_in_period"] = int(len(done))
    out["site_lead_time_median_days"] = percentile_or_none(lead, 50)
    out["site_lead_time_p90_days"] = percentile_or_none(lead, 90)
    out["site_decision_lead_time_median_days"] = percentile_or_none(dec, 50)
    out["site_decision_lead_time_p90_days"] = percentile_or_none(dec, 90)
    out["sites_realised_over_norm"] = int((lead > norm_days).sum())
    out["sites_open"] = int(len(opn))
    out["sites_open_over_norm"] = int((opn["lead_time_days"] > norm_days).sum())
    return out


def site_kpis_by_gemeente(timeline: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                          norm_days: float) -> pd.DataFrame:
    """:func:`site_kpis` per gm_code (column subject_id); gemeenten without events have None throughout."""
    rows = []
    for gm, g in timeline.groupby(timeline["gm_code"].fillna("onbekend"), sort=True):
        rows.append({"subject_id": gm, **site_kpis(g, start, end, norm_days)})
    cols = ["subject_id", *SITE_KPIS]
    return pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame(columns=cols)


def site_overdue(timeline: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, norm_days: float) -> pd.DataFrame:
    """The sites behind the norm: realised in the period after more than ``norm_days`` from the agreement, or
    agreed more than ``norm_days`` before ``end`` and still not realised. Columns of the timeline plus
    lead_time_days (to realisation, or to ``end`` when open) and open."""
    done, opn = _realised_and_open(timeline, pd.Timestamp(start), pd.Timestamp(end))
    both = pd.concat([done.assign(open=False), opn.assign(open=True)], ignore_index=True)
    return both[both["lead_time_days"] > norm_days].sort_values("site_id").reset_index(drop=True)
