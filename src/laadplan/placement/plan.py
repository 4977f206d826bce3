"""The yearly placement plan: demand from every trigger, candidate sites with their grid route, the
optimiser, and the plan tables (sites per year, per-municipality summary, the comparison with and
without the congestion rule). Pure: takes and returns DataFrames."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from laadplan import geo
from laadplan.config import RegionConfig
from laadplan.placement import triggers as TR
from laadplan.placement.candidates import area_capacities, generate_candidates, site_grid_feasibility
from laadplan.placement.optimise import BIG, PlacementModel, Solution
from laadplan.placement.requests import decide_requests

log = logging.getLogger(__name__)


@dataclass
class PlanInputs:
    """Everything a plan needs, as tables (the command layer reads them from the store)."""

    locations: pd.DataFrame  # location keys, x_rd, y_rd, gm_code, n_evses
    kpi: pd.DataFrame | None = None  # per-location usage KPIs (usage_kpis or status_occupancy)
    kpi_profile: pd.DataFrame | None = None  # per-location hour-of-week occupancy (location keys, how, occupancy_share)
    requests: pd.DataFrame | None = None  # the requests table
    cells: pd.DataFrame | None = None  # households per 500 m cell (cell500_code, households, x_rd, y_rd, gm_code)
    forecast_need: pd.DataFrame | None = None
    areas: pd.DataFrame | None = None  # areas table (gemeente polygons for candidate generation, forecast areas)
    candidates: pd.DataFrame | None = None
    connections: pd.DataFrame | None = None
    grid_areas: pd.DataFrame | None = None
    coverage_note: str | None = None  # how households per 500 m cell were obtained (exact cells / approximate)


@dataclass
class PlanResult:
    sites: pd.DataFrame  # plan_sites rows
    demand: pd.DataFrame  # demand with served_<year> columns
    candidates: pd.DataFrame  # candidate sites with grid feasibility
    stats: dict = field(default_factory=dict)


def build_demand(inp: PlanInputs, cfg: RegionConfig, years: list[int], scenario: str = "middle"
                 ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """All triggers' demand and the decided requests."""
    parts = []
    if inp.kpi is not None and len(inp.kpi) and len(inp.locations):
        parts.append(TR.usage_trigger(inp.kpi, inp.locations, cfg, years[0], inp.kpi_profile))
    decided = None
    if inp.requests is not None and len(inp.requests):
        decided = decide_requests(inp.requests, inp.locations, inp.kpi, cfg)
        parts.append(TR.request_demand(decided, cfg, years))
    if inp.cells is not None and len(inp.cells):
        parts.append(TR.coverage_trigger(inp.cells, inp.locations, cfg, years[0]))
    if inp.forecast_need is not None and len(inp.forecast_need) and inp.areas is not None:
        parts.append(TR.forecast_trigger(inp.forecast_need, inp.areas, cfg, years, scenario, inp.cells,
                                          inp.locations))
    parts = [p for p in parts if len(p)]
    demand = pd.concat(parts, ignore_index=True) if parts else TR.empty_demand()
    scope = cfg.region.concession_gm_codes
    if scope and len(demand):
        inside = demand["gm_code"].isin(scope).fillna(False).to_numpy(bool)
        if (~inside).any():
            log.info("concession scope: %d demand point(s) outside the %d concession municipalities left out",
                     int((~inside).sum()), len(scope))
        demand = demand[inside].reset_index(drop=True)
    return demand, decided


