#include "atomr/core/cell.hpp"
#include "atomr/core/dispatcher.hpp"
#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <gtest/gtest.h>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using atomr::core::cell;
using atomr::core::cell_state;
using atomr::core::dead_letter_reason;
using atomr::core::dead_letter_sink;
using atomr::core::enqueue_result;
using atomr::core::envelope;
using atomr::core::pinned_dispatcher;
using atomr::core::test::counted_msg;
using atomr::core::test::dead_letter_log;
using atomr::core::test::drain_ready;
using atomr::core::test::int_of;
using atomr::core::test::make_cell;
using atomr::core::test::steady;
using atomr::core::test::system_msg;
using atomr::core::test::user_msg;
using namespace std::chrono_literals;

// A dispatcher, a sink and one cell, with the owner thread marked awake so
// that the return values of tell() only reflect the cell's own state.
struct fixture {
  std::atomic<std::uint64_t> releases{0};
  dead_letter_sink sink;
  pinned_dispatcher d{4};
  atomr::core::test::cell_ptr c;
  explicit fixture(const std::string& path = "akka://t/user/a")
    : c(make_cell(d, sink, path)) {
    d.set_awake();
  }
  ~fixture() {
    drain_ready(d);
  }

  enqueue_result tell(int v) {
    envelope e = user_msg(v);
    return c->tell(e);
  }
  enqueue_result send_system(int v, std::uint32_t kind = 1) {
    envelope e = system_msg(v, kind);
    return c->send_system(e);
  }
  // Takes the cell off the ready queue as the owner would; true if it was there.
  bool take_ready() {
    cell* r = d.pop_ready();
    if (r == nullptr)
      return false;
    EXPECT_EQ(r, c.get());
    r->release();
    return true;
  }
  std::vector<int> pop_all() {
    std::vector<int> out;
    envelope e;
    while (c->pop(e))
      out.push_back(int_of(e.message));
    return out;
  }
};

// --- identity -------------------------------------------------------------------

TEST(Cell, NewCellIsIdleWithItsPathAndNothingQueued) {
  fixture f("akka://sys/user/parent/child");
  EXPECT_EQ(f.c->state(), cell_state::idle);
  EXPECT_FALSE(f.c->is_stopped());
  EXPECT_EQ(f.c->path(), "akka://sys/user/parent/child");
  EXPECT_EQ(f.c->queued(), 0);
  EXPECT_EQ(&f.c->dispatcher(), &f.d);
  EXPECT_EQ(f.c->user_data, nullptr);
  EXPECT_EQ(f.d.pop_ready(), nullptr) << "an idle cell is not scheduled";
}

TEST(Cell, EveryIncarnationGetsADistinctUid) {
  dead_letter_sink sink;
  pinned_dispatcher d;
  std::set<std::uint64_t> uids;
  for (int i = 0; i < 100; ++i) {
    auto c = make_cell(d, sink, "akka://t/user/same-name");
    EXPECT_TRUE(uids.insert(c->uid()).second);
    EXPECT_NE(c->uid(), 0u);
  }
}

// --- idle -> scheduled ----------------------------------------------------------

TEST(Cell, FirstMessageSchedulesAnIdleCellAndWakesASleepingDispatcher) {
  fixture f;
  ASSERT_TRUE(f.d.try_sleep());
  EXPECT_EQ(f.tell(7), enqueue_result::accepted_wake);
  EXPECT_EQ(f.c->state(), cell_state::scheduled);
  EXPECT_FALSE(f.d.sleeping());
  EXPECT_TRUE(f.take_ready());
  EXPECT_FALSE(f.take_ready()) << "scheduled exactly once";
}

TEST(Cell, FirstMessageToAnAwakeDispatcherSchedulesWithoutAskingForAWake) {
  fixture f;
  EXPECT_EQ(f.tell(7), enqueue_result::accepted);
  EXPECT_EQ(f.c->state(), cell_state::scheduled);
  EXPECT_TRUE(f.take_ready());
}

TEST(Cell, FurtherMessagesDoNotScheduleAScheduledCellAgain) {
  fixture f;
  ASSERT_TRUE(f.d.try_sleep());
  EXPECT_EQ(f.tell(1), enqueue_result::accepted_wake);
  EXPECT_FALSE(f.d.sleeping());
  EXPECT_EQ(f.tell(2), enqueue_result::accepted);
  EXPECT_EQ(f.send_system(3), enqueue_result::accepted);
  EXPECT_EQ(f.c->state(), cell_state::scheduled);
  EXPECT_TRUE(f.take_ready());
  EXPECT_FALSE(f.take_ready());
  EXPECT_EQ(f.c->queued(), 2);
}

TEST(Cell, SystemMessageAlsoSchedulesAnIdleCell) {
  fixture f;
  ASSERT_TRUE(f.d.try_sleep());
  EXPECT_EQ(f.send_system(1), enqueue_result::accepted_wake);
  EXPECT_EQ(f.c->state(), cell_state::scheduled);
  EXPECT_EQ(f.c->queued(), 0) << "queued() counts user mail only";
  EXPECT_TRUE(f.take_ready());
}

