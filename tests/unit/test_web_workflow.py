"""Placement workflow of the web app (issue 16.3): states, roles, the append-only audit trail, the spot
checks of a moved site and the automatic realisation match. Distances are computed here independently
(pyproj RD New), not with the module's own helpers."""

from __future__ import annotations

import inspect
import re
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from laadplan.api.auth import Principal
from laadplan.config import RegionConfig
from laadplan.store import Store
from laadplan.web import workflow as W

RD = Transformer.from_crs(4326, 28992, always_xy=True)
GM1, GM2 = "GM0001", "GM0002"


def rd(lon, lat):
    return RD.transform(lon, lat)


def square(x0, y0, x1, y1) -> bytes:
    return shapely.to_wkb(shapely.box(x0, y0, x1, y1))


def build_store(path=":memory:") -> Store:
    """Two gemeenten side by side (lon 4.0-4.1 and 4.1-4.2, lat 52.0-52.1), three plan sites, two locations
    with one EVSE each."""
    s = Store(path)
    s.upsert("areas", pd.DataFrame([
        {"area_code": GM1, "level": "gemeente", "name": "Eerstestad", "gm_code": GM1,
         "geometry_wkb": square(4.0, 52.0, 4.1, 52.1)},
        {"area_code": GM2, "level": "gemeente", "name": "Tweedorp", "gm_code": GM2,
         "geometry_wkb": square(4.1, 52.0, 4.2, 52.1)}]))
    rows = []
    for sid, gm, lon, lat, year in (("S1", GM1, 4.05, 52.05, 2026), ("S2", GM1, 4.05, 52.06, 2026),
                                    ("S3", GM2, 4.15, 52.05, 2027)):
        x, y = rd(lon, lat)
        rows.append({"year": year, "gm_code": gm, "site_id": sid, "lat": lat, "lon": lon, "x_rd": x, "y_rd": y,
                     "evses": 2, "evses_total": 2, "power_kw": 22.0, "triggers": "usage",
                     "reasons": f"gebruik rond {sid}", "grid_route": "new_connection", "offtake_status": 0,
                     "lead_time_weeks": 12.0, "congestion_rule": True})
    s.append("plan_sites", pd.DataFrame(rows))
    x, y = rd(4.0515, 52.0505)
    s.upsert("locations", pd.DataFrame([
        {"country_code": "NL", "party_id": "AAA", "location_id": "L1", "name": "Bij S1", "lat": 52.0505,
         "lon": 4.0515, "x_rd": x, "y_rd": y, "gm_code": GM1, "n_evses": 1}]))
    s.upsert("evses", pd.DataFrame([{"country_code": "NL", "party_id": "AAA", "location_id": "L1",
                                     "evse_uid": "E1", "evse_id": "NL*AAA*E1", "status": "AVAILABLE"}]))
    return s


REGION = Principal("reg000000001", "region")
G1 = Principal("gm1000000001", "gemeente", gm_code=GM1)
G2 = Principal("gm2000000001", "gemeente", gm_code=GM2)
NET = Principal("net000000001", "netbeheerder")


@pytest.fixture
def st():
    s = build_store()
    yield s
    s.close()


def test_a_site_goes_from_proposed_to_realised_with_every_step_in_the_trail(st):
    cfg = RegionConfig()
    assert W.sites(st).set_index("site_id")["state"].to_dict() == {"S1": "voorgesteld", "S2": "voorgesteld",
                                                                   "S3": "voorgesteld"}
    W.transition(st, cfg, "S1", "akkoord_gemeente", G1, reason="past in parkeerbeleid")
    # E1 stood within walking distance when the municipality agreed: it does not realise the site
    d_e1 = float(np.hypot(*np.subtract(rd(4.0515, 52.0505), rd(4.05, 52.05))))
    assert d_e1 < cfg.walk_m(GM1)
    assert W.sites(st, site_id="S1")["known_evses"].iloc[0] == "NL*AAA*L1*E1"
    with pytest.raises(W.WorkflowError, match="datum"):
        W.transition(st, cfg, "S1", "verkeersbesluit_genomen", G1)
    decided = date.today() - timedelta(days=60)
    ev = W.transition(st, cfg, "S1", "verkeersbesluit_genomen", G1, decision_date=decided)
    weeks = cfg.placement.request_objection_weeks
    assert ev["objection_end_date"] == decided + timedelta(days=round(weeks * 7))
    W.transition(st, cfg, "S1", "in_aanleg", G1)
    assert W.match_realised(st, cfg) == []  # only the old EVSE nearby
    # a new EVSE appears 30 m away: matched automatically
    x, y = rd(4.0504, 52.0502)
    st.upsert("locations", pd.DataFrame([{"country_code": "NL", "party_id": "AAA", "location_id": "L2",
                                          "lat": 52.0502, "lon": 4.0504, "x_rd": x, "y_rd": y, "gm_code": GM1}]))
    st.upsert("evses", pd.DataFrame([{"country_code": "NL", "party_id": "AAA", "location_id": "L2",
                                      "evse_uid": "E2", "evse_id": "NL*AAA*E2", "status": "AVAILABLE"}]))
    new = W.match_realised(st, cfg)
    assert [(e["site_id"], e["state"], e["evse_id"], e["actor"]) for e in new] == [
        ("S1", "gerealiseerd", "NL*AAA*E2", "system")]
    assert W.match_realised(st, cfg) == []  # once
    trail = W.events(st, site_id="S1")
    assert trail["state"].tolist() == ["akkoord_gemeente", "verkeersbesluit_genomen", "in_aanleg", "gerealiseerd"]
    assert trail["actor"].tolist() == [G1.token_id] * 3 + ["system"]
    assert trail["reason"].iloc[0] == "past in parkeerbeleid"
    assert W.verify_trail(st) == []


