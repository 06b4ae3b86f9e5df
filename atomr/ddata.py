"""Distributed data: CRDTs with native merge, and the Replicator.

Every CRDT here is a mutable Python object over a state held in C++
(``atomr/_native/_ddata.pxi``); ``merge`` joins another replica's state into
it natively. Merge is commutative, associative and idempotent, and every
update only moves a state upwards, so replicas that exchange states in any
order, any number of times, converge.

Elements, keys and values are any value the codecs can encode: ``str``,
``bytes``, ``int``, ``float``, ``bool``, ``None`` and tuples / frozensets of
them are encoded canonically here; anything else goes through the codec
registry (the system's, for values handled by a :class:`Replicator`) as its
manifest plus the codec's bytes. Two values are the same element exactly
when their encodings are equal, so ``1`` and ``True`` and ``1.0`` are three
different elements, and objects whose codec output depends on insertion
order (dicts) should not be used as elements.

Types whose updates create causal events (``ORSet``, ``ORMap``, ``LWWMap``,
``PNCounterMap``, ``ORMultiMap``) act as one *replica* named by their
``node`` (a random id unless given; the Replicator uses the system's
address). Two objects must never share a node id while they are updated
independently.

Mutators return None (``lambda s: s.add(x) or s`` returns the set), as
Python's own containers do.

Each type also keeps a delta: ``delta()`` is the join of its own updates
since ``reset_delta()`` (a value of the same type), and ``merge_delta``
joins such a delta into another replica -- the same result as merging the
full state, for a fraction of the bytes.

``to_bytes()`` / ``from_bytes()`` use a versioned binary wire format;
decoding a malformed blob raises :class:`~atomr.errors.MalformedDataError`.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import concurrent.futures
import fnmatch
import inspect
import math
import os
import struct
import threading
import uuid
import weakref
from asyncio.events import _get_running_loop
from collections import deque
from dataclasses import dataclass
from typing import (Any, AsyncIterator, Awaitable, Callable, ClassVar, Iterable, Iterator,
                    Optional, TypeVar, Union)

from atomr import codecs as _codecs
from atomr._native import _core as _n
from atomr.actor import Actor
from atomr.config import ConfigError, Setting, register_section
from atomr.errors import (ActorSystemTerminatedError, DataDeletedError, DurableStoreError,
                          MalformedDataError, ReplicationTimeoutError, UpdateFailedError)

__all__ = [
    "ReplicatedData",
    "GCounter",
    "PNCounter",
    "GSet",
    "ORSet",
    "LwwRegister",
    "Flag",
    "ORMap",
    "LWWMap",
    "PNCounterMap",
    "ORMultiMap",
    "ReadConsistency",
    "WriteConsistency",
    "WriteAggregator",
    "ReadAggregator",
    "PruningState",
    "pruning_phases",
    "DurableStore",
    "NoopDurableStore",
    "FileDurableStore",
    "Replicator",
    "ReplicatorSubscription",
    "MalformedDataError",
    "DurableStoreError",
    "DataDeletedError",
    "ReplicationTimeoutError",
    "UpdateFailedError",
]

register_section("distributed-data", {
    # "noop" keeps nothing; "file" one file per key in `durable.path`;
    # "lmdb" one LMDB database file at `durable.path`.
    "durable.store-actor-class": Setting("str", "noop", choices=("noop", "file", "lmdb")),
    "durable.path": Setting("str", ""),
    # Globs of the keys that are durable (when a store is configured).
    "durable.keys": Setting("any", ["*"]),
    "durable.lmdb.map-size": Setting("int", 64 * 1024 * 1024, minimum=1024 * 1024),
})

_TAGS: dict[str, int] = dict(_n.DDATA_TAGS)
_DEFAULT_CODECS: _codecs.PyCodecRegistry = _codecs.new_system_registry()

T = TypeVar("T", bound="ReplicatedData")


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
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes, not {type(value).__name__}")


def _check_node(node: Any) -> str:
    if not isinstance(node, str):
        raise TypeError(f"a node id must be a str, not {type(node).__name__}")
    if not node:
        raise ValueError("a node id must not be empty")
    return node


# ---------------------------------------------------------------------------
# The CRDTs


class ReplicatedData:
    """Base class of every CRDT: merge, deltas, equality and the wire format.

    Subclasses are mutable; ``==`` compares type and state (not the pending
    delta nor the node id), and instances are unhashable.
    """

    __slots__ = ("_n", "_node", "_codecs")

    _TAG: ClassVar[int] = 0
    _CLASSES: ClassVar[dict[int, type["ReplicatedData"]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls._TAG:
            ReplicatedData._CLASSES[cls._TAG] = cls

    def _setup(self, native: Any, node: Optional[str],
               codecs: Optional[_codecs.PyCodecRegistry]) -> None:
        self._n = native
        self._node = _new_node_id() if node is None else _check_node(node)
        self._codecs = _DEFAULT_CODECS if codecs is None else codecs

    @classmethod
    def _wrap(cls, native: Any, node: Optional[str] = None,
              codecs: Optional[_codecs.PyCodecRegistry] = None) -> "ReplicatedData":
        target = ReplicatedData._CLASSES[native.tag]
        self = object.__new__(target)
        self._setup(native, node, codecs)
        return self

    # -- identity -----------------------------------------------------------

    @property
    def node(self) -> str:
        """The replica id this object's causal updates are made as."""
        return self._node

    def with_node(self: T, node: str) -> T:
        """Acts as replica `node` from now on; returns self.

        Raises:
            ValueError: `node` is empty.
        """
        self._node = _check_node(node)
        return self

    @classmethod
    def type_name(cls) -> str:
        """The type's name ("GCounter", "ORSet", ...)."""
        return cls.__name__

    # -- lattice ------------------------------------------------------------

    def _check_same(self, other: Any, what: str = "merge") -> None:
        if type(other) is not type(self):
            raise TypeError(f"cannot {what} a {type(other).__name__} into a "
                            f"{type(self).__name__}")

    def merge(self: T, other: T) -> T:
        """Joins `other`'s state into this one (`other` is unchanged).

        Returns:
            self, for chaining.

        Raises:
            TypeError: `other` is of another CRDT type.
        """
        self._check_same(other)
        self._n.merge(other._n)
        return self

    def delta(self: T) -> Optional[T]:
        """The join of this replica's own updates since the last
        :meth:`reset_delta`, as a value of the same type (None if none)."""
        d = self._n.delta()
        return None if d is None else type(self)._wrap(d, None, self._codecs)  # type: ignore

    def reset_delta(self) -> None:
        """Forgets the pending delta (after it was shipped)."""
        self._n.reset_delta()

    def merge_delta(self: T, delta: T) -> T:
        """Joins a delta from :meth:`delta` of another replica; returns self.

        Raises:
            TypeError: `delta` is of another CRDT type.
        """
        self._check_same(delta, "merge the delta of")
        self._n.merge_delta(delta._n)
        return self

    def copy(self: T) -> T:
        """An independent copy (same state and pending delta) acting as a
        fresh replica id, so updating both cannot collide."""
        return type(self)._wrap(self._n.copy(), None, self._codecs)  # type: ignore

    def __copy__(self: T) -> T:
        return self.copy()

    def __deepcopy__(self: T, memo: dict) -> T:
        return self.copy()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(self._n.equals(other._n))  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    # -- wire format ---------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The state in the versioned binary wire format (no pending delta)."""
        return self._n.to_bytes()

    @classmethod
    def from_bytes(cls: type[T], blob: Union[bytes, bytearray, memoryview],
                   node: Optional[str] = None,
                   codecs: Optional[_codecs.PyCodecRegistry] = None) -> T:
        """Decodes a blob from :meth:`to_bytes`.

        Called on :class:`ReplicatedData` it returns whatever type the blob
        holds; on a subclass it checks the type.

        Raises:
            MalformedDataError: the blob is malformed, or holds another type.
            TypeError: `blob` is not bytes-like.
        """
        native = _n.ddata_from_bytes(blob)
        target = ReplicatedData._CLASSES.get(native.tag)
        if target is None or (cls is not ReplicatedData and target is not cls):
            raise MalformedDataError(f"the blob holds a {native.type_name}, not a {cls.__name__}")
        return target._wrap(native, node, codecs)  # type: ignore[return-value]

    def _enc(self, value: Any) -> bytes:
        return _encode(value, self._codecs)

    def _dec(self, blob: bytes) -> Any:
        return _decode(blob, self._codecs)

    def _describe(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()})"


