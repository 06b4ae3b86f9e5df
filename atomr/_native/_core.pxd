# Declarations of atomr's one native module, atomr._native._core, laid out
# as uvloop lays out its loop: _core.pyx includes one .pyx per part and this
# file includes the matching .pxd, which declares that part's cdef classes
# (and its private C constants). The C++ types come from the extern-only
# declarations in includes/.

cimport cython
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libcpp.memory cimport shared_ptr, unique_ptr

from atomr._native.includes.core cimport (
    CCell, CDeadLetterSink, CDecider, CDirective, CEnqueueResult, CEnvelope, CPinnedDispatcher,
    CRestartBudget, CRouter, CTimerService,
)
from atomr._native.includes.ddata cimport COrMap, CReplicatedData, CTypeTag, CLmdbStore
from atomr._native.includes.persistence cimport CCompletionPort, CJournal, CSnapshotStore


# System message kinds (envelope.kind; 0 is user mail).
cdef enum:
    K_CREATE = 1
    K_TERMINATE = 2
    K_CHILD_TERMINATED = 3
    K_FAILED = 4
    K_RESUME = 5
    K_RESTART = 6
    K_WATCH = 7
    K_UNWATCH = 8
    K_DEATH_NOTICE = 9
    K_TIMER = 10          # user-queue envelope whose tag names a timer


include "reply.pxd"
include "dispatch.pxd"
include "context.pxd"
include "ref.pxd"
include "supervision.pxd"
include "timers.pxd"
include "router.pxd"
include "cell.pxd"
include "system.pxd"
include "persistence.pxd"
include "ddata.pxd"
