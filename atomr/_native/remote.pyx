# Remote: the TCP transport of one actor system (cpp/include/atomr/remote).
# Part of atomr._native._core (included by _core.pyx; declared in remote.pxd).
#
# The transport's io thread never touches Python: what it produces (inbound
# envelopes, envelopes it could not send, transport events) goes onto an
# inbound queue whose eventfd the system's loop watches; `drain` hands it to
# Python on the loop's thread. `send` releases the GIL while it encodes the
# envelope into the peer's outbound buffer.

from atomr._native.includes.remote cimport (
    CFailureDetectorConfig, CInboundItem, CInboundKind, CInboundQueue, CMillis, CRemoteEnvelope,
    CRemoteErrc, CTcpTransport, CTlsConfig, CTransportConfig, CTransportStats, drop_reason_name,
    event_kind_name, queue_callbacks,
)
from atomr._native.includes.bridge cimport CComponent
from libc.stdint cimport uint16_t
from libcpp.string_view cimport string_view


_declare_native_codes("remote", <int>CComponent.remote, {
    "generic": <int>CRemoteErrc.generic,
    "malformed_frame": <int>CRemoteErrc.malformed_frame,
    "frame_too_large": <int>CRemoteErrc.frame_too_large,
    "unsupported_version": <int>CRemoteErrc.unsupported_version,
    "invalid_address": <int>CRemoteErrc.invalid_address,
    "bind_failed": <int>CRemoteErrc.bind_failed,
    "transport_stopped": <int>CRemoteErrc.transport_stopped,
    "invalid_config": <int>CRemoteErrc.invalid_config,
})

#: Kinds of the tuples `_RemoteTransport.drain` returns (first element).
REMOTE_ENVELOPE = 0
REMOTE_DROPPED = 1
REMOTE_EVENT = 2


cdef inline str _str_of_view(string_view v):
    return PyUnicode_DecodeUTF8(v.data(), <Py_ssize_t>v.size(), "replace")


cdef inline str _utf8(const string& s):
    return PyUnicode_DecodeUTF8(s.data(), <Py_ssize_t>s.size(), "replace")


cdef inline CMillis _millis(double seconds, str what) except *:
    if not seconds > 0.0:
        raise ValueError(f"{what} must be a positive duration, got {seconds!r}")
    return CMillis(<int64_t>max(1.0, seconds * 1000.0 + 0.5))


cdef list _inbound_tuples(vector[CInboundItem]& items):
    """The drained `items` as the tuples of ``_RemoteTransport.drain``."""
    cdef size_t i
    cdef CInboundItem* it
    out = []
    for i in range(items.size()):
        it = &items[i]
        if it.kind == CInboundKind.envelope:
            out.append((
                REMOTE_ENVELOPE, _utf8(it.in_.from_), it.in_.from_uid,
                _utf8(it.in_.env.recipient),
                _utf8(it.in_.env.sender.value()) if it.in_.env.sender.has_value() else None,
                _utf8(it.in_.env.manifest), _bytes_of(it.in_.env.payload),
                it.in_.env.correlation_id.value()
                if it.in_.env.correlation_id.has_value() else None))
        elif it.kind == CInboundKind.dropped:
            out.append((REMOTE_DROPPED, _utf8(it.in_.from_), _utf8(it.in_.env.recipient),
                        _utf8(it.in_.env.manifest), _bytes_of(it.in_.env.payload),
                        _str_of_view(drop_reason_name(it.reason))))
        else:
            out.append((REMOTE_EVENT, _str_of_view(event_kind_name(it.event.kind)),
                        _utf8(it.event.address), it.event.uid, _utf8(it.event.detail),
                        _utf8(it.event.system)))
    return out


cdef dict _stats_dict(const CTransportStats& s):
    """A transport's counters as the dict of ``_RemoteTransport.stats``."""
    return {
        "envelopes_queued": s.envelopes_queued,
        "envelopes_received": s.envelopes_received,
        "envelopes_dropped": s.envelopes_dropped,
        "bytes_written": s.bytes_written,
        "bytes_read": s.bytes_read,
        "writes": s.writes,
        "connections_accepted": s.connections_accepted,
        "connections_dialed": s.connections_dialed,
        "peers": s.peers,
        "read_pauses": s.read_pauses,
        "direct_writes": s.direct_writes,
    }


cdef int _fill_envelope(CRemoteEnvelope& env, str recipient, str manifest, object payload,
                        object sender, object correlation_id) except -1:
    """Sets the fields of `env` from the Python arguments of a send."""
    cdef string c_sender
    env.recipient = recipient.encode()
    env.manifest = manifest.encode()
    env.payload = _string_of(payload)
    if sender is not None:
        c_sender = (<str?>sender).encode()
        env.sender = c_sender
    if correlation_id is not None:
        env.correlation_id = <uint64_t>correlation_id
    return 0


