"""Opening sources: a local path or an http(s) URL, optionally gzip-compressed, as a binary stream.

Everything streams: nothing here reads a whole file into memory.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Iterator

USER_AGENT = "laadplan (+https://github.com/laadplan)"
TIMEOUT_S = 60


class SourceError(Exception):
    """A source could not be opened or read as a whole (as opposed to a bad record inside it)."""


def is_url(src: str | os.PathLike) -> bool:
    return str(src).startswith(("http://", "https://"))


def source_name(src: str | os.PathLike) -> str:
    return str(src)


@contextlib.contextmanager
def open_binary(src: str | os.PathLike) -> Iterator[IO[bytes]]:
    """Open ``src`` for streaming reading; gzip is detected by its magic bytes, not the name."""
    name = source_name(src)
    try:
        if is_url(name):
            req = urllib.request.Request(name, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"})
            raw: IO[bytes] = urllib.request.urlopen(req, timeout=TIMEOUT_S)  # noqa: S310 (http/https only)
        else:
            raw = open(Path(name), "rb")
    except FileNotFoundError:
        raise SourceError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise SourceError(f"{name}: is a directory, not a file") from None
    except PermissionError:
        raise SourceError(f"{name}: permission denied") from None
    except urllib.error.HTTPError as e:
        raise SourceError(f"{name}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise SourceError(f"{name}: cannot open ({e})") from None
    try:
        buffered = io.BufferedReader(raw) if not hasattr(raw, "peek") else raw
        head = buffered.peek(2)[:2]
        stream: IO[bytes] = gzip.GzipFile(fileobj=buffered) if head == b"\x1f\x8b" else buffered
        yield stream
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
        with open(p, "rb") as f:
            if f.read(2) != b"\x1f\x8b":
                yield p
                return
    with tempfile.TemporaryDirectory(prefix="laadplan-") as d:
        out = Path(d) / ("source" + suffix)
        with open_binary(name) as b, open(out, "wb") as f:
            shutil.copyfileobj(b, f, length=1 << 20)
        yield out
