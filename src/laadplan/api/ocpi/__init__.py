"""The OCPI 2.2.1 receiver (and 2.1.1 where laadplan reads the module) of ``laadplan serve``.

The operator (a CPO) registers with the credentials module (token A -> B -> C), then pushes Locations (PUT /
PATCH of Location, EVSE, Connector), Sessions (PUT / PATCH), CDRs (POST) and Tariffs (PUT / DELETE) to
``/ocpi/{version}/receiver/{module}/...``, and may GET what the receiver holds. Every pushed record goes
through the file ingest's own validation (:mod:`laadplan.ingest`) and lands in the same tables or in the
quarantine with its rule code (source ``ocpi-push:CC*PARTY``), committed before the answer; the answer names
the rules a rejected record broke (OCPI 2001). Errors are OCPI envelopes, never a 500: malformed JSON or a
wrong content type (2001), an unknown module, version or id (404), a token of another party (403), no valid
token (401), a store conflict that does not resolve (3000 / 503).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import Match

from laadplan.api.ocpi.core import CLIENT_ERROR, OcpiError, envelope
from laadplan.api.ocpi.routes import CdrPostRoute, router

_ALL = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.add_middleware(CdrPostRoute)  # the CDR POST without FastAPI's routing (same handler)

    @app.api_route("/ocpi", methods=_ALL, include_in_schema=False)
    @app.api_route("/ocpi/{rest:path}", methods=_ALL, include_in_schema=False)
    async def ocpi_unknown(request: Request, rest: str = "") -> JSONResponse:
        """Anything under /ocpi no route takes: an unknown module or path (404) or a method the path does not
        have (405), as an OCPI envelope."""
        allowed = set()
        for r in router.routes:
            m, _ = r.matches({**request.scope, "method": "__none__"})
            if m != Match.NONE:
                allowed |= set(getattr(r, "methods", ()) or ())
        if allowed:
            return envelope(None, CLIENT_ERROR, f"method {request.method} not allowed here", 405,
                            {"Allow": ", ".join(sorted(allowed))})
        return envelope(None, CLIENT_ERROR, f"unknown OCPI module or path: {request.url.path}", 404)


__all__ = ["mount", "OcpiError"]
