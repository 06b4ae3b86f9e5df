# Remote: the simulated network of cpp/include/atomr/remote/sim_network.hpp.
# Part of atomr._native._core (included by _core.pyx after remote.pyx, whose
# helpers it uses; declared in sim_network.pxd).
#
# A `_SimTransport` has the operations of `_RemoteTransport` (start, stop,
# fd, port, address, uid, send, drain, stats), so the Remote extension runs
# over either. Deliveries happen only while a thread advances the network
# (`_SimNetwork.advance` / `run_until_idle`, without the GIL); they go onto
# each transport's inbound queue, whose eventfd the system's loop watches.

from atomr._native.includes.sim_network cimport (
    CLinkFaults, CLinkStats, CNanos, CSimHeartbeatConfig,
)
from libcpp.map cimport map as cmap
from libcpp.optional cimport optional
from libcpp.utility cimport pair


cdef inline CNanos _nanos(object seconds, str what) except *:
    cdef double s
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(seconds).__name__}")
    s = seconds
    if not (s >= 0.0 and s <= 9.0e9):
        raise ValueError(f"{what} must be a finite duration >= 0 seconds, got {seconds!r}")
    return CNanos(<int64_t>(s * 1e9 + 0.5))


cdef inline double _seconds(CNanos d):
    return d.count() / 1e9


cdef inline double _probability(object p, str what) except? -1.0:
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"{what} must be a probability (a number within 0..1), "
                        f"not {type(p).__name__}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{what} must be a probability within 0..1, got {p!r}")
    return p


cdef CLinkFaults _faults_of(object drop, object duplicate, object delay, object jitter,
                            object reorder) except *:
    cdef CLinkFaults f
    f.drop = _probability(drop, "drop")
    f.duplicate = _probability(duplicate, "duplicate")
    f.delay = _nanos(delay, "delay")
    f.jitter = _nanos(jitter, "jitter")
    f.reorder = _nanos(reorder, "reorder")
    return f


cdef dict _faults_dict(const CLinkFaults& f):
    return {"drop": f.drop, "duplicate": f.duplicate, "delay": _seconds(f.delay),
            "jitter": _seconds(f.jitter), "reorder": _seconds(f.reorder)}


cdef dict _link_stats_dict(const CLinkStats& s):
    return {"sent": s.sent, "delivered": s.delivered, "dropped": s.dropped,
            "blocked": s.blocked, "undeliverable": s.undeliverable,
            "duplicated": s.duplicated, "reordered": s.reordered, "bytes": s.bytes}


cdef CSimHeartbeatConfig _heartbeats_of(object heartbeat_interval,
                                        object failure_detector) except *:
    # The settings dict of `_RemoteTransport(failure_detector=...)`, with the
    # same keys, domains and errors; None: heartbeats off.
    cdef CSimHeartbeatConfig c
    c.heartbeat_interval = _millis(heartbeat_interval, "heartbeat_interval")
    if failure_detector is None:
        c.enabled = False
        return c
    _failure_detector_settings(failure_detector, &c.failure_detector,
                               &c.reachability_check_interval)
    return c


cdef string _address_arg(object address, str what) except *:
    if not isinstance(address, str):
        raise TypeError(f"{what} must be a str, not {type(address).__name__}")
    return (<str>address).encode()


