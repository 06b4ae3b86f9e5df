// The cluster daemon on the simulated network under virtual time: seed
// join, gossip convergence, leader actions, leave, down, ring heartbeats and
// reachability, the split brain resolver, restarts and faults.

#include "atomr/cluster/error.hpp"
#include "atomr/cluster/gossip_codec.hpp"
#include "atomr/cluster/protocol.hpp"
#include "sim_cluster.hpp"

#include <gtest/gtest.h>
#include <memory>
#include <optional>
#include <random>

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

TEST(ClusterDaemon, SeedsThatStartJoiningLastDoNotSplitTheCluster) {
  // Every node starts as a one-node cluster; seeds 2 and 3 call
  // join_seed_nodes last, after the others have asked them.
  sim_cluster c(33);
  for (int i = 1; i <= 6; ++i)
    c.start(i);
  c.net.advance(1500ms);
  for (int i : {1, 4, 5, 6, 2, 3}) {
    c[i].daemon->join_seed_nodes(c.seeds({1, 2, 3}));
    c.net.advance(700ms);
  }
  ASSERT_TRUE(c.run_until(
      [&] {
        return c.all_up({1, 2, 3, 4, 5, 6});
      },
      60s))
      << "sizes " << c[1].daemon->member_count() << " " << c[2].daemon->member_count() << " "
      << c[3].daemon->member_count();
  EXPECT_EQ(c[6].daemon->leader(), address_of(1));
}