TEST(Cell, TellMovesTheEnvelopeIntoTheMailbox) {
  fixture f;
  envelope e = counted_msg(5, f.releases);
  e.sender = atomr::core::test::make_counted(6, f.releases);
  e.reply = atomr::core::test::make_counted(7, f.releases);
  ASSERT_EQ(f.c->tell(e), enqueue_result::accepted);
  EXPECT_FALSE(e.message);
  EXPECT_FALSE(e.sender);
  EXPECT_FALSE(e.reply);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  envelope out;
  ASSERT_TRUE(f.c->pop(out));
  EXPECT_EQ(atomr::core::test::counted_of(out.message), 5u);
  EXPECT_EQ(atomr::core::test::counted_of(out.sender), 6u);
  EXPECT_EQ(atomr::core::test::counted_of(out.reply), 7u);
  EXPECT_EQ(f.releases.load(), 0u);
}

// --- running ------------------------------------------------------------------------

TEST(Cell, BeginTurnMakesTheScheduledCellRunning) {
  fixture f;
  f.tell(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  EXPECT_EQ(f.c->state(), cell_state::running);
}

TEST(Cell, PopDeliversSystemMessagesBeforeUserMailInFifoOrder) {
  fixture f;
  f.tell(1);
  f.tell(2);
  f.send_system(100);
  f.tell(3);
  f.send_system(101);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  EXPECT_EQ(f.pop_all(), (std::vector<int>{100, 101, 1, 2, 3}));
  f.c->end_turn();
  EXPECT_EQ(f.c->state(), cell_state::idle);
}

TEST(Cell, PopSystemSkipsUserMail) {
  fixture f;
  f.tell(1);
  f.send_system(100, 3);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  envelope e;
  ASSERT_TRUE(f.c->pop_system(e));
  EXPECT_EQ(int_of(e.message), 100);
  EXPECT_EQ(e.kind, 3u);
  EXPECT_FALSE(f.c->pop_system(e));
  EXPECT_EQ(f.c->queued(), 1);
  ASSERT_TRUE(f.c->pop(e));
  EXPECT_EQ(int_of(e.message), 1);
  EXPECT_EQ(e.kind, 0u);
}

TEST(Cell, QueuedCountsUserMessagesWaiting) {
  fixture f;
  for (int i = 0; i < 5; ++i)
    f.tell(i);
  f.send_system(9);
  EXPECT_EQ(f.c->queued(), 5);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  envelope e;
  f.c->pop(e); // system
  EXPECT_EQ(f.c->queued(), 5);
  f.c->pop(e);
  f.c->pop(e);
  EXPECT_EQ(f.c->queued(), 3);
}

TEST(Cell, MessagesArrivingDuringATurnDoNotScheduleTheRunningCell) {
  fixture f;
  f.tell(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  ASSERT_TRUE(f.d.try_sleep()); // even with the owner declared asleep...
  EXPECT_EQ(f.tell(2), enqueue_result::accepted);
  EXPECT_EQ(f.send_system(3), enqueue_result::accepted);
  EXPECT_EQ(f.c->state(), cell_state::running);
  EXPECT_FALSE(f.take_ready()) << "...a running cell is not scheduled by producers";
  f.d.set_awake();
}

TEST(Cell, EndTurnWithAnEmptyMailboxLeavesTheCellIdle) {
  fixture f;
  f.tell(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  EXPECT_EQ(f.pop_all(), std::vector<int>{1});
  f.c->end_turn();
  EXPECT_EQ(f.c->state(), cell_state::idle);
  EXPECT_FALSE(f.take_ready());
}

TEST(Cell, EndTurnReschedulesWhenUserMailArrivedDuringTheTurn) {
  fixture f;
  f.tell(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  EXPECT_EQ(f.pop_all(), std::vector<int>{1});
  f.tell(2); // arrives while running
  f.c->end_turn();
  EXPECT_EQ(f.c->state(), cell_state::scheduled);
  EXPECT_TRUE(f.take_ready());
  EXPECT_FALSE(f.take_ready());
  f.c->begin_turn();
  EXPECT_EQ(f.pop_all(), std::vector<int>{2});
  f.c->end_turn();
  EXPECT_EQ(f.c->state(), cell_state::idle);
}

TEST(Cell, EndTurnReschedulesWhenSystemMailArrivedDuringTheTurn) {
  fixture f;
  f.tell(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  f.pop_all();
  f.send_system(2);
  f.c->end_turn();
  EXPECT_EQ(f.c->state(), cell_state::scheduled);
  EXPECT_TRUE(f.take_ready());
}

TEST(Cell, EndTurnReschedulesWhenTheTurnLeftMailForLater) {
  fixture f; // throughput 4
  for (int i = 0; i < 10; ++i)
    f.tell(i);
  std::vector<int> seen;
  int turns = 0;
  while (cell* r = f.d.pop_ready()) {
    ASSERT_EQ(r, f.c.get());
    ++turns;
    r->begin_turn();
    envelope e;
    for (std::uint32_t n = 0; n < f.d.throughput() && r->pop(e); ++n)
      seen.push_back(int_of(e.message));
    r->end_turn();
    r->release();
    ASSERT_LT(turns, 100);
  }
  EXPECT_EQ(turns, 3); // 4 + 4 + 2
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(f.c->state(), cell_state::idle);
}

TEST(Cell, EndTurnDoesNotAskToWakeItsOwnDispatcher) {
  // end_turn runs on the owner's thread, which is awake by definition.
  fixture f;
  f.tell(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  f.pop_all();
  f.tell(2);
  f.c->end_turn();
  EXPECT_FALSE(atomr::core::test::readable(f.d.wake_fd(), 0));
  EXPECT_TRUE(f.take_ready());
}

// --- suspended ------------------------------------------------------------------

TEST(Cell, SuspendMarksTheCellSuspended) {
  fixture f;
  f.tell(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  f.pop_all();
  f.c->suspend();
  EXPECT_EQ(f.c->state(), cell_state::suspended);
}

TEST(Cell, MailForASuspendedCellWaitsWithoutSchedulingIt) {
  fixture f;
  f.tell(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  f.pop_all();
  f.c->suspend();
  EXPECT_EQ(f.tell(2), enqueue_result::accepted);
  EXPECT_EQ(f.send_system(3), enqueue_result::accepted);
  EXPECT_EQ(f.c->state(), cell_state::suspended);
  EXPECT_FALSE(f.take_ready());
  EXPECT_EQ(f.c->queued(), 1);
}

TEST(Cell, ResumeSchedulesTheSuspendedCell) {
  fixture f;
  f.tell(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  f.pop_all();
  f.c->suspend();
  f.tell(2);
  EXPECT_FALSE(f.c->resume()) << "the owner is awake";
  EXPECT_EQ(f.c->state(), cell_state::scheduled);
  EXPECT_TRUE(f.take_ready());
  EXPECT_FALSE(f.take_ready());
  f.c->begin_turn();
  EXPECT_EQ(f.pop_all(), std::vector<int>{2});
  f.c->end_turn();
  EXPECT_EQ(f.c->state(), cell_state::idle);
}

TEST(Cell, ResumeWithAnEmptyMailboxStillSchedulesTheCell) {
  // The handler that finished may have produced work only the owner sees.
  fixture f;
  f.tell(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  f.pop_all();
  f.c->suspend();
  f.c->resume();
  EXPECT_EQ(f.c->state(), cell_state::scheduled);
  EXPECT_TRUE(f.take_ready());
  f.c->begin_turn();
  f.c->end_turn();
  EXPECT_EQ(f.c->state(), cell_state::idle);
}

TEST(Cell, ResumeAsksForAWakeWhenTheDispatcherSleeps) {
  fixture f;
  f.tell(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  f.pop_all();
  f.c->suspend();
  ASSERT_TRUE(f.d.try_sleep());
  EXPECT_TRUE(f.c->resume());
  EXPECT_FALSE(f.d.sleeping());
  EXPECT_TRUE(f.take_ready());
}

// --- user mail suspended (a failed actor waiting for its supervisor) ------------

// Runs one turn that suspends user mail, leaving the cell idle.
void suspend_user_mail_in_a_turn(fixture& f) {
  f.send_system(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  f.pop_all();
  f.c->suspend_user_mail();
  f.c->end_turn();
  ASSERT_EQ(f.c->state(), cell_state::idle);
}

TEST(CellUserMail, FlowsByDefault) {
  fixture f;
  EXPECT_FALSE(f.c->user_mail_suspended());
}

TEST(CellUserMail, SuspendedUserMailDoesNotScheduleAnIdleCell) {
  fixture f;
  suspend_user_mail_in_a_turn(f);
  EXPECT_TRUE(f.c->user_mail_suspended());
  ASSERT_TRUE(f.d.try_sleep());
  EXPECT_EQ(f.tell(2), enqueue_result::accepted);
  EXPECT_EQ(f.c->state(), cell_state::idle);
  EXPECT_FALSE(f.take_ready());
  EXPECT_EQ(f.c->queued(), 1);
  f.d.set_awake();
}

TEST(CellUserMail, SystemMailStillSchedulesACellWithSuspendedUserMail) {
  fixture f;
  suspend_user_mail_in_a_turn(f);
  f.tell(2);
  ASSERT_TRUE(f.d.try_sleep());
  EXPECT_EQ(f.send_system(3), enqueue_result::accepted_wake);
  EXPECT_EQ(f.c->state(), cell_state::scheduled);
  EXPECT_TRUE(f.take_ready());
}

TEST(CellUserMail, NextReturnsOnlySystemMailWhileUserMailIsSuspended) {
  fixture f;
  suspend_user_mail_in_a_turn(f);
  f.tell(2);
  f.send_system(3);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  envelope e;
  ASSERT_TRUE(f.c->next(e));
  EXPECT_EQ(int_of(e.message), 3);
  EXPECT_FALSE(f.c->next(e)) << "user mail must wait";
  EXPECT_EQ(f.c->queued(), 1);
  f.c->end_turn();
  EXPECT_EQ(f.c->state(), cell_state::idle) << "waiting user mail alone must not reschedule";
  EXPECT_FALSE(f.take_ready());
}

TEST(CellUserMail, NextDeliversSystemFirstThenUserMailWhenFlowing) {
  fixture f;
  f.tell(1);
  f.send_system(2);
  f.tell(3);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  std::vector<int> order;
  envelope e;
  while (f.c->next(e))
    order.push_back(int_of(e.message));
  EXPECT_EQ(order, (std::vector<int>{2, 1, 3}));
}

TEST(CellUserMail, EndTurnReschedulesForSystemMailWhileUserMailIsSuspended) {
  fixture f;
  suspend_user_mail_in_a_turn(f);
  f.send_system(2);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  f.send_system(3); // arrives during the turn
  envelope e;
  ASSERT_TRUE(f.c->next(e));
  EXPECT_EQ(int_of(e.message), 2);
  f.c->end_turn();
  EXPECT_EQ(f.c->state(), cell_state::scheduled);
  EXPECT_TRUE(f.take_ready());
}

TEST(CellUserMail, ResumingUserMailInATurnLetsTheWaitingMailThrough) {
  fixture f;
  suspend_user_mail_in_a_turn(f);
  f.tell(2);
  f.tell(3);
  f.send_system(10); // e.g. the supervisor's "resume"
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  envelope e;
  ASSERT_TRUE(f.c->next(e));
  EXPECT_EQ(int_of(e.message), 10);
  f.c->resume_user_mail();
  EXPECT_FALSE(f.c->user_mail_suspended());
  f.c->end_turn(); // user mail waits: the cell must come back
  EXPECT_EQ(f.c->state(), cell_state::scheduled);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  std::vector<int> order;
  while (f.c->next(e))
    order.push_back(int_of(e.message));
  EXPECT_EQ(order, (std::vector<int>{2, 3}));
  f.c->end_turn();
  EXPECT_EQ(f.c->state(), cell_state::idle);
}

TEST(CellUserMail, StopDropsUserMailThatWaitedForTheSupervisor) {
  fixture f;
  dead_letter_log log(f.sink);
  suspend_user_mail_in_a_turn(f);
  f.tell(2);
  f.tell(3);
  f.c->stop();
  ASSERT_EQ(log.letters().size(), 2u);
  EXPECT_EQ(log.letters()[0].value, 2);
  EXPECT_EQ(log.letters()[1].value, 3);
}

// --- replayed stash (push_front_user) --------------------------------------------

TEST(CellStash, ReplayedMessagesComeAfterSystemMailButBeforeQueuedUserMail) {
  fixture f;
  f.tell(1);
  f.send_system(100);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  envelope stashed = user_msg(50);
  f.c->push_front_user(stashed);
  EXPECT_EQ(f.c->front_size(), 1u);
  std::vector<int> order;
  envelope e;
  while (f.c->next(e))
    order.push_back(int_of(e.message));
  EXPECT_EQ(order, (std::vector<int>{100, 50, 1}));
  EXPECT_EQ(f.c->front_size(), 0u);
}

TEST(CellStash, EachReplayedMessageGoesAheadOfTheOnesPutBackBefore) {
  // To replay a stash in its original order, put it back newest first.
  fixture f;
  f.tell(9);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  for (int v : {3, 2, 1}) {
    envelope e = user_msg(v);
    f.c->push_front_user(e);
  }
  EXPECT_EQ(f.c->front_size(), 3u);
  std::vector<int> order;
  envelope e;
  while (f.c->next(e))
    order.push_back(int_of(e.message));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 9}));
}

TEST(CellStash, PushFrontUserMovesTheEnvelopeAndKeepsItsPayloads) {
  fixture f;
  f.tell(0);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  envelope e = counted_msg(5, f.releases);
  e.sender = atomr::core::test::make_counted(6, f.releases);
  e.tag = 77;
  f.c->push_front_user(e);
  EXPECT_FALSE(e.message);
  EXPECT_FALSE(e.sender);
  envelope out;
  ASSERT_TRUE(f.c->next(out));
  EXPECT_EQ(atomr::core::test::counted_of(out.message), 5u);
  EXPECT_EQ(atomr::core::test::counted_of(out.sender), 6u);
  EXPECT_EQ(out.tag, 77u);
  EXPECT_EQ(f.releases.load(), 0u);
}

TEST(CellStash, EndTurnReschedulesWhenOnlyReplayedMailIsLeft) {
  fixture f;
  f.tell(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  f.pop_all();
  envelope e = user_msg(2);
  f.c->push_front_user(e);
  f.c->end_turn();
  EXPECT_EQ(f.c->state(), cell_state::scheduled);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  envelope out;
  ASSERT_TRUE(f.c->next(out));
  EXPECT_EQ(int_of(out.message), 2);
  f.c->end_turn();
  EXPECT_EQ(f.c->state(), cell_state::idle);
}

TEST(CellStash, ReplayedMailWaitsWhileUserMailIsSuspended) {
  fixture f;
  f.send_system(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  f.pop_all();
  envelope e = user_msg(2);
  f.c->push_front_user(e);
  f.c->suspend_user_mail();
  envelope out;
  EXPECT_FALSE(f.c->next(out));
  f.c->end_turn();
  EXPECT_EQ(f.c->state(), cell_state::idle);
  EXPECT_FALSE(f.take_ready());
  EXPECT_EQ(f.c->front_size(), 1u);
}

TEST(CellStash, StopDropsReplayedMailToDeadLettersWithThePath) {
  fixture f("akka://t/user/stasher");
  dead_letter_log log(f.sink);
  f.tell(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  envelope stashed = user_msg(50);
  f.c->push_front_user(stashed);
  f.c->stop();
  EXPECT_EQ(f.c->front_size(), 0u);
  const auto letters = log.letters();
  ASSERT_EQ(letters.size(), 2u);
  std::multiset<int> values;
  for (const auto& l : letters) {
    values.insert(l.value);
    EXPECT_EQ(l.recipient, "akka://t/user/stasher");
    EXPECT_EQ(l.reason, dead_letter_reason::dropped);
  }
  EXPECT_EQ(values, (std::multiset<int>{1, 50}));
}

TEST(CellStash, ReleasingTheCellFreesReplayedMail) {
  std::atomic<std::uint64_t> releases{0};
  dead_letter_sink sink;
  pinned_dispatcher d;
  {
    auto c = make_cell(d, sink);
    envelope e = counted_msg(1, releases);
    c->push_front_user(e);
    EXPECT_EQ(releases.load(), 0u);
  }
  EXPECT_EQ(releases.load(), 1u);
}

// --- stopped ----------------------------------------------------------------------

TEST(Cell, StopMovesLeftoverMailToDeadLettersWithThePath) {
  fixture f("akka://t/user/doomed");
  dead_letter_log log(f.sink);
  f.tell(1);
  f.tell(2);
  f.send_system(100, 5);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  f.c->stop();
  EXPECT_EQ(f.c->state(), cell_state::stopped);
  EXPECT_TRUE(f.c->is_stopped());
  EXPECT_EQ(f.c->queued(), 0);

  const auto letters = log.letters();
  ASSERT_EQ(letters.size(), 3u);
  EXPECT_EQ(letters[0].value, 100) << "system mail first, as pop() orders it";
  EXPECT_EQ(letters[0].kind, 5u);
  EXPECT_EQ(letters[1].value, 1);
  EXPECT_EQ(letters[2].value, 2);
  for (const auto& l : letters) {
    EXPECT_EQ(l.recipient, "akka://t/user/doomed");
    EXPECT_EQ(l.reason, dead_letter_reason::dropped);
  }
  EXPECT_EQ(f.sink.count(), 3u);
}

TEST(Cell, StopReleasesEveryLeftoverPayloadExactlyOnce) {
  fixture f;
  for (std::uint64_t i = 0; i < 4; ++i) {
    envelope e = counted_msg(i, f.releases);
    ASSERT_NE(f.c->tell(e), enqueue_result::rejected);
  }
  f.c->stop(); // no handler: counted and released
  EXPECT_EQ(f.sink.count(), 4u);
  EXPECT_EQ(f.releases.load(), 4u);
}

TEST(Cell, StopOfAnIdleCellWithNoMailPublishesNothing) {
  fixture f;
  f.c->stop();
  EXPECT_TRUE(f.c->is_stopped());
  EXPECT_EQ(f.sink.count(), 0u);
  EXPECT_FALSE(f.take_ready());
}

TEST(Cell, TellToAStoppedCellIsRejectedAndLeavesTheEnvelopeIntact) {
  fixture f;
  f.c->stop();
  envelope e = counted_msg(42, f.releases);
  e.sender = atomr::core::test::make_counted(43, f.releases);
  e.reply = atomr::core::test::make_counted(44, f.releases);
  e.kind = 0;
  e.tag = 99;
  void* raw = e.message.get();
  EXPECT_EQ(f.c->tell(e), enqueue_result::rejected);
  ASSERT_TRUE(e.message);
  EXPECT_EQ(e.message.get(), raw);
  EXPECT_EQ(atomr::core::test::counted_of(e.message), 42u);
  EXPECT_EQ(atomr::core::test::counted_of(e.sender), 43u);
  EXPECT_EQ(atomr::core::test::counted_of(e.reply), 44u);
  EXPECT_EQ(e.tag, 99u);
  EXPECT_EQ(f.releases.load(), 0u);
  EXPECT_EQ(f.sink.count(), 0u) << "a rejected envelope stays with the caller, not the sink";
  EXPECT_FALSE(f.take_ready());
  EXPECT_EQ(f.c->queued(), 0);
}

TEST(Cell, SendSystemToAStoppedCellIsRejectedAndLeavesTheEnvelopeIntact) {
  fixture f;
  f.c->stop();
  envelope e = counted_msg(7, f.releases, 3);
  EXPECT_EQ(f.c->send_system(e), enqueue_result::rejected);
  ASSERT_TRUE(e.message);
  EXPECT_EQ(atomr::core::test::counted_of(e.message), 7u);
  EXPECT_EQ(e.kind, 3u);
  EXPECT_EQ(f.releases.load(), 0u);
}

TEST(Cell, StoppedCellStaysStoppedWhileMailIsRejected) {
  fixture f;
  f.c->stop();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(f.tell(i), enqueue_result::rejected);
    EXPECT_EQ(f.send_system(i), enqueue_result::rejected);
  }
  EXPECT_EQ(f.c->state(), cell_state::stopped);
}

TEST(Cell, StopWhileScheduledLeavesAStaleReadyEntryTheOwnerCanSkip) {
  fixture f;
  dead_letter_log log(f.sink);
  f.tell(1);
  EXPECT_EQ(f.c->state(), cell_state::scheduled);
  f.c->stop();
  ASSERT_EQ(log.letters().size(), 1u);
  cell* r = f.d.pop_ready();
  ASSERT_EQ(r, f.c.get()) << "the ready entry still holds its reference";
  EXPECT_TRUE(r->is_stopped());
  r->release();
}

TEST(Cell, StopOfASuspendedCellDropsTheMailThatWaited) {
  fixture f;
  dead_letter_log log(f.sink);
  f.tell(1);
  ASSERT_TRUE(f.take_ready());
  f.c->begin_turn();
  f.pop_all();
  f.c->suspend();
  f.tell(2);
  f.c->stop();
  ASSERT_EQ(log.letters().size(), 1u);
  EXPECT_EQ(log.letters()[0].value, 2);
  EXPECT_EQ(f.c->state(), cell_state::stopped);
}

TEST(Cell, ReleasingTheLastReferenceFreesMailStillQueued) {
  std::atomic<std::uint64_t> releases{0};
  dead_letter_sink sink;
  pinned_dispatcher d;
  {
    auto c = make_cell(d, sink);
    for (std::uint64_t i = 0; i < 3; ++i) {
      envelope e = counted_msg(i, releases);
      c->tell(e);
    }
    drain_ready(d); // drop the ready reference first
    EXPECT_EQ(releases.load(), 0u);
  }
  EXPECT_EQ(releases.load(), 3u);
  EXPECT_EQ(sink.count(), 0u) << "destroying a cell is not a stop";
}

TEST(Cell, AddRefKeepsTheCellAliveUntilTheMatchingRelease) {
  dead_letter_sink sink;
  pinned_dispatcher d;
  cell* c = new cell(d, "akka://t/user/rc", sink);
  c->add_ref();
  c->release();
  EXPECT_EQ(c->path(), "akka://t/user/rc"); // ASan: still alive
  c->release();
}

// --- races ------------------------------------------------------------------------

// Mail that arrives exactly as the owner ends a turn must leave the cell
// scheduled, by one side or the other. end_turn stores `idle` then looks
// at the mailbox; tell links the message then looks at the state: a
// store-buffering pattern that needs a full barrier on both sides.
TEST(CellRace, MailArrivingAsATurnEndsIsNeverStrandedInAnIdleCell) {
  dead_letter_sink sink;
  pinned_dispatcher d;
  auto c = make_cell(d, sink);
  d.set_awake();
  c->begin_turn();

  atomr::core::test::spin_barrier barrier(2);
  std::atomic<bool> stop{false};
  std::atomic<unsigned> producer_delay{0};
  std::atomic<int> result{0};
  const auto deadline = steady::now() + 20s;
  std::thread producer([&] {
    for (;;) {
      envelope e = user_msg(1);
      if (!barrier.arrive_and_wait(deadline) || stop.load(std::memory_order_relaxed))
        return;
      atomr::core::test::jitter(producer_delay.load(std::memory_order_relaxed));
      result.store(int(c->tell(e)), std::memory_order_relaxed);
      if (!barrier.arrive_and_wait(deadline))
        return;
    }
  });

  // The owner declares itself asleep before each race (harmless here) so
  // that the tell's result says who scheduled the cell: accepted_wake means
  // the producer found it idle, accepted means end_turn saw the mail first.
  atomr::core::test::race_aligner align(0x2545f4914f6cdd1dull);
  long iterations = 0;
  long producer_scheduled = 0;
  long stranded = 0;
  long double_scheduled = 0;
  long rejected = 0;
  const auto budget = steady::now() + 1500ms;
  while (iterations < 400000 && steady::now() < budget && !barrier.aborted()) {
    const auto delay = align.next();
    producer_delay.store(delay.b, std::memory_order_relaxed);
    d.try_sleep();
    if (!barrier.arrive_and_wait(deadline))
      break;
    atomr::core::test::jitter(delay.a);
    c->end_turn();
    if (!barrier.arrive_and_wait(deadline))
      break;
    ++iterations;
    const auto r = enqueue_result(result.load(std::memory_order_relaxed));
    rejected += r == enqueue_result::rejected;
    producer_scheduled += r == enqueue_result::accepted_wake;
    align.record(r == enqueue_result::accepted_wake); // end_turn's store went first
    const int entries = drain_ready(d);
    if (c->state() == cell_state::idle && entries == 0)
      ++stranded; // a message sits in an idle cell that nobody scheduled
    if (entries > 1)
      ++double_scheduled;
    // Back to "running with an empty mailbox" for the next race.
    d.set_awake();
    c->begin_turn();
    envelope e;
    while (c->pop(e)) {
    }
  }
  stop.store(true);
  barrier.arrive_and_wait(deadline);
  producer.join();
  c->end_turn();
  drain_ready(d);

  EXPECT_FALSE(barrier.aborted());
  EXPECT_GT(iterations, 0);
  EXPECT_EQ(rejected, 0);
  EXPECT_EQ(double_scheduled, 0);
  std::printf("[          ] races=%ld producer_scheduled=%ld stranded=%ld\n", iterations,
              producer_scheduled, stranded);
  EXPECT_EQ(stranded, 0) << stranded << " of " << iterations
                         << " races left a message in an idle, unscheduled cell";
}

// Accounting for the stop races below: every message id must end up exactly
// once either processed by the actor or published to the dead-letter sink.
struct ledger {
  explicit ledger(std::size_t n)
    : seen(n) {
  }
  std::vector<std::atomic<std::uint8_t>> seen;
  std::atomic<std::uint64_t> accounted{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> returned{0}; // rejected, then published by the sender
  std::atomic<std::uint64_t> bad_letters{0};
  std::vector<std::string> paths;

  void mark(std::uint64_t id) {
    if (id >= seen.size()) {
      bad_letters.fetch_add(1);
      return;
    }
    seen[id].fetch_add(1, std::memory_order_relaxed);
    accounted.fetch_add(1, std::memory_order_acq_rel);
  }

  static void on_letter(void* ctx, envelope& letter, const std::string& recipient,
                        dead_letter_reason reason) noexcept {
    auto* self = static_cast<ledger*>(ctx);
    if (!letter.message) {
      self->bad_letters.fetch_add(1);
      return;
    }
    const std::uint64_t v = atomr::core::test::counted_of(letter.message);
    const std::uint64_t cell_index = v >> 48;
    if (cell_index >= self->paths.size() || recipient != self->paths[cell_index])
      self->bad_letters.fetch_add(1);
    if (reason == dead_letter_reason::dropped)
      self->dropped.fetch_add(1);
    else if (reason == dead_letter_reason::no_recipient)
      self->returned.fetch_add(1);
    else
      self->bad_letters.fetch_add(1);
    self->mark(v & 0xffffffffffffull);
  }

  std::uint64_t missing() const {
    std::uint64_t n = 0;
    for (auto& s : seen)
      n += s.load() == 0;
    return n;
  }
  std::uint64_t duplicated() const {
    std::uint64_t n = 0;
    for (auto& s : seen)
      n += s.load() > 1;
    return n;
  }
};

// id layout: cell index << 48 | running message number.
std::uint64_t message_value(std::uint64_t cell_index, std::uint64_t id) {
  return cell_index << 48 | id;
}

// Sends `e` and, when the cell refuses it, checks the envelope came back
// intact and publishes it as the sender would (reason no_recipient).
void send_or_return(cell& c, envelope& e, std::uint64_t value, dead_letter_sink& sink,
                    std::atomic<int>& damaged) {
  const enqueue_result r = c.tell(e);
  if (r == enqueue_result::rejected) {
    if (!e.message || atomr::core::test::counted_of(e.message) != value)
      damaged.fetch_add(1);
    sink.publish(e, c.path(), dead_letter_reason::no_recipient);
  } else if (r == enqueue_result::accepted_wake) {
    c.dispatcher().wake();
  }
}

// A burst of tells from several threads meets a stop on the owner's thread:
// messages queued before the stop are dropped by it, messages that slip in
// while it drains are drained by their producer, later ones are rejected.
TEST(CellRace, StopRacingABurstOfTellsAccountsForEveryMessageExactlyOnce) {
  constexpr int producers = 3;
  constexpr int burst = 40;
  std::atomic<std::uint64_t> releases{0};
  std::atomic<int> damaged{0};
  std::uint64_t sent = 0;
  int rounds = 0;
  std::uint64_t failed_rounds = 0;
  std::string first_failure;
  dead_letter_sink sink;
  pinned_dispatcher d;
  d.set_awake();
  atomr::core::test::xorshift rng{0xda942042e4dd58b5ull};
  const auto budget = steady::now() + 1500ms;
  const auto deadline = steady::now() + 20s;

  while (rounds < 3000 && steady::now() < budget) {
    ledger book(producers * burst);
    book.paths.push_back("akka://race/user/r" + std::to_string(rounds));
    sink.set_handler(&ledger::on_letter, &book);
    auto c = make_cell(d, sink, book.paths[0]);
    atomr::core::test::spin_barrier barrier(producers + 1);
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p)
      threads.emplace_back([&, p] {
        if (!barrier.arrive_and_wait(deadline))
          return;
        for (int i = 0; i < burst; ++i) {
          const std::uint64_t v = message_value(0, std::uint64_t(p * burst + i));
          envelope e = counted_msg(v, releases);
          send_or_return(*c, e, v, sink, damaged);
        }
      });
    const unsigned delay = unsigned(rng.next() % 2000);
    if (barrier.arrive_and_wait(deadline)) {
      atomr::core::test::jitter(delay);
      c->stop();
    }
    for (auto& t : threads)
      t.join();
    drain_ready(d); // stale entries of the stopped cell
    sent += producers * burst;
    ++rounds;

    const std::uint64_t missing = book.missing();
    const std::uint64_t dup = book.duplicated();
    if (missing != 0 || dup != 0 || book.bad_letters.load() != 0 || !c->is_stopped()) {
      if (failed_rounds++ == 0)
        first_failure = "round " + std::to_string(rounds) + ": missing=" + std::to_string(missing) +
                        " duplicated=" + std::to_string(dup) +
                        " bad=" + std::to_string(book.bad_letters.load()) +
                        " left in mailbox=" + std::to_string(c->queued()) +
                        " state=" + atomr::core::test::state_name(c->state());
    }
    c.reset();
    sink.set_handler(nullptr, nullptr);
    if (barrier.aborted())
      break;
  }
  EXPECT_GT(rounds, 0);
  EXPECT_EQ(failed_rounds, 0u) << first_failure;
  EXPECT_EQ(damaged.load(), 0) << "a rejected envelope came back damaged";
  EXPECT_EQ(sink.count(), sent) << "nothing was processed, so every message is a dead letter";
  EXPECT_EQ(releases.load(), sent);
}

struct stop_race_cell {
  std::uint64_t index = 0;
  std::uint64_t processed = 0;
  std::uint64_t stop_at = 0;
  bool stopped = false;
  std::vector<std::uint32_t> next_seq; // per producer: processed mail is a FIFO prefix
};

// Full version: several producers tell two cells while the owner thread runs
// them; one cell stops itself in the middle of a turn, the other is stopped
// by the owner between turns. Every message must be processed or become a
// dead letter, exactly once, and what was processed is a FIFO prefix.
TEST(CellStress, StopRacingProducersDeliversEveryMessageToTheActorOrToDeadLettersOnce) {
  constexpr std::uint32_t producers = 3;
  constexpr std::uint32_t cells = 2;
  constexpr std::uint32_t per_cell = 1500; // per producer and cell
  constexpr std::uint64_t per_round = std::uint64_t(producers) * cells * per_cell;

  std::atomic<std::uint64_t> releases{0};
  std::atomic<int> damaged{0};
  std::uint64_t sent = 0;
  std::uint64_t order_errors = 0;
  std::uint64_t processed_total = 0;
  std::uint64_t dropped_total = 0;
  std::uint64_t returned_total = 0;
  std::uint64_t failed_rounds = 0;
  std::string first_failure;
  int rounds = 0;
  atomr::core::test::xorshift rng{0x853c49e6748fea9bull};
  const auto budget = steady::now() + 1500ms;

  dead_letter_sink sink;
  pinned_dispatcher d(5);
  while (rounds < 150 && steady::now() < budget) {
    ledger book(per_round);
    std::vector<atomr::core::test::cell_ptr> owned;
    std::vector<stop_race_cell> st(cells);
    for (std::uint32_t i = 0; i < cells; ++i) {
      book.paths.push_back("akka://stop/user/r" + std::to_string(rounds) + "c" + std::to_string(i));
      owned.push_back(make_cell(d, sink, book.paths.back()));
      st[i].index = i;
      st[i].stop_at = 1 + rng.next() % (producers * per_cell - 1);
      st[i].next_seq.assign(producers, 0);
      owned.back()->user_data = &st[i];
    }
    sink.set_handler(&ledger::on_letter, &book);

    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (std::uint32_t p = 0; p < producers; ++p)
      threads.emplace_back([&, p] {
        while (!go.load(std::memory_order_acquire))
          std::this_thread::yield();
        for (std::uint32_t seq = 0; seq < per_cell; ++seq)
          for (std::uint32_t i = 0; i < cells; ++i) {
            // id: unique within the round; seq recoverable for the order check.
            const std::uint64_t id = (std::uint64_t(i) * producers + p) * per_cell + seq;
            const std::uint64_t v = message_value(i, id);
            envelope e = counted_msg(v, releases);
            send_or_return(*owned[i], e, v, sink, damaged);
          }
      });

    auto handle = [&](stop_race_cell& s, const envelope& e) {
      const std::uint64_t id = atomr::core::test::counted_of(e.message) & 0xffffffffffffull;
      const std::uint64_t p = (id / per_cell) % producers;
      const auto seq = std::uint32_t(id % per_cell);
      order_errors += seq != s.next_seq[p];
      s.next_seq[p] = seq + 1;
      ++s.processed;
      ++processed_total;
      book.mark(id);
    };
    auto turn = [&](cell& c) {
      auto& s = *static_cast<stop_race_cell*>(c.user_data);
      c.begin_turn();
      envelope e;
      for (std::uint32_t n = 0; n < d.throughput() && c.pop(e); ++n) {
        handle(s, e);
        if (s.index == 0 && s.processed == s.stop_at) {
          c.stop(); // the actor stops itself: no end_turn after this
          s.stopped = true;
          return;
        }
      }
      c.end_turn();
    };
    auto between = [&] {
      stop_race_cell& s = st[1];
      if (!s.stopped && s.processed >= s.stop_at) {
        owned[1]->stop(); // stopped by the owner while idle or scheduled
        s.stopped = true;
      }
    };
    go.store(true, std::memory_order_release);
    const auto stats = atomr::core::test::run_dispatcher(
        d, steady::now() + 20s, [&] { return book.accounted.load() >= per_round; }, turn, between);
    for (auto& t : threads)
      t.join();
    drain_ready(d);
    sent += per_round;
    dropped_total += book.dropped.load();
    returned_total += book.returned.load();
    ++rounds;

    const std::uint64_t missing = book.missing();
    const std::uint64_t dup = book.duplicated();
    bool ok = missing == 0 && dup == 0 && book.bad_letters.load() == 0 && !stats.deadline_hit &&
              stats.lost_wakeups == 0;
    for (std::uint32_t i = 0; i < cells; ++i)
      ok = ok && owned[i]->is_stopped() && st[i].stopped;
    if (!ok && failed_rounds++ == 0) {
      first_failure = "round " + std::to_string(rounds) + ": missing=" + std::to_string(missing) +
                      " duplicated=" + std::to_string(dup) +
                      " bad=" + std::to_string(book.bad_letters.load()) + "; " +
                      atomr::core::test::describe(stats);
      for (std::uint32_t i = 0; i < cells; ++i)
        first_failure += "; c" + std::to_string(i) + " " +
                         atomr::core::test::state_name(owned[i]->state()) +
                         " queued=" + std::to_string(owned[i]->queued()) +
                         " processed=" + std::to_string(st[i].processed) +
                         " stop_at=" + std::to_string(st[i].stop_at);
    }
    owned.clear();
    sink.set_handler(nullptr, nullptr);
  }

  EXPECT_GT(rounds, 0);
  EXPECT_EQ(failed_rounds, 0u) << first_failure;
  EXPECT_EQ(order_errors, 0u) << "processed mail must be a FIFO prefix per producer";
  EXPECT_EQ(damaged.load(), 0) << "a rejected envelope came back damaged";
  EXPECT_EQ(processed_total + dropped_total + returned_total, sent);
  EXPECT_EQ(sink.count(), dropped_total + returned_total);
  EXPECT_EQ(releases.load(), sent);
  EXPECT_GT(dropped_total + returned_total, 0u);
  std::printf("[          ] rounds=%d processed=%llu dropped=%llu returned=%llu\n", rounds,
              (unsigned long long)processed_total, (unsigned long long)dropped_total,
              (unsigned long long)returned_total);
}

} // namespace
