# Streams: a materialized island (cpp/include/atomr/streams/interpreter.hpp
# run by the Python host of cpp/include/atomr/bridge/streams.hpp) and the
# state of a kill switch, for atomr.streams.
# Part of atomr._native._core (included by _core.pyx; declared in streams.pxd).
#
# Invariants:
# * An island is built (the builder methods), then run in slices on one
#   thread at a time, with the GIL held; its stages call Python callables
#   directly from C++.
# * The island borrows the callables, deciders and kill switch handles it is
#   given: `keep` holds a reference to each for the island's lifetime.
#   Elements handed to the builder are owned by the island from then on.
# * An async call is started through `starter(fn, arg, ticket)` (arg is
#   `_NO_ARG` for an async source's `fn()`); it returns None and the
#   outcome comes back through `complete_async(ticket, ...)` from a later
#   loop callback, never from inside `starter` -- or, for a call whose
#   awaitable was already done with a value, it returns `(value,)` and the
#   island takes the value at once.

from cpython.exc cimport PyErr_CheckSignals
from cpython.ref cimport Py_INCREF

from atomr._native.includes.bridge cimport CComponent
from atomr._native.includes.streams cimport (
    CInterpreter, CIoWait, COutcome, COverflow, CStreamCallbacks, CStreamsErrc,
    make_kill_switch,
)

_declare_native_codes("streams", <int>CComponent.streams, {
    "generic": <int>CStreamsErrc.generic,
    "invalid_argument": <int>CStreamsErrc.invalid_argument,
    "buffer_overflow": <int>CStreamsErrc.buffer_overflow,
    "rate_exceeded": <int>CStreamsErrc.rate_exceeded,
    "empty_stream": <int>CStreamsErrc.empty_stream,
    "aborted": <int>CStreamsErrc.aborted,
    "invalid_graph": <int>CStreamsErrc.invalid_graph,
    "framing": <int>CStreamsErrc.framing,
    "io": <int>CStreamsErrc.io,
})

#: Outcomes of `StreamIsland.run`.
ISLAND_YIELDED = <int>COutcome.yielded
ISLAND_WAITING = <int>COutcome.waiting
ISLAND_COMPLETED = <int>COutcome.completed
ISLAND_FAILED = <int>COutcome.failed
ISLAND_CANCELLED = <int>COutcome.cancelled

# The argument `starter` gets for an async source's no-argument call.
_NO_ARG = object()
STREAM_NO_ARG = _NO_ARG

_OVERFLOW = {
    "backpressure": COverflow.backpressure,
    "drop_head": COverflow.drop_head,
    "drop_tail": COverflow.drop_tail,
    "drop_buffer": COverflow.drop_buffer,
    "drop_new": COverflow.drop_new,
    "fail": COverflow.fail,
}


cdef PyObject* _island_make_failure(PyObject* owner, int code,
                                    const char* message) noexcept with gil:
    try:
        cls = _ERROR_TABLE.get((<int>CComponent.streams, code), _errors.StreamError)
        exc = cls((<bytes>message).decode("utf-8", "replace"))
    except BaseException as e:
        exc = e
    Py_INCREF(exc)
    return <PyObject*>exc


cdef int _island_decide(PyObject* owner, PyObject* decider, PyObject* failure) noexcept with gil:
    try:
        d = (<object>decider)(<object>failure)
        if d == 1 or d == 2:
            return d
    except BaseException:
        _log.exception("atomr.streams: a supervision decider raised; the stream stops")
    return 0


cdef PyObject* _island_start_async(PyObject* owner, PyObject* fn, PyObject* x,
                                   uint64_t ticket, int* done) noexcept with gil:
    try:
        r = (<StreamIsland>owner).starter(<object>fn, _NO_ARG if x == NULL else <object>x, ticket)
        if r is None:
            return NULL
        value = (<tuple?>r)[0]
        done[0] = 1
        Py_INCREF(value)
        return <PyObject*>value
    except BaseException as e:
        exc = e
    Py_INCREF(exc)
    return <PyObject*>exc


