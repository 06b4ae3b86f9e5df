#pragma once

// The building blocks of a fused island: elements, the host that gives the
// engine its element operations, and the stage and sink interfaces.
//
// An island is a tree of stages pulled by one sink on one thread. A pull
// asks a stage for its next element (demand of one); a stage pulls its
// upstream only when it needs an element, so nothing runs ahead of demand
// except what a bounded buffer or an async stage's window allows. A stage
// that cannot answer yet (an async result outstanding, a throttle waiting for
// its next token, the slice's budget spent) answers `pending`; the pull is
// repeated later and the stage resumes from the state it kept.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace atomr::streams {

/// An element: an opaque handle whose lifetime the host manages (a
/// `PyObject*` owned reference in production, a heap integer in tests). A
/// stage that receives an element owns it and must pass it on or release it.
using element = void*;

/// An opaque callable of the host (borrowed: the host keeps it alive for as
/// long as the island exists).
using callable = void*;

/// The answer of a pull.
enum class status : std::uint8_t {
  /// `out` holds the next element (owned by the caller).
  element,
  /// The stage completed; no element follows.
  done,
  /// The stage failed; `out` holds the failure (owned by the caller).
  failed,
  /// No element yet: pull again after an external event (an async result,
  /// a timer, the next slice).
  pending,
};

/// How `host::start_async` went.
enum class start : std::uint8_t {
  /// The call runs: its outcome comes through `interpreter::complete_async`.
  pending,
  /// The call failed before it started: the failure is in `out`.
  failed,
  /// The call finished at once (its awaitable was already done): the
  /// result is in `out`, and no outcome follows.
  done,
};

/// What a supervision decider says about a failure.
enum class directive : std::uint8_t {
  /// Fail the stream (Akka's stop).
  stop,
  /// Drop the failing element and go on.
  resume,
  /// Drop the failing element, reset the stage's state and go on.
  restart,
};

/// Overflow strategies of `buffer`.
enum class overflow : std::uint8_t {
  backpressure,
  drop_head,
  drop_tail,
  drop_buffer,
  drop_new,
  fail,
};

/// The element operations the engine calls. Every method is called on the
/// island's thread, with whatever the host needs held (the GIL).
class host {
public:
  virtual ~host() = default;

  /// Calls `fn(x)` (x borrowed). On success stores the result (owned) in
  /// `out` and returns true; on failure stores the failure (owned) in `out`
  /// and returns false.
  virtual bool call1(callable fn, element x, element& out) = 0;

  /// Calls `fn(a, b)` (both borrowed), as `call1`.
  virtual bool call2(callable fn, element a, element b, element& out) = 0;

  /// The truth of `x` (borrowed): 1, 0, or -1 with the failure in `failure`.
  virtual int truth(element x, element& failure) = 0;

  /// A new reference to `x`.
  virtual element retain(element x) = 0;

  /// Releases an owned element.
  virtual void release(element x) = 0;

  /// The next element of the iterator `it` (borrowed): `element`, `done`
  /// or `failed` (with the failure in `out`).
  virtual status next(element it, element& out) = 0;

  /// An iterator over `iterable` (borrowed), owned, in `out`; false with the
  /// failure in `out`.
  virtual bool iterate(element iterable, element& out) = 0;

  /// Closes an iterator the island stops reading early (cancellation).
  virtual void close(element it) = 0;

  /// A sequence of `n` elements (a list; a tuple when `tuple`), taking
  /// over their ownership.
  virtual element make_sequence(element* xs, std::size_t n, bool tuple) = 0;

  /// The host's "no value" (None), owned.
  virtual element nothing() = 0;

  /// A failure of the engine's own (`errc` code of atomr::streams, message).
  virtual element make_failure(int code, const char* message) = 0;

  /// The decider `decider`'s directive for `failure` (borrowed). A decider
  /// that fails itself answers stop.
  virtual directive decide(callable decider, element failure) = 0;

  /// Starts the asynchronous call `fn(x)` (x borrowed; `x` null: `fn()`).
  /// Pending: its outcome is delivered later through
  /// `interpreter::complete_async` with `ticket`. Failed: the call failed
  /// before it started (the failure in `out`). Done: it finished at once
  /// with the result in `out` (an element, never the end of a source).
  virtual start start_async(callable fn, element x, std::uint64_t ticket, element& out) = 0;

  /// The failure of an aborted kill switch (`handle` as given to the stage).
  virtual element abort_failure(void* handle) = 0;

  /// The integer `x` (borrowed) holds (a partitioner's output index):
  /// true, or false with the failure in `failure`.
  virtual bool to_index(element x, std::int64_t& out, element& failure) = 0;