TEST(ClusterDaemon, UninitializedSeedsAreJoinedOnlyAfterTheTimeoutFirstInTheSeedList) {
  // Seeds 2 and 3 never call join_seed_nodes (plain one-node clusters):
  // joiners wait seed_node_timeout, then all join the first of their list.
  sim_cluster c(34);
  for (int i = 2; i <= 6; ++i)
    c.start(i);
  c.net.advance(1500ms);
  for (int i : {4, 5, 6}) {
    c[i].daemon->join_seed_nodes(c.seeds({1, 2, 3}));
    c.net.advance(300ms);
  }
  c.net.advance(1500ms); // not yet seed_node_timeout (3s) for anyone
  for (int i : {4, 5, 6}) {
    EXPECT_EQ(c[i].daemon->member_count(), 1u) << i;
    EXPECT_EQ(c[i].daemon->stats().joins_sent, 0u) << i;
  }
  ASSERT_TRUE(c.run_until([&] { return c.all_up({2, 4, 5, 6}); }, 60s));
  EXPECT_EQ(c[3].daemon->member_count(), 1u);
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

// Whether node `i` sees node `j` as unreachable.
bool sees_unreachable(sim_cluster& c, int i, int j) {
  const gossip g = c[i].daemon->state();
  const member* m = g.find_address(address_of(j));
  return m != nullptr && !g.overview().reachability.is_reachable(m->node);
}

TEST(ClusterDaemon, PartitionMakesMembersUnreachableAndHealMakesThemReachable) {
  sim_cluster c(9);
  form(c, 3);
  c[1].events.clear();
  c.net.partition_groups({testing::transport_of(3)},
                         {testing::transport_of(1), testing::transport_of(2)});
  ASSERT_TRUE(c.run_until(
      [&] {
        return sees_unreachable(c, 1, 3) && sees_unreachable(c, 2, 3) &&
               sees_unreachable(c, 3, 1) && sees_unreachable(c, 3, 2);
      },
      30s));
  EXPECT_FALSE(c[1].daemon->converged());
  EXPECT_EQ(events_of(c[1], kind::unreachable_member, address_of(3)).size(), 1u);
  // Nothing is downed or removed without the resolver.
  c.net.advance(20s);
  for (int i = 1; i <= 3; ++i)
    EXPECT_EQ(c[i].daemon->member_count(), 3u);
  c.net.heal();
  ASSERT_TRUE(c.run_until([&] { return c.all_up({1, 2, 3}); }, 30s));
  EXPECT_EQ(events_of(c[1], kind::reachable_member, address_of(3)).size(), 1u);
  EXPECT_LT(index_of(c[1], kind::unreachable_member, address_of(3)),
            index_of(c[1], kind::reachable_member, address_of(3)));
}

TEST(ClusterDaemon, FlappingReachabilityLosesNoMember) {
  sim_cluster c(10);
  form(c, 4);
  c.net.advance(30s); // the detectors learn the heartbeats' rhythm
  const std::vector<std::string> rest = {testing::transport_of(1), testing::transport_of(2),
                                         testing::transport_of(3)};
  for (int round = 0; round < 6; ++round) {
    // Cuts long enough to be noticed, heals of different lengths.
    c.net.partition_groups({testing::transport_of(4)}, rest);
    c.net.advance(std::chrono::seconds(10 + round % 3 * 2));
    c.net.heal();
    c.net.advance(std::chrono::seconds(2 + round % 2 * 4));
    for (int i = 1; i <= 4; ++i)
      ASSERT_EQ(c[i].daemon->member_count(), 4u) << "round " << round << " node " << i;
  }
  ASSERT_TRUE(c.run_until([&] { return c.all_up({1, 2, 3, 4}); }, 30s));
  const auto unreachable = events_of(c[1], kind::unreachable_member, address_of(4));
  EXPECT_GE(unreachable.size(), 3u);
  EXPECT_EQ(unreachable.size(), events_of(c[1], kind::reachable_member, address_of(4)).size());
  EXPECT_TRUE(events_of(c[1], kind::member_removed).empty());
}

TEST(ClusterDaemon, JoiningMemberIsWeaklyUpWhileAnUnreachableMemberBlocksConvergence) {
  sim_cluster c(11);
  form(c, 3);
  c.net.partition_groups(
      {testing::transport_of(3)},
      {testing::transport_of(1), testing::transport_of(2), testing::transport_of(4)});
  ASSERT_TRUE(c.run_until([&] { return sees_unreachable(c, 1, 3); }, 30s));
  auto& d = c.start(4);
  d.daemon->join_seed_nodes(c.seeds({1}));
  ASSERT_TRUE(c.run_until(
      [&] {
        const auto m = d.daemon->self_member();
        return m && m->status == member_status::weakly_up;
      },
      30s));
  EXPECT_GE(index_of(c[1], kind::member_weakly_up, address_of(4)), 0);
  c.net.advance(5s);
  EXPECT_EQ(d.daemon->self_member()->status, member_status::weakly_up);
  c.net.heal();
  ASSERT_TRUE(c.run_until([&] { return c.all_up({1, 2, 3, 4}); }, 30s));
  EXPECT_GT(index_of(c[1], kind::member_up, address_of(4)),
            index_of(c[1], kind::member_weakly_up, address_of(4)));
}

TEST(ClusterDaemon, HealedPartitionWithoutResolverReconverges) {
  sim_cluster c(12);
  form(c, 5);
  c.net.partition_groups(
      {testing::transport_of(1), testing::transport_of(2), testing::transport_of(3)},
      {testing::transport_of(4), testing::transport_of(5)});
  ASSERT_TRUE(
      c.run_until([&] { return sees_unreachable(c, 1, 4) && sees_unreachable(c, 5, 2); }, 30s));
  c.net.advance(30s);
  c.net.heal();
  ASSERT_TRUE(c.run_until([&] { return c.all_up({1, 2, 3, 4, 5}); }, 60s));
}

// Forms 5 nodes with `s` as resolver, cuts {1,2,3} from {4,5} (or the given
// sides) and waits until only `survivors` run and see just themselves.
void partition_and_resolve(std::uint64_t seed, sbr::settings s, const std::vector<int>& a,
                           const std::vector<int>& b, const std::vector<int>& survivors,
                           const std::vector<int>& stopped) {
  daemon_config cfg = testing::test_config();
  cfg.sbr = s;
  sim_cluster c(seed, cfg);
  form(c, 5);
  std::vector<std::string> ta, tb;
  for (int i : a)
    ta.push_back(testing::transport_of(i));
  for (int i : b)
    tb.push_back(testing::transport_of(i));
  c.net.partition_groups(ta, tb);
  ASSERT_TRUE(c.run_until(
      [&] {
        for (int i : stopped)
          if (c[i].daemon->running())
            return false;
        return survivors.empty() || c.all_up(survivors);
      },
      120s))
      << "not resolved";
  for (int i : stopped) {
    EXPECT_GE(index_of(c[i], kind::member_downed, c[i].address), 0) << i;
    EXPECT_GE(index_of(c[i], kind::cluster_shutting_down), 0) << i;
    EXPECT_EQ(c[i].daemon->member_count(), 0u);
  }
  for (int i : survivors) {
    EXPECT_TRUE(c[i].daemon->running());
    for (int j : stopped)
      EXPECT_EQ(events_of(c[i], kind::member_removed, address_of(j)).size(), 1u) << i << j;
  }
  // It stays that way.
  c.net.advance(30s);
  for (int i : survivors)
    EXPECT_TRUE(c[i].daemon->running());
  if (!survivors.empty()) {
    EXPECT_TRUE(c.all_up(survivors));
  }
}

sbr::settings resolver_settings(sbr::strategy_kind k) {
  sbr::settings s;
  s.strategy = k;
  s.stable_after = 5s;
  return s;
}

TEST(ClusterDaemon, KeepMajorityKeepsTheThreeAndTheTwoDownThemselves) {
  partition_and_resolve(13, resolver_settings(sbr::strategy_kind::keep_majority), {1, 2, 3}, {4, 5},
                        {1, 2, 3}, {4, 5});
}

TEST(ClusterDaemon, KeepMajorityKeepsTheThreeWithoutTheLowestAddress) {
  partition_and_resolve(14, resolver_settings(sbr::strategy_kind::keep_majority), {1, 2}, {3, 4, 5},
                        {3, 4, 5}, {1, 2});
}

TEST(ClusterDaemon, StaticQuorumOfThreeKeepsTheSideWithThree) {
  auto s = resolver_settings(sbr::strategy_kind::static_quorum);
  s.quorum_size = 3;
  partition_and_resolve(15, s, {1, 2}, {3, 4, 5}, {3, 4, 5}, {1, 2});
}

TEST(ClusterDaemon, KeepOldestKeepsTheSideOfTheOldest) {
  // Node 1 is the oldest (up first): its side of two survives.
  partition_and_resolve(16, resolver_settings(sbr::strategy_kind::keep_oldest), {1, 2}, {3, 4, 5},
                        {1, 2}, {3, 4, 5});
}

TEST(ClusterDaemon, DownAllStopsEveryNode) {
  partition_and_resolve(17, resolver_settings(sbr::strategy_kind::down_all), {1, 2, 3}, {4, 5}, {},
                        {1, 2, 3, 4, 5});
}

TEST(ClusterDaemon, LeaseMajorityTheSideThatGetsTheLeaseSurvives) {
  // One lease for the cluster: the first side's leader to ask holds it.
  // The minority waits acquire_lease_delay_for_minority, so the majority
  // asks first.
  auto holder = std::make_shared<std::optional<std::string>>();
  auto s = resolver_settings(sbr::strategy_kind::lease_majority);
  s.acquire_lease_delay_for_minority = 3s;
  daemon_config cfg = testing::test_config();
  cfg.sbr = s;
  sim_cluster c(25, cfg);
  for (int i = 1; i <= 5; ++i)
    c.start(i, 0, [holder, i](daemon_config& d) {
      d.lease = [holder, i] {
        if (!*holder)
          *holder = address_of(i);
        return **holder == address_of(i) ? sbr::lease_outcome::acquired
                                         : sbr::lease_outcome::denied;
      };
    });
  for (int i = 1; i <= 5; ++i)
    c[i].daemon->join_seed_nodes(c.seeds({1, 2, 3, 4, 5}));
  ASSERT_TRUE(c.run_until([&] { return c.all_up({1, 2, 3, 4, 5}); }, 60s));
  c.net.partition_groups(
      {testing::transport_of(1), testing::transport_of(2)},
      {testing::transport_of(3), testing::transport_of(4), testing::transport_of(5)});
  ASSERT_TRUE(c.run_until(
      [&] {
        return !c[1].daemon->running() && !c[2].daemon->running() && c.all_up({3, 4, 5});
      },
      120s));
  ASSERT_TRUE(holder->has_value());
  EXPECT_EQ(**holder, address_of(3)); // the leader of the majority side
}

TEST(ClusterDaemon, ResolverDownsACrashedMember) {
  daemon_config cfg = testing::test_config();
  cfg.sbr = resolver_settings(sbr::strategy_kind::keep_majority);
  sim_cluster c(18, cfg);
  form(c, 3);
  c.crash(2);
  ASSERT_TRUE(c.run_until([&] { return c.all_up({1, 3}); }, 60s));
  EXPECT_EQ(c[1].daemon->stats().sbr_decisions, 1u);
  EXPECT_EQ(events_of(c[3], kind::member_downed, address_of(2)).size(), 1u);
}

TEST(ClusterDaemon, EverySurvivorSeesTheDownOfACrashedMemberBeforeItsRemoval) {
  daemon_config cfg = testing::test_config();
  cfg.sbr = resolver_settings(sbr::strategy_kind::keep_majority);
  sim_cluster c(31, cfg);
  form(c, 5);
  for (int i = 1; i <= 5; ++i)
    c[i].events.clear();
  c.crash(3);
  ASSERT_TRUE(c.run_until([&] { return c.all_up({1, 2, 4, 5}); }, 60s));
  for (int i : {1, 2, 4, 5}) {
    const long downed = index_of(c[i], kind::member_downed, address_of(3));
    const long removed = index_of(c[i], kind::member_removed, address_of(3));
    ASSERT_GE(downed, 0) << "node " << i << " never saw the down";
    ASSERT_GT(removed, downed) << "node " << i;
    const auto removals = events_of(c[i], kind::member_removed, address_of(3));
    ASSERT_EQ(removals.size(), 1u) << i;
    EXPECT_EQ(removals[0].previous_status, member_status::down) << i;
  }
}

TEST(ClusterDaemon, DownedMinorityReportsNoSpuriousReachabilityAndForgetsItsView) {
  daemon_config cfg = testing::test_config();
  cfg.sbr = resolver_settings(sbr::strategy_kind::keep_majority);
  sim_cluster c(32, cfg);
  form(c, 5);
  for (int i = 1; i <= 5; ++i)
    c[i].events.clear();
  c.net.partition_groups(
      {testing::transport_of(1), testing::transport_of(2), testing::transport_of(3)},
      {testing::transport_of(4), testing::transport_of(5)});
  ASSERT_TRUE(c.run_until(
      [&] {
        return !c[4].daemon->running() && !c[5].daemon->running() && c.all_up({1, 2, 3});
      },
      120s));
  for (int i : {4, 5}) {
    // The partition never healed: the other side stayed unreachable.
    EXPECT_GE(index_of(c[i], kind::member_downed, c[i].address), 0) << i;
    EXPECT_TRUE(events_of(c[i], kind::reachable_member).empty()) << i;
    for (const auto& e : events_of(c[i], kind::leader_changed))
      EXPECT_TRUE(e.to_address.has_value()) << "node " << i << " reported no leader";
    // After shutdown the view is empty, as member_count says.
    EXPECT_EQ(c[i].daemon->member_count(), 0u);
    EXPECT_TRUE(c[i].daemon->state().members().empty()) << i;
  }
}

TEST(ClusterDaemon, RestartedNodeWithANewUidRejoinsAndTheOldIncarnationIsRemoved) {
  sim_cluster c(19);
  form(c, 3);
  const unique_address old = c[3].daemon->self();
  c.crash(3);
  c.net.advance(2s);
  auto& again = c.start(3, old.uid + 1);
  again.daemon->join_seed_nodes(c.seeds({1, 2}));
  ASSERT_TRUE(c.run_until([&] { return c.all_up({1, 2, 3}); }, 60s));
  for (int i = 1; i <= 3; ++i) {
    const gossip g = c[i].daemon->state();
    EXPECT_EQ(g.find_address(address_of(3))->node.uid, old.uid + 1);
    EXPECT_EQ(g.find(old), nullptr);
  }
  const auto removed = events_of(c[1], kind::member_removed, address_of(3));
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].subject.node.uid, old.uid);
}

