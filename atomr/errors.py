"""Exceptions raised by atomr.

Every class derives from :class:`AtomrError` and, where one fits, from the
built-in exception it specialises, so ``except ValueError`` and
``except TimeoutError`` keep working in code that does not know atomr.

A class that C++ errors surface as names their codes in ``native_codes``:
``(component, code)`` pairs, where `component` is a member of
``atomr::component`` (``core``, ``storage``, ``persistence``, ``ddata``,
``remote``, ``cluster``, ``streams``) and
`code` a member of that component's ``errc`` enum. Only a class's own
declaration counts (subclasses do not inherit it). The native layer builds
its one translation table from these declarations (see
:func:`_native_error_classes`), so a new component adds its codes here and
in its own C++ header, never in another component's.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

__all__ = [
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
]


#: A native error code: (``atomr::component`` member, ``errc`` member).
_NativeCode = tuple[str, str]


class AtomrError(Exception):
    """Base class of every runtime failure atomr reports.

    Also what a C++ error surfaces as when no class claims its code, and
    what a storage-layer error surfaces as should one escape persistence or
    ddata (they turn them into JournalError and DurableStoreError).
    """

    native_codes: ClassVar[tuple[_NativeCode, ...]] = (
        ("core", "generic"),
        ("storage", "generic"),
        ("storage", "already_open"),
        ("storage", "map_full"),
        ("storage", "txn_full"),
        ("storage", "closed"),
    )


class ActorSystemError(AtomrError):
    """A failure of the actor system as a whole."""


class ActorSystemTerminatedError(ActorSystemError, RuntimeError):
    """An operation needed a live actor system, but it has been terminated."""

    native_codes = (("core", "system_terminated"),)


class SpawnError(AtomrError):
    """An actor could not be created."""


class InvalidActorNameError(SpawnError, ValueError):
    """An actor or system name does not follow the path grammar."""

    native_codes = (("core", "invalid_actor_name"),)


class ActorNameTakenError(SpawnError, ValueError, RuntimeError):
    """A live sibling already has this name.

    It is a ``ValueError`` (bad argument) and, for code written against
    ``Context.spawn``'s original contract, a ``RuntimeError`` as well.
    """

    native_codes = (("core", "actor_name_taken"),)


class AskError(AtomrError):
    """An ask could not be answered."""


class AskTimeoutError(AskError, TimeoutError):
    """No reply arrived within the ask's timeout."""


class ActorTerminatedError(AskError):
    """The asked actor has stopped (or stopped before it could reply)."""


class MailboxOverflowError(AtomrError):
    """A bounded mailbox with the ``fail`` overflow strategy is full; the
    message was not queued."""


class MessageDroppedError(AskError):
    """An ask's message was dropped by a full bounded mailbox (refused or
    evicted); the actor itself is alive."""


class UnroutableMessageError(AskError, ValueError):
    """An ask a router cannot route: a consistent-hashing router asked
    without a key (``ask(msg, key=...)`` gives one). Raised at once; nothing
    is sent."""


class InterpreterOverloaded(AtomrError):
    """An interpreter pool refused a new actor (its quota is full)."""


class InterpreterCompatError(AtomrError):
    """A module is not safe for the dispatcher it would run on."""


class CircuitBreakerOpen(AtomrError):
    """A circuit breaker refused a call without running it.

    Raised while the breaker is open, and for calls that arrive while the
    single half-open trial call is still in flight.

    Attributes:
        remaining_seconds: Seconds until the breaker lets a trial call
            through (``0.0`` when it is half-open and waiting for the trial
            call's outcome).
    """

    def __init__(self, remaining_seconds: float = 0.0, message: Optional[str] = None) -> None:
        """Creates the error.

        Args:
            remaining_seconds: Seconds until the next trial call is allowed.
            message: Error text; a default mentioning `remaining_seconds`
                is used when omitted.
        """
        self.remaining_seconds: float = float(remaining_seconds)
        if message is None:
            message = f"circuit breaker is open (retry in {self.remaining_seconds:.3f}s)"
        super().__init__(message)

    def __reduce__(self) -> Any:
        return (type(self), (self.remaining_seconds, str(self)))


