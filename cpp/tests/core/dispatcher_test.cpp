#include "atomr/core/dispatcher.hpp"
#include "atomr/core/error.hpp"
#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <gtest/gtest.h>
#include <string>
#include <thread>
#include <vector>

namespace {

using atomr::core::cell;
using atomr::core::cell_state;
using atomr::core::dead_letter_sink;
using atomr::core::enqueue_result;
using atomr::core::envelope;
using atomr::core::pinned_dispatcher;
using atomr::core::test::drain_ready;
using atomr::core::test::make_cell;
using atomr::core::test::readable;
using atomr::core::test::steady;
using namespace std::chrono_literals;

std::size_t open_fd_count() {
  std::size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd");
       it != std::filesystem::directory_iterator(); ++it)
    ++n;
  return n;
}

// --- construction ------------------------------------------------------------

TEST(Dispatcher, ThroughputDefaultsTo64) {
  pinned_dispatcher d;
  EXPECT_EQ(d.throughput(), 64u);
}

TEST(Dispatcher, ThroughputIsConfigurable) {
  pinned_dispatcher d(3);
  EXPECT_EQ(d.throughput(), 3u);
}

TEST(Dispatcher, ZeroThroughputIsRejectedAsAnInvalidArgument) {
  try {
    pinned_dispatcher d(0);
    FAIL() << "a zero throughput must be refused";
  } catch (const atomr::core::invalid_argument_error& e) {
    EXPECT_EQ(e.where(), atomr::component::core);
    EXPECT_EQ(e.code(), static_cast<int>(atomr::core::errc::invalid_argument));
  }
}

TEST(Dispatcher, ZeroThroughputDoesNotLeakTheEventfd) {
  const std::size_t before = open_fd_count();
  for (int i = 0; i < 3; ++i)
    EXPECT_THROW(pinned_dispatcher d(0), atomr::core::invalid_argument_error);
  EXPECT_EQ(open_fd_count(), before) << "the constructor threw after opening its eventfd";
}

TEST(Dispatcher, DestructorClosesTheEventfd) {
  const std::size_t before = open_fd_count();
  { pinned_dispatcher d; }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Dispatcher, WakeFdIsANonBlockingCloseOnExecDescriptor) {
  pinned_dispatcher d;
  const int fd = d.wake_fd();
  ASSERT_GE(fd, 0);
  EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
}

TEST(Dispatcher, EachDispatcherHasItsOwnEventfd) {
  pinned_dispatcher a;
  pinned_dispatcher b;
  EXPECT_NE(a.wake_fd(), b.wake_fd());
  a.wake();
  EXPECT_TRUE(readable(a.wake_fd(), 1000));
  EXPECT_FALSE(readable(b.wake_fd(), 0));
  a.clear_wake();
}

// --- ready queue ---------------------------------------------------------------

TEST(Dispatcher, PopReadyIsNullWhenNothingIsReady) {
  pinned_dispatcher d;
  EXPECT_EQ(d.pop_ready(), nullptr);
}

TEST(Dispatcher, PopReadyReturnsCellsInScheduleOrder) {
  dead_letter_sink sink;
  pinned_dispatcher d;
  auto a = make_cell(d, sink, "akka://t/user/a");
  auto b = make_cell(d, sink, "akka://t/user/b");
  d.schedule(a.get());
  d.schedule(b.get());
  cell* first = d.pop_ready();
  d.schedule(a.get()); // popped, so it may be queued again
  cell* second = d.pop_ready();
  cell* third = d.pop_ready();
  EXPECT_EQ(first, a.get());
  EXPECT_EQ(second, b.get());
  EXPECT_EQ(third, a.get());
  EXPECT_EQ(d.pop_ready(), nullptr);
  for (cell* c : {first, second, third})
    if (c != nullptr)
      c->release();
}

TEST(Dispatcher, ReadyEntryKeepsTheCellAliveAfterItsOwnerLetGo) {
  std::atomic<std::uint64_t> releases{0};
  dead_letter_sink sink;
  pinned_dispatcher d;
  auto owned = make_cell(d, sink);
  envelope e = atomr::core::test::counted_msg(1, releases);
  ASSERT_NE(owned->tell(e), enqueue_result::rejected); // schedules: the ready queue takes a ref
  owned.reset();                                       // the owner's reference is gone
  cell* c = d.pop_ready();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->path(), "akka://test/user/a"); // still alive (ASan would flag a use after free)
  EXPECT_EQ(c->queued(), 1);
  EXPECT_EQ(releases.load(), 0u);
  c->release(); // the last reference: the cell and its mail go
  EXPECT_EQ(releases.load(), 1u);
}

