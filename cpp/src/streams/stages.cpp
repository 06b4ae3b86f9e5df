#include "stages.hpp"

#include "atomr/streams/error.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <string>
#include <utility>
#include <vector>

namespace atomr::streams::internal {

std::int64_t monotonic_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {

// ---------------------------------------------------------------- bases

/// A stage with one upstream.
class linear : public stage {
public:
  explicit linear(stage_ptr up)
    : up_(std::move(up)) {
  }

  void cancel() override {
    cancel_up();
  }

  void pump() override {
    if (open_) {
      up_->pump();
    }
  }

protected:
  /// Pulls upstream, noting when it finished.
  status pull_up(element& x) {
    status s = up_->pull(x);
    if (s == status::done || s == status::failed) {
      open_ = false;
    }
    return s;
  }

  void cancel_up() {
    if (open_) {
      open_ = false;
      up_->cancel();
    }
  }

  /// Fails this stage with `f` (owned): upstream is cancelled.
  status fail(element f, element& out) {
    element outer = std::exchange(ctx_->cancel_cause, f);
    cancel_up();
    ctx_->cancel_cause = outer;
    out = f;
    return status::failed;
  }

  stage_ptr up_;
  bool open_ = true;
};

/// A linear stage whose user callables are supervised by a decider.
class supervised : public linear {
public:
  supervised(stage_ptr up, callable decider)
    : linear(std::move(up))
    , decider_(decider) {
  }

protected:
  /// True when the decider lets the stream go on after `failure` (owned;
  /// then released, and the state reset on restart).
  bool survives(element failure) {
    if (decider_ == nullptr) {
      return false;
    }
    directive d = ctx_->h->decide(decider_, failure);
    if (d == directive::stop) {
      return false;
    }
    ctx_->h->release(failure);
    if (d == directive::restart) {
      restart();
    }
    return true;
  }

  /// Resets the stage's state (the restart directive).
  virtual void restart() {
  }

  callable decider_;
};

/// Releases every element of a container.
template <class Container> void release_all(host* h, Container& xs) {
  for (element x : xs) {
    h->release(x);
  }
  xs.clear();
}

// ---------------------------------------------------------------- sources

class iter_source final : public stage {
public:
  explicit iter_source(element it)
    : it_(it) {
  }

  ~iter_source() override {
    if (it_ != nullptr) {
      ctx_->h->release(it_);
    }
  }

  status pull(element& out) override {
    if (it_ == nullptr) {
      return status::done;
    }
    if (!ctx_->step()) {
      return status::pending;
    }
    status s = ctx_->h->next(it_, out);
    if (s != status::element) {
      ctx_->h->release(it_);
      it_ = nullptr;
    }
    return s;
  }

  void cancel() override {
    if (it_ != nullptr) {
      ctx_->h->close(it_);
      ctx_->h->release(it_);
      it_ = nullptr;
    }
  }

private:
  element it_;
};

class single_source final : public stage {
public:
  /// `repeat`: emit `x` forever instead of once.
  single_source(element x, bool repeat)
    : x_(x)
    , repeat_(repeat) {
  }

  ~single_source() override {
    if (x_ != nullptr) {
      ctx_->h->release(x_);
    }
  }

  status pull(element& out) override {
    if (x_ == nullptr) {
      return status::done;
    }
    if (!ctx_->step()) {
      return status::pending;
    }
    if (repeat_) {
      out = ctx_->h->retain(x_);
    } else {
      out = x_;
      x_ = nullptr;
    }
    return status::element;
  }

  void cancel() override {
    if (x_ != nullptr) {
      ctx_->h->release(x_);
      x_ = nullptr;
    }
  }

private:
  element x_;
  bool repeat_;
};

class empty_source final : public stage {
public:
  /// `failure` (owned, may be null): fail with it instead of completing.
  explicit empty_source(element failure)
    : failure_(failure) {
  }

  ~empty_source() override {
    if (failure_ != nullptr) {
      ctx_->h->release(failure_);
    }
  }

  status pull(element& out) override {
    if (failure_ != nullptr) {
      out = failure_;
      failure_ = nullptr;
      return status::failed;
    }
    return status::done;
  }

  void cancel() override {
  }

private:
  element failure_;
};

class async_source final : public stage {
public:
  async_source(callable next_fn, std::uint64_t index)
    : next_fn_(next_fn)
    , index_(index) {
  }

  ~async_source() override {
    if (value_ != nullptr) {
      ctx_->h->release(value_);
    }
  }

  status pull(element& out) override {
    switch (state_) {
    case state::finished:
      return status::done;
    case state::waiting:
      return status::pending;
    case state::ready:
      state_ = state::idle;
      out = value_;
      value_ = nullptr;
      return status::element;
    case state::failed:
      state_ = state::finished;
      out = value_;
      value_ = nullptr;
      return status::failed;
    case state::ended:
      state_ = state::finished;
      return status::done;
    case state::idle:
      break;
    }
    if (!ctx_->step()) {
      return status::pending;
    }
    ++seq_;
    switch (ctx_->h->start_async(next_fn_, nullptr, (index_ << ticket_bits) | seq_, out)) {
    case start::failed:
      state_ = state::finished;
      return status::failed;
    case start::done:
      return status::element; // the next element was ready
    case start::pending:
      break;
    }
    state_ = state::waiting;
    return status::pending;
  }

  void cancel() override {
    state_ = state::finished;
    if (value_ != nullptr) {
      ctx_->h->release(value_);
      value_ = nullptr;
    }
  }

  void complete_async(std::uint64_t seq, bool ok, element value) override {
    if (state_ != state::waiting || seq != seq_) {
      if (value != nullptr) {
        ctx_->h->release(value);
      }
      return;
    }
    value_ = value;
    state_ = !ok ? state::failed : value == nullptr ? state::ended : state::ready;
  }

  static constexpr int ticket_bits = 40;

private:
  enum class state { idle, waiting, ready, failed, ended, finished };

  callable next_fn_;
  std::uint64_t index_;
  std::uint64_t seq_ = 0;
  state state_ = state::idle;
  element value_ = nullptr;
};

// ---------------------------------------------------------------- one-to-one

class map_stage final : public supervised {
public:
  map_stage(stage_ptr up, callable fn, callable decider)
    : supervised(std::move(up), decider)
    , fn_(fn) {
  }

  status pull(element& out) override {
    for (;;) {
      element x;
      status s = pull_up(x);
      if (s != status::element) {
        out = x;
        return s;
      }
      element y;
      bool ok = ctx_->h->call1(fn_, x, y);
      ctx_->h->release(x);
      if (ok) {
        out = y;
        return status::element;
      }
      if (!survives(y)) {
        return fail(y, out);
      }
    }
  }

private:
  callable fn_;
};

/// filter, filter_not, take_while, drop_while: a predicate per element.
class predicate_stage final : public supervised {
public:
  enum class kind { filter, filter_not, take_while, take_while_inclusive, drop_while };

  predicate_stage(stage_ptr up, callable pred, callable decider, kind k)
    : supervised(std::move(up), decider)
    , pred_(pred)
    , kind_(k) {
  }

  status pull(element& out) override {
    if (finished_) {
      return status::done;
    }
    for (;;) {
      element x;
      status s = pull_up(x);
      if (s != status::element) {
        out = x;
        return s;
      }
      if (kind_ == kind::drop_while && !dropping_) {
        out = x;
        return status::element;
      }
      element r;
      if (!ctx_->h->call1(pred_, x, r)) {
        ctx_->h->release(x);
        if (survives(r)) {
          continue;
        }
        return fail(r, out);
      }
      element failure = nullptr;
      int t = ctx_->h->truth(r, failure);
      ctx_->h->release(r);
      if (t < 0) {
        ctx_->h->release(x);
        if (survives(failure)) {
          continue;
        }
        return fail(failure, out);
      }
      switch (kind_) {
      case kind::filter:
      case kind::filter_not:
        if ((t == 1) == (kind_ == kind::filter)) {
          out = x;
          return status::element;
        }
        ctx_->h->release(x);
        continue;
      case kind::take_while:
      case kind::take_while_inclusive:
        if (t == 1) {
          out = x;
          return status::element;
        }
        finished_ = true;
        cancel_up();
        if (kind_ == kind::take_while_inclusive) {
          out = x;
          return status::element;
        }
        ctx_->h->release(x);
        return status::done;
      case kind::drop_while:
        if (t == 1) {
          ctx_->h->release(x);
          continue;
        }
        dropping_ = false;
        out = x;
        return status::element;
      }
    }
  }

private:
  void restart() override {
    dropping_ = true;
  }

  callable pred_;
  kind kind_;
  bool dropping_ = true;
  bool finished_ = false;
};

class take_stage final : public linear {
public:
  take_stage(stage_ptr up, std::int64_t n)
    : linear(std::move(up))
    , left_(n) {
  }

  status pull(element& out) override {
    if (left_ <= 0) {
      cancel_up();
      return status::done;
    }
    status s = pull_up(out);
    if (s == status::element && --left_ == 0) {
      cancel_up(); // completes right after its last element, as Akka's take
    }
    return s;
  }

private:
  std::int64_t left_;
};

class skip_stage final : public linear {
public:
  skip_stage(stage_ptr up, std::int64_t n)
    : linear(std::move(up))
    , left_(n) {
  }

  status pull(element& out) override {
    for (;;) {
      status s = pull_up(out);
      if (s != status::element || left_ == 0) {
        return s;
      }
      --left_;
      ctx_->h->release(out);
      out = nullptr;
    }
  }

private:
  std::int64_t left_;
};

class map_concat_stage final : public supervised {
public:
  map_concat_stage(stage_ptr up, callable fn, callable decider)
    : supervised(std::move(up), decider)
    , fn_(fn) {
  }

  ~map_concat_stage() override {
    drop_iterator(false);
  }

  status pull(element& out) override {
    for (;;) {
      if (it_ != nullptr) {
        element y;
        status s = ctx_->h->next(it_, y);
        if (s == status::element) {
          out = y;
          return s;
        }
        ctx_->h->release(it_);
        it_ = nullptr;
        if (s == status::failed) {
          if (survives(y)) {
            continue;
          }
          return fail(y, out);
        }
      }
      element x;
      status s = pull_up(x);
      if (s != status::element) {
        out = x;
        return s;
      }
      element iterable;
      bool ok = ctx_->h->call1(fn_, x, iterable);
      ctx_->h->release(x);
      if (ok) {
        element it;
        ok = ctx_->h->iterate(iterable, it);
        ctx_->h->release(iterable);
        if (ok) {
          it_ = it;
          continue;
        }
        iterable = it; // the failure
      }
      if (!survives(iterable)) {
        return fail(iterable, out);
      }
    }
  }

  void cancel() override {
    drop_iterator(true);
    cancel_up();
  }

private:
  void restart() override {
    drop_iterator(true);
  }

  void drop_iterator(bool close) {
    if (it_ != nullptr) {
      if (close) {
        ctx_->h->close(it_);
      }
      ctx_->h->release(it_);
      it_ = nullptr;
    }
  }

  callable fn_;
  element it_ = nullptr;
};

// ---------------------------------------------------------------- accumulating

/// scan (emits the zero, then every accumulator), fold (emits the final
/// accumulator at completion) and reduce (fold seeded by the first element;
/// an empty stream fails).
class accumulate_stage final : public supervised {
public:
  enum class kind { scan, fold, reduce };

  accumulate_stage(stage_ptr up, element zero, callable fn, callable decider, kind k)
    : supervised(std::move(up), decider)
    , zero_(zero)
    , fn_(fn)
    , kind_(k) {
  }

  ~accumulate_stage() override {
    if (acc_ != nullptr) {
      ctx_->h->release(acc_);
    }
    if (zero_ != nullptr) {
      ctx_->h->release(zero_);
    }
  }

  status pull(element& out) override {
    if (finished_) {
      return status::done;
    }
    if (!started_) {
      started_ = true;
      restart();
      if (kind_ == kind::scan) {
        out = ctx_->h->retain(acc_);
        return status::element;
      }
    }
    for (;;) {
      element x;
      status s = pull_up(x);
      if (s == status::failed || s == status::pending) {
        out = x;
        return s;
      }
      if (s == status::done) {
        if (kind_ == kind::scan) {
          return s;
        }
        finished_ = true;
        if (acc_ == nullptr) {
          out = ctx_->h->make_failure(static_cast<int>(errc::empty_stream),
                                      "reduce over an empty stream");
          return status::failed;
        }
        out = acc_;
        acc_ = nullptr;
        return status::element;
      }
      if (acc_ == nullptr) { // reduce: the first element seeds the accumulator
        acc_ = x;
        continue;
      }
      element y;
      bool ok = ctx_->h->call2(fn_, acc_, x, y);
      ctx_->h->release(x);
      if (!ok) {
        if (survives(y)) {
          continue;
        }
        return fail(y, out);
      }
      ctx_->h->release(acc_);
      acc_ = y;
      if (kind_ == kind::scan) {
        out = ctx_->h->retain(acc_);
        return status::element;
      }
    }
  }

private:
  void restart() override {
    if (acc_ != nullptr) {
      ctx_->h->release(acc_);
    }
    acc_ = zero_ != nullptr ? ctx_->h->retain(zero_) : nullptr;
  }

  element zero_;
  callable fn_;
  kind kind_;
  element acc_ = nullptr;
  bool started_ = false;
  bool finished_ = false;
};

class grouped_stage final : public linear {
public:
  grouped_stage(stage_ptr up, std::int64_t n)
    : linear(std::move(up))
    , n_(static_cast<std::size_t>(n)) {
  }

  ~grouped_stage() override {
    release_all(ctx_->h, buf_);
  }

  status pull(element& out) override {
    if (finished_) {
      return status::done;
    }
    for (;;) {
      element x;
      status s = pull_up(x);
      if (s == status::element) {
        buf_.push_back(x);
        if (buf_.size() == n_) {
          return emit(out);
        }
        continue;
      }
      if (s == status::done && !buf_.empty()) {
        finished_ = true;
        return emit(out);
      }
      if (s == status::failed) {
        release_all(ctx_->h, buf_);
      }
      out = x;
      return s;
    }
  }

private:
  status emit(element& out) {
    out = ctx_->h->make_sequence(buf_.data(), buf_.size(), false);
    buf_.clear();
    return status::element;
  }

  std::size_t n_;
  std::vector<element> buf_;
  bool finished_ = false;
};

class sliding_stage final : public linear {
public:
  sliding_stage(stage_ptr up, std::int64_t n, std::int64_t step)
    : linear(std::move(up))
    , n_(static_cast<std::size_t>(n))
    , step_(static_cast<std::size_t>(step)) {
  }

  ~sliding_stage() override {
    release_all(ctx_->h, buf_);
  }

  status pull(element& out) override {
    if (finished_) {
      return status::done;
    }
    for (;;) {
      element x;
      status s = pull_up(x);
      if (s == status::element) {
        if (skip_ > 0) {
          --skip_;
          ctx_->h->release(x);
          continue;
        }
        buf_.push_back(x);
        ++fresh_;
        if (buf_.size() < n_) {
          continue;
        }
        std::vector<element> window;
        window.reserve(n_);
        for (element e : buf_) {
          window.push_back(ctx_->h->retain(e));
        }
        out = ctx_->h->make_sequence(window.data(), window.size(), false);
        emitted_ = true;
        fresh_ = 0;
        std::size_t drop = std::min(step_, buf_.size());
        for (std::size_t i = 0; i < drop; ++i) {
          ctx_->h->release(buf_.front());
          buf_.pop_front();
        }
        skip_ = step_ > n_ ? step_ - n_ : 0;
        return status::element;
      }
      if (s == status::done && !buf_.empty() && (!emitted_ || fresh_ > 0)) {
        // The last, partial window: only if it holds elements no window had.
        finished_ = true;
        std::vector<element> window(buf_.begin(), buf_.end());
        buf_.clear();
        out = ctx_->h->make_sequence(window.data(), window.size(), false);
        return status::element;
      }
      if (s == status::failed) {
        release_all(ctx_->h, buf_);
      }
      out = x;
      return s;
    }
  }

private:
  std::size_t n_;
  std::size_t step_;
  std::deque<element> buf_;
  std::size_t skip_ = 0;
  std::size_t fresh_ = 0;
  bool emitted_ = false;
  bool finished_ = false;
};

// ---------------------------------------------------------------- errors

class recover_stage final : public linear {
public:
  recover_stage(stage_ptr up, callable fn)
    : linear(std::move(up))
    , fn_(fn) {
  }

  status pull(element& out) override {
    if (finished_) {
      return status::done;
    }
    status s = pull_up(out);
    if (s != status::failed) {
      return s;
    }
    finished_ = true;
    element failure = out;
    element y;
    bool ok = ctx_->h->call1(fn_, failure, y);
    ctx_->h->release(failure);
    out = y;
    return ok ? status::element : status::failed;
  }

private:
  callable fn_;
  bool finished_ = false;
};

// ---------------------------------------------------------------- async

class map_async_stage final : public supervised {
public:
  map_async_stage(stage_ptr up, callable fn, std::int64_t parallelism, bool ordered,
                  callable decider, std::uint64_t index)
    : supervised(std::move(up), decider)
    , fn_(fn)
    , parallelism_(static_cast<std::size_t>(parallelism))
    , ordered_(ordered)
    , index_(index) {
  }

  ~map_async_stage() override {
    drop_slots();
  }

  status pull(element& out) override {
    for (;;) {
      // Keep the window full: start calls for as many elements as it allows
      // (and pull once past it when a failure waits upstream).
      bool extra = ctx_->failure_pending;
      while (open_ && (slots_.size() < parallelism_ || extra)) {
        extra = false;
        element x;
        status s = pull_up(x);
        if (s == status::pending || s == status::done) {
          break;
        }
        if (s == status::failed) {
          drop_slots();
          out = x;
          return s;
        }
        slot sl{++seq_, slot_state::running, nullptr};
        element value = nullptr;
        start st =
            ctx_->h->start_async(fn_, x, (index_ << async_source::ticket_bits) | sl.seq, value);
        ctx_->h->release(x);
        if (st != start::pending) {
          sl.state = st == start::done ? slot_state::done : slot_state::failed;
          sl.value = value;
        }
        slots_.push_back(sl);
      }
      // The next outcome: the oldest in order, or any finished one.
      auto it = slots_.begin();
      if (!ordered_) {
        it = std::find_if(slots_.begin(), slots_.end(),
                          [](const slot& s) { return s.state != slot_state::running; });
      }
      if (it == slots_.end() || it->state == slot_state::running) {
        if (slots_.empty() && !open_) {
          return status::done;
        }
        return status::pending;
      }
      slot sl = *it;
      slots_.erase(it);
      if (sl.state == slot_state::done) {
        out = sl.value;
        return status::element;
      }
      if (!survives(sl.value)) {
        return fail(sl.value, out);
      }
    }
  }

  void cancel() override {
    drop_slots();
    cancel_up();
  }

  void complete_async(std::uint64_t seq, bool ok, element value) override {
    for (slot& s : slots_) {
      if (s.seq == seq && s.state == slot_state::running) {
        s.state = ok ? slot_state::done : slot_state::failed;
        s.value = value != nullptr ? value : ctx_->h->nothing();
        return;
      }
    }
    if (value != nullptr) {
      ctx_->h->release(value); // cancelled or restarted meanwhile
    }
  }

private:
  enum class slot_state { running, done, failed };
  struct slot {
    std::uint64_t seq;
    slot_state state;
    element value;
  };

  status fail(element f, element& out) {
    drop_slots();
    return supervised::fail(f, out);
  }

  void drop_slots() {
    for (slot& s : slots_) {
      if (s.value != nullptr) {
        ctx_->h->release(s.value);
      }
    }
    slots_.clear();
  }

  callable fn_;
  std::size_t parallelism_;
  bool ordered_;
  std::uint64_t index_;
  std::uint64_t seq_ = 0;
  std::deque<slot> slots_;
};

// ---------------------------------------------------------------- rate and buffers

class buffer_stage final : public linear {
public:
  buffer_stage(stage_ptr up, std::int64_t size, overflow strategy)
    : linear(std::move(up))
    , size_(static_cast<std::size_t>(size))
    , strategy_(strategy) {
  }

  ~buffer_stage() override {
    release_all(ctx_->h, q_);
    if (failure_ != nullptr) {
      ctx_->h->release(failure_);
    }
  }

  status pull(element& out) override {
    if (failure_ != nullptr) {
      release_all(ctx_->h, q_);
      out = failure_;
      failure_ = nullptr;
      ctx_->failure_pending = false;
      return status::failed;
    }
    if (!q_.empty()) {
      out = q_.front();
      q_.pop_front();
      return status::element;
    }
    if (!open_) {
      return status::done;
    }
    return pull_up(out);
  }

  /// Downstream waits: take what upstream offers, up to the buffer's size
  /// (backpressure) or dropping by the overflow strategy.
  void pump() override {
    while (open_ && failure_ == nullptr) {
      if (strategy_ == overflow::backpressure && q_.size() >= size_) {
        break;
      }
      element x;
      status s = pull_up(x);
      if (s == status::pending || s == status::done) {
        break;
      }
      if (s == status::failed) {
        failure_ = x;
        break;
      }
      offer(x);
    }
    if (failure_ != nullptr) {
      ctx_->failure_pending = true;
    }
    if (open_) {
      up_->pump();
    }
  }

  void cancel() override {
    release_all(ctx_->h, q_);
    cancel_up();
  }

private:
  void offer(element x) {
    if (q_.size() < size_) {
      q_.push_back(x);
      return;
    }
    switch (strategy_) {
    case overflow::backpressure:
      q_.push_back(x);
      break;
    case overflow::drop_head:
      ctx_->h->release(q_.front());
      q_.pop_front();
      q_.push_back(x);
      break;
    case overflow::drop_tail:
      ctx_->h->release(q_.back());
      q_.pop_back();
      q_.push_back(x);
      break;
    case overflow::drop_buffer:
      release_all(ctx_->h, q_);
      q_.push_back(x);
      break;
    case overflow::drop_new:
      ctx_->h->release(x);
      break;
    case overflow::fail:
      ctx_->h->release(x);
      cancel_up();
      failure_ = ctx_->h->make_failure(
          static_cast<int>(errc::buffer_overflow),
          ("buffer overflow (max capacity was " + std::to_string(size_) + ")").c_str());
      break;
    }
  }

  std::size_t size_;
  overflow strategy_;
  std::deque<element> q_;
  element failure_ = nullptr;
};

/// A throttle as a virtual-scheduling token bucket: an element may pass at
/// `now` when `now >= tat - burst * interval`; passing moves the theoretical
/// arrival time `tat` one interval on.
class throttle_stage final : public linear {
public:
  throttle_stage(stage_ptr up, std::int64_t elements, std::int64_t per_ns,
                 std::int64_t maximum_burst, bool enforcing)
    : linear(std::move(up))
    , interval_ns_(std::max<std::int64_t>(1, per_ns / elements))
    , burst_(maximum_burst)
    , enforcing_(enforcing) {
  }

  ~throttle_stage() override {
    if (held_ != nullptr) {
      ctx_->h->release(held_);
    }
  }

  status pull(element& out) override {
    if (held_ == nullptr) {
      status s = pull_up(held_);
      if (s != status::element) {
        out = held_;
        held_ = nullptr;
        return s;
      }
    }
    std::int64_t now = monotonic_ns();
    std::int64_t allowed_at = tat_ - burst_ * interval_ns_;
    if (now < allowed_at) {
      if (enforcing_) {
        ctx_->h->release(held_);
        held_ = nullptr;
        return fail(ctx_->h->make_failure(static_cast<int>(errc::rate_exceeded),
                                          "maximum throttle throughput exceeded"),
                    out);
      }
      ctx_->wake_at(allowed_at);
      return status::pending;
    }
    tat_ = std::max(tat_, now) + interval_ns_;
    out = held_;
    held_ = nullptr;
    return status::element;
  }

  void cancel() override {
    if (held_ != nullptr) {
      ctx_->h->release(held_);
      held_ = nullptr;
    }
    cancel_up();
  }

private:
  std::int64_t interval_ns_;
  std::int64_t burst_;
  bool enforcing_;
  std::int64_t tat_ = 0;
  element held_ = nullptr;
};

class gate_stage final : public linear {
public:
  gate_stage(stage_ptr up, std::shared_ptr<kill_switch> ks, void* handle)
    : linear(std::move(up))
    , ks_(std::move(ks))
    , handle_(handle) {
  }

  status pull(element& out) override {
    switch (ks_->current()) {
    case kill_switch::state::running:
      return pull_up(out);
    case kill_switch::state::shut_down:
      cancel_up();
      return status::done;
    case kill_switch::state::aborted:
      break;
    }
    return fail(ctx_->h->abort_failure(handle_), out);
  }

private:
  std::shared_ptr<kill_switch> ks_;
  void* handle_;
};

// ---------------------------------------------------------------- fan-in

/// Two upstreams, each cancelled once when this stage stops early.
class fan_in : public stage {
public:
  fan_in(stage_ptr left, stage_ptr right) {
    ups_[0] = std::move(left);
    ups_[1] = std::move(right);
  }

  void cancel() override {
    cancel_up(0);
    cancel_up(1);
  }

  void pump() override {
    for (int i = 0; i < 2; ++i) {
      if (open_[i]) {
        ups_[i]->pump();
      }
    }
  }

protected:
  status pull_up(int i, element& x) {
    status s = ups_[i]->pull(x);
    if (s == status::done || s == status::failed) {
      open_[i] = false;
    }
    return s;
  }

  void cancel_up(int i) {
    if (open_[i]) {
      open_[i] = false;
      ups_[i]->cancel();
    }
  }

  stage_ptr ups_[2];
  bool open_[2] = {true, true};
};

class concat_stage final : public fan_in {
public:
  using fan_in::fan_in;

  status pull(element& out) override {
    if (open_[0]) {
      status s = pull_up(0, out);
      if (s == status::failed) {
        cancel_up(1);
      }
      if (s != status::done) {
        return s;
      }
    }
    if (!open_[1]) {
      return status::done;
    }
    return pull_up(1, out);
  }
};

class merge_stage final : public fan_in {
public:
  merge_stage(stage_ptr left, stage_ptr right, bool eager)
    : fan_in(std::move(left), std::move(right))
    , eager_(eager) {
  }

  status pull(element& out) override {
    for (int k = 0; k < 2; ++k) {
      int i = (next_ + k) % 2;
      if (!open_[i]) {
        continue;
      }
      status s = pull_up(i, out);
      if (s == status::element) {
        next_ = 1 - i; // alternate while both offer elements
        return s;
      }
      if (s == status::failed) {
        cancel();
        return s;
      }
      if (s == status::done && eager_) {
        cancel();
        return s;
      }
    }
    return open_[0] || open_[1] ? status::pending : status::done;
  }

private:
  bool eager_;
  int next_ = 0;
};

class zip_stage final : public fan_in {
public:
  zip_stage(stage_ptr left, stage_ptr right, callable fn)
    : fan_in(std::move(left), std::move(right))
    , fn_(fn) {
  }

  ~zip_stage() override {
    for (element& x : held_) {
      if (x != nullptr) {
        ctx_->h->release(x);
      }
    }
  }

  status pull(element& out) override {
    for (int i = 0; i < 2; ++i) {
      if (held_[i] != nullptr) {
        continue;
      }
      if (!open_[i]) {
        return finish();
      }
      status s = pull_up(i, held_[i]);
      if (s == status::element) {
        continue;
      }
      element x = held_[i];
      held_[i] = nullptr;
      if (s == status::pending) {
        return s;
      }
      if (s == status::done) {
        return finish();
      }
      cancel();
      release_held();
      out = x;
      return s;
    }
    element pair[2] = {held_[0], held_[1]};
    held_[0] = held_[1] = nullptr;
    if (fn_ == nullptr) {
      out = ctx_->h->make_sequence(pair, 2, true);
      return status::element;
    }
    bool ok = ctx_->h->call2(fn_, pair[0], pair[1], out);
    ctx_->h->release(pair[0]);
    ctx_->h->release(pair[1]);
    if (!ok) {
      cancel();
      return status::failed;
    }
    return status::element;
  }

private:
  /// One side ended: zip ends too (what the other side holds is dropped).
  status finish() {
    cancel();
    release_held();
    return status::done;
  }

  void release_held() {
    for (element& x : held_) {
      if (x != nullptr) {
        ctx_->h->release(x);
        x = nullptr;
      }
    }
  }

  callable fn_;
  element held_[2] = {nullptr, nullptr};
};

class interleave_stage final : public fan_in {
public:
  interleave_stage(stage_ptr left, stage_ptr right, std::int64_t segment)
    : fan_in(std::move(left), std::move(right))
    , segment_(segment) {
  }

  status pull(element& out) override {
    for (;;) {
      if (!open_[0] && !open_[1]) {
        return status::done;
      }
      if (!open_[current_]) {
        switch_side();
        continue;
      }
      status s = pull_up(current_, out);
      if (s == status::element) {
        if (++count_ >= segment_) {
          switch_side();
        }
        return s;
      }
      if (s == status::failed) {
        cancel();
        return s;
      }
      if (s == status::pending) {
        return s;
      }
      switch_side(); // done: the other side goes on alone
    }
  }

private:
  void switch_side() {
    current_ = 1 - current_;
    count_ = 0;
  }

  std::int64_t segment_;
  int current_ = 0;
  std::int64_t count_ = 0;
};

// ---------------------------------------------------------------- sinks

class seq_sink final : public sink {
public:
  ~seq_sink() override {
    discard();
  }

  bool on_element(element x, element&) override {
    xs_.push_back(x);
    return true;
  }

  bool on_complete(element& out) override {
    out = ctx_->h->make_sequence(xs_.data(), xs_.size(), false);
    xs_.clear();
    return true;
  }

  void discard() override {
    release_all(ctx_->h, xs_);
  }

private:
  std::vector<element> xs_;
};

/// fold (seeded with `zero`) and reduce (seeded with the first element).
class fold_sink final : public sink {
public:
  fold_sink(element zero, callable fn, callable decider)
    : zero_(zero)
    , fn_(fn)
    , decider_(decider) {
  }

  ~fold_sink() override {
    discard();
    if (zero_ != nullptr) {
      ctx_->h->release(zero_);
    }
  }

  bool on_element(element x, element& failure) override {
    if (!started_) {
      started_ = true;
      reset();
    }
    if (acc_ == nullptr) {
      acc_ = x;
      return true;
    }
    element y;
    bool ok = ctx_->h->call2(fn_, acc_, x, y);
    ctx_->h->release(x);
    if (ok) {
      ctx_->h->release(acc_);
      acc_ = y;
      return true;
    }
    directive d = decider_ != nullptr ? ctx_->h->decide(decider_, y) : directive::stop;
    if (d == directive::stop) {
      failure = y;
      return false;
    }
    ctx_->h->release(y);
    if (d == directive::restart) {
      reset();
    }
    return true;
  }

  bool on_complete(element& out) override {
    if (!started_) {
      started_ = true;
      reset();
    }
    if (acc_ == nullptr) {
      out = ctx_->h->make_failure(static_cast<int>(errc::empty_stream),
                                  "reduce over an empty stream");
      return false;
    }
    out = acc_;
    acc_ = nullptr;
    return true;
  }

  void discard() override {
    if (acc_ != nullptr) {
      ctx_->h->release(acc_);
      acc_ = nullptr;
    }
  }

private:
  void reset() {
    discard();
    acc_ = zero_ != nullptr ? ctx_->h->retain(zero_) : nullptr;
  }

  element zero_;
  callable fn_;
  callable decider_;
  element acc_ = nullptr;
  bool started_ = false;
};

/// head_option (the first element, then cancels upstream) and last_option.
class option_sink final : public sink {
public:
  explicit option_sink(bool head)
    : head_(head) {
  }

  ~option_sink() override {
    discard();
  }

  bool on_element(element x, element&) override {
    if (x_ != nullptr) {
      ctx_->h->release(x_);
    }
    x_ = x;
    return true;
  }

  bool wants_more() const override {
    return !head_ || x_ == nullptr;
  }

  bool on_complete(element& out) override {
    out = x_ != nullptr ? x_ : ctx_->h->nothing();
    x_ = nullptr;
    return true;
  }

  void discard() override {
    if (x_ != nullptr) {
      ctx_->h->release(x_);
      x_ = nullptr;
    }
  }

private:
  bool head_;
  element x_ = nullptr;
};

/// foreach (calls `fn` per element) and ignore (`fn` null).
class foreach_sink final : public sink {
public:
  foreach_sink(callable fn, callable decider)
    : fn_(fn)
    , decider_(decider) {
  }

  bool on_element(element x, element& failure) override {
    if (fn_ == nullptr) {
      ctx_->h->release(x);
      return true;
    }
    element r;
    bool ok = ctx_->h->call1(fn_, x, r);
    ctx_->h->release(x);
    if (ok) {
      ctx_->h->release(r);
      return true;
    }
    if (decider_ != nullptr && ctx_->h->decide(decider_, r) != directive::stop) {
      ctx_->h->release(r);
      return true;
    }
    failure = r;
    return false;
  }

  bool on_complete(element& out) override {
    out = ctx_->h->nothing();
    return true;
  }

  void discard() override {
  }

private:
  callable fn_;
  callable decider_;
};

} // namespace

stage_ptr make_iter_source(element iterator) {
  return std::make_unique<iter_source>(iterator);
}
stage_ptr make_single_source(element x) {
  return std::make_unique<single_source>(x, false);
}
stage_ptr make_repeat_source(element x) {
  return std::make_unique<single_source>(x, true);
}
stage_ptr make_empty_source() {
  return std::make_unique<empty_source>(nullptr);
}
stage_ptr make_failed_source(element failure) {
  return std::make_unique<empty_source>(failure);
}
stage_ptr make_async_source(callable next_fn, std::uint64_t index) {
  return std::make_unique<async_source>(next_fn, index);
}
stage_ptr make_map(stage_ptr up, callable fn, callable decider) {
  return std::make_unique<map_stage>(std::move(up), fn, decider);
}
stage_ptr make_filter(stage_ptr up, callable pred, callable decider, bool negate) {
  return std::make_unique<predicate_stage>(std::move(up), pred, decider,
                                           negate ? predicate_stage::kind::filter_not
                                                  : predicate_stage::kind::filter);
}
stage_ptr make_take(stage_ptr up, std::int64_t n) {
  return std::make_unique<take_stage>(std::move(up), n);
}
stage_ptr make_skip(stage_ptr up, std::int64_t n) {
  return std::make_unique<skip_stage>(std::move(up), n);
}
stage_ptr make_take_while(stage_ptr up, callable pred, callable decider, bool inclusive) {
  return std::make_unique<predicate_stage>(std::move(up), pred, decider,
                                           inclusive ? predicate_stage::kind::take_while_inclusive
                                                     : predicate_stage::kind::take_while);
}
stage_ptr make_drop_while(stage_ptr up, callable pred, callable decider) {
  return std::make_unique<predicate_stage>(std::move(up), pred, decider,
                                           predicate_stage::kind::drop_while);
}
stage_ptr make_map_concat(stage_ptr up, callable fn, callable decider) {
  return std::make_unique<map_concat_stage>(std::move(up), fn, decider);
}
stage_ptr make_scan(stage_ptr up, element zero, callable fn, callable decider) {
  return std::make_unique<accumulate_stage>(std::move(up), zero, fn, decider,
                                            accumulate_stage::kind::scan);
}
stage_ptr make_fold(stage_ptr up, element zero, callable fn, callable decider) {
  return std::make_unique<accumulate_stage>(std::move(up), zero, fn, decider,
                                            accumulate_stage::kind::fold);
}
stage_ptr make_reduce(stage_ptr up, callable fn, callable decider) {
  return std::make_unique<accumulate_stage>(std::move(up), nullptr, fn, decider,
                                            accumulate_stage::kind::reduce);
}
stage_ptr make_grouped(stage_ptr up, std::int64_t n) {
  return std::make_unique<grouped_stage>(std::move(up), n);
}
stage_ptr make_sliding(stage_ptr up, std::int64_t n, std::int64_t step) {
  return std::make_unique<sliding_stage>(std::move(up), n, step);
}
stage_ptr make_recover(stage_ptr up, callable fn) {
  return std::make_unique<recover_stage>(std::move(up), fn);
}
stage_ptr make_map_async(stage_ptr up, callable fn, std::int64_t parallelism, bool ordered,
                         callable decider, std::uint64_t index) {
  return std::make_unique<map_async_stage>(std::move(up), fn, parallelism, ordered, decider, index);
}
stage_ptr make_buffer(stage_ptr up, std::int64_t size, overflow strategy) {
  return std::make_unique<buffer_stage>(std::move(up), size, strategy);
}
stage_ptr make_throttle(stage_ptr up, std::int64_t elements, std::int64_t per_ns,
                        std::int64_t maximum_burst, bool enforcing) {
  return std::make_unique<throttle_stage>(std::move(up), elements, per_ns, maximum_burst,
                                          enforcing);
}
stage_ptr make_gate(stage_ptr up, std::shared_ptr<kill_switch> ks, void* handle) {
  return std::make_unique<gate_stage>(std::move(up), std::move(ks), handle);
}
stage_ptr make_concat(stage_ptr first, stage_ptr second) {
  return std::make_unique<concat_stage>(std::move(first), std::move(second));
}
stage_ptr make_merge(stage_ptr left, stage_ptr right, bool eager_complete) {
  return std::make_unique<merge_stage>(std::move(left), std::move(right), eager_complete);
}
stage_ptr make_zip(stage_ptr left, stage_ptr right, callable fn) {
  return std::make_unique<zip_stage>(std::move(left), std::move(right), fn);
}
stage_ptr make_interleave(stage_ptr left, stage_ptr right, std::int64_t segment_size) {
  return std::make_unique<interleave_stage>(std::move(left), std::move(right), segment_size);
}

sink_ptr make_seq_sink() {
  return std::make_unique<seq_sink>();
}
sink_ptr make_fold_sink(element zero, callable fn, callable decider) {
  return std::make_unique<fold_sink>(zero, fn, decider);
}
sink_ptr make_reduce_sink(callable fn, callable decider) {
  return std::make_unique<fold_sink>(nullptr, fn, decider);
}
sink_ptr make_head_option_sink() {
  return std::make_unique<option_sink>(true);
}
sink_ptr make_last_option_sink() {
  return std::make_unique<option_sink>(false);
}
sink_ptr make_foreach_sink(callable fn, callable decider) {
  return std::make_unique<foreach_sink>(fn, decider);
}
sink_ptr make_ignore_sink() {
  return std::make_unique<foreach_sink>(nullptr, nullptr);
}

} // namespace atomr::streams::internal
