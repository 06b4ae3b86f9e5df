# Declarations of system.pyx: the native core of one actor system.
# Included by _core.pxd (one extension module, atomr._native._core).


# final: no subclasses, so C methods are called directly
@cython.final
cdef class _System:
    cpdef double clock(self)
    cdef readonly str name
    cdef readonly str address
    cdef _Dispatcher disp
    cdef CDeadLetterSink* sink
    cdef void* interp               # the PyInterpreterState it was made in
    cdef _Cell guardian
    cdef _Cell sys_guardian         # /system: stopped after the user guardian
    cdef readonly bint terminating
    cdef readonly bint terminated
    cdef readonly object termination
    cdef object owner_ref
    cdef object props_class
    cdef public object on_terminated
    cdef public list dead_letter_listeners
    cdef readonly Py_ssize_t live_cells
    cdef int dead_letters_logged
    cdef public object terminated_class
    cdef public object receive_timeout_msg
    cdef public object events
    cdef public bint events_active
    cdef public object on_actor_stopped  # callable(path) or None (remote death watch)
    cdef public object tracer       # atomr.telemetry.tracing's hooks, or None
    cdef _TimerService virtual_timers
    cdef _TimerService real_timers
    cdef dict timers                # key -> Cancelable targeting this system's cells
    cdef uint64_t timer_keys
    cdef readonly uint64_t failures
    cdef object __weakref__
    cdef int dead_letters_to_log
    cdef SupervisorStrategy default_strategy
    cdef dict pools                 # interpreter_role label -> _PoolStats
    cdef _PoolStats pool_for(self, object props)
    cdef double terminate_timeout   # seconds a terminate may take before it forces
    cdef double stop_grace          # seconds a suspended handler may finish after a stop
    cdef object terminate_timer
    cdef public Py_ssize_t max_pool_size
    cdef dict start_failures        # path -> why the actor there failed to start
    cdef _TimerService timer_service(self)
    cdef void publish_lifecycle(self, str kind, _Cell cell, object reason)
    cdef void publish_failure(self, _Cell cell, object exc, str directive)
    cdef void _guardian_stopped(self)
    cdef list _live_cells(self)
    cdef void _start_failed(self, str path, object exc)
    cdef void _dead_letter(self, uint32_t kind, object msg, object sender, object reply,
                           str recipient, int reason)
