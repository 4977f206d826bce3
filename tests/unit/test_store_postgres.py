"""The PostgreSQL/PostGIS store (issue 14): URL selection, one-line errors, migrations on both backends,
transactions, concurrency (two ingests at once, ingest while reading, SIGKILL then re-ingest)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from laadplan import model
from laadplan.store import Store, StoreError, migrations
from laadplan.store import postgres as pg

sys.path.insert(0, str(Path(__file__).parent))
from test_ingest_runs import _cdr_file, _counts  # noqa: E402  (the CDR file generator of the ingest tests)

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from laadplan.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def _one_line(p: subprocess.CompletedProcess, *needles: str) -> str:
    err = p.stderr.strip()
    assert p.returncode == 1, (p.returncode, p.stdout, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err
    return err


# -- 1. selection by URL, bad input -------------------------------------------------------------------
def test_url_selects_postgres_and_the_same_api_works(pg_url):
    import pandas as pd

    with Store(pg_url) as s:
        assert s.backend == "postgres" and s.schema_version == migrations.latest()
        r = s.upsert("areas", pd.DataFrame([{"area_code": "GM0001", "level": "gemeente", "name": "A"},
                                            {"area_code": "GM0002", "level": "gemeente", "name": "B"}]))
        assert (r.inserted, r.updated, r.unchanged) == (2, 0, 0)
        assert s.upsert("areas", pd.DataFrame([{"area_code": "GM0001", "level": "gemeente", "name": "A"}])).unchanged == 1
        assert s.count("areas") == 2 and list(s.frame("areas")["name"]) == ["A", "B"]
        # PostgreSQL itself holds the rows (not a DuckDB copy)
        assert s.native_query("SELECT count(*) AS n FROM public.areas")["n"].iloc[0] == 2
        with pytest.raises(RuntimeError):
            with s.transaction():
                s.append("alerts", pd.DataFrame([{"alert_id": "x", "period": "2026-01", "rule": "CM-X"}]))
                raise RuntimeError("boom")
        assert s.count("alerts") == 0  # rolled back in PostgreSQL
    with Store(":memory:") as m:
        assert m.backend == "duckdb"
        with pytest.raises(StoreError, match="PostgreSQL store"):
            m.native_query("SELECT 1")


@pytest.mark.parametrize("url,needle", [
    ("postgresql://postgres@127.0.0.1:1/x", "cannot reach PostgreSQL at postgresql://postgres@127.0.0.1:1/x"),
    ("postgresql://postgres@127.0.0.1:notaport/x", "not a valid PostgreSQL URL"),
    ("postgresql://postgres@127.0.0.1:5432", "names no database"),
    ("postgresql://postgres:secret@127.0.0.1:1/x", "postgres:***@"),
    ("mysql://u@h/x", "not a store location"),
])
def test_bad_urls_and_refused_connections_are_one_line(url, needle):
    with pytest.raises(StoreError) as e:
        Store(url)
    msg = str(e.value)
    assert needle in msg and "secret" not in msg and len(msg.splitlines()) == 1, msg


def test_refused_connection_through_the_cli_is_one_line_without_traceback():
    _one_line(_cli("--db", "postgresql://postgres:secret@127.0.0.1:1/x", "kpi"), "cannot reach PostgreSQL",
              "start the server")


def test_missing_database_says_createdb(pg_template):
    url = pg.with_database(pg_template[0], "laadplan_no_such_db_x")
    _one_line(_cli("--db", url, "demo", "--out", "/nonexistent-never-made"), "does not exist", "createdb")


def test_missing_postgis_is_one_line_naming_what_to_do(pg_template):
    """A user who may not CREATE EXTENSION on a database without PostGIS gets told what to ask for."""
    name = pg_template[1][:-4] + "_nopostgis"
    url = pg.with_database(pg_template[0], name)
    role = "laadplan_test_plain"
    pg.create_database(url)
    con, _ = pg._admin(url)
    try:
        con.execute("CALL postgres_execute('adm', ?, use_transaction := false)",
                    [f"DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
                     f"CREATE ROLE {role} LOGIN; END IF; END$$"])
        con.execute("CALL postgres_execute('adm', ?, use_transaction := false)",
                    [f'GRANT ALL ON DATABASE "{name}" TO {role}'])
    finally:
        con.close()
    try:
        plain = url.replace("postgres@", f"{role}@", 1)
        _one_line(_cli("--db", plain, "ingest", "cdrs", "/nonexistent.ndjson"), "PostGIS", "CREATE EXTENSION postgis")
    finally:
        pg.drop_database(url)


# -- 5. migrations --------------------------------------------------------------------------------------
def _schema_vs_model(store: Store) -> list[str]:
    """DDL a migration would need so the store matches the model (empty when it does)."""
    have = migrations.schema_of(store.con)
    need = []
    for t in model.all_tables():
        if t.name not in have:
            need.append(t.ddl() + ";")
            continue
        cols, pk = have[t.name]
        names = [c for c, _ in cols]
        for c in t.columns:
            if c.name not in names:
                need.append(f'ALTER TABLE "{t.name}" ADD COLUMN "{c.name}" {model.SQL_TYPES[c.type]};')
            else:
                typ = dict(cols)[c.name]
                if typ != model.SQL_TYPES[c.type]:
                    need.append(f"-- {t.name}.{c.name} is {typ}, the model says {model.SQL_TYPES[c.type]}")
        if list(pk) != list(t.primary_key):
            need.append(f"-- {t.name}: primary key {pk}, the model says {list(t.primary_key)}")
    return need


def test_migrations_from_empty_give_the_model_on_both_backends(backend):
    with Store(backend) as s:
        need = _schema_vs_model(s)
        versions = s.query("SELECT version, name FROM schema_version ORDER BY version")
    assert not need, ("the data model changed without a migration; add src/laadplan/store/migrations/"
                      f"{migrations.latest() + 1:04d}_<what>.sql with:\n" + "\n".join(need))
    assert list(versions["version"]) == list(range(1, migrations.latest() + 1))
    assert versions["name"].iloc[0] == "0001_baseline.py"


def test_db_upgrade_from_the_previous_version_restores_the_layers(pg_url):
    """Version 1 -> 2 on PostgreSQL: `db upgrade` makes the PostGIS layers; again is a no-op."""
    with Store(pg_url) as s:
        s.native_execute("DROP SCHEMA gis CASCADE")
        s.con.execute("DELETE FROM schema_version WHERE version >= 2")
    p = _cli("--db", pg_url, "db", "upgrade")
    assert p.returncode == 0 and f"from version 1 to {migrations.latest()}" in p.stdout, p.stdout + p.stderr
    with Store(pg_url, read_only=True) as s:
        layers = s.native_query("SELECT f_table_name FROM geometry_columns WHERE f_table_schema = 'gis'")
    assert {"locations", "areas", "plan_sites"} <= set(layers["f_table_name"])
    p = _cli("--db", pg_url, "db", "upgrade")
    assert p.returncode == 0 and "up to date" in p.stdout


def test_upgrade_from_version_2_adds_the_corridor_lines_and_their_layer(backend):
    """Version 2 -> 3 on both backends: ``db upgrade`` adds the ``corridors`` table (and on PostgreSQL the
    layer gis.corridors, LineStrings in EPSG:4326 and RD New) and keeps the rows already stored."""
    from laadplan.logistics.corridors import load_corridors
    from laadplan.logistics.pipeline import corridor_rows

    with Store(backend) as s:  # back to what version 2 made: no corridors; hub suggestions with geom only
        if s.backend == "postgres":
            s.native_execute("DROP VIEW gis.corridors")
            s.native_execute("DROP VIEW gis.hub_suggestions")
            s.native_execute("CREATE VIEW gis.hub_suggestions AS SELECT t.*, ST_SetSRID(ST_MakePoint(t.lon, t.lat), "
                             "4326)::geometry(Point,4326) AS geom FROM public.hub_suggestions t")
        s.con.execute("DROP TABLE corridors")
        s.con.execute("DELETE FROM schema_version WHERE version >= 3")
        s.clear_catalog_cache()
        assert s.schema_version == 2 and not s.has_table("corridors")
        s.con.execute("INSERT INTO areas (area_code, level, name) VALUES ('GM0001', 'gemeente', 'A')")
    p = _cli("--db", backend, "db", "upgrade")
    assert p.returncode == 0 and f"from version 2 to {migrations.latest()}" in p.stdout, p.stdout + p.stderr
    corr = load_corridors()
    with Store(backend) as s:
        assert not _schema_vs_model(s) and s.schema_version == migrations.latest()
        assert s.frame("areas")[["area_code", "name"]].values.tolist() == [["GM0001", "A"]]
        s.replace_all("corridors", corridor_rows(corr))
        assert s.count("corridors") == len(corr) >= 10
        if s.backend != "postgres":
            return
        got = s.native_query(
            "SELECT corridor_id, ST_GeometryType(geom) AS t, ST_SRID(geom) AS srid, ST_SRID(geom_rd) AS srid_rd, "
            "ST_Length(geom_rd) / 1000 AS rd_km, ST_NPoints(geom) AS n FROM gis.corridors ORDER BY corridor_id")
        hub_cols = s.native_query("SELECT f_geometry_column AS c, srid FROM geometry_columns WHERE f_table_schema = "
                                  "'gis' AND f_table_name = 'hub_suggestions' ORDER BY 1")
    assert hub_cols.values.tolist() == [["geom", 4326], ["geom_rd", 28992]]
    # the stored line is the corridor's: its length in RD New (PostGIS's transformation of the WGS84 WKB) is
    # the length shapely measured on the road file's line projected with pyproj, within 0.1 %
    want = corr.set_index("corridor_id")
    assert list(got["corridor_id"]) == sorted(want.index)
    assert set(got["t"]) == {"ST_LineString"} and set(got["srid"]) == {4326} and set(got["srid_rd"]) == {28992}
    for r in got.itertuples():
        assert r.rd_km == pytest.approx(want.at[r.corridor_id, "length_km"], rel=1e-3)
        assert r.n == len(want.at[r.corridor_id, "geometry"].coords)


def test_upgrade_from_version_3_gives_the_park_hubs_their_points_and_layer(backend, tmp_path):
    """Version 3 -> 4 on both backends: ``park_hubs`` gains lat/lon/x_rd/y_rd (rows already stored keep NULL
    points), and ``laadplan parks`` then writes each hub at its park's point; on PostgreSQL the layer
    gis.park_hubs shows it in WGS84 and RD New."""
    from laadplan.config import RegionConfig
    from laadplan.geo import to_rd
    from laadplan.logistics.pipeline import run_parks

    with Store(backend) as s:  # back to what version 3 made: park_hubs without points, no layer
        if s.backend == "postgres":
            s.native_execute("DROP VIEW gis.park_hubs")
        for c in ("lat", "lon", "x_rd", "y_rd"):
            s.con.execute(f'ALTER TABLE park_hubs DROP COLUMN "{c}"')
        s.con.execute("DELETE FROM schema_version WHERE version >= 4")
        s.clear_catalog_cache()
        s.con.execute("INSERT INTO park_hubs (park_id, year, name) VALUES ('P0', 2030, 'old')")
        assert s.schema_version == 3
    p = _cli("--db", backend, "db", "upgrade")
    assert p.returncode == 0 and f"from version 3 to {migrations.latest()}" in p.stdout, p.stdout + p.stderr
    parks = tmp_path / "parks.csv"
    parks.write_text("park_id,name,lat,lon,area_ha,firms,vans,trucks\n"
                     "P1,Haven,51.90,4.40,120,80,300,40\nP2,Polder,51.50,3.60,40,20,60,5\n")
    with Store(backend) as s:
        assert not _schema_vs_model(s) and s.schema_version == migrations.latest()
        old = s.frame("park_hubs")
        assert old[["park_id", "name"]].values.tolist() == [["P0", "old"]] and old[["lat", "x_rd"]].isna().all().all()
        run_parks(s, RegionConfig(), str(parks), tmp_path / "out")
        hubs = s.frame("park_hubs").drop_duplicates("park_id").set_index("park_id").sort_index()
        assert list(hubs.index) == ["P1", "P2"]
        x, y = to_rd(np.array([4.40, 3.60]), np.array([51.90, 51.50]))
        assert hubs["lat"].tolist() == [51.90, 51.50] and hubs["lon"].tolist() == [4.40, 3.60]
        assert np.allclose(hubs["x_rd"], x) and np.allclose(hubs["y_rd"], y)
        if s.backend != "postgres":
            return
        got = s.native_query("SELECT DISTINCT park_id, ST_X(geom) AS lon, ST_Y(geom) AS lat, ST_SRID(geom_rd) AS srid, "
                             "ST_X(geom_rd) AS x FROM gis.park_hubs ORDER BY park_id")
    assert got["park_id"].tolist() == ["P1", "P2"] and got["lon"].tolist() == [4.40, 3.60]
    assert set(got["srid"]) == {28992} and np.allclose(got["x"], x)


def _secondary_indexes(s: Store, table: str) -> set[tuple[str, ...]]:
    """The column lists of ``table``'s non-primary-key indexes, as the backend reports them."""
    if s.backend == "postgres":
        rows = s.native_query(
            "SELECT string_agg(a.attname, ',' ORDER BY k.n) AS cols FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n) "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
            f"WHERE c.relname = '{table}' AND ns.nspname = 'public' AND NOT i.indisprimary GROUP BY i.indexrelid")
        return {tuple(r.split(",")) for r in rows["cols"]}
    rows = s.con.execute("SELECT expressions FROM duckdb_indexes() WHERE table_name = ? AND NOT is_primary",
                         [table]).fetchall()
    # (expressions: text such as [period] or ['"rule"'] - a keyword is quoted)
    return {tuple(e.strip(" '\"") for e in r[0].strip("[]").split(",")) for r in rows}


