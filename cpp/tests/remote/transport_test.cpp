#include "atomr/remote/tcp_transport.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <gtest/gtest.h>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <thread>
#include <vector>

namespace atomr::remote {
namespace {

using namespace std::chrono_literals;
using tcp = boost::asio::ip::tcp;

// Generous: the tests run on a loaded 2-core machine, often under ASan.
constexpr auto deadline = 60s;

// A transport with everything its callbacks saw, and waits on it.
class node {
public:
  explicit node(transport_config config) {
    transport_callbacks cb;
    cb.on_envelope = [this](inbound_envelope&& in) {
      std::lock_guard lock(mu_);
      received_.push_back(std::move(in));
      cv_.notify_all();
    };
    cb.on_dropped = [this](const std::string& to, envelope&& env, drop_reason reason) {
      std::lock_guard lock(mu_);
      dropped_.push_back({to, std::move(env), reason});
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

  static transport_config config(std::string name, std::uint16_t port = 0) {
    transport_config c;
    c.system_name = std::move(name);
    c.bind_port = port;
    c.reconnect_min_backoff = 10ms;
    c.reconnect_max_backoff = 200ms;
    return c;
  }

  tcp_transport& t() {
    return *transport_;
  }

  // Waits until `pred` holds (checked under the lock at every callback and
  // every 10 ms, for conditions on stats); false at the deadline.
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

  bool wait_received(std::size_t n) {
    return wait([&] { return received_.size() >= n; });
  }

  bool wait_event(event_kind kind, std::size_t n = 1) {
    return wait([&] { return count_locked(kind) >= n; });
  }

  std::size_t count(event_kind kind) const {
    std::lock_guard lock(mu_);
    return count_locked(kind);
  }

  std::size_t count_locked(event_kind kind) const {
    std::size_t n = 0;
    for (const auto& e : events_)
      n += e.kind == kind;
    return n;
  }

  std::vector<transport_event> events(event_kind kind) {
    std::lock_guard lock(mu_);
    std::vector<transport_event> out;
    for (const auto& e : events_)
      if (e.kind == kind)
        out.push_back(e);
    return out;
  }

  std::vector<inbound_envelope> received() {
    std::lock_guard lock(mu_);
    return received_;
  }

  std::size_t received_count() {
    std::lock_guard lock(mu_);
    return received_.size();
  }

  struct drop {
    std::string to;
    envelope env;
    drop_reason reason;
  };

  std::vector<drop> dropped() {
    std::lock_guard lock(mu_);
    return dropped_;
  }

  void stop() {
    transport_->stop();
  }

private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<inbound_envelope> received_;
  std::vector<drop> dropped_;
  std::vector<transport_event> events_;
  std::unique_ptr<tcp_transport> transport_;
};

envelope numbered(std::size_t i, std::string recipient = "/user/sink") {
  return envelope{std::move(recipient), std::nullopt, "test.Num", std::to_string(i), std::nullopt};
}

// Checks that `got` holds payloads 0..n-1 in order.
void expect_in_order(const std::vector<inbound_envelope>& got, std::size_t n) {
  ASSERT_EQ(got.size(), n);
  for (std::size_t i = 0; i < n; ++i)
    ASSERT_EQ(got[i].env.payload, std::to_string(i)) << "at " << i;
}

// A raw client socket with a receive timeout, for speaking bad protocol.
class raw_client {
public:
  explicit raw_client(std::uint16_t port)
    : socket_(io_) {
    socket_.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
    timeval tv{};
    tv.tv_sec = 20;
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  void write(const std::string& bytes) {
    boost::system::error_code ec;
    boost::asio::write(socket_, boost::asio::buffer(bytes), ec);
  }

  // Reads until the peer closes (true) or the receive timeout (false).
  bool read_until_closed(std::string& out) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(socket_.native_handle(), buf, sizeof buf, 0);
      if (n == 0)
        return true;
      if (n < 0)
        return errno == ECONNRESET;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }

  // Reads frames until one satisfies `pred`; false on close or timeout.
  bool read_frame(const std::function<bool(const frame&)>& pred) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(socket_.native_handle(), buf, sizeof buf, 0);
      if (n <= 0)
        return false;
      bool found = false;
      decoder_.feed(buf, static_cast<std::size_t>(n), [&](frame&& f) { found = found || pred(f); });
      if (found)
        return true;
    }
  }

private:
  boost::asio::io_context io_;
  tcp::socket socket_;
  frame_decoder decoder_;
};

std::string encoded(const frame& f) {
  std::string out;
  encode(f, out);
  return out;
}

handshake client_handshake(std::uint64_t uid, std::uint16_t port = 1) {
  handshake hs;
  hs.system_name = "raw";
  hs.uid = uid;
  hs.host = "127.0.0.1";
  hs.port = port;
  return hs;
}

std::optional<close_frame> close_in(const std::string& bytes) {
  frame_decoder d;
  std::optional<close_frame> found;
  try {
    d.feed(bytes.data(), bytes.size(), [&](frame&& f) {
      if (auto* c = std::get_if<close_frame>(&f))
        found = *c;
    });
  } catch (const error&) {
  }
  return found;
}

TEST(RemoteTransport, StartReportsTheBoundPortAndAddress) {
  node a(node::config("a"));
  EXPECT_NE(a.t().port(), 0);
  EXPECT_EQ(a.t().address(), "127.0.0.1:" + std::to_string(a.t().port()));
  EXPECT_NE(a.t().uid(), 0u);
  // The port is taken: a second transport on it cannot bind.
  tcp_transport second(node::config("b", a.t().port()), {});
  EXPECT_THROW(second.start(), bind_error);
}

TEST(RemoteTransport, BadSettingsAndAddressesThrowAtTheCallSite) {
  auto bad = node::config("");
  EXPECT_THROW(tcp_transport(bad, {}), invalid_config_error);
  bad = node::config("a");
  bad.outbound_queue_limit = 0;
  EXPECT_THROW(tcp_transport(bad, {}), invalid_config_error);
  bad = node::config("a");
  bad.max_frame_size = 10;
  EXPECT_THROW(tcp_transport(bad, {}), invalid_config_error);
  bad = node::config("a");
  bad.heartbeat_interval = 0ms;
  EXPECT_THROW(tcp_transport(bad, {}), invalid_config_error);
  bad = node::config("a");
  bad.bind_host = "localhost";
  EXPECT_THROW(tcp_transport(bad, {}), invalid_address_error);

  tcp_transport unstarted(node::config("u"), {});
  EXPECT_THROW(unstarted.send("127.0.0.1:1", numbered(0)), transport_stopped_error);

  node a(node::config("a"));
  for (const char* addr :
       {"", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "host:1", "127.0.0.1:x", "::1:5"}) {
    EXPECT_THROW(a.t().send(addr, numbered(0)), invalid_address_error) << addr;
  }
  EXPECT_THROW(a.t().send(a.t().address(), numbered(0)), invalid_address_error);
  envelope huge = numbered(0);
  huge.payload.assign(default_max_frame_size, 'x');
  EXPECT_THROW(a.t().send("127.0.0.1:1", huge), frame_too_large_error);
  EXPECT_EQ(parse_address("[::1]:5").first, "::1");
  EXPECT_EQ(format_address("::1", 5), "[::1]:5");
}

TEST(RemoteTransport, TwoTransportsExchange200KEnvelopesInOrder) {
  node a(node::config("a"));
  node b(node::config("b"));
  constexpr std::size_t n = 200'000;
  std::thread a_to_b([&] {
    for (std::size_t i = 0; i < n; ++i) {
      envelope env = numbered(i);
      env.sender = "akka.tcp://a@" + a.t().address() + "/user/src";
      env.correlation_id = i;
      while (!a.t().send(b.t().address(), env))
        std::this_thread::yield();
    }
  });
  for (std::size_t i = 0; i < n / 10; ++i)
    ASSERT_TRUE(b.t().send(a.t().address(), numbered(i)));
  a_to_b.join();
  ASSERT_TRUE(b.wait_received(n));
  ASSERT_TRUE(a.wait_received(n / 10));
  const auto got = b.received();
  expect_in_order(got, n);
  EXPECT_EQ(got[7].from, a.t().address());
  EXPECT_EQ(got[7].from_uid, a.t().uid());
  EXPECT_EQ(got[7].env.recipient, "/user/sink");
  EXPECT_EQ(got[7].env.sender, "akka.tcp://a@" + a.t().address() + "/user/src");
  EXPECT_EQ(got[7].env.correlation_id, 7u);
  EXPECT_EQ(got[7].env.manifest, "test.Num");
  expect_in_order(a.received(), n / 10);
  EXPECT_TRUE(a.dropped().empty());
  EXPECT_EQ(a.t().stats().envelopes_queued, n);
  EXPECT_EQ(b.t().stats().envelopes_received, n);
}

TEST(RemoteTransport, EnvelopesSentBeforeThePeerListensAreDeliveredOnceItDoes) {
  std::uint16_t port = 0;
  {
    node probe(node::config("probe"));
    port = probe.t().port();
  }
  node a(node::config("a"));
  const std::string target = "127.0.0.1:" + std::to_string(port);
  for (std::size_t i = 0; i < 100; ++i)
    ASSERT_TRUE(a.t().send(target, numbered(i)));
  ASSERT_TRUE(a.wait_event(event_kind::connect_failed));
  node b(node::config("b", port));
  ASSERT_TRUE(b.wait_received(100));
  expect_in_order(b.received(), 100);
}

TEST(RemoteTransport, SimultaneousConnectsSettleOnOneConnectionAndLoseNothing) {
  for (int round = 0; round < 10; ++round) {
    node a(node::config("a"));
    node b(node::config("b"));
    constexpr std::size_t n = 2000;
    std::thread t1([&] {
      for (std::size_t i = 0; i < n; ++i)
        a.t().send(b.t().address(), numbered(i));
    });
    std::thread t2([&] {
      for (std::size_t i = 0; i < n; ++i)
        b.t().send(a.t().address(), numbered(i));
    });
    t1.join();
    t2.join();
    ASSERT_TRUE(a.wait_received(n)) << "round " << round;
    ASSERT_TRUE(b.wait_received(n)) << "round " << round;
    expect_in_order(a.received(), n);
    expect_in_order(b.received(), n);
    // Both sides agree on the connection kept: the one dialed by the lower UID.
    ASSERT_TRUE(a.wait_event(event_kind::associated));
    ASSERT_TRUE(b.wait_event(event_kind::associated));
    const auto a_assoc = a.events(event_kind::associated).back();
    const auto b_assoc = b.events(event_kind::associated).back();
    const bool a_dialed_kept = a_assoc.detail == "outbound";
    EXPECT_EQ(a_dialed_kept, b_assoc.detail == "inbound");
    EXPECT_EQ(a.count(event_kind::associated), 1u);
    EXPECT_EQ(b.count(event_kind::associated), 1u);
    EXPECT_EQ(a.count(event_kind::disassociated), 0u);
  }
}

TEST(RemoteTransport, ReconnectsBackOffExponentiallyUpToTheMaximum) {
  std::uint16_t port = 0;
  {
    node probe(node::config("probe"));
    port = probe.t().port();
  }
  auto config = node::config("a");
  config.reconnect_min_backoff = 10ms;
  config.reconnect_max_backoff = 80ms;
  node a(config);
  a.t().send("127.0.0.1:" + std::to_string(port), numbered(0));
  ASSERT_TRUE(a.wait_event(event_kind::connect_failed, 7));
  std::vector<std::string> delays;
  for (const auto& e : a.events(event_kind::connect_failed)) {
    const auto at = e.detail.find("reconnecting in ");
    ASSERT_NE(at, std::string::npos) << e.detail;
    delays.push_back(e.detail.substr(at + 16));
  }
  delays.resize(7);
  EXPECT_EQ(delays, (std::vector<std::string>{"10 ms", "20 ms", "40 ms", "80 ms", "80 ms", "80 ms",
                                              "80 ms"}));
}

TEST(RemoteTransport, CookieMismatchIsRefusedAndNothingIsDelivered) {
  auto ca = node::config("a");
  ca.cookie = "right";
  auto cb = node::config("b");
  cb.cookie = "wrong";
  node a(ca);
  node b(cb);
  a.t().send(b.t().address(), numbered(0));
  ASSERT_TRUE(b.wait_event(event_kind::handshake_refused));
  ASSERT_TRUE(a.wait_event(event_kind::refused_by_peer));
  EXPECT_NE(b.events(event_kind::handshake_refused)[0].detail.find("cookie"), std::string::npos);
  EXPECT_EQ(b.received_count(), 0u);
  EXPECT_EQ(a.count(event_kind::associated), 0u);

  // No cookie against a cookie: refused too. The same cookie: accepted.
  node c(node::config("c"));
  c.t().send(b.t().address(), numbered(0));
  ASSERT_TRUE(b.wait_event(event_kind::handshake_refused, 2));
  auto cd = node::config("d");
  cd.cookie = "wrong";
  node d(cd);
  d.t().send(b.t().address(), numbered(1));
  ASSERT_TRUE(b.wait_received(1));
  EXPECT_EQ(b.received()[0].env.payload, "1");
}

TEST(RemoteTransport, AnotherProtocolVersionIsRefusedWithACloseFrame) {
  node b(node::config("b"));
  raw_client raw(b.t().port());
  handshake hs = client_handshake(42);
  hs.protocol_version = protocol_version + 1;
  raw.write(encoded(hs));
  std::string reply;
  ASSERT_TRUE(raw.read_until_closed(reply));
  const auto c = close_in(reply);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->reason, close_reason::handshake_refused);
  EXPECT_NE(c->detail.find("protocol version"), std::string::npos);
  ASSERT_TRUE(b.wait_event(event_kind::handshake_refused));
}

TEST(RemoteTransport, AnotherWireVersionIsAMalformedFrame) {
  node b(node::config("b"));
  raw_client raw(b.t().port());
  std::string bytes = encoded(client_handshake(42));
  bytes[4] = static_cast<char>(wire_version + 1);
  raw.write(bytes);
  std::string reply;
  ASSERT_TRUE(raw.read_until_closed(reply));
  ASSERT_TRUE(b.wait_event(event_kind::malformed_frame));
}

TEST(RemoteTransport, AGarbageSenderIsDisconnectedWhileAnotherPeerKeepsWorking) {
  node a(node::config("a"));
  node b(node::config("b"));
  for (std::size_t i = 0; i < 100; ++i)
    a.t().send(b.t().address(), numbered(i));
  ASSERT_TRUE(b.wait_received(100));

  // Garbage before any handshake.
  {
    raw_client raw(b.t().port());
    raw.write(std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string reply;
    ASSERT_TRUE(raw.read_until_closed(reply));
  }
  ASSERT_TRUE(b.wait_event(event_kind::malformed_frame, 1));
  // Garbage after a valid handshake: the frames before it count.
  {
    raw_client raw(b.t().port());
    raw.write(encoded(client_handshake(7, 9)));
    ASSERT_TRUE(
        raw.read_frame([](const frame& f) { return std::holds_alternative<handshake_ack>(f); }));
    raw.write(encoded(numbered(0, "/user/from-raw")) + std::string(64, '\xff'));
    std::string reply;
    ASSERT_TRUE(raw.read_until_closed(reply));
    const auto c = close_in(reply);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->reason, close_reason::protocol_error);
  }
  ASSERT_TRUE(b.wait_event(event_kind::malformed_frame, 2));
  // An envelope before the handshake is a protocol error too.
  {
    raw_client raw(b.t().port());
    raw.write(encoded(numbered(0)));
    std::string reply;
    ASSERT_TRUE(raw.read_until_closed(reply));
  }
  ASSERT_TRUE(b.wait_event(event_kind::malformed_frame, 3));

  for (std::size_t i = 100; i < 200; ++i)
    a.t().send(b.t().address(), numbered(i));
  ASSERT_TRUE(b.wait_received(201));
  std::vector<inbound_envelope> from_a;
  for (auto& in : b.received())
    if (in.from == a.t().address())
      from_a.push_back(in);
  expect_in_order(from_a, 200);
  EXPECT_EQ(b.count(event_kind::disassociated), 0u);
  EXPECT_EQ(a.count(event_kind::disassociated), 0u);
}

TEST(RemoteTransport, APeerRestartedWithANewUidIsAcceptedAndTheOldOneQuarantined) {
  node a(node::config("a"));
  auto b1 = std::make_unique<node>(node::config("b"));
  const std::uint16_t port = b1->t().port();
  const std::uint64_t old_uid = b1->t().uid();
  const std::string b_address = b1->t().address();
  for (std::size_t i = 0; i < 10; ++i)
    a.t().send(b_address, numbered(i));
  ASSERT_TRUE(b1->wait_received(10));
  b1->stop();
  ASSERT_TRUE(a.wait_event(event_kind::disassociated));

  node b2(node::config("b", port));
  ASSERT_NE(b2.t().uid(), old_uid);
  for (std::size_t i = 0; i < 10; ++i)
    a.t().send(b_address, numbered(i));
  ASSERT_TRUE(b2.wait_received(10));
  expect_in_order(b2.received(), 10);
  ASSERT_TRUE(a.wait_event(event_kind::quarantined));
  const auto q = a.events(event_kind::quarantined)[0];
  EXPECT_EQ(q.uid, old_uid);
  EXPECT_EQ(q.address, b_address);

  // The quarantined incarnation is refused if it shows up again.
  raw_client raw(a.t().port());
  raw.write(encoded(client_handshake(old_uid, port)));
  std::string reply;
  ASSERT_TRUE(raw.read_until_closed(reply));
  const auto c = close_in(reply);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->reason, close_reason::quarantined);
}

