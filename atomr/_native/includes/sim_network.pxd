# Extern-only declarations mirroring cpp/include/atomr/remote/sim_network.hpp:
# the simulated network tests run transports over. Nothing here is
# Python-visible.

from libc.stdint cimport int64_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.map cimport map as cmap
from libcpp.memory cimport unique_ptr
from libcpp.optional cimport optional
from libcpp.string cimport string
from libcpp.utility cimport pair
from libcpp.vector cimport vector

from atomr._native._core cimport translate_error
from atomr._native.includes.remote cimport (
    CFailureDetectorConfig, CMillis, CRemoteEnvelope, CTransportCallbacks, CTransportStats,
)


cdef extern from "<chrono>" nogil:
    cdef cppclass CNanos "std::chrono::nanoseconds":
        CNanos()
        CNanos(int64_t)
        int64_t count()


cdef extern from "atomr/remote/sim_network.hpp" namespace "atomr::remote" nogil:
    cdef cppclass CLinkFaults "atomr::remote::link_faults":
        CLinkFaults()
        double drop
        double duplicate
        CNanos delay
        CNanos jitter
        CNanos reorder

    cdef cppclass CLinkStats "atomr::remote::link_stats":
        uint64_t sent
        uint64_t delivered
        uint64_t dropped
        uint64_t blocked
        uint64_t undeliverable
        uint64_t duplicated
        uint64_t reordered
        uint64_t bytes

    cdef cppclass CSimHeartbeatConfig "atomr::remote::sim_heartbeat_config":
        CSimHeartbeatConfig()
        cbool enabled
        CMillis heartbeat_interval
        CMillis reachability_check_interval
        CFailureDetectorConfig failure_detector

    cdef cppclass CSimTransport "atomr::remote::sim_transport":
        void start() except +translate_error
        void stop() except +translate_error
        string address() except +translate_error
        uint64_t uid()
        cbool send(const string& to, const CRemoteEnvelope& env) except +translate_error
        CTransportStats stats() except +translate_error

    cdef cppclass CSimNetwork "atomr::remote::sim_network":
        CSimNetwork(uint64_t seed) except +translate_error
        unique_ptr[CSimTransport] attach(string address, CTransportCallbacks callbacks,
                                         uint64_t uid, size_t max_frame_size,
                                         CSimHeartbeatConfig heartbeats) except +translate_error
        uint64_t seed()
        CNanos now() except +translate_error
        size_t advance(CNanos by) except +translate_error
        size_t run_until_idle(size_t max_deliveries) except +translate_error
        size_t in_flight() except +translate_error
        optional[CNanos] next_due() except +translate_error
        void set_default_faults(const CLinkFaults& faults) except +translate_error
        void set_link(const string& a, const string& b, const CLinkFaults& faults) \
            except +translate_error
        void clear_link(const string& a, const string& b) except +translate_error
        CLinkFaults faults(const string& a, const string& b) except +translate_error
        void partition(const string& a, const string& b) except +translate_error
        void partition_groups(const vector[string]& a, const vector[string]& b) \
            except +translate_error
        void heal() except +translate_error
        void heal(const string& a, const string& b) except +translate_error
        cbool partitioned(const string& a, const string& b) except +translate_error
        CLinkStats stats(const string& a, const string& b) except +translate_error
        cmap[pair[string, string], CLinkStats] all_stats() except +translate_error
        CLinkStats total_stats() except +translate_error
        vector[string] addresses() except +translate_error
