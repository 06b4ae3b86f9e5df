# Declarations of remote_fast.pyx: the hot paths of remoting over TCP.
# Included by _core.pxd (one extension module, atomr._native._core).

from atomr._native.includes.remote cimport CAnswerSlot, CInboundItem


cdef class _RemoteWire:
    cdef _RemoteTransport transport
    cdef object registry
    cdef object state
    cdef dict encoders
    cdef dict decoders
    cdef dict refs
    cdef object ctxvar
    cdef object owner
    cdef bint allow_pickle
    cdef object pickle_codec_name
    cdef string c_ask_path
    cdef dict askers
    cdef object loop
    cdef bint flush_pending
    cdef object flush_cb
    cdef _Dispatcher ready
    cdef int _check_state(self) except -1
    cdef int _send(self, const string& to, const string& recipient, object msg, bint asker,
                   bint has_correlation, uint64_t correlation, bint now=*) except -1
    cdef object _codec(self, str manifest)
    cdef bint _tell(self, CInboundItem* it, object decoder, dict refs) except -1
    cdef bint _asked(self, CInboundItem* it, object decoder, dict refs) except -1
    cdef bint _answered(self, CInboundItem* it, object decoder, dict pending) except -1
    cdef void _note_ready(self, _Cell cell)


cdef class _RemoteTarget:
    cdef _RemoteWire wire
    cdef string c_to
    cdef string c_recipient


cdef class _RemoteReply(_Reply):
    cdef _RemoteWire wire
    cdef string c_to
    cdef string c_recipient
    cdef uint64_t correlation
    cdef void complete(self, object value)
    cdef void fail(self, object exc)


cdef class _BlockingAnswer:
    cdef shared_ptr[CAnswerSlot] slot
    cdef object value
    cdef object error
    cdef bint settled