class GCounter(ReplicatedData):
    """A grow-only counter: each replica counts its own increments; merge
    keeps each replica's maximum; the value is the sum.

    Example:
        >>> a, b = GCounter(), GCounter()
        >>> a.increment("A", 2); b.increment("B", 3)
        >>> a.merge(b).value()
        5
    """

    __slots__ = ()
    _TAG = _TAGS["GCounter"]

    def __init__(self, *, codecs: Optional[_codecs.PyCodecRegistry] = None) -> None:
        self._setup(_n.ddata_new(self._TAG), None, codecs)

    def increment(self, node: str, delta: int = 1) -> None:
        """Adds `delta` (>= 0) to `node`'s count.

        Raises:
            ValueError: `delta` is negative, or the count would exceed 64 bits.
            TypeError: `node` is not a str or `delta` not an int.
        """
        self._n.gc_increment(_check_node(node), delta)

    def value(self) -> int:
        """The sum of every replica's count."""
        return self._n.gc_value()

    def entries(self) -> dict[str, int]:
        """Each replica's own count."""
        return self._n.gc_entries()

    def _describe(self) -> str:
        return str(self.value())


class PNCounter(ReplicatedData):
    """A counter that goes up and down (two grow-only counters)."""

    __slots__ = ()
    _TAG = _TAGS["PNCounter"]

    def __init__(self, *, codecs: Optional[_codecs.PyCodecRegistry] = None) -> None:
        self._setup(_n.ddata_new(self._TAG), None, codecs)

    def increment(self, node: str, delta: int = 1) -> None:
        """Adds `delta` (>= 0) as replica `node`."""
        self._n.pn_increment(_check_node(node), delta)

    def decrement(self, node: str, delta: int = 1) -> None:
        """Subtracts `delta` (>= 0) as replica `node`."""
        self._n.pn_decrement(_check_node(node), delta)

    def value(self) -> int:
        """Increments minus decrements."""
        return self._n.pn_value()

    def entries(self) -> tuple[dict[str, int], dict[str, int]]:
        """(each replica's increments, each replica's decrements)."""
        return self._n.pn_entries()

    def _describe(self) -> str:
        return str(self.value())


class GSet(ReplicatedData):
    """A grow-only set; merge is the union."""

    __slots__ = ()
    _TAG = _TAGS["GSet"]

    def __init__(self, elements: Iterable[Any] = (), *,
                 codecs: Optional[_codecs.PyCodecRegistry] = None) -> None:
        self._setup(_n.ddata_new(self._TAG), None, codecs)
        for element in elements:
            self.add(element)

    def add(self, element: Any) -> None:
        """Adds `element`."""
        self._n.gs_add(self._enc(element))

    def contains(self, element: Any) -> bool:
        """Whether `element` is in the set (also ``element in s``)."""
        return bool(self._n.gs_contains(self._enc(element)))

    def size(self) -> int:
        """The number of elements (also ``len(s)``)."""
        return self._n.gs_size()

    def elements(self) -> list[Any]:
        """The elements, ordered by their canonical encoding."""
        return [self._dec(b) for b in self._n.gs_elements()]

    def __contains__(self, element: Any) -> bool:
        return self.contains(element)

    def __len__(self) -> int:
        return self.size()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.elements())

    def _describe(self) -> str:
        return repr(self.elements())


class ORSet(ReplicatedData):
    """An observed-remove set with add-wins semantics.

    A remove deletes the adds it has seen; an add that is concurrent with
    it (not seen by the remover) survives the merge. Dot-based: removed
    elements leave no tombstones.

    Args:
        elements: Initial elements, added as replica `node`.
        node: This replica's id (random when omitted).
        codecs: The registry for elements that are not builtin values.
    """

    __slots__ = ()
    _TAG = _TAGS["ORSet"]

    def __init__(self, elements: Iterable[Any] = (), *, node: Optional[str] = None,
                 codecs: Optional[_codecs.PyCodecRegistry] = None) -> None:
        self._setup(_n.ddata_new(self._TAG), node, codecs)
        for element in elements:
            self.add(element)

    def add(self, element: Any, node: Optional[str] = None) -> None:
        """Adds `element` (as replica `node`, default this object's node)."""
        self._n.os_add(self._node if node is None else _check_node(node), self._enc(element))

    def remove(self, element: Any) -> None:
        """Removes `element` as observed here (a no-op when absent)."""
        self._n.os_remove(self._enc(element))

    def clear(self) -> None:
        """Removes every element observed here."""
        self._n.os_clear()

    def contains(self, element: Any) -> bool:
        """Whether `element` is in the set (also ``element in s``)."""
        return bool(self._n.os_contains(self._enc(element)))

    def size(self) -> int:
        """The number of elements (also ``len(s)``)."""
        return self._n.os_size()

    def elements(self) -> list[Any]:
        """The elements, ordered by their canonical encoding."""
        return [self._dec(b) for b in self._n.os_elements()]

    def __contains__(self, element: Any) -> bool:
        return self.contains(element)

    def __len__(self) -> int:
        return self.size()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.elements())

    def _describe(self) -> str:
        return repr(self.elements())


class LwwRegister(ReplicatedData):
    """A last-writer-wins register of bytes.

    Order: the higher timestamp (microseconds) wins; a tie goes to the
    greater writer node id (then the greater value, so merge commutes).

    Args:
        initial: The first value (None: an empty register, ``value() == b""``).
        node: The writer id of `initial`.
        timestamp: The timestamp of `initial`.
    """

    __slots__ = ()
    _TAG = _TAGS["LwwRegister"]

    def __init__(self, initial: Optional[bytes] = None, node: str = "local", timestamp: int = 0,
                 *, codecs: Optional[_codecs.PyCodecRegistry] = None) -> None:
        self._setup(_n.ddata_new(self._TAG), None, codecs)
        if initial is not None:
            self._n.reg_set(_check_bytes(initial, "a register value"), timestamp,
                            _check_node(node))
            self._n.reset_delta()

    @staticmethod
    def with_value(value: bytes, node: str = "local") -> "LwwRegister":
        """A register holding `value`, stamped now."""
        reg = LwwRegister()
        reg._n.reg_set_now(_check_bytes(value, "a register value"), _check_node(node))
        reg._n.reset_delta()
        return reg

    @staticmethod
    def now_micros() -> int:
        """The register clock: microseconds since the Unix epoch."""
        return _n.ddata_now_micros()

    def set(self, value: bytes, timestamp: Optional[int] = None, node: str = "local") -> None:
        """Writes `value` as writer `node`.

        With `timestamp` the write applies only when (timestamp, node) is
        newer than the current stamp. Without it the register's monotone
        clock stamps it ``max(now, current timestamp + 1)``, so it applies.
        """
        value = _check_bytes(value, "a register value")
        node = _check_node(node)
        if timestamp is None:
            self._n.reg_set_now(value, node)
        else:
            self._n.reg_set(value, timestamp, node)

    def value(self) -> bytes:
        """The current bytes (b"" when empty)."""
        return self._n.reg_state()[0]

    @property
    def timestamp(self) -> int:
        """The timestamp (microseconds) of the current value (0 when empty)."""
        return self._n.reg_state()[1]

    @property
    def writer(self) -> str:
        """The node id that wrote the current value ("" when empty)."""
        return self._n.reg_state()[2]

    def has_value(self) -> bool:
        """Whether a value was ever written (an empty register has none)."""
        return bool(self._n.reg_state()[3])

    def _describe(self) -> str:
        value, ts, writer, _ = self._n.reg_state()
        return f"{value!r}, timestamp={ts}, writer={writer!r}"


