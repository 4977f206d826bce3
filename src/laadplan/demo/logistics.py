"""Demo step: synthetic freight chargers, truck parkings, business parks and construction sites (seeded),
then the four logistics analyses (corridors, hubs, parks, sites) into ``out/logistics``.

All inputs are synthetic and written to ``inputs/logistics`` in the formats the commands read:
freight chargers and truck parkings as GeoJSON points along the reference corridors (with a per-station
``maxPowerKw`` of 400-1,440 kW, and 7360 as the feed's watt-figure quirk, set aside as LP-POWER; the
OSM-style ``is_truck_parking`` / ``is_service_area`` flags), business parks as CSV near
the demo gemeenten (one record without ``park_id`` to show the quarantine) and construction sites as a long
CSV (one row per machine group; one record with its end before its start). The planning date of the demo is
fixed (2026-09-01) so the outputs are reproducible.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from laadplan.geo import to_wgs84
from laadplan.logistics import corridors as co
from laadplan.logistics import pipeline

AS_OF = date(2026, 9, 1)
MACHINES = [  # type, kWh per working day, power kW
    ("excavator 20 t", 320.0, 150.0),
    ("wheel loader", 220.0, 110.0),
    ("mobile crane", 160.0, 90.0),
    ("site cabins", 45.0, 12.0),
    ("compact excavator", 60.0, 30.0),
]


def _point(line, u: float, offset_m: float) -> tuple[float, float]:
    L = line.length
    p, q = line.interpolate(u * L), line.interpolate(min(u * L + 10, L) if u * L + 10 <= L else u * L - 10)
    tx, ty = q.x - p.x, q.y - p.y
    n = np.hypot(tx, ty) or 1.0
    return p.x - ty / n * offset_m, p.y + tx / n * offset_m


def _fc(rows: list[tuple[float, float, dict]]) -> dict:
    xs = np.array([r[0] for r in rows])
    ys = np.array([r[1] for r in rows])
    lon, lat = to_wgs84(xs, ys)
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(float(a), 6), round(float(b), 6)]},
         "properties": props} for a, b, (_, _, props) in zip(lon, lat, rows)]}


def generate(inputs: Path, rng: np.random.Generator, gemeenten: pd.DataFrame | None) -> dict[str, Path]:
    """Write the synthetic logistics inputs; returns their paths."""
    inputs.mkdir(parents=True, exist_ok=True)
    corr = co.load_corridors()
    freight, parkings = [], []
    for c in corr.itertuples(index=False):
        for k in range(int(rng.integers(0, 3))):
            kw = float(rng.choice([400.0, 400.0, 1000.0, 1440.0, 7360.0]))  # per station; 7360: a watt figure
            side = float(rng.choice([-1, 1]))
            x, y = _point(c.geometry, float(rng.uniform(0.05, 0.95)), side * float(rng.uniform(60, 400)))
            freight.append((x, y, {"locationId": f"DEMO-FR-{c.corridor_id}-{k}", "name": f"Demo truck charger "
                                   f"{c.corridor_id}-{k + 1}", "operatorName": "Demo Charge", "maxPowerKw": kw,
                                   "layer": "freight"}))
        for k in range(int(rng.integers(2, 6))):
            kind = rng.choice(["truck", "service", "rest"], p=[0.4, 0.4, 0.2])
            x, y = _point(c.geometry, float(rng.uniform(0.0, 1.0)), float(rng.choice([-1, 1]) * rng.uniform(80, 900)))
            parkings.append((x, y, {"id": f"demo-park-{c.corridor_id}-{k}", "name": f"Verzorgingsplaats "
                                    f"{c.corridor_id}-{k + 1}", "is_truck_parking": kind == "truck",
                                    "is_service_area": kind == "service", "is_rest_area": kind == "rest"}))
    paths = {"freight": inputs / "freight_chargers.geojson", "parkings": inputs / "truck_parkings.geojson",
             "parks": inputs / "business_parks.csv", "sites": inputs / "construction_sites.csv"}
    paths["freight"].write_text(json.dumps(_fc(freight), indent=1) + "\n", encoding="utf-8")
    paths["parkings"].write_text(json.dumps(_fc(parkings), indent=1) + "\n", encoding="utf-8")

    if gemeenten is not None and len(gemeenten):
        g = gemeenten.dropna(subset=["centroid_lon", "centroid_lat"])
        centres = g[["centroid_lon", "centroid_lat"]].to_numpy(float)
        names = g["name"].astype(str).to_numpy()
    else:  # no areas in the store: points along the corridors
        xs, ys = zip(*[_point(c.geometry, 0.5, 1500.0) for c in corr.itertuples(index=False)])
        lon, lat = to_wgs84(np.array(xs), np.array(ys))
        centres, names = np.column_stack([lon, lat]), corr["corridor_id"].to_numpy()
    pick = rng.choice(len(centres), size=min(12, len(centres)), replace=False)
    parks = []
    for i, j in enumerate(pick):
        lon, lat = centres[j] + rng.normal(0, 0.015, 2)
        firms = int(rng.integers(20, 320))
        given = rng.random() < 0.5
        parks.append({"park_id": f"BT{i + 1:02d}", "name": f"Bedrijventerrein {names[j]}", "lat": round(lat, 6),
                      "lon": round(lon, 6), "area_ha": round(float(rng.uniform(15, 250)), 1), "firms": firms,
                      "vans": int(firms * rng.uniform(1.0, 4.0)) if given else "",
                      "trucks": int(firms * rng.uniform(0.1, 0.8)) if given else "",
                      "spare_kw": int(rng.choice([0, 0, 250, 800, 2000]))})
    parks.append({"park_id": "", "name": "record without id (quarantined)", "lat": 51.9, "lon": 4.5, "area_ha": 10,
                  "firms": 5, "vans": "", "trucks": "", "spare_kw": 0})
    pd.DataFrame(parks).to_csv(paths["parks"], index=False)

    sites = []
    for i in range(8):
        j = int(rng.integers(len(centres)))
        lon, lat = centres[j] + rng.normal(0, 0.03, 2)
        start = AS_OF + timedelta(days=int(rng.integers(7, 300)))
        end = start + timedelta(days=int(rng.integers(14, 400)))
        for m in rng.choice(len(MACHINES), size=int(rng.integers(1, 4)), replace=False):
            mt, kwh, kw = MACHINES[int(m)]
            sites.append({"site_id": f"BOUW{i + 1:02d}", "name": f"Bouwplaats {names[j]}", "lat": round(lat, 6),
                          "lon": round(lon, 6), "start_date": start.isoformat(), "end_date": end.isoformat(),
                          "machine_type": mt, "count": int(rng.integers(1, 6)), "kwh_per_day": kwh, "power_kw": kw})
    sites.append({"site_id": "BOUW99", "name": "bad record", "lat": 51.9, "lon": 4.5, "start_date": "2026-12-01",
                  "end_date": "2026-10-01", "machine_type": "excavator", "count": 1, "kwh_per_day": 100,
                  "power_kw": 50})
    pd.DataFrame(sites).to_csv(paths["sites"], index=False)
    return paths


def step(ctx) -> dict:
    rng = np.random.default_rng(ctx.seed + 5)
    gm = ctx.store.frame("areas", where="level = 'gemeente'", columns=["area_code", "name", "centroid_lon",
                                                                         "centroid_lat"])
    paths = generate(Path(ctx.inputs_dir) / "logistics", rng, gm)
    out = Path(ctx.out_dir) / "logistics"
    year = AS_OF.year
    cor = pipeline.run_corridors(ctx.store, ctx.cfg, out, freight=paths["freight"])
    n_cor_files = len(cor.files)
    parks = pipeline.run_parks(ctx.store, ctx.cfg, paths["parks"], out)
    hubs = pipeline.run_hubs(ctx.store, ctx.cfg, out, parkings=paths["parkings"], year=year, checked=cor,
                             parks=parks.tables["parks"])
    sites = pipeline.run_sites(ctx.store, ctx.cfg, paths["sites"], out, as_of=AS_OF, freight=paths["freight"],
                               parks=parks.tables["parks"])
    summ = cor.tables["summary"]
    first = summ[(summ["vehicle"] == "heavy") & (summ["milestone_year"] == summ["milestone_year"].min())]
    opts = sites.tables["options"]
    rec = opts[opts["recommended"]]["option"].value_counts().to_dict()
    prio = parks.tables["priority"]
    return {"corridors": int(len(first)), "heavy_first_milestone_compliant": int(first["compliant"].sum()),
            "gaps": int(len(cor.tables["gaps"])), "hub_suggestions": int(len(hubs.tables["suggestions"])),
            "parks": int(prio["park_id"].nunique()) if len(prio) else 0,
            "parks_now": int((prio.get("priority_class") == "now").sum()) if len(prio) else 0,
            "sites": int(opts["site_id"].nunique()) if len(opts) else 0, "site_recommended": rec,
            "quarantined": int(len(parks.problems) + len(sites.problems)),
            "truck_parkings_checked": int(hubs.tables.get("truck_parkings", pd.DataFrame())
                                          .get("candidate_id", pd.Series(dtype=str)).nunique()),
            "files": len(hubs.files) + len(parks.files) + len(sites.files), "corridor_files": n_cor_files}
