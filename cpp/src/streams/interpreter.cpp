#include "atomr/streams/interpreter.hpp"

#include "atomr/streams/error.hpp"
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
  if (result_ != nullptr) {
    ctx_.h->release(result_);
  }
  if (failure_ != nullptr) {
    ctx_.h->release(failure_);
  }
  // The stages release what they hold while the context is still alive.
  sink_.reset();
  root_.reset();
  stack_.clear();
}

void interpreter::require_upstream(element owned) {
  if (stack_.empty() || sink_ != nullptr) {
    ctx_.h->release(owned);
    throw invalid_graph_error("an operator needs an upstream source");
  }
}

std::unique_ptr<stage> interpreter::pop() {
  if (stack_.empty() || sink_ != nullptr) {
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

void interpreter::finish(std::unique_ptr<sink> s) {
  s->attach(&ctx_); // attached first: it releases what it owns if refused
  if (stack_.size() != 1 || sink_ != nullptr) {
    throw invalid_graph_error("a sink needs exactly one upstream source, got " +
                              std::to_string(stack_.size()));
  }
  root_ = pop();
  sink_ = std::move(s);
  upstream_open_ = true;
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

void interpreter::finish_failed(element failure) {
  if (upstream_open_) {
    upstream_open_ = false;
    root_->cancel();
  }
  sink_->discard();
  failure_ = failure;
  state_ = outcome::failed;
}

outcome interpreter::run(std::int64_t budget) {
  if (state_ != outcome::yielded && state_ != outcome::waiting) {
    return state_;
  }
  if (sink_ == nullptr) {
    throw invalid_graph_error("the graph has no sink");
  }
  ctx_.budget = budget;
  ctx_.yielded = false;
  ctx_.wake_at_ns = 0;
  bool repulled = false;
  for (;;) {
    element x = nullptr;
    status s;
    if (sink_->wants_more()) {
      s = root_->pull(x);
    } else {
      if (upstream_open_) {
        upstream_open_ = false;
        root_->cancel();
      }
      s = status::done;
    }
    switch (s) {
    case status::element: {
      element failure = nullptr;
      if (!sink_->on_element(x, failure)) {
        finish_failed(failure);
        return state_;
      }
      continue;
    }
    case status::done:
      upstream_open_ = false;
      if (sink_->on_complete(x)) {
        result_ = x;
        state_ = outcome::completed;
      } else {
        sink_->discard();
        failure_ = x;
        state_ = outcome::failed;
      }
      return state_;
    case status::failed:
      upstream_open_ = false;
      finish_failed(x);
      return state_;
    case status::pending:
      if (!ctx_.yielded) {
        root_->pump();
        if (ctx_.failure_pending && !repulled) {
          repulled = true; // deliver the failure the pump took now
          continue;
        }
      }
      state_ = ctx_.yielded ? outcome::yielded : outcome::waiting;
      return state_;
    }
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
  if (upstream_open_) {
    upstream_open_ = false;
    root_->cancel();
  }
  if (sink_ != nullptr) {
    sink_->discard();
  }
  state_ = outcome::cancelled;
}

element interpreter::take_result() noexcept {
  return std::exchange(result_, nullptr);
}

element interpreter::take_failure() noexcept {
  return std::exchange(failure_, nullptr);
}

} // namespace atomr::streams
