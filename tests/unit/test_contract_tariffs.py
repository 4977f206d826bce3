"""Tariff compliance on real OCPI tariffs (NDW sample), checked against hand computation."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from laadplan.contract.settings import ContractConfig
from laadplan.contract.tariffs import connector_tariffs, energy_price_incl_vat_max, max_tariff_norm


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
    # EFL p-ac-65a59: two elements, ENERGY 0.5717 and 0.5217 without vat -> the larger, as is
    el = _find(ocpi_tariffs, "EFL", next(t["id"] for t in ocpi_tariffs if t["id"].startswith("p-ac-65a59")))
    assert energy_price_incl_vat_max(el["elements"]) == pytest.approx(0.5717)
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
    assert list(a["status"]) == list(b["status"])
    assert a["max_price_eur_kwh_incl_vat"].to_numpy() == pytest.approx(b["max_price_eur_kwh_incl_vat"].to_numpy(),
                                                                       nan_ok=True)
    tnm = a[a["tariff_ids"] == "4473587a5b74614ccc3a0ccec240ea51"].iloc[0]
    assert tnm["max_price_eur_kwh_incl_vat"] == pytest.approx(0.388 * 1.21) and tnm["status"] == "compliant"
