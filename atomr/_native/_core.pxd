# Declarations of atomr's one native module, atomr._native._core, laid out
# as uvloop lays out its loop: _core.pyx includes one .pyx per part and this
# file includes the matching .pxd, which declares that part's cdef classes
# (and its private C constants). The C++ types come from the extern-only
# declarations in includes/.

# First: the extern declarations cimported below name its exception handler.
include "errors.pxd"

cimport cython
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libcpp.memory cimport shared_ptr, unique_ptr

from atomr._native.includes.core cimport (
    CCell, CDeadLetterSink, CDecider, CDirective, CEnqueueResult, CEnvelope, CIdleMode,
    CIdlePolicy, CPinnedDispatcher, CRestartBudget, CRouter, CTimerService,
)
from atomr._native.includes.ddata cimport COrMap, CReplicatedData, CTypeTag, CLmdbStore
from atomr._native.includes.persistence cimport CCompletionPort, CJournal, CSnapshotStore
from atomr._native.includes.remote cimport CInboundQueue, CTcpTransport
from atomr._native.includes.sim_network cimport CSimNetwork, CSimTransport
from atomr._native.includes.cluster cimport CGossip, CMember, CVectorClock
from atomr._native.includes.cluster_daemon cimport CDaemonHost, CPolledLeaseState, CSimBus
from atomr._native.includes.stream_link cimport CStreamDecoder
from atomr._native.includes.streams cimport CInterpreter, CKillSwitch, CPyStream
from atomr._native.includes.remote cimport CRemoteEnvelope
from libcpp.string cimport string


# System message kinds (envelope.kind), defined by the C++ core.
from atomr._native.includes.system_message cimport (
    K_CHILD_TERMINATED, K_CREATE, K_DEATH_NOTICE, K_FAILED, K_RESTART, K_RESUME, K_TERMINATE,
    K_TIMER, K_UNWATCH, K_USER, K_WATCH,
)


include "reply.pxd"
include "dispatch.pxd"
include "host.pxd"
include "context.pxd"
include "ref.pxd"
include "supervision.pxd"
include "timers.pxd"
include "router.pxd"
include "trace.pxd"
include "cell.pxd"
include "system.pxd"
include "persistence.pxd"
include "ddata.pxd"
include "remote.pxd"
include "remote_fast.pxd"
include "sim_network.pxd"
include "stream_link.pxd"
include "cluster.pxd"
include "cluster_daemon.pxd"
include "streams.pxd"
