#include "atomr/core/dispatcher.hpp"
#include "atomr/core/idle.hpp"
#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <gtest/gtest.h>
#include <thread>

namespace {

using atomr::core::dead_letter_sink;
using atomr::core::idle_mode;
using atomr::core::idle_policy;
using atomr::core::pinned_dispatcher;
using atomr::core::test::drain_ready;
using atomr::core::test::make_cell;
using atomr::core::test::readable;
using atomr::core::test::steady;
using spin_result = pinned_dispatcher::spin_result;
using namespace std::chrono_literals;

constexpr std::int64_t spin_ns = 50'000;
constexpr std::int64_t forever_ns = 60'000'000'000; // a bound no test reaches

// A spin that missed while the thread had the CPU throughout.
void miss(idle_policy& p) {
  p.spun(false, spin_ns, spin_ns);
}

// --- idle_policy ------------------------------------------------------------------

TEST(IdlePolicy, ParkNeverSpins) {
  idle_policy p(idle_mode::park, spin_ns, 8);
  EXPECT_EQ(p.next_spin(), 0);
  EXPECT_EQ(p.mode(), idle_mode::park);
  EXPECT_EQ(p.spin_ns(), 0);
}

TEST(IdlePolicy, AZeroOrNegativeSpinTimeParks) {
  EXPECT_EQ(idle_policy(idle_mode::spin, 0, 8).next_spin(), 0);
  EXPECT_EQ(idle_policy(idle_mode::adaptive, -5, 8).next_spin(), 0);
  EXPECT_EQ(idle_policy(idle_mode::spin, -5, 8).mode(), idle_mode::park);
}

TEST(IdlePolicy, AdaptiveNeverSpinsOnOneCpu) {
  idle_policy p(idle_mode::adaptive, spin_ns, 1);
  EXPECT_EQ(p.mode(), idle_mode::park);
  EXPECT_EQ(p.next_spin(), 0);
}

TEST(IdlePolicy, SpinModeAlwaysSpinsWhateverHappens) {
  idle_policy p(idle_mode::spin, spin_ns, 1);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(p.next_spin(/*busy=*/true), spin_ns);
    p.spun(false, spin_ns, 0); // missed and descheduled
  }
  EXPECT_FALSE(p.backed_off());
  EXPECT_EQ(p.spins(), 100u);
  EXPECT_EQ(p.hits(), 0u);
}

TEST(IdlePolicy, AdaptiveSpinsWhileSpinsHit) {
  idle_policy p(idle_mode::adaptive, spin_ns, 2);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(p.next_spin(), spin_ns);
    p.spun(i % 4 != 0, spin_ns, spin_ns); // one miss in four: never eight in a row
  }
  EXPECT_FALSE(p.backed_off());
  EXPECT_EQ(p.skipped(), 0u);
}

TEST(IdlePolicy, AdaptiveBacksOffAfterMaxMissesInARowThenProbes) {
  idle_policy p(idle_mode::adaptive, spin_ns, 2);
  for (unsigned i = 0; i < idle_policy::max_misses; ++i) {
    ASSERT_EQ(p.next_spin(), spin_ns) << i;
    miss(p);
  }
  EXPECT_TRUE(p.backed_off());
  for (unsigned i = 0; i < idle_policy::max_misses; ++i)
    EXPECT_EQ(p.next_spin(), 0) << "parked wait " << i;
  EXPECT_EQ(p.skipped(), idle_policy::max_misses);
  EXPECT_EQ(p.next_spin(), spin_ns) << "then one probe spins";
}

TEST(IdlePolicy, EachMissedProbeDoublesTheParkedWaitsUpToTheCap) {
  idle_policy p(idle_mode::adaptive, spin_ns, 2);
  for (unsigned i = 0; i < idle_policy::max_misses; ++i) {
    p.next_spin();
    miss(p);
  }
  unsigned expected = idle_policy::max_misses;
  for (int probe = 0; probe < 12; ++probe) {
    unsigned parked = 0;
    while (p.next_spin() == 0)
      ++parked;
    EXPECT_EQ(parked, expected) << "probe " << probe;
    miss(p); // the probe misses
    expected = expected * 2 > idle_policy::max_skip ? idle_policy::max_skip : expected * 2;
  }
  EXPECT_TRUE(p.backed_off());
}