class Flag(ReplicatedData):
    """A flag that can only be switched on; merge is logical or."""

    __slots__ = ()
    _TAG = _TAGS["Flag"]

    def __init__(self, enabled: bool = False, *,
                 codecs: Optional[_codecs.PyCodecRegistry] = None) -> None:
        self._setup(_n.ddata_new(self._TAG), None, codecs)
        if enabled:
            self.enable()

    def enable(self) -> None:
        """Switches the flag on (for good)."""
        self._n.flag_enable()

    def is_enabled(self) -> bool:
        """Whether the flag is on (also ``bool(flag)``)."""
        return bool(self._n.flag_enabled())

    @property
    def enabled(self) -> bool:
        """Whether the flag is on (same as :meth:`is_enabled`)."""
        return self.is_enabled()

    def __bool__(self) -> bool:
        return self.is_enabled()

    def _describe(self) -> str:
        return "on" if self.is_enabled() else "off"


class _MapBase(ReplicatedData):
    """Keys, removal and size shared by the maps."""

    __slots__ = ()

    def remove(self, key: Any) -> None:
        """Removes `key` as observed here (a no-op when absent)."""
        self._n.map_remove(self._enc(key))

    def clear(self) -> None:
        """Removes every key observed here."""
        self._n.map_clear()

    def contains(self, key: Any) -> bool:
        """Whether `key` is in the map (also ``key in m``)."""
        return bool(self._n.map_contains(self._enc(key)))

    def keys(self) -> list[Any]:
        """The keys, ordered by their canonical encoding."""
        return [self._dec(k) for k in self._n.map_keys()]

    def size(self) -> int:
        """The number of keys (also ``len(m)``)."""
        return self._n.map_size()

    def __contains__(self, key: Any) -> bool:
        return self.contains(key)

    def __len__(self) -> int:
        return self.size()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())


_VALUE_CLASSES: dict[str, str] = {
    "LwwRegister": "LwwRegister", "PNCounter": "PNCounter", "Flag": "Flag", "GSet": "GSet",
    "ORSet": "ORSet", "GCounter": "GCounter", "LWWMap": "LWWMap",
    "PNCounterMap": "PNCounterMap", "ORMultiMap": "ORMultiMap",
}


class ORMap(_MapBase):
    """An observed-remove map from keys to CRDTs of one value type.

    ``ORMap()`` holds :class:`LwwRegister` values; the ``of_*`` factories
    choose another value type. ``put`` stores a copy and replaces the key's
    value (it does not merge); ``get`` returns a copy. Merge joins each
    key's values with their own merge; a remove deletes what it observed,
    and a concurrent write of the key wins.

    Args:
        value_type: The class of the values (default :class:`LwwRegister`).
        node: This replica's id (random when omitted).
    """

    __slots__ = ()
    _TAG = _TAGS["ORMap"]

    def __init__(self, value_type: Optional[type] = None, *, node: Optional[str] = None,
                 codecs: Optional[_codecs.PyCodecRegistry] = None) -> None:
        value_type = LwwRegister if value_type is None else value_type
        if not (isinstance(value_type, type) and issubclass(value_type, ReplicatedData)
                and value_type.__name__ in _VALUE_CLASSES):
            raise ValueError(f"an ORMap cannot hold values of type {value_type!r}")
        self._setup(_n.ddata_new(self._TAG, value_type._TAG), node, codecs)

    @staticmethod
    def of_lww_register(node: Optional[str] = None) -> "ORMap":
        """An empty map of :class:`LwwRegister` values, acting as replica `node`."""
        return ORMap(LwwRegister, node=node)

    @staticmethod
    def of_pn_counter(node: Optional[str] = None) -> "ORMap":
        """An empty map of :class:`PNCounter` values, acting as replica `node`."""
        return ORMap(PNCounter, node=node)

    @staticmethod
    def of_g_counter(node: Optional[str] = None) -> "ORMap":
        """An empty map of :class:`GCounter` values, acting as replica `node`."""
        return ORMap(GCounter, node=node)

    @staticmethod
    def of_flag(node: Optional[str] = None) -> "ORMap":
        """An empty map of :class:`Flag` values, acting as replica `node`."""
        return ORMap(Flag, node=node)

    @staticmethod
    def of_g_set(node: Optional[str] = None) -> "ORMap":
        """An empty map of :class:`GSet` values, acting as replica `node`."""
        return ORMap(GSet, node=node)

    @staticmethod
    def of_or_set(node: Optional[str] = None) -> "ORMap":
        """An empty map of :class:`ORSet` values, acting as replica `node`."""
        return ORMap(ORSet, node=node)

    @staticmethod
    def of_lww_map(node: Optional[str] = None) -> "ORMap":
        """An empty map of :class:`LWWMap` values, acting as replica `node`."""
        return ORMap(LWWMap, node=node)

    @staticmethod
    def of_pn_counter_map(node: Optional[str] = None) -> "ORMap":
        """An empty map of :class:`PNCounterMap` values, acting as replica `node`."""
        return ORMap(PNCounterMap, node=node)

    @staticmethod
    def of_or_multi_map(node: Optional[str] = None) -> "ORMap":
        """An empty map of :class:`ORMultiMap` values, acting as replica `node`."""
        return ORMap(ORMultiMap, node=node)

    def value_type(self) -> str:
        """The value type's name ("LwwRegister", "PNCounter", ...)."""
        return _n.ddata_type_name(self._n.map_value_tag())

    def value_class(self) -> type[ReplicatedData]:
        """The value type's class (:class:`LwwRegister`, :class:`PNCounter`, ...)."""
        return ReplicatedData._CLASSES[self._n.map_value_tag()]

    def put(self, key: Any, value: ReplicatedData) -> None:
        """Stores a copy of `value` under `key`, replacing its value.

        Raises:
            ValueError: `value` is not of this map's value type.
        """
        if not isinstance(value, ReplicatedData) or type(value) is not self.value_class():
            raise ValueError(f"this ORMap holds {self.value_type()} values, not "
                             f"{type(value).__name__}")
        self._n.map_put(self._node, self._enc(key), value._n)

    def get(self, key: Any) -> Optional[ReplicatedData]:
        """A copy of `key`'s value, or None."""
        native = self._n.map_get(self._enc(key))
        return None if native is None else ReplicatedData._wrap(native, None, self._codecs)

    def update(self, key: Any, modify: Callable[[Any], Any]) -> ReplicatedData:
        """Applies `modify` to a copy of `key`'s value (an empty value when
        absent) and stores the result.

        `modify` may mutate its argument and return None, or return the
        value to store. Returns the stored value (a copy).
        """
        current = self.get(key)
        if current is None:
            current = ReplicatedData._wrap(_n.ddata_new(self._n.map_value_tag()), self._node,
                                           self._codecs)
        else:
            current.with_node(self._node)
        result = modify(current)
        value = current if result is None else result
        self.put(key, value)
        return value.copy()

    def items(self) -> list[tuple[Any, ReplicatedData]]:
        """(key, copy of value) pairs."""
        out = []
        for k in self._n.map_keys():
            native = self._n.map_get(k)
            out.append((self._dec(k), ReplicatedData._wrap(native, None, self._codecs)))
        return out

    def merge(self, other: "ORMap") -> "ORMap":  # type: ignore[override]
        """Joins `other` (same value type) into this map.

        Raises:
            TypeError: `other` is not an ORMap.
            ValueError: the value types differ.
        """
        self._check_same(other)
        if other._n.map_value_tag() != self._n.map_value_tag():
            raise ValueError(f"cannot merge an ORMap of {other.value_type()} into an ORMap of "
                             f"{self.value_type()}")
        self._n.merge(other._n)
        return self

    def _describe(self) -> str:
        inner = ", ".join(f"{k!r}: {v!r}" for k, v in self.items())
        return f"{self.value_type()}, {{{inner}}}"


