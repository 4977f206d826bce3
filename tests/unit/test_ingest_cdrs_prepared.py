"""The small-batch path (statements prepared once per connection over TEMP tables, used for the OCPI
receiver's pushes) and the big-batch path (Arrow tables bound by name, the file ingest's) are one rule set:
the same batches through both give identical sessions, quarantine rows and counts - with a defect of every
rule, duplicates within the batch and against stored sessions, newer and older versions of stored
sessions, and random mutations of valid CDRs."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laadplan.config import RegionConfig
from laadplan.ingest import _cdr_sql
from laadplan.ingest._io import SourceError
from laadplan.ingest.cdrs import ingest_cdr_records, prepare_cdr_batches
from laadplan.store import Store

from test_ingest_cdrs import CDR_211, CDR_221  # noqa: E402 (tests/unit is on sys.path)
from test_ingest_cdrs_property import mutated_cdr  # noqa: E402


def _cdr(i: int, **changes) -> dict:
    c = copy.deepcopy(CDR_221)
    c["id"] = f"P{i}"
    for path, v in changes.items():
        parent = c
        keys = path.split("__")
        for k in keys[:-1]:
            parent = parent[k]
        if v is _DROP:
            parent.pop(keys[-1])
        else:
            parent[keys[-1]] = v
    return c


_DROP = object()

#: one record per rule (and the cases around the stored sessions and duplicates)
DEFECTS: dict[str, object] = {
    "good": _cdr(1),
    "good 2.1.1": CDR_211,
    "LP-MALFORMED": '{"id": "broken", ',
    "LP-TYPE object": "[1, 2]",
    "LP-TYPE number as text": _cdr(2, total_energy="16.5"),
    "LP-MISSING": _cdr(3, cdr_token=_DROP),
    "LINDA-ENERGY-NEG": _cdr(4, total_energy=-1.0),
    "LINDA-FUTURE": _cdr(5, start_date_time="2099-01-01T00:00:00Z", end_date_time="2099-01-01T02:30:00Z"),
    "LP-FUTURE": _cdr(6, last_updated="2099-01-01T00:00:00Z"),
    "LINDA-BEFORE-2009": _cdr(7, start_date_time="2005-03-01T18:00:00Z", end_date_time="2005-03-01T20:30:00Z"),
    "LINDA-START-END": _cdr(8, end_date_time="2025-03-01T17:00:00Z"),
    "LINDA-TIME-NEG": _cdr(9, total_time=-1.0),
    "LINDA-TIME-MISMATCH": _cdr(10, total_time=9.0),
    "LP-CHARGE-GT-CONNECTED": _cdr(11, total_parking_time=-0.5),
    "LP-ENERGY-POWER connector": _cdr(12, total_energy=500.0),
    "LP-ENERGY-POWER own": _cdr(13, total_energy=500.0, cdr_location__evse_uid="NOPE"),
    "LP-COORDS-NL": _cdr(14, cdr_location__coordinates={"latitude": "4.479170", "longitude": "51.922500"}),
    "several rules": _cdr(15, total_energy=-1.0, total_time=-1.0, currency=_DROP),
    "dup in batch a": _cdr(16),
    "dup in batch b (other content)": _cdr(16, total_energy=12.0),
    "same id newer in batch": _cdr(17, last_updated="2025-03-02T00:00:00Z"),
    "same id older in batch": _cdr(17, last_updated="2025-03-01T21:00:00Z", total_energy=3.0),
    "stored, same version other content": _cdr(100, total_energy=12.0),
    "stored, newer version": _cdr(101, last_updated="2025-03-05T00:00:00Z", total_energy=14.0),
    "stored, older version": _cdr(102, last_updated="2025-02-01T00:00:00Z"),
    "stored, identical": _cdr(103),
    "blank line": "   ",
}

STORED = [_cdr(100), _cdr(101), _cdr(102), _cdr(103)]


def _text(r) -> str:
    return r if isinstance(r, str) else json.dumps(r)


def _fresh_store(cfg: RegionConfig, db: str = ":memory:") -> Store:
    s = Store(db, create=True)
    s.con.execute("INSERT INTO connectors (country_code, party_id, location_id, evse_uid, connector_id, power_kw) "
                  "VALUES ('NL', 'ABC', 'LOC1', 'EVSE1', '1', 11.0)")
    s.run_id = "run-stored"
    with s.transaction():
        ingest_cdr_records(s, [(k + 1, _text(r)) for k, r in enumerate(STORED)], cfg, "stored", digest="stored",
                           prepared=False)
    s.run_id = None
    return s


def _run(store: Store, cfg: RegionConfig, batches: list[list[str]], prepared: bool) -> list[dict]:
    """Each batch as the receiver runs it: one run, one transaction."""
    out = []
    for b, texts in enumerate(batches):
        if prepared:
            prepare_cdr_batches(store, cfg)
        store.run_id = f"run-{b}"
        try:
            with store.transaction():
                res = ingest_cdr_records(store, [(k + 1, t) for k, t in enumerate(texts)], cfg,
                                         "ocpi-push:NL*ABC", digest=f"d{b}", prepared=prepared)
        except SourceError as e:  # nothing parseable at all (refused whole, as a file would be): on both paths
            out.append({"refused": str(e)})
            continue
        finally:
            store.run_id = None
        out.append({k: v for k, v in res.to_dict().items() if k != "run_id"})
    return out


def _tables(store: Store) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    sessions = store.frame("sessions")
    q = store.frame("quarantine").drop(columns=["ingested_utc"])
    q = q.sort_values(list(q.columns), na_position="first").reset_index(drop=True)
    runs = store.frame("ingest_runs").drop(columns=["started_utc", "finished_utc"])
    return sessions, q, runs


def _both(cfg: RegionConfig, batches: list[list[str]], small_db: str = ":memory:"):
    """The file path on a DuckDB store, the small-batch path on ``small_db``."""
    a, b = _fresh_store(cfg), _fresh_store(cfg, small_db)
    try:
        ra, rb = _run(a, cfg, batches, prepared=False), _run(b, cfg, batches, prepared=True)
        return ra, rb, _tables(a), _tables(b)
    finally:
        a.close()
        b.close()


def _same(ta, tb) -> None:
    for x, y in zip(ta, tb):
        pd.testing.assert_frame_equal(x, y)


@pytest.mark.parametrize("small_on", ["duckdb", "postgres"])
def test_every_rule_gives_the_same_verdicts_rows_and_counts_on_both_paths(small_on, request):
    """On PostgreSQL the small-batch path parses into a TEMP table and reads a TEMP copy of the batch's
    connectors (statements over attached tables are bound at every EXECUTE): the same verdicts and rows."""
    cfg = RegionConfig()
    small_db = request.getfixturevalue("pg_url") if small_on == "postgres" else ":memory:"
    texts = [_text(r) for r in DEFECTS.values()]
    # the same batch three times on one connection (the second and third runs reuse the prepared statements and
    # find the first run's sessions stored), then a batch of one, one whose only duplicate is against a stored
    # session (no id twice in the batch) and one of only bad records
    batches = [texts, texts[::-1], texts, [texts[0]], [_text(DEFECTS["stored, same version other content"])],
               [_text(DEFECTS["LP-MALFORMED"]), _text(DEFECTS["LP-FUTURE"])]]
    ra, rb, ta, tb = _both(cfg, batches, small_db)
    assert ra == rb
    _same(ta, tb)
    # the batch really exercised every rule (so that equality means something), counted by hand
    first = ra[0]
    assert set(first["quarantined_by_rule"]) == set(_cdr_sql.RULE_ORDER)
    assert first["read"] == len(texts) - 1  # the blank line is not a record
    # bad: the 16 records from LP-MALFORMED to "several rules", the second of the in-batch duplicate pair and
    # the one with a stored session's id and version but other content
    assert first["quarantined"] == 16 + 1 + 1
    # accepted: good, good 2.1.1, dup in batch a, both versions of P17, the three other stored ids
    assert first["accepted"] == 8 == first["read"] - 18
    # in-batch repeats of one id: the newer version is stored, the other counts as unchanged
    sessions = ta[0].set_index("session_id")
    assert sessions.loc["NL*ABC*P17", "energy_kwh"] == 16.5
    assert sessions.loc["NL*ABC*P101", "energy_kwh"] == 14.0  # newer than the stored version: replaced
    assert sessions.loc["NL*ABC*P102", "run_id"] == "run-stored"  # older than the stored version: kept
    assert first["tables"]["sessions"]["updated"] == 1


SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(batch=st.lists(st.one_of(mutated_cdr(), st.sampled_from(list(DEFECTS.values()))), min_size=1, max_size=12),
       ids=st.lists(st.sampled_from(["P1", "P16", "P100", "P101", "X"]), min_size=12, max_size=12))
def test_random_batches_give_the_same_result_on_both_paths(batch, ids):
    cfg = RegionConfig()
    texts = []
    for r, i in zip(batch, ids):
        if isinstance(r, dict) and i != "X":
            r = {**r, "id": i}  # ids that repeat within the batch and meet the stored sessions
        texts.append(_text(r))
    ra, rb, ta, tb = _both(cfg, [texts, texts])
    assert ra == rb
    _same(ta, tb)


def test_receiver_groups_on_a_store_view_of_either_backend(backend):
    """The receiver commits its groups on a view of the server's store (Store.cursor, one for all groups):
    on PostgreSQL that view must name the attached database, and the prepared statements must work over the
    attached tables; a group of good and bad CDRs, then the same group again (idempotent), on both backends."""
    from laadplan.api.ocpi.cdrs import CdrItem, commit_groups

    cfg = RegionConfig()
    good = [_cdr(1), _cdr(2, total_energy=7.0)]
    bad = _cdr(3, total_energy=-1.0)
    items = [CdrItem("2.2.1", "NL", "ABC", r["id"], r, json.dumps(r)) for r in good + [bad]]
    with Store(backend, create=True) as server:
        view = server.cursor()
        try:
            first = commit_groups(view, cfg, items)
            again = commit_groups(view, cfg, items)
            rows = view.query("SELECT session_id, energy_kwh FROM sessions ORDER BY session_id")
            q = view.query("SELECT record_id, rule_code FROM quarantine")
        finally:
            view.close()
    assert [(v.rejected, v.changed) for v in first[:2]] == [([], True), ([], True)]
    assert [r["rule_code"] for r in first[2].rejected] == ["LINDA-ENERGY-NEG"]
    assert [(v.rejected, v.changed) for v in again[:2]] == [([], False), ([], False)]  # stored as it is
    assert rows.values.tolist() == [["NL*ABC*P1", 16.5], ["NL*ABC*P2", 7.0]]
    assert q.values.tolist() == [["NL*ABC*P3", "LINDA-ENERGY-NEG"]]  # one row per rule, also after the retry


def _obj(oid: str, last: str | None, body: str) -> dict:
    return {"module": "cdrs", "country_code": "NL", "party_id": "ABC", "object_id": oid, "version": "2.2.1",
            "object_json": body, "last_updated_utc": pd.Timestamp(last) if last else None, "run_id": "r"}


def test_upsert_rows_has_the_semantics_of_upsert_and_survives_a_rollback(backend):
    """Store.upsert_rows (prepared, for a few rows) against Store.upsert on the same rows, on both backends;
    made inside a transaction that is rolled back, it does not leave a vanished staging table behind."""
    first = [_obj("A", "2025-01-01", "a1"), _obj("B", None, "b1")]
    second = [_obj("A", "2025-02-01", "a2"), _obj("A", "2025-03-01", "a3"), _obj("A", "2025-03-01", "a4"),
              _obj("B", "2024-01-01", "b2"), _obj("C", "2025-01-01", "c1"), _obj("D", None, "d1")]
    results, frames = [], []
    for fast in (False, True):
        with Store(backend if fast else ":memory:", create=True) as s:
            if fast:
                s.prepare_upsert("ocpi_objects")
            up = s.upsert_rows if fast else (lambda t, rows: s.upsert(t, pd.DataFrame(rows)))
            results.append([vars(up("ocpi_objects", first)), vars(up("ocpi_objects", second)),
                            vars(up("ocpi_objects", second))])
            frames.append(s.frame("ocpi_objects", columns=["object_id", "object_json", "last_updated_utc"]))
    assert results[0] == results[1]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    # by hand: A newest a3 (a4 ties it, the first wins), B replaced (any version beats none), C and D new
    assert frames[1]["object_json"].tolist() == ["a3", "b2", "c1", "d1"]
    assert results[1][1] == {"inserted": 2, "updated": 2, "unchanged": 2}
    with Store(":memory:") as s:
        try:
            with s.transaction():
                s.upsert_rows("ocpi_objects", first)  # no statements prepared: the generic upsert
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        assert s.count("ocpi_objects") == 0
        assert vars(s.upsert_rows("ocpi_objects", first)) == {"inserted": 2, "updated": 0, "unchanged": 0}


def test_statements_prepared_on_an_empty_store_hold_after_the_data_arrives():
    """The small path prepares its statements on first use; planned with the statistics of that moment (an
    empty store: no connectors, no sessions, no NULLs), DuckDB would prune joins and filters for good. After
    connectors and sessions arrive, both paths still give the same result."""
    cfg = RegionConfig()
    texts = [_text(r) for r in DEFECTS.values()]
    out = []
    for prepared in (False, True):
        with Store(":memory:") as s:
            first = _run(s, cfg, [[_text(_cdr(900))]], prepared=prepared)  # prepared on the empty store
            s.con.execute("INSERT INTO connectors (country_code, party_id, location_id, evse_uid, connector_id, "
                          "power_kw) VALUES ('NL', 'ABC', 'LOC1', 'EVSE1', '1', 11.0)")
            s.run_id = "run-stored"
            with s.transaction():
                ingest_cdr_records(s, [(k + 1, _text(r)) for k, r in enumerate(STORED)], cfg, "stored",
                                   digest="stored", prepared=False)
            s.run_id = None
            out.append((first + _run(s, cfg, [texts, texts], prepared=prepared), _tables(s)))
    (ra, ta), (rb, tb) = out
    assert ra == rb
    _same(ta, tb)
    assert set(ra[1]["quarantined_by_rule"]) == set(_cdr_sql.RULE_ORDER)  # incl. LP-DUPLICATE, LP-ENERGY-POWER


def test_store_view_after_the_copy_submodule_was_imported():
    """``import laadplan.store.copy`` (``laadplan db copy``) rebinds the name ``copy`` in the store package;
    Store.cursor() used that name for the standard module and failed in any process that had imported it."""
    import laadplan.store.copy  # noqa: F401

    with Store(":memory:") as s:
        view = s.cursor()
        try:
            assert view.query("SELECT 42 AS a")["a"].tolist() == [42]
        finally:
            view.close()


def test_only_scratch_tables_that_got_rows_are_emptied(monkeypatch):
    """A batch of new ids (no stored version, no id twice) leaves ``multi``, ``stored``, ``dup`` and ``replace``
    empty: only ``in`` (which also carries the batch's time, source and run id) and ``checked`` are emptied after
    it (an empty DELETE costs a statement), and ``multi`` is not even filled (no id twice); a batch that meets a
    stored id and repeats an id fills and empties those too, and the next batch starts clean."""
    from laadplan.ingest import cdrs as mod

    cfg = RegionConfig()
    store = _fresh_store(cfg)
    deletes: list[str] = []
    fills: list[str] = []
    real = mod._Prepared.run

    def spy(self, sql):
        if sql.startswith("DELETE FROM temp.main._cdrp_"):
            deletes.append(sql.split("_cdrp_")[1])
        if sql.startswith("INSERT INTO temp.main._cdrp_"):
            fills.append(sql.split("_cdrp_")[1].split()[0])
        return real(self, sql)

    monkeypatch.setattr(mod._Prepared, "run", spy)
    try:
        new = [_text(_cdr(900 + k)) for k in range(3)]
        assert _run(store, cfg, [new], prepared=True)[0]["accepted"] == 3
        assert sorted(deletes) == ["checked", "in"]
        # (``in`` is filled with parameters and ``stored`` with the batch's ids as literals: neither prepared)
        assert sorted(fills) == ["checked"]
        deletes.clear()
        fills.clear()
        newer = _cdr(900, last_updated="2025-03-02T08:00:00Z")  # a newer version of a stored id
        twice = [_text(_cdr(950)), _text(_cdr(950, total_energy=3.0))]  # same id and last_updated, other content
        res = _run(store, cfg, [[_text(newer)] + twice], prepared=True)[0]
        assert res["accepted"] == 2 and res["quarantined"] == 1 and "LP-DUPLICATE" in str(res)
        assert sorted(deletes) == ["checked", "dup", "in", "multi", "replace", "stored"]
        assert sorted(fills) == ["checked", "dup", "multi", "replace"]
        for t in ("in", "checked", "multi", "stored", "dup", "replace"):
            assert store.con.execute(f"SELECT count(*) FROM temp.main._cdrp_{t}").fetchone()[0] == 0, t
    finally:
        store.close()


def test_upsert_of_new_keys_skips_the_anti_join(monkeypatch):
    """When ``count`` finds none of the staged keys stored, upsert_rows and upsert insert with the plain
    ``insert_all`` (no anti-join against the table, which scans it whole); with a stored key, the anti-join
    insert. Same rows either way (checked by hand)."""
    import laadplan.store as store_mod

    executed: list[str] = []
    with Store(":memory:", create=True) as s:
        s.prepare_upsert("ocpi_objects")
        real = s.con.execute

        class Spy:  # records which prepared statement runs (the connection's execute is read-only)
            def __getattr__(self, a):
                return getattr(real.__self__, a)

            def execute(self, sql, *args):
                if sql.startswith("EXECUTE "):
                    executed.append(sql.split()[1].split("_", 3)[-1])  # _lp_up<n>_<statement>
                return real(sql, *args)

        monkeypatch.setattr(s, "con", Spy())
        assert vars(s.upsert_rows("ocpi_objects", [_obj("A", "2025-01-01", "a1"), _obj("B", None, "b1")])) == \
            {"inserted": 2, "updated": 0, "unchanged": 0}
        assert "insert_all" in executed and "insert" not in executed
        executed.clear()
        assert vars(s.upsert_rows("ocpi_objects", [_obj("A", "2025-02-01", "a2"), _obj("C", None, "c1")])) == \
            {"inserted": 1, "updated": 1, "unchanged": 0}
        assert "insert" in executed and "insert_all" not in executed
        monkeypatch.undo()
        assert s.frame("ocpi_objects", columns=["object_id", "object_json"]).values.tolist() == \
            [["A", "a2"], ["B", "b1"], ["C", "c1"]]
    sql = store_mod._upsert_sql(store_mod.model.table("ocpi_objects"), "st")
    assert "NOT EXISTS" in sql["insert"] and "NOT EXISTS" not in sql["insert_all"] and "JOIN" not in sql["insert_all"]


def test_evse_power_limit_from_the_batch_evses_connectors_on_both_paths(backend):
    """The power limit of LP-ENERGY-POWER: the record's connector's power, else its EVSE's largest connector
    power, else the record's own MAX_POWER, else the default. A pushed group (``few``: only the connectors of
    its EVSEs are aggregated) and the file path give the verdicts and stored max power computed here by hand
    (2.5 h connected, margin 1.10, own MAX_POWER 11 kW)."""
    cfg = RegionConfig()
    rows = [("EVSE1", "1", 11.0), ("EVSE1", "2", 22.0), ("EVSE2", "1", 350.0), ("EVSE3", "1", 150.0)]
    cases = [  # (evse, connector, energy kWh) -> (broken LP-ENERGY-POWER?, stored max_power_kw)
        ("EVSE1", "9", 50.0, False, 22.0),   # unknown connector: EVSE1's largest, 22 x 2.5 x 1.1 = 60.5 >= 50
        ("EVSE1", "9", 65.0, True, None),    # 65 > 60.5
        ("EVSE1", "1", 35.0, True, None),    # its connector, 11 x 2.5 x 1.1 = 30.25 < 35 (not EVSE1's 22)
        ("EVSE2", "9", 500.0, False, 350.0),  # 350 x 2.5 x 1.1 = 962.5
        ("NOPE", "1", 35.0, True, None),     # no such EVSE: own 11 kW
    ]
    texts = [_text(_cdr(700 + k, cdr_location__evse_uid=e, cdr_location__connector_id=c, total_energy=kwh))
             for k, (e, c, kwh, _, _) in enumerate(cases)]
    for prepared, db in ((False, ":memory:"), (True, backend)):  # (the small path on either backend)
        s = Store(db, create=True)
        try:
            for e, c, kw in rows:
                s.con.execute("INSERT INTO connectors (country_code, party_id, location_id, evse_uid, connector_id, "
                              "power_kw) VALUES ('NL', 'ABC', 'LOC1', ?, ?, ?)", [e, c, kw])
            res = _run(s, cfg, [texts], prepared=prepared)[0]
            bad = set(s.query("SELECT record_id FROM quarantine WHERE rule_code = 'LP-ENERGY-POWER'")["record_id"])
            got = dict(s.query("SELECT session_id, max_power_kw FROM sessions").values.tolist())
            for k, (_, _, _, broken, power) in enumerate(cases):
                sid = f"NL*ABC*P{700 + k}"
                assert (sid in bad) == broken, (prepared, k)
                if not broken:
                    assert got[sid] == power, (prepared, k, got)
            assert res["accepted"] == 2 and res["quarantined"] == 3
        finally:
            s.close()


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(st.tuples(st.sampled_from(["A", "B", "C", "it's", "é\\x"]),
                                           st.sampled_from([None, "2025-01-01", "2025-02-01", "2025-02-01 12:00:00"]),
                                           _TEXT), min_size=1, max_size=6), min_size=1, max_size=3))
def test_put_rows_stores_what_upsert_stores(backend, batches):
    """Store.put_rows (one ON CONFLICT statement; on PostgreSQL run in PostgreSQL with literal values) leaves
    the same rows as Store.upsert, the reference, on both backends: keys and texts with quotes, backslashes and
    accents, versions missing or equal; and for a table without a version column (ingest_runs) the first stored
    row stays."""
    import datetime as dt

    def obj(oid, last, text):
        return {**_obj(oid, last, json.dumps(text)), "received_utc": dt.datetime(2026, 1, 1), "run_id": "r'1"}

    frames = []
    for db in (":memory:", backend):
        with Store(db, create=True) as s:
            s.con.execute("DELETE FROM ocpi_objects")
            s.con.execute("DELETE FROM ingest_runs")
            for b in batches:
                rows = [obj(*r) for r in b]
                if db == ":memory:":
                    s.upsert("ocpi_objects", pd.DataFrame(rows))
                else:
                    s.put_rows("ocpi_objects", rows)
                runs = [{"run_id": r[0], "kind": "cdrs", "source_file": r[2], "records_read": len(b)} for r in b]
                if db == ":memory:":
                    s.upsert("ingest_runs", pd.DataFrame(runs))
                else:
                    s.put_rows("ingest_runs", runs)
            frames.append((s.query("SELECT object_id, object_json, last_updated_utc, run_id FROM ocpi_objects "
                                   "ORDER BY object_id"),
                           s.query("SELECT run_id, source_file, records_read FROM ingest_runs ORDER BY run_id")))
    for ref, got in zip(frames[0], frames[1]):
        assert ref.astype(str).values.tolist() == got.astype(str).values.tolist()
    # by hand, the first batch's first row of each run id stays (no version column: a stored run is kept)
    first: dict = {}
    for b in batches:
        for r in b:
            first.setdefault(r[0], r[2])
    assert dict(frames[1][1][["run_id", "source_file"]].values.tolist()) == first


def test_postgres_group_with_a_nul_in_an_id_loses_only_that_cdr(pg_url):
    """PostgreSQL text holds no NUL: a pushed CDR whose id has one (``\\u0000`` in its JSON) cannot be stored
    there and fails alone (its group is committed again record by record); the stored-session lookup, which
    names the batch's ids as literals, leaves it out instead of breaking the statement for the whole group."""
    from laadplan.api.ocpi.cdrs import CdrItem, commit_groups

    good, bad = _cdr(1), _cdr(2)
    bad["id"] = "P\x002"
    items = [CdrItem("2.2.1", "NL", "ABC", r["id"], r, json.dumps(r)) for r in (good, bad)]
    with Store(pg_url, create=True) as s:
        view = s.cursor()
        try:
            out = commit_groups(view, RegionConfig(), items)
            assert view.query("SELECT session_id FROM sessions")["session_id"].tolist() == ["NL*ABC*P1"]
        finally:
            view.close()
    assert out[0].rejected == [] and out[0].changed
    assert isinstance(out[1], Exception) and "NULL-byte" in str(out[1]), out[1]