cdef void _failure_detector_settings(object failure_detector, CFailureDetectorConfig* out,
                                    CMillis* check_interval) except *:
    # The settings dict of `failure_detector=` (transports, simulated
    # networks): only the keys given change the defaults in `out`.
    cdef dict fd = dict(failure_detector)
    unknown = set(fd) - {"threshold", "max_sample_size", "min_std_deviation",
                         "acceptable_heartbeat_pause", "first_heartbeat_estimate",
                         "check_interval"}
    if unknown:
        raise ValueError(f"unknown failure detector settings: {sorted(unknown)}")
    if "threshold" in fd:
        if not float(fd["threshold"]) > 0.0 or float(fd["threshold"]) == float("inf"):
            raise ValueError(f"failure detector threshold must be a positive number, "
                             f"got {fd['threshold']!r}")
        out.threshold = float(fd["threshold"])
    if "max_sample_size" in fd:
        if int(fd["max_sample_size"]) < 1:
            raise ValueError(f"failure detector max_sample_size must be at least 1, "
                             f"got {fd['max_sample_size']!r}")
        out.max_sample_size = int(fd["max_sample_size"])
    if "min_std_deviation" in fd:
        out.min_std_deviation = _millis(fd["min_std_deviation"], "min_std_deviation")
    if "acceptable_heartbeat_pause" in fd:
        if float(fd["acceptable_heartbeat_pause"]) < 0.0:
            raise ValueError(f"acceptable_heartbeat_pause must not be negative, "
                             f"got {fd['acceptable_heartbeat_pause']!r}")
        out.acceptable_heartbeat_pause = CMillis(
            <int64_t>(float(fd["acceptable_heartbeat_pause"]) * 1000.0 + 0.5))
    if "first_heartbeat_estimate" in fd:
        out.first_heartbeat_estimate = _millis(fd["first_heartbeat_estimate"],
                                               "first_heartbeat_estimate")
    if "check_interval" in fd:
        check_interval[0] = _millis(fd["check_interval"], "check_interval")


