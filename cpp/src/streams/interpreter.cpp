#include "atomr/streams/interpreter.hpp"

#include "atomr/streams/error.hpp"
#include "fan_out.hpp"
#include "stages.hpp"

#include <string>
#include <utility>

namespace atomr::streams {

namespace {

void check_positive(std::int64_t n, const char* what) {
  if (n <= 0) {
    throw invalid_argument_error(std::string(what) + " must be positive, got " + std::to_string(n));
  }
}

void check_not_negative(std::int64_t n, const char* what) {
  if (n < 0) {
    throw invalid_argument_error(std::string(what) + " must not be negative, got " +
                                 std::to_string(n));
  }
}

} // namespace

interpreter::interpreter(host& h) {
  ctx_.h = &h;
}

interpreter::~interpreter() {
  cancel();
  // The stages release what they hold while the context is still alive.
  for (slot& sl : slots_) {
    if (sl.value != nullptr) {
      ctx_.h->release(sl.value);
    }
  }
  slots_.clear();
  stack_.clear();
  junctions_.clear();
}

void interpreter::require_upstream(element owned) {
  if (stack_.empty() || built_) {
    ctx_.h->release(owned);
    throw invalid_graph_error("an operator needs an upstream source");
  }
}

std::unique_ptr<stage> interpreter::pop() {
  if (stack_.empty() || built_) {
    throw invalid_graph_error("an operator needs an upstream source");
  }
  std::unique_ptr<stage> s = std::move(stack_.back());
  stack_.pop_back();
  return s;
}

void interpreter::push(std::unique_ptr<stage> s) {
  s->attach(&ctx_);
  stack_.push_back(std::move(s));
}

void interpreter::source_iter(element iterator) {
  push(internal::make_iter_source(iterator));
}
void interpreter::source_single(element x) {
  push(internal::make_single_source(x));
}
void interpreter::source_repeat(element x) {
  push(internal::make_repeat_source(x));
}
void interpreter::source_empty() {
  push(internal::make_empty_source());
}
void interpreter::source_failed(element failure) {
  push(internal::make_failed_source(failure));
}
void interpreter::source_async(callable next_fn) {
  auto s = internal::make_async_source(next_fn, async_.size());
  async_.push_back(s.get());
  push(std::move(s));
}

void interpreter::map(callable fn, callable decider) {
  push(internal::make_map(pop(), fn, decider));
}
void interpreter::filter(callable pred, callable decider, bool negate) {
  push(internal::make_filter(pop(), pred, decider, negate));
}
void interpreter::take(std::int64_t n) {
  check_not_negative(n, "take's count");
  push(internal::make_take(pop(), n));
}
void interpreter::skip(std::int64_t n) {
  check_not_negative(n, "skip's count");
  push(internal::make_skip(pop(), n));
}
void interpreter::take_while(callable pred, callable decider, bool inclusive) {
  push(internal::make_take_while(pop(), pred, decider, inclusive));
}
void interpreter::drop_while(callable pred, callable decider) {
  push(internal::make_drop_while(pop(), pred, decider));
}
void interpreter::map_concat(callable fn, callable decider) {
  push(internal::make_map_concat(pop(), fn, decider));
}
void interpreter::scan(element zero, callable fn, callable decider) {
  require_upstream(zero);
  push(internal::make_scan(pop(), zero, fn, decider));
}
void interpreter::fold(element zero, callable fn, callable decider) {
  require_upstream(zero);
  push(internal::make_fold(pop(), zero, fn, decider));
}
void interpreter::reduce(callable fn, callable decider) {
  push(internal::make_reduce(pop(), fn, decider));
}
void interpreter::grouped(std::int64_t n) {
  check_positive(n, "grouped's size");
  push(internal::make_grouped(pop(), n));
}
void interpreter::sliding(std::int64_t n, std::int64_t step) {
  check_positive(n, "sliding's window");
  check_positive(step, "sliding's step");
  push(internal::make_sliding(pop(), n, step));
}
void interpreter::recover(callable fn) {
  push(internal::make_recover(pop(), fn));
}
void interpreter::map_async(callable fn, std::int64_t parallelism, bool ordered, callable decider) {
  check_positive(parallelism, "map_async's parallelism");
  auto s = internal::make_map_async(pop(), fn, parallelism, ordered, decider, async_.size());
  async_.push_back(s.get());
  push(std::move(s));
}
void interpreter::buffer(std::int64_t size, overflow strategy) {
  check_positive(size, "buffer's size");
  push(internal::make_buffer(pop(), size, strategy));
}
void interpreter::throttle(std::int64_t elements, std::int64_t per_ns, std::int64_t maximum_burst,
                           bool enforcing) {
  check_positive(elements, "throttle's elements");
  check_positive(per_ns, "throttle's period");
  check_not_negative(maximum_burst, "throttle's maximum burst");
  push(internal::make_throttle(pop(), elements, per_ns, maximum_burst, enforcing));
}
void interpreter::gate(std::shared_ptr<kill_switch> ks, void* handle) {
  if (ks == nullptr) {
    throw invalid_argument_error("a gate needs a kill switch");
  }
  push(internal::make_gate(pop(), std::move(ks), handle));
}

void interpreter::delimiter_framing(const std::string& delimiter, std::int64_t max_frame_length,
                                    bool allow_truncation) {
  if (delimiter.empty()) {
    throw invalid_argument_error("the delimiter must not be empty");
  }
  check_positive(max_frame_length, "max_frame_length");
  internal::framing_options o;
  o.k = internal::framing_options::kind::delimiter;
  o.delimiter = delimiter;
  o.max_frame_length = static_cast<std::size_t>(max_frame_length);
  o.allow_truncation = allow_truncation;
  push(internal::make_framing(pop(), o));
}

namespace {
void check_field_length(std::int64_t n) {
  if (n < 1 || n > 8) {
    throw invalid_argument_error("field_length is 1 to 8 bytes, got " + std::to_string(n));
  }
}
} // namespace

void interpreter::length_field_framing(std::int64_t max_frame_length, std::int64_t field_length,
                                       std::int64_t field_offset, bool big_endian,
                                       bool keep_header) {
  check_positive(max_frame_length, "max_frame_length");
  check_field_length(field_length);
  check_not_negative(field_offset, "field_offset");
  internal::framing_options o;
  o.k = internal::framing_options::kind::length_field;
  o.max_frame_length = static_cast<std::size_t>(max_frame_length);
  o.field_length = static_cast<std::size_t>(field_length);
  o.field_offset = static_cast<std::size_t>(field_offset);
  o.big_endian = big_endian;
  o.keep_header = keep_header;
  push(internal::make_framing(pop(), o));
}

void interpreter::length_prefix(std::int64_t field_length, bool big_endian) {
  check_field_length(field_length);
  internal::framing_options o;
  o.k = internal::framing_options::kind::length_prefix;
  o.field_length = static_cast<std::size_t>(field_length);
  o.big_endian = big_endian;
  push(internal::make_framing(pop(), o));
}

void interpreter::source_fd(int fd, std::int64_t chunk_size, bool socket, const std::string& name) {
  check_not_negative(fd, "a descriptor");
  check_positive(chunk_size, "chunk_size");
  push(internal::make_fd_source(fd, static_cast<std::size_t>(chunk_size), socket, name));
}

void interpreter::source_file(const std::string& path, std::int64_t chunk_size) {
  if (path.empty()) {
    throw invalid_argument_error("a file path must not be empty");
  }
  check_positive(chunk_size, "chunk_size");
  push(internal::make_file_source(path, static_cast<std::size_t>(chunk_size)));
}

void interpreter::write_fd(int fd, bool socket, const std::string& name) {
  check_not_negative(fd, "a descriptor");
  push(internal::make_fd_writer(pop(), fd, socket, name));
}

void interpreter::concat() {
  auto second = pop();
  auto first = pop();
  push(internal::make_concat(std::move(first), std::move(second)));
}
void interpreter::merge(bool eager_complete) {
  auto right = pop();
  auto left = pop();
  push(internal::make_merge(std::move(left), std::move(right), eager_complete));
}
void interpreter::zip(callable fn) {
  auto right = pop();
  auto left = pop();
  push(internal::make_zip(std::move(left), std::move(right), fn));
}
void interpreter::interleave(std::int64_t segment_size) {
  check_positive(segment_size, "interleave's segment size");
  auto right = pop();
  auto left = pop();
  push(internal::make_interleave(std::move(left), std::move(right), segment_size));
}

std::size_t interpreter::add_junction(const internal::fan_out_options& options) {
  auto j = internal::make_junction(pop(), options, &ctx_);
  junctions_.push_back(std::move(j));
  return junctions_.size() - 1;
}

namespace {

/// Checked options of a junction named `what` in errors.
internal::fan_out_options fan_out_of(internal::fan_out_kind kind, std::int64_t outputs,
                                     std::int64_t buffer, const std::string& what) {
  check_positive(outputs, (what + "'s output count").c_str());
  check_positive(buffer, (what + "'s buffer size").c_str());
  internal::fan_out_options o;
  o.kind = kind;
  o.outputs = static_cast<std::size_t>(outputs);
  o.buffer = static_cast<std::size_t>(buffer);
  return o;
}

} // namespace

std::size_t interpreter::broadcast(std::int64_t outputs, std::int64_t buffer, bool eager_cancel,
                                   bool fail_on_cause) {
  auto o = fan_out_of(internal::fan_out_kind::broadcast, outputs, buffer, "broadcast");
  o.eager_cancel = eager_cancel;
  o.fail_on_cause = fail_on_cause;
  return add_junction(o);
}

std::size_t interpreter::balance(std::int64_t outputs) {
  return add_junction(fan_out_of(internal::fan_out_kind::balance, outputs, 1, "balance"));
}

std::size_t interpreter::partition(std::int64_t outputs, callable fn, std::int64_t buffer) {
  auto o = fan_out_of(internal::fan_out_kind::partition, outputs, buffer, "partition");
  o.fn = fn;
  return add_junction(o);
}

std::size_t interpreter::tap(std::int64_t buffer) {
  return add_junction(fan_out_of(internal::fan_out_kind::tap, 2, buffer, "a tap"));
}

void interpreter::port(std::size_t id, std::int64_t index) {
  if (built_ || id >= junctions_.size()) {
    throw invalid_graph_error("no junction " + std::to_string(id));
  }
  check_not_negative(index, "a junction's output");
  push(junctions_[id]->port(static_cast<std::size_t>(index)));
}

void interpreter::finish(std::unique_ptr<sink> s) {
  s->attach(&ctx_); // attached first: it releases what it owns if refused
  if (built_ || stack_.empty() || (junctions_.empty() && stack_.size() != 1)) {
    throw invalid_graph_error("a sink needs exactly one upstream source, got " +
                              std::to_string(stack_.size()));
  }
  slot sl;
  sl.root = pop();
  sl.consumer = std::move(s);
  slots_.push_back(std::move(sl));
  if (junctions_.empty()) {
    built_ = true;
  }
}

void interpreter::check_built() {
  if (built_) {
    return;
  }
  if (slots_.empty()) {
    throw invalid_graph_error("the graph has no sink");
  }
  if (!stack_.empty()) {
    throw invalid_graph_error(std::to_string(stack_.size()) +
                              " part(s) of the graph lead to no sink");
  }
  for (const auto& j : junctions_) {
    if (j->unported() != 0) {
      throw invalid_graph_error("a junction has " + std::to_string(j->unported()) +
                                " unconnected output(s)");
    }
  }
  built_ = true;
}

void interpreter::sink_seq() {
  finish(internal::make_seq_sink());
}
void interpreter::sink_fold(element zero, callable fn, callable decider) {
  finish(internal::make_fold_sink(zero, fn, decider));
}
void interpreter::sink_reduce(callable fn, callable decider) {
  finish(internal::make_reduce_sink(fn, decider));
}
void interpreter::sink_head_option() {
  finish(internal::make_head_option_sink());
}
void interpreter::sink_last_option() {
  finish(internal::make_last_option_sink());
}
void interpreter::sink_foreach(callable fn, callable decider) {
  finish(internal::make_foreach_sink(fn, decider));
}
void interpreter::sink_ignore() {
  finish(internal::make_ignore_sink());
}

void interpreter::sink_file(const std::string& path, bool append) {
  if (path.empty()) {
    throw invalid_argument_error("a file path must not be empty");
  }
  if (built_ || stack_.empty()) {
    throw invalid_graph_error("a sink needs exactly one upstream source, got " +
                              std::to_string(stack_.size()));
  }
  finish(internal::make_file_sink(path, append));
}

void interpreter::cancel_root(slot& sl, element cause) {
  if (sl.open) {
    sl.open = false;
    element outer = std::exchange(ctx_.cancel_cause, cause);
    sl.root->cancel();
    ctx_.cancel_cause = outer;
  }
}

void interpreter::end_slot(slot& sl, bool ok, element value) {
  sl.open = false;
  sl.finished = true;
  sl.ok = ok;
  sl.value = value;
}

outcome interpreter::run(std::int64_t budget) {
  if (state_ != outcome::yielded && state_ != outcome::waiting) {
    return state_;
  }
  check_built();
  ctx_.budget = budget;
  ctx_.yielded = false;
  ctx_.wake_at_ns = 0;
  ctx_.io_waits.clear();
  return slots_.size() == 1 ? run_one(budget) : run_many(budget);
}

outcome interpreter::run_one(std::int64_t) {
  slot& sl = slots_[0];
  bool repulled = false;
  for (;;) {
    if (step(sl)) {
      if (sl.finished) {
        state_ = sl.ok ? outcome::completed : outcome::failed;
        return state_;
      }
      continue;
    }
    if (!ctx_.yielded) {
      sl.root->pump();
      if (ctx_.failure_pending && !repulled) {
        repulled = true; // deliver the failure the pump took now
        continue;
      }
    }
    state_ = ctx_.yielded ? outcome::yielded : outcome::waiting;
    return state_;
  }
}

bool interpreter::step(slot& sl) {
  element x = nullptr;
  status s;
  if (sl.consumer->wants_more()) {
    s = sl.root->pull(x);
  } else {
    cancel_root(sl, nullptr);
    s = status::done;
  }
  switch (s) {
  case status::element: {
    element failure = nullptr;
    if (!sl.consumer->on_element(x, failure)) {
      cancel_root(sl, failure);
      sl.consumer->discard();
      end_slot(sl, false, failure);
    }
    return true;
  }
  case status::done:
    sl.open = false;
    if (sl.consumer->on_complete(x)) {
      end_slot(sl, true, x);
    } else {
      sl.consumer->discard();
      end_slot(sl, false, x);
    }
    return true;
  case status::failed:
    sl.open = false;
    sl.consumer->discard();
    end_slot(sl, false, x);
    return true;
  case status::pending:
    break;
  }
  return false;
}

outcome interpreter::run_many(std::int64_t) {
  bool repulled = false;
  for (;;) {
    std::uint64_t moves = ctx_.moves;
    bool progressed = false;
    bool live = false;
    for (slot& sl : slots_) {
      if (!sl.finished) {
        progressed = step(sl) || progressed;
        live = live || !sl.finished;
      }
    }
    if (!live) {
      state_ = outcome::completed;
      return state_;
    }
    if (progressed || moves != ctx_.moves) {
      continue;
    }
    if (!ctx_.yielded) {
      for (slot& sl : slots_) {
        if (sl.open) {
          sl.root->pump();
        }
      }
      if (ctx_.failure_pending && !repulled) {
        repulled = true;
        continue;
      }
    }
    state_ = ctx_.yielded ? outcome::yielded : outcome::waiting;
    return state_;
  }
}

void interpreter::complete_async(std::uint64_t ticket, bool ok, element value) {
  std::uint64_t index = ticket >> ticket_seq_bits;
  bool live = state_ == outcome::yielded || state_ == outcome::waiting;
  if (!live || index >= async_.size()) {
    if (value != nullptr) {
      ctx_.h->release(value);
    }
    return;
  }
  async_[index]->complete_async(ticket & ((std::uint64_t{1} << ticket_seq_bits) - 1), ok, value);
}

void interpreter::cancel() {
  if (state_ != outcome::yielded && state_ != outcome::waiting) {
    return;
  }
  for (slot& sl : slots_) {
    if (!sl.finished) {
      cancel_root(sl, nullptr);
      sl.consumer->discard();
    }
  }
  state_ = outcome::cancelled;
}

element interpreter::take_result() noexcept {
  if (slots_.size() != 1 || !slots_[0].ok) {
    return nullptr;
  }
  return std::exchange(slots_[0].value, nullptr);
}

element interpreter::take_failure() noexcept {
  if (slots_.size() != 1 || slots_[0].ok) {
    return nullptr;
  }
  return std::exchange(slots_[0].value, nullptr);
}

element interpreter::take_sink(std::size_t i, bool& ok) noexcept {
  if (i >= slots_.size() || !slots_[i].finished) {
    ok = false;
    return nullptr;
  }
  ok = slots_[i].ok;
  return std::exchange(slots_[i].value, nullptr);
}

} // namespace atomr::streams
