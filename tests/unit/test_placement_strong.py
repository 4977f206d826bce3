"""The strong formulation and the exact reductions: same optimum as the aggregated model and brute force,
an LP bound never looser, and plans of the reduced instance that are plans of the original."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from laadplan.placement.optimise import PlacementModel, greedy, solve_mip
from laadplan.placement.reduce import reduce_instance

from tests.unit.test_placement_optimise import _brute_force, _check_constraints, _frames


def _mclp(seed: int, n_dem: int, n_cand: int, p: int, extent: float = 1500.0, r: float = 250.0):
    """A plain maximal-covering instance through PlacementModel: one year, one EVSE per site, kappa so large
    that one EVSE serves everything it reaches, the budget is the number of sites."""
    rng = np.random.default_rng(seed)
    demand = pd.DataFrame({"x_rd": rng.uniform(0, extent, n_dem), "y_rd": rng.uniform(0, extent, n_dem),
                           "quantity": 1.0, "weight": rng.choice([1.0, 2.0, 3.0], n_dem), "year": 2026, "walk_m": r})
    sites = pd.DataFrame({"site_id": [f"c{j}" for j in range(n_cand)], "x_rd": rng.uniform(0, extent, n_cand),
                          "y_rd": rng.uniform(0, extent, n_cand), "gm_code": "GM0001", "allowed_2026": True})
    m = PlacementModel.from_frames(demand, sites, None, [2026], budget_per_year=p, evses_per_site_max=1,
                                   min_spacing_m=0, max_candidates_per_demand=1000, kappa=float(n_dem))
    m.sites_xy = (sites["x_rd"].to_numpy(), sites["y_rd"].to_numpy())
    return m


def _mclp_brute_force(inst) -> float:
    """Best total weight covered by ``budget`` open sites, by enumerating every site set."""
    from itertools import combinations

    reach = [set(inst.pair_i[inst.pair_j == j].tolist()) for j in range(inst.J)]
    best = 0.0
    for k in range(int(inst.budget[0]) + 1):
        for combo in combinations(range(inst.J), k):
            cov = set().union(*(reach[j] for j in combo)) if combo else set()
            best = max(best, float(sum(inst.w[i] * inst.q[i] for i in cov)))
    return best


def _multi_year(seed: int):
    years = [2026, 2027]
    sites, demand, conns = _frames(seed, J=4, I=6, years=years, conn_kw=22.0, extent=400.0)
    m = PlacementModel.from_frames(demand, sites, conns, years, budget_per_year=2, evses_per_site_max=2,
                                   min_spacing_m=150.0, area_capacity_kw={"A1": 33.0})
    m.sites_xy = (sites["x_rd"].to_numpy(), sites["y_rd"].to_numpy())
    return m


@pytest.mark.parametrize("seed", range(8))
def test_strong_and_aggregated_same_optimum_as_brute_force_multi_year(seed):
    m = _multi_year(seed)
    bf = _brute_force(m.inst)
    strong = solve_mip(m.inst, mip_rel_gap=0.0, strong=True)
    weak = solve_mip(m.inst, mip_rel_gap=0.0, strong=False)
    assert strong.objective == pytest.approx(bf, abs=1e-6)
    assert weak.objective == pytest.approx(bf, abs=1e-6)
    lp_s = solve_mip(m.inst, relax=True, strong=True).objective
    lp_w = solve_mip(m.inst, relax=True, strong=False).objective
    assert bf - 1e-6 <= lp_s <= lp_w + 1e-6  # a valid bound, never looser than the aggregated one


@pytest.mark.parametrize("seed", range(8))
def test_strong_and_aggregated_same_optimum_as_brute_force_covering(seed):
    m = _mclp(seed, n_dem=14, n_cand=7, p=2, extent=900.0)
    bf = _mclp_brute_force(m.inst)
    cov = solve_mip(m.inst, mip_rel_gap=0.0, strong=True)  # uncapacitated: the coverage rows
    assert cov.objective == pytest.approx(bf, abs=1e-6)
    assert float((m.inst.w[m.inst.pair_i[cov.flow_p]] * cov.flow_v).sum()) == pytest.approx(bf, abs=1e-6)
    _check_constraints(m, cov, 0.0, m.inst.budget)
    assert solve_mip(m.inst, mip_rel_gap=0.0, strong=True, coverage=False).objective == pytest.approx(bf, abs=1e-6)
    assert solve_mip(m.inst, mip_rel_gap=0.0, strong=False).objective == pytest.approx(bf, abs=1e-6)
    # the coverage rows and the per-pair flow links give the same LP bound here
    assert solve_mip(m.inst, relax=True, coverage=False).objective == pytest.approx(
        solve_mip(m.inst, relax=True).objective, abs=1e-6)
    lp_s = solve_mip(m.inst, relax=True, strong=True).objective
    lp_w = solve_mip(m.inst, relax=True, strong=False).objective
    assert bf - 1e-6 <= lp_s <= lp_w + 1e-6
    # the aggregated LP opens a sliver of every site and serves all reachable demand: its bound is the
    # whole reachable weight, whatever the budget
    reach = np.zeros(m.inst.I, dtype=bool)
    reach[m.inst.pair_i] = True
    assert lp_w == pytest.approx(float((m.inst.w * m.inst.q)[reach].sum()))


def test_strong_lp_bound_is_strictly_tighter_on_a_covering_instance():
    """Two sites each reach 3 unit demand points (weight 1), budget 1: the optimum covers 3. The aggregated
    LP takes n = 1/2 at both sites (capacity kappa/2 still serves everything): bound 6; the strong LP
    serves each point at most as much as its site is open: bound 3."""
    demand = pd.DataFrame({"x_rd": [0.0, 10, 20, 1000, 1010, 1020], "y_rd": 0.0, "quantity": 1.0, "weight": 1.0,
                           "year": 2026, "walk_m": 100.0})
    sites = pd.DataFrame({"site_id": ["a", "b"], "x_rd": [10.0, 1010.0], "y_rd": 0.0, "gm_code": "GM0001",
                          "allowed_2026": True})
    m = PlacementModel.from_frames(demand, sites, None, [2026], budget_per_year=1, evses_per_site_max=1,
                                   min_spacing_m=0, kappa=100.0)
    assert solve_mip(m.inst, relax=True, strong=False).objective == pytest.approx(6.0)
    assert solve_mip(m.inst, relax=True, strong=True).objective == pytest.approx(3.0)
    sol = m.solve("mip")
    assert sol.objective == pytest.approx(3.0) and sol.bound == pytest.approx(3.0)


def test_reductions_by_hand():
    """Site a reaches d0 only, b reaches d0 and d1, c reaches d1 and d2 (one EVSE serves all): a is
    dominated by b. d3 and d4 stand at the same spot (same reachable set {c}) and merge; d5 reaches no site."""
    demand = pd.DataFrame({"x_rd": [0.0, 200, 400, 420, 420, 5000], "y_rd": 0.0, "quantity": [1.0, 1, 1, 2, 1, 1],
                           "weight": [1.0, 1, 1, 1, 3, 1], "year": 2026, "walk_m": 150.0})
    sites = pd.DataFrame({"site_id": ["a", "b", "c"], "x_rd": [-100.0, 100, 330], "y_rd": 0.0, "gm_code": "GM0001",
                          "allowed_2026": True})
    m = PlacementModel.from_frames(demand, sites, None, [2026], budget_per_year=1, evses_per_site_max=1,
                                   min_spacing_m=0, kappa=50.0)
    r = reduce_instance(m.inst)
    assert r.dominated_sites == 1 and list(m.inst.site_id[r.site_map]) == ["b", "c"]
    # groups: {d0} -> {b}; {d1} -> {b, c}; {d2, d3, d4} -> {c} (all uncapacitated: weights may differ)
    assert r.inst.I == 3
    qs = sorted(r.inst.q.tolist())
    assert qs == [1.0, 1.0, 4.0]
    k = int(np.argmax(r.inst.q))
    assert r.inst.w[k] == pytest.approx((1 * 1 + 1 * 2 + 3 * 1) / 4)
    # budget 1: c covers d1 (1), d2 (1), d3 (2 units x 1) and d4 (3) = 7; b covers d0, d1 = 2
    sol = m.solve("mip", mip_rel_gap=0.0)
    assert sol.objective == pytest.approx(7.0)
    assert float((m.inst.w[m.inst.pair_i[sol.flow_p]] * sol.flow_v).sum()) == pytest.approx(7.0)


def test_capacitated_demand_merges_only_with_equal_weight():
    """kappa = 1 and 3 units in reach: the site is capacitated, so points with different weights stay apart
    (the heavier one is served first) and equal ones merge."""
    demand = pd.DataFrame({"x_rd": [0.0, 0, 0], "y_rd": 0.0, "quantity": 1.0, "weight": [1.0, 2.0, 2.0],
                           "year": 2026, "walk_m": 100.0})
    sites = pd.DataFrame({"site_id": ["a"], "x_rd": [10.0], "y_rd": 0.0, "gm_code": "GM0001", "allowed_2026": True})
    m = PlacementModel.from_frames(demand, sites, None, [2026], budget_per_year=1, evses_per_site_max=1,
                                   min_spacing_m=0, kappa=1.0)
    r = reduce_instance(m.inst)
    assert r.inst.I == 2 and sorted(r.inst.q.tolist()) == [1.0, 2.0]
    assert m.solve("mip", mip_rel_gap=0.0).objective == pytest.approx(2.0)


@pytest.mark.parametrize("seed", range(10))
def test_reduced_instance_same_optimum_and_lifted_plans_are_valid(seed):
    for m in (_multi_year(seed), _mclp(seed, n_dem=14, n_cand=7, p=2, extent=900.0)):
        inst = m.inst
        whole = solve_mip(inst, mip_rel_gap=0.0, strong=False)
        r = reduce_instance(inst)
        red = solve_mip(r.inst, mip_rel_gap=0.0)
        assert red.objective == pytest.approx(whole.objective, abs=1e-6)
        lifted = r.lift(red)
        assert float((inst.w[inst.pair_i[lifted.flow_p]] * lifted.flow_v).sum()) == pytest.approx(red.objective)
        spacing = 150.0 if inst.T == 2 else 0.0
        _check_constraints(m, lifted, spacing, inst.budget)
        # and a greedy plan of the reduced instance lifts to a valid one too
        _check_constraints(m, r.lift(greedy(r.inst)), spacing, inst.budget)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_default_gap_gives_the_optimum_and_an_honest_bound(seed):
    """Regression (issue 13): with the default mip_rel_gap = 0.01 the old solver stopped at its greedy start
    whenever the greedy was within 1 %. Now the plan is the optimum (checked against the aggregated model
    solved to gap 0), its bound is at least that optimum, and the stats say how it was found."""
    m = _mclp(seed, n_dem=400, n_cand=90, p=12, extent=2500.0)
    opt = solve_mip(m.inst, mip_rel_gap=0.0, strong=False, time_limit_s=60).objective
    sol = m.solve("mip", time_limit_s=30)
    assert sol.objective == pytest.approx(opt, abs=1e-6)
    assert sol.bound >= opt - 1e-6 and sol.gap <= 0.01
    assert sol.greedy_objective is not None and sol.objective >= sol.greedy_objective - 1e-9
    assert sol.beats_greedy == (sol.objective > sol.greedy_objective + 1e-9)
    _check_constraints(m, sol, 0.0, m.inst.budget)


def _covered_weight(inst, open_sites) -> float:
    cov = {i for j in open_sites for i in inst.pair_i[inst.pair_j == j].tolist()}
    return float(sum(inst.w[i] * inst.q[i] for i in cov))


@pytest.mark.parametrize("seed", range(6))
def test_swap_search_reaches_a_swap_local_optimum(seed):
    """From the greedy plan, the swap search ends where no single swap (close one open site, open one
    closed site) covers more weight, checked by trying every swap with Python sets; its plan is worth
    what its flows serve and is never worse than where it started, nor better than brute force."""
    from laadplan.placement.optimise import plain_covering, swap_search

    m = _mclp(seed, n_dem=40, n_cand=12, p=3, extent=1200.0)
    inst = m.inst
    assert plain_covering(inst)
    g = greedy(inst)
    s = swap_search(inst, g)
    opened = set(np.flatnonzero(s.n[:, 0] > 0).tolist())
    assert len(opened) <= 3
    val = _covered_weight(inst, opened)
    assert s.objective == pytest.approx(val)
    assert float((inst.w[inst.pair_i[s.flow_p]] * s.flow_v).sum()) == pytest.approx(val)
    assert g.objective - 1e-9 <= val <= _mclp_brute_force(inst) + 1e-9
    for a in opened:
        for b in set(range(inst.J)) - opened:
            assert _covered_weight(inst, (opened - {a}) | {b}) <= val + 1e-9
    _check_constraints(m, s, 0.0, inst.budget)


def test_plain_covering_is_only_the_uncapacitated_one_year_case():
    from laadplan.placement.optimise import plain_covering

    assert plain_covering(_mclp(0, n_dem=10, n_cand=4, p=2).inst)
    assert not plain_covering(_multi_year(0).inst)
    m = _mclp(0, n_dem=10, n_cand=4, p=2, extent=300.0)  # every site reaches every point
    assert plain_covering(m.inst)
    m.inst.kappa = 9.0  # one EVSE no longer serves all 10 points a site reaches
    assert not plain_covering(m.inst)


@pytest.mark.parametrize("seed", range(4))
def test_start_from_the_lp_is_feasible_and_never_below_greedy(seed):
    """The MIP's start built from the strong LP (rounding, swaps, the MIP on the LP support) is a valid plan
    of the instance, at least the greedy's and at most the optimum."""
    from laadplan.placement.optimise import improve_start

    for m in (_multi_year(seed), _mclp(seed, n_dem=60, n_cand=15, p=3, extent=1500.0)):
        inst = m.inst
        lp = solve_mip(inst, relax=True)
        g = greedy(inst)
        start, how = improve_start(inst, lp.n_frac, g, lp.bound, lambda: 30.0)
        opt = solve_mip(inst, mip_rel_gap=0.0).objective
        assert g.objective - 1e-9 <= start.objective <= opt + 1e-6
        assert float((inst.w[inst.pair_i[start.flow_p]] * start.flow_v).sum()) == pytest.approx(start.objective)
        _check_constraints(m, start, 150.0 if inst.T == 2 else 0.0, inst.budget)
