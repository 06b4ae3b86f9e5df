# Declarations of dispatch.pyx: the python-pinned dispatcher.
# Included by _core.pxd (one extension module, atomr._native._core).

# Messages one drain may handle before it yields to the loop.
cdef enum:
    DRAIN_BUDGET = 4096
    # A drain reads the clock once per this many turns and messages, so
    # its time bound costs next to nothing on fast handlers.
    DEADLINE_CHECK_EVERY = 16


@cython.final
cdef class _PoolStats:
    cdef readonly str label
    cdef readonly object kind         # the dispatcher name; None until an actor uses it
    cdef readonly uint64_t messages_handled
    cdef readonly uint64_t busy_ns
    cdef readonly uint64_t handler_panics
    cdef readonly uint64_t long_handlers
    cdef public uint64_t long_handler_ns  # InterpreterQuota.max_handler_ms (0: not counted)


# final: no subclasses, so C methods are called directly
@cython.final
cdef class _Dispatcher:
    cdef CPinnedDispatcher* d
    cdef object loop
    cdef unsigned long thread_id
    cdef bint draining
    cdef bint soon_pending
    cdef bint reader_added
    cdef object drain_soon_cb
    cdef object host                  # the spare _Host (host.pyx), or None
    cdef bint hosting                 # the running drain has `host` installed
    cdef object host_prev             # the task current before it was installed
    cdef readonly uint64_t messages_handled
    cdef readonly uint64_t busy_ns
    # the time bound of one drain (seconds; 0: none) and the running drain's
    cdef double drain_deadline
    cdef double drain_end
    cdef int clock_countdown
    cdef double last_check
    cdef bint overdue
    # idle strategy: of the loop thread (its selector calls before_sleep
    # while `idle_selector` is set) and of the threads in ask_blocking
    cdef CIdlePolicy loop_idle
    cdef CIdlePolicy ask_idle
    cdef object idle_selector
    cdef unsigned cpus
    @staticmethod
    cdef _Dispatcher new(object loop, uint32_t throughput, double drain_deadline)
    cdef void detach(self)
    cdef void configure_idle(self, CIdleMode mode, int64_t spin_ns, unsigned cpus)
    cdef void kick(self)
    cdef void schedule_soon(self)
    cdef bint on_loop_thread(self)
    cdef void drain(self)
    cdef void drain_until(self, double limit, _Reply awaited)
    cdef bint past_deadline(self) noexcept
