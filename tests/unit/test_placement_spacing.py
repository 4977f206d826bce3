"""The spacing rule between the sites of one plan (``placement.min_spacing_m``), checked by brute force over
the plan output, and the spaced candidate sites that let a demand cell's need be met under it."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from laadplan.placement.candidates import spaced_lattice_points
from laadplan.placement.optimise import spacing_conflicts
from laadplan.placement.plan import PlanInputs, make_plan

X0, Y0 = 100_000.0, 450_000.0


def _demand(xy, q, walk=250.0, trigger="request", year=2026):
    n = len(xy)
    q = list(q) if np.ndim(q) else [float(q)] * n
    return pd.DataFrame({"demand_id": [f"d{k}" for k in range(n)], "trigger": trigger,
                         "x_rd": [X0 + a for a, _ in xy], "y_rd": [Y0 + b for _, b in xy], "gm_code": "GM0001",
                         "quantity": q, "weight": 1.0, "year": year, "walk_m": walk,
                         "reason": [f"reason {k}" for k in range(n)], "source_id": "x"})


def _inputs():
    return PlanInputs(locations=pd.DataFrame(columns=["location_id", "x_rd", "y_rd", "gm_code"]))


def _site_xy(res) -> np.ndarray:
    u = res.sites.drop_duplicates("site_id")
    return u[["x_rd", "y_rd"]].to_numpy("float64")


def _pairwise(xy: np.ndarray) -> np.ndarray:
    """Every pairwise distance, by brute force (no spatial index)."""
    return np.array([np.hypot(*(xy[a] - xy[b])) for a, b in itertools.combinations(range(len(xy)), 2)])


def _largest_clump(xy: np.ndarray, link_m: float) -> int:
    """Largest group of sites linked by chains of sites at most ``link_m`` apart (union-find by brute force)."""
    parent = list(range(len(xy)))

    def root(a):
        while parent[a] != a:
            a = parent[a]
        return a

    for a, b in itertools.combinations(range(len(xy)), 2):
        if np.hypot(*(xy[a] - xy[b])) <= link_m + 1e-9:
            parent[root(a)] = root(b)
    sizes = pd.Series([root(a) for a in range(len(xy))]).value_counts()
    return int(sizes.max()) if len(sizes) else 0


@pytest.mark.parametrize("method", ["mip", "greedy"])
def test_default_plan_keeps_min_spacing_and_makes_no_clumps(cfg, method):
    """A 7 x 7 block of requests 100 m apart (2 units each) and three cells of 16 units, planned with the
    default configuration on the generated 100 m candidate grid: no two sites of the plan are closer than
    ``min_spacing_m`` (every pair checked), and none are neighbouring grid points. Before: the rule allowed
    sites 100 m apart on the 100 m grid and the plan opened a clump of adjacent grid sites."""
    pc = cfg.placement
    pc.years = [2026]
    assert pc.min_spacing_m > pc.candidate_grid_m * np.sqrt(2)  # neighbouring grid points conflict
    block = [(100.0 * i, 100.0 * j) for i in range(7) for j in range(7)]
    cells = [(3000.0 + 250, 250.0), (3500.0 + 250, 250.0), (3000.0 + 250, 750.0)]  # 500 m cell centres
    d = pd.concat([_demand(block, 2.0), _demand(cells, 16.0, trigger="forecast")], ignore_index=True)
    d["demand_id"] = [f"d{k}" for k in range(len(d))]
    res = make_plan(_inputs(), cfg, demand=d, method=method)
    xy = _site_xy(res)
    assert len(xy) >= 10
    dist = _pairwise(xy)
    assert dist.min() >= pc.min_spacing_m - 1e-6
    assert dist.min() > pc.candidate_grid_m * np.sqrt(2)
    assert _largest_clump(xy, pc.candidate_grid_m * np.sqrt(2)) == 1
    assert res.stats["closest_sites_m"] == pytest.approx(dist.min())  # what `plan` prints
    # every cell's 16 units are served (4 sites of 4 EVSEs 200 m apart fit within 250 m of its centre)
    served = res.demand[res.demand["trigger"] == "forecast"]["served_2026"]
    assert served.tolist() == pytest.approx([16.0, 16.0, 16.0])


@pytest.mark.parametrize("walk", [250.0, 200.0])
def test_cell_need_met_by_spaced_sites(cfg, walk):
    """One 500 m cell centre (between four grid points) with 16 units, spacing 150 m: four sites of four
    EVSEs, pairwise at least 150 m apart, serve all of it, also with Rotterdam's 200 m walking distance.
    Before: its candidates were the 4 nearest grid points (a 100 m square), of which the spacing lets one
    open: 4 of 16 units."""
    pc = cfg.placement
    pc.years = [2026]
    pc.min_spacing_m = 150.0
    d = _demand([(250.0, 250.0)], 16.0, walk=walk, trigger="forecast")
    res = make_plan(_inputs(), cfg, demand=d)
    xy = _site_xy(res)
    assert res.demand["served_2026"].tolist() == pytest.approx([16.0])
    assert len(xy) == 4 and res.sites["evses"].sum() == 16
    assert _pairwise(xy).min() >= 150.0 - 1e-6
    assert (np.hypot(xy[:, 0] - X0 - 250, xy[:, 1] - Y0 - 250) <= walk + 1e-9).all()


def test_need_beyond_four_sites_gets_more_spaced_sites(cfg):
    """40 units at one point, walking distance 300 m: the number of spaced candidates follows the need
    (ceil(40 / 4) = 10 wanted) instead of a fixed 4; what fits within 300 m (pairwise >= 150 m) is placed and
    the rest is unmet, reported per gemeente and year."""
    from laadplan.placement.plan import unmet_need

    pc = cfg.placement
    pc.years = [2026]
    d = _demand([(250.0, 250.0)], 40.0, walk=300.0, trigger="forecast")
    res = make_plan(_inputs(), cfg, demand=d)
    xy = _site_xy(res)
    n_fit = len(spaced_lattice_points(50.0, 50.0, 100.0, 300.0, pc.min_spacing_m, 10))
    assert len(xy) == n_fit > 4
    assert _pairwise(xy).min() >= pc.min_spacing_m - 1e-6
    served = res.demand["served_2026"].sum()
    assert served == pytest.approx(4 * n_fit) and res.sites["evses"].sum() == 4 * n_fit
    un = unmet_need(res.demand, [2026])
    assert un["unmet_units"].sum() == pytest.approx(40 - 4 * n_fit)


@pytest.mark.parametrize("gap, both", [(150.0, True), (150.01, True), (149.99, False), (100.0, False)])
def test_spacing_is_inclusive(cfg, gap, both):
    """Two loaded candidate sites ``gap`` apart, each with 4 units of its own demand, spacing 150 m: a pair
    exactly at the spacing (or farther) may both open, a pair closer may not."""
    pc = cfg.placement
    pc.years = [2026]
    pc.min_spacing_m = 150.0
    pc.generate_candidates = False
    sites = pd.DataFrame({"site_id": ["A", "B"], "x_rd": [X0, X0 + gap], "y_rd": [Y0, Y0], "gm_code": "GM0001",
                          "kind": "parking_bay"})
    d = _demand([(-60.0, 0.0), (gap + 60.0, 0.0)], 4.0, walk=100.0)
    res = make_plan(_inputs(), cfg, demand=d, sites=sites)
    assert sorted(res.sites["site_id"]) == (["A", "B"] if both else ["A"]) or (
        not both and sorted(res.sites["site_id"]) == ["B"])
    assert res.sites["evses"].sum() == (8 if both else 4)


def test_spacing_conflicts_match_brute_force():
    """Conflict pairs = every pair closer than the spacing (exact distances on a lattice, random points)."""
    rng = np.random.default_rng(3)
    lat = np.array([(100.0 * i, 100.0 * j) for i in range(6) for j in range(6)])
    pts = np.vstack([lat, rng.uniform(0, 600, size=(40, 2))]) + [X0, Y0]
    for s in (0.0, 100.0, 141.0, 150.0, 200.0):
        got = {tuple(p) for p in spacing_conflicts(pts[:, 0], pts[:, 1], s).tolist()}
        want = {(a, b) for a, b in itertools.combinations(range(len(pts)), 2)
                if np.hypot(*(pts[a] - pts[b])) < s - 1e-6}
        assert got == want
    # on the lattice: at 100 m the grid neighbours (exactly 100 m) do not conflict; at 150 m they and the
    # diagonal neighbours (141 m) do
    assert len(spacing_conflicts(lat[:, 0], lat[:, 1], 100.0)) == 0
    assert len(spacing_conflicts(lat[:, 0], lat[:, 1], 150.0)) == 2 * 6 * 5 + 2 * 5 * 5


def _max_spaced(ox, oy, g, walk, s) -> int:
    """Largest set of lattice points within ``walk`` pairwise >= s apart: exhaustive branching (take the
    first point or leave it out) over every subset."""
    r = int(np.ceil(walk / g)) + 1
    pts = [(i * g, j * g) for i in range(-r, r + 1) for j in range(-r, r + 1)
           if np.hypot(i * g - ox, j * g - oy) <= walk + 1e-9]
    ok = [[np.hypot(a[0] - b[0], a[1] - b[1]) >= s - 1e-6 for b in pts] for a in pts]

    def best(free: tuple) -> int:
        if not free:
            return 0
        k, rest = free[0], free[1:]
        return max(best(rest), 1 + best(tuple(m for m in rest if ok[k][m])))

    return best(tuple(range(len(pts))))


@pytest.mark.parametrize("ox, oy", [(0.0, 0.0), (50.0, 50.0), (50.0, 0.0), (30.0, 10.0), (13.0, 47.0)])
@pytest.mark.parametrize("walk", [200.0, 250.0])
def test_spaced_lattice_points_pack_as_many_as_fit(ox, oy, walk):
    """The spaced points are within the walking distance, pairwise >= the spacing, at most n, and as many as
    fit (the brute-force maximum) up to n."""
    best = _max_spaced(ox, oy, 100.0, walk, 150.0)
    for n in (1, 4, best + 2):
        p = spaced_lattice_points(ox, oy, 100.0, walk, 150.0, n).astype("float64") * 100.0
        assert len(p) == min(n, best)
        assert (np.hypot(p[:, 0] - ox, p[:, 1] - oy) <= walk + 1e-9).all()
        if len(p) > 1:
            assert _pairwise(p).min() >= 150.0 - 1e-6


def _box_wkb(x0, y0, x1, y1):
    import shapely

    from laadplan import geo

    xs, ys = np.array([x0, x1, x1, x0, x0]), np.array([y0, y0, y1, y1, y0])
    lon, lat = geo.to_wgs84(xs, ys)
    return shapely.to_wkb(shapely.Polygon(np.column_stack([lon, lat])))


def test_generated_candidates_stay_in_the_demands_gemeente(cfg):
    """A cell centre 70 m west of the border of two gemeenten (GM0001 west, GM0002 east), 16 units: its four
    spaced candidates all lie in GM0001 (a lattice point across the border or outside every gemeente is
    replaced by another, not used or lost), and the plan serves all 16 units there."""
    from laadplan.placement.candidates import generate_candidates

    pc = cfg.placement
    pc.years = [2026]
    border = X0 + 320.0  # between lattice columns (RD x = X0 + 300 and X0 + 400)
    gms = pd.DataFrame({"area_code": ["GM0001", "GM0002"],
                        "geometry_wkb": [_box_wkb(X0 - 2000, Y0 - 2000, border, Y0 + 2000),
                                         _box_wkb(border, Y0 - 2000, X0 + 3000, Y0 + 2000)]})
    d = _demand([(250.0, 250.0)], 16.0, trigger="forecast")
    c = generate_candidates(d, cfg, gms)
    assert len(c) == 4 and (c["gm_code"] == "GM0001").all()
    assert (c["x_rd"] < border).all()
    xy = c[["x_rd", "y_rd"]].to_numpy("float64")
    assert _pairwise(xy).min() >= pc.min_spacing_m - 1e-6
    assert (np.hypot(xy[:, 0] - X0 - 250, xy[:, 1] - Y0 - 250) <= 250 + 1e-9).all()
    # the demand of the other gemeente gets its candidates east of the border
    c2 = generate_candidates(d.assign(gm_code="GM0002"), cfg, gms)
    assert len(c2) >= 1 and (c2["gm_code"] == "GM0002").all()
    # a demand point without a gemeente uses any point inside a gemeente
    c3 = generate_candidates(d.assign(gm_code=pd.NA), cfg, gms)
    assert set(c3["gm_code"]) <= {"GM0001", "GM0002"} and len(c3) == 4
    # with candidates_in_demand_gemeente off, the GM0001 cell may use points across the border (four spaced
    # points within 250 m, some east of it)
    cfg.placement.candidates_in_demand_gemeente = False
    c4 = generate_candidates(d, cfg, gms)
    assert len(c4) == 4 and set(c4["gm_code"]) == {"GM0001", "GM0002"}
