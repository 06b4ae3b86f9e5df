# Declarations of cluster.pyx: the cluster's membership data types.
# Included by _core.pxd (one extension module, atomr._native._core).


cdef class Member:
    cdef CMember m
    @staticmethod
    cdef Member wrap(const CMember& m)


cdef class MembershipState:
    cdef CGossip g


cdef class VectorClock:
    cdef CVectorClock c
