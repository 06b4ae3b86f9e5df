#include "atomr/core/timer_service.hpp"

#include "atomr/core/cell.hpp"
#include "atomr/core/dispatcher.hpp"
#include "atomr/core/envelope.hpp"
#include "atomr/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace atomr::core {

namespace internal {

/// One timer. Owned by `timer_service::entries_`; linked into the heap while
/// pending. Every field is guarded by the service's mutex, except that the
/// thread which claimed the entry for a fire reads the immutable fields
/// (target, kind, tag, system_queue) without it.
struct timer_entry {
  enum class state : std::uint8_t {
    pending,   ///< in the heap, waiting for its deadline
    firing,    ///< claimed by a fire running without the lock
    cancelled, ///< cancelled while firing; retired when the fire ends
  };

  std::uint64_t id = 0;
  std::uint64_t seq = 0; // scheduling order, the tie-break of equal deadlines
  cell* target = nullptr;
  std::uint64_t tag = 0;
  std::uint32_t kind = 0;
  bool fixed_rate = true;
  bool system_queue = false;
  state st = state::pending;
  std::int64_t deadline = 0; // ns since the service's origin
  std::int64_t base = 0;     // fixed rate: the first deadline
  std::int64_t periods = 0;  // fixed rate: deadline == base + periods * interval
  std::int64_t interval = 0; // ns; 0 for a one-shot timer
  std::size_t heap_index = 0;
};

} // namespace internal

namespace {

using entry = internal::timer_entry;

/// Deadlines are clamped here (about 146 years): far enough to mean "never",
/// near enough that origin + deadline fits a steady_clock time point.
constexpr std::int64_t max_ns = std::int64_t(1) << 62;

std::int64_t to_ns(double seconds) noexcept {
  const double ns = seconds * 1e9;
  if (!(ns < static_cast<double>(max_ns)))
    return max_ns;
  return ns <= 0.0 ? 0 : static_cast<std::int64_t>(std::llround(ns));
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
  // Both operands are in [0, max_ns].
  return b > max_ns - a ? max_ns : a + b;
}

/// base + k * interval, clamped to max_ns.
std::int64_t slot(std::int64_t base, std::int64_t k, std::int64_t interval) noexcept {
  std::int64_t offset = 0;
  if (__builtin_mul_overflow(k, interval, &offset) || offset > max_ns)
    return max_ns;
  return saturating_add(base, offset);
}

} // namespace

timer_service::timer_service(clock_mode mode)
  : mode_(mode)
  , origin_(std::chrono::steady_clock::now()) {
}

timer_service::~timer_service() {
  shutdown();
}

std::int64_t timer_service::now_ns() const noexcept {
  if (mode_ == clock_mode::manual)
    return virtual_now_.load(std::memory_order_acquire);
  const auto elapsed = std::chrono::steady_clock::now() - origin_;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count();
}

double timer_service::now() const noexcept {
  return static_cast<double>(now_ns()) / 1e9;
}

std::size_t timer_service::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  // A one-shot timer whose fire has begun is no longer pending (cancel()
  // cannot stop it any more), even before the fire ends and retires it.
  return entries_.size() - (firing_one_shot_ ? 1 : 0);
}

// --- heap ------------------------------------------------------------------
//
// A 4-ary min-heap (shallower than a binary one; a node's four children
// share one or two cache lines). Each entry knows its slot, so a cancelled
// timer leaves the heap at once instead of lingering until its deadline.

namespace {

constexpr std::size_t heap_arity = 4;

bool earlier(const internal::timer_heap_node& a, const internal::timer_heap_node& b) noexcept {
  return a.deadline != b.deadline ? a.deadline < b.deadline : a.seq < b.seq;
}

} // namespace

void timer_service::sift_up(std::size_t i, heap_node node) {
  while (i > 0) {
    const std::size_t parent = (i - 1) / heap_arity;
    if (!earlier(node, heap_[parent]))
      break;
    heap_[i] = heap_[parent];
    heap_[i].entry->heap_index = i;
    i = parent;
  }
  heap_[i] = node;
  node.entry->heap_index = i;
}

void timer_service::sift_down(std::size_t i, heap_node node) {
  const std::size_t n = heap_.size();
  for (;;) {
    const std::size_t first = heap_arity * i + 1;
    if (first >= n)
      break;
    const std::size_t last = std::min(first + heap_arity, n);
    std::size_t best = first;
    for (std::size_t c = first + 1; c < last; ++c)
      if (earlier(heap_[c], heap_[best]))
        best = c;
    if (!earlier(heap_[best], node))
      break;
    heap_[i] = heap_[best];
    heap_[i].entry->heap_index = i;
    i = best;
  }
  heap_[i] = node;
  node.entry->heap_index = i;
}