def test_put_rows_with_new_keys_stores_the_same_and_refuses_a_stored_key_on_duckdb(backend):
    """``new_keys=True`` (a plain INSERT on DuckDB): new keys end up stored exactly as without the hint; a key
    that is stored after all fails the statement on DuckDB (the caller then redoes its work without the hint)
    and is upserted as usual on PostgreSQL, which ignores the hint."""
    import datetime as dt

    import duckdb

    def rows(ids, text):
        return [{**_obj(i, "2025-03-01", text), "received_utc": dt.datetime(2026, 1, 1), "run_id": "r1"} for i in ids]

    got = []
    for hint in (False, True):
        with Store(backend, create=True) as s:
            s.con.execute("DELETE FROM ocpi_objects")
            s.put_rows("ocpi_objects", rows(["A", "B", "it's"], "{}"), new_keys=hint)
            got.append(s.query("SELECT * FROM ocpi_objects ORDER BY object_id").astype(str).values.tolist())
            later = [{**r, "last_updated_utc": dt.datetime(2025, 4, 1)} for r in rows(["B", "C"], '{"v": 2}')]
            if hint and not backend.startswith("postgresql"):
                with pytest.raises(duckdb.ConstraintException):
                    with s.transaction():
                        s.put_rows("ocpi_objects", later, new_keys=True)
                assert s.count("ocpi_objects") == 3  # the failed statement left nothing behind
            else:
                s.put_rows("ocpi_objects", later, new_keys=hint)
                assert s.query("SELECT object_id, object_json FROM ocpi_objects ORDER BY object_id").values.tolist() \
                    == [["A", "{}"], ["B", '{"v": 2}'], ["C", '{"v": 2}'], ["it's", "{}"]]
    assert got[0] == got[1] and len(got[0]) == 3


