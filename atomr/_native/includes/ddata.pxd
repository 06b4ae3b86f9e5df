# Extern-only declarations mirroring cpp/include/atomr/ddata. Nothing here
# is Python-visible.

from libc.stdint cimport int64_t, uint8_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.map cimport map as cmap
from libcpp.memory cimport unique_ptr
from libcpp.pair cimport pair
from libcpp.set cimport set as cset
from libcpp.string cimport string
from libcpp.vector cimport vector


# The custom exception handler of every C++ call below: the Cython layer's
# one table-driven translator (atomr/_native/errors.pyx).
from atomr._native._core cimport translate_error


cdef extern from "atomr/ddata/error.hpp" namespace "atomr::ddata" nogil:
    cdef enum class CDdataErrc "atomr::ddata::errc" (int):
        generic "atomr::ddata::errc::generic"
        malformed_data "atomr::ddata::errc::malformed_data"
        type_mismatch "atomr::ddata::errc::type_mismatch"


cdef extern from "atomr/ddata/fwd.hpp" namespace "atomr::ddata" nogil:
    cdef enum class CTypeTag "atomr::ddata::type_tag" (uint8_t):
        gcounter "atomr::ddata::type_tag::gcounter"
        pncounter "atomr::ddata::type_tag::pncounter"
        gset "atomr::ddata::type_tag::gset"
        orset "atomr::ddata::type_tag::orset"
        lww_register "atomr::ddata::type_tag::lww_register"
        flag "atomr::ddata::type_tag::flag"
        ormap "atomr::ddata::type_tag::ormap"
        lww_map "atomr::ddata::type_tag::lww_map"
        pncounter_map "atomr::ddata::type_tag::pncounter_map"
        ormultimap "atomr::ddata::type_tag::ormultimap"
        deleted "atomr::ddata::type_tag::deleted"

    uint8_t max_type_tag "atomr::ddata::max_type_tag"


cdef extern from "atomr/ddata/replicated_data.hpp" namespace "atomr::ddata" nogil:
    cdef cppclass CReplicatedData "atomr::ddata::replicated_data":
        CTypeTag tag()
        unique_ptr[CReplicatedData] clone() except +translate_error
        unique_ptr[CReplicatedData] empty() except +translate_error
        void merge(const CReplicatedData& other) except +translate_error
        unique_ptr[CReplicatedData] delta() except +translate_error
        void reset_delta()
        void merge_delta(const CReplicatedData& d) except +translate_error
        cbool equals(const CReplicatedData& other) except +translate_error
        cbool needs_pruning_from(const string& removed) except +translate_error
        void prune(const string& removed, const string& collapse_into) except +translate_error
        void prune_cleanup(const string& removed) except +translate_error

    const char* type_name(CTypeTag tag)
    cbool is_type_tag(uint8_t raw)
    unique_ptr[CReplicatedData] make_empty(CTypeTag tag) except +translate_error


cdef extern from "atomr/ddata/counters.hpp" namespace "atomr::ddata" nogil:
    cdef cppclass CGCounter "atomr::ddata::gcounter"(CReplicatedData):
        void increment(const string& node, uint64_t delta) except +translate_error
        uint64_t count_of(const string& node)
        cmap[string, uint64_t] entries()

    cdef cppclass CPNCounter "atomr::ddata::pncounter"(CReplicatedData):
        void increment(const string& node, uint64_t delta) except +translate_error
        void decrement(const string& node, uint64_t delta) except +translate_error
        const CGCounter& increments()
        const CGCounter& decrements()


cdef extern from "atomr/ddata/sets.hpp" namespace "atomr::ddata" nogil:
    cdef cppclass CGSet "atomr::ddata::gset"(CReplicatedData):
        cbool add(const string& element) except +translate_error
        cbool contains(const string& element)
        size_t size()
        cset[string] elements()

    cdef cppclass COrSet "atomr::ddata::orset"(CReplicatedData):
        void add(const string& node, const string& element) except +translate_error
        cbool remove(const string& element) except +translate_error
        void clear() except +translate_error
        cbool contains(const string& element)
        size_t size()
        vector[string] elements() except +translate_error


