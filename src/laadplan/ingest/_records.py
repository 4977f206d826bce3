"""Streaming JSON records from any OCPI container: a JSON array, an OCPI response envelope
``{"data": [...]}`` (or ``{"data": {...}}``), NDJSON (one object per line), or a single object;
optionally gzip, from a path or URL.

Each record comes as a :class:`JsonRecord` with its 1-based position (line number for NDJSON, element
index for arrays) and either the parsed object or the parse error with the raw text, so a reader can
quarantine it under ``LP-MALFORMED`` and carry on. Memory stays flat in the file size (ijson for
arrays and envelopes, line by line for NDJSON).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any, Iterator

import ijson

from laadplan.ingest._io import SourceError, open_binary


@dataclass(frozen=True)
class JsonRecord:
    position: int
    obj: Any | None  # parsed JSON value (normally a dict) or None when malformed
    raw: str | None  # raw text for NDJSON lines; None for streamed array items (serialise obj if needed)
    error: str | None = None

    def raw_text(self) -> str:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.obj, ensure_ascii=False, default=str)


def _first_byte(stream: io.BufferedIOBase) -> bytes:
    while True:
        b = stream.peek(64)[:64] if hasattr(stream, "peek") else b""
        if not b:
            return b""
        stripped = b.lstrip(b" \t\r\n\xef\xbb\xbf")
        if stripped:
            return stripped[:1]
        stream.read(len(b))


def detect_container(src: str) -> str:
    """'array', 'ndjson', 'document' (one pretty-printed object, possibly an envelope) or 'empty'."""
    with open_binary(src) as raw:
        stream = io.BufferedReader(raw) if not hasattr(raw, "peek") else raw
        first = _first_byte(stream)
        if first == b"":
            return "empty"
        if first == b"[":
            return "array"
        if first != b"{":
            return "ndjson"  # garbage first line: treat as lines, each gets judged
        line = stream.readline()
        try:
            first_obj = json.loads(line)
        except ValueError:
            return "document"
        if isinstance(first_obj, dict) and isinstance(first_obj.get("data"), (list, dict)):
            return "document"  # a one-line OCPI envelope
        return "ndjson"


def iter_json_records(src: str) -> Iterator[JsonRecord]:
    """Yield every record of ``src`` in order. Raises SourceError only when the file cannot be opened."""
    kind = detect_container(src)
    if kind == "empty":
        return
    if kind == "ndjson":
        yield from _iter_ndjson(src)
    elif kind == "array":
        yield from _iter_items(src, "item")
    else:
        yield from _iter_document(src)


def _iter_ndjson(src: str) -> Iterator[JsonRecord]:
    with open_binary(src) as b:
        for lineno, line in enumerate(b, start=1):
            text = line.decode("utf-8", errors="replace").strip()
            if lineno == 1:
                text = text.lstrip("\ufeff")
            if not text:
                continue
            try:
                yield JsonRecord(lineno, json.loads(text), text)
            except ValueError as e:
                yield JsonRecord(lineno, None, text, f"invalid JSON: {e}")


def _iter_items(src: str, prefix: str) -> Iterator[JsonRecord]:
    pos = 0
    with open_binary(src) as b:
        try:
            for obj in ijson.items(b, prefix, use_float=True):
                pos += 1
                yield JsonRecord(pos, obj, None)
        except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError) as e:
            # The container itself is broken: everything from here on is unreadable; report it once.
            yield JsonRecord(pos + 1, None, f"<unparseable JSON after element {pos}>",
                             f"invalid JSON after element {pos}: {e}")


def _later_lines_are_objects(src: str, max_lines: int = 50) -> bool:
    """True when a line after the first (within ``max_lines``) is a complete JSON object on its own."""
    with open_binary(src) as b:
        for lineno, line in enumerate(b, start=1):
            if lineno > max_lines:
                break
            if lineno == 1:
                continue
            try:
                if isinstance(json.loads(line), dict):
                    return True
            except ValueError:
                continue
    return False


def _iter_document(src: str) -> Iterator[JsonRecord]:
    """A single JSON document: an OCPI envelope (data list or object) or one bare object."""
    found = False
    for rec in _iter_items(src, "data.item"):
        if not found and rec.error is not None and rec.position == 1 and _later_lines_are_objects(src):
            # NDJSON whose first line is broken: judge it line by line instead of as one document
            yield from _iter_ndjson(src)
            return
        found = True
        yield rec
    if found:
        return
    # Not an envelope with a data array: read the document (small by nature) and decide.
    with open_binary(src) as b:
        try:
            doc = json.load(io.TextIOWrapper(b, encoding="utf-8-sig"))
        except ValueError as e:
            yield JsonRecord(1, None, "<unparseable JSON document>", f"invalid JSON: {e}")
            return
    if isinstance(doc, dict) and "data" in doc and isinstance(doc["data"], (dict, list)):
        data = doc["data"]
        items = data if isinstance(data, list) else [data]
        for i, obj in enumerate(items, start=1):
            yield JsonRecord(i, obj, None)
    else:
        yield JsonRecord(1, doc, None)


__all__ = ["JsonRecord", "iter_json_records", "detect_container", "SourceError"]
