#include "atomr/remote/inbound_queue.hpp"

#include "atomr/remote/error.hpp"

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <sys/eventfd.h>
#include <unistd.h>
#include <utility>

namespace atomr::remote {

inbound_queue::inbound_queue()
  : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) {
    throw error(std::string("cannot create an eventfd: ") + std::strerror(errno));
  }
}

inbound_queue::~inbound_queue() {
  ::close(fd_);
}

void inbound_queue::push(inbound_item&& item) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    was_empty = items_.empty();
    items_.push_back(std::move(item));
  }
  if (was_empty) {
    std::uint64_t one = 1;
    // A full counter (never reached) or EAGAIN still leaves the fd readable.
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
  }
}

bool inbound_queue::full() const {
  const std::size_t limit = limit_.load(std::memory_order_relaxed);
  if (limit == 0)
    return false;
  std::lock_guard<std::mutex> lock(mutex_);
  return items_.size() >= limit;
}

std::size_t inbound_queue::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return items_.size();
}

std::vector<inbound_item> inbound_queue::drain() {
  std::uint64_t count = 0;
  [[maybe_unused]] auto n = ::read(fd_, &count, sizeof count);
  std::vector<inbound_item> out;
  std::lock_guard<std::mutex> lock(mutex_);
  out.swap(items_);
  return out;
}

bool answer_slot::fulfil(inbound_envelope&& in) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (state_ != state_t::waiting)
      return false;
    answer_ = std::move(in);
    state_ = state_t::answered;
  }
  cv_.notify_all();
  return true;
}

void answer_slot::cancel() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (state_ != state_t::waiting)
      return;
    state_ = state_t::cancelled;
  }
  cv_.notify_all();
}

bool answer_slot::wait(std::int64_t timeout_ns) {
  std::unique_lock<std::mutex> lock(mutex_);
  const auto done = [this] { return state_ != state_t::waiting; };
  if (timeout_ns < 0) {
    cv_.wait(lock, done);
    return true;
  }
  return cv_.wait_for(lock, std::chrono::nanoseconds(timeout_ns), done);
}

bool answer_slot::answered() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_ == state_t::answered;
}

void inbound_queue::expect_answer(std::uint64_t correlation, std::shared_ptr<answer_slot> slot) {
  std::lock_guard<std::mutex> lock(answers_mutex_);
  answers_[correlation] = std::move(slot);
  expected_.store(answers_.size(), std::memory_order_release);
}

void inbound_queue::forget_answer(std::uint64_t correlation) {
  std::lock_guard<std::mutex> lock(answers_mutex_);
  answers_.erase(correlation);
  expected_.store(answers_.size(), std::memory_order_release);
}

bool inbound_queue::take_answer(inbound_envelope& in) {
  if (expected_.load(std::memory_order_acquire) == 0 || !in.env.correlation_id || in.env.sender)
    return false;
  std::shared_ptr<answer_slot> slot;
  {
    std::lock_guard<std::mutex> lock(answers_mutex_);
    auto found = answers_.find(*in.env.correlation_id);
    if (found == answers_.end())
      return false;
    slot = std::move(found->second);
    answers_.erase(found);
    expected_.store(answers_.size(), std::memory_order_release);
  }
  return slot->fulfil(std::move(in));
}

void inbound_queue::set_tap(std::shared_ptr<const inbound_tap> tap) {
  const bool set = tap != nullptr;
  tap_.store(std::move(tap), std::memory_order_release);
  has_tap_.store(set, std::memory_order_release);
}

transport_callbacks queue_callbacks(std::shared_ptr<inbound_queue> queue) {
  transport_callbacks cb;
  cb.on_envelope = [queue](inbound_envelope&& in) {
    if (queue->take_answer(in))
      return;
    if (auto tap = queue->tap(); tap && tap->on_envelope && tap->on_envelope(in))
      return;
    inbound_item item;
    item.kind = inbound_item::kind_t::envelope;
    item.in = std::move(in);
    queue->push(std::move(item));
  };
  cb.on_dropped = [queue](const std::string& to, envelope&& env, drop_reason reason) {
    if (auto tap = queue->tap(); tap && tap->on_dropped && tap->on_dropped(to, env, reason))
      return;
    inbound_item item;
    item.kind = inbound_item::kind_t::dropped;
    item.in.from = to;
    item.in.env = std::move(env);
    item.reason = reason;
    queue->push(std::move(item));
  };
  cb.on_event = [queue](const transport_event& e) {
    if (auto tap = queue->tap(); tap && tap->on_event)
      tap->on_event(e);
    inbound_item item;
    item.kind = inbound_item::kind_t::event;
    item.event = e;
    queue->push(std::move(item));
  };
  cb.inbound_full = [queue] { return queue->full(); };
  return cb;
}

} // namespace atomr::remote
