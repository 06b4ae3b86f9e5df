"""The canonical encoding of CRDT elements and keys, and the checks of node ids.
"""

from __future__ import annotations

import math
import struct
import uuid
from typing import (
    Any,
)

from atomr import codecs as _codecs
from atomr._native import _core as _n
from atomr._util import check_bytes, check_nonempty_str
from atomr.errors import (
    MalformedDataError,
)

_TAGS: dict[str, int] = dict(_n.DDATA_TAGS)
_DEFAULT_CODECS: _codecs.PyCodecRegistry = _codecs.new_system_registry()


def _new_node_id() -> str:
    return "r-" + uuid.uuid4().hex[:16]


# ---------------------------------------------------------------------------
# Canonical encoding of elements and keys

_PACK_F64 = struct.Struct(">d").pack
_UNPACK_F64 = struct.Struct(">d").unpack
_LEN = struct.Struct(">I")


def _encode(value: Any, codecs: _codecs.PyCodecRegistry) -> bytes:
    """The canonical bytes of an element or key (equal values, equal bytes)."""
    t = type(value)
    if t is str:
        return b"s" + value.encode("utf-8", "surrogatepass")
    if t is bytes:
        return b"b" + value
    if t is int:
        return b"i" + str(value).encode("ascii")
    if t is bool:
        return b"T" if value else b"F"
    if value is None:
        return b"n"
    if t is float:
        if value == 0.0:
            value = 0.0  # -0.0 == 0.0: one encoding
        elif math.isnan(value):
            value = math.nan
        return b"f" + _PACK_F64(value)
    if t is tuple or t is frozenset:
        parts = [_encode(item, codecs) for item in value]
        if t is frozenset:
            parts.sort()
        return (b"t" if t is tuple else b"z") + b"".join(_LEN.pack(len(p)) + p for p in parts)
    if t is bytearray or t is memoryview:
        return b"b" + bytes(value)
    manifest = _codecs.manifest_of(value)
    return b"c" + manifest.encode("utf-8") + b"\0" + codecs.encode(manifest, value)


def _split_parts(body: bytes) -> list[bytes]:
    parts = []
    i = 0
    while i < len(body):
        if i + 4 > len(body):
            raise MalformedDataError("a truncated tuple element encoding")
        (n,) = _LEN.unpack_from(body, i)
        i += 4
        if i + n > len(body):
            raise MalformedDataError("a truncated tuple element encoding")
        parts.append(body[i:i + n])
        i += n
    return parts


def _decode(blob: bytes, codecs: _codecs.PyCodecRegistry) -> Any:
    """The value of canonical bytes made by :func:`_encode`."""
    if not blob:
        raise MalformedDataError("an empty element encoding")
    kind = blob[0]
    body = blob[1:]
    if kind == 0x73:  # s
        return body.decode("utf-8", "surrogatepass")
    if kind == 0x62:  # b
        return body
    if kind == 0x69:  # i
        return int(body)
    if kind == 0x54:  # T
        return True
    if kind == 0x46:  # F
        return False
    if kind == 0x6E:  # n
        return None
    if kind == 0x66:  # f
        if len(body) != 8:
            raise MalformedDataError("a float element encoding is not 8 bytes")
        return _UNPACK_F64(body)[0]
    if kind == 0x74:  # t
        return tuple(_decode(p, codecs) for p in _split_parts(body))
    if kind == 0x7A:  # z
        return frozenset(_decode(p, codecs) for p in _split_parts(body))
    if kind == 0x63:  # c
        manifest, sep, payload = body.partition(b"\0")
        if not sep:
            raise MalformedDataError("a codec element encoding has no manifest")
        return codecs.decode(manifest.decode("utf-8"), payload)
    raise MalformedDataError(f"unknown element encoding kind {chr(kind)!r}")


def _check_bytes(value: Any, what: str) -> bytes:
    return check_bytes(what, value)


def _check_node(node: Any) -> str:
    return check_nonempty_str("a node id", node)
