"""Public charging need per area and the AFIR fleet-based check.

For an area ``a`` with ``EV_a`` battery-electric cars (:mod:`laadplan.forecast.spread`) and a share
``n_a`` of homes without private parking:

    dependent share  d_a = n_a * public_dependence_share + (1 - n_a) * public_share_with_private_parking
    public EVs       P_a = d_a * EV_a
    public energy    E_a = P_a * energy_kwh_per_ev_year                                   [kWh/year]
    sessions an EVSE serves per day at the target occupancy
                     m   = 24 h * target_occupancy_share / connected_h_per_session
    energy per EVSE  e   = 365 * m * kwh_per_session                                      [kWh/year]
    EVSEs needed     N_a = ceil(E_a / e)
    gap              max(0, N_a - existing_a)

Existing EVSEs are counted now (not per year): the evses table per location (REMOVED and PLANNED not
counted), or the location's n_evses when it has no EVSE rows.

AFIR (Regulation (EU) 2023/1804 art. 3): public power >= kW_BEV * BEVs + kW_PHEV * PHEVs over the
light-duty fleet (M1 + N1: battery-electric cars and vans), with PHEVs estimated as ``phev_per_bev`` x
battery-electric cars when unknown; checked per gemeente and for the whole region. A location-level
``max_power_kw`` above the connector limit (a watt figure, rule LP-POWER) is never counted
(:func:`laadplan.forecast.pipeline.run_forecast`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laadplan.forecast.fleet import _fc

AREA_KEY = {"gemeente": "gm_code", "buurt": "bu_code", "wijk": "wk_code", "cell500": "cell500_code",
            "pc4": "pc4"}
NOT_COUNTED = ("REMOVED", "PLANNED")


def existing_supply(locations: pd.DataFrame, evses: pd.DataFrame, level: str) -> pd.DataFrame:
    """EVSEs and public power (kW) per area now: area_code, evses_existing, public_kw."""
    if level not in AREA_KEY:
        raise ValueError(f"unknown area level {level!r}; one of {sorted(AREA_KEY)}")
    loc = locations.copy()
    if level == "pc4":
        pc = loc.get("postal_code", pd.Series(pd.NA, index=loc.index)).astype("string").str.replace(" ", "")
        loc["pc4"] = pc.str[:4]
    key = AREA_KEY[level]
    lk = ["country_code", "party_id", "location_id"]
    ev = evses.copy()
    if "status" in ev.columns:
        ev = ev[~ev["status"].isin(NOT_COUNTED).fillna(False)]
    ev = ev.assign(kw=pd.to_numeric(ev["max_power_kw"], errors="coerce").astype("float64").fillna(0.0))
    ev_per_loc = ev.groupby(lk, dropna=False).agg(n=("evse_uid", "size"), kw=("kw", "sum")).reset_index()
    m = loc[lk + [key, "n_evses", "max_power_kw"]].merge(ev_per_loc, on=lk, how="left")
    has = m["n"].notna()
    n_loc = m["n_evses"].astype("float64").fillna(0)
    m["evses_existing"] = np.where(has, m["n"].astype("float64"), n_loc)
    m["public_kw"] = np.where(has, m["kw"].astype("float64"), n_loc * m["max_power_kw"].astype("float64").fillna(0))
    out = m.dropna(subset=[key]).groupby(key).agg(evses_existing=("evses_existing", "sum"),
                                                  public_kw=("public_kw", "sum")).reset_index()
    out = out.rename(columns={key: "area_code"})
    out["evses_existing"] = out["evses_existing"].round().astype("int64")
    return out


def existing_unassigned(locations: pd.DataFrame, evses: pd.DataFrame, level: str) -> dict[str, int]:
    """Existing EVSEs counted as in :func:`existing_supply`, in total and without an area code at ``level``
    (a location without postal code has no pc4; one outside the gemeente polygons no gm_code), so every level
    can state the same total: ``{"total": n, "no_area_code": m}``."""
    loc = locations.copy()
    key = "_all"
    loc[key] = "all"
    total = existing_supply(loc.assign(gm_code=loc[key]), evses, "gemeente")
    n_total = int(total["evses_existing"].sum()) if len(total) else 0
    placed = existing_supply(locations, evses, level)
    n_placed = int(placed["evses_existing"].sum()) if len(placed) else 0
    return {"total": n_total, "no_area_code": n_total - n_placed}


def evse_capacity_kwh_year(cfg) -> float:
    """Energy one public EVSE delivers per year at the target occupancy (module docstring, ``e``)."""
    fc = _fc(cfg)
    sessions_per_day = 24.0 * fc.target_occupancy_share / fc.connected_h_per_session
    return 365.0 * sessions_per_day * fc.kwh_per_session


def public_need(ev_forecast: pd.DataFrame, snp: pd.Series, existing: pd.DataFrame, cfg) -> pd.DataFrame:
    """forecast_need rows from the car rows of ``ev_forecast``.

    ``snp``: share of homes without private parking indexed by area_code (missing -> config default);
    ``existing``: area_code, evses_existing (see :func:`existing_supply`).
    """
    fc = _fc(cfg)
    cars = ev_forecast[ev_forecast["vehicle"] == "car"].copy()
    n = cars["area_code"].map(snp).astype("float64").fillna(fc.default_share_no_private_parking)
    dep = n * fc.public_dependence_share + (1 - n) * fc.public_share_with_private_parking
    cars["public_ev_count"] = cars["ev_count"] * dep
    cars["public_energy_kwh"] = cars["public_ev_count"] * fc.energy_kwh_per_ev_year
    cars["evses_needed"] = np.ceil(cars["public_energy_kwh"] / evse_capacity_kwh_year(fc) - 1e-9).astype("int64")
    ex = existing.set_index("area_code")["evses_existing"] if len(existing) else pd.Series(dtype="int64")
    cars["evses_existing"] = cars["area_code"].map(ex).fillna(0).astype("int64")
    cars["evses_gap"] = (cars["evses_needed"] - cars["evses_existing"]).clip(lower=0).astype("int64")
    cols = ["area_code", "area_level", "year", "scenario", "gm_code", "ev_count", "public_ev_count",
            "public_energy_kwh", "evses_needed", "evses_existing", "evses_gap"]
    return cars[cols].sort_values(["scenario", "year", "area_code"]).reset_index(drop=True)


#: AFIR Art. 3(1) counts light-duty vehicles: M1 (passenger cars) and N1 (vans)
AFIR_FLEET_VEHICLES = ("car", "van")


def afir_check(ev_forecast: pd.DataFrame, public_kw_by_gm: pd.Series, cfg) -> pd.DataFrame:
    """AFIR fleet check per gemeente and for the region (area_code REGION) for every year and scenario.

    ``bev_count`` is the battery-electric light-duty fleet, cars and vans (M1 + N1, AFIR Art. 3(1)); the
    PHEV estimate stays ``phev_per_bev`` x the battery-electric cars (plug-in vans are negligible)."""
    fc = _fc(cfg)
    cars = ev_forecast[ev_forecast["vehicle"].isin(AFIR_FLEET_VEHICLES)]
    car_bev = ev_forecast[ev_forecast["vehicle"] == "car"]
    gm = cars.dropna(subset=["gm_code"]).groupby(["gm_code", "year", "scenario"], as_index=False)["ev_count"].sum()
    gm = gm.rename(columns={"gm_code": "area_code", "ev_count": "bev_count"})
    gm["area_level"] = "gemeente"
    gm["public_kw"] = gm["area_code"].map(public_kw_by_gm).astype("float64").fillna(0.0)
    reg = cars.groupby(["year", "scenario"], as_index=False)["ev_count"].sum().rename(columns={"ev_count": "bev_count"})
    reg["area_code"] = "REGION"
    reg["area_level"] = "region"
    reg["public_kw"] = float(public_kw_by_gm.sum()) if len(public_kw_by_gm) else 0.0
    out = pd.concat([gm, reg], ignore_index=True)
    key = ["area_code", "year", "scenario"]
    cb = car_bev.dropna(subset=["gm_code"]).groupby(["gm_code", "year", "scenario"])["ev_count"].sum()
    cb.index = cb.index.set_names(key)
    cr = car_bev.groupby(["year", "scenario"])["ev_count"].sum()
    car_n = [cb.get((a, y, sc), 0.0) if lvl == "gemeente" else cr.get((y, sc), 0.0)
             for a, y, sc, lvl in zip(out["area_code"], out["year"], out["scenario"], out["area_level"])]
    out["phev_count"] = np.asarray(car_n, dtype=float) * fc.phev_per_bev
    out["required_kw"] = out["bev_count"] * fc.afir_kw_per_bev + out["phev_count"] * fc.afir_kw_per_phev
    out["kw_per_bev"] = np.divide(out["public_kw"], out["bev_count"], out=np.zeros(len(out)),
                                  where=out["bev_count"].to_numpy() > 0)
    out["compliant"] = out["public_kw"] >= out["required_kw"]
    return out[["area_code", "area_level", "year", "scenario", "bev_count", "phev_count", "required_kw",
                "public_kw", "kw_per_bev", "compliant"]]