TEST(RemoteTransport, ANewIncarnationConnectingInIsAcceptedAndTheOldOneQuarantined) {
  node a(node::config("a"));
  auto b1 = std::make_unique<node>(node::config("b"));
  const std::uint16_t port = b1->t().port();
  const std::uint64_t old_uid = b1->t().uid();
  b1->t().send(a.t().address(), numbered(0));
  ASSERT_TRUE(a.wait_received(1));
  b1.reset(); // stops it
  node b2(node::config("b", port));
  b2.t().send(a.t().address(), numbered(1));
  ASSERT_TRUE(a.wait_received(2));
  ASSERT_TRUE(a.wait_event(event_kind::quarantined));
  EXPECT_EQ(a.events(event_kind::quarantined)[0].uid, old_uid);
  EXPECT_EQ(a.received()[1].from_uid, b2.t().uid());
  // Replies reach the new incarnation.
  a.t().send(b2.t().address(), numbered(2));
  ASSERT_TRUE(b2.wait_received(1));
}

TEST(RemoteTransport, OutboundOverflowIsReportedWithAReason) {
  std::uint16_t port = 0;
  {
    node probe(node::config("probe"));
    port = probe.t().port();
  }
  auto config = node::config("a");
  config.outbound_queue_limit = 10;
  node a(config);
  const std::string nowhere = "127.0.0.1:" + std::to_string(port);
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < 15; ++i)
    accepted += a.t().send(nowhere, numbered(i));
  EXPECT_EQ(accepted, 10u);
  auto drops = a.dropped();
  ASSERT_EQ(drops.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(drops[i].reason, drop_reason::queue_full);
    EXPECT_EQ(drops[i].to, nowhere);
    EXPECT_EQ(drops[i].env.payload, std::to_string(10 + i));
  }
  // What is still queued when the transport stops is reported too, in order.
  a.stop();
  drops = a.dropped();
  ASSERT_EQ(drops.size(), 15u);
  for (std::size_t i = 5; i < 15; ++i) {
    EXPECT_EQ(drops[i].reason, drop_reason::transport_stopped);
    EXPECT_EQ(drops[i].env.payload, std::to_string(i - 5));
  }
  EXPECT_FALSE(a.t().send(nowhere, numbered(99)));
  EXPECT_EQ(a.dropped().back().reason, drop_reason::transport_stopped);
  EXPECT_EQ(a.t().stats().envelopes_dropped, 16u);
}

