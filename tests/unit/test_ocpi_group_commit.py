"""CDR group commit: POSTs arriving together are validated as one batch by the CDR ingest's own validator and
committed once; each request gets its own verdict; a bad record costs only itself; retries change nothing."""

from __future__ import annotations

import json
import threading

import pytest

from laadplan.api.ocpi import cdrs as ocdr
from laadplan.api.ocpi.group import GroupCommit
from laadplan.config import load_config

from test_api_ocpi import EX, cdr, env, post  # noqa: F401  (env is a fixture)

pytestmark = pytest.mark.skipif(not EX.exists(), reason="OCPI examples not available")


def item(body: dict, v: str = "2.2.1") -> ocdr.CdrItem:
    return ocdr.CdrItem(v, body["country_code"], body["party_id"], body["id"], body, json.dumps(body))


def test_group_of_mixed_records_one_run_own_verdicts(env):
    _, app, _, _, _ = env
    s = app.state.store.cursor()
    cfg = load_config(None)
    items = [item(cdr("G1")), item(cdr("G2", energy=-1.0)), item(cdr("G3")),
             item(cdr("H1", party="OTH")), item(cdr("G4", energy=-5.0, updated="2099-01-01T00:00:00Z"))]
    out = ocdr.commit_groups(s, cfg, items)
    assert [o.rejected == [] for o in out] == [True, False, True, True, False]
    assert [r["rule_code"] for r in out[1].rejected] == ["LINDA-ENERGY-NEG"]
    assert [r["rule_code"] for r in out[4].rejected] == ["LINDA-ENERGY-NEG", "LP-FUTURE"]
    assert [o.changed for o in out] == [True, False, True, True, False]
    # one run per party: EQU (4 records, 2 quarantined) and OTH (1)
    runs = sorted(s.query("SELECT source_file, records_read, records_accepted, records_quarantined "
                          "FROM ingest_runs").values.tolist())
    assert runs == [["ocpi-push:NL*EQU", 4, 2, 2], ["ocpi-push:NL*OTH", 1, 1, 0]]
    assert sorted(s.query("SELECT session_id FROM sessions")["session_id"]) == ["NL*EQU*G1", "NL*EQU*G3", "NL*OTH*H1"]
    assert sorted(s.query("SELECT object_id FROM ocpi_objects")["object_id"]) == ["G1", "G3", "H1"]
    assert s.count("quarantine") == 3  # G2 one rule, G4 two

    # retries in other groups change nothing: no second quarantine row, no changed session
    again = ocdr.commit_groups(s, cfg, [item(cdr("G2", energy=-1.0))])  # the bad one alone
    assert again[0].rejected and s.count("quarantine") == 3
    again = ocdr.commit_groups(s, cfg, [item(cdr("G4", energy=-5.0, updated="2099-01-01T00:00:00Z")),
                                        item(cdr("G1")), item(cdr("G5"))])
    assert [o.changed for o in again] == [False, False, True]
    assert s.count("quarantine") == 3
    assert s.count("sessions") == 4
    assert s.query("SELECT count(*) AS n FROM quarantine WHERE record_id = 'NL*EQU*G4'")["n"].iloc[0] == 2
    # two versions of one CDR in a group: the newer wins in sessions and in the stored JSON alike; an older one
    # in a later group changes neither
    ocdr.commit_groups(s, cfg, [item(cdr("G1", energy=21.0, updated="2025-06-30T02:00:00Z")),
                                item(cdr("G1", energy=20.0, updated="2025-06-30T01:00:00Z"))])
    ocdr.commit_groups(s, cfg, [item(cdr("G1", energy=19.0, updated="2025-06-30T00:30:00Z"))])
    assert s.query("SELECT energy_kwh FROM sessions WHERE session_id = 'NL*EQU*G1'")["energy_kwh"].tolist() == [21.0]
    got = s.query("SELECT object_json, last_updated_utc FROM ocpi_objects WHERE object_id = 'G1'")
    assert len(got) == 1 and json.loads(got["object_json"].iloc[0])["total_energy"] == 21.0
    assert str(got["last_updated_utc"].iloc[0]) == "2025-06-30 02:00:00"
    s.close()


