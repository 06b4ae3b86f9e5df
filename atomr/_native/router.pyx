# Routers: a router's head cell owns a native router. Mail told to the
# router's ref is routed in C++ straight into a routee's mailbox on the
# sender's thread; the head actor only manages the routees (pool
# supervision, resizing, management messages).
# Part of atomr._native._core (included by _core.pyx; declared in router.pxd).


cdef CRoutingLogic _routing_logic(str name) except *:
    """The native routing logic behind the router logic called `name`."""
    if name == "round_robin" or name == "tail_chopping":
        return CRoutingLogic.round_robin
    if name == "random":
        return CRoutingLogic.random
    if name == "broadcast" or name == "scatter_gather":
        return CRoutingLogic.broadcast
    if name == "consistent_hash":
        return CRoutingLogic.consistent_hash
    if name == "smallest_mailbox":
        return CRoutingLogic.smallest_mailbox
    raise ValueError(f"unknown routing logic {name!r}")


cdef dict _message_roles(object roles):
    """The router config's ``message_roles`` (``(class, "broadcast" or
    "manage")`` pairs) as class -> MR_* code, or None when there are none."""
    cdef dict out = {}
    if roles:
        for cls, role in roles:
            if role == "broadcast":
                out[cls] = MR_BROADCAST
            elif role == "manage":
                out[cls] = MR_MANAGE
            else:
                raise ValueError(f"unknown router message role {role!r} for {cls!r}")
    return out or None


cdef uint64_t _hash_key(object key) except? 0:
    """A 64-bit routing key: ints modulo 2**64, str/bytes by a stable hash."""
    cdef bytes data
    if isinstance(key, bool):
        return <uint64_t>int(key)
    if isinstance(key, int):
        return <uint64_t>(key & 0xFFFFFFFFFFFFFFFF)
    if isinstance(key, str):
        data = (<str>key).encode("utf-8")
    elif isinstance(key, (bytes, bytearray, memoryview)):
        data = bytes(key)
    else:
        return <uint64_t>(hash(key) & 0xFFFFFFFFFFFFFFFF)
    return router_hash_bytes(<const char*>data, len(data))


cdef int _router_kind(str logic, object within):
    if logic == "consistent_hash":
        return RK_NEEDS_KEY
    if logic == "tail_chopping":
        return RK_TAIL_CHOP
    if logic == "scatter_gather":
        return RK_WINDOWED
    if logic == "broadcast":
        return RK_FAN_OUT
    return RK_PLAIN


cdef class _RouterState:
    """What a router's head cell carries beyond a plain actor's: its native
    router, config and routees. Only the head's cell holds one, so a plain
    actor's cell carries a single None field for routing.

    Invariants: `native` is never null once built by `new`; `routees` is
    the list the native router was last given (`_publish_routees`); only
    the head's dispatcher thread changes it.
    """

    def __cinit__(self):
        self.native = NULL

    def __dealloc__(self):
        if self.native != NULL:
            del self.native
            self.native = NULL

    @staticmethod
    cdef _RouterState new(object cfg):
        cdef _RouterState rs = _RouterState.__new__(_RouterState)
        cdef CRoutingLogic logic = _routing_logic(cfg.logic)
        rs.roles = _message_roles(cfg.message_roles)
        rs.native = new CRouter(logic, clone_py_envelope, cfg.virtual_nodes)
        rs.cfg = cfg
        rs.kind = _router_kind(cfg.logic, cfg.within)
        rs.within = cfg.within if cfg.within is not None else 0.0
        rs.routees = []
        return rs


cdef int _check_pool_size(_System system, object cfg) except -1:
    """Refuses a pool router larger than the system allows (its size, or
    its resizer's upper bound)."""
    limit = system.max_pool_size
    if cfg.n > limit:
        raise ValueError(f"a pool of {cfg.n} routees exceeds actor.router.max-pool-size "
                         f"({limit})")
    resizer = cfg.resizer
    if resizer is not None and resizer.upper_bound > limit:
        raise ValueError(f"a resizer upper bound of {resizer.upper_bound} exceeds "
                         f"actor.router.max-pool-size ({limit})")
    return 0


cdef int _init_router(_Cell head, object cfg) except -1:
    """Builds the native router of `head` and its first routees."""
    cdef _RouterState rs = _RouterState.new(cfg)
    head.router = rs
    if cfg.group is not None:
        for ref in cfg.group:
            if not isinstance(ref, ActorRef):
                raise TypeError(f"group routees must be ActorRefs, not {type(ref).__name__}")
            rs.routees.append((<ActorRef>ref)._cell)
    else:
        for i in range(cfg.n):
            rs.routees.append(head._spawn_child(cfg.routee_props, f"routee-{i}"))
        head.anonymous_count = cfg.n
    _publish_routees(rs)
    return 0


