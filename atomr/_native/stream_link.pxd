# Declarations of stream_link.pyx: the remote wire format over a byte stream.
# Included by _core.pxd (one extension module, atomr._native._core).


cdef class _StreamDecoder:
    cdef unique_ptr[CStreamDecoder] d
    cdef CStreamDecoder* _live(self) except NULL
