"""The server's HTTP/1.1 protocol: uvicorn's httptools protocol, with a response's writes sent as one.

uvicorn writes a response's status line and headers when the app sends ``http.response.start`` and the body
when it sends ``http.response.body``: two ``send`` system calls, and on a client's side often two segments to
read, for every small answer (an OCPI acknowledgement is ~300 bytes). :class:`WriteCoalescer` stands in for the
connection's transport: the writes made in one turn of the event loop are joined and written once, at the end
of that turn (``loop.call_soon``). On loopback one ``send`` of a small answer costs ~17 us of CPU (kernel,
both ends; measured with two sockets), so this is about a tenth of the event loop's time per acknowledged CDR
(``benchmarks/bench_ocpi.py``). Large writes (at least :data:`LIMIT` bytes pending) go out at once, so a big
or streamed body is not held back; ``close`` first sends what is pending. Everything else is the transport's.

``laadplan serve`` runs uvicorn with ``http=`` :data:`PROTOCOL`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: pending bytes at which a write is sent at once instead of at the end of the event loop's turn
LIMIT = 64 * 1024
#: the protocol class for ``uvicorn.run(http=...)`` (an import string, so that uvicorn's worker processes
#: import it too)
PROTOCOL = "laadplan.api.http:HttpProtocol"


class WriteCoalescer:
    """A transport whose writes within one event-loop turn go to ``transport`` as one write (see the module
    docstring). Attributes other than ``write``, ``close``, ``abort`` and ``get_write_buffer_size`` are the
    transport's own."""

    __slots__ = ("transport", "_loop", "_pending", "_size")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport, self._loop = transport, loop
        self._pending: list[bytes] | None = None
        self._size = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._pending is None:
            if len(data) >= LIMIT:
                self.transport.write(data)
                return
            self._pending, self._size = [data], len(data)
            self._loop.call_soon(self.flush)
            return
        self._pending.append(data)
        self._size += len(data)
        if self._size >= LIMIT:
            self.flush()

    def flush(self) -> None:
        """Write what is pending now (one write)."""
        pending, self._pending, self._size = self._pending, None, 0
        if pending and not self.transport.is_closing():
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._pending, self._size = None, 0
        self.transport.abort()

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() + self._size

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a :class:`WriteCoalescer` of the connection's transport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(WriteCoalescer(transport, self.loop))  # type: ignore[arg-type]

    def handle_websocket_upgrade(self) -> None:
        # the WebSocket protocol takes the connection over: it gets the transport itself
        if isinstance(self.transport, WriteCoalescer):
            self.transport.flush()
            self.transport = self.transport.transport
        super().handle_websocket_upgrade()


__all__ = ["HttpProtocol", "WriteCoalescer", "PROTOCOL", "LIMIT"]
