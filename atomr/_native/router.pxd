# Declarations of router.pyx: a router head's state and its per-ask helpers.
# Included by _core.pxd (one extension module, atomr._native._core).

# How a router head treats a message beyond the native pick.
cdef enum:
    RK_PLAIN = 0            # route natively, nothing else
    RK_NEEDS_KEY = 1        # consistent hashing: a key is required
    RK_WINDOWED = 2         # scatter-gather: asks get a `within` window
    RK_TAIL_CHOP = 3        # tail-chopping: asks are chopped, with a window
    RK_FAN_OUT = 4          # broadcast: nothing delivered is not a dead letter

# What a message class the router config names is for (its message_roles).
cdef enum:
    MR_BROADCAST = 1        # every routee gets the wrapped message
    MR_MANAGE = 2           # meant for the router's own actor


cdef class _TailChop:
    cdef list order
    cdef object msg
    cdef _Reply reply
    cdef double interval
    cdef Py_ssize_t next
    cdef _Cell head
    cdef void _arm(self)


cdef class _WithinExpiry:
    cdef _Reply reply
    cdef str path
    cdef double within


# final: no subclasses, so C methods are called directly
@cython.final
cdef class _RouterState:
    cdef CRouter* native
    cdef object cfg
    cdef list routees
    cdef dict roles                # message class -> MR_*, or None
    cdef int kind                  # RK_*
    cdef double within             # an ask's reply window (0: none)
    cdef double unkeyed_warned_at  # when a keyless tell was last logged (0: never)
    cdef uint64_t unkeyed_dropped  # keyless tells dropped since that warning
    @staticmethod
    cdef _RouterState new(object cfg)
