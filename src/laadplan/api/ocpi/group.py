"""Group commit: pushes that arrive together are validated as one batch and committed in one transaction.

Validating a CDR costs a fixed planning price per batch (the CDR ingest's set-based SQL is built for big
batches) plus little per record, so one CDR per transaction is slow. :class:`GroupCommit` queues the
requests' items; one worker thread takes everything queued (waiting up to :data:`WINDOW_S` more while
other requests are still on their way in, at most :data:`MAX_ITEMS`), hands the group to ``commit`` and
resolves each request's future with its own verdict *after* ``commit`` returned, i.e. after the COMMIT
(durable before success). A lone client pays no window: with no other request on its way, its item is
committed at once. After a group of n, the worker waits up to :data:`REGROUP_S` for n items again: the
clients it has just answered send their next items a moment later (else groups would alternate between
n - 1 and 1 items).

**Few wake-ups.** The worker is woken only when what it waits for has happened (the first item of an empty
queue, the last arriving request submitted, as many items as it waits for), not by every request; and the
requests waiting in an event loop (:meth:`GroupCommit.submit_async`) are answered with one call into that
loop per group, not one per request. Under many clients each wake-up of the other thread forces a hand-over
of the GIL between the event loop and the worker, and those hand-overs were a large part of the loop's time.

``commit(items) -> results`` must return one result per item, in order; an exception fails every item of
the group (the caller splits a failed group itself when it can, see :func:`laadplan.api.ocpi.cdrs.commit_cdrs`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Sequence

log = logging.getLogger("laadplan.api.ocpi")

#: how long the worker waits for more items while requests are still arriving (seconds)
WINDOW_S = 0.002
#: most items in one group
MAX_ITEMS = 1000
#: how long the worker waits for as many items as its last group had (the clients it just answered)
REGROUP_S = 0.2
#: an idle worker thread ends after this many seconds (a new one starts with the next item)
IDLE_S = 10.0


class GroupCommit:
    """A queue of items and one worker thread committing them in groups (see the module docstring)."""

    def __init__(self, commit: Callable[[list[Any]], Sequence[Any]], *, window_s: float = WINDOW_S,
                 max_items: int = MAX_ITEMS, regroup_s: float = REGROUP_S, name: str = "ocpi-group-commit") -> None:
        self.commit, self.window_s, self.max_items, self.name = commit, window_s, max_items, name
        self.regroup_s = regroup_s
        self._last = 1  # size of the last group
        self._cv = threading.Condition()
        self._queue: list[tuple[Any, Future]] = []
        self._arriving = 0  # requests announced (entered) but not yet submitted
        self._worker: threading.Thread | None = None
        # what the waiting worker is to be woken for: a queue of this many items, or no request arriving any more
        self._wake_len, self._wake_arrived = 1, False
        #: sizes of the last groups (for tests and the benchmark)
        self.group_sizes: list[int] = []

    # -- the request side ------------------------------------------------------------------------
    def arriving(self) -> "_Arrival":
        """Context manager a request holds from its start until it submits (or fails): while any request
        is arriving, the worker waits up to the window for it."""
        return _Arrival(self)

    def submit(self, item: Any) -> Future:
        """Queue ``item``; a :class:`concurrent.futures.Future` of its committed result."""
        fut: Future = Future()
        self._put(item, fut)
        return fut

    def submit_async(self, item: Any) -> "asyncio.Future[Any]":
        """Queue ``item`` from a coroutine; an :class:`asyncio.Future` of the running loop, resolved together
        with the other futures of the group in one call into the loop."""
        fut = asyncio.get_running_loop().create_future()
        self._put(item, fut)
        return fut

    def _put(self, item: Any, fut: Any) -> None:
        with self._cv:
            self._queue.append((item, fut))
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._worker.start()
            if len(self._queue) >= self._wake_len:
                self._wake_len, self._wake_arrived = self.max_items + 1, False  # woken: until it waits again
                self._cv.notify_all()

    async def __call__(self, item: Any) -> Any:
        """Submit ``item`` and wait (without blocking the event loop) for its committed result."""
        return await self.submit_async(item)

    # -- the worker ------------------------------------------------------------------------------
    def _take(self) -> list[tuple[Any, Future]] | None:
        with self._cv:
            idle_until = time.monotonic() + IDLE_S
            while not self._queue:
                left = idle_until - time.monotonic()
                if left <= 0:
                    self._worker = None
                    return None
                self._wake_len, self._wake_arrived = 1, False
                self._cv.wait(left)
            # wait (briefly) for the requests on their way in, and for as many items as the last group had:
            # its clients are answered now and send their next items (else every other group would be one)
            now = time.monotonic()
            deadline, regroup = now + self.window_s, now + self.regroup_s
            want = min(self.max_items, self._last)
            while len(self._queue) < self.max_items:
                now = time.monotonic()
                if self._arriving > 0 and now < deadline:
                    left = deadline - now
                    self._wake_len, self._wake_arrived = self.max_items, True
                elif len(self._queue) < want and now < regroup:
                    left = regroup - now
                    self._wake_len, self._wake_arrived = want, False
                else:
                    break
                self._cv.wait(left)
            self._wake_len, self._wake_arrived = self.max_items + 1, False  # committing: nothing to wake for
            group, self._queue = self._queue[:self.max_items], self._queue[self.max_items:]
            self._last = len(group)
            return group

    def _run(self) -> None:
        while True:
            group = self._take()
            if group is None:
                return
            items = [g[0] for g in group]
            self.group_sizes = (self.group_sizes + [len(items)])[-1000:]
            try:
                results = list(self.commit(items))
                if len(results) != len(items):
                    raise RuntimeError(f"group commit returned {len(results)} results for {len(items)} items")
            except BaseException as e:  # noqa: BLE001 - every waiting request gets the error
                _settle_all([(fut, e) for _, fut in group])
                if not isinstance(e, Exception):
                    raise
                continue
            _settle_all([(fut, res) for (_, fut), res in zip(group, results)])


def _settle(pairs: list[tuple[Any, Any]]) -> None:
    """Give each future its result (an exception instance fails it); futures already done (a request that
    gave up) are left alone."""
    for fut, res in pairs:
        if not fut.done():
            if isinstance(res, BaseException):
                fut.set_exception(res)
            else:
                fut.set_result(res)


def _settle_all(pairs: list[tuple[Any, Any]]) -> None:
    """:func:`_settle` from the worker thread: :class:`concurrent.futures.Future` at once, the asyncio futures
    of each event loop in one call into that loop (an asyncio future may only be touched in its loop)."""
    by_loop: dict[Any, list[tuple[Any, Any]]] = {}
    plain = []
    for fut, res in pairs:
        if isinstance(fut, asyncio.Future):
            by_loop.setdefault(fut.get_loop(), []).append((fut, res))
        else:
            plain.append((fut, res))
    _settle(plain)
    for loop, mine in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, mine)
        except RuntimeError:  # the loop has closed (server shutting down): nobody is waiting any more
            pass


class _Arrival:
    def __init__(self, g: GroupCommit) -> None:
        self.g = g

    def __enter__(self) -> "_Arrival":
        with self.g._cv:
            self.g._arriving += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        g = self.g
        with g._cv:
            g._arriving -= 1
            if g._arriving == 0 and g._wake_arrived:
                g._wake_len, g._wake_arrived = g.max_items + 1, False
                g._cv.notify_all()
