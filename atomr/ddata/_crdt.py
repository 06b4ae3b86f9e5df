"""The CRDTs: a Python object over each native state, merged in C++.
"""

from __future__ import annotations

from typing import (
    Any,
    Callable,
    ClassVar,
    Iterable,
    Iterator,
    Optional,
    TypeVar,
    Union,
)

from atomr import codecs as _codecs
from atomr._native import _core as _n
from atomr._util import public_module
from atomr.ddata._wire import (
    _DEFAULT_CODECS,
    _TAGS,
    _check_bytes,
    _check_node,
    _decode,
    _encode,
    _new_node_id,
)
from atomr.errors import (
    MalformedDataError,
)

T = TypeVar("T", bound="ReplicatedData")

# ---------------------------------------------------------------------------
# The CRDTs


@public_module("atomr.ddata")
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

    # -- pruning removed replicas (Akka's RemovedNodePruning) -----------------

    def needs_pruning_from(self, removed: str) -> bool:
        """Whether this value holds state of replica `removed` (always False
        for the types without per-replica state: GSet, Flag, LwwRegister).

        Raises:
            ValueError: `removed` is empty.
        """
        return bool(self._n.needs_pruning_from(_check_node(removed)))

    def prune(self: T, removed: str, collapse_into: str) -> T:
        """Moves the state of the removed replica `removed` into replica
        `collapse_into`'s, keeping the value (the owner of a pruning does
        this); a no-op when there is none. Forgets the pending delta.

        Returns:
            self, for chaining.

        Raises:
            ValueError: an id is empty, the two are equal, or a count would
                overflow 64 bits.
        """
        self._n.prune(_check_node(removed), _check_node(collapse_into))
        return self

    def prune_cleanup(self: T, removed: str) -> T:
        """Drops the state of the removed replica `removed` (once another
        replica pruned it; merging the pruned state restores the value).
        Forgets the pending delta when it changes anything.

        Returns:
            self, for chaining.

        Raises:
            ValueError: `removed` is empty.
        """
        self._n.prune_cleanup(_check_node(removed))
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


@public_module("atomr.ddata")
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


@public_module("atomr.ddata")
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


@public_module("atomr.ddata")
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


@public_module("atomr.ddata")
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


@public_module("atomr.ddata")
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


@public_module("atomr.ddata")
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


@public_module("atomr.ddata")
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


@public_module("atomr.ddata")
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


@public_module("atomr.ddata")
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


@public_module("atomr.ddata")
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
