#pragma once

#include "atomr/core/cell.hpp"
#include "atomr/core/intrusive_mpsc.hpp"
#include "atomr/core/stats.hpp"

#include <atomic>
#include <cstdint>

namespace atomr::core {

/// The ready queue of one thread that runs actors (the thread owning an
/// asyncio loop, for Python actors), with an eventfd to wake that thread.
///
/// Producers on any thread `schedule` cells; the owning thread drains them
/// with `pop_ready` and, when nothing is left, calls `try_sleep` and waits
/// for `wake_fd()` to become readable.
class pinned_dispatcher {
public:
  /// @param throughput user messages one cell may handle per turn (> 0).
  explicit pinned_dispatcher(std::uint32_t throughput = 64);
  ~pinned_dispatcher();

  pinned_dispatcher(const pinned_dispatcher&) = delete;
  pinned_dispatcher& operator=(const pinned_dispatcher&) = delete;

  /// @threadsafe Queues `c` (taking a reference). True when the owning
  /// thread sleeps and the caller must `wake()` it (or run it otherwise);
  /// false when it is awake or spinning in `idle_spin` (which sees the work).
  bool schedule(cell* c) {
    c->add_ref();
    ready_.push(static_cast<internal::mpsc_link*>(c));
    // Store-load ordering against try_sleep(): the link above must be
    // visible before we read the flag, or both sides miss each other.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (state_.load(std::memory_order_seq_cst) == awake)
      return false;
    return state_.exchange(awake, std::memory_order_seq_cst) == asleep;
  }

  /// Only the owning thread: `schedule` without the fence that orders a
  /// producer thread against `try_sleep` (the same thread here).
  bool schedule_local(cell* c) {
    c->add_ref();
    ready_.push(static_cast<internal::mpsc_link*>(c));
    if (state_.load(std::memory_order_relaxed) == awake)
      return false;
    return state_.exchange(awake, std::memory_order_seq_cst) == asleep;
  }

  /// Only the owning thread. The next ready cell, carrying a reference the
  /// caller must release; nullptr when none.
  cell* pop_ready() {
    return static_cast<cell*>(ready_.pop());
  }

  /// Only the owning thread. Declares the thread asleep unless work is
  /// ready; returns true if it may sleep, false if it must keep draining.
  bool try_sleep() {
    state_.store(asleep, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst); // pairs with schedule()
    if (!ready_.has_next())
      return true;
    // Work raced in: take the wake-up back if nobody else has.
    state_.exchange(awake, std::memory_order_seq_cst);
    return false;
  }

  /// Only the owning thread: marks the thread awake (a drain is about to run).
  void set_awake() noexcept {
    state_.store(awake, std::memory_order_seq_cst);
  }

  /// @threadsafe True while the owning thread is declared asleep (or
  /// spinning before it sleeps).
  bool sleeping() const noexcept {
    return state_.load(std::memory_order_seq_cst) != awake;
  }

  /// How `idle_spin` ended.
  enum class spin_result : std::uint8_t {
    woken,     ///< work was scheduled during the spin: the thread is awake, drain
    signalled, ///< work came before the spin began: `wake_fd()` is (or becomes) readable
    idle,      ///< nothing came within the time: the thread is asleep again
  };

  /// Only the owning thread, without the GIL, after `try_sleep` let it
  /// sleep: spins up to `max_ns` for work before the caller sleeps on
  /// `wake_fd()`. Producers see a spinning thread as awake-to-be: they
  /// neither get a wake-up to deliver nor write the eventfd. When work
  /// comes, the spin goes on (at most `handoff_ns`) until the producer
  /// declares it released the GIL (`gil_released`), so that taking the GIL
  /// back does not put this thread to sleep on the GIL instead.
  spin_result idle_spin(std::int64_t max_ns, std::int64_t handoff_ns) noexcept;

  /// @threadsafe A producer that just scheduled work and then released
  /// the GIL says so (see `idle_spin`).
  void gil_released() noexcept {
    handoff_.store(true, std::memory_order_release);
  }

  /// @threadsafe True while the owning thread spins in `idle_spin` (it
  /// does not hold the GIL then).
  bool idle_spinning() const noexcept {
    return state_.load(std::memory_order_acquire) == spinning;
  }

  /// @threadsafe Makes `wake_fd()` readable.
  void wake();

  /// Only the owning thread: consumes pending wake-ups.
  void clear_wake();

  /// @threadsafe The eventfd the owning thread polls.
  int wake_fd() const noexcept {
    return fd_;
  }

  std::uint32_t throughput() const noexcept {
    return throughput_;
  }

  /// @threadsafe The message counters of the cells this dispatcher runs.
  dispatcher_stats& stats() noexcept {
    return stats_;
  }
  const dispatcher_stats& stats() const noexcept {
    return stats_;
  }

private:
  // The owning thread's state: draining, asleep (on the eventfd), or
  // spinning before it sleeps.
  static constexpr std::uint8_t awake = 0;
  static constexpr std::uint8_t asleep = 1;
  static constexpr std::uint8_t spinning = 2;

  internal::intrusive_mpsc ready_;
  alignas(64) std::atomic<std::uint8_t> state_{asleep};
  alignas(64) std::atomic<bool> handoff_{false};
  std::uint32_t throughput_;
  int fd_ = -1;
  dispatcher_stats stats_;
};

} // namespace atomr::core
