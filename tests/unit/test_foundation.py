"""Config, data model and store: the contracts every family relies on."""

import tomllib

import pandas as pd
import pytest

from laadplan import geo, model
from laadplan.config import DEFAULT_CONFIG_PATH, RegionConfig, load_config, to_toml


def test_shipped_config_equals_defaults():
    """data/zuidwest.toml is exactly the documented defaults (regenerate with `laadplan config --write`)."""
    assert DEFAULT_CONFIG_PATH.read_text(encoding="utf-8") == to_toml(RegionConfig())
    assert load_config(DEFAULT_CONFIG_PATH) == RegionConfig()


def test_config_roundtrip_and_override(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[walking]\nwalk_m_default = 275.0\n[grid]\nrefuse_at_offtake_status = 3\n")
    c = load_config(p)
    assert c.walking.walk_m_default == 275.0 and c.grid.refuse_at_offtake_status == 3
    assert c.walk_m("GM0599") == 200.0 and c.walk_m("GM0654") == 275.0
    assert RegionConfig.model_validate(tomllib.loads(to_toml(c))) == c


def test_config_rejects_unknown_keys(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[walking]\nwalk_distance = 3\n")
    with pytest.raises(Exception, match="walk_distance"):
        load_config(p)


def test_every_table_creates_and_documents(store):
    names = {t.name for t in model.all_tables()}
    assert {"areas", "locations", "evses", "connectors", "tariffs", "sessions", "status_observations",
            "quarantine"} <= names
    have = set(store.query("SELECT table_name FROM information_schema.tables")["table_name"])
    assert names <= have
    md = model.markdown()
    for t in model.all_tables():
        assert f"`{t.name}`" in md


def test_upsert_newer_wins_and_is_idempotent(store):
    df = pd.DataFrame({"location_id": ["a", "a", "b"], "country_code": "NL", "party_id": "X",
                       "name": ["old", "new", "b"],
                       "last_updated_utc": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-01"])})
    r = store.upsert("locations", df)
    assert (r.inserted, r.updated, r.unchanged) == (2, 0, 1)
    r = store.upsert("locations", df)
    assert (r.inserted, r.updated, r.unchanged) == (0, 0, 3)
    assert dict(store.frame("locations", columns=["location_id", "name"]).values) == {"a": "new", "b": "b"}
    older = df.iloc[[0]].assign(name="older", last_updated_utc=pd.Timestamp("2023-01-01"))
    assert store.upsert("locations", older).unchanged == 1
    newer = df.iloc[[0]].assign(name="newest", last_updated_utc=pd.Timestamp("2025-01-01"))
    assert store.upsert("locations", newer).updated == 1
    assert store.count("locations") == 2
    assert store.frame("locations", "location_id = 'a'")["name"].iloc[0] == "newest"


def test_upsert_rejects_unknown_columns(store):
    with pytest.raises(ValueError, match="not in the data model"):
        store.upsert("locations", pd.DataFrame({"location_id": ["a"], "country_code": ["NL"], "party_id": ["X"],
                                                "colour": ["red"]}))


def test_rd_roundtrip_and_known_point():
    # Amersfoort "Onze Lieve Vrouwetoren", the origin of RD: (155000, 463000)
    x, y = geo.to_rd([5.38720621], [52.15517440])
    assert abs(x[0] - 155000) < 1 and abs(y[0] - 463000) < 1
    lon, lat = geo.to_wgs84(x, y)
    assert abs(lon[0] - 5.38720621) < 1e-7 and abs(lat[0] - 52.15517440) < 1e-7


def test_cell_code():
    codes = geo.cell_code([92000.0, 92499.9, 92500.0, float("nan")], [437000.0, 437499.0, 437500.0, 1.0])
    assert list(codes[:3]) == ["E0920N4370", "E0920N4370", "E0925N4375"]
    assert pd.isna(codes[3])
    assert geo.cell_bounds("E0925N4375") == (92500.0, 437500.0, 93000.0, 438000.0)
