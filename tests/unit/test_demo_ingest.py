"""The demo ingest step: the generated files go through the ordinary readers, every injected bad record
ends up in the quarantine under the rule it was made to break, and the good records are all stored."""

from __future__ import annotations

import json

import pytest

from laadplan.demo.base import FILES, generate_demo, write_demo
from laadplan.demo.ingest import ORDER, ingest_inputs

SEED = 20260701
SCALE = 0.05


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    from laadplan.config import RegionConfig
    from laadplan.store import Store

    d = tmp_path_factory.mktemp("demo_ingest")
    data = generate_demo(SEED, SCALE)
    manifest = write_demo(data, d)
    store = Store(":memory:")
    summary = ingest_inputs(store, RegionConfig(), d, manifest)
    yield data, d, manifest, store, summary
    store.close()


def test_every_file_is_read_completely(ingested):
    _, _, manifest, _, summary = ingested
    for key, _kind in ORDER:
        row = summary["files"][key]
        assert row["available"] and "error" not in row, row
        assert row["read"] == manifest["files"][FILES[key]]["records"], key
        assert row["accepted"] + row["quarantined"] == row["read"], key


def _expected(manifest, key, skip=()):
    out = []
    for kind, v in manifest["files"][FILES[key]]["bad_kinds"].items():
        if kind in skip:
            continue
        out += [(p, v["rule"], kind) for p in v["positions"]]
    return out


@pytest.mark.parametrize("key", ["gemeenten", "buurten", "tariffs", "locations", "cdrs", "status"])
def test_injected_bad_records_are_quarantined_by_their_rule(ingested, key):
    _, d, manifest, store, summary = ingested
    q = store.query("SELECT position, rule_code FROM quarantine WHERE source_file = ?", [str(d / FILES[key])])
    got = {}
    for p, r in zip(q["position"], q["rule_code"]):
        got.setdefault(int(p), set()).add(r)
    expected = _expected(manifest, key)
    assert expected
    for pos, rule, kind in expected:
        assert rule in got.get(pos, set()), (key, kind, pos, got.get(pos))
    # nothing else was quarantined: the good records are all accepted
    assert set(got) == {p for p, _, _ in expected}
    assert summary["files"][key]["accepted"] == manifest["files"][FILES[key]]["good"]


def test_buurt_with_invalid_code_is_quarantined(ingested):
    _, d, manifest, store, _ = ingested
    (pos,) = manifest["files"][FILES["buurten"]]["bad_kinds"]["invalid_code"]["positions"]
    q = store.query("SELECT rule_code FROM quarantine WHERE source_file = ? AND position = ?",
                    [str(d / FILES["buurten"]), pos])
    assert list(q["rule_code"]) == ["LP-AREA-CODE"]
    assert store.count("areas", "area_code = 'BU12345'") == 0


def test_buurt_with_invalid_code_and_a_gemeentecode_does_not_replace_its_gemeente(ingested, tmp_path, store, cfg):
    from laadplan.ingest import reader

    data, d, _, _, _ = ingested
    reader("areas")(store, str(d / FILES["gemeenten"]), cfg)
    gm, name = data.gemeenten["gm_code"].iat[0], data.gemeenten["name"].iat[0]
    f = tmp_path / "bad_buurt.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"buurtcode": "BU12345", "buurtnaam": "Foute code", "gemeentecode": gm},
        "geometry": {"type": "Polygon", "coordinates": [[[3.0, 52.4], [3.01, 52.4], [3.01, 52.41], [3.0, 52.4]]]}}]}))
    res = reader("areas")(store, str(f), cfg)
    assert res.by_rule.get("LP-AREA-CODE") == 1
    assert store.query("SELECT name FROM areas WHERE area_code = ?", [gm])["name"].iat[0] == name


