// Decision tables of the split brain resolver.

#include "atomr/cluster/sbr.hpp"

#include <gtest/gtest.h>
#include <stdexcept>
#include <string>
#include <vector>

namespace sbr = atomr::cluster::sbr;
using namespace std::chrono_literals;
using sbr::decision_kind;
using sbr::member_status;
using sbr::strategy_kind;

namespace {

std::string addr(int i) {
  return "akka.tcp://sys@10.0.0.1:" + std::to_string(2550 + i);
}

// n members, all up, node i is the i-th oldest and has the i-th lowest
// address; `unreachable` lists the nodes this node (self) cannot reach.
sbr::decision_view view(int n, int self, std::vector<int> unreachable,
                        std::vector<std::vector<std::string>> roles = {}) {
  sbr::decision_view v;
  v.self = addr(self);
  for (int i = 0; i < n; ++i) {
    sbr::view_member m;
    m.address = addr(i);
    m.uid = 1000 + static_cast<std::uint64_t>(i);
    m.status = member_status::up;
    m.up_number = i + 1;
    if (i < static_cast<int>(roles.size())) {
      m.roles = roles[static_cast<std::size_t>(i)];
    }
    for (int u : unreachable) {
      if (u == i) {
        m.reachable = false;
      }
    }
    v.members.push_back(m);
  }
  return v;
}

sbr::settings with(strategy_kind k) {
  sbr::settings s;
  s.strategy = k;
  return s;
}

std::vector<std::string> addrs(std::vector<int> ids) {
  std::vector<std::string> out;
  for (int i : ids) {
    out.push_back(addr(i));
  }
  std::sort(out.begin(), out.end());
  return out;
}

decision_kind kind(const sbr::settings& s, const sbr::decision_view& v) {
  return sbr::decide(s, v).kind;
}

} // namespace

TEST(SbrKeepMajority, FiveNodesThreeTwo) {
  auto s = with(strategy_kind::keep_majority);
  // The majority side (0,1,2) downs the other two.
  auto d = sbr::decide(s, view(5, 0, {3, 4}));
  EXPECT_EQ(d.kind, decision_kind::down_unreachable);
  EXPECT_EQ(d.down, addrs({3, 4}));
  // The minority side (3,4) downs itself.
  d = sbr::decide(s, view(5, 3, {0, 1, 2}));
  EXPECT_EQ(d.kind, decision_kind::down_reachable);
  EXPECT_EQ(d.down, addrs({3, 4}));
}

TEST(SbrKeepMajority, FiveNodesTwoThree) {
  auto s = with(strategy_kind::keep_majority);
  // Self with the lowest address is in the minority: the majority wins.
  EXPECT_EQ(kind(s, view(5, 0, {2, 3, 4})), decision_kind::down_reachable);
  EXPECT_EQ(kind(s, view(5, 2, {0, 1})), decision_kind::down_unreachable);
}

TEST(SbrKeepMajority, EvenSplitKeepsTheSideWithTheLowestAddress) {
  auto s = with(strategy_kind::keep_majority);
  // 4 nodes, 2/2: the side holding node 0 (lowest address) survives.
  auto d = sbr::decide(s, view(4, 0, {2, 3}));
  EXPECT_EQ(d.kind, decision_kind::down_unreachable);
  EXPECT_EQ(d.down, addrs({2, 3}));
  d = sbr::decide(s, view(4, 2, {0, 1}));
  EXPECT_EQ(d.kind, decision_kind::down_reachable);
  EXPECT_EQ(d.down, addrs({2, 3}));
  // Lowest address is decided by host and port, not by age.
  auto v = view(4, 0, {2, 3});
  v.members[3].up_number = 0; // node 3 is the oldest, node 0 the lowest address
  EXPECT_EQ(kind(s, v), decision_kind::down_unreachable);
}

TEST(SbrKeepMajority, OneOne) {
  auto s = with(strategy_kind::keep_majority);
  EXPECT_EQ(kind(s, view(2, 0, {1})), decision_kind::down_unreachable);
  EXPECT_EQ(kind(s, view(2, 1, {0})), decision_kind::down_reachable);
}

TEST(SbrKeepMajority, PortsCompareNumerically) {
  auto s = with(strategy_kind::keep_majority);
  sbr::decision_view v;
  v.self = "akka.tcp://sys@h:900";
  v.members = {{"akka.tcp://sys@h:900", 1, member_status::up, {}, 1, true},
               {"akka.tcp://sys@h:10000", 2, member_status::up, {}, 2, false}};
  // "10000" < "900" as strings, but port 900 is the lower address.
  EXPECT_EQ(kind(s, v), decision_kind::down_unreachable);
}

