#include "atomr/cluster/error.hpp"
#include "atomr/cluster/member.hpp"
#include "atomr/cluster/reachability.hpp"
#include "atomr/cluster/vector_clock.hpp"

#include <gtest/gtest.h>
#include <random>

using namespace atomr::cluster;

namespace {

unique_address node(const std::string& name, std::uint64_t uid = 1) {
  return {"akka.tcp://sys@" + name, uid};
}

} // namespace

TEST(ClusterAddress, ParsesLocalAndRemoteForms) {
  auto local = parse_address("akka://n1");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->protocol, "akka");
  EXPECT_EQ(local->system, "n1");
  EXPECT_EQ(local->host, "");
  auto tcp = parse_address("akka.tcp://sys@10.0.0.1:2552");
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->host, "10.0.0.1");
  EXPECT_EQ(tcp->port, 2552u);
  for (const char* bad : {"", "n1", "akka://", "://x", "akka://s@h", "akka://s@h:", "akka://s@h:x",
                          "akka://s@h:70000", "akka://@h:1", "akka://a/b"})
    EXPECT_FALSE(parse_address(bad)) << bad;
}

TEST(ClusterAddress, OrdersByProtocolHostPortNumerically) {
  EXPECT_TRUE(compare_addresses("akka.tcp://s@h:2552", "akka.tcp://s@h:10000") < 0);
  EXPECT_TRUE(compare_addresses("akka.tcp://z@a:9", "akka.tcp://a@b:1") < 0);
  EXPECT_TRUE(compare_addresses("akka://a", "akka://b") < 0);
  EXPECT_TRUE(compare_addresses("akka://a", "akka://a") == 0);
  EXPECT_TRUE(compare_addresses("akka://a", "garbage") < 0);
  EXPECT_TRUE(compare_addresses("garbage", "akka://a") > 0);
}

TEST(MemberStatus, AllowsAkkasTransitionsOnly) {
  using s = member_status;
  const std::vector<std::pair<s, std::vector<s>>> allowed = {
      {s::joining, {s::weakly_up, s::up, s::leaving, s::down, s::removed}},
      {s::weakly_up, {s::up, s::leaving, s::down, s::removed}},
      {s::up, {s::leaving, s::down, s::removed}},
      {s::leaving, {s::exiting, s::down, s::removed}},
      {s::exiting, {s::removed, s::down}},
      {s::down, {s::removed}},
      {s::removed, {}},
  };
  for (const auto& [from, tos] : allowed) {
    for (int i = 0; i < member_status_count; ++i) {
      const auto to = static_cast<s>(i);
      const bool expect = to == from || std::find(tos.begin(), tos.end(), to) != tos.end();
      EXPECT_EQ(transition_allowed(from, to), expect)
          << status_name(from) << " -> " << status_name(to);
    }
  }
  const member m = member::joining(node("h:1"));
  EXPECT_THROW(m.with_status(s::up).with_status(s::joining), invalid_transition_error);
  EXPECT_EQ(m.with_status(s::up).status, s::up);
}

TEST(MemberStatus, NamesRoundTrip) {
  for (int i = 0; i < member_status_count; ++i) {
    const auto st = static_cast<member_status>(i);
    EXPECT_EQ(parse_status(status_name(st)), st);
  }
  EXPECT_EQ(parse_status("weaklyup"), member_status::weakly_up);
  EXPECT_FALSE(parse_status("Up"));
}

TEST(Member, AgeOrderingIsUpNumberThenAddress) {
  member a = member::joining(node("b:1")).with_up_number(member_status::up, 1);
  member b = member::joining(node("a:1")).with_up_number(member_status::up, 2);
  member c = member::joining(node("a:2"));
  member d = member::joining(node("a:1"));
  EXPECT_LT(age_compare(a, b), 0);
  EXPECT_GT(age_compare(b, a), 0);
  EXPECT_LT(age_compare(b, c), 0); // not yet up is youngest
  EXPECT_LT(age_compare(d, c), 0); // same up number: address
  EXPECT_EQ(age_compare(a, a), 0);
}

TEST(Member, RolesAreSortedAndUnique) {
  EXPECT_EQ(member::joining(node("h:1"), {"b", "a", "b"}).roles,
            (std::vector<std::string>{"a", "b"}));
}

TEST(VectorClock, TickMergeCompare) {
  vector_clock a, b;
  EXPECT_EQ(a.compare(b), clock_order::same);
  a.tick("x");
  EXPECT_EQ(a.compare(b), clock_order::after);
  EXPECT_EQ(b.compare(a), clock_order::before);
  b.tick("y");
  EXPECT_EQ(a.compare(b), clock_order::concurrent);
  const auto m = a.merge(b);
  EXPECT_EQ(m.compare(a), clock_order::after);
  EXPECT_EQ(m.compare(b), clock_order::after);
  EXPECT_EQ(m.prune("y").compare(a), clock_order::same);
  EXPECT_EQ(order_name(clock_order::concurrent), "concurrent");
}

