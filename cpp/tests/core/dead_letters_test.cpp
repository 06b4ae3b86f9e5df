#include "atomr/core/dead_letters.hpp"
#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <gtest/gtest.h>
#include <string>
#include <thread>
#include <vector>

namespace {

using atomr::core::dead_letter_reason;
using atomr::core::dead_letter_sink;
using atomr::core::envelope;
using atomr::core::test::counted_msg;
using atomr::core::test::dead_letter_log;
using namespace std::chrono_literals;

// publish() takes the caller's envelope by reference and moves the letter out.
void publish(dead_letter_sink& sink, envelope&& e, const std::string& recipient,
             dead_letter_reason reason) {
  sink.publish(e, recipient, reason);
}

TEST(DeadLetters, NewSinkHasCountedNothing) {
  dead_letter_sink sink;
  EXPECT_EQ(sink.count(), 0u);
}

TEST(DeadLetters, ReasonsHaveTheNumbersThePythonBridgeMaps) {
  EXPECT_EQ(static_cast<int>(dead_letter_reason::no_recipient), 0);
  EXPECT_EQ(static_cast<int>(dead_letter_reason::dropped), 1);
  EXPECT_EQ(static_cast<int>(dead_letter_reason::rejected), 2);
}

TEST(DeadLetters, PublishWithoutHandlerCountsAndReleasesTheLetterExactlyOnce) {
  std::atomic<std::uint64_t> releases{0};
  dead_letter_sink sink;
  envelope e = counted_msg(1, releases);
  e.sender = atomr::core::test::make_counted(2, releases);
  e.reply = atomr::core::test::make_counted(3, releases);
  sink.publish(e, "akka://t/user/gone", dead_letter_reason::no_recipient);
  EXPECT_EQ(sink.count(), 1u);
  EXPECT_EQ(releases.load(), 3u);
  EXPECT_FALSE(e.message) << "the sink moves the letter out of the caller's envelope";
  EXPECT_FALSE(e.sender);
  EXPECT_FALSE(e.reply);
}

TEST(DeadLetters, HandlerReceivesTheLetterRecipientAndReason) {
  dead_letter_sink sink;
  dead_letter_log log(sink);
  envelope a = atomr::core::test::system_msg(42, 7);
  envelope b = atomr::core::test::user_msg(43);
  envelope c = atomr::core::test::user_msg(44);
  sink.publish(a, "akka://t/user/a", dead_letter_reason::dropped);
  sink.publish(b, "akka://t/user/b", dead_letter_reason::rejected);
  sink.publish(c, "akka://t/user/c", dead_letter_reason::no_recipient);

  const auto letters = log.letters();
  ASSERT_EQ(letters.size(), 3u);
  EXPECT_EQ(letters[0].value, 42);
  EXPECT_EQ(letters[0].kind, 7u);
  EXPECT_EQ(letters[0].recipient, "akka://t/user/a");
  EXPECT_EQ(letters[0].reason, dead_letter_reason::dropped);
  EXPECT_EQ(letters[1].value, 43);
  EXPECT_EQ(letters[1].recipient, "akka://t/user/b");
  EXPECT_EQ(letters[1].reason, dead_letter_reason::rejected);
  EXPECT_EQ(letters[2].reason, dead_letter_reason::no_recipient);
  EXPECT_EQ(sink.count(), 3u);
}

struct release_probe {
  std::atomic<std::uint64_t>* releases;
  std::uint64_t releases_seen_in_handler = ~0ull;
  bool payload_present_in_handler = false;
  int calls = 0;
};

TEST(DeadLetters, LetterIsReleasedOnlyAfterTheHandlerRan) {
  std::atomic<std::uint64_t> releases{0};
  release_probe probe{&releases};
  dead_letter_sink sink;
  sink.set_handler(
      [](void* ctx, envelope& letter, const std::string&, dead_letter_reason) noexcept {
        auto* p = static_cast<release_probe*>(ctx);
        ++p->calls;
        p->payload_present_in_handler = static_cast<bool>(letter.message);
        p->releases_seen_in_handler = p->releases->load();
      },
      &probe);
  publish(sink, counted_msg(1, releases), "akka://t/user/a", dead_letter_reason::dropped);
  EXPECT_EQ(probe.calls, 1);
  EXPECT_TRUE(probe.payload_present_in_handler);
  EXPECT_EQ(probe.releases_seen_in_handler, 0u);
  EXPECT_EQ(releases.load(), 1u);
}

TEST(DeadLetters, HandlerMayTakeOwnershipOfThePayload) {
  std::atomic<std::uint64_t> releases{0};
  static atomr::core::payload kept;
  dead_letter_sink sink;
  sink.set_handler([](void*, envelope& letter, const std::string&,
                      dead_letter_reason) noexcept { kept = std::move(letter.message); },
                   nullptr);
  publish(sink, counted_msg(5, releases), "akka://t/user/a", dead_letter_reason::dropped);
  EXPECT_EQ(releases.load(), 0u) << "the handler took it, the sink must not release it";
  ASSERT_TRUE(kept);
  EXPECT_EQ(atomr::core::test::counted_of(kept), 5u);
  kept.reset();
  EXPECT_EQ(releases.load(), 1u);
}

TEST(DeadLetters, SetHandlerWithNullRemovesTheHandler) {
  dead_letter_sink sink;
  std::vector<atomr::core::test::recorded_letter> before;
  {
    dead_letter_log log(sink);
    publish(sink, atomr::core::test::user_msg(1), "p", dead_letter_reason::dropped);
    before = log.letters();
  } // the log removes its handler
  publish(sink, atomr::core::test::user_msg(2), "p", dead_letter_reason::dropped);
  EXPECT_EQ(before.size(), 1u);
  EXPECT_EQ(sink.count(), 2u) << "letters are counted with or without a handler";
}

TEST(DeadLetters, ReplacingTheHandlerRoutesLaterLettersToTheNewOne) {
  dead_letter_sink sink;
  dead_letter_log first(sink);
  publish(sink, atomr::core::test::user_msg(1), "p", dead_letter_reason::dropped);
  dead_letter_log second(sink); // replaces `first`'s handler
  publish(sink, atomr::core::test::user_msg(2), "p", dead_letter_reason::dropped);
  ASSERT_EQ(first.letters().size(), 1u);
  ASSERT_EQ(second.letters().size(), 1u);
  EXPECT_EQ(first.letters()[0].value, 1);
  EXPECT_EQ(second.letters()[0].value, 2);
}

TEST(DeadLetters, EmptyEnvelopeIsStillALetter) {
  dead_letter_sink sink;
  dead_letter_log log(sink);
  publish(sink, envelope{}, "p", dead_letter_reason::no_recipient);
  ASSERT_EQ(log.letters().size(), 1u);
  EXPECT_EQ(log.letters()[0].value, -1);
  EXPECT_EQ(sink.count(), 1u);
}

TEST(DeadLettersStress, ConcurrentPublishersAreAllCountedWhileTheHandlerChanges) {
  constexpr int publishers = 4;
  constexpr int per_publisher = 5000;
  std::atomic<std::uint64_t> releases{0};
  std::atomic<std::uint64_t> handled{0};
  dead_letter_sink sink;
  auto handler = [](void* ctx, envelope&, const std::string&, dead_letter_reason) noexcept {
    static_cast<std::atomic<std::uint64_t>*>(ctx)->fetch_add(1, std::memory_order_relaxed);
  };
  std::atomic<bool> done{false};
  std::thread toggler([&] {
    bool on = true;
    while (!done.load(std::memory_order_acquire)) {
      if (on)
        sink.set_handler(handler, &handled);
      else
        sink.set_handler(nullptr, nullptr);
      on = !on;
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> threads;
  for (int p = 0; p < publishers; ++p)
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_publisher; ++i)
        publish(sink, counted_msg(std::uint64_t(p) * per_publisher + i, releases),
                "akka://t/user/x", dead_letter_reason::dropped);
    });
  for (auto& t : threads)
    t.join();
  done.store(true, std::memory_order_release);
  toggler.join();

  const std::uint64_t total = std::uint64_t(publishers) * per_publisher;
  EXPECT_EQ(sink.count(), total);
  EXPECT_EQ(releases.load(), total);
  EXPECT_LE(handled.load(), total);
}

} // namespace
