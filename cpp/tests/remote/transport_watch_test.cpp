// The transport's failure detector events (unreachable / reachable) and the
// shrinking of its peer table, over loopback.

#include "atomr/remote/tcp_transport.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <gtest/gtest.h>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace atomr::remote {
namespace {

using namespace std::chrono_literals;

// Generous: the tests run on a loaded 2-core machine, often under ASan.
constexpr auto deadline = 60s;

class watch_node {
public:
  explicit watch_node(transport_config config) {
    transport_callbacks cb;
    cb.on_envelope = [this](inbound_envelope&&) {
      std::lock_guard lock(mu_);
      ++received_;
      cv_.notify_all();
    };
    cb.on_event = [this](const transport_event& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
    transport_ = std::make_unique<tcp_transport>(std::move(config), std::move(cb));
    transport_->start();
  }

  // Short heartbeats and a detector that gives up after ~0.3 s of silence.
  static transport_config config(std::string name, std::uint16_t port = 0, std::uint64_t uid = 0) {
    transport_config c;
    c.system_name = std::move(name);
    c.bind_port = port;
    c.uid = uid;
    c.reconnect_min_backoff = 10ms;
    c.reconnect_max_backoff = 100ms;
    c.heartbeat_interval = 50ms;
    c.idle_timeout = 5000ms;
    c.reachability_check_interval = 20ms;
    c.failure_detector.threshold = 8.0;
    c.failure_detector.min_std_deviation = 50ms;
    c.failure_detector.acceptable_heartbeat_pause = 250ms;
    c.failure_detector.first_heartbeat_estimate = 50ms;
    return c;
  }

  tcp_transport& t() {
    return *transport_;
  }

  bool wait(const std::function<bool()>& pred) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    std::unique_lock lock(mu_);
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= until)
        return false;
      cv_.wait_for(lock, 10ms);
    }
    return true;
  }

  std::size_t count_locked(event_kind kind, std::uint64_t uid) const {
    std::size_t n = 0;
    for (const auto& e : events_)
      n += e.kind == kind && (uid == 0 || e.uid == uid);
    return n;
  }

  bool wait_event(event_kind kind, std::uint64_t uid = 0, std::size_t n = 1) {
    return wait([&] { return count_locked(kind, uid) >= n; });
  }

  std::size_t count(event_kind kind, std::uint64_t uid = 0) const {
    std::lock_guard lock(mu_);
    return count_locked(kind, uid);
  }

  std::vector<transport_event> events(event_kind kind) const {
    std::lock_guard lock(mu_);
    std::vector<transport_event> out;
    for (const auto& e : events_)
      if (e.kind == kind)
        out.push_back(e);
    return out;
  }

  bool wait_received(std::size_t n) {
    return wait([&] { return received_ >= n; });
  }

private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::size_t received_ = 0;
  std::vector<transport_event> events_;
  std::unique_ptr<tcp_transport> transport_;
};

envelope note(std::string recipient) {
  envelope e;
  e.recipient = std::move(recipient);
  e.manifest = "m";
  e.payload = "x";
  return e;
}

TEST(RemoteTransportWatch, ASilentPeerBecomesUnreachableAndReachableWhenItsHeartbeatsResume) {
  watch_node a(watch_node::config("a"));
  auto b = std::make_unique<watch_node>(watch_node::config("b", 0, 4242));
  const auto port = b->t().port();
  a.t().send(b->t().address(), note("/user/x"));
  ASSERT_TRUE(b->wait_received(1));
  ASSERT_TRUE(a.wait_event(event_kind::associated));
  EXPECT_EQ(a.count(event_kind::unreachable), 0u);

  b.reset(); // the peer is gone: no more heartbeats
  ASSERT_TRUE(a.wait_event(event_kind::unreachable, 4242));
  const auto ev = a.events(event_kind::unreachable).front();
  EXPECT_EQ(ev.address, format_address("127.0.0.1", port));
  EXPECT_NE(ev.detail.find("phi"), std::string::npos) << ev.detail;
  EXPECT_EQ(a.count(event_kind::reachable), 0u);

  // The same incarnation back on its port: a redials, heartbeats resume.
  watch_node b2(watch_node::config("b", port, 4242));
  a.t().send(b2.t().address(), note("/user/y"));
  ASSERT_TRUE(a.wait_event(event_kind::reachable, 4242));
  EXPECT_EQ(a.count(event_kind::unreachable, 4242), 1u);
}