TEST(VectorClock, RandomizedComparisonMatchesComponentwiseDefinition) {
  std::mt19937_64 rng(7);
  const std::vector<std::string> nodes = {"a", "b", "c", "d"};
  for (int round = 0; round < 2000; ++round) {
    vector_clock x, y;
    std::map<std::string, std::uint64_t> ex, ey;
    for (const auto& n : nodes) {
      ex[n] = rng() % 3;
      ey[n] = rng() % 3;
      x.set(n, ex[n]);
      y.set(n, ey[n]);
    }
    bool le = true, ge = true;
    for (const auto& n : nodes) {
      le = le && ex[n] <= ey[n];
      ge = ge && ex[n] >= ey[n];
    }
    const auto expect = le && ge ? clock_order::same
                        : le     ? clock_order::before
                        : ge     ? clock_order::after
                                 : clock_order::concurrent;
    ASSERT_EQ(x.compare(y), expect);
    // The opposite direction mirrors it.
    const auto back = y.compare(x);
    ASSERT_EQ(back, expect == clock_order::before  ? clock_order::after
                    : expect == clock_order::after ? clock_order::before
                                                   : expect);
    // Merge is an upper bound, commutative and idempotent.
    const auto m = x.merge(y);
    ASSERT_EQ(m, y.merge(x));
    ASSERT_EQ(m.merge(m), m);
    ASSERT_NE(m.compare(x), clock_order::before);
    ASSERT_NE(m.compare(x), clock_order::concurrent);
    ASSERT_NE(m.compare(y), clock_order::concurrent);
    // Ticking makes a clock strictly newer.
    vector_clock t = x;
    t.tick(nodes[rng() % nodes.size()]);
    ASSERT_EQ(t.compare(x), clock_order::after);
  }
}

TEST(Reachability, RecordsAndAggregates) {
  const auto a = node("a:1"), b = node("b:1"), c = node("c:1");
  reachability r;
  EXPECT_TRUE(r.is_all_reachable());
  r = r.unreachable(a, c);
  EXPECT_FALSE(r.is_reachable(c));
  EXPECT_FALSE(r.is_reachable(a, c));
  EXPECT_TRUE(r.is_reachable(b, c));
  EXPECT_EQ(r.all_unreachable(), std::set<unique_address>{c});
  EXPECT_EQ(r.versions().at(a), 1u);
  r = r.unreachable(b, c);
  r = r.reachable(a, c);
  EXPECT_FALSE(r.is_reachable(c)); // b still says unreachable
  EXPECT_EQ(r.versions().at(a), 2u);
  EXPECT_TRUE(r.is_reachable(a, c));
  r = r.reachable(b, c);
  EXPECT_TRUE(r.is_reachable(c));
  EXPECT_TRUE(r.records().empty()); // all-reachable observers drop their rows
  r = r.terminated(a, b);
  EXPECT_EQ(r.status(b), reachability_status::terminated);
  EXPECT_TRUE(r.all_unreachable().empty());
  EXPECT_EQ(r.all_unreachable_or_terminated(), std::set<unique_address>{b});
  EXPECT_EQ(r.reachable(a, b), r); // terminated is final
  EXPECT_TRUE(r.remove({b}).is_all_reachable());
}

TEST(Reachability, MergeKeepsNewerRowsPerObserver) {
  const auto a = node("a:1"), b = node("b:1"), c = node("c:1");
  reachability base = reachability{}.unreachable(a, c);
  reachability left = base.reachable(a, c).unreachable(a, b); // a: version 3
  reachability right = base.unreachable(b, a);                // a: version 1, b: 1
  const auto m = left.merge(right);
  EXPECT_EQ(m, right.merge(left));
  EXPECT_EQ(m.merge(m), m);
  EXPECT_EQ(m.versions().at(a), 3u);
  EXPECT_EQ(m.versions().at(b), 1u);
  EXPECT_TRUE(m.is_reachable(c)); // a's newer rows say c is reachable
  EXPECT_FALSE(m.is_reachable(a, b));
  EXPECT_FALSE(m.is_reachable(b, a));
}

TEST(Reachability, RandomizedMergeIsCommutativeAssociativeIdempotent) {
  std::mt19937_64 rng(11);
  const std::vector<unique_address> nodes = {node("a:1"), node("b:1"), node("c:1"), node("d:1")};
  for (int round = 0; round < 300; ++round) {
    // Each observer's history is linear; replicas know prefixes of it.
    std::vector<std::vector<reachability>> history(nodes.size());
    reachability full;
    for (std::size_t o = 0; o < nodes.size(); ++o) {
      reachability own;
      history[o].push_back(own);
      for (int step = 0; step < 5; ++step) {
        const auto& s = nodes[rng() % nodes.size()];
        switch (rng() % 3) {
        case 0:
          own = own.unreachable(nodes[o], s);
          break;
        case 1:
          own = own.reachable(nodes[o], s);
          break;
        default:
          if (rng() % 4 == 0)
            own = own.terminated(nodes[o], s);
        }
        history[o].push_back(own);
      }
    }
    auto replica = [&]() {
      reachability r;
      for (std::size_t o = 0; o < nodes.size(); ++o)
        r = r.merge(history[o][rng() % history[o].size()]);
      return r;
    };
    const auto x = replica(), y = replica(), z = replica();
    ASSERT_EQ(x.merge(y), y.merge(x));
    ASSERT_EQ(x.merge(x), x);
    ASSERT_EQ(x.merge(y).merge(z), x.merge(y.merge(z)));
  }
}
