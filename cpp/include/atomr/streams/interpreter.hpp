#pragma once

// The island interpreter: built from a stack of stage trees, then run in
// slices on one thread until its sink completes or the stream fails.

#include "atomr/streams/kill_switch.hpp"
#include "atomr/streams/stage.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace atomr::streams {

namespace internal {
class junction;
struct fan_out_options;
} // namespace internal

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

/// One materialization of a graph. Building: every `source_*` pushes a
/// stage tree onto the builder's stack, every operator replaces the top
/// (fan-in operators the top two), a fan-out operator pops the top into a
/// junction whose outputs `port` pushes, and a `sink_*` pops the top. With
/// no junction a sink ends the building (the stack must hold exactly one
/// tree); with junctions every tree and every output must end in a sink
/// before the first `run`, which pulls the sinks in turn. Element arguments are owned (taken over);
/// callables and deciders are borrowed (a null decider means stop). Every method is called by the
/// owning thread only; `run` may be called from different threads at different times, never
/// concurrently.
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

  // Framing (bytes elements; see `host::append_bytes`). A frame over
  // `max_frame_length` or a stream ending inside a frame fails with
  // errc::framing.
  /// Frames separated by `delimiter` (stripped); with `allow_truncation`
  /// bytes after the last delimiter are the last frame.
  void delimiter_framing(const std::string& delimiter, std::int64_t max_frame_length,
                         bool allow_truncation);
  /// Frames prefixed by a `field_length`-byte (1 to 8) unsigned length at
  /// `field_offset`, counting the bytes after the header; the header is
  /// stripped unless `keep_header`.
  void length_field_framing(std::int64_t max_frame_length, std::int64_t field_length,
                            std::int64_t field_offset, bool big_endian, bool keep_header);
  /// Each element prefixed with its length (`field_length` bytes).
  void length_prefix(std::int64_t field_length, bool big_endian);

  // Files and sockets (bytes elements). A read or write error fails the
  // stream with errc::io; a descriptor that would block makes the stage
  // answer `pending` with the descriptor in `io_waits()`.
  /// The bytes read from `fd` (borrowed: never closed by the island) in
  /// chunks of up to `chunk_size`; completes at the end of the file (a
  /// socket: the peer closed its side). `socket`: the reads never block
  /// (`recv` with MSG_DONTWAIT) even on a blocking socket. `name` names the
  /// descriptor in failures.
  void source_fd(int fd, std::int64_t chunk_size, bool socket, const std::string& name);
  /// The bytes of the file at `path` in chunks of up to `chunk_size`, opened
  /// at the first pull and closed at the end or on cancellation.
  void source_file(const std::string& path, std::int64_t chunk_size);
  /// Writes the top tree's bytes elements to `fd` (borrowed) and emits
  /// nothing; completes once upstream completed and every byte is written
  /// (a socket's write side is shut down then). Back-pressured: upstream is
  /// not pulled while more than a socket buffer's worth waits.
  void write_fd(int fd, bool socket, const std::string& name);

  // Fan-in (replace the top two trees: the first pushed is the left one).
  void concat();
  void merge(bool eager_complete);
  void zip(callable fn);
  void interleave(std::int64_t segment_size);

  // Fan-out (pop the top tree into a junction; returns the junction's id
  // for `port`). `buffer`: elements each output's queue holds.
  /// Every element to every output (demand: the slowest live output).
  /// `eager_cancel`: one output cancelling cancels upstream and completes
  /// the others; with `fail_on_cause` an output cancelled by its sink's
  /// failure fails the others with it.
  std::size_t broadcast(std::int64_t outputs, std::int64_t buffer, bool eager_cancel,
                        bool fail_on_cause);
  /// Every element to the output that asks first.
  std::size_t balance(std::int64_t outputs);
  /// Every element to output `fn(x)` (an index, see `host::to_index`).
  std::size_t partition(std::int64_t outputs, callable fn, std::int64_t buffer);
  /// Output 0 gets every element, output 1 those that fit its `buffer`.
  std::size_t tap(std::int64_t buffer);
  /// Pushes output `index` of junction `id` (each output exactly once).
  void port(std::size_t id, std::int64_t index);

  // Sinks (pop the top tree; without junctions the stack must hold exactly
  // one tree).
  void sink_seq();
  void sink_fold(element zero, callable fn, callable decider);
  void sink_reduce(callable fn, callable decider);
  void sink_head_option();
  void sink_last_option();
  void sink_foreach(callable fn, callable decider);
  void sink_ignore();
  /// Writes bytes elements to the file at `path` (created or truncated,
  /// or appended to), opened now (io_error when it cannot be); materializes
  /// the number of bytes written.
  void sink_file(const std::string& path, bool append);

  /// Runs until the sink completes, the stream fails, a stage waits for an
  /// external event or `budget` source pulls were made.
  outcome run(std::int64_t budget);

  /// The earliest monotonic time (ns) a stage asked to be pulled again at
  /// after a `waiting` slice (0: none).
  std::int64_t wake_at_ns() const noexcept {
    return ctx_.wake_at_ns;
  }

  /// The descriptors the stages wait for after a `waiting` slice.
  const std::vector<io_wait>& io_waits() const noexcept {
    return ctx_.io_waits;
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

  /// The number of sinks. With more than one, the island completes when
  /// every sink has finished, and each one's outcome is `take_sink`'s.
  std::size_t sinks() const noexcept {
    return slots_.size();
  }

  /// Sink `i`'s value (owned by the caller; null when taken or not
  /// finished): its materialized value when `ok`, else its failure.
  element take_sink(std::size_t i, bool& ok) noexcept;

  /// The last outcome (`yielded` before the first run).
  outcome state() const noexcept {
    return state_;
  }

private:
  /// A sink with the tree it pulls.
  struct slot {
    std::unique_ptr<stage> root;
    std::unique_ptr<sink> consumer;
    bool open = true; // root not finished nor cancelled
    bool finished = false;
    bool ok = false;
    element value = nullptr; // result or failure once finished
  };

  std::unique_ptr<stage> pop();
  void require_upstream(element owned);
  void push(std::unique_ptr<stage> s);
  void finish(std::unique_ptr<sink> s);
  std::size_t add_junction(const internal::fan_out_options& options);
  void check_built();
  outcome run_one(std::int64_t budget);
  outcome run_many(std::int64_t budget);
  /// One pull for slot `sl`: true when something happened (an element
  /// delivered, the slot finished).
  bool step(slot& sl);
  void cancel_root(slot& sl, element cause);
  void end_slot(slot& sl, bool ok, element value);

  context ctx_;
  std::vector<std::unique_ptr<stage>> stack_;
  std::vector<stage*> async_;
  std::vector<std::shared_ptr<internal::junction>> junctions_;
  std::vector<slot> slots_;
  bool built_ = false;
  outcome state_ = outcome::yielded;
};

/// Ticket layout of async calls: the async stage's index in the high bits,
/// the call's sequence number in the low 40.
inline constexpr int ticket_seq_bits = 40;

} // namespace atomr::streams
