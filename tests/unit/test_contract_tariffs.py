"""Tariff compliance on real OCPI tariffs (NDW sample), checked against hand computation."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from laadplan.contract.settings import ContractConfig
from laadplan.contract.tariffs import (connector_tariffs, energy_price_incl_vat_max, max_tariff_norm, tariff_history,
                                       tariff_prices, versions_in_force)


@pytest.fixture(scope="module")
def ocpi_tariffs(shared_data):
    return json.loads((shared_data / "ndw_ocpi" / "ocpi_tariffs_sample.json").read_text())


def _find(tariffs, party, tid):
    return next(t for t in tariffs if t["party_id"] == party and t["id"] == tid)


@pytest.mark.slow
@pytest.mark.realdata
def test_energy_price_incl_vat_by_hand(ocpi_tariffs):
    # TNM: one ENERGY component 0.388 excl. VAT at 21 %
    assert energy_price_incl_vat_max(_find(ocpi_tariffs, "TNM", "4473587a5b74614ccc3a0ccec240ea51")["elements"]) \
        == pytest.approx(0.388 * 1.21)
    # ALL 1203: ENERGY 0.511 + 21 % VAT next to TIME and PARKING_TIME components (ignored)
    assert energy_price_incl_vat_max(_find(ocpi_tariffs, "ALL", "1203")["elements"]) == pytest.approx(0.61831)
    # EFL p-ac-65a59: two elements, ENERGY 0.5717 and 0.5217 without vat -> VAT unknown (None) unless the
    # region assumes a VAT; then the larger with that VAT
    el = _find(ocpi_tariffs, "EFL", next(t["id"] for t in ocpi_tariffs if t["id"].startswith("p-ac-65a59")))
    assert energy_price_incl_vat_max(el["elements"]) is None
    assert energy_price_incl_vat_max(el["elements"], vat_when_missing=0) == pytest.approx(0.5717)
    assert energy_price_incl_vat_max(el["elements"], vat_when_missing=21) == pytest.approx(0.5717 * 1.21)
    # JSON text works like the parsed list; a tariff without ENERGY component has no energy price
    assert energy_price_incl_vat_max(json.dumps(_find(ocpi_tariffs, "FAS", "677")["elements"])) \
        == pytest.approx(0.6364 * 1.21)
    assert energy_price_incl_vat_max([{"price_components": [{"type": "TIME", "price": 2.0, "vat": 21}]}]) is None


@pytest.mark.slow
@pytest.mark.realdata
def test_connector_compliance_against_norm(ocpi_tariffs):
    pick = [("TNM", "4473587a5b74614ccc3a0ccec240ea51"), ("ALL", "1203"), ("ENE", "XS01")]
    trows = []
    for party, tid in pick:
        t = _find(ocpi_tariffs, party, tid)
        trows.append({"country_code": "NL", "party_id": party, "tariff_id": tid,
                      "elements_json": json.dumps(t["elements"]), "start_utc": pd.NaT, "end_utc": pd.NaT})
    tariffs = pd.DataFrame(trows)
    conns = pd.DataFrame([
        {"country_code": "NL", "party_id": "TNM", "location_id": "L1", "evse_uid": "E1", "connector_id": "1",
         "tariff_ids": "4473587a5b74614ccc3a0ccec240ea51"},
        {"country_code": "NL", "party_id": "ALL", "location_id": "L2", "evse_uid": "E2", "connector_id": "1",
         "tariff_ids": "1203"},
        {"country_code": "NL", "party_id": "ENE", "location_id": "L3", "evse_uid": "E3", "connector_id": "1",
         "tariff_ids": "XS01"},
        {"country_code": "NL", "party_id": "ENE", "location_id": "L3", "evse_uid": "E3", "connector_id": "2",
         "tariff_ids": None},
        {"country_code": "NL", "party_id": "TNM", "location_id": "L4", "evse_uid": "E4", "connector_id": "1",
         "tariff_ids": "missing-id"},
    ])
    cc = ContractConfig(max_tariff_eur_kwh_incl_vat=0.48)
    out = connector_tariffs(conns, tariffs, "2026-09", cc).set_index(["evse_uid", "connector_id"])
    assert out.loc[("E1", "1"), "status"] == "compliant"  # 0.46948 <= 0.48
    assert out.loc[("E2", "1"), "status"] == "over"  # 0.61831
    assert out.loc[("E3", "1"), "max_price_eur_kwh_incl_vat"] == pytest.approx(0.32 * 1.21)
    assert out.loc[("E3", "2"), "status"] == "unknown" and out.loc[("E4", "1"), "status"] == "unknown"
    # a quarter override makes the TNM tariff non-compliant in Q3 only
    cc2 = ContractConfig(max_tariff_eur_kwh_incl_vat=0.48, max_tariff_by_period={"2026Q3": 0.45})
    assert max_tariff_norm("2026-09", cc2) == 0.45 and max_tariff_norm("2026-10", cc2) == 0.48
    assert max_tariff_norm("2026", cc2) == 0.45
    out2 = connector_tariffs(conns, tariffs, "2026-09", cc2).set_index(["evse_uid", "connector_id"])
    assert out2.loc[("E1", "1"), "status"] == "over"


def test_tariff_outside_validity_window_is_ignored():
    el = json.dumps([{"price_components": [{"type": "ENERGY", "price": 0.30, "vat": 21}]}])
    el_hi = json.dumps([{"price_components": [{"type": "ENERGY", "price": 0.60, "vat": 21}]}])
    tariffs = pd.DataFrame([
        {"country_code": "NL", "party_id": "X", "tariff_id": "old", "elements_json": el_hi,
         "start_utc": pd.Timestamp("2025-01-01"), "end_utc": pd.Timestamp("2026-01-01")},
        {"country_code": "NL", "party_id": "X", "tariff_id": "new", "elements_json": el,
         "start_utc": pd.Timestamp("2026-01-01"), "end_utc": pd.NaT}])
    conns = pd.DataFrame([{"country_code": "NL", "party_id": "X", "location_id": "L", "evse_uid": "E",
                           "connector_id": "1", "tariff_ids": "old;new"}])
    from laadplan.contract.periods import period_bounds

    out = connector_tariffs(conns, tariffs, "2026-09", ContractConfig(), period_bounds("2026-09"))
    assert out.iloc[0]["max_price_eur_kwh_incl_vat"] == pytest.approx(0.363)
    assert out.iloc[0]["worst_tariff_id"] == "new" and out.iloc[0]["status"] == "compliant"


@pytest.mark.slow
@pytest.mark.realdata
def test_store_tariffs_from_the_reader_agree_with_the_elements(shared_data, store, cfg):
    """Tariffs ingested by `laadplan ingest tariffs`: the store's incl.-VAT column and our reading of the
    elements give the same compliance for every tariff."""
    try:
        from laadplan.ingest import reader

        ingest = reader("tariffs")
    except ModuleNotFoundError:
        pytest.skip("the tariffs reader is not available")
    ingest(store, str(shared_data / "ndw_ocpi" / "ocpi_tariffs_sample.json"), cfg)
    t = store.frame("tariffs")
    assert len(t) > 40
    conns = t[["country_code", "party_id", "tariff_id"]].assign(
        location_id="L", evse_uid=t["tariff_id"], connector_id="1", tariff_ids=t["tariff_id"])
    a = connector_tariffs(conns, t, "2026-09", ContractConfig())
    b = connector_tariffs(conns, t.drop(columns=["elements_json"]), "2026-09", ContractConfig())
    # without elements only the per-kWh figure is known: the same verdict where the typical session (FLAT,
    # TIME, PARKING_TIME) does not decide it
    same = ((a["status"] != "over") | (a["max_price_eur_kwh_incl_vat"] > a["norm"])).to_numpy()
    assert same.sum() > 20
    assert list(a["status"][same]) == list(b["status"][same])
    assert (t["energy_price_eur_kwh_max_incl_vat"].isna() == a["max_price_eur_kwh_incl_vat"].isna()).all()
    assert a["max_price_eur_kwh_incl_vat"].to_numpy() == pytest.approx(b["max_price_eur_kwh_incl_vat"].to_numpy(),
                                                                       nan_ok=True)
    tnm = a[a["tariff_ids"] == "4473587a5b74614ccc3a0ccec240ea51"].iloc[0]
    assert tnm["max_price_eur_kwh_incl_vat"] == pytest.approx(0.388 * 1.21) and tnm["status"] == "compliant"


def _version(tid: str, price_excl_vat: float, last_updated: str, start: str | None = None) -> dict:
    """One stored tariff version with a single ENERGY component at 21 % VAT."""
    return {"country_code": "NL", "party_id": "X", "tariff_id": tid,
            "elements_json": json.dumps([{"price_components": [{"type": "ENERGY", "price": price_excl_vat,
                                                               "vat": 21}]}]),
            "start_utc": pd.Timestamp(start) if start else pd.NaT, "end_utc": pd.NaT,
            "last_updated_utc": pd.Timestamp(last_updated)}


def _conn(tariff_ids: str) -> pd.DataFrame:
    return pd.DataFrame([{"country_code": "NL", "party_id": "X", "location_id": "L", "evse_uid": "E",
                          "connector_id": "1", "tariff_ids": tariff_ids}])


def _months(first: str, last: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    from laadplan.contract.periods import month_bounds

    return month_bounds(first)[0], month_bounds(last)[1]


def test_tariff_raised_mid_year_is_checked_per_quarter_against_the_version_in_force():
    # v1 0.36 excl. -> 0.4356 incl. VAT; v2 from 1 July 00:00 local (22:00 UTC): 0.42 -> 0.5082
    versions = pd.DataFrame([_version("T", 0.36, "2025-12-15"), _version("T", 0.42, "2026-06-30 22:00")])
    cc = ContractConfig(max_tariff_eur_kwh_incl_vat=0.48)
    q2 = connector_tariffs(_conn("T"), versions, "2026-06", cc, _months("2026-04", "2026-06")).iloc[0]
    assert q2["max_price_eur_kwh_incl_vat"] == pytest.approx(0.4356) and q2["status"] == "compliant"
    q3 = connector_tariffs(_conn("T"), versions, "2026-09", cc, _months("2026-07", "2026-09")).iloc[0]
    assert q3["max_price_eur_kwh_incl_vat"] == pytest.approx(0.5082) and q3["status"] == "over"
    assert q3["n_tariffs"] == 1 and q3["worst_tariff_id"] == "T"
    # the first version seen also stands for the time before its last_updated (nothing earlier is known)
    q1_2025 = connector_tariffs(_conn("T"), versions, "2025-03", cc, _months("2025-01", "2025-03")).iloc[0]
    assert q1_2025["max_price_eur_kwh_incl_vat"] == pytest.approx(0.4356)
    # the store's newest version alone (no history) would have put Q2 over the norm
    current = versions.iloc[[1]]
    assert connector_tariffs(_conn("T"), current, "2026-06", cc, _months("2026-04", "2026-06")).iloc[0][
        "status"] == "over"


def test_version_change_inside_a_quarter_counts_the_worst_price():
    # Q: 0.38 -> 0.4598 until 2026-08-15, 0.41 -> 0.4961 until 2026-09-10, then 0.37 -> 0.4477
    versions = pd.DataFrame([_version("Q", 0.38, "2025-11-01"), _version("Q", 0.41, "2026-08-15"),
                             _version("Q", 0.37, "2026-09-10")])
    cc = ContractConfig(max_tariff_eur_kwh_incl_vat=0.48)
    by_months = {("2026-07", "2026-09"): (0.4961, "over"), ("2026-07", "2026-07"): (0.4598, "compliant"),
                 ("2026-08", "2026-08"): (0.4961, "over"), ("2026-10", "2026-12"): (0.4477, "compliant")}
    for (m0, m1), (price, status) in by_months.items():
        out = connector_tariffs(_conn("Q"), versions, m1, cc, _months(m0, m1)).iloc[0]
        assert out["max_price_eur_kwh_incl_vat"] == pytest.approx(price), (m0, m1)
        assert out["status"] == status and out["n_tariffs"] == 1, (m0, m1)


def test_versions_in_force_windows_by_hand():
    # A: v1 published 2026-01-10 for 2026-02-01 .. 2026-12-31; v2 (2026-03-01) before v3 (2026-05-01) starts
    versions = pd.DataFrame([
        _version("A", 0.30, "2026-01-10", start="2026-02-01"), _version("A", 0.31, "2026-03-01"),
        _version("A", 0.32, "2026-04-01", start="2026-05-01")])
    versions["end_utc"] = pd.Timestamp("2026-12-31")
    w = versions_in_force(tariff_prices(versions, ContractConfig()))
    assert w["in_force_from_utc"].tolist() == [pd.Timestamp(d) for d in ("2026-02-01", "2026-03-01", "2026-05-01")]
    assert w["in_force_until_utc"].tolist() == [pd.Timestamp(d) for d in ("2026-03-01", "2026-05-01", "2026-12-31")]
    # B: a version announced for 2026-06-01 but replaced on 2026-03-01 is never in force, not even in the year
    b = pd.DataFrame([_version("B", 0.50, "2026-01-10", start="2026-06-01"), _version("B", 0.33, "2026-03-01")])
    out = connector_tariffs(_conn("B"), b, "2026", ContractConfig(), _months("2026-01", "2026-12")).iloc[0]
    assert out["max_price_eur_kwh_incl_vat"] == pytest.approx(0.33 * 1.21)


def test_history_falls_back_to_the_stored_tariffs():
    current = pd.DataFrame([_version("T", 0.42, "2026-06-20"), _version("U", 0.30, "2025-01-01")])
    # an old store: no history at all -> the stored tariffs, one version each (the behaviour before versions)
    assert tariff_history(current, current.iloc[0:0]) is current
    # history started after U was loaded: U's stored row joins T's versions, T's current row is not doubled
    hist = pd.DataFrame([_version("T", 0.36, "2025-12-15"), _version("T", 0.42, "2026-06-20")])
    both = tariff_history(current, hist)
    assert sorted(zip(both["tariff_id"], both["last_updated_utc"])) == [
        ("T", pd.Timestamp("2025-12-15")), ("T", pd.Timestamp("2026-06-20")), ("U", pd.Timestamp("2025-01-01"))]


def test_ingested_versions_drive_compliance(store, cfg, tmp_path):
    """Through the reader: a raise loaded before the original (files out of order) still splits the quarters."""
    from laadplan.ingest.tariffs import ingest_tariffs

    def tariff(price, last_updated):
        return {"country_code": "NL", "party_id": "X", "id": "T", "currency": "EUR", "last_updated": last_updated,
                "elements": [{"price_components": [{"type": "ENERGY", "price": price, "vat": 21, "step_size": 1}]}]}

    for name, t in (("new.json", tariff(0.42, "2026-07-01T00:00:00Z")), ("old.json", tariff(0.36, "2025-12-15T00:00:00Z"))):
        (tmp_path / name).write_text(json.dumps([t]))
        ingest_tariffs(store, str(tmp_path / name), cfg)
    versions = tariff_history(store.frame("tariffs"), store.frame("tariff_versions"))
    cc = ContractConfig(max_tariff_eur_kwh_incl_vat=0.48)
    status = {q: connector_tariffs(_conn("T"), versions, m1, cc, _months(m0, m1)).iloc[0]["status"]
              for q, (m0, m1) in {"Q2": ("2026-04", "2026-06"), "Q3": ("2026-07", "2026-09")}.items()}
    assert status == {"Q2": "compliant", "Q3": "over"}


# -- VAT unknown, the typical session, the norm's scope (issues 11.7, 10.9) ----------------------------
def _tariff(tid: str, elements: list, party: str = "X") -> dict:
    return {"country_code": "NL", "party_id": party, "tariff_id": tid, "elements_json": json.dumps(elements),
            "start_utc": pd.NaT, "end_utc": pd.NaT}


def _c(party: str, evse: str, tid: str, power_type: str = "AC_3_PHASE") -> dict:
    return {"country_code": "NL", "party_id": party, "location_id": "L", "evse_uid": evse, "connector_id": "1",
            "tariff_ids": tid, "power_type": power_type}


def test_tariff_without_vat_is_vat_unknown_not_compliant():
    tariffs = pd.DataFrame([
        _tariff("novat", [{"price_components": [{"type": "ENERGY", "price": 0.37}]}]),
        _tariff("novat_high", [{"price_components": [{"type": "ENERGY", "price": 0.50}]}]),
        # a zero component without VAT changes nothing (NDW: FLAT 0 and TIME 0 without vat next to ENERGY)
        _tariff("zero_flat", [{"price_components": [{"type": "FLAT", "price": 0}, {"type": "TIME", "price": 0},
                                                    {"type": "ENERGY", "price": 0.37, "vat": 21}]}])])
    conns = pd.DataFrame([_c("X", "E1", "novat"), _c("X", "E2", "novat_high"), _c("X", "E3", "zero_flat")])
    out = connector_tariffs(conns, tariffs, "2026-09", ContractConfig()).set_index("evse_uid")
    assert out.loc["E1", "status"] == "vat_unknown" and pd.isna(out.loc["E1", "max_price_eur_kwh_incl_vat"])
    assert out.loc["E2", "status"] == "over"  # 0.50 > 0.48 whatever the VAT
    assert out.loc["E2", "effective_eur_kwh"] == pytest.approx(0.50)
    assert out.loc["E3", "status"] == "compliant"
    assert out.loc["E3", "max_price_eur_kwh_incl_vat"] == pytest.approx(0.37 * 1.21)
    # the region's assumption: 21 % -> 0.4477 compliant; 40 % -> 0.518 over
    out = connector_tariffs(conns, tariffs, "2026-09", ContractConfig(vat_pct_when_missing=21)).set_index("evse_uid")
    assert out.loc["E1", "status"] == "compliant"
    assert out.loc["E1", "max_price_eur_kwh_incl_vat"] == pytest.approx(0.37 * 1.21)
    out = connector_tariffs(conns, tariffs, "2026-09", ContractConfig(vat_pct_when_missing=40)).set_index("evse_uid")
    assert out.loc["E1", "status"] == "over"


def test_typical_session_price_with_flat_time_and_parking_by_hand():
    from laadplan.contract.tariffs import session_price

    # an idle fee after 5 h (first element, never reached in a 3 h session), then the base element:
    # 10 kWh x 0.30 + 2 h charging x 0.25 + 1 h parked x 0.50 = 4.00 excl. VAT, 4.84 incl. 21 %
    els = [{"price_components": [{"type": "PARKING_TIME", "price": 2.0, "vat": 21}],
            "restrictions": {"min_duration": 18000}},
           {"price_components": [{"type": "ENERGY", "price": 0.30, "vat": 21}, {"type": "TIME", "price": 0.25, "vat": 21},
                                 {"type": "PARKING_TIME", "price": 0.50, "vat": 21}]}]
    assert session_price(els, 10, 2, 1) == pytest.approx((4.0, 4.84))
    # a 6 h session reaches the idle fee after 5 h: parking 3 h at 0.50 then 1 h at 2.00
    assert session_price(els, 10, 2, 4)[0] == pytest.approx(3.0 + 0.5 + 3 * 0.5 + 1 * 2.0)
    # FLAT once; a kWh restriction: the first 5 kWh at 0.20, the rest at 0.40
    els2 = [{"price_components": [{"type": "ENERGY", "price": 0.20, "vat": 21}], "restrictions": {"max_kwh": 5}},
            {"price_components": [{"type": "ENERGY", "price": 0.40, "vat": 21}, {"type": "FLAT", "price": 1.0, "vat": 21}]}]
    assert session_price(els2, 10, 2, 1)[0] == pytest.approx(5 * 0.20 + 5 * 0.40 + 1.0, abs=0.01)
    # a FLAT fee without VAT makes the incl.-VAT price unknown
    excl, incl = session_price([{"price_components": [{"type": "ENERGY", "price": 0.3, "vat": 21},
                                                      {"type": "FLAT", "price": 0.35}]}], 10, 2, 1)
    assert excl == pytest.approx(3.35) and incl is None


def test_flat_fee_makes_a_cheap_kwh_price_over_the_norm():
    # 0.30 + 21 % = 0.363/kWh is within 0.48, but the typical session (10 kWh, FLAT 1.00) costs
    # (3.00 + 1.00) x 1.21 = 4.84, 0.484/kWh: over
    tariffs = pd.DataFrame([_tariff("flat", [{"price_components": [
        {"type": "ENERGY", "price": 0.30, "vat": 21}, {"type": "FLAT", "price": 1.00, "vat": 21}]}])])
    out = connector_tariffs(pd.DataFrame([_c("X", "E1", "flat")]), tariffs, "2026-09", ContractConfig()).iloc[0]
    assert out["max_price_eur_kwh_incl_vat"] == pytest.approx(0.363)
    assert out["session_price_eur_incl_vat"] == pytest.approx(4.84)
    assert out["session_price_eur_kwh_incl_vat"] == pytest.approx(0.484) and out["status"] == "over"
    # a 20 kWh typical session spreads the fee: (6 + 1) x 1.21 / 20 = 0.4235, compliant
    out = connector_tariffs(pd.DataFrame([_c("X", "E1", "flat")]), tariffs, "2026-09",
                            ContractConfig(typical_session_energy_kwh=20)).iloc[0]
    assert out["status"] == "compliant"


def test_norm_scope_is_the_concession_operator_and_its_ac_points():
    tariffs = pd.DataFrame([_tariff("hi", [{"price_components": [{"type": "ENERGY", "price": 0.60, "vat": 21}]}],
                                    party=p) for p in ("CON", "FAS")])
    conns = pd.DataFrame([_c("CON", "E1", "hi"), _c("CON", "E2", "hi", "DC"), _c("FAS", "E3", "hi", "DC"),
                          _c("FAS", "E4", "hi"), _c("CON", "E5", "hi", None)])
    cc = ContractConfig(tariff_norm_party_ids=["CON"])
    out = connector_tariffs(conns, tariffs, "2026-09", cc).set_index("evse_uid")
    assert out["in_scope"].to_dict() == {"E1": True, "E2": False, "E3": False, "E4": False, "E5": True}
    assert (out["status"] == "over").all()  # the figures are there for every connector (comparison)
    every = connector_tariffs(conns, tariffs, "2026-09", ContractConfig(tariff_norm_party_ids=[]))
    assert every.set_index("evse_uid")["in_scope"].to_dict() == {"E1": True, "E2": False, "E3": False, "E4": True,
                                                                 "E5": True}


def test_contract_alerts_only_for_the_concession_operators_ac_points(store, cfg):
    from laadplan.contract.run import compute_contract

    t0 = pd.Timestamp("2025-10-01")
    store.upsert("locations", pd.DataFrame([
        {"country_code": "NL", "party_id": p, "location_id": "L", "operator": op, "gm_code": "GM0599",
         "lat": 51.92, "lon": 4.45, "last_updated_utc": t0} for p, op in (("CON", "Concessie BV"), ("FAS", "Fastned"))]))
    store.upsert("evses", pd.DataFrame([
        {"country_code": "NL", "party_id": p, "location_id": "L", "evse_uid": e, "last_updated_utc": t0}
        for p, e in (("CON", "E1"), ("CON", "E2"), ("FAS", "E3"), ("FAS", "E4"))]))
    store.upsert("connectors", pd.DataFrame([
        {**_c(p, e, f"{p}-{pt[:2]}", pt), "last_updated_utc": t0}
        for p, e, pt in (("CON", "E1", "AC_3_PHASE"), ("CON", "E2", "DC"), ("FAS", "E3", "DC"),
                         ("FAS", "E4", "AC_3_PHASE"))]))
    el = json.dumps([{"price_components": [{"type": "ENERGY", "price": 0.60, "vat": 21}]}])
    store.upsert("tariffs", pd.DataFrame([
        {"country_code": "NL", "party_id": p, "tariff_id": f"{p}-{k}", "elements_json": el, "last_updated_utc": t0}
        for p in ("CON", "FAS") for k in ("AC", "DC")]))
    cfg.region.concession_gm_codes = []
    cfg.contract.tariff_norm_party_ids = ["CON"]
    res = compute_contract(store, cfg, "2026-09", write=False)
    tariff_alerts = res.alerts[res.alerts["rule"] == "CM-TARIFF"]
    assert list(tariff_alerts["subject_id"]) == ["NL*CON*CON-AC"]
    assert tariff_alerts.iloc[0]["value"] == pytest.approx(0.60 * 1.21)
    assert res.summary["connectors_with_tariff"] == 1 and res.summary["connectors_over_max_tariff"] == 1
    assert res.summary["connectors_tariff_comparison"] == 3
    cmp = res.tariff_comparison.set_index(["operator", "in_scope"])
    assert cmp.loc[("Fastned", False), "over"] == 2 and cmp.loc[("Concessie BV", False), "over"] == 1
