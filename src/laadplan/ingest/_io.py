"""Opening sources: a local path or an http(s) URL, optionally gzip-compressed, as a binary stream.

Everything streams: nothing here reads a whole file into memory. Every stream is guarded
(:class:`SourceLimits`, config section ``[sources]``):

- a read error of any kind (truncated or corrupt gzip, binary garbage in a gzip member, a broken
  connection) becomes a :class:`SourceError` naming the source, never a traceback;
- gzip output is capped (``max_decompressed_bytes``) and so is its ratio to the compressed input
  (``max_decompression_ratio``, checked once ``ratio_floor_bytes`` have come out): gzip bombs stop early;
- URLs have a read timeout (no byte for ``url_read_timeout_s``: a stalled server) and a total timeout
  (``url_total_timeout_s``), and a body shorter than its ``Content-Length`` is an error, not a file;
- the decompressed content is hashed (SHA-256) while it is read; :func:`tracking` collects the digest of
  every source read to its end, so that an ingest run can name its file by content (:func:`content_digest`).
"""

from __future__ import annotations

import contextlib
import contextvars
import gzip
import hashlib
import http.client
import io
import os
import socket
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

USER_AGENT = "laadplan (+https://github.com/laadplan)"
TIMEOUT_S = 60  # default URL read timeout (config: sources.url_read_timeout_s)
_BUFFER = 1 << 20


class SourceError(Exception):
    """A source could not be opened or read as a whole (as opposed to a bad record inside it)."""


@dataclass(frozen=True)
class SourceLimits:
    """Guards applied to every source opened (see the config section ``[sources]``)."""

    max_decompressed_bytes: int = 32 << 30
    max_decompression_ratio: float = 200.0
    ratio_floor_bytes: int = 64 << 20
    url_read_timeout_s: float = float(TIMEOUT_S)
    url_total_timeout_s: float = 3600.0


_LIMITS: contextvars.ContextVar[SourceLimits] = contextvars.ContextVar("laadplan_source_limits",
                                                                     default=SourceLimits())
_DIGESTS: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("laadplan_digests", default=None)


@contextlib.contextmanager
def limits(lim: SourceLimits) -> Iterator[SourceLimits]:
    """Apply ``lim`` to every source opened inside the block."""
    token = _LIMITS.set(lim)
    try:
        yield lim
    finally:
        _LIMITS.reset(token)


@contextlib.contextmanager
def tracking() -> Iterator[dict[str, str]]:
    """Collect ``{source name: sha256 of its decompressed content}`` of every source read to its end."""
    digests: dict[str, str] = {}
    token = _DIGESTS.set(digests)
    try:
        yield digests
    finally:
        _DIGESTS.reset(token)


def is_url(src: str | os.PathLike) -> bool:
    return str(src).startswith(("http://", "https://"))


#: prefix of the source name of records pushed to the OCPI receiver (``ocpi-push:NL*EQU``: the party)
PUSH_PREFIX = "ocpi-push:"


def is_pushed(src: str) -> bool:
    """True for the source name of records pushed over OCPI (not a file or URL)."""
    return str(src).startswith(PUSH_PREFIX)


def source_name(src: str | os.PathLike) -> str:
    """The canonical name of a source: a URL as given, a local path resolved (absolute, no ``..`` or links),
    so that one file spelled four ways is one source."""
    s = str(src)
    if is_url(s) or is_pushed(s):
        return s
    try:
        return str(Path(s).expanduser().resolve())
    except (OSError, RuntimeError):
        return s


def content_digest(src: str | os.PathLike) -> str:
    """SHA-256 of the decompressed content: the one recorded while the run read it, else read now."""
    name = source_name(src)
    seen = (_DIGESTS.get() or {}).get(name)
    if seen:
        return seen
    with tracking() as digests, open_binary(name) as b:
        while b.read(_BUFFER * 8):
            pass
    outer = _DIGESTS.get()
    if outer is not None:
        outer[name] = digests[name]
    return digests[name]


def _describe(name: str, e: BaseException) -> str:
    if isinstance(e, (EOFError, gzip.BadGzipFile, zlib.error)):
        return (f"{name}: corrupt or truncated gzip ({e}); nothing of this file was stored - "
                f"download or copy it again")
    if isinstance(e, http.client.IncompleteRead):
        return f"{name}: download truncated ({e}); nothing of this file was stored - try again"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return (f"{name}: no data for {_LIMITS.get().url_read_timeout_s:g} s (stalled download); nothing of this "
                f"file was stored - try again later or raise sources.url_read_timeout_s")
    if isinstance(e, UnicodeDecodeError):
        return f"{name}: not text in a known encoding ({e}); is this the right file?"
    return f"{name}: read failed ({e}); nothing of this file was stored"


