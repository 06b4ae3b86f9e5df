#include "fan_out.hpp"

#include "atomr/streams/error.hpp"

#include <string>
#include <utility>

namespace atomr::streams::internal {

namespace {

class fan_out final : public junction, public std::enable_shared_from_this<fan_out> {
public:
  fan_out(std::unique_ptr<stage> up, const fan_out_options& o, context* ctx)
    : up_(std::move(up))
    , o_(o)
    , ctx_(ctx)
    , outs_(o.outputs) {
  }

  ~fan_out() override {
    for (output& out : outs_) {
      drop_queue(out);
    }
    if (failure_ != nullptr) {
      ctx_->h->release(failure_);
    }
  }

  fan_out(const fan_out&) = delete;
  fan_out& operator=(const fan_out&) = delete;

  std::unique_ptr<stage> port(std::size_t k) override;

  std::size_t unported() const noexcept override {
    std::size_t n = 0;
    for (const output& out : outs_) {
      n += out.ported ? 0 : 1;
    }
    return n;
  }

  /// The next element for output `k`.
  status pull(std::size_t k, element& out) {
    output& me = outs_[k];
    for (;;) {
      if (!me.queue.empty()) {
        out = me.queue.front();
        me.queue.pop_front();
        ++ctx_->moves;
        return status::element;
      }
      if (!up_open_) {
        return end(k, out);
      }
      if (blocked(k)) {
        return status::pending; // a sibling output must take its elements first
      }
      element x = nullptr;
      status s = up_->pull(x);
      if (s == status::pending) {
        return s;
      }
      if (s != status::element) {
        up_open_ = false;
        if (s == status::failed) {
          set_failure(x);
        }
        return end(k, out);
      }
      ++ctx_->moves;
      std::size_t to = k;
      switch (o_.kind) {
      case fan_out_kind::balance:
        break;
      case fan_out_kind::broadcast:
      case fan_out_kind::tap:
        for (std::size_t j = 0; j < outs_.size(); ++j) {
          output& other = outs_[j];
          if (j == k || !other.live || other.queue.size() >= o_.buffer) {
            continue; // only a tap's side output can be full here: it misses x
          }
          other.queue.push_back(ctx_->h->retain(x));
        }
        break;
      case fan_out_kind::partition:
        if (!route(x, to)) {
          return end(k, out); // the partitioner failed: x is released
        }
        break;
      }
      if (to == k) {
        out = x;
        return status::element;
      }
      if (outs_[to].live) {
        outs_[to].queue.push_back(x);
      } else {
        ctx_->h->release(x); // for a cancelled output: dropped
      }
    }
  }

  /// Output `k` needs no more elements.
  void cancel(std::size_t k) {
    output& me = outs_[k];
    if (!me.live) {
      return;
    }
    me.live = false;
    drop_queue(me);
    bool side = o_.kind == fan_out_kind::tap && k == 1;
    if (side || !up_open_) {
      return;
    }
    bool eager = o_.eager_cancel || (o_.kind == fan_out_kind::tap && k == 0);
    bool any_live = false;
    for (std::size_t j = 0; j < outs_.size(); ++j) {
      bool counts = !(o_.kind == fan_out_kind::tap && j == 1);
      any_live = any_live || (counts && outs_[j].live);
    }
    if (!eager && any_live) {
      return;
    }
    if (o_.fail_on_cause && ctx_->cancel_cause != nullptr && failure_ == nullptr) {
      failure_ = ctx_->h->retain(ctx_->cancel_cause);
    }
    up_open_ = false;
    up_->cancel();
  }

  void pump() {
    if (up_open_) {
      up_->pump();
    }
  }

private:
  struct output {
    std::deque<element> queue;
    bool live = true;
    bool ported = false;
  };

