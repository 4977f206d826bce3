"""Limits of the regional server: a per-token rate limit (429 with ``Retry-After``) and a request timeout (503).

Both are pure ASGI middleware (no task per request: the timeout is ``asyncio.timeout`` on the request's own
task). The rate limit is a token bucket per client: the API token's public id when the request carries one
(``lp_<id>_...``), else the client address; ``rate_limit_per_minute`` requests fill the bucket and it refills
evenly over the minute.
The liveness and readiness probes (``/api/health``, ``/api/ready``) are never limited.

The timeout answers 503 when the response has not started within ``request_timeout_s``; the work itself (a
thread of the pool) cannot be interrupted and its late result is dropped. A response already streaming is
left to finish.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from typing import Any

from laadplan.api import auth

EXEMPT = ("/api/health", "/api/ready")


class RateLimiter:
    """Token buckets per key: ``rate`` requests per ``per_s`` seconds, bursts up to ``rate``."""

    def __init__(self, rate: int, per_s: float = 60.0, max_keys: int = 100_000) -> None:
        self.rate = float(rate)
        self.refill = rate / per_s
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float | None = None) -> float:
        """0.0 when the request may go on (one token taken), else the seconds until a token is free."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.rate, now))
            tokens = min(self.rate, tokens + (now - last) * self.refill)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.clear()
            return (1.0 - tokens) / self.refill


def client_key(scope: dict) -> str:
    """The token's public id, else the client address."""
    token = auth.scope_token(scope)
    if token and token.startswith(auth.PREFIX):
        tid = token[len(auth.PREFIX):].split("_", 1)[0]
        if tid:
            return "token:" + tid[:32]
    client = scope.get("client") or ("?", 0)
    return "addr:" + str(client[0])


async def _send_json(send: Any, status: int, detail: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


class Limits:
    """ASGI middleware: rate limit per client, then the request timeout."""

    def __init__(self, app: Any, rate_limit_per_minute: int, request_timeout_s: float) -> None:
        self.app = app
        self.limiter = RateLimiter(rate_limit_per_minute)
        self.timeout_s = request_timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path", "") in EXEMPT:
            await self.app(scope, receive, send)
            return
        wait = self.limiter.take(client_key(scope))
        if wait > 0:
            retry = max(1, math.ceil(wait))
            await _send_json(send, 429, f"rate limit of {int(self.limiter.rate)} requests per minute reached; "
                                        f"retry after {retry} s", [(b"retry-after", str(retry).encode())])
            return
        # the timeout cancels this request's own task (no second task and asyncio.wait per request: ~10 % of the
        # event loop under a push load); the response's first message switches it off
        timeout = asyncio.timeout(self.timeout_s)
        state = {"started": False}

        async def guarded_send(msg: dict) -> None:
            if not state["started"]:
                if timeout.expired():  # too late: the 503 goes out instead
                    return
                if msg["type"] == "http.response.start":
                    state["started"] = True
                    timeout.reschedule(None)  # already answering: let it finish
            await send(msg)

        try:
            async with timeout:
                await self.app(scope, receive, guarded_send)
            return
        except TimeoutError:
            if not timeout.expired():  # (an answer that began switched the timeout off: it cannot expire)
                raise  # not ours: the app's own
        await _send_json(send, 503, f"the request took longer than {self.timeout_s:g} s; try a narrower selection "
                                    f"or again later", [(b"retry-after", b"5")])