class _Raw(io.RawIOBase):
    """The bytes as they arrive (file or HTTP body): counts them, checks the URL timeouts and length."""

    def __init__(self, name: str, inner: IO[bytes], *, url: bool, lim: SourceLimits):
        self.name, self.inner, self.url, self.lim = name, inner, url, lim
        self.count = 0
        self.started = time.monotonic()
        length = inner.headers.get("Content-Length") if url and hasattr(inner, "headers") else None
        self.expected = int(length) if length and length.isdigit() else None

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        if self.url and time.monotonic() - self.started > self.lim.url_total_timeout_s:
            raise SourceError(f"{self.name}: download took longer than {self.lim.url_total_timeout_s:g} s; nothing of "
                              f"this file was stored - raise sources.url_total_timeout_s or download it first")
        try:
            if self.url:  # one network read at a time, so the total timeout is checked between them
                data = self.inner.read1(len(buf))  # type: ignore[attr-defined]
                n = len(data)
                buf[:n] = data
            else:
                n = self.inner.readinto(buf)
        except SourceError:
            raise
        except Exception as e:  # noqa: BLE001 - every read failure is this source's failure
            raise SourceError(_describe(self.name, e)) from None
        n = n or 0
        self.count += n
        if n == 0 and self.expected is not None and self.count < self.expected:
            raise SourceError(f"{self.name}: download truncated: {self.count:,} of {self.expected:,} bytes "
                              f"(Content-Length); nothing of this file was stored - try again")
        return n

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            super().close()


class _Guarded(io.RawIOBase):
    """The decompressed content: hashes it, caps its size and ratio, names the source in every error."""

    def __init__(self, name: str, inner: IO[bytes], raw: _Raw, *, gzipped: bool, lim: SourceLimits):
        self.name, self.inner, self.raw, self.gzipped, self.lim = name, inner, raw, gzipped, lim
        self.count = 0
        self.sha = hashlib.sha256()
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        try:
            n = self.inner.readinto(buf)
        except SourceError:
            raise
        except Exception as e:  # noqa: BLE001
            raise SourceError(_describe(self.name, e)) from None
        n = n or 0
        if n:
            self.count += n
            self.sha.update(memoryview(buf)[:n])
            if self.gzipped or self.raw.url:
                self._check()
        elif not self.done:
            self.done = True
            digests = _DIGESTS.get()
            if digests is not None:
                digests[self.name] = self.sha.hexdigest()
        return n

    def _check(self) -> None:
        lim = self.lim
        if self.count > lim.max_decompressed_bytes:
            raise SourceError(f"{self.name}: more than {lim.max_decompressed_bytes:,} bytes "
                              f"{'after decompression ' if self.gzipped else ''}(sources.max_decompressed_bytes); "
                              f"refused as a possible gzip bomb - raise the limit if the file is genuine")
        if self.gzipped and self.count > lim.ratio_floor_bytes and self.raw.count:
            ratio = self.count / self.raw.count
            if ratio > lim.max_decompression_ratio:
                raise SourceError(f"{self.name}: decompresses {ratio:,.0f}x (sources.max_decompression_ratio = "
                                  f"{lim.max_decompression_ratio:g}); refused as a possible gzip bomb - raise the "
                                  f"limit if the file is genuine")

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            super().close()


@contextlib.contextmanager
def open_binary(src: str | os.PathLike) -> Iterator[IO[bytes]]:
    """Open ``src`` for streaming reading; gzip is detected by its magic bytes, not the name."""
    name = source_name(src)
    lim = _LIMITS.get()
    url = is_url(name)
    try:
        if url:
            req = urllib.request.Request(name, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"})
            inner: IO[bytes] = urllib.request.urlopen(req, timeout=lim.url_read_timeout_s)  # noqa: S310
        else:
            inner = open(Path(name), "rb")
    except FileNotFoundError:
        raise SourceError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise SourceError(f"{name}: is a directory, not a file") from None
    except PermissionError:
        raise SourceError(f"{name}: permission denied") from None
    except urllib.error.HTTPError as e:
        raise SourceError(f"{name}: HTTP {e.code} {e.reason}") from None
    except (socket.timeout, TimeoutError):
        raise SourceError(f"{name}: no answer within {lim.url_read_timeout_s:g} s (sources.url_read_timeout_s)") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
        raise SourceError(f"{name}: cannot open ({e})") from None
    raw = _Raw(name, inner, url=url, lim=lim)
    try:
        buffered = io.BufferedReader(raw, buffer_size=_BUFFER)
        try:
            head = buffered.peek(2)[:2]
        except SourceError:
            raise
        gzipped = head == b"\x1f\x8b"
        inner_stream: IO[bytes] = gzip.GzipFile(fileobj=buffered) if gzipped else buffered
        guarded = _Guarded(name, inner_stream, raw, gzipped=gzipped, lim=lim)
        yield io.BufferedReader(guarded, buffer_size=_BUFFER)
    finally:
        raw.close()


@contextlib.contextmanager
def open_text(src: str | os.PathLike, encoding: str = "utf-8-sig") -> Iterator[IO[str]]:
    with open_binary(src) as b:
        yield io.TextIOWrapper(b, encoding=encoding, errors="replace", newline="")


@contextlib.contextmanager
def local_copy(src: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """A local, uncompressed path for readers that need one (GeoPackage, DuckDB scans).

    Local uncompressed files are used in place; URLs and gzip files are streamed to a temp file.
    """
    import shutil
    import tempfile

    name = source_name(src)
    if not is_url(name):
        p = Path(name)
        if not p.exists():
            raise SourceError(f"{name}: file not found")
        if p.is_dir():
            raise SourceError(f"{name}: is a directory, not a file")
        with open(p, "rb") as f:
            if f.read(2) != b"\x1f\x8b":
                yield p
                return
    with tempfile.TemporaryDirectory(prefix="laadplan-") as d:
        out = Path(d) / ("source" + suffix)
        with open_binary(name) as b, open(out, "wb") as f:
            try:
                shutil.copyfileobj(b, f, length=1 << 20)
            except OSError as e:
                raise SourceError(f"{name}: cannot make a local copy in {d} ({e})") from None
        yield out
