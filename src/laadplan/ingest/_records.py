"""Streaming JSON records from any OCPI container: a JSON array, an OCPI response envelope
``{"data": [...]}`` (or ``{"data": {...}}``), NDJSON (one object per line), or a single object;
optionally gzip, from a path or URL.

Each record comes as a :class:`JsonRecord` with its 1-based position (line number for NDJSON, element
index for arrays) and either the parsed object or the parse error with the raw text, so a reader can
quarantine it under ``LP-MALFORMED`` and carry on. Memory stays flat in the file size.

**A bad record costs only itself.** Arrays and envelopes are split into their elements by a tolerant
scanner: each element is parsed on its own (``json.JSONDecoder.raw_decode``, C speed); an element that
does not parse is located by tracking strings and brackets, reported with its text and skipped, and the
next element is read. So a broken element, a Latin-1 byte (replaced by U+FFFD, as for NDJSON lines), a
UTF-8 BOM before the document, an integer beyond 64 bits (read exactly) or ``NaN``/``Infinity`` (read
as floats; the readers reject non-finite values in their fields as ``LP-TYPE``) never stop the file.

**Guards** (:class:`Limits`, from ``validation.max_json_depth`` and ``validation.max_record_bytes``): a
record nested deeper than ``max_depth`` or longer than ``max_record_bytes`` characters is reported as a
malformed record (its first 20,000 characters kept) without being parsed or held in memory whole.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from dataclasses import dataclass
from typing import IO, Any, Iterator

from laadplan.ingest._io import SourceError, open_binary

#: how much raw text of a rejected record is kept (the quarantine keeps 20,000 characters)
RAW_KEEP = 20_000
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Parser guards; defaults match ``validation.max_json_depth`` / ``validation.max_record_bytes``."""

    max_depth: int = 64
    max_record_bytes: int = 64 << 20

    @classmethod
    def of(cls, cfg: Any | None) -> "Limits":
        """The limits of a :class:`~laadplan.config.RegionConfig` (defaults when None)."""
        if cfg is None:
            return cls()
        v = cfg.validation
        return cls(int(v.max_json_depth), int(v.max_record_bytes))


@dataclass(frozen=True)
class JsonRecord:
    position: int
    obj: Any | None  # parsed JSON value (normally a dict) or None when malformed
    raw: str | None  # the record's own text (None only when built by a caller without it)
    error: str | None = None

    def raw_text(self) -> str:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.obj, ensure_ascii=False, default=str)


_DECODER = json.JSONDecoder()
_WS = " \t\r\n\ufeff"
_BOM = b"\xef\xbb\xbf"


def _first_byte(stream: io.BufferedIOBase) -> bytes:
    while True:
        b = stream.peek(64)[:64] if hasattr(stream, "peek") else b""
        if not b:
            return b""
        stripped = b.lstrip(b" \t\r\n\xef\xbb\xbf")
        if stripped:
            return stripped[:1]
        stream.read(len(b))


def _readline(stream: IO[bytes], limit: int) -> tuple[bytes, bool]:
    """One line of at most ``limit`` bytes: (text, too_long). A longer line is read to its end and dropped
    except for its first :data:`RAW_KEEP` bytes."""
    line = stream.readline(limit + 1)
    if len(line) <= limit or line.endswith(b"\n"):
        return line, False
    head = line[:RAW_KEEP]
    while True:  # skip the rest of the line without holding it
        more = stream.readline(_CHUNK)
        if not more or more.endswith(b"\n"):
            return head, True