TEST(IdlePolicy, AHitProbeReturnsToSpinningEveryWait) {
  idle_policy p(idle_mode::adaptive, spin_ns, 2);
  for (unsigned i = 0; i < idle_policy::max_misses; ++i) {
    p.next_spin();
    miss(p);
  }
  while (p.next_spin() == 0) {
  }
  p.spun(true, 1'000, 1'000);
  EXPECT_FALSE(p.backed_off());
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(p.next_spin(), spin_ns);
  EXPECT_EQ(p.hits(), 1u);
}

TEST(IdlePolicy, ASpinSpentMostlyDescheduledBacksOffAtOnce) {
  idle_policy p(idle_mode::adaptive, spin_ns, 2);
  ASSERT_EQ(p.next_spin(), spin_ns);
  p.spun(false, spin_ns, spin_ns / 4); // had the CPU a quarter of the time
  EXPECT_TRUE(p.backed_off());
  EXPECT_EQ(p.next_spin(), 0);
}

TEST(IdlePolicy, AParkedWaitShorterThanTheSpinEndsTheBackOff) {
  idle_policy p(idle_mode::adaptive, spin_ns, 2);
  for (unsigned i = 0; i < idle_policy::max_misses; ++i) {
    p.next_spin();
    miss(p);
  }
  ASSERT_EQ(p.next_spin(), 0);
  p.parked(spin_ns * 10); // long waits: stay backed off
  EXPECT_TRUE(p.backed_off());
  ASSERT_EQ(p.next_spin(), 0);
  p.parked(spin_ns / 2); // work came within a spin's time
  EXPECT_FALSE(p.backed_off());
  EXPECT_EQ(p.next_spin(), spin_ns);
}

TEST(IdlePolicy, AdaptiveParksWhileTheMachineIsBusy) {
  idle_policy p(idle_mode::adaptive, spin_ns, 2);
  EXPECT_EQ(p.next_spin(/*busy=*/true), 0);
  EXPECT_EQ(p.next_spin(/*busy=*/true), 0);
  EXPECT_EQ(p.skipped(), 2u);
  EXPECT_EQ(p.next_spin(/*busy=*/false), spin_ns);
}

// --- load and flags ---------------------------------------------------------------------

TEST(Idle, RunnableCountIsTheFourthFieldOfLoadavg) {
  EXPECT_EQ(atomr::core::runnable_in_loadavg("0.52 0.58 0.59 3/467 12345\n"), 3);
  EXPECT_EQ(atomr::core::runnable_in_loadavg("12.00 8.50 4.25 17/1024 99"), 17);
  EXPECT_EQ(atomr::core::runnable_in_loadavg("0.52 0.58 0.59"), -1);
  EXPECT_EQ(atomr::core::runnable_in_loadavg("0.52 0.58 0.59 x/467 1"), -1);
  EXPECT_EQ(atomr::core::runnable_in_loadavg("0.52 0.58 0.59 3 1"), -1);
  EXPECT_EQ(atomr::core::runnable_in_loadavg(""), -1);
}

TEST(Idle, MachineBusyAnswersWithoutFailing) {
  // Whatever the load: a huge CPU count is never busy.
  EXPECT_FALSE(atomr::core::machine_busy(1'000'000, 0));
}