def test_secondary_indexes_are_where_the_model_puts_them(backend):
    """Every table's secondary indexes are the model's ``indexes`` on the backends in its ``index_backends``
    and none elsewhere: ``sessions`` keeps (location_id, evse_uid) and (start_utc) on PostgreSQL only
    (migration 0006)."""
    assert model.table("sessions").index_backends == ("postgres",)
    with Store(backend) as s:
        for t in model.all_tables():
            want = set(t.indexes) if s.backend in t.index_backends else set()
            assert _secondary_indexes(s, t.name) == want, t.name


def test_upgrade_from_version_5_drops_the_duckdb_session_indexes_and_keeps_the_rows(backend):
    """Version 5 -> 6: a DuckDB store made before loses the two secondary ``sessions`` indexes, its sessions
    stay; PostgreSQL keeps both indexes."""
    with Store(backend) as s:  # back to what version 5 made: both indexes on both backends
        for cols in (("location_id", "evse_uid"), ("start_utc",)):
            name = "idx_sessions_" + "_".join(cols)
            s.con.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "sessions" ({", ".join(cols)})')
        s.con.execute("INSERT INTO sessions (session_id, location_id, evse_uid, start_utc, end_utc) VALUES "
                      "('NL*A*1', 'L1', 'E1', TIMESTAMP '2026-01-02 03:04:05', TIMESTAMP '2026-01-02 05:04:05')")
        s.con.execute("DELETE FROM schema_version WHERE version >= 6")
        assert s.schema_version == 5
        assert _secondary_indexes(s, "sessions") == {("location_id", "evse_uid"), ("start_utc",)}
    p = _cli("--db", backend, "db", "upgrade")
    assert p.returncode == 0 and f"from version 5 to {migrations.latest()}" in p.stdout, p.stdout + p.stderr
    with Store(backend) as s:
        assert s.schema_version == migrations.latest() and not _schema_vs_model(s)
        want = {("location_id", "evse_uid"), ("start_utc",)} if s.backend == "postgres" else set()
        assert _secondary_indexes(s, "sessions") == want
        assert s.query("SELECT session_id, evse_uid FROM sessions").values.tolist() == [["NL*A*1", "E1"]]


