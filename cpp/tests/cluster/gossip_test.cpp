#include "atomr/cluster/error.hpp"
#include "atomr/cluster/gossip.hpp"
#include "atomr/cluster/gossip_codec.hpp"

#include <gtest/gtest.h>
#include <random>

using namespace atomr::cluster;

namespace {

unique_address node(int port, std::uint64_t uid = 1) {
  return {"akka.tcp://sys@127.0.0.1:" + std::to_string(port), uid};
}

member with(const unique_address& n, member_status s, std::int32_t up = 0) {
  member m = member::joining(n);
  m.status = s;
  m.up_number = up;
  return m;
}

gossip cluster_of(std::initializer_list<member> members) {
  gossip g;
  for (const auto& m : members)
    g.put(m);
  return g;
}

void see_all(gossip& g) {
  for (const auto& m : g.members())
    g.see(m.node);
}

} // namespace

TEST(Gossip, MembersStayInAddressOrderAndPutChecksTransitions) {
  gossip g = cluster_of({with(node(3), member_status::up, 1), with(node(1), member_status::up, 2),
                         with(node(10000), member_status::joining)});
  ASSERT_EQ(g.members().size(), 3u);
  EXPECT_EQ(g.members()[0].node, node(1));
  EXPECT_EQ(g.members()[1].node, node(3));
  EXPECT_EQ(g.members()[2].node, node(10000));
  EXPECT_THROW(g.put(with(node(1), member_status::joining)), invalid_transition_error);
  g.remove(node(1));
  EXPECT_EQ(g.find(node(1)), nullptr);
  EXPECT_THROW(g.put(with(node(1), member_status::joining)), invalid_transition_error);
}

TEST(Gossip, MergePicksHighestPriorityStatusAndUnionOfMembers) {
  const auto self = node(1);
  gossip base =
      cluster_of({with(node(1), member_status::up, 1), with(node(2), member_status::up, 2)});
  base.tick(node(1));
  gossip a = base, b = base;
  a.put(with(node(2), member_status::leaving, 2));
  a.tick(node(1));
  b.put(with(node(3), member_status::joining));
  b.put(with(node(2), member_status::down, 2));
  b.tick(node(2));
  b.set_reachability(b.overview().reachability.unreachable(node(2), node(1)));
  ASSERT_EQ(a.version().compare(b.version()), clock_order::concurrent);
  const gossip m = gossip::merge(a, b, self);
  ASSERT_EQ(m.members().size(), 3u);
  EXPECT_EQ(m.find(node(2))->status, member_status::down);
  EXPECT_EQ(m.find(node(3))->status, member_status::joining);
  EXPECT_EQ(m.overview().seen, std::set<unique_address>{self});
  EXPECT_FALSE(m.overview().reachability.is_reachable(node(1)));
  EXPECT_EQ(m.version(), a.version().merge(b.version()));
}

TEST(Gossip, MergeKeepsTombstonedMembersRemoved) {
  gossip base =
      cluster_of({with(node(1), member_status::up, 1), with(node(2), member_status::down, 2)});
  base.tick(node(2));
  gossip a = base, b = base;
  a.remove(node(2));
  a.tick(node(1));
  b.tick(node(1));
  const gossip m = gossip::merge(a, b, node(1));
  EXPECT_EQ(m.find(node(2)), nullptr);
  EXPECT_EQ(m.version().get(node(2).node_name()), 0u);
  EXPECT_EQ(m.tombstones().count(node(2)), 1u);
}

