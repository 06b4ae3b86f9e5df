# Declarations of trace.pyx: a message with its sender's trace context.
# Included by _core.pxd (one extension module, atomr._native._core).


@cython.final
cdef class _Traced:
    cdef readonly object message
    cdef readonly object context    # the sending side's, from system.tracer.capture()
