"""A minimal Mapbox Vector Tile (MVT 2.1) encoder for point layers: enough for the web map's charge-point
layer (tens of thousands of points) without another dependency. Protobuf wire format written by hand:
Tile.layers (3) -> Layer {version 15, name 1, features 2, keys 3, values 4, extent 5} -> Feature {id 1,
tags 2 packed, type 3 (1 = POINT), geometry 4 packed: MoveTo(1) with zigzag deltas}."""

from __future__ import annotations

import math
import struct
from typing import Any, Iterable

import numpy as np

EXTENT = 4096


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _ld(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _zz(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _value(v: Any) -> bytes:
    if isinstance(v, bool):
        return _key(7, 0) + _varint(int(v))
    if isinstance(v, (int, np.integer)):
        iv = int(v)
        return _key(6, 0) + _varint(_zz(iv) & 0xFFFFFFFFFFFFFFFF)
    if isinstance(v, (float, np.floating)):
        return _key(3, 1) + struct.pack("<d", float(v))
    return _ld(1, str(v).encode())


def lonlat_to_unit(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Web Mercator in [0, 1] (x east, y south)."""
    lat = np.clip(lat, -85.05112878, 85.05112878)
    x = (lon + 180.0) / 360.0
    s = np.sin(np.radians(lat))
    y = 0.5 - np.log((1 + s) / (1 - s)) / (4 * math.pi)
    return x, y


def point_layer(name: str, ux: np.ndarray, uy: np.ndarray, props: list[dict], z: int, x: int, y: int,
                buffer: int = 64) -> bytes:
    """One MVT layer with the points of unit coordinates ``ux, uy`` that fall in tile z/x/y (plus a buffer
    of ``buffer`` tile units so symbols at an edge are not cut)."""
    n = 2 ** z
    tx = (ux * n - x) * EXTENT
    ty = (uy * n - y) * EXTENT
    sel = np.flatnonzero((tx >= -buffer) & (tx < EXTENT + buffer) & (ty >= -buffer) & (ty < EXTENT + buffer))
    keys: dict[str, int] = {}
    values: dict[tuple, int] = {}
    feats = []
    txi, tyi = np.round(tx[sel]).astype(np.int64), np.round(ty[sel]).astype(np.int64)
    for i, px, py in zip(sel.tolist(), txi.tolist(), tyi.tolist()):
        tags: list[int] = []
        for k, v in props[i].items():
            if v is None:
                continue
            ki = keys.setdefault(k, len(keys))
            vk = (type(v).__name__, v)
            vi = values.setdefault(vk, len(values))
            tags += [ki, vi]
        geom = [(1 << 3) | 1, _zz(px), _zz(py)]
        f = (_key(1, 0) + _varint(i) + _ld(2, b"".join(_varint(t) for t in tags)) + _key(3, 0) + _varint(1)
             + _ld(4, b"".join(_varint(g) for g in geom)))
        feats.append(_ld(2, f))
    if not feats:
        return b""
    layer = (_key(15, 0) + _varint(2) + _ld(1, name.encode()) + b"".join(feats)
             + b"".join(_ld(3, k.encode()) for k in keys)
             + b"".join(_ld(4, _value(v[1])) for v in values)
             + _key(5, 0) + _varint(EXTENT))
    return _ld(3, layer)


def tile(layers: Iterable[bytes]) -> bytes:
    return b"".join(layers)


# ---- a decoder, for the tests ------------------------------------------------------------------------------
def _read_varint(b: bytes, i: int) -> tuple[int, int]:
    shift = v = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, i
        shift += 7


def _fields(b: bytes):
    i = 0
    while i < len(b):
        k, i = _read_varint(b, i)
        f, w = k >> 3, k & 7
        if w == 0:
            v, i = _read_varint(b, i)
        elif w == 1:
            v, i = b[i:i + 8], i + 8
        elif w == 2:
            ln, i = _read_varint(b, i)
            v, i = b[i:i + ln], i + ln
        elif w == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {w}")
        yield f, w, v


def _packed(b: bytes) -> list[int]:
    out, i = [], 0
    while i < len(b):
        v, i = _read_varint(b, i)
        out.append(v)
    return out


def _unzz(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def decode(data: bytes) -> dict[str, list[dict]]:
    """{layer: [{"id", "x", "y", "properties"}]} of a tile made by :func:`point_layer` (tile units)."""
    out: dict[str, list[dict]] = {}
    for f, _, lb in _fields(data):
        if f != 3:
            continue
        name, keys, vals, feats = "", [], [], []
        for lf, _, lv in _fields(lb):
            if lf == 1:
                name = lv.decode()
            elif lf == 3:
                keys.append(lv.decode())
            elif lf == 4:
                for vf, vw, vv in _fields(lv):
                    vals.append(vv.decode() if vf == 1 else struct.unpack("<d", vv)[0] if vf == 3 else
                                _unzz(vv) if vf == 6 else bool(vv) if vf == 7 else vv)
            elif lf == 2:
                feats.append(lv)
        rows = []
        for fb in feats:
            fid, tags, geom = None, [], []
            for ff, _, fv in _fields(fb):
                if ff == 1:
                    fid = fv
                elif ff == 2:
                    tags = _packed(fv)
                elif ff == 4:
                    geom = _packed(fv)
            rows.append({"id": fid, "x": _unzz(geom[1]), "y": _unzz(geom[2]),
                         "properties": {keys[tags[j]]: vals[tags[j + 1]] for j in range(0, len(tags), 2)}})
        out[name] = rows
    return out
