# Distributed data: the native CRDT states (cpp/include/atomr/ddata) and the
# LMDB durable store. atomr/ddata.py wraps these in the user-facing classes
# and turns elements and keys into their canonical byte encodings; this
# layer only ever sees bytes and node-id strings.
# Part of atomr._native._core (included by _core.pyx; declared in ddata.pxd).
#
# Merges and updates run under the GIL on purpose: a CRDT is a mutable
# object that several Python threads may share, and holding the GIL makes
# every native operation atomic for them (merges of 10K-element sets take
# well under a millisecond). The durable store's calls, which wait on the
# disk, release it.

from cpython.unicode cimport PyUnicode_DecodeUTF8

from atomr._native.includes.ddata cimport (
    CFlag, CGCounter, CGSet, CLmdbStore, CLwwMap, CLwwRegister, COrMap, COrMultiMap, COrSet,
    CElementCheck, CPNCounter, CPNCounterMap, CReplicatedData, CTypeTag,
    from_bytes as c_from_bytes,
    is_type_tag, lww_now_micros, make_empty, max_type_tag, ormap_is_value_type,
    peek_type as c_peek_type, to_bytes as c_to_bytes,
    type_name as c_type_name, wire_version as c_wire_version,
)
from libcpp.map cimport map as cmap
from libcpp.memory cimport unique_ptr
from libcpp.pair cimport pair
from libcpp.set cimport set as cset

from atomr._native.includes.ddata cimport CDdataErrc

_declare_native_codes("ddata", <int>CComponent.ddata, {
    "generic": <int>CDdataErrc.generic,
    "malformed_data": <int>CDdataErrc.malformed_data,
    "type_mismatch": <int>CDdataErrc.type_mismatch,
})

#: Type name -> type tag, read from the C++ enum (cpp/include/atomr/ddata/fwd.hpp),
#: the one place the tags are written (they are part of the wire format).
DDATA_TAGS = {c_type_name(<CTypeTag>t): t for t in range(1, max_type_tag + 1)}
DDATA_WIRE_VERSION = c_wire_version


cdef inline str _str_of(const string& s):
    """A node id as str (bytes that are not UTF-8 survive as surrogates)."""
    return PyUnicode_DecodeUTF8(s.data(), <Py_ssize_t>s.size(), "surrogateescape")


cdef inline list _bytes_list(const vector[string]& v):
    cdef list out = []
    cdef size_t i
    for i in range(v.size()):
        out.append(_bytes_of(v[i]))
    return out


cdef inline uint64_t _delta_of(object delta) except? 0:
    if isinstance(delta, bool) or not isinstance(delta, int):
        raise TypeError(f"a counter delta must be an int, not {type(delta).__name__}")
    if delta < 0:
        raise ValueError(f"a counter delta must not be negative, got {delta}")
    if delta > 0xFFFFFFFFFFFFFFFF:
        raise ValueError(f"a counter delta must fit 64 bits, got {delta}")
    return <uint64_t>delta


cdef inline int64_t _timestamp_of(object ts) except? -1:
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise TypeError(f"a timestamp must be an int (microseconds), not {type(ts).__name__}")
    if not -(2 ** 63) <= ts < 2 ** 63:
        raise ValueError(f"a timestamp must fit a signed 64-bit int, got {ts}")
    return <int64_t>ts


cdef dict _counts_dict(cmap[string, uint64_t] counts):
    cdef dict out = {}
    cdef pair[string, uint64_t] item
    for item in counts:
        out[_str_of(item.first)] = item.second
    return out


