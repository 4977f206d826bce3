"""Realisation and lead time of plan sites from the placement workflow's states (laadplan.contract.sites),
on a small event log whose lead times, medians and shares are computed by hand below (calendar arithmetic in
the comments), and their place in compute_contract (summary, gemeente rows, alerts, n/a without events)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from laadplan.config import RegionConfig
from laadplan.contract import sites as sw
from laadplan.contract.periods import period_bounds
from laadplan.store import Store

NORM = 182.0
SITES = pd.DataFrame({"site_id": list("ABCDEFG"),
                      "gm_code": ["GM1", "GM1", "GM2", "GM2", "GM1", "GM3", "GM1"]})


def _events() -> pd.DataFrame:
    """A: agreed, decided, realised in 2026. B: agreed, rejected, reopened, agreed again, realised on the last
    evening of 2026. C: realised at 2026-12-31 23:30 UTC = 2027-01-01 00:30 local (a 2027 realisation).
    D: agreed in November. E: rejected. F, G: no events."""
    rows = [  # site, created_utc, state, decision_date
        ("A", "2026-01-10 12:00", "akkoord_gemeente", None),
        ("A", "2026-02-01 10:00", "verkeersbesluit_genomen", "2026-01-30"),
        ("B", "2026-02-01 00:00", "akkoord_gemeente", None),
        ("B", "2026-02-15 00:00", "afgewezen", None),
        ("B", "2026-03-01 00:00", "voorgesteld", None),
        ("B", "2026-03-01 12:00", "akkoord_gemeente", None),
        ("A", "2026-03-20 08:00", "in_aanleg", None),
        ("B", "2026-04-01 09:00", "verkeersbesluit_genomen", "2026-03-31"),
        ("E", "2026-04-01 10:00", "afgewezen", None),
        ("A", "2026-05-10 00:00", "gerealiseerd", None),
        ("B", "2026-05-20 00:00", "in_aanleg", None),
        ("C", "2026-06-01 00:00", "akkoord_gemeente", None),
        ("C", "2026-06-10 07:00", "verkeersbesluit_genomen", "2026-06-10"),
        ("C", "2026-07-25 00:00", "in_aanleg", None),
        ("D", "2026-11-01 00:00", "akkoord_gemeente", None),
        ("B", "2026-12-31 22:30", "gerealiseerd", None),
        ("C", "2026-12-31 23:30", "gerealiseerd", None),
    ]
    ev = pd.DataFrame(rows, columns=["site_id", "created_utc", "state", "decision_date"])
    ev["seq"] = range(1, len(ev) + 1)
    ev["action"] = "state"
    ev["created_utc"] = pd.to_datetime(ev["created_utc"])
    ev["decision_date"] = pd.to_datetime(ev["decision_date"])
    # a move of a proposed site is an event too, but no state change
    mv = pd.DataFrame([{"site_id": "G", "created_utc": pd.Timestamp("2026-02-02"), "state": "voorgesteld",
                        "decision_date": pd.NaT, "seq": len(ev) + 1, "action": "move"}])
    return pd.concat([ev, mv], ignore_index=True)


def _kpis(period: str, sites=SITES):
    start, end = period_bounds(period)
    tl = sw.site_timeline(_events(), sites, end)
    return tl, sw.site_kpis(tl, start, end, NORM), sw.site_kpis_by_gemeente(tl, start, end, NORM)


def test_year_figures_from_a_hand_computed_event_log():
    start, end = period_bounds("2026")
    assert (start, end) == (pd.Timestamp("2025-12-31 23:00"), pd.Timestamp("2026-12-31 23:00"))  # CET
    tl, k, by_gm = _kpis("2026")
    assert tl.set_index("site_id")["state"].to_dict() == {
        "A": "gerealiseerd", "B": "gerealiseerd", "C": "in_aanleg",  # C's realisation lies after the year end
        "D": "akkoord_gemeente", "E": "afgewezen", "F": "voorgesteld", "G": "voorgesteld"}
    assert {s: k[f"sites_{s}"] for s in sw.STATES} == {
        "voorgesteld": 2, "akkoord_gemeente": 1, "afgewezen": 1, "verkeersbesluit_genomen": 0, "in_aanleg": 1,
        "gerealiseerd": 2}
    assert k["sites_agreed"] == 4 and k["site_realisation_share"] == 0.5  # A, B of A, B, C, D
    # A: 2026-01-10 12:00 -> 2026-05-10 00:00 = 120 days - 12 h = 119.5 days
    # B: from its second agreement 2026-03-01 12:00 -> 2026-12-31 22:30 = 305 days + 10.5 h = 305.4375 days
    assert k["sites_realised_in_period"] == 2
    assert k["site_lead_time_median_days"] == pytest.approx((119.5 + 305.4375) / 2)
    assert k["site_lead_time_p90_days"] == pytest.approx(119.5 + 0.9 * (305.4375 - 119.5))
    # traffic decision to the local day of realisation: A 2026-01-30 -> 2026-05-10 = 100 days;
    # B 2026-03-31 -> 2026-12-31 (23:30 local, still 2026) = 275 days
    assert k["site_decision_lead_time_median_days"] == pytest.approx(187.5)
    assert k["site_decision_lead_time_p90_days"] == pytest.approx(100 + 0.9 * 175)
    assert k["sites_realised_over_norm"] == 1  # B
    # open at the year end: C (agreed 2026-06-01: 213 days 23 h before 2026-12-31 23:00 UTC) and D (60 days 23 h)
    assert k["sites_open"] == 2 and k["sites_open_over_norm"] == 1
    g = by_gm.set_index("subject_id")
    assert g.loc["GM1", "sites_agreed"] == 2 and g.loc["GM1", "site_realisation_share"] == 1.0
    assert g.loc["GM1", "sites_voorgesteld"] == 1 and g.loc["GM1", "sites_afgewezen"] == 1
    assert g.loc["GM2", "site_realisation_share"] == 0.0 and g.loc["GM2", "sites_realised_in_period"] == 0
    assert pd.isna(g.loc["GM2", "site_lead_time_median_days"])  # nothing realised: n/a, not 0
    assert g.loc["GM2", "sites_open"] == 2 and g.loc["GM2", "sites_open_over_norm"] == 1
    # GM3 has a plan site but no workflow event: every figure n/a
    assert g.loc["GM3"].isna().all()
    over = sw.site_overdue(tl, start, end, NORM)
    assert over[["site_id", "open"]].values.tolist() == [["B", False], ["C", True]]
    assert over["lead_time_days"].tolist() == pytest.approx([305.4375, 213 + 23 / 24])


def test_the_next_year_takes_the_realisation_at_local_new_year():
    _, k, _ = _kpis("2027")
    assert k["sites_realised_in_period"] == 1 and k["sites_gerealiseerd"] == 3
    # C: 2026-06-01 00:00 -> 2026-12-31 23:30 UTC = 213 days 23.5 h; its decision 2026-06-10 -> local day
    # 2027-01-01 = 205 days
    assert k["site_lead_time_median_days"] == pytest.approx(213 + 23.5 / 24)
    assert k["site_decision_lead_time_median_days"] == 205.0
    assert k["sites_open"] == 1 and k["sites_open_over_norm"] == 1  # D: agreed 2026-11-01, 425 days at the end


def test_a_month_sees_the_states_at_its_own_end():
    _, k, _ = _kpis("2026-05")
    # end 2026-05-31 22:00 UTC: A realised (119.5 days), B in aanleg, C and D not yet agreed, E rejected
    assert (k["sites_gerealiseerd"], k["sites_in_aanleg"], k["sites_voorgesteld"], k["sites_afgewezen"]) == (1, 1, 4, 1)
    assert k["sites_agreed"] == 2 and k["site_realisation_share"] == 0.5
    assert k["site_lead_time_median_days"] == pytest.approx(119.5) and k["sites_open"] == 1
    _, k, _ = _kpis("2026-02")  # B rejected on 02-15: not agreed at the end of February
    assert k["sites_agreed"] == 1 and k["sites_afgewezen"] == 1 and k["sites_realised_in_period"] == 0
    assert k["site_lead_time_median_days"] is None and k["site_realisation_share"] == 0.0


def test_no_events_is_not_available_never_zero():
    start, end = period_bounds("2026")
    for ev in (None, _events().iloc[0:0], _events()[_events()["site_id"] == "nope"]):
        k = sw.site_kpis(sw.site_timeline(ev, SITES, end), start, end, NORM)
        assert set(k) == set(sw.SITE_KPIS) and all(v is None for v in k.values())
    # events only after the period: n/a for the period before them
    k = sw.site_kpis(sw.site_timeline(_events(), SITES, pd.Timestamp("2026-01-01")), start - pd.Timedelta(days=365),
                     pd.Timestamp("2026-01-01"), NORM)
    assert all(v is None for v in k.values())


def _store_with_workflow(path=":memory:") -> Store:
    from laadplan.web.workflow import append_event

    s = Store(path)
    s.append("plan_sites", pd.DataFrame([{"year": 2026, "gm_code": gm, "site_id": sid, "lat": 52.0, "lon": 4.0,
                                          "evses": 2, "congestion_rule": False} for sid, gm in SITES.values]))
    for r in _events().to_dict("records"):
        append_event(s, {"site_id": r["site_id"], "gm_code": SITES.set_index("site_id").loc[r["site_id"], "gm_code"],
                         "action": r["action"], "state": r["state"], "reason": "test",
                         "decision_date": None if pd.isna(r["decision_date"]) else r["decision_date"].date(),
                         "actor": "t"}, now=r["created_utc"].to_pydatetime())
    return s


def test_compute_contract_reports_the_workflow_figures_and_alerts():
    from laadplan.contract.run import compute_contract

    s = _store_with_workflow()
    cfg = RegionConfig()
    cfg.contract.max_lead_time_days = NORM
    res = compute_contract(s, cfg, "2026")
    _, want, want_gm = _kpis("2026")
    for key, v in want.items():
        assert res.summary[key] == (pytest.approx(v) if v is not None else None), key
    rows = res.levels["gemeente"].set_index("subject_id")
    assert rows.loc["GM1", "sites_agreed"] == 2 and rows.loc["GM2", "sites_open_over_norm"] == 1
    assert rows.loc["GM1", "site_lead_time_median_days"] == pytest.approx(want["site_lead_time_median_days"])
    kp = res.kpis.set_index(["level", "subject_id", "kpi"])
    assert kp.loc[("region", "region", "site_realisation_share"), "value"] == 0.5
    assert bool(kp.loc[("region", "region", "site_lead_time_median_days"), "breach"])  # 212.5 > 182
    assert ("gemeente", "GM3", "sites_agreed") not in kp.index  # n/a is not stored as a value
    stored = s.query("SELECT value FROM contract_kpis WHERE period = '2026' AND level = 'gemeente' AND "
                     "subject_id = 'GM2' AND kpi = 'sites_open'")["value"].tolist()
    assert stored == [2.0]
    al = res.alerts[res.alerts["rule"] == "CM-SITE-LEAD-TIME"].sort_values("subject_id")
    assert al["subject_id"].tolist() == ["B", "C"] and al["gm_code"].tolist() == ["GM1", "GM2"]
    assert al["value"].tolist() == pytest.approx([305.4375, 213 + 23 / 24])
    s.close()


def test_compute_contract_without_workflow_says_not_available():
    from laadplan.contract.run import compute_contract

    s = Store(":memory:")
    s.append("plan_sites", pd.DataFrame([{"year": 2026, "gm_code": "GM1", "site_id": "A", "lat": 52.0, "lon": 4.0,
                                          "evses": 2, "congestion_rule": False}]))
    res = compute_contract(s, RegionConfig(), "2026", write=False)
    assert all(res.summary[k] is None for k in sw.SITE_KPIS)
    assert any("site_events" in n for n in res.notes)
    assert not res.kpis["kpi"].isin(sw.SITE_KPIS).any()
    s.close()


def test_the_web_summary_uses_the_same_definition():
    from laadplan.web.workflow import state_summary

    s = _store_with_workflow()
    sm = state_summary(s, now=datetime(2027, 6, 1))
    # all realised sites up to now: A 119.5, B 305.4375, C 213.979 days
    leads = sorted([119.5, 305.4375, 213 + 23.5 / 24])
    assert sm["lead_days_median"] == pytest.approx(leads[1])
    assert sm["agreed"] == 4 and sm["realisation_share"] == pytest.approx(3 / 4)
    assert sm["by_state"]["gerealiseerd"] == 3
    s.close()
