# The hot paths of remoting over TCP (atomr.remote.Remote with its
# _RemoteTransport), in C: a tell to a remote ref and the delivery of a
# plain inbound tell. Everything else -- asks, senders, control messages,
# events, a first message of a type or manifest, any failure -- takes the
# Python path in atomr/remote/_extension.py, which stays the reference.
# Part of atomr._native._core (included by _core.pyx; declared in
# remote_fast.pxd).
#
# The caches are valid for one state of the system's codec registry (the
# registry replaces its state object on every change) and are filled by the
# Python path after it encoded or decoded a message successfully, so the
# fast path only ever repeats what the Python path decided.

from cpython.contextvars cimport PyContextVar_Reset, PyContextVar_Set
from libcpp.memory cimport make_shared

from atomr._native.includes.remote cimport CAnswerSlot, CInboundEnvelope


cdef class _RemoteWire:
    """The caches of one system's remoting hot paths: per message type its
    manifest and encoder, per manifest its decoder, per recipient path its
    live ref (the Remote's own lookup cache, shared)."""

    def __init__(self, _RemoteTransport transport, registry, dict refs, ctxvar, owner,
                 bint allow_pickle, str ask_path):
        self.transport = transport
        self.c_ask_path = ask_path.encode()
        self.askers = {}
        self.registry = registry
        self.state = None
        self.encoders = {}
        self.decoders = {}
        self.refs = refs
        self.ctxvar = ctxvar
        self.owner = owner
        self.allow_pickle = allow_pickle
        self.pickle_codec_name = "pickle"
        self.loop = None
        self.flush_pending = False
        self.flush_cb = self._flush

    def bind_loop(self, loop):
        """Sends made while `loop` runs (on its thread) wake the io thread
        once per turn of the loop: a callback scheduled by the first of them
        flushes them all."""
        self.loop = loop

    def run_ready(self):
        """Runs the actors the last drain posted asks to, if that drain
        posted on the dispatcher of this thread, then wakes the io thread
        for what they sent: the answers of synchronous handlers leave in
        this turn of the loop instead of two turns later (the dispatcher's
        drain and the flush, each a callback of its own). Plain tells keep
        the dispatcher's own turn: the loop then drains larger batches."""
        cdef _Dispatcher disp = self.ready
        self.ready = None
        if disp is not None and not disp.draining:
            disp.drain()
        if self.flush_pending:
            self._flush()

    def _flush(self):
        self.flush_pending = False
        if self.transport.t.get() != NULL:
            with nogil:
                self.transport.t.get().flush_deferred()

    cdef int _check_state(self) except -1:
        state = self.registry._state
        if state is not self.state:
            self.state = state
            self.encoders = {}
            self.decoders = {}
        return 0

    cdef object _codec(self, str manifest):
        """The registry's codec for `manifest` if the fast path may use it."""
        try:
            codec = self.registry._lookup(manifest)
        except Exception:
            return None
        if not self.allow_pickle and codec.name == self.pickle_codec_name:
            return None
        return codec

    def learn_encoder(self, object cls, str manifest):
        """Remembers that messages of exactly `cls` have `manifest` (called
        after the Python path encoded one)."""
        self._check_state()
        if cls in self.encoders or len(self.encoders) >= 1024:
            return
        codec = self._codec(manifest)
        if codec is not None:
            self.encoders[cls] = (manifest, manifest.encode(), codec.encoder)

    def learn_decoder(self, str manifest):
        """Remembers the decoder of `manifest` (called after the Python
        path decoded a plain tell of it)."""
        self._check_state()
        if manifest in self.decoders or len(self.decoders) >= 1024:
            return
        codec = self._codec(manifest)
        if codec is not None:
            self.decoders[manifest] = codec.decoder

    def learn_asker(self, str sender, str to):
        """Remembers that answers to asks from `sender` (an asker's path)
        go to `to` (``host:port``)."""
        if len(self.askers) >= 1024:
            self.askers.clear()
        self.askers[sender] = to.encode()

    cdef int _send(self, const string& to, const string& recipient, object msg, bint asker,
                   bint has_correlation, uint64_t correlation, bint now=False) except -1:
        """Encodes `msg` with the encoder known for its type and queues it:
        1, or 0 (nothing sent) when the Python path must handle it. `now`
        (off the loop thread): this thread writes it to an idle connection
        itself instead of waking the io thread."""
        cdef CRemoteEnvelope env
        cdef CTcpTransport* t
        cdef cbool ok
        self._check_state()
        entry = self.encoders.get(type(msg))
        if entry is None:
            return 0
        token = PyContextVar_Set(self.ctxvar, self.owner)  # refs inside: this system's paths
        try:
            blob = (<tuple>entry)[2](msg)
        except Exception:
            return 0  # the Python path encodes again and reports the failure
        finally:
            PyContextVar_Reset(self.ctxvar, token)
        if type(blob) is not bytes:
            return 0
        t = self.transport._live()
        env.recipient = recipient
        env.manifest = <bytes>(<tuple>entry)[1]
        env.payload = string(PyBytes_AS_STRING(blob), <size_t>PyBytes_GET_SIZE(blob))
        if asker:
            env.sender = self.c_ask_path
        if has_correlation:
            env.correlation_id = correlation
        if self.loop is not None and _get_running_loop() is self.loop:
            ok = t.send_deferred(to, env)
            if not self.flush_pending:
                self.flush_pending = True
                try:
                    self.loop.call_soon(self.flush_cb)
                except RuntimeError:  # the loop is closed: send at once
                    self.flush_pending = False
                    with nogil:
                        t.flush_deferred()
        elif now:
            with nogil:
                ok = t.send_now(to, env)
        elif env.payload.size() < 65536:
            ok = t.send(to, env)
        else:
            with nogil:
                ok = t.send(to, env)
        if not ok:
            self.owner._send_dropped(_utf8(recipient))
        return 1

    def ask_blocking(self, _RemoteTarget target, object msg, uint64_t correlation,
                     object timeout, tuple where, dict pending):
        """An ask from a thread that is not the loop's, whose answer the io
        thread hands straight to this thread (no queue, eventfd or loop on
        the way): sends `msg` as ask `correlation` (its pending entry,
        ``(answer, *where)``, lets the loop side fail it) and waits without
        the GIL for up to `timeout` seconds (None: no limit).

        Returns ``(0, None, None)`` when the type of `msg` is not known
        (nothing sent: the Python path must send it), ``(1, value, None)``,
        ``(2, manifest, payload)`` for an answer the Python path decodes,
        or ``(3, None, None)`` when no answer came in time. Raises what the
        loop side failed the ask with."""
        cdef _BlockingAnswer answer
        cdef CInboundQueue* queue = self.transport.queue.get()
        cdef int64_t timeout_ns = -1
        cdef CInboundEnvelope* env
        self._check_state()
        if type(msg) not in self.encoders:
            return (0, None, None)
        if timeout is not None:
            timeout_ns = <int64_t>(<double>timeout * 1e9)
        answer = _BlockingAnswer.__new__(_BlockingAnswer)
        answer.slot = make_shared[CAnswerSlot]()
        queue.expect_answer(correlation, answer.slot)
        pending[correlation] = (answer,) + where
        try:
            if self._send(target.c_to, target.c_recipient, msg, True, True, correlation,
                          True) == 0:
                return (0, None, None)
            with nogil:
                answer.slot.get().wait(timeout_ns)
        finally:
            queue.forget_answer(correlation)
            pending.pop(correlation, None)
        if answer.slot.get().answered():
            env = &answer.slot.get().answer()
            manifest = _utf8(env.env.manifest)
            payload = _bytes_of(env.env.payload)
            decoder = self.decoders.get(manifest)
            if decoder is None:
                return (2, manifest, payload)
            token = PyContextVar_Set(self.ctxvar, self.owner)  # refs inside bind here
            try:
                return (1, decoder(payload), None)
            except Exception:
                return (2, manifest, payload)  # the Python path decodes and reports it
            finally:
                PyContextVar_Reset(self.ctxvar, token)
        if answer.settled:
            if answer.error is not None:
                raise answer.error
            return (1, answer.value, None)
        return (3, None, None)

    def target(self, str to, str recipient):
        """The fast sender to `recipient` (an actor path) at `to` (``host:port``)."""
        cdef _RemoteTarget t = _RemoteTarget.__new__(_RemoteTarget)
        t.wire = self
        t.c_to = to.encode()
        t.c_recipient = recipient.encode()
        return t

    def drain(self, handle, dict pending):
        """Drains the transport's queue like ``_RemoteTransport.drain``,
        delivering plain tells (no sender, no correlation id) of a known
        manifest to a known live recipient here, and passing every other
        item, as drain's tuple, to `handle`, in order."""
        cdef vector[CInboundItem] items
        cdef _RemoteTransport tr = self.transport
        cdef size_t limit = tr.queue.get().limit()
        cdef size_t i
        cdef CInboundItem* it
        items = tr.queue.get().drain()
        if limit != 0 and items.size() >= limit and tr.t.get() != NULL:
            with nogil:
                tr.t.get().resume_reading()
        if items.size() == 0:
            return
        self._check_state()
        decoders = self.decoders
        refs = self.refs
        last_manifest = None
        decoder = None
        for i in range(items.size()):
            it = &items[i]
            if it.kind == CInboundKind.envelope:
                manifest = _utf8(it.in_.env.manifest)
                if manifest != last_manifest:
                    decoder = decoders.get(manifest)
                    last_manifest = manifest
                if decoder is not None:
                    if not it.in_.env.correlation_id.has_value():
                        if (not it.in_.env.sender.has_value()
                                and self._tell(it, decoder, refs)):
                            continue
                    elif it.in_.env.recipient == self.c_ask_path:
                        if self._answered(it, decoder, pending):
                            continue
                    elif it.in_.env.sender.has_value() and self._asked(it, decoder, refs):
                        continue
            handle(_inbound_tuple(it))

    cdef bint _tell(self, CInboundItem* it, object decoder, dict refs) except -1:
        """A plain tell to a live known recipient: delivered (True)."""
        recipient = _utf8(it.in_.env.recipient)
        found = refs.get(recipient)
        if found is None or (<ActorRef>found)._cell.status == S_STOPPED:
            return False
        try:
            msg = decoder(_bytes_of(it.in_.env.payload))
        except Exception:
            return False  # the Python path decodes again and reports it
        try:
            (<ActorRef>found)._cell._post(msg, None, None)
        except Exception as exc:
            self.owner._post_failed(recipient, exc)
        return True

    cdef bint _asked(self, CInboundItem* it, object decoder, dict refs) except -1:
        """An ask of a peer to a live known recipient, from a known asker:
        posted with a reply that sends the answer back (True)."""
        cdef _RemoteReply reply
        sender = _utf8(it.in_.env.sender.value())
        to = self.askers.get(sender)
        if to is None:
            return False
        recipient = _utf8(it.in_.env.recipient)
        found = refs.get(recipient)
        if found is None or (<ActorRef>found)._cell.status == S_STOPPED:
            return False
        try:
            msg = decoder(_bytes_of(it.in_.env.payload))
        except Exception:
            return False
        reply = _RemoteReply.__new__(_RemoteReply)
        reply.wire = self
        reply.c_to = <bytes>to
        reply.c_recipient = it.in_.env.sender.value()
        reply.correlation = it.in_.env.correlation_id.value()
        try:
            (<ActorRef>found)._cell._post(msg, None, reply)
        except Exception as exc:
            if not reply.done:
                reply.fail(exc)
        self._note_ready((<ActorRef>found)._cell)
        return True

    cdef inline void _note_ready(self, _Cell cell):
        """Remembers the dispatcher a post made ready, if it runs on this
        thread (``run_ready`` drains it)."""
        cdef _Dispatcher disp = cell.disp
        if self.ready is None and disp is not None and disp.soon_pending and disp.on_loop_thread():
            self.ready = disp

    cdef bint _answered(self, CInboundItem* it, object decoder, dict pending) except -1:
        """The answer to one of this system's asks, awaited: completed (True)."""
        correlation = it.in_.env.correlation_id.value()
        entry = pending.get(correlation)
        if entry is None:
            return False
        fut = (<tuple>entry)[0]
        if fut.done():
            return False
        try:
            msg = decoder(_bytes_of(it.in_.env.payload))
        except Exception:
            return False
        del pending[correlation]
        try:
            fut.set_result(msg)
        except Exception:
            pass  # the asker gave up at this very moment
        return True