class LWWMap(_MapBase):
    """Key -> bytes, last writer wins per key.

    Args:
        node: This replica's id, also the default writer id.
    """

    __slots__ = ()
    _TAG = _TAGS["LWWMap"]

    def __init__(self, *, node: Optional[str] = None,
                 codecs: Optional[_codecs.PyCodecRegistry] = None) -> None:
        self._setup(_n.ddata_new(self._TAG), node, codecs)

    def put(self, key: Any, value: bytes, timestamp: Optional[int] = None,
            node: Optional[str] = None) -> None:
        """Writes `value` under `key`.

        With `timestamp` (microseconds) it applies only when newer than the
        key's current stamp; without it the monotone clock stamps it.
        `node` is the writer id (default this map's node).
        """
        value = _check_bytes(value, "an LWWMap value")
        writer = self._node if node is None else _check_node(node)
        if timestamp is None:
            self._n.lwwm_put_now(self._node, self._enc(key), value, writer)
        else:
            self._n.lwwm_put(self._node, self._enc(key), value, timestamp, writer)

    def get(self, key: Any) -> Optional[bytes]:
        """`key`'s bytes, or None."""
        native = self._n.map_get(self._enc(key))
        return None if native is None else native.reg_state()[0]

    def get_register(self, key: Any) -> Optional[LwwRegister]:
        """A copy of `key`'s register (with its timestamp and writer), or None."""
        native = self._n.map_get(self._enc(key))
        return None if native is None else LwwRegister._wrap(native, None, self._codecs)  # type: ignore

    def entries(self) -> dict[Any, bytes]:
        """Every key with its current bytes."""
        return {self._dec(k): self._n.map_get(k).reg_state()[0] for k in self._n.map_keys()}

    def _describe(self) -> str:
        return repr(self.entries())


class PNCounterMap(_MapBase):
    """Key -> PN-counter.

    Args:
        node: This replica's id, also the default counter node.
    """

    __slots__ = ()
    _TAG = _TAGS["PNCounterMap"]

    def __init__(self, *, node: Optional[str] = None,
                 codecs: Optional[_codecs.PyCodecRegistry] = None) -> None:
        self._setup(_n.ddata_new(self._TAG), node, codecs)

    def increment(self, key: Any, delta: int = 1, node: Optional[str] = None) -> None:
        """Adds `delta` (>= 0) to `key`'s counter, counted for `node`
        (default this map's node)."""
        self._n.pnm_increment(self._node, self._enc(key), delta,
                              self._node if node is None else _check_node(node))

    def decrement(self, key: Any, delta: int = 1, node: Optional[str] = None) -> None:
        """Subtracts `delta` (>= 0) from `key`'s counter."""
        self._n.pnm_decrement(self._node, self._enc(key), delta,
                              self._node if node is None else _check_node(node))

    def value(self, key: Any) -> int:
        """`key`'s counter value (0 when absent)."""
        native = self._n.map_get(self._enc(key))
        return 0 if native is None else native.pn_value()

    def get(self, key: Any) -> Optional[int]:
        """`key`'s counter value, or None when absent."""
        native = self._n.map_get(self._enc(key))
        return None if native is None else native.pn_value()

    def entries(self) -> dict[Any, int]:
        """Every key with its counter value."""
        return {self._dec(k): self._n.map_get(k).pn_value() for k in self._n.map_keys()}

    def _describe(self) -> str:
        return repr(self.entries())


class ORMultiMap(ReplicatedData):
    """Key -> observed-remove set, with add-wins semantics per (key, value)
    binding. A key is present while its set is not empty.

    Args:
        node: This replica's id.
    """

    __slots__ = ()
    _TAG = _TAGS["ORMultiMap"]

    def __init__(self, *, node: Optional[str] = None,
                 codecs: Optional[_codecs.PyCodecRegistry] = None) -> None:
        self._setup(_n.ddata_new(self._TAG), node, codecs)

    def add(self, key: Any, value: Any) -> None:
        """Adds `value` to `key`'s set."""
        self._n.mm_add(self._node, self._enc(key), self._enc(value))

    def put(self, key: Any, values: Iterable[Any]) -> None:
        """Makes `key`'s set exactly `values`."""
        wanted = {self._enc(v) for v in values}
        k = self._enc(key)
        for have in self._n.mm_get(k):
            if have not in wanted:
                self._n.mm_remove(k, have)
        for v in sorted(wanted):
            if not self._n.mm_contains(k, v):
                self._n.mm_add(self._node, k, v)

    def remove(self, key: Any, value: Any) -> None:
        """Removes `value` from `key`'s set (a no-op when it is not there)."""
        self._n.mm_remove(self._enc(key), self._enc(value))

    def remove_key(self, key: Any) -> None:
        """Removes `key`'s whole set (a no-op when the key is absent)."""
        self._n.mm_remove_key(self._enc(key))

    def contains(self, key: Any, value: Any) -> bool:
        """Whether `value` is in `key`'s set."""
        return bool(self._n.mm_contains(self._enc(key), self._enc(value)))

    def contains_key(self, key: Any) -> bool:
        """Whether `key` is present (its set is not empty)."""
        return bool(self._n.mm_contains_key(self._enc(key)))

    def get(self, key: Any) -> set[Any]:
        """`key`'s values (an empty set when absent)."""
        return {self._dec(v) for v in self._n.mm_get(self._enc(key))}

    def keys(self) -> list[Any]:
        """The keys, ordered by their canonical encoding."""
        return [self._dec(k) for k in self._n.mm_keys()]

    def key_count(self) -> int:
        """The number of keys (also ``len(m)``)."""
        return self._n.mm_key_count()

    def entries(self) -> dict[Any, set[Any]]:
        """Every key with its set of values."""
        return {self._dec(k): {self._dec(v) for v in self._n.mm_get(k)}
                for k in self._n.mm_keys()}

    def __len__(self) -> int:
        return self.key_count()

    def _describe(self) -> str:
        return repr(self.entries())


class _Deleted(ReplicatedData):
    """The tombstone of a deleted key (kept by durable stores)."""

    __slots__ = ()
    _TAG = _TAGS["Deleted"]

    def __init__(self) -> None:
        self._setup(_n.ddata_new(self._TAG), None, None)


_CRDT_CLASSES: tuple[type[ReplicatedData], ...] = (
    GCounter, PNCounter, GSet, ORSet, LwwRegister, Flag, ORMap, LWWMap, PNCounterMap, ORMultiMap)


def _value_kind(value: Any) -> tuple[type, int]:
    """(class, map value tag) naming a CRDT type; the tag is 0 but for ORMap."""
    cls = type(value)
    return cls, (value._n.map_value_tag() if cls is ORMap else 0)


def _kind_name(kind: tuple[type, int]) -> str:
    cls, value_tag = kind
    if cls is ORMap:
        return f"ORMap of {_n.ddata_type_name(value_tag)}"
    return cls.__name__


# ---------------------------------------------------------------------------
# Consistency levels and their aggregators


def _check_timeout(timeout: Any) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    t = float(timeout)
    if not t > 0.0 or math.isinf(t):
        raise ValueError(f"timeout must be a positive, finite number of seconds, got {timeout!r}")
    return t


def _check_count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"the replica count must be an int, not {type(n).__name__}")
    if n < 1:
        raise ValueError(f"the replica count must be at least 1, got {n}")
    return n


def _required(kind: str, n: int, cluster_size: int) -> int:
    if kind == "local":
        return 1
    if kind == "majority":
        return cluster_size // 2 + 1
    if kind == "all":
        return cluster_size
    return n


@dataclass(frozen=True)
class WriteConsistency:
    """How many replicas must hold a write before an update answers "ok".

    Build with :meth:`local`, :meth:`majority`, :meth:`all` or
    :meth:`write_to`. A level the cluster cannot satisfy within `timeout`
    answers "timeout" (the write is still applied locally).
    """

    kind: str
    n: int = 1
    timeout: float = 0.0

    @staticmethod
    def local() -> "WriteConsistency":
        """Only this replica."""
        return WriteConsistency("local", 1, 0.0)

    @staticmethod
    def majority(timeout: float = 2.0) -> "WriteConsistency":
        """More than half of the replicas."""
        return WriteConsistency("majority", 0, _check_timeout(timeout))

    @staticmethod
    def all(timeout: float = 2.0) -> "WriteConsistency":
        """Every replica."""
        return WriteConsistency("all", 0, _check_timeout(timeout))

    @staticmethod
    def write_to(n: int, timeout: float = 2.0) -> "WriteConsistency":
        """At least `n` replicas (this one included)."""
        return WriteConsistency("to", _check_count(n), _check_timeout(timeout))

    def required(self, cluster_size: int) -> int:
        """How many acknowledgements this level needs in a cluster of
        `cluster_size` replicas."""
        return _required(self.kind, self.n, cluster_size)


