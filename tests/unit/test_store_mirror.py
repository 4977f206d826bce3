"""The local DuckDB mirror of the PostgreSQL store's sessions (issue 14, :mod:`laadplan.store.mirror`): used while
the table is unchanged, made again after every kind of change, never reused across databases, safe against a
change committed mid-copy, a cache that cannot be used is a warning and the KPIs stay right.

The reference for the KPI values is the same computation on a DuckDB file copied from the PostgreSQL database
at that moment (``laadplan db copy``, which reads PostgreSQL directly); the KPI maths themselves are checked by
hand and by brute force in test_kpi_usage.py / test_kpi_bruteforce.py."""

from __future__ import annotations

import itertools
import logging
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from laadplan.config import RegionConfig
from laadplan.kpi import usage_kpis
from laadplan.store import Store, migrations, mirror
from laadplan.store import postgres as pg
from laadplan.store.copy import copy_store

sys.path.insert(0, str(Path(__file__).parent))
from test_ingest_runs import _cdr_file  # noqa: E402
from test_store_postgres import _cli  # noqa: E402

_N = itertools.count()


@pytest.fixture(autouse=True)
def mirror_dir(tmp_path, monkeypatch):
    d = tmp_path / "mirror"
    monkeypatch.setenv(mirror.ENV, str(d))
    monkeypatch.setenv(mirror.CHURN_ENV, "0")  # these tests change the table and read at once, on purpose
    mirror.STATS.clear()
    return d


def _fill(s: Store, n: int, salt: int = 0) -> None:
    """10 EVSEs on 5 locations and ``n`` sessions spread over 2026 (deterministic; ``salt`` changes them)."""
    s.con.execute("INSERT INTO locations (location_id, country_code, party_id, gm_code, bu_code) "
                  "SELECT 'L' || i, 'NL', 'ABC', 'GM0599', 'BU05990101' FROM range(5) t(i)")
    s.con.execute("INSERT INTO evses (country_code, party_id, location_id, evse_uid, status) "
                  "SELECT 'NL', 'ABC', 'L' || (i // 2), 'E' || i, 'AVAILABLE' FROM range(10) t(i)")
    _sessions(s, range(n), salt)


def _sessions(s: Store, ids, salt: int = 0) -> None:
    lo, hi = ids.start, ids.stop
    s.con.execute(f"""
        INSERT INTO sessions (session_id, country_code, party_id, location_id, evse_uid, start_utc, end_utc,
                              connected_h, charging_h, energy_kwh, user_id)
        SELECT 'S' || i, 'NL', 'ABC', 'L' || ((i + {salt}) % 10 // 2), 'E' || ((i + {salt}) % 10),
               TIMESTAMP '2026-01-01' + INTERVAL 1 HOUR * ((i * 7919 + {salt} * 31) % 8700),
               TIMESTAMP '2026-01-01' + INTERVAL 1 HOUR * ((i * 7919 + {salt} * 31) % 8700)
                   + INTERVAL 1 MINUTE * (30 + (i * 13) % 600),
               (30 + (i * 13) % 600) / 60.0, least((30 + (i * 13) % 600) / 60.0, 2.5), 3.0 + i % 17,
               'u' || (i % 37)
        FROM range({lo}, {hi}) t(i)""")


def _kpis(s: Store) -> pd.DataFrame:
    df = usage_kpis(s, RegionConfig(), "evse", period="month")
    return df.sort_values(["location_id", "evse_uid", "period_start"]).reset_index(drop=True)


def _reference(url: str, tmp_path: Path) -> pd.DataFrame:
    """The KPIs computed on a fresh DuckDB copy of the PostgreSQL database as it is now."""
    db = tmp_path / f"ref{next(_N)}.duckdb"
    copy_store(url, str(db))
    with Store(db, read_only=True) as s:
        return _kpis(s)


def _mirrors(d: Path) -> list[Path]:
    return sorted(d.glob("sessions-*.duckdb")) if d.is_dir() else []


def _version(s: Store) -> int:
    v = mirror.read_version(s, "sessions", ["session_id"])
    assert not isinstance(v, str), v
    return v.version


