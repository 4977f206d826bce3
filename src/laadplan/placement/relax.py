r"""A certified upper bound and an LP-rounding plan for placement instances too large for the MIP.

The bound is the LP relaxation of the whole :class:`~laadplan.placement.optimise.PlacementModel`, made
exactly smaller and slightly stronger, with the yearly budget rows dualised so that the rest falls apart
into independent blocks (sites linked by shared demand, a connection, an area or spacing).

Why the bound is valid. Write the (reduced) model as :math:`\max c^\top x` s.t. :math:`Ax \le b`,
:math:`0 \le x \le u` (every row of the model is a ``<=`` row with a finite right-hand side, every
column has bounds :math:`[0, u_j]`). For any row prices :math:`y \ge 0` and any such :math:`x` with
:math:`Ax \le b`:

.. math::

    c^\top x = y^\top A x + (c - A^\top y)^\top x \le y^\top b + \sum_j u_j \max(0, (c - A^\top y)_j).

The right-hand side, :meth:`RelaxedModel.dual_bound`, is therefore an upper bound on every plan that
satisfies the rows, whatever :math:`y \ge 0` is, and however accurately a solver computed it. We take
:math:`y` = the budget prices :math:`\lambda_t` on the yearly budget rows and the magnitudes of HiGHS's
row duals of each block LP solved with the n-column costs :math:`-\lambda_t`. At the best
:math:`\lambda` this is the LP optimum of the whole model (LP duality); at any other :math:`\lambda` it
is a weaker but still valid bound. :math:`\lambda` is chosen by a cutting-plane search on the convex
function :math:`L(\lambda) = \sum_\text{blocks} \text{LP}(\lambda) + \lambda^\top B` (the subgradient
is :math:`B - \text{usage}`), warm-starting every block from its last basis.

Every integer plan of the model satisfies the rows of the reduced LP, because the reductions only
* drop columns the model fixes at zero: EVSEs at a site in a year without a grid route, at a site whose
  connection or area cannot take one EVSE, at a site no demand reaches (sites the decomposition forbids);
* drop flows :math:`f_{ijt}` in years before site :math:`j`'s first year with a grid route (its capacity
  row :math:`\sum_i f_{ijt} \le \kappa \sum_{t' \le t} n_{jt'}` forces them to zero);
* round capacity rows whose sites all draw the same :math:`p` kW per EVSE down to a count of EVSEs,
  :math:`\sum n \le \lfloor C / p \rfloor` (valid for integer :math:`n`: a Chvatal-Gomory cut).
So the bound holds for the optimum of the whole problem, not only of a decomposed one.

The LP carries the linking rows of the strong formulation (``ROW_LINK``: :math:`o_{jt} \le y_j`,
:math:`o_{jt} \le \sum_{t' \le t} n_{jt'}`, :math:`y_j \le \sum_t n_{jt}`,
:math:`f_{ijt} \le \min(q_i, \kappa m_j) o_{jt}`; see :func:`laadplan.placement.optimise._strong_rows`):
they keep every integer plan, so the bound argument above is unchanged, and they stay inside the blocks.

The plan: round the LP's cumulative EVSEs per site down, to nearest and up, hand each to the greedy
heuristic as its start (it drops what breaks a budget, capacity or spacing and fills what is left), keep
the best, compute the best flows for those EVSEs exactly with the same block LPs (EVSE counts fixed,
budget rows not needed), and warm-start the MIP of the whole instance from it for the time left.
"""

from __future__ import annotations

import ctypes
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import highspy
import numpy as np

from laadplan.placement.optimise import BIG, Instance, Solution, greedy, linked_sites, trim

log = logging.getLogger(__name__)

ROW_DEMAND, ROW_SITE, ROW_OPEN, ROW_CAPACITY, ROW_SPACING, ROW_GM_BUDGET, ROW_BUDGET, ROW_LINK = range(8)


@dataclass
class Evaluation:
    """One solve of every block at budget prices ``lam``."""

    lam: np.ndarray
    bound: float  # certified: dual_bound of the block duals and lam
    value: float  # sum of block LP optima + lam . B (equals ``bound`` up to solver tolerance)
    usage: np.ndarray  # EVSEs per year in the LP solution
    x: np.ndarray
    optimal: bool  # every block solved to optimality


