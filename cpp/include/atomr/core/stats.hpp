#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace atomr::core {

/// A counter that one thread writes and any thread reads: the write is a
/// relaxed load and store (no locked read-modify-write), the read a relaxed
/// load. Each read sees some value the counter had.
class owned_counter {
public:
  /// Only the owning thread.
  void add(std::uint64_t n) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  /// @threadsafe
  std::uint64_t get() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<std::uint64_t> value_{0};
};

/// The message counters of one dispatcher (and so of the actor system that
/// owns it), kept by the core without a call into Python per message and
/// read on demand (a metrics scrape).
///
/// Counts written only by the dispatcher's owning thread are `owned_counter`s;
/// tells from other threads go to one relaxed atomic on a cache line of its
/// own. Nothing here orders any other memory: a reader sees counts that may
/// lag by the messages in flight.
class dispatcher_stats {
public:
  /// Upper bounds (nanoseconds) of the turn-duration buckets; a last
  /// bucket takes everything longer.
  static constexpr std::array<std::uint64_t, 7> turn_bounds_ns{
      1'000, 10'000, 100'000, 1'000'000, 10'000'000, 100'000'000, 1'000'000'000};
  static constexpr std::size_t turn_buckets = turn_bounds_ns.size() + 1;

  /// Only the owning thread: a user message was queued by that thread.
  void enqueued_local() noexcept {
    enqueued_local_.add(1);
  }

  /// @threadsafe A user message was queued by another thread.
  void enqueued_remote() noexcept {
    enqueued_remote_.fetch_add(1, std::memory_order_relaxed);
  }

  /// Only the owning thread: a user message was taken out of a mailbox
  /// to be handled.
  void processed() noexcept {
    processed_.add(1);
  }

  /// @threadsafe A mailbox holds `depth` user messages now: raises the
  /// high-water mark if it is higher (a plain load when it is not).
  void note_depth(std::int64_t depth) noexcept {
    std::int64_t seen = high_water_.load(std::memory_order_relaxed);
    while (depth > seen &&
           !high_water_.compare_exchange_weak(seen, depth, std::memory_order_relaxed)) {
    }
  }

  /// Only the owning thread: one turn of a cell (`handled` user messages)
  /// took `ns` nanoseconds.
  void record_turn(std::uint64_t ns, std::uint64_t handled) noexcept {
    std::size_t i = 0;
    while (i < turn_bounds_ns.size() && ns > turn_bounds_ns[i])
      ++i;
    turn_counts_[i].add(1);
    turn_sum_ns_.add(ns);
    turn_messages_.add(handled);
  }

  /// @threadsafe User messages queued (from any thread) so far.
  std::uint64_t enqueued() const noexcept {
    return enqueued_local_.get() + enqueued_remote_.load(std::memory_order_relaxed);
  }

  /// @threadsafe User messages taken out to be handled so far.
  std::uint64_t processed_count() const noexcept {
    return processed_.get();
  }

  /// @threadsafe The deepest any mailbox of this dispatcher has been.
  std::int64_t mailbox_high_water() const noexcept {
    return high_water_.load(std::memory_order_relaxed);
  }

  /// @threadsafe Turns that fell in bucket `i` (not cumulative).
  std::uint64_t turn_count(std::size_t i) const noexcept {
    return i < turn_buckets ? turn_counts_[i].get() : 0;
  }

  /// @threadsafe The summed duration of all recorded turns.
  std::uint64_t turn_sum_ns() const noexcept {
    return turn_sum_ns_.get();
  }

  /// @threadsafe User messages handled in recorded turns.
  std::uint64_t turn_messages() const noexcept {
    return turn_messages_.get();
  }

private:
  // The owning thread's counters, then the shared ones on lines of their own.
  owned_counter enqueued_local_;
  owned_counter processed_;
  owned_counter turn_sum_ns_;
  owned_counter turn_messages_;
  std::array<owned_counter, turn_buckets> turn_counts_{};
  alignas(64) std::atomic<std::uint64_t> enqueued_remote_{0};
  alignas(64) std::atomic<std::int64_t> high_water_{0};
};

} // namespace atomr::core