def test_receiver_stores_objects_of_new_cdrs_with_the_hint_and_recovers_when_one_is_stored(backend, monkeypatch):
    """A group of new CDRs stores their objects with ``new_keys`` (a plain INSERT on DuckDB); a group with a
    stored session does not. An object stored without its session (the session removed since) fails the plain
    INSERT on DuckDB: the group is committed again with the upsert, and every CDR is accepted."""
    from laadplan.api.ocpi.cdrs import CdrItem, commit_groups

    hints = []
    real = Store.put_rows

    def spy(self, table, rows, *, new_keys=False):
        if table == "ocpi_objects":
            hints.append(new_keys)
        return real(self, table, rows, new_keys=new_keys)

    monkeypatch.setattr(Store, "put_rows", spy)
    cfg = RegionConfig()

    def items(*cdrs):
        return [CdrItem("2.2.1", "NL", "ABC", r["id"], r, json.dumps(r)) for r in cdrs]

    with Store(backend, create=True) as server:
        view = server.cursor()
        try:
            first = commit_groups(view, cfg, items(_cdr(1), _cdr(2)))
            assert hints == [True]
            again = commit_groups(view, cfg, items(_cdr(1)))  # stored as it is: no hint
            assert hints == [True, False]
            view.con.execute("DELETE FROM sessions WHERE session_id = 'NL*ABC*P2'")  # the object stays
            newer = _cdr(2, last_updated="2025-03-05T00:00:00Z", total_energy=14.0)
            hints.clear()
            third = commit_groups(view, cfg, items(_cdr(3), newer))
            objs = view.query("SELECT object_id, object_json FROM ocpi_objects ORDER BY object_id")
            sessions = view.query("SELECT session_id, energy_kwh FROM sessions ORDER BY session_id")
        finally:
            view.close()
    assert [(v.rejected, v.changed) for v in first + again] == [([], True), ([], True), ([], False)]
    assert [(v.rejected, v.changed) for v in third] == [([], True), ([], True)]
    # DuckDB: the hinted INSERT failed on P2's stored object, the group went again without the hint
    assert hints == ([True] if backend.startswith("postgresql") else [True, False])
    assert objs["object_id"].tolist() == ["P1", "P2", "P3"]
    assert json.loads(objs["object_json"][1])["total_energy"] == 14.0  # the newer version replaced it
    assert sessions.values.tolist() == [["NL*ABC*P1", 16.5], ["NL*ABC*P2", 14.0], ["NL*ABC*P3", 16.5]]