TEST(RemoteTransport, APeerThatStopsReadingCannotGrowTheQueueWithoutBound) {
  // A raw peer that completes the handshake and then never reads.
  boost::asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  const std::uint16_t port = acceptor.local_endpoint().port();
  std::promise<void> release;
  std::thread server([&] {
    tcp::socket s(io);
    acceptor.accept(s);
    frame_decoder d;
    bool greeted = false;
    char buf[1024];
    while (!greeted) {
      boost::system::error_code ec;
      const std::size_t n = s.read_some(boost::asio::buffer(buf), ec);
      if (ec)
        return;
      d.feed(buf, n, [&](frame&& f) { greeted = greeted || std::holds_alternative<handshake>(f); });
    }
    handshake_ack ack;
    static_cast<handshake&>(ack) = client_handshake(77, port);
    boost::asio::write(s, boost::asio::buffer(encoded(ack)));
    release.get_future().wait();
  });
  auto config = node::config("a");
  config.outbound_queue_limit = 1000;
  {
    node a(config);
    const std::string peer = "127.0.0.1:" + std::to_string(port);
    envelope env = numbered(0);
    env.payload.assign(1024, 'p');
    ASSERT_TRUE(a.t().send(peer, env));
    ASSERT_TRUE(a.wait_event(event_kind::associated));
    // Keep offering envelopes (the io thread writes meanwhile): what is
    // accepted is bounded by the socket buffers plus the queue limit, far
    // below what is offered.
    std::size_t sent = 1;
    for (std::size_t attempt = 0; attempt < 300'000 && sent < 100'000; ++attempt) {
      if (a.t().send(peer, env))
        ++sent;
      else
        std::this_thread::yield();
    }
    EXPECT_LT(sent, 100'000u); // 100 MB
    ASSERT_FALSE(a.dropped().empty());
    EXPECT_EQ(a.dropped()[0].reason, drop_reason::queue_full);
    EXPECT_EQ(a.count(event_kind::associated), 1u);
    release.set_value();
    server.join();
  }
}

TEST(RemoteTransport, AThrowingEnvelopeCallbackDoesNotStopTheConnection) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> got;
  transport_callbacks callbacks;
  callbacks.on_envelope = [&](inbound_envelope&& in) {
    if (in.env.payload == "0")
      throw std::runtime_error("callback failed");
    std::lock_guard lock(mu);
    got.push_back(in.env.payload);
    cv.notify_all();
  };
  tcp_transport b(node::config("b"), callbacks);
  b.start();
  node a(node::config("a"));
  for (std::size_t i = 0; i < 3; ++i)
    a.t().send(b.address(), numbered(i));
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, deadline, [&] { return got.size() >= 2; }));
  EXPECT_EQ(got, (std::vector<std::string>{"1", "2"}));
}

