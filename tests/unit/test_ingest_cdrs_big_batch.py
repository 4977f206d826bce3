"""The CDR ingest's big-batch path (more than ``SMALL_BATCH`` records in one validation batch): the stored-id
lookup that is skipped when no id of the batch is stored, the quarantine's raw text taken by position, and
the DuckDB memory limit of an ingest run. Expected values come from the generated file itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from laadplan.ingest import reader
from laadplan.ingest import _cdr_lines as lines_mod
from laadplan.ingest import cdrs as cdrs_mod
from laadplan.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from test_ingest_runs import cdr_record  # noqa: E402

N = cdrs_mod.SMALL_BATCH + 500  # one batch, on the big-batch path


def _write(path, records: list[dict | str]) -> None:
    with open(path, "w") as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")


def test_big_batch_with_no_stored_id_skips_the_full_lookup_and_a_reingest_is_judged_against_the_store(
        tmp_path, cfg, monkeypatch):
    first = [cdr_record(i) for i in range(N)]
    _write(tmp_path / "a.ndjson", first)
    full_lookups = []
    orig = cdrs_mod.Store.run_sql

    def spy(self, sql, *a, **k):
        if "JOIN sessions s ON s.session_id" in sql and "LIMIT 0" not in sql:
            full_lookups.append(sql)
        return orig(self, sql, *a, **k)

    monkeypatch.setattr(cdrs_mod.Store, "run_sql", spy)
    store = Store(":memory:")
    res = reader("cdrs")(store, tmp_path / "a.ndjson", cfg)
    assert (res.read, res.accepted, res.quarantined) == (N, N, 0)
    assert full_lookups == []  # a new file: its ids are not stored, the content lookup is not run

    # the same ids again: 1 changed at the same last_updated (LP-DUPLICATE), 1 newer (replaces), 1 older
    # (unchanged: the stored one is newer), the rest identical (unchanged)
    second = [cdr_record(i) for i in range(N)]
    second[7] = cdr_record(7, energy=12.0)
    second[11] = cdr_record(11, energy=13.0, updated="2025-03-02T00:00:00Z")
    second[13] = cdr_record(13, energy=14.0, updated="2025-02-01T00:00:00Z")
    _write(tmp_path / "b.ndjson", second)
    res2 = reader("cdrs")(store, tmp_path / "b.ndjson", cfg)
    assert full_lookups  # stored ids found: the content lookup ran
    assert res2.read == N and res2.quarantined == 1 and res2.by_rule["LP-DUPLICATE"] == 1
    up = res2.upserts["sessions"]
    assert (up.inserted, up.updated, up.unchanged) == (0, 1, N - 2)
    energy = dict(store.con.execute("SELECT session_id, energy_kwh FROM sessions").fetchall())
    assert len(energy) == N
    sid = {i: k for k in energy for i in (7, 11, 13) if k.endswith(f"CDR{i:07d}")}
    assert (energy[sid[7]], energy[sid[11]], energy[sid[13]]) == (10.0, 13.0, 10.0)


def test_quarantine_raw_text_is_the_line_taken_by_position_in_a_big_batch(tmp_path, cfg):
    lines: list[dict | str] = [cdr_record(i) for i in range(N)]
    bad = {5: '{"id": "broken   ', 1500: json.dumps(cdr_record(1500, energy=-1.0)) + "  \t",
           N - 1: json.dumps({"id": "x" * 30_000})}
    for i, text in bad.items():
        lines[i] = text
    lines.insert(100, "")  # a blank line: not a record, but counted in the line numbers
    _write(tmp_path / "c.ndjson", lines)
    store = Store(":memory:")
    res = reader("cdrs")(store, tmp_path / "c.ndjson", cfg)
    assert res.read == N and res.quarantined == 3
    got = store.con.execute("SELECT DISTINCT position, raw FROM quarantine ORDER BY position").fetchall()
    # positions are 1-based line numbers; lines after the blank one moved down by one
    want = [(i + 1 + (i >= 100), text.rstrip(" \t\r\n")[:20_000]) for i, text in sorted(bad.items())]
    assert got == want


def test_ingest_run_sets_duckdb_memory_limit_and_restores_it(tmp_path, cfg, monkeypatch):
    _write(tmp_path / "d.ndjson", [cdr_record(i) for i in range(3)])
    store = Store(":memory:")
    before = store.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]  # DuckDB's default
    seen = []
    orig = cdrs_mod.ingest_cdrs

    def spy(store_, *a, **k):
        seen.append(store_.con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
        return orig(store_, *a, **k)

    monkeypatch.setattr(cdrs_mod, "ingest_cdrs", spy)
    cfg.sources.ingest_memory_mb = 300
    reader("cdrs")(store, tmp_path / "d.ndjson", cfg)
    assert seen and seen[0].replace(" ", "") in ("286.1MiB", "300.0MB")  # 300 MB, as DuckDB prints it
    assert store.con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == before
    # the limit the buffer manager enforces, not only the one shown (after RESET, DuckDB 1.5.5 shows the
    # default and keeps enforcing 300 MB)
    enforced = store.con.execute("SELECT memory_limit FROM pragma_database_size()").fetchall()
    assert enforced and all(v == before for (v,) in enforced)


def test_cap_grows_with_the_stores_indexed_rows(tmp_path, cfg):
    from laadplan.ingest.base import INDEX_BYTES_PER_ROW, _memory_cap

    store = Store(str(tmp_path / "s.duckdb"))
    cfg.sources.ingest_memory_mb = 100
    assert _memory_cap(store, cfg) == 100  # a new store: no indexed rows
    _write(tmp_path / "e.ndjson", [cdr_record(i) for i in range(N)])
    reader("cdrs")(store, tmp_path / "e.ndjson", cfg)
    per_table = store.con.execute("SELECT table_name, estimated_size, index_count FROM duckdb_tables() "
                                  "WHERE index_count > 0").fetchall()
    assert ("sessions", N, 1) in per_table  # the primary key (no secondary index on DuckDB, migration 0006)
    rows = sum(n * k for _, n, k in per_table)
    assert _memory_cap(store, cfg) == 100 + rows * INDEX_BYTES_PER_ROW // (1 << 20)
    cfg.sources.ingest_memory_mb = 0
    assert _memory_cap(store, cfg) is None


def test_a_run_out_of_memory_under_the_cap_is_rolled_back_and_run_again_without_it(tmp_path, cfg, caplog):
    _write(tmp_path / "f.ndjson", [cdr_record(i) for i in range(N)] + ['{"id": "broken'])
    store = Store(str(tmp_path / "s.duckdb"))
    cfg.sources.ingest_memory_mb = 1  # far too small: the first attempt runs out of memory
    res = reader("cdrs")(store, tmp_path / "f.ndjson", cfg)
    assert (res.read, res.accepted, res.quarantined) == (N + 1, N, 1)
    assert any("ran without the sources.ingest_memory_mb cap" in n for n in res.notes)
    assert "running it again without that cap" in caplog.text
    # exactly one run, its rows once: the failed attempt left nothing
    assert store.count("ingest_runs") == 1 and store.count("sessions") == N and store.count("quarantine") == 1


def test_ingest_memory_setting_is_not_negative():
    from pydantic import ValidationError

    from laadplan.config import SourcesSection

    with pytest.raises(ValidationError):
        SourcesSection(ingest_memory_mb=-1)


def test_later_big_batches_find_stored_ids_from_the_known_id_hashes(tmp_path, cfg, monkeypatch):
    """From a file's second big batch on, whether a batch holds a stored id comes from the hashes of the ids
    stored before the run and by its earlier batches (no scan of ``sessions`` per batch). The outcomes are
    the ones counted by hand, for ids stored before the run and ids of an earlier batch of the same file."""
    rows = 2_500  # > SMALL_BATCH: every batch is big
    monkeypatch.setattr(cdrs_mod, "iter_line_batches",
                        lambda src, **k: lines_mod.iter_line_batches(src, max_rows=rows, **k))
    hit_scans = []
    orig = cdrs_mod.Store.run_sql

    def spy(self, sql, *a, **k):
        if sql == cdrs_mod._cdr_sql.hit_sql("_cdr_checked"):
            hit_scans.append(sql)
        return orig(self, sql, *a, **k)

    monkeypatch.setattr(cdrs_mod.Store, "run_sql", spy)
    store = Store(str(tmp_path / "s.duckdb"))
    _write(tmp_path / "a.ndjson", [cdr_record(i) for i in range(rows)])  # stored before the run: 0..2499
    assert reader("cdrs")(store, tmp_path / "a.ndjson", cfg).accepted == rows
    newer, older = "2025-03-02T00:00:00Z", "2025-02-01T00:00:00Z"
    b1 = [cdr_record(i) for i in range(10_000, 12_500)]
    b2 = [cdr_record(i) for i in range(12_500, 14_998)] + [
        cdr_record(7, energy=12.0),  # stored before the run, same last_updated, other content: LP-DUPLICATE
        cdr_record(10_003, energy=13.0, updated=newer)]  # batch 1's id, newer: replaces it
    b3 = [cdr_record(10_005),  # batch 1's id, identical: unchanged
          cdr_record(10_006, energy=14.0),  # batch 1's id, same last_updated, other content: LP-DUPLICATE
          cdr_record(11, energy=15.0, updated=older)] + [  # stored before, older: unchanged
        cdr_record(i) for i in range(15_000, 17_497)]
    assert len(b1) == len(b2) == len(b3) == rows
    _write(tmp_path / "b.ndjson", b1 + b2 + b3)
    hit_scans.clear()
    res = reader("cdrs")(store, tmp_path / "b.ndjson", cfg)
    assert len(hit_scans) == 1  # the first batch scanned sessions; the two others asked the known hashes
    assert (res.read, res.accepted, res.quarantined) == (3 * rows, 3 * rows - 2, 2)
    assert res.by_rule == {"LP-DUPLICATE": 2}
    up = res.upserts["sessions"]
    assert (up.inserted, up.updated, up.unchanged) == (2_500 + 2_498 + 2_497, 1, 2)
    energy = {k.rsplit("CDR", 1)[1]: v for k, v in store.con.execute(
        "SELECT session_id, energy_kwh FROM sessions").fetchall()}
    assert len(energy) == rows + 2_500 + 2_498 + 2_497
    assert [energy[f"{i:07d}"] for i in (7, 11, 10_003, 10_005, 10_006)] == [10.0, 10.0, 13.0, 10.0, 10.0]


def test_known_id_hashes_find_every_member_and_merge_their_chunks():
    """_KnownIds against a brute-force set: every added hash is found, others are not, chunks stay few."""
    import numpy as np

    class _Empty:  # a store whose sessions table is empty
        class con:  # noqa: N801
            @staticmethod
            def sql(_):
                class R:
                    @staticmethod
                    def fetchnumpy():
                        return {"h": np.array([], dtype=np.uint64)}
                return R

    rng = np.random.default_rng(7)
    known = cdrs_mod._KnownIds(_Empty)
    added: set[int] = set()
    for _ in range(40):
        ids = rng.integers(0, 2**63, size=int(rng.integers(1, 3_000)), dtype=np.uint64)
        probe = rng.integers(0, 2**63, size=50, dtype=np.uint64)
        assert known.any_of(probe) == bool(added & set(probe.tolist()))
        if added:
            member = np.array([sorted(added)[int(rng.integers(0, len(added)))]], dtype=np.uint64)
            assert known.any_of(np.concatenate([probe, member]))
        known.add(ids)
        added |= set(ids.tolist())
    assert set(np.concatenate(known.chunks).tolist()) == added and len(known.chunks) <= 12
