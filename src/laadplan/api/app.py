"""The FastAPI app of ``laadplan serve``: the store, the common guards and the routers.

Every request gets its own view of the store (:meth:`laadplan.store.Store.cursor`: its own connection and
transaction on the one database the process holds open), its request id echoed (``X-Request-ID`` and
``X-Correlation-ID``), a body-size limit enforced while the body streams in, a JSON error body without a
traceback, and one JSON access-log line (logger ``laadplan.access``).

Routers live in their own modules and are wired here by name (:data:`ROUTERS`); each exposes ``mount(app)``.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import logging
import random
import time
import uuid
from typing import Any, Iterable, Iterator

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from laadplan.api import auth
from laadplan.config import RegionConfig, load_config
from laadplan.store import Store, StoreError

log = logging.getLogger("laadplan.api")
access_log = logging.getLogger("laadplan.access")

#: router modules, each with ``mount(app)``; a module not (yet) present is left out
ROUTERS = ("laadplan.api.ocpi", "laadplan.api.v1", "laadplan.web")

API_VERSION = "1"


#: request ids need to be unique, not secret: a seeded PRNG instead of uuid4's os.urandom call per request
_RANDOM = random.Random()


_GUARD_HEADERS = frozenset((b"x-request-id", b"x-correlation-id", b"content-length"))


class _Guard:
    """Pure ASGI middleware (no per-request task overhead): request id, body-size limit, access log."""

    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
                   if k.lower() in _GUARD_HEADERS}
        rid = headers.get("x-request-id") or str(uuid.UUID(int=_RANDOM.getrandbits(128), version=4))
        cid = headers.get("x-correlation-id") or rid
        scope.setdefault("state", {})["request_id"] = rid
        t0 = time.perf_counter()
        status = {"code": 500}
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await self._refuse(send, rid, cid)
            self._log(scope, 413, t0, rid)
            return
        seen = {"n": 0, "too_big": False}

        async def limited_receive() -> dict:
            msg = await receive()
            if msg["type"] == "http.request":
                seen["n"] += len(msg.get("body", b""))
                if seen["n"] > self.max_body:
                    seen["too_big"] = True
                    raise _BodyTooLarge()
            return msg

        async def send_with_ids(msg: dict) -> None:
            if msg["type"] == "http.response.start":
                status["code"] = msg["status"]
                hs = [h for h in msg.get("headers", []) if h[0].lower() not in (b"x-request-id", b"x-correlation-id")]
                hs += [(b"x-request-id", rid.encode("latin-1")), (b"x-correlation-id", cid.encode("latin-1"))]
                msg = {**msg, "headers": hs}
            await send(msg)

        try:
            await self.app(scope, limited_receive, send_with_ids)
        except _BodyTooLarge:
            await self._refuse(send, rid, cid)
            status["code"] = 413
        finally:
            self._log(scope, status["code"], t0, rid)

    async def _refuse(self, send: Any, rid: str, cid: str) -> None:
        body = json.dumps({"detail": f"request body larger than {self.max_body} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"x-request-id", rid.encode("latin-1")), (b"x-correlation-id", cid.encode("latin-1"))]})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _log(scope: dict, code: int, t0: float, rid: str) -> None:
        if access_log.isEnabledFor(logging.INFO):
            client = scope.get("client") or ("", 0)
            access_log.info(json.dumps({"method": scope.get("method"), "path": scope.get("path"), "status": code,
                                        "ms": round((time.perf_counter() - t0) * 1000, 1), "client": client[0],
                                        "request_id": rid}))


class _BodyTooLarge(Exception):
    pass


def create_app(db: str, config: RegionConfig | str | None = None, *, routers: Iterable[str] = ROUTERS,
               freeze_gc: bool = False) -> FastAPI:
    """The server app over the store at ``db`` (a DuckDB path or a PostgreSQL URL).

    ``freeze_gc`` (the server process, :func:`app_from_env`): once started, the objects that exist then (modules,
    the app, the store) are moved out of the garbage collector's reach (:func:`gc.freeze`). They live as long
    as the process anyway, and every full collection scanned them all: ~70 ms each, a stop of the event loop a
    few times a minute under a CDR push load; frozen, ~3 ms (``benchmarks/bench_ocpi.py``). Not for an app
    made in a process that goes on to do other things (a test run): what it froze is never collected."""
    cfg = config if isinstance(config, RegionConfig) else load_config(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.store = Store(db, create=True)
        if cfg.server.duckdb_threads:  # (on PostgreSQL: the DuckDB engine that runs its statements)
            app.state.store.con.execute(f"SET threads = {int(cfg.server.duckdb_threads)}")
        if cfg.server.duckdb_checkpoint_mb and app.state.store.backend == "duckdb":
            app.state.store.con.execute(f"SET checkpoint_threshold = '{int(cfg.server.duckdb_checkpoint_mb)}MB'")
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            app.state.store.close()

    # FastAPI's own OpenTelemetry spans and metrics only when asked for: when on, every request asks the
    # OpenTelemetry API for its providers (~8 % of the event loop's time under a CDR push load, measured)
    otel = bool(cfg.server.opentelemetry)
    app = FastAPI(title="laadplan", version=API_VERSION, docs_url="/api/docs", openapi_url="/api/openapi.json",
                  redoc_url=None, lifespan=lifespan, telemetry={"tracing": otel, "metrics": otel, "logs": otel},
                  description="The regional charging server of laadplan: the OCPI receiver for the operator's "
                              "data and the read API for the region, municipalities and grid operators.")
    app.state.config = cfg
    app.state.db = db

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:  # no traceback to the client
        rid = getattr(request.state, "request_id", None) or request.scope.get("state", {}).get("request_id")
        log.exception("unhandled error on %s %s (request %s)", request.method, request.url.path, rid)
        return JSONResponse({"detail": "internal error; the server log has the details", "request_id": rid},
                            status_code=500)

    @app.get("/api/health", tags=["server"], summary="Liveness: the process answers")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/api/ready", tags=["server"], summary="Readiness: the store answers")
    def ready(request: Request) -> JSONResponse:
        try:
            with store_for(request) as s:
                s.query("SELECT 1")
        except Exception as e:  # noqa: BLE001 - readiness reports any failure
            return JSONResponse({"status": "not ready", "detail": str(e).splitlines()[0][:200]}, status_code=503)
        return JSONResponse({"status": "ready"})

    for name in routers:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        mod.mount(app)
    from laadplan.api.limits import Limits

    app.add_middleware(Limits, rate_limit_per_minute=cfg.server.rate_limit_per_minute,
                       request_timeout_s=cfg.server.request_timeout_s)
    app.add_middleware(_Guard, max_body_bytes=cfg.server.max_body_bytes)
    return app


@contextlib.contextmanager
def store_for(request: Request) -> Iterator[Store]:
    """The request's own view of the store (own connection and transactions), closed after use."""
    s = request.app.state.store.cursor()
    try:
        yield s
    finally:
        s.close()


