// The island interpreter over a host of plain integers: values, demand,
// supervision, cancellation and that every element is released.

#include "atomr/streams/error.hpp"
#include "atomr/streams/interpreter.hpp"
#include "int_host.hpp"

#include <functional>
#include <gtest/gtest.h>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace atomr::streams;
using namespace atomr::streams::testing;

TEST(Interpreter, MapFilterSeqGiveTheListComprehension) {
  int_host h;
  fn inc = plus(1), even = is_even();
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2, 3, 4, 5, 6}));
    in.map(&inc, nullptr);
    in.filter(&even, nullptr, false);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::completed);
    EXPECT_EQ(items_of(h, in.take_result()), (std::vector<long>{2, 4, 6}));
  }
  EXPECT_EQ(h.live, 0);
}

TEST(Interpreter, SliceBudgetYieldsAndResumesWithoutLosingElements) {
  int_host h;
  fn sum = add();
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
    in.sink_fold(h.make(0), &sum, nullptr);
    int slices = 0;
    outcome o;
    while ((o = in.run(3)) == outcome::yielded) {
      ++slices;
    }
    ASSERT_EQ(o, outcome::completed);
    EXPECT_GE(slices, 3);
    element r = in.take_result();
    EXPECT_EQ(int_host::of(r).v, 55);
    h.release(r);
  }
  EXPECT_EQ(h.live, 0);
}

TEST(Interpreter, TakeCancelsUpstreamAfterItsLastElement) {
  int_host h;
  {
    interpreter in(h);
    in.source_repeat(h.make(7));
    in.take(3);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::completed);
    EXPECT_EQ(items_of(h, in.take_result()), (std::vector<long>{7, 7, 7}));
  }
  EXPECT_EQ(h.live, 0);
}

TEST(Interpreter, HeadOptionClosesTheSourceIterator) {
  int_host h;
  {
    interpreter in(h);
    in.source_iter(iter(h, {4, 5, 6}));
    in.sink_head_option();
    ASSERT_EQ(in.run(1000), outcome::completed);
    element r = in.take_result();
    EXPECT_EQ(int_host::of(r).v, 4);
    h.release(r);
  }
  EXPECT_EQ(h.closed, 1);
  EXPECT_EQ(h.live, 0);
}

TEST(Interpreter, FailureStopsTheStreamUnlessTheDeciderResumes) {
  fn odd_fails{[](long x) -> std::optional<long> {
                 if (x % 2) {
                   return std::nullopt;
                 }
                 return x;
               },
               {},
               {}};
  int decider_token = 0;
  for (directive d : {directive::stop, directive::resume}) {
    int_host h;
    h.decision = d;
    {
      interpreter in(h);
      in.source_iter(iter(h, {2, 3, 4}));
      in.map(&odd_fails, &decider_token);
      in.sink_seq();
      outcome o = in.run(1000);
      if (d == directive::stop) {
        ASSERT_EQ(o, outcome::failed);
        element f = in.take_failure();
        EXPECT_EQ(int_host::of(f).error, "call1");
        h.release(f);
      } else {
        ASSERT_EQ(o, outcome::completed);
        EXPECT_EQ(items_of(h, in.take_result()), (std::vector<long>{2, 4}));
      }
    }
    EXPECT_EQ(h.live, 0);
  }
}

TEST(Interpreter, RestartResetsTheScanAccumulator) {
  fn sum_fails_on_3{{},
                    [](long a, long b) -> std::optional<long> {
                      if (b == 3) {
                        return std::nullopt;
                      }
                      return a + b;
                    },
                    {}};
  int decider_token = 0;
  int_host h;
  h.decision = directive::restart;
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2, 3, 4}));
    in.scan(h.make(0), &sum_fails_on_3, &decider_token);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::completed);
    EXPECT_EQ(items_of(h, in.take_result()), (std::vector<long>{0, 1, 3, 4}));
  }
  EXPECT_EQ(h.live, 0);
}

TEST(Interpreter, GroupedAndSlidingWindows) {
  int_host h;
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2, 3, 4, 5}));
    in.grouped(2);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::completed);
    element r = in.take_result();
    EXPECT_EQ(int_host::of(r).items.size(), 3u); // [1,2] [3,4] [5]
    h.release(r);
  }
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2, 3, 4, 5}));
    in.sliding(3, 2);
    in.sink_last_option();
    ASSERT_EQ(in.run(1000), outcome::completed);
    EXPECT_EQ(items_of(h, in.take_result()), (std::vector<long>{3, 4, 5}));
  }
  EXPECT_EQ(h.live, 0);
}

TEST(Interpreter, MapConcatFlattensAndARaisingIteratorIsSupervised) {
  fn upto{{}, {}, [](long x) -> std::optional<std::vector<long>> {
            std::vector<long> r;
            for (long i = 0; i < x; ++i) {
              r.push_back(i);
            }
            if (x == 2) {
              r.push_back(-7);
            }
            return r;
          }};
  int_host h;
  h.decision = directive::resume;
  int decider_token = 0;
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2, 3}));
    in.map_concat(&upto, &decider_token);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::completed);
    EXPECT_EQ(items_of(h, in.take_result()), (std::vector<long>{0, 0, 1, 0, 1, 2}));
  }
  EXPECT_EQ(h.live, 0);
}

