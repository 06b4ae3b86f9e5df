"""Testing remoting without sockets: a simulated network under virtual time.

A :class:`SimNetwork` stands in for TCP. Actor systems of one process
attach to it (:meth:`SimNetwork.attach`), each getting its
:class:`~atomr.remote.Remote` extension over a simulated transport instead
of a socket; ``tell_remote``, ``actor_selection`` and remote ``tell`` /
``ask`` work as over TCP. Frames move only when the test moves the
network's virtual clock (:meth:`~SimNetwork.advance`,
:meth:`~SimNetwork.run_until_idle`, or :meth:`~SimNetwork.pump` /
:meth:`~SimNetwork.drive` from async tests), and every link can drop,
delay, duplicate and reorder frames, or be cut by a partition, from one
seeded random generator: the same seed and the same sends replay the same
deliveries. The network is the C++ ``atomr::remote::sim_network``, which
C++ code (gossip, failure detectors) uses directly.

Example:
    >>> net = SimNetwork(seed=42)                          # doctest: +SKIP
    >>> net.attach(a); net.attach(b)                       # doctest: +SKIP
    >>> net.set_link(a, b, drop=0.1, delay=0.005, jitter=0.002)  # doctest: +SKIP
    >>> ref = a.actor_selection(b.address + "/user/calc")  # doctest: +SKIP
    >>> await net.drive(ref.ask(21))                       # doctest: +SKIP
    42
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, Optional, TypeVar

from atomr._native._core import _SimNetwork, _SimTransport
from atomr._util import public_module
from atomr.actor._system import _address_of
from atomr.errors import InvalidRemoteAddressError
from atomr.remote._extension import (
    _REMOTE,
    Remote,
    RemoteActorRef,
    _detector_settings,
    parse_tcp_address,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["SimNetwork"]

T = TypeVar("T")

# The first port of the default addresses (`<system name>:<port>`).
_FIRST_PORT = 2552


@public_module("atomr.remote.testing")
class SimNetwork:
    """A deterministic in-process network with fault injection, under a
    virtual clock that only the test moves.

    Addresses are the transports' own (``"a:2552"``); wherever one is
    expected, an attached :class:`~atomr.ActorSystem`, its
    ``akka.tcp://...`` address or an actor path on it, or a
    :class:`~atomr.remote.RemoteActorRef` is accepted as well.

    Faults are per directed link (:meth:`set_link`) or for every link
    without its own (:meth:`set_default`):

    * ``drop``: probability that a frame is lost;
    * ``duplicate``: probability that a frame arrives twice;
    * ``delay``: fixed latency (seconds of virtual time);
    * ``jitter``: extra latency, uniform in ``[0, jitter]``, that keeps the
      link's order (as TCP does);
    * ``reorder``: extra latency, uniform in ``[0, reorder]``, that does
      not, so later frames overtake earlier ones.

    A partition (:meth:`partition`, :meth:`partition_groups`) blocks both
    directions, frames already in flight included, until :meth:`heal`.

    Delivery runs on the thread that advances the network: each frame goes
    onto the receiving system's inbound queue, which its loop drains (as it
    does for TCP). The systems' actors react on their loops, in real time;
    a test that must be reproducible moves time in steps and lets the loops
    run between them (:meth:`pump`, :meth:`drive`). Ask timeouts are real
    time.

    Args:
        seed: The seed of every random choice (0..2**64-1).
    """

    __slots__ = ("_net", "_ports", "__weakref__")

    def __init__(self, seed: int = 0) -> None:
        self._net = _SimNetwork(seed)
        self._ports = itertools.count(_FIRST_PORT)

    @property
    def seed(self) -> int:
        """The seed every random choice derives from."""
        return self._net.seed

    # -- attaching --------------------------------------------------------------------

    def attach(self, system: "ActorSystem", address: Optional[str] = None, *,
               failure_detector: Optional[dict[str, float]] = None) -> Remote:
        """Starts `system`'s :class:`~atomr.remote.Remote` extension over
        this network, at `address` (default ``"<system name>:<port>"``,
        ports counting up from 2552). The system's address becomes
        ``akka.tcp://<name>@<address>``.

        The transport heartbeats its peers and runs the phi-accrual failure
        detector on the virtual clock, as over TCP: with the system's
        ``remote.watch-failure-detector.*`` settings (and its heartbeat
        interval), each overridden by a key of `failure_detector`
        (``threshold``, ``max_sample_size``, ``min_std_deviation``,
        ``acceptable_heartbeat_pause``, ``first_heartbeat_estimate``,
        ``check_interval``; durations in seconds). A peer whose heartbeats
        stop (a partition, a stopped system) is reported
        :class:`~atomr.remote.RemoteUnreachable`, its watches end with
        ``Terminated`` and asks to it fail, as over TCP.

        Raises:
            InvalidRemoteAddressError: `address` is malformed (empty, spaces,
                ``/`` or ``@``).
            RemoteTransportError: another live transport holds `address`.
            RuntimeError: `system` already has a remote transport.
            ValueError: a `failure_detector` key is unknown or its value
                outside its domain.
        """
        if address is None:
            address = f"{system.name}:{next(self._ports)}"
        if not isinstance(address, str):
            raise TypeError(f"address must be a str, not {type(address).__name__}")
        if "/" in address or "@" in address:
            raise InvalidRemoteAddressError(
                f"`{address}` cannot follow `akka.tcp://<system>@` (no `/` or `@` allowed)")
        settings = _REMOTE.settings(system)
        detector = _detector_settings(settings)
        if failure_detector is not None:
            detector.update(failure_detector)
        transport = self._net.attach(
            address, heartbeat_interval=(settings["watch-failure-detector.heartbeat-interval"]
                                         or settings["heartbeat-interval"]),
            failure_detector=detector)
        try:
            return Remote._start_with(system, transport)
        except BaseException:
            transport.stop()
            raise

    def transport(self, address: str, uid: int = 0,
                  max_frame_size: int = 4 << 20) -> _SimTransport:
        """A bare transport at `address` (not started), with the operations
        of the TCP transport (``start``, ``send``, ``drain``, ``fd``, ...),
        for code below the actor layer.

        Raises:
            InvalidRemoteAddressError: `address` is malformed.
            RemoteTransportError: another live transport holds `address`.
        """
        return self._net.attach(address, uid, max_frame_size)

    def addresses(self) -> list[str]:
        """The addresses of the transports attached and not stopped, sorted."""
        return self._net.addresses()

    # -- time -------------------------------------------------------------------------

    def now(self) -> float:
        """The virtual clock, in seconds since the network was created."""
        return self._net.now()

    def in_flight(self) -> int:
        """Frames (and lifecycle events) not yet delivered or lost."""
        return self._net.in_flight()

    def next_due(self) -> Optional[float]:
        """The virtual time the next frame is due at, or None."""
        return self._net.next_due()

    def advance(self, seconds: float, scheduler: Any = None) -> int:
        """Moves the virtual clock by `seconds`, delivering every frame due
        by then in due order (ties: send order); returns the envelopes
        delivered.

        With a `scheduler` (an :class:`atomr.testkit.TestScheduler`, or
        anything with ``advance_blocking(seconds)`` and optionally
        ``next_deadline()``), both clocks move in step: time goes from one
        frame or scheduled callback to the next, the frames due at an
        instant are delivered first, then the callbacks due then run (a
        callback that sends puts its frame on the network at its own
        virtual time). A bound system's actor timers fire within
        ``advance_blocking`` without a step of their own.

        Raises:
            ValueError: `seconds` is negative or not finite.
            TypeError: `scheduler` has no ``advance_blocking``.
        """
        if scheduler is None:
            return self._net.advance(seconds)
        advance_blocking = getattr(scheduler, "advance_blocking", None)
        if not callable(advance_blocking):
            raise TypeError(f"scheduler must have advance_blocking(seconds), "
                            f"not {type(scheduler).__name__}")
        next_deadline = getattr(scheduler, "next_deadline", None)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or \
                not 0.0 <= seconds < float("inf"):
            raise ValueError(f"seconds must be a finite duration >= 0, got {seconds!r}")
        net = self._net
        delivered = 0
        remaining = float(seconds)
        while True:
            due = net.next_due()
            gap = float("inf") if due is None else max(0.0, due - net.now())
            deadline = next_deadline() if callable(next_deadline) else None
            if deadline is not None:
                gap = min(gap, max(0.0, deadline - scheduler.now()))
            if gap > remaining or gap == float("inf"):
                break
            before = net.in_flight()
            delivered += net.advance(gap)
            fired = advance_blocking(gap)
            remaining -= gap
            if gap == 0.0 and not fired and net.in_flight() == before:
                break  # nothing was due after all (clock rounding): finish in one step
        delivered += net.advance(remaining)
        advance_blocking(remaining)
        return delivered

    def run_until_idle(self, max_frames: int = 1_000_000) -> int:
        """Delivers everything in flight (moving the clock to each due
        time); returns the envelopes delivered.

        Raises:
            RuntimeError: still busy after `max_frames` deliveries (systems
                that keep answering each other).
        """
        delivered = self._net.run_until_idle(max_frames)
        if delivered >= max_frames and self._net.in_flight():
            raise RuntimeError(f"the network still had frames in flight after {max_frames} "
                               f"deliveries")
        return delivered

    async def pump(self, until: Callable[[], Any], *, step: Optional[float] = None,
                   timeout: float = 10.0) -> None:
        """Moves the network and lets the running loop (the systems bound
        to it) react, until ``until()`` is true: each round delivers what is
        in flight (or, with `step`, advances the clock by `step` seconds),
        then yields to the loop for a moment.

        Raises:
            TimeoutError: ``until()`` stayed false for `timeout` seconds of
                real time.
        """
        deadline = time.monotonic() + timeout
        while True:
            if step is None:
                self._net.run_until_idle()
            else:
                self._net.advance(step)
            await asyncio.sleep(0.001)
            if until():
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the condition did not hold within {timeout}s "
                                   f"(virtual time {self.now():.6f}s)")

    async def drive(self, awaitable: Awaitable[T], *, step: Optional[float] = None,
                    timeout: float = 10.0) -> T:
        """Awaits `awaitable` (an ask, say) while pumping the network as
        :meth:`pump` does; returns its result or raises its exception.

        Raises:
            TimeoutError: it did not finish within `timeout` seconds of
                real time (it is cancelled then).
        """
        task = asyncio.ensure_future(awaitable)
        try:
            await self.pump(task.done, step=step, timeout=timeout)
        except TimeoutError:
            task.cancel()
            raise
        return task.result()

    # -- faults -----------------------------------------------------------------------

    def _addr(self, x: Any) -> str:
        """The transport address a link or partition argument names."""
        return _addr(x)

    def set_default(self, *, drop: float = 0.0, duplicate: float = 0.0, delay: float = 0.0,
                    jitter: float = 0.0, reorder: float = 0.0) -> None:
        """The faults of every link without its own.

        Raises:
            ValueError: a probability outside 0..1 or a negative duration.
        """
        self._net.set_default(drop, duplicate, delay, jitter, reorder)

    def set_link(self, a: Any, b: Any, *, drop: float = 0.0, duplicate: float = 0.0,
                 delay: float = 0.0, jitter: float = 0.0, reorder: float = 0.0,
                 both_ways: bool = False) -> None:
        """The faults of the link `a` -> `b` (and `b` -> `a` with
        `both_ways`).

        Raises:
            ValueError: a probability outside 0..1 or a negative duration.
        """
        x, y = self._addr(a), self._addr(b)
        self._net.set_link(x, y, drop, duplicate, delay, jitter, reorder)
        if both_ways:
            self._net.set_link(y, x, drop, duplicate, delay, jitter, reorder)

    def clear_link(self, a: Any, b: Any) -> None:
        """Makes `a` -> `b` use the default faults again."""
        self._net.clear_link(self._addr(a), self._addr(b))

    def faults(self, a: Any, b: Any) -> dict[str, float]:
        """The faults `a` -> `b` runs with (``drop``, ``duplicate``,
        ``delay``, ``jitter``, ``reorder``)."""
        return self._net.faults(self._addr(a), self._addr(b))

    def partition(self, a: Any, b: Any) -> None:
        """Blocks both directions between `a` and `b` until healed; frames
        in flight between them are lost too."""
        self._net.partition(self._addr(a), self._addr(b))

    def partition_groups(self, a: Iterable[Any], b: Iterable[Any]) -> None:
        """Blocks every pair of a member of `a` and a member of `b`."""
        self._net.partition_groups([self._addr(x) for x in a], [self._addr(y) for y in b])

    def heal(self, a: Any = None, b: Any = None) -> None:
        """Lifts every partition, or with both `a` and `b` the one between them."""
        if a is None and b is None:
            self._net.heal()
        elif a is None or b is None:
            raise TypeError("heal takes both addresses or neither")
        else:
            self._net.heal(self._addr(a), self._addr(b))

    def partitioned(self, a: Any, b: Any) -> bool:
        """Whether `a` and `b` are partitioned."""
        return self._net.partitioned(self._addr(a), self._addr(b))

    # -- counters ---------------------------------------------------------------------

    def stats(self, a: Any = None, b: Any = None) -> dict[str, int]:
        """The counters of the link `a` -> `b`, or (without arguments) summed
        over every link: ``sent``, ``delivered`` (duplicates included),
        ``dropped`` (by the drop probability), ``blocked`` (by a partition),
        ``undeliverable`` (no started transport at the address),
        ``duplicated``, ``reordered`` (delivered after a frame sent later on
        the same link) and ``bytes`` (encoded frames sent)."""
        if a is None and b is None:
            return self._net.total_stats()
        if a is None or b is None:
            raise TypeError("stats takes both addresses or neither")
        return self._net.link_stats(self._addr(a), self._addr(b))

    def link_stats(self) -> dict[tuple[str, str], dict[str, int]]:
        """The counters of every link with traffic, by ``(from, to)``."""
        return self._net.all_stats()

    def __repr__(self) -> str:
        return (f"<SimNetwork seed={self.seed} now={self.now():.6f}s "
                f"in_flight={self.in_flight()}>")


def _addr(x: Any) -> str:
    """The transport address of an address, system, actor path or remote ref."""
    if isinstance(x, RemoteActorRef):
        x = x.path
    elif not isinstance(x, str):
        address = getattr(x, "address", None)  # an ActorSystem
        if not isinstance(address, str):
            raise TypeError(f"expected an address, an actor system or a remote ref, "
                            f"not {type(x).__name__}")
        x = address
    if "://" in x:
        address = _address_of(x) or x
        if "@" not in address:
            return address  # a local address: a cluster daemon's on a ClusterRegistry
        return parse_tcp_address(address)[1]
    return x