TEST(ClusterDaemon, QuarantineOfAMembersIncarnationDownsIt) {
  sim_cluster c(20);
  c.sim_heartbeats = true;
  form(c, 3);
  const unique_address old = c[3].daemon->self();
  c.crash(3);
  // A new incarnation at the address (not even joining): the transport
  // quarantines the old uid at its peers, and they down it.
  c.start(3, old.uid + 7);
  ASSERT_TRUE(c.run_until(
      [&] {
        const gossip g = c[1].daemon->state();
        return g.find(old) == nullptr && c[1].daemon->member_count() == 2;
      },
      30s));
  EXPECT_EQ(events_of(c[1], kind::member_downed, address_of(3)).size(), 1u);
}

TEST(ClusterDaemon, ConvergesUnderDropsDuplicatesAndReordering) {
  sim_cluster c(21);
  remote::link_faults f;
  f.drop = 0.2;
  f.duplicate = 0.1;
  f.delay = 2ms;
  f.jitter = 5ms;
  f.reorder = 300ms;
  c.net.set_default_faults(f);
  form(c, 5);
  c[5].daemon->leave(address_of(5));
  ASSERT_TRUE(c.run_until([&] { return c.all_up({1, 2, 3, 4}) && !c[5].daemon->running(); }, 60s));
  std::uint64_t dropped = c.net.total_stats().dropped;
  EXPECT_GT(dropped, 10u);
  EXPECT_GT(c.net.total_stats().duplicated, 5u);
  EXPECT_GT(c.net.total_stats().reordered, 0u);
}

