# Extern-only declarations mirroring cpp/include/atomr/remote/stream_link.hpp:
# the remote wire format over a plain byte stream (serial lines, pipes, ptys).
# Nothing here is Python-visible.

from libc.stdint cimport uint8_t, uint16_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.optional cimport optional
from libcpp.string cimport string
from libcpp.string_view cimport string_view
from libcpp.vector cimport vector

from atomr._native._core cimport translate_error
from atomr._native.includes.remote cimport CRemoteEnvelope


cdef extern from "atomr/remote/frame.hpp" namespace "atomr::remote" nogil:
    cdef cppclass CHandshake "atomr::remote::handshake":
        CHandshake()
        uint16_t protocol_version
        string system_name
        uint64_t uid
        string host
        uint16_t port
        optional[string] cookie

    cdef enum class CCloseReason "atomr::remote::close_reason" (uint8_t):
        shutdown "atomr::remote::close_reason::shutdown"
        handshake_refused "atomr::remote::close_reason::handshake_refused"
        quarantined "atomr::remote::close_reason::quarantined"
        duplicate_connection "atomr::remote::close_reason::duplicate_connection"
        protocol_error "atomr::remote::close_reason::protocol_error"

    cdef cppclass CCloseFrame "atomr::remote::close_frame":
        CCloseReason reason
        string detail

    string_view close_reason_name "atomr::remote::to_string"(CCloseReason reason)

    void encode_envelope "atomr::remote::encode_envelope"(
        const CRemoteEnvelope& env, string& out, size_t max_frame_size) except +translate_error


cdef extern from "atomr/remote/stream_link.hpp" namespace "atomr::remote" nogil:
    cdef cppclass CStreamItem "atomr::remote::stream_item":
        uint8_t type
        CHandshake hs
        CRemoteEnvelope env
        uint64_t sequence
        CCloseFrame close
        string error
        int error_code

    cdef cppclass CStreamDecoder "atomr::remote::stream_decoder":
        CStreamDecoder(size_t max_frame_size) except +translate_error
        void feed(const char* data, size_t size, vector[CStreamItem]& out) except +translate_error
        void resync()
        cbool hunting()
        uint64_t bytes_discarded()
        size_t buffered()
        size_t max_frame_size()

    string encode_handshake_frame "atomr::remote::encode_handshake_frame"(
        const CHandshake& hs, cbool ack) except +translate_error
    string encode_close_frame "atomr::remote::encode_close_frame"(
        CCloseReason reason, const string& detail) except +translate_error
    string encode_heartbeat_frame "atomr::remote::encode_heartbeat_frame"(
        uint64_t sequence, cbool ack) except +translate_error
