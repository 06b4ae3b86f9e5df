#pragma once

// Shared helpers of the core tests: counted payloads, cell ownership,
// dead-letter recording and bounded waits. Header-only so that each
// *_test.cpp stays self-contained apart from this file.

#include "atomr/core/cell.hpp"
#include "atomr/core/dead_letters.hpp"
#include "atomr/core/dispatcher.hpp"
#include "atomr/core/envelope.hpp"
#include "atomr/core/payload.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <poll.h>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace atomr::core::test {

using steady = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Counted payloads: the release hook bumps a caller-owned counter, so a test
// can prove that every payload is released exactly once (and ASan proves it
// is not released twice or leaked).

struct counted_value {
  std::uint64_t value;
  std::atomic<std::uint64_t>* releases;
};

inline void release_counted(void* p) noexcept {
  auto* v = static_cast<counted_value*>(p);
  v->releases->fetch_add(1, std::memory_order_relaxed);
  delete v;
}

inline payload make_counted(std::uint64_t value, std::atomic<std::uint64_t>& releases) {
  return payload(new counted_value{value, &releases}, &release_counted);
}

/// The value of a payload built by `make_counted`.
inline std::uint64_t counted_of(const payload& p) {
  return static_cast<const counted_value*>(p.get())->value;
}

/// The value of a payload built by `payload::make<int>`.
inline int int_of(const payload& p) {
  return *static_cast<const int*>(p.get());
}

inline envelope user_msg(int value) {
  envelope e;
  e.message = payload::make<int>(value);
  return e;
}

inline envelope system_msg(int value, std::uint32_t kind = 1) {
  envelope e;
  e.message = payload::make<int>(value);
  e.kind = kind;
  return e;
}

inline envelope counted_msg(std::uint64_t value, std::atomic<std::uint64_t>& releases,
                            std::uint32_t kind = 0) {
  envelope e;
  e.message = make_counted(value, releases);
  e.kind = kind;
  return e;
}

// ---------------------------------------------------------------------------
// Cells are reference counted with a private destructor: own them through a
// unique_ptr whose deleter drops the owner's reference.

struct cell_releaser {
  void operator()(cell* c) const noexcept {
    c->release();
  }
};
using cell_ptr = std::unique_ptr<cell, cell_releaser>;

inline cell_ptr make_cell(pinned_dispatcher& d, dead_letter_sink& sink,
                          std::string path = "akka://test/user/a") {
  return cell_ptr(new cell(d, std::move(path), sink));
}

/// Pops every ready entry, releasing the reference each one carries.
/// Returns how many there were.
inline int drain_ready(pinned_dispatcher& d) {
  int n = 0;
  while (cell* c = d.pop_ready()) {
    c->release();
    ++n;
  }
  return n;
}

// ---------------------------------------------------------------------------
// Dead letters recorded by a handler installed on a sink.

struct recorded_letter {
  int value; // int payload, or -1 when the message slot was empty
  std::uint32_t kind;
  std::string recipient;
  dead_letter_reason reason;
};

class dead_letter_log {
public:
  explicit dead_letter_log(dead_letter_sink& sink)
    : sink_(sink) {
    sink_.set_handler(&dead_letter_log::on_letter, this);
  }
  ~dead_letter_log() {
    sink_.set_handler(nullptr, nullptr);
  }
  dead_letter_log(const dead_letter_log&) = delete;
  dead_letter_log& operator=(const dead_letter_log&) = delete;

  std::vector<recorded_letter> letters() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return letters_;
  }

private:
  static void on_letter(void* ctx, envelope& letter, const std::string& recipient,
                        dead_letter_reason reason) noexcept {
    auto* self = static_cast<dead_letter_log*>(ctx);
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->letters_.push_back(recorded_letter{letter.message ? int_of(letter.message) : -1,
                                             letter.kind, recipient, reason});
  }

  dead_letter_sink& sink_;
  mutable std::mutex mutex_;
  std::vector<recorded_letter> letters_;
};

// ---------------------------------------------------------------------------
// Bounded waiting.

/// Spins (yielding) until `pred()` holds or `timeout` passes; returns the
/// final value of `pred()`.
template <class Pred> bool wait_until(Pred pred, std::chrono::milliseconds timeout) {
  const auto end = steady::now() + timeout;
  while (!pred()) {
    if (steady::now() >= end)
      return pred();
    std::this_thread::yield();
  }
  return true;
}

/// True when `fd` becomes readable within `timeout_ms` (0: just look).
inline bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int n;
  do {
    n = ::poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  return n == 1 && (p.revents & POLLIN) != 0;
}

/// A reusable barrier for a fixed number of threads that spins briefly and
/// then yields (the test machines may have as few as two cores). Every wait
/// is bounded by `deadline`; returns false when the deadline passed.
class spin_barrier {
public:
  explicit spin_barrier(int parties)
    : parties_(parties) {
  }

  bool arrive_and_wait(steady::time_point deadline) {
    const std::uint64_t gen = generation_.load(std::memory_order_acquire);
    if (waiting_.fetch_add(1, std::memory_order_acq_rel) + 1 == parties_) {
      waiting_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_acq_rel);
      return true;
    }
    for (unsigned spins = 0; generation_.load(std::memory_order_acquire) == gen; ++spins) {
      if (spins > 256) {
        if (aborted_.load(std::memory_order_relaxed) || steady::now() >= deadline) {
          aborted_.store(true, std::memory_order_relaxed);
          return false;
        }
        std::this_thread::yield();
      }
    }
    return true;
  }

  bool aborted() const {
    return aborted_.load(std::memory_order_relaxed);
  }