cdef extern from "atomr/ddata/registers.hpp" namespace "atomr::ddata" nogil:
    cdef cppclass CLwwRegister "atomr::ddata::lww_register"(CReplicatedData):
        cbool set(const string& value, int64_t timestamp, const string& node) except +translate_error
        void set_now(const string& value, const string& node) except +translate_error
        const string& value()
        int64_t timestamp()
        const string& node()
        cbool has_value()

    int64_t lww_now_micros "atomr::ddata::lww_register::now_micros"()

    cdef cppclass CFlag "atomr::ddata::flag"(CReplicatedData):
        void enable()
        cbool enabled()


cdef extern from "atomr/ddata/maps.hpp" namespace "atomr::ddata" nogil:
    cdef cppclass COrMap "atomr::ddata::ormap"(CReplicatedData):
        COrMap(CTypeTag value_type) except +translate_error
        CTypeTag value_type()
        void put(const string& node, const string& key, const CReplicatedData& value) except +translate_error
        cbool remove(const string& key) except +translate_error
        void clear() except +translate_error
        unique_ptr[CReplicatedData] get(const string& key) except +translate_error
        cbool contains(const string& key)
        size_t size()
        vector[string] keys() except +translate_error

    cbool ormap_is_value_type "atomr::ddata::ormap::is_value_type"(CTypeTag t)

    cdef cppclass CLwwMap "atomr::ddata::lww_map"(CReplicatedData):
        COrMap& map()
        cbool put(const string& node, const string& key, const string& value, int64_t timestamp,
                  const string& writer) except +translate_error
        void put_now(const string& node, const string& key, const string& value,
                     const string& writer) except +translate_error

    cdef cppclass CPNCounterMap "atomr::ddata::pncounter_map"(CReplicatedData):
        COrMap& map()
        void increment(const string& node, const string& key, uint64_t delta,
                       const string& counter_node) except +translate_error
        void decrement(const string& node, const string& key, uint64_t delta,
                       const string& counter_node) except +translate_error

    cdef cppclass COrMultiMap "atomr::ddata::ormultimap"(CReplicatedData):
        void add(const string& node, const string& key, const string& element) except +translate_error
        cbool remove(const string& key, const string& element) except +translate_error
        cbool remove_key(const string& key) except +translate_error
        cbool contains(const string& key, const string& element) except +translate_error
        cbool contains_key(const string& key) except +translate_error
        vector[string] get(const string& key) except +translate_error
        vector[string] keys() except +translate_error
        size_t key_count() except +translate_error


cdef extern from "atomr/ddata/wire.hpp" namespace "atomr::ddata" nogil:
    string to_bytes(const CReplicatedData& value) except +translate_error
    cdef enum class CElementCheck "atomr::ddata::element_check":
        none "atomr::ddata::element_check::none"
        canonical "atomr::ddata::element_check::canonical"
    unique_ptr[CReplicatedData] from_bytes(const char* data, size_t size,
                                           CElementCheck check) except +translate_error
    CTypeTag peek_type(const char* data, size_t size) except +translate_error
    uint64_t wire_version "atomr::ddata::wire_version"


cdef extern from "atomr/ddata/lmdb_store.hpp" namespace "atomr::ddata" nogil:
    cdef cppclass CLmdbStore "atomr::ddata::lmdb_store":
        CLmdbStore(const string& path, size_t initial_map_size) except +translate_error
        void put(const string& key, const string& value) except +translate_error
        cbool get_into(const string& key, string& out) except +translate_error
        cbool erase(const string& key) except +translate_error
        vector[string] keys() except +translate_error
        vector[pair[string, string]] entries() except +translate_error
        void close()
        cbool is_open()
        const string& path()