void timer_service::heap_push(entry* e) {
  // The caller made room beforehand, so this never allocates.
  heap_.push_back(heap_node{e->deadline, e->seq, e});
  sift_up(heap_.size() - 1, heap_.back());
}

void timer_service::heap_remove(std::size_t i) {
  const heap_node last = heap_.back();
  heap_.pop_back();
  if (i == heap_.size())
    return;
  if (i > 0 && earlier(last, heap_[(i - 1) / heap_arity]))
    sift_up(i, last);
  else
    sift_down(i, last);
}

// --- scheduling ----------------------------------------------------------

std::uint64_t timer_service::schedule(cell* target, std::uint32_t kind, std::uint64_t tag,
                                      double delay_s, double interval_s, bool fixed_rate,
                                      bool system_queue) {
  if (target == nullptr)
    throw invalid_argument_error("a timer needs a target cell");
  if (std::isnan(delay_s) || delay_s < 0.0)
    throw invalid_argument_error("timer delay must be a non-negative number of seconds, got " +
                                 std::to_string(delay_s));
  if (std::isnan(interval_s))
    throw invalid_argument_error("timer interval must be a number of seconds, not NaN");

  auto owned = std::make_unique<entry>();
  entry* e = owned.get();
  e->target = target;
  e->kind = kind;
  e->tag = tag;
  e->fixed_rate = fixed_rate;
  e->system_queue = system_queue;
  e->interval = interval_s > 0.0 ? std::max<std::int64_t>(1, to_ns(interval_s)) : 0;
  const std::int64_t delay = to_ns(delay_s);

  bool new_earliest = false;
  std::uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_)
      throw error("timer_service has been shut down");
    // Everything that can throw comes before the first change of state.
    // Every entry is in the heap or being fired, so a heap as large as the
    // entry count never reallocates when a fired timer is put back.
    if (heap_.capacity() < entries_.size() + 1)
      heap_.reserve(std::max<std::size_t>(16, 2 * (entries_.size() + 1)));
    if (mode_ == clock_mode::real && !worker_.joinable())
      worker_ = std::thread([this] { run_worker(); });
    id = next_id_;
    entries_.emplace(id, std::move(owned));
    ++next_id_;
    e->id = id;
    e->seq = next_seq_++;
    e->deadline = saturating_add(now_ns(), delay);
    e->base = e->deadline;
    target->add_ref();
    heap_push(e);
    new_earliest = heap_.front().entry == e;
  }
  if (new_earliest && mode_ == clock_mode::real)
    wake_cv_.notify_one();
  return id;
}

void timer_service::wait_for_fire(std::unique_lock<std::mutex>& lock, std::uint64_t id) {
  if (firing_id_ == 0 || firing_thread_ == std::this_thread::get_id())
    return;
  ++cancel_waiters_;
  fire_done_cv_.wait(lock, [&] { return id == 0 ? firing_id_ == 0 : firing_id_ != id; });
  --cancel_waiters_;
}

bool timer_service::cancel(std::uint64_t id) {
  cell* released = nullptr;
  bool cancelled = false;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end())
      return false;
    entry* e = it->second.get();
    switch (e->st) {
    case entry::state::pending:
      heap_remove(e->heap_index);
      released = retire(e);
      cancelled = true;
      break;
    case entry::state::firing:
      // A periodic timer stays pending beyond this fire: cancel its future.
      // A one-shot timer is being delivered: too late to cancel it.
      if (e->interval > 0) {
        e->st = entry::state::cancelled;
        cancelled = true;
      }
      wait_for_fire(lock, id);
      break;
    case entry::state::cancelled:
      wait_for_fire(lock, id);
      break;
    }
  }
  if (released != nullptr)
    released->release();
  return cancelled;
}

cell* timer_service::retire(entry* e) {
  cell* target = e->target;
  entries_.erase(e->id); // frees e
  return target;
}

void timer_service::shutdown() {
  std::vector<std::unique_ptr<entry>> doomed;
  std::thread worker;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (firing_id_ != 0 && firing_thread_ == std::this_thread::get_id())
      throw error("timer_service::shutdown() called from a timer fire");
    stopping_ = true; // no fire starts from now on
    wait_for_fire(lock, 0);
    doomed.reserve(entries_.size());
    for (auto& kv : entries_)
      doomed.push_back(std::move(kv.second));
    entries_.clear();
    heap_.clear();
    worker = std::move(worker_);
  }
  wake_cv_.notify_all();
  if (worker.joinable())
    worker.join();
  for (auto& e : doomed)
    e->target->release();
}

