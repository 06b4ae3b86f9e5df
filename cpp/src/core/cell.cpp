#include "atomr/core/cell.hpp"

#include "atomr/core/dispatcher.hpp"

#include <utility>

namespace atomr::core {

namespace {

std::atomic<std::uint64_t> next_uid{1};

} // namespace

cell::cell(pinned_dispatcher& dispatcher, std::string path, dead_letter_sink& dead_letters)
  : dispatcher_(dispatcher)
  , stats_(dispatcher.stats())
  , dead_letters_(dead_letters)
  , path_(std::move(path))
  , uid_(next_uid.fetch_add(1, std::memory_order_relaxed)) {
}

enqueue_result cell::tell(envelope& e) {
  if (state_.load(std::memory_order_acquire) == cell_state::stopped)
    return enqueue_result::rejected;
  std::int64_t depth = 0;
  const offer_result offered = mailbox_.offer_user(e, depth);
  if (offered == offer_result::full)
    return enqueue_result::full;
  stats_.enqueued_remote();
  stats_.note_depth(depth);
  if (offered == offer_result::queued)
    return after_push(true);
  enqueue_result r = after_push(true);
  return r == enqueue_result::accepted_wake ? enqueue_result::accepted_wake_evicted
                                            : enqueue_result::accepted_evicted;
}

enqueue_result cell::tell_local(envelope& e) {
  if (state_.load(std::memory_order_relaxed) == cell_state::stopped)
    return enqueue_result::rejected;
  std::int64_t depth = 0;
  const offer_result offered = mailbox_.offer_user(e, depth);
  if (offered == offer_result::full)
    return enqueue_result::full;
  stats_.enqueued_local();
  stats_.note_depth(depth);
  if (offered == offer_result::queued)
    return after_push(true, true);
  enqueue_result r = after_push(true, true);
  return r == enqueue_result::accepted_wake ? enqueue_result::accepted_wake_evicted
                                            : enqueue_result::accepted_evicted;
}

enqueue_result cell::send_system(envelope& e) {
  if (state_.load(std::memory_order_acquire) == cell_state::stopped)
    return enqueue_result::rejected;
  mailbox_.push_system(std::move(e));
  return after_push(false);
}

enqueue_result cell::after_push(bool user, bool local) {
  // The message is linked; whoever moves the cell out of idle schedules it.
  // User mail to a cell whose user mail is suspended waits for the resume
  // (a stale read here only costs one empty turn).
  // Store-load ordering against end_turn()/stop(): our link must be visible
  // before we read the state, or a turn ending now could miss the message.
  // (On the owning thread, `local`, program order already gives that.)
  if (!local)
    std::atomic_thread_fence(std::memory_order_seq_cst);
  cell_state s = state_.load(std::memory_order_seq_cst);
  if (s == cell_state::idle && !(user && user_suspended_.load(std::memory_order_seq_cst))) {
    if (state_.compare_exchange_strong(s, cell_state::scheduled, std::memory_order_seq_cst)) {
      bool wake = local ? dispatcher_.schedule_local(this) : dispatcher_.schedule(this);
      return wake ? enqueue_result::accepted_wake : enqueue_result::accepted;
    }
  }
  if (s == cell_state::stopped)
    drain_to_dead_letters();
  return enqueue_result::accepted;
}

bool cell::has_work() const {
  if (mailbox_.has_system_messages())
    return true;
  if (user_suspended_.load(std::memory_order_seq_cst))
    return false;
  return (front_ && !front_->empty()) || mailbox_.has_messages();
}

void cell::end_turn() {
  // One full barrier (the fence) orders this store before the mailbox
  // check below; it pairs with the fence in after_push().
  state_.store(cell_state::idle, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!has_work())
    return;
  cell_state expected = cell_state::idle;
  if (state_.compare_exchange_strong(expected, cell_state::scheduled, std::memory_order_seq_cst))
    dispatcher_.schedule(this);
}

bool cell::resume() {
  state_.store(cell_state::scheduled, std::memory_order_seq_cst);
  return dispatcher_.schedule(this);
}

void cell::stop() {
  while (front_ && !front_->empty()) {
    envelope e = std::move(front_->front());
    front_->pop_front();
    dead_letters_.publish(e, path_, dead_letter_reason::dropped);
  }
  state_.store(cell_state::stopped, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst); // pairs with after_push()
  drain_to_dead_letters();
}

void cell::drain_to_dead_letters() {
  // After the stop, exactly one thread at a time consumes the mailbox: the
  // one that moved `drain_requests_` off zero. Every other caller only adds
  // a request, which the draining thread notices when it tries to leave and
  // answers with another pass.
  if (drain_requests_.fetch_add(1, std::memory_order_acq_rel) != 0)
    return;
  std::uint32_t mine = 1;
  for (;;) {
    envelope e;
    while (mailbox_.pop(e))
      dead_letters_.publish(e, path_, dead_letter_reason::dropped);
    std::uint32_t before = drain_requests_.fetch_sub(mine, std::memory_order_acq_rel);
    if (before == mine)
      return;
    mine = before - mine;
  }
}

} // namespace atomr::core
