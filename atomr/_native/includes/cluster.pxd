# Extern-only declarations mirroring cpp/include/atomr/cluster: the
# membership core. Nothing here is Python-visible.

from libc.stdint cimport int32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.optional cimport optional
from libcpp.set cimport set as cset
from libcpp.string cimport string
from libcpp.string_view cimport string_view
from libcpp.vector cimport vector

from atomr._native._core cimport translate_error


cdef extern from "atomr/cluster/error.hpp" namespace "atomr::cluster" nogil:
    cdef enum class CClusterErrc "atomr::cluster::errc" (int):
        generic "atomr::cluster::errc::generic"
        malformed_gossip "atomr::cluster::errc::malformed_gossip"
        unsupported_version "atomr::cluster::errc::unsupported_version"
        invalid_argument "atomr::cluster::errc::invalid_argument"
        invalid_transition "atomr::cluster::errc::invalid_transition"


cdef extern from "atomr/cluster/member.hpp" namespace "atomr::cluster" nogil:
    cdef cppclass CAddressParts "atomr::cluster::address_parts":
        string protocol
        string system
        string host
        unsigned port

    optional[CAddressParts] parse_address(string_view address)

    cdef cppclass CUniqueAddress "atomr::cluster::unique_address":
        CUniqueAddress()
        string address
        uint64_t uid
        cbool operator==(const CUniqueAddress&)

    cdef enum class CMemberStatus "atomr::cluster::member_status" (int):
        joining "atomr::cluster::member_status::joining"
        weakly_up "atomr::cluster::member_status::weakly_up"
        up "atomr::cluster::member_status::up"
        leaving "atomr::cluster::member_status::leaving"
        exiting "atomr::cluster::member_status::exiting"
        down "atomr::cluster::member_status::down"
        removed "atomr::cluster::member_status::removed"

    string_view status_name(CMemberStatus s)
    optional[CMemberStatus] parse_status(string_view name)

    cdef cppclass CMember "atomr::cluster::member":
        CMember()
        CUniqueAddress node
        CMemberStatus status
        vector[string] roles
        int32_t up_number

        @staticmethod
        CMember joining(CUniqueAddress node, vector[string] roles) except +translate_error

    int age_compare(const CMember& a, const CMember& b)


cdef extern from "atomr/cluster/vector_clock.hpp" namespace "atomr::cluster" nogil:
    cdef enum class CClockOrder "atomr::cluster::clock_order" (int):
        before "atomr::cluster::clock_order::before"
        after "atomr::cluster::clock_order::after"
        same "atomr::cluster::clock_order::same"
        concurrent "atomr::cluster::clock_order::concurrent"

    string_view order_name(CClockOrder o)

    cdef cppclass CVectorClock "atomr::cluster::vector_clock":
        CVectorClock()
        void tick(const string& node) except +translate_error
        uint64_t get(const string& node)
        CVectorClock merge(const CVectorClock& other) except +translate_error
        CClockOrder compare(const CVectorClock& other)


cdef extern from "atomr/cluster/reachability.hpp" namespace "atomr::cluster" nogil:
    cdef cppclass CReachability "atomr::cluster::reachability":
        cset[CUniqueAddress] all_unreachable()


cdef extern from "atomr/cluster/gossip.hpp" namespace "atomr::cluster" nogil:
    cdef cppclass CGossipOverview "atomr::cluster::gossip_overview":
        CReachability reachability

    cdef cppclass CGossip "atomr::cluster::gossip":
        CGossip()
        const CGossipOverview& overview()
        const vector[CMember]& members()
        const CMember* find_address(string_view address)
        void replace_address(const CMember& m) except +translate_error

    optional[CUniqueAddress] leader(const CGossip& g, const CUniqueAddress& self) \
        except +translate_error


cdef extern from "atomr/cluster/gossip_codec.hpp" namespace "atomr::cluster" nogil:
    string encode_gossip(const CGossip& g) except +translate_error
    CGossip decode_gossip(string_view bytes) except +translate_error