def test_a_group_that_fails_is_committed_record_by_record(env, monkeypatch):
    """A record that makes the whole transaction fail (here: storing its JSON raises) fails alone."""
    _, app, _, _, _ = env
    s = app.state.store.cursor()
    real = ocdr._store_objects

    def poisoned(store, cc, pid, items, run_id, **kw):
        if any(it.cdr_id == "P2" for it in items):
            raise ValueError("poison")
        return real(store, cc, pid, items, run_id, **kw)

    monkeypatch.setattr(ocdr, "_store_objects", poisoned)
    out = ocdr.commit_groups(s, load_config(None), [item(cdr("P1")), item(cdr("P2")), item(cdr("P3"))])
    assert isinstance(out[1], ValueError)
    assert [o.changed for o in (out[0], out[2])] == [True, True]
    assert sorted(s.query("SELECT session_id FROM sessions")["session_id"]) == ["NL*EQU*P1", "NL*EQU*P3"]
    assert s.count("ingest_runs") == 2  # the failed group left nothing; P1 and P3 one run each
    s.close()


def test_concurrent_posts_are_grouped_and_answered_each(env):
    c, app, A, B, _ = env
    n = 16
    bodies = [cdr(f"K{i}", energy=-1.0 if i % 5 == 0 else 15.342) for i in range(n)]
    answers: list = [None] * n
    go = threading.Barrier(n)

    def client(i: int) -> None:
        go.wait()
        answers[i] = post(c, A, bodies[i])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for i, r in enumerate(answers):
        if i % 5 == 0:
            assert r.status_code == 400 and r.json()["data"]["rule_codes"] == ["LINDA-ENERGY-NEG"], r.text
            assert f"CDR K{i} rejected" in r.json()["status_message"]
        else:
            assert r.status_code == 200 and r.json()["status_code"] == 1000, r.text
            assert r.headers["location"].endswith(f"/cdrs/NL/EQU/K{i}")
    s = app.state.store
    assert sorted(s.query("SELECT session_id FROM sessions")["session_id"]) == sorted(
        f"NL*EQU*K{i}" for i in range(n) if i % 5)
    assert sorted(s.query("SELECT record_id FROM quarantine")["record_id"]) == sorted(
        f"NL*EQU*K{i}" for i in range(0, n, 5))
    g = app.state.ocpi_cdr_group
    assert sum(g.group_sizes) == n and max(g.group_sizes) > 1  # some POSTs shared a commit
    assert s.count("ingest_runs") == len(g.group_sizes) < n


def test_group_commit_waits_only_for_arriving_requests():
    seen: list[list[int]] = []
    gate, started = threading.Event(), threading.Event()

    def commit(items):
        started.set()
        gate.wait(5)
        seen.append(list(items))
        return [x * 10 for x in items]

    g = GroupCommit(commit, window_s=0.5)
    f1 = g.submit(1)  # taken at once (nothing arriving); its commit waits at the gate
    assert started.wait(5)
    with g.arriving():
        f2, f3 = g.submit(2), g.submit(3)
    gate.set()
    assert [f.result(5) for f in (f1, f2, f3)] == [10, 20, 30]
    assert seen == [[1], [2, 3]]


def test_group_commit_error_reaches_every_waiting_request():
    def commit(items):
        raise RuntimeError("store gone")

    g = GroupCommit(commit)
    f = g.submit("x")
    with pytest.raises(RuntimeError, match="store gone"):
        f.result(5)


