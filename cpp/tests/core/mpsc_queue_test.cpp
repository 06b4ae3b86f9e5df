#include "atomr/core/envelope.hpp"
#include "atomr/core/mpsc_queue.hpp"
#include "atomr/core/payload.hpp"
#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <gtest/gtest.h>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using atomr::core::envelope;
using atomr::core::payload;
using atomr::core::internal::mpsc_queue;
using namespace std::chrono_literals;

TEST(MpscQueue, NewQueueIsEmpty) {
  mpsc_queue<int> q;
  int out = -1;
  EXPECT_FALSE(q.has_next());
  EXPECT_FALSE(q.try_pop(out));
  EXPECT_EQ(out, -1) << "a failed pop must not touch the output";
}

TEST(MpscQueue, PopsValuesInFifoOrder) {
  mpsc_queue<int> q;
  for (int i = 0; i < 100; ++i)
    q.push(int(i));
  for (int i = 0; i < 100; ++i) {
    int out = -1;
    ASSERT_TRUE(q.try_pop(out));
    EXPECT_EQ(out, i);
  }
  int out = -1;
  EXPECT_FALSE(q.try_pop(out));
}

TEST(MpscQueue, HasNextReportsALinkedValueWithoutConsumingIt) {
  mpsc_queue<int> q;
  q.push(1);
  EXPECT_TRUE(q.has_next());
  EXPECT_TRUE(q.has_next());
  int out = 0;
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(out, 1);
  EXPECT_FALSE(q.has_next());
}

TEST(MpscQueue, InterleavedPushesAndPopsKeepFifoOrder) {
  mpsc_queue<int> q;
  int next_in = 0;
  int next_out = 0;
  for (int round = 0; round < 50; ++round) {
    for (int k = 0; k < round % 7 + 1; ++k)
      q.push(int(next_in++));
    for (int k = 0; k < round % 5 + 1; ++k) {
      int out = -1;
      if (!q.try_pop(out))
        break;
      EXPECT_EQ(out, next_out++);
    }
  }
  int out = -1;
  while (q.try_pop(out))
    EXPECT_EQ(out, next_out++);
  EXPECT_EQ(next_in, next_out);
}

TEST(MpscQueue, QueueIsReusableAfterBeingDrained) {
  mpsc_queue<std::string> q;
  for (int round = 0; round < 3; ++round) {
    const std::string value(40, char('a' + round)); // long enough to own heap memory
    q.push(std::string(value));
    std::string out;
    ASSERT_TRUE(q.try_pop(out));
    EXPECT_EQ(out, value);
    EXPECT_FALSE(q.try_pop(out));
  }
}

TEST(MpscQueue, CarriesMoveOnlyValues) {
  mpsc_queue<std::unique_ptr<int>> q;
  q.push(std::make_unique<int>(5));
  q.push(std::make_unique<int>(6));
  std::unique_ptr<int> out;
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(*out, 5);
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(*out, 6);
}

TEST(MpscQueue, PushMovesThePayloadInAndPopMovesItOutWithoutReleasing) {
  std::atomic<std::uint64_t> releases{0};
  {
    mpsc_queue<payload> q;
    payload p = atomr::core::test::make_counted(11, releases);
    void* raw = p.get();
    q.push(std::move(p));
    EXPECT_FALSE(p); // NOLINT(bugprone-use-after-move)
    payload out;
    ASSERT_TRUE(q.try_pop(out));
    EXPECT_EQ(out.get(), raw);
    EXPECT_EQ(releases.load(), 0u);
  }
  EXPECT_EQ(releases.load(), 1u);
}

TEST(MpscQueue, DestructorReleasesValuesStillQueuedExactlyOnce) {
  std::atomic<std::uint64_t> releases{0};
  {
    mpsc_queue<envelope> q;
    for (std::uint64_t i = 0; i < 10; ++i)
      q.push(atomr::core::test::counted_msg(i, releases));
    envelope first;
    ASSERT_TRUE(q.try_pop(first));
    EXPECT_EQ(releases.load(), 0u);
  }
  EXPECT_EQ(releases.load(), 10u);
}

