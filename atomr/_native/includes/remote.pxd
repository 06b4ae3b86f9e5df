# Extern-only declarations mirroring cpp/include/atomr/remote. Nothing here
# is Python-visible. Cython sees the transport's plain records and an opaque
# transport; Asio and OpenSSL stay behind the C++ interface.

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.memory cimport shared_ptr
from libcpp.optional cimport optional
from libcpp.string cimport string
from libcpp.string_view cimport string_view
from libcpp.vector cimport vector

# The custom exception handler of every C++ call below: the Cython layer's
# one table-driven translator (atomr/_native/errors.pyx).
from atomr._native._core cimport translate_error


cdef extern from "atomr/remote/error.hpp" namespace "atomr::remote" nogil:
    cdef enum class CRemoteErrc "atomr::remote::errc" (int):
        generic "atomr::remote::errc::generic"
        malformed_frame "atomr::remote::errc::malformed_frame"
        frame_too_large "atomr::remote::errc::frame_too_large"
        unsupported_version "atomr::remote::errc::unsupported_version"
        invalid_address "atomr::remote::errc::invalid_address"
        bind_failed "atomr::remote::errc::bind_failed"
        transport_stopped "atomr::remote::errc::transport_stopped"
        invalid_config "atomr::remote::errc::invalid_config"


cdef extern from "<chrono>" nogil:
    cdef cppclass CMillis "std::chrono::milliseconds":
        CMillis()
        CMillis(int64_t)
        int64_t count()


cdef extern from "atomr/remote/frame.hpp" namespace "atomr::remote" nogil:
    cdef cppclass CRemoteEnvelope "atomr::remote::envelope":
        CRemoteEnvelope()
        string recipient
        optional[string] sender
        string manifest
        string payload
        optional[uint64_t] correlation_id


cdef extern from "atomr/remote/failure_detector.hpp" namespace "atomr::remote" nogil:
    cdef cppclass CFailureDetectorConfig "atomr::remote::failure_detector_config":
        CFailureDetectorConfig()
        double threshold
        size_t max_sample_size
        CMillis min_std_deviation
        CMillis acceptable_heartbeat_pause
        CMillis first_heartbeat_estimate


cdef extern from "atomr/remote/tcp_transport.hpp" namespace "atomr::remote" nogil:
    cdef cppclass CTlsConfig "atomr::remote::tls_config":
        CTlsConfig()
        string certificate_chain_file
        string private_key_file
        string ca_file
        cbool require_peer_certificate

    cdef cppclass CTransportConfig "atomr::remote::transport_config":
        CTransportConfig()
        string system_name
        uint64_t uid
        string bind_host
        uint16_t bind_port
        string advertised_host
        optional[string] cookie
        size_t max_frame_size
        size_t outbound_queue_limit
        CMillis heartbeat_interval
        CMillis idle_timeout
        CMillis handshake_timeout
        CMillis reconnect_min_backoff
        CMillis reconnect_max_backoff
        optional[CTlsConfig] tls
        CFailureDetectorConfig failure_detector
        CMillis reachability_check_interval
        CMillis peer_retention

    cdef cppclass CInboundEnvelope "atomr::remote::inbound_envelope":
        string from_ "from"
        uint64_t from_uid
        CRemoteEnvelope env

    cdef enum class CDropReason "atomr::remote::drop_reason" (int):
        queue_full "atomr::remote::drop_reason::queue_full"
        transport_stopped "atomr::remote::drop_reason::transport_stopped"

    cdef enum class CEventKind "atomr::remote::event_kind" (int):
        associated "atomr::remote::event_kind::associated"

    cdef cppclass CTransportEvent "atomr::remote::transport_event":
        CEventKind kind
        string address
        uint64_t uid
        string detail
        string system

    cdef cppclass CTransportCallbacks "atomr::remote::transport_callbacks":
        pass

    cdef cppclass CTransportStats "atomr::remote::transport_stats":
        uint64_t envelopes_queued
        uint64_t envelopes_received
        uint64_t envelopes_dropped
        uint64_t bytes_written
        uint64_t bytes_read
        uint64_t writes
        uint64_t connections_accepted
        uint64_t connections_dialed
        uint64_t peers
        uint64_t read_pauses
        uint64_t direct_writes

    cdef cppclass CTcpTransport "atomr::remote::tcp_transport":
        CTcpTransport(CTransportConfig config, CTransportCallbacks callbacks) except +translate_error
        void start() except +translate_error
        void stop() except +translate_error
        uint16_t port()
        string address() except +translate_error
        uint64_t uid()
        cbool send(const string& to, const CRemoteEnvelope& env) except +translate_error
        cbool send_deferred(const string& to, const CRemoteEnvelope& env) except +translate_error
        cbool send_now(const string& to, const CRemoteEnvelope& env) except +translate_error
        void flush_deferred() except +translate_error
        CTransportStats stats() except +translate_error
        void resume_reading() except +translate_error

    string_view drop_reason_name "atomr::remote::to_string"(CDropReason reason)
    string_view event_kind_name "atomr::remote::to_string"(CEventKind kind)


cdef extern from "atomr/remote/inbound_queue.hpp" namespace "atomr::remote" nogil:
    cdef enum class CInboundKind "atomr::remote::inbound_item::kind_t" (uint8_t):
        envelope "atomr::remote::inbound_item::kind_t::envelope"
        dropped "atomr::remote::inbound_item::kind_t::dropped"
        event "atomr::remote::inbound_item::kind_t::event"

    cdef cppclass CInboundItem "atomr::remote::inbound_item":
        CInboundKind kind
        CInboundEnvelope in_ "in"
        CDropReason reason
        CTransportEvent event

    cdef cppclass CAnswerSlot "atomr::remote::answer_slot":
        CAnswerSlot()
        void cancel()
        cbool wait(int64_t timeout_ns)
        cbool answered()
        CInboundEnvelope& answer()

    cdef cppclass CInboundQueue "atomr::remote::inbound_queue":
        CInboundQueue() except +translate_error
        void expect_answer(uint64_t correlation, shared_ptr[CAnswerSlot] slot) \
            except +translate_error
        void forget_answer(uint64_t correlation)
        int fd()
        vector[CInboundItem] drain() except +translate_error
        void set_limit(size_t limit)
        size_t limit()
        size_t size() except +translate_error

    CTransportCallbacks queue_callbacks(shared_ptr[CInboundQueue] queue) except +translate_error