TEST(ClusterDaemon, MalformedEnvelopesAreCountedAndDropped) {
  sim_cluster c(22);
  form(c, 2);
  remote::transport_callbacks none;
  auto raw = c.net.attach("10.9.9.9:1", std::move(none));
  raw->start();
  const auto good = protocol::to_envelope(protocol::init_join{unique_address{address_of(9), 9}});
  std::vector<remote::envelope> bad;
  auto e = good;
  e.manifest = "atomr.cluster.Nonsense";
  bad.push_back(e);
  e = good;
  e.payload.pop_back();
  bad.push_back(e);
  e = good;
  e.payload[0] = 9; // protocol version
  bad.push_back(e);
  e = good;
  e.payload += "x";
  bad.push_back(e);
  e = good;
  e.manifest = "atomr.cluster.GossipEnvelope";
  e.payload = std::string("\x01\x05\x00\x00\x00hello", 10);
  bad.push_back(e);
  e = protocol::to_envelope(
      protocol::gossip_envelope{unique_address{address_of(9), 9}, c[1].daemon->self(), gossip{}});
  e.payload.resize(e.payload.size() - 3);
  bad.push_back(e);
  for (const auto& env : bad)
    raw->send(testing::transport_of(1), env);
  // A message for the actors is not the daemon's.
  remote::envelope other = good;
  other.recipient = "/user/x";
  remote::inbound_envelope in{testing::transport_of(2), 5, other};
  EXPECT_FALSE(c[1].daemon->receive(in));
  c.net.advance(1s);
  EXPECT_EQ(c[1].daemon->stats().malformed, bad.size());
  EXPECT_TRUE(c.all_up({1, 2}));
  raw->stop();
}

