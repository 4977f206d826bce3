"""Property tests: corrupt input of any kind never crashes the CDR / session ingest and every record is
either accepted or quarantined (accepted + quarantined == read), whatever the container."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laadplan.config import RegionConfig
from laadplan.ingest.cdrs import ingest_cdrs
from laadplan.store import Store

from test_ingest_cdrs import CDR_211, CDR_221  # noqa: E402 (tests/unit is on sys.path)

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_values = st.recursive(
    json_scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=6), kids, max_size=3)),
    max_leaves=6)


def _paths(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))


@st.composite
def mutated_cdr(draw):
    cdr = copy.deepcopy(draw(st.sampled_from([CDR_221, CDR_211])))
    paths = list(_paths(cdr))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(paths))
        parent = cdr
        try:
            for k in path[:-1]:
                parent = parent[k]
            if draw(st.booleans()):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, TypeError, AttributeError):
            pass  # the path was removed or replaced (e.g. by null) by an earlier mutation
    return cdr


@st.composite
def ndjson_line(draw) -> bytes:
    kind = draw(st.sampled_from(["cdr", "truncated", "text", "bytes", "value"]))
    if kind == "cdr":
        return json.dumps(draw(mutated_cdr())).encode()
    if kind == "truncated":
        text = json.dumps(draw(mutated_cdr())).encode()
        return text[: draw(st.integers(0, len(text)))]
    if kind == "text":
        return draw(st.text(max_size=40)).encode("utf-8", errors="replace")
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    return json.dumps(draw(json_values)).encode()


SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_N = [0]


@pytest.fixture(scope="module")
def shared_store():
    """One store for all examples (each example writes its own file name): keeps the test fast."""
    with Store(":memory:") as s, tempfile.TemporaryDirectory() as d:
        yield s, Path(d)


def _new_path(d: Path, suffix: str) -> Path:
    _N[0] += 1
    return d / f"example{_N[0]}{suffix}"


def _check(path: Path, store: Store):
    from laadplan.ingest import SourceError

    try:
        res = ingest_cdrs(store, str(path), RegionConfig())
    except SourceError as e:  # not one record parseable: the file is refused as a whole, nothing kept
        assert "does not look like a cdrs file" in str(e)
        assert store.count("quarantine", "source_file = ?", [str(path)]) == 0
        assert store.count("sessions", "source_file = ?", [str(path)]) == 0
        return None
    assert res.read == res.accepted + res.quarantined
    q = store.frame("quarantine", "source_file = ?", [str(path)])
    assert q["position"].nunique() == res.quarantined
    assert sum(res.by_rule.values()) == len(q)
    assert store.count("sessions", "source_file = ?", [str(path)]) <= res.accepted
    return res


@SETTINGS
@given(lines=st.lists(ndjson_line(), max_size=12))
def test_corrupt_ndjson_never_crashes(shared_store, lines):
    store, d = shared_store
    good = json.dumps(CDR_221).encode()
    path = _new_path(d, ".ndjson")
    path.write_bytes(b"\n".join([good] + lines) + b"\n")
    res = _check(path, store)
    assert res.accepted >= 1  # the intact first record always goes in
    assert res.read <= len(b"\n".join([good] + lines).split(b"\n"))


@SETTINGS
@given(records=st.lists(mutated_cdr(), min_size=1, max_size=8), cut=st.integers(0, 400))
def test_corrupt_json_array_never_crashes(shared_store, records, cut):
    store, d = shared_store
    path = _new_path(d, ".json")
    text = json.dumps({"data": records}).encode()
    path.write_bytes(text[: max(len(text) - cut, 1)])  # possibly truncated mid-document
    _check(path, store)


csv_field = st.one_of(st.text(alphabet="0123456789-: .,e", max_size=20), st.text(max_size=8),
                      st.sampled_from(["2018-03-25 02:30:00", "2018-10-28 02:30:00", "-1", "0", ""]))


@SETTINGS
@given(rows=st.lists(st.lists(csv_field, min_size=0, max_size=8), max_size=10))
def test_corrupt_session_csv_never_crashes(shared_store, rows):
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Started", "Ended", "TotalEnergy", "ConnectedTime", "ChargeTime", "MaxPower"])
    w.writerow(["2018-01-01 08:45:26", "2018-01-01 09:16:45", "1830", "0.5219", "0.5219", "3524"])
    w.writerows(rows)
    store, d = shared_store
    path = _new_path(d, ".csv")
    path.write_text(buf.getvalue(), encoding="utf-8")
    res = _check(path, store)
    assert res.accepted >= 1  # the intact first row always goes in