TEST(Gossip, RandomizedConcurrentHistoriesMergeCommutativelyAndIdempotently) {
  std::mt19937_64 rng(5);
  std::vector<unique_address> nodes;
  for (int i = 1; i <= 5; ++i)
    nodes.push_back(node(i));
  const auto random_status = [&](member_status from) {
    for (int tries = 0; tries < 10; ++tries) {
      const auto to = static_cast<member_status>(rng() % (member_status_count - 1));
      if (transition_allowed(from, to))
        return to;
    }
    return from;
  };
  for (int round = 0; round < 300; ++round) {
    gossip base;
    base.put(with(nodes[0], member_status::up, 1));
    base.tick(nodes[0]);
    std::vector<gossip> replicas(3, base);
    for (int step = 0; step < 20; ++step) {
      const std::size_t r = rng() % replicas.size();
      gossip& g = replicas[r];
      const auto& actor = nodes[rng() % nodes.size()];
      const auto& target = nodes[rng() % nodes.size()];
      switch (rng() % 5) {
      case 0:
        if (!g.tombstones().count(target) && !g.find(target))
          g.put(member::joining(target, {rng() % 2 ? "a" : "b"}));
        break;
      case 1:
        if (const member* m = g.find(target)) {
          member next = *m;
          next.status = random_status(m->status);
          if (next.status == member_status::up && next.up_number == 0)
            next.up_number = static_cast<std::int32_t>(1 + rng() % 4);
          g.put(next);
        }
        break;
      case 2:
        g.set_reachability(rng() % 2 ? g.overview().reachability.unreachable(actor, target)
                                     : g.overview().reachability.reachable(actor, target));
        break;
      case 3:
        if (const member* m = g.find(target); m && m->status == member_status::down)
          g.remove(target);
        break;
      default:
        replicas[r] = gossip::merge(g, replicas[rng() % replicas.size()], actor);
        break;
      }
      g.tick(actor);
    }
    const auto self = nodes[rng() % nodes.size()];
    const auto& x = replicas[0];
    const auto& y = replicas[1];
    const auto& z = replicas[2];
    const gossip xy = gossip::merge(x, y, self);
    ASSERT_EQ(xy, gossip::merge(y, x, self));
    ASSERT_EQ(gossip::merge(xy, xy, self), xy);
    ASSERT_EQ(gossip::merge(xy, x, self), xy); // absorbing a merged-in side changes nothing
    ASSERT_EQ(gossip::merge(xy, z, self), gossip::merge(x, gossip::merge(y, z, self), self));
    // Its encoding round-trips.
    ASSERT_EQ(decode_gossip(encode_gossip(xy)), xy);
  }
}

TEST(Convergence, NeedsEveryUpOrLeavingMemberToHaveSeenTheVersion) {
  gossip g =
      cluster_of({with(node(1), member_status::up, 1), with(node(2), member_status::leaving, 2),
                  with(node(3), member_status::joining)});
  g.tick(node(1));
  EXPECT_FALSE(converged(g, node(1)));
  g.see(node(2));
  EXPECT_TRUE(converged(g, node(1))); // joining members need not have seen it
}

TEST(Convergence, UnreachableUpMemberBlocksButDownOrExitingDoesNot) {
  gossip g = cluster_of({with(node(1), member_status::up, 1), with(node(2), member_status::up, 2),
                         with(node(3), member_status::up, 3)});
  see_all(g);
  EXPECT_TRUE(converged(g, node(1)));
  g.set_reachability(g.overview().reachability.unreachable(node(1), node(3)));
  EXPECT_FALSE(converged(g, node(1)));
  g.put(with(node(3), member_status::down, 3));
  EXPECT_TRUE(converged(g, node(1)));
  g.put(with(node(2), member_status::leaving, 2));
  g.put(with(node(2), member_status::exiting, 2));
  g.set_reachability(g.overview().reachability.unreachable(node(1), node(2)));
  EXPECT_TRUE(converged(g, node(1)));
}

TEST(Convergence, ObservationsOfDownMembersAndOfSelfAreIgnored) {
  gossip g = cluster_of({with(node(1), member_status::up, 1), with(node(2), member_status::up, 2),
                         with(node(3), member_status::down, 3)});
  see_all(g);
  g.set_reachability(g.overview().reachability.unreachable(node(3), node(2)));
  EXPECT_TRUE(converged(g, node(1)));
  g.set_reachability(g.overview().reachability.unreachable(node(2), node(1)));
  EXPECT_TRUE(converged(g, node(1)));  // self's own unreachability
  EXPECT_FALSE(converged(g, node(2))); // but node 2 sees node 1 blocking
}

TEST(Leader, FirstUpOrLeavingReachableMemberByAddress) {
  gossip g = cluster_of({with(node(1), member_status::joining), with(node(2), member_status::up, 1),
                         with(node(3), member_status::leaving, 2)});
  EXPECT_EQ(leader(g, node(1)), node(2));
  g.set_reachability(g.overview().reachability.unreachable(node(1), node(2)));
  EXPECT_EQ(leader(g, node(1)), node(3));
  EXPECT_EQ(leader(g, node(2)), node(2)); // self counts as reachable for itself
  gossip j =
      cluster_of({with(node(5), member_status::exiting), with(node(7), member_status::joining),
                  with(node(6), member_status::down)});
  EXPECT_EQ(leader(j, node(7)), node(7)); // no up member: joining before exiting
  EXPECT_FALSE(leader(gossip{}, node(1)));
}