cdef class _RemoteTransport:
    """One system's TCP transport: listens once started, keeps one
    connection per peer system and moves envelopes.

    `send` may be called from any thread. The loop that watches :attr:`fd`
    calls :meth:`drain` on its own thread when it is readable.
    """

    def __init__(self, str system_name, str host="127.0.0.1", int port=0, *, cookie=None,
                 size_t max_frame_size=4 << 20, size_t outbound_queue_limit=100_000,
                 double heartbeat_interval=1.0, double idle_timeout=10.0,
                 double handshake_timeout=5.0, tls=None, str advertised_host="",
                 failure_detector=None, double peer_retention=300.0,
                 size_t inbound_queue_limit=0):
        """Validates the settings; nothing is bound until :meth:`start`.

        Args:
            tls: None, or ``(certificate_chain_file, private_key_file,
                ca_file, require_peer_certificate)``.
            advertised_host: The host peers are told to reach this system
                at ("": `host`).
            failure_detector: None (the defaults: threshold 10, 200
                samples, min std deviation 0.1 s, acceptable pause 10 s,
                first estimate 1 s, checked every second), or a dict with
                some of the keys ``threshold``, ``max_sample_size``,
                ``min_std_deviation``, ``acceptable_heartbeat_pause``,
                ``first_heartbeat_estimate`` and ``check_interval``
                (durations in seconds). Its arrivals are the peer's
                heartbeats; it reports ``unreachable`` / ``reachable`` events.
            peer_retention: seconds after which a peer without a connection
                or queued envelopes is forgotten.
            inbound_queue_limit: Items waiting for :meth:`drain` at which
                the transport stops reading from its sockets (TCP then
                holds the senders back) until a drain takes them; 0: no
                limit.

        Raises:
            ValueError: a setting outside its domain (a duration that is not
                positive, a port outside 0..65535, a frame size outside
                1 KiB..1 GiB, a zero queue limit), or TLS files that cannot
                be loaded.
            InvalidRemoteAddressError: `host` is not an IP literal.
            TypeError: `cookie` is neither a str nor None.
        """
        cdef CTransportConfig c
        cdef CTlsConfig tc
        cdef string tmp
        if port < 0 or port > 65535:
            raise ValueError(f"port must be within 0..65535, got {port}")
        c.system_name = system_name.encode()
        c.bind_host = host.encode()
        c.bind_port = <uint16_t>port
        c.advertised_host = advertised_host.encode()
        if cookie is not None:
            if not isinstance(cookie, str):
                raise TypeError(f"cookie must be a str or None, not {type(cookie).__name__}")
            tmp = (<str>cookie).encode()
            c.cookie = tmp
        c.max_frame_size = max_frame_size
        c.outbound_queue_limit = outbound_queue_limit
        c.heartbeat_interval = _millis(heartbeat_interval, "heartbeat_interval")
        c.idle_timeout = _millis(idle_timeout, "idle_timeout")
        c.handshake_timeout = _millis(handshake_timeout, "handshake_timeout")
        c.peer_retention = _millis(peer_retention, "peer_retention")
        if failure_detector is not None:
            _failure_detector_settings(failure_detector, &c.failure_detector,
                                       &c.reachability_check_interval)
        if tls is not None:
            chain, key, ca, require = tls
            tc.certificate_chain_file = str(chain).encode()
            tc.private_key_file = str(key).encode()
            tc.ca_file = str(ca).encode()
            tc.require_peer_certificate = bool(require)
            c.tls = tc
        if self.queue.get() == NULL:
            self.queue.reset(new CInboundQueue())
        self.queue.get().set_limit(inbound_queue_limit)
        self.t.reset(new CTcpTransport(c, queue_callbacks(self.queue)))

    def __dealloc__(self):
        if self.t.get() != NULL:
            with nogil:
                self.t.get().stop()
            self.t.reset()

    cdef CTcpTransport* _live(self) except NULL:
        if self.t.get() == NULL:
            raise RuntimeError("the transport was not initialised")
        return self.t.get()

    def start(self):
        """Binds, listens and starts the io thread (once).

        Raises:
            RemoteTransportError: the address cannot be bound.
            RuntimeError: called twice.
        """
        cdef CTcpTransport* t = self._live()
        if self.started:
            raise RuntimeError("the transport was already started")
        self.started = True
        with nogil:
            t.start()

    def stop(self):
        """Closes every connection and joins the io thread; what was still
        queued comes out of the next :meth:`drain` as dropped. Idempotent."""
        cdef CTcpTransport* t = self._live()
        self.stopped = True
        with nogil:
            t.stop()

    @property
    def fd(self):
        """The eventfd that becomes readable when :meth:`drain` has items."""
        return self.queue.get().fd()

    @property
    def port(self):
        """The bound port (after :meth:`start`)."""
        return self._live().port()

    @property
    def address(self):
        """The advertised address, ``host:port`` (after :meth:`start`)."""
        return _utf8(self._live().address())

    @property
    def uid(self):
        """This incarnation's UID."""
        return self._live().uid()

    def send(self, str to, str recipient, str manifest, payload, sender=None,
             correlation_id=None):
        """Queues an envelope for the system at `to` (``host:port``).

        Returns:
            False when it was dropped (it comes out of :meth:`drain`).

        Raises:
            InvalidRemoteAddress: `to` is not ``host:port`` or is this
                transport's own address.
            FrameTooLargeError: the envelope exceeds the frame limit.
            RemoteTransportError: the transport was never started.
        """
        cdef CTcpTransport* t = self._live()
        cdef CRemoteEnvelope env
        cdef string c_to = to.encode()
        cdef cbool ok
        _fill_envelope(env, recipient, manifest, payload, sender, correlation_id)
        with nogil:
            ok = t.send(c_to, env)
        return ok

    def drain(self):
        """Everything the transport reported since the last drain, oldest
        first, as tuples:

        * ``(REMOTE_ENVELOPE, from_address, from_uid, recipient, sender,
          manifest, payload, correlation_id)``
        * ``(REMOTE_DROPPED, to_address, recipient, manifest, payload, reason)``
          (reason: "outbound queue full" or "transport stopped")
        * ``(REMOTE_EVENT, kind, address, uid, detail, system_name)``
          (system_name: "" until a handshake with the peer completed)
        """
        cdef vector[CInboundItem] items
        cdef size_t limit = self.queue.get().limit()
        items = self.queue.get().drain()
        if limit != 0 and items.size() >= limit and self.t.get() != NULL:
            # Reading may have paused on this backlog: it is gone now.
            with nogil:
                self.t.get().resume_reading()
        return _inbound_tuples(items)

    @property
    def inbound_queued(self):
        """The items waiting for :meth:`drain` (any thread)."""
        return self.queue.get().size()

    def stats(self):
        """The transport's counters since start, as a dict."""
        return _stats_dict(self._live().stats())


def _remote_lookup(object system, str path):
    """The ref of the live actor of `system` (its ``_System``) at `path`
    (``/user/a/b`` or ``/system/a/b``, the part of an actor path after its
    address), or None.
    Only on the system's loop thread."""
    cdef _System core = <_System?>system
    cdef _Cell cell = core.guardian
    cdef Py_ssize_t start = 6
    if path.startswith("/system/"):
        cell = core.sys_guardian
        start = 8
    elif not path.startswith("/user/"):
        return None
    for name in path[start:].split("/"):
        if not name:
            return None
        child = cell.children.get(name)
        if child is None:
            return None
        cell = <_Cell>child
    return cell.ref


def _remote_dead_letter(object system, object msg, str recipient):
    """Publishes `msg` to `recipient` (an actor path) as a dead letter of
    `system` (its ``_System``): counted, logged and passed to listeners."""
    cdef _System core = <_System?>system
    cdef CEnvelope env
    set_py(env.message, msg)
    env.kind = K_USER
    core.sink.publish(env, recipient.encode(), CDeadLetterReason.no_recipient)


def _remote_tell(ActorRef ref, object msg, object sender):
    """Tells `msg` to `ref` with `sender` (any ref-like object, e.g. a
    remote ref) as the ``ctx.sender`` its handler sees."""
    ref._cell._post(msg, sender, None)
