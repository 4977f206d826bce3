"""The real open data of ../shared/data ingested into a DuckDB file and into a PostgreSQL/PostGIS database
through the CLI, as a user runs it, and then the same commands on both (issue 14): every table's rows in key
order, the ingest results and quarantine counts by rule, and the figures of ``quality``, ``kpi``,
``forecast``, ``corridors``, ``hubs``, ``plan``, ``contract`` and ``report`` (their ``--json`` output, the
CSV files they write and the report's text) must be equal.

Sources: every real file the readers take, in full - the NDW locations and connectors of both provinces, the
30 OCPI Location and 60 Tariff objects, the hourly occupancy per gemeente and per Zeeland location, the CBS
gemeenten and vehicle counts, the 2018 sessions (with their bad rows), the official capacity-map example and
OCPI 2.2.1 example objects (a Location, a Tariff, the CDR with swapped coordinates); the freight chargers and
OSM truck parkings through ``corridors`` and ``hubs``. Kept short for the suite's time: ``plan`` for one year
(2026; the maths is backend-free, only its inputs and outputs cross the store) and the report of 2026. The
OSM substations of grid/ have no reader (they are no capacity data) and the 2018 sessions carry no charge
point, so the usage KPIs are region-level.

The PostgreSQL half needs the server of ``LAADPLAN_TEST_PG``; ``./dev test`` makes an unreachable server a
failure (tests/conftest.py)."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_backends import _assert_same, _new_pg, _normalise, _sorted, _volatile
from typer.testing import CliRunner

from laadplan import model
from laadplan.cli import app
from laadplan.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.realdata]
log = logging.getLogger(__name__)

#: (ingest kind, file under ../shared/data), in the order a region team would load them
SOURCES = [
    ("areas", "gemeenten/gemeenten_zh_ze.geojson"),
    ("locations", "ndw_ocpi/locations_zh_ze.csv"),
    ("locations", "ndw_ocpi/connectors_zh_ze.csv"),
    ("locations", "ndw_ocpi/ocpi_locations_sample.json"),
    ("locations", "ocpi_examples/ocpi_2.2.1/location_example.json"),
    ("tariffs", "ndw_ocpi/ocpi_tariffs_sample.json"),
    ("tariffs", "ocpi_examples/ocpi_2.2.1/tariff_4_complex.json"),
    ("status", "ndw_ocpi/occupancy_gemeente_hourly.csv"),
    ("status", "ndw_ocpi/occupancy_location_hourly_sample.csv"),
    ("cdrs", "sessions_nl/laadpaaldata_2018.csv"),
    ("cdrs", "ocpi_examples/ocpi_2.2.1/cdr_example.json"),
    ("vehicles", "cbs_vehicles/cbs_85236NED_vehicles_by_region_zh_ze.csv"),
    ("vehicles", "cbs_vehicles/cbs_85236NED_vehicles_by_pc4_zh_ze.csv"),
    ("grid", "capaciteitskaart_schema/example_dso_fictitious.json"),
    # the same files again: nothing may change (idempotent re-ingest on both backends)
    ("locations", "ndw_ocpi/ocpi_locations_sample.json"),
    ("cdrs", "sessions_nl/laadpaaldata_2018.csv"),
]


def _commands(data: Path, out: Path) -> dict[str, list[str]]:
    freight = str(data / "ndw_ocpi" / "nederland_freight_chargers.geojson")
    parkings = str(data / "roads_truckparking" / "truck_parking_facilities_zh_ze.geojson")
    return {
        "quality": ["quality", "--limit", "50"],
        "kpi_region": ["kpi", "--level", "region"],
        "kpi_region_month": ["kpi", "--level", "region", "--period", "month"],
        "kpi_status_gemeente": ["kpi", "--source", "status", "--level", "gemeente"],
        "kpi_status_location": ["kpi", "--source", "status", "--level", "location"],
        "forecast": ["forecast", "--scenario", "middle", "--out", str(out / "forecast")],
        "corridors": ["corridors", "--freight", freight, "--parkings", parkings, "--out", str(out / "corridors")],
        "hubs": ["hubs", "--freight", freight, "--parkings", parkings, "--out", str(out / "hubs")],
        "plan": ["plan", "--years", "2026", "--out", str(out / "plan")],
        "contract": ["contract", "--month", "2026-06", "--level", "gemeente"],
        "alerts": ["alerts", "--month", "2026-06", "--stored"],
        "report": ["report", "--year", "2026", "--out", str(out / "report")],
    }


@pytest.fixture(scope="module")
def real_pair(shared_data, pg_template, tmp_path_factory):
    """The real data through ``laadplan ingest`` and the commands, once per backend:
    {backend: (store location, output folder, {step: parsed --json output})}."""
    from laadplan.store import postgres as pg

    base = tmp_path_factory.mktemp("backends_real")
    locs = {"duckdb": str(base / "real.duckdb"), "postgres": _new_pg(pg_template)}
    runner = CliRunner()
    out = {}
    took: dict[str, float] = {}
    try:
        for name, loc in locs.items():
            res: dict[str, object] = {}
            for i, (kind, rel) in enumerate(SOURCES):
                t0 = time.perf_counter()
                r = runner.invoke(app, ["--db", loc, "--json", "ingest", kind, str(shared_data / rel)])
                assert r.exit_code == 0, (name, rel, r.output[-2000:], repr(r.exception))
                got = json.loads(r.stdout)
                assert got["errors"] == [] and len(got["results"]) == 1, got
                res[f"ingest {i:02d} {rel}"] = got["results"][0]
                took[f"{name} ingest {rel}"] = time.perf_counter() - t0
            for step, args in _commands(shared_data, base / name).items():
                t0 = time.perf_counter()
                r = runner.invoke(app, ["--db", loc, "--json", *args])
                assert r.exit_code == 0, (name, step, r.output[-2000:], repr(r.exception))
                res[step] = json.loads(r.stdout.replace(str(base / name), "<out>"))
                took[f"{name} {step}"] = time.perf_counter() - t0
            out[name] = (loc, base / name, res)
        log.info("seconds per step (load average %.1f): %s", os.getloadavg()[0],
                 ", ".join(f"{k} {v:.1f}" for k, v in took.items()))
        yield out
    finally:
        pg.drop_database(locs["postgres"])


def _tidy(o):
    """A command's JSON without what differs between any two runs (run ids, clock times, durations); lists
    in a canonical order (PostgreSQL returns rows of equal sort keys in any order); floats to 9 digits (a
    parallel sum adds in another order on each run and backend)."""
    if isinstance(o, dict):
        return {k: _tidy(v) for k, v in o.items()
                if not _volatile(k) and k not in ("seconds", "store") and not k.endswith("_s")}
    if isinstance(o, list):
        return sorted((_tidy(v) for v in o), key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if isinstance(o, float):
        return None if math.isnan(o) else float(f"{o:.9g}")
    return o


def _ingest_results_and_quarantine_by_rule(real_pair) -> None:
    (dl, _, dres), (pl, _, pres) = real_pair["duckdb"], real_pair["postgres"]
    ingests = [k for k in dres if k.startswith("ingest")]
    assert len(ingests) == len(SOURCES)
    for k in ingests:
        assert _tidy(dres[k]) == _tidy(pres[k]), k
    # the runs read what the files hold (31,703 NDW location rows, 48,936 connector rows, 10,188 sessions)
    first = {k.split(" ", 2)[2]: dres[k] for k in reversed(ingests)}
    assert first["ndw_ocpi/locations_zh_ze.csv"]["read"] == 31_703
    assert first["ndw_ocpi/connectors_zh_ze.csv"]["read"] == 48_936
    assert first["sessions_nl/laadpaaldata_2018.csv"]["read"] == 10_188
    # a file ingested again changes nothing, on either backend
    for k in ingests[-2:]:
        for res in (dres[k], pres[k]):
            assert all(t["inserted"] == t["updated"] == 0 for t in res["tables"].values()), (k, res["tables"])
    q = "SELECT kind, rule_code, count(*) AS n FROM quarantine GROUP BY kind, rule_code ORDER BY kind, rule_code"
    with Store(dl, read_only=True) as d, Store(pl, read_only=True) as p:
        a, b = d.query(q), p.query(q)
        runs = [s.query("SELECT kind, source_file, records_read, records_accepted, records_quarantined "
                        "FROM ingest_runs ORDER BY source_file, records_read") for s in (d, p)]
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(*runs)
    assert a["n"].sum() > 20_000 and len(a) >= 5  # the bad and repeated real records, under several rules
    # the quality command's per-rule counts are the store's (the rules of quarantined records)
    store_n = {(k, c): n for k, c, n in a.itertuples(index=False)}
    shown = {(r["kind"], r["rule_code"]): r["records"] for r in dres["quality"]["rules"]}
    assert len(shown) >= 5 and all(store_n[k] == n for k, n in shown.items())


def _every_table(real_pair) -> None:
    (dl, dout, _), (pl, pout, _) = real_pair["duckdb"], real_pair["postgres"]
    with Store(dl, read_only=True) as d, Store(pl, read_only=True) as p:
        counts = {}
        for t in model.all_tables():
            if t.name == "schema_version":
                continue
            a = _sorted(_normalise(d.frame(t.name), dout), list(t.primary_key))
            b = _sorted(_normalise(p.frame(t.name), pout), list(t.primary_key))
            _assert_same(a, b, t.name)
            counts[t.name] = len(a)
    # the comparison covered the real data and every analysis's output, not a few empty tables
    assert counts["locations"] > 18_000 and counts["connectors"] > 27_000 and counts["sessions"] > 10_000
    assert counts["occupancy_observations"] > 70_000 and counts["quarantine"] > 20_000
    for t in ("tariffs", "vehicle_counts", "forecast_need", "afir_coverage", "afir_gaps", "hub_suggestions",
              "plan_sites", "contract_kpis", "grid_areas", "areas", "ingest_runs"):
        assert counts[t] > 0, t


def _command_figures(real_pair, step: str) -> None:
    a, b = real_pair["duckdb"][2][step], real_pair["postgres"][2][step]
    assert a, step  # a figure was read at all
    assert _tidy(a) == _tidy(b)


def _written_files_and_report(real_pair) -> None:
    (_, dout, _), (_, pout, _) = real_pair["duckdb"], real_pair["postgres"]
    csvs = sorted(p.relative_to(dout) for p in dout.rglob("*.csv"))
    assert len(csvs) > 15 and sorted(p.relative_to(pout) for p in pout.rglob("*.csv")) == csvs
    for rel in csvs:
        a, b = pd.read_csv(dout / rel, dtype=str), pd.read_csv(pout / rel, dtype=str)
        assert list(a.columns) == list(b.columns), rel
        a = a.drop(columns=[c for c in a.columns if _volatile(c)])
        b = b.drop(columns=[c for c in b.columns if _volatile(c)])
        a, b = _sorted(a.fillna(""), list(a.columns)), _sorted(b.fillna(""), list(b.columns))
        assert len(a) == len(b), rel
        for c in a.columns:
            try:  # numbers to 1e-9 relative (a parallel sum adds in another order on each run and backend)
                x, y = (v[c].replace("", "nan").astype(float).to_numpy() for v in (a, b))
            except ValueError:
                assert (a[c].str.replace(str(dout), "<out>") == b[c].str.replace(str(pout), "<out>")).all(), (rel, c)
            else:
                assert np.allclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True), (rel, c)
    html = [(o / "report" / "voortgangsrapportage_2026.html").read_text(encoding="utf-8") for o in (dout, pout)]
    clock = re.compile(r"20\d\d-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?|\d{1,2}-\d{1,2}-20\d\d \d\d:\d\d")
    img = re.compile(r'src="data:image/[^"]+"')  # a chart over tied rows may draw them in another order
    exact = re.compile(r'data-value="([-+0-9.eE]+)"')

    def same(text: str) -> str:
        return exact.sub(lambda m: f'data-value="{float(m.group(1)):.9g}"', img.sub("<img>", clock.sub("<t>", text)))

    assert same(html[0]) == same(html[1])
    assert html[0].count("data-value=") > 20


def test_real_data_gives_the_same_results_on_both_backends(real_pair, shared_data):
    """Every check, each reported on its own. One test rather than one per check: pytest-xdist (``./dev test``
    runs ``-n 2``) may hand the tests of a module to both workers, and each would ingest the real data twice."""
    checks = [("ingest results and quarantine by rule", lambda: _ingest_results_and_quarantine_by_rule(real_pair)),
              ("every table", lambda: _every_table(real_pair))]
    checks += [(f"{step} --json", lambda step=step: _command_figures(real_pair, step))
               for step in _commands(shared_data, Path("."))]
    checks.append(("written CSV files and the report", lambda: _written_files_and_report(real_pair)))
    failed = []
    for name, check in checks:
        try:
            check()
        except AssertionError as e:
            failed.append(f"{name}: {str(e)[:3000]}")
    assert len(checks) == 3 + len(_commands(shared_data, Path(".")))
    assert not failed, f"{len(failed)} of {len(checks)} checks differ between the backends:\n" + "\n\n".join(failed)
