#pragma once

// Hands what a transport's io thread produces (inbound envelopes, envelopes
// it could not send, transport events) to the thread that owns an actor
// system's event loop, without touching Python: the producing thread queues
// the item and signals an eventfd; the loop watches the fd and drains the
// queue on its own thread.

#include "atomr/remote/tcp_transport.hpp"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace atomr::remote {

/// One thing the transport reported.
struct inbound_item {
  enum class kind_t : std::uint8_t {
    /// An envelope arrived (`in`).
    envelope,
    /// An outbound envelope was dropped: `in.from` is the peer it was for,
    /// `in.env` the envelope, `reason` why.
    dropped,
    /// A transport event (`event`).
    event,
  };
  kind_t kind = kind_t::envelope;
  inbound_envelope in;
  drop_reason reason = drop_reason::queue_full;
  transport_event event{event_kind::associated, {}, 0, {}, {}};
};

/// A consumer served before the queue, on the producing thread (the io
/// thread), e.g. the cluster daemon taking its own envelopes. Installed and
/// replaced at any time (`inbound_queue::set_tap`); each member is optional
/// and must return quickly without throwing.
struct inbound_tap {
  /// Takes an envelope (true) or leaves it to the queue (false).
  std::function<bool(const inbound_envelope&)> on_envelope;
  /// Takes an envelope that could not be sent (true) or leaves it to the queue.
  std::function<bool(const std::string& to, const envelope&, drop_reason)> on_dropped;
  /// Sees each transport event before it is queued.
  std::function<void(const transport_event&)> on_event;
};

/// The answer to one ask that a thread other than the loop's waits for
/// (`ask_blocking`): the io thread hands it over here directly, so neither
/// the queue, the eventfd nor the loop is on the way.
class answer_slot {
public:
  /// Hands the answer over and wakes the waiter; false (nothing taken)
  /// when the slot is already done. @threadsafe
  bool fulfil(inbound_envelope&& in);
  /// Ends the wait without an answer (the ask failed elsewhere). @threadsafe
  void cancel();
  /// Blocks until the slot is done or `timeout_ns` passed (negative: no
  /// limit); true when done. @threadsafe
  bool wait(std::int64_t timeout_ns);
  /// True once `fulfil` took an answer. @threadsafe
  bool answered() const;
  /// The answer (after `answered`), for the waiter to move out.
  inbound_envelope& answer() noexcept {
    return answer_;
  }

private:
  enum class state_t : std::uint8_t { waiting, answered, cancelled };
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  state_t state_ = state_t::waiting;
  inbound_envelope answer_;
};

class inbound_queue {
public:
  /// @throws error no eventfd could be created.
  inbound_queue();
  inbound_queue(const inbound_queue&) = delete;
  inbound_queue& operator=(const inbound_queue&) = delete;
  ~inbound_queue();

  /// The fd that becomes readable when items are queued.
  int fd() const noexcept {
    return fd_;
  }

  /// Queues `item`; signals the fd when the queue was empty. @threadsafe
  void push(inbound_item&& item);

  /// The backlog at which `full` turns true (0: never). @threadsafe
  void set_limit(std::size_t limit) noexcept {
    limit_.store(limit, std::memory_order_relaxed);
  }
  std::size_t limit() const noexcept {
    return limit_.load(std::memory_order_relaxed);
  }
  /// Whether the items queued reached the limit. @threadsafe
  bool full() const;
  /// The items queued now. @threadsafe
  std::size_t size() const;

  /// Every queued item, oldest first; clears the fd's readiness. Only the
  /// thread that watches `fd()` calls it.
  std::vector<inbound_item> drain();

  /// Installs (or, with null, removes) the tap `queue_callbacks` consults
  /// first. A producer already inside the previous tap may finish with it.
  /// @threadsafe
  void set_tap(std::shared_ptr<const inbound_tap> tap);
  /// Routes the answer with `correlation` (an envelope with that
  /// correlation id and no sender) to `slot` instead of the queue, until
  /// `forget_answer`. @threadsafe
  void expect_answer(std::uint64_t correlation, std::shared_ptr<answer_slot> slot);
  /// Undoes `expect_answer`. @threadsafe
  void forget_answer(std::uint64_t correlation);
  /// Hands `in` to the slot expecting it (true), or leaves it (false).
  /// @threadsafe
  bool take_answer(inbound_envelope& in);

  /// The tap installed now (null: none). @threadsafe
  std::shared_ptr<const inbound_tap> tap() const {
    if (!has_tap_.load(std::memory_order_acquire))
      return nullptr;
    return tap_.load(std::memory_order_acquire);
  }

private:
  int fd_ = -1;
  mutable std::mutex mutex_;
  std::vector<inbound_item> items_;
  std::atomic<std::size_t> limit_{0};
  std::atomic<bool> has_tap_{false};
  std::atomic<std::shared_ptr<const inbound_tap>> tap_;
  std::atomic<std::size_t> expected_{0};
  std::mutex answers_mutex_;
  std::unordered_map<std::uint64_t, std::shared_ptr<answer_slot>> answers_;
};

/// Transport callbacks that push everything onto `queue` (kept alive by the
/// callbacks).
transport_callbacks queue_callbacks(std::shared_ptr<inbound_queue> queue);

} // namespace atomr::remote
