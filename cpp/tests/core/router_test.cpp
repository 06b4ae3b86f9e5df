#include "atomr/core/cell.hpp"
#include "atomr/core/dispatcher.hpp"
#include "atomr/core/error.hpp"
#include "atomr/core/router.hpp"

#include <gtest/gtest.h>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

struct fixture {
  atomr::core::dead_letter_sink sink;
  atomr::core::pinned_dispatcher dispatcher{1000000};
  std::vector<atomr::core::cell*> cells;

  explicit fixture(int n, const std::string& prefix = "akka://t/user/r/routee-") {
    for (int i = 0; i < n; ++i)
      cells.push_back(new atomr::core::cell(dispatcher, prefix + std::to_string(i), sink));
  }

  ~fixture() {
    while (atomr::core::cell* c = dispatcher.pop_ready())
      c->release();
    for (auto* c : cells)
      c->release();
  }

  // Pops every queued message of routee i; returns their int payloads.
  std::vector<int> drain(int i) {
    std::vector<int> out;
    atomr::core::envelope e;
    cells[i]->begin_turn();
    while (cells[i]->next(e))
      out.push_back(*static_cast<int*>(e.message.get()));
    return out;
  }
};

atomr::core::envelope message(int v) {
  atomr::core::envelope e;
  e.message = atomr::core::payload::make<int>(v);
  return e;
}

void clone_int(const atomr::core::envelope& from, atomr::core::envelope& to) {
  to.message = atomr::core::payload::make<int>(*static_cast<int*>(from.message.get()));
  to.kind = from.kind;
  to.tag = from.tag;
}

} // namespace

TEST(Router, RoundRobinVisitsEveryRouteeEvenly) {
  fixture f(4);
  atomr::core::router r(atomr::core::routing_logic::round_robin);
  r.set_routees(f.cells);
  for (int i = 0; i < 400; ++i) {
    auto e = message(i);
    ASSERT_EQ(r.route(e).delivered, 1u);
  }
  for (int i = 0; i < 4; ++i) {
    auto got = f.drain(i);
    ASSERT_EQ(got.size(), 100u);
    for (std::size_t k = 0; k < got.size(); ++k)
      EXPECT_EQ(got[k] % 4, i);
  }
}

TEST(Router, RandomSpreadsLoadOverAllRoutees) {
  fixture f(4);
  atomr::core::router r(atomr::core::routing_logic::random);
  r.set_routees(f.cells);
  for (int i = 0; i < 4000; ++i) {
    auto e = message(i);
    r.route(e);
  }
  for (int i = 0; i < 4; ++i) {
    auto n = f.drain(i).size();
    EXPECT_GT(n, 700u);
    EXPECT_LT(n, 1300u);
  }
}

