# Declarations of supervision.pyx: strategies over the native decider table.
# Included by _core.pxd (one extension module, atomr._native._core).


cdef class SupervisorStrategy:
    cdef CDecider decider
    cdef str _kind
    cdef object _max_retries
    cdef object _within
    cdef list _rules
    cdef dict _decided
    @staticmethod
    cdef SupervisorStrategy _build(str kind, object decider, object default, object max_retries,
                                   object within_seconds)
    cdef CDirective decide_exc(self, object exc)
    cdef CDirective decide_class(self, object cls)
    cdef CRestartBudget* new_budget(self)