# -- reuse and refresh --------------------------------------------------------------------------------------
def test_mirror_is_reused_while_current_and_made_again_after_each_kind_of_change(pg_url, tmp_path, mirror_dir):
    with Store(pg_url) as s:
        _fill(s, 400)
        first = _kpis(s)
        assert mirror.STATS["built"] == 1 and len(_mirrors(mirror_dir)) == 1
        ino = _mirrors(mirror_dir)[0].stat().st_ino
        pd.testing.assert_frame_equal(first, _reference(pg_url, tmp_path))
        assert first["sessions"].sum() == 400
        again = _kpis(s)  # unchanged: the same file, no COPY
        assert mirror.STATS["built"] == 1 and mirror.STATS["reused"] == 1
        assert [p.stat().st_ino for p in _mirrors(mirror_dir)] == [ino]
        pd.testing.assert_frame_equal(again, first)

        changes = {
            "insert": lambda: _sessions(s, range(400, 450)),
            "upsert (delete + insert of a newer version)": lambda: s.upsert("sessions", pd.DataFrame([dict(
                session_id="S3", country_code="NL", party_id="ABC", location_id="L0", evse_uid="E1",
                start_utc=pd.Timestamp("2026-03-03 10:00"), end_utc=pd.Timestamp("2026-03-03 20:00"),
                energy_kwh=55.0, last_updated_utc=pd.Timestamp("2030-01-01"))])),
            "update": lambda: s.con.execute("UPDATE sessions SET energy_kwh = energy_kwh * 2 WHERE evse_uid = 'E4'"),
            "delete": lambda: s.con.execute("DELETE FROM sessions WHERE evse_uid = 'E7'"),
            "truncate": lambda: s.con.execute("TRUNCATE sessions"),
            "insert after truncate": lambda: _sessions(s, range(0, 300), salt=5),
        }
        built, before = 1, _version(s)
        for what, change in changes.items():
            change()
            now = _version(s)
            assert now > before, f"{what}: the change log did not count it ({before} -> {now})"
            before = now
            got = _kpis(s)
            built += 1
            assert mirror.STATS["built"] == built, what
            pd.testing.assert_frame_equal(got, _reference(pg_url, tmp_path), obj=what)
            assert len(_mirrors(mirror_dir)) == 1, f"{what}: superseded mirrors are removed"
        assert got["sessions"].sum() == 300


def test_a_table_written_by_several_transactions_is_read_directly_until_it_settles(pg_url, tmp_path,
                                                                                      mirror_dir, monkeypatch):
    """Churn: with two transactions writing sessions within the window (an OCPI receiver taking pushes), no
    mirror is made (the KPIs read PostgreSQL directly and stay right); one transaction (an ingest run) in the
    window, or the window passed, and the mirror is made."""
    monkeypatch.setenv(mirror.CHURN_ENV, "3600")
    with Store(pg_url) as s:
        with s.transaction():  # one transaction, several statements: one writer
            _fill(s, 200)
            _sessions(s, range(200, 260))
        assert _kpis(s)["sessions"].sum() == 260 and mirror.STATS["built"] == 1
        _sessions(s, range(260, 270))  # a second transaction within the hour: churning
        got = _kpis(s)
        assert mirror.STATS["built"] == 1 and mirror.STATS["churning"] == 1 and got["sessions"].sum() == 270
        pd.testing.assert_frame_equal(got, _reference(pg_url, tmp_path))
        assert len(_mirrors(mirror_dir)) == 1  # the old one stays until a new one is made
        monkeypatch.setenv(mirror.CHURN_ENV, "0.001")  # the window passed
        assert _kpis(s)["sessions"].sum() == 270 and mirror.STATS["built"] == 2


def test_an_ingest_run_and_the_ocpi_receivers_upsert_rows_refresh_the_mirror(pg_url, tmp_path):
    with Store(pg_url) as s:
        _fill(s, 50)
        _kpis(s)
        _cdr_file(tmp_path / "c.ndjson", 40)
        from laadplan.ingest import reader

        r = reader("cdrs")(s, tmp_path / "c.ndjson", RegionConfig())
        assert r.accepted == 40
        got = _kpis(s)
        assert mirror.STATS["built"] == 2
        pd.testing.assert_frame_equal(got, _reference(pg_url, tmp_path))
        # Store.upsert_rows: prepared statements over a TEMP staging table (the receiver now writes sessions
        # through the CDR ingest above, and its objects and runs with put_rows)
        res = s.upsert_rows("sessions", [dict(session_id="S9", country_code="NL", party_id="ABC",
                                              location_id="L2", evse_uid="E5",
                                              start_utc=pd.Timestamp("2026-06-01 08:00"),
                                              end_utc=pd.Timestamp("2026-06-01 18:30"), energy_kwh=40.0,
                                              last_updated_utc=pd.Timestamp("2031-01-01"))])
        assert res.updated == 1
        got = _kpis(s)
        assert mirror.STATS["built"] == 3
        pd.testing.assert_frame_equal(got, _reference(pg_url, tmp_path))
        e5 = got[(got["evse_uid"] == "E5") & (got["period_start"] == pd.Timestamp("2026-06-01").date())]
        assert e5["connected_h"].sum() >= 10.5


