"""The commands about laadplan itself: rules, config, schema."""

import tomllib

from typer.testing import CliRunner

from laadplan import model
from laadplan.cli import app
from laadplan.config import RegionConfig

runner = CliRunner()


def test_rules_lists_the_rules_every_reader_registers():
    res = runner.invoke(app, ["--json", "rules"])
    assert res.exit_code == 0, res.output
    import json

    codes = {r["rule_code"] for r in json.loads(res.output)}
    # core rules, and rules that only a reader module registers (grid connections, CBS vehicles, costs)
    assert {"LINDA-START-END", "LP-COORDS-NL", "LP-EAN18", "LP-VEHICLES-CODE", "LP-COST-YEAR"} <= codes
    from laadplan.ingest import load_all_rules
    from laadplan.ingest import rules as R

    load_all_rules()
    assert codes == set(R.RULES)


def test_config_prints_the_defaults_as_valid_toml(tmp_path):
    res = runner.invoke(app, ["config"])
    assert res.exit_code == 0
    assert RegionConfig.model_validate(tomllib.loads(res.output)) == RegionConfig()
    over = tmp_path / "c.toml"
    over.write_text("[grid]\nrefuse_at_offtake_status = 3\n")
    res = runner.invoke(app, ["--config", str(over), "config"])
    assert tomllib.loads(res.output)["grid"]["refuse_at_offtake_status"] == 3


def test_bad_config_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid]\nrefuse_at_offtake_status = 'hoog'\n")
    res = runner.invoke(app, ["--config", str(bad), "config"])
    assert res.exit_code == 1
    assert f"config {bad}: grid.refuse_at_offtake_status" in res.output
    res = runner.invoke(app, ["--config", str(tmp_path / "nope.toml"), "config"])
    assert res.exit_code == 1 and "config file not found" in res.output


def test_schema_documents_every_table_and_the_shipped_doc_is_current():
    res = runner.invoke(app, ["schema"])
    assert res.exit_code == 0
    for t in model.all_tables():
        assert f"### `{t.name}`" in res.output
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"
    from laadplan.store import schema_markdown

    assert "`gis.locations`" in res.output and "EPSG:28992" in res.output  # both backends documented
    assert doc.read_text(encoding="utf-8").strip() == schema_markdown().strip(), \
        "docs/data-model.md is stale: run `laadplan schema --write docs/data-model.md`"


def test_a_database_url_is_a_clear_error_not_a_folder(tmp_path, monkeypatch):
    """``--db postgresql://user:secret@host/db`` made a DuckDB file in a folder named 'postgresql:' (and ingest
    wrote into it). Now a URL selects the PostgreSQL store (issue 14); a server that cannot be reached is one
    clear line, nothing is created locally and no password is shown."""
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "g.geojson"
    src.write_text('{"type": "FeatureCollection", "features": []}')
    for args in (["kpi"], ["ingest", "areas", str(src)]):
        r = CliRunner().invoke(app, ["--db", "postgresql://laadplan:secret@127.0.0.1:1/zuidwest", *args])
        assert r.exit_code == 1, r.output
        assert "cannot reach PostgreSQL" in r.output and "secret" not in r.output
        assert "postgresql://laadplan:***@127.0.0.1:1/zuidwest" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.geojson"]