private:
  const int parties_;
  std::atomic<int> waiting_{0};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<bool> aborted_{false};
};

/// A tiny deterministic PRNG (xorshift) for jitter in race tests.
struct xorshift {
  std::uint64_t state;
  std::uint64_t next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
};

/// Keeps the critical steps of two racing threads (A and B) close together.
/// Each round delays one side by an offset that drifts toward the point
/// where each side goes first about half of the time, plus a little noise.
class race_aligner {
public:
  explicit race_aligner(std::uint64_t seed)
    : rng_{seed} {
  }

  struct delays {
    unsigned a;
    unsigned b;
  };

  delays next() {
    delays d{unsigned(rng_.next() % spread), unsigned(rng_.next() % spread)};
    if (offset_ > 0)
      d.a += unsigned(offset_);
    else
      d.b += unsigned(-offset_);
    return d;
  }

  /// Reports who went first in the round just run.
  void record(bool a_went_first) {
    offset_ += a_went_first ? 1 : -1;
    if (offset_ > limit)
      offset_ = limit;
    if (offset_ < -limit)
      offset_ = -limit;
  }

  int offset() const {
    return offset_;
  }

private:
  static constexpr unsigned spread = 24;
  static constexpr int limit = 1 << 14;
  xorshift rng_;
  int offset_ = 0;
};

/// Burns roughly `n` iterations without touching shared memory: used to
/// shift the relative timing of two racing threads.
inline void jitter(unsigned n) {
  for (unsigned i = 0; i < n; ++i)
    asm volatile("" ::: "memory");
}

// ---------------------------------------------------------------------------
// A test thread playing the owning dispatcher.

struct dispatcher_loop_stats {
  std::uint64_t turns = 0;         // cells run
  std::uint64_t stale_entries = 0; // ready entries of cells already stopped
  std::uint64_t sleeps = 0;        // try_sleep() granted
  std::uint64_t refused_sleeps = 0;
  std::uint64_t woken = 0;              // the eventfd became readable while asleep
  std::uint64_t poll_timeouts = 0;      // asleep, no wake-up before the poll timeout
  std::uint64_t timeouts_with_work = 0; // ... yet a cell was ready afterwards
  std::uint64_t lost_wakeups = 0;       // ... and no producer took the sleep declaration for 500 ms
  bool deadline_hit = false;
};

/// Runs the owning thread's loop until `done()` or `deadline`:
///   between(); pop_ready -> (stopped? skip : turn(cell)) -> release;
///   nothing ready -> try_sleep -> poll(wake_fd, poll_ms) -> clear_wake -> set_awake.
template <class Done, class Turn, class Between>
dispatcher_loop_stats run_dispatcher(pinned_dispatcher& d, steady::time_point deadline, Done done,
                                     Turn turn, Between between, int poll_ms = 5) {
  dispatcher_loop_stats s;
  while (!done()) {
    if (steady::now() >= deadline) {
      s.deadline_hit = true;
      break;
    }
    between();
    cell* c = d.pop_ready();
    if (c == nullptr) {
      if (d.try_sleep()) {
        ++s.sleeps;
        if (readable(d.wake_fd(), poll_ms)) {
          ++s.woken;
        } else {
          ++s.poll_timeouts;
          // Still declared asleep although a cell is ready: either a producer
          // is between its push and its look at `sleeping_` (it will take
          // the declaration and wake us shortly), or the wake-up was lost.
          if (d.sleeping()) {
            if (cell* late = d.pop_ready()) {
              ++s.timeouts_with_work;
              if (!wait_until([&] { return !d.sleeping(); }, std::chrono::milliseconds(500)))
                ++s.lost_wakeups;
              d.clear_wake();
              d.set_awake();
              if (late->is_stopped()) {
                ++s.stale_entries;
              } else {
                ++s.turns;
                turn(*late);
              }
              late->release();
              continue;
            }
          }
        }
        d.clear_wake();
      } else {
        ++s.refused_sleeps;
      }
      d.set_awake();
      continue;
    }
    if (c->is_stopped()) {
      ++s.stale_entries;
    } else {
      ++s.turns;
      turn(*c);
    }
    c->release();
  }
  return s;
}

inline std::string describe(const dispatcher_loop_stats& s) {
  return "turns=" + std::to_string(s.turns) + " stale=" + std::to_string(s.stale_entries) +
         " sleeps=" + std::to_string(s.sleeps) +
         " refused_sleeps=" + std::to_string(s.refused_sleeps) +
         " woken=" + std::to_string(s.woken) + " poll_timeouts=" + std::to_string(s.poll_timeouts) +
         " timeouts_with_work=" + std::to_string(s.timeouts_with_work) +
         " lost_wakeups=" + std::to_string(s.lost_wakeups) +
         (s.deadline_hit ? " DEADLINE HIT" : "");
}

inline const char* state_name(cell_state s) {
  switch (s) {
  case cell_state::idle:
    return "idle";
  case cell_state::scheduled:
    return "scheduled";
  case cell_state::running:
    return "running";
  case cell_state::suspended:
    return "suspended";
  case cell_state::stopped:
    return "stopped";
  }
  return "?";
}

} // namespace atomr::core::test
