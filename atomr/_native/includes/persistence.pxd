# Extern-only declarations mirroring cpp/include/atomr/persistence. Nothing
# here is Python-visible. Cython sees plain records and opaque journals;
# LMDB and cereal stay behind the C++ interface.

from libc.stdint cimport int64_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.memory cimport shared_ptr
from libcpp.pair cimport pair
from libcpp.string cimport string
from libcpp.vector cimport vector

# The custom exception handler of every C++ call below: the Cython layer's
# one table-driven translator (atomr/_native/errors.pyx).
from atomr._native._core cimport translate_error


cdef extern from "atomr/persistence/error.hpp" namespace "atomr::persistence" nogil:
    cdef enum class CPersistenceErrc "atomr::persistence::errc" (int):
        generic "atomr::persistence::errc::generic"


cdef extern from "atomr/persistence/journal.hpp" namespace "atomr::persistence" nogil:
    cdef uint64_t max_sequence_nr

    cdef cppclass CPersistentRecord "atomr::persistence::persistent_record":
        CPersistentRecord()
        string persistence_id
        uint64_t sequence_nr
        string manifest
        string payload
        int64_t timestamp_ms
        vector[string] tags

    ctypedef vector[CPersistentRecord] CRecordBatch "atomr::persistence::record_batch"

    cdef cppclass COrderedRecord "atomr::persistence::ordered_record":
        uint64_t ordering
        CPersistentRecord record

    cdef cppclass CWriteOutcome "atomr::persistence::write_outcome":
        vector[string] rejections
        cbool failed
        string error

    cdef cppclass CJournal "atomr::persistence::journal":
        vector[string] write(vector[CRecordBatch] batches) except +translate_error
        uint64_t highest_sequence_nr(const string& id) except +translate_error
        void delete_to(const string& id, uint64_t to) except +translate_error
        vector[string] persistence_ids() except +translate_error
        uint64_t highest_ordering() except +translate_error
        cbool blocking()

    cdef cppclass CSnapshotRecord "atomr::persistence::snapshot_record":
        CSnapshotRecord()
        string persistence_id
        uint64_t sequence_nr
        int64_t timestamp_ms
        string manifest
        string payload

    cdef cppclass CSnapshotCriteria "atomr::persistence::snapshot_criteria":
        CSnapshotCriteria()
        uint64_t max_sequence_nr
        int64_t max_timestamp_ms
        uint64_t min_sequence_nr
        int64_t min_timestamp_ms

    cdef cppclass CSnapshotStore "atomr::persistence::snapshot_store":
        void save(const CSnapshotRecord& snapshot) except +translate_error
        cbool load(const string& id, const CSnapshotCriteria& criteria,
                   CSnapshotRecord& out) except +translate_error
        void remove(const string& id, uint64_t sequence_nr) except +translate_error
        void remove_matching(const string& id,
                             const CSnapshotCriteria& criteria) except +translate_error
        cbool blocking()

    shared_ptr[CJournal] make_in_memory_journal() except +translate_error
    shared_ptr[CSnapshotStore] make_in_memory_snapshot_store() except +translate_error
    vector[CPersistentRecord] replay_to_vector(CJournal& j, const string& id, uint64_t from_,
                                               uint64_t to, uint64_t max_) except +translate_error
    vector[CPersistentRecord] events_by_tag_to_vector(CJournal& j, const string& tag,
                                                      uint64_t from_,
                                                      uint64_t max_) except +translate_error
    vector[COrderedRecord] events_by_tag_ordered_to_vector(
        CJournal& j, const string& tag, uint64_t after, uint64_t max_) except +translate_error
    int64_t now_ms()


cdef extern from "atomr/persistence/lmdb.hpp" namespace "atomr::persistence" nogil:
    cdef cppclass CLmdbOptions "atomr::persistence::lmdb_options":
        CLmdbOptions()
        string path
        size_t map_size
        size_t max_map_size
        cbool sync

    shared_ptr[CJournal] make_lmdb_journal(const CLmdbOptions& options) except +translate_error
    shared_ptr[CSnapshotStore] make_lmdb_snapshot_store(
        const CLmdbOptions& options) except +translate_error
    size_t lmdb_map_size(const string& path) except +translate_error


cdef extern from "atomr/persistence/completion_port.hpp" namespace "atomr::persistence" nogil:
    cdef cppclass CCompletionPort "atomr::persistence::completion_port":
        CCompletionPort() except +translate_error
        int fd()
        vector[pair[uint64_t, CWriteOutcome]] drain() except +translate_error

    void submit_write(CJournal& j, vector[CRecordBatch] batches, shared_ptr[CCompletionPort] port,
                      uint64_t ticket) except +translate_error
