"""Ingest runs (issue 12.6-12.9, 10.7): atomic runs, one-line errors, source guards, quarantine keyed by the
file, wrong file type refused, ``ingest undo``. Every test names the defect it guards against."""

from __future__ import annotations

import gzip
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from laadplan.ingest import SourceError, reader
from laadplan.store import Store, StoreError

REPO = Path(__file__).resolve().parents[2]


# -- helpers ----------------------------------------------------------------------------------------
def cdr_record(i: int, *, energy: float = 10.0, updated: str = "2025-03-01T12:01:00Z") -> dict:
    """One valid OCPI 2.2.1 CDR (with the LINDA cost fields) with id CDR<i>, ``energy`` kWh, ``last_updated``."""
    return {
        "country_code": "NL", "party_id": "ABC", "id": f"CDR{i:07d}",
        "start_date_time": "2025-03-01T10:00:00Z", "end_date_time": "2025-03-01T12:00:00Z",
        "cdr_token": {"uid": "U1", "type": "RFID", "contract_id": "NL-EMP-C1"}, "auth_method": "WHITELIST",
        "cdr_location": {"id": "L1", "coordinates": {"latitude": "51.9", "longitude": "4.4"}, "evse_uid": "E1",
                         "evse_id": "NL*ABC*E1", "connector_id": "1"},
        "currency": "EUR", "tariffs": [{"id": "T1"}],
        "charging_periods": [{"start_date_time": "2025-03-01T10:00:00Z",
                              "dimensions": [{"type": "ENERGY", "volume": energy}]}],
        "total_cost": {"excl_vat": 3.5, "incl_vat": 4.2}, "total_fixed_cost": {"excl_vat": 0, "incl_vat": 0},
        "total_energy": energy, "total_energy_cost": {"excl_vat": 3.5, "incl_vat": 4.2}, "total_time": 2.0,
        "total_parking_time": 0.5, "last_updated": updated,
    }


def _cdr(i: int, **over) -> str:
    """One valid OCPI 2.2.1 CDR (NDJSON line) with id CDR<i>, fields replaced by ``over``."""
    return json.dumps({**cdr_record(i), **over})


def _cdr_file(path: Path, n: int, bad_every: int = 0, first: int = 0) -> tuple[int, int]:
    """``n`` lines: valid CDRs, every ``bad_every``-th line a broken one. Returns (good, bad)."""
    good = bad = 0
    with open(path, "w") as f:
        for i in range(first, first + n):
            if bad_every and i % bad_every == bad_every - 1:
                f.write('{"id": "broken\n')
                bad += 1
            else:
                f.write(_cdr(i) + "\n")
                good += 1
    return good, bad


def _counts(store: Store) -> tuple[int, int, int]:
    return store.count("sessions"), store.count("quarantine"), store.count("ingest_runs")


def _run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """The CLI in its own process (for what needs one: a lock held elsewhere, a kill, a full disk)."""
    return subprocess.run([sys.executable, "-c", "from laadplan.cli import main; main()", *args],
                          capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})}, timeout=120)


@pytest.fixture
def cli(capsys, monkeypatch):
    """The CLI's ``main()`` in this process (fast): returns (exit code, stdout, stderr)."""
    from laadplan.cli import main

    def run(*args: str) -> subprocess.CompletedProcess:
        monkeypatch.setattr(sys, "argv", ["laadplan", *args])
        code = 0
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


# -- 12.6 atomic runs -------------------------------------------------------------------------------
def test_truncated_gzip_in_status_reader_stores_nothing(tmp_path, cfg):
    """Defect: a truncated gzip in the status reader left 19,876 rows with no run. Now: one error naming the
    file, and no row, quarantine row or run of it."""
    lines = ["evse_uid,observed_utc,status"] + [f"E{i % 50},2026-06-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
                                                f"{i % 60:02d}Z,AVAILABLE" for i in range(60_000)]
    data = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1)
    p = tmp_path / "status.csv.gz"
    p.write_bytes(data[: int(len(data) * 0.7)])  # cut: the first batches decompress fine
    s = Store(tmp_path / "s.duckdb")
    with pytest.raises(SourceError, match="status.csv.gz: corrupt or truncated gzip"):
        reader("status")(s, p, cfg)
    assert (s.count("status_observations"), s.count("quarantine"), s.count("ingest_runs")) == (0, 0, 0)


