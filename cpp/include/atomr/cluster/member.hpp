#pragma once

// Cluster members: who a member is (its unique address), where it is in the
// membership life cycle (its status) and how members are ordered.

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atomr::cluster {

/// The parts of an actor system address, `protocol://system[@host:port]`.
struct address_parts {
  std::string protocol;
  std::string system;
  std::string host; // empty for a local address
  std::uint32_t port = 0;
};

/// Parses `protocol://system` or `protocol://system@host:port`; nullopt if
/// the string is not such an address (empty protocol or system, a port that
/// is not a number within 0..65535).
std::optional<address_parts> parse_address(std::string_view address);

/// Compares two address strings the way Akka orders members: protocol, host,
/// port (numerically), then system; the whole string breaks remaining ties
/// (unparseable strings sort after parseable ones), so the order is total.
std::strong_ordering compare_addresses(std::string_view a, std::string_view b);

/// One incarnation of an actor system: its address and the uid it drew at
/// start. A restarted system at the same address is a different node.
struct unique_address {
  std::string address;
  std::uint64_t uid = 0;

  /// Address ordering (`compare_addresses`), then uid.
  friend std::strong_ordering operator<=>(const unique_address& a, const unique_address& b) {
    if (auto c = compare_addresses(a.address, b.address); c != 0)
      return c;
    return a.uid <=> b.uid;
  }
  friend bool operator==(const unique_address&, const unique_address&) = default;

  /// `address#uid`, the node name used in vector clocks.
  std::string node_name() const;
};

/// Where a member is in its life cycle. The numbers are the wire encoding.
enum class member_status : std::uint8_t {
  joining = 0,
  weakly_up = 1,
  up = 2,
  leaving = 3,
  exiting = 4,
  down = 5,
  removed = 6,
};

inline constexpr int member_status_count = 7;

/// Whether the life cycle allows `from -> to` (Akka's transitions):
/// joining -> weakly_up | up | leaving | down | removed,
/// weakly_up -> up | leaving | down | removed, up -> leaving | down | removed,
/// leaving -> exiting | down | removed, exiting -> removed | down,
/// down -> removed; removed is final. A status may always stay as it is.
bool transition_allowed(member_status from, member_status to) noexcept;

/// The snake-case name (`weakly_up`).
std::string_view status_name(member_status s) noexcept;

/// A status by its snake-case name, also accepting `weaklyup`; nullopt for
/// anything else.
std::optional<member_status> parse_status(std::string_view name) noexcept;

/// Merge priority of a status: when two gossips disagree about a member, the
/// status of higher priority wins (removed > down > exiting > leaving > up >
/// weakly_up > joining).
int status_priority(member_status s) noexcept;

/// A member of the cluster.
struct member {
  unique_address node;
  member_status status = member_status::joining;
  std::vector<std::string> roles; // sorted, unique
  /// The order in which members became up (1 for the first); 0 until then.
  std::int32_t up_number = 0;

  /// A joining member; the roles are sorted and deduplicated.
  static member joining(unique_address node, std::vector<std::string> roles = {});

  /// A copy with status `to`; invalid_transition_error if the life cycle
  /// does not allow it.
  member with_status(member_status to) const;

  /// A copy that is up with `number`.
  member with_up_number(member_status to, std::int32_t number) const;

  friend bool operator==(const member&, const member&) = default;
};

/// Address ordering of members (the order of a gossip's member list).
inline bool address_less(const member& a, const member& b) {
  return a.node < b.node;
}

/// Age ordering: a smaller up number is older; members not yet up (up
/// number 0) are younger than any up member; ties by address. Negative if
/// `a` is older than `b`, 0 only for the same node and up number.
int age_compare(const member& a, const member& b) noexcept;

/// The member of higher merge priority of two views of the same node (the
/// higher status; for the same status the older one; then the larger roles,
/// so the choice is symmetric).
const member& highest_priority_of(const member& a, const member& b) noexcept;

} // namespace atomr::cluster