TEST(Dispatcher, DestructorReleasesCellsStillReady) {
  std::atomic<std::uint64_t> releases{0};
  dead_letter_sink sink;
  {
    pinned_dispatcher d;
    auto c = make_cell(d, sink);
    envelope e = atomr::core::test::counted_msg(1, releases);
    ASSERT_NE(c->tell(e), enqueue_result::rejected);
    c.reset(); // only the ready queue holds the cell now
    EXPECT_EQ(releases.load(), 0u);
  }
  EXPECT_EQ(releases.load(), 1u) << "the dispatcher must drop its ready references";
}

// --- sleep / wake protocol -----------------------------------------------------

TEST(Dispatcher, NewDispatcherCountsAsAsleep) {
  dead_letter_sink sink;
  pinned_dispatcher d;
  EXPECT_TRUE(d.sleeping());
  auto c = make_cell(d, sink);
  EXPECT_TRUE(d.schedule(c.get())) << "the first schedule must wake the owner";
  EXPECT_FALSE(d.sleeping());
  EXPECT_EQ(drain_ready(d), 1);
}

TEST(Dispatcher, ScheduleDoesNotAskForAWakeWhileTheOwnerIsAwake) {
  dead_letter_sink sink;
  pinned_dispatcher d;
  d.set_awake();
  auto c = make_cell(d, sink);
  auto c2 = make_cell(d, sink); // a cell is queued at most once at a time
  EXPECT_FALSE(d.schedule(c.get()));
  EXPECT_FALSE(d.schedule(c2.get()));
  EXPECT_EQ(drain_ready(d), 2);
}

TEST(Dispatcher, TrySleepSucceedsWhenNothingIsReady) {
  pinned_dispatcher d;
  d.set_awake();
  EXPECT_FALSE(d.sleeping());
  EXPECT_TRUE(d.try_sleep());
  EXPECT_TRUE(d.sleeping());
}

TEST(Dispatcher, TrySleepRefusesWhileACellIsReady) {
  dead_letter_sink sink;
  pinned_dispatcher d;
  d.set_awake();
  auto c = make_cell(d, sink);
  auto c2 = make_cell(d, sink);
  EXPECT_FALSE(d.schedule(c.get()));
  EXPECT_FALSE(d.try_sleep());
  EXPECT_FALSE(d.sleeping()) << "a refused sleep must not stay declared";
  EXPECT_FALSE(d.schedule(c2.get())) << "nobody sleeps, so nobody must be woken";
  EXPECT_EQ(drain_ready(d), 2);
  EXPECT_TRUE(d.try_sleep());
}

TEST(Dispatcher, ScheduleReturnsTrueExactlyOnceAfterTheOwnerDeclaredSleep) {
  dead_letter_sink sink;
  pinned_dispatcher d;
  d.set_awake();
  auto c = make_cell(d, sink);
  auto c2 = make_cell(d, sink);
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(d.try_sleep());
    EXPECT_TRUE(d.schedule(c.get())) << "round " << round;
    EXPECT_FALSE(d.sleeping()) << "the waker takes the sleep declaration";
    EXPECT_FALSE(d.schedule(c2.get())) << "a second producer must not wake again";
    EXPECT_EQ(drain_ready(d), 2);
    d.set_awake();
  }
}

TEST(Dispatcher, SetAwakeWithdrawsTheSleepDeclaration) {
  dead_letter_sink sink;
  pinned_dispatcher d;
  ASSERT_TRUE(d.try_sleep());
  d.set_awake();
  EXPECT_FALSE(d.sleeping());
  auto c = make_cell(d, sink);
  EXPECT_FALSE(d.schedule(c.get()));
  EXPECT_EQ(drain_ready(d), 1);
}

TEST(Dispatcher, EventfdIsNotReadableBeforeAnyWake) {
  pinned_dispatcher d;
  EXPECT_FALSE(readable(d.wake_fd(), 0));
}

