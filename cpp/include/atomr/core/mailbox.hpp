#pragma once

#include <atomic>
#include <cstdint>

#include "atomr/core/envelope.hpp"
#include "atomr/core/mpsc_queue.hpp"

namespace atomr {

/// An actor's mail: a queue of system messages that overtakes a queue of
/// user messages. Both are MPSC; the owning dispatcher is the consumer.
class mailbox {
public:
  /// @threadsafe Appends a user message.
  void push_user(envelope&& e) {
    user_count_.fetch_add(1, std::memory_order_relaxed);
    user_.push(std::move(e));
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
    if (!user_.try_pop(out))
      return false;
    user_count_.fetch_sub(1, std::memory_order_relaxed);
    return true;
  }

  /// Only the owning dispatcher.
  bool has_messages() const {
    return system_.has_next() || user_.has_next();
  }

  /// Only the owning dispatcher.
  bool has_system_messages() const {
    return system_.has_next();
  }

  /// @threadsafe Approximate number of queued user messages.
  std::int64_t user_count() const {
    return user_count_.load(std::memory_order_relaxed);
  }

private:
  mpsc_queue<envelope> system_;
  mpsc_queue<envelope> user_;
  alignas(64) std::atomic<std::int64_t> user_count_{0};
};

} // namespace atomr