def test_duckdb_group_finds_a_stored_cdr_whose_id_has_a_nul():
    """The stored-session lookup names the batch's ids as SQL literals, which cannot hold a NUL; DuckDB text can,
    so a batch with such an id looks its stored sessions up with the join instead: pushed again, the stored
    CDR is found (unchanged), not inserted a second time."""
    from laadplan.api.ocpi.cdrs import CdrItem, commit_groups

    odd = _cdr(2)
    odd["id"] = "P\x002"
    items = [CdrItem("2.2.1", "NL", "ABC", r["id"], r, json.dumps(r)) for r in (_cdr(1), odd)]
    with Store(":memory:", create=True) as s:
        view = s.cursor()
        try:
            first = commit_groups(view, RegionConfig(), items)
            again = commit_groups(view, RegionConfig(), items)
            n = view.count("sessions")
        finally:
            view.close()
    assert [(v.rejected, v.changed) for v in first] == [([], True), ([], True)]
    assert [(v.rejected, v.changed) for v in again] == [([], False), ([], False)]
    assert n == 2


def test_postgres_lookups_of_a_lone_cdr_reach_the_key_indexes(pg_url, capfd):
    """A lone pushed CDR (the usual push: a few per second region-wide) looks up its stored session and its
    EVSE's connectors in PostgreSQL by one id and one location. DuckDB sends a one-value filter as
    ``= 'v' COLLATE "C"``, which PostgreSQL cannot answer from a key index built with the database's collation
    (it reads the whole table); the lookups name the value twice so that an IN list goes out. Checked on the
    statements DuckDB sends (``pg_debug_show_queries``)."""
    from laadplan.api.ocpi.cdrs import CdrItem, commit_groups

    one = _cdr(1)
    with Store(pg_url, create=True) as s:
        view = s.cursor()
        try:
            commit_groups(view, RegionConfig(), [CdrItem("2.2.1", "NL", "ABC", "warm", _cdr(0), json.dumps(_cdr(0)))])
            capfd.readouterr()
            view.con.execute("SET pg_debug_show_queries = true")
            out = commit_groups(view, RegionConfig(), [CdrItem("2.2.1", "NL", "ABC", one["id"], one, json.dumps(one))])
            view.con.execute("SET pg_debug_show_queries = false")
        finally:
            view.close()
    cap = capfd.readouterr()
    sent = [ln for ln in (cap.out + cap.err).splitlines() if "COPY (SELECT" in ln]
    assert out[0].rejected == [] and out[0].changed
    by_table = {t: [ln for ln in sent if f'FROM "public"."{t}" WHERE' in ln] for t in ("sessions", "connectors")}
    assert by_table["sessions"] and by_table["connectors"], sent
    for t, col in (("sessions", "session_id"), ("connectors", "location_id")):
        for ln in by_table[t]:
            assert 'COLLATE "C"' not in ln and f'"{col}" IN (' in ln, ln


