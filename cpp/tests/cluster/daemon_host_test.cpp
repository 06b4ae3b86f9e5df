#include "atomr/cluster/daemon_host.hpp"

#include <chrono>
#include <functional>
#include <gtest/gtest.h>
#include <memory>
#include <poll.h>
#include <string>
#include <thread>
#include <vector>

namespace atomr::cluster {
namespace {

using namespace std::chrono_literals;

daemon_config fast(std::string address) {
  daemon_config c;
  c.self.address = std::move(address);
  c.gossip_interval = 20ms;
  c.heartbeat_interval = 20ms;
  c.seed_node_timeout = 300ms;
  c.retry_unsuccessful_join_after = 300ms;
  c.failure_detector.acceptable_heartbeat_pause = 3000ms;
  c.failure_detector.first_heartbeat_estimate = 20ms;
  return c;
}

bool eventually(const std::function<bool()>& cond, std::chrono::seconds limit = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

std::size_t up_count(const cluster_daemon& d) {
  std::size_t n = 0;
  const auto g = d.state();
  for (const auto& m : g.members())
    n += m.status == member_status::up ? 1 : 0;
  return n;
}

TEST(EventQueue, SignalsUntilDrained) {
  event_queue q;
  EXPECT_FALSE(readable(q.fd()));
  cluster_event ev{};
  ev.kind = cluster_event::kind_t::leader_changed;
  ev.to_address = "akka://a";
  q.push(ev);
  q.push(ev);
  EXPECT_TRUE(readable(q.fd()));
  EXPECT_EQ(q.size(), 2u);
  auto items = q.drain();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[1].to_address, "akka://a");
  EXPECT_FALSE(readable(q.fd()));
}

TEST(DaemonHost, StandaloneTicksItselfUpAndReportsOnTheFd) {
  auto host = daemon_host::standalone(fast("akka://solo"));
  std::vector<cluster_event> seen;
  ASSERT_TRUE(eventually([&] {
    if (readable(host->events().fd())) {
      for (auto& e : host->events().drain())
        seen.push_back(e);
    }
    for (const auto& e : seen)
      if (e.kind == cluster_event::kind_t::member_up && e.subject.node.address == "akka://solo")
        return true;
    return false;
  }));
  EXPECT_NE(host->daemon().self().uid, 0u);
  EXPECT_EQ(host->daemon().leader(), "akka://solo");
  host->stop();
  host->stop(); // idempotent
  bool shutting_down = false;
  for (const auto& e : host->events().drain())
    shutting_down |= e.kind == cluster_event::kind_t::cluster_shutting_down;
  EXPECT_TRUE(shutting_down);
  const auto ticks = host->daemon().stats().ticks;
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(host->daemon().stats().ticks, ticks); // the ticker stopped
}

struct tcp_node {
  std::shared_ptr<remote::inbound_queue> queue = std::make_shared<remote::inbound_queue>();
  std::unique_ptr<remote::tcp_transport> transport;
  std::unique_ptr<daemon_host> host;