def _release_memory() -> None:
    """Hand freed heap back to the OS (glibc keeps it per thread arena otherwise; peak memory matters)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


class _Bundle:
    """Independent blocks solved as one block-diagonal LP, restarted from its last optimal basis."""

    def __init__(self, cols: np.ndarray, rows: np.ndarray, lp: "RelaxedModel", ent: np.ndarray):
        self.cols, self.rows = cols, rows
        cmap = np.full(lp.ncol, -1, dtype="int64")
        cmap[cols] = np.arange(len(cols))
        rmap = np.full(lp.nrow, -1, dtype="int64")
        rmap[rows] = np.arange(len(rows))
        r, c, v = rmap[lp.R[ent]], cmap[lp.C[ent]], lp.V[ent]
        o = np.argsort(r, kind="stable")
        r, c, v = r[o], c[o], v[o]
        is_n = cols < lp.ncol_n
        self.n_local = np.flatnonzero(is_n).astype("int32")
        self.n_year = lp.n_t[cols[is_n]]
        self.cost0 = lp.cost[cols]
        self.basis = None
        self.seconds = 0.0
        self.cost = self.cost0.copy()
        self.upper = lp.upper[cols].copy()
        self.rup = lp.rup[rows]
        self.start = np.searchsorted(r, np.arange(len(rows) + 1))
        self.index, self.value = c.astype("int32"), v

    def _highs(self) -> highspy.Highs:
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        m = highspy.HighsLp()
        m.num_col_, m.num_row_ = len(self.cols), len(self.rows)
        m.col_cost_ = self.cost
        m.col_lower_ = np.zeros(len(self.cols))
        m.col_upper_ = self.upper
        m.row_lower_ = np.full(len(self.rows), -np.inf)
        m.row_upper_ = self.rup
        m.sense_ = highspy.ObjSense.kMaximize
        m.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        m.a_matrix_.start_ = self.start
        m.a_matrix_.index_ = self.index
        m.a_matrix_.value_ = self.value
        m.a_matrix_.num_col_, m.a_matrix_.num_row_ = len(self.cols), len(self.rows)
        h.passModel(m)
        return h

    def run(self, time_limit_s: float):
        """Solve from the last optimal basis. A fresh HiGHS object per run, dropped afterwards: kept
        alive, the simplex data of ~1,000 blocks would hold GBs; the basis alone restarts them."""
        h = self._highs()
        h.setOptionValue("time_limit", float(max(time_limit_s, 0.05)))
        if self.basis is not None:
            h.setBasis(self.basis)
        t = time.perf_counter()
        h.run()
        self.seconds = time.perf_counter() - t
        ok = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
        sol = h.getSolution()
        x = np.asarray(sol.col_value) if sol.value_valid else np.zeros(len(self.cols))
        y = np.abs(np.asarray(sol.row_dual)) if sol.dual_valid else np.zeros(len(self.rows))
        basis = h.getBasis()
        self.basis = basis if basis.valid and ok else self.basis
        del h
        _release_memory()
        return ok, x, y


class RelaxedModel:
    """The reduced LP relaxation of an :class:`Instance`, split into blocks (see the module docstring)."""

    def __init__(self, inst: Instance, *, bundle_cols: int = 30_000, strong: bool = True):
        self.inst = inst
        self.strong = strong
        self._build(inst)
        self._blocks(bundle_cols)

    # -- the LP -----------------------------------------------------------------------------------
    def _build(self, inst: Instance) -> None:
        J, T = inst.J, inst.T
        kw = inst.kw_per_evse
        area_of = np.where(inst.conn < 0, inst.area, -1)
        cap_k = np.r_[inst.conn_cap_kw, np.inf][inst.conn]
        cap_a = np.r_[inst.area_cap_kw, np.inf][area_of]
        has = np.zeros(J, dtype=bool)
        has[inst.pair_j] = True
        ok_site = has & (cap_k >= kw - 1e-9) & (cap_a >= kw - 1e-9) & (inst.max_evses > 0)
        if inst.forbid_open is not None:
            ok_site &= ~inst.forbid_open
        allowed = inst.allowed & ok_site[:, None]
        first = np.where(allowed.any(axis=1), allowed.argmax(axis=1), T)
        live = first < T
        n_j, n_t = np.nonzero(allowed)
        ncol_n = len(n_j)
        y_site = np.flatnonzero(live)
        y_col = np.full(J, -1, dtype="int64")
        y_col[y_site] = ncol_n + np.arange(len(y_site))
        off_o = ncol_n + len(y_site)
        # strong: o_jt (site j has an EVSE by year t) for live sites from their first year
        o_cnt = np.where(live & linked_sites(inst), T - first, 0) if self.strong else np.zeros(J, dtype="int64")
        o_j = np.repeat(np.arange(J), o_cnt)
        o_t = np.arange(o_cnt.sum()) - np.repeat(np.cumsum(o_cnt) - o_cnt, o_cnt) + np.repeat(first, o_cnt)
        o_col = np.full((J, T), -1, dtype="int64")
        o_col[o_j, o_t] = off_o + np.arange(len(o_j))
        off_f = off_o + len(o_j)
        P = np.flatnonzero(live[inst.pair_j])
        a_p = np.maximum(inst.arrive[inst.pair_i[P]], first[inst.pair_j[P]])
        reps = np.maximum(0, inst.dep()[inst.pair_i[P]] - a_p)
        f_pair = np.repeat(P, reps)
        f_t = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps) + np.repeat(a_p, reps)
        F = len(f_pair)
        self.ncol = off_f + F
        self.upper = np.concatenate([inst.max_evses[n_j].astype("float64"), np.ones(len(y_site)), np.ones(len(o_j)),
                                     inst.q[inst.pair_i[f_pair]]])
        self.cost = np.concatenate([np.zeros(off_f), inst.w[inst.pair_i[f_pair]]])
        R, C, V, rup, kind = [], [], [], [], []
        nrow = 0

        def rows(r, c, v, rhs, k):
            nonlocal nrow
            R.append(nrow + np.asarray(r, dtype="int64"))
            C.append(np.asarray(c, dtype="int64"))
            V.append(np.asarray(v, dtype="float64"))
            if rhs is not None:
                rup.append(np.asarray(rhs, dtype="float64"))
                kind.append(np.full(len(rhs), k, dtype="int8"))
                nrow += len(rhs)

        fcols = off_f + np.arange(F)
        # demand: sum_j f_ijt <= q_i
        u, r = np.unique(inst.pair_i[f_pair] * T + f_t, return_inverse=True)
        rows(r, fcols, np.ones(F), inst.q[u // T], ROW_DEMAND)
        # site capacity: sum_i f_ijt - kappa sum_{t' <= t} n_jt' <= 0
        u, r = np.unique(inst.pair_j[f_pair] * T + f_t, return_inverse=True)
        n_col = np.full((J, T), -1, dtype="int64")
        n_col[n_j, n_t] = np.arange(ncol_n)
        jj, tt = u // T, u % T
        rr, cc = np.nonzero((np.arange(T)[None, :] <= tt[:, None]) & (n_col[jj] >= 0))
        rows(rr, n_col[jj[rr], cc], np.full(len(rr), -inst.kappa), None, ROW_SITE)
        rows(r, fcols, np.ones(F), np.zeros(len(u)), ROW_SITE)
        # sum_t n_jt <= m_j y_j
        rows(np.searchsorted(y_site, n_j), np.arange(ncol_n), np.ones(ncol_n), None, ROW_OPEN)
        rows(np.arange(len(y_site)), y_col[y_site], -inst.max_evses[y_site].astype("float64"),
             np.zeros(len(y_site)), ROW_OPEN)
        # connections and areas (EVSE counts where the sites share one kW per EVSE)
        for idx_arr, caps in ((inst.conn, inst.conn_cap_kw), (area_of, inst.area_cap_kw)):
            m = idx_arr[n_j] >= 0
            if not m.any():
                continue
            used, rid = np.unique(idx_arr[n_j][m], return_inverse=True)
            coef = kw[n_j][m]
            pmin = np.full(len(used), np.inf)
            pmax = np.zeros(len(used))
            np.minimum.at(pmin, rid, coef)
            np.maximum.at(pmax, rid, coef)
            same = (pmax - pmin) <= 1e-12 * np.maximum(pmax, 1.0)
            rhs = np.where(same, np.floor(caps[used] / np.where(same, pmin, 1.0) + 1e-9), caps[used])
            rows(rid, np.flatnonzero(m), np.where(same[rid], 1.0, coef), rhs, ROW_CAPACITY)
        # spacing: y_j + y_j' <= 1
        sp = inst.spacing[live[inst.spacing[:, 0]] & live[inst.spacing[:, 1]]] if len(inst.spacing) else \
            np.zeros((0, 2), dtype="int64")
        rows(np.repeat(np.arange(len(sp)), 2), y_col[sp.ravel()], np.ones(2 * len(sp)), np.ones(len(sp)),
             ROW_SPACING)
        # per-municipality yearly budgets (kept inside the blocks)
        for g in np.flatnonzero((inst.gm_budget < BIG).any(axis=1)):
            m = np.flatnonzero(inst.site_gm[n_j] == g)
            rows(n_t[m], m, np.ones(len(m)), inst.gm_budget[g].astype("float64"), ROW_GM_BUDGET)
        if self.strong:  # the linking rows of the strong formulation (optimise._strong_rows)
            k = len(o_j)
            # o_jt - y_j <= 0
            rows(np.arange(k), o_col[o_j, o_t], np.ones(k), None, ROW_LINK)
            rows(np.arange(k), y_col[o_j], -np.ones(k), np.zeros(k), ROW_LINK)
            # o_jt - sum_{t' <= t} n_jt' <= 0
            rr, cc = np.nonzero((np.arange(T)[None, :] <= o_t[:, None]) & (n_col[o_j] >= 0))
            rows(np.arange(k), o_col[o_j, o_t], np.ones(k), None, ROW_LINK)
            rows(rr, n_col[o_j[rr], cc], -np.ones(len(rr)), np.zeros(k), ROW_LINK)
            # y_j - sum_t n_jt <= 0
            rows(np.searchsorted(y_site, n_j), np.arange(ncol_n), -np.ones(ncol_n), None, ROW_LINK)
            rows(np.arange(len(y_site)), y_col[y_site], np.ones(len(y_site)), np.zeros(len(y_site)), ROW_LINK)
            # f_ijt - min(q_i, kappa m_j) o_jt <= 0 at the linked sites
            fk = np.flatnonzero(o_col[inst.pair_j[f_pair], f_t] >= 0)
            fi, fj = inst.pair_i[f_pair[fk]], inst.pair_j[f_pair[fk]]
            u = np.minimum(inst.q[fi], inst.kappa * inst.max_evses[fj])
            rows(np.arange(len(fk)), fcols[fk], np.ones(len(fk)), None, ROW_LINK)
            rows(np.arange(len(fk)), o_col[fj, f_t[fk]], -u, np.zeros(len(fk)), ROW_LINK)
        # the yearly budget rows, dualised: they link every block
        self.budget_row0 = nrow
        rows(n_t, np.arange(ncol_n), np.ones(ncol_n), inst.budget.astype("float64"), ROW_BUDGET)
        self.nrow = nrow
        self.R, self.C, self.V = np.concatenate(R), np.concatenate(C), np.concatenate(V)
        self.rup, self.kind = np.concatenate(rup), np.concatenate(kind)
        self.ncol_n, self.n_j, self.n_t = ncol_n, n_j, n_t
        self.off_f, self.f_pair, self.f_t = off_f, f_pair, f_t

    def _blocks(self, bundle_cols: int) -> None:
        """Connected components of the LP without the budget rows, grouped into bundles of about
        ``bundle_cols`` columns (a large block is a bundle of its own)."""
        self.bundles: list[_Bundle] = []
        self.n_blocks = 0
        if self.ncol == 0:  # no site can take an EVSE
            return
        keep = self.kind[self.R] != ROW_BUDGET
        r, c = self.R[keep], self.C[keep]
        lab = np.arange(self.ncol)
        while True:  # label propagation through the rows, with pointer jumping
            rowmin = np.full(self.nrow, self.ncol)
            np.minimum.at(rowmin, r, lab[c])
            new = lab.copy()
            np.minimum.at(new, c, rowmin[r])
            new = new[new]
            new = new[new]
            if np.array_equal(new, lab):
                break
            lab = new
        row_lab = np.full(self.nrow, -1, dtype="int64")
        row_lab[r] = lab[c]
        comps, sizes = np.unique(lab, return_counts=True)
        # bundles: largest first, small components packed together
        order = np.argsort(-sizes, kind="stable")
        bundle_of = np.empty(len(comps), dtype="int64")
        b, fill = -1, bundle_cols
        for k in order:
            if fill >= bundle_cols:
                b, fill = b + 1, 0
            bundle_of[k] = b
            fill += sizes[k]
        col_b = bundle_of[np.searchsorted(comps, lab)]
        row_b = np.where(row_lab >= 0, bundle_of[np.searchsorted(comps, np.maximum(row_lab, 0))], -1)
        ent_b = np.where(keep, col_b[self.C], -1)
        self.n_blocks = len(comps)
        col_o = np.argsort(col_b, kind="stable")
        row_o = np.argsort(row_b, kind="stable")
        ent_o = np.argsort(ent_b, kind="stable")
        cs, rs, es = col_b[col_o], row_b[row_o], ent_b[ent_o]
        for k in range(b + 1):
            cols = col_o[np.searchsorted(cs, k):np.searchsorted(cs, k, side="right")]
            rws = row_o[np.searchsorted(rs, k):np.searchsorted(rs, k, side="right")]
            ent = ent_o[np.searchsorted(es, k):np.searchsorted(es, k, side="right")]
            self.bundles.append(_Bundle(cols, rws, self, ent))

    # -- bounds and solves ------------------------------------------------------------------------
    def dual_bound(self, y: np.ndarray) -> float:
        """:math:`y^\\top b + \\sum_j u_j \\max(0, c_j - (A^\\top y)_j)` for ``y`` clipped at 0: an upper
        bound on the model's optimum for any ``y`` (see the module docstring)."""
        y = np.maximum(np.nan_to_num(y, nan=0.0, posinf=0.0), 0.0)
        aty = np.bincount(self.C, weights=self.V * y[self.R], minlength=self.ncol)
        return float(self.rup @ y + (self.upper * np.maximum(0.0, self.cost - aty)).sum())

    def _run_all(self, deadline: float, threads: int):
        left = lambda: deadline - time.perf_counter()  # noqa: E731
        order = sorted(range(len(self.bundles)), key=lambda k: -len(self.bundles[k].cols))
        x = np.zeros(self.ncol)
        y = np.zeros(self.nrow)
        ok = True
        with ThreadPoolExecutor(max_workers=max(1, threads)) as ex:  # HiGHS releases the GIL while it runs
            futs = [(k, ex.submit(lambda k=k: self.bundles[k].run(left()))) for k in order]
            for k, f in futs:
                bok, bx, by = f.result()
                bd = self.bundles[k]
                x[bd.cols] = bx
                y[bd.rows] = by
                ok &= bok
        return ok, x, y

    def evaluate(self, lam: np.ndarray, deadline: float, threads: int = 2) -> Evaluation:
        lam = np.asarray(lam, dtype="float64")
        for bd in self.bundles:
            bd.cost[bd.n_local] = bd.cost0[bd.n_local] - lam[bd.n_year]
        ok, x, y = self._run_all(deadline, threads)
        y[self.budget_row0:] = lam
        usage = np.bincount(self.n_t, weights=x[:self.ncol_n], minlength=self.inst.T)
        cost = self.cost.copy()
        cost[:self.ncol_n] -= lam[self.n_t]
        value = float(cost @ x + lam @ self.inst.budget)
        return Evaluation(lam=lam, bound=self.dual_bound(y), value=value, usage=usage, x=x, optimal=ok)

    def best_flows(self, n: np.ndarray, deadline: float, threads: int = 2):
        """The best flows for fixed EVSEs ``n`` (J x T): the block LPs with n's columns fixed and their
        original costs. Returns (flow pair, year, value) or None when a block did not finish."""
        fixed = n[self.n_j, self.n_t].astype("float64")
        for bd in self.bundles:
            bd.cost[bd.n_local] = bd.cost0[bd.n_local]
            bd.upper[bd.n_local] = fixed[bd.cols[bd.n_local]]
        ok, x, _ = self._run_all(deadline, threads)
        if not ok:
            return None
        fv = x[self.off_f:]
        nz = fv > 1e-9
        return self.f_pair[nz], self.f_t[nz], fv[nz]