TEST(Interpreter, MapAsyncKeepsAtMostParallelismCallsAndItsOrder) {
  int_host h;
  int token = 0;
  {
    interpreter in(h);
    in.source_iter(iter(h, {10, 20, 30, 40}));
    in.map_async(&token, 2, true, nullptr);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::waiting);
    ASSERT_EQ(h.started.size(), 2u); // demand bounded by the window
    auto second = std::next(h.started.begin());
    in.complete_async(second->first, true, h.make(second->second + 1));
    ASSERT_EQ(in.run(1000), outcome::waiting); // the first is still outstanding
    EXPECT_EQ(h.started.size(), 2u);
    in.complete_async(h.started.begin()->first, true, h.make(h.started.begin()->second + 1));
    ASSERT_EQ(in.run(1000), outcome::waiting);
    ASSERT_EQ(h.started.size(), 4u);
    for (auto it = std::next(h.started.begin(), 2); it != h.started.end(); ++it) {
      in.complete_async(it->first, true, h.make(it->second + 1));
    }
    ASSERT_EQ(in.run(1000), outcome::completed);
    EXPECT_EQ(items_of(h, in.take_result()), (std::vector<long>{11, 21, 31, 41}));
  }
  EXPECT_EQ(h.live, 0);
}

TEST(Interpreter, BufferDropsHeadWhileDownstreamWaits) {
  int_host h;
  int token = 0;
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2, 3, 4, 5, 6, 7, 8}));
    in.buffer(2, overflow::drop_head);
    in.map_async(&token, 1, true, nullptr);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::waiting);
    ASSERT_EQ(h.started.size(), 1u);
    in.complete_async(h.started.begin()->first, true, h.make(h.started.begin()->second));
    for (int round = 0; round < 3; ++round) {
      outcome o = in.run(1000);
      if (o == outcome::completed) {
        break;
      }
      auto last = std::prev(h.started.end());
      in.complete_async(last->first, true, h.make(last->second));
    }
    ASSERT_EQ(in.run(1000), outcome::completed);
    // 1 went to the async stage; the buffer kept only the last two of 2..8.
    EXPECT_EQ(items_of(h, in.take_result()), (std::vector<long>{1, 7, 8}));
  }
  EXPECT_EQ(h.live, 0);
}

TEST(Interpreter, ABufferOverflowFailsTheStreamWhileAnAsyncCallIsOutstanding) {
  int_host h;
  int token = 0;
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2, 3, 4, 5}));
    in.buffer(2, overflow::fail);
    in.map_async(&token, 1, true, nullptr);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::failed); // not waiting for the call to finish
    element f = in.take_failure();
    EXPECT_EQ(
        int_host::of(f).error.rfind(std::to_string(static_cast<int>(errc::buffer_overflow)), 0),
        0u);
    h.release(f);
    in.complete_async(h.started.begin()->first, true, h.make(1)); // late: released
  }
  EXPECT_EQ(h.live, 0);
}

TEST(Interpreter, KillSwitchShutdownCompletesAndAbortFails) {
  int_host h;
  {
    auto ks = std::make_shared<kill_switch>();
    interpreter in(h);
    in.source_repeat(h.make(1));
    in.gate(ks, nullptr);
    in.sink_ignore();
    ASSERT_EQ(in.run(100), outcome::yielded);
    EXPECT_TRUE(ks->shutdown());
    EXPECT_FALSE(ks->abort());
    ASSERT_EQ(in.run(100), outcome::completed);
    h.release(in.take_result());
  }
  {
    auto ks = std::make_shared<kill_switch>();
    interpreter in(h);
    in.source_repeat(h.make(1));
    in.gate(ks, nullptr);
    in.sink_ignore();
    EXPECT_TRUE(ks->abort());
    ASSERT_EQ(in.run(100), outcome::failed);
    h.release(in.take_failure());
  }
  EXPECT_EQ(h.live, 0);
}

TEST(Interpreter, ZipPairsAndEndsWithTheShorterSide) {
  int_host h;
  fn sum = add();
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2, 3}));
    in.source_iter(iter(h, {10, 20}));
    in.zip(&sum);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::completed);
    EXPECT_EQ(items_of(h, in.take_result()), (std::vector<long>{11, 22}));
  }
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2}));
    in.source_iter(iter(h, {3}));
    in.concat();
    in.source_iter(iter(h, {9, 9}));
    in.merge(false);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::completed);
    EXPECT_EQ(items_of(h, in.take_result()).size(), 5u);
  }
  EXPECT_EQ(h.live, 0);
}

TEST(Interpreter, ReduceOfAnEmptyStreamFails) {
  int_host h;
  fn sum = add();
  {
    interpreter in(h);
    in.source_empty();
    in.sink_reduce(&sum, nullptr);
    ASSERT_EQ(in.run(1000), outcome::failed);
    element f = in.take_failure();
    EXPECT_EQ(int_host::of(f).error.rfind(std::to_string(static_cast<int>(errc::empty_stream)), 0),
              0u);
    h.release(f);
  }
  EXPECT_EQ(h.live, 0);
}

TEST(Interpreter, BadArgumentsAndGraphsThrowStreamErrors) {
  int_host h;
  interpreter in(h);
  EXPECT_THROW(in.take(1), invalid_graph_error);
  in.source_empty();
  EXPECT_THROW(in.grouped(0), invalid_argument_error);
  EXPECT_THROW(in.take(-1), invalid_argument_error);
  in.source_empty();
  EXPECT_THROW(in.sink_seq(), invalid_graph_error);
  EXPECT_EQ(h.live, 0);
}

TEST(Interpreter, CancelReleasesInFlightAndBufferedElements) {
  int_host h;
  int token = 0;
  {
    interpreter in(h);
    in.source_iter(iter(h, {1, 2, 3}));
    in.map_async(&token, 3, false, nullptr);
    in.sink_seq();
    ASSERT_EQ(in.run(1000), outcome::waiting);
    in.complete_async(h.started.begin()->first, true, h.make(5));
    in.cancel();
    EXPECT_EQ(in.state(), outcome::cancelled);
    in.complete_async(std::prev(h.started.end())->first, true, h.make(6)); // released
  }
  EXPECT_EQ(h.live, 0);
}

} // namespace
