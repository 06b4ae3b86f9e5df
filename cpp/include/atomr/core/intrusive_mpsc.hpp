#pragma once

#include <atomic>

namespace atomr::core::internal {

/// The link an element of an `intrusive_mpsc` carries. An element may be in
/// at most one such queue at a time, and at most once.
struct mpsc_link {
  std::atomic<mpsc_link*> mpsc_next{nullptr};
};

/// Unbounded multi-producer, single-consumer queue of elements that carry
/// their own link (Vyukov's intrusive design): `push` and `pop` never
/// allocate. The dispatcher's ready queue uses it: a cell is queued only
/// while it is `scheduled`, so never twice.
class intrusive_mpsc {
public:
  intrusive_mpsc()
    : head_(&stub_)
    , tail_(&stub_) {
  }

  intrusive_mpsc(const intrusive_mpsc&) = delete;
  intrusive_mpsc& operator=(const intrusive_mpsc&) = delete;

  /// @threadsafe Appends `n`, which must not be queued already.
  void push(mpsc_link* n) noexcept {
    n->mpsc_next.store(nullptr, std::memory_order_relaxed);
    mpsc_link* prev = head_.exchange(n, std::memory_order_acq_rel);
    prev->mpsc_next.store(n, std::memory_order_release);
  }

  /// Only the consumer. The oldest element, or nullptr when the queue is
  /// empty (or a producer is between its two steps; it is then about to
  /// make the element visible).
  mpsc_link* pop() noexcept {
    mpsc_link* tail = tail_;
    mpsc_link* next = tail->mpsc_next.load(std::memory_order_acquire);
    if (tail == &stub_) {
      if (next == nullptr)
        return nullptr;
      tail_ = next;
      tail = next;
      next = next->mpsc_next.load(std::memory_order_acquire);
    }
    if (next != nullptr) {
      tail_ = next;
      return tail;
    }
    if (tail != head_.load(std::memory_order_acquire))
      return nullptr; // a producer is linking behind `tail`
    push(&stub_);
    next = tail->mpsc_next.load(std::memory_order_acquire);
    if (next != nullptr) {
      tail_ = next;
      return tail;
    }
    return nullptr;
  }

  /// Only the consumer. True when an element is ready to pop (or about to be).
  bool has_next() const noexcept {
    return tail_ != &stub_ || stub_.mpsc_next.load(std::memory_order_acquire) != nullptr;
  }

private:
  alignas(64) std::atomic<mpsc_link*> head_;
  alignas(64) mpsc_link* tail_;
  mpsc_link stub_;
};

} // namespace atomr::core::internal
