// A consumer that falls behind pauses reading (transport_callbacks::
// inbound_full) and `resume_reading` restarts it: TCP then holds the sender
// back and its outbound queue overflows into on_dropped(queue_full), so the
// receiver's backlog stays bounded.

#include "atomr/remote/inbound_queue.hpp"
#include "atomr/remote/tcp_transport.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <gtest/gtest.h>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace atomr::remote {
namespace {

using namespace std::chrono_literals;

constexpr auto deadline = 60s; // a loaded 2-core machine, often under ASan

bool wait_for(const std::function<bool()>& pred) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= until)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

transport_config named(const char* name) {
  transport_config c;
  c.system_name = name;
  c.reconnect_min_backoff = 10ms;
  c.reconnect_max_backoff = 200ms;
  return c;
}

envelope numbered(std::size_t i) {
  envelope env{"/user/sink", std::nullopt, "test.Num", std::to_string(i), std::nullopt};
  env.payload.resize(100, ' ');
  return env;
}

TEST(RemoteBackpressure, ASlowConsumerPausesReadingAndResumeRestartsIt) {
  constexpr std::size_t limit = 2'000;
  // The most one socket read (64 KiB) can add past the limit.
  constexpr std::size_t per_read = 64 * 1024 / 100 + 1;
  std::mutex mu;
  std::vector<std::size_t> got;
  std::atomic<std::size_t> consumed{0};
  std::atomic<std::size_t> backlog_limit{limit};
  transport_callbacks cb;
  cb.on_envelope = [&](inbound_envelope&& in) {
    std::lock_guard lock(mu);
    got.push_back(std::stoul(in.env.payload));
  };
  auto received = [&] {
    std::lock_guard lock(mu);
    return got.size();
  };
  cb.inbound_full = [&] {
    const std::size_t l = backlog_limit.load();
    return l != 0 && received() - consumed.load() >= l;
  };
  auto b_config = named("b");
  // Short heartbeats: a paused connection must not be taken for a dead one.
  // (Not too short: while b reads, an io thread of either side descheduled
  // for longer than this on a loaded machine would take the connection down,
  // and its replacement would pause once more.)
  b_config.heartbeat_interval = 100ms;
  b_config.idle_timeout = 500ms;
  tcp_transport b(b_config, cb);
  b.start();

  std::mutex a_mu;
  std::vector<drop_reason> drops;
  std::vector<transport_event> a_events;
  transport_callbacks acb;
  acb.on_dropped = [&](const std::string&, envelope&&, drop_reason reason) {
    std::lock_guard lock(a_mu);
    drops.push_back(reason);
  };
  acb.on_event = [&](const transport_event& e) {
    std::lock_guard lock(a_mu);
    a_events.push_back(e);
  };
  auto a_config = named("a");
  a_config.outbound_queue_limit = 5'000;
  a_config.heartbeat_interval = 50ms;
  // a reads b's heartbeats all along; what is under test is b's silence.
  a_config.idle_timeout = 10s;
  tcp_transport a(a_config, acb);
  a.start();

  // Offer far more than the backlog limit, the socket buffers and the
  // sender's queue can hold together.
  constexpr std::size_t offered = 300'000;
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < offered; ++i)
    accepted += a.send(b.address(), numbered(accepted)) ? 1 : 0;
  ASSERT_TRUE(wait_for([&] { return b.stats().read_pauses >= 1; }));
  {
    std::lock_guard lock(a_mu);
    ASSERT_FALSE(drops.empty());
    EXPECT_EQ(drops.front(), drop_reason::queue_full);
  }
  EXPECT_LT(accepted, offered);
  // Paused for many idle timeouts: still associated, nothing more read.
  const std::size_t at_pause = received();
  EXPECT_LE(at_pause, limit + per_read);
  std::this_thread::sleep_for(1500ms); // 3 idle timeouts of b, 30 heartbeats of a
  EXPECT_EQ(received(), at_pause);
  EXPECT_EQ(b.stats().read_pauses, 1u);
  {
    std::lock_guard lock(a_mu);
    for (const auto& e : a_events)
      EXPECT_NE(e.kind, event_kind::disassociated) << e.detail;
  }

  // The consumer catches up in steps: each step lets one more limit in.
  consumed.store(received());
  b.resume_reading();
  ASSERT_TRUE(wait_for([&] { return b.stats().read_pauses >= 2; }));
  EXPECT_LE(received(), consumed.load() + limit + per_read);
  // Then it keeps up: every accepted envelope arrives, in order.
  backlog_limit.store(0);
  b.resume_reading();
  ASSERT_TRUE(wait_for([&] { return received() == accepted; })) << received() << " of " << accepted;
  std::lock_guard lock(mu);
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], i);
}

TEST(RemoteBackpressure, ResumeWithNothingPausedOrAfterStopIsHarmless) {
  tcp_transport t(named("t"), transport_callbacks{});
  t.resume_reading(); // not started
  t.start();
  t.resume_reading();
  t.stop();
  t.resume_reading();
  EXPECT_EQ(t.stats().read_pauses, 0u);
}

TEST(InboundQueue, FullAtTheLimitAndNeverWithoutOne) {
  auto q = std::make_shared<inbound_queue>();
  auto cb = queue_callbacks(q);
  ASSERT_TRUE(cb.inbound_full);
  for (int i = 0; i < 3; ++i)
    cb.on_envelope(inbound_envelope{});
  EXPECT_FALSE(cb.inbound_full()); // no limit
  q->set_limit(3);
  EXPECT_TRUE(cb.inbound_full());
  EXPECT_EQ(q->size(), 3u);
  EXPECT_EQ(q->drain().size(), 3u);
  EXPECT_FALSE(cb.inbound_full());
  EXPECT_EQ(q->limit(), 3u);
}

} // namespace
} // namespace atomr::remote
