# Extern-only declarations mirroring cpp/include/atomr/streams and
# cpp/include/atomr/bridge/streams.hpp: the island interpreter with its
# Python host. Nothing here is Python-visible.

from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.memory cimport shared_ptr
from libcpp.string cimport string
from libcpp.vector cimport vector

from atomr._native._core cimport translate_error


cdef extern from "atomr/streams/error.hpp" namespace "atomr::streams" nogil:
    cdef enum class CStreamsErrc "atomr::streams::errc" (int):
        generic "atomr::streams::errc::generic"
        invalid_argument "atomr::streams::errc::invalid_argument"
        buffer_overflow "atomr::streams::errc::buffer_overflow"
        rate_exceeded "atomr::streams::errc::rate_exceeded"
        empty_stream "atomr::streams::errc::empty_stream"
        aborted "atomr::streams::errc::aborted"
        invalid_graph "atomr::streams::errc::invalid_graph"
        framing "atomr::streams::errc::framing"
        io "atomr::streams::errc::io"


cdef extern from "atomr/streams/stage.hpp" namespace "atomr::streams" nogil:
    cdef enum class COverflow "atomr::streams::overflow" (int):
        backpressure "atomr::streams::overflow::backpressure"
        drop_head "atomr::streams::overflow::drop_head"
        drop_tail "atomr::streams::overflow::drop_tail"
        drop_buffer "atomr::streams::overflow::drop_buffer"
        drop_new "atomr::streams::overflow::drop_new"
        fail "atomr::streams::overflow::fail"


cdef extern from "atomr/streams/kill_switch.hpp" namespace "atomr::streams" nogil:
    cdef enum class CKillState "atomr::streams::kill_switch::state" (int):
        running "atomr::streams::kill_switch::state::running"
        shut_down "atomr::streams::kill_switch::state::shut_down"
        aborted "atomr::streams::kill_switch::state::aborted"

    cdef cppclass CKillSwitch "atomr::streams::kill_switch":
        cbool shutdown()
        cbool abort()
        CKillState current()


    cdef cppclass CIoWait "atomr::streams::io_wait":
        int fd
        cbool write


cdef extern from "atomr/streams/interpreter.hpp" namespace "atomr::streams":
    cdef enum class COutcome "atomr::streams::outcome" (int):
        yielded "atomr::streams::outcome::yielded"
        waiting "atomr::streams::outcome::waiting"
        completed "atomr::streams::outcome::completed"
        failed "atomr::streams::outcome::failed"
        cancelled "atomr::streams::outcome::cancelled"

    # Element arguments are owned (a reference the caller gives away);
    # callables and deciders are borrowed.
    cdef cppclass CInterpreter "atomr::streams::interpreter":
        void source_iter(void* it) except +translate_error
        void source_single(void* x) except +translate_error
        void source_repeat(void* x) except +translate_error
        void source_empty() except +translate_error
        void source_failed(void* failure) except +translate_error
        void source_async(void* next_fn) except +translate_error
        void map(void* fn, void* decider) except +translate_error
        void filter(void* pred, void* decider, cbool negate) except +translate_error
        void take(int64_t n) except +translate_error
        void skip(int64_t n) except +translate_error
        void take_while(void* pred, void* decider, cbool inclusive) except +translate_error
        void drop_while(void* pred, void* decider) except +translate_error
        void map_concat(void* fn, void* decider) except +translate_error
        void scan(void* zero, void* fn, void* decider) except +translate_error
        void fold(void* zero, void* fn, void* decider) except +translate_error
        void reduce(void* fn, void* decider) except +translate_error
        void grouped(int64_t n) except +translate_error
        void sliding(int64_t n, int64_t step) except +translate_error
        void recover(void* fn) except +translate_error
        void map_async(void* fn, int64_t parallelism, cbool ordered,
                       void* decider) except +translate_error
        void buffer(int64_t size, COverflow strategy) except +translate_error
        void throttle(int64_t elements, int64_t per_ns, int64_t maximum_burst,
                      cbool enforcing) except +translate_error
        void gate(shared_ptr[CKillSwitch] ks, void* handle) except +translate_error
        void delimiter_framing(const string& delimiter, int64_t max_frame_length,
                               cbool allow_truncation) except +translate_error
        void length_field_framing(int64_t max_frame_length, int64_t field_length,
                                  int64_t field_offset, cbool big_endian,
                                  cbool keep_header) except +translate_error
        void length_prefix(int64_t field_length, cbool big_endian) except +translate_error
        void source_fd(int fd, int64_t chunk_size, cbool socket,
                       const string& name) except +translate_error
        void source_file(const string& path, int64_t chunk_size) except +translate_error
        void write_fd(int fd, cbool socket, const string& name) except +translate_error
        void concat() except +translate_error
        void merge(cbool eager_complete) except +translate_error
        void zip(void* fn) except +translate_error
        void interleave(int64_t segment_size) except +translate_error
        size_t broadcast(int64_t outputs, int64_t buffer, cbool eager_cancel,
                         cbool fail_on_cause) except +translate_error
        size_t balance(int64_t outputs) except +translate_error
        size_t partition(int64_t outputs, void* fn, int64_t buffer) except +translate_error
        size_t tap(int64_t buffer) except +translate_error
        void port(size_t id, int64_t index) except +translate_error
        void sink_seq() except +translate_error
        void sink_fold(void* zero, void* fn, void* decider) except +translate_error
        void sink_reduce(void* fn, void* decider) except +translate_error
        void sink_head_option() except +translate_error
        void sink_last_option() except +translate_error
        void sink_foreach(void* fn, void* decider) except +translate_error
        void sink_ignore() except +translate_error
        void sink_file(const string& path, cbool append) except +translate_error
        const vector[CIoWait]& io_waits()
        COutcome run(int64_t budget) except +translate_error
        int64_t wake_at_ns()
        void complete_async(uint64_t ticket, cbool ok, void* value)
        void cancel()
        void* take_result()
        void* take_failure()
        size_t sinks()
        void* take_sink(size_t i, cbool& ok)
        COutcome state()


cdef extern from "atomr/bridge/streams.hpp" namespace "atomr::bridge":
    cdef struct CStreamCallbacks "atomr::bridge::stream_callbacks":
        PyObject* (*make_failure)(PyObject* owner, int code, const char* message) noexcept
        int (*decide)(PyObject* owner, PyObject* decider, PyObject* failure) noexcept
        PyObject* (*start_async)(PyObject* owner, PyObject* fn, PyObject* x,
                                 uint64_t ticket, int* done) noexcept
        PyObject* (*abort_failure)(PyObject* owner, PyObject* handle) noexcept

    cdef cppclass CPyStream "atomr::bridge::py_stream":
        CPyStream(PyObject* owner, const CStreamCallbacks& callbacks) except +translate_error
        CInterpreter interp

    shared_ptr[CKillSwitch] make_kill_switch() except +translate_error
