#include "atomr/core/cell.hpp"
#include "atomr/core/dispatcher.hpp"
#include "atomr/core/stats.hpp"
#include "test_support.hpp"

#include <cstdint>
#include <gtest/gtest.h>
#include <thread>
#include <vector>

namespace {

using atomr::core::dead_letter_reason;
using atomr::core::dead_letter_sink;
using atomr::core::dispatcher_stats;
using atomr::core::enqueue_result;
using atomr::core::envelope;
using atomr::core::overflow_strategy;
using atomr::core::pinned_dispatcher;
using atomr::core::test::drain_ready;
using atomr::core::test::make_cell;
using atomr::core::test::user_msg;

TEST(DispatcherStats, CountsTellsFromEveryThreadAndWhatIsHandled) {
  dead_letter_sink sink;
  pinned_dispatcher d{64};
  auto a = make_cell(d, sink, "akka://t/user/a");
  auto b = make_cell(d, sink, "akka://t/user/b");
  for (int i = 0; i < 5; ++i) {
    envelope e = user_msg(i);
    EXPECT_NE(a->tell_local(e), enqueue_result::rejected);
  }
  constexpr int per_thread = 1000;
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t)
    producers.emplace_back([&b] {
      for (int i = 0; i < per_thread; ++i) {
        envelope e = user_msg(i);
        b->tell(e);
      }
    });
  for (auto& t : producers)
    t.join();
  const dispatcher_stats& s = d.stats();
  EXPECT_EQ(s.enqueued(), 5u + 4u * per_thread);
  EXPECT_EQ(s.processed_count(), 0u);
  // The deepest mailbox was b's, with every message of the four threads.
  EXPECT_EQ(s.mailbox_high_water(), 4 * per_thread);

  envelope out;
  a->begin_turn();
  int handled = 0;
  while (a->next(out))
    ++handled;
  EXPECT_EQ(handled, 5);
  EXPECT_EQ(s.processed_count(), 5u);
  b->begin_turn();
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(b->next(out));
  EXPECT_EQ(s.processed_count(), 15u);
  // Mail taken back into the stash-replay queue is not counted twice.
  b->push_front_user(out);
  ASSERT_TRUE(b->next(out));
  EXPECT_EQ(s.processed_count(), 15u);
  a->stop();
  b->stop();
  drain_ready(d);
}

TEST(DispatcherStats, RefusedAndRejectedTellsAreNotCountedAsQueued) {
  dead_letter_sink sink;
  pinned_dispatcher d{64};
  auto c = make_cell(d, sink);
  c->make_bounded(2, overflow_strategy::drop_new);
  for (int i = 0; i < 3; ++i) {
    envelope e = user_msg(i);
    c->tell(e);
  }
  EXPECT_EQ(d.stats().enqueued(), 2u);
  EXPECT_EQ(d.stats().mailbox_high_water(), 2);
  c->stop();
  envelope late = user_msg(9);
  EXPECT_EQ(c->tell(late), enqueue_result::rejected);
  EXPECT_EQ(d.stats().enqueued(), 2u);
  drain_ready(d);
}

TEST(DispatcherStats, HighWaterOnlyRises) {
  dispatcher_stats s;
  s.note_depth(3);
  s.note_depth(1);
  EXPECT_EQ(s.mailbox_high_water(), 3);
  s.note_depth(7);
  EXPECT_EQ(s.mailbox_high_water(), 7);
}

TEST(DispatcherStats, TurnsFallIntoTheirBuckets) {
  dispatcher_stats s;
  s.record_turn(500, 1);           // <= 1 us
  s.record_turn(1'000, 2);         // <= 1 us (bounds are inclusive)
  s.record_turn(50'000, 3);        // <= 100 us
  s.record_turn(5'000'000'000, 4); // past the last bound
  EXPECT_EQ(s.turn_count(0), 2u);
  EXPECT_EQ(s.turn_count(1), 0u);
  EXPECT_EQ(s.turn_count(2), 1u);
  EXPECT_EQ(s.turn_count(dispatcher_stats::turn_buckets - 1), 1u);
  EXPECT_EQ(s.turn_count(dispatcher_stats::turn_buckets), 0u); // out of range
  EXPECT_EQ(s.turn_sum_ns(), 500u + 1'000u + 50'000u + 5'000'000'000u);
  EXPECT_EQ(s.turn_messages(), 10u);
}

TEST(DeadLetterSink, CountsByReason) {
  dead_letter_sink sink;
  envelope e = user_msg(1);
  sink.publish(e, "akka://t/user/x", dead_letter_reason::no_recipient);
  e = user_msg(2);
  sink.publish(e, "akka://t/user/x", dead_letter_reason::rejected);
  e = user_msg(3);
  sink.publish(e, "akka://t/user/x", dead_letter_reason::rejected);
  EXPECT_EQ(sink.count(), 3u);
  EXPECT_EQ(sink.count(dead_letter_reason::no_recipient), 1u);
  EXPECT_EQ(sink.count(dead_letter_reason::dropped), 0u);
  EXPECT_EQ(sink.count(dead_letter_reason::rejected), 2u);
  EXPECT_EQ(sink.count(dead_letter_reason::evicted), 0u);
}

} // namespace
