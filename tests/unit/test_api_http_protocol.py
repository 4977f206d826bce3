"""The server's HTTP protocol (laadplan.api.http): a response's writes in one event-loop turn go out as one write,
large writes at once, nothing lost or reordered; end to end under uvicorn on loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laadplan.api import http as lp_http
from laadplan.api.http import LIMIT, HttpProtocol, WriteCoalescer


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False
        self.extra = {"peername": ("127.0.0.1", 1)}

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default=None):
        return self.extra.get(name, default)


def run_turns(turns: list[list[bytes]]) -> FakeTransport:
    """Each inner list is written in one turn of a real event loop; the transport's writes afterwards."""
    t = FakeTransport()

    async def main() -> None:
        c = WriteCoalescer(t, asyncio.get_running_loop())
        for turn in turns:
            for data in turn:
                c.write(data)
            await asyncio.sleep(0)  # end of the turn: the scheduled flush runs
            await asyncio.sleep(0)
        assert c._pending is None

    asyncio.run(main())
    return t


def test_writes_of_one_turn_are_one_write_after_the_turn():
    t = FakeTransport()

    async def main() -> None:
        c = WriteCoalescer(t, asyncio.get_running_loop())
        c.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        c.write(b"")
        c.write(b"{}")
        assert t.writes == []  # nothing sent before the turn ends
        assert c.get_write_buffer_size() == 7 + 40
        await asyncio.sleep(0)
        assert t.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
        assert c.get_write_buffer_size() == 7
        assert c.get_extra_info("peername") == ("127.0.0.1", 1)  # the transport's own

    asyncio.run(main())


def test_large_writes_go_at_once_and_keep_their_order():
    t = FakeTransport()

    async def main() -> None:
        c = WriteCoalescer(t, asyncio.get_running_loop())
        big = b"x" * LIMIT
        c.write(big)  # nothing pending: straight through
        assert t.writes == [big]
        c.write(b"head")
        c.write(b"y" * (LIMIT - 4))  # pending reaches the limit: sent now, joined
        assert t.writes == [big, b"head" + b"y" * (LIMIT - 4)]
        c.write(b"tail")
        await asyncio.sleep(0)
        assert t.writes[-1] == b"tail" and len(t.writes) == 3

    asyncio.run(main())


def test_close_sends_what_is_pending_abort_drops_it():
    t = FakeTransport()

    async def main() -> None:
        c = WriteCoalescer(t, asyncio.get_running_loop())
        c.write(b"last words")
        c.close()
        assert t.writes == [b"last words"] and t.closed
        await asyncio.sleep(0)  # the scheduled flush finds nothing
        assert t.writes == [b"last words"]
        t2 = FakeTransport()
        c2 = WriteCoalescer(t2, asyncio.get_running_loop())
        c2.write(b"never")
        c2.abort()
        await asyncio.sleep(0)
        assert t2.writes == [] and t2.aborted

    asyncio.run(main())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, LIMIT + 10), max_size=6), max_size=6))
def test_nothing_lost_reordered_or_split_more_than_needed(sizes):
    turns, n = [], 0
    for turn in sizes:
        out = []
        for s in turn:
            out.append(bytes([65 + n % 26]) * s)
            n += 1
        turns.append(out)
    t = run_turns(turns)
    assert b"".join(t.writes) == b"".join(b"".join(turn) for turn in turns)
    # a turn costs one write, plus one for each time its pending bytes reached the limit (counted by hand)
    want = 0
    for turn in turns:
        pending = 0
        for data in turn:
            if not data:
                continue
            if pending == 0 and len(data) >= LIMIT:
                want += 1
                continue
            pending += len(data)
            if pending >= LIMIT:
                want += 1
                pending = 0
        want += 1 if pending else 0
    assert len(t.writes) == want


# -- end to end: uvicorn with the protocol on loopback ---------------------------------------------------
class Recorded(HttpProtocol):
    """The protocol, with the connection's real transport wrapped in a recorder of its writes."""

    writes: list[bytes] = []

    def connection_made(self, transport):  # type: ignore[override]
        outer = self

        class Rec:
            def write(self, data: bytes) -> None:
                outer.writes.append(bytes(data))
                transport.write(data)

            def __getattr__(self, name):
                return getattr(transport, name)

        super().connection_made(Rec())


BIG = b"z" * (3 * LIMIT + 5)


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = BIG if scope["path"] == "/big" else b'{"status_code":1000}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def read_response(sock: socket.socket, buf: bytearray) -> bytes:
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    n = int(next(ln.split(b":")[1] for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")))
    while len(rest) < n:
        rest += sock.recv(65536)
    buf[:] = rest[n:]
    return rest[:n]


@pytest.fixture
def server():
    import uvicorn

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = uvicorn.Config(app, host="127.0.0.1", port=port, http=Recorded, log_level="warning", lifespan="off")
    srv = uvicorn.Server(cfg)
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield port
    srv.should_exit = True
    th.join(10)


def test_uvicorn_sends_each_small_answer_in_one_write(server):
    Recorded.writes.clear()
    with socket.create_connection(("127.0.0.1", server)) as c:
        buf = bytearray()
        for _ in range(3):  # keep-alive: three answers on one connection
            c.sendall(b"POST /cdrs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            assert read_response(c, buf) == b'{"status_code":1000}'
        c.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(c, buf) == BIG
    small = Recorded.writes[:3]
    assert len(small) == 3 and all(w.startswith(b"HTTP/1.1 200 OK") and w.endswith(b'{"status_code":1000}')
                                   for w in small)  # status line, headers and body: one write each
    assert b"".join(Recorded.writes[3:]).endswith(BIG)


def test_the_server_command_uses_the_protocol(tmp_path, monkeypatch):
    import uvicorn
    import uvicorn.config
    from typer.testing import CliRunner

    from laadplan.cli import app as cli

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    r = CliRunner().invoke(cli, ["--db", str(tmp_path / "s.duckdb"), "serve", "--port", "8123"])
    assert r.exit_code == 0, r.output
    assert seen["http"] == lp_http.PROTOCOL and seen["port"] == 8123
    assert uvicorn.config.import_from_string(seen["http"]) is HttpProtocol
