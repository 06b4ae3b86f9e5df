#pragma once

// The cluster daemon: one per actor system that is a cluster node. It keeps
// this node's view of the membership (a `gossip`), and runs Akka's cluster
// protocol with the daemons of other nodes over any transport (TCP, or the
// simulated network under virtual time) through a `send` function:
//
// * Seed-node join: InitJoin to every seed, Join to the first that answers
//   InitJoinAck as initialized, Welcome (the joiner's first gossip) back. A
//   node that never joined or formed a cluster and is alone (every daemon
//   starts as a one-node cluster) is uninitialized and acks as such; those
//   acks are joined only once `seed_node_timeout` has passed, and then only
//   the first seed in the joiner's own list that answered, if its answer was
//   such an ack (a nack: wait for it), so nodes with one seed list converge
//   on one cluster. The first seed in the list joins itself when no
//   initialized seed answers within `seed_node_timeout`. A node that is
//   alone in its own one-node cluster abandons it to join.
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
// messages, the ticking thread for ticks); when two threads cause changes
// at once, one of them may deliver the other's events too, still in order.
// `on_event` may call the daemon's members; events those cause are
// delivered after it returns.

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

  /// How often a gossip round runs (with leader actions, reaping of
  /// unreachable members, the join process and the SBR tick). The host
  /// calls `tick` every `cluster_daemon::tick_interval()`; each kind of
  /// round runs on the ticks at which it is due.
  std::chrono::milliseconds gossip_interval{1000};
  double gossip_different_view_probability = 0.8;
  std::chrono::milliseconds seed_node_timeout{5000};
  std::chrono::milliseconds retry_unsuccessful_join_after{10'000};
  leader_settings leader;

  /// Cluster heartbeats (the ring) and their detectors: a heartbeat round
  /// (send, then check the detectors) runs on the ticks at which it is due.
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
  /// Handles a transport event: `quarantined` for the uid of a member at
  /// that transport address downs that member (its incarnation is gone
  /// for good). Other events are ignored: reachability comes from the
  /// daemon's own ring heartbeats.
  void transport_event(const remote::transport_event& ev);

  /// One round: the heartbeat round when due (heartbeats, reachability
  /// checks), the gossip round when due (join process, leader actions,
  /// gossip, SBR, shutdown of a downed self). Called every
  /// `tick_interval()` by the host; the first call runs both.
  void tick();
  /// How often the host calls `tick`: the smaller of `gossip_interval` and
  /// `heartbeat_interval`.
  std::chrono::milliseconds tick_interval() const;

  /// Starts joining the cluster of `seeds` (cluster addresses). Seeds equal
  /// to self are skipped, except that a first seed equal to self forms the
  /// cluster when no other initialized seed answers (a list of just self
  /// forms it at once). No-op when already a member of a
  /// cluster of more than one node. Throws `invalid_argument_error` for an
  /// empty list or an address that does not parse.
  void join_seed_nodes(std::vector<std::string> seeds);
  /// Marks `address` leaving (self or another member); a no-op for an
  /// address that is not a member or is already leaving or further.
  /// Throws `invalid_argument_error` for an address that does not parse.
  void leave(const std::string& address);
  /// Marks `address` down (up, weakly up, leaving, joining, exiting); a
  /// no-op otherwise. Throws `invalid_argument_error` for an address that
  /// does not parse.
  void down(const std::string& address);
  /// Stops gossiping and heartbeating (the node is gone) and reports
  /// cluster_shutting_down; idempotent.
  void shutdown();

  /// A copy of the current view; empty (no members, like `member_count()`)
  /// once the daemon stopped.
  gossip state() const;
  unique_address self() const;
  std::optional<std::string> leader() const;
  bool converged() const;
  /// Members in the view (0 once self was removed).
  std::size_t member_count() const;
  /// Self as the view has it (nullopt once the daemon stopped).
  std::optional<member> self_member() const;
  /// False once the daemon stopped: removed, shut down after being downed,
  /// or `shutdown`.
  bool running() const;

  struct stats_t {
    /// GossipEnvelopes (and Welcomes) sent and received; received gossips
    /// that were concurrent with the local one and merged.
    std::uint64_t gossip_sent = 0, gossip_received = 0, gossip_merged = 0;
    /// GossipStatus messages sent and received.
    std::uint64_t status_sent = 0, status_received = 0;
    /// Ring heartbeats sent, responses received.
    std::uint64_t heartbeats_sent = 0, heartbeat_responses = 0;
    /// Daemon envelopes that did not decode (dropped).
    std::uint64_t malformed = 0;
    /// Well-formed messages ignored (for another incarnation, from a
    /// node that is not a member, while stopped).
    std::uint64_t ignored = 0;
    /// `send` calls that failed (returned false or threw).
    std::uint64_t send_failures = 0;
    /// InitJoin and Join messages sent.
    std::uint64_t init_joins_sent = 0, joins_sent = 0;
    /// Split brain resolver decisions applied by this node as leader.
    std::uint64_t sbr_decisions = 0;
    std::uint64_t ticks = 0;
    /// Gossip rounds run (ticks at which the gossip round was due).
    std::uint64_t gossip_rounds = 0;
    /// Ticks that failed part-way with an error (never thrown out of
    /// `tick`; the view stays as last committed).
    std::uint64_t round_errors = 0;
  };
  stats_t stats() const;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace atomr::cluster
