#pragma once

#include "atomr/core/envelope.hpp"
#include "atomr/core/mpsc_queue.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

namespace atomr::core {

/// What a full bounded mailbox does with one more user message.
enum class overflow_strategy : std::uint8_t {
  drop_new,  ///< refuse the new message
  drop_head, ///< evict the oldest queued message, queue the new one
  drop_tail, ///< evict the newest queued message, queue the new one
  fail,      ///< refuse the new message; the sender is told with an error
};

/// Outcome of offering a user message to a mailbox.
enum class offer_result : std::uint8_t {
  queued,         ///< queued
  queued_evicted, ///< queued; the envelope handed in now holds the evicted one
  full,           ///< refused (drop_new / fail); the envelope is untouched
};

/// A bounded user queue (opt-in per actor). Producers and the consumer
/// share a mutex: bounded mailboxes trade the lock-free path for exact
/// capacity and overflow semantics.
class bounded_queue {
public:
  bounded_queue(std::size_t capacity, overflow_strategy strategy)
    : capacity_(capacity == 0 ? 1 : capacity)
    , strategy_(strategy) {
  }

  /// @threadsafe `depth` is set to the queue's length after a queued offer.
  offer_result offer(envelope& e, std::int64_t& depth) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.size() < capacity_) {
      queue_.push_back(std::move(e));
      depth = static_cast<std::int64_t>(queue_.size());
      return offer_result::queued;
    }
    envelope evicted;
    switch (strategy_) {
    case overflow_strategy::drop_head:
      evicted = std::move(queue_.front());
      queue_.pop_front();
      break;
    case overflow_strategy::drop_tail:
      evicted = std::move(queue_.back());
      queue_.pop_back();
      break;
    case overflow_strategy::drop_new:
    case overflow_strategy::fail:
      return offer_result::full;
    }
    queue_.push_back(std::move(e));
    e = std::move(evicted);
    depth = static_cast<std::int64_t>(queue_.size());
    return offer_result::queued_evicted;
  }

  /// @threadsafe
  offer_result offer(envelope& e) {
    std::int64_t depth = 0;
    return offer(e, depth);
  }

  /// Only the consumer.
  bool pop(envelope& out) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.empty())
      return false;
    out = std::move(queue_.front());
    queue_.pop_front();
    return true;
  }

  /// @threadsafe
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return queue_.size();
  }

  std::size_t capacity() const noexcept {
    return capacity_;
  }

  overflow_strategy strategy() const noexcept {
    return strategy_;
  }

private:
  mutable std::mutex mutex_;
  std::deque<envelope> queue_;
  std::size_t capacity_;
  overflow_strategy strategy_;
};

/// An actor's mail: a queue of system messages that overtakes a queue of
/// user messages. Both are MPSC; the owning dispatcher is the consumer.
/// The user queue may be made bounded (before any mail arrives).
class mailbox {
public:
  /// Only before the mailbox is used: bounds the user queue.
  void make_bounded(std::size_t capacity, overflow_strategy strategy) {
    bounded_ = std::make_unique<bounded_queue>(capacity, strategy);
  }

  /// @threadsafe The bounded user queue, or nullptr.
  const bounded_queue* bounded() const noexcept {
    return bounded_.get();
  }

  /// @threadsafe Offers a user message (bounded or not). After a queued
  /// offer `depth` holds the (approximate) number of queued user messages.
  offer_result offer_user(envelope& e, std::int64_t& depth) {
    if (bounded_)
      return bounded_->offer(e, depth);
    depth = push_user(std::move(e));
    return offer_result::queued;
  }

  /// @threadsafe Offers a user message (bounded or not).
  offer_result offer_user(envelope& e) {
    std::int64_t depth = 0;
    return offer_user(e, depth);
  }

  /// @threadsafe Appends a user message; returns the approximate number
  /// of queued user messages with it.
  std::int64_t push_user(envelope&& e) {
    const std::int64_t depth = user_count_.fetch_add(1, std::memory_order_relaxed) + 1;
    user_.push(std::move(e));
    return depth;
  }

  /// @threadsafe Appends a system message; it is popped before any user mail.
  void push_system(envelope&& e) {
    system_.push(std::move(e));
  }

  /// Only the owning dispatcher. Pops the next system message, else the
  /// next user message.
  bool pop(envelope& out) {
    if (system_.try_pop(out))
      return true;
    return pop_user(out);
  }

  /// Only the owning dispatcher. Pops a system message only.
  bool pop_system(envelope& out) {
    return system_.try_pop(out);
  }

  /// Only the owning dispatcher. Pops a user message only.
  bool pop_user(envelope& out) {
    if (bounded_)
      return bounded_->pop(out);
    if (!user_.try_pop(out))
      return false;
    user_count_.fetch_sub(1, std::memory_order_relaxed);
    return true;
  }

  /// Only the owning dispatcher.
  bool has_messages() const {
    return system_.has_next() || user_.has_next() || (bounded_ && bounded_->size() != 0);
  }

  /// Only the owning dispatcher.
  bool has_system_messages() const {
    return system_.has_next();
  }

  /// @threadsafe Approximate number of queued user messages.
  std::int64_t user_count() const {
    if (bounded_)
      return static_cast<std::int64_t>(bounded_->size());
    return user_count_.load(std::memory_order_relaxed);
  }

private:
  internal::mpsc_queue<envelope> system_;
  internal::mpsc_queue<envelope> user_;
  std::unique_ptr<bounded_queue> bounded_;
  alignas(64) std::atomic<std::int64_t> user_count_{0};
};

} // namespace atomr::core