cdef class _SimNetwork:
    """A deterministic in-process network under a virtual clock (see
    ``atomr.remote.testing.SimNetwork`` for the public wrapper)."""

    def __init__(self, seed=0):
        """Raises:
            TypeError: `seed` is not an int.
            ValueError: `seed` is outside 0..2**64-1.
        """
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, not {type(seed).__name__}")
        if not 0 <= seed < 2 ** 64:
            raise ValueError(f"seed must be within 0..2**64-1, got {seed}")
        self.net.reset(new CSimNetwork(<uint64_t>seed))

    cdef CSimNetwork* _live(self) except NULL:
        if self.net.get() == NULL:
            raise RuntimeError("the network was not initialised")
        return self.net.get()

    @property
    def seed(self):
        """The seed every random choice derives from."""
        return self._live().seed()

    def now(self):
        """The virtual clock, in seconds since the network was created."""
        return _seconds(self._live().now())

    def advance(self, seconds):
        """Moves the clock by `seconds`, delivering everything due by then;
        returns the envelopes delivered."""
        cdef CSimNetwork* n = self._live()
        cdef CNanos by = _nanos(seconds, "seconds")
        cdef size_t delivered
        with nogil:
            delivered = n.advance(by)
        return delivered

    def run_until_idle(self, size_t max_deliveries=10_000_000):
        """Delivers until nothing is in flight (or `max_deliveries`
        envelopes were delivered); returns the envelopes delivered."""
        cdef CSimNetwork* n = self._live()
        cdef size_t delivered
        with nogil:
            delivered = n.run_until_idle(max_deliveries)
        return delivered

    def in_flight(self):
        """Frames and events not yet delivered or lost."""
        return self._live().in_flight()

    def next_due(self):
        """The virtual time the next frame or event is due at, or None."""
        cdef optional[CNanos] due = self._live().next_due()
        if not due.has_value():
            return None
        return _seconds(due.value())

    def set_default(self, drop=0.0, duplicate=0.0, delay=0.0, jitter=0.0, reorder=0.0):
        """The faults of every link without its own."""
        self._live().set_default_faults(_faults_of(drop, duplicate, delay, jitter, reorder))

    def set_link(self, a, b, drop=0.0, duplicate=0.0, delay=0.0, jitter=0.0, reorder=0.0):
        """The faults of the directed link `a` -> `b`."""
        self._live().set_link(_address_arg(a, "a"), _address_arg(b, "b"),
                              _faults_of(drop, duplicate, delay, jitter, reorder))

    def clear_link(self, a, b):
        """Makes `a` -> `b` use the default faults again."""
        self._live().clear_link(_address_arg(a, "a"), _address_arg(b, "b"))

    def faults(self, a, b):
        """The faults `a` -> `b` runs with, as a dict."""
        return _faults_dict(self._live().faults(_address_arg(a, "a"), _address_arg(b, "b")))

    def partition(self, a, b):
        """Blocks both directions between `a` and `b` until healed."""
        self._live().partition(_address_arg(a, "a"), _address_arg(b, "b"))

    def partition_groups(self, a, b):
        """Blocks every pair of an address of `a` and one of `b`."""
        cdef vector[string] ga, gb
        for x in a:
            ga.push_back(_address_arg(x, "an address of the first group"))
        for x in b:
            gb.push_back(_address_arg(x, "an address of the second group"))
        self._live().partition_groups(ga, gb)

    def heal(self, a=None, b=None):
        """Lifts every partition, or (with both addresses) the one between
        `a` and `b`."""
        if a is None and b is None:
            self._live().heal()
        elif a is None or b is None:
            raise TypeError("heal takes both addresses or neither")
        else:
            self._live().heal(_address_arg(a, "a"), _address_arg(b, "b"))

    def partitioned(self, a, b):
        """Whether `a` and `b` are partitioned."""
        return self._live().partitioned(_address_arg(a, "a"), _address_arg(b, "b"))

    def link_stats(self, a, b):
        """The counters of the directed link `a` -> `b`, as a dict."""
        return _link_stats_dict(self._live().stats(_address_arg(a, "a"), _address_arg(b, "b")))

    def all_stats(self):
        """``{(from, to): counters}`` of every link with traffic."""
        cdef cmap[pair[string, string], CLinkStats] m = self._live().all_stats()
        out = {}
        for entry in m:
            out[(_utf8(entry.first.first), _utf8(entry.first.second))] = \
                _link_stats_dict(entry.second)
        return out

    def total_stats(self):
        """The counters summed over every link."""
        return _link_stats_dict(self._live().total_stats())

    def addresses(self):
        """The addresses of the transports attached and not stopped, sorted."""
        return [_utf8(a) for a in self._live().addresses()]

    def attach(self, str address, uid=0, size_t max_frame_size=4 << 20,
               heartbeat_interval=1.0, failure_detector=None):
        """A transport at `address`, delivering into its own inbound queue.

        With `failure_detector` (a dict with the keys of
        ``_RemoteTransport(failure_detector=...)``, ``{}`` for the defaults),
        it heartbeats its peers every `heartbeat_interval` virtual seconds
        and reports ``unreachable`` / ``reachable`` events; None: no
        heartbeats.

        Raises:
            InvalidRemoteAddressError: `address` is empty, too long or has
                spaces or control characters.
            RemoteTransportError: a transport that has not stopped holds it.
            ValueError: `max_frame_size` is outside 1 KiB..1 GiB, or a
                heartbeat or detector setting is outside its domain.
        """
        cdef _SimTransport t = _SimTransport.__new__(_SimTransport)
        cdef CSimHeartbeatConfig hb = _heartbeats_of(heartbeat_interval, failure_detector)
        cdef string c_address = address.encode()
        if isinstance(uid, bool) or not isinstance(uid, int) or not 0 <= uid < 2 ** 64:
            raise ValueError(f"uid must be an int within 0..2**64-1, got {uid!r}")
        t.queue.reset(new CInboundQueue())
        t.t = self._live().attach(c_address, queue_callbacks(t.queue), <uint64_t>uid,
                                  max_frame_size, hb)
        t.network = self
        return t


