#include "atomr/core/mailbox.hpp"
#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <gtest/gtest.h>
#include <thread>
#include <vector>

namespace {

using atomr::core::envelope;
using atomr::core::mailbox;
using atomr::core::test::int_of;
using atomr::core::test::system_msg;
using atomr::core::test::user_msg;
using namespace std::chrono_literals;

TEST(Mailbox, NewMailboxHasNoMessages) {
  mailbox m;
  envelope e;
  EXPECT_FALSE(m.has_messages());
  EXPECT_FALSE(m.has_system_messages());
  EXPECT_EQ(m.user_count(), 0);
  EXPECT_FALSE(m.pop(e));
  EXPECT_FALSE(m.pop_system(e));
  EXPECT_FALSE(m.pop_user(e));
}

TEST(Mailbox, UserMessagesArePoppedInFifoOrder) {
  mailbox m;
  for (int i = 0; i < 20; ++i)
    m.push_user(user_msg(i));
  for (int i = 0; i < 20; ++i) {
    envelope e;
    ASSERT_TRUE(m.pop(e));
    EXPECT_EQ(int_of(e.message), i);
    EXPECT_EQ(e.kind, 0u);
  }
  envelope e;
  EXPECT_FALSE(m.pop(e));
}

TEST(Mailbox, SystemMessagesOvertakeUserMail) {
  mailbox m;
  m.push_user(user_msg(1));
  m.push_user(user_msg(2));
  m.push_system(system_msg(100));
  m.push_user(user_msg(3));
  m.push_system(system_msg(101));

  std::vector<int> order;
  envelope e;
  while (m.pop(e))
    order.push_back(int_of(e.message));
  EXPECT_EQ(order, (std::vector<int>{100, 101, 1, 2, 3}));
}

TEST(Mailbox, SystemMailArrivingMidwayOvertakesTheRemainingUserMail) {
  mailbox m;
  m.push_user(user_msg(1));
  m.push_user(user_msg(2));
  envelope e;
  ASSERT_TRUE(m.pop(e));
  EXPECT_EQ(int_of(e.message), 1);
  m.push_system(system_msg(100));
  ASSERT_TRUE(m.pop(e));
  EXPECT_EQ(int_of(e.message), 100);
  ASSERT_TRUE(m.pop(e));
  EXPECT_EQ(int_of(e.message), 2);
}

TEST(Mailbox, SystemMessagesKeepTheirKindAndFifoOrder) {
  mailbox m;
  for (std::uint32_t k = 1; k <= 5; ++k)
    m.push_system(system_msg(int(k) * 10, k));
  for (std::uint32_t k = 1; k <= 5; ++k) {
    envelope e;
    ASSERT_TRUE(m.pop(e));
    EXPECT_EQ(e.kind, k);
    EXPECT_EQ(int_of(e.message), int(k) * 10);
  }
}

TEST(Mailbox, PopSystemNeverReturnsUserMail) {
  mailbox m;
  m.push_user(user_msg(1));
  envelope e;
  EXPECT_FALSE(m.pop_system(e));
  m.push_system(system_msg(2));
  ASSERT_TRUE(m.pop_system(e));
  EXPECT_EQ(int_of(e.message), 2);
  EXPECT_FALSE(m.pop_system(e));
  EXPECT_EQ(m.user_count(), 1);
  EXPECT_TRUE(m.has_messages());
}

TEST(Mailbox, PopUserNeverReturnsSystemMail) {
  mailbox m;
  m.push_system(system_msg(2));
  m.push_user(user_msg(1));
  envelope e;
  ASSERT_TRUE(m.pop_user(e));
  EXPECT_EQ(int_of(e.message), 1);
  EXPECT_FALSE(m.pop_user(e));
  EXPECT_TRUE(m.has_system_messages());
}

TEST(Mailbox, UserCountTracksOnlyUserMessages) {
  mailbox m;
  m.push_user(user_msg(1));
  m.push_user(user_msg(2));
  m.push_system(system_msg(3));
  EXPECT_EQ(m.user_count(), 2);
  envelope e;
  ASSERT_TRUE(m.pop(e)); // the system message
  EXPECT_EQ(m.user_count(), 2);
  ASSERT_TRUE(m.pop(e));
  EXPECT_EQ(m.user_count(), 1);
  ASSERT_TRUE(m.pop_user(e));
  EXPECT_EQ(m.user_count(), 0);
}

TEST(Mailbox, HasSystemMessagesIgnoresUserMail) {
  mailbox m;
  m.push_user(user_msg(1));
  EXPECT_TRUE(m.has_messages());
  EXPECT_FALSE(m.has_system_messages());
  m.push_system(system_msg(2));
  EXPECT_TRUE(m.has_system_messages());
}

TEST(Mailbox, PushMovesTheEnvelopeIn) {
  std::atomic<std::uint64_t> releases{0};
  {
    mailbox m;
    envelope e = atomr::core::test::counted_msg(1, releases);
    e.sender = atomr::core::test::make_counted(2, releases);
    m.push_user(std::move(e));
    EXPECT_FALSE(e.message); // NOLINT(bugprone-use-after-move)
    EXPECT_FALSE(e.sender);
    envelope out;
    ASSERT_TRUE(m.pop(out));
    EXPECT_EQ(atomr::core::test::counted_of(out.message), 1u);
    EXPECT_EQ(atomr::core::test::counted_of(out.sender), 2u);
    EXPECT_EQ(releases.load(), 0u);
  }
  EXPECT_EQ(releases.load(), 2u);
}

TEST(Mailbox, DestructorReleasesEveryQueuedPayloadExactlyOnce) {
  std::atomic<std::uint64_t> releases{0};
  {
    mailbox m;
    for (std::uint64_t i = 0; i < 5; ++i) {
      m.push_user(atomr::core::test::counted_msg(i, releases));
      m.push_system(atomr::core::test::counted_msg(100 + i, releases, 1));
    }
  }
  EXPECT_EQ(releases.load(), 10u);
}

TEST(MailboxStress, ConcurrentUserAndSystemProducersDeliverEverythingInOrder) {
  constexpr int user_producers = 2;
  constexpr int per_producer = 20000;
  constexpr int system_count = 2000;
  mailbox m;
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int p = 0; p < user_producers; ++p)
    threads.emplace_back([&, p] {
      while (!go.load(std::memory_order_acquire))
        std::this_thread::yield();
      for (int i = 0; i < per_producer; ++i)
        m.push_user(user_msg(p * per_producer + i));
    });
  threads.emplace_back([&] {
    while (!go.load(std::memory_order_acquire))
      std::this_thread::yield();
    for (int i = 0; i < system_count; ++i)
      m.push_system(system_msg(i));
  });

  std::vector<int> next_user(user_producers, 0);
  int next_system = 0;
  int errors = 0;
  const int total = user_producers * per_producer + system_count;
  int received = 0;
  const auto deadline = atomr::core::test::steady::now() + 20s;
  go.store(true, std::memory_order_release);
  while (received < total && atomr::core::test::steady::now() < deadline) {
    envelope e;
    if (!m.pop(e)) {
      std::this_thread::yield();
      continue;
    }
    ++received;
    const int v = int_of(e.message);
    if (e.kind != 0) {
      errors += v != next_system;
      next_system = v + 1;
    } else {
      const int p = v / per_producer;
      errors += v % per_producer != next_user[p];
      next_user[p] = v % per_producer + 1;
    }
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(received, total);
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(next_system, system_count);
  for (int p = 0; p < user_producers; ++p)
    EXPECT_EQ(next_user[p], per_producer);
  EXPECT_EQ(m.user_count(), 0);
  EXPECT_FALSE(m.has_messages());
}

} // namespace