def test_failure_after_the_first_batches_rolls_back_records_and_quarantine(tmp_path, cfg, monkeypatch):
    """A cdrs run failing in its third batch leaves neither the first batches' sessions nor their
    quarantine rows (before: each batch committed on its own)."""
    from laadplan.ingest import cdrs

    good, bad = _cdr_file(tmp_path / "c.ndjson", 300, bad_every=10)
    real = cdrs.iter_line_batches

    def failing(src, **kw):
        # batches of 100 lines (they are regrouped up to max_rows lines whatever the read block size)
        for k, t in enumerate(real(src, **{**kw, "block_bytes": 8_000, "max_rows": 100})):
            if k == 2:
                raise OSError(28, "No space left on device")
            yield t

    monkeypatch.setattr(cdrs, "iter_line_batches", failing)
    s = Store(tmp_path / "s.duckdb")
    with pytest.raises(SourceError, match="c.ndjson"):
        reader("cdrs")(s, tmp_path / "c.ndjson", cfg)
    assert _counts(s) == (0, 0, 0)
    monkeypatch.setattr(cdrs, "iter_line_batches", real)
    r = reader("cdrs")(s, tmp_path / "c.ndjson", cfg)
    assert (r.accepted, r.quarantined) == (good, bad) == (270, 30)
    assert _counts(s) == (270, 30, 1)


def test_failed_commit_reports_its_own_error_not_the_rollback(tmp_path):
    """Defect: "cannot rollback - no transaction is active" hid the real error ("No space left on device").
    A COMMIT that fails has already ended the transaction; the caller must see the first error."""
    s = Store(tmp_path / "s.duckdb")
    with pytest.raises(RuntimeError, match="No space left on device"):
        with s.transaction():
            s.con.execute("COMMIT")  # the database ended the transaction (as a failed COMMIT does)
            raise RuntimeError("IO Error: No space left on device")
    assert not s.in_transaction
    s.con.execute("SELECT 1").fetchall()  # the connection is usable again


