"""The placement optimiser: a multi-year capacitated maximal-covering model solved with HiGHS, and the
greedy heuristic of the same model (baseline and fallback).

The model (in the spirit of spopt's ``MCLP``: build with :meth:`PlacementModel.from_frames`, then
:meth:`PlacementModel.solve`) is stated in :class:`PlacementModel`'s docstring.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import time
from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd

from laadplan import geo

log = logging.getLogger(__name__)
BIG = 10**9
SUPPORT_MIP_MAX_VARS = 50_000  # the MIP on the LP support is tried up to this many flow / coverage columns
#: two sites closer than the minimum spacing by more than this (m) conflict: a pair exactly at the spacing is
#: allowed, one a millimetre closer is not (the tolerance only absorbs floating-point error in RD metres)
SPACING_TOL_M = 1e-6


def spacing_conflicts(x: np.ndarray, y: np.ndarray, min_spacing_m: float) -> np.ndarray:
    """Site pairs (a < b) closer than ``min_spacing_m`` (RD metres), shape (S, 2): the pairs of which a plan may
    open at most one. Inclusive rule: a pair exactly ``min_spacing_m`` apart is allowed."""
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    if min_spacing_m <= SPACING_TOL_M or len(x) < 2:
        return np.zeros((0, 2), dtype="int64")
    a, b, d = geo.pairwise_within(x, y, x, y, min_spacing_m)
    keep = (a < b) & (d < min_spacing_m - SPACING_TOL_M)
    return np.column_stack([a[keep], b[keep]]).astype("int64")


@dataclass
class Instance:
    """Arrays of one placement instance (sites ``j``, years ``t``, demand ``i``, pairs ``p = (i, j)``)."""

    years: list[int]
    site_id: np.ndarray
    site_gm: np.ndarray  # int index into gms
    gms: list[str]
    max_evses: np.ndarray  # m_j
    kw_per_evse: np.ndarray  # p_j
    allowed: np.ndarray  # J x T bool: EVSEs may be placed at j in year t
    conn: np.ndarray  # connection index used by j (-1: new connection)
    conn_cap_kw: np.ndarray  # C_k
    area: np.ndarray  # capacity area of j's new connection (-1: none)
    area_cap_kw: np.ndarray  # A_a
    spacing: np.ndarray  # (S, 2) site pairs closer than the minimum spacing
    q: np.ndarray  # demand units
    w: np.ndarray  # weights
    arrive: np.ndarray  # first year index of the demand
    pair_i: np.ndarray
    pair_j: np.ndarray
    budget: np.ndarray  # B_t
    gm_budget: np.ndarray  # G x T (BIG = no cap)
    kappa: float = 1.0
    forbid_open: np.ndarray | None = None  # sites that must stay closed
    depart: np.ndarray | None = None  # year index after the demand's last year (None: the horizon)

    def dep(self) -> np.ndarray:
        return np.full(len(self.q), len(self.years), dtype="int64") if self.depart is None else self.depart

    @property
    def J(self) -> int:
        return len(self.site_id)

    @property
    def T(self) -> int:
        return len(self.years)

    @property
    def I(self) -> int:  # noqa: E743
        return len(self.q)


@dataclass
class Solution:
    n: np.ndarray  # J x T new EVSEs
    flow_p: np.ndarray  # pair index
    flow_t: np.ndarray  # year index
    flow_v: np.ndarray  # demand units served
    objective: float
    bound: float
    seconds: float
    method: str
    status: str = ""
    components: int = 1
    #: where ``bound`` comes from (always a bound on the optimum of the whole instance)
    bound_source: str = ""
    #: the greedy heuristic's objective on the same instance (the baseline; None: not computed)
    greedy_objective: float | None = None
    #: an LP relaxation's (fractional) EVSEs, J x T (None: not an LP solution)
    n_frac: np.ndarray | None = None

    @property
    def beats_greedy(self) -> bool | None:
        """True when the plan is strictly better than the greedy plan (None: no greedy run)."""
        if self.greedy_objective is None:
            return None
        return self.objective > self.greedy_objective + 1e-9 * max(1.0, abs(self.greedy_objective))

    @property
    def gap(self) -> float:
        """Relative gap to the bound; NaN when no bound is known (the greedy alone)."""
        if not np.isfinite(self.bound):
            return float("nan")
        if self.bound <= 0:
            return 0.0
        return max(0.0, (self.bound - self.objective) / max(abs(self.bound), 1e-9))


class PlacementModel:
    r"""Multi-year capacitated maximal covering of charging demand under grid congestion.

    Sets: candidate sites :math:`j \in J`, plan years :math:`t \in T` (ordered), demand points
    :math:`i \in I` with :math:`q_i` demand units (EVSE-equivalents), weight :math:`w_i` (trigger weight)
    and arrival year :math:`a_i`; pairs :math:`(i, j) \in P` when site :math:`j` is within walking distance
    of :math:`i` (the ``max_candidates_per_demand`` nearest, more where the demand at its position
    needs more full sites); connections :math:`k` with spare capacity
    :math:`C_k` (kW, after the safety margin) and the sites :math:`J_k` that would use them; capacity areas
    :math:`a` with capacity :math:`A_a` for new connections and their sites :math:`J_a`; site pairs
    :math:`S` closer than the minimum spacing (a pair exactly at it is allowed); municipalities :math:`g`
    with sites :math:`J_g`.

    Variables: :math:`n_{jt} \in \mathbb{Z}_{\ge 0}` new EVSEs at :math:`j` in year :math:`t`;
    :math:`y_j \in \{0,1\}` site opened; :math:`f_{ijt} \ge 0` demand of :math:`i` served at :math:`j`
    in year :math:`t \ge a_i`.

    .. math::

        \max \; & \sum_{t \in T} \sum_{(i,j) \in P,\, t \ge a_i} w_i f_{ijt} \\
        \text{s.t.}\; & \textstyle\sum_{j:(i,j)\in P} f_{ijt} \le q_i & \forall i, t \ge a_i \\
        & \textstyle\sum_{i:(i,j)\in P} f_{ijt} \le \kappa \sum_{t' \le t} n_{jt'} & \forall j, t \\
        & \textstyle\sum_t n_{jt} \le m_j y_j & \forall j \\
        & \textstyle\sum_j n_{jt} \le B_t, \quad \sum_{j \in J_g} n_{jt} \le B_{gt} & \forall t, g \\
        & n_{jt} = 0 & \text{if } j \text{ has no grid route in } t \\
        & \textstyle\sum_{j \in J_k} p_j \sum_t n_{jt} \le C_k & \forall k \\
        & \textstyle\sum_{j \in J_a} p_j \sum_t n_{jt} \le A_a & \forall a \\
        & y_j + y_{j'} \le 1 & \forall (j, j') \in S

    :math:`\kappa` is the demand units one EVSE serves per year, :math:`m_j` the most EVSEs at a site,
    :math:`p_j` the kW per EVSE. A site in an area that refuses new connections in year :math:`t` has a
    grid route only through an existing connection within the cable distance (then it is in :math:`J_k`
    and draws on :math:`C_k` shared with every other site using :math:`k`); otherwise it gets a new
    connection and draws on its area's :math:`A_a`. Existing charge points are fixed: the triggers
    produce demand net of them.

    Strong formulation (default): with :math:`o_{jt} \in [0, 1]` ("site :math:`j` has an EVSE by year
    :math:`t`") the rows :math:`o_{jt} \le y_j`, :math:`o_{jt} \le \sum_{t' \le t} n_{jt'}`,
    :math:`y_j \le \sum_t n_{jt}` and, per pair kept at a site where one EVSE serves all it can reach
    (:func:`linked_sites`), :math:`f_{ijt} \le \min(q_i, \kappa m_j)\, o_{jt}`. They cut off no integer
    plan worth keeping (same optimum), but without them the LP relaxation serves all demand near such a
    site from a sliver of it (one aggregated capacity row per site), so its bound was loose and its
    rounding gave nothing. At capacitated sites the capacity row binds and the links are left out (a
    row per flow, measured to slow the demo region's LP from seconds to minutes). When that holds at
    every site (:math:`\kappa \ge \sum_{i \to j} q_i`, as in plain maximal covering) the flows are
    replaced by the coverage rows :math:`z_{it} \le q_i \sum_{j \to i} o_{jt}` (same optimum, same LP
    bound, far smaller).

    Solving: exact reductions first (:mod:`laadplan.placement.reduce`: unusable and dominated sites
    dropped, demand points with the same reachable sites merged; the plan is lifted back). Then the LP
    relaxation of the whole model (its bound) gives the start (:func:`improve_start`: rounded three ways
    and repaired by the greedy, 1-swap search on plain covering, the MIP on the LP support); the best of
    that and the greedy warm-starts HiGHS branch-and-cut to the relative gap ``mip_rel_gap`` or the time
    limit (skipped when the LP bound already proves the gap). When it stops with a gap left (often at its
    start), a short improvement phase continues to optimality (up to four times the time spent, within
    the time limit). ``bound`` is the smaller of the LP bound and HiGHS's dual bound, both for the whole
    model. Instances whose LP has more than ``max_vars`` columns (covered-demand columns, or flows before
    the reductions) are solved through their
    LP relaxation by blocks instead (:mod:`laadplan.placement.relax`): the LP, made exactly smaller
    (columns the model fixes at zero dropped, kW capacity rows rounded down to EVSE counts), falls apart
    into independent blocks once the yearly budget rows are priced out; the prices are searched by
    cutting planes, and ``bound`` is a dual bound :math:`y^\top b + \sum_j u_j \max(0, c_j - (A^\top y)_j)`,
    valid for the optimum of the whole instance for any row prices :math:`y \ge 0`. Its rounding,
    repaired by the greedy with the exact best flows, warm-starts the MIP of the whole instance for the
    time left. Every plan is compared with the greedy plan of the original instance and is never worse
    (``method`` says what produced it, ``greedy_objective`` / ``beats_greedy`` the comparison); ``gap`` is
    always against a bound of the whole instance.
    """

    def __init__(self, inst: Instance):
        self.inst = inst
        self.greedy_objective: float | None = None
        self.reduction = None  # the Reduction of the last solve

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def from_frames(cls, demand: pd.DataFrame, sites: pd.DataFrame, connections: pd.DataFrame | None,
                    years: list[int], *, budget_per_year: int, budget_by_gm: dict[str, int] | None = None,
                    evses_per_site_max: int = 4, kw_per_evse: float = 11.0, site_extra_kw: float = 0.0,
                    min_spacing_m: float = 100.0, max_candidates_per_demand: int = 8,
                    area_capacity_kw: dict[str, float] | None = None, kappa: float = 1.0) -> "PlacementModel":
        """Build the instance from tables.

        ``demand``: x_rd, y_rd, quantity, weight, year, walk_m. ``sites``: site_id, x_rd, y_rd, gm_code,
        max_evses (optional), ean18 (existing connection to use, or empty), capacity_area (optional),
        plus one bool column ``allowed_<year>`` per year. ``connections``: ean18, capacity_kw.
        ``area_capacity_kw``: capacity of new connections per capacity area (missing = unbounded).
        """
        T = len(years)
        J = len(sites)
        gm = sites["gm_code"].astype("string").fillna("").to_numpy()
        gms = sorted(set(gm))
        gidx = {g: k for k, g in enumerate(gms)}
        mx = sites["max_evses"].astype("Float64").fillna(evses_per_site_max).to_numpy(dtype="float64") \
            if "max_evses" in sites else np.full(J, float(evses_per_site_max))
        mx = np.minimum(mx, evses_per_site_max).astype("int64")
        allowed = np.column_stack([sites[f"allowed_{y}"].astype(bool).to_numpy() for y in years]) if J else \
            np.zeros((0, T), dtype=bool)
        conns = connections if connections is not None else pd.DataFrame({"ean18": [], "capacity_kw": []})
        cidx = {e: k for k, e in enumerate(conns["ean18"].astype(str))}
        ean = sites["ean18"].astype("string").fillna("").to_numpy() if "ean18" in sites else np.full(J, "")
        conn = np.array([cidx.get(e, -1) for e in ean], dtype="int64")
        area_names = sites["capacity_area"].astype("string").fillna("").to_numpy() if "capacity_area" in sites \
            else np.full(J, "")
        caps = area_capacity_kw or {}
        alist = sorted(a for a in set(area_names) if a and a in caps and np.isfinite(caps[a]))
        aidx = {a: k for k, a in enumerate(alist)}
        area = np.array([aidx.get(a, -1) if c < 0 else -1 for a, c in zip(area_names, conn)], dtype="int64")
        sx, sy = sites["x_rd"].to_numpy("float64"), sites["y_rd"].to_numpy("float64")
        spacing = spacing_conflicts(sx, sy, min_spacing_m)
        dx, dy = demand["x_rd"].to_numpy("float64"), demand["y_rd"].to_numpy("float64")
        walk = demand["walk_m"].to_numpy("float64")
        if len(demand) and J:
            pi, pj, d = geo.pairwise_within(dx, dy, sx, sy, float(walk.max()))
            ok = d <= walk[pi] + 1e-9
            pi, pj, d = pi[ok], pj[ok], d[ok]
            order = np.lexsort((d, pi))
            pi, pj, d = pi[order], pj[order], d[order]
            rank = np.arange(len(pi)) - np.searchsorted(pi, pi, side="left")
            # at least the sites a point's demand needs (all years at its position, a full site each), so
            # a need above max_candidates_per_demand full sites can reach enough sites
            pos = demand.groupby([demand["x_rd"].astype("float64"), demand["y_rd"].astype("float64")],
                                 sort=False)["quantity"].transform("sum").to_numpy("float64")
            sites_needed = np.ceil(pos / max(evses_per_site_max * kappa, 1e-12) - 1e-9)
            keep = rank < np.maximum(max_candidates_per_demand, sites_needed)[pi]
            pi, pj = pi[keep], pj[keep]
        else:
            pi = pj = np.zeros(0, dtype="int64")
        year_pos = {y: k for k, y in enumerate(years)}
        arrive = np.array([year_pos.get(int(y), 0 if int(y) < years[0] else T) for y in demand["year"]],
                          dtype="int64")
        gmb = np.full((len(gms), T), BIG, dtype="int64")
        for g, cap in (budget_by_gm or {}).items():
            if g in gidx:
                gmb[gidx[g], :] = int(cap)
        inst = Instance(
            years=list(years), site_id=sites["site_id"].astype(str).to_numpy(), site_gm=np.array(
                [gidx[g] for g in gm], dtype="int64"), gms=gms, max_evses=mx,
            kw_per_evse=np.full(J, kw_per_evse + site_extra_kw / max(evses_per_site_max, 1)),
            allowed=allowed, conn=conn, conn_cap_kw=conns["capacity_kw"].to_numpy("float64"),
            area=area, area_cap_kw=np.array([caps[a] for a in alist], dtype="float64"), spacing=spacing,
            q=demand["quantity"].to_numpy("float64"), w=demand["weight"].to_numpy("float64"), arrive=arrive,
            pair_i=pi.astype("int64"), pair_j=pj.astype("int64"),
            budget=np.full(T, int(budget_per_year), dtype="int64"), gm_budget=gmb, kappa=kappa)
        return cls(inst)

    # -- solving -------------------------------------------------------------------------------------
    def solve(self, method: str = "mip", *, time_limit_s: float = 60.0, mip_rel_gap: float = 0.01,
              max_vars: int = 250_000, decompose: bool | None = None, strong: bool = True,
              reduce: bool = True) -> Solution:
        """Solve with ``method`` ``"mip"`` (HiGHS, greedy warm start) or ``"greedy"``.

        ``reduce``: first apply the exact size reductions of :mod:`laadplan.placement.reduce` (unusable
        and dominated sites dropped, demand with the same reachable sites merged); the plan is lifted back
        to the whole instance. ``strong``: the strong formulation (per-pair linking rows).
        ``decompose`` None: above ``max_vars`` flow variables (after the reductions), solve the LP
        relaxation block by block, round it and repair with the greedy, then warm-start the MIP
        (:func:`laadplan.placement.relax.solve_relaxed`). When the MIP stops at its (greedy) start with
        a gap left, a short improvement phase continues it to optimality. A MIP that cannot reach the
        greedy value in the time limit returns the greedy plan (the fallback) with the MIP's bound: the
        plan is never worse than the greedy one, and ``bound`` always holds for the whole instance.
        """
        t0 = time.perf_counter()
        inst = self.inst
        g = greedy(inst)
        self.greedy_objective = g.objective
        if method == "greedy":
            g.seconds = time.perf_counter() - t0
            return g
        log.info("greedy: %.2f, %.1f s", g.objective, time.perf_counter() - t0)
        red = None
        if reduce:
            from laadplan.placement.reduce import reduce_instance

            red = reduce_instance(inst)
        work = red.inst if red is not None else inst
        warm = greedy(work) if red is not None else g
        if decompose is None:  # the size of the LP: covered-demand columns, or flows (before the reductions,
            # which leave the flows of capacitated instances large: their whole LP is slow, the blocks are not)
            decompose = (_n_cover_vars(work) if plain_covering(work) or linked_sites(work).all()
                         else _n_flow_vars(inst)) > max_vars
        left = lambda: max(time_limit_s - (time.perf_counter() - t0), 1.0)  # noqa: E731
        form = "strong" if strong else "aggregated"
        if not decompose:
            # the LP relaxation first: its bound, and its rounding (repaired by the greedy) as the MIP's start
            log.info("reduced and greedy of the reduced instance: %.1f s", time.perf_counter() - t0)
            lp = solve_mip(work, time_limit_s=left(), relax=True, strong=strong)
            log.info("LP relaxation (%s): %.2f (%s), %.1f s", form, lp.objective, lp.status, time.perf_counter() - t0)
            start_method = "greedy"
            if lp.n_frac is not None and np.isfinite(lp.bound):
                warm, start_method = improve_start(work, lp.n_frac, warm, lp.bound, left)
            bound_src = f"LP relaxation of the whole model ({form} formulation)"
            if warm.objective >= lp.bound - mip_rel_gap * abs(lp.bound):  # the LP bound proves the gap already
                sol = dataclasses.replace(warm, method=start_method, status="Optimal")  # within mip_rel_gap
                sol.bound = lp.bound
            else:
                sol = solve_mip(work, time_limit_s=left(), mip_rel_gap=mip_rel_gap, warm=warm, strong=strong)
                sol.method = f"mip ({form}, from {start_method})"
                if sol.bound < lp.bound:
                    bound_src = f"HiGHS branch-and-cut dual bound of the whole model ({form} formulation)"
                sol.bound = max(min(sol.bound, lp.bound), sol.objective)
            spent = time.perf_counter() - t0
            log.info("%s: %.2f, bound %.2f (%s), %.1f s", sol.method, sol.objective, sol.bound, sol.status, spent)
            if sol.gap > 1e-6 and time_limit_s - spent > 0.5:
                # stopped within mip_rel_gap (often at its start): a short improvement phase to optimality
                more = solve_mip(work, time_limit_s=min(left(), max(5.0, 4 * spent)), mip_rel_gap=1e-6,
                                 warm=sol, strong=strong)
                if more.objective > sol.objective + 1e-9:
                    more.method = f"{sol.method} + mip improvement phase"
                    more.bound, sol = min(more.bound, sol.bound), more
                elif more.bound < sol.bound:
                    sol.bound = max(more.bound, sol.objective)
                    sol.status = f"{sol.status}; improvement phase: {more.status}"
                if sol.bound <= more.bound + 1e-9 and more.bound < lp.bound:
                    bound_src = f"HiGHS branch-and-cut dual bound of the whole model ({form} formulation)"
            sol.bound_source = bound_src
        else:
            from laadplan.placement.relax import solve_relaxed

            sol = solve_relaxed(work, warm, time_limit_s=left(), t0=time.perf_counter(), strong=strong,
                                mip_rel_gap=mip_rel_gap)
        if red is not None:
            sol = red.lift(sol)
            sol.bound_source += f"; reduced: {red.summary()}"
            self.reduction = red
        if sol.objective < g.objective - 1e-6:  # the time limit came before the greedy value
            g.method, g.bound, g.status, g.bound_source = "greedy-fallback", sol.bound, sol.status, sol.bound_source
            g.components = sol.components
            sol = g
        sol.bound = max(sol.bound, sol.objective)
        sol.greedy_objective = g.objective
        sol.seconds = time.perf_counter() - t0
        return sol


def improve_start(work: Instance, n_frac: np.ndarray, warm: Solution, lp_bound: float, left) -> tuple[Solution, str]:
    """The MIP's start from an LP solution ``n_frac``: the best of ``warm`` (the greedy), the LP rounded and
    repaired (:func:`lp_round`), a 1-swap local search from it on plain covering instances
    (:func:`swap_search`), and the MIP restricted to the sites the LP, the rounding or the greedy use
    (the others forbidden; a small MIP, solved to optimality or a third of the time left)."""
    method = "greedy"
    greedy_n = warm.n
    rounded, how = lp_round(work, n_frac)
    if rounded.objective > warm.objective + 1e-9:
        warm, method = rounded, f"lp-round ({how})"
    if plain_covering(work) and warm.objective < lp_bound - 1e-9:
        better = swap_search(work, warm, time_limit_s=min(left() / 6, 20.0))
        if better.objective > warm.objective + 1e-9:
            warm, method = better, f"{method} + swaps"
    support = (n_frac > 1e-6).any(axis=1) | (warm.n.sum(axis=1) > 0) | (greedy_n.sum(axis=1) > 0)
    if warm.objective < lp_bound - 1e-9 and support.sum() < work.J and left() > 2.0:
        from laadplan.placement.reduce import reduce_instance

        forbid = ~support if work.forbid_open is None else (~support | work.forbid_open)
        rs = reduce_instance(dataclasses.replace(work, forbid_open=forbid))
        size = _n_cover_vars(rs.inst) if linked_sites(rs.inst).all() else _n_flow_vars(rs.inst)
        if size > SUPPORT_MIP_MAX_VARS:  # too large to be the quick heuristic it is meant to be
            log.info("MIP on the LP support skipped: %d columns", size)
            return warm, method
        ss = solve_mip(rs.inst, mip_rel_gap=1e-6, time_limit_s=min(left() / 3, 60.0))
        log.info("MIP on the LP support (%s): %.2f (%s)", rs.summary(), ss.objective, ss.status)
        if ss.objective > warm.objective + 1e-9:
            warm, method = rs.lift(ss), f"mip on the LP support ({int(support.sum()):,} sites)"
    return warm, method


def lp_round(inst: Instance, n_frac: np.ndarray) -> tuple[Solution, str]:
    """Round an LP's EVSEs three ways (cumulative per site down, to nearest, up) and let the greedy repair
    (drop what breaks a row) and fill each; the best plan and how it was rounded."""
    J, T = inst.J, inst.T
    cum_lp = np.cumsum(np.clip(n_frac, 0.0, None), axis=1)
    best, best_how = None, ""
    for how, cum in (("down", np.floor(cum_lp + 1e-6)), ("nearest", np.floor(cum_lp + 0.5)),
                     ("up", np.ceil(cum_lp - 1e-3))):
        cum = np.maximum.accumulate(np.minimum(cum, inst.max_evses[:, None]), axis=1)
        start = np.diff(np.concatenate([np.zeros((J, 1)), cum], axis=1)).astype("int64")
        cand = greedy(inst, start=start)
        log.info("LP rounded %s, repaired: %.2f (greedy flows)", how, cand.objective)
        if best is None or cand.objective > best.objective + 1e-9:
            best, best_how = cand, how
    return best, best_how


def plain_covering(inst: Instance) -> bool:
    """True for a plain maximal-covering instance: one year, one EVSE serves all a site reaches, and no
    row besides the budget (no spacing, connection, area or municipality limits)."""
    if inst.T != 1 or len(inst.spacing) or (inst.conn >= 0).any() or (inst.area >= 0).any():
        return False
    if (inst.gm_budget < BIG).any() or not len(inst.pair_i):
        return False
    load = np.bincount(inst.pair_j, weights=inst.q[inst.pair_i], minlength=inst.J)
    return bool((inst.kappa >= load - 1e-9).all())


def swap_search(inst: Instance, sol: Solution, *, time_limit_s: float = 10.0) -> Solution:
    """1-swap local search (close one open site, open the best closed one) for a :func:`plain_covering`
    instance, from ``sol``'s sites until no swap gains or the time limit; the plan's flows serve each
    covered point at its first open site in reach. Gains and losses are kept per site and updated only
    around the demand whose cover count changes, so a pass over the open sites costs about the pairs
    of those sites."""
    t0 = time.perf_counter()
    J = inst.J
    wq = np.where((inst.arrive == 0) & (inst.dep() > 0), inst.w * inst.q, 0.0)
    can = inst.allowed[:, 0] & (inst.max_evses > 0)
    if inst.forbid_open is not None:
        can &= ~inst.forbid_open
    o = np.lexsort((inst.pair_i, inst.pair_j))
    js, ji = inst.pair_j[o], inst.pair_i[o]
    s_start = np.searchsorted(js, np.arange(J + 1))
    o2 = np.lexsort((inst.pair_j, inst.pair_i))
    dsites, d_start = inst.pair_j[o2], np.searchsorted(inst.pair_i[o2], np.arange(inst.I + 1))
    R = [ji[s_start[j]:s_start[j + 1]].tolist() for j in range(J)]
    S = [dsites[d_start[i]:d_start[i + 1]].tolist() for i in range(inst.I)]
    wql = wq.tolist()
    is_open = (sol.n[:, 0] > 0) & can
    opened = is_open.tolist()
    c = np.zeros(inst.I, dtype="int64")
    np.add.at(c, inst.pair_i, is_open[inst.pair_j].astype("int64"))
    cov = c.tolist()
    unc = np.where(c == 0, wq, 0.0)
    gain = np.bincount(inst.pair_j, weights=unc[inst.pair_i], minlength=J)
    one = np.where(c == 1, wq, 0.0)
    loss = np.bincount(inst.pair_j, weights=one[inst.pair_i] * is_open[inst.pair_j], minlength=J)

    def remove(a: int) -> None:
        opened[a] = False
        for i in R[a]:
            cov[i] -= 1
            if cov[i] == 0:
                for j in S[i]:
                    gain[j] += wql[i]
                loss[a] -= wql[i]
            elif cov[i] == 1:
                for k in S[i]:
                    if opened[k]:
                        loss[k] += wql[i]
                        break

    def add(b: int) -> None:
        opened[b] = True
        for i in R[b]:
            cov[i] += 1
            if cov[i] == 1:
                for j in S[i]:
                    gain[j] -= wql[i]
                loss[b] += wql[i]
            elif cov[i] == 2:
                for k in S[i]:
                    if opened[k] and k != b:
                        loss[k] -= wql[i]
                        break

    blocked = ~can
    swaps = 0
    improved = True
    while improved and time.perf_counter() - t0 < time_limit_s:
        improved = False
        order = sorted((j for j in range(J) if opened[j]), key=lambda j: loss[j])
        for a in order:
            if time.perf_counter() - t0 >= time_limit_s:
                break
            la = loss[a]
            remove(a)
            g = np.where(np.array(opened) | blocked, -np.inf, gain)
            g[a] = -np.inf
            b = int(np.argmax(g))
            if g[b] > la + 1e-9:
                add(b)
                swaps += 1
                improved = True
            else:
                add(a)
    n = np.zeros((J, 1), dtype="int64")
    n[np.array(opened, dtype=bool), 0] = 1
    covered = np.flatnonzero((np.array(cov) > 0) & (wq > 0))
    fp, ft, fv = _cover_flows(inst, n, covered, np.zeros(len(covered), dtype="int64"), inst.q[covered])
    obj = float((inst.w[inst.pair_i[fp]] * fv).sum())
    log.info("swap search: %d swaps, %.2f -> %.2f, %.1f s", swaps, sol.objective, obj, time.perf_counter() - t0)
    return Solution(n=n, flow_p=fp, flow_t=ft, flow_v=fv, objective=obj, bound=np.inf,
                    seconds=time.perf_counter() - t0, method=f"{sol.method} + swaps", status="heuristic")


def _n_cover_vars(inst: Instance) -> int:
    """Columns z_it of the coverage rows (demand points with a pair, times their years)."""
    has = np.zeros(inst.I, dtype=bool)
    has[inst.pair_i] = True
    return int(np.maximum(0, inst.dep() - inst.arrive)[has].sum())


def _n_flow_vars(inst: Instance) -> int:
    return int(np.maximum(0, inst.dep()[inst.pair_i] - inst.arrive[inst.pair_i]).sum())


# -- greedy ---------------------------------------------------------------------------------------------
def greedy(inst: Instance, start: np.ndarray | None = None) -> Solution:
    """Greedy heuristic of the same model: year by year, add the single EVSE with the largest gain
    (weighted demand it would serve from its year to the horizon, filling the heaviest residual demand
    first), as long as the budget, site, route, connection, area and spacing constraints allow.
    Lazy evaluation: within a year gains only fall, so a popped site is re-scored and re-queued.

    ``start`` (J x T, feasible): EVSEs placed first in their year (largest gain first), the greedy then
    fills what budget and capacity are left (the repair step of the LP rounding)."""
    t0 = time.perf_counter()
    J, T = inst.J, inst.T
    n = np.zeros((J, T), dtype="int64")
    tot = np.zeros(J, dtype="int64")
    yrs = np.arange(T)[None, :]
    resid = np.where((yrs >= inst.arrive[:, None]) & (yrs < inst.dep()[:, None]), inst.q[:, None], 0.0)
    # pairs of each site sorted by weight desc
    order = np.lexsort((-inst.w[inst.pair_i], inst.pair_j))
    pj_sorted = inst.pair_j[order]
    starts = np.searchsorted(pj_sorted, np.arange(J + 1))
    site_pairs = order  # pair indices grouped by site
    conn_left = inst.conn_cap_kw.astype("float64").copy()
    area_left = inst.area_cap_kw.astype("float64").copy()
    gm_left = inst.gm_budget.astype("int64").copy()
    blocked = np.zeros(J, dtype=bool) if inst.forbid_open is None else inst.forbid_open.copy()
    opened = np.zeros(J, dtype=bool)
    nbrs: dict[int, list[int]] = {}
    for a, b in inst.spacing:
        nbrs.setdefault(int(a), []).append(int(b))
        nbrs.setdefault(int(b), []).append(int(a))
    flows: dict[tuple[int, int], float] = {}
    w, pi, kappa = inst.w, inst.pair_i, inst.kappa
    objective = 0.0

    def gain(j: int, t: int) -> float:
        s = 0.0
        ps = site_pairs[starts[j]:starts[j + 1]]
        for tt in range(t, T):
            cap = kappa
            for p in ps:
                r = resid[pi[p], tt]
                if r > 0:
                    take = r if r < cap else cap
                    s += w[pi[p]] * take
                    cap -= take
                    if cap <= 1e-12:
                        break
        return s

    def commit(j: int, t: int) -> float:
        s = 0.0
        ps = site_pairs[starts[j]:starts[j + 1]]
        for tt in range(t, T):
            cap = kappa
            for p in ps:
                i = pi[p]
                r = resid[i, tt]
                if r > 0:
                    take = r if r < cap else cap
                    resid[i, tt] = r - take
                    s += w[i] * take
                    flows[(int(p), tt)] = flows.get((int(p), tt), 0.0) + take
                    cap -= take
                    if cap <= 1e-12:
                        break
        return s

    def feasible(j: int, t: int) -> bool:
        if blocked[j] or tot[j] >= inst.max_evses[j] or not inst.allowed[j, t]:
            return False
        if gm_left[inst.site_gm[j], t] <= 0:
            return False
        kw = inst.kw_per_evse[j]
        k = inst.conn[j]
        if k >= 0 and conn_left[k] < kw - 1e-9:
            return False
        a = inst.area[j]
        if k < 0 and a >= 0 and area_left[a] < kw - 1e-9:
            return False
        return True

    has_pairs = starts[1:] > starts[:-1]
    wmax = np.zeros(J)
    if len(inst.pair_j):
        np.maximum.at(wmax, inst.pair_j, inst.w[inst.pair_i])
    def place(j: int, t: int) -> None:
        nonlocal left, objective
        objective += commit(j, t)
        n[j, t] += 1
        tot[j] += 1
        left -= 1
        gm_left[inst.site_gm[j], t] -= 1
        kw = inst.kw_per_evse[j]
        if inst.conn[j] >= 0:
            conn_left[inst.conn[j]] -= kw
        elif inst.area[j] >= 0:
            area_left[inst.area[j]] -= kw
        if not opened[j]:
            opened[j] = True
            for b in nbrs.get(j, ()):
                blocked[b] = True

    for t in range(T):
        left = int(inst.budget[t])
        if start is not None:
            js = np.flatnonzero(start[:, t] > 0)
            for j in sorted(js.tolist(), key=lambda j: -gain(j, t)):
                for _ in range(int(start[j, t])):
                    if feasible(j, t) and left > 0:
                        place(j, t)
        heap = []
        kwv = inst.kw_per_evse
        cl = np.r_[conn_left, np.inf][inst.conn]
        al = np.where(inst.conn < 0, np.r_[area_left, np.inf][inst.area], np.inf)
        cand = (has_pairs & inst.allowed[:, t] & ~blocked & (tot < inst.max_evses)
                & (gm_left[inst.site_gm, t] > 0) & (cl >= kwv - 1e-9) & (al >= kwv - 1e-9))
        # initial priorities: an upper bound of each site's gain (exact gains are computed when popped)
        ub = np.zeros(J)
        for tt in range(t, T):
            v = w[pi] * np.minimum(resid[pi, tt], kappa)
            ub += np.minimum(kappa * wmax, np.bincount(inst.pair_j, weights=v, minlength=J))
        heap = [(-float(ub[j]), int(j)) for j in np.flatnonzero(cand & (ub > 1e-12))]
        heapq.heapify(heap)
        while left > 0 and heap:
            neg, j = heapq.heappop(heap)
            if not feasible(j, t):
                continue
            gj = gain(j, t)
            if gj <= 1e-12:
                continue
            if heap and gj < -heap[0][0] - 1e-12:
                heapq.heappush(heap, (-gj, j))
                continue
            place(j, t)
            if feasible(j, t):
                heapq.heappush(heap, (-gain(j, t), j))
    keys = list(flows.keys())
    fp = np.array([k[0] for k in keys], dtype="int64")
    ft = np.array([k[1] for k in keys], dtype="int64")
    fv = np.array([flows[k] for k in keys], dtype="float64")
    return Solution(n=n, flow_p=fp, flow_t=ft, flow_v=fv, objective=float(objective), bound=np.inf,
                    seconds=time.perf_counter() - t0, method="greedy", status="heuristic")


# -- MIP --------------------------------------------------------------------------------------------
def solve_mip(inst: Instance, *, time_limit_s: float = 60.0, mip_rel_gap: float = 0.01,
              warm: Solution | None = None, threads: int | None = None, relax: bool = False,
              strong: bool = True, coverage: bool | None = None, lp_solver: str | None = None) -> Solution:
    r"""Build the model of :class:`PlacementModel` for ``inst`` and solve it with HiGHS (``relax``: its LP
    relaxation, whose optimum is an upper bound). ``strong`` adds the per-pair linking rows (the strong
    formulation, same integer optimum, tighter LP); ``strong=False`` is the aggregated model alone.

    ``coverage`` (None: whenever it is exact, with ``strong``): when one EVSE at any site serves all the
    demand that can reach it (:math:`\kappa \ge \sum_{i \to j} q_i` for every site), the flows are
    replaced by the covered demand :math:`z_{it} \le q_i`, :math:`z_{it} \le q_i \sum_{j \to i} o_{jt}`
    (the classic maximal-covering rows): the same integer optimum and the same LP bound as the strong
    flow model (its per-pair rows imply the site rows then), with one row per demand point and year
    instead of one per pair and year. Each covered point is then served at one open site in reach."""
    t0 = time.perf_counter()
    J, T, I = inst.J, inst.T, inst.I  # noqa: E741
    P = len(inst.pair_i)
    # flow columns: one per pair and year >= arrival
    a_p = inst.arrive[inst.pair_i]
    reps = np.maximum(0, inst.dep()[inst.pair_i] - a_p)
    f_pair = np.repeat(np.arange(P), reps)
    f_t = (np.arange(len(f_pair)) - np.repeat(np.cumsum(reps) - reps, reps)) + np.repeat(a_p, reps)
    if coverage is None:
        load = np.bincount(inst.pair_j, weights=inst.q[inst.pair_i], minlength=J)
        coverage = bool(strong and P and (inst.kappa >= load - 1e-9).all())
    coverage = bool(coverage and strong)
    if coverage:  # the columns are z_it (demand i, year t), not flows
        zi = np.unique(inst.pair_i)
        zr = np.maximum(0, inst.dep()[zi] - inst.arrive[zi])
        z_i = np.repeat(zi, zr)
        z_t = (np.arange(len(z_i)) - np.repeat(np.cumsum(zr) - zr, zr)) + np.repeat(inst.arrive[zi], zr)
        F = len(z_i)
    else:
        F = len(f_pair)
    off_y = J * T
    off_o = off_y + J  # strong: o_jt, "site j has an EVSE by year t" (continuous in [0, 1])
    off_f = off_o + (J * T if strong else 0)
    ncol = off_f + F
    lower = np.zeros(ncol)
    upper = np.zeros(ncol)
    has_pairs = np.zeros(J, dtype=bool)
    has_pairs[inst.pair_j] = True
    usable = inst.allowed & has_pairs[:, None]
    if inst.forbid_open is not None:
        usable &= ~inst.forbid_open[:, None]
    upper[:off_y] = np.where(usable, inst.max_evses[:, None], 0).ravel()
    upper[off_y:off_o] = np.where(usable.any(axis=1), 1.0, 0.0)
    if strong:
        upper[off_o:off_f] = np.repeat(upper[off_y:off_o], T)
    col_i = z_i if coverage else inst.pair_i[f_pair]
    upper[off_f:] = inst.q[col_i]
    cost = np.zeros(ncol)
    cost[off_f:] = inst.w[col_i]
    integrality = np.zeros(ncol, dtype="int64")
    integrality[:off_o] = 1
    rows, cols, vals, rlo, rup = [], [], [], [], []
    nrow = 0

    def add(r, c, v):
        rows.append(np.asarray(r, dtype="int64"))
        cols.append(np.asarray(c, dtype="int64"))
        vals.append(np.asarray(v, dtype="float64"))

    if coverage:
        # z_it - q_i sum_{j -> i} o_jt <= 0 (rows (1), (2) and the flow links are not needed)
        po = np.argsort(inst.pair_i, kind="stable")
        ps = inst.pair_i[po]
        lo = np.searchsorted(ps, z_i)
        deg = np.searchsorted(ps, z_i, side="right") - lo
        kk = np.repeat(np.arange(F), deg)
        pp = po[np.repeat(lo, deg) + (np.arange(deg.sum()) - np.repeat(np.cumsum(deg) - deg, deg))]
        add(nrow + np.arange(F), off_f + np.arange(F), np.ones(F))
        add(nrow + kk, off_o + inst.pair_j[pp] * T + z_t[kk], -inst.q[z_i[kk]])
        rlo.append(np.full(F, -np.inf))
        rup.append(np.zeros(F))
        nrow += F
    # (1) demand: sum_j f_ijt <= q_i
    if coverage:
        f_pair = f_pair[:0]
        f_t = f_t[:0]
    Fd = len(f_pair)
    key1 = inst.pair_i[f_pair] * T + f_t
    u1, r1 = np.unique(key1, return_inverse=True)
    add(nrow + r1, off_f + np.arange(Fd), np.ones(Fd))
    rlo.append(np.full(len(u1), -np.inf))
    rup.append(inst.q[u1 // T])
    nrow += len(u1)
    # (2) site capacity per year: sum_i f_ijt - kappa * sum_{t'<=t} n_jt' <= 0
    key2 = inst.pair_j[f_pair] * T + f_t
    u2, r2 = np.unique(key2, return_inverse=True)
    add(nrow + r2, off_f + np.arange(Fd), np.ones(Fd))
    jj, tt = u2 // T, u2 % T
    rep = tt + 1
    rr = np.repeat(np.arange(len(u2)), rep)
    tprime = np.arange(rep.sum()) - np.repeat(np.cumsum(rep) - rep, rep)
    add(nrow + rr, np.repeat(jj, rep) * T + tprime, np.full(len(rr), -inst.kappa))
    rlo.append(np.full(len(u2), -np.inf))
    rup.append(np.zeros(len(u2)))
    nrow += len(u2)
    # (3) sum_t n_jt - m_j y_j <= 0
    add(nrow + np.repeat(np.arange(J), T), np.arange(J * T), np.ones(J * T))
    add(nrow + np.arange(J), off_y + np.arange(J), -inst.max_evses.astype("float64"))
    rlo.append(np.full(J, -np.inf))
    rup.append(np.zeros(J))
    nrow += J
    # (4) yearly budgets
    add(nrow + np.tile(np.arange(T), J), np.arange(J * T), np.ones(J * T))
    rlo.append(np.full(T, -np.inf))
    rup.append(inst.budget.astype("float64"))
    nrow += T
    capped = np.flatnonzero((inst.gm_budget < BIG).any(axis=1))
    for g in capped:
        sj = np.flatnonzero(inst.site_gm == g)
        add(nrow + np.tile(np.arange(T), len(sj)), (sj[:, None] * T + np.arange(T)[None, :]).ravel(),
            np.ones(len(sj) * T))
        rlo.append(np.full(T, -np.inf))
        rup.append(inst.gm_budget[g].astype("float64"))
        nrow += T
    # (5) connections and (6) areas (cumulative kW)
    for idx_arr, caps in ((inst.conn, inst.conn_cap_kw), (np.where(inst.conn < 0, inst.area, -1), inst.area_cap_kw)):
        sj = np.flatnonzero(idx_arr >= 0)
        if len(sj) == 0:
            continue
        used, rid = np.unique(idx_arr[sj], return_inverse=True)
        add(nrow + np.repeat(rid, T), (sj[:, None] * T + np.arange(T)[None, :]).ravel(),
            np.repeat(inst.kw_per_evse[sj], T))
        rlo.append(np.full(len(used), -np.inf))
        rup.append(caps[used].astype("float64"))
        nrow += len(used)
    # (7) spacing
    S = len(inst.spacing)
    if S:
        add(nrow + np.repeat(np.arange(S), 2), off_y + inst.spacing.ravel(), np.ones(2 * S))
        rlo.append(np.full(S, -np.inf))
        rup.append(np.ones(S))
        nrow += S
    if strong:
        nrow += _strong_rows(inst, add, rlo, rup, nrow, f_pair, f_t, off_y, off_o, off_f)  # no flows: coverage
    R = np.concatenate(rows)
    Cc = np.concatenate(cols)
    V = np.concatenate(vals)
    o = np.argsort(R, kind="stable")
    R, Cc, V = R[o], Cc[o], V[o]
    start = np.searchsorted(R, np.arange(nrow + 1))

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(max(time_limit_s, 0.1)))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    if relax and lp_solver:  # e.g. "ipm": measured no faster than HiGHS's default on the covering LPs
        h.setOptionValue("solver", lp_solver)
    if threads:
        h.setOptionValue("threads", int(threads))
    lp = highspy.HighsLp()
    lp.num_col_ = ncol
    lp.num_row_ = nrow
    lp.col_cost_ = cost
    lp.col_lower_ = lower
    lp.col_upper_ = upper
    lp.row_lower_ = np.concatenate(rlo)
    lp.row_upper_ = np.concatenate(rup)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = start
    lp.a_matrix_.index_ = Cc
    lp.a_matrix_.value_ = V
    lp.a_matrix_.num_col_ = ncol
    lp.a_matrix_.num_row_ = nrow
    if not relax:
        lp.integrality_ = [highspy.HighsVarType.kInteger if k else highspy.HighsVarType.kContinuous
                           for k in integrality]
    h.passModel(lp)
    if warm is not None and ncol:
        x = np.zeros(ncol)
        x[:off_y] = warm.n.ravel()
        x[off_y:off_o] = (warm.n.sum(axis=1) > 0).astype(float)
        if strong:
            x[off_o:off_f] = (np.cumsum(warm.n, axis=1) > 0).astype(float).ravel()
        if coverage and len(warm.flow_p):
            served = {}
            for p, t, v in zip(inst.pair_i[warm.flow_p], warm.flow_t, warm.flow_v):
                served[(int(p), int(t))] = served.get((int(p), int(t)), 0.0) + v
            for k, (i, t) in enumerate(zip(z_i, z_t)):
                x[off_f + k] = min(served.get((int(i), int(t)), 0.0), inst.q[i])
        elif len(warm.flow_p):
            fmap = {(int(p), int(t)): k for k, (p, t) in enumerate(zip(f_pair, f_t))}
            for p, t, v in zip(warm.flow_p, warm.flow_t, warm.flow_v):
                k = fmap.get((int(p), int(t)))
                if k is not None:
                    x[off_f + k] += v
        sol0 = highspy.HighsSolution()
        sol0.col_value = list(x)
        sol0.value_valid = True
        h.setSolution(sol0)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    sol = h.getSolution()
    if not sol.value_valid:
        log.info("HiGHS found no solution (%s)", status)
        return Solution(n=np.zeros((J, T), dtype="int64"), flow_p=np.zeros(0, "int64"), flow_t=np.zeros(0, "int64"),
                        flow_v=np.zeros(0), objective=0.0, bound=_trivial_bound(inst),
                        seconds=time.perf_counter() - t0, method="lp" if relax else "mip", status=status)
    x = np.asarray(sol.col_value)
    if relax:
        obj = float(info.objective_function_value)
        return Solution(n=np.zeros((J, T), dtype="int64"), flow_p=np.zeros(0, "int64"), flow_t=np.zeros(0, "int64"),
                        flow_v=np.zeros(0), objective=obj, bound=obj if status == "Optimal" else np.inf,
                        seconds=time.perf_counter() - t0, method="lp", status=status,
                        n_frac=x[:off_y].reshape(J, T))
    n = np.rint(x[:off_y]).astype("int64").reshape(J, T)
    fv = x[off_f:]
    nz = fv > 1e-9
    obj = float((cost[off_f:] * fv).sum())
    if coverage:  # serve each covered point at its first site in reach with an EVSE by then
        f_pair, f_t, fv = _cover_flows(inst, n, z_i[nz], z_t[nz], fv[nz])
        nz = np.ones(len(fv), dtype=bool)
        obj = float((inst.w[inst.pair_i[f_pair]] * fv).sum())
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else _trivial_bound(inst)
    out = Solution(n=n, flow_p=f_pair[nz], flow_t=f_t[nz], flow_v=fv[nz], objective=obj, bound=max(bound, obj),
                   seconds=time.perf_counter() - t0, method="mip", status=status)
    return trim(inst, out)


def linked_sites(inst: Instance) -> np.ndarray:
    r"""Sites that get the per-pair links of the strong formulation: those where one EVSE serves all the
    demand that can reach them (:math:`\kappa \ge \sum_{i \to j} q_i`). There the aggregated capacity
    row says nothing and the LP relaxation, without the links, serves all nearby demand from a sliver of
    a site. At capacitated sites the capacity row binds and the links would add a row per flow (measured:
    the demo region's LP went from seconds to over a minute) for little bound."""
    load = np.bincount(inst.pair_j, weights=inst.q[inst.pair_i], minlength=inst.J)
    return inst.kappa >= load - 1e-9


def _strong_rows(inst: Instance, add, rlo: list, rup: list, nrow: int, f_pair: np.ndarray, f_t: np.ndarray,
                 off_y: int, off_o: int, off_f: int) -> int:
    r"""The linking rows of the strong formulation (columns ``o_jt`` at ``off_o + j T + t``) at the
    :func:`linked_sites`, and :math:`y_j \le \sum_t n_{jt}` at every site; returns their count.

    .. math::

        o_{jt} \le y_j, \quad o_{jt} \le \textstyle\sum_{t' \le t} n_{jt'}, \quad
        y_j \le \textstyle\sum_t n_{jt}, \quad f_{ijt} \le \min(q_i, \kappa m_j)\, o_{jt}

    Valid for every integer plan (with :math:`o_{jt} = 1` exactly when :math:`j` has an EVSE by year
    :math:`t`, and :math:`y_j = 1` only at sites that get EVSEs, which costs nothing), so the integer
    optimum is the same as without them; the LP relaxation can no longer serve demand :math:`i` at a site
    that is only a fraction open, which is what made the aggregated row alone weak."""
    J, T = inst.J, inst.T
    JT = J * T
    k0 = nrow
    lj = np.flatnonzero(linked_sites(inst))
    jt = (lj[:, None] * T + np.arange(T)[None, :]).ravel()
    L = len(jt)
    # o_jt - y_j <= 0
    add(k0 + np.arange(L), off_o + jt, np.ones(L))
    add(k0 + np.arange(L), off_y + jt // T, -np.ones(L))
    # o_jt - sum_{t' <= t} n_jt' <= 0
    k1 = k0 + L
    add(k1 + np.arange(L), off_o + jt, np.ones(L))
    rep = jt % T + 1
    rr = np.repeat(np.arange(L), rep)
    tprime = np.arange(rep.sum()) - np.repeat(np.cumsum(rep) - rep, rep)
    add(k1 + rr, (jt[rr] // T) * T + tprime, -np.ones(len(rr)))
    # y_j - sum_t n_jt <= 0 (every site)
    k2 = k1 + L
    add(k2 + np.arange(J), off_y + np.arange(J), np.ones(J))
    add(k2 + np.arange(JT) // T, np.arange(JT), -np.ones(JT))
    # f_ijt - min(q_i, kappa m_j) o_jt <= 0 at the linked sites
    k3 = k2 + J
    keep = np.isin(inst.pair_j[f_pair], lj)
    fk = np.flatnonzero(keep)
    F = len(fk)
    i, j = inst.pair_i[f_pair[fk]], inst.pair_j[f_pair[fk]]
    u = np.minimum(inst.q[i], inst.kappa * inst.max_evses[j])
    add(k3 + np.arange(F), off_f + fk, np.ones(F))
    add(k3 + np.arange(F), off_o + j * T + f_t[fk], -u)
    cnt = 2 * L + J + F
    rlo.append(np.full(cnt, -np.inf))
    rup.append(np.zeros(cnt))
    return cnt


def _cover_flows(inst: Instance, n: np.ndarray, zi: np.ndarray, zt: np.ndarray, zv: np.ndarray):
    """Flows of a coverage solution: each covered (i, t) at the first pair whose site has an EVSE by t."""
    built = np.cumsum(n, axis=1) > 0
    po = np.argsort(inst.pair_i, kind="stable")
    ps = inst.pair_i[po]
    fp, ft, fv = [], [], []
    for i, t, v in zip(zi.tolist(), zt.tolist(), zv.tolist()):
        for p in po[np.searchsorted(ps, i):np.searchsorted(ps, i, side="right")]:
            if built[inst.pair_j[p], t]:
                fp.append(p)
                ft.append(t)
                fv.append(min(v, float(inst.q[i])))
                break
    return np.array(fp, dtype="int64"), np.array(ft, dtype="int64"), np.array(fv, dtype="float64")


def trim(inst: Instance, sol: Solution) -> Solution:
    """Remove EVSEs that serve nothing (never move one): going back from the last year, drop as many of
    a year's EVSEs as every later year's flows leave unused. Fewer EVSEs keep every constraint."""
    J, T = inst.J, inst.T
    used = np.zeros((J, T))
    np.add.at(used, (inst.pair_j[sol.flow_p], sol.flow_t), sol.flow_v)
    need = np.ceil(used / inst.kappa - 1e-6).astype("int64")
    n = sol.n.copy()
    cum = np.cumsum(n, axis=1)
    for t in range(T - 1, -1, -1):
        slack = (cum[:, t:] - need[:, t:]).min(axis=1)
        r = np.clip(np.minimum(n[:, t], slack), 0, None)
        n[:, t] -= r
        cum[:, t:] -= r[:, None]
    sol.n = n
    return sol


def _trivial_bound(inst: Instance) -> float:
    """Every piece of demand that some site can reach, served in every year of it."""
    reach = np.zeros(inst.I, dtype=bool)
    reach[inst.pair_i] = True
    return float((inst.w * inst.q * (inst.dep() - inst.arrive))[reach].sum())