  explicit tcp_node(const std::string& name) {
    remote::transport_config c;
    c.system_name = name;
    transport = std::make_unique<remote::tcp_transport>(c, remote::queue_callbacks(queue));
    transport->start();
    host = daemon_host::on_tcp(fast("akka.tcp://" + name + "@" + transport->address()), *transport,
                               queue);
  }
  ~tcp_node() {
    host->stop();
    transport->stop();
  }
};

TEST(DaemonHost, TwoNodesOverTcpJoinThroughTheTapBesideOrdinaryTraffic) {
  tcp_node a("a"), b("b");
  EXPECT_EQ(a.host->daemon().self().uid, a.transport->uid());
  const auto seed = a.host->daemon().self().address;
  a.host->daemon().join_seed_nodes({seed});
  b.host->daemon().join_seed_nodes({seed});
  ASSERT_TRUE(eventually(
      [&] { return up_count(a.host->daemon()) == 2 && up_count(b.host->daemon()) == 2; }));
  // An actor's envelope still reaches the queue; the daemon's never do.
  remote::envelope env;
  env.recipient = "akka.tcp://b@" + b.transport->address() + "/user/x";
  env.manifest = "m";
  env.payload = "hello";
  ASSERT_TRUE(a.transport->send(b.transport->address(), env));
  std::vector<remote::inbound_item> items;
  ASSERT_TRUE(eventually([&] {
    for (auto& it : b.queue->drain())
      items.push_back(std::move(it));
    for (const auto& it : items)
      if (it.kind == remote::inbound_item::kind_t::envelope && it.in.env.payload == "hello")
        return true;
    return false;
  }));
  for (const auto& it : items) {
    if (it.kind == remote::inbound_item::kind_t::envelope) {
      EXPECT_FALSE(std::string_view(it.in.env.recipient).ends_with(daemon_path));
    }
  }
  EXPECT_GT(b.host->daemon().stats().gossip_received + b.host->daemon().stats().status_received,
            0u);
  // Once stopped, the tap is gone.
  b.host->stop();
  EXPECT_EQ(b.queue->tap(), nullptr);
}

TEST(SimBus, NothingHappensUntilTimeMovesThenDaemonsJoin) {
  remote::sim_network net(11);
  sim_bus bus(net);
  remote::sim_heartbeat_config hb;
  hb.enabled = false;
  auto a = daemon_host::on_sim(fast("akka://a"), bus, hb);
  auto b = daemon_host::on_sim(fast("akka://b"), bus, hb);
  EXPECT_EQ(net.addresses(), (std::vector<std::string>{"akka://a", "akka://b"}));
  b->daemon().join_seed_nodes({"akka://a"});
  a->daemon().join_seed_nodes({"akka://a"});
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(a->daemon().stats().ticks, 0u); // no real-time ticker on a bus
  for (int i = 0; i < 200 && !(up_count(a->daemon()) == 2 && up_count(b->daemon()) == 2); ++i)
    bus.advance(10ms);
  EXPECT_EQ(up_count(a->daemon()), 2u);
  EXPECT_EQ(up_count(b->daemon()), 2u);
  EXPECT_GT(a->daemon().stats().ticks, 0u);
  b->stop();
  EXPECT_EQ(net.addresses(), std::vector<std::string>{"akka://a"});
  const auto ticks = b->daemon().stats().ticks;
  bus.advance(200ms);
  EXPECT_EQ(b->daemon().stats().ticks, ticks); // its timer was cancelled
}

TEST(SimBus, TheDriverMovesVirtualTimeWithTheWallClock) {
  remote::sim_network net(3);
  sim_bus bus(net);
  EXPECT_FALSE(bus.driving());
  bus.start_driver(2ms);
  bus.start_driver(2ms); // idempotent
  EXPECT_TRUE(bus.driving());
  auto host = daemon_host::on_sim(fast("akka://d"), bus, {});
  ASSERT_TRUE(eventually([&] { return net.now() > 100ms && up_count(host->daemon()) == 1; }));
  bus.stop_driver();
  EXPECT_FALSE(bus.driving());
  const auto now = net.now();
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(net.now(), now);
}

} // namespace
} // namespace atomr::cluster

TEST(PolledLease, AnAttemptTakesTheStoredOutcomeOrMarksARequest) {
  using atomr::cluster::polled_lease_state;
  using atomr::cluster::sbr::lease_outcome;
  auto state = std::make_shared<polled_lease_state>();
  auto lease = atomr::cluster::polled_lease(state);
  EXPECT_FALSE(state->take_request());
  // Nothing stored yet: pending, and the acquiring side sees a request once.
  EXPECT_EQ(lease(), lease_outcome::pending);
  EXPECT_TRUE(state->take_request());
  EXPECT_FALSE(state->take_request());
  // A stored outcome is taken by the next attempt only, with no new request.
  state->set_outcome(lease_outcome::acquired);
  EXPECT_EQ(lease(), lease_outcome::acquired);
  EXPECT_FALSE(state->take_request());
  EXPECT_EQ(lease(), lease_outcome::pending);
  EXPECT_TRUE(state->take_request());
  state->set_outcome(lease_outcome::denied);
  EXPECT_EQ(lease(), lease_outcome::denied);
}
