"""A lean closed-loop HTTP/1.1 load client for the server benchmarks, and CPU accounting.

Each client is one keep-alive TCP connection sending pre-built requests over a plain socket and reading the
answer (no think time: the next request goes out when the answer is in). The clients are threads spread over
``procs`` processes (``multiprocessing`` spawn), so one process's GIL does not cap the load on a 2-core
machine. Each process reports its own CPU time (``time.process_time``), so a benchmark can print the client
CPU next to the server's (:func:`tree_cpu_s` over the server's process tree, from ``/proc``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import threading
import time
from pathlib import Path


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and all its descendants (Linux ``/proc``); 0.0 elsewhere."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    stats: dict[int, tuple[int, float]] = {}
    for d in Path("/proc").glob("[0-9]*"):
        try:
            raw = (d / "stat").read_text()
        except OSError:
            continue
        rest = raw[raw.rindex(")") + 2:].split()
        stats[int(d.name)] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / tick)  # ppid, utime+stime
    todo, total = [pid], 0.0
    while todo:
        p = todo.pop()
        if p in stats:
            total += stats[p][1]
            todo += [c for c, (pp, _) in stats.items() if pp == p]
    return total


def get_request(port: int, path: str, headers: dict[str, str]) -> bytes:
    hs = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{hs}\r\n".encode()


def post_request(port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    hs = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{hs}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def read_answer(sock: socket.socket, buf: bytearray) -> tuple[int, bytes]:
    """(HTTP status, body) of one response on a keep-alive connection; ``buf`` keeps what was read beyond."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(262144)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    n = next((int(v) for k, _, v in (ln.partition(b":") for ln in lines[1:]) if k.strip().lower() == b"content-length"),
             0)
    if len(rest) < n:
        parts = [rest]
        have = len(rest)
        while have < n:
            chunk = sock.recv(262144)
            if not chunk:
                raise ConnectionError("server closed the connection")
            parts.append(chunk)
            have += len(chunk)
        rest = b"".join(parts)
    buf[:] = rest[n:]
    return status, rest[:n]


def _proc_main(port: int, plans: list[list[tuple[str, bytes, int, bytes]]], stop_at: float, max_each: int,
               go: "mp.synchronize.Event", out: "mp.Queue", interval_s: float = 0.0) -> None:
    """One client process: a thread per plan (a plan is the cycle of (name, request, status, body marker)
    one connection sends). ``interval_s`` > 0 paces each connection: its k-th request starts no earlier than
    k * interval_s after its first (a fixed rate; a connection that falls behind sends at once)."""
    lat: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    lock = threading.Lock()

    def client(plan: list[tuple[str, bytes, int, bytes]]) -> None:
        mine: dict[str, list[float]] = {}
        bad: dict[str, int] = {}
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        except OSError as e:
            bad[type(e).__name__] = 1
            plan = []
        else:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        k = 0
        start = time.perf_counter()
        while plan and k < max_each and time.time() < stop_at:
            if interval_s > 0:
                wait = start + k * interval_s - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            name, req, want, marker = plan[k % len(plan)]
            k += 1
            t = time.perf_counter()
            try:
                sock.sendall(req)
                status, body = read_answer(sock, buf)
            except OSError as e:
                bad[type(e).__name__] = bad.get(type(e).__name__, 0) + 1
                break
            dt = time.perf_counter() - t
            if status == want and marker in body:
                mine.setdefault(name, []).append(dt)
            else:
                bad[str(status)] = bad.get(str(status), 0) + 1
        if plan:
            sock.close()
        with lock:
            for n, v in mine.items():
                lat.setdefault(n, []).extend(v)
            for n, v in bad.items():
                errors[n] = errors.get(n, 0) + v

    threads = [threading.Thread(target=client, args=(p,)) for p in plans]
    go.wait()
    cpu0 = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({"lat": lat, "errors": errors, "cpu_s": time.process_time() - cpu0})


def run(port: int, plans: list[list[tuple[str, bytes, int, bytes]]], seconds: float, max_each: int,
        procs: int = 2, interval_s: float = 0.0) -> dict:
    """Run one connection per plan for ``seconds`` (each at most ``max_each`` requests), the connections
    spread round-robin over ``procs`` processes. Returns latencies (s) per request name, errors, wall time,
    and the client processes' CPU seconds."""
    ctx = mp.get_context("spawn")
    procs = max(1, min(procs, len(plans)))
    out = ctx.Queue()
    go = ctx.Event()
    stop_at = time.time() + seconds + 30  # replaced below once every process is up
    shared = ctx.Value("d", stop_at)
    workers = [ctx.Process(target=_proc_entry, args=(port, plans[i::procs], shared, max_each, go, out, interval_s),
                           daemon=True)
               for i in range(procs)]
    for w in workers:
        w.start()
    time.sleep(0.5)  # interpreters up (spawn) before the clock starts
    t0 = time.perf_counter()
    shared.value = time.time() + seconds
    go.set()
    parts = [out.get(timeout=seconds + 300) for _ in workers]
    wall = time.perf_counter() - t0
    for w in workers:
        w.join(30)
    lat: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    for p in parts:
        for n, v in p["lat"].items():
            lat.setdefault(n, []).extend(v)
        for n, v in p["errors"].items():
            errors[n] = errors.get(n, 0) + v
    return {"lat": lat, "errors": errors, "wall_s": wall, "client_cpu_s": sum(p["cpu_s"] for p in parts),
            "client_procs": procs}


def _proc_entry(port, plans, shared, max_each, go, out, interval_s=0.0) -> None:
    go.wait()
    _proc_main(port, plans, shared.value, max_each, _Set(), out, interval_s)


class _Set:
    def wait(self) -> None:
        return None


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")
