#pragma once

// The island interpreter: built from a stack of stage trees, then run in
// slices on one thread until its sink completes or the stream fails.

#include "atomr/streams/kill_switch.hpp"
#include "atomr/streams/stage.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace atomr::streams {

/// What one slice of a run ended with.
enum class outcome : std::uint8_t {
  /// The slice's budget is spent: run again soon.
  yielded,
  /// Waiting for an async outcome or the time in `wake_at_ns()`.
  waiting,
  /// The sink completed: `take_result()`.
  completed,
  /// The stream failed: `take_failure()`.
  failed,
  /// Torn down by `cancel()`.
  cancelled,
};

/// One materialization of a linear or fan-in graph. Building: every
/// `source_*` pushes a stage tree onto the builder's stack, every operator
/// replaces the top (fan-in operators the top two) and a `sink_*` ends the
/// building. Element arguments are owned (taken over); callables and
/// deciders are borrowed (a null decider means stop). Every method is
/// called by the owning thread only; `run` may be called from different
/// threads at different times, never concurrently.
class interpreter {
public:
  explicit interpreter(host& h);
  ~interpreter();
  interpreter(const interpreter&) = delete;
  interpreter& operator=(const interpreter&) = delete;

  // Sources.
  void source_iter(element iterator);
  void source_single(element x);
  void source_repeat(element x);
  void source_empty();
  void source_failed(element failure);
  /// `next_fn()` starts the next element's async call; its outcome is an
  /// element, or ok with a null value for the end of the source.
  void source_async(callable next_fn);

  // Linear operators (replace the top tree).
  void map(callable fn, callable decider);
  void filter(callable pred, callable decider, bool negate);
  void take(std::int64_t n);
  void skip(std::int64_t n);
  void take_while(callable pred, callable decider, bool inclusive);
  void drop_while(callable pred, callable decider);
  void map_concat(callable fn, callable decider);
  void scan(element zero, callable fn, callable decider);
  void fold(element zero, callable fn, callable decider);
  void reduce(callable fn, callable decider);
  void grouped(std::int64_t n);
  void sliding(std::int64_t n, std::int64_t step);
  void recover(callable fn);
  void map_async(callable fn, std::int64_t parallelism, bool ordered, callable decider);
  void buffer(std::int64_t size, overflow strategy);
  void throttle(std::int64_t elements, std::int64_t per_ns, std::int64_t maximum_burst,
                bool enforcing);
  void gate(std::shared_ptr<kill_switch> ks, void* handle);

  // Fan-in (replace the top two trees: the first pushed is the left one).
  void concat();
  void merge(bool eager_complete);
  void zip(callable fn);
  void interleave(std::int64_t segment_size);

  // Sinks (end the building; the stack must hold exactly one tree).
  void sink_seq();
  void sink_fold(element zero, callable fn, callable decider);
  void sink_reduce(callable fn, callable decider);
  void sink_head_option();
  void sink_last_option();
  void sink_foreach(callable fn, callable decider);
  void sink_ignore();

  /// Runs until the sink completes, the stream fails, a stage waits for an
  /// external event or `budget` source pulls were made.
  outcome run(std::int64_t budget);

  /// The earliest monotonic time (ns) a stage asked to be pulled again at
  /// after a `waiting` slice (0: none).
  std::int64_t wake_at_ns() const noexcept {
    return ctx_.wake_at_ns;
  }

  /// Delivers an async outcome (`value` owned; ok with a null value: the
  /// end of an async source). Outcomes for a finished island are released.
  void complete_async(std::uint64_t ticket, bool ok, element value);

  /// Tears the island down (cancels upstream, releases what it holds).
  void cancel();

  /// The materialized value after `completed` (owned by the caller).
  element take_result() noexcept;
  /// The failure after `failed` (owned by the caller).
  element take_failure() noexcept;

  /// The last outcome (`yielded` before the first run).
  outcome state() const noexcept {
    return state_;
  }

private:
  std::unique_ptr<stage> pop();
  void require_upstream(element owned);
  void push(std::unique_ptr<stage> s);
  void finish(std::unique_ptr<sink> s);
  void finish_failed(element failure);

  context ctx_;
  std::vector<std::unique_ptr<stage>> stack_;
  std::vector<stage*> async_;
  std::unique_ptr<stage> root_;
  std::unique_ptr<sink> sink_;
  bool upstream_open_ = false;
  outcome state_ = outcome::yielded;
  element result_ = nullptr;
  element failure_ = nullptr;
};

/// Ticket layout of async calls: the async stage's index in the high bits,
/// the call's sequence number in the low 40.
inline constexpr int ticket_seq_bits = 40;

} // namespace atomr::streams
