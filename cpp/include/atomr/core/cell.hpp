#pragma once

#include "atomr/core/dead_letters.hpp"
#include "atomr/core/envelope.hpp"
#include "atomr/core/intrusive_mpsc.hpp"
#include "atomr/core/mailbox.hpp"
#include "atomr/core/stats.hpp"

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

namespace atomr::core {

class pinned_dispatcher;

/// Where an actor cell stands in its life.
///
///   idle --(first mail)--> scheduled --(dispatcher picks it)--> running
///   running --(turn ends, mailbox empty)--> idle
///   running --(turn ends, mail left)--> scheduled
///   running --(handler awaits)--> suspended --(handler done)--> scheduled
///   any --(stop)--> stopped (final)
enum class cell_state : std::uint8_t { idle, scheduled, running, suspended, stopped };

/// Outcome of handing mail to a cell.
enum class enqueue_result : std::uint8_t {
  accepted,              ///< queued; the dispatcher is awake or already has the cell
  accepted_wake,         ///< queued and the cell was scheduled on a sleeping dispatcher: wake it
  rejected,              ///< the cell has stopped; the envelope is left with the caller
  full,                  ///< a bounded mailbox refused it (drop_new / fail); left with the caller
  accepted_evicted,      ///< queued; the envelope handed in now holds an evicted message
  accepted_wake_evicted, ///< both of the above, and the dispatcher must be woken
};

/// The native half of an actor: mailbox, state machine and the hook back to
/// whoever runs its handlers (`user_data`, the Python cell in production).
///
/// A cell is reference counted: its owner holds one reference and the ready
/// queue holds one while the cell is scheduled. It links itself into the
/// ready queue (no allocation per scheduling).
class cell : private internal::mpsc_link {
  friend class pinned_dispatcher;

public:
  cell(pinned_dispatcher& dispatcher, std::string path, dead_letter_sink& dead_letters);

  cell(const cell&) = delete;
  cell& operator=(const cell&) = delete;

  /// @threadsafe
  void add_ref() noexcept {
    refs_.fetch_add(1, std::memory_order_relaxed);
  }

  /// @threadsafe Drops a reference; the last one deletes the cell.
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      delete this;
  }

  /// @threadsafe Queues a user message. On `rejected` and `full`, `e` is
  /// untouched; on `accepted*_evicted` it holds the message a bounded
  /// mailbox evicted (for the caller's dead letters).
  enqueue_result tell(envelope& e);

  /// Only the owning dispatcher's thread: `tell` without the store-load
  /// fences that order a producer thread against the consumer thread (here
  /// they are the same thread, so program order suffices).
  enqueue_result tell_local(envelope& e);

  /// @threadsafe Publishes `e` (moved out) as a dead letter addressed to
  /// this cell, e.g. the message a bounded mailbox evicted for a sender that
  /// has no dead-letter route of its own.
  void publish_dead_letter(envelope& e, dead_letter_reason reason) {
    dead_letters_.publish(e, path_, reason);
  }

  /// Only before any mail arrives: bounds the user mailbox.
  void make_bounded(std::size_t capacity, overflow_strategy strategy) {
    mailbox_.make_bounded(capacity, strategy);
  }

  /// @threadsafe Queues a system message. On `rejected`, `e` is untouched.
  enqueue_result send_system(envelope& e);

  /// The turn methods below (begin_turn, end_turn, suspend, resume) must not
  /// be called once `stop()` has run: stopped is final.

  /// Only the owning dispatcher: scheduled -> running.
  void begin_turn() noexcept {
    state_.store(cell_state::running, std::memory_order_relaxed);
  }

  /// Only the owning dispatcher, while running: the next envelope, system first.
  bool pop(envelope& out) {
    return mailbox_.pop(out);
  }

  /// Only the owning dispatcher, while running: the next system envelope.
  bool pop_system(envelope& out) {
    return mailbox_.pop_system(out);
  }

  /// Only the owning dispatcher: running -> idle, rescheduling the cell if
  /// mail arrived meanwhile.
  void end_turn();

  /// Only the owning dispatcher. While user mail is suspended (an actor that
  /// failed and waits for its supervisor), only system messages schedule
  /// the cell and only system messages are popped.
  void suspend_user_mail() noexcept {
    user_suspended_.store(true, std::memory_order_seq_cst);
  }

  /// Only the owning dispatcher, during a turn: user mail flows again.
  void resume_user_mail() noexcept {
    user_suspended_.store(false, std::memory_order_seq_cst);
  }

  /// @threadsafe
  bool user_mail_suspended() const noexcept {
    return user_suspended_.load(std::memory_order_acquire);
  }

  /// Only the owning dispatcher, while running: the next envelope the cell
  /// may handle now (system first; user mail only when not suspended).
  bool next(envelope& out) {
    if (mailbox_.pop_system(out))
      return true;
    if (user_suspended_.load(std::memory_order_relaxed))
      return false;
    if (front_ && !front_->empty()) {
      out = std::move(front_->front());
      front_->pop_front();
      return true;
    }
    if (!mailbox_.pop_user(out))
      return false;
    stats_.processed();
    return true;
  }

  /// Only the owning dispatcher: puts `e` ahead of every queued user message
  /// (a stash being replayed). Moves out of `e`.
  void push_front_user(envelope& e) {
    if (!front_)
      front_ = std::make_unique<std::deque<envelope>>();
    front_->push_front(std::move(e));
  }

  /// Only the owning dispatcher: user messages put back with push_front_user.
  std::size_t front_size() const noexcept {
    return front_ ? front_->size() : 0;
  }

  /// Only the owning dispatcher: running -> suspended (a handler is in flight).
  void suspend() noexcept {
    state_.store(cell_state::suspended, std::memory_order_seq_cst);
  }

  /// Only the owning dispatcher's thread: suspended -> scheduled.
  /// Returns true when the dispatcher sleeps and must be woken.
  bool resume();

  /// Only the owning dispatcher's thread: -> stopped. Every envelope left in
  /// the mailbox, and any that arrives later, goes to the dead-letter sink.
  void stop();

  /// @threadsafe
  cell_state state() const noexcept {
    return state_.load(std::memory_order_acquire);
  }

  /// @threadsafe
  bool is_stopped() const noexcept {
    return state() == cell_state::stopped;
  }

  /// @threadsafe Approximate number of user messages waiting.
  std::int64_t queued() const noexcept {
    return mailbox_.user_count();
  }

  /// @threadsafe
  const std::string& path() const noexcept {
    return path_;
  }

  /// @threadsafe A number unique to this incarnation within the process.
  std::uint64_t uid() const noexcept {
    return uid_;
  }

  pinned_dispatcher& dispatcher() const noexcept {
    return dispatcher_;
  }

  /// Owner's hook; read and written only on the owning dispatcher's thread.
  void* user_data = nullptr;

private:
  ~cell() = default;

  enqueue_result after_push(bool user, bool local = false);
  bool has_work() const;
  void drain_to_dead_letters();

  mailbox mailbox_;
  // Replayed stash, allocated on first use; only the owning dispatcher.
  std::unique_ptr<std::deque<envelope>> front_;
  std::atomic<cell_state> state_{cell_state::idle};
  std::atomic<int> refs_{1};
  std::atomic<std::uint32_t> drain_requests_{0};
  std::atomic<bool> user_suspended_{false};
  pinned_dispatcher& dispatcher_;
  dispatcher_stats& stats_; // the dispatcher's
  dead_letter_sink& dead_letters_;
  std::string path_;
  std::uint64_t uid_;
};

} // namespace atomr::core