def candidate_sites(inp: PlanInputs, demand: pd.DataFrame, cfg: RegionConfig) -> pd.DataFrame:
    """Loaded candidates plus (when configured or when none are loaded) generated ones near demand."""
    cols = ["site_id", "x_rd", "y_rd", "lat", "lon", "gm_code", "kind", "max_evses", "postal_code"]
    loaded = inp.candidates if inp.candidates is not None else pd.DataFrame(columns=cols)
    loaded = loaded[[c for c in cols if c in loaded.columns]].copy()
    parts = [loaded]
    if cfg.placement.generate_candidates or loaded.empty:
        gms = None
        if inp.areas is not None and len(inp.areas):
            gms = inp.areas[inp.areas["level"] == "gemeente"][["area_code", "geometry_wkb"]]
        parts.append(generate_candidates(demand, cfg, gms, loaded if len(loaded) else None))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=cols)
    s = pd.concat(parts, ignore_index=True)
    s = s.drop_duplicates("site_id").reset_index(drop=True)
    if s["gm_code"].isna().any() and len(demand):  # nearest demand's municipality
        miss = s["gm_code"].isna().to_numpy()
        ia, ib, d = geo.pairwise_within(s["x_rd"].to_numpy("float64")[miss], s["y_rd"].to_numpy("float64")[miss],
                                        demand["x_rd"].to_numpy("float64"), demand["y_rd"].to_numpy("float64"), 1000)
        o = np.lexsort((d, ia))
        first = np.unique(ia[o], return_index=True)[1]
        vals = np.array(s["gm_code"].astype("object").to_numpy(), dtype=object)
        idx = np.flatnonzero(miss)[ia[o][first]]
        vals[idx] = demand["gm_code"].astype("object").to_numpy()[ib[o][first]]
        s["gm_code"] = pd.array(vals, dtype="string")
    scope = cfg.region.concession_gm_codes
    if scope:  # the concession places only inside its municipalities
        s = s[s["gm_code"].isin(scope).fillna(False).to_numpy(bool)].reset_index(drop=True)
    return s


def make_plan(inp: PlanInputs, cfg: RegionConfig, years: list[int] | None = None, *, congestion_rule: bool = True,
              scenario: str = "middle", method: str = "mip", demand: pd.DataFrame | None = None,
              sites: pd.DataFrame | None = None, time_limit_s: float | None = None) -> PlanResult:
    """One plan. ``demand`` / ``sites`` may be passed to reuse them across the two congestion variants."""
    pc = cfg.placement
    years = list(years or pc.years)
    if demand is None:
        demand, _ = build_demand(inp, cfg, years, scenario)
    if sites is None:
        sites = candidate_sites(inp, demand, cfg)
    conns = inp.connections if inp.connections is not None else pd.DataFrame(
        columns=["ean18", "x_rd", "y_rd", "spare_kw", "feeds_charge_points"])
    feas, conn_cap = site_grid_feasibility(sites, conns, inp.grid_areas, cfg, years, congestion_rule)
    model = PlacementModel.from_frames(
        demand, feas, conn_cap[["ean18", "capacity_kw"]] if len(conn_cap) else None, years,
        budget_per_year=pc.new_evses_per_year, budget_by_gm=pc.new_evses_per_year_by_gm_code,
        evses_per_site_max=pc.evses_per_site_max, kw_per_evse=pc.evse_power_kw, site_extra_kw=pc.site_connection_kw,
        min_spacing_m=pc.min_spacing_m, max_candidates_per_demand=pc.max_candidates_per_demand,
        area_capacity_kw=area_capacities(inp.grid_areas, cfg), kappa=pc.demand_units_per_evse)
    model.inst.budget = yearly_budget(cfg, years)
    if pc.share_budget_by_need:
        model.inst.gm_budget = np.minimum(model.inst.gm_budget, need_share_caps(demand, model.inst.gms, years,
                                                                                model.inst.budget))
    sol = model.solve(method, time_limit_s=time_limit_s or pc.time_limit_s, mip_rel_gap=pc.mip_rel_gap,
                      max_vars=pc.decompose_max_vars)
    sol, moved, idle = delay_to_need(model, sol)
    rows = plan_rows(model, sol, feas, demand, cfg, congestion_rule, scenario)
    dem = demand.copy()
    served = np.zeros((len(demand), len(years)))
    if len(sol.flow_p):
        np.add.at(served, (model.inst.pair_i[sol.flow_p], sol.flow_t), sol.flow_v)
    for k, y in enumerate(years):
        dem[f"served_{y}"] = served[:, k]
    g_obj = model.greedy_objective if model.greedy_objective is not None else sol.objective
    stats = {"congestion_rule": congestion_rule, "method": sol.method, "status": sol.status,
             "objective": sol.objective, "bound": sol.bound if np.isfinite(sol.bound) else None,
             "gap": sol.gap if np.isfinite(sol.gap) else None,
             "bound_source": sol.bound_source,
             "seconds": sol.seconds, "greedy_objective": g_obj,
             "ratio_vs_greedy": (sol.objective / g_obj) if g_obj > 0 else None,
             "beats_greedy": sol.objective > g_obj + 1e-9 * max(1.0, abs(g_obj)),
             "components": sol.components, "demand_points": len(demand), "candidate_sites": len(feas),
             "evses": int(sol.n.sum()), "sites": int((sol.n.sum(axis=1) > 0).sum()),
             "evses_by_year": {int(y): int(v) for y, v in zip(years, sol.n.sum(axis=0))},
             "budget_by_year": {int(y): int(v) for y, v in zip(years, model.inst.budget)},
             "budget_shared_by_need": bool(pc.share_budget_by_need and (model.inst.gm_budget < BIG).any()),
             "evses_moved_later": moved, "idle_evses_dropped": idle,
             "coverage": inp.coverage_note}
    stats["min_spacing_m"] = float(pc.min_spacing_m)
    stats["closest_sites_m"] = closest_sites_m(rows)
    un = unmet_need(dem, years)
    last = un[un["year"] == years[-1]] if len(un) else un
    stats["need_units_last_year"] = float(last["need_units"].sum()) if len(un) else 0.0
    stats["unmet_units_last_year"] = float(last["unmet_units"].sum()) if len(un) else 0.0
    return PlanResult(sites=rows, demand=dem, candidates=feas, stats=stats)