class CallTimeoutError(AskError, TimeoutError):
    """A call guarded by a circuit breaker exceeded its ``call_timeout``.

    It is an :class:`~atomr.errors.AskError` (the original raises ``AskError``
    for breaker timeouts) and a built-in ``TimeoutError``.
    """


class JournalError(AtomrError):
    """A journal or snapshot store failed to store or read data.

    Nothing of the failed write was acknowledged. An event-sourced actor
    whose journal fails stops (after failing the pending ask).
    """

    native_codes = (("persistence", "generic"),)


class EventRejectedError(AtomrError, ValueError):
    """A journal refused events before storing anything of them: they could
    not be encoded, or their sequence numbers do not follow the entity's
    last one. The journal itself is fine and the actor keeps running."""


class MalformedDataError(AtomrError, ValueError):
    """A serialized replicated value (CRDT blob) is truncated, corrupt, of an
    unknown type or of an unsupported format version."""

    native_codes = (("ddata", "malformed_data"),)


class DurableStoreError(AtomrError):
    """The distributed-data durable store could not read or write."""

    native_codes = (("ddata", "generic"),)


class DataDeletedError(AtomrError):
    """The replicated key was deleted; a deleted key cannot be used again.

    Attributes:
        key: The deleted key.
    """

    def __init__(self, key: str, message: Optional[str] = None) -> None:
        """Creates the error.

        Args:
            key: The deleted key.
            message: Error text; a default naming the key is used when omitted.
        """
        self.key: str = key
        super().__init__(message if message is not None else
                         f"replicated key {key!r} has been deleted and cannot be reused")

    def __reduce__(self) -> Any:
        return (type(self), (self.key, str(self)))


class ReplicationTimeoutError(AtomrError, TimeoutError):
    """A read could not reach the replicas its consistency level asks for
    within its timeout."""


class UpdateFailedError(AtomrError):
    """A replicator update failed: its modify function raised (the original
    exception is the ``__cause__``) or returned something that is not a
    value of the key's type. The stored value is unchanged."""


class RemoteError(AtomrError):
    """Base class of remoting's failures (the remote transport, remote
    addresses and what crosses the wire)."""

    native_codes: ClassVar[tuple[_NativeCode, ...]] = (("remote", "generic"),)


class RemoteTransportError(RemoteError):
    """The remote transport cannot do what was asked: its listening address
    cannot be bound, or it is not running (stopped, or never started)."""

    native_codes = (("remote", "bind_failed"), ("remote", "transport_stopped"))


class InvalidRemoteAddressError(RemoteError, ValueError):
    """A remote address that is not ``host:port`` with an IP literal host
    and a port within 1..65535 (or one that names the sending system itself
    where another system is needed)."""

    native_codes = (("remote", "invalid_address"),)


class FrameTooLargeError(RemoteError, ValueError):
    """A message that encodes to a frame longer than the transport's
    ``max-frame-size``; nothing was sent."""

    native_codes = (("remote", "frame_too_large"),)


class MalformedFrameError(RemoteError):
    """Bytes that are not a valid frame of the remote wire format, or a
    frame of a wire format version this build does not speak."""

    native_codes = (("remote", "malformed_frame"), ("remote", "unsupported_version"))


class RemoteAddressTerminatedError(RemoteError):
    """The remote system an ask went to was declared gone -- unreachable
    by the failure detector, quarantined (a new incarnation replaced it) or
    shut down -- before the answer came. Raised at once instead of waiting
    for the ask's timeout."""


class ClusterError(AtomrError):
    """Base class of the cluster's failures (membership, gossip)."""

    native_codes: ClassVar[tuple[_NativeCode, ...]] = (("cluster", "generic"),)


class MalformedGossipError(ClusterError):
    """Bytes that are not a valid serialized gossip, or a gossip of a format
    version this build does not read."""

    native_codes = (("cluster", "malformed_gossip"), ("cluster", "unsupported_version"))


