#include "atomr/remote/inbound_queue.hpp"

#include <gtest/gtest.h>
#include <memory>
#include <poll.h>
#include <string>
#include <thread>
#include <vector>

namespace atomr::remote {
namespace {

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

TEST(InboundQueue, SignalsTheFdUntilDrained) {
  inbound_queue q;
  EXPECT_FALSE(readable(q.fd()));
  inbound_item a;
  a.in.from = "127.0.0.1:1";
  a.in.env.recipient = "akka://a/user/x";
  q.push(std::move(a));
  EXPECT_TRUE(readable(q.fd()));
  inbound_item b;
  b.in.env.recipient = "akka://a/user/y";
  q.push(std::move(b));
  auto items = q.drain();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].in.env.recipient, "akka://a/user/x");
  EXPECT_EQ(items[1].in.env.recipient, "akka://a/user/y");
  EXPECT_FALSE(readable(q.fd()));
  EXPECT_TRUE(q.drain().empty());
}

TEST(InboundQueue, CallbacksQueueEveryKindInOrder) {
  auto q = std::make_shared<inbound_queue>();
  auto cb = queue_callbacks(q);
  inbound_envelope in;
  in.from = "127.0.0.1:2";
  in.from_uid = 7;
  in.env.manifest = "m.M";
  cb.on_envelope(std::move(in));
  envelope dropped;
  dropped.recipient = "akka://b/user/z";
  cb.on_dropped("127.0.0.1:3", std::move(dropped), drop_reason::queue_full);
  cb.on_event(transport_event{event_kind::associated, "127.0.0.1:2", 7, "", ""});
  auto items = q->drain();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].kind, inbound_item::kind_t::envelope);
  EXPECT_EQ(items[0].in.from_uid, 7u);
  EXPECT_EQ(items[0].in.env.manifest, "m.M");
  EXPECT_EQ(items[1].kind, inbound_item::kind_t::dropped);
  EXPECT_EQ(items[1].in.from, "127.0.0.1:3");
  EXPECT_EQ(items[1].reason, drop_reason::queue_full);
  EXPECT_EQ(items[2].kind, inbound_item::kind_t::event);
  EXPECT_EQ(items[2].event.kind, event_kind::associated);
}

TEST(InboundQueue, ConcurrentProducersLoseNothing) {
  inbound_queue q;
  constexpr int per_thread = 5000;
  std::vector<std::thread> producers;
  for (int t = 0; t < 2; ++t) {
    producers.emplace_back([&q] {
      for (int i = 0; i < per_thread; ++i)
        q.push(inbound_item{});
    });
  }
  std::size_t seen = 0;
  while (seen < 2 * per_thread) {
    pollfd p{q.fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    seen += q.drain().size();
  }
  for (auto& t : producers)
    t.join();
  seen += q.drain().size();
  EXPECT_EQ(seen, 2u * per_thread);
  EXPECT_FALSE(readable(q.fd()));
}

} // namespace
} // namespace atomr::remote