def test_stored_sessions_equal_the_good_cdrs(ingested):
    data, d, manifest, store, _ = ingested
    bad = {p for v in manifest["files"][FILES["cdrs"]]["bad_kinds"].values() for p in v["positions"]}
    good = [json.loads(line) for i, line in enumerate((d / FILES["cdrs"]).read_text(encoding="utf-8").splitlines(),
                                                      start=1) if i not in bad]
    s = store.query("SELECT count(*) n, sum(energy_kwh) e, sum(connected_h) h, count(DISTINCT user_id) u, "
                    "min(start_utc) a, max(end_utc) b FROM sessions")
    assert s["n"].iat[0] == len(good)
    assert s["e"].iat[0] == pytest.approx(sum(c["total_energy"] for c in good), rel=1e-9)
    assert s["h"].iat[0] == pytest.approx(sum(c["total_time"] for c in good), rel=1e-4)
    assert s["u"].iat[0] == len({c["cdr_token"]["contract_id"] for c in good})
    assert str(s["a"].iat[0]) >= "2025-11-01" and str(s["b"].iat[0]) < "2026-11-01"


def test_locations_get_the_generated_areas(ingested):
    data, _, _, store, _ = ingested
    got = store.query("SELECT location_id, gm_code, bu_code FROM locations").set_index("location_id")
    truth = data.locations.set_index("location_id")
    assert len(got) == len(truth)
    assert (got.loc[truth.index, "bu_code"] == truth["bu_code"]).all()
    assert (got.loc[truth.index, "gm_code"] == truth["gm_code"]).all()
    assert store.count("evses") == len(data.evses)
    assert store.count("connectors") == len(data.connectors)


def test_ingest_twice_changes_nothing(ingested):
    from laadplan.config import RegionConfig

    _, d, manifest, store, _ = ingested
    before = {t: store.count(t) for t in ("areas", "locations", "evses", "connectors", "tariffs", "sessions",
                                          "status_observations", "quarantine")}
    ingest_inputs(store, RegionConfig(), d, manifest)
    after = {t: store.count(t) for t in before}
    assert after == before


def test_malformed_first_line_does_not_swallow_the_locations_file(ingested, tmp_path, store, cfg):
    from laadplan.ingest import reader

    _, d, _, _, _ = ingested
    lines = (d / FILES["locations"]).read_text(encoding="utf-8").splitlines()
    good = [line for line in lines if line.startswith("{") and line.endswith("}")]
    f = tmp_path / "locations.ndjson"
    f.write_text("\n".join([good[0][: len(good[0]) // 2]] + good[1:]) + "\n", encoding="utf-8")
    res = reader("locations")(store, str(f), cfg)
    assert res.read == len(good)
    # "good" still holds the demo's well-formed bad records (swapped coordinates, ...): those are quarantined
    # under their own rules; the cut first line is the only malformed one, and nothing is lost.
    assert res.by_rule["LP-MALFORMED"] == 1
    assert res.accepted + res.quarantined == res.read
    assert res.accepted == store.count("locations")


def test_demo_steps_generate_write_manifest_and_ingest(tmp_path, store, cfg):
    """The two demo steps on a tiny region: base writes the files and manifest.json, ingest reads them all."""
    from types import SimpleNamespace

    from laadplan.demo import base
    from laadplan.demo import ingest as demo_ingest

    said = []
    ctx = SimpleNamespace(store=store, cfg=cfg, out_dir=tmp_path, inputs_dir=tmp_path / "inputs", seed=3, scale=0.02,
                          results={}, log=said.append)
    summary = base.step(ctx)
    manifest = json.loads((tmp_path / "inputs" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == ctx.results["demo_manifest"]
    assert summary["synthetic"] is True and summary["gemeenten"] == 63
    assert {p.name for p in (tmp_path / "inputs").iterdir()} == set(FILES.values()) | {"manifest.json"}
    n_cdr_lines = sum(1 for _ in open(tmp_path / "inputs" / FILES["cdrs"], encoding="utf-8"))
    assert summary["cdrs"] + summary["bad_records"][FILES["cdrs"]] == n_cdr_lines
    res = demo_ingest.step(ctx)
    for key, _ in ORDER:
        row = res["files"][key]
        assert row["quarantined"] >= row["expected_bad"] > 0, key
        assert row["accepted"] == manifest["files"][FILES[key]]["good"], key
    assert res["by_kind"]["areas"]["accepted"] == 63 + summary["buurten"]
    assert len(said) == 1 + len(ORDER)