@pytest.mark.skipif(os.geteuid() != 0 or sys.platform != "linux", reason="needs root to mount a tiny tmpfs")
def test_full_disk_is_one_line_and_stores_nothing(tmp_path, cfg):
    """A store on a full disk: the ingest ends with one line saying so (not "cannot rollback"), exit 1."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount tmpfs here")
    try:
        _cdr_file(tmp_path / "c.ndjson", 20_000)
        proc = _run_cli("--db", str(mnt / "s.duckdb"), "-q", "ingest", "cdrs", str(tmp_path / "c.ndjson"))
        assert proc.returncode == 1, proc.stdout + proc.stderr
        err = proc.stderr.strip()
        assert "Traceback" not in err and "cannot rollback" not in err
        assert "no space left" in err.lower() and "c.ndjson" in err and len(err.splitlines()) == 1
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
def test_sigkill_at_a_random_moment_leaves_none_or_all_then_rerun_is_exact(tmp_path):
    """Defect: a run killed with SIGKILL left 722,222 sessions with no ingest run. Kill an ingest of a large
    generated file at a random moment: the store holds none or all of the file; a re-run gives exact counts."""
    import random

    good, bad = _cdr_file(tmp_path / "big.ndjson", 60_000, bad_every=1000)
    db = tmp_path / "s.duckdb"
    cmd = [sys.executable, "-c", "from laadplan.cli import main; main()", "--db", str(db), "-q", "ingest", "cdrs",
           str(tmp_path / "big.ndjson")]
    t0 = time.monotonic()  # how long starting up and a whole run take here (the machine may be loaded)
    subprocess.run(cmd[:3] + ["--help"], capture_output=True, check=True)
    startup = time.monotonic() - t0
    t0 = time.monotonic()
    full = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    duration = time.monotonic() - t0
    assert full.returncode == 0, full.stderr
    db.unlink()
    delay = random.uniform(startup, duration * 0.95)  # most likely while the file is being ingested
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.kill()
    proc.wait()
    if db.exists():
        with Store(db) as s:
            n_sessions, n_quarantine, n_runs = _counts(s)
        assert (n_sessions, n_quarantine, n_runs) in {(0, 0, 0), (good, bad, 1)}, (delay, duration)
    with Store(db) as s:
        r = reader("cdrs")(s, tmp_path / "big.ndjson", __import__("laadplan.config").config.RegionConfig())
        n_sessions, n_quarantine, _ = _counts(s)
        dup = s.con.execute("SELECT count(*) - count(DISTINCT session_id) FROM sessions").fetchall()[0][0]
    assert (r.read, r.accepted, r.quarantined) == (good + bad, good, bad)
    assert (n_sessions, n_quarantine, dup) == (good, bad, 0)


# -- 12.7 no tracebacks -----------------------------------------------------------------------------
def _assert_one_line(proc: subprocess.CompletedProcess, *needles: str) -> None:
    err = proc.stderr.strip()
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in err and "Aborted" not in err, err
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err


def test_corrupt_gzip_and_binary_garbage_name_the_file(tmp_path, cli):
    """Defect: a corrupt gzip ended in "Aborted." without a file name."""
    (tmp_path / "bad.ndjson.gz").write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(500))
    (tmp_path / "garbage.bin").write_bytes(bytes(range(256)) * 40)
    db = str(tmp_path / "s.duckdb")
    _assert_one_line(_run_cli("--db", db, "ingest", "cdrs", str(tmp_path / "bad.ndjson.gz")), "bad.ndjson.gz")
    for kind in ("cdrs", "tariffs", "status", "locations", "grid", "connections", "requests"):
        _assert_one_line(cli("--db", db, "ingest", kind, str(tmp_path / "garbage.bin")), "garbage.bin")


def test_second_writer_is_told_another_process_holds_the_store(tmp_path):
    """Defect: a second writer got a raw "Could not set lock"."""
    db = tmp_path / "s.duckdb"
    Store(db).close()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from laadplan.store import Store; "
                               f"s = Store({str(db)!r}); print('ready', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="another laadplan process .* holds the store"):
            Store(db)
        _assert_one_line(_run_cli("--db", str(db), "quality"), "another laadplan process", str(db))
    finally:
        holder.kill()
        holder.wait()


def test_db_that_is_a_folder_or_not_a_store_or_missing(tmp_path, cli):
    """--db pointing at a folder, at a non-store file, or at a mistyped path: one line each; a read command
    never creates a store (before: an empty store appeared behind the typo)."""
    (tmp_path / "notes.txt").write_text("not a database\n" * 100)
    _assert_one_line(cli("--db", str(tmp_path), "quality"), "is a folder")
    _assert_one_line(cli("--db", str(tmp_path / "notes.txt"), "quality"), "not a laadplan store")
    typo = tmp_path / "typo" / "laadplan.duckdb"
    _assert_one_line(cli("--db", str(typo), "quality"), "no store at")
    _assert_one_line(cli("--db", str(typo), "kpi", "--level", "region"), "no store at")
    assert not typo.parent.exists()


def test_out_pointing_at_an_existing_file(tmp_path, cli):
    (tmp_path / "afile").write_text("x")
    _assert_one_line(cli("--db", str(tmp_path / "s.duckdb"), "demo", "--out", str(tmp_path / "afile")),
                     "existing file")


def test_read_only_folder_for_a_new_store(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores folder permissions")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        _cdr_file(tmp_path / "c.ndjson", 3)
        _assert_one_line(_run_cli("--db", str(ro / "s.duckdb"), "ingest", "cdrs", str(tmp_path / "c.ndjson")),
                         "writable")
    finally:
        ro.chmod(0o700)


# -- URLs: a local server that misbehaves on purpose -------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    body = b""

    def log_message(self, *a):
        pass

    def do_GET(self):  # noqa: N802
        try:
            self._get()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def _get(self):
        b = self.body
        if self.path == "/truncated":  # promises more than it sends, then closes
            self.send_response(200)
            self.send_header("Content-Length", str(len(b) * 2))
            self.end_headers()
            self.wfile.write(b)
            self.close_connection = True
        elif self.path == "/stall":  # sends a little, then nothing
            self.send_response(200)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b[:100])
            self.wfile.flush()
            time.sleep(3)
        elif self.path == "/slow":  # a steady trickle: never idle long, but slow in all
            self.send_response(200)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            for i in range(0, len(b), 50):
                self.wfile.write(b[i:i + 50])
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)


@pytest.fixture
def bad_server(tmp_path):
    lines = "".join(_cdr(i) + "\n" for i in range(40)).encode()
    handler = type("H", (_Handler,), {"body": lines})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_truncated_download_is_an_error_not_a_file(bad_server, cfg):
    """Defect: a body shorter than its Content-Length was taken as the complete file."""
    s = Store(":memory:")
    with pytest.raises(SourceError, match=r"download truncated: .* of .* bytes"):
        reader("cdrs")(s, bad_server + "/truncated", cfg)
    assert _counts(s) == (0, 0, 0)
    r = reader("cdrs")(s, bad_server + "/ok", cfg)  # the same body, complete
    assert (r.read, r.accepted) == (40, 40)


def test_stalled_and_slow_downloads_stop_at_the_timeouts(bad_server, cfg):
    s = Store(":memory:")
    c = cfg.model_copy(update={"sources": cfg.sources.model_copy(update={"url_read_timeout_s": 0.5})})
    t0 = time.monotonic()
    with pytest.raises(SourceError, match=r"no data for 0.5 s \(stalled download\)"):
        reader("cdrs")(s, bad_server + "/stall", c)
    assert time.monotonic() - t0 < 2.5
    c = cfg.model_copy(update={"sources": cfg.sources.model_copy(update={"url_total_timeout_s": 0.5})})
    with pytest.raises(SourceError, match=r"took longer than 0.5 s"):
        reader("cdrs")(s, bad_server + "/slow", c)
    assert _counts(s) == (0, 0, 0)


# -- 12.8 gzip guards -------------------------------------------------------------------------------
def test_gzip_bomb_refused_by_ratio_and_by_size(tmp_path, cfg):
    bomb = tmp_path / "bomb.ndjson.gz"
    bomb.write_bytes(gzip.compress(b"x" * (8 << 20)))  # 8 MiB of one letter: ~1000x
    ratio = (8 << 20) / bomb.stat().st_size
    assert ratio > 500
    s = Store(":memory:")
    c = cfg.model_copy(update={"sources": cfg.sources.model_copy(update={"ratio_floor_bytes": 1 << 20})})
    with pytest.raises(SourceError, match=r"decompresses .*x \(sources.max_decompression_ratio = 200\)"):
        reader("cdrs")(s, bomb, c)
    c = cfg.model_copy(update={"sources": cfg.sources.model_copy(update={"max_decompressed_bytes": 2 << 20})})
    with pytest.raises(SourceError, match=r"more than 2,097,152 bytes after decompression"):
        reader("cdrs")(s, bomb, c)
    # an ordinary gzip file passes the default guards
    good = tmp_path / "good.ndjson.gz"
    good.write_bytes(gzip.compress("".join(_cdr(i) + "\n" for i in range(50)).encode()))
    assert reader("cdrs")(s, good, cfg).accepted == 50


# -- 12.9 quarantine keyed by the file ---------------------------------------------------------------
def test_one_file_under_four_spellings_keeps_each_bad_record_once(tmp_path, cfg, monkeypatch):
    """Defect: the same file under four path spellings left four copies of each bad record."""
    d = tmp_path / "data"
    d.mkdir()
    good, bad = _cdr_file(d / "c.ndjson", 50, bad_every=10)
    (tmp_path / "link.ndjson").symlink_to(d / "c.ndjson")
    monkeypatch.chdir(tmp_path)
    s = Store(":memory:")
    for spelling in (str(d / "c.ndjson"), "data/c.ndjson", "./data/../data/c.ndjson", "link.ndjson"):
        r = reader("cdrs")(s, spelling, cfg)
        assert r.quarantined == bad == 5
    assert s.count("quarantine") == bad
    assert s.count("sessions") == good
    runs = s.frame("ingest_runs")
    assert len(runs) == 4 and runs.source_file.nunique() == 1 and runs.source_sha256.nunique() == 1
    assert runs.source_file.iloc[0] == str((d / "c.ndjson").resolve())
    # a copy elsewhere with the same content is the same file too; a changed file is another
    (tmp_path / "copy.ndjson").write_bytes((d / "c.ndjson").read_bytes())
    reader("cdrs")(s, tmp_path / "copy.ndjson", cfg)
    assert s.count("quarantine") == bad
    _cdr_file(tmp_path / "other.ndjson", 20, bad_every=10, first=1000)
    reader("cdrs")(s, tmp_path / "other.ndjson", cfg)
    assert s.count("quarantine") == bad + 2


# -- 10.7 wrong file type ----------------------------------------------------------------------------
def test_csv_given_to_tariffs_and_osm_csv_given_to_grid_are_refused(tmp_path, cfg):
    """Defect: a CSV given to `ingest tariffs` gave 1,877 LP-MALFORMED rows and exit 0; an OSM substation CSV
    given to `ingest grid` 1,030 LP-MISSING rows. Now: one error, nothing stored."""
    csv_ = tmp_path / "tariffs_summary.csv"
    csv_.write_text("tariff_id,party_id,price\n" + "".join(f"T{i},ABC,0.{i:02d}\n" for i in range(30)))
    osm = tmp_path / "substations.csv"
    osm.write_text("v_id,lon,lat,typ,voltage,name,operator\n"
                   + "".join(f"{i},4.{i:02d},51.9,substation,150000,S{i},TenneT\n" for i in range(30)))
    s = Store(":memory:")
    with pytest.raises(SourceError, match="does not look like a tariffs file: none of its 31 records"):
        reader("tariffs")(s, csv_, cfg)
    with pytest.raises(SourceError, match="not a capacity-map CSV"):
        reader("grid")(s, osm, cfg)
    assert (s.count("tariffs"), s.count("grid_areas"), s.count("quarantine"), s.count("ingest_runs")) == (0, 0, 0, 0)


# -- 10.7 undo ---------------------------------------------------------------------------------------
def test_undo_takes_out_one_run_and_refuses_a_run_that_replaced_rows(tmp_path, cfg):
    from laadplan.ingest.base import undo_run

    a_good, a_bad = _cdr_file(tmp_path / "a.ndjson", 40, bad_every=10)
    b_good, b_bad = _cdr_file(tmp_path / "b.ndjson", 30, bad_every=10, first=100)
    s = Store(":memory:")
    ra = reader("cdrs")(s, tmp_path / "a.ndjson", cfg)
    rb = reader("cdrs")(s, tmp_path / "b.ndjson", cfg)
    assert _counts(s) == (a_good + b_good, a_bad + b_bad, 2)
    out = undo_run(s, ra.run_id[:8])  # a unique prefix is enough
    assert out.rows_deleted == {"sessions": a_good} and out.quarantine_deleted == a_bad
    assert _counts(s) == (b_good, b_bad, 1)
    left = s.frame("sessions")
    assert set(left.run_id) == {rb.run_id} and left.session_id.str.slice(-7).astype(int).min() >= 100
    # a run that replaced stored rows by newer versions cannot be undone honestly: refused, nothing changes
    newer = tmp_path / "newer.ndjson"
    newer.write_text(_cdr(100, last_updated="2025-04-01T00:00:00Z", total_energy=11.0) + "\n")
    rn = reader("cdrs")(s, newer, cfg)
    assert rn.upserts["sessions"].updated == 1
    with pytest.raises(ValueError, match="replaced 1 older rows"):
        undo_run(s, rn.run_id)
    assert _counts(s) == (b_good, b_bad, 2)
    with pytest.raises(ValueError, match="no ingest run"):
        undo_run(s, "nope")


def test_undo_from_the_cli(tmp_path, cli):
    good, bad = _cdr_file(tmp_path / "a.ndjson", 20, bad_every=10)
    db = str(tmp_path / "s.duckdb")
    proc = cli("--db", db, "--json", "ingest", "cdrs", str(tmp_path / "a.ndjson"))
    run_id = json.loads(proc.stdout)["results"][0]["run_id"]
    proc = cli("--db", db, "ingest", "undo", run_id)
    assert proc.returncode == 0, proc.stderr
    assert f"removed sessions {good}, {bad} quarantine rows" in proc.stdout
    with Store(db) as s:
        assert _counts(s) == (0, 0, 0)


# -- stores made before run ids ----------------------------------------------------------------------
def test_store_of_an_earlier_version_is_migrated(tmp_path):
    import duckdb

    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE quarantine (kind VARCHAR NOT NULL, rule_code VARCHAR NOT NULL, source_file VARCHAR "
                "NOT NULL, position BIGINT NOT NULL, record_id VARCHAR, party_id VARCHAR, operator VARCHAR, message "
                "VARCHAR, raw VARCHAR, ingested_utc TIMESTAMP, PRIMARY KEY (kind, source_file, position, rule_code))")
    con.execute("INSERT INTO quarantine VALUES ('cdrs', 'LP-MALFORMED', '/x.ndjson', 3, NULL, NULL, NULL, 'm', "
                "'{', NULL)")
    con.close()
    with Store(db) as s:
        q = s.frame("quarantine")
        assert len(q) == 1 and q.run_id.tolist() == [""] and q.position.tolist() == [3]
        assert "run_id" in s.frame("sessions").columns