def test_order_reasons_and_objection_period_are_enforced(st):
    cfg = RegionConfig()
    with pytest.raises(W.WorkflowError, match="niet naar"):
        W.transition(st, cfg, "S1", "in_aanleg", G1)
    with pytest.raises(W.WorkflowError, match="reden"):
        W.transition(st, cfg, "S2", "afgewezen", G1, reason="  ")
    W.transition(st, cfg, "S2", "afgewezen", G1, reason="te dicht bij school")
    assert W.sites(st, site_id="S2")["reason"].iloc[0] == "te dicht bij school"
    W.transition(st, cfg, "S1", "akkoord_gemeente", G1)
    W.transition(st, cfg, "S1", "verkeersbesluit_genomen", G1, decision_date=date.today())
    with pytest.raises(W.WorkflowError, match="bezwaartermijn loopt nog"):
        W.transition(st, cfg, "S1", "in_aanleg", G1)
    W.transition(st, cfg, "S3", "akkoord_gemeente", G2)
    with pytest.raises(W.WorkflowError, match="toekomst"):
        W.transition(st, cfg, "S3", "verkeersbesluit_genomen", G2, decision_date=date.today() + timedelta(days=1))


def test_a_gemeente_changes_only_its_own_sites_and_roles_are_checked(st):
    cfg = RegionConfig()
    with pytest.raises(W.Forbidden):
        W.transition(st, cfg, "S3", "akkoord_gemeente", G1)
    with pytest.raises(W.Forbidden):
        W.move_site(st, cfg, "S3", 52.05, 4.16, G1)
    with pytest.raises(W.Forbidden):
        W.transition(st, cfg, "S1", "akkoord_gemeente", NET)
    W.transition(st, cfg, "S3", "akkoord_gemeente", REGION)
    assert W.sites(st, site_id="S3")["state"].iloc[0] == "akkoord_gemeente"
    assert W.events(st)["actor_role"].tolist() == ["region"]


def test_the_trail_is_append_only_and_an_edit_is_found(st):
    cfg = RegionConfig()
    W.transition(st, cfg, "S1", "akkoord_gemeente", G1, reason="a")
    W.transition(st, cfg, "S2", "afgewezen", G1, reason="b")
    W.transition(st, cfg, "S2", "voorgesteld", G1, reason="c")
    assert W.events(st)["seq"].tolist() == [1, 2, 3]
    assert W.verify_trail(st) == []
    # the module has no UPDATE or DELETE path on the trail
    src = inspect.getsource(W)
    assert not re.search(r"[\"'](UPDATE|DELETE|TRUNCATE|DROP)\s", src, re.I), "workflow has SQL that changes rows"
    assert "replace_all" not in src and "upsert" not in src and "store.append(\"site_events\"" in src
    # re-appending an existing event through the store changes nothing (no version column: first write wins)
    first = st.query("SELECT * FROM site_events WHERE seq = 1")
    st.upsert("site_events", first.assign(reason="overschreven"))
    assert st.query("SELECT reason FROM site_events WHERE seq = 1")["reason"].iloc[0] == "a"
    # an edit made behind the app's back is detected, and so is a removed event
    st.con.execute("UPDATE site_events SET reason = 'anders' WHERE seq = 2")
    assert W.verify_trail(st) == ["event 2: its content was changed after it was written"]
    st.con.execute("UPDATE site_events SET reason = 'b' WHERE seq = 2")
    assert W.verify_trail(st) == []
    st.con.execute("DELETE FROM site_events WHERE seq = 2")
    assert W.verify_trail(st)[0] == "event 2 is missing (next is 3)"


