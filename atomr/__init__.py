"""atomr: Akka-style actors for Python on a C++ core."""

from __future__ import annotations

from atomr import errors
from atomr import codecs, core, pattern, supervision
from atomr._native import __version__ as _native_version
from atomr._native._core import ActorRef, Cancelable, Context
from atomr._props import Props, props
from atomr.actor import Actor
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
from atomr.event_stream import EventStream
from atomr.supervision import Directive, ReceiveTimeout, SupervisorStrategy, Terminated
from atomr.system import ActorSystem

from atomr import routing  # noqa: E402  (needs Props, core and supervision)
from atomr import persistence  # noqa: E402
from atomr import testkit  # noqa: E402
from atomr import ddata  # noqa: E402
from atomr import ddata_lmdb  # noqa: E402
from atomr._props import _attach_router_factories  # noqa: E402

_attach_router_factories()

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
