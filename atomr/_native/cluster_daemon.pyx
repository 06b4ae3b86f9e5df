# Cluster: the daemon of cpp/include/atomr/cluster/daemon.hpp, hosted by
# daemon_host.hpp over the system's TCP transport, a simulated network or
# nothing. Part of atomr._native._core (included by _core.pyx after
# remote.pyx, sim_network.pyx and cluster.pyx, whose helpers it uses;
# declared in cluster_daemon.pxd).
#
# No Python runs on the daemon's threads: the TCP transport's io thread hands
# the daemon's envelopes to it through a tap on the inbound queue, a C++
# thread (or the simulated network's virtual clock) ticks it, and its events
# are queued in C++ and signalled on an eventfd the system's loop watches;
# `drain` converts them on the loop's thread.

from libcpp.memory cimport make_shared
from libcpp.set cimport set as cset
from atomr._native.includes.cluster_daemon cimport (
    CClusterEvent, CClusterEventKind, CDaemonConfig, CDaemonHost, CDaemonStats,
    CPolledLeaseState, CSimBus, fixed_lease, polled_lease,
)


# A module global (not a cdef one): each interpreter has its own.
_EVENT_KINDS = {
    <int>CClusterEventKind.member_joined: "MemberJoined",
    <int>CClusterEventKind.member_weakly_up: "MemberWeaklyUp",
    <int>CClusterEventKind.member_up: "MemberUp",
    <int>CClusterEventKind.member_left: "MemberLeft",
    <int>CClusterEventKind.member_exited: "MemberExited",
    <int>CClusterEventKind.member_downed: "MemberDowned",
    <int>CClusterEventKind.member_removed: "MemberRemoved",
    <int>CClusterEventKind.unreachable_member: "UnreachableMember",
    <int>CClusterEventKind.reachable_member: "ReachableMember",
    <int>CClusterEventKind.leader_changed: "LeaderChanged",
    <int>CClusterEventKind.convergence_changed: "Convergence",
    <int>CClusterEventKind.cluster_shutting_down: "ClusterShuttingDown",
}


cdef str _event_status(CMemberStatus s):
    # Events spell weakly up with an underscore (the C++ name).
    return _cluster_str(status_name(s))


cdef dict _member_dict(const CMember& m):
    cdef size_t i
    roles = [_utf8(m.roles[i]) for i in range(m.roles.size())]
    return {"address": _utf8(m.node.address), "status": _event_status(m.status),
            "up_number": m.up_number, "roles": roles}


cdef tuple _event_tuple(const CClusterEvent& ev):
    """``(raw event dict, member uid)`` of one daemon event; the dict has the
    form ``atomr.cluster.event_from_dict`` reads."""
    kind = _EVENT_KINDS.get(<int>ev.kind, "ClusterShuttingDown")
    d = {"kind": kind}
    if kind == "LeaderChanged":
        d["from_address"] = _utf8(ev.from_address.value()) if ev.from_address.has_value() \
            else None
        d["to_address"] = _utf8(ev.to_address.value()) if ev.to_address.has_value() else None
        return d, 0
    if kind == "Convergence":
        d["converged"] = bool(ev.converged)
        return d, 0
    if kind == "ClusterShuttingDown":
        return d, 0
    d["member"] = _member_dict(ev.subject)
    if kind == "MemberRemoved":
        d["previous_status"] = _event_status(ev.previous_status)
    return d, ev.subject.node.uid


cdef CMillis _daemon_millis(object seconds, str what) except *:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(seconds).__name__}")
    if not (seconds > 0.0 and seconds <= 9.0e6):
        raise ValueError(f"{what} must be a positive duration, got {seconds!r}")
    return CMillis(<int64_t>max(1.0, seconds * 1000.0 + 0.5))