TEST(Dispatcher, WakeMakesTheEventfdReadable) {
  pinned_dispatcher d;
  d.wake();
  EXPECT_TRUE(readable(d.wake_fd(), 1000));
  EXPECT_TRUE(readable(d.wake_fd(), 0)) << "polling alone must not consume the wake-up";
}

TEST(Dispatcher, ClearWakeEmptiesTheEventfd) {
  pinned_dispatcher d;
  d.wake();
  ASSERT_TRUE(readable(d.wake_fd(), 1000));
  d.clear_wake();
  EXPECT_FALSE(readable(d.wake_fd(), 0));
}

TEST(Dispatcher, SeveralWakesAreConsumedByOneClearWake) {
  pinned_dispatcher d;
  for (int i = 0; i < 5; ++i)
    d.wake();
  ASSERT_TRUE(readable(d.wake_fd(), 1000));
  d.clear_wake();
  EXPECT_FALSE(readable(d.wake_fd(), 0));
}

TEST(Dispatcher, ClearWakeWithNothingPendingReturnsAtOnce) {
  pinned_dispatcher d;
  const auto start = steady::now();
  d.clear_wake();
  d.clear_wake();
  EXPECT_LT(steady::now() - start, 1s);
  EXPECT_FALSE(readable(d.wake_fd(), 0));
  d.wake();
  EXPECT_TRUE(readable(d.wake_fd(), 1000)) << "the eventfd still works after empty clears";
  d.clear_wake();
}

TEST(Dispatcher, WakeFromAnotherThreadUnblocksAPollingOwner) {
  dead_letter_sink sink;
  pinned_dispatcher d;
  d.set_awake();
  auto c = make_cell(d, sink);
  ASSERT_TRUE(d.try_sleep());
  std::atomic<bool> woke{false};
  std::thread producer([&] {
    if (d.schedule(c.get())) {
      woke.store(true);
      d.wake();
    }
  });
  const bool ready = readable(d.wake_fd(), 5000);
  producer.join();
  EXPECT_TRUE(ready) << "the owner slept through a schedule";
  EXPECT_TRUE(woke.load());
  d.clear_wake();
  d.set_awake();
  EXPECT_EQ(drain_ready(d), 1);
}

TEST(DispatcherStress, ConcurrentSchedulersWakeASleepingOwnerExactlyOnce) {
  constexpr int schedulers = 3;
  dead_letter_sink sink;
  pinned_dispatcher d;
  d.set_awake();
  // One cell per scheduler: a cell is queued at most once at a time.
  std::vector<decltype(make_cell(d, sink))> cells;
  for (int t = 0; t < schedulers; ++t)
    cells.push_back(make_cell(d, sink));
  atomr::core::test::spin_barrier barrier(schedulers + 1);
  std::atomic<int> wakes{0};
  std::atomic<bool> stop{false};
  const auto deadline = steady::now() + 20s;
  std::vector<std::thread> threads;
  for (int t = 0; t < schedulers; ++t)
    threads.emplace_back([&, t] {
      for (;;) {
        if (!barrier.arrive_and_wait(deadline) || stop.load())
          return;
        if (d.schedule(cells[t].get()))
          wakes.fetch_add(1);
        if (!barrier.arrive_and_wait(deadline))
          return;
      }
    });

  int rounds = 0;
  int bad_rounds = 0;
  const auto budget = steady::now() + 1500ms;
  while (rounds < 2000 && steady::now() < budget && !barrier.aborted()) {
    if (!d.try_sleep()) {
      ADD_FAILURE() << "nothing is ready, the owner must be allowed to sleep";
      break;
    }
    wakes.store(0);
    if (!barrier.arrive_and_wait(deadline)) // go
      break;
    if (!barrier.arrive_and_wait(deadline)) // all scheduled
      break;
    bad_rounds += wakes.load() != 1;
    EXPECT_EQ(drain_ready(d), schedulers);
    d.set_awake();
    ++rounds;
  }
  stop.store(true);
  barrier.arrive_and_wait(deadline);
  for (auto& t : threads)
    t.join();
  EXPECT_FALSE(barrier.aborted()) << "a barrier wait hit the deadline";
  EXPECT_GT(rounds, 0);
  EXPECT_EQ(bad_rounds, 0) << "of " << rounds
                           << " rounds, some woke the owner zero or several times";
}