@dataclass(frozen=True)
class ReadConsistency:
    """How many replicas a read must hear from before it answers.

    Build with :meth:`local`, :meth:`majority`, :meth:`all` or
    :meth:`read_from`. A level the cluster cannot satisfy within `timeout`
    fails the read with :class:`~atomr.errors.ReplicationTimeoutError`.
    """

    kind: str
    n: int = 1
    timeout: float = 0.0

    @staticmethod
    def local() -> "ReadConsistency":
        """Only this replica."""
        return ReadConsistency("local", 1, 0.0)

    @staticmethod
    def majority(timeout: float = 2.0) -> "ReadConsistency":
        """More than half of the replicas.

        Raises:
            TypeError: `timeout` is not a number.
            ValueError: `timeout` is not positive and finite.
        """
        return ReadConsistency("majority", 0, _check_timeout(timeout))

    @staticmethod
    def all(timeout: float = 2.0) -> "ReadConsistency":
        """Every replica (`timeout` is checked as for :meth:`majority`)."""
        return ReadConsistency("all", 0, _check_timeout(timeout))

    @staticmethod
    def read_from(n: int, timeout: float = 2.0) -> "ReadConsistency":
        """At least `n` replicas (this one included)."""
        return ReadConsistency("from", _check_count(n), _check_timeout(timeout))

    def required(self, cluster_size: int) -> int:
        """How many replies this level needs in a cluster of `cluster_size`
        replicas."""
        return _required(self.kind, self.n, cluster_size)


class WriteAggregator:
    """Counts the acknowledgements of one write.

    Args:
        target: How many acks satisfy the write.

    Attributes:
        target: How many acks satisfy the write.
        received: The acks counted so far.
        nacks: The refusals counted so far.

    Raises:
        TypeError: `target` is not an int.
        ValueError: `target` is below 1.
    """

    __slots__ = ("target", "received", "nacks")

    def __init__(self, target: int) -> None:
        self.target: int = _check_count(target)
        self.received: int = 0
        self.nacks: int = 0

    def ack(self) -> None:
        """Counts one replica that acknowledged the write."""
        self.received += 1

    def nack(self) -> None:
        """Counts one replica that refused the write."""
        self.nacks += 1

    def is_satisfied(self) -> bool:
        """Whether at least `target` replicas acknowledged the write."""
        return self.received >= self.target

    def is_failed(self, cluster_size: int) -> bool:
        """True once so many replicas refused that `target` is out of reach."""
        return self.nacks > cluster_size - self.target

    def __repr__(self) -> str:
        return f"WriteAggregator(target={self.target}, received={self.received}, nacks={self.nacks})"


class ReadAggregator:
    """Counts the replies to one read.

    Args:
        target: How many replies satisfy the read.

    Attributes:
        target: How many replies satisfy the read.
        received: The replies counted so far.

    Raises:
        TypeError: `target` is not an int.
        ValueError: `target` is below 1.
    """

    __slots__ = ("target", "received")

    def __init__(self, target: int) -> None:
        self.target: int = _check_count(target)
        self.received: int = 0

    def reply(self) -> None:
        """Counts one replica that replied to the read."""
        self.received += 1

    def is_satisfied(self) -> bool:
        """Whether at least `target` replicas replied."""
        return self.received >= self.target

    def __repr__(self) -> str:
        return f"ReadAggregator(target={self.target}, received={self.received})"


_PHASES = ("initialized", "performed")


def pruning_phases() -> list[str]:
    """The phases of pruning a removed node's data, in order."""
    return list(_PHASES)


class PruningState:
    """Per removed node: who prunes its data and how far it got; a CRDT
    itself (performed beats initialized, the larger `obsolete_at` wins,
    and of two owners the smaller id)."""

    __slots__ = ("_m",)

    def __init__(self) -> None:
        # removed node -> (phase, owner, obsolete_at)
        self._m: dict[str, tuple[str, str, int]] = {}

    def initialize(self, removed_node: str, owner: str) -> None:
        """Starts pruning `removed_node` by `owner` (a no-op when started)."""
        self._m.setdefault(_check_node(removed_node), ("initialized", _check_node(owner), 0))

    def mark_performed(self, removed_node: str, obsolete_at: int) -> bool:
        """Moves an initialized node to performed; True only on that move."""
        entry = self._m.get(removed_node)
        if entry is None or entry[0] != "initialized":
            return False
        self._m[removed_node] = ("performed", entry[1], int(obsolete_at))
        return True

    def is_pruned(self, node: str) -> bool:
        """Whether pruning of the removed `node` reached "performed"."""
        entry = self._m.get(node)
        return entry is not None and entry[0] == "performed"

    def owner(self, node: str) -> Optional[str]:
        """The node pruning the removed `node`, or None when `node` has no
        entry (never initialized, or dropped by :meth:`gc`)."""
        entry = self._m.get(node)
        return None if entry is None else entry[1]

    def phase(self, node: str) -> Optional[str]:
        """``"initialized"`` or ``"performed"`` for the removed `node`, or
        None when it has no entry (never initialized, or dropped by :meth:`gc`)."""
        entry = self._m.get(node)
        return None if entry is None else entry[0]

    def gc(self, current_round: int) -> int:
        """Drops performed markers with ``obsolete_at <= current_round``;
        returns how many."""
        doomed = [n for n, (phase, _, at) in self._m.items()
                  if phase == "performed" and at <= current_round]
        for n in doomed:
            del self._m[n]
        return len(doomed)

    def merge(self, other: "PruningState") -> "PruningState":
        """Joins `other` into this state, node by node (see the class for
        which entry wins); `other` is unchanged.

        Returns:
            self, for chaining.

        Raises:
            TypeError: `other` is not a PruningState.
        """
        if not isinstance(other, PruningState):
            raise TypeError(f"cannot merge a {type(other).__name__} into a PruningState")
        for node, theirs in other._m.items():
            mine = self._m.get(node)
            if mine is None:
                self._m[node] = theirs
                continue
            ours_rank = (_PHASES.index(mine[0]), mine[2])
            their_rank = (_PHASES.index(theirs[0]), theirs[2])
            if their_rank > ours_rank or (their_rank == ours_rank and theirs[1] < mine[1]):
                self._m[node] = theirs
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PruningState) and self._m == other._m

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PruningState({self._m!r})"


# ---------------------------------------------------------------------------
# Durable stores


class DurableStore(abc.ABC):
    """Where a :class:`Replicator` keeps its durable keys across restarts.

    Build with :meth:`noop`, :meth:`file` or :meth:`lmdb`. Values are the
    CRDTs' wire bytes; a deleted key keeps a tombstone, so it stays deleted
    after a restart. ``persist`` returns once the bytes are on disk.
    Implementations are thread-safe.
    """

    kind: ClassVar[str] = "noop"

    @staticmethod
    def noop() -> "NoopDurableStore":
        """A store that keeps nothing."""
        return NoopDurableStore()

    @staticmethod
    def file(dir_path: Union[str, "os.PathLike[str]"]) -> "FileDurableStore":
        """One file per key in `dir_path` (created when missing)."""
        return FileDurableStore(dir_path)

    @staticmethod
    def lmdb(path: Union[str, "os.PathLike[str]"], map_size: int = 64 * 1024 * 1024) -> Any:
        """An LMDB database file at `path` (inside it when it is a directory)."""
        from atomr.ddata_lmdb import LmdbDurableStore

        return LmdbDurableStore(path, map_size=map_size)

    @property
    def is_durable(self) -> bool:
        """False for the noop store."""
        return True

    @abc.abstractmethod
    def persist(self, key: str, value: bytes) -> None:
        """Stores `value` under `key`; returns once it is on disk."""

    @abc.abstractmethod
    def load(self, key: str) -> Optional[bytes]:
        """The bytes under `key`, or None."""

    @abc.abstractmethod
    def delete_marker(self, key: str) -> None:
        """Forgets `key` (a no-op when absent)."""

    @abc.abstractmethod
    def keys(self) -> list[str]:
        """Every stored key, sorted."""

    def load_all(self) -> dict[str, bytes]:
        """Every (key, bytes)."""
        return {k: v for k in self.keys() if (v := self.load(k)) is not None}

    def contains(self, key: str) -> bool:
        """Whether a value is stored under `key`."""
        return self.load(key) is not None

    def close(self) -> None:
        """Releases the store (idempotent)."""

    def __enter__(self) -> "DurableStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class NoopDurableStore(DurableStore):
    """Keeps nothing: every key is lost at restart."""

    kind = "noop"

    @property
    def is_durable(self) -> bool:
        """Always False: nothing is kept."""
        return False

    def persist(self, key: str, value: bytes) -> None:
        """Does nothing (the value is dropped)."""
        pass

    def load(self, key: str) -> Optional[bytes]:
        """Always None."""
        return None

    def delete_marker(self, key: str) -> None:
        """Does nothing."""
        pass

    def keys(self) -> list[str]:
        """Always an empty list."""
        return []

    def __repr__(self) -> str:
        return "DurableStore.noop()"