cdef CDaemonConfig _daemon_config(str address, dict settings) except *:
    """The daemon's settings from the dict ``Cluster`` builds (every key
    optional; durations in seconds)."""
    cdef CDaemonConfig c
    cdef CSbrSettings sbr
    known = {"roles", "gossip_interval", "gossip_different_view_probability",
             "seed_node_timeout", "retry_unsuccessful_join_after", "allow_weakly_up",
             "min_nr_of_members", "heartbeat_interval", "monitored_by_nr_of_members",
             "failure_detector", "sbr", "lease_acquired", "lease"}
    unknown = set(settings) - known
    if unknown:
        raise ValueError(f"unknown cluster daemon settings: {sorted(unknown)}")
    c.self_.address = _member_address(address)
    c.self_.uid = 0
    c.roles = _member_roles(settings.get("roles", []))
    if "gossip_interval" in settings:
        c.gossip_interval = _daemon_millis(settings["gossip_interval"], "gossip_interval")
    if "gossip_different_view_probability" in settings:
        p = settings["gossip_different_view_probability"]
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"gossip_different_view_probability must be within 0..1, "
                             f"got {p!r}")
        c.gossip_different_view_probability = p
    if "seed_node_timeout" in settings:
        c.seed_node_timeout = _daemon_millis(settings["seed_node_timeout"], "seed_node_timeout")
    if "retry_unsuccessful_join_after" in settings:
        c.retry_unsuccessful_join_after = _daemon_millis(
            settings["retry_unsuccessful_join_after"], "retry_unsuccessful_join_after")
    if "allow_weakly_up" in settings:
        c.leader.allow_weakly_up = bool(settings["allow_weakly_up"])
    if "min_nr_of_members" in settings:
        n = settings["min_nr_of_members"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"min_nr_of_members must be an int >= 1, got {n!r}")
        c.leader.min_nr_of_members = n
    if "heartbeat_interval" in settings:
        c.heartbeat_interval = _daemon_millis(settings["heartbeat_interval"],
                                              "heartbeat_interval")
    if "monitored_by_nr_of_members" in settings:
        n = settings["monitored_by_nr_of_members"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"monitored_by_nr_of_members must be an int >= 1, got {n!r}")
        c.monitored_by_nr_of_members = n
    if settings.get("failure_detector") is not None:
        # The same keys, domains and errors as the transports' detectors.
        c.failure_detector = _heartbeats_of(1.0, settings["failure_detector"]).failure_detector
    if settings.get("sbr") is not None:
        sbr = _sbr_settings(settings["sbr"])
        c.sbr = optional[CSbrSettings](sbr)
        lease = settings.get("lease")
        if lease is None:
            c.lease = fixed_lease(bool(settings.get("lease_acquired", False)))
        elif isinstance(lease, _ClusterLease):
            c.lease = polled_lease((<_ClusterLease>lease).state)
        else:
            raise TypeError(f"lease must be a _ClusterLease, not {type(lease).__name__}")
    return c


cdef class _ClusterLease:
    """The lease of a daemon's lease-majority resolver, acquired on the
    Python side: the daemon's ticking thread marks each attempt
    (:meth:`take_request`) and takes the outcome :meth:`set_outcome`
    stored last (pending until one is stored). No Python runs on that
    thread; only two atomics are shared."""

    def __cinit__(self):
        self.state = make_shared[CPolledLeaseState]()

    def take_request(self):
        """Whether the daemon attempted the lease since the last call."""
        return self.state.get().take_request()

    def set_outcome(self, outcome):
        """The outcome the daemon's next attempt takes: True (acquired),
        False (denied) or None (not known yet)."""
        if outcome is None:
            self.state.get().set_outcome(CSbrLeaseOutcome.pending)
        elif isinstance(outcome, bool):
            self.state.get().set_outcome(CSbrLeaseOutcome.acquired if outcome
                                         else CSbrLeaseOutcome.denied)
        else:
            raise TypeError(f"a lease outcome is True, False or None, not {outcome!r}")