TEST(RemoteTransportWatch, ANewIncarnationStartsWithAFreshDetector) {
  watch_node a(watch_node::config("a"));
  auto b = std::make_unique<watch_node>(watch_node::config("b", 0, 11));
  const auto port = b->t().port();
  a.t().send(b->t().address(), note("/user/x"));
  ASSERT_TRUE(b->wait_received(1));
  b.reset();
  ASSERT_TRUE(a.wait_event(event_kind::unreachable, 11));
  watch_node b2(watch_node::config("b", port, 12));
  a.t().send(b2.t().address(), note("/user/y"));
  ASSERT_TRUE(b2.wait_received(1));
  ASSERT_TRUE(a.wait_event(event_kind::quarantined, 11));
  // The old incarnation never comes back and the new one is not suspected.
  ASSERT_TRUE(a.wait_event(event_kind::associated, 12));
  EXPECT_EQ(a.count(event_kind::reachable), 0u);
  EXPECT_EQ(a.count(event_kind::unreachable, 12), 0u);
}

TEST(RemoteTransportWatch, APeerThatIsNeverReachedIsReportedUnreachable) {
  watch_node a(watch_node::config("a"));
  std::uint16_t port;
  {
    watch_node probe(watch_node::config("probe"));
    port = probe.t().port();
  }
  const auto address = format_address("127.0.0.1", port);
  a.t().send(address, note("/user/x"));
  ASSERT_TRUE(a.wait_event(event_kind::unreachable));
  const auto ev = a.events(event_kind::unreachable).front();
  EXPECT_EQ(ev.address, address);
  EXPECT_EQ(ev.uid, 0u);
}

TEST(RemoteTransportWatch, RegularHeartbeatsKeepAPeerReachable) {
  watch_node a(watch_node::config("a"));
  watch_node b(watch_node::config("b"));
  a.t().send(b.t().address(), note("/user/x"));
  ASSERT_TRUE(b.wait_received(1));
  // A second passes (20+ heartbeats, 50 checks) with the peer alive.
  const auto until = std::chrono::steady_clock::now() + 1s;
  a.wait([&] { return std::chrono::steady_clock::now() >= until; });
  EXPECT_EQ(a.count(event_kind::unreachable), 0u);
  EXPECT_EQ(b.count(event_kind::unreachable), 0u);
}

TEST(RemoteTransportWatch, ADisconnectedPeerWithNothingQueuedIsForgottenAfterTheRetention) {
  auto c = watch_node::config("a");
  c.peer_retention = 300ms;
  watch_node a(c);
  auto b = std::make_unique<watch_node>(watch_node::config("b"));
  const auto port = b->t().port();
  const auto address = b->t().address();
  a.t().send(address, note("/user/x"));
  ASSERT_TRUE(b->wait_received(1));
  EXPECT_EQ(a.t().stats().peers, 1u);
  b.reset();
  // Redials fail meanwhile; once the retention passes the entry goes.
  ASSERT_TRUE(a.wait([&] { return a.t().stats().peers == 0; }));
  // A later send starts afresh and reaches a system on that port again.
  watch_node b2(watch_node::config("b", port));
  a.t().send(address, note("/user/y"));
  ASSERT_TRUE(b2.wait_received(1));
  EXPECT_EQ(a.t().stats().peers, 1u);
}

TEST(RemoteTransportWatch, APeerWithQueuedEnvelopesIsKept) {
  auto c = watch_node::config("a");
  c.peer_retention = 100ms;
  watch_node a(c);
  // Nothing listens at this port: the envelope stays queued while redialing.
  std::uint16_t port;
  {
    watch_node probe(watch_node::config("probe"));
    port = probe.t().port();
  }
  a.t().send(format_address("127.0.0.1", port), note("/user/x"));
  const auto until = std::chrono::steady_clock::now() + 600ms;
  a.wait([&] { return std::chrono::steady_clock::now() >= until; });
  EXPECT_EQ(a.t().stats().peers, 1u);
}

TEST(RemoteTransportWatch, BadDetectorSettingsAreRejected) {
  auto c = watch_node::config("a");
  c.failure_detector.threshold = 0;
  EXPECT_THROW(tcp_transport(c, {}), invalid_config_error);
  c = watch_node::config("a");
  c.reachability_check_interval = 0ms;
  EXPECT_THROW(tcp_transport(c, {}), invalid_config_error);
  c = watch_node::config("a");
  c.peer_retention = 0ms;
  EXPECT_THROW(tcp_transport(c, {}), invalid_config_error);
}

} // namespace
} // namespace atomr::remote