def closest_sites_m(sites: pd.DataFrame) -> float | None:
    """Distance between the two closest sites of a plan (plan_sites rows, any year), m; None: fewer than two."""
    u = sites.drop_duplicates("site_id") if len(sites) else sites
    if len(u) < 2:
        return None
    import shapely

    pts = shapely.points(u["x_rd"].to_numpy("float64"), u["y_rd"].to_numpy("float64"))
    _, d = shapely.STRtree(pts).query_nearest(pts, exclusive=True, return_distance=True)
    return float(np.min(d))


def yearly_budget(cfg: RegionConfig, years: list[int]) -> np.ndarray:
    """B_t: new EVSEs the plan may place in each year: ``new_evses_per_year``, or the operator's build capacity
    of that year (``build_capacity_evses_by_year``) where lower."""
    pc = cfg.placement
    cap = {int(k): int(v) for k, v in pc.build_capacity_evses_by_year.items()}
    return np.array([min(pc.new_evses_per_year, cap.get(int(y), pc.new_evses_per_year)) for y in years], dtype="int64")


def need_share_caps(demand: pd.DataFrame, gms: list[str], years: list[int], budget: np.ndarray) -> np.ndarray:
    """G x T caps sharing a binding budget by need. By year ``t`` municipality ``g`` may have
    ``C_gt = need_gt x min(1, cumulative budget_t / need_t)`` new EVSEs (``need``: demand units counting by
    ``t``), the same share of its need as every other municipality; its cap in a year whose need so far
    exceeds the budget so far is ``ceil(C_gt - C_g,t-1)`` (at least 0). Other years: no cap."""
    caps = np.full((len(gms), len(years)), BIG, dtype="int64")
    if demand is None or demand.empty or not gms:
        return caps
    gm = demand["gm_code"].astype("string").fillna("").to_numpy()
    yr = demand["year"].astype(int).to_numpy()
    q = demand["quantity"].astype(float).to_numpy()
    cum_budget = np.cumsum(budget).astype("float64")
    prev = np.zeros(len(gms))
    for k, y in enumerate(years):
        active = yr <= y
        need_t = q[active].sum()
        by_gm = pd.Series(q[active]).groupby(gm[active]).sum()
        need_g = np.array([float(by_gm.get(g, 0.0)) for g in gms])
        share = min(1.0, cum_budget[k] / need_t) if need_t > 0 else 1.0
        target = need_g * share
        if share < 1.0:
            caps[:, k] = np.ceil(np.maximum(target - prev, 0.0) - 1e-9).astype("int64")
        prev = target
    return caps