TEST(SbrKeepMajority, JoiningAndWeaklyUpAreNotCounted) {
  auto s = with(strategy_kind::keep_majority);
  // 3 reachable up, 2 unreachable up plus 2 unreachable joining: counting
  // joining ones would make it 3/4; Akka counts 3/2, but the joining ones
  // may be up over there (3 vs 4): the sides may disagree -> down all.
  auto v = view(7, 0, {3, 4, 5, 6});
  v.members[5].status = member_status::joining;
  v.members[6].status = member_status::weakly_up;
  EXPECT_EQ(kind(s, v), decision_kind::down_all);
  // Joining members on this side do not make it a majority.
  auto w = view(5, 0, {3, 4});
  w.members[1].status = member_status::joining;
  w.members[2].status = member_status::weakly_up;
  EXPECT_EQ(kind(s, w), decision_kind::down_reachable);
  // A joining member is still downed with its side.
  EXPECT_EQ(sbr::decide(s, w).down, addrs({0, 1, 2}));
}

TEST(SbrKeepMajority, LeavingHereMayBeExitingThere) {
  auto s = with(strategy_kind::keep_majority);
  auto v = view(5, 0, {3, 4});
  v.members[1].status = member_status::leaving;
  v.members[2].status = member_status::leaving;
  // 3/2 counted, but 1/2 if the leaving ones already exited over there.
  EXPECT_EQ(kind(s, v), decision_kind::down_all);
}

TEST(SbrKeepMajority, DownAndExitingMembersAreIgnored) {
  auto s = with(strategy_kind::keep_majority);
  auto v = view(5, 3, {0, 1, 2});
  v.members[0].status = member_status::down;
  v.members[1].status = member_status::exiting;
  // 2 (3,4) against 1 (2): this side wins; down/exiting are not downed again.
  auto d = sbr::decide(s, v);
  EXPECT_EQ(d.kind, decision_kind::down_unreachable);
  EXPECT_EQ(d.down, addrs({2}));
}

TEST(SbrKeepMajority, RoleFilter) {
  auto s = with(strategy_kind::keep_majority);
  s.role = "backend";
  // 5 nodes 3/2, but the role members are 1 here and 2 there.
  auto v = view(5, 0, {3, 4}, {{"backend"}, {}, {}, {"backend"}, {"backend"}});
  EXPECT_EQ(kind(s, v), decision_kind::down_reachable);
  // The lowest address is taken among the role members: 1/1 with node 1
  // (lowest backend) unreachable.
  auto w = view(4, 0, {1, 2}, {{}, {"backend"}, {}, {"backend"}});
  EXPECT_EQ(kind(s, w), decision_kind::down_reachable);
  EXPECT_EQ(kind(s, view(4, 0, {1, 2}, {{}, {"x"}, {}, {"x"}})), decision_kind::down_unreachable);
}

TEST(SbrStaticQuorum, BelowAndAboveQuorum) {
  auto s = with(strategy_kind::static_quorum);
  s.quorum_size = 3;
  EXPECT_EQ(kind(s, view(5, 0, {3, 4})), decision_kind::down_unreachable);
  EXPECT_EQ(kind(s, view(5, 3, {0, 1, 2})), decision_kind::down_reachable);
  // 4 nodes 2/2 with quorum 3: both sides are below quorum.
  EXPECT_EQ(kind(s, view(4, 0, {2, 3})), decision_kind::down_reachable);
  EXPECT_EQ(kind(s, view(4, 2, {0, 1})), decision_kind::down_reachable);
  // More members than 2 * quorum - 1: down all.
  EXPECT_EQ(kind(s, view(6, 0, {4, 5})), decision_kind::down_all);
}

TEST(SbrStaticQuorum, RoleAndPossiblyUpMembers) {
  auto s = with(strategy_kind::static_quorum);
  s.quorum_size = 2;
  s.role = "db";
  // Only role members count: 2 here, 1 there -> this side keeps quorum.
  auto v = view(5, 0, {2, 3, 4}, {{"db"}, {"db"}, {}, {}, {"db"}});
  EXPECT_EQ(kind(s, v), decision_kind::down_unreachable);
  // A joining db member over there may have given it a quorum too.
  auto w = view(5, 0, {2, 3, 4}, {{"db"}, {"db"}, {"db"}, {}, {"db"}});
  w.members[2].status = member_status::joining;
  EXPECT_EQ(kind(s, w), decision_kind::down_all);
}