_FILE_MAGIC = b"ADDF"
_FILE_SUFFIX = ".dd"


class FileDurableStore(DurableStore):
    """One file per key in a directory. A write goes to a temporary file
    that is flushed, fsynced and renamed over the key's file (then the
    directory is fsynced), so a crash leaves the old or the new value.

    Args:
        dir_path: The directory (created when missing).

    Raises:
        DurableStoreError: the directory cannot be created.
    """

    kind = "file"

    def __init__(self, dir_path: Union[str, "os.PathLike[str]"]) -> None:
        self._dir = os.path.abspath(os.fspath(dir_path))
        self._lock = threading.Lock()
        try:
            os.makedirs(self._dir, exist_ok=True)
        except OSError as exc:
            raise DurableStoreError(f"file durable store: cannot create {self._dir}: "
                                    f"{exc}") from exc

    @property
    def path(self) -> str:
        """The absolute path of the store's directory."""
        return self._dir

    @staticmethod
    def _raw(key: str) -> bytes:
        if not isinstance(key, str) or not key:
            raise ValueError(f"a durable key must be a non-empty str, got {key!r}")
        return key.encode("utf-8", "surrogatepass")

    def _file(self, raw: bytes) -> str:
        if len(raw) <= 150:
            name = "k-" + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        else:
            import hashlib

            name = "h-" + hashlib.sha256(raw).hexdigest()
        return os.path.join(self._dir, name + _FILE_SUFFIX)

    def _read(self, path: str) -> Optional[tuple[bytes, bytes]]:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DurableStoreError(f"file durable store: cannot read {path}: {exc}") from exc
        if len(data) < 8 or data[:4] != _FILE_MAGIC:
            raise DurableStoreError(f"file durable store: {path} is not a durable entry")
        (n,) = _LEN.unpack_from(data, 4)
        if 8 + n > len(data):
            raise DurableStoreError(f"file durable store: {path} is truncated")
        return data[8:8 + n], data[8 + n:]

    def _fsync_dir(self) -> None:
        fd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def persist(self, key: str, value: bytes) -> None:
        """Writes `value` as `key`'s file (atomically, fsynced).

        Raises:
            ValueError: `key` is not a non-empty str.
            TypeError: `value` is not bytes-like.
            DurableStoreError: the file cannot be written.
        """
        raw = self._raw(key)
        value = _check_bytes(value, "a durable value")
        path = self._file(raw)
        tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
        with self._lock:
            try:
                with open(tmp, "wb") as f:
                    f.write(_FILE_MAGIC + _LEN.pack(len(raw)) + raw + value)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
                self._fsync_dir()
            except OSError as exc:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise DurableStoreError(f"file durable store: cannot write key {key!r}: "
                                        f"{exc}") from exc

    def load(self, key: str) -> Optional[bytes]:
        """The bytes under `key`, or None when it has no file.

        Raises:
            ValueError: `key` is not a non-empty str.
            DurableStoreError: the file cannot be read, is malformed, or
                holds another key.
        """
        raw = self._raw(key)
        entry = self._read(self._file(raw))
        if entry is None:
            return None
        if entry[0] != raw:
            raise DurableStoreError(f"file durable store: the file of key {key!r} holds "
                                    f"another key")
        return entry[1]

    def delete_marker(self, key: str) -> None:
        """Removes `key`'s file (a no-op when absent).

        Raises:
            DurableStoreError: the file cannot be removed.
        """
        path = self._file(self._raw(key))
        with self._lock:
            try:
                os.unlink(path)
                self._fsync_dir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise DurableStoreError(f"file durable store: cannot delete key {key!r}: "
                                        f"{exc}") from exc

    def _entries(self) -> Iterator[tuple[str, str]]:
        try:
            names = os.listdir(self._dir)
        except OSError as exc:
            raise DurableStoreError(f"file durable store: cannot list {self._dir}: "
                                    f"{exc}") from exc
        for name in names:
            if name.endswith(_FILE_SUFFIX) and name[:2] in ("k-", "h-"):
                yield name, os.path.join(self._dir, name)

    def keys(self) -> list[str]:
        """Every stored key, sorted.

        Raises:
            DurableStoreError: the directory cannot be listed, or an entry
                cannot be read.
        """
        out = []
        for name, path in self._entries():
            if name.startswith("k-"):
                stem = name[2:-len(_FILE_SUFFIX)]
                raw = base64.urlsafe_b64decode(stem + "=" * (-len(stem) % 4))
            else:
                entry = self._read(path)
                if entry is None:
                    continue
                raw = entry[0]
            out.append(raw.decode("utf-8", "surrogatepass"))
        return sorted(out)

    def load_all(self) -> dict[str, bytes]:
        """Every (key, bytes), reading each file once.

        Raises:
            DurableStoreError: the directory cannot be listed, or an entry
                cannot be read or is malformed.
        """
        out = {}
        for _, path in self._entries():
            entry = self._read(path)
            if entry is not None:
                out[entry[0].decode("utf-8", "surrogatepass")] = entry[1]
        return out

    def __repr__(self) -> str:
        return f"DurableStore.file({self._dir!r})"


def _store_from_settings(settings: dict[str, Any]) -> tuple[DurableStore, tuple[str, ...]]:
    kind = settings["distributed-data.durable.store-actor-class"]
    path = settings["distributed-data.durable.path"]
    globs = _store_from_settings_globs(settings)
    if kind == "noop":
        return NoopDurableStore(), globs
    if not path:
        raise ConfigError(f"`distributed-data.durable.path` must be set when "
                          f"`distributed-data.durable.store-actor-class` is {kind!r}")
    if kind == "file":
        return FileDurableStore(path), globs
    return DurableStore.lmdb(path, map_size=settings["distributed-data.durable.lmdb.map-size"]), globs


# ---------------------------------------------------------------------------
# The Replicator


