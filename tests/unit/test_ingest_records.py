"""The container-agnostic JSON record stream every OCPI reader uses."""

import gzip
import json

import pytest

from laadplan.ingest._records import detect_container, iter_json_records
from laadplan.ingest._io import SourceError

OBJS = [{"id": "1", "v": 1.5}, {"id": "2", "v": [1, 2]}, {"id": "3"}]


def _write(p, text, gz=False):
    data = text.encode()
    p.write_bytes(gzip.compress(data) if gz else data)
    return str(p)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("layout", ["array", "envelope", "ndjson", "envelope_pretty", "array_pretty"])
def test_all_containers_give_same_records(tmp_path, layout, gz):
    text = {
        "array": json.dumps(OBJS),
        "array_pretty": json.dumps(OBJS, indent=2),
        "envelope": json.dumps({"status_code": 1000, "data": OBJS, "timestamp": "2026-01-01T00:00:00Z"}),
        "envelope_pretty": json.dumps({"data": OBJS, "status_code": 1000}, indent=2),
        "ndjson": "\n".join(json.dumps(o) for o in OBJS) + "\n",
    }[layout]
    recs = list(iter_json_records(_write(tmp_path / "f.json", text, gz)))
    assert [r.obj for r in recs] == OBJS
    assert [r.position for r in recs] == [1, 2, 3]
    assert all(r.error is None for r in recs)


def test_single_object_document_and_envelope_with_object(tmp_path):
    one = {"id": "x", "nested": {"a": 1}}
    assert [r.obj for r in iter_json_records(_write(tmp_path / "a.json", json.dumps(one, indent=2)))] == [one]
    env = {"data": one, "status_code": 1000}
    assert [r.obj for r in iter_json_records(_write(tmp_path / "b.json", json.dumps(env, indent=1)))] == [one]


def test_ndjson_malformed_line_is_reported_not_fatal(tmp_path):
    text = '{"id": "1"}\n{"id": 2,,}\n\n{"id": "3"}\n'
    recs = list(iter_json_records(_write(tmp_path / "f.ndjson", text)))
    assert [(r.position, r.error is None) for r in recs] == [(1, True), (2, False), (4, True)]
    assert recs[1].raw == '{"id": 2,,}' and "invalid JSON" in recs[1].error


def test_truncated_array_reports_once(tmp_path):
    text = json.dumps(OBJS[:2])[:-1] + ', {"id": "3"'  # third element cut off
    recs = list(iter_json_records(_write(tmp_path / "f.json", text)))
    assert [r.obj for r in recs if r.error is None] == OBJS[:2]
    assert sum(r.error is not None for r in recs) == 1


def test_empty_and_missing(tmp_path):
    assert detect_container(_write(tmp_path / "e.json", "  \n")) == "empty"
    assert list(iter_json_records(str(tmp_path / "e.json"))) == []
    with pytest.raises(SourceError, match="not found"):
        list(iter_json_records(str(tmp_path / "nope.json")))


def test_url_source(http_server, tmp_path):
    base, d = http_server
    (d / "objs.ndjson.gz").write_bytes(gzip.compress(("\n".join(json.dumps(o) for o in OBJS)).encode()))
    assert [r.obj for r in iter_json_records(f"{base}/objs.ndjson.gz")] == OBJS
    with pytest.raises(SourceError, match="HTTP 404"):
        list(iter_json_records(f"{base}/missing.json"))
