r"""Exact size reductions of a placement :class:`~laadplan.placement.optimise.Instance` before it is solved.

Every reduction keeps the optimum: a plan of the reduced instance lifts to a plan of the original with
the same objective (:meth:`Reduction.lift`), and the original's optimum is reached by some plan of the
reduced one. All work is on the sparse pair lists; nothing is ``I x J``.

1. Sites that can never take an EVSE (no year with a grid route, forbidden, ``max_evses`` 0, a
   connection or area that cannot take one EVSE, no demand within reach) are dropped with their pairs.
2. Dominated sites. Site :math:`j` is dominated by :math:`j'` when one EVSE at :math:`j'` serves every
   demand unit that can reach :math:`j'` (:math:`\kappa \ge \sum_{i \to j'} q_i`, the uncapacitated
   case of maximal covering), :math:`j`'s demand is a subset of :math:`j'`'s, :math:`j'` may be built in
   every year :math:`j` may, both are in the same municipality (or no municipality cap exists), neither
   has a spacing conflict, and :math:`j'` draws on no capacity row or on the same row as :math:`j` with
   no more kW per EVSE. Then any plan using :math:`j` is matched by one that moves :math:`j`'s first
   EVSE to :math:`j'` in that year (dropping :math:`j'`'s first EVSE if it came later, and :math:`j`'s
   other EVSEs): no budget or capacity row grows and no demand loses service. Ties (equal sites) keep
   the lowest index, so the relation is a strict partial order and every dropped site has a kept
   dominator.
3. Demand points with the same set of reachable (kept) sites, the same first and last year and the same
   weight are merged into one point with the summed quantity; when every site of the set is uncapacitated
   (as in 2) the weight need not match either (each site then serves all or nothing of the merged point),
   and the merged weight is the quantity-weighted mean. A merged flow is split back in proportion to the
   quantities, which keeps every row and the objective.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from laadplan.placement.optimise import BIG, Instance, Solution

log = logging.getLogger(__name__)

#: Instance fields indexed by site (first axis) and by demand point; extend when a field is added.
SITE_FIELDS = ("site_id", "site_gm", "max_evses", "kw_per_evse", "allowed", "conn", "area", "forbid_open")
DEMAND_FIELDS = ("q", "w", "arrive", "depart")


@dataclass
class Reduction:
    original: Instance
    inst: Instance  # the reduced instance
    site_map: np.ndarray  # reduced site -> original site
    #: original pair -> reduced pair (-1: the pair's site was dropped or its demand cannot be served)
    pair_to_reduced: np.ndarray
    share: np.ndarray  # original pair: its demand's share q_i / q_group of the merged point
    dominated_sites: int = 0
    unusable_sites: int = 0
    merged_demand: int = 0

    def summary(self) -> str:
        o, r = self.original, self.inst
        return (f"{o.J:,} -> {r.J:,} sites ({self.unusable_sites:,} unusable, {self.dominated_sites:,} dominated), "
                f"{o.I:,} -> {r.I:,} demand points, {len(o.pair_i):,} -> {len(r.pair_i):,} pairs")

    def lift(self, sol: Solution) -> Solution:
        """The reduced plan as a plan of the original instance (same objective)."""
        o = self.original
        n = np.zeros((o.J, o.T), dtype="int64")
        n[self.site_map] = sol.n
        # members of each reduced pair: original pairs sorted by their reduced pair
        keep = np.flatnonzero(self.pair_to_reduced >= 0)
        order = keep[np.argsort(self.pair_to_reduced[keep], kind="stable")]
        red_sorted = self.pair_to_reduced[order]
        lo = np.searchsorted(red_sorted, sol.flow_p, side="left")
        hi = np.searchsorted(red_sorted, sol.flow_p, side="right")
        cnt = hi - lo
        k = np.repeat(np.arange(len(sol.flow_p)), cnt)
        pos = np.repeat(lo, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        fp = order[pos]
        fv = sol.flow_v[k] * self.share[fp]
        return dataclasses.replace(sol, n=n, flow_p=fp, flow_t=sol.flow_t[k], flow_v=fv)


def _subset(inst: Instance, sites: np.ndarray, demand_of_pair: np.ndarray, pairs: np.ndarray,
            q: np.ndarray, w: np.ndarray, arrive: np.ndarray, depart: np.ndarray | None) -> Instance:
    """A copy of ``inst`` with the given sites (in order), demand arrays and pairs (demand, reduced site)."""
    new_j = np.full(inst.J, -1, dtype="int64")
    new_j[sites] = np.arange(len(sites))
    fields = {}
    for f in dataclasses.fields(inst):
        v = getattr(inst, f.name)
        if f.name in SITE_FIELDS and v is not None:
            v = v[sites]
        fields[f.name] = v
    sp = inst.spacing
    if len(sp):
        sp = new_j[sp]
        sp = sp[(sp >= 0).all(axis=1)]
    fields.update(spacing=sp.reshape(-1, 2).astype("int64"), q=q, w=w, arrive=arrive, depart=depart,
                  pair_i=demand_of_pair.astype("int64"), pair_j=pairs.astype("int64"))
    return Instance(**fields)


def usable_sites(inst: Instance) -> np.ndarray:
    """Sites that can take at least one EVSE in some year and reach some demand."""
    kw = inst.kw_per_evse
    cap_k = np.r_[inst.conn_cap_kw, np.inf][inst.conn]
    cap_a = np.where(inst.conn < 0, np.r_[inst.area_cap_kw, np.inf][inst.area], np.inf)
    ok = inst.allowed.any(axis=1) & (inst.max_evses > 0) & (cap_k >= kw - 1e-9) & (cap_a >= kw - 1e-9)
    if inst.forbid_open is not None:
        ok &= ~inst.forbid_open
    has = np.zeros(inst.J, dtype=bool)
    has[inst.pair_j] = True
    gm_ok = (inst.gm_budget[inst.site_gm] > 0) if inst.gm_budget.size else np.ones((inst.J, inst.T), dtype=bool)
    ok &= (inst.allowed & gm_ok).any(axis=1) if inst.T else ok
    return ok & has


def dominated_sites(inst: Instance, usable: np.ndarray, site_load: np.ndarray) -> np.ndarray:
    """Mask of sites dominated by a kept site (see the module docstring, reduction 2)."""
    J = inst.J
    P = np.flatnonzero(usable[inst.pair_j])
    pi, pj = inst.pair_i[P], inst.pair_j[P]
    in_spacing = np.zeros(J, dtype=bool)
    if len(inst.spacing):
        in_spacing[inst.spacing.ravel()] = True
    # only uncapacitated sites (one EVSE serves all they reach) without spacing conflicts take part
    elig = usable & ~in_spacing & (inst.kappa >= site_load - 1e-9)
    m = elig[pj]
    pi, pj = pi[m], pj[m]
    if len(pi) == 0:
        return np.zeros(J, dtype=bool)
    deg = np.bincount(pj, minlength=J)
    df = pd.DataFrame({"i": pi, "j": pj})
    # co-reach counts |R(j) & R(j')| by a self-join on the demand point (sparse: sum of degree^2)
    sizes = np.bincount(pi)
    if int((sizes.astype("int64") ** 2).sum()) > 50_000_000:
        log.info("dominance check skipped: the pair self-join would be too large")
        return np.zeros(J, dtype=bool)
    jn = df.merge(df, on="i", suffixes=("", "_d"))
    jn = jn[jn["j"] != jn["j_d"]]
    cnt = jn.groupby(["j", "j_d"], sort=False).size().reset_index(name="c")
    a, b, c = cnt["j"].to_numpy(), cnt["j_d"].to_numpy(), cnt["c"].to_numpy()
    sub = c == deg[a]  # R(a) is a subset of R(b)
    a, b = a[sub], b[sub]
    equal = deg[a] == deg[b]
    # attribute conditions for b to replace a
    gm_capped = bool((inst.gm_budget < BIG).any())
    ok = (inst.allowed[a] <= inst.allowed[b]).all(axis=1)
    if gm_capped:
        ok &= inst.site_gm[a] == inst.site_gm[b]
    row_a = np.where(inst.conn[a] >= 0, inst.conn[a], np.where(inst.area[a] >= 0, -2 - inst.area[a], -1))
    row_b = np.where(inst.conn[b] >= 0, inst.conn[b], np.where(inst.area[b] >= 0, -2 - inst.area[b], -1))
    ok &= (row_b == -1) | ((row_b == row_a) & (inst.kw_per_evse[b] <= inst.kw_per_evse[a] + 1e-12))
    # ties: when a also replaces b (the same demand and interchangeable attributes), the lower index stays
    back = equal & (inst.allowed[b] <= inst.allowed[a]).all(axis=1) & (
        (row_a == -1) | ((row_a == row_b) & (inst.kw_per_evse[a] <= inst.kw_per_evse[b] + 1e-12)))
    ok &= ~back | (b < a)
    out = np.zeros(J, dtype=bool)
    out[a[ok]] = True
    return out


def reduce_instance(inst: Instance, *, dominance: bool = True, merge: bool = True) -> Reduction:
    """Apply the exact reductions of the module docstring."""
    J = inst.J
    usable = usable_sites(inst)
    site_load = np.bincount(inst.pair_j, weights=inst.q[inst.pair_i], minlength=J)
    dom = dominated_sites(inst, usable, site_load) if dominance else np.zeros(J, dtype=bool)
    keep = usable & ~dom
    sites = np.flatnonzero(keep)
    new_j = np.full(J, -1, dtype="int64")
    new_j[sites] = np.arange(len(sites))
    P = np.flatnonzero(keep[inst.pair_j])
    pi, pj = inst.pair_i[P], new_j[inst.pair_j[P]]
    o = np.lexsort((pj, pi))
    P, pi, pj = P[o], pi[o], pj[o]
    dep = inst.dep()
    # demand keys: the reachable site set, years and (unless every site is uncapacitated) the weight
    has = np.bincount(pi, minlength=inst.I) > 0
    uncap = (inst.kappa >= site_load - 1e-9)[inst.pair_j[P]]
    all_uncap = np.ones(inst.I, dtype=bool)
    np.logical_and.at(all_uncap, pi, uncap)
    starts = np.searchsorted(pi, np.arange(inst.I + 1))
    dem = np.flatnonzero(has)
    if merge:
        sets = [pj[starts[i]:starts[i + 1]].tobytes() for i in dem]
        key = pd.DataFrame({"s": sets, "a": inst.arrive[dem], "d": dep[dem],
                            "w": np.where(all_uncap[dem], np.nan, inst.w[dem])})
        grp = key.groupby(["s", "a", "d", "w"], sort=False, dropna=False).ngroup().to_numpy()
    else:
        grp = np.arange(len(dem))
    G = int(grp.max()) + 1 if len(grp) else 0
    g_of = np.full(inst.I, -1, dtype="int64")
    g_of[dem] = grp
    qg = np.bincount(grp, weights=inst.q[dem], minlength=G)
    wq = np.bincount(grp, weights=(inst.w * inst.q)[dem], minlength=G)
    wg = np.divide(wq, qg, out=np.zeros(G), where=qg > 0)
    rep = np.full(G, -1, dtype="int64")
    rep[grp[::-1]] = dem[::-1]  # first member of each group
    arrive_g = inst.arrive[rep]
    depart_g = None if inst.depart is None else inst.depart[rep]
    # reduced pairs: the representative's pairs
    rcnt = starts[rep + 1] - starts[rep]
    ridx = np.repeat(starts[rep], rcnt) + (np.arange(rcnt.sum()) - np.repeat(np.cumsum(rcnt) - rcnt, rcnt))
    red_i = np.repeat(np.arange(G), rcnt)
    red_j = pj[ridx]
    # every original pair (kept site) -> its reduced pair: position of (group, site) among the reduced pairs
    rkey = red_i * max(len(sites), 1) + red_j  # sorted (group, site) as built
    okey = g_of[pi] * max(len(sites), 1) + pj
    p2r = np.full(len(inst.pair_i), -1, dtype="int64")
    pos = np.searchsorted(rkey, okey)
    assert np.array_equal(rkey[pos], okey)
    p2r[P] = pos
    share = np.zeros(len(inst.pair_i))
    share[P] = inst.q[pi] / np.where(qg[g_of[pi]] > 0, qg[g_of[pi]], 1.0)
    red = _subset(inst, sites, red_i, red_j, qg, wg, arrive_g, depart_g)
    r = Reduction(original=inst, inst=red, site_map=sites, pair_to_reduced=p2r, share=share,
                  dominated_sites=int(dom.sum()), unusable_sites=int((~usable).sum()), merged_demand=inst.I - G)
    log.info("reduced: %s", r.summary())
    return r