TEST(SbrKeepOldest, OldestOnEitherSide) {
  auto s = with(strategy_kind::keep_oldest);
  s.down_if_alone = false;
  // Node 0 is the oldest.
  EXPECT_EQ(kind(s, view(5, 0, {1, 2, 3})), decision_kind::down_unreachable);
  EXPECT_EQ(kind(s, view(5, 1, {0, 4})), decision_kind::down_reachable);
  // The oldest alone still wins without down-if-alone.
  EXPECT_EQ(kind(s, view(5, 0, {1, 2, 3, 4})), decision_kind::down_unreachable);
  EXPECT_EQ(kind(s, view(5, 1, {0})), decision_kind::down_reachable);
}

TEST(SbrKeepOldest, DownIfAlone) {
  auto s = with(strategy_kind::keep_oldest);
  s.down_if_alone = true;
  // The oldest alone on its side downs itself; the others keep running.
  auto d = sbr::decide(s, view(5, 0, {1, 2, 3, 4}));
  EXPECT_EQ(d.kind, decision_kind::down_reachable);
  EXPECT_EQ(d.down, addrs({0}));
  d = sbr::decide(s, view(5, 1, {0}));
  EXPECT_EQ(d.kind, decision_kind::down_unreachable);
  EXPECT_EQ(d.down, addrs({0}));
  // Not alone: the oldest's side wins.
  EXPECT_EQ(kind(s, view(5, 0, {2, 3, 4})), decision_kind::down_unreachable);
  EXPECT_EQ(kind(s, view(5, 2, {0, 1})), decision_kind::down_reachable);
  // Two nodes: the oldest is alone on both counts; the younger survives.
  EXPECT_EQ(kind(s, view(2, 0, {1})), decision_kind::down_reachable);
  EXPECT_EQ(kind(s, view(2, 1, {0})), decision_kind::down_unreachable);
}

TEST(SbrKeepOldest, OldestWithRoleAndAgeOrder) {
  auto s = with(strategy_kind::keep_oldest);
  s.role = "seed";
  s.down_if_alone = false;
  // Node 3 is the oldest with the role although node 0 is older.
  auto v = view(5, 0, {3, 4}, {{}, {}, {}, {"seed"}, {}});
  EXPECT_EQ(kind(s, v), decision_kind::down_reachable);
  // Age is up_number, not address.
  auto w = view(3, 0, {2});
  w.members[2].up_number = -5;
  s.role.clear();
  EXPECT_EQ(kind(s, w), decision_kind::down_reachable);
  // ... and alone on its side, with down-if-alone, it is downed instead.
  s.down_if_alone = true;
  EXPECT_EQ(kind(s, w), decision_kind::down_unreachable);
}

TEST(SbrKeepOldest, LeavingOldestMayBeExitingThere) {
  auto s = with(strategy_kind::keep_oldest);
  s.down_if_alone = false;
  auto v = view(5, 0, {1, 2});
  v.members[0].status = member_status::leaving;
  // Without node 0 the oldest is node 1, on the other side -> down all.
  EXPECT_EQ(kind(s, v), decision_kind::down_all);
}

TEST(SbrDownAll, DownsEveryone) {
  auto d = sbr::decide(with(strategy_kind::down_all), view(5, 0, {3, 4}));
  EXPECT_EQ(d.kind, decision_kind::down_all);
  EXPECT_EQ(d.down, addrs({0, 1, 2, 3, 4}));
  EXPECT_EQ(sbr::parse_strategy("down-all-when-unstable"), strategy_kind::down_all);
}

TEST(SbrIndirectlyConnected, DownsOnlyTheIndirectlyConnected) {
  auto s = with(strategy_kind::keep_majority);
  // Nodes 1 and 2 see each other as unreachable; self (0) reaches both.
  auto v = view(5, 0, {});
  v.records = {{addr(1), addr(2)}, {addr(2), addr(1)}};
  EXPECT_EQ(sbr::indirectly_connected(v), addrs({1, 2}));
  auto d = sbr::decide(s, v);
  EXPECT_EQ(d.kind, decision_kind::down_indirectly_connected);
  EXPECT_EQ(d.down, addrs({1, 2}));
}