TEST(Router, BroadcastClonesTheMessageToEveryRoutee) {
  fixture f(3);
  atomr::core::router r(atomr::core::routing_logic::broadcast, &clone_int);
  r.set_routees(f.cells);
  auto e = message(7);
  EXPECT_EQ(r.route(e).delivered, 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(f.drain(i), std::vector<int>{7});
}

TEST(Router, BroadcastWithoutClonerIsRejected) {
  EXPECT_THROW(atomr::core::router(atomr::core::routing_logic::broadcast), atomr::error);
}

TEST(Router, ConsistentHashKeepsAKeyOnOneRoutee) {
  fixture f(5);
  atomr::core::router r(atomr::core::routing_logic::consistent_hash);
  r.set_routees(f.cells);
  for (std::uint64_t key = 0; key < 200; ++key) {
    int expected = r.index_for_key(key);
    for (int rep = 0; rep < 3; ++rep) {
      auto e = message(static_cast<int>(key));
      ASSERT_EQ(r.route(e, key, true).delivered, 1u);
    }
    auto got = f.drain(expected);
    EXPECT_EQ(got.size(), 3u);
  }
}

TEST(Router, ConsistentHashWithoutAKeyDeliversNothing) {
  fixture f(2);
  atomr::core::router r(atomr::core::routing_logic::consistent_hash);
  r.set_routees(f.cells);
  auto e = message(1);
  EXPECT_EQ(r.route(e).delivered, 0u);
  EXPECT_TRUE(static_cast<bool>(e.message)); // left with the caller
}

TEST(Router, AddingARouteeMovesAboutOneNthOfTheKeys) {
  fixture f(5);
  atomr::core::router r(atomr::core::routing_logic::consistent_hash);
  std::vector<atomr::core::cell*> four(f.cells.begin(), f.cells.begin() + 4);
  r.set_routees(four);
  const int keys = 20000;
  std::vector<int> before(keys);
  for (int k = 0; k < keys; ++k)
    before[k] = r.index_for_key(static_cast<std::uint64_t>(k));
  r.set_routees(f.cells);
  int moved = 0;
  for (int k = 0; k < keys; ++k) {
    int now = r.index_for_key(static_cast<std::uint64_t>(k));
    if (now != before[k]) {
      ++moved;
      EXPECT_EQ(now, 4) << "a key may only move to the new routee";
    }
  }
  double fraction = static_cast<double>(moved) / keys;
  EXPECT_GT(fraction, 0.12);
  EXPECT_LT(fraction, 0.28); // ideal: 1/5
}

TEST(Router, SmallestMailboxPrefersTheEmptiestRoutee) {
  fixture f(3);
  atomr::core::router r(atomr::core::routing_logic::smallest_mailbox);
  r.set_routees(f.cells);
  for (int i = 0; i < 5; ++i) {
    auto e = message(i);
    f.cells[0]->tell(e);
  }
  for (int i = 0; i < 2; ++i) {
    auto e = message(i);
    f.cells[1]->tell(e);
  }
  auto e = message(99);
  r.route(e);
  auto got = f.drain(2);
  EXPECT_EQ(got, std::vector<int>{99});
}

TEST(Router, StoppedRouteesAreSkipped) {
  fixture f(3);
  atomr::core::router r(atomr::core::routing_logic::round_robin);
  r.set_routees(f.cells);
  f.cells[1]->begin_turn();
  f.cells[1]->stop();
  for (int i = 0; i < 6; ++i) {
    auto e = message(i);
    EXPECT_EQ(r.route(e).delivered, 1u);
  }
  EXPECT_EQ(f.drain(0).size() + f.drain(2).size(), 6u);
}

TEST(Router, AllRouteesStoppedLeavesTheEnvelopeWithTheCaller) {
  fixture f(2);
  atomr::core::router r(atomr::core::routing_logic::round_robin);
  r.set_routees(f.cells);
  for (auto* c : f.cells) {
    c->begin_turn();
    c->stop();
  }
  auto e = message(1);
  EXPECT_EQ(r.route(e).delivered, 0u);
  EXPECT_TRUE(static_cast<bool>(e.message));
}

TEST(Router, ReportsAWakeWhenTheDispatcherSleeps) {
  fixture f(1);
  atomr::core::router r(atomr::core::routing_logic::round_robin);
  r.set_routees(f.cells);
  auto e = message(1);
  EXPECT_TRUE(r.route(e).wake); // a new dispatcher starts asleep
}

TEST(Router, ConcurrentRoutingAndResizingLoseNothing) {
  fixture f(8);
  atomr::core::router r(atomr::core::routing_logic::round_robin);
  r.set_routees(std::vector<atomr::core::cell*>(f.cells.begin(), f.cells.begin() + 4));
  std::atomic<bool> stop{false};
  std::thread resizer([&] {
    bool big = false;
    while (!stop.load()) {
      big = !big;
      r.set_routees(
          std::vector<atomr::core::cell*>(f.cells.begin(), f.cells.begin() + (big ? 8 : 4)));
    }
  });
  std::vector<std::thread> producers;
  for (int t = 0; t < 3; ++t)
    producers.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        auto e = message(i);
        ASSERT_EQ(r.route(e).delivered, 1u);
      }
    });
  for (auto& p : producers)
    p.join();
  stop = true;
  resizer.join();
  std::size_t total = 0;
  for (int i = 0; i < 8; ++i)
    total += f.drain(i).size();
  EXPECT_EQ(total, 60000u);
}