def detect_container(src: str, limits: Limits | None = None) -> str:
    """'array', 'ndjson', 'document' (one pretty-printed object, possibly an envelope) or 'empty'."""
    limits = limits or Limits()
    with open_binary(src) as raw:
        stream = io.BufferedReader(raw) if not hasattr(raw, "peek") else raw
        first = _first_byte(stream)
        if first == b"":
            return "empty"
        if first == b"[":
            return "array"
        if first != b"{":
            return "ndjson"  # garbage first line: treat as lines, each gets judged
        line, too_long = _readline(stream, limits.max_record_bytes)
        if too_long:
            return "document"
        try:
            first_obj = json.loads(line.decode("utf-8", errors="replace").lstrip(_WS))
        except (ValueError, RecursionError):
            return "document"
        if isinstance(first_obj, dict) and isinstance(first_obj.get("data"), (list, dict)):
            return "document"  # a one-line OCPI envelope
        return "ndjson"


def iter_json_records(src: str, limits: Limits | None = None) -> Iterator[JsonRecord]:
    """Yield every record of ``src`` in order. Raises SourceError only when the file cannot be opened."""
    limits = limits or Limits()
    kind = detect_container(src, limits)
    if kind == "empty":
        return
    if kind == "ndjson":
        yield from _iter_ndjson(src, limits)
    elif kind == "array":
        with open_binary(src) as b:
            sc = _Scanner(b, limits)
            sc.skip_ws()
            sc.pos += 1  # the '['
            yield from sc.elements("]")
    else:
        yield from _iter_document(src, limits)


def _depth_error(text: str, limits: Limits) -> str | None:
    """Cheap first: only text with more brackets than the limit can be nested deeper than it."""
    if text.count("{") + text.count("[") <= limits.max_depth:
        return None
    depth = _max_depth(text)
    return f"nested {depth} levels deep, more than validation.max_json_depth = {limits.max_depth}" \
        if depth > limits.max_depth else None


def parse_text(text: str, limits: Limits) -> tuple[Any, str | None]:
    """(value, None) or (None, error) for one record's JSON text, with the depth guard."""
    err = _depth_error(text, limits)
    if err is not None:
        return None, err
    try:
        return json.loads(text), None
    except ValueError as e:
        return None, f"invalid JSON: {e}"
    except RecursionError:  # pragma: no cover - the depth guard comes first
        return None, "invalid JSON: nested too deeply"


def _iter_ndjson(src: str, limits: Limits) -> Iterator[JsonRecord]:
    with open_binary(src) as b:
        lineno = 0
        while True:
            line, too_long = _readline(b, limits.max_record_bytes)
            if not line:
                break
            lineno += 1
            text = line.decode("utf-8", errors="replace").strip()
            if lineno == 1:
                text = text.lstrip("\ufeff")
            if too_long:
                yield JsonRecord(lineno, None, text[:RAW_KEEP],
                                 f"line longer than validation.max_record_bytes = {limits.max_record_bytes:,}")
                continue
            if not text:
                continue
            obj, err = parse_text(text, limits)
            yield JsonRecord(lineno, obj, text, err)


_STRUCT = re.compile(r'["{}\[\],]')
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)


def _max_depth(text: str) -> int:
    """Deepest bracket nesting of ``text``, ignoring brackets inside strings (tolerant of broken JSON)."""
    depth = best = 0
    i = 0
    search, smatch = _STRUCT.search, _STRING.match
    while True:
        m = search(text, i)
        if m is None:
            return best
        c = m.group()
        i = m.end()
        if c == '"':
            s = smatch(text, m.start())
            if s is None:
                return best
            i = s.end()
        elif c in "{[":
            depth += 1
            best = max(best, depth)
        elif c in "}]":
            depth = max(depth - 1, 0)


