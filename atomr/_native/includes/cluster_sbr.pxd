# Extern-only declarations mirroring cpp/include/atomr/cluster/sbr.hpp: the
# split brain resolver's decider. Nothing here is Python-visible.

from libc.stdint cimport int64_t, uint8_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.optional cimport optional
from libcpp.string cimport string
from libcpp.vector cimport vector


cdef extern from "<chrono>" nogil:
    cdef cppclass CSbrNanos "std::chrono::nanoseconds":
        CSbrNanos()
        CSbrNanos(int64_t)
        int64_t count()


cdef extern from "atomr/cluster/sbr.hpp" namespace "atomr::cluster::sbr" nogil:
    cdef enum class CSbrStatus "atomr::cluster::sbr::member_status" (uint8_t):
        joining
        weakly_up
        up
        leaving
        exiting
        down
        removed

    cdef enum class CSbrStrategy "atomr::cluster::sbr::strategy_kind" (uint8_t):
        keep_majority
        static_quorum
        keep_oldest
        down_all
        lease_majority

    cdef enum class CSbrDecisionKind "atomr::cluster::sbr::decision_kind" (uint8_t):
        down_unreachable
        down_reachable
        down_all
        down_indirectly_connected

    cdef enum class CSbrLeaseOutcome "atomr::cluster::sbr::lease_outcome" (uint8_t):
        acquired
        denied
        pending

    cdef cppclass CSbrMember "atomr::cluster::sbr::view_member":
        CSbrMember()
        string address
        uint64_t uid
        CSbrStatus status
        vector[string] roles
        int64_t up_number
        cbool reachable

    cdef cppclass CSbrRecord "atomr::cluster::sbr::unreachable_record":
        string observer
        string subject

    cdef cppclass CSbrView "atomr::cluster::sbr::decision_view":
        string self_address "self"
        vector[CSbrMember] members
        vector[CSbrRecord] records

    cdef cppclass CSbrSettings "atomr::cluster::sbr::settings":
        CSbrStrategy strategy
        string role
        int quorum_size
        cbool down_if_alone
        CSbrNanos stable_after
        optional[CSbrNanos] down_all_when_unstable
        CSbrNanos acquire_lease_delay_for_minority

    cdef cppclass CSbrDecision "atomr::cluster::sbr::decision":
        CSbrDecisionKind kind
        vector[string] down
        cbool unstable

    cdef cppclass CSbrLease "atomr::cluster::sbr::lease_fn":
        pass

    const char* sbr_kind_name "atomr::cluster::sbr::to_string"(CSbrDecisionKind k)
    CSbrStrategy sbr_parse_strategy "atomr::cluster::sbr::parse_strategy"(const string& name) except +
    CSbrStatus sbr_parse_status "atomr::cluster::sbr::parse_status"(const string& name) except +
    void sbr_validate "atomr::cluster::sbr::validate"(const CSbrSettings& s) except +
    CSbrDecision sbr_decide "atomr::cluster::sbr::decide"(
        const CSbrSettings& s, const CSbrView& view, cbool lease_acquired) except +
    vector[string] sbr_indirectly_connected "atomr::cluster::sbr::indirectly_connected"(
        const CSbrView& view) except +
    CSbrLease sbr_make_lease "atomr::cluster::sbr::make_lease"(
        CSbrLeaseOutcome (*fn)(void*) noexcept, void* context) except +

    cdef cppclass CSbrResolver "atomr::cluster::sbr::resolver":
        CSbrResolver(CSbrSettings s, CSbrLease lease) except +
        void update(CSbrView view, CSbrNanos now) except +
        optional[CSbrDecision] tick(CSbrNanos now) except +
        cbool acquiring_lease()
        CSbrNanos stable_since()
