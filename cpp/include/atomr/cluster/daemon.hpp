#pragma once

// The cluster daemon: one per actor system that is a cluster node. It keeps
// this node's view of the membership (a `gossip`), and runs Akka's cluster
// protocol with the daemons of other nodes over any transport (TCP, or the
// simulated network under virtual time) through a `send` function:
//
// * Seed-node join: InitJoin to every seed, Join to the first that answers
//   InitJoinAck, Welcome (the joiner's first gossip) back. The first seed in
//   the list joins itself when no other seed answers within
//   `seed_node_timeout`. A node that is alone in its own one-node cluster
//   (every daemon starts as one) abandons it to join.
// * Push-pull gossip every `gossip_interval`: a GossipStatus (the version)
//   to a peer chosen at random (preferring members that have not seen the
//   current version with `gossip_different_view_probability`); the side
//   with the newer version sends its gossip, concurrent versions merge.
// * Cluster heartbeats on a ring: each node monitors the next
//   `monitored_by_nr_of_members` members in address order with its own
//   phi-accrual detectors (so a 1,000-node cluster sends O(N) heartbeats,
//   not O(N^2)), and records unreachable/reachable observations in the
//   gossip's reachability table (observer = this node).
// * The leader's actions on each tick (gossip.hpp `leader_actions`):
//   joining -> up on convergence, weakly up while convergence is blocked
//   only by unreachable members, leaving -> exiting -> removed, down ->
//   removed.
// * Leave and down: commands that change the gossip and spread with it.
// * The split brain resolver (sbr.hpp), when configured, fed with the view
//   on every change and ticked with the daemon; its decision is applied
//   only by the leader of the surviving side (members of its own side it
//   downs include itself: a losing side downs itself).
//
// Threading: every public member is thread-safe (one mutex). Messages go
// out through `daemon_callbacks::send` (called with the mutex held: it must
// not call back into the daemon); callbacks (`on_event`) are called without
// the mutex held, in the order the changes happened, on the thread that
// called the member causing them (the transport's io thread for inbound
// messages, the ticking thread for ticks).

#include "atomr/cluster/gossip.hpp"
#include "atomr/cluster/sbr.hpp"
#include "atomr/remote/failure_detector.hpp"
#include "atomr/remote/tcp_transport.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace atomr::cluster {

/// The recipient path of the daemon's envelopes on every node; envelopes
/// for it are handed to `cluster_daemon::receive` instead of the actors.
inline constexpr std::string_view daemon_path = "/system/cluster/core/daemon";

struct daemon_config {
  /// This node: its cluster address (`akka.tcp://sys@host:port` or
  /// `akka://name`) and its incarnation's uid.
  unique_address self;
  std::vector<std::string> roles;
  /// Maps a member's address to the transport address to send to
  /// (`host:port` for TCP). Unset: `host:port` when the address has them,
  /// else the whole address string (the simulated network's addresses).
  std::function<std::string(const std::string& address)> transport_address;

  std::chrono::milliseconds gossip_interval{1000};
  /// Leader actions, reaping of unreachable members and SBR ticks run on
  /// every `tick`; the host calls `tick` every `gossip_interval`.
  double gossip_different_view_probability = 0.8;
  std::chrono::milliseconds seed_node_timeout{5000};
  std::chrono::milliseconds retry_unsuccessful_join_after{10'000};
  leader_settings leader;

  /// Cluster heartbeats (the ring) and their detectors.
  std::chrono::milliseconds heartbeat_interval{1000};
  int monitored_by_nr_of_members = 5;
  remote::failure_detector_config failure_detector;

  /// The split brain resolver; none: unreachable members stay until downed
  /// by hand.
  std::optional<sbr::settings> sbr;
  sbr::lease_fn lease;
};

/// What the daemon reports (one per change, in order).
struct cluster_event {
  enum class kind_t : std::uint8_t {
    member_joined,
    member_weakly_up,
    member_up,
    member_left,
    member_exited,
    member_downed,
    member_removed,
    unreachable_member,
    reachable_member,
    leader_changed,
    convergence_changed,
    /// This node was removed or shut down: the daemon is done.
    cluster_shutting_down,
  };
  kind_t kind;
  /// The member concerned (member_* and (un)reachable_member).
  member subject;
  /// member_removed: the status before removal.
  member_status previous_status = member_status::removed;
  /// leader_changed.
  std::optional<std::string> from_address, to_address;
  /// convergence_changed.
  bool converged = false;
};

struct daemon_callbacks {
  /// Sends an envelope to a transport address (`transport::send`); false
  /// when it was dropped.
  std::function<bool(std::string_view to, const remote::envelope& env)> send;
  std::function<void(const cluster_event&)> on_event;
};

class cluster_daemon {
public:
  using clock_fn = std::function<std::chrono::nanoseconds()>;

  /// `clock` is the monotonic time (the simulated network's virtual clock,
  /// or steady_clock). The daemon starts as a one-node cluster: self
  /// joining, made up by the first `tick` (self is then its leader).
  cluster_daemon(daemon_config config, clock_fn clock, daemon_callbacks callbacks);
  ~cluster_daemon();

  /// Handles an envelope for `daemon_path` (true) or declines it (false:
  /// not the daemon's). Malformed messages are counted and dropped, never
  /// thrown. Called by the transport's inbound path.
  bool receive(const remote::inbound_envelope& in);
  /// Handles a transport event (quarantine of a member's uid downs it).
  void transport_event(const remote::transport_event& ev);

  /// One round: gossip, heartbeats, reachability checks, leader actions,
  /// SBR. Called every `gossip_interval` by the host.
  void tick();

  /// Starts joining the cluster of `seeds` (cluster addresses). Seeds equal
  /// to self are skipped, except that a first seed equal to self forms the
  /// cluster when no other seed answers. No-op when already a member of a
  /// cluster of more than one node.
  void join_seed_nodes(std::vector<std::string> seeds);
  /// Marks `address` leaving (self or another member).
  void leave(const std::string& address);
  /// Marks `address` down (up, weakly up, leaving, joining, exiting).
  void down(const std::string& address);
  /// Stops gossiping and heartbeating (the node is gone); idempotent.
  void shutdown();

  /// A copy of the current view.
  gossip state() const;
  unique_address self() const;
  std::optional<std::string> leader() const;
  bool converged() const;
  /// Members in the view (0 once self was removed).
  std::size_t member_count() const;

  struct stats_t {
    std::uint64_t gossip_sent = 0, gossip_received = 0, gossip_merged = 0;
    std::uint64_t status_sent = 0, heartbeats_sent = 0, malformed = 0;
    std::uint64_t ticks = 0;
  };
  stats_t stats() const;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace atomr::cluster