class _Scanner:
    """Incrementally decoded text of a binary stream with element-wise, error-tolerant JSON reading."""

    def __init__(self, stream: IO[bytes], limits: Limits):
        self.stream, self.limits = stream, limits
        self.dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self._first = True

    # -- buffer --------------------------------------------------------------------------------------
    def fill(self) -> bool:
        """Append the next chunk; False at the end of the stream."""
        if self.eof:
            return False
        data = self.stream.read(_CHUNK)
        if self._first and data:
            self._first = False
            if data.startswith(_BOM):
                data = data[len(_BOM):]
        if not data:
            self.eof = True
            self.buf = self.buf[self.pos:] + self.dec.decode(b"", final=True)
            self.pos = 0
            return False
        self.buf = self.buf[self.pos:] + self.dec.decode(data)
        self.pos = 0
        return True

    def skip_ws(self) -> str:
        """Skip whitespace; return the next character ('' at the end)."""
        while True:
            n = len(self.buf)
            while self.pos < n and self.buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < n:
                return self.buf[self.pos]
            if not self.fill():
                return ""

    # -- one value -----------------------------------------------------------------------------------
    def value(self, closer: str) -> tuple[Any, str, str | None]:
        """Read the value at ``pos`` (in a container closed by ``closer``): (obj, text, error).

        The fast path parses the value directly; a value that ends the buffer is retried with more text;
        anything else that fails is delimited by :meth:`_extent` and judged on its own text.
        """
        while True:
            start = self.pos
            try:
                obj, end = _DECODER.raw_decode(self.buf, start)
            except (ValueError, RecursionError):
                break
            if end >= len(self.buf) and not self.eof:  # a number may continue in the next chunk
                if self.fill():
                    continue
            text = self.buf[start:end]
            err = _depth_error(text, self.limits)
            self.pos = end
            if len(text) > self.limits.max_record_bytes:
                return None, text[:RAW_KEEP], self._too_long()
            if err is not None:
                return None, text[:RAW_KEEP], err
            # a well-formed value is followed by ',' or the closer (or, a comma missing, the next value)
            nxt = self.skip_ws()
            if nxt in (",", closer, "") or nxt in '{["':
                return obj, text, None
            junk, _ = self._extent(closer)
            return None, (text + junk)[:RAW_KEEP], "invalid JSON: unexpected text after the value"
        text, too_long = self._extent(closer)
        if too_long:
            return None, text, self._too_long()
        obj, err = parse_text(text, self.limits)
        return obj, text, err

    def _too_long(self) -> str:
        return f"record longer than validation.max_record_bytes = {self.limits.max_record_bytes:,} characters"

    def _extent(self, closer: str) -> tuple[str, bool]:
        """The text from ``pos`` to the next ``,`` or closer at bracket depth 0 (strings respected); moves
        ``pos`` there. Returns (text, too_long); a too-long text is cut to :data:`RAW_KEEP`."""
        start = self.pos
        i = start
        depth = 0
        head = ""  # kept text once the record is too long to hold
        dropped = 0
        while True:
            m = _STRUCT.search(self.buf, i)
            if m is None or (m.group() == '"' and _STRING.match(self.buf, m.start()) is None):
                # the value continues beyond the buffer
                if not self.eof and (len(self.buf) - start) + dropped > self.limits.max_record_bytes:
                    if not head:
                        head = self.buf[start:start + RAW_KEEP]
                    keep_from = m.start() if m is not None else len(self.buf)
                    dropped += keep_from - start
                    self.pos = start = keep_from
                    i = start
                k = i - start
                self.pos = start
                more = self.fill()
                start = self.pos
                i = start + k
                if not more:
                    end = len(self.buf)
                    break
                continue
            c = m.group()
            if c == '"':
                i = _STRING.match(self.buf, m.start()).end()
                continue
            i = m.end()
            if c in "{[":
                depth += 1
            elif c in "}]":
                if depth == 0:
                    end = m.start()
                    break
                depth -= 1
            elif depth == 0:  # ','
                end = m.start()
                break
        text = self.buf[start:end].strip(_WS)
        self.pos = end
        if head or dropped + len(text) > self.limits.max_record_bytes:
            return (head or text[:RAW_KEEP]), True
        return text, False

    def member_name(self) -> str:
        """The JSON string at ``pos`` (a member name); ValueError when it is not one."""
        while True:
            m = _STRING.match(self.buf, self.pos)
            if m is not None:
                self.pos = m.end()
                return json.loads(m.group())
            if len(self.buf) - self.pos > self.limits.max_record_bytes or not self.fill():
                raise ValueError("unterminated member name")

    # -- containers ----------------------------------------------------------------------------------
    def elements(self, closer: str, first_position: int = 1) -> Iterator[JsonRecord]:
        """The elements of an array whose '[' has been consumed, up to and including ``closer``."""
        pos = first_position - 1
        while True:
            c = self.skip_ws()
            if c == "":
                return  # truncated container: every element seen has been reported
            if c == closer:
                self.pos += 1
                return
            if c == ",":  # an empty element (",,") or a leading comma: nothing to judge
                self.pos += 1
                continue
            pos += 1
            obj, text, err = self.value(closer)
            yield JsonRecord(pos, None if err else obj, text, err)
            if self.skip_ws() == ",":
                self.pos += 1

    def envelope(self) -> Iterator[JsonRecord] | None:
        """Walk a top-level object whose '{' is at ``pos``: yield the records of its ``data`` member.

        Yields nothing (and sets :attr:`found`) when there is no ``data`` array or object; raises
        ValueError when the object itself (outside ``data``) is not readable.
        """
        self.found = False
        self.pos += 1
        while True:
            c = self.skip_ws()
            if c == "}" or c == "":
                return
            if c == ",":
                self.pos += 1
                continue
            if c != '"':
                raise ValueError(f"expected a member name, got {c!r}")
            key = self.member_name()
            if self.skip_ws() != ":":
                raise ValueError(f"no ':' after member name {key!r}")
            self.pos += 1
            c = self.skip_ws()
            if key == "data" and c == "[":
                self.found = True
                self.pos += 1
                yield from self.elements("]")
            elif key == "data" and c == "{":
                self.found = True
                obj, text, err = self.value("}")
                yield JsonRecord(1, None if err else obj, text, err)
            else:
                _, _, err = self.value("}")
                if err:
                    raise ValueError(f"member {key!r}: {err}")