// The lost-wake-up check: the owner declares sleep (try_sleep) at the very
// moment a producer schedules a cell. The protocol promises that when
// try_sleep returns true, the racing schedule returns true (so the producer
// wakes the owner). Both sides are a store followed by a load of another
// location (a Dekker / store-buffering pattern), which needs a full
// StoreLoad barrier on each side.
TEST(DispatcherRace, ScheduleRacingTrySleepNeverLosesTheWakeUp) {
  dead_letter_sink sink;
  pinned_dispatcher d;
  auto c = make_cell(d, sink);
  atomr::core::test::spin_barrier barrier(2);
  std::atomic<bool> stop{false};
  std::atomic<unsigned> producer_delay{0};
  std::atomic<bool> woke{false};
  const auto deadline = steady::now() + 20s;

  std::thread producer([&] {
    for (;;) {
      if (!barrier.arrive_and_wait(deadline) || stop.load(std::memory_order_relaxed))
        return;
      atomr::core::test::jitter(producer_delay.load(std::memory_order_relaxed));
      woke.store(d.schedule(c.get()), std::memory_order_relaxed);
      if (!barrier.arrive_and_wait(deadline))
        return;
    }
  });

  atomr::core::test::race_aligner align(0x9e3779b97f4a7c15ull);
  long iterations = 0;
  long slept = 0;
  long woke_count = 0;
  long lost = 0;
  const auto budget = steady::now() + 1500ms;
  while (iterations < 400000 && steady::now() < budget && !barrier.aborted()) {
    d.set_awake();
    const auto delay = align.next();
    producer_delay.store(delay.b, std::memory_order_relaxed);
    if (!barrier.arrive_and_wait(deadline))
      break;
    atomr::core::test::jitter(delay.a);
    const bool asleep = d.try_sleep();
    if (!barrier.arrive_and_wait(deadline))
      break;
    ++iterations;
    const bool was_woken = woke.load(std::memory_order_relaxed);
    woke_count += was_woken;
    slept += asleep;
    if (asleep && !was_woken)
      ++lost;             // asleep with a cell ready, and the producer was not told to wake us
    align.record(asleep); // the owner's store went first
    drain_ready(d);
  }
  stop.store(true);
  barrier.arrive_and_wait(deadline);
  producer.join();
  EXPECT_FALSE(barrier.aborted());
  EXPECT_GT(iterations, 0);
  std::printf("[          ] races=%ld granted_sleeps=%ld woken=%ld lost=%ld\n", iterations, slept,
              woke_count, lost);
  EXPECT_EQ(lost, 0) << lost << " lost wake-ups in " << iterations << " races (" << slept
                     << " granted sleeps): the owner slept with a cell ready and nobody told to "
                        "wake it";
}

// --- full cell + dispatcher stress ---------------------------------------------

struct stress_cell_state {
  std::vector<std::uint32_t> next_seq; // per producer
  std::uint64_t processed = 0;
};