cdef void _publish_routees(_RouterState rs):
    cdef vector[CCell*] cells
    cdef _Cell r
    for r in rs.routees:
        cells.push_back(r.c)
    rs.native.set_routees(cells)


cdef void _routee_gone(_Cell head, _Cell routee):
    """A pool routee stopped: route around it from now on."""
    cdef _RouterState rs = head.router
    if routee not in rs.routees:
        return
    rs.routees.remove(routee)
    _publish_routees(rs)
    if not rs.routees and head.status < S_TERMINATING and rs.cfg.group is None:
        _log.warning("router %s has no routees left; stopping it", head.path)
        head._request_stop()


def _router_routees(ActorRef ref):
    """Refs of the routees of the router `ref` (None when it is no router)."""
    cdef _RouterState rs = ref._cell.router
    if rs is None:
        return None
    return [(<_Cell>r).ref for r in rs.routees if (<_Cell>r).ref is not None]


def _router_loads(ActorRef ref):
    """(queued user messages, busy) per routee of the router `ref`."""
    cdef _RouterState rs = ref._cell.router
    cdef _Cell r
    out = []
    if rs is None:
        return out
    for r in rs.routees:
        st = r.c.state()
        out.append((r.c.queued(), st == CCellState.running or st == CCellState.scheduled
                    or st == CCellState.suspended or r.c.queued() > 0))
    return out


def _router_resize(ActorRef ref, delta):
    """Adds (delta > 0) or stops (delta < 0) pool routees, growing no larger
    than ``actor.router.max-pool-size``. On the head's thread."""
    cdef _Cell head = ref._cell
    cdef _RouterState rs = head.router
    cdef _Cell r
    if rs is None or rs.cfg.group is not None or head.status >= S_TERMINATING:
        return 0
    cfg = rs.cfg
    if delta > 0:
        delta = min(delta, head.system.max_pool_size - len(rs.routees))
        for _ in range(delta):
            name = f"routee-{head.anonymous_count}"
            head.anonymous_count += 1
            rs.routees.append(head._spawn_child(cfg.routee_props, name))
    elif delta < 0:
        delta = max(delta, 1 - len(rs.routees))
        for _ in range(-delta):
            r = rs.routees.pop()
            r._request_stop()
    _publish_routees(rs)
    return len(rs.routees)


def _router_index_for_key(ActorRef ref, key):
    cdef _RouterState rs = ref._cell.router
    if rs is None:
        raise TypeError(f"{ref.path} is not a router")
    return rs.native.index_for_key(_hash_key(key))


cdef class _TailChop:
    """One tail-chopping ask: the next routee gets the message whenever
    `interval` passes without a reply; the first reply wins."""

    def __call__(self):
        if self.reply.done or self.next >= len(self.order):
            return
        cell = self.order[self.next]
        self.next += 1
        (<_Cell>cell)._post(self.msg, None, self.reply)
        self._arm()

    cdef void _arm(self):
        # On the system's timer service, so virtual time drives it too.
        if self.next < len(self.order) and self.interval > 0 and not self.reply.done \
                and self.head.status < S_TERMINATING:
            Cancelable.start(self.head, self.head, self, self.interval, 0.0, False, T_CALLBACK)


cdef int _tail_chop(_Cell head, object msg, object reply) except -1:
    cdef _TailChop chop = _TailChop.__new__(_TailChop)
    cdef Py_ssize_t start
    routees = list(head.router.routees)
    if not routees:
        head._undeliverable(msg, None, reply)
        return 0
    cfg = head.router.cfg
    start = cfg.next_index() % len(routees)
    chop.order = routees[start:] + routees[:start]
    chop.msg = msg
    chop.reply = <_Reply>reply
    chop.interval = cfg.interval
    chop.head = head
    (<_Cell>chop.order[0])._post(msg, None, reply)
    chop.next = 1
    chop._arm()
    return 0


cdef class _WithinExpiry:
    """Fails a router ask that got no reply within the router's window."""

    def __call__(self):
        if not self.reply.done:
            self.reply.fail(_errors.AskTimeoutError(
                f"no routee of {self.path} replied within {self.within:g}s"))


cdef void _start_within(_Cell head, object reply, double within) except *:
    cdef _WithinExpiry expiry = _WithinExpiry.__new__(_WithinExpiry)
    expiry.reply = <_Reply>reply
    expiry.path = head.path
    expiry.within = within
    if head.status < S_TERMINATING:
        Cancelable.start(head, head, expiry, within, 0.0, False, T_CALLBACK)