cdef PyObject* _island_abort_failure(PyObject* owner, PyObject* handle) noexcept with gil:
    try:
        exc = (<object>handle)._abort_failure()
        if not isinstance(exc, BaseException):
            exc = _errors.StreamAbortedError(str(exc))
    except BaseException as e:
        exc = e
    Py_INCREF(exc)
    return <PyObject*>exc


cdef inline void* _owned(object o):
    Py_INCREF(o)
    return <void*><PyObject*>o


cdef inline void* _opt(object o):
    return NULL if o is None else <void*><PyObject*>o


@cython.final
cdef class StreamIsland:
    """One materialization of a stream graph: the C++ island interpreter
    with its Python host.

    Built with the builder methods (sources push a stage tree, operators
    replace the top one, fan-ins the top two, a sink ends the building),
    then run in slices with `run`. Only one thread at a time may call it,
    holding the GIL; the callables it is given are called from that thread.
    """

    def __cinit__(self):
        cdef CStreamCallbacks cb
        cb.make_failure = _island_make_failure
        cb.decide = _island_decide
        cb.start_async = _island_start_async
        cb.abort_failure = _island_abort_failure
        self.keep = []
        self.starter = None
        self.s.reset(new CPyStream(<PyObject*>self, cb))

    def __dealloc__(self):
        self.s.reset()  # releases every element the island still holds

    cdef CInterpreter* _i(self):
        return &self.s.get().interp

    cdef void* _borrow(self, object fn) except? NULL:
        if fn is None:
            return NULL
        self.keep.append(fn)
        return <void*><PyObject*>fn

    # -- sources -------------------------------------------------------------------------

    def source_iter(self, iterator):
        """Reads `iterator` (an iterator, not an iterable)."""
        if not hasattr(type(iterator), "__next__"):
            raise TypeError(f"source_iter needs an iterator, not {type(iterator).__name__}")
        self._i().source_iter(_owned(iterator))

    def source_single(self, x):
        self._i().source_single(_owned(x))

    def source_repeat(self, x):
        self._i().source_repeat(_owned(x))

    def source_empty(self):
        self._i().source_empty()

    def source_failed(self, BaseException failure not None):
        self._i().source_failed(_owned(failure))

    def source_async(self, next_fn):
        """`next_fn()` (through `starter`) yields the next element; an end
        outcome (`complete_async(..., end=True)`) completes the source."""
        self._i().source_async(self._borrow(next_fn))

    # -- linear operators --------------------------------------------------------------

    def map(self, fn, decider=None):
        self._i().map(self._borrow(fn), self._borrow(decider))

    def filter(self, pred, decider=None, bint negate=False):
        self._i().filter(self._borrow(pred), self._borrow(decider), negate)

    def take(self, int64_t n):
        self._i().take(n)

    def skip(self, int64_t n):
        self._i().skip(n)

    def take_while(self, pred, decider=None, bint inclusive=False):
        self._i().take_while(self._borrow(pred), self._borrow(decider), inclusive)

    def drop_while(self, pred, decider=None):
        self._i().drop_while(self._borrow(pred), self._borrow(decider))

    def map_concat(self, fn, decider=None):
        self._i().map_concat(self._borrow(fn), self._borrow(decider))

    def scan(self, zero, fn, decider=None):
        self._i().scan(_owned(zero), self._borrow(fn), self._borrow(decider))

    def fold(self, zero, fn, decider=None):
        self._i().fold(_owned(zero), self._borrow(fn), self._borrow(decider))

    def reduce(self, fn, decider=None):
        self._i().reduce(self._borrow(fn), self._borrow(decider))

    def grouped(self, int64_t n):
        self._i().grouped(n)

    def sliding(self, int64_t n, int64_t step):
        self._i().sliding(n, step)

    def recover(self, fn):
        self._i().recover(self._borrow(fn))

    def map_async(self, fn, int64_t parallelism, bint ordered=True, decider=None):
        self._i().map_async(self._borrow(fn), parallelism, ordered, self._borrow(decider))

    def buffer(self, int64_t size, str strategy):
        s = _OVERFLOW.get(strategy)
        if s is None:
            raise ValueError(f"unknown overflow strategy {strategy!r}")
        self._i().buffer(size, <COverflow>s)

    def throttle(self, int64_t elements, double per, int64_t maximum_burst, bint enforcing):
        if not per > 0.0 or per > 9.0e9:
            raise ValueError(f"throttle's period must be a positive number of seconds, got {per!r}")
        self._i().throttle(elements, <int64_t>(per * 1e9), maximum_burst, enforcing)

    def gate(self, KillSwitchState state not None, handle):
        """Gates the top tree with a kill switch; `handle._abort_failure()`
        is the exception an abort fails the stream with."""
        self._i().gate(state.ks, self._borrow(handle))

    # -- framing -------------------------------------------------------------------------

    def delimiter_framing(self, bytes delimiter not None, int64_t max_frame_length,
                          bint allow_truncation=False):
        """Bytes chunks to the frames `delimiter` separates (stripped)."""
        self._i().delimiter_framing(delimiter, max_frame_length, allow_truncation)

    def length_field_framing(self, int64_t max_frame_length, int64_t field_length=4,
                             int64_t field_offset=0, bint big_endian=False,
                             bint keep_header=False):
        """Bytes chunks to the frames a length field prefixes."""
        self._i().length_field_framing(max_frame_length, field_length, field_offset,
                                       big_endian, keep_header)

    def length_prefix(self, int64_t field_length=4, bint big_endian=False):
        """Each bytes element prefixed with its length."""
        self._i().length_prefix(field_length, big_endian)

    # -- files and sockets ----------------------------------------------------------------

    def source_fd(self, int fd, int64_t chunk_size, bint socket, str name not None):
        """The bytes read from descriptor `fd` (borrowed: the caller keeps it
        open while the island runs and closes it), in chunks of up to
        `chunk_size`. A socket is read without blocking; an end of file (the
        peer closing) completes the source. `name` names it in failures."""
        self._i().source_fd(fd, chunk_size, socket, name.encode("utf-8", "surrogateescape"))

    def source_file(self, path, int64_t chunk_size):
        """The bytes of the file at `path` (str, bytes or path-like), opened
        at the first pull, closed at its end or when cancelled."""
        self._i().source_file(os.fsencode(path), chunk_size)

    def write_fd(self, int fd, bint socket, str name not None):
        """Writes the top tree's bytes elements to descriptor `fd` (borrowed)
        and emits nothing; completes once every byte is written (a socket's
        write side is shut down then)."""
        self._i().write_fd(fd, socket, name.encode("utf-8", "surrogateescape"))

    def io_waits(self):
        """``(fd, write)`` of every descriptor the island waits for after a
        waiting slice (readable, or writable when `write`)."""
        cdef const vector[CIoWait]* w = &self._i().io_waits()
        return [(w[0][k].fd, w[0][k].write) for k in range(w[0].size())]

    # -- fan-in --------------------------------------------------------------------------

    def concat(self):
        self._i().concat()

    def merge(self, bint eager_complete=False):
        self._i().merge(eager_complete)

    def zip(self, fn=None):
        self._i().zip(self._borrow(fn))

    def interleave(self, int64_t segment_size):
        self._i().interleave(segment_size)

    # -- fan-out -------------------------------------------------------------------------

    def broadcast(self, int64_t outputs, int64_t buffer=16, bint eager_cancel=False,
                  bint fail_on_cause=False):
        """Pops the top tree into a broadcast junction; its id (see `port`)."""
        return self._i().broadcast(outputs, buffer, eager_cancel, fail_on_cause)

    def balance(self, int64_t outputs):
        """Pops the top tree into a balance junction; its id."""
        return self._i().balance(outputs)

    def partition(self, int64_t outputs, fn, int64_t buffer=16):
        """Pops the top tree into a partition junction routing each element
        to output ``fn(x)`` (an int); its id."""
        if not callable(fn):
            raise TypeError(f"a partitioner must be callable, not {type(fn).__name__}")
        return self._i().partition(outputs, self._borrow(fn), buffer)

    def tap(self, int64_t buffer):
        """Pops the top tree into a tap (output 0 gets every element, output
        1 those that fit its buffer); its id."""
        return self._i().tap(buffer)

    def port(self, size_t junction, int64_t index):
        """Pushes output `index` of junction `junction`."""
        self._i().port(junction, index)

    # -- sinks ---------------------------------------------------------------------------

    def sink_seq(self):
        self._i().sink_seq()

    def sink_fold(self, zero, fn, decider=None):
        self._i().sink_fold(_owned(zero), self._borrow(fn), self._borrow(decider))

    def sink_reduce(self, fn, decider=None):
        self._i().sink_reduce(self._borrow(fn), self._borrow(decider))

    def sink_head_option(self):
        self._i().sink_head_option()

    def sink_last_option(self):
        self._i().sink_last_option()

    def sink_foreach(self, fn, decider=None):
        self._i().sink_foreach(self._borrow(fn), self._borrow(decider))

    def sink_ignore(self):
        self._i().sink_ignore()

    def sink_file(self, path, bint append=False):
        """Writes bytes elements to the file at `path`, opened now
        (StreamIOError when it cannot be); materializes the bytes written."""
        self._i().sink_file(os.fsencode(path), append)

    # -- running -------------------------------------------------------------------------

    def run(self, int64_t budget):
        """One slice: at most `budget` source pulls. Returns an ISLAND_* outcome."""
        return <int>self._i().run(budget)

    def run_to_end(self, int64_t budget):
        """Runs slices of `budget` source pulls, letting other threads take
        the GIL between slices, until the island completes, fails or waits
        for an async outcome. Returns the outcome; a signal's exception
        (KeyboardInterrupt) cancels the island and propagates."""
        cdef COutcome o
        while True:
            o = self._i().run(budget)
            if o != COutcome.yielded:
                return <int>o
            with nogil:
                pass
            try:
                PyErr_CheckSignals()
            except BaseException:
                self._i().cancel()
                raise

    def wake_at(self):
        """The monotonic time (seconds, time.monotonic's clock) a stage asked
        to be pulled again at after a waiting slice, or None."""
        cdef int64_t ns = self._i().wake_at_ns()
        return None if ns == 0 else ns / 1e9

    def complete_async(self, uint64_t ticket, bint ok, value=None, bint end=False):
        """Delivers an async outcome: a value (`ok`), a failure (exception,
        not `ok`) or the end of an async source (`end`)."""
        self._i().complete_async(ticket, ok, NULL if end else _owned(value))

    def cancel(self):
        """Tears the island down (upstream cancelled, iterators closed)."""
        self._i().cancel()

    def result(self):
        """The materialized value after a completed run (once)."""
        cdef void* r = self._i().take_result()
        if r == NULL:
            raise RuntimeError("the island has no result")
        return _steal(<PyObject*>r)

    def sink_count(self):
        """The number of sinks of the island."""
        return self._i().sinks()

    def sink_outcome(self, size_t i):
        """``(ok, value)`` of finished sink `i` (once): its materialized
        value when ok, else its failure."""
        cdef cbool ok = False
        cdef void* v = self._i().take_sink(i, ok)
        if v == NULL:
            raise RuntimeError(f"sink {i} of the island has no outcome")
        return bool(ok), _steal(<PyObject*>v)

    def failure(self):
        """The exception after a failed run (once)."""
        cdef void* f = self._i().take_failure()
        if f == NULL:
            raise RuntimeError("the island has no failure")
        return _steal(<PyObject*>f)


@cython.final
cdef class KillSwitchState:
    """The state behind a kill switch: running, shut down or aborted. Any
    thread may flip it (once); the islands it gates read it on every pull."""

    def __cinit__(self):
        self.ks = make_kill_switch()

    def shutdown(self):
        """True when this call flipped the switch."""
        return self.ks.get().shutdown()

    def abort(self):
        """True when this call flipped the switch."""
        return self.ks.get().abort()

    def state(self):
        """0 running, 1 shut down, 2 aborted."""
        return <int>self.ks.get().current()