def _later_lines_are_objects(src: str, limits: Limits, max_lines: int = 50) -> bool:
    """True when a line after the first (within ``max_lines``) is a complete JSON object on its own, or
    starts with '{' in its first column as NDJSON lines do (a pretty-printed document indents its members)."""
    with open_binary(src) as b:
        for lineno in range(1, max_lines + 1):
            line, too_long = _readline(b, limits.max_record_bytes)
            if not line:
                break
            if lineno == 1:
                continue
            if too_long:
                continue
            if line.startswith(b"{"):
                return True
            try:
                if isinstance(json.loads(line.decode("utf-8", errors="replace")), dict):
                    return True
            except (ValueError, RecursionError):
                continue
    return False


def _iter_document(src: str, limits: Limits) -> Iterator[JsonRecord]:
    """A single JSON document: an OCPI envelope (data list or object) or one bare object."""
    with open_binary(src) as b:
        sc = _Scanner(b, limits)
        sc.skip_ws()
        n = 0
        try:
            for rec in sc.envelope():
                n += 1
                yield rec
        except ValueError as e:
            if n:  # the data were read; what follows them is broken: report it as one record
                yield JsonRecord(n + 1, None, "<unparseable JSON after the data>", f"invalid JSON envelope: {e}")
                return
            sc.found = False
        if sc.found:
            return
    if _later_lines_are_objects(src, limits):
        # NDJSON whose first line is broken: judge it line by line instead of as one document
        yield from _iter_ndjson(src, limits)
        return
    # Not an envelope: the whole document is one record
    with open_binary(src) as b:
        sc = _Scanner(b, limits)
        sc.skip_ws()
        obj, text, err = sc.value("")
        if err is None and sc.skip_ws() != "":
            obj, err = None, "invalid JSON: extra data after the document"
        yield JsonRecord(1, None if err else obj, text[:RAW_KEEP] if err else text, err)


__all__ = ["JsonRecord", "Limits", "iter_json_records", "detect_container", "parse_text", "SourceError"]