class InvalidMemberTransitionError(ClusterError, ValueError):
    """A member status change the membership life cycle does not allow
    (``removed -> up``), or a removed member coming back."""

    native_codes = (("cluster", "invalid_transition"),)


class LeaseError(AtomrError):
    """A lease operation refused: the lease is held by another owner, or
    the caller released a lease it does not hold (:mod:`atomr.coordination`)."""


class LeaseTimeoutError(LeaseError, TimeoutError):
    """A lease operation did not complete within the lease's operation
    timeout, or a held lease's heartbeat fell behind its heartbeat timeout."""


class DiscoveryError(AtomrError):
    """A service discovery lookup failed for another reason than the
    service being unknown (a DNS server that does not answer, a malformed
    answer) (:mod:`atomr.discovery`)."""


class DependencyError(AtomrError, LookupError):
    """A service the dependency injection container (:mod:`atomr.di`) was
    asked for is not registered, or its factory needs the service itself."""
class StreamError(AtomrError):
    """Base class of the failures of a stream (atomr.streams)."""

    native_codes: ClassVar[tuple[_NativeCode, ...]] = (("streams", "generic"),)


class BufferOverflowError(StreamError):
    """A ``buffer`` with the ``fail`` overflow strategy received an element
    while full (Akka's BufferOverflowException)."""

    native_codes = (("streams", "buffer_overflow"),)


class RateExceededError(StreamError):
    """A ``throttle`` in enforcing mode received elements faster than its
    rate (Akka's RateExceededException)."""

    native_codes = (("streams", "rate_exceeded"),)


class EmptyStreamError(StreamError, LookupError):
    """A stage that needs at least one element (``reduce``) saw an empty
    stream (Akka's NoSuchElementException)."""

    native_codes = (("streams", "empty_stream"),)


class StreamAbortedError(StreamError):
    """A kill switch aborted the stream with a message rather than an
    exception of the caller's own."""

    native_codes = (("streams", "aborted"),)


class StreamTimeoutError(StreamError, TimeoutError):
    """A stream's idle, initial or completion timeout passed (Akka's
    StreamTimeoutException)."""


class FramingError(StreamError, ValueError):
    """A framing stage met a frame over its maximum length or a stream
    ending inside a frame (Akka's FramingException)."""

    native_codes = (("streams", "framing"),)


class StreamIOError(StreamError, RuntimeError):
    """A file or TCP stage failed to open, read or write (its OSError is
    the cause)."""

    native_codes = (("streams", "io"),)


class InvalidGraphError(StreamError, ValueError):
    """A graph that cannot be assembled (an operator without an upstream,
    a sink fed by more than one open source)."""

    native_codes = (("streams", "invalid_graph"),)


# Native error codes that surface as a plain built-in exception (an argument
# outside its domain is a ValueError, as for any Python function).
_NATIVE_BUILTINS: dict[_NativeCode, type[BaseException]] = {
    ("core", "invalid_argument"): ValueError,
    ("storage", "invalid_argument"): ValueError,
    ("ddata", "type_mismatch"): ValueError,
    ("remote", "invalid_config"): ValueError,
    ("cluster", "invalid_argument"): ValueError,
    ("streams", "invalid_argument"): ValueError,
}


def _native_error_classes() -> dict[_NativeCode, type[BaseException]]:
    """The exception class of every native error code this module names.

    Walks the classes of this module for their own ``native_codes`` and adds
    the codes that surface as built-ins.

    Returns:
        ``{(component, code): class}``.

    Raises:
        RuntimeError: two classes claim the same code.
    """
    table: dict[_NativeCode, type[BaseException]] = dict(_NATIVE_BUILTINS)
    for obj in list(globals().values()):
        if not (isinstance(obj, type) and issubclass(obj, AtomrError)):
            continue
        for code in obj.__dict__.get("native_codes", ()):
            if code in table:
                raise RuntimeError(f"native error code {code!r} is claimed by both "
                                   f"{table[code].__name__} and {obj.__name__}")
            table[code] = obj
    return table