TEST(Idle, SpinForFlagSeesARaisedFlagAtOnce) {
  std::uint32_t flag = 0;
  EXPECT_FALSE(atomr::core::spin_for_flag(flag, 0));
  EXPECT_FALSE(atomr::core::spin_for_flag(flag, 1'000));
  atomr::core::raise_flag(flag);
  EXPECT_TRUE(atomr::core::flag_raised(flag));
  EXPECT_TRUE(atomr::core::spin_for_flag(flag, 0));
}

TEST(Idle, SpinForFlagSeesAFlagRaisedByAnotherThread) {
  std::uint32_t flag = 0;
  std::thread raiser([&] {
    std::this_thread::sleep_for(1ms);
    atomr::core::raise_flag(flag);
  });
  EXPECT_TRUE(atomr::core::spin_for_flag(flag, forever_ns));
  raiser.join();
}

// --- pinned_dispatcher::idle_spin ------------------------------------------------------

TEST(DispatcherIdleSpin, WorkThatCameBeforeTheSpinIsSignalled) {
  dead_letter_sink sink;
  pinned_dispatcher d;
  auto c = make_cell(d, sink);
  ASSERT_TRUE(d.schedule(c.get())); // asleep: the producer must wake it
  EXPECT_EQ(d.idle_spin(forever_ns, 0), spin_result::signalled);
  EXPECT_EQ(drain_ready(d), 1);
}

TEST(DispatcherIdleSpin, NothingComingEndsTheSpinAsleep) {
  dead_letter_sink sink;
  pinned_dispatcher d;
  d.set_awake();
  ASSERT_TRUE(d.try_sleep());
  EXPECT_EQ(d.idle_spin(1'000, 0), spin_result::idle);
  EXPECT_TRUE(d.sleeping());
  EXPECT_FALSE(d.idle_spinning());
  auto c = make_cell(d, sink);
  EXPECT_TRUE(d.schedule(c.get())) << "after the spin, a producer must wake the owner again";
  EXPECT_EQ(drain_ready(d), 1);
}

TEST(DispatcherIdleSpin, WorkDuringTheSpinWakesItWithoutTheEventfd) {
  dead_letter_sink sink;
  pinned_dispatcher d;
  auto c = make_cell(d, sink);
  d.set_awake();
  ASSERT_TRUE(d.try_sleep());
  std::atomic<bool> asked_to_wake{true};
  std::thread producer([&] {
    while (!d.idle_spinning())
      std::this_thread::yield();
    EXPECT_TRUE(d.sleeping()) << "a spinning owner counts as idle";
    asked_to_wake.store(d.schedule(c.get()));
    d.gil_released();
  });
  EXPECT_EQ(d.idle_spin(forever_ns, forever_ns), spin_result::woken);
  producer.join();
  EXPECT_FALSE(asked_to_wake.load()) << "the spinner sees the work itself";
  EXPECT_FALSE(readable(d.wake_fd(), 0)) << "no eventfd write for a spinning owner";
  EXPECT_FALSE(d.sleeping());
  EXPECT_EQ(drain_ready(d), 1);
}

TEST(DispatcherIdleSpin, ScheduleRacingTheEndOfTheSpinNeverLosesTheWork) {
  dead_letter_sink sink;
  pinned_dispatcher d;
  auto c = make_cell(d, sink);
  atomr::core::test::spin_barrier barrier(2);
  std::atomic<bool> stop{false};
  std::atomic<bool> woke{false};
  std::atomic<unsigned> producer_delay{0};
  const auto deadline = steady::now() + 20s;

  std::thread producer([&] {
    for (;;) {
      if (!barrier.arrive_and_wait(deadline) || stop.load(std::memory_order_relaxed))
        return;
      atomr::core::test::jitter(producer_delay.load(std::memory_order_relaxed));
      woke.store(d.schedule(c.get()), std::memory_order_relaxed);
      d.gil_released();
      if (!barrier.arrive_and_wait(deadline))
        return;
    }
  });

  long iterations = 0;
  long lost = 0;
  long double_signal = 0;
  long outcomes[3] = {0, 0, 0};
  const auto budget = steady::now() + 1500ms;
  for (unsigned i = 0; iterations < 200000 && steady::now() < budget && !barrier.aborted(); ++i) {
    d.set_awake();
    ASSERT_TRUE(d.try_sleep());
    producer_delay.store((i * 37u) % 2000u, std::memory_order_relaxed);
    if (!barrier.arrive_and_wait(deadline))
      break;
    const spin_result r = d.idle_spin(static_cast<std::int64_t>(i % 5) * 200, 0);
    if (!barrier.arrive_and_wait(deadline))
      break;
    ++iterations;
    ++outcomes[static_cast<int>(r)];
    const bool told_to_wake = woke.load(std::memory_order_relaxed);
    if (r == spin_result::woken && told_to_wake)
      ++double_signal; // both the spinner and an eventfd write would drain
    if (r != spin_result::woken && !told_to_wake)
      ++lost; // the owner would sleep with a cell ready and nobody to wake it
    if (told_to_wake)
      d.clear_wake();
    drain_ready(d);
  }
  stop.store(true);
  barrier.arrive_and_wait(deadline);
  producer.join();
  EXPECT_FALSE(barrier.aborted());
  EXPECT_GT(iterations, 0);
  std::printf("[          ] races=%ld woken=%ld signalled=%ld idle=%ld\n", iterations, outcomes[0],
              outcomes[1], outcomes[2]);
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(double_signal, 0);
}

} // namespace
