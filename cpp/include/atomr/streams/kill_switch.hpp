#pragma once

// A kill switch: the shared state behind a unique or shared kill switch. Any
// thread may flip it; the islands it gates read it on every pull.

#include <atomic>

namespace atomr::streams {

/// The state of a kill switch. The first transition out of `running` wins.
class kill_switch {
public:
  enum class state : int { running = 0, shut_down = 1, aborted = 2 };

  /// Completes the gated streams. False when the switch was already flipped.
  /// @threadsafe
  bool shutdown() noexcept {
    return flip(state::shut_down);
  }

  /// Fails the gated streams. False when the switch was already flipped.
  /// @threadsafe
  bool abort() noexcept {
    return flip(state::aborted);
  }

  /// The current state. @threadsafe
  state current() const noexcept {
    return static_cast<state>(state_.load(std::memory_order_acquire));
  }

private:
  bool flip(state to) noexcept {
    int expected = static_cast<int>(state::running);
    return state_.compare_exchange_strong(expected, static_cast<int>(to),
                                          std::memory_order_acq_rel);
  }

  std::atomic<int> state_{static_cast<int>(state::running)};
};

} // namespace atomr::streams
