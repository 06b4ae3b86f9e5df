#pragma once

// The cluster state nodes gossip about: the members, who has seen this
// version, the reachability table and the version's vector clock. Plus the
// rules built on it: merge of concurrent gossips, convergence, the leader
// and the leader's actions.

#include "atomr/cluster/member.hpp"
#include "atomr/cluster/reachability.hpp"
#include "atomr/cluster/vector_clock.hpp"

#include <optional>
#include <set>
#include <vector>

namespace atomr::cluster {

struct gossip_overview {
  std::set<unique_address> seen;
  cluster::reachability reachability;
  friend bool operator==(const gossip_overview&, const gossip_overview&) = default;
};

class gossip {
public:
  gossip() = default;

  /// Members in address ordering, one per node.
  const std::vector<member>& members() const noexcept {
    return members_;
  }
  const gossip_overview& overview() const noexcept {
    return overview_;
  }
  const vector_clock& version() const noexcept {
    return version_;
  }
  /// Nodes removed from the cluster: a merge never brings them back.
  const std::set<unique_address>& tombstones() const noexcept {
    return tombstones_;
  }

  /// The member of `node`, if present.
  const member* find(const unique_address& node) const noexcept;
  /// The member whose address is `address` (any uid), if present.
  const member* find_address(std::string_view address) const noexcept;

  /// Adds `m`, or replaces the member of the same node. A tombstoned node
  /// cannot come back (invalid_transition_error); the status change from
  /// the present member must be allowed (invalid_transition_error).
  void put(const member& m);
  /// Adds `m` in place of any member with the same address (whatever its
  /// uid or status), without life cycle checks: for views assembled from
  /// outside the gossip protocol (a membership snapshot).
  void replace_address(const member& m);
  /// Removes `node` for good: drops it from the members, the seen set, the
  /// reachability table and the vector clock, and tombstones it.
  void remove(const unique_address& node);

  /// Increments `node`'s counter of the version, and resets seen to `node`.
  void tick(const unique_address& node);
  /// Marks the current version as seen by `node`.
  void see(const unique_address& node);
  bool seen_by(const unique_address& node) const;
  void set_seen(std::set<unique_address> seen);
  void set_reachability(cluster::reachability r);
  void set_version(vector_clock v);
  void set_tombstones(std::set<unique_address> t);

  /// Merges two gossips of concurrent versions as Akka does: members are the
  /// union, each node with the status of higher priority; tombstoned nodes
  /// are dropped; reachability and clocks merged; seen only by `self`.
  /// Commutative and idempotent in everything but `self`.
  static gossip merge(const gossip& a, const gossip& b, const unique_address& self);

  friend bool operator==(const gossip&, const gossip&) = default;

private:
  std::vector<member> members_;
  gossip_overview overview_;
  vector_clock version_;
  std::set<unique_address> tombstones_;
};

/// Whether the cluster has converged from `self`'s point of view: no member
/// is unreachable (ignoring observations made by down members, and `self`)
/// unless it is down or exiting, and every up or leaving member has seen
/// the current version.
bool converged(const gossip& g, const unique_address& self);

/// Whether convergence fails only because of unreachable members: every
/// reachable up or leaving member has seen the current version, but some
/// unreachable member that is neither down nor exiting blocks it.
bool blocked_only_by_unreachable(const gossip& g, const unique_address& self);

/// The leader as `self` sees it: among members that are reachable (or are
/// `self`) and not down or removed, the first up or leaving one in address
/// ordering; when none is up or leaving, the first of the others (exiting
/// members last). nullopt for no candidate.
std::optional<unique_address> leader(const gossip& g, const unique_address& self);

struct leader_settings {
  /// Move joining members to weakly up while convergence is blocked only by
  /// unreachable members.
  bool allow_weakly_up = true;
  /// Joining members are not moved up until the cluster has this many.
  std::size_t min_nr_of_members = 1;
};

/// One status change made by the leader's actions.
struct member_change {
  member before;
  member_status to;
};

struct leader_result {
  gossip next;
  std::vector<member_change> changes;
};

/// The leader's actions when `self` is the leader (nullopt otherwise, or
/// when there is nothing to do). On convergence: down and exiting members
/// are removed, leaving members exit, joining and weakly up members become
/// up with the next up numbers (in age ordering). Without convergence, and
/// when it is blocked only by unreachable members: joining members that are
/// reachable become weakly up (if allowed). The result's version is ticked
/// by `self` and seen only by it.
std::optional<leader_result> leader_actions(const gossip& g, const unique_address& self,
                                            const leader_settings& settings = {});

} // namespace atomr::cluster