TEST(RemoteTransport, HeartbeatsKeepAnIdleAssociationAndASilentPeerTimesOut) {
  auto fast = [](std::string name) {
    auto c = node::config(std::move(name));
    c.heartbeat_interval = 20ms;
    c.idle_timeout = 2000ms;
    return c;
  };
  node a(fast("a"));
  node b(fast("b"));
  a.t().send(b.t().address(), numbered(0));
  ASSERT_TRUE(b.wait_received(1));
  // No traffic, only heartbeats: bytes keep arriving on both sides.
  const auto before = b.t().stats().bytes_read;
  ASSERT_TRUE(b.wait([&] { return b.t().stats().bytes_read > before + 20 * 14; }));
  EXPECT_EQ(a.count(event_kind::heartbeat_timeout), 0u);
  EXPECT_EQ(b.count(event_kind::heartbeat_timeout), 0u);

  // A peer that completes the handshake and then says nothing is dropped.
  raw_client raw(b.t().port());
  raw.write(encoded(client_handshake(99, 4)));
  std::string reply;
  ASSERT_TRUE(raw.read_until_closed(reply));
  ASSERT_TRUE(b.wait_event(event_kind::heartbeat_timeout));
  EXPECT_EQ(b.events(event_kind::heartbeat_timeout)[0].uid, 99u);
}