def delay_to_need(model: PlacementModel, sol: Solution) -> tuple[Solution, int, int]:
    """Never build ahead of need: move each site's EVSEs to the latest year in which the served demand still
    needs them, as far as the yearly budgets (region and municipality) and the site's grid route in the later
    year allow; EVSEs that serve no demand in any year are dropped. The flows (demand served per year) do
    not change, so neither does the objective; connection and area capacities are totals over the years and
    only fall. Returns (solution, EVSEs moved to a later year, idle EVSEs dropped).

    A site needs ``R_jt = max_{t' <= t} ceil(F_jt' / kappa)`` EVSEs by year ``t`` (``F``: demand units it
    serves in ``t'``). Working from the last year back, EVSEs of year ``t - 1`` beyond ``R_j,t-1`` move to
    ``t`` while year ``t`` has budget left; repeated until nothing moves (an EVSE can move several years).
    """
    inst = model.inst
    n = sol.n.astype("int64").copy()
    J, T = n.shape
    if J == 0 or T == 0 or n.sum() == 0:
        return sol, 0, 0
    F = np.zeros((J, T))
    if len(sol.flow_p):
        np.add.at(F, (inst.pair_j[sol.flow_p], sol.flow_t), sol.flow_v)
    need = np.ceil(F / max(inst.kappa, 1e-12) - 1e-6).clip(min=0).astype("int64")
    R = np.maximum.accumulate(need, axis=1)
    # idle EVSEs (never needed): drop them from the latest years first (earlier cumulative counts unchanged)
    surplus = n.sum(axis=1) - R[:, -1]
    idle = int(surplus.clip(min=0).sum())
    for j in np.flatnonzero(surplus > 0):
        left = int(surplus[j])
        for t in range(T - 1, -1, -1):
            d = min(left, int(n[j, t]))
            n[j, t] -= d
            left -= d
            if left == 0:
                break
    G = len(inst.gms)
    used = np.zeros((G, T), dtype="int64")
    for t in range(T):
        used[:, t] = np.bincount(inst.site_gm, weights=n[:, t], minlength=G).astype("int64")
    gm_left = inst.gm_budget.astype("int64") - used
    left = inst.budget.astype("int64") - n.sum(axis=0)
    moved = 0
    changed = True
    while changed:
        changed = False
        for t in range(T - 1, 0, -1):
            if left[t] <= 0:
                continue
            C = np.cumsum(n, axis=1)
            slack = np.minimum(n[:, t - 1], C[:, t - 1] - R[:, t - 1])
            for j in np.flatnonzero((slack > 0) & inst.allowed[:, t]):
                g = inst.site_gm[j]
                m = int(min(slack[j], left[t], gm_left[g, t]))
                if m <= 0:
                    continue
                n[j, t - 1] -= m
                n[j, t] += m
                left[t] -= m
                left[t - 1] += m
                gm_left[g, t] -= m
                gm_left[g, t - 1] += m
                moved += m
                changed = True
                if left[t] <= 0:
                    break
    if moved == 0 and idle == 0:
        return sol, 0, 0
    out = Solution(n=n, flow_p=sol.flow_p, flow_t=sol.flow_t, flow_v=sol.flow_v, objective=sol.objective,
                   bound=sol.bound, seconds=sol.seconds, method=sol.method, status=sol.status,
                   components=sol.components, bound_source=sol.bound_source)
    return out, moved, idle