cdef class _ClusterBus:
    """The simulated network several systems' cluster daemons share (the
    C++ ``sim_bus`` over a :class:`_SimNetwork`): ticks each daemon every
    gossip interval of virtual time; in real-time mode a C++ thread moves
    virtual time with the wall clock."""

    def __init__(self, _SimNetwork network):
        self.network = network
        self.bus.reset(new CSimBus(deref(network._live())))

    def __dealloc__(self):
        if self.bus.get() != NULL:
            with nogil:
                self.bus.get().stop_driver()
            self.bus.reset()

    cdef CSimBus* _live(self) except NULL:
        if self.bus.get() == NULL:
            raise RuntimeError("the cluster bus was not initialised")
        return self.bus.get()

    def advance(self, seconds):
        """Moves virtual time by `seconds`, delivering frames and ticking
        the daemons due by then; returns the envelopes delivered."""
        cdef CSimBus* b = self._live()
        cdef CNanos by = _nanos(seconds, "seconds")
        cdef size_t delivered
        with nogil:
            delivered = b.advance(by)
        return delivered

    def start_driver(self, double step=0.005):
        """Starts the thread that moves virtual time with the wall clock."""
        cdef CSimBus* b = self._live()
        cdef CMillis s = _daemon_millis(step, "step")
        with nogil:
            b.start_driver(s)

    def stop_driver(self):
        """Stops and joins that thread (idempotent)."""
        cdef CSimBus* b = self._live()
        with nogil:
            b.stop_driver()

    @property
    def driving(self):
        """Whether the wall-clock thread runs."""
        return self._live().driving()


