"""Property-based requests from the server's own OpenAPI spec (Schemathesis), in process over ASGI, on the
demo store, for every operation the spec lists (the read API; the OCPI receiver's too once it is mounted): whatever the parameters, never a 5xx and never a traceback. Bounded: a few examples per
operation (the whole test stays well under a minute); the progress report is left out (building one takes
tens of seconds; its parameters are tested in test_api_read)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
import schemathesis.openapi  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from api_demo import copy_of_demo  # noqa: E402

pytestmark = pytest.mark.slow
EXAMPLES = 5
TOKEN: dict[str, str] = {}


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the spec (read from an app that is not started)."""
    from laadplan.api.app import create_app

    spec = create_app(":memory:").openapi()
    return sorted((m.upper(), p) for p, ops in spec["paths"].items() for m in ops  # sorted: same on every worker
                  if p not in SKIP and m in ("get", "post", "put", "patch", "delete"))


#: building a report takes tens of seconds; its parameters are tested in test_api_read
SKIP = {"/api/v1/report"}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    from fastapi.testclient import TestClient

    from laadplan.api import auth
    from laadplan.api.app import create_app
    from laadplan.config import load_config
    from laadplan.store import Store

    db = copy_of_demo(tmp_path_factory.mktemp("st"))
    with Store(str(db)) as s:
        TOKEN["region"] = auth.create_token(s, "region")[0]
    app = create_app(str(db), load_config(None))
    with TestClient(app) as client:  # runs the lifespan (the store); the cases are sent through it
        yield schemathesis.openapi.from_dict(client.get("/api/openapi.json").json()), client


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("method,path", _operations())
def test_no_server_error(api_schema, method, path, mode):
    from hypothesis import given
    from schemathesis import GenerationMode

    schema, client = api_schema
    op = schema[path][method]
    strategy = op.as_strategy(generation_mode=GenerationMode.POSITIVE if mode == "positive"
                              else GenerationMode.NEGATIVE)

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        from schemathesis.core import NOT_SET

        body = {} if case.body is NOT_SET or case.body is None else {"json": case.body}  # OCPI PUT/POST
        r = client.request(case.method, case.formatted_path, params=case.query,
                           headers={**(case.headers or {}), "Authorization": f"Token {TOKEN['region']}"}, **body)
        assert r.status_code < 500, (case.method, case.formatted_path, case.query, r.status_code, r.text[:300])
        assert "Traceback" not in r.text

    from hypothesis.errors import Unsatisfiable

    try:
        run()
    except Unsatisfiable:  # an operation without parameters has no invalid input
        assert mode == "negative"
        pytest.skip(f"{method} {path} has no parameters to make invalid")
