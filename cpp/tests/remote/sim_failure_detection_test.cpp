// Heartbeats and the phi-accrual failure detector of the simulated transport,
// all on the virtual clock.

#include "atomr/remote/error.hpp"
#include "atomr/remote/sim_network.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace atomr::remote {
namespace {

using namespace std::chrono_literals;

envelope env_of(std::string payload) {
  envelope e;
  e.recipient = "akka://n/user/inbox";
  e.manifest = "test.Msg";
  e.payload = std::move(payload);
  return e;
}

// (virtual ns, kind, address, uid) of each event one transport saw.
using seen = std::tuple<std::int64_t, event_kind, std::string, std::uint64_t>;

std::unique_ptr<sim_transport> node(sim_network& net, const std::string& address,
                                    std::vector<seen>& events, sim_heartbeat_config hb = {},
                                    std::uint64_t uid = 0) {
  transport_callbacks cb;
  cb.on_event = [&net, &events](const transport_event& e) {
    events.emplace_back(net.now().count(), e.kind, e.address, e.uid);
  };
  auto t = net.attach(address, std::move(cb), uid, default_max_frame_size, hb);
  t->start();
  return t;
}

std::vector<seen> of_kind(const std::vector<seen>& events, event_kind kind) {
  std::vector<seen> out;
  for (const auto& e : events) {
    if (std::get<1>(e) == kind) {
      out.push_back(e);
    }
  }
  return out;
}

// Advances in `step`s until `pred` holds or `limit` passed; returns whether it held.
template <class Pred>
bool advance_until(sim_network& net, Pred pred, sim_duration limit, sim_duration step = 100ms) {
  const auto end = net.now() + limit;
  while (!pred()) {
    if (net.now() >= end) {
      return false;
    }
    net.advance(step);
  }
  return true;
}

TEST(SimFailureDetection, PartitionMakesBothSidesUnreachableInTheExpectedTimeAndHealRestores) {
  sim_network net(3);
  std::vector<seen> a_ev, b_ev;
  auto a = node(net, "a:1", a_ev);
  auto b = node(net, "b:1", b_ev);
  ASSERT_TRUE(a->send("b:1", env_of("hello")));
  net.advance(30s); // associated; 30 regular heartbeats each way
  EXPECT_TRUE(of_kind(a_ev, event_kind::unreachable).empty());
  EXPECT_TRUE(of_kind(b_ev, event_kind::unreachable).empty());

  const auto cut = net.now();
  net.partition("a:1", "b:1");
  // Defaults: heartbeats every 1 s (mean interval 1 s, deviation floored at
  // 100 ms), pause 10 s, threshold 10: phi reaches 10 about 1 s + 10 s +
  // 5.8 * 100 ms after the last heartbeat, which came at most 1 s before the
  // cut; the check runs every 1 s. So: not before cut + 10.5 s, by cut + 13 s.
  net.advance(10500ms);
  EXPECT_TRUE(of_kind(a_ev, event_kind::unreachable).empty());
  EXPECT_TRUE(of_kind(b_ev, event_kind::unreachable).empty());
  net.advance(2500ms);
  const auto a_un = of_kind(a_ev, event_kind::unreachable);
  const auto b_un = of_kind(b_ev, event_kind::unreachable);
  ASSERT_EQ(a_un.size(), 1u);
  ASSERT_EQ(b_un.size(), 1u);
  EXPECT_EQ(std::get<2>(a_un[0]), "b:1");
  EXPECT_EQ(std::get<3>(a_un[0]), b->uid());
  EXPECT_EQ(std::get<2>(b_un[0]), "a:1");
  EXPECT_EQ(std::get<3>(b_un[0]), a->uid());
  EXPECT_GT(std::get<0>(a_un[0]), (cut + 10500ms).count());
  EXPECT_LE(std::get<0>(a_un[0]), (cut + 13s).count());

  // Still partitioned: no flapping back.
  net.advance(60s);
  EXPECT_TRUE(of_kind(a_ev, event_kind::reachable).empty());
  EXPECT_EQ(of_kind(a_ev, event_kind::unreachable).size(), 1u);

  net.heal();
  ASSERT_TRUE(advance_until(
      net,
      [&] {
        return !of_kind(a_ev, event_kind::reachable).empty() &&
               !of_kind(b_ev, event_kind::reachable).empty();
      },
      3s));
  const auto a_re = of_kind(a_ev, event_kind::reachable);
  EXPECT_EQ(std::get<2>(a_re[0]), "b:1");
  EXPECT_EQ(std::get<3>(a_re[0]), b->uid());
  EXPECT_EQ(std::get<3>(of_kind(b_ev, event_kind::reachable)[0]), a->uid());
  EXPECT_EQ(net.in_flight(), 0u); // heartbeats and timers are not counted
}

TEST(SimFailureDetection, ShorterSettingsDetectSooner) {
  sim_network net(5);
  sim_heartbeat_config hb;
  hb.heartbeat_interval = 200ms;
  hb.reachability_check_interval = 100ms;
  hb.failure_detector.acceptable_heartbeat_pause = 1s;
  hb.failure_detector.first_heartbeat_estimate = 200ms;
  hb.failure_detector.min_std_deviation = 50ms;
  std::vector<seen> a_ev, b_ev;
  auto a = node(net, "a:1", a_ev, hb);
  auto b = node(net, "b:1", b_ev, hb);
  ASSERT_TRUE(a->send("b:1", env_of("hello")));
  net.advance(10s);
  const auto cut = net.now();
  net.partition("a:1", "b:1");
  // phi 10 about 200 ms + 1 s + 5.8 * 50 ms after the last heartbeat (at most
  // 200 ms before the cut), checked every 100 ms.
  net.advance(1s);
  EXPECT_TRUE(of_kind(a_ev, event_kind::unreachable).empty());
  net.advance(900ms);
  ASSERT_EQ(of_kind(a_ev, event_kind::unreachable).size(), 1u);
  ASSERT_EQ(of_kind(b_ev, event_kind::unreachable).size(), 1u);
  EXPECT_GT(std::get<0>(of_kind(a_ev, event_kind::unreachable)[0]), (cut + 1s).count());
}

TEST(SimFailureDetection, LossyLinkWithDefaultSettingsDoesNotFlap) {
  sim_network net(11);
  std::vector<seen> a_ev, b_ev;
  auto a = node(net, "a:1", a_ev);
  auto b = node(net, "b:1", b_ev);
  ASSERT_TRUE(a->send("b:1", env_of("hello")));
  net.advance(1s);
  link_faults lossy;
  lossy.drop = 0.3;
  lossy.jitter = 50ms;
  net.set_default_faults(lossy);
  net.advance(600s);
  EXPECT_TRUE(of_kind(a_ev, event_kind::unreachable).empty());
  EXPECT_TRUE(of_kind(b_ev, event_kind::unreachable).empty());
}

std::vector<seen> scripted_run(std::uint64_t seed) {
  sim_network net(seed);
  std::vector<seen> ev;
  std::vector<seen> a_ev, b_ev, c_ev;
  auto a = node(net, "a:1", a_ev);
  auto b = node(net, "b:1", b_ev);
  auto c = node(net, "c:1", c_ev);
  a->send("b:1", env_of("1"));
  b->send("c:1", env_of("2"));
  c->send("a:1", env_of("3"));
  link_faults f;
  f.drop = 0.5;
  f.jitter = 700ms;
  f.reorder = 300ms;
  net.set_default_faults(f);
  net.advance(40s);
  net.partition("a:1", "c:1");
  net.advance(20s);
  net.heal();
  net.advance(20s);
  for (auto* v : {&a_ev, &b_ev, &c_ev}) {
    ev.insert(ev.end(), v->begin(), v->end());
  }
  return ev;
}

TEST(SimFailureDetection, TheSameSeedReplaysTheSameEvents) {
  const auto first = scripted_run(42);
  const auto second = scripted_run(42);
  EXPECT_EQ(first, second);
  EXPECT_FALSE(of_kind(first, event_kind::unreachable).empty());
  EXPECT_FALSE(of_kind(first, event_kind::reachable).empty());
}

TEST(SimFailureDetection, ANewIncarnationQuarantinesTheOldUidAtPeersThatKnewIt) {
  sim_network net(9);
  std::vector<seen> a_ev, b_ev, b2_ev, c_ev;
  auto a = node(net, "a:1", a_ev);
  auto b = node(net, "b:1", b_ev, {}, 100);
  auto c = node(net, "c:1", c_ev); // never talked to b
  ASSERT_TRUE(a->send("b:1", env_of("hello")));
  net.advance(2s);
  b->stop();
  net.advance(1s);
  auto b2 = node(net, "b:1", b2_ev, {}, 200);
  net.advance(0s);
  const auto q = of_kind(a_ev, event_kind::quarantined);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(std::get<2>(q[0]), "b:1");
  EXPECT_EQ(std::get<3>(q[0]), 100u);
  EXPECT_TRUE(of_kind(c_ev, event_kind::quarantined).empty());
  // The new incarnation is monitored afresh once associated; the old one
  // is never reported unreachable.
  ASSERT_TRUE(a->send("b:1", env_of("again")));
  net.advance(60s);
  EXPECT_TRUE(of_kind(a_ev, event_kind::unreachable).empty());
}

TEST(SimFailureDetection, AStoppedPeerBecomesUnreachable) {
  sim_network net(4);
  std::vector<seen> a_ev, b_ev;
  auto a = node(net, "a:1", a_ev);
  auto b = node(net, "b:1", b_ev);
  ASSERT_TRUE(a->send("b:1", env_of("hello")));
  net.advance(5s);
  const auto uid = b->uid();
  b->stop();
  net.advance(20s);
  const auto un = of_kind(a_ev, event_kind::unreachable);
  ASSERT_EQ(un.size(), 1u);
  EXPECT_EQ(std::get<3>(un[0]), uid);
}

TEST(SimFailureDetection, DisabledSendsNoHeartbeats) {
  sim_network net(4);
  sim_heartbeat_config off;
  off.enabled = false;
  std::vector<seen> a_ev, b_ev;
  auto a = node(net, "a:1", a_ev, off);
  auto b = node(net, "b:1", b_ev, off);
  ASSERT_TRUE(a->send("b:1", env_of("hello")));
  net.advance(1s);
  net.partition("a:1", "b:1");
  net.advance(60s);
  EXPECT_TRUE(of_kind(a_ev, event_kind::unreachable).empty());
  EXPECT_TRUE(of_kind(b_ev, event_kind::unreachable).empty());
}

TEST(SimFailureDetection, BadSettingsAreRejected) {
  sim_network net(1);
  sim_heartbeat_config hb;
  hb.heartbeat_interval = 0ms;
  EXPECT_THROW(net.attach("a:1", {}, 0, default_max_frame_size, hb), invalid_config_error);
  hb = {};
  hb.failure_detector.threshold = 0;
  EXPECT_THROW(net.attach("a:1", {}, 0, default_max_frame_size, hb), invalid_config_error);
}

} // namespace
} // namespace atomr::remote