cdef class _ClusterDaemon:
    """One system's cluster daemon and what hosts it; see the module
    comment. Build it with :meth:`standalone`, :meth:`on_tcp` or
    :meth:`on_sim`."""

    def __dealloc__(self):
        if self.host.get() != NULL:
            with nogil:
                self.host.get().stop()
            self.host.reset()

    @staticmethod
    def standalone(str address, dict settings):
        """A one-node cluster at `address` with no transport (ticked by a
        thread every gossip interval).

        Raises:
            ValueError: a bad address or setting.
        """
        cdef _ClusterDaemon d = _ClusterDaemon.__new__(_ClusterDaemon)
        cdef CDaemonConfig c = _daemon_config(address, settings)
        with nogil:
            d.host = CDaemonHost.standalone(c)
        return d

    @staticmethod
    def on_tcp(str address, dict settings, _RemoteTransport transport):
        """A daemon at `address` over a started TCP transport: the
        transport's inbound queue gets a tap that hands the daemon's
        envelopes to it on the io thread.

        Raises:
            ValueError: a bad address or setting.
        """
        cdef _ClusterDaemon d = _ClusterDaemon.__new__(_ClusterDaemon)
        cdef CDaemonConfig c = _daemon_config(address, settings)
        cdef CTcpTransport* t = transport._live()
        d.transport = transport
        with nogil:
            d.host = CDaemonHost.on_tcp(c, deref(t), transport.queue)
        return d

    @staticmethod
    def on_sim(str address, dict settings, _ClusterBus bus):
        """A daemon with its own simulated transport at `address` on `bus`'s
        network (no transport heartbeats: the daemon heartbeats members).

        Raises:
            ValueError: a bad address or setting.
            RemoteTransportError: a live transport holds `address`.
        """
        cdef _ClusterDaemon d = _ClusterDaemon.__new__(_ClusterDaemon)
        cdef CDaemonConfig c = _daemon_config(address, settings)
        cdef CSimHeartbeatConfig hb
        cdef CSimBus* b = bus._live()
        hb.enabled = False
        d.transport = bus
        with nogil:
            d.host = CDaemonHost.on_sim(c, deref(b), hb)
        return d

    cdef CDaemonHost* _live(self) except NULL:
        if self.host.get() == NULL:
            raise RuntimeError("the cluster daemon was not initialised")
        return self.host.get()

    @property
    def fd(self):
        """The eventfd that becomes readable when :meth:`drain` has events."""
        return self._live().events().fd()

    def drain(self):
        """The daemon's events since the last drain, oldest first, as
        ``(raw event dict, member uid)`` tuples (uid 0 for events that name
        no member)."""
        cdef vector[CClusterEvent] items = self._live().events().drain()
        cdef size_t i
        return [_event_tuple(items[i]) for i in range(items.size())]

    @property
    def self_address(self):
        """This node's cluster address."""
        return _utf8(self._live().daemon().self_().address)

    @property
    def uid(self):
        """This node's uid (its transport's)."""
        return self._live().daemon().self_().uid

    def tick(self):
        """One gossip round now (the host ticks on its own as well)."""
        cdef CDaemonHost* h = self._live()
        with nogil:
            h.daemon().tick()

    def join_seed_nodes(self, seeds):
        """Starts joining the cluster of `seeds` (cluster addresses)."""
        cdef CDaemonHost* h = self._live()
        cdef vector[string] c
        for s in seeds:
            c.push_back(_member_address(s))
        with nogil:
            h.daemon().join_seed_nodes(c)

    def leave(self, str address):
        """Marks `address` leaving."""
        cdef CDaemonHost* h = self._live()
        cdef string a = _member_address(address)
        with nogil:
            h.daemon().leave(a)

    def down(self, str address):
        """Marks `address` down."""
        cdef CDaemonHost* h = self._live()
        cdef string a = _member_address(address)
        with nogil:
            h.daemon().down(a)

    def state(self):
        """A copy of the current view, as a ``MembershipState``."""
        cdef CDaemonHost* h = self._live()
        cdef MembershipState s = MembershipState.__new__(MembershipState)
        with nogil:
            s.g = h.daemon().state()
        return s

    def unreachable(self):
        """The addresses some member observes as unreachable."""
        cdef CDaemonHost* h = self._live()
        cdef CGossip g
        cdef cset[CUniqueAddress] nodes
        with nogil:
            g = h.daemon().state()
        nodes = g.overview().reachability.all_unreachable()
        out = []
        for n in nodes:
            out.append(_utf8(n.address))
        return sorted(out)

    def self_status(self):
        """This node's status in its own view (the event spelling), or None
        once the daemon stopped (removed, or shut down)."""
        cdef CDaemonHost* h = self._live()
        cdef optional[CMember] m
        with nogil:
            m = h.daemon().self_member()
        if not m.has_value():
            return None
        return _event_status(m.value().status)

    @property
    def running(self):
        """False once the daemon stopped (removed, downed, shut down)."""
        return self._live().daemon().running()

    @property
    def leader(self):
        """The leader's address in this node's view, or None."""
        cdef optional[string] found = self._live().daemon().leader()
        return _utf8(found.value()) if found.has_value() else None

    @property
    def converged(self):
        """Whether this node's view has converged."""
        return self._live().daemon().converged()

    def member_count(self):
        """Members in this node's view (0 once self was removed)."""
        return self._live().daemon().member_count()

    def stats(self):
        """The daemon's counters, as a dict."""
        cdef CDaemonStats s = self._live().daemon().stats()
        return {"gossip_sent": s.gossip_sent, "gossip_received": s.gossip_received,
                "gossip_merged": s.gossip_merged, "status_sent": s.status_sent,
                "status_received": s.status_received, "heartbeats_sent": s.heartbeats_sent,
                "heartbeat_responses": s.heartbeat_responses, "malformed": s.malformed,
                "ignored": s.ignored, "send_failures": s.send_failures,
                "init_joins_sent": s.init_joins_sent, "joins_sent": s.joins_sent,
                "sbr_decisions": s.sbr_decisions, "ticks": s.ticks,
                "gossip_rounds": s.gossip_rounds, "round_errors": s.round_errors}

    def shutdown(self):
        """Shuts the daemon down and detaches it from its transport (the
        tap, the ticker, the simulated transport). Idempotent."""
        cdef CDaemonHost* h = self._live()
        with nogil:
            h.stop()