  /// Appends the bytes of `x` (borrowed; a bytes-like element) to `buf`:
  /// true, or false with the failure (x holds no bytes) in `failure`.
  virtual bool append_bytes(element x, std::string& buf, element& failure) = 0;

  /// A new bytes element of `n` bytes at `data`.
  virtual element make_bytes(const char* data, std::size_t n) = 0;

  /// A new bytes element of room for `n` bytes the caller writes at `data`,
  /// then sizes with `finish_bytes`. Owned; released as any element.
  virtual element alloc_bytes(std::size_t n, char*& data) = 0;

  /// The element `alloc_bytes` gave, cut to its first `used` bytes (it may
  /// be another handle: the given one is consumed).
  virtual element finish_bytes(element x, std::size_t used) = 0;

  /// A new integer element.
  virtual element make_int(std::int64_t v) = 0;
};

/// A file descriptor an I/O stage waits for (readable, or writable when
/// `write`) after answering `pending`.
struct io_wait {
  int fd = -1;
  bool write = false;
};

/// Per-run state every stage of one island shares.
struct context {
  host* h = nullptr;
  /// Source pulls left in this slice; at zero a source answers `pending`
  /// and sets `yielded`.
  std::int64_t budget = 0;
  bool yielded = false;
  /// Earliest monotonic time (ns) a stage asked to be pulled again at (0:
  /// none); the host arms a timer for it.
  std::int64_t wake_at_ns = 0;
  /// A stage took a failure while pumping (downstream was waiting): stages
  /// that hold back their pulls (a full async window) pull once more so the
  /// failure reaches the sink now rather than after their calls finish.
  bool failure_pending = false;
  /// Counts the elements fan-out junctions moved (pulled from upstream or
  /// handed from an output's queue): an island with several sinks runs
  /// another round while it changes.
  std::uint64_t moves = 0;
  /// The failure (borrowed) a stage or sink is cancelling its upstream
  /// with, while it does (null: a plain cancellation). A junction whose
  /// output is cancelled with a cause may fail its other outputs with it.
  element cancel_cause = nullptr;
  /// The descriptors I/O stages wait for (cleared at each slice's start):
  /// the host wakes the island when one is ready.
  std::vector<io_wait> io_waits;

  /// Called by a source before it produces: false when the slice's budget
  /// is spent (the source then answers `pending`).
  bool step() noexcept {
    if (budget <= 0) {
      yielded = true;
      return false;
    }
    --budget;
    return true;
  }

  /// Asks to be pulled again once `fd` is readable (writable when `write`).
  void wait_io(int fd, bool write) {
    io_waits.push_back(io_wait{fd, write});
  }

  /// Asks to be pulled again at `at_ns` (monotonic ns).
  void wake_at(std::int64_t at_ns) noexcept {
    if (wake_at_ns == 0 || at_ns < wake_at_ns) {
      wake_at_ns = at_ns;
    }
  }
};

/// A node of the island. Only the island's thread calls its methods.
class stage {
public:
  virtual ~stage() = default;

  /// The next element (see `status`).
  virtual status pull(element& out) = 0;

  /// Downstream needs no more elements: release what is held and cancel
  /// upstream. Called at most once; no pull follows.
  virtual void cancel() = 0;

  /// Downstream is waiting for an external event: stages that keep pulling
  /// regardless of demand (a buffer) pull upstream now, within the budget.
  virtual void pump() {
  }

  /// An async outcome for this stage (see `host::start_async`).
  virtual void complete_async(std::uint64_t /*seq*/, bool /*ok*/, element value) {
    ctx_->h->release(value);
  }

  /// The island's shared state (set when the stage joins an island).
  void attach(context* ctx) noexcept {
    ctx_ = ctx;
  }

protected:
  context* ctx_ = nullptr;
};

/// The consumer at the end of an island. Only the island's thread calls it.
class sink {
public:
  virtual ~sink() = default;

  /// Consumes `x` (owned). False when the stream must fail, with the
  /// failure in `failure`.
  virtual bool on_element(element x, element& failure) = 0;

  /// False once the sink needs no more elements (upstream is cancelled).
  virtual bool wants_more() const {
    return true;
  }

  /// Upstream completed: the materialized value (owned), or false with the
  /// failure in `out`.
  virtual bool on_complete(element& out) = 0;

  /// Releases what the sink holds (the stream failed or was torn down).
  virtual void discard() = 0;

  void attach(context* ctx) noexcept {
    ctx_ = ctx;
  }

protected:
  context* ctx_ = nullptr;
};

} // namespace atomr::streams
