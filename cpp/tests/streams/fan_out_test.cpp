// Fan-out junctions fused in one island: broadcast, balance, partition and
// tap over the integer host: values per sink, back-pressure, cancellation
// of one branch, completion and failure propagation, and that every element
// is released.

#include "atomr/streams/error.hpp"
#include "atomr/streams/interpreter.hpp"
#include "int_host.hpp"

#include <gtest/gtest.h>
#include <optional>
#include <vector>

namespace {

using namespace atomr::streams;
using namespace atomr::streams::testing;

/// Sink `i`'s value, which must have completed (released).
std::vector<long> sink_items(int_host& h, interpreter& in, std::size_t i) {
  bool ok = false;
  element v = in.take_sink(i, ok);
  EXPECT_TRUE(ok);
  return v == nullptr ? std::vector<long>{} : items_of(h, v);
}

long sink_value(int_host& h, interpreter& in, std::size_t i) {
  bool ok = false;
  element v = in.take_sink(i, ok);
  EXPECT_TRUE(ok);
  long r = int_host::of(v).v;
  h.release(v);
  return r;
}

/// Sink `i`'s failure message, which must have failed.
std::string sink_error(int_host& h, interpreter& in, std::size_t i) {
  bool ok = true;
  element v = in.take_sink(i, ok);
  EXPECT_FALSE(ok);
  std::string r = int_host::of(v).error;
  h.release(v);
  return r;
}

TEST(FanOut, BroadcastSendsEveryElementToEverySink) {
  int_host h;
  fn ten = plus(10), sum = add();
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2, 3, 4, 5}));
    std::size_t b = in.broadcast(2, 16, false, false);
    in.port(b, 0);
    in.map(&ten, nullptr);
    in.sink_seq();
    in.port(b, 1);
    in.sink_fold(h.make(0), &sum, nullptr);
    ASSERT_EQ(in.run(1000), outcome::completed);
    ASSERT_EQ(in.sinks(), 2u);
    EXPECT_EQ(sink_items(h, in, 0), (std::vector<long>{11, 12, 13, 14, 15}));
    EXPECT_EQ(sink_value(h, in, 1), 15);
  }
  EXPECT_EQ(h.live, 0);
}

TEST(FanOut, BroadcastPullsNoFasterThanItsSlowestOutput) {
  int_host h;
  fn id = plus(0);
  {
    interpreter in(h);
    element it = iter(h, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    in.source_iter(it);
    std::size_t b = in.broadcast(2, 2, false, false);
    in.port(b, 0);
    in.sink_seq();
    in.port(b, 1);
    in.map_async(&id, 1, true, nullptr); // the slow branch: one call at a time
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::waiting);
    // one element in the async call, two queued for the slow branch
    EXPECT_LE(int_host::of(it).pos, 4u);
    EXPECT_GE(int_host::of(it).pos, 3u);
    while (in.state() == outcome::waiting) {
      ASSERT_EQ(h.started.size(), 1u);
      auto [ticket, arg] = *h.started.begin();
      h.started.clear();
      in.complete_async(ticket, true, h.make(arg));
      in.run(1000);
    }
    ASSERT_EQ(in.state(), outcome::completed);
    std::vector<long> all{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    EXPECT_EQ(sink_items(h, in, 0), all);
    EXPECT_EQ(sink_items(h, in, 1), all);
  }
  EXPECT_EQ(h.live, 0);
}

TEST(FanOut, BroadcastCancelsUpstreamOnceEveryOutputCancelled) {
  int_host h;
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2, 3, 4, 5, 6, 7, 8}));
    std::size_t b = in.broadcast(2, 16, false, false);
    in.port(b, 0);
    in.take(2);
    in.sink_seq();
    in.port(b, 1);
    in.take(4);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::completed);
    EXPECT_EQ(sink_items(h, in, 0), (std::vector<long>{1, 2}));
    EXPECT_EQ(sink_items(h, in, 1), (std::vector<long>{1, 2, 3, 4}));
  }
  EXPECT_EQ(h.closed, 1);
  EXPECT_EQ(h.live, 0);
}