TEST(MpscQueue, PopOverwritesAnOccupiedOutputByReleasingItsOldValue) {
  std::atomic<std::uint64_t> releases{0};
  {
    mpsc_queue<payload> q;
    q.push(atomr::core::test::make_counted(2, releases));
    payload out = atomr::core::test::make_counted(1, releases);
    ASSERT_TRUE(q.try_pop(out));
    EXPECT_EQ(releases.load(), 1u);
    EXPECT_EQ(atomr::core::test::counted_of(out), 2u);
  }
  EXPECT_EQ(releases.load(), 2u);
}

// --- multi-producer stress ---------------------------------------------------

TEST(MpscQueueStress, FourProducersDeliverEveryItemExactlyOnceInPerProducerOrder) {
  constexpr std::uint32_t producers = 4;
  constexpr std::uint32_t per_producer = 100000;
  constexpr std::uint64_t total = std::uint64_t(producers) * per_producer;

  mpsc_queue<std::uint64_t> q;
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < producers; ++p) {
    threads.emplace_back([&q, &go, p] {
      while (!go.load(std::memory_order_acquire))
        std::this_thread::yield();
      for (std::uint32_t seq = 0; seq < per_producer; ++seq)
        q.push((std::uint64_t(p) << 32) | seq);
    });
  }

  std::vector<std::uint32_t> next(producers, 0);
  std::uint64_t received = 0;
  std::uint64_t out_of_order = 0;
  std::uint64_t bad_producer = 0;
  const auto deadline = atomr::core::test::steady::now() + 30s;

  go.store(true, std::memory_order_release);
  while (received < total && atomr::core::test::steady::now() < deadline) {
    std::uint64_t v = 0;
    if (!q.try_pop(v)) {
      std::this_thread::yield();
      continue;
    }
    ++received;
    const auto p = std::uint32_t(v >> 32);
    const auto seq = std::uint32_t(v);
    if (p >= producers) {
      ++bad_producer;
      continue;
    }
    // Exactly-once plus FIFO means each producer's values arrive as 0, 1, 2, ...
    if (seq != next[p])
      ++out_of_order;
    next[p] = seq + 1;
  }
  for (auto& t : threads)
    t.join();

  EXPECT_EQ(received, total) << "items lost before the deadline";
  EXPECT_EQ(bad_producer, 0u);
  EXPECT_EQ(out_of_order, 0u) << "duplicates, gaps or reordering within a producer";
  for (std::uint32_t p = 0; p < producers; ++p)
    EXPECT_EQ(next[p], per_producer) << "producer " << p;
  std::uint64_t extra = 0;
  EXPECT_FALSE(q.try_pop(extra)) << "an item was delivered twice";
  EXPECT_FALSE(q.has_next());
}

TEST(MpscQueueStress, ConcurrentProducersOfOwnedPayloadsLeakNothing) {
  // Half the items are consumed while producers run; the rest are left for
  // the destructor. Every payload must be released exactly once.
  constexpr std::uint32_t producers = 3;
  constexpr std::uint32_t per_producer = 20000;
  std::atomic<std::uint64_t> releases{0};
  std::uint64_t consumed = 0;
  {
    mpsc_queue<envelope> q;
    std::vector<std::thread> threads;
    for (std::uint32_t p = 0; p < producers; ++p)
      threads.emplace_back([&q, &releases, p] {
        for (std::uint32_t i = 0; i < per_producer; ++i)
          q.push(atomr::core::test::counted_msg((std::uint64_t(p) << 32) | i, releases));
      });
    const auto deadline = atomr::core::test::steady::now() + 20s;
    while (consumed < producers * per_producer / 2 && atomr::core::test::steady::now() < deadline) {
      envelope e;
      if (q.try_pop(e))
        ++consumed;
      else
        std::this_thread::yield();
    }
    for (auto& t : threads)
      t.join();
    EXPECT_EQ(consumed, producers * per_producer / 2);
  }
  EXPECT_EQ(releases.load(), std::uint64_t(producers) * per_producer);
}

} // namespace
