#include "atomr/remote/inbound_queue.hpp"

#include <gtest/gtest.h>
#include <memory>
#include <poll.h>
#include <thread>

namespace atomr::remote {
namespace {

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

inbound_envelope answer_with(std::uint64_t correlation, std::string payload) {
  inbound_envelope in;
  in.from = "127.0.0.1:9";
  in.env.recipient = "akka.tcp://a@127.0.0.1:8/temp/ask";
  in.env.manifest = "m.M";
  in.env.payload = std::move(payload);
  in.env.correlation_id = correlation;
  return in;
}

TEST(AnswerSlot, AnExpectedAnswerSkipsTheQueueAndWakesTheWaiter) {
  auto q = std::make_shared<inbound_queue>();
  auto cb = queue_callbacks(q);
  auto slot = std::make_shared<answer_slot>();
  q->expect_answer(7, slot);
  std::thread io([&] { cb.on_envelope(answer_with(7, "seven")); });
  EXPECT_TRUE(slot->wait(-1));
  io.join();
  ASSERT_TRUE(slot->answered());
  EXPECT_EQ(slot->answer().env.payload, "seven");
  EXPECT_FALSE(readable(q->fd()));
  EXPECT_TRUE(q->drain().empty());
  // Taken once: a second answer with that id goes to the queue.
  cb.on_envelope(answer_with(7, "again"));
  EXPECT_EQ(q->drain().size(), 1u);
}

TEST(AnswerSlot, OnlyAnswersToExpectedAsksAreTaken) {
  auto q = std::make_shared<inbound_queue>();
  auto cb = queue_callbacks(q);
  auto slot = std::make_shared<answer_slot>();
  q->expect_answer(1, slot);
  auto other = answer_with(2, "other id");
  cb.on_envelope(std::move(other));
  auto ask = answer_with(1, "an ask from the peer, not an answer");
  ask.env.sender = "akka.tcp://b@127.0.0.1:9/temp/ask";
  cb.on_envelope(std::move(ask));
  auto tell = answer_with(1, "no correlation");
  tell.env.correlation_id.reset();
  cb.on_envelope(std::move(tell));
  EXPECT_EQ(q->drain().size(), 3u);
  EXPECT_FALSE(slot->answered());
  q->forget_answer(1);
  cb.on_envelope(answer_with(1, "after forget"));
  EXPECT_EQ(q->drain().size(), 1u);
  EXPECT_FALSE(slot->answered());
}

TEST(AnswerSlot, CancelEndsTheWaitAndRefusesALateAnswer) {
  auto q = std::make_shared<inbound_queue>();
  auto cb = queue_callbacks(q);
  auto slot = std::make_shared<answer_slot>();
  q->expect_answer(3, slot);
  EXPECT_FALSE(slot->wait(1'000'000)); // 1 ms: nothing yet
  std::thread other([&] { slot->cancel(); });
  EXPECT_TRUE(slot->wait(-1));
  other.join();
  EXPECT_FALSE(slot->answered());
  // The cancelled slot takes nothing: the answer goes to the queue.
  cb.on_envelope(answer_with(3, "late"));
  EXPECT_EQ(q->drain().size(), 1u);
}

} // namespace
} // namespace atomr::remote