cdef class _SimTransport:
    """One address's transport on a :class:`_SimNetwork` (from
    ``_SimNetwork.attach``), with the operations of ``_RemoteTransport``.

    What arrives while a thread advances the network is queued; the loop
    that watches :attr:`fd` calls :meth:`drain` on its own thread."""

    def __dealloc__(self):
        if self.t.get() != NULL:
            with nogil:
                self.t.get().stop()
            self.t.reset()

    cdef CSimTransport* _live(self) except NULL:
        if self.t.get() == NULL:
            raise RuntimeError("the transport was not attached to a network")
        return self.t.get()

    def start(self):
        """Starts receiving (once).

        Raises:
            RuntimeError: called twice.
        """
        cdef CSimTransport* t = self._live()
        if self.started:
            raise RuntimeError("the transport was already started")
        self.started = True
        t.start()

    def stop(self):
        """Stops receiving and frees the address; the peers it was
        associated with learn it at the next advance. Idempotent."""
        cdef CSimTransport* t = self._live()
        self.stopped = True
        with nogil:
            t.stop()

    @property
    def fd(self):
        """The eventfd that becomes readable when :meth:`drain` has items."""
        return self.queue.get().fd()

    @property
    def port(self):
        """The number after the address's last ``:``, or 0."""
        _, sep, port = self.address.rpartition(":")
        return int(port) if sep and port.isdigit() else 0

    @property
    def address(self):
        """The address this transport is attached at."""
        return _utf8(self._live().address())

    @property
    def uid(self):
        """This incarnation's UID."""
        return self._live().uid()

    def send(self, str to, str recipient, str manifest, payload, sender=None,
             correlation_id=None):
        """Puts an envelope on the network for the transport at `to`.

        Returns:
            False when it was dropped because this transport stopped (it
            comes out of :meth:`drain`); a frame lost to a fault still
            returns True.

        Raises:
            InvalidRemoteAddressError: `to` is malformed or this transport's
                own address.
            FrameTooLargeError: the envelope exceeds the frame limit.
            RemoteTransportError: the transport was never started.
        """
        cdef CSimTransport* t = self._live()
        cdef CRemoteEnvelope env
        cdef string c_to = to.encode()
        cdef cbool ok
        _fill_envelope(env, recipient, manifest, payload, sender, correlation_id)
        with nogil:
            ok = t.send(c_to, env)
        return ok

    def drain(self):
        """Everything delivered to this transport since the last drain,
        oldest first, as the tuples of ``_RemoteTransport.drain``."""
        cdef vector[CInboundItem] items = self.queue.get().drain()
        return _inbound_tuples(items)

    def stats(self):
        """This transport's counters, with the keys of
        ``_RemoteTransport.stats``."""
        return _stats_dict(self._live().stats())