TEST(LeaderActions, MovesJoiningUpWithIncreasingUpNumbersOnConvergence) {
  gossip g = cluster_of({with(node(1), member_status::up, 1), with(node(3), member_status::joining),
                         with(node(2), member_status::joining)});
  see_all(g);
  auto r = leader_actions(g, node(1));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->next.find(node(2))->status, member_status::up);
  EXPECT_EQ(r->next.find(node(2))->up_number, 2);
  EXPECT_EQ(r->next.find(node(3))->up_number, 3);
  EXPECT_EQ(r->changes.size(), 2u);
  EXPECT_EQ(r->next.overview().seen, std::set<unique_address>{node(1)});
  EXPECT_EQ(r->next.version().compare(g.version()), clock_order::after);
  EXPECT_FALSE(leader_actions(g, node(2))); // not the leader
  gossip n = r->next;
  see_all(n);
  EXPECT_FALSE(leader_actions(n, node(1))); // nothing left to do
}

TEST(LeaderActions, FirstNodeMovesItselfUpWithUpNumberOne) {
  gossip g = cluster_of({with(node(1), member_status::joining)});
  auto r = leader_actions(g, node(1));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->next.find(node(1))->status, member_status::up);
  EXPECT_EQ(r->next.find(node(1))->up_number, 1);
}

TEST(LeaderActions, LeavingExitsThenExitingAndDownAreRemoved) {
  gossip g =
      cluster_of({with(node(1), member_status::up, 1), with(node(2), member_status::leaving, 2),
                  with(node(3), member_status::down, 3)});
  see_all(g);
  auto r = leader_actions(g, node(1));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->next.find(node(2))->status, member_status::exiting);
  EXPECT_EQ(r->next.find(node(3)), nullptr);
  EXPECT_EQ(r->next.tombstones().count(node(3)), 1u);
  gossip n = r->next;
  see_all(n);
  auto r2 = leader_actions(n, node(1));
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->next.find(node(2)), nullptr);
  ASSERT_EQ(r2->changes.size(), 1u);
  EXPECT_EQ(r2->changes[0].before.status, member_status::exiting);
  EXPECT_EQ(r2->changes[0].to, member_status::removed);
}

TEST(LeaderActions, NothingMovesWithoutConvergence) {
  gossip g =
      cluster_of({with(node(1), member_status::up, 1), with(node(2), member_status::up, 2),
                  with(node(3), member_status::joining), with(node(4), member_status::leaving, 3)});
  g.tick(node(1)); // node 2 and 4 have not seen it, and are reachable
  EXPECT_FALSE(leader_actions(g, node(1)));
}

TEST(LeaderActions, JoiningBecomesWeaklyUpWhenOnlyUnreachableMembersBlock) {
  gossip g =
      cluster_of({with(node(1), member_status::up, 1), with(node(2), member_status::up, 2),
                  with(node(3), member_status::joining), with(node(4), member_status::joining)});
  g.set_reachability(
      g.overview().reachability.unreachable(node(1), node(2)).unreachable(node(1), node(4)));
  g.see(node(1));
  ASSERT_TRUE(blocked_only_by_unreachable(g, node(1)));
  auto r = leader_actions(g, node(1));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->next.find(node(3))->status, member_status::weakly_up);
  EXPECT_EQ(r->next.find(node(3))->up_number, 0);
  EXPECT_EQ(r->next.find(node(4))->status, member_status::joining); // unreachable itself
  EXPECT_FALSE(leader_actions(g, node(1), leader_settings{false, 1}));
  // Once the unreachable member is downed, convergence moves weakly up to up.
  gossip n = r->next;
  n.put(with(node(2), member_status::down, 2));
  n.put(with(node(4), member_status::down));
  see_all(n);
  auto r2 = leader_actions(n, node(1));
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->next.find(node(3))->status, member_status::up);
  EXPECT_EQ(r2->next.find(node(3))->up_number, 2);
}

TEST(LeaderActions, WeaklyUpNeedsReachableMembersToHaveSeen) {
  gossip g =
      cluster_of({with(node(1), member_status::up, 1), with(node(2), member_status::up, 2),
                  with(node(3), member_status::up, 3), with(node(4), member_status::joining)});
  g.set_reachability(g.overview().reachability.unreachable(node(1), node(2)));
  g.see(node(1)); // node 3 is reachable and has not seen it
  EXPECT_FALSE(blocked_only_by_unreachable(g, node(1)));
  EXPECT_FALSE(leader_actions(g, node(1)));
}

TEST(LeaderActions, MinNrOfMembersHoldsJoiningBack) {
  gossip g =
      cluster_of({with(node(1), member_status::joining), with(node(2), member_status::joining)});
  EXPECT_FALSE(leader_actions(g, node(1), leader_settings{true, 3}));
  EXPECT_TRUE(leader_actions(g, node(1), leader_settings{true, 2}));
}