TEST(SbrIndirectlyConnected, CombinedWithACleanPartition) {
  auto s = with(strategy_kind::keep_majority);
  // 7 nodes: 5 and 6 cleanly unreachable, 1 and 2 indirectly connected.
  auto v = view(7, 0, {5, 6});
  v.records = {{addr(1), addr(2)}, {addr(2), addr(1)}, {addr(0), addr(5)}, {addr(0), addr(6)}};
  auto d = sbr::decide(s, v);
  // Without 1 and 2: 3 (0,3,4) against 2 -> this side survives, downing
  // both the indirectly connected and the unreachable.
  EXPECT_EQ(d.kind, decision_kind::down_indirectly_connected);
  EXPECT_EQ(d.down, addrs({1, 2, 5, 6}));
  // From the other side (5): 2 against 3 -> it downs itself.
  auto w = view(7, 5, {0, 3, 4});
  w.records = v.records;
  EXPECT_EQ(kind(s, w), decision_kind::down_reachable);
}

TEST(SbrLeaseMajority, TheLeaseHolderSurvives) {
  auto s = with(strategy_kind::lease_majority);
  EXPECT_EQ(sbr::decide(s, view(5, 0, {3, 4}), true).kind, decision_kind::down_unreachable);
  EXPECT_EQ(sbr::decide(s, view(5, 0, {3, 4}), false).kind, decision_kind::down_reachable);
  // The minority that gets the lease survives.
  EXPECT_EQ(sbr::decide(s, view(5, 3, {0, 1, 2}), true).kind, decision_kind::down_unreachable);
  EXPECT_EQ(sbr::majority_kind(s, view(5, 3, {0, 1, 2})), decision_kind::down_reachable);
}

TEST(SbrResolver, DecidesOnlyAfterStableAfter) {
  auto s = with(strategy_kind::keep_majority);
  s.stable_after = 10s;
  sbr::resolver r(s);
  r.update(view(5, 0, {}), 0s);
  EXPECT_FALSE(r.tick(100s)); // nothing unreachable
  r.update(view(5, 0, {4}), 100s);
  EXPECT_FALSE(r.tick(105s));
  // Another change restarts the period.
  r.update(view(5, 0, {3, 4}), 105s);
  EXPECT_FALSE(r.tick(114s));
  EXPECT_EQ(r.stable_since(), 105s);
  auto d = r.tick(115s);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, decision_kind::down_unreachable);
  EXPECT_EQ(d->down, addrs({3, 4}));
  EXPECT_FALSE(d->unstable);
  // Decided once; the same view gives nothing more.
  EXPECT_FALSE(r.tick(200s));
  // Healing before the period ends gives no decision.
  r.update(view(5, 0, {2}), 300s);
  r.update(view(5, 0, {}), 305s);
  EXPECT_FALSE(r.tick(400s));
}

TEST(SbrResolver, DownedUnreachableMembersEndTheEpisode) {
  auto s = with(strategy_kind::keep_majority);
  s.stable_after = 5s;
  sbr::resolver r(s);
  r.update(view(3, 0, {2}), 0s);
  ASSERT_TRUE(r.tick(5s));
  auto v = view(3, 0, {2});
  v.members[2].status = member_status::down;
  r.update(v, 6s);
  EXPECT_FALSE(r.tick(100s));
}

TEST(SbrResolver, InstabilityDownsAll) {
  auto s = with(strategy_kind::keep_majority);
  s.stable_after = 8s;
  // Derived: max(3/4 * 8 s, 4 s) = 6 s -> down all after 8 + 6 = 14 s of
  // changes without a stable period.
  EXPECT_EQ(sbr::down_all_when_unstable_after(s), 6s);
  sbr::resolver r(s);
  r.update(view(5, 0, {}), 0s);
  for (int t = 10; t < 24; t += 2) {
    r.update(view(5, 0, t % 4 == 0 ? std::vector<int>{4} : std::vector<int>{3, 4}),
             std::chrono::seconds(t));
    EXPECT_FALSE(r.tick(std::chrono::seconds(t) + 1s)) << t;
  }
  // First change at 10 s: at 24 s (latest change 22 s) the 14 s are over.
  r.update(view(5, 0, {3, 4}), 24s);
  auto d = r.tick(25s);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, decision_kind::down_all);
  EXPECT_TRUE(d->unstable);
  EXPECT_EQ(d->down, addrs({0, 1, 2, 3, 4}));
}