def test_moving_a_site_reruns_spacing_and_grid_checks(st):
    cfg = RegionConfig()
    site = W.sites(st, site_id="S1").iloc[0].to_dict()
    # 50 m from S2 (lat 52.06): spacing fails (min_spacing_m = 100)
    lat = 52.06 - 50 / 111_250
    chk = W.check_spot(st, cfg, site, lat, 4.05)
    by = {c["check"]: c for c in chk.checks}
    d = float(np.hypot(*np.subtract(rd(4.05, lat), rd(4.05, 52.06))))
    assert by["spacing"]["nearest_site"] == "S2"
    assert by["spacing"]["distance_m"] == pytest.approx(d, abs=0.01)
    assert d < cfg.placement.min_spacing_m and by["spacing"]["ok"] is False and chk.ok is False
    assert by["gemeente"]["ok"] is True
    assert by["grid"]["grid_route"] == "new_connection" and by["grid"]["ok"] is True
    # a failing spot is not saved; a passing one is, and becomes the site's position
    out = W.move_site(st, cfg, "S1", lat, 4.05, G1)
    assert out["saved"] is False and W.events(st).empty
    out = W.move_site(st, cfg, "S1", 52.052, 4.052, G1, reason="beter bij de stoep")
    assert out["saved"] is True and out["ok"] is True
    s1 = W.sites(st, site_id="S1").iloc[0]
    assert (s1["lat"], s1["lon"], s1["moved"], s1["state"]) == (52.052, 4.052, True, "voorgesteld")
    # into the other gemeente: refused by the gemeente check
    chk = W.check_spot(st, cfg, site, 52.05, 4.15)
    assert {c["check"]: c["ok"] for c in chk.checks}["gemeente"] is False
    # a congested supply area refuses a new connection in the site's year
    st.upsert("grid_areas", pd.DataFrame([{"area_code": "SA1", "level": "supply_area", "offtake_status": 3,
                                           "geometry_wkb": square(4.0, 52.0, 4.1, 52.1),
                                           "demand_alleviation_year": 2035}]))
    chk = W.check_spot(st, cfg, site, 52.052, 4.052)
    g = {c["check"]: c for c in chk.checks}["grid"]
    assert g["offtake_status"] == 3 and g["ok"] is False and "geweigerd" in g["text"]


def test_agreed_list_for_the_operator(st):
    cfg = RegionConfig()
    W.transition(st, cfg, "S1", "akkoord_gemeente", G1)
    W.transition(st, cfg, "S2", "afgewezen", G1, reason="x")
    a = W.agreed_sites(st)
    assert a["site_id"].tolist() == ["S1"] and a["state"].tolist() == ["akkoord_gemeente"]


def test_dutch_number_and_date_formatting():
    assert W.fmt_num_nl(1234.5) == "1.234" or W.fmt_num_nl(1234.5) == "1.235"
    assert W.fmt_num_nl(1234.56, 1) == "1.234,6"
    assert W.fmt_num_nl(None) == "n.b."
    assert W.fmt_date_nl(date(2026, 3, 5)) == "5 maart 2026"


def test_state_summary_counts_states_and_lead_days(st):
    cfg = RegionConfig()
    t0 = datetime(2026, 1, 1, 9, 0)
    W.transition(st, cfg, "S1", "akkoord_gemeente", G1, now=t0)
    W.transition(st, cfg, "S1", "verkeersbesluit_genomen", G1, decision_date=date(2026, 1, 5), now=t0 + timedelta(days=4))
    W.transition(st, cfg, "S1", "in_aanleg", G1, now=t0 + timedelta(days=60))
    W.transition(st, cfg, "S1", "gerealiseerd", REGION, reason="opgeleverd", now=t0 + timedelta(days=90, hours=12))
    W.transition(st, cfg, "S2", "afgewezen", G1, reason="x", now=t0)
    sm = W.state_summary(st)
    assert sm["by_state"] == {"voorgesteld": 1, "akkoord_gemeente": 0, "afgewezen": 1, "verkeersbesluit_genomen": 0,
                              "in_aanleg": 0, "gerealiseerd": 1}
    assert sm["lead_days_median"] == pytest.approx(90.5) and sm["lead_days_p90"] == pytest.approx(90.5)
    assert W.state_summary(st, [GM2])["lead_days_median"] is None


def test_the_plans_reasons_read_in_dutch():
    from laadplan.web.pages import plan_reason_nl

    en = ("usage: 1 location(s) with 2 EVSE(s) within 250 m of location EQU000093: peak-hour-of-week occupancy "
          "100 % (Thu 20:00) >= 85 %; 1 busy location(s) in the cluster | request AV0112 granted: no public charge "
          "point within 250 m (nearest at 400 m) | coverage: cell E0825N4460 has about 435 households (>= 125) and "
          "no public charge point")
    assert plan_reason_nl(en) == (
        "gebruik: 1 locatie(s) met 2 laadpunt(en) binnen 250 m van locatie EQU000093: bezetting piekuur van de week "
        "100 % (do 20:00) ≥ 85 %; 1 drukke locatie(s) in het cluster · aanvraag AV0112 toegekend: geen openbaar "
        "laadpunt binnen 250 m (dichtstbijzijnde op 400 m) · dekking: cel E0825N4460 heeft ongeveer 435 huishoudens "
        "(≥ 125) en geen openbaar laadpunt")
    assert plan_reason_nl("forecast (middle): need in BU04820103 grows by 6.0 EVSE(s) in 2027 beyond supply") == \
        "prognose (midden): behoefte in BU04820103 groeit in 2027 met 6,0 laadpunt(en) boven het aanbod"
    assert plan_reason_nl(None) == ""