// --- firing ------------------------------------------------------------------

entry* timer_service::claim_due(std::int64_t now) {
  if (stopping_ || heap_.empty() || heap_.front().deadline > now)
    return nullptr;
  entry* e = heap_.front().entry;
  heap_remove(0);
  e->st = entry::state::firing;
  firing_id_ = e->id;
  firing_thread_ = std::this_thread::get_id();
  firing_one_shot_ = e->interval == 0;
  return e;
}

bool timer_service::fire(std::unique_lock<std::mutex>& lock, entry* e, std::int64_t fire_time) {
  lock.unlock();
  // The entry is ours until firing_id_ is cleared: nobody frees it or
  // touches the fields read here.
  enqueue_result result = enqueue_result::rejected;
  try {
    envelope env;
    env.kind = e->kind;
    env.tag = e->tag;
    result = e->system_queue ? e->target->send_system(env) : e->target->tell(env);
    if (result == enqueue_result::accepted_wake || result == enqueue_result::accepted_wake_evicted)
      e->target->dispatcher().wake();
    // A bounded mailbox evicted a queued message for this one: it is a dead
    // letter (published, so its payload is released where the sink's
    // handler says, never dropped here on the timer thread).
    if (result == enqueue_result::accepted_evicted ||
        result == enqueue_result::accepted_wake_evicted)
      e->target->publish_dead_letter(env, dead_letter_reason::evicted);
  } catch (...) {
    // Out of memory in the mailbox: the timer cannot go on; retire it below.
    result = enqueue_result::rejected;
  }
  lock.lock();

  firing_id_ = 0;
  firing_thread_ = std::thread::id();
  firing_one_shot_ = false;
  const bool delivered = result != enqueue_result::rejected;
  if (delivered)
    fired_.fetch_add(1, std::memory_order_relaxed);

  cell* released = nullptr;
  if (!delivered || e->interval == 0 || e->st == entry::state::cancelled || stopping_) {
    released = retire(e);
  } else {
    if (e->fixed_rate) {
      // The next slot strictly after this fire; if the timer fell behind,
      // the missed slots are skipped rather than fired in a burst.
      std::int64_t k = e->periods + 1;
      std::int64_t next = slot(e->base, k, e->interval);
      if (next <= fire_time && next < max_ns) {
        k = (fire_time - e->base) / e->interval + 1;
        next = slot(e->base, k, e->interval);
      }
      e->periods = k;
      e->deadline = next;
    } else {
      e->deadline = saturating_add(fire_time, e->interval);
    }
    e->st = entry::state::pending;
    heap_push(e); // capacity >= entries_.size(): no allocation
  }
  if (cancel_waiters_ > 0)
    fire_done_cv_.notify_all();
  if (released != nullptr) {
    lock.unlock();
    released->release();
    lock.lock();
  }
  return delivered;
}

void timer_service::run_worker() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (heap_.empty()) {
      wake_cv_.wait(lock);
      continue;
    }
    const std::int64_t now = now_ns();
    entry* e = claim_due(now);
    if (e == nullptr) {
      const auto deadline = origin_ + std::chrono::nanoseconds(heap_.front().deadline);
      wake_cv_.wait_until(lock, deadline);
      continue;
    }
    fire(lock, e, now);
  }
}

std::size_t timer_service::advance(double seconds) {
  if (mode_ != clock_mode::manual)
    throw error("timer_service::advance() needs clock_mode::manual");
  if (std::isnan(seconds) || seconds < 0.0)
    throw invalid_argument_error("cannot advance virtual time by a negative or NaN duration");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (firing_id_ != 0 && firing_thread_ == std::this_thread::get_id())
      throw error("timer_service::advance() called from a timer fire");
  }
  std::lock_guard<std::mutex> serial(advance_mutex_);
  std::unique_lock<std::mutex> lock(mutex_);
  const std::int64_t target =
      saturating_add(virtual_now_.load(std::memory_order_relaxed), to_ns(seconds));
  std::size_t fires = 0;
  while (entry* e = claim_due(target)) {
    if (e->deadline > virtual_now_.load(std::memory_order_relaxed))
      virtual_now_.store(e->deadline, std::memory_order_release);
    if (fire(lock, e, e->deadline))
      ++fires;
  }
  if (target > virtual_now_.load(std::memory_order_relaxed))
    virtual_now_.store(target, std::memory_order_release);
  return fires;
}

} // namespace atomr::core