def unmet_need(demand: pd.DataFrame, years: list[int]) -> pd.DataFrame:
    """Per municipality and plan year: demand units that count in that year (every demand point from its
    ``year`` on), those the plan serves, and the unmet rest. ``demand`` has the ``served_<year>`` columns."""
    cols = ["gm_code", "year", "need_units", "served_units", "unmet_units"]
    if demand is None or demand.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    gm = demand["gm_code"].astype("string").fillna("n/a")
    for y in years:
        active = demand["year"].astype(int) <= y
        q = demand["quantity"].astype(float).where(active, 0.0)
        sv = demand.get(f"served_{y}", pd.Series(0.0, index=demand.index)).astype(float).where(active, 0.0)
        df = pd.DataFrame({"gm_code": gm, "need_units": q, "served_units": sv}).groupby("gm_code").sum()
        df["year"] = int(y)
        rows.append(df.reset_index())
    out = pd.concat(rows, ignore_index=True)
    out["unmet_units"] = (out["need_units"] - out["served_units"]).clip(lower=0)
    return out[cols].sort_values(["gm_code", "year"]).reset_index(drop=True)


def plan_rows(model: PlacementModel, sol: Solution, feas: pd.DataFrame, demand: pd.DataFrame, cfg: RegionConfig,
              congestion_rule: bool, scenario: str) -> pd.DataFrame:
    """plan_sites rows: one per site and year with new EVSEs."""
    inst = model.inst
    years = inst.years
    J, T = sol.n.shape
    jj, tt = np.nonzero(sol.n)
    cols = ["year", "gm_code", "site_id", "lat", "lon", "x_rd", "y_rd", "evses", "evses_total", "power_kw",
            "triggers", "demand_covered", "reasons", "grid_route", "ean18", "area_code", "offtake_status",
            "lead_time_weeks", "congestion_rule", "scenario", "created_utc"]
    if len(jj) == 0:
        return pd.DataFrame(columns=cols)
    fl = pd.DataFrame({"j": inst.pair_j[sol.flow_p], "i": inst.pair_i[sol.flow_p], "t": sol.flow_t, "v": sol.flow_v})
    cov = fl.groupby(["j", "t"])["v"].sum()
    per_site = fl.groupby(["j", "i"])["v"].sum().reset_index()
    per_site["trigger"] = demand["trigger"].astype(str).to_numpy()[per_site["i"]]
    per_site["reason"] = demand["reason"].astype(str).to_numpy()[per_site["i"]]
    per_site = per_site.sort_values(["j", "v"], ascending=[True, False])
    trig = per_site.groupby("j")["trigger"].agg(lambda s: ";".join(sorted(set(s))))
    reas = per_site.groupby("j")["reason"].agg(lambda s: " | ".join(list(dict.fromkeys(s))[:3]))
    cum = np.cumsum(sol.n, axis=1)
    lon, lat = geo.to_wgs84(feas["x_rd"].to_numpy("float64")[jj], feas["y_rd"].to_numpy("float64")[jj])
    route = feas["grid_route"].to_numpy()[jj]
    ean = feas["ean18"].astype(str).to_numpy()[jj]
    out = pd.DataFrame({
        "year": np.array(years)[tt], "gm_code": feas["gm_code"].astype("string").to_numpy()[jj],
        "site_id": feas["site_id"].astype(str).to_numpy()[jj], "lat": lat, "lon": lon,
        "x_rd": feas["x_rd"].to_numpy("float64")[jj], "y_rd": feas["y_rd"].to_numpy("float64")[jj],
        "evses": sol.n[jj, tt], "evses_total": cum[jj, tt], "power_kw": sol.n[jj, tt] * inst.kw_per_evse[jj],
        "triggers": [trig.get(j, "") for j in jj],
        "demand_covered": [float(cov.get((j, t), 0.0)) for j, t in zip(jj, tt)],
        "reasons": [reas.get(j, "") for j in jj],
        "grid_route": route, "ean18": np.where(route == "existing_connection", ean, None),
        "area_code": feas["area_code"].to_numpy()[jj], "offtake_status": feas["offtake_status"].to_numpy()[jj],
        "lead_time_weeks": feas["lead_time_weeks"].to_numpy("float64")[jj], "congestion_rule": congestion_rule,
        "scenario": scenario, "created_utc": datetime.now(timezone.utc).replace(tzinfo=None),
    })
    return out.sort_values(["year", "gm_code", "site_id"]).reset_index(drop=True)


