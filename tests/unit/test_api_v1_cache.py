"""The read API's result cache: while one request computes the result of a new store version, concurrent
requests for it get the previous version's result at once (no queue behind the recomputation); a request
alone (e.g. a client reading after its own push) computes and gets the new result."""

from __future__ import annotations

import threading
import time

from laadplan.api import v1
from laadplan.api.v1 import VersionCache


def test_concurrent_requests_get_the_previous_result_while_one_computes_the_new():
    c = VersionCache()
    assert c.get(("kpi", "GM1", "v1"), lambda: "old", latest=("kpi", "GM1")) == "old"
    started, release = threading.Event(), threading.Event()
    got: dict[str, object] = {}

    def slow() -> str:
        started.set()
        assert release.wait(10)
        return "new"

    t = threading.Thread(target=lambda: got.update(a=c.get(("kpi", "GM1", "v2"), slow, latest=("kpi", "GM1"))))
    t.start()
    assert started.wait(10)
    t0 = time.monotonic()
    # a second reader of the new version while the first computes it: the previous result, without waiting
    assert c.get(("kpi", "GM1", "v2"), lambda: "must not run", latest=("kpi", "GM1")) == "old"
    assert time.monotonic() - t0 < 1.0
    assert c.stale == 1
    release.set()
    t.join(10)
    assert got["a"] == "new"
    assert c.get(("kpi", "GM1", "v2"), lambda: "must not run", latest=("kpi", "GM1")) == "new"


def test_a_lone_request_after_a_change_computes_the_new_result():
    c = VersionCache()
    c.get(("kpi", "GM1", "v1"), lambda: "old", latest=("kpi", "GM1"))
    assert c.get(("kpi", "GM1", "v2"), lambda: "new", latest=("kpi", "GM1")) == "new"
    assert c.stale == 0


def test_without_a_recent_previous_result_readers_wait_for_the_computation(monkeypatch):
    c = VersionCache()
    c.get(("kpi", "GM1", "v1"), lambda: "old", latest=("kpi", "GM1"))
    monkeypatch.setattr(v1, "STALE_S", -1.0)  # the previous result is too old to serve
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        assert release.wait(10)
        return "new"

    t = threading.Thread(target=lambda: c.get(("kpi", "GM1", "v2"), slow, latest=("kpi", "GM1")))
    t.start()
    assert started.wait(10)
    got: dict[str, object] = {}
    t2 = threading.Thread(target=lambda: got.update(b=c.get(("kpi", "GM1", "v2"), lambda: "again",
                                                             latest=("kpi", "GM1"))))
    t2.start()
    time.sleep(0.2)
    assert "b" not in got  # waiting for the first computation
    release.set()
    t.join(10)
    t2.join(10)
    assert got["b"] == "new"
