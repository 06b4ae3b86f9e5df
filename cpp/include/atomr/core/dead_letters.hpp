#pragma once

#include "atomr/core/envelope.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

namespace atomr::core {

/// Why a message became a dead letter.
enum class dead_letter_reason : int {
  no_recipient = 0, ///< the recipient had stopped, or never existed
  dropped = 1,      ///< left in a mailbox when its actor stopped
  rejected = 2,     ///< refused by a full bounded mailbox
  evicted = 3,      ///< evicted from a full bounded mailbox by newer mail
};

/// Where undeliverable mail goes. Counts every letter and hands it to an
/// optional handler (the Python bridge logs it and publishes it).
class dead_letter_sink {
public:
  /// Called with the letter, the intended recipient's path and the reason.
  /// The handler owns the envelope for the duration of the call.
  using handler_fn = void (*)(void* ctx, envelope& letter, const std::string& recipient,
                              dead_letter_reason reason);

  /// @threadsafe Installs (or, with nullptr, removes) the handler.
  void set_handler(handler_fn fn, void* ctx) {
    std::lock_guard<std::mutex> lock(mutex_);
    handler_ = fn;
    ctx_ = ctx;
  }

  /// @threadsafe Records a dead letter, moving it out of `letter`. It is released here,
  /// after the handler ran (so a Python payload must be published under
  /// the GIL).
  void publish(envelope& letter, const std::string& recipient, dead_letter_reason reason) {
    count_.fetch_add(1, std::memory_order_relaxed);
    const auto r = static_cast<std::size_t>(reason);
    if (r < by_reason_.size())
      by_reason_[r].fetch_add(1, std::memory_order_relaxed);
    handler_fn fn;
    void* ctx;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fn = handler_;
      ctx = ctx_;
    }
    envelope local = std::move(letter);
    if (fn != nullptr)
      fn(ctx, local, recipient, reason);
  }

  /// @threadsafe Total dead letters recorded so far.
  std::uint64_t count() const {
    return count_.load(std::memory_order_relaxed);
  }

  /// @threadsafe Dead letters recorded so far for `reason`.
  std::uint64_t count(dead_letter_reason reason) const {
    const auto r = static_cast<std::size_t>(reason);
    return r < by_reason_.size() ? by_reason_[r].load(std::memory_order_relaxed) : 0;
  }

private:
  std::atomic<std::uint64_t> count_{0};
  std::array<std::atomic<std::uint64_t>, 4> by_reason_{};
  std::mutex mutex_;
  handler_fn handler_ = nullptr;
  void* ctx_ = nullptr;
};

} // namespace atomr::core
