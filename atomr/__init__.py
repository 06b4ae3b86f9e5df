"""atomr: Akka-style actors for Python on a C++ core.

``import atomr`` loads the actor layer only; the subsystems (persistence,
distributed data, remoting, the test kit, routing, patterns, ...) are imported on
first use of their attribute (``atomr.persistence``) or by an explicit
``import atomr.persistence`` / ``from atomr import persistence``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from atomr import codecs, errors, supervision
from atomr import event_stream, system  # noqa: F401  (atomr.system etc. stay attributes)
from atomr._native import __version__ as _native_version
from atomr.actor import (
    Actor,
    ActorRef,
    ActorSystem,
    Cancelable,
    Context,
    DeferredReply,
    Directive,
    EventStream,
    Failure,
    Props,
    ReceiveTimeout,
    SupervisorStrategy,
    Terminated,
    props,
)
from atomr.compat import compat_flags, compat_list, declare_compat
from atomr.config import Config
from atomr.interpreter import InterpreterQuota, nogil_supported, subinterpreters_supported
from atomr.errors import (
    ActorNameTakenError,
    ActorSystemError,
    ActorSystemTerminatedError,
    ActorTerminatedError,
    AskError,
    AskTimeoutError,
    AtomrError,
    CallTimeoutError,
    CircuitBreakerOpen,
    DataDeletedError,
    DurableStoreError,
    EventRejectedError,
    InterpreterCompatError,
    InterpreterOverloaded,
    InvalidActorNameError,
    JournalError,
    MailboxOverflowError,
    MalformedDataError,
    MessageDroppedError,
    ReplicationTimeoutError,
    SpawnError,
    UnroutableMessageError,
    UpdateFailedError,
    RemoteError,
    RemoteTransportError,
    InvalidRemoteAddressError,
    FrameTooLargeError,
    MalformedFrameError,
    RemoteAddressTerminatedError,
    ClusterError,
    MalformedGossipError,
    InvalidMemberTransitionError,
    LeaseError,
    LeaseTimeoutError,
    DiscoveryError,
    DependencyError,
    StreamError,
    BufferOverflowError,
    RateExceededError,
    EmptyStreamError,
    StreamAbortedError,
    StreamTimeoutError,
    FramingError,
    StreamIOError,
    InvalidGraphError,
)

if TYPE_CHECKING:  # pragma: no cover - what the lazy attributes are, for type checkers
    from atomr import (  # noqa: F401
        cluster, cluster_sharding, cluster_tools, core, ddata, ddata_lmdb, fsm, pattern, persistence,
        remote, remote_serial,
        routing, streams, testkit,
    )
    from atomr import coordination, di, discovery, telemetry  # noqa: F401
    from atomr import cluster_metrics  # noqa: F401

#: Submodules imported on first attribute access (PEP 562).
_LAZY_SUBMODULES = frozenset({
    "cluster", "cluster_sharding", "cluster_tools", "core", "ddata", "ddata_lmdb", "fsm", "pattern",
    "persistence", "remote",
    "remote_serial", "routing", "streams", "testkit", "coordination", "di", "discovery",
    "hosting", "telemetry", "cluster_metrics"})


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        # Importing a submodule also binds it as an attribute of this
        # package, so this runs once per name.
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY_SUBMODULES)

#: The package version (reported by the native extension).
__version__ = _native_version

__all__ = [
    "Actor",
    "ActorRef",
    "Cancelable",
    "EventStream",
    "ReceiveTimeout",
    "SupervisorStrategy",
    "ActorSystem",
    "Config",
    "Context",
    "DeferredReply",
    "Directive",
    "Failure",
    "Props",
    "Terminated",
    "props",
    "errors",
    "codecs",
    "core",
    "pattern",
    "persistence",
    "routing",
    "supervision",
    "testkit",
    "ddata",
    "ddata_lmdb",
    "remote",
    "remote_serial",
    "cluster",
    "cluster_tools",
    "cluster_sharding",
    "coordination",
    "di",
    "discovery",
    "hosting",
    "telemetry",
    "streams",
    "AtomrError",
    "ActorSystemError",
    "ActorSystemTerminatedError",
    "SpawnError",
    "InvalidActorNameError",
    "ActorNameTakenError",
    "AskError",
    "AskTimeoutError",
    "ActorTerminatedError",
    "InterpreterOverloaded",
    "InterpreterQuota",
    "subinterpreters_supported",
    "nogil_supported",
    "declare_compat",
    "compat_flags",
    "compat_list",
    "InterpreterCompatError",
    "CircuitBreakerOpen",
    "CallTimeoutError",
    "MailboxOverflowError",
    "MessageDroppedError",
    "UnroutableMessageError",
    "JournalError",
    "EventRejectedError",
    "MalformedDataError",
    "DurableStoreError",
    "DataDeletedError",
    "ReplicationTimeoutError",
    "UpdateFailedError",
    "RemoteError",
    "RemoteTransportError",
    "InvalidRemoteAddressError",
    "FrameTooLargeError",
    "MalformedFrameError",
    "RemoteAddressTerminatedError",
    "ClusterError",
    "MalformedGossipError",
    "InvalidMemberTransitionError",
    "LeaseError",
    "LeaseTimeoutError",
    "DiscoveryError",
    "DependencyError",
    "StreamError",
    "BufferOverflowError",
    "RateExceededError",
    "EmptyStreamError",
    "StreamAbortedError",
    "StreamTimeoutError",
    "FramingError",
    "StreamIOError",
    "InvalidGraphError",
    "__version__",
]