cdef tuple _inbound_tuple(CInboundItem* it):
    """One drained item as its tuple of ``_RemoteTransport.drain``."""
    if it.kind == CInboundKind.envelope:
        return (REMOTE_ENVELOPE, _utf8(it.in_.from_), it.in_.from_uid,
                _utf8(it.in_.env.recipient),
                _utf8(it.in_.env.sender.value()) if it.in_.env.sender.has_value() else None,
                _utf8(it.in_.env.manifest), _bytes_of(it.in_.env.payload),
                it.in_.env.correlation_id.value()
                if it.in_.env.correlation_id.has_value() else None)
    if it.kind == CInboundKind.dropped:
        return (REMOTE_DROPPED, _utf8(it.in_.from_), _utf8(it.in_.env.recipient),
                _utf8(it.in_.env.manifest), _bytes_of(it.in_.env.payload),
                _str_of_view(drop_reason_name(it.reason)))
    return (REMOTE_EVENT, _str_of_view(event_kind_name(it.event.kind)),
            _utf8(it.event.address), it.event.uid, _utf8(it.event.detail),
            _utf8(it.event.system))


cdef class _RemoteTarget:
    """A remote ref's fast sender: encodes a message whose type the wire
    knows and queues it on the transport."""

    def tell(self, msg):
        """Sends `msg` (no sender) when its type is known; returns False,
        having sent nothing, when the Python path must handle it."""
        return self.wire._send(self.c_to, self.c_recipient, msg, False, False, 0) == 1

    def ask(self, msg, uint64_t correlation):
        """Sends `msg` as this system's ask `correlation` when its type is
        known; returns False, having sent nothing, otherwise."""
        return self.wire._send(self.c_to, self.c_recipient, msg, True, True, correlation) == 1


