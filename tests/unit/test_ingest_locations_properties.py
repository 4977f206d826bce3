"""Property tests: random corruption of valid input never crashes the location and status readers, and
accepted + quarantined = read, with every record either stored or quarantined."""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laadplan.config import RegionConfig
from laadplan.ingest import SourceError
from laadplan.ingest.locations import ingest_locations
from laadplan.ingest.status import ingest_status
from laadplan.store import Store

from test_ingest_locations import NL_LOC  # noqa: E402  (tests/unit is on sys.path under pytest)

CFG = RegionConfig()
_STORE: list[Store] = []
_TABLES = ("locations", "evses", "connectors", "quarantine", "ingest_runs", "status_observations",
           "occupancy_observations")


def fresh_store() -> Store:
    """One in-memory store for all examples, emptied before each (creating a store costs more than a run)."""
    if not _STORE:
        _STORE.append(Store(":memory:"))
    s = _STORE[0]
    for t in _TABLES:
        s.con.execute(f'DELETE FROM "{t}"')
    return s
PATHS = [("id",), ("country_code",), ("party_id",), ("address",), ("publish",), ("last_updated",), ("coordinates",),
         ("coordinates", "latitude"), ("coordinates", "longitude"), ("evses",), ("evses", 0, "status"),
         ("evses", 0, "uid"), ("evses", 0, "connectors"), ("evses", 0, "connectors", 0, "max_voltage"),
         ("evses", 1, "connectors", 0, "max_electric_power"), ("evses", 0, "connectors", 0, "id"), ("time_zone",)]
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                 st.text(max_size=8), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                                       st.integers(), max_size=2))


def _get_parent(obj, path):
    for k in path[:-1]:
        obj = obj[k]
    return obj


def _is_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


mutation = st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(PATHS), st.none()),
    st.tuples(st.just("set"), st.sampled_from(PATHS), JUNK),
    st.tuples(st.just("swap"), st.none(), st.none()),
    st.tuples(st.just("truncate"), st.none(), st.integers(0, 400)),
    st.tuples(st.just("dup"), st.none(), st.text(max_size=5)),
)


def _apply(obj: dict, m) -> str:
    kind, path, val = m
    o = copy.deepcopy(obj)
    if kind in ("drop", "set"):
        try:
            parent = _get_parent(o, path)
            if kind == "drop":
                parent.pop(path[-1]) if isinstance(parent, dict) else None
            else:
                parent[path[-1]] = val
        except (KeyError, IndexError, TypeError):
            pass
    elif kind == "swap":
        c = o["coordinates"]
        c["latitude"], c["longitude"] = c["longitude"], c["latitude"]
    elif kind == "dup":
        o["name"] = val  # same id and last_updated, maybe other content
    text = json.dumps(o)
    if kind == "truncate":
        text = text[:val]
    return text


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(muts=st.lists(st.tuples(st.integers(0, 10_000), mutation), min_size=1, max_size=6))
def test_corrupt_locations_never_crash(tmp_path_factory, muts):
    lines = []
    for i, (n, m) in enumerate(muts):
        base = copy.deepcopy(NL_LOC)
        base["id"] = f"L{n % 4}"  # a few shared ids so duplicates and versions happen
        lines.append(_apply(base, m))
    p = tmp_path_factory.mktemp("p") / "l.ndjson"
    p.write_text("\n".join(x.replace("\n", " ") for x in lines) + "\n")
    s = fresh_store()
    try:
        r = ingest_locations(s, str(p), CFG)
    except SourceError as e:  # not one record parseable: refused as a whole (issue 10.7), nothing kept
        assert "does not look like a locations file" in str(e)
        assert s.count("quarantine") == s.count("locations") == s.count("ingest_runs") == 0
        return
    n_lines = sum(1 for x in lines if x.strip())
    if any(_is_object(x) for x in lines[1:]):
        assert r.read == n_lines  # NDJSON: one record per line, even when the first line is broken
    else:  # nothing after the first line parses: possibly one broken (pretty-printed) document
        assert (r.read >= 1 and r.read <= n_lines) or n_lines == 0
    assert r.accepted + r.quarantined == r.read
    assert s.count("quarantine") == r.quarantined
    # every accepted record's location is in the store, nothing else is
    assert s.count("locations") <= r.accepted
    ids_q = set(s.frame("quarantine").position)
    assert len(ids_q) == r.quarantined  # one quarantine row per rejected record
    if r.accepted:
        assert s.count("locations") >= 1


STATUS_ROW = "NL,ABC,L1,E{i},2026-06-01T10:0{m}:00Z,AVAILABLE"
status_mut = st.one_of(
    st.just(lambda r: r),
    st.just(lambda r: r.replace("AVAILABLE", "BROKEN")),
    st.just(lambda r: r.replace("2026-06-01T", "yesterday ")),
    st.just(lambda r: r.rsplit(",", 1)[0]),
    st.just(lambda r: r + ",extra"),
    st.just(lambda r: r.replace("E", "", 1).replace(",,", ",")),
    st.just(lambda r: r.replace("L1", "")),
    st.just(lambda r: r.replace("AVAILABLE", "CHARGING")),
    st.just(lambda r: '"' + r),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), status_mut), min_size=1, max_size=8))
def test_corrupt_status_never_crash(tmp_path_factory, rows):
    lines = [f(STATUS_ROW.format(i=i, m=m)) for i, m, f in rows]
    p = tmp_path_factory.mktemp("s") / "s.csv"
    p.write_text("country_code,party_id,location_id,evse_uid,observed_utc,status\n" + "\n".join(lines) + "\n")
    s = fresh_store()
    try:
        r = ingest_status(s, str(p), CFG)
    except SourceError as e:  # not one row parseable: refused as a whole (issue 10.7), nothing kept
        assert "does not look like a status file" in str(e)
        assert s.count("quarantine") == s.count("status_observations") == s.count("ingest_runs") == 0
        return
    assert r.accepted + r.quarantined == r.read
    assert s.count("quarantine") == r.quarantined
    assert s.count("status_observations") <= r.accepted


OCC_ROW = "2026-10-25,{h},GM0654,L{i},{n},{p}"


@settings(max_examples=12, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["2", "3", "24", "x", ""]), st.integers(0, 2),
                               st.sampled_from(["0", "2", "-1", "1.5", "a"]),
                               st.sampled_from(["0", "50", "100", "101", "-3", "b", ""])), min_size=1, max_size=8))
def test_corrupt_occupancy_never_crash(tmp_path_factory, rows):
    lines = [OCC_ROW.format(h=h, i=i, n=n, p=p) for h, i, n, p in rows]
    path = tmp_path_factory.mktemp("o") / "o.csv"
    path.write_text("date,hour,gm_code,location_id,n_evses,occ_pct\n" + "\n".join(lines) + "\n")
    s = fresh_store()
    r = ingest_status(s, str(path), CFG)
    assert r.read == len(lines) and r.accepted + r.quarantined == r.read
    o = s.frame("occupancy_observations")
    # every stored snapshot came from an accepted row; an identical repeat (e.g. a third "02:00" on the
    # autumn DST night, which can only repeat the second) is accepted and leaves the store unchanged
    inserted = r.upserts["occupancy_observations"].inserted if "occupancy_observations" in r.upserts else 0
    assert len(o) == inserted <= r.accepted
    assert ((o.occupancy_share >= 0) & (o.occupancy_share <= 1)).all()
    assert (o.evses_occupied <= o.evses_observed.astype(float) + 1e-9).all()
