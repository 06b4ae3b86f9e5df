# Persistence: native journals, snapshot stores and the completion port.
# Part of atomr._native._core (included by _core.pyx; declared in persistence.pxd).
#
# Invariants:
#
# * Records cross the boundary as plain tuples
#   ``(persistence_id, sequence_nr, manifest, payload, timestamp_ms, tags)``
#   with `payload` bytes; the C++ side keeps its own copies, so no Python
#   object is ever seen by a C++ thread.
# * Every call that may touch the disk runs ``with nogil``; callers keep
#   blocking ones (``blocking`` is True) off event loops (atomr.persistence
#   runs them on I/O threads, and LMDB writes complete through a
#   _CompletionPort instead).

from atomr._native.includes.persistence cimport (
    CCompletionPort, CJournal, CLmdbOptions, COrderedRecord, CPersistenceErrc, CPersistentRecord,
    CRecordBatch, CSnapshotCriteria, CSnapshotRecord, CSnapshotStore, CWriteOutcome,
    events_by_tag_ordered_to_vector, events_by_tag_to_vector,
    lmdb_map_size as _lmdb_map_size, make_in_memory_journal, make_in_memory_snapshot_store,
    make_lmdb_journal, make_lmdb_snapshot_store, replay_to_vector, submit_write,
)

_declare_native_codes("persistence", <int>CComponent.persistence, {
    "generic": <int>CPersistenceErrc.generic,
})


cdef vector[CRecordBatch] _to_batches(list batches) except *:
    """Copies Python record tuples into C++ batches (under the GIL)."""
    cdef vector[CRecordBatch] out
    cdef CRecordBatch batch
    cdef CPersistentRecord rec
    cdef bytes payload
    out.reserve(len(batches))
    for py_batch in batches:
        batch.clear()
        for pid, seq, manifest, payload, ts, tags in py_batch:
            rec.persistence_id = <str>pid
            rec.sequence_nr = seq
            rec.manifest = <str>manifest
            rec.payload = _string_of(payload)
            rec.timestamp_ms = ts
            rec.tags.clear()
            for tag in tags:
                rec.tags.push_back(<str>tag)
            batch.push_back(rec)
        out.push_back(batch)
    return out


cdef tuple _record_tuple(const CPersistentRecord& r):
    cdef size_t i
    tags = tuple([r.tags[i] for i in range(r.tags.size())])
    return (r.persistence_id, r.sequence_nr,
            r.manifest, _bytes_of(r.payload), r.timestamp_ms,
            tags)


cdef list _record_tuples(vector[CPersistentRecord]& records):
    cdef size_t i
    return [_record_tuple(records[i]) for i in range(records.size())]


cdef list _rejections(vector[string]& reasons):
    cdef size_t i
    return [None if reasons[i].empty() else reasons[i]
            for i in range(reasons.size())]


cdef class _CompletionPort:
    """Carries journal write outcomes from C++ threads to one event loop.

    The loop watches :attr:`fd`; when it is readable, :meth:`drain` (on the
    loop's thread) returns ``(ticket, rejections, failed, error)`` tuples.
    """

    def __cinit__(self):
        self.port.reset(new CCompletionPort())

    @property
    def fd(self):
        """The eventfd that becomes readable when outcomes are queued."""
        return self.port.get().fd()

    def drain(self):
        """Every queued outcome, oldest first."""
        cdef vector[pair[uint64_t, CWriteOutcome]] done
        cdef size_t i
        done = self.port.get().drain()
        out = []
        for i in range(done.size()):
            out.append((done[i].first, _rejections(done[i].second.rejections),
                        done[i].second.failed, done[i].second.error))
        return out


cdef class _NativeJournal:
    """A C++ journal (in-memory or LMDB). Built by :meth:`in_memory` and
    :meth:`lmdb`; every method is safe to call from any thread."""

    def __init__(self, *args, **kwargs):
        raise TypeError("use _NativeJournal.in_memory() or _NativeJournal.lmdb(...)")

    @staticmethod
    cdef _NativeJournal new(shared_ptr[CJournal] j, str kind):
        cdef _NativeJournal self = _NativeJournal.__new__(_NativeJournal)
        self.j = j
        self.kind = kind
        self.blocking = j.get().blocking()
        return self

    @staticmethod
    def in_memory():
        """A journal in this process's memory."""
        return _NativeJournal.new(make_in_memory_journal(), "inmemory")

    @staticmethod
    def lmdb(str path, size_t map_size, size_t max_map_size, bint sync):
        """A journal in the LMDB environment at `path` (a directory).

        Raises:
            JournalError: the environment cannot be opened.
        """
        cdef CLmdbOptions options
        cdef shared_ptr[CJournal] j
        options.path = path
        options.map_size = map_size
        options.max_map_size = max_map_size
        options.sync = sync
        with nogil:
            j = make_lmdb_journal(options)
        return _NativeJournal.new(j, "lmdb")

    def write(self, list batches):
        """Writes each batch of record tuples atomically and blocks until
        durable. Returns one rejection reason (or None) per batch.

        Raises:
            JournalError: the storage failed; nothing was written.
        """
        cdef vector[CRecordBatch] cb = _to_batches(batches)
        cdef vector[string] reasons
        with nogil:
            reasons = self.j.get().write(move(cb))
        return _rejections(reasons)

    def submit(self, list batches, _CompletionPort port, uint64_t ticket):
        """Starts writing; the outcome is posted to `port` under `ticket`."""
        cdef vector[CRecordBatch] cb = _to_batches(batches)
        with nogil:
            submit_write(self.j.get()[0], move(cb), port.port, ticket)

    def replay(self, str pid, uint64_t from_seq, uint64_t to_seq, uint64_t max_count):
        """Record tuples of `pid` numbered `from_seq..to_seq`, at most `max_count`."""
        cdef string id_ = pid
        cdef vector[CPersistentRecord] records
        with nogil:
            records = replay_to_vector(self.j.get()[0], id_, from_seq, to_seq, max_count)
        return _record_tuples(records)

    def highest_sequence_nr(self, str pid):
        """The highest number ever written for `pid` (0 when none)."""
        cdef string id_ = pid
        cdef uint64_t n
        with nogil:
            n = self.j.get().highest_sequence_nr(id_)
        return n

    def delete_to(self, str pid, uint64_t to_seq):
        """Deletes the records of `pid` numbered up to `to_seq`."""
        cdef string id_ = pid
        with nogil:
            self.j.get().delete_to(id_, to_seq)

    def persistence_ids(self):
        """Every persistence id ever written."""
        cdef vector[string] ids
        with nogil:
            ids = self.j.get().persistence_ids()
        return [i for i in ids]

    def events_by_tag(self, str tag, uint64_t from_seq, uint64_t max_count):
        """Record tuples carrying `tag` numbered at least `from_seq`."""
        cdef string tag_ = tag
        cdef vector[CPersistentRecord] records
        with nogil:
            records = events_by_tag_to_vector(self.j.get()[0], tag_, from_seq, max_count)
        return _record_tuples(records)

    def events_by_tag_ordered(self, str tag, uint64_t after, uint64_t max_count):
        """``(ordering, record tuple)`` of the events carrying `tag` whose
        ordering is above `after`, in that order, at most `max_count` (read
        from the tag index)."""
        cdef string tag_ = tag
        cdef vector[COrderedRecord] records
        cdef size_t i
        with nogil:
            records = events_by_tag_ordered_to_vector(self.j.get()[0], tag_, after, max_count)
        return [(records[i].ordering, _record_tuple(records[i].record))
                for i in range(records.size())]

    def highest_ordering(self):
        """The ordering of the last tagged event written (0 when none)."""
        cdef uint64_t n
        with nogil:
            n = self.j.get().highest_ordering()
        return n


