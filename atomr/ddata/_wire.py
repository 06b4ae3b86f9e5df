"""The canonical encoding of CRDT elements and keys, and the checks of node ids.
"""

from __future__ import annotations

import math
import re
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
_CANONICAL_INT = re.compile(rb"0|-?[1-9][0-9]*")
_CANONICAL_NAN = _PACK_F64(math.nan)
_NEGATIVE_ZERO = _PACK_F64(-0.0)
#: How deep tuples and frozensets may nest in one element (as in the C++ check).
_MAX_DEPTH = 32


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


def _decode(blob: bytes, codecs: _codecs.PyCodecRegistry, depth: int = 0) -> Any:
    """The value of canonical bytes made by :func:`_encode`.

    Raises:
        MalformedDataError: `blob` is not an encoding :func:`_encode` makes
            (a non-canonical int, float or frozenset, invalid UTF-8, nesting
            deeper than the C++ check allows, an unknown kind).
    """
    if not blob:
        raise MalformedDataError("an empty element encoding")
    kind = blob[0]
    body = blob[1:]
    if kind == 0x73:  # s
        try:
            return body.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise MalformedDataError("a string element is not valid UTF-8") from exc
    if kind == 0x62:  # b
        return body
    if kind == 0x69:  # i
        if _CANONICAL_INT.fullmatch(body) is None:
            raise MalformedDataError("an int element is not in canonical decimal form")
        try:
            return int(body)
        except ValueError as exc:  # more digits than int() converts
            raise MalformedDataError(f"an int element cannot be read: {exc}") from exc
    if kind in (0x54, 0x46, 0x6E):  # T, F, n
        if body:
            raise MalformedDataError("a bool or None element has trailing bytes")
        return None if kind == 0x6E else kind == 0x54
    if kind == 0x66:  # f
        if len(body) != 8:
            raise MalformedDataError("a float element is not 8 bytes")
        value = _UNPACK_F64(body)[0]
        if body == _NEGATIVE_ZERO or (math.isnan(value) and body != _CANONICAL_NAN):
            raise MalformedDataError("a float element is not canonical")
        return value
    if kind == 0x74 or kind == 0x7A:  # t, z
        if depth >= _MAX_DEPTH:
            raise MalformedDataError("elements nest too deeply")
        parts = _split_parts(body)
        items = [_decode(p, codecs, depth + 1) for p in parts]
        if kind == 0x74:
            return tuple(items)
        if any(a >= b for a, b in zip(parts, parts[1:])):
            raise MalformedDataError(
                "a frozenset element's parts are not in strictly increasing order")
        value = frozenset(items)
        if len(value) != len(items):
            raise MalformedDataError("a frozenset element holds equal items")
        return value
    if kind == 0x63:  # c
        manifest, sep, payload = body.partition(b"\0")
        if not sep or not manifest:
            raise MalformedDataError("a codec element encoding has no manifest")
        try:
            name = manifest.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedDataError("a codec element's manifest is not UTF-8") from exc
        return codecs.decode(name, payload)
    raise MalformedDataError(f"unknown element encoding kind {chr(kind)!r}")


def _check_bytes(value: Any, what: str) -> bytes:
    return check_bytes(what, value)


def _check_node(node: Any) -> str:
    return check_nonempty_str("a node id", node)
