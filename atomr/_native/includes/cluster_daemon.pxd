# Extern-only declarations mirroring cpp/include/atomr/cluster/daemon.hpp and
# daemon_host.hpp: the cluster daemon and what hosts it. Nothing here is
# Python-visible.

from libc.stdint cimport int32_t, uint8_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.memory cimport shared_ptr, unique_ptr
from libcpp.optional cimport optional
from libcpp.string cimport string
from libcpp.vector cimport vector

from atomr._native._core cimport translate_error
from atomr._native.includes.cluster cimport CGossip, CMember, CMemberStatus, CUniqueAddress
from atomr._native.includes.cluster_sbr cimport CSbrLease, CSbrLeaseOutcome, CSbrSettings
from atomr._native.includes.remote cimport (
    CFailureDetectorConfig, CInboundQueue, CMillis, CTcpTransport,
)
from atomr._native.includes.sim_network cimport CNanos, CSimHeartbeatConfig, CSimNetwork


cdef extern from "atomr/cluster/gossip.hpp" namespace "atomr::cluster" nogil:
    cdef cppclass CLeaderSettings "atomr::cluster::leader_settings":
        cbool allow_weakly_up
        size_t min_nr_of_members


cdef extern from "atomr/cluster/daemon.hpp" namespace "atomr::cluster" nogil:
    cdef cppclass CDaemonConfig "atomr::cluster::daemon_config":
        CDaemonConfig()
        CUniqueAddress self_ "self"
        vector[string] roles
        CMillis gossip_interval
        double gossip_different_view_probability
        CMillis seed_node_timeout
        CMillis retry_unsuccessful_join_after
        CLeaderSettings leader
        CMillis heartbeat_interval
        int monitored_by_nr_of_members
        CFailureDetectorConfig failure_detector
        optional[CSbrSettings] sbr
        CSbrLease lease

    cdef enum class CClusterEventKind "atomr::cluster::cluster_event::kind_t" (uint8_t):
        member_joined "atomr::cluster::cluster_event::kind_t::member_joined"
        member_weakly_up "atomr::cluster::cluster_event::kind_t::member_weakly_up"
        member_up "atomr::cluster::cluster_event::kind_t::member_up"
        member_left "atomr::cluster::cluster_event::kind_t::member_left"
        member_exited "atomr::cluster::cluster_event::kind_t::member_exited"
        member_downed "atomr::cluster::cluster_event::kind_t::member_downed"
        member_removed "atomr::cluster::cluster_event::kind_t::member_removed"
        unreachable_member "atomr::cluster::cluster_event::kind_t::unreachable_member"
        reachable_member "atomr::cluster::cluster_event::kind_t::reachable_member"
        leader_changed "atomr::cluster::cluster_event::kind_t::leader_changed"
        convergence_changed "atomr::cluster::cluster_event::kind_t::convergence_changed"
        cluster_shutting_down "atomr::cluster::cluster_event::kind_t::cluster_shutting_down"

    cdef cppclass CClusterEvent "atomr::cluster::cluster_event":
        CClusterEventKind kind
        CMember subject
        CMemberStatus previous_status
        optional[string] from_address
        optional[string] to_address
        cbool converged

    cdef cppclass CDaemonStats "atomr::cluster::cluster_daemon::stats_t":
        uint64_t gossip_sent
        uint64_t gossip_received
        uint64_t gossip_merged
        uint64_t status_sent
        uint64_t status_received
        uint64_t heartbeats_sent
        uint64_t heartbeat_responses
        uint64_t malformed
        uint64_t ignored
        uint64_t send_failures
        uint64_t init_joins_sent
        uint64_t joins_sent
        uint64_t sbr_decisions
        uint64_t ticks
        uint64_t gossip_rounds
        uint64_t round_errors

    cdef cppclass CClusterDaemon "atomr::cluster::cluster_daemon":
        void tick() except +translate_error
        void join_seed_nodes(vector[string] seeds) except +translate_error
        void leave(const string& address) except +translate_error
        void down(const string& address) except +translate_error
        void shutdown() except +translate_error
        CGossip state() except +translate_error
        CUniqueAddress self_ "self"() except +translate_error
        optional[string] leader() except +translate_error
        cbool converged() except +translate_error
        size_t member_count() except +translate_error
        optional[CMember] self_member() except +translate_error
        cbool running() except +translate_error
        CDaemonStats stats() except +translate_error


cdef extern from "atomr/cluster/daemon_host.hpp" namespace "atomr::cluster" nogil:
    cdef cppclass CEventQueue "atomr::cluster::event_queue":
        int fd()
        vector[CClusterEvent] drain() except +translate_error
        size_t size() except +translate_error

    cdef cppclass CSimBus "atomr::cluster::sim_bus":
        CSimBus(CSimNetwork& net) except +translate_error
        size_t advance(CNanos by) except +translate_error
        void start_driver(CMillis step) except +translate_error
        void stop_driver() except +translate_error
        cbool driving() except +translate_error

    CSbrLease fixed_lease(cbool acquired) except +translate_error

    cdef cppclass CPolledLeaseState "atomr::cluster::polled_lease_state":
        cbool take_request()
        void set_outcome(CSbrLeaseOutcome o)

    CSbrLease polled_lease(shared_ptr[CPolledLeaseState] state) except +translate_error

    cdef cppclass CDaemonHost "atomr::cluster::daemon_host":
        @staticmethod
        unique_ptr[CDaemonHost] standalone(CDaemonConfig config) except +translate_error
        @staticmethod
        unique_ptr[CDaemonHost] on_tcp(CDaemonConfig config, CTcpTransport& t,
                                       shared_ptr[CInboundQueue] queue) except +translate_error
        @staticmethod
        unique_ptr[CDaemonHost] on_sim(CDaemonConfig config, CSimBus& bus,
                                       CSimHeartbeatConfig heartbeats) except +translate_error
        CClusterDaemon& daemon()
        CEventQueue& events()
        void stop() except +translate_error