def test_store_made_before_versioned_migrations_is_adopted(tmp_path):
    """A DuckDB file of the previous laadplan (tables, no schema_version, a column added since) is brought to
    the current version keeping its rows."""
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    t = model.table("areas")
    old_cols = [c for c in t.columns if c.name != "centroid_lon"]
    con.execute(f'CREATE TABLE areas ({", ".join(c.sql() for c in old_cols)}, PRIMARY KEY (area_code))')
    con.execute("INSERT INTO areas (area_code, level, name) VALUES ('GM0001', 'gemeente', 'A')")
    con.close()
    p = _cli("--db", str(db), "db", "upgrade")
    assert p.returncode == 0 and f"from version 0 to {migrations.latest()}" in p.stdout, p.stdout + p.stderr
    with Store(db, read_only=True) as s:
        assert not _schema_vs_model(s)
        assert s.frame("areas")[["area_code", "name"]].values.tolist() == [["GM0001", "A"]]


def test_newer_schema_is_refused_in_one_line_on_both(backend):
    with Store(backend) as s:
        s.con.execute("INSERT INTO schema_version VALUES (99, '0099_future.sql', NULL)")
    _one_line(_cli("--db", backend, "kpi"), "schema version 99", "upgrade laadplan")
    for kw in ({"read_only": True}, {}):  # read commands and writing ones (ingest, db upgrade) alike
        with pytest.raises(StoreError, match="schema version 99, newer than this laadplan knows"):
            Store(backend, **kw)
    with Store(backend, migrate=False) as s:  # untouched: still version 99
        assert s.query("SELECT max(version) AS v FROM schema_version")["v"].iloc[0] == 99