def _model_min(evals: list[Evaluation], B: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[float, np.ndarray]:
    T = len(B)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.addVars(T + 1, np.r_[lo, -np.inf], np.r_[hi, np.inf])
    h.changeColsCost(T + 1, np.arange(T + 1, dtype="int32"), np.r_[np.zeros(T), 1.0])
    for e in evals:
        g = B - e.usage  # theta - g . lam >= L_k - g . lam_k
        h.addRow(e.value - g @ e.lam, np.inf, T + 1, np.arange(T + 1, dtype="int32"), np.r_[-g, 1.0])
    h.run()
    sol = np.asarray(h.getSolution().col_value)
    return float(sol[T]), sol[:T]


def _search_prices(rm: RelaxedModel, deadline: float, threads: int, tol: float, max_iter: int = 30
                   ) -> list[Evaluation]:
    """Cutting-plane search for the budget prices minimising L(lam) (convex; subgradient B - usage),
    with a trust region around the best point. Stops when the best bound is within ``tol`` (relative) of
    the cutting-plane model's minimum (a lower bound on min L), or at the deadline."""
    inst = rm.inst
    T = inst.T
    B = inst.budget.astype("float64")
    lam_max = inst.kappa * T * float(inst.w.max(initial=0.0)) + 1.0
    evals = [rm.evaluate(np.zeros(T), deadline, threads)]
    radius = inst.kappa * float(inst.w.max(initial=1.0))
    for _ in range(max_iter):
        best = min(evals, key=lambda e: e.bound)
        if (best.usage <= B + 1e-6).all() and not best.lam.any():
            break  # the budget does not bind: lam = 0 is optimal
        if time.perf_counter() > deadline:
            break
        # the cutting-plane model: min theta s.t. theta >= L_k + g_k (lam - lam_k); over the whole box its
        # minimum is a lower bound on min L (stopping test), within the trust region it gives the next lam
        box_min, _ = _model_min(evals, B, np.zeros(T), np.full(T, lam_max))
        if best.bound - box_min <= tol * abs(best.bound):
            break
        _, lam_next = _model_min(evals, B, np.maximum(0.0, best.lam - radius), np.minimum(lam_max, best.lam + radius))
        e = rm.evaluate(lam_next, deadline, threads)
        evals.append(e)
        if e.bound < best.bound:
            radius *= 1.5
        else:
            radius *= 0.5
        log.info("budget prices %s: bound %.2f (model minimum %.2f), largest block %.1f s", np.round(lam_next, 4),
                 e.bound, box_min, max((bd.seconds for bd in rm.bundles), default=0.0))
    return evals


def solve_relaxed(inst: Instance, warm: Solution, *, time_limit_s: float, t0: float, threads: int = 2,
                  tol: float = 0.001, strong: bool = True, mip_rel_gap: float = 0.01,
                  polish_max_vars: int = 250_000) -> Solution:
    """The certified bound of the whole instance and the LP-rounding plan (never worse than ``warm``).

    The LP (strong formulation unless ``strong`` is False) gives the MIP's start
    (:func:`~laadplan.placement.optimise.improve_start`: rounded three ways and repaired by the greedy,
    swaps, the MIP on the LP support); the best, with its exact flows, warm-starts the MIP of the whole
    instance for the time left when the instance has at most ``polish_max_vars`` flow (or coverage)
    columns (above that the whole MIP only spent the time: measured on the demo region, no gain and
    the time limit overshot twice over). The bound is the smaller of the LP's dual bound and the
    MIP's, both valid for the whole instance."""
    J, T = inst.J, inst.T
    if len(inst.pair_i) == 0:  # no demand within reach of a site: nothing to serve
        warm.method, warm.bound, warm.bound_source = "greedy", warm.objective, "no demand within reach"
        return warm
    rm = RelaxedModel(inst, strong=strong)
    log.info("relaxed LP: %d columns, %d rows, %d blocks in %d bundles, %.1f s", rm.ncol, rm.nrow, rm.n_blocks,
             len(rm.bundles), time.perf_counter() - t0)
    from laadplan.placement.optimise import _n_cover_vars, _n_flow_vars, improve_start, solve_mip

    polish = (_n_cover_vars(inst) if linked_sites(inst).all() else _n_flow_vars(inst)) <= polish_max_vars
    # the price search may use half the time (three quarters without the MIP); the plan gets the rest
    evals = _search_prices(rm, t0 + (0.5 if polish else 0.75) * time_limit_s, threads, tol)
    best = min(evals, key=lambda e: e.bound)
    # round the LP at the best prices (where it exceeds a budget, the greedy start drops the EVSEs of least gain)
    n_lp = np.zeros((J, T))
    n_lp[rm.n_j, rm.n_t] = best.x[:rm.ncol_n]
    left = lambda: time_limit_s - (time.perf_counter() - t0)  # noqa: E731
    filled, rounding = improve_start(inst, n_lp, warm, best.bound, left)
    flows = rm.best_flows(filled.n, t0 + time_limit_s, threads) if not rounding.startswith("mip") else None
    log.info("exact flows of the plan, %.1f s", time.perf_counter() - t0)
    if flows is not None:
        fp, ft, fv = flows
        sol = Solution(n=filled.n, flow_p=fp, flow_t=ft, flow_v=fv,
                       objective=float((inst.w[inst.pair_i[fp]] * fv).sum()), bound=np.inf, seconds=0.0,
                       method=rounding, status="heuristic")
    else:  # a block did not finish, or a MIP's flows: keep the plan's own (feasible) flows
        sol = filled
        sol.method = rounding
    sol = trim(inst, sol)
    if warm.objective > sol.objective:
        sol = warm
        sol.method = "greedy-fallback"
    lp_bound = best.bound
    bound_src = (f"LP relaxation of the whole model ({'strong' if strong else 'aggregated'} formulation): dual "
                 f"bound of {rm.n_blocks} blocks at yearly budget prices {np.round(best.lam, 4).tolist()} "
                 f"({len(evals)} price iterations)")
    n_blocks = rm.n_blocks
    del rm, evals
    _release_memory()
    left = time_limit_s - (time.perf_counter() - t0)
    if polish and left > 1.0 and lp_bound - sol.objective > 1e-9 * max(1.0, abs(lp_bound)):
        mip = solve_mip(inst, time_limit_s=left, mip_rel_gap=mip_rel_gap, warm=sol, strong=strong)
        log.info("MIP from the rounded plan: %.2f, bound %.2f (%s), %.1f s", mip.objective, mip.bound, mip.status,
                 time.perf_counter() - t0)
        if mip.objective > sol.objective + 1e-9:
            mip.method = sol.method + " + mip"
            sol = mip
        if mip.bound < lp_bound:
            lp_bound = mip.bound
            bound_src = f"HiGHS branch-and-cut dual bound of the whole model ({'strong' if strong else 'aggregated'}" \
                        f" formulation), started from the LP rounding"
    sol.bound = max(lp_bound, sol.objective)
    sol.components = n_blocks
    sol.status = "optimal LP blocks" if best.optimal else "a block hit the time limit"
    sol.bound_source = bound_src
    log.info("relaxed: bound %.2f, plan %.2f (%s), gap %.3f %%", sol.bound, sol.objective, sol.method,
             100 * sol.gap)
    return sol