TEST(RemoteTransport, AHandshakeThatNeverComesTimesOut) {
  auto config = node::config("b");
  config.handshake_timeout = 100ms;
  node b(config);
  raw_client raw(b.t().port());
  std::string reply;
  ASSERT_TRUE(raw.read_until_closed(reply));
  EXPECT_TRUE(reply.empty());
}

TEST(RemoteTransport, DeferredSendsWaitForTheFlushUnlessTheyFillTheThreshold) {
  auto quiet = [](std::string name) {
    auto c = node::config(std::move(name));
    c.heartbeat_interval = 600s; // no heartbeat write during the test
    c.idle_timeout = 1200s;
    return c;
  };
  node a(quiet("a"));
  node b(quiet("b"));
  // Associate first: deferral applies to an established connection.
  ASSERT_TRUE(a.t().send(b.t().address(), numbered(0)));
  ASSERT_TRUE(b.wait_received(1));
  const auto writes = a.t().stats().writes;
  // Small deferred sends: nothing is written until flush_deferred (the io
  // thread is never woken for them; heartbeats are a second away).
  for (std::size_t i = 1; i <= 5; ++i)
    ASSERT_TRUE(a.t().send_deferred(b.t().address(), numbered(i)));
  EXPECT_EQ(a.t().stats().writes, writes);
  a.t().flush_deferred();
  ASSERT_TRUE(b.wait_received(6));
  // Deferred sends that queue the threshold's worth go out without a flush.
  const std::string big(tcp_transport::deferred_flush_bytes / 4, 'x');
  for (std::size_t i = 6; i < 12; ++i) {
    envelope env = numbered(i);
    env.payload = std::to_string(i);
    env.manifest = big;
    ASSERT_TRUE(a.t().send_deferred(b.t().address(), env));
  }
  ASSERT_TRUE(b.wait_received(10));
  // The rest comes with the flush, in order.
  a.t().flush_deferred();
  ASSERT_TRUE(b.wait_received(12));
  expect_in_order(b.received(), 12);
  // A flush with nothing owed, and one after stop, do nothing.
  a.t().flush_deferred();
  a.stop();
  a.t().flush_deferred();
}

} // namespace
} // namespace atomr::remote