cdef class NativeData:
    """One CRDT state owned by C++ (any type; the typed methods check it).

    Invariants: `p` is never null once built by `_wrap`; the methods of one
    type raise TypeError on a state of another type. Users do not build
    these: atomr.ddata's classes do.
    """

    def __init__(self, *args, **kwargs):
        raise TypeError("NativeData is built by atomr.ddata; use its CRDT classes")

    @staticmethod
    cdef NativeData _wrap(unique_ptr[CReplicatedData]& q):
        cdef NativeData self = NativeData.__new__(NativeData)
        self.p.reset(q.release())
        self.t = self.p.get().tag()
        return self

    cdef int _need(self, CTypeTag t) except -1:
        if self.t != t:
            raise TypeError(f"a {c_type_name(self.t)} has no such operation "
                            f"(it is for {c_type_name(t)})")
        return 0

    cdef COrMap* _map(self) except NULL:
        if self.t == CTypeTag.ormap:
            return <COrMap*>self.p.get()
        if self.t == CTypeTag.lww_map:
            return &(<CLwwMap*>self.p.get()).map()
        if self.t == CTypeTag.pncounter_map:
            return &(<CPNCounterMap*>self.p.get()).map()
        raise TypeError(f"a {c_type_name(self.t)} is not a map")

    # -- every type --------------------------------------------------------

    @property
    def tag(self):
        """The type tag (see DDATA_TAGS)."""
        return <int>self.t

    @property
    def type_name(self):
        return c_type_name(self.t)

    def copy(self):
        """A deep copy (with the pending delta)."""
        cdef unique_ptr[CReplicatedData] q = self.p.get().clone()
        return NativeData._wrap(q)

    def empty_like(self):
        """The bottom element of this type (same value type for maps)."""
        cdef unique_ptr[CReplicatedData] q = self.p.get().empty()
        return NativeData._wrap(q)

    def merge(self, NativeData other not None):
        """Joins `other` into this state. ValueError on another type."""
        self.p.get().merge(deref(other.p.get()))

    def merge_delta(self, NativeData delta not None):
        self.p.get().merge_delta(deref(delta.p.get()))

    def delta(self):
        """The pending delta as a new state, or None."""
        cdef unique_ptr[CReplicatedData] q = self.p.get().delta()
        if not q:
            return None
        return NativeData._wrap(q)

    def reset_delta(self):
        self.p.get().reset_delta()

    def equals(self, NativeData other not None):
        return self.p.get().equals(deref(other.p.get()))

    def needs_pruning_from(self, str removed):
        """Whether this state holds state of replica `removed`."""
        return self.p.get().needs_pruning_from(removed)

    def prune(self, str removed, str collapse_into):
        """Moves `removed`'s state into `collapse_into`'s (a no-op without
        any). ValueError on equal or empty ids or an overflowing count."""
        self.p.get().prune(removed, collapse_into)

    def prune_cleanup(self, str removed):
        """Drops `removed`'s state."""
        self.p.get().prune_cleanup(removed)

    def to_bytes(self):
        """The versioned wire format."""
        cdef string s = c_to_bytes(deref(self.p.get()))
        return _bytes_of(s)

    # -- GCounter / PNCounter ----------------------------------------------

    def gc_increment(self, str node, delta):
        self._need(CTypeTag.gcounter)
        (<CGCounter*>self.p.get()).increment(node, _delta_of(delta))

    def gc_entries(self):
        """node -> count."""
        self._need(CTypeTag.gcounter)
        return _counts_dict((<CGCounter*>self.p.get()).entries())

    def gc_value(self):
        self._need(CTypeTag.gcounter)
        cdef cmap[string, uint64_t] counts = (<CGCounter*>self.p.get()).entries()
        cdef pair[string, uint64_t] item
        total = 0
        for item in counts:
            total += item.second
        return total

    def pn_increment(self, str node, delta):
        self._need(CTypeTag.pncounter)
        (<CPNCounter*>self.p.get()).increment(node, _delta_of(delta))

    def pn_decrement(self, str node, delta):
        self._need(CTypeTag.pncounter)
        (<CPNCounter*>self.p.get()).decrement(node, _delta_of(delta))

    def pn_entries(self):
        """(node -> increments, node -> decrements)."""
        self._need(CTypeTag.pncounter)
        cdef CPNCounter* c = <CPNCounter*>self.p.get()
        return (_counts_dict(c.increments().entries()), _counts_dict(c.decrements().entries()))

    def pn_value(self):
        self._need(CTypeTag.pncounter)
        cdef CPNCounter* c = <CPNCounter*>self.p.get()
        cdef cmap[string, uint64_t] ps = c.increments().entries()
        cdef cmap[string, uint64_t] ns = c.decrements().entries()
        cdef pair[string, uint64_t] item
        total = 0
        for item in ps:
            total += item.second
        for item in ns:
            total -= item.second
        return total

    # -- GSet / ORSet --------------------------------------------------------

    def gs_add(self, element):
        self._need(CTypeTag.gset)
        return (<CGSet*>self.p.get()).add(_string_of(element))

    def gs_contains(self, element):
        self._need(CTypeTag.gset)
        return (<CGSet*>self.p.get()).contains(_string_of(element))

    def gs_size(self):
        self._need(CTypeTag.gset)
        return (<CGSet*>self.p.get()).size()

    def gs_elements(self):
        self._need(CTypeTag.gset)
        cdef cset[string] elements = (<CGSet*>self.p.get()).elements()
        cdef string e
        cdef list out = []
        for e in elements:
            out.append(_bytes_of(e))
        return out

    def os_add(self, str node, element):
        self._need(CTypeTag.orset)
        (<COrSet*>self.p.get()).add(node, _string_of(element))

    def os_remove(self, element):
        self._need(CTypeTag.orset)
        return (<COrSet*>self.p.get()).remove(_string_of(element))

    def os_clear(self):
        self._need(CTypeTag.orset)
        (<COrSet*>self.p.get()).clear()

    def os_contains(self, element):
        self._need(CTypeTag.orset)
        return (<COrSet*>self.p.get()).contains(_string_of(element))

    def os_size(self):
        self._need(CTypeTag.orset)
        return (<COrSet*>self.p.get()).size()

    def os_elements(self):
        self._need(CTypeTag.orset)
        return _bytes_list((<COrSet*>self.p.get()).elements())

    # -- LwwRegister / Flag ----------------------------------------------------

    def reg_set(self, value, timestamp, str node):
        """Applies (value, timestamp, node) when that stamp is newer."""
        self._need(CTypeTag.lww_register)
        return (<CLwwRegister*>self.p.get()).set(_string_of(value), _timestamp_of(timestamp),
                                                 node)

    def reg_set_now(self, value, str node):
        """Writes with the monotone clock max(now, timestamp + 1)."""
        self._need(CTypeTag.lww_register)
        (<CLwwRegister*>self.p.get()).set_now(_string_of(value), node)

    def reg_state(self):
        """(value bytes, timestamp, node, has_value)."""
        self._need(CTypeTag.lww_register)
        cdef CLwwRegister* r = <CLwwRegister*>self.p.get()
        return (_bytes_of(r.value()), r.timestamp(), _str_of(r.node()), r.has_value())

    def flag_enable(self):
        self._need(CTypeTag.flag)
        (<CFlag*>self.p.get()).enable()

    def flag_enabled(self):
        self._need(CTypeTag.flag)
        return (<CFlag*>self.p.get()).enabled()

    # -- ORMap, LWWMap, PNCounterMap (common) ---------------------------------

    def map_value_tag(self):
        return <int>self._map().value_type()

    def map_put(self, str node, key, NativeData value not None):
        """Stores a copy of `value` under `key`. ValueError on a wrong value type."""
        self._map().put(node, _string_of(key), deref(value.p.get()))

    def map_get(self, key):
        """A copy of the key's value, or None."""
        cdef unique_ptr[CReplicatedData] q = self._map().get(_string_of(key))
        if not q:
            return None
        return NativeData._wrap(q)

    def map_remove(self, key):
        return self._map().remove(_string_of(key))

    def map_clear(self):
        self._map().clear()

    def map_contains(self, key):
        return self._map().contains(_string_of(key))

    def map_size(self):
        return self._map().size()

    def map_keys(self):
        return _bytes_list(self._map().keys())

    def lwwm_put(self, str node, key, value, timestamp, str writer):
        self._need(CTypeTag.lww_map)
        return (<CLwwMap*>self.p.get()).put(node, _string_of(key), _string_of(value),
                                            _timestamp_of(timestamp), writer)

    def lwwm_put_now(self, str node, key, value, str writer):
        self._need(CTypeTag.lww_map)
        (<CLwwMap*>self.p.get()).put_now(node, _string_of(key), _string_of(value), writer)

    def pnm_increment(self, str node, key, delta, str counter_node):
        self._need(CTypeTag.pncounter_map)
        (<CPNCounterMap*>self.p.get()).increment(node, _string_of(key), _delta_of(delta),
                                                 counter_node)

    def pnm_decrement(self, str node, key, delta, str counter_node):
        self._need(CTypeTag.pncounter_map)
        (<CPNCounterMap*>self.p.get()).decrement(node, _string_of(key), _delta_of(delta),
                                                 counter_node)

    # -- ORMultiMap --------------------------------------------------------------

    def mm_add(self, str node, key, element):
        self._need(CTypeTag.ormultimap)
        (<COrMultiMap*>self.p.get()).add(node, _string_of(key), _string_of(element))

    def mm_remove(self, key, element):
        self._need(CTypeTag.ormultimap)
        return (<COrMultiMap*>self.p.get()).remove(_string_of(key), _string_of(element))

    def mm_remove_key(self, key):
        self._need(CTypeTag.ormultimap)
        return (<COrMultiMap*>self.p.get()).remove_key(_string_of(key))

    def mm_contains(self, key, element):
        self._need(CTypeTag.ormultimap)
        return (<COrMultiMap*>self.p.get()).contains(_string_of(key), _string_of(element))

    def mm_contains_key(self, key):
        self._need(CTypeTag.ormultimap)
        return (<COrMultiMap*>self.p.get()).contains_key(_string_of(key))

    def mm_get(self, key):
        self._need(CTypeTag.ormultimap)
        return _bytes_list((<COrMultiMap*>self.p.get()).get(_string_of(key)))

    def mm_keys(self):
        self._need(CTypeTag.ormultimap)
        return _bytes_list((<COrMultiMap*>self.p.get()).keys())

    def mm_key_count(self):
        self._need(CTypeTag.ormultimap)
        return (<COrMultiMap*>self.p.get()).key_count()