TEST(Router, StableHashOfBytes) {
  const char a[] = "alice";
  EXPECT_EQ(atomr::core::router::hash_bytes(a, 5), atomr::core::router::hash_bytes("alice", 5));
  EXPECT_NE(atomr::core::router::hash_bytes("alice", 5),
            atomr::core::router::hash_bytes("alicf", 5));
}

TEST(Cell, TellLocalSchedulesAnIdleCellLikeTell) {
  atomr::core::dead_letter_sink sink;
  atomr::core::pinned_dispatcher d;
  auto* c = new atomr::core::cell(d, "akka://t/user/local", sink);
  auto e = message(1);
  EXPECT_EQ(c->tell_local(e),
            atomr::core::enqueue_result::accepted_wake); // dispatcher starts asleep
  auto e2 = message(2);
  EXPECT_EQ(c->tell_local(e2), atomr::core::enqueue_result::accepted); // already scheduled
  atomr::core::cell* r = d.pop_ready();
  ASSERT_EQ(r, c);
  r->begin_turn();
  atomr::core::envelope got;
  ASSERT_TRUE(r->next(got));
  EXPECT_EQ(*static_cast<int*>(got.message.get()), 1);
  ASSERT_TRUE(r->next(got));
  EXPECT_EQ(*static_cast<int*>(got.message.get()), 2);
  r->end_turn();
  r->release();
  c->begin_turn();
  c->stop();
  auto e3 = message(3);
  EXPECT_EQ(c->tell_local(e3), atomr::core::enqueue_result::rejected);
  c->release();
}

TEST(Router, BroadcastReportsEveryCopyARouteeLost) {
  fixture f(3);
  for (auto* c : f.cells)
    c->make_bounded(1, atomr::core::overflow_strategy::drop_new);
  atomr::core::router r(atomr::core::routing_logic::broadcast, &clone_int);
  r.set_routees(f.cells);
  auto first = message(1);
  EXPECT_EQ(r.route(first).delivered, 3u);
  std::vector<std::string> lost_by;
  auto on_lost = [](void* ctx, atomr::core::envelope& e, atomr::core::cell* routee, bool evicted) {
    EXPECT_FALSE(evicted);
    EXPECT_EQ(*static_cast<int*>(e.message.get()), 2);
    static_cast<std::vector<std::string>*>(ctx)->push_back(routee->path());
  };
  auto second = message(2);
  EXPECT_EQ(r.route(second, 0, false, on_lost, &lost_by).delivered, 0u);
  EXPECT_EQ(lost_by.size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(f.drain(i), std::vector<int>{1});
}

TEST(Router, EvictedMailGoesToTheLostCallback) {
  fixture f(1);
  f.cells[0]->make_bounded(1, atomr::core::overflow_strategy::drop_head);
  atomr::core::router r(atomr::core::routing_logic::round_robin);
  r.set_routees(f.cells);
  int lost = -1;
  auto on_lost = [](void* ctx, atomr::core::envelope& e, atomr::core::cell*, bool evicted) {
    EXPECT_TRUE(evicted);
    *static_cast<int*>(ctx) = *static_cast<int*>(e.message.get());
  };
  auto a = message(10);
  r.route(a, 0, false, on_lost, &lost);
  auto b = message(11);
  auto res = r.route(b, 0, false, on_lost, &lost);
  EXPECT_EQ(res.delivered, 1u);
  EXPECT_TRUE(res.evicted);
  EXPECT_EQ(lost, 10);
  EXPECT_EQ(f.drain(0), std::vector<int>{11});
}
