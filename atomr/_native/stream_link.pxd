# Declarations of stream_link.pyx: the remote wire format over a byte stream.
# Included by _core.pxd (one extension module, atomr._native._core).


cdef class _StreamDecoder:
    cdef unique_ptr[CStreamDecoder] d
    # The str of the last recipient and manifest decoded, and their bytes.
    cdef object _last_recipient
    cdef string _last_recipient_bytes
    cdef object _last_manifest
    cdef string _last_manifest_bytes
    cdef CStreamDecoder* _live(self) except NULL


cdef class _EnvelopeEncoder:
    cdef string prefix
    cdef CRemoteEnvelope env
    cdef size_t max_frame_size
