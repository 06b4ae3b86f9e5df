#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace atomr::core {

class cell;

namespace internal {

struct timer_entry;

/// A slot of the timer heap: the ordering key is stored inline so that
/// sifting compares contiguous memory instead of chasing entry pointers.
struct timer_heap_node {
  std::int64_t deadline; // ns since the service's origin
  std::uint64_t seq;     // scheduling order, the tie-break of equal deadlines
  timer_entry* entry;
};

} // namespace internal

/// Timers that deliver envelopes into cells: after a delay, once or
/// periodically, a payload-less envelope `{kind, tag}` is told to the target
/// cell (or sent to its system queue). What the kind and tag mean belongs to
/// whoever runs the cell (typically: kind = "timer fired", tag = a key or
/// generation the caller chose, to recognise a stale timer message).
///
/// Each pending timer holds one reference to its target cell, released when
/// the timer is cancelled, finishes, or finds the cell stopped (the last
/// release may therefore happen on the timer thread). A target cell's
/// dispatcher must outlive the timers aimed at it: a fire may call its
/// `wake()`.
///
/// Two clocks:
///   - `clock_mode::real`: one worker thread, started on the first
///     `schedule`, sleeps on a condition variable until the earliest
///     deadline (std::chrono::steady_clock) and fires due timers in deadline
///     order;
///   - `clock_mode::manual`: no thread; virtual time starts at 0 and moves
///     only through `advance`, which fires due timers synchronously on the
///     calling thread (the test kit's deterministic scheduler).
///
/// Timers with equal deadlines fire in the order they were scheduled. Fires
/// run without the service's lock held, so code a fire triggers (a
/// dead-letter handler) may call `schedule`, `cancel`, `pending` and `now`;
/// not `advance`, `shutdown` or the destructor.
///
/// Time is kept in integer nanoseconds: delays and intervals given in seconds
/// are rounded to the nearest nanosecond (a positive interval to at least 1 ns).
class timer_service {
public:
  enum class clock_mode { real, manual };

  explicit timer_service(clock_mode mode = clock_mode::real);

  /// Not from a fire (or a callback it triggers), and not while another
  /// thread still uses the service: `shutdown()`s, then frees everything.
  ~timer_service();

  timer_service(const timer_service&) = delete;
  timer_service& operator=(const timer_service&) = delete;

  /// @threadsafe Starts a timer delivering `{kind, tag}` to `target` after
  /// `delay_s` seconds, then every `interval_s` seconds if `interval_s` > 0.
  ///
  /// Periodic timers either keep a fixed rate (each deadline is the first
  /// one plus a whole number of intervals, so no drift accumulates; a timer
  /// that fell behind fires once and skips to its next future slot) or a
  /// fixed delay (next deadline = actual fire time + interval).
  ///
  /// `system_queue` sends through `cell::send_system` instead of
  /// `cell::tell`. Takes a reference to `target`.
  ///
  /// @returns the timer's id, > 0 and unique within this service.
  /// @throws invalid_argument_error if `target` is null, `delay_s` is
  ///         negative or NaN, or `interval_s` is NaN.
  /// @throws error after `shutdown()`.
  std::uint64_t schedule(cell* target, std::uint32_t kind, std::uint64_t tag, double delay_s,
                         double interval_s = 0.0, bool fixed_rate = true,
                         bool system_queue = false);

  /// @threadsafe Cancels timer `id`. Returns true if it was pending and is
  /// now cancelled; false if it is unknown, already cancelled, finished, or
  /// a one-shot timer whose fire is under way.
  ///
  /// When cancel returns (either value), the timer delivers nothing more:
  /// if its fire is in progress on another thread, cancel waits for that
  /// fire to complete (one envelope hand-off). Called from the firing
  /// thread itself (e.g. from a dead-letter handler), it does not wait.
  /// Because it may wait for a fire, do not call it while holding a lock a
  /// fire may need (the GIL: call it `nogil`).
  bool cancel(std::uint64_t id);

  /// @threadsafe Cancels every timer and stops the worker thread; later
  /// `schedule` calls throw. Idempotent. Not from a fire.
  void shutdown();

  /// @threadsafe Seconds since the service was created (manual mode: the
  /// virtual time, which during a fire equals that fire's deadline).
  double now() const noexcept;

  /// @threadsafe Timers that may still fire: scheduled and neither
  /// cancelled nor finished (a one-shot timer stops being pending when its
  /// fire begins).
  std::size_t pending() const;

  /// @threadsafe
  clock_mode mode() const noexcept {
    return mode_;
  }

  /// @threadsafe Envelopes delivered so far (fires a stopped cell refused
  /// are not counted).
  std::uint64_t fired() const noexcept {
    return fired_.load(std::memory_order_relaxed);
  }

  /// @threadsafe, manual mode only: moves virtual time forward by `seconds`
  /// and fires, in deadline order (ties in scheduling order), every timer
  /// due by the new time — periodic ones as many times as they fall due —
  /// each fire seeing `now()` equal to its own deadline. Timers scheduled
  /// by those fires fire too if due. Concurrent calls are serialised; not
  /// from a fire.
  /// @returns the number of envelopes delivered (fires refused by a stopped
  ///          cell, which cancel their timer, are not counted).
  /// @throws error in real mode or from a fire; invalid_argument_error if
  ///         `seconds` is negative or NaN.
  std::size_t advance(double seconds);

private:
  using entry = internal::timer_entry;
  using heap_node = internal::timer_heap_node;

  std::int64_t now_ns() const noexcept;
  void run_worker();
  void heap_push(entry* e);
  void heap_remove(std::size_t index);
  void sift_up(std::size_t index, heap_node node);
  void sift_down(std::size_t index, heap_node node);
  /// Takes the earliest entry off the heap, due at or before `now`, and
  /// marks it firing. Called with `mutex_` held; nullptr when none is due.
  entry* claim_due(std::int64_t now);
  /// Delivers one fire of `e` (claimed by `claim_due`) without the lock,
  /// then reschedules or retires it. Called with `lock` held; returns with
  /// it held. True if the cell accepted the envelope.
  bool fire(std::unique_lock<std::mutex>& lock, entry* e, std::int64_t fire_time);
  /// Forgets `e` (with `mutex_` held) and returns the cell reference it held.
  cell* retire(entry* e);
  /// Waits (with `lock` on `mutex_`) until no fire of timer `id` (any timer
  /// if 0) is in progress on another thread.
  void wait_for_fire(std::unique_lock<std::mutex>& lock, std::uint64_t id);

  const clock_mode mode_;
  const std::chrono::steady_clock::time_point origin_;
  std::atomic<std::int64_t> virtual_now_{0}; // manual mode
  std::atomic<std::uint64_t> fired_{0};

  mutable std::mutex mutex_;
  std::condition_variable wake_cv_;      // the worker: the earliest deadline changed
  std::condition_variable fire_done_cv_; // cancel() waiting for a fire to end
  std::unordered_map<std::uint64_t, std::unique_ptr<entry>> entries_;
  std::vector<heap_node> heap_; // 4-ary min-heap by (deadline, seq)
  std::uint64_t next_id_ = 1;
  std::uint64_t next_seq_ = 0;
  std::uint64_t firing_id_ = 0; // the timer being fired, 0 if none
  std::thread::id firing_thread_;
  bool firing_one_shot_ = false; // the timer being fired will not fire again
  int cancel_waiters_ = 0;
  bool stopping_ = false;
  std::thread worker_;

  std::mutex advance_mutex_; // serialises advance()
};

} // namespace atomr::core