def ddata_new(int tag, int value_tag=0):
    """A new empty state of `tag` (an ORMap also needs `value_tag`).

    Raises:
        ValueError: an unknown tag, or a value type an ORMap cannot hold.
    """
    cdef unique_ptr[CReplicatedData] q
    if not 0 < tag <= max_type_tag:
        raise ValueError(f"unknown replicated data type tag {tag}")
    if <CTypeTag>tag == CTypeTag.ormap:
        if not 0 < value_tag <= max_type_tag or not ormap_is_value_type(<CTypeTag>value_tag):
            raise ValueError(f"an ORMap cannot hold values of type tag {value_tag}")
        q.reset(<CReplicatedData*>new COrMap(<CTypeTag>value_tag))
    else:
        q = make_empty(<CTypeTag>tag)
    return NativeData._wrap(q)


def ddata_from_bytes(blob):
    """Decodes a blob made by ``NativeData.to_bytes``.

    Every set element and map key must be a canonical element encoding (as
    ``atomr.ddata`` writes them), so equal values never decode as distinct
    elements.

    Raises:
        MalformedDataError: the blob is malformed, or an element or key is
            not a canonical encoding (never a crash).
        TypeError: `blob` is not bytes-like.
    """
    cdef string s = _string_of(blob)
    cdef unique_ptr[CReplicatedData] q = c_from_bytes(s.data(), s.size(),
                                                      CElementCheck.canonical)
    return NativeData._wrap(q)


