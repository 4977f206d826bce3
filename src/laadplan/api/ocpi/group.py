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
        #: sizes of the last groups (for tests and the benchmark)
        self.group_sizes: list[int] = []

    # -- the request side ------------------------------------------------------------------------
    def arriving(self) -> "_Arrival":
        """Context manager a request holds from its start until it submits (or fails): while any request
        is arriving, the worker waits up to the window for it."""
        return _Arrival(self)

    def submit(self, item: Any) -> Future:
        fut: Future = Future()
        with self._cv:
            self._queue.append((item, fut))
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._worker.start()
            self._cv.notify_all()
        return fut

    async def __call__(self, item: Any) -> Any:
        """Submit ``item`` and wait (without blocking the event loop) for its committed result."""
        return await asyncio.wrap_future(self.submit(item))

    # -- the worker ------------------------------------------------------------------------------
    def _take(self) -> list[tuple[Any, Future]] | None:
        with self._cv:
            idle_until = time.monotonic() + IDLE_S
            while not self._queue:
                left = idle_until - time.monotonic()
                if left <= 0:
                    self._worker = None
                    return None
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
                elif len(self._queue) < want and now < regroup:
                    left = regroup - now
                else:
                    break
                self._cv.wait(left)
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
                for _, fut in group:
                    if not fut.done():
                        fut.set_exception(e)
                if not isinstance(e, Exception):
                    raise
                continue
            for (_, fut), res in zip(group, results):
                if not fut.done():
                    if isinstance(res, BaseException):
                        fut.set_exception(res)
                    else:
                        fut.set_result(res)


class _Arrival:
    def __init__(self, g: GroupCommit) -> None:
        self.g = g

    def __enter__(self) -> "_Arrival":
        with self.g._cv:
            self.g._arriving += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        with self.g._cv:
            self.g._arriving -= 1
            self.g._cv.notify_all()
