"""A trivial ASGI app for the HTTP ceiling of bench_ocpi.py (``--ceiling``): reads the request body and answers a
fixed OCPI envelope (200, ``status_code`` 1000), under uvicorn with ``laadplan serve``'s settings (httptools,
uvloop, no access log, no proxy headers). What the HTTP server alone allows on this machine.

    .venv/bin/python benchmarks/trivial_asgi.py PORT [WORKERS]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BODY = json.dumps({"data": None, "status_code": 1000, "status_message": "Success",
                   "timestamp": "2026-01-01T00:00:00Z"}, separators=(",", ":")).encode()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        msg = await receive()
        more = msg.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    import uvicorn

    port = int(sys.argv[1])
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    uvicorn.run("trivial_asgi:app", app_dir=str(Path(__file__).resolve().parent), host="127.0.0.1", port=port,
                workers=workers, access_log=False, proxy_headers=False, log_level="warning")