# -- 4. concurrency and safety on PostgreSQL ---------------------------------------------------------
@pytest.mark.slow
def test_two_ingests_at_once_and_a_reader_give_the_sequential_result(pg_url, tmp_path):
    ga, ba = _cdr_file(tmp_path / "a.ndjson", 6_000, bad_every=500)
    gb, bb = _cdr_file(tmp_path / "b.ndjson", 6_000, bad_every=300, first=100_000)
    base = [sys.executable, "-c", "from laadplan.cli import main; main()", "--db", pg_url, "-q"]
    procs = [subprocess.Popen(base + ["ingest", "cdrs", str(tmp_path / f)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for f in ("a.ndjson", "b.ndjson")]
    # a reader while both write: it must neither fail nor see a half-stored file
    seen = []
    while any(p.poll() is None for p in procs):
        with Store(pg_url, read_only=True) as s:
            # one PostgreSQL statement, one snapshot (three separate counts could straddle a commit)
            c = s.native_query("SELECT (SELECT count(*) FROM sessions) AS s, (SELECT count(*) FROM quarantine) AS q, "
                               "(SELECT count(*) FROM ingest_runs) AS r").iloc[0]
        seen.append((int(c["s"]), int(c["q"]), int(c["r"])))
        time.sleep(0.2)
    for p in procs:
        out, err = p.communicate()
        assert p.returncode == 0, err
    allowed = {(0, 0, 0), (ga, ba, 1), (gb, bb, 1), (ga + gb, ba + bb, 2)}
    assert set(seen) <= allowed, set(seen) - allowed
    kpi = _cli("--db", pg_url, "--json", "kpi", "--level", "region")
    assert kpi.returncode == 0, kpi.stderr
    with Store(pg_url, read_only=True) as s:
        assert _counts(s) == (ga + gb, ba + bb, 2)
        assert s.query("SELECT count(*) - count(DISTINCT session_id) AS d FROM sessions")["d"].iloc[0] == 0


@pytest.mark.slow
def test_sigkill_mid_ingest_on_postgres_then_rerun_is_exact(pg_url, tmp_path):
    from laadplan.config import RegionConfig
    from laadplan.ingest import reader

    good, bad = _cdr_file(tmp_path / "big.ndjson", 30_000, bad_every=1000)
    cmd = [sys.executable, "-c", "from laadplan.cli import main; main()", "--db", pg_url, "-q", "ingest", "cdrs",
           str(tmp_path / "big.ndjson")]
    for delay in (random.uniform(2.0, 4.0), random.uniform(4.0, 8.0)):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.kill()
        proc.wait()
        with Store(pg_url) as s:
            assert _counts(s) in {(0, 0, 0), (good, bad, 1)}, delay
            if _counts(s) != (0, 0, 0):
                break
    with Store(pg_url) as s:
        r = reader("cdrs")(s, tmp_path / "big.ndjson", RegionConfig())
        dup = s.query("SELECT count(*) - count(DISTINCT session_id) AS d FROM sessions")["d"].iloc[0]
        assert (r.read, r.accepted) == (good + bad, good)
        assert (s.count("sessions"), s.count("quarantine"), dup) == (good, bad, 0)
        # no transaction of the killed process is left open in the server
        left = s.native_query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
                              "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()")
        assert left["n"].iloc[0] == 0