TEST(FanOut, EagerCancelCompletesTheOtherOutputs) {
  for (bool eager : {false, true}) {
    int_host h;
    {
      interpreter in(h);
      in.source_iter(iter(h, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
      std::size_t b = in.broadcast(2, 1, eager, false);
      in.port(b, 0);
      in.take(2);
      in.sink_seq();
      in.port(b, 1);
      in.sink_seq();
      ASSERT_EQ(in.run(1000), outcome::completed);
      EXPECT_EQ(sink_items(h, in, 0), (std::vector<long>{1, 2}));
      std::vector<long> rest = sink_items(h, in, 1);
      if (eager) {
        EXPECT_GE(rest.size(), 2u);
        EXPECT_LE(rest.size(), 3u); // what its queue held when the other cancelled
      } else {
        EXPECT_EQ(rest.size(), 10u);
      }
    }
    EXPECT_EQ(h.closed, eager ? 1 : 0);
    EXPECT_EQ(h.live, 0);
  }
}

TEST(FanOut, AFailedSinkFailsTheOthersOnlyWithFailOnCause) {
  fn fails{[](long) -> std::optional<long> { return std::nullopt; }, {}, {}};
  for (bool on_cause : {false, true}) {
    int_host h;
    {
      interpreter in(h);
      in.source_iter(iter(h, {1, 2, 3}));
      std::size_t b = in.broadcast(2, 1, true, on_cause);
      in.port(b, 1);
      in.sink_foreach(&fails, nullptr);
      in.port(b, 0);
      in.sink_seq();
      ASSERT_EQ(in.run(1000), outcome::completed);
      EXPECT_EQ(sink_error(h, in, 0), "call1");
      if (on_cause) {
        EXPECT_EQ(sink_error(h, in, 1), "call1");
      } else {
        EXPECT_LE(sink_items(h, in, 1).size(), 2u);
      }
    }
    EXPECT_EQ(h.live, 0);
  }
}

TEST(FanOut, AnUpstreamFailureReachesEveryOutputAfterItsQueue) {
  int_host h;
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2, -7, 4}));
    std::size_t b = in.broadcast(3, 16, false, false);
    for (std::int64_t k = 0; k < 3; ++k) {
      in.port(b, k);
      in.sink_seq();
    }
    ASSERT_EQ(in.run(1000), outcome::completed);
    for (std::size_t k = 0; k < 3; ++k) {
      EXPECT_EQ(sink_error(h, in, k), "next");
    }
  }
  EXPECT_EQ(h.live, 0);
}

TEST(FanOut, BalanceGivesEachElementToOneOutputAndLosesNone) {
  int_host h;
  int seen[2] = {0, 0};
  fn count0{[&seen](long x) -> std::optional<long> {
              ++seen[0];
              return x;
            },
            {},
            {}};
  fn count1{[&seen](long x) -> std::optional<long> {
              ++seen[1];
              return x;
            },
            {},
            {}};
  fn sum = add();
  {
    interpreter in(h);
    std::vector<long> xs;
    for (long i = 1; i <= 100; ++i) {
      xs.push_back(i);
    }
    in.source_iter(iter(h, xs));
    std::size_t b = in.balance(2);
    in.port(b, 0);
    in.map(&count0, nullptr);
    in.port(b, 1);
    in.map(&count1, nullptr);
    in.merge(false);
    in.sink_fold(h.make(0), &sum, nullptr);
    ASSERT_EQ(in.run(1000), outcome::completed);
    element r = in.take_result();
    EXPECT_EQ(int_host::of(r).v, 5050);
    h.release(r);
  }
  EXPECT_EQ(seen[0] + seen[1], 100);
  EXPECT_GT(seen[0], 0);
  EXPECT_GT(seen[1], 0);
  EXPECT_EQ(h.live, 0);
}

TEST(FanOut, BalanceCancelsUpstreamWhenEveryOutputCancelled) {
  int_host h;
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
    std::size_t b = in.balance(2);
    in.port(b, 0);
    in.take(1);
    in.sink_seq();
    in.port(b, 1);
    in.take(2);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::completed);
    EXPECT_EQ(sink_items(h, in, 0).size() + sink_items(h, in, 1).size(), 3u);
  }
  EXPECT_EQ(h.closed, 1);
  EXPECT_EQ(h.live, 0);
}