  /// True when pulling upstream for output `k` must wait: another live
  /// output's queue is full (broadcast, partition; a tap's main output).
  bool blocked(std::size_t k) const {
    if (o_.kind == fan_out_kind::balance) {
      return false;
    }
    for (std::size_t j = 0; j < outs_.size(); ++j) {
      if (j == k || !outs_[j].live || (o_.kind == fan_out_kind::tap && j == 1)) {
        continue;
      }
      if (outs_[j].queue.size() >= o_.buffer) {
        return true;
      }
    }
    return false;
  }

  /// The output of partitioner's answer for `x` (owned): false when it
  /// failed (the junction fails; `x` is released).
  bool route(element x, std::size_t& to) {
    element r = nullptr;
    bool ok = ctx_->h->call1(o_.fn, x, r);
    std::int64_t i = -1;
    if (ok) {
      element failure = nullptr;
      ok = ctx_->h->to_index(r, i, failure);
      ctx_->h->release(r);
      r = failure;
      if (ok && (i < 0 || static_cast<std::size_t>(i) >= outs_.size())) {
        ok = false;
        std::string what = "the partitioner gave output " + std::to_string(i) + ", not one of " +
                           std::to_string(outs_.size());
        r = ctx_->h->make_failure(static_cast<int>(errc::invalid_argument), what.c_str());
      }
    }
    if (!ok) {
      ctx_->h->release(x);
      set_failure(r);
      up_open_ = false;
      up_->cancel();
      return false;
    }
    to = static_cast<std::size_t>(i);
    return true;
  }

  /// Output `k` after upstream ended: done, or the failure.
  status end(std::size_t k, element& out) {
    outs_[k].live = false;
    if (failure_ != nullptr) {
      out = ctx_->h->retain(failure_);
      return status::failed;
    }
    return status::done;
  }

  void set_failure(element f) {
    if (failure_ != nullptr) {
      ctx_->h->release(failure_);
    }
    failure_ = f;
  }

  void drop_queue(output& out) {
    for (element x : out.queue) {
      ctx_->h->release(x);
    }
    out.queue.clear();
  }

  std::unique_ptr<stage> up_;
  fan_out_options o_;
  context* ctx_;
  std::vector<output> outs_;
  bool up_open_ = true;
  element failure_ = nullptr;
};

/// An output of a junction: the stage its branch pulls.
class port_stage final : public stage {
public:
  port_stage(std::shared_ptr<fan_out> j, std::size_t k)
    : j_(std::move(j))
    , k_(k) {
  }

  status pull(element& out) override {
    return j_->pull(k_, out);
  }

  void cancel() override {
    j_->cancel(k_);
  }

  void pump() override {
    j_->pump();
  }

private:
  std::shared_ptr<fan_out> j_;
  std::size_t k_;
};

std::unique_ptr<stage> fan_out::port(std::size_t k) {
  if (k >= outs_.size()) {
    throw invalid_graph_error("a junction with " + std::to_string(outs_.size()) +
                              " outputs has no output " + std::to_string(k));
  }
  if (outs_[k].ported) {
    throw invalid_graph_error("output " + std::to_string(k) +
                              " of a junction is already connected");
  }
  outs_[k].ported = true;
  return std::make_unique<port_stage>(shared_from_this(), k);
}

} // namespace

std::shared_ptr<junction> make_junction(std::unique_ptr<stage> up, const fan_out_options& options,
                                        context* ctx) {
  if (options.outputs == 0) {
    throw invalid_argument_error("a junction needs at least one output");
  }
  if (options.buffer == 0) {
    throw invalid_argument_error("a junction's buffer size must be positive");
  }
  if (options.kind == fan_out_kind::tap && options.outputs != 2) {
    throw invalid_argument_error("a tap has two outputs");
  }
  if (options.kind == fan_out_kind::partition && options.fn == nullptr) {
    throw invalid_argument_error("a partition needs a partitioner");
  }
  return std::make_shared<fan_out>(std::move(up), options, ctx);
}

} // namespace atomr::streams::internal