def test_stored_objects_are_fetched_by_key_on_both_backends(backend, capfd):
    """load_object (GET of a pushed CDR, location, session or tariff) finds an object by its key, quotes and
    all, and nothing for another key or a NUL character; on PostgreSQL the key goes out as IN lists (an ``=``
    filter goes out with COLLATE "C" and read the whole table there, see in_list)."""
    import datetime as dt

    from laadplan.api.ocpi.core import load_object

    rows = [{**_obj(i, "2025-03-01", json.dumps({"id": i})), "received_utc": dt.datetime(2026, 1, 1), "run_id": "r"}
            for i in ("A", "it's", "B")]
    with Store(backend, create=True) as s:
        s.put_rows("ocpi_objects", rows)
        if s.backend == "postgres":
            s.con.execute("SET pg_debug_show_queries = true")
        capfd.readouterr()
        assert load_object(s, "cdrs", "nl", "abc", "it's") == {"id": "it's"}
        assert load_object(s, "cdrs", "NL", "ABC", "A") == {"id": "A"}
        assert load_object(s, "cdrs", "NL", "ABC", "C") is None
        assert load_object(s, "cdrs", "NL", "OTH", "A") is None
        assert load_object(s, "cdrs", "NL", "ABC", "A\x00") is None
        cap = capfd.readouterr()
    if backend.startswith("postgresql"):
        sent = [ln for ln in (cap.out + cap.err).splitlines() if 'FROM "public"."ocpi_objects" WHERE' in ln]
        assert len(sent) == 4 and all('COLLATE "C"' not in ln and '"object_id" IN (' in ln for ln in sent), sent