namespace {

gossip sample_gossip() {
  gossip g =
      cluster_of({with(node(1), member_status::up, 1), with(node(2), member_status::leaving, 2),
                  with(node(3), member_status::joining)});
  member r = member::joining(node(4, 99), {"backend", "frontend"});
  g.put(r);
  g.tick(node(1));
  g.see(node(2));
  g.set_reachability(
      g.overview().reachability.unreachable(node(1), node(3)).terminated(node(2), node(4, 99)));
  g.put(with(node(5), member_status::down));
  g.remove(node(5));
  return g;
}

} // namespace

TEST(GossipCodec, RoundTrips) {
  const gossip g = sample_gossip();
  const std::string bytes = encode_gossip(g);
  EXPECT_EQ(decode_gossip(bytes), g);
  EXPECT_EQ(encode_gossip(decode_gossip(bytes)), bytes);
  EXPECT_EQ(decode_gossip(encode_gossip(gossip{})), gossip{});
}

TEST(GossipCodec, EveryTruncationIsATypedError) {
  const std::string bytes = encode_gossip(sample_gossip());
  for (std::size_t n = 0; n < bytes.size(); ++n)
    EXPECT_THROW(decode_gossip(std::string_view(bytes).substr(0, n)), malformed_gossip_error) << n;
  EXPECT_THROW(decode_gossip(bytes + "x"), malformed_gossip_error);
}

TEST(GossipCodec, RejectsBadFields) {
  const std::string good = encode_gossip(sample_gossip());
  std::string v = good;
  v[3] = 2;
  EXPECT_THROW(decode_gossip(v), unsupported_version_error);
  std::string magic = good;
  magic[0] = 'X';
  EXPECT_THROW(decode_gossip(magic), malformed_gossip_error);

  // A one-member gossip, with its fields at known offsets.
  gossip one = cluster_of({with(node(1), member_status::up, 1)});
  const std::string base = encode_gossip(one);
  const std::size_t addr_len = node(1).address.size();
  const std::size_t member_at = 4 + 4 + 4 + addr_len + 8 + 4; // after the member count
  auto corrupt = [&](std::size_t at, char value) {
    std::string b = base;
    b[at] = value;
    return b;
  };
  EXPECT_THROW(decode_gossip(corrupt(member_at, 5)), malformed_gossip_error);          // node index
  EXPECT_THROW(decode_gossip(corrupt(member_at + 4, 7)), malformed_gossip_error);      // status
  EXPECT_THROW(decode_gossip(corrupt(member_at + 4, 6)), malformed_gossip_error);      // removed
  EXPECT_THROW(decode_gossip(corrupt(member_at + 8, '\x80')), malformed_gossip_error); // up < 0
  EXPECT_THROW(decode_gossip(corrupt(4 + 4 + 4 + 8, 'x')), malformed_gossip_error);    // no ://
  EXPECT_THROW(decode_gossip(corrupt(4 + 4 + 4, '\xff')), malformed_gossip_error);     // not UTF-8
  EXPECT_THROW(decode_gossip(corrupt(4, '\xff')), malformed_gossip_error);             // node count
  try {
    decode_gossip(corrupt(member_at, 5));
  } catch (const atomr::error& e) {
    EXPECT_EQ(e.where(), atomr::component::cluster);
    EXPECT_EQ(e.code(), static_cast<int>(errc::malformed_gossip));
  }
}

TEST(GossipCodec, RejectsDuplicatesAndDisorder) {
  gossip two =
      cluster_of({with(node(1), member_status::up, 1), with(node(2), member_status::up, 2)});
  std::string b = encode_gossip(two);
  // Swap the two node table entries (same length addresses): out of order.
  const std::size_t entry = 4 + node(1).address.size() + 8;
  std::string swapped =
      b.substr(0, 8) + b.substr(8 + entry, entry) + b.substr(8, entry) + b.substr(8 + 2 * entry);
  EXPECT_THROW(decode_gossip(swapped), malformed_gossip_error);
  // Two member entries naming the same node.
  const std::size_t members_at = 8 + 2 * entry + 4;
  std::string dup = b;
  dup[members_at + 13] = 0; // second member's node index -> 0
  EXPECT_THROW(decode_gossip(dup), malformed_gossip_error);
}

TEST(Gossip, ReplaceAddressSwapsAnyIncarnationWithoutChecks) {
  gossip g =
      cluster_of({with(node(2), member_status::up, 1), with(node(1, 5), member_status::up, 2)});
  g.replace_address(with(node(1, 6), member_status::joining));
  ASSERT_EQ(g.members().size(), 2u);
  EXPECT_EQ(g.members()[0].node, node(1, 6));
  EXPECT_EQ(g.members()[0].status, member_status::joining);
  EXPECT_EQ(g.find_address(node(2).address)->up_number, 1);
}