class LazyStore:
    """The request's store view, opened at its first use: a request answered from the caches (token, API
    results) opens none (a view is a DuckDB connection, ~0.4 ms of CPU to open and close, twice per request
    before). ``path``, ``backend`` and ``display`` are the server store's, without opening."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self._view: Store | None = None
        base = request.app.state.store
        self.path, self.backend, self.display = base.path, base.backend, base.display

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._open(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or name in ("path", "backend", "display"):
            object.__setattr__(self, name, value)
        else:  # e.g. run_id: the view's, which its methods read
            setattr(self._open(), name, value)

    def _open(self) -> Store:
        if self._view is None:
            self._view = self._request.app.state.store.cursor()
        return self._view

    def close(self) -> None:
        if self._view is not None:
            self._view.close()
            self._view = None


def get_store(request: Request) -> Iterator[Store]:
    """FastAPI dependency: the request's store view (opened when first used)."""
    s = LazyStore(request)
    try:
        yield s  # type: ignore[misc]
    finally:
        s.close()


def current_principal(request: Request) -> auth.Principal | None:
    """Who is asking: the ``Authorization`` header's token, else a principal a session middleware (web app)
    put on ``request.state.principal``; None when neither."""
    token = auth.parse_authorization(request.headers.get("authorization"))
    if token:
        s = LazyStore(request)  # a token in the cache needs no store
        try:
            return auth.verify_token(s, token)
        finally:
            s.close()
    return getattr(request.state, "principal", None)


def require(*roles: str, what: str = "do this"):
    """FastAPI dependency factory: the principal, when it has one of ``roles`` (401 without a valid token,
    403 with a valid token of another role, saying it may not ``what``)."""
    allowed = roles or ("region",)

    def dep(request: Request) -> auth.Principal:
        p = current_principal(request)
        problem = auth.require_role(p, allowed)
        if problem == "unauthorized":
            raise HTTPException(401, "a valid token is needed (Authorization: Token ...)",
                                headers={"WWW-Authenticate": "Token"})
        if problem == "forbidden":
            raise HTTPException(403, f"the role {p.role} may not {what}")
        return p

    return Depends(dep)


def config_of(request: Request) -> RegionConfig:
    return request.app.state.config


__all__ = ["create_app", "get_store", "store_for", "current_principal", "require", "config_of", "StoreError"]


def app_from_env() -> FastAPI:
    """App factory for uvicorn workers (``laadplan serve``): the store and config come from ``LAADPLAN_DB``
    and ``LAADPLAN_CONFIG``."""
    import os

    from laadplan.store import default_db_path

    return create_app(default_db_path(), os.environ.get("LAADPLAN_CONFIG") or None, freeze_gc=True)