def test_in_list_names_the_distinct_values_and_one_twice():
    from laadplan.store import in_list

    assert in_list(["b", "a", "b"]) == "IN ('a', 'b')"
    assert in_list(["it's"]) == "IN ('it''s', 'it''s')"


def test_key_filter_suits_each_backend():
    from laadplan.store import key_filter

    assert key_filter("postgres", {"a": "x", "b": "it's"}) == ("\"a\" IN ('x', 'x') AND \"b\" IN ('it''s', 'it''s')", [])
    assert key_filter("postgres", {"a": "x\x00"}) == ("FALSE", [])
    assert key_filter("duckdb", {"a": "x", "b": "y\x00"}) == ('"a" = ? AND "b" = ?', ["x", "y\x00"])


def test_postgres_push_looks_its_run_up_by_the_key_index(pg_url, capfd):
    """An OCPI push (location, session, tariff) asks whether its run is stored already: by run_id, named as a
    list on PostgreSQL (an ``=`` filter read all of ingest_runs there, which grows by a run per push)."""
    from laadplan.api.ocpi.core import push
    from laadplan.ingest.base import IngestResult

    with Store(pg_url, create=True) as s:
        s.con.execute("SET pg_debug_show_queries = true")
        capfd.readouterr()
        out = push(s, "locations", "NL", "ABC", '{"id": "L1"}', lambda store, name, digest: IngestResult("locations", name))
        cap = capfd.readouterr()
    sent = [ln for ln in (cap.out + cap.err).splitlines() if 'FROM "public"."ingest_runs" WHERE' in ln]
    assert out.changed and sent and all('"run_id" IN (' in ln and 'COLLATE "C"' not in ln for ln in sent), sent
