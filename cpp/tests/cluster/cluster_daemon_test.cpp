// The cluster daemon on the simulated network under virtual time: seed
// join, gossip convergence, leader actions, leave, down, ring heartbeats and
// reachability, the split brain resolver, restarts and faults.

#include "atomr/cluster/error.hpp"
#include "atomr/cluster/gossip_codec.hpp"
#include "atomr/cluster/protocol.hpp"
#include "sim_cluster.hpp"

#include <gtest/gtest.h>

namespace atomr::cluster {
namespace {

using namespace std::chrono_literals;
using testing::address_of;
using testing::events_of;
using testing::index_of;
using testing::sim_cluster;
using kind = cluster_event::kind_t;

// Forms a cluster of nodes 1..n (seeds: all of them, node 1 first).
void form(sim_cluster& c, int n) {
  std::vector<int> ids;
  for (int i = 1; i <= n; ++i) {
    c.start(i);
    ids.push_back(i);
  }
  for (int i = 1; i <= n; ++i)
    c[i].daemon->join_seed_nodes(c.seeds(ids));
  ASSERT_TRUE(c.run_until([&] { return c.all_up(ids); }, 60s)) << "no convergence";
}

TEST(ClusterDaemon, StartsAsAOneNodeClusterMadeUpByTheFirstTick) {
  sim_cluster c(1);
  auto& a = c.start(1);
  EXPECT_EQ(a.daemon->member_count(), 1u);
  EXPECT_EQ(a.daemon->self_member()->status, member_status::joining);
  c.net.advance(1500ms);
  EXPECT_EQ(a.daemon->self_member()->status, member_status::up);
  EXPECT_EQ(a.daemon->leader(), address_of(1));
  EXPECT_TRUE(a.daemon->converged());
  ASSERT_GE(a.events.size(), 3u);
  EXPECT_EQ(a.events[0].kind, kind::member_up);
  EXPECT_EQ(a.events[1].kind, kind::leader_changed);
  EXPECT_EQ(a.events[1].to_address, address_of(1));
  EXPECT_FALSE(a.events[1].from_address.has_value());
  EXPECT_EQ(a.events[2].kind, kind::convergence_changed);
  EXPECT_TRUE(a.events[2].converged);
}

TEST(ClusterDaemon, ThreeNodesJoinThroughSeedsAllUpWithOneLeader) {
  sim_cluster c(2);
  form(c, 3);
  for (int i = 1; i <= 3; ++i) {
    auto& n = c[i];
    EXPECT_EQ(n.daemon->leader(), address_of(1));
    // Every member's up was reported, self's join before self's up.
    for (int j = 1; j <= 3; ++j)
      EXPECT_GE(index_of(n, kind::member_up, address_of(j)), 0) << i << " " << j;
    if (i != 1) {
      const long joined = index_of(n, kind::member_joined, address_of(i));
      ASSERT_GE(joined, 0);
      // The up of self that counts is the one in the joined cluster.
      long up_after = -1;
      for (std::size_t k = static_cast<std::size_t>(joined); k < n.events.size(); ++k)
        if (n.events[k].kind == kind::member_up && n.events[k].subject.node.address == n.address)
          up_after = static_cast<long>(k);
      EXPECT_GT(up_after, joined);
    }
    // The last leader change names node 1.
    const auto leads = events_of(n, kind::leader_changed);
    ASSERT_FALSE(leads.empty());
    EXPECT_EQ(leads.back().to_address, address_of(1));
    EXPECT_EQ(n.daemon->stats().malformed, 0u);
  }
  // Up numbers 1..3 in the order they came up; node 1 is the oldest.
  const gossip g = c[2].daemon->state();
  EXPECT_EQ(g.find_address(address_of(1))->up_number, 1);
}

TEST(ClusterDaemon, FirstSeedJoinsItselfWhenNoOtherSeedAnswers) {
  sim_cluster c(3);
  auto& a = c.start(1);
  a.daemon->join_seed_nodes(c.seeds({1, 2}));
  // Node 2 does not exist: after seed_node_timeout node 1 is the cluster.
  c.net.advance(5s);
  EXPECT_EQ(a.daemon->member_count(), 1u);
  EXPECT_EQ(a.daemon->leader(), address_of(1));
  EXPECT_EQ(a.daemon->self_member()->status, member_status::up);
  const auto sent = a.daemon->stats().init_joins_sent;
  EXPECT_GE(sent, 2u);
  c.net.advance(5s);
  EXPECT_EQ(a.daemon->stats().init_joins_sent, sent) << "still seeking after the timeout";
  // Node 2 comes and joins node 1's cluster.
  auto& b = c.start(2);
  b.daemon->join_seed_nodes(c.seeds({1, 2}));
  ASSERT_TRUE(c.run_until([&] { return c.all_up({1, 2}); }, 30s));
  EXPECT_EQ(b.daemon->leader(), address_of(1));
}

TEST(ClusterDaemon, JoinerKeepsRetryingUntilASeedComesUp) {
  sim_cluster c(4);
  auto& j = c.start(5);
  j.daemon->join_seed_nodes(c.seeds({1, 2}));
  c.net.advance(20s);
  EXPECT_EQ(j.daemon->member_count(), 1u);
  EXPECT_GE(j.daemon->stats().init_joins_sent, 30u);
  // A seed starts (a one-node cluster of itself) and is joined.
  c.start(2);
  ASSERT_TRUE(c.run_until([&] { return c.all_up({2, 5}); }, 30s));
  EXPECT_EQ(j.daemon->leader(), address_of(2));
}

TEST(ClusterDaemon, LeaveGoesLeftExitedRemovedAndTheLeaverShutsDown) {
  sim_cluster c(5);
  form(c, 3);
  auto& leaver = c[3];
  leaver.events.clear();
  c[1].events.clear();
  leaver.daemon->leave(leaver.address);
  ASSERT_TRUE(c.run_until([&] { return c.all_up({1, 2}) && !leaver.daemon->running(); }, 30s));
  EXPECT_EQ(leaver.daemon->member_count(), 0u);
  const long left = index_of(leaver, kind::member_left, leaver.address);
  const long exited = index_of(leaver, kind::member_exited, leaver.address);
  const long removed = index_of(leaver, kind::member_removed, leaver.address);
  const long shutting = index_of(leaver, kind::cluster_shutting_down);
  ASSERT_GE(left, 0);
  EXPECT_GT(exited, left);
  EXPECT_GT(removed, exited);
  EXPECT_GT(shutting, removed);
  EXPECT_EQ(leaver.events[static_cast<std::size_t>(removed)].previous_status,
            member_status::exiting);
  // The others saw the same sequence about node 3.
  const long r1 = index_of(c[1], kind::member_removed, leaver.address);
  ASSERT_GE(r1, 0);
  EXPECT_GT(r1, index_of(c[1], kind::member_exited, leaver.address));
  EXPECT_EQ(index_of(c[1], kind::cluster_shutting_down), -1);
}

TEST(ClusterDaemon, LeaderLeavesAndAnotherTakesOver) {
  sim_cluster c(6);
  form(c, 3);
  c[2].daemon->leave(address_of(1));
  ASSERT_TRUE(c.run_until([&] { return c.all_up({2, 3}) && !c[1].daemon->running(); }, 30s));
  EXPECT_EQ(c[2].daemon->leader(), address_of(2));
  const auto changes = events_of(c[3], kind::leader_changed);
  ASSERT_FALSE(changes.empty());
  EXPECT_EQ(changes.back().from_address, address_of(1));
  EXPECT_EQ(changes.back().to_address, address_of(2));
}

TEST(ClusterDaemon, DownOfALiveMemberRemovesItAndItShutsDown) {
  sim_cluster c(7);
  form(c, 3);
  c[1].events.clear();
  c[1].daemon->down(address_of(2));
  // Reported at once, before any message moved.
  ASSERT_FALSE(c[1].events.empty());
  EXPECT_EQ(c[1].events.front().kind, kind::member_downed);
  EXPECT_EQ(c[1].events.front().subject.node.address, address_of(2));
  ASSERT_TRUE(c.run_until([&] { return c.all_up({1, 3}) && !c[2].daemon->running(); }, 30s));
  const auto removed = events_of(c[1], kind::member_removed, address_of(2));
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].previous_status, member_status::down);
  EXPECT_GE(index_of(c[2], kind::member_downed, address_of(2)), 0);
  EXPECT_GE(index_of(c[2], kind::cluster_shutting_down), 0);
  EXPECT_EQ(c[2].daemon->member_count(), 0u);
}

TEST(ClusterDaemon, DownOfADeadMemberRemovesIt) {
  sim_cluster c(8);
  form(c, 3);
  c.crash(3);
  c.net.advance(2s);
  c[2].daemon->down(address_of(3));
  ASSERT_TRUE(c.run_until([&] { return c.all_up({1, 2}); }, 30s));
  EXPECT_EQ(events_of(c[1], kind::member_removed, address_of(3)).size(), 1u);
}

} // namespace
} // namespace atomr::cluster
