"""The AFIR check on the real heavy-duty chargers (NDW freight layer) and truck parkings (OSM) of
Zuid-Holland and Zeeland, against the shipped reference corridors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from laadplan.config import RegionConfig
from laadplan.logistics import corridors as co
from laadplan.logistics import hubs as hb

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

REFS = {"A4", "A12", "A13", "A15", "A16", "A20", "A29", "A58"}


@pytest.fixture(scope="module")
def real(shared_data):
    cfg = RegionConfig().logistics
    freight = co.read_freight_chargers(shared_data / "ndw_ocpi" / "nederland_freight_chargers.geojson")
    parkings = hb.read_truck_parkings(shared_data / "roads_truckparking" / "truck_parking_facilities_zh_ze.geojson")
    pools = co.merge_pools(freight, cfg.pool_merge_m)
    corr = co.load_corridors()
    return cfg, freight, parkings, pools, corr, co.afir_check(corr, pools, cfg)


def test_inputs_read_completely(real):
    cfg, freight, parkings, pools, corr, res = real
    assert len(freight) + len(freight.attrs["problems"]) == 175  # every record accounted for
    assert len(parkings) + len(parkings.attrs["problems"]) == 213
    assert len(pools) < len(freight)  # co-located chargers merged


def test_coverage_reported_per_corridor(real):
    cfg, freight, parkings, pools, corr, res = real
    cov = res.coverage
    heavy = cov[cov["vehicle"] == "heavy"]
    assert REFS <= set(heavy["ref"])
    # one row per corridor x applicable heavy milestone x direction: core 3, comprehensive 3 milestones
    per = heavy.groupby("corridor_id").size()
    assert (per == 6).all()
    assert cov["covered_share"].between(0, 1).all()
    # well-known high-power sites are near their motorway: IONITY Sandelingen (A16), Fastned De Vink (A20)
    near = res.positions.groupby("corridor_id")["name"].apply(lambda s: " | ".join(s.astype(str)))
    assert "Sandelingen" in near["A16"] and "De Vink" in near["A20"]
    light = cov[(cov["vehicle"] == "light") & (cov["milestone_year"] == 2025)]
    assert light["covered_share"].mean() > 0.5  # the passenger fast-charging network is dense
    summary = cov.groupby(["corridor_id", "vehicle", "milestone_year"])["covered_share"].min().unstack()
    print("\ncovered share per corridor (worse direction):\n" + summary.round(2).to_string())


def test_coverage_agrees_with_sampling(real):
    """Second method: sample each corridor every 100 m, take the distance along the line to the nearest
    qualifying pool position (or virtual end) and count samples within spacing/2."""
    cfg, freight, parkings, pools, corr, res = real
    info = pools.set_index("pool_id")
    for c in corr.itertuples():
        L = c.geometry.length
        for m in cfg.light[:1] + cfg.heavy[:1]:
            veh = "light" if m in cfg.light else "heavy"
            pos = res.positions[res.positions["corridor_id"] == c.corridor_id]
            # forward direction: traffic keeps right, so a pool right of the line (side -1; 0 = on it) serves it
            ok = [info.at[p, "vehicle"] in ("both", veh) and side in (-1, 0)
                  and co.qualifies(info.at[p, "power_kw"], info.at[p, "stations_kw"], m)
                  for p, side in zip(pos["pool_id"], pos["side"])]
            row = res.coverage[(res.coverage["corridor_id"] == c.corridor_id) & (res.coverage["vehicle"] == veh)
                               & (res.coverage["milestone_year"] == m.year) & (res.coverage["direction"] == "forward")]
            if not co.applies(m, c.network):
                assert len(row) == 0
                continue
            anchors = np.r_[-m.spacing_km * 500, pos["pos_m"].to_numpy()[np.array(ok, dtype=bool)],
                            L + m.spacing_km * 500]
            s = np.arange(50.0, L, 100.0)
            d = np.min(np.abs(s[:, None] - anchors[None, :]), axis=1)
            sampled = (d <= m.spacing_km * 500).mean()
            assert row["covered_share"].iloc[0] == pytest.approx(sampled, abs=0.005)


def test_hub_suggestions_on_real_parkings(real):
    cfg, freight, parkings, pools, corr, res = real
    cands = pd.concat([parkings, hb.pool_candidates(pools)], ignore_index=True)
    s = hb.suggest_hubs(res, corr, cands, cfg, year=2026)
    assert len(s) > 0 and set(s["milestone_year"]) == {2027}
    top = s[s["rank"] == 1]
    # every suggested site lies within the candidate radius of its corridor and inside its gap
    geoms = dict(zip(corr["corridor_id"], corr.geometry))
    from laadplan.geo import to_rd

    x, y = to_rd(top["lon"].to_numpy(float), top["lat"].to_numpy(float))
    for (cid, lo, hi, pos), xi, yi in zip(top[["corridor_id", "gap_from_km", "gap_to_km", "pos_km"]].to_numpy(), x, y):
        assert shapely.distance(geoms[cid], shapely.Point(xi, yi)) <= cfg.hub_candidate_radius_km * 1000 + 1
        assert lo - 1e-6 <= pos <= hi + 1e-6


def test_truck_parking_stations_real(real):
    cfg, freight, parkings, pools, corr, res = real
    out = hb.truck_parking_check(parkings, pools, cfg)
    n_truck = int((parkings["kind"] == "truck_parking").sum())
    assert n_truck == 67 and len(out) == 2 * n_truck
    # second method: full distance matrix (the nearest truck pool is about 1.07 km from a truck parking, so all
    # are 0 at 300 m)
    tp = parkings[parkings["kind"] == "truck_parking"].reset_index(drop=True)
    for radius, label in ((cfg.safe_parking_radius_m, "default"), (2000.0, "wide")):
        c2 = cfg.model_copy(update={"safe_parking_radius_m": radius})
        got = hb.truck_parking_check(parkings, pools, c2)
        d = np.hypot(tp["x_rd"].to_numpy()[:, None] - pools["x_rd"].to_numpy()[None, :],
                     tp["y_rd"].to_numpy()[:, None] - pools["y_rd"].to_numpy()[None, :])
        n_ok = np.array([sum(1 for s in st if s >= 100) for st in pools["stations_kw"]])
        heavy = pools["vehicle"].isin(["both", "heavy"]).to_numpy()
        want = ((d <= radius) * (n_ok * heavy)[None, :]).sum(axis=1)
        g = got[got["milestone_year"] == 2027].set_index("candidate_id")["stations"]
        assert (g.loc[tp["candidate_id"]].to_numpy() == want).all(), label
    assert want.sum() > 0  # at 2 km some truck parkings do have a truck charger (nearest pair about 1.07 km)
    assert (out["missing"] == (out["required"] - out["stations"]).clip(lower=0)).all()
