# Tracing hooks of the mail path (atomr.telemetry.tracing installs the
# tracer). Part of atomr._native._core (included by _core.pyx; declared in
# trace.pxd).
#
# With no tracer on the system (the default) a tell pays one pointer
# comparison and a handled message one type check. With one, a tell wraps
# its message with the sender's context (tracer.capture()) and the turn
# that handles it runs the handler inside tracer.receive_started() /
# tracer.receive_ended().


cdef class _Traced:
    """A user message and the trace context of the code that sent it."""

    def __repr__(self):
        return f"<traced {self.message!r}>"


cdef inline object _trace_wrap(object tracer, object msg):
    cdef _Traced t
    if type(msg) is _Traced:
        return msg  # already carries its sender's context
    t = _Traced.__new__(_Traced)
    t.message = msg
    t.context = tracer.capture()
    return t


cdef inline object _untraced(object msg):
    """The message inside a traced one (e.g. a dead letter), else `msg`."""
    if type(msg) is _Traced:
        return (<_Traced>msg).message
    return msg


cdef int _deliver_traced(_Cell cell, _Traced t, object sender, object reply) except -1:
    """`cell._deliver` of a traced message, inside its receive span (which
    ends when the handler returns or first suspends)."""
    tracer = cell.system.tracer
    if tracer is None:  # tracing was turned off since the tell
        return cell._deliver(t.message, sender, reply)
    scope = tracer.receive_started(t.context, cell.path, t.message, reply is not None)
    try:
        return cell._deliver(t.message, sender, reply)
    finally:
        tracer.receive_ended(scope)


async def _traced_await(object awaitable, object tracer, object scope):
    try:
        value = await awaitable
    except BaseException as exc:
        tracer.ask_ended(scope, exc)
        raise
    tracer.ask_ended(scope, None)
    return value


cdef object _traced_ask(ActorRef ref, object msg, object timeout, object key):
    """``ref.ask`` inside an ask span, which ends with the answer."""
    tracer = ref._cell.system.tracer
    _check_timeout(timeout)  # a bad timeout raises before any span starts
    scope = tracer.ask_started(ref._path, msg)
    try:
        answer = ref._ask(msg, timeout, key)
    except BaseException as exc:
        tracer.ask_posted(scope)
        tracer.ask_ended(scope, exc)
        raise
    tracer.ask_posted(scope)
    if isinstance(answer, asyncio.Future):
        answer.add_done_callback(tracer.ask_future_done(scope))
        return answer
    return _traced_await(answer, tracer, scope)


cdef object _traced_ask_blocking(ActorRef ref, object msg, object timeout, object key):
    """``ref.ask_blocking`` inside an ask span."""
    tracer = ref._cell.system.tracer
    _check_timeout(timeout)
    scope = tracer.ask_started(ref._path, msg)
    try:
        value = ref._ask_blocking(msg, timeout, key)
    except BaseException as exc:
        tracer.ask_posted(scope)
        tracer.ask_ended(scope, exc)
        raise
    tracer.ask_posted(scope)
    tracer.ask_ended(scope, None)
    return value