TEST(ClusterDaemon, AJoinWithTheNodesOwnAddressIsIgnored) {
  sim_cluster c(26);
  form(c, 2);
  remote::transport_callbacks none;
  auto raw = c.net.attach("10.9.9.9:1", std::move(none));
  raw->start();
  const unique_address impostor{address_of(1), c[1].daemon->self().uid + 1};
  raw->send(testing::transport_of(1), protocol::to_envelope(protocol::join{impostor, {}}));
  c.net.advance(3s);
  EXPECT_TRUE(c.all_up({1, 2}));
  EXPECT_GE(c[1].daemon->stats().ignored, 1u);
  raw->stop();
}

TEST(ClusterDaemon, RejectsBadArguments) {
  sim_cluster c(23);
  auto& a = c.start(1);
  EXPECT_THROW(a.daemon->join_seed_nodes({}), invalid_argument_error);
  EXPECT_THROW(a.daemon->join_seed_nodes({"not an address"}), invalid_argument_error);
  EXPECT_THROW(a.daemon->leave("nope"), invalid_argument_error);
  EXPECT_THROW(a.daemon->down(""), invalid_argument_error);
  daemon_config bad = testing::test_config();
  bad.self = unique_address{address_of(1), 0};
  EXPECT_THROW(cluster_daemon(bad, [] { return std::chrono::nanoseconds(0); }, {}),
               invalid_argument_error);
  bad.self.uid = 1;
  bad.sbr = sbr::settings{};
  bad.sbr->stable_after = std::chrono::nanoseconds(0);
  EXPECT_THROW(cluster_daemon(bad, [] { return std::chrono::nanoseconds(0); }, {}),
               invalid_argument_error);
  // Leave and down of non-members are no-ops.
  a.daemon->leave(address_of(7));
  a.daemon->down(address_of(7));
  EXPECT_EQ(a.daemon->member_count(), 1u);
}