TEST(FanOut, PartitionRoutesDropsForCancelledOutputsAndFailsOnABadIndex) {
  fn mod3{[](long x) -> std::optional<long> { return x % 3; }, {}, {}};
  fn bad{[](long x) -> std::optional<long> { return x == 4 ? 7 : 0; }, {}, {}};
  fn raises{[](long x) -> std::optional<long> {
              if (x == 3) {
                return std::nullopt;
              }
              return 0;
            },
            {},
            {}};
  {
    int_host h;
    {
      interpreter in(h);
      in.source_iter(iter(h, {0, 1, 2, 3, 4, 5, 6, 7, 8}));
      std::size_t p = in.partition(3, &mod3, 2);
      in.port(p, 0);
      in.sink_seq();
      in.port(p, 1);
      in.take(1); // output 1 cancels: later elements for it are dropped
      in.sink_seq();
      in.port(p, 2);
      in.sink_seq();
      ASSERT_EQ(in.run(1000), outcome::completed);
      EXPECT_EQ(sink_items(h, in, 0), (std::vector<long>{0, 3, 6}));
      EXPECT_EQ(sink_items(h, in, 1), (std::vector<long>{1}));
      EXPECT_EQ(sink_items(h, in, 2), (std::vector<long>{2, 5, 8}));
    }
    EXPECT_EQ(h.live, 0);
  }
  for (fn* f : {&bad, &raises}) {
    int_host h;
    {
      interpreter in(h);
      in.source_iter(iter(h, {0, 1, 2, 3, 4, 5}));
      std::size_t p = in.partition(2, f, 4);
      in.port(p, 0);
      in.sink_seq();
      in.port(p, 1);
      in.sink_seq();
      ASSERT_EQ(in.run(1000), outcome::completed);
      std::string e0 = sink_error(h, in, 0);
      EXPECT_EQ(e0, sink_error(h, in, 1));
      EXPECT_EQ(e0, f == &bad ? "1:the partitioner gave output 7, not one of 2" : "call1");
    }
    EXPECT_EQ(h.closed, 1);
    EXPECT_EQ(h.live, 0);
  }
}

TEST(FanOut, ATapNeverHoldsTheMainOutputBackNorCancelsIt) {
  int_host h;
  fn id = plus(0);
  {
    interpreter in(h);
    std::vector<long> xs;
    for (long i = 0; i < 50; ++i) {
      xs.push_back(i);
    }
    in.source_iter(iter(h, xs));
    std::size_t t = in.tap(2);
    in.port(t, 1);
    in.map_async(&id, 1, true, nullptr); // a side branch that never finishes
    in.sink_seq();
    in.port(t, 0);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::waiting);
    EXPECT_EQ(sink_items(h, in, 1), xs);
    in.cancel();
    EXPECT_EQ(in.state(), outcome::cancelled);
  }
  EXPECT_EQ(h.live, 0);
}

TEST(FanOut, SeveralSinksYieldAndResumeWithoutLosingElements) {
  int_host h;
  fn sum = add();
  {
    interpreter in(h);
    std::vector<long> xs;
    for (long i = 1; i <= 200; ++i) {
      xs.push_back(i);
    }
    in.source_iter(iter(h, xs));
    std::size_t b = in.broadcast(2, 4, false, false);
    in.port(b, 0);
    in.sink_fold(h.make(0), &sum, nullptr);
    in.port(b, 1);
    in.sink_seq();
    int slices = 0;
    outcome o;
    while ((o = in.run(7)) == outcome::yielded) {
      ++slices;
    }
    ASSERT_EQ(o, outcome::completed);
    EXPECT_GE(slices, 20);
    EXPECT_EQ(sink_value(h, in, 0), 20100);
    EXPECT_EQ(sink_items(h, in, 1), xs);
  }
  EXPECT_EQ(h.live, 0);
}

TEST(FanOut, AGraphWithAnUnconnectedOutputIsRefused) {
  int_host h;
  {
    interpreter in(h);
    in.source_iter(iter(h, {1}));
    std::size_t b = in.broadcast(2, 1, false, false);
    in.port(b, 0);
    EXPECT_THROW(in.port(b, 0), invalid_graph_error);
    EXPECT_THROW(in.port(b, 2), invalid_graph_error);
    in.sink_seq();
    EXPECT_THROW(in.run(10), invalid_graph_error);
    EXPECT_THROW(in.broadcast(0, 1, false, false), invalid_argument_error);
  }
  EXPECT_EQ(h.live, 0);
}

} // namespace

namespace {

TEST(AsyncStart, ACallThatFinishedAtOnceNeedsNoCompletion) {
  int_host h;
  h.immediate = true;
  fn id = plus(0);
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2, 3}));
    in.map_async(&id, 2, true, nullptr);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::completed);
    EXPECT_EQ(items_of(h, in.take_result()), (std::vector<long>{101, 102, 103}));
  }
  {
    interpreter in(h);
    in.source_async(&id);
    in.take(3);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::completed);
    EXPECT_EQ(items_of(h, in.take_result()), (std::vector<long>{100, 100, 100}));
  }
  EXPECT_TRUE(h.started.empty());
  EXPECT_EQ(h.live, 0);
}

} // namespace
