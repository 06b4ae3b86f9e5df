// Micro-benchmark of atomr::core::timer_service. Not built by default:
//
//   g++ -std=c++20 -O2 -DNDEBUG -I cpp/include cpp/bench/timer_bench.cpp
//       cpp/src/core/*.cpp -pthread -o /tmp/timer_bench  &&  /tmp/timer_bench
//
// Measures, on one cell whose mailbox the main thread drains:
//   1. schedule + cancel of a pending timer (the "re-arm a receive timeout"
//      pattern), manual clock, no worker thread;
//   2. fires per second through advance() (manual clock);
//   3. fires per second of a burst of one-shot timers sharing one deadline,
//      real clock: the worker alone (the cell drained afterwards), then with
//      the main thread draining the cell meanwhile (mailbox contention).

#include "atomr/core/cell.hpp"
#include "atomr/core/dead_letters.hpp"
#include "atomr/core/dispatcher.hpp"
#include "atomr/core/timer_service.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;
using atomr::core::timer_service;

double seconds_since(steady::time_point t) {
  return std::chrono::duration<double>(steady::now() - t).count();
}

/// Drains every ready cell; returns the envelopes popped.
std::size_t drain(atomr::core::pinned_dispatcher& d) {
  std::size_t n = 0;
  while (atomr::core::cell* c = d.pop_ready()) {
    c->begin_turn();
    atomr::core::envelope e;
    while (c->next(e))
      ++n;
    c->end_turn();
    c->release();
  }
  return n;
}

void bench_schedule_cancel(atomr::core::cell* c) {
  timer_service ts(timer_service::clock_mode::manual);
  // A background population, as in a system with many idle actors.
  for (int i = 0; i < 10000; ++i)
    ts.schedule(c, 1, 0, 10.0 + i * 1e-3);
  constexpr int n = 1000000;
  const auto t = steady::now();
  for (int i = 0; i < n; ++i)
    ts.cancel(ts.schedule(c, 1, std::uint64_t(i), 5.0));
  const double s = seconds_since(t);
  std::printf("schedule+cancel (10k pending):  %8.0f ns per pair, %6.2f M pairs/s\n", s / n * 1e9,
              n / s / 1e6);
}

void bench_advance(atomr::core::pinned_dispatcher& d, atomr::core::cell* c) {
  timer_service ts(timer_service::clock_mode::manual);
  constexpr int timers = 1000;
  for (int i = 0; i < timers; ++i)
    ts.schedule(c, 1, std::uint64_t(i), 0.001 * (i % 100), 0.1);
  std::size_t fires = 0;
  const auto t = steady::now();
  for (int step = 0; step < 100; ++step) {
    fires += ts.advance(0.1);
    drain(d);
  }
  const double s = seconds_since(t);
  std::printf("advance (1k periodic, manual):  %8.0f ns per fire, %6.2f M fires/s\n",
              s / double(fires) * 1e9, double(fires) / s / 1e6);
}

void bench_real_burst(atomr::core::pinned_dispatcher& d, atomr::core::cell* c,
                      bool drain_meanwhile) {
  timer_service ts(timer_service::clock_mode::real);
  constexpr int n = 200000;
  const double at = ts.now() + 0.5;
  for (int i = 0; i < n; ++i)
    ts.schedule(c, 1, std::uint64_t(i), at - ts.now());
  while (ts.now() < at) {
  }
  const auto t = steady::now();
  std::size_t got = 0;
  if (drain_meanwhile) {
    while (got < std::size_t(n)) {
      got += drain(d);
      d.set_awake(); // keep the main thread awake: no eventfd traffic
    }
  } else {
    while (ts.fired() < std::uint64_t(n)) // poll gently: no cache-line ping-pong
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const double s = seconds_since(t);
  std::printf("real burst (200k one-shots, %s): %6.0f ns per fire, %5.2f M fires/s\n",
              drain_meanwhile ? "drained meanwhile" : "drained after   ", s / n * 1e9, n / s / 1e6);
  drain(d);
}

} // namespace

int main() {
  atomr::core::pinned_dispatcher d;
  atomr::core::dead_letter_sink sink;
  auto* c = new atomr::core::cell(d, "akka://bench/user/a", sink);
  bench_schedule_cancel(c);
  bench_advance(d, c);
  drain(d);
  bench_real_burst(d, c, false);
  bench_real_burst(d, c, true);
  c->release();
  return 0;
}