def test_group_commit_regroups_the_clients_it_answered():
    """After a group of 3 the worker waits (up to regroup_s) for 3 items again: the answered clients' next ones."""
    import time

    seen: list[list[int]] = []

    def commit(items):
        seen.append(list(items))
        return items

    g = GroupCommit(commit, window_s=1.0, regroup_s=3.0)
    with g.arriving():
        first = [g.submit(i) for i in range(3)]
    assert [f.result(5) for f in first] == [0, 1, 2]
    f1 = g.submit(10)
    time.sleep(0.3)
    f2, f3 = g.submit(11), g.submit(12)
    assert [f.result(5) for f in (f1, f2, f3)] == [10, 11, 12]
    assert seen == [[0, 1, 2], [10, 11, 12]]


class _CountingCondition(threading.Condition):
    """A condition variable counting its notify_all calls (the worker's wake-ups)."""

    def __init__(self) -> None:
        super().__init__()
        self.notified = 0

    def notify_all(self) -> None:
        self.notified += 1
        super().notify_all()


def test_group_commit_wakes_its_worker_only_for_what_it_waits_for():
    """Many requests arriving for one group wake the worker a few times, not once or twice per request: in the
    window it waits for the last arriving request, in the regroup wait for as many items as it wants. (The
    worker's wake-ups under 128 pushing clients forced a GIL hand-over each.)"""
    import time

    gate = threading.Event()
    seen: list[list[int]] = []

    def commit(items):
        gate.wait(5)
        seen.append(list(items))
        return items

    g = GroupCommit(commit, window_s=2.0, regroup_s=2.0)
    g._cv = cv = _CountingCondition()
    first = g.submit(-1)  # taken alone; its commit waits at the gate
    time.sleep(0.1)
    n = 50
    arrivals = [g.arriving() for _ in range(n)]
    for a in arrivals:
        a.__enter__()
    before = cv.notified
    futs = []
    for i, a in enumerate(arrivals):
        futs.append(g.submit(i))
        a.__exit__(None, None, None)
    gate.set()
    assert first.result(5) == -1
    assert [f.result(5) for f in futs] == list(range(n))
    assert seen == [[-1], list(range(n))]
    # the worker was committing while they arrived: nothing to wake it for (the old code notified 2 x 50 times)
    assert cv.notified - before == 0

    # a new group: the worker waits in its window for the arriving requests and is woken by the last one
    cv.notified = 0
    arrivals = [g.arriving() for _ in range(n)]
    for a in arrivals:
        a.__enter__()
    futs = []
    for i, a in enumerate(arrivals):
        futs.append(g.submit(100 + i))
        a.__exit__(None, None, None)
    t = time.monotonic()
    assert [f.result(5) for f in futs] == [100 + i for i in range(n)]
    assert time.monotonic() - t < 1.5  # woken by the last arrival, not by the 2 s window
    assert sum(len(x) for x in seen[2:]) == n
    assert cv.notified <= 3, cv.notified


def test_async_requests_of_a_group_are_answered_with_one_call_into_their_loop():
    """submit_async: the futures of one group are resolved by one call into the event loop (not one per
    request), each with its own result or error; a future whose request gave up is left alone."""
    import asyncio

    def commit(items):
        return [ValueError(f"bad {x}") if x % 3 == 0 else x * 2 for x in items]

    g = GroupCommit(commit, window_s=1.0)

    async def main() -> tuple[list, int]:
        loop = asyncio.get_running_loop()
        calls = 0
        real = loop.call_soon_threadsafe

        def counting(cb, *args, **kw):
            nonlocal calls
            calls += 1
            return real(cb, *args, **kw)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        arrivals = [g.arriving() for _ in range(12)]
        for a in arrivals:
            a.__enter__()
        futs = []
        for i, a in enumerate(arrivals):
            futs.append(g.submit_async(i + 1))
            a.__exit__(None, None, None)
        futs[4].cancel()  # this request gave up
        out = await asyncio.gather(*futs, return_exceptions=True)
        return out, calls

    out, calls = asyncio.run(main())
    assert calls == 1
    for i, r in enumerate(out):
        x = i + 1
        if i == 4:
            assert isinstance(r, asyncio.CancelledError)
        elif x % 3 == 0:
            assert isinstance(r, ValueError) and str(r) == f"bad {x}"
        else:
            assert r == 2 * x