def plan_both(inp: PlanInputs, cfg: RegionConfig, years: list[int] | None = None, *, scenario: str = "middle",
              method: str = "mip", time_limit_s: float | None = None) -> tuple[PlanResult, PlanResult, pd.DataFrame]:
    """The plan with and without the congestion rule (same demand and candidates) and their comparison."""
    years = list(years or cfg.placement.years)
    demand, decided = build_demand(inp, cfg, years, scenario)
    sites = candidate_sites(inp, demand, cfg)
    with_rule = make_plan(inp, cfg, years, congestion_rule=True, scenario=scenario, method=method, demand=demand,
                          sites=sites, time_limit_s=time_limit_s)
    without = make_plan(inp, cfg, years, congestion_rule=False, scenario=scenario, method=method, demand=demand,
                        sites=sites, time_limit_s=time_limit_s)
    with_rule.stats["requests"] = decided
    return with_rule, without, compare(with_rule, without)


def summary(sites: pd.DataFrame) -> pd.DataFrame:
    """Per municipality and year: sites, EVSEs, power, demand covered, sites per grid route."""
    if sites.empty:
        return pd.DataFrame(columns=["gm_code", "year", "sites", "evses", "power_kw", "demand_covered",
                                     "sites_existing_connection", "sites_new_connection"])
    s = sites.assign(ex=(sites["grid_route"] == "existing_connection").astype(int),
                     nw=(sites["grid_route"] == "new_connection").astype(int))
    return (s.groupby(["gm_code", "year"], dropna=False)
            .agg(sites=("site_id", "nunique"), evses=("evses", "sum"), power_kw=("power_kw", "sum"),
                 demand_covered=("demand_covered", "sum"), sites_existing_connection=("ex", "sum"),
                 sites_new_connection=("nw", "sum"))
            .reset_index())


def compare(with_rule: PlanResult, without: PlanResult) -> pd.DataFrame:
    """Per municipality: what the congestion rule changes.

    ``blocked_sites``: sites the plan without the rule uses that lie in an area refusing new connections
    and that the plan with the rule does not use; ``moved_sites``: sites only the plan with the rule uses
    (demand served elsewhere); ``evses_*`` and ``demand_*``: totals over the years (demand in
    EVSE-equivalent years served)."""
    a, b = with_rule.sites, without.sites
    cand = with_rule.candidates
    refusing_cols = [c for c in cand.columns if c.startswith("refuses_")]
    refusing = set(cand.loc[cand[refusing_cols].any(axis=1), "site_id"].astype(str)) if refusing_cols else set()
    gms = sorted(set(a["gm_code"].dropna()) | set(b["gm_code"].dropna())) if len(a) or len(b) else []
    rows = []
    for g in gms:
        sa = set(a.loc[a["gm_code"] == g, "site_id"]) if len(a) else set()
        sb = set(b.loc[b["gm_code"] == g, "site_id"]) if len(b) else set()
        rows.append({
            "gm_code": g,
            "sites_with_rule": len(sa), "sites_without_rule": len(sb),
            "evses_with_rule": int(a.loc[a["gm_code"] == g, "evses"].sum()) if len(a) else 0,
            "evses_without_rule": int(b.loc[b["gm_code"] == g, "evses"].sum()) if len(b) else 0,
            "demand_with_rule": _served(with_rule.demand, g),
            "demand_without_rule": _served(without.demand, g),
            "sites_in_refusing_areas_without_rule": len(sb & refusing),
            "blocked_sites": len((sb - sa) & refusing),
            "moved_sites": len(sa - sb),
            "sites_on_existing_connection": int((a.loc[a["gm_code"] == g].drop_duplicates("site_id")["grid_route"]
                                                 == "existing_connection").sum()) if len(a) else 0,
        })
    return pd.DataFrame(rows)


def _served(demand: pd.DataFrame, gm: str) -> float:
    cols = [c for c in demand.columns if c.startswith("served_")]
    return float(demand.loc[demand["gm_code"] == gm, cols].to_numpy().sum()) if cols else 0.0
