"""atomr: Akka-style actors for Python on a C++ core."""

from __future__ import annotations

from atomr import codecs, core, errors, pattern, routing, supervision
from atomr import event_stream, system  # noqa: F401  (atomr.system etc. stay attributes)
from atomr._native import __version__ as _native_version
from atomr.actor import (
    Actor,
    ActorRef,
    ActorSystem,
    Cancelable,
    Context,
    Directive,
    EventStream,
    Props,
    ReceiveTimeout,
    SupervisorStrategy,
    Terminated,
    props,
)
from atomr.config import Config
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
    UpdateFailedError,
)

from atomr import persistence  # noqa: E402
from atomr import testkit  # noqa: E402
from atomr import ddata  # noqa: E402
from atomr import ddata_lmdb  # noqa: E402

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
    "Directive",
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
    "InterpreterCompatError",
    "CircuitBreakerOpen",
    "CallTimeoutError",
    "MailboxOverflowError",
    "MessageDroppedError",
    "JournalError",
    "EventRejectedError",
    "MalformedDataError",
    "DurableStoreError",
    "DataDeletedError",
    "ReplicationTimeoutError",
    "UpdateFailedError",
    "__version__",
]