cdef class _NativeSnapshotStore:
    """A C++ snapshot store (in-memory or LMDB). Built by :meth:`in_memory`
    and :meth:`lmdb`; every method is safe to call from any thread."""

    def __init__(self, *args, **kwargs):
        raise TypeError("use _NativeSnapshotStore.in_memory() or _NativeSnapshotStore.lmdb(...)")

    @staticmethod
    cdef _NativeSnapshotStore new(shared_ptr[CSnapshotStore] s, str kind):
        cdef _NativeSnapshotStore self = _NativeSnapshotStore.__new__(_NativeSnapshotStore)
        self.s = s
        self.kind = kind
        self.blocking = s.get().blocking()
        return self

    @staticmethod
    def in_memory():
        """A snapshot store in this process's memory."""
        return _NativeSnapshotStore.new(make_in_memory_snapshot_store(), "inmemory")

    @staticmethod
    def lmdb(str path, size_t map_size, size_t max_map_size, bint sync):
        """A snapshot store in the LMDB environment at `path`."""
        cdef CLmdbOptions options
        cdef shared_ptr[CSnapshotStore] s
        options.path = path
        options.map_size = map_size
        options.max_map_size = max_map_size
        options.sync = sync
        with nogil:
            s = make_lmdb_snapshot_store(options)
        return _NativeSnapshotStore.new(s, "lmdb")

    def save(self, str pid, uint64_t seq, int64_t timestamp_ms, str manifest, bytes payload):
        """Stores a snapshot, replacing one of the same `pid` and `seq`."""
        cdef CSnapshotRecord rec
        rec.persistence_id = pid
        rec.sequence_nr = seq
        rec.timestamp_ms = timestamp_ms
        rec.manifest = manifest
        rec.payload = _string_of(payload)
        with nogil:
            self.s.get().save(rec)

    def load(self, str pid, uint64_t max_seq, int64_t max_ts, uint64_t min_seq, int64_t min_ts):
        """The newest matching snapshot as ``(pid, seq, timestamp_ms,
        manifest, payload)``, or None."""
        cdef string id_ = pid
        cdef CSnapshotCriteria c = _criteria(max_seq, max_ts, min_seq, min_ts)
        cdef CSnapshotRecord out
        cdef bint hit
        with nogil:
            hit = self.s.get().load(id_, c, out)
        if not hit:
            return None
        return (out.persistence_id, out.sequence_nr,
                out.timestamp_ms, out.manifest,
                _bytes_of(out.payload))

    def remove(self, str pid, uint64_t seq):
        """Deletes the snapshot of `pid` numbered `seq` (no-op when absent)."""
        cdef string id_ = pid
        with nogil:
            self.s.get().remove(id_, seq)

    def remove_matching(self, str pid, uint64_t max_seq, int64_t max_ts, uint64_t min_seq,
                        int64_t min_ts):
        """Deletes every snapshot of `pid` within the bounds."""
        cdef string id_ = pid
        cdef CSnapshotCriteria c = _criteria(max_seq, max_ts, min_seq, min_ts)
        with nogil:
            self.s.get().remove_matching(id_, c)


cdef CSnapshotCriteria _criteria(uint64_t max_seq, int64_t max_ts, uint64_t min_seq,
                                 int64_t min_ts):
    cdef CSnapshotCriteria c
    c.max_sequence_nr = max_seq
    c.max_timestamp_ms = max_ts
    c.min_sequence_nr = min_seq
    c.min_timestamp_ms = min_ts
    return c


def lmdb_map_size(str path):
    """The map size of the LMDB environment at `path` this process has open
    (0 when it has none open)."""
    return _lmdb_map_size(path)