TEST(ClusterDaemon, ShutdownReportsAndStops) {
  sim_cluster c(24);
  form(c, 2);
  c[2].daemon->shutdown();
  c[2].daemon->shutdown();
  EXPECT_FALSE(c[2].daemon->running());
  EXPECT_EQ(c[2].daemon->member_count(), 0u);
  EXPECT_TRUE(c[2].daemon->state().members().empty());
  EXPECT_EQ(events_of(c[2], kind::cluster_shutting_down).size(), 1u);
  const auto sent = c[2].daemon->stats().gossip_sent + c[2].daemon->stats().status_sent;
  c.net.advance(5s);
  EXPECT_EQ(c[2].daemon->stats().gossip_sent + c[2].daemon->stats().status_sent, sent);
}

// The address order compared with a reference that parses both sides.
TEST(ClusterAddressOrder, FastComparisonAgreesWithParsingBothAddresses) {
  const auto reference = [](const std::string& a, const std::string& b) {
    if (a == b)
      return std::strong_ordering::equal;
    const auto pa = parse_address(a);
    const auto pb = parse_address(b);
    if (pa && pb) {
      if (auto c = pa->protocol <=> pb->protocol; c != 0)
        return c;
      if (auto c = pa->host <=> pb->host; c != 0)
        return c;
      if (auto c = pa->port <=> pb->port; c != 0)
        return c;
      if (auto c = pa->system <=> pb->system; c != 0)
        return c;
    } else if (pa || pb) {
      return pa ? std::strong_ordering::less : std::strong_ordering::greater;
    }
    return a <=> b;
  };
  std::mt19937_64 rng(5);
  const std::vector<std::string> protocols = {"akka", "akka.tcp", "a", ""};
  const std::vector<std::string> systems = {"sys", "sy", "s@x", "", "a:b", "sys2"};
  const std::vector<std::string> hosts = {"10.0.0.1", "10.0.0.12", "10.0.0.2", "::1",
                                          "h",        "h:1",       "",         "10.0.0.1x"};
  const std::vector<std::string> ports = {"2552", "25520", "02552", "9", "", "65536", "x", "0"};
  const auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  const auto make = [&] {
    switch (rng() % 4) {
    case 0:
      return pick(protocols) + "://" + pick(systems);
    case 1:
      return pick(protocols) + "//" + pick(systems) + "@" + pick(hosts);
    default:
      return pick(protocols) + "://" + pick(systems) + "@" + pick(hosts) + ":" + pick(ports);
    }
  };
  for (int k = 0; k < 20000; ++k) {
    const std::string a = make(), b = make();
    ASSERT_EQ(compare_addresses(a, b), reference(a, b)) << a << " vs " << b;
  }
}

// -- the protocol codec -------------------------------------------------------------

std::vector<protocol::message> sample_messages() {
  const unique_address a{address_of(1), 11}, b{address_of(2), 22};
  gossip g;
  g.put(member::joining(a, {"x"}));
  g.put(member::joining(b).with_up_number(member_status::up, 1));
  g.tick(a);
  vector_clock v;
  v.tick("n1");
  v.tick("n2");
  v.tick("n2");
  return {protocol::init_join{a},
          protocol::init_join_ack{b},
          protocol::init_join_ack{b, false},
          protocol::init_join_nack{b},
          protocol::join{a, {"backend", "frontend"}},
          protocol::welcome{b, g},
          protocol::gossip_status{a, v},
          protocol::gossip_envelope{a, b, g},
          protocol::heartbeat{a, 7},
          protocol::heartbeat_rsp{b, 1ull << 40}};
}