TEST(DispatcherStress, ProducersAndASleepingDispatcherProcessEveryMessageOnceInOrder) {
  constexpr std::uint32_t producers = 3;               // user-mail producers
  constexpr std::uint32_t system_producer = producers; // one more thread sends system mail
  constexpr std::uint32_t cells = 4;
  constexpr std::uint32_t per_cell = 12000; // per producer and cell
  constexpr std::uint32_t system_per_cell = 500;
  constexpr std::uint64_t total =
      std::uint64_t(producers) * cells * per_cell + std::uint64_t(cells) * system_per_cell;

  std::atomic<std::uint64_t> releases{0};
  std::uint64_t processed = 0;
  std::uint64_t order_errors = 0;
  std::uint64_t kind_errors = 0;
  std::atomic<int> rejected{0};
  std::atomic<int> wake_requests{0};
  atomr::core::test::dispatcher_loop_stats stats;
  std::vector<stress_cell_state> state(cells);
  std::string leftovers;
  {
    dead_letter_sink sink;
    pinned_dispatcher d(7); // small throughput: many turns and reschedules
    std::vector<atomr::core::test::cell_ptr> owned;
    for (std::uint32_t i = 0; i < cells; ++i) {
      owned.push_back(make_cell(d, sink, "akka://stress/user/c" + std::to_string(i)));
      state[i].next_seq.assign(producers + 1, 0);
      owned.back()->user_data = &state[i];
    }

    auto send = [&](cell& c, envelope& e, bool system) {
      const enqueue_result r = system ? c.send_system(e) : c.tell(e);
      if (r == enqueue_result::rejected)
        rejected.fetch_add(1);
      else if (r == enqueue_result::accepted_wake) {
        wake_requests.fetch_add(1, std::memory_order_relaxed);
        d.wake();
      }
    };

    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (std::uint32_t p = 0; p < producers; ++p)
      threads.emplace_back([&, p] {
        while (!go.load(std::memory_order_acquire))
          std::this_thread::yield();
        for (std::uint32_t seq = 0; seq < per_cell; ++seq) {
          for (std::uint32_t i = 0; i < cells; ++i) {
            envelope e = atomr::core::test::counted_msg((std::uint64_t(p) << 32) | seq, releases);
            send(*owned[i], e, false);
          }
          // Bursts: pause (bounded) until the owner has drained everything
          // and declared sleep, so the sleep/wake protocol runs often.
          if (seq % 128 == 127)
            atomr::core::test::wait_until([&] { return d.sleeping(); }, 1ms);
        }
      });
    threads.emplace_back([&] {
      while (!go.load(std::memory_order_acquire))
        std::this_thread::yield();
      for (std::uint32_t seq = 0; seq < system_per_cell; ++seq)
        for (std::uint32_t i = 0; i < cells; ++i) {
          envelope e = atomr::core::test::counted_msg((std::uint64_t(system_producer) << 32) | seq,
                                                      releases, 9);
          send(*owned[i], e, true);
        }
    });

    const auto deadline = steady::now() + 30s;
    auto turn = [&](cell& c) {
      auto* st = static_cast<stress_cell_state*>(c.user_data);
      c.begin_turn();
      envelope e;
      for (std::uint32_t n = 0; n < d.throughput() && c.pop(e); ++n) {
        const std::uint64_t v = atomr::core::test::counted_of(e.message);
        const auto p = std::uint32_t(v >> 32);
        const auto seq = std::uint32_t(v);
        kind_errors += (p == system_producer) != (e.kind == 9);
        if (p > system_producer) {
          ++order_errors;
          continue;
        }
        order_errors += seq != st->next_seq[p];
        st->next_seq[p] = seq + 1;
        ++st->processed;
        ++processed;
      }
      c.end_turn();
    };
    std::thread owner([&] {
      go.store(true, std::memory_order_release);
      stats = atomr::core::test::run_dispatcher(
          d, deadline, [&] { return processed >= total; }, turn, [] {});
    });
    for (auto& t : threads)
      t.join();
    owner.join();

    for (std::uint32_t i = 0; i < cells; ++i) {
      cell& c = *owned[i];
      if (c.state() != cell_state::idle || c.queued() != 0)
        leftovers += " " + c.path() + ": state=" + atomr::core::test::state_name(c.state()) +
                     " queued=" + std::to_string(c.queued()) + ";";
    }
  }

  EXPECT_EQ(processed, total) << "messages lost; " << atomr::core::test::describe(stats)
                              << leftovers;
  EXPECT_EQ(rejected.load(), 0);
  EXPECT_EQ(order_errors, 0u) << "duplicates, gaps or reordering within a producer";
  EXPECT_EQ(kind_errors, 0u);
  for (std::uint32_t i = 0; i < cells; ++i) {
    for (std::uint32_t p = 0; p < producers; ++p)
      EXPECT_EQ(state[i].next_seq[p], per_cell) << "cell " << i << " producer " << p;
    EXPECT_EQ(state[i].next_seq[system_producer], system_per_cell) << "cell " << i;
  }
  EXPECT_TRUE(leftovers.empty()) << leftovers;
  EXPECT_FALSE(stats.deadline_hit) << atomr::core::test::describe(stats);
  EXPECT_EQ(stats.lost_wakeups, 0u)
      << "the owner stayed asleep with a cell ready; " << atomr::core::test::describe(stats);
  EXPECT_EQ(releases.load(), total) << "every payload is released exactly once";
  EXPECT_GT(wake_requests.load(), 0);
  RecordProperty("dispatcher", atomr::core::test::describe(stats));
  std::printf("[          ] %s wake_requests=%d\n", atomr::core::test::describe(stats).c_str(),
              wake_requests.load());
}

} // namespace
