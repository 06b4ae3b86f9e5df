#include "atomr/remote/inbound_queue.hpp"

#include <atomic>
#include <gtest/gtest.h>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace atomr::remote {
namespace {

inbound_envelope for_recipient(std::string recipient) {
  inbound_envelope in;
  in.from = "127.0.0.1:9";
  in.env.recipient = std::move(recipient);
  return in;
}

TEST(InboundTap, TakesWhatItClaimsAndLeavesTheRestToTheQueue) {
  auto q = std::make_shared<inbound_queue>();
  auto cb = queue_callbacks(q);
  std::vector<std::string> taken, dropped_taken, events_seen;
  auto tap = std::make_shared<inbound_tap>();
  tap->on_envelope = [&](const inbound_envelope& in) {
    if (in.env.recipient != "/system/tapped")
      return false;
    taken.push_back(in.from);
    return true;
  };
  tap->on_dropped = [&](const std::string& to, const envelope& env, drop_reason) {
    if (env.recipient != "/system/tapped")
      return false;
    dropped_taken.push_back(to);
    return true;
  };
  tap->on_event = [&](const transport_event& e) { events_seen.push_back(e.address); };
  q->set_tap(tap);
  EXPECT_EQ(q->tap(), tap);

  cb.on_envelope(for_recipient("/system/tapped"));
  cb.on_envelope(for_recipient("/user/a"));
  envelope d1, d2;
  d1.recipient = "/system/tapped";
  d2.recipient = "/user/b";
  cb.on_dropped("127.0.0.1:3", std::move(d1), drop_reason::queue_full);
  cb.on_dropped("127.0.0.1:4", std::move(d2), drop_reason::queue_full);
  cb.on_event(transport_event{event_kind::associated, "127.0.0.1:9", 7, "", ""});

  EXPECT_EQ(taken, std::vector<std::string>{"127.0.0.1:9"});
  EXPECT_EQ(dropped_taken, std::vector<std::string>{"127.0.0.1:3"});
  EXPECT_EQ(events_seen, std::vector<std::string>{"127.0.0.1:9"});
  auto items = q->drain();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].in.env.recipient, "/user/a");
  EXPECT_EQ(items[1].kind, inbound_item::kind_t::dropped);
  EXPECT_EQ(items[1].in.env.recipient, "/user/b");
  EXPECT_EQ(items[2].kind, inbound_item::kind_t::event); // events are still queued

  q->set_tap(nullptr);
  EXPECT_EQ(q->tap(), nullptr);
  cb.on_envelope(for_recipient("/system/tapped"));
  EXPECT_EQ(taken.size(), 1u);
  ASSERT_EQ(q->drain().size(), 1u);
}

TEST(InboundTap, ReplacedWhileAnotherThreadProduces) {
  auto q = std::make_shared<inbound_queue>();
  auto cb = queue_callbacks(q);
  std::atomic<int> first{0}, second{0};
  auto tap_a = std::make_shared<inbound_tap>();
  tap_a->on_envelope = [&](const inbound_envelope&) {
    ++first;
    return true;
  };
  auto tap_b = std::make_shared<inbound_tap>();
  tap_b->on_envelope = [&](const inbound_envelope&) {
    ++second;
    return true;
  };
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::thread producer([&] {
    while (!stop.load()) {
      cb.on_envelope(for_recipient("/x"));
      ++sent;
    }
  });
  for (int i = 0; i < 2000; ++i) {
    q->set_tap(i % 3 == 0 ? nullptr : (i % 3 == 1 ? tap_a : tap_b));
  }
  q->set_tap(nullptr);
  stop = true;
  producer.join();
  const auto queued = q->drain().size();
  // Every envelope went exactly one way.
  EXPECT_EQ(static_cast<std::size_t>(first + second) + queued, static_cast<std::size_t>(sent));
}

} // namespace
} // namespace atomr::remote
