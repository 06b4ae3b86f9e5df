#pragma once

#include "atomr/core/cell.hpp"
#include "atomr/core/intrusive_mpsc.hpp"

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
  /// thread sleeps and the caller must `wake()` it (or run it otherwise).
  bool schedule(cell* c) {
    c->add_ref();
    ready_.push(static_cast<internal::mpsc_link*>(c));
    // Store-load ordering against try_sleep(): the link above must be
    // visible before we read the flag, or both sides miss each other.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!sleeping_.load(std::memory_order_seq_cst))
      return false;
    return sleeping_.exchange(false, std::memory_order_seq_cst);
  }

  /// Only the owning thread: `schedule` without the fence that orders a
  /// producer thread against `try_sleep` (the same thread here).
  bool schedule_local(cell* c) {
    c->add_ref();
    ready_.push(static_cast<internal::mpsc_link*>(c));
    if (!sleeping_.load(std::memory_order_relaxed))
      return false;
    return sleeping_.exchange(false, std::memory_order_seq_cst);
  }

  /// Only the owning thread. The next ready cell, carrying a reference the
  /// caller must release; nullptr when none.
  cell* pop_ready() {
    return static_cast<cell*>(ready_.pop());
  }

  /// Only the owning thread. Declares the thread asleep unless work is
  /// ready; returns true if it may sleep, false if it must keep draining.
  bool try_sleep() {
    sleeping_.store(true, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst); // pairs with schedule()
    if (!ready_.has_next())
      return true;
    // Work raced in: take the wake-up back if nobody else has.
    sleeping_.exchange(false, std::memory_order_seq_cst);
    return false;
  }

  /// Only the owning thread: marks the thread awake (a drain is about to run).
  void set_awake() noexcept {
    sleeping_.store(false, std::memory_order_seq_cst);
  }

  /// @threadsafe True while the owning thread is declared asleep.
  bool sleeping() const noexcept {
    return sleeping_.load(std::memory_order_seq_cst);
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

private:
  internal::intrusive_mpsc ready_;
  alignas(64) std::atomic<bool> sleeping_{true};
  std::uint32_t throughput_;
  int fd_ = -1;
};

} // namespace atomr::core
