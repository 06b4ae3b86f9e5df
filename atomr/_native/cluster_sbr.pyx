# The split brain resolver's decider (cpp/include/atomr/cluster/sbr.hpp),
# for atomr.cluster.sbr: a decision for one view, and the resolver with its
# stable-after timing on a clock the caller passes in (float seconds).
# Part of atomr._native._core (included by _core.pyx).

from libcpp.optional cimport optional

from atomr._native.includes.cluster_sbr cimport (
    CSbrDecision, CSbrLease, CSbrLeaseOutcome, CSbrMember, CSbrNanos,
    CSbrRecord, CSbrResolver, CSbrSettings, CSbrView, sbr_decide, sbr_indirectly_connected,
    sbr_kind_name, sbr_make_lease, sbr_parse_status, sbr_parse_strategy, sbr_validate,
)


cdef CSbrNanos _sbr_nanos(object seconds, str what) except *:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(seconds).__name__}")
    s = float(seconds)
    if not math.isfinite(s) or abs(s) > 9.0e9:
        raise ValueError(f"{what} must be a finite number of seconds, got {seconds!r}")
    return CSbrNanos(<int64_t>round(s * 1e9))


cdef CSbrSettings _sbr_settings(tuple settings) except *:
    cdef CSbrSettings s
    (strategy, role, quorum_size, down_if_alone, stable_after, down_all_when_unstable,
     acquire_lease_delay_for_minority) = settings
    if not isinstance(strategy, str) or not isinstance(role, str):
        raise TypeError("the strategy and the role must be str")
    if isinstance(quorum_size, bool) or not isinstance(quorum_size, int):
        raise TypeError(f"quorum_size must be an int, not {type(quorum_size).__name__}")
    if not 1 <= quorum_size <= 1_000_000:
        raise ValueError(f"quorum_size must be between 1 and 1000000, got {quorum_size}")
    s.strategy = sbr_parse_strategy(strategy.encode())
    s.role = role.encode()
    s.quorum_size = quorum_size
    s.down_if_alone = down_if_alone
    s.stable_after = _sbr_nanos(stable_after, "stable_after")
    if down_all_when_unstable is not None:
        s.down_all_when_unstable = optional[CSbrNanos](
            _sbr_nanos(down_all_when_unstable, "down_all_when_unstable"))
    s.acquire_lease_delay_for_minority = _sbr_nanos(acquire_lease_delay_for_minority,
                                                    "acquire_lease_delay_for_minority")
    sbr_validate(s)
    return s


cdef CSbrView _sbr_view(str self_address, object members, object records) except *:
    cdef CSbrView v
    cdef CSbrMember m
    cdef CSbrRecord r
    v.self_address = self_address.encode()
    for address, uid, status, roles, up_number, reachable in members:
        m = CSbrMember()
        m.address = (<str?>address).encode()
        m.uid = <uint64_t?>uid
        m.status = sbr_parse_status((<str?>status).encode())
        for role in roles:
            m.roles.push_back((<str?>role).encode())
        m.up_number = <int64_t?>up_number
        m.reachable = bool(reachable)
        v.members.push_back(m)
    for observer, subject in records:
        r.observer = (<str?>observer).encode()
        r.subject = (<str?>subject).encode()
        v.records.push_back(r)
    return v


cdef tuple _sbr_decision(CSbrDecision d):
    return (sbr_kind_name(d.kind), [a for a in d.down], bool(d.unstable))


def _sbr_decide(tuple settings, str self_address, members, records=(), lease_acquired=False):
    """The strategy's decision for one view: (kind, addresses to down, unstable).

    `settings` is (strategy, role, quorum_size, down_if_alone, stable_after,
    down_all_when_unstable or None, acquire_lease_delay_for_minority);
    `members` holds (address, uid, status, roles, up_number, reachable);
    `records` holds (observer, subject) unreachability observations.
    """
    cdef CSbrSettings s = _sbr_settings(settings)
    cdef CSbrView v = _sbr_view(self_address, members, records)
    cdef CSbrDecision d = sbr_decide(s, v, bool(lease_acquired))
    return _sbr_decision(d)


def _sbr_indirectly_connected(str self_address, members, records):
    """The addresses the view says are indirectly connected (sorted)."""
    cdef CSbrView v = _sbr_view(self_address, members, records)
    return [a for a in sbr_indirectly_connected(v)]


cdef CSbrLeaseOutcome _sbr_call_lease(void* context) noexcept with gil:
    resolver = <_SbrResolver>context
    try:
        outcome = resolver._lease()
        if outcome is None:
            return CSbrLeaseOutcome.pending
        if not isinstance(outcome, bool):
            raise TypeError(f"the lease must return True, False or None, not {outcome!r}")
        return CSbrLeaseOutcome.acquired if outcome else CSbrLeaseOutcome.denied
    except BaseException as exc:
        resolver._lease_error = exc
        return CSbrLeaseOutcome.pending


@cython.final
cdef class _SbrResolver:
    """The resolver with its timing; `lease` is a callable returning True
    (acquired), False (denied) or None (not known yet)."""
    cdef unique_ptr[CSbrResolver] r
    cdef object _lease
    cdef object _lease_error

    def __init__(self, tuple settings, lease=None):
        cdef CSbrSettings s = _sbr_settings(settings)
        cdef CSbrLease fn
        if lease is not None and not callable(lease):
            raise TypeError(f"lease must be callable, not {type(lease).__name__}")
        self._lease = lease
        self._lease_error = None
        if lease is not None:
            fn = sbr_make_lease(_sbr_call_lease, <void*>self)
        self.r.reset(new CSbrResolver(s, fn))

    def update(self, str self_address, members, double now, records=()):
        """A new view at `now` (seconds on the caller's clock)."""
        cdef CSbrView v = _sbr_view(self_address, members, records)
        self.r.get().update(v, _sbr_nanos(now, "now"))

    def tick(self, double now):
        """The decision due at `now`: (kind, addresses to down, unstable) or None."""
        cdef optional[CSbrDecision] d = self.r.get().tick(_sbr_nanos(now, "now"))
        if self._lease_error is not None:
            exc, self._lease_error = self._lease_error, None
            raise exc
        if not d.has_value():
            return None
        return _sbr_decision(d.value())

    @property
    def acquiring_lease(self):
        """Whether the resolver waits for the lease."""
        return bool(self.r.get().acquiring_lease())

    @property
    def stable_since(self):
        """When the current view last changed (seconds)."""
        return self.r.get().stable_since().count() / 1e9
