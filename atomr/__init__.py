"""atomr: Akka-style actors for Python on a C++ core."""

from __future__ import annotations

from atomr import errors
from atomr import codecs, supervision
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
    InterpreterCompatError,
    InterpreterOverloaded,
    InvalidActorNameError,
    SpawnError,
)
from atomr.event_stream import EventStream
from atomr.supervision import Directive, ReceiveTimeout, SupervisorStrategy, Terminated
from atomr.system import ActorSystem

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
    "supervision",
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
    "__version__",
]
