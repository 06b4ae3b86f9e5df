// A sending thread writes to an idle connection itself (`send_now`,
// `flush_deferred`) instead of waking the io thread; what the socket does
// not take is finished by the io thread before anything else it writes
// (heartbeats included), so the peer reads whole frames in order.

#include "atomr/remote/tcp_transport.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <gtest/gtest.h>
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
    std::this_thread::sleep_for(2ms);
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

envelope numbered(std::size_t i, std::size_t size) {
  envelope env{"/user/sink", std::nullopt, "test.Num", std::to_string(i) + ":", std::nullopt};
  env.payload.resize(size, static_cast<char>('a' + i % 26));
  return env;
}

// What a receiving transport got, and the events both sides reported.
struct log {
  std::mutex mu;
  std::vector<std::string> payloads;
  std::vector<event_kind> events;

  std::size_t received() {
    std::lock_guard lock(mu);
    return payloads.size();
  }
  bool saw(event_kind kind) {
    std::lock_guard lock(mu);
    for (auto e : events)
      if (e == kind)
        return true;
    return false;
  }
  transport_callbacks callbacks() {
    transport_callbacks cb;
    cb.on_envelope = [this](inbound_envelope&& in) {
      std::lock_guard lock(mu);
      payloads.push_back(std::move(in.env.payload));
    };
    cb.on_event = [this](const transport_event& e) {
      std::lock_guard lock(mu);
      events.push_back(e.kind);
    };
    return cb;
  }
};

void expect_in_order(log& got, std::size_t n, std::size_t size) {
  std::lock_guard lock(got.mu);
  ASSERT_EQ(got.payloads.size(), n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto want = numbered(i, size).payload;
    ASSERT_EQ(got.payloads[i].size(), want.size()) << "envelope " << i;
    ASSERT_TRUE(got.payloads[i] == want) << "envelope " << i;
  }
}

TEST(RemoteDirectWrite, SendNowOnAnIdleConnectionIsWrittenByTheSendingThread) {
  log a_log, b_log;
  tcp_transport b(named("b"), b_log.callbacks());
  tcp_transport a(named("a"), a_log.callbacks());
  b.start();
  a.start();
  // Associate (the io thread dials and writes this one).
  ASSERT_TRUE(a.send(b.address(), numbered(0, 16)));
  ASSERT_TRUE(wait_for([&] { return b_log.received() == 1; }));
  const auto before = a.stats();
  constexpr std::size_t n = 50;
  for (std::size_t i = 1; i < n; ++i) {
    // One at a time, like sequential asks: the connection is idle for each.
    ASSERT_TRUE(a.send_now(b.address(), numbered(i, 16)));
    ASSERT_TRUE(wait_for([&] { return b_log.received() == i + 1; }));
  }
  const auto after = a.stats();
  // A heartbeat in flight at the moment of a send leaves that one to the
  // io thread; most go straight out.
  EXPECT_GT(after.direct_writes - before.direct_writes, 0u);
  EXPECT_LE(after.direct_writes - before.direct_writes, n - 1);
  expect_in_order(b_log, n, 16);
  a.stop();
  b.stop();
}

TEST(RemoteDirectWrite, DeferredSendsAreFlushedByTheCallingThread) {
  log a_log, b_log;
  tcp_transport b(named("b"), b_log.callbacks());
  tcp_transport a(named("a"), a_log.callbacks());
  b.start();
  a.start();
  ASSERT_TRUE(a.send(b.address(), numbered(0, 16)));
  ASSERT_TRUE(wait_for([&] { return b_log.received() == 1; }));
  const auto before = a.stats();
  constexpr std::size_t rounds = 20, burst = 10;
  std::size_t sent = 1;
  for (std::size_t r = 0; r < rounds; ++r) {
    for (std::size_t i = 0; i < burst; ++i)
      ASSERT_TRUE(a.send_deferred(b.address(), numbered(sent++, 16)));
    a.flush_deferred();
    ASSERT_TRUE(wait_for([&] { return b_log.received() == sent; }));
  }
  EXPECT_GT(a.stats().direct_writes - before.direct_writes, 0u);
  expect_in_order(b_log, sent, 16);
  a.stop();
  b.stop();
}

TEST(RemoteDirectWrite, APartWrittenFrameIsFinishedBeforeAnythingElse) {
  // b stops reading until released: the socket buffers fill, a direct
  // write takes only part of a frame and the io thread, which also sends
  // heartbeats every few milliseconds, must finish that frame first.
  std::atomic<bool> hold{true};
  log a_log, b_log;
  auto b_cb = b_log.callbacks();
  b_cb.inbound_full = [&] { return hold.load(); };
  auto b_config = named("b");
  b_config.heartbeat_interval = 5ms;
  b_config.idle_timeout = 30s;
  tcp_transport b(b_config, b_cb);
  auto a_config = named("a");
  a_config.heartbeat_interval = 5ms;
  a_config.idle_timeout = 30s;
  a_config.outbound_queue_limit = 1'000'000;
  tcp_transport a(a_config, a_log.callbacks());
  b.start();
  a.start();
  constexpr std::size_t size = 200'000;
  hold = false;
  ASSERT_TRUE(a.send(b.address(), numbered(0, size)));
  ASSERT_TRUE(wait_for([&] { return b_log.received() == 1; }));
  hold = true;
  // b reads at most once more and pauses; keep sending until the sending
  // thread finds the connection busy again and again (the socket buffers
  // are full: a direct write took part of a frame, or a heartbeat is
  // stuck), with heartbeats going on between the sends.
  const auto before = a.stats();
  std::size_t sent = 1;
  std::size_t busy = 0;
  while (sent < 400 && busy < 20) {
    const auto direct = a.stats().direct_writes;
    ASSERT_TRUE(a.send_now(b.address(), numbered(sent++, size)));
    busy = a.stats().direct_writes == direct ? busy + 1 : 0;
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(busy, 20u) << "the socket buffers never filled";
  EXPECT_GT(a.stats().direct_writes - before.direct_writes, 0u);
  std::this_thread::sleep_for(50ms); // heartbeats queue up behind the rest
  hold = false;
  b.resume_reading();
  ASSERT_TRUE(wait_for([&] { return b_log.received() == sent; }));
  expect_in_order(b_log, sent, size);
  EXPECT_FALSE(b_log.saw(event_kind::malformed_frame));
  EXPECT_FALSE(b_log.saw(event_kind::disassociated));
  EXPECT_FALSE(a_log.saw(event_kind::disassociated));
  a.stop();
  b.stop();
}

} // namespace
} // namespace atomr::remote