TEST(SbrResolver, InstabilityOffOrFloorOfFourSeconds) {
  auto s = with(strategy_kind::keep_majority);
  s.stable_after = 2s;
  EXPECT_EQ(sbr::down_all_when_unstable_after(s), 4s);
  s.down_all_when_unstable = 0s;
  EXPECT_EQ(sbr::down_all_when_unstable_after(s), 0s);
  s.stable_after = 8s;
  sbr::resolver r(s);
  for (int t = 0; t < 60; t += 2) {
    r.update(view(5, 0, t % 4 == 0 ? std::vector<int>{4} : std::vector<int>{3, 4}),
             std::chrono::seconds(t));
    EXPECT_FALSE(r.tick(std::chrono::seconds(t) + 1s));
  }
  auto d = r.tick(66s);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, decision_kind::down_unreachable);
}

TEST(SbrResolver, MembershipChangesAlsoRestartStableAfter) {
  auto s = with(strategy_kind::keep_majority);
  s.stable_after = 10s;
  sbr::resolver r(s);
  r.update(view(5, 0, {4}), 0s);
  auto v = view(5, 0, {4});
  v.members[1].status = member_status::leaving;
  r.update(v, 8s);
  EXPECT_FALSE(r.tick(12s));
  EXPECT_TRUE(r.tick(18s));
}

TEST(SbrResolver, LeaseMajorityMinorityWaitsBeforeAcquiring) {
  auto s = with(strategy_kind::lease_majority);
  s.stable_after = 10s;
  s.acquire_lease_delay_for_minority = 3s;
  int calls = 0;
  sbr::lease_outcome next = sbr::lease_outcome::denied;
  sbr::resolver minority(s, [&] {
    ++calls;
    return next;
  });
  minority.update(view(5, 3, {0, 1, 2}), 0s);
  EXPECT_FALSE(minority.tick(10s));
  EXPECT_TRUE(minority.acquiring_lease());
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(minority.tick(12s));
  EXPECT_EQ(calls, 0);
  auto d = minority.tick(13s);
  ASSERT_TRUE(d);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(d->kind, decision_kind::down_reachable);
  EXPECT_EQ(d->down, addrs({3, 4}));

  // The majority tries at once; a pending lease is retried on the next tick.
  calls = 0;
  next = sbr::lease_outcome::pending;
  sbr::resolver majority(s, [&] {
    ++calls;
    return next;
  });
  majority.update(view(5, 0, {3, 4}), 0s);
  EXPECT_FALSE(majority.tick(10s));
  EXPECT_EQ(calls, 1);
  next = sbr::lease_outcome::acquired;
  d = majority.tick(11s);
  ASSERT_TRUE(d);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(d->kind, decision_kind::down_unreachable);
  EXPECT_EQ(d->down, addrs({3, 4}));
}

TEST(SbrResolver, LeaseOnTheMinorityMakesItSurvive) {
  auto s = with(strategy_kind::lease_majority);
  s.stable_after = 1s;
  s.acquire_lease_delay_for_minority = 0s;
  sbr::resolver r(s, sbr::make_lease([](void*) { return sbr::lease_outcome::acquired; }, nullptr));
  r.update(view(5, 4, {0, 1, 2}), 0s);
  auto d = r.tick(1s);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, decision_kind::down_unreachable);
  EXPECT_EQ(d->down, addrs({0, 1, 2}));
}

TEST(SbrSettings, Validation) {
  sbr::settings s;
  s.quorum_size = 0;
  EXPECT_THROW(sbr::validate(s), std::invalid_argument);
  s = {};
  s.stable_after = 0s;
  EXPECT_THROW(sbr::validate(s), std::invalid_argument);
  s = {};
  s.acquire_lease_delay_for_minority = -1s;
  EXPECT_THROW(sbr::validate(s), std::invalid_argument);
  EXPECT_THROW(sbr::resolver(with(strategy_kind::lease_majority)), std::invalid_argument);
  EXPECT_THROW(sbr::parse_strategy("keep-youngest"), std::invalid_argument);
  EXPECT_THROW(sbr::parse_status("sleeping"), std::invalid_argument);
  EXPECT_EQ(sbr::parse_status("weaklyup"), member_status::weakly_up);
  auto v = view(3, 0, {});
  v.self = "akka://nobody";
  EXPECT_THROW(sbr::decide(s, v), std::invalid_argument);
}