def test_inside_a_transaction_the_store_reads_its_own_uncommitted_rows_and_makes_no_mirror(pg_url, tmp_path):
    with Store(pg_url) as s:
        _fill(s, 100)
        with pytest.raises(RuntimeError, match="undo"), s.transaction():
            _sessions(s, range(100, 130))
            got = _kpis(s)
            assert got["sessions"].sum() == 130
            assert mirror.STATS["built"] == 0
            raise RuntimeError("undo")  # rolled back: nothing of it stays
        assert _kpis(s)["sessions"].sum() == 100 and mirror.STATS["built"] == 1


def test_two_refreshes_at_once_both_end_with_right_kpis_and_one_file(pg_url, tmp_path, monkeypatch, mirror_dir):
    import threading

    with Store(pg_url) as s:
        _fill(s, 200)
    real, both = mirror._build, threading.Barrier(2, timeout=120)

    def build_together(*a):
        both.wait()  # the two builders copy and rename at the same time
        real(*a)

    monkeypatch.setattr(mirror, "_build", build_together)
    out: dict[int, pd.DataFrame] = {}

    def kpis(i: int) -> None:
        with Store(pg_url, read_only=True) as s:  # its own connection (own DuckDB instance)
            out[i] = _kpis(s)

    ts = [threading.Thread(target=kpis, args=(i,)) for i in (0, 1)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ref = _reference(pg_url, tmp_path)
    assert mirror.STATS["built"] == 2 and mirror.STATS["fallback"] == 0
    for i in (0, 1):
        pd.testing.assert_frame_equal(out[i], ref)
    assert len(_mirrors(mirror_dir)) == 1 and not [p for p in mirror_dir.iterdir() if p.name.endswith("tmp")]


# -- identity ------------------------------------------------------------------------------------------------
def test_a_database_made_again_under_the_same_name_never_reuses_the_old_mirror(pg_template, tmp_path, mirror_dir):
    """Same name, same URL, the same number of write statements (so the same change-log version), other rows:
    the first database's mirror must not be read. Also two copies of one template (same store id)."""
    _, tpl = pg_template
    url = pg.with_database(pg_template[0], f"{tpl[:-4]}_again")
    results = []
    try:
        for salt in (0, 3):
            pg.drop_database(url)
            pg.create_database(url)  # not from the template: migrations make a new store id
            with Store(url) as s:
                _fill(s, 200, salt)
                v = mirror.read_version(s, "sessions", ["x"])
                results.append((v.version, _kpis(s), _reference(url, tmp_path)))
        (v1, got1, ref1), (v2, got2, ref2) = results
        assert v1 == v2 and mirror.STATS["built"] == 2 and mirror.STATS["reused"] == 0
        pd.testing.assert_frame_equal(got1, ref1)
        pd.testing.assert_frame_equal(got2, ref2)
        assert not got1.equals(got2)
        # two databases copied from one template share the store id, not the database oid
        urls = [pg.with_database(url, f"{tpl[:-4]}_tw{i}") for i in (1, 2)]
        for u, salt in zip(urls, (1, 2)):
            pg.create_database(u, template=tpl)
            with Store(u) as s:
                _fill(s, 200, salt)
                pd.testing.assert_frame_equal(_kpis(s), _reference(u, tmp_path))
        assert mirror.STATS["built"] == 4 and mirror.STATS["reused"] == 0
    finally:
        pg.drop_database(url)
        for u in locals().get("urls", []):
            pg.drop_database(u)


def test_a_change_committed_between_version_read_and_copy_is_refreshed_next_time(pg_url, tmp_path, monkeypatch):
    with Store(pg_url) as s:
        _fill(s, 120)
    real = mirror.read_version
    done = []

    def read_then_other_writer(store, table, columns):
        v = real(store, table, columns)
        if not done:
            with Store(pg_url) as other:  # another connection commits between the version read and the copy
                _sessions(other, range(120, 160))
            done.append(v)
        return v

    monkeypatch.setattr(mirror, "read_version", read_then_other_writer)
    with Store(pg_url) as s:
        first = _kpis(s)  # the copy already has the 40 rows; the mirror is labelled with the older version
        assert first["sessions"].sum() == 160 and mirror.STATS["built"] == 1
        second = _kpis(s)
        assert mirror.STATS["built"] == 2 and mirror.STATS["reused"] == 0, "the newer version is seen: made again"
        third = _kpis(s)
        assert mirror.STATS["built"] == 2 and mirror.STATS["reused"] == 1
    ref = _reference(pg_url, tmp_path)
    for got in (first, second, third):
        pd.testing.assert_frame_equal(got, ref)


# -- migration 0005, compaction, db copy ---------------------------------------------------------------------
def _trigger(s: Store) -> list:
    return s.native_query("SELECT tgenabled FROM pg_trigger WHERE tgname = 'lp_note_change' "
                          "AND tgrelid = 'public.sessions'::regclass")["tgenabled"].tolist()


def test_migration_0005_from_empty_on_both_backends(backend, tmp_path):
    with Store(backend) as s:
        assert s.schema_version == migrations.latest() >= 5
        if s.backend == "duckdb":  # a no-op: the file is read in place
            assert not s.query("SELECT * FROM duckdb_schemas() WHERE schema_name = 'laadplan_meta'").shape[0]
            _fill(s, 50)
            _kpis(s)
            assert mirror.STATS["built"] == 0 and not _mirrors(tmp_path / "mirror")
            return
        assert _trigger(s) == ["A"]
        ids = s.native_query("SELECT store_id::text AS i FROM laadplan_meta.store_identity")["i"].tolist()
        assert len(ids) == 1 and len(ids[0]) == 36
        assert _version(s) == 0
        _fill(s, 10)
        assert _version(s) == 1  # one INSERT statement (a COPY through DuckDB's postgres extension)


def test_db_upgrade_from_version_4_adds_the_change_log_and_triggers(pg_url, tmp_path):
    with Store(pg_url) as s:
        s.native_execute("DROP TRIGGER lp_note_change ON public.sessions")
        s.native_execute("DROP SCHEMA laadplan_meta CASCADE")
        s.con.execute("DELETE FROM schema_version WHERE version >= 5")
    with Store(pg_url, read_only=True) as s:
        assert s.schema_version == 4
    p = _cli("--db", pg_url, "db", "upgrade")
    assert p.returncode == 0 and f"from version 4 to {migrations.latest()}" in p.stdout, p.stdout + p.stderr
    with Store(pg_url) as s:
        assert _trigger(s) == ["A"] and _version(s) == 0
        _fill(s, 30)
        pd.testing.assert_frame_equal(_kpis(s), _reference(pg_url, tmp_path))
        assert mirror.STATS["built"] == 1
    assert _cli("--db", pg_url, "db", "upgrade").returncode == 0  # again: up to date, trigger kept
    with Store(pg_url) as s:
        assert _trigger(s) == ["A"]


def test_a_store_at_version_4_read_only_gives_right_kpis_and_a_warning(pg_url, tmp_path, caplog):
    with Store(pg_url) as s:
        _fill(s, 30)
        s.native_execute("DROP SCHEMA laadplan_meta CASCADE")
        s.con.execute("DELETE FROM schema_version WHERE version >= 5")
    with Store(pg_url, read_only=True) as s, caplog.at_level(logging.WARNING, "laadplan.store.mirror"):
        got = _kpis(s)
    assert "db upgrade" in caplog.text and mirror.STATS["built"] == 0
    pd.testing.assert_frame_equal(got, _reference(pg_url, tmp_path))


def test_compaction_keeps_the_version_and_it_never_decreases(pg_url, monkeypatch):
    with Store(pg_url) as s:
        _fill(s, 5)
        for i in range(12):  # 12 more statements
            _sessions(s, range(5 + i, 6 + i))
        assert _version(s) == 13
        # a writer whose statement is not committed yet while the log is compacted
        other = Store(pg_url)
        other.con.execute("BEGIN")
        _sessions(other, range(100, 101))
        mirror.compact(s, "sessions")
        assert _version(s) == 13
        n = s.native_query("SELECT count(*) AS n FROM laadplan_meta.table_changes")["n"].iloc[0]
        assert n == 1
        other.con.execute("COMMIT")
        other.close()
        assert _version(s) == 14
        mirror.compact(s, "sessions")
        mirror.compact(s, "sessions")  # nothing new: the same single row
        assert _version(s) == 14
        # the KPI path compacts on its own above the threshold, after making the mirror
        monkeypatch.setattr(mirror, "COMPACT_ABOVE", 3)
        for i in range(5):
            _sessions(s, range(200 + i, 201 + i))
        _kpis(s)
        assert mirror.STATS["compacted"] == 3 + 1 and _version(s) == 19
        _kpis(s)
        assert mirror.STATS["built"] == 1 and mirror.STATS["reused"] == 1  # compaction is no change


def test_db_copy_into_postgres_leaves_the_triggers_and_the_mirror_follows(pg_template, tmp_path):
    src = tmp_path / "src.duckdb"
    with Store(src) as s:
        _fill(s, 150)
        want = _kpis(s)
    url = pg.with_database(pg_template[0], f"{pg_template[1][:-4]}_copy")
    pg.create_database(url)  # empty: db copy makes PostGIS and the schema
    try:
        p = _cli("db", "copy", str(src), url)
        assert p.returncode == 0, p.stdout + p.stderr
        with Store(url) as s:
            assert _trigger(s) == ["A"] and _version(s) >= 1
            pd.testing.assert_frame_equal(_kpis(s), want)
            _sessions(s, range(150, 170))
            got = _kpis(s)
        assert mirror.STATS["built"] == 2 and got["sessions"].sum() == 170
        pd.testing.assert_frame_equal(got, _reference(url, tmp_path))
    finally:
        pg.drop_database(url)


# -- the cache failing ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["not a folder", "read-only folder"])
def test_an_unusable_cache_gives_right_kpis_and_a_warning(pg_url, tmp_path, monkeypatch, caplog, how):
    if how == "not a folder":
        f = tmp_path / "plain-file"
        f.write_text("x")
        monkeypatch.setenv(mirror.ENV, str(f / "mirror"))
    else:
        if os.geteuid() == 0:
            # root writes into a mode-0500 folder; make the write itself fail instead
            def read_only(tmp, final):
                raise OSError(30, "Read-only file system")

            monkeypatch.setattr(mirror, "_publish", read_only)
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o500)
        monkeypatch.setenv(mirror.ENV, str(d))
    with Store(pg_url) as s:
        _fill(s, 80)
        with caplog.at_level(logging.WARNING, "laadplan.store.mirror"):
            got = _kpis(s)
        assert "reading PostgreSQL directly" in caplog.text and mirror.STATS["fallback"] == 1
        assert got["sessions"].sum() == 80
    pd.testing.assert_frame_equal(got, _reference(pg_url, tmp_path))
    if how == "read-only folder":
        assert not list((tmp_path / "ro").iterdir()), "no temp file left behind"
        (tmp_path / "ro").chmod(0o700)


def test_mirror_can_be_turned_off(pg_url, monkeypatch, tmp_path):
    monkeypatch.setenv(mirror.ENV, "off")
    with Store(pg_url) as s:
        _fill(s, 20)
        assert _kpis(s)["sessions"].sum() == 20
    assert mirror.STATS["built"] == 0 and mirror.STATS["fallback"] == 0 and not (tmp_path / "mirror").exists()


def test_a_damaged_mirror_file_is_made_again(pg_url, tmp_path, mirror_dir):
    with Store(pg_url) as s:
        _fill(s, 60)
        _kpis(s)
        (f,) = _mirrors(mirror_dir)
        f.write_bytes(b"not a database")
        got = _kpis(s)
        assert mirror.STATS["built"] == 2 and mirror.STATS["fallback"] == 0
        import duckdb

        f.unlink()  # a valid DuckDB file without the table
        duckdb.connect(str(f)).close()
        assert _kpis(s)["sessions"].sum() == 60 and mirror.STATS["built"] == 3
    pd.testing.assert_frame_equal(got, _reference(pg_url, tmp_path))
