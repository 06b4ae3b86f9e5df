#pragma once

#include <atomic>
#include <cstddef>
#include <new>
#include <utility>

namespace atomr::core::internal {

/// Unbounded multi-producer, single-consumer queue (Vyukov's intrusive
/// design with a stub node).
///
/// `push` is wait-free: one atomic exchange and one release store. `try_pop`
/// is lock-free and may report "empty" while a producer is between its two
/// steps; the producer will then schedule the consumer itself after linking
/// (see `cell::after_push`), so nothing is lost.
template <class T> class mpsc_queue {
  struct node {
    std::atomic<node*> next{nullptr};
    T value{};
  };

public:
  mpsc_queue()
    : head_(new node)
    , tail_(head_.load(std::memory_order_relaxed)) {
  }

  mpsc_queue(const mpsc_queue&) = delete;
  mpsc_queue& operator=(const mpsc_queue&) = delete;

  /// Destroys any values still queued. Only once no producer can push.
  ~mpsc_queue() {
    T sink;
    while (try_pop(sink)) {
    }
    delete tail_;
  }

  /// @threadsafe Appends `value`.
  void push(T&& value) {
    node* n = new node;
    n->value = std::move(value);
    node* prev = head_.exchange(n, std::memory_order_acq_rel);
    prev->next.store(n, std::memory_order_release);
  }

  /// Only the consumer. Moves the oldest value into `out`; false when empty.
  bool try_pop(T& out) {
    node* tail = tail_;
    node* next = tail->next.load(std::memory_order_acquire);
    if (next == nullptr)
      return false;
    out = std::move(next->value);
    tail_ = next;
    delete tail;
    return true;
  }

  /// Only the consumer. True when a value is linked and ready to pop.
  bool has_next() const {
    return tail_->next.load(std::memory_order_acquire) != nullptr;
  }

private:
  alignas(64) std::atomic<node*> head_;
  alignas(64) node* tail_;
};

} // namespace atomr::core::internal