def ddata_peek_type(blob):
    """The type tag in a blob's header (MalformedDataError when malformed)."""
    cdef string s = _string_of(blob)
    return <int>c_peek_type(s.data(), s.size())


def ddata_now_micros():
    """Microseconds since the Unix epoch, the LWW clock."""
    return lww_now_micros()


def ddata_type_name(int tag):
    if not (0 <= tag < 256 and is_type_tag(<unsigned char>tag)):
        raise ValueError(f"unknown replicated data type tag {tag}")
    return c_type_name(<CTypeTag>tag)


cdef class NativeLmdbStore:
    """An LMDB key -> bytes store in one file; every write is a synced
    commit. Thread-safe; each call releases the GIL while it works.

    Invariant: after ``close()`` every call raises DurableStoreError.
    """

    def __cinit__(self, str path, size_t map_size=64 * 1024 * 1024):
        cdef string p = path.encode("utf-8", "surrogateescape")
        with nogil:
            self.s = new CLmdbStore(p, map_size)

    def __dealloc__(self):
        if self.s != NULL:
            with nogil:
                del self.s
            self.s = NULL

    @property
    def path(self):
        return _str_of(self.s.path())

    def put(self, bytes key, value):
        cdef string k = _string_of(key)
        cdef string v = _string_of(value)
        with nogil:
            self.s.put(k, v)

    def get(self, bytes key):
        cdef string k = _string_of(key)
        cdef string out
        cdef bint found
        with nogil:
            found = self.s.get_into(k, out)
        return _bytes_of(out) if found else None

    def erase(self, bytes key):
        cdef string k = _string_of(key)
        cdef bint removed
        with nogil:
            removed = self.s.erase(k)
        return removed

    def keys(self):
        cdef vector[string] ks
        with nogil:
            ks = self.s.keys()
        return _bytes_list(ks)

    def entries(self):
        cdef vector[pair[string, string]] es
        with nogil:
            es = self.s.entries()
        cdef list out = []
        cdef size_t i
        for i in range(es.size()):
            out.append((_bytes_of(es[i].first), _bytes_of(es[i].second)))
        return out

    def close(self):
        with nogil:
            self.s.close()

    @property
    def is_open(self):
        return self.s.is_open()