cdef class _RemoteReply(_Reply):
    """Where the answer to a peer's ask goes: encoded and sent back at once
    from the thread that answers (the Python path when its type is new)."""

    cdef void complete(self, object value):
        if self.done:
            return
        self.done = True
        try:
            if self.wire._send(self.c_to, self.c_recipient, value, False, True,
                               self.correlation) == 0:
                self.wire.owner._answer_value(_utf8(self.c_recipient), self.correlation, value)
        except BaseException as exc:
            _log.error("could not answer a remote ask", exc_info=exc)

    cdef void fail(self, object exc):
        if self.done:
            return
        self.done = True
        try:
            self.wire.owner._answer_failure(_utf8(self.c_recipient), self.correlation, exc)
        except BaseException as error:
            _log.error("could not answer a remote ask", exc_info=error)


cdef class _BlockingAnswer:
    """The pending entry of an ask a thread waits for in
    ``_RemoteWire.ask_blocking``: looks like a future to the loop side
    (which may fail it: the peer is gone, the transport stopped), and
    wakes the waiting thread when it does."""

    def done(self):
        return self.settled or (self.slot.get() != NULL and self.slot.get().answered())

    def set_result(self, value):
        if self.done():
            raise concurrent.futures.InvalidStateError("the ask already ended")
        self.settled = True
        self.value = value
        self.slot.get().cancel()

    def set_exception(self, exc):
        if self.done():
            raise concurrent.futures.InvalidStateError("the ask already ended")
        self.settled = True
        self.error = exc
        self.slot.get().cancel()
