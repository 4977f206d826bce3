"""The forecast as one pure function over tables: vehicle counts + areas + charge points -> EV forecast,
public charging need and the AFIR check (the command and demo layers read the store and write files)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from laadplan.forecast.fleet import _fc, stations_once, stock_paths
from laadplan.forecast.need import afir_check, existing_supply, public_need
from laadplan.forecast.spread import forecast_areas, project_fleet, share_no_private_parking

log = logging.getLogger(__name__)

FACTS = ["income_per_inhabitant_keur", "cars_per_household", "urbanity", "share_no_private_parking"]


@dataclass
class ForecastResult:
    level: str
    paths: pd.DataFrame         # national paths per scenario (fleet.stock_paths)
    ev_forecast: pd.DataFrame   # ev_forecast table rows
    need: pd.DataFrame          # forecast_need table rows (+ public_ev_count, public_energy_kwh, gm_code)
    afir: pd.DataFrame          # afir_fleet_check table rows
    fleet_source: str           # "vehicle_counts" or "areas.cars"


def area_inputs(vehicle_counts: pd.DataFrame, areas: pd.DataFrame, level: str, cfg,
                ) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Fleet counts and area attributes for one level.

    Counts come from vehicle_counts (CBS 85236NED) at that level, else from the areas' ``cars`` (taken
    as the base year). Attributes come from the areas table at that level; areas without their own
    facts (e.g. PC4 areas not loaded as polygons) inherit their gemeente's facts.
    """
    fc = _fc(cfg)
    vc = vehicle_counts[vehicle_counts["area_level"] == level] if len(vehicle_counts) else vehicle_counts
    own = areas[areas["level"] == level].copy() if len(areas) else areas
    if len(vc):
        counts = vc[["area_code", "year", "cars", "vans", "trucks", "tractor_units"]].copy()
        source = "vehicle_counts"
    elif len(own) and own["cars"].notna().any():
        counts = own.loc[own["cars"].notna(), ["area_code", "cars"]].copy()
        counts["year"] = fc.base_year
        source = "areas.cars"
    else:
        raise ValueError(f"no vehicle counts for level {level!r}: ingest CBS vehicle counts "
                         f"(laadplan ingest vehicles) or areas with a cars column")
    gms = areas[areas["level"] == "gemeente"].set_index("area_code") if len(areas) else pd.DataFrame()
    codes = pd.DataFrame({"area_code": counts["area_code"].drop_duplicates().to_numpy()})
    if len(own):
        cols = ["area_code", "gm_code", "province"] + [c for c in FACTS if c in own.columns]
        attrs = codes.merge(own[cols], on="area_code", how="left")
    else:
        attrs = codes.assign(gm_code=pd.NA, province=pd.NA)
    if level == "gemeente":
        attrs["gm_code"] = attrs["area_code"]
    if len(vc) and "gm_code" in vc.columns:
        gm_from_vc = vc.drop_duplicates("area_code", keep="last").set_index("area_code")["gm_code"]
        attrs["gm_code"] = attrs["gm_code"].fillna(attrs["area_code"].map(gm_from_vc))
    if len(gms):
        for c in ["province"] + FACTS:
            if c not in gms.columns:
                continue
            if c not in attrs.columns:
                attrs[c] = pd.NA
            attrs[c] = attrs[c].astype("object").where(attrs[c].notna(), attrs["gm_code"].map(gms[c]))
    return counts, attrs, source


def run_forecast(vehicle_counts: pd.DataFrame, areas: pd.DataFrame, locations: pd.DataFrame,
                 evses: pd.DataFrame, cfg, *, level: str = "gemeente",
                 scenarios: tuple[str, ...] = ("low", "middle", "high")) -> ForecastResult:
    fc = _fc(cfg)
    counts, attrs, source = area_inputs(vehicle_counts, areas, level, cfg)
    fleet = project_fleet(counts, list(fc.years), fc)
    ev = forecast_areas(fleet, attrs, fc, area_level=level, scenarios=scenarios)
    snp = share_no_private_parking(attrs, fc)
    existing = existing_supply(locations, evses, level)
    need = public_need(ev, snp, existing, fc)
    from laadplan.ingest.locations import location_power_plausible

    if "max_power_kw" in locations.columns and len(locations):  # LP-POWER: a watt figure is never counted
        from laadplan.config import RegionConfig

        rc = cfg if hasattr(cfg, "validation") else RegionConfig()
        ok = location_power_plausible(locations["max_power_kw"], locations.get("has_dc"), rc)
        locations = locations.assign(max_power_kw=locations["max_power_kw"].where(ok))
    kw_locs, kw_evses, twice = stations_once(locations, evses)  # a station's power counts once (AFIR)
    if twice["evses"] or twice["locations"]:
        log.info("AFIR fleet check: %d EVSEs and %d locations published twice counted once", twice["evses"],
                 twice["locations"])
    kw_gm = existing_supply(kw_locs, kw_evses, "gemeente").set_index("area_code")["public_kw"]
    afir = afir_check(ev, kw_gm, fc)
    log.info("forecast %s: %d areas, %d years, %s; fleet from %s", level, counts["area_code"].nunique(),
             len(fc.years), ",".join(scenarios), source)
    return ForecastResult(level, stock_paths(fc), ev, need, afir, source)