class ReplicatorSubscription:
    """An async iterator of the changes of one key: it yields the key each
    time a later update changes its value, and when it is deleted.

    Buffers up to :attr:`BUFFER` changes; beyond that new changes are
    dropped (counted in :attr:`dropped`). Iterate it from any event loop
    (one consumer at a time); iteration ends when it is closed or the
    replicator shuts down.
    """

    BUFFER: ClassVar[int] = 64

    def __init__(self, key: str, unregister: Callable[["ReplicatorSubscription"], None]) -> None:
        self.key: str = key
        self.dropped: int = 0
        self._buf: deque[str] = deque()
        self._lock = threading.Lock()
        self._waiter: Optional[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = None
        self._closed = False
        self._unregister = unregister

    @staticmethod
    def _wake(waiter: Optional[tuple[asyncio.AbstractEventLoop, asyncio.Future]]) -> None:
        if waiter is None:
            return
        loop, fut = waiter

        def resolve() -> None:
            if not fut.done():
                fut.set_result(None)

        if _get_running_loop() is loop:
            resolve()
        else:
            try:
                loop.call_soon_threadsafe(resolve)
            except RuntimeError:  # the consumer's loop is closed
                pass

    def _push(self, item: str) -> None:
        with self._lock:
            if self._closed:
                return
            if len(self._buf) >= self.BUFFER:
                self.dropped += 1
                return
            self._buf.append(item)
            waiter, self._waiter = self._waiter, None
        self._wake(waiter)

    def pending(self) -> int:
        """Changes buffered and not yet consumed."""
        with self._lock:
            return len(self._buf)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (or the replicator shut down)."""
        return self._closed

    def close(self) -> None:
        """Stops the subscription; a waiting iteration ends."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            waiter, self._waiter = self._waiter, None
        self._wake(waiter)
        self._unregister(self)

    async def aclose(self) -> None:
        """Awaitable :meth:`close` (the async-iterator protocol's close)."""
        self.close()

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        while True:
            with self._lock:
                if self._buf:
                    return self._buf.popleft()
                if self._closed:
                    raise StopAsyncIteration
                loop = asyncio.get_running_loop()
                fut = loop.create_future()
                self._waiter = (loop, fut)
            try:
                await fut
            finally:
                with self._lock:
                    if self._waiter is not None and self._waiter[1] is fut:
                        self._waiter = None

    async def __aenter__(self) -> "ReplicatorSubscription":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<ReplicatorSubscription {self.key!r} {state} pending={self.pending()}>"


class _ReplicatorGuard(Actor):
    """Ties a replicator's life to its system: when the system stops this
    actor, the replicator flushes its durable writes and closes its store."""

    def __init__(self, replicator: "Replicator") -> None:
        self._replicator = replicator

    def handle(self, ctx: Any, msg: Any) -> Any:
        return None

    def post_stop(self, ctx: Any) -> None:
        self._replicator._shutdown()


Kind = Union[type, ReplicatedData]


class _ClassOrInstance:
    """A name that is one function on the class and another on instances:
    ``Replicator.get(system)`` and ``replicator.get(key, kind)``."""

    def __init__(self, on_class: Any, on_instance: Callable[..., Any]) -> None:
        self._on_class = on_class.__func__ if isinstance(on_class, staticmethod) else on_class
        self._on_instance = on_instance
        self.__doc__ = (f"On the class: {inspect.cleandoc(self._on_class.__doc__ or '')}\n\n"
                        f"On an instance: {inspect.cleandoc(on_instance.__doc__ or '')}")

    def __get__(self, obj: Any, objtype: Any = None) -> Callable[..., Any]:
        if obj is None:
            return self._on_class
        return self._on_instance.__get__(obj, objtype)

_REGISTRY: "weakref.WeakKeyDictionary[Any, Replicator]" = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


class Replicator:
    """Holds the replicated values of one actor system, by key.

    One per system (:meth:`get`). Operations run on the system's event loop
    (as Akka's replicator actor would) and can be awaited from any loop;
    updates of one key are serialized. This is a one-node cluster: the
    consistency levels are honoured for one replica -- ``local``,
    ``majority`` and ``all`` are met at once; ``write_to(n)`` /
    ``read_from(n)`` with ``n > 1`` cannot be met and time out after their
    timeout. With a durable store, writes of durable keys are on disk
    before the update answers, and the values are loaded at start-up.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use Replicator.get(system) or Replicator.with_durable_store(system, store)")

    @classmethod
    def _create(cls, system: Any, store: DurableStore, globs: tuple[str, ...]) -> "Replicator":
        from atomr._props import props

        system._check_live()
        self = object.__new__(cls)
        self._system = system
        self._store = store
        self._globs = globs
        self._node: str = system.address
        self._codecs = system.codecs
        self._data: dict[str, ReplicatedData] = {}
        self._deleted: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._subs: dict[str, list[ReplicatorSubscription]] = {}
        self._closed = False
        self._close_lock = threading.Lock()
        self._io: Optional[concurrent.futures.ThreadPoolExecutor] = None
        try:
            self._load()
            if store.is_durable:
                self._io = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=f"atomr-ddata-{system.name}")
            self._guard = system.actor_of(
                props(_ReplicatorGuard, factory=lambda: _ReplicatorGuard(self)))
        except BaseException:
            self._shutdown()
            raise
        system._core.termination.add_done_callback(lambda _f: self._shutdown())
        return self

    def _load(self) -> None:
        for key, blob in self._store.load_all().items():
            try:
                value = ReplicatedData.from_bytes(blob, node=self._node, codecs=self._codecs)
            except MalformedDataError as exc:
                raise DurableStoreError(f"durable entry {key!r} is malformed: {exc}") from exc
            if isinstance(value, _Deleted):
                self._deleted.add(key)
            else:
                self._data[key] = value

    # -- access -----------------------------------------------------------

    @staticmethod
    def _for_system(system: Any) -> "Replicator":
        """The replicator of `system`, created on first use with the
        durable store its config names (``distributed-data.durable.*``).

        Raises:
            ActorSystemTerminatedError: the system is terminated.
            ConfigError: a file/lmdb store without ``durable.path``.
            DurableStoreError: the store cannot be opened or holds malformed data.
        """
        with _REGISTRY_LOCK:
            rep = _REGISTRY.get(system)
            if rep is None or rep._closed:
                store, globs = _store_from_settings(system.settings)
                try:
                    rep = Replicator._create(system, store, globs)
                except BaseException:
                    store.close()
                    raise
                _REGISTRY[system] = rep
            return rep

    @staticmethod
    def with_durable_store(system: Any, store: DurableStore) -> "Replicator":
        """Replaces `system`'s replicator with a fresh one backed by `store`
        (loading what it holds); the previous replicator is shut down.

        Raises:
            TypeError: `store` is not a :class:`DurableStore`.
        """
        if not isinstance(store, DurableStore):
            raise TypeError(f"store must be a DurableStore, not {type(store).__name__}")
        globs = _store_from_settings_globs(system.settings)
        with _REGISTRY_LOCK:
            old = _REGISTRY.pop(system, None)
            if old is not None:
                old._shutdown(close_store=old._store is not store)
                old._guard.stop()
            rep = Replicator._create(system, store, globs)
            _REGISTRY[system] = rep
            return rep

    @property
    def durable(self) -> DurableStore:
        """The durable store."""
        return self._store

    @property
    def node(self) -> str:
        """The replica id of this node's updates (the system's address)."""
        return self._node

    @property
    def system(self) -> Any:
        """The actor system this replicator belongs to."""
        return self._system

    def is_durable(self, key: str) -> bool:
        """Whether `key` is kept in the durable store."""
        return self._store.is_durable and any(fnmatch.fnmatchcase(key, g) for g in self._globs)

    def keys(self) -> list[str]:
        """The keys holding a value (not deleted), sorted."""
        return sorted(self._data)

    def deleted_keys(self) -> list[str]:
        """The keys that were deleted (they stay deleted), sorted."""
        return sorted(self._deleted)

    # -- operations ---------------------------------------------------------

    def update(self, key: str, initial: Kind, modify: Callable[[Any], Any],
               write_consistency: Optional[WriteConsistency] = None) -> Awaitable[str]:
        """Updates `key`'s value.

        `modify` receives a copy of the stored value (or of `initial` when
        the key is new: a CRDT class means its empty value, an instance is
        used as is) acting as this node's replica; it may be ``async``,
        mutates and returns it (returning None keeps the mutated argument).
        The result is merged into the stored value, written to the durable
        store when the key is durable, and subscribers are told.

        Returns:
            An awaitable of "ok", or "timeout" when `write_consistency`
            cannot be met (the value is still updated locally).

        Raises:
            ValueError: `initial` names no CRDT type (at call time).
            UpdateFailedError: `modify` raised or returned a value of another
                type; the stored value is unchanged.
            DataDeletedError: `key` was deleted.
            DurableStoreError: the durable write failed (value unchanged).
        """
        _check_key(key)
        proto = _prototype(initial)
        if not callable(modify):
            raise TypeError(f"modify must be callable, not {type(modify).__name__}")
        wc = _write_level(write_consistency)
        return self._call(self._update, key, proto, modify, wc)

    def _get_key(self, key: str, kind: Kind,
                 read_consistency: Optional[ReadConsistency] = None) -> Awaitable[Optional[Any]]:
        """Reads a copy of `key`'s value.

        Returns:
            An awaitable of the value, or None when the key has no value.

        Raises:
            DataDeletedError: `key` was deleted.
            TypeError: the key holds another CRDT type.
            ReplicationTimeoutError: `read_consistency` cannot be met.
        """
        _check_key(key)
        proto = _prototype(kind)
        rc = _read_level(read_consistency)
        return self._call(self._get, key, proto, rc, True)

    get = _ClassOrInstance(_for_system, _get_key)

    def get_value(self, key: str, kind: Kind,
                  read_consistency: Optional[ReadConsistency] = None) -> Awaitable[Optional[Any]]:
        """Like :meth:`get`, but None also for a deleted key or a value of
        another type."""
        _check_key(key)
        proto = _prototype(kind)
        rc = _read_level(read_consistency)
        return self._call(self._get, key, proto, rc, False)

    def delete(self, key: str,
               write_consistency: Optional[WriteConsistency] = None) -> Awaitable[str]:
        """Deletes `key` for good: later updates and gets of it raise
        :class:`~atomr.errors.DataDeletedError`. Subscribers are told.

        Returns:
            An awaitable of "ok" (or "timeout", as for :meth:`update`).

        Raises:
            DataDeletedError: `key` was already deleted.
        """
        _check_key(key)
        wc = _write_level(write_consistency)
        return self._call(self._delete, key, wc)

    def subscribe(self, key: str) -> ReplicatorSubscription:
        """An async iterator yielding `key` on each later change or delete."""
        _check_key(key)
        sub = ReplicatorSubscription(key, self._unsubscribe)
        if self._closed:
            sub.close()
            return sub
        self._subs.setdefault(key, []).append(sub)
        return sub

    def _unsubscribe(self, sub: ReplicatorSubscription) -> None:
        subs = self._subs.get(sub.key)
        if subs is not None and sub in subs:
            subs.remove(sub)
            if not subs:
                del self._subs[sub.key]

    # -- on the system's loop -------------------------------------------------

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._closed or self._system.is_terminated:
            raise ActorSystemTerminatedError(f"the replicator of actor system "
                                             f"{self._system.name} is shut down")
        loop = self._system.loop
        if asyncio.get_running_loop() is loop:
            return await fn(*args)
        try:
            cf = asyncio.run_coroutine_threadsafe(fn(*args), loop)
        except RuntimeError:
            raise ActorSystemTerminatedError(f"actor system {self._system.name} is "
                                             f"terminated") from None
        return await asyncio.wrap_future(cf)

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def _persist(self, key: str, blob: bytes) -> None:
        assert self._io is not None
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._io, self._store.persist, key, blob)
        except RuntimeError as exc:  # the executor is shut down
            raise ActorSystemTerminatedError(f"the replicator of actor system "
                                             f"{self._system.name} is shut down") from exc

    def _notify(self, key: str) -> None:
        for sub in list(self._subs.get(key, ())):
            sub._push(key)

    def _fresh(self, proto: tuple[type, int, Optional[ReplicatedData]]) -> ReplicatedData:
        cls, value_tag, instance = proto
        if instance is not None:
            value = instance.copy()
        elif cls is ORMap:
            value = ReplicatedData._wrap(_n.ddata_new(ORMap._TAG, value_tag))
        else:
            value = cls()
        value._codecs = self._codecs
        value.reset_delta()
        return value.with_node(self._node)

    async def _update(self, key: str, proto: tuple[type, int, Optional[ReplicatedData]],
                      modify: Callable[[Any], Any], wc: WriteConsistency) -> str:
        async with self._lock(key):
            if key in self._deleted:
                raise DataDeletedError(key)
            current = self._data.get(key)
            kind = proto[:2]
            if current is not None and _value_kind(current) != kind:
                raise UpdateFailedError(f"key {key!r} holds a {_kind_name(_value_kind(current))}, "
                                        f"not a {_kind_name(kind)}")
            base = current.copy().with_node(self._node) if current is not None \
                else self._fresh(proto)
            base.reset_delta()
            try:
                result = modify(base)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:
                raise UpdateFailedError(f"the modify function of key {key!r} raised "
                                        f"{type(exc).__name__}: {exc}") from exc
            if result is None:
                result = base
            if not isinstance(result, ReplicatedData) or _value_kind(result) != kind:
                raise UpdateFailedError(f"the modify function of key {key!r} must return a "
                                        f"{_kind_name(kind)}, not {type(result).__name__}")
            new = current.copy() if current is not None else self._fresh(proto)
            new.merge(result)
            new.reset_delta()
            new.with_node(self._node)
            changed = current is None or new != current
            if changed:
                if self.is_durable(key):
                    await self._persist(key, new.to_bytes())
                self._data[key] = new
                self._notify(key)
        return await self._await_writes(wc)

    async def _get(self, key: str, proto: tuple[type, int, Optional[ReplicatedData]],
                   rc: ReadConsistency, strict: bool) -> Optional[ReplicatedData]:
        await self._await_reads(rc, key)
        if key in self._deleted:
            if strict:
                raise DataDeletedError(key)
            return None
        current = self._data.get(key)
        if current is None:
            return None
        if _value_kind(current) != proto[:2]:
            if strict:
                raise TypeError(f"key {key!r} holds a {_kind_name(_value_kind(current))}, not "
                                f"a {_kind_name(proto[:2])}")
            return None
        return current.copy()

    async def _delete(self, key: str, wc: WriteConsistency) -> str:
        async with self._lock(key):
            if key in self._deleted:
                raise DataDeletedError(key)
            if self.is_durable(key):
                await self._persist(key, _Deleted().to_bytes())
            self._deleted.add(key)
            self._data.pop(key, None)
            self._notify(key)
        return await self._await_writes(wc)

    async def _await_writes(self, wc: WriteConsistency) -> str:
        aggregator = WriteAggregator(max(1, wc.required(self.cluster_size)))
        aggregator.ack()  # this replica holds the write
        if aggregator.is_satisfied():
            return "ok"
        # No other replica exists to acknowledge: wait out the timeout, as a
        # replicator waiting for acks that never come would.
        if await self._wait_for_replicas(wc.timeout, aggregator.is_satisfied):
            return "ok"
        return "timeout"

    async def _await_reads(self, rc: ReadConsistency, key: str) -> None:
        aggregator = ReadAggregator(max(1, rc.required(self.cluster_size)))
        aggregator.reply()  # this replica's own value
        if aggregator.is_satisfied():
            return
        if not await self._wait_for_replicas(rc.timeout, aggregator.is_satisfied):
            raise ReplicationTimeoutError(
                f"read of key {key!r} could not reach {aggregator.target} replicas within "
                f"{rc.timeout}s (this cluster has {self.cluster_size})")

    async def _wait_for_replicas(self, timeout: float, satisfied: Callable[[], bool]) -> bool:
        replies: asyncio.Future = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(replies, timeout)
        except asyncio.TimeoutError:
            pass
        return satisfied()

    @property
    def cluster_size(self) -> int:
        """The replicas this replicator reaches: itself only."""
        return 1

    # -- shutdown -----------------------------------------------------------------

    def _shutdown(self, close_store: bool = True) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.close()
        if self._io is not None:
            self._io.shutdown(wait=True)
        if close_store:
            self._store.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return f"<Replicator {self._system.name} {state} keys={len(self._data)} store={self._store!r}>"


def _store_from_settings_globs(settings: dict[str, Any]) -> tuple[str, ...]:
    globs = settings["distributed-data.durable.keys"]
    if not isinstance(globs, list) or not all(isinstance(g, str) for g in globs):
        raise ConfigError("`distributed-data.durable.keys` must be a list of key globs (str)")
    return tuple(globs)


def _check_key(key: Any) -> None:
    if not isinstance(key, str):
        raise TypeError(f"a replicated key must be a str, not {type(key).__name__}")
    if not key:
        raise ValueError("a replicated key must not be empty")


def _prototype(initial: Any) -> tuple[type, int, Optional[ReplicatedData]]:
    """(class, ORMap value tag, instance or None) from a CRDT class or instance."""
    if isinstance(initial, ReplicatedData) and type(initial) in _CRDT_CLASSES:
        cls, value_tag = _value_kind(initial)
        return cls, value_tag, initial
    if isinstance(initial, type) and initial in _CRDT_CLASSES:
        return initial, (LwwRegister._TAG if initial is ORMap else 0), None
    raise ValueError(f"{initial!r} is not a CRDT type of atomr.ddata "
                     f"({', '.join(c.__name__ for c in _CRDT_CLASSES)})")


def _write_level(wc: Any) -> WriteConsistency:
    if wc is None:
        return WriteConsistency.local()
    if not isinstance(wc, WriteConsistency):
        raise TypeError(f"write_consistency must be a WriteConsistency, not {type(wc).__name__}")
    return wc


def _read_level(rc: Any) -> ReadConsistency:
    if rc is None:
        return ReadConsistency.local()
    if not isinstance(rc, ReadConsistency):
        raise TypeError(f"read_consistency must be a ReadConsistency, not {type(rc).__name__}")
    return rc