TEST(ClusterProtocol, EveryMessageRoundTrips) {
  for (const auto& m : sample_messages()) {
    const auto env = protocol::to_envelope(m);
    EXPECT_EQ(env.recipient, daemon_path);
    EXPECT_EQ(env.manifest.rfind("atomr.cluster.", 0), 0u);
    EXPECT_EQ(protocol::decode(env.manifest, env.payload), m) << env.manifest;
  }
}

TEST(ClusterProtocol, PreEncodedGossipEnvelopeIsTheSameBytes) {
  for (const auto& m : sample_messages()) {
    if (const auto* e = std::get_if<protocol::gossip_envelope>(&m)) {
      const auto built = protocol::gossip_envelope_with(e->from, e->to, encode_gossip(e->state));
      EXPECT_EQ(built, protocol::to_envelope(m));
    }
  }
}

TEST(ClusterProtocol, EveryTruncationAndTrailingByteIsMalformed) {
  for (const auto& m : sample_messages()) {
    const auto env = protocol::to_envelope(m);
    for (std::size_t n = 0; n < env.payload.size(); ++n) {
      try {
        protocol::decode(env.manifest, env.payload.substr(0, n));
        ADD_FAILURE() << env.manifest << " decoded from " << n << " bytes";
      } catch (const malformed_message_error&) {
      }
    }
    EXPECT_THROW(protocol::decode(env.manifest, env.payload + '\0'), malformed_message_error);
  }
}

TEST(ClusterProtocol, RejectsBadFieldsAndOtherVersions) {
  const auto env = protocol::to_envelope(protocol::join{{address_of(1), 1}, {"a"}});
  auto p = env.payload;
  p[0] = protocol::cluster_protocol_version + 1;
  EXPECT_THROW(protocol::decode(env.manifest, p), unsupported_version_error);
  p[0] = 0;
  EXPECT_THROW(protocol::decode(env.manifest, p), unsupported_version_error);
  // Version 2 reads version 1 (an InitJoinAck then is from an initialized
  // node); only an uninitialized ack needs version 2, with a 0/1 flag.
  const protocol::init_join_ack ack{{address_of(1), 1}, true};
  EXPECT_EQ(protocol::encode_payload(ack)[0], 1);
  const auto v1 = protocol::to_envelope(ack);
  EXPECT_EQ(protocol::decode(v1.manifest, v1.payload), protocol::message(ack));
  auto unflagged = protocol::to_envelope(protocol::init_join_ack{{address_of(1), 1}, false});
  EXPECT_EQ(unflagged.payload[0], 2);
  EXPECT_EQ(unflagged.payload.back(), 0);
  unflagged.payload.back() = 2;
  EXPECT_THROW(protocol::decode(unflagged.manifest, unflagged.payload), malformed_message_error);
  EXPECT_THROW(protocol::decode("atomr.cluster.Other", env.payload), malformed_message_error);
  // uid 0, an unparseable address, unsorted roles cannot even be encoded.
  EXPECT_THROW(protocol::encode_payload(protocol::init_join{{address_of(1), 0}}),
               invalid_argument_error);
  EXPECT_THROW(protocol::encode_payload(protocol::init_join{{"garbage", 1}}),
               invalid_argument_error);
  EXPECT_THROW(protocol::encode_payload(protocol::join{{address_of(1), 1}, {"b", "a"}}),
               invalid_argument_error);
  // ... nor decoded: patch uid 0 into an encoding.
  const auto ij = protocol::to_envelope(protocol::init_join{{address_of(1), 1}});
  auto zero = ij.payload;
  zero[zero.size() - 8] = 0;
  EXPECT_THROW(protocol::decode(ij.manifest, zero), malformed_message_error);
}

} // namespace
} // namespace atomr::cluster
