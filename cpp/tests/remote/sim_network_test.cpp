#include "atomr/remote/error.hpp"
#include "atomr/remote/sim_network.hpp"

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <gtest/gtest.h>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace atomr::remote {
namespace {

using namespace std::chrono_literals;

envelope env_of(std::string payload, std::string recipient = "akka://n/user/inbox") {
  envelope e;
  e.recipient = std::move(recipient);
  e.manifest = "test.Msg";
  e.payload = std::move(payload);
  return e;
}

// What one node saw, in order.
struct inbox {
  std::vector<std::tuple<std::int64_t, std::string, std::string>> frames; // (ns, from, payload)
  std::vector<transport_event> events;
  std::vector<std::pair<std::string, envelope>> dropped;
};

// A transport on `net` recording into `box` (the clock read in callbacks).
std::unique_ptr<sim_transport> node(sim_network& net, const std::string& address, inbox& box,
                                    std::uint64_t uid = 0) {
  transport_callbacks cb;
  cb.on_envelope = [&net, &box](inbound_envelope&& in) {
    box.frames.emplace_back(net.now().count(), in.from, in.env.payload);
  };
  cb.on_event = [&box](const transport_event& e) { box.events.push_back(e); };
  cb.on_dropped = [&box](const std::string& to, envelope&& e, drop_reason) {
    box.dropped.emplace_back(to, std::move(e));
  };
  auto t = net.attach(address, std::move(cb), uid);
  t->start();
  return t;
}

std::vector<std::string> payloads(const inbox& box) {
  std::vector<std::string> out;
  for (const auto& f : box.frames) {
    out.push_back(std::get<2>(f));
  }
  return out;
}

TEST(SimNetwork, NothingMovesUntilTimeIsAdvancedAndDelayIsVirtualTime) {
  sim_network net(1);
  inbox a_box, b_box;
  auto a = node(net, "10.0.0.1:2552", a_box);
  auto b = node(net, "10.0.0.2:2552", b_box);
  net.set_link(a->address(), b->address(), link_faults{0, 0, 50ms, 0ms, 0ms});
  ASSERT_TRUE(a->send(b->address(), env_of("x")));
  EXPECT_EQ(net.in_flight(), 1u);
  EXPECT_EQ(net.next_due(), sim_duration(50ms));
  std::this_thread::sleep_for(5ms); // real time does not move it
  EXPECT_TRUE(b_box.frames.empty());
  EXPECT_EQ(net.advance(49ms), 0u);
  EXPECT_TRUE(b_box.frames.empty());
  EXPECT_EQ(net.now(), sim_duration(49ms));
  EXPECT_EQ(net.advance(1ms), 1u); // due exactly at the new time: delivered
  ASSERT_EQ(b_box.frames.size(), 1u);
  EXPECT_EQ(std::get<0>(b_box.frames[0]), sim_duration(50ms).count());
  EXPECT_EQ(std::get<1>(b_box.frames[0]), "10.0.0.1:2552");
  EXPECT_EQ(std::get<2>(b_box.frames[0]), "x");
  // The reverse link has no delay of its own: the default (none).
  ASSERT_TRUE(b->send(a->address(), env_of("y")));
  EXPECT_EQ(net.advance(0ms), 1u);
  EXPECT_EQ(payloads(a_box), std::vector<std::string>{"y"});
  EXPECT_EQ(net.in_flight(), 0u);
  EXPECT_EQ(net.next_due(), std::nullopt);
}

TEST(SimNetwork, EnvelopesCrossTheWireFormatWhole) {
  sim_network net;
  inbox a_box, b_box;
  auto a = node(net, "a:1", a_box);
  std::vector<inbound_envelope> got;
  transport_callbacks cb;
  cb.on_envelope = [&got](inbound_envelope&& in) { got.push_back(std::move(in)); };
  auto b = net.attach("b:1", cb);
  b->start();
  envelope e = env_of(std::string("\0\1\2binary", 9), "akka.tcp://b@b:1/user/x");
  e.sender = "akka.tcp://a@a:1/user/y";
  e.correlation_id = 42;
  a->send("b:1", e);
  net.run_until_idle();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].env, e);
  EXPECT_EQ(got[0].from, "a:1");
  EXPECT_EQ(got[0].from_uid, a->uid());
  const auto s = a->stats();
  EXPECT_EQ(s.envelopes_queued, 1u);
  EXPECT_EQ(s.bytes_written, encoded_size(e));
  EXPECT_EQ(b->stats().envelopes_received, 1u);
  EXPECT_EQ(b->stats().bytes_read, encoded_size(e));
  EXPECT_EQ(net.stats("a:1", "b:1").bytes, encoded_size(e));
}

// Three nodes talking over every kind of fault; returns what each saw.
std::vector<inbox> chaotic_run(std::uint64_t seed) {
  sim_network net(seed);
  std::vector<inbox> boxes(3);
  std::vector<std::unique_ptr<sim_transport>> nodes;
  const std::vector<std::string> names{"n0:1", "n1:1", "n2:1"};
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(node(net, names[i], boxes[i], 100 + i));
  }
  net.set_default_faults(link_faults{0.1, 0.1, 5ms, 10ms, 20ms});
  net.set_link("n0:1", "n2:1", link_faults{0.3, 0.2, 1ms, 2ms, 0ms});
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 3; ++i) {
      const auto& to = names[(i + 1 + round % 2) % 3];
      nodes[i]->send(to, env_of(names[i] + "#" + std::to_string(round)));
    }
    net.advance(3ms);
  }
  net.run_until_idle();
  return boxes;
}

TEST(SimNetwork, TheSameSeedReplaysTheSameRun) {
  const auto first = chaotic_run(7);
  const auto second = chaotic_run(7);
  const auto other = chaotic_run(8);
  bool any_differs = false;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(first[i].frames, second[i].frames) << "node " << i;
    ASSERT_EQ(first[i].events.size(), second[i].events.size());
    EXPECT_GT(first[i].frames.size(), 100u);
    any_differs = any_differs || first[i].frames != other[i].frames;
  }
  EXPECT_TRUE(any_differs) << "another seed should give another run";
}

TEST(SimNetwork, DropRateIsWithinStatisticalBoundsOver10KFrames) {
  for (const double p : {0.05, 0.2, 0.5}) {
    sim_network net(11);
    inbox a_box, b_box;
    auto a = node(net, "a:1", a_box);
    auto b = node(net, "b:1", b_box);
    net.set_link("a:1", "b:1", link_faults{p, 0, 1ms, 0ms, 0ms});
    constexpr int n = 10'000;
    for (int i = 0; i < n; ++i) {
      a->send("b:1", env_of(std::to_string(i)));
    }
    net.run_until_idle();
    const auto s = net.stats("a:1", "b:1");
    EXPECT_EQ(s.sent, static_cast<std::uint64_t>(n));
    EXPECT_EQ(s.delivered + s.dropped, s.sent);
    EXPECT_EQ(s.delivered, b_box.frames.size());
    // Binomial(n, p): within 5 standard deviations.
    const double sd = std::sqrt(n * p * (1 - p));
    EXPECT_NEAR(static_cast<double>(s.dropped), n * p, 5 * sd) << "p = " << p;
    // What arrives keeps its order (no reorder configured).
    int last = -1;
    for (const auto& f : b_box.frames) {
      const int v = std::stoi(std::get<2>(f));
      EXPECT_GT(v, last);
      last = v;
    }
  }
}

TEST(SimNetwork, APartitionBlocksBothDirectionsUntilHealed) {
  sim_network net(3);
  inbox a_box, b_box, c_box;
  auto a = node(net, "a:1", a_box);
  auto b = node(net, "b:1", b_box);
  auto c = node(net, "c:1", c_box);
  net.set_default_faults(link_faults{0, 0, 10ms, 0ms, 0ms});
  a->send("b:1", env_of("before"));
  b->send("a:1", env_of("before"));
  net.advance(10ms);
  ASSERT_EQ(b_box.frames.size(), 1u);
  ASSERT_EQ(a_box.events.size(), 1u);
  EXPECT_EQ(a_box.events[0].kind, event_kind::associated);
  EXPECT_EQ(a_box.events[0].address, "b:1");
  EXPECT_EQ(a_box.events[0].uid, b->uid());

  a->send("b:1", env_of("in flight")); // lost: the partition comes before it lands
  net.partition("a:1", "b:1");
  EXPECT_TRUE(net.partitioned("b:1", "a:1"));
  a->send("b:1", env_of("a->b"));
  b->send("a:1", env_of("b->a"));
  a->send("c:1", env_of("a->c")); // other links are unaffected
  net.advance(1s);
  EXPECT_EQ(payloads(b_box), std::vector<std::string>{"before"});
  EXPECT_EQ(payloads(a_box), std::vector<std::string>{"before"});
  EXPECT_EQ(payloads(c_box), std::vector<std::string>{"a->c"});
  EXPECT_EQ(net.stats("a:1", "b:1").blocked, 2u);
  EXPECT_EQ(net.stats("b:1", "a:1").blocked, 1u);
  // a: associated(b), disassociated(b) at the partition, associated(c).
  ASSERT_EQ(a_box.events.size(), 3u);
  EXPECT_EQ(a_box.events[1].kind, event_kind::disassociated);
  EXPECT_EQ(a_box.events[1].address, "b:1");
  EXPECT_EQ(a_box.events[1].detail, "partitioned");
  EXPECT_EQ(a_box.events[2].kind, event_kind::associated);
  EXPECT_EQ(a_box.events[2].address, "c:1");
  ASSERT_EQ(b_box.events.back().kind, event_kind::disassociated);
  EXPECT_EQ(b_box.events.back().address, "a:1");

  net.heal();
  EXPECT_FALSE(net.partitioned("a:1", "b:1"));
  a->send("b:1", env_of("after"));
  b->send("a:1", env_of("after"));
  net.advance(10ms);
  EXPECT_EQ(payloads(b_box), (std::vector<std::string>{"before", "after"}));
  EXPECT_EQ(payloads(a_box), (std::vector<std::string>{"before", "after"}));
  EXPECT_EQ(a_box.events.back().kind, event_kind::associated); // re-associated

  // Groups: {a} | {b, c}; healing one pair leaves the other.
  net.partition_groups({"a:1"}, {"b:1", "c:1"});
  EXPECT_TRUE(net.partitioned("a:1", "b:1"));
  EXPECT_TRUE(net.partitioned("c:1", "a:1"));
  EXPECT_FALSE(net.partitioned("b:1", "c:1"));
  net.heal("a:1", "c:1");
  EXPECT_FALSE(net.partitioned("a:1", "c:1"));
  EXPECT_TRUE(net.partitioned("a:1", "b:1"));
  EXPECT_THROW(net.partition_groups({"a:1"}, {"a:1"}), invalid_address_error);
  EXPECT_THROW(net.partition("a:1", "a:1"), invalid_address_error);
}

TEST(SimNetwork, JitterKeepsALinksOrderAndReorderBreaksIt) {
  sim_network net(5);
  inbox a_box, b_box, c_box;
  auto a = node(net, "a:1", a_box);
  auto b = node(net, "b:1", b_box);
  auto c = node(net, "c:1", c_box);
  net.set_link("a:1", "b:1", link_faults{0, 0, 1ms, 50ms, 0ms});
  net.set_link("a:1", "c:1", link_faults{0, 0, 1ms, 0ms, 50ms});
  for (int i = 0; i < 1000; ++i) {
    a->send("b:1", env_of(std::to_string(i)));
    a->send("c:1", env_of(std::to_string(i)));
    net.advance(100us);
  }
  net.run_until_idle();
  ASSERT_EQ(b_box.frames.size(), 1000u);
  ASSERT_EQ(c_box.frames.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(std::get<2>(b_box.frames[i]), std::to_string(i));
  }
  EXPECT_EQ(net.stats("a:1", "b:1").reordered, 0u);
  // Count, as a receiver would, frames arriving after a later one.
  std::uint64_t late = 0;
  int highest = -1;
  for (const auto& f : c_box.frames) {
    const int v = std::stoi(std::get<2>(f));
    if (v < highest) {
      ++late;
    }
    highest = std::max(highest, v);
  }
  EXPECT_GT(late, 100u);
  EXPECT_EQ(net.stats("a:1", "c:1").reordered, late);
  // Delivery times never go backwards.
  for (std::size_t i = 1; i < c_box.frames.size(); ++i) {
    EXPECT_LE(std::get<0>(c_box.frames[i - 1]), std::get<0>(c_box.frames[i]));
  }
}

TEST(SimNetwork, DuplicatesAreDeliveredAndCounted) {
  sim_network net(9);
  inbox a_box, b_box;
  auto a = node(net, "a:1", a_box);
  auto b = node(net, "b:1", b_box);
  net.set_link("a:1", "b:1", link_faults{0, 0.25, 2ms, 3ms, 0ms});
  constexpr int n = 4000;
  for (int i = 0; i < n; ++i) {
    a->send("b:1", env_of(std::to_string(i)));
  }
  net.run_until_idle();
  const auto s = net.stats("a:1", "b:1");
  EXPECT_EQ(s.sent, static_cast<std::uint64_t>(n));
  EXPECT_EQ(s.delivered, s.sent + s.duplicated);
  EXPECT_EQ(b_box.frames.size(), s.delivered);
  EXPECT_NEAR(static_cast<double>(s.duplicated), n * 0.25, 5 * std::sqrt(n * 0.25 * 0.75));
  std::map<std::string, int> seen;
  for (const auto& f : b_box.frames) {
    ++seen[std::get<2>(f)];
  }
  std::uint64_t twice = 0;
  for (const auto& [payload, count] : seen) {
    EXPECT_LE(count, 2);
    twice += count == 2 ? 1 : 0;
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(twice, s.duplicated);
  EXPECT_EQ(s.reordered, 0u); // a copy comes right behind its original
}

// A small state-merging gossip written against the transport interface:
// each node keeps a set of values, and every round sends it to each peer;
// a receiver merges what it gets.
struct gossip_node {
  std::set<std::string> values;
  std::unique_ptr<transport> t;
  std::vector<std::string> peers;

  std::string encode() const {
    std::string out;
    for (const auto& v : values) {
      out += v;
      out += ',';
    }
    return out;
  }
  void merge(const std::string& payload) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < payload.size(); ++i) {
      if (payload[i] == ',') {
        values.insert(payload.substr(start, i - start));
        start = i + 1;
      }
    }
  }
  void round() {
    for (const auto& p : peers) {
      t->send(p, env_of(encode(), "akka://gossip/system/gossip"));
    }
  }
};

transport_callbacks gossip_callbacks(std::shared_ptr<gossip_node> n) {
  transport_callbacks cb;
  std::weak_ptr<gossip_node> weak = n;
  cb.on_envelope = [weak](inbound_envelope&& in) {
    if (auto self = weak.lock()) {
      self->merge(in.env.payload);
    }
  };
  return cb;
}

TEST(SimNetwork, ThreeNodesConvergeOnlyAfterAPartitionHeals) {
  sim_network net(21);
  net.set_default_faults(link_faults{0.2, 0.1, 5ms, 5ms, 10ms});
  const std::vector<std::string> names{"n1:2552", "n2:2552", "n3:2552"};
  std::vector<std::shared_ptr<gossip_node>> nodes;
  for (const auto& name : names) {
    auto n = std::make_shared<gossip_node>();
    n->t = net.attach(name, gossip_callbacks(n));
    n->t->start();
    for (const auto& p : names) {
      if (p != name) {
        n->peers.push_back(p);
      }
    }
    nodes.push_back(n);
  }
  net.partition_groups({"n3:2552"}, {"n1:2552", "n2:2552"});
  nodes[0]->values.insert("a");
  nodes[1]->values.insert("b");
  nodes[2]->values.insert("c");
  const auto rounds = [&](int k) {
    for (int i = 0; i < k; ++i) {
      for (auto& n : nodes) {
        n->round();
      }
      net.advance(50ms);
    }
  };
  rounds(20);
  const std::set<std::string> ab{"a", "b"};
  EXPECT_EQ(nodes[0]->values, ab);
  EXPECT_EQ(nodes[1]->values, ab);
  EXPECT_EQ(nodes[2]->values, std::set<std::string>{"c"});
  net.heal();
  rounds(20);
  const std::set<std::string> all{"a", "b", "c"};
  for (auto& n : nodes) {
    EXPECT_EQ(n->values, all);
  }
  EXPECT_GT(net.total_stats().dropped, 0u);
  EXPECT_GT(net.total_stats().blocked, 0u);
  EXPECT_EQ(net.all_stats().size(), 6u);
}

TEST(SimNetwork, LifecycleOfATransport) {
  sim_network net(2);
  inbox a_box, b_box;
  auto a = node(net, "a:1", a_box);
  // Not started yet: cannot send, frames for it are undeliverable.
  transport_callbacks quiet;
  auto b = net.attach("b:1", quiet);
  EXPECT_THROW(b->send("a:1", env_of("x")), transport_stopped_error);
  a->send("b:1", env_of("too early"));
  net.run_until_idle();
  EXPECT_EQ(net.stats("a:1", "b:1").undeliverable, 1u);
  EXPECT_THROW(net.attach("b:1", quiet), bind_error);
  EXPECT_THROW(a->send("a:1", env_of("x")), invalid_address_error);
  EXPECT_THROW(a->send("", env_of("x")), invalid_address_error);
  EXPECT_THROW(a->send("has space:1", env_of("x")), invalid_address_error);
  b.reset(); // destroyed: stopped, the address is free again

  auto b2 = node(net, "b:1", b_box, 77);
  EXPECT_EQ(b2->uid(), 77u);
  EXPECT_THROW(b2->start(), error);
  a->send("b:1", env_of("hello"));
  net.run_until_idle();
  EXPECT_EQ(payloads(b_box), std::vector<std::string>{"hello"});
  ASSERT_EQ(b_box.events.size(), 1u);
  EXPECT_EQ(b_box.events[0].kind, event_kind::associated);
  EXPECT_EQ(b_box.events[0].uid, a->uid());
  EXPECT_EQ(net.addresses(), (std::vector<std::string>{"a:1", "b:1"}));

  a->send("b:1", env_of("sent before b stops"));
  b2->stop();
  b2->stop(); // idempotent
  EXPECT_EQ(net.addresses(), std::vector<std::string>{"a:1"});
  net.run_until_idle();
  EXPECT_EQ(payloads(b_box), std::vector<std::string>{"hello"}); // nothing after stop
  ASSERT_EQ(a_box.events.size(), 2u);
  EXPECT_EQ(a_box.events[1].kind, event_kind::disassociated);
  EXPECT_EQ(a_box.events[1].address, "b:1");
  EXPECT_EQ(a_box.events[1].uid, 77u);
  EXPECT_FALSE(b2->send("a:1", env_of("after stop")));
  ASSERT_EQ(b_box.dropped.size(), 1u);
  EXPECT_EQ(b_box.dropped[0].first, "a:1");
  EXPECT_EQ(b_box.dropped[0].second.payload, "after stop");
  EXPECT_EQ(b2->stats().envelopes_dropped, 1u);
}

TEST(SimNetwork, FrameLimitsAreTheWireFormats) {
  sim_network net;
  inbox a_box;
  auto a = node(net, "a:1", a_box);
  std::vector<transport_event> events;
  transport_callbacks cb;
  cb.on_event = [&events](const transport_event& e) { events.push_back(e); };
  cb.on_envelope = [](inbound_envelope&&) { FAIL() << "an oversize frame must not be delivered"; };
  auto small = net.attach("small:1", cb, 0, 1024);
  small->start();
  EXPECT_THROW(small->send("a:1", env_of(std::string(2000, 'x'))), frame_too_large_error);
  a->send("small:1", env_of(std::string(2000, 'x')));
  net.run_until_idle();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, event_kind::malformed_frame);
  EXPECT_EQ(net.stats("a:1", "small:1").undeliverable, 1u);
  EXPECT_THROW(net.attach("tiny:1", cb, 0, 10), invalid_config_error);
}

TEST(SimNetwork, BadFaultSettingsAreRefused) {
  sim_network net;
  EXPECT_THROW(net.set_default_faults(link_faults{1.5, 0, 0ms, 0ms, 0ms}), invalid_config_error);
  EXPECT_THROW(net.set_link("a:1", "b:1", link_faults{0, -0.1, 0ms, 0ms, 0ms}),
               invalid_config_error);
  EXPECT_THROW(net.set_link("a:1", "b:1", link_faults{std::nan(""), 0, 0ms, 0ms, 0ms}),
               invalid_config_error);
  EXPECT_THROW(net.set_link("a:1", "b:1", link_faults{0, 0, -1ms, 0ms, 0ms}), invalid_config_error);
  EXPECT_THROW(net.advance(-1ms), invalid_config_error);
  const link_faults f{0.1, 0.2, 1ms, 2ms, 3ms};
  net.set_link("a:1", "b:1", f);
  EXPECT_EQ(net.faults("a:1", "b:1"), f);
  EXPECT_EQ(net.faults("b:1", "a:1"), link_faults{});
  net.clear_link("a:1", "b:1");
  EXPECT_EQ(net.faults("a:1", "b:1"), link_faults{});
}

TEST(SimNetwork, CallbacksMaySendAndStopButNotAdvance) {
  sim_network net(4);
  int pongs = 0;
  bool advance_refused = false;
  std::unique_ptr<sim_transport> a, b;
  transport_callbacks ca, cb;
  ca.on_envelope = [&](inbound_envelope&& in) {
    ++pongs;
    try {
      net.advance(1ms);
    } catch (const error&) {
      advance_refused = true;
    }
    if (std::stoi(in.env.payload) < 10) {
      a->send("b:1", env_of(in.env.payload));
    }
  };
  cb.on_envelope = [&](inbound_envelope&& in) {
    const int n = std::stoi(in.env.payload) + 1;
    b->send("a:1", env_of(std::to_string(n)));
    if (n == 10) {
      b->stop();
    }
  };
  a = net.attach("a:1", ca);
  b = net.attach("b:1", cb);
  a->start();
  b->start();
  net.set_default_faults(link_faults{0, 0, 1ms, 0ms, 0ms});
  a->send("b:1", env_of("0"));
  EXPECT_EQ(net.run_until_idle(), 20u); // ten round trips within one call
  EXPECT_EQ(pongs, 10);
  EXPECT_TRUE(advance_refused);
  EXPECT_EQ(net.now(), sim_duration(20ms));
  // A bounded run stops with frames left.
  a->send("b:1", env_of("0"));
  EXPECT_EQ(net.run_until_idle(0), 0u);
  EXPECT_EQ(net.in_flight(), 1u);
}

TEST(SimNetwork, AThrowingCallbackLosesOnlyItsEnvelope) {
  sim_network net;
  inbox a_box;
  auto a = node(net, "a:1", a_box);
  std::vector<std::string> got;
  transport_callbacks cb;
  cb.on_envelope = [&got](inbound_envelope&& in) {
    if (in.env.payload == "bad") {
      throw std::runtime_error("handler failed");
    }
    got.push_back(in.env.payload);
  };
  auto b = net.attach("b:1", cb);
  b->start();
  for (const char* p : {"one", "bad", "two"}) {
    a->send("b:1", env_of(p));
  }
  EXPECT_EQ(net.run_until_idle(), 3u);
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two"}));
}

TEST(SimNetwork, SendingFromManyThreadsWhileAnotherAdvances) {
  sim_network net(6);
  std::mutex mu;
  std::size_t received = 0;
  transport_callbacks cb;
  cb.on_envelope = [&](inbound_envelope&&) {
    std::lock_guard<std::mutex> lock(mu);
    ++received;
  };
  auto sink = net.attach("sink:1", cb);
  sink->start();
  std::vector<std::unique_ptr<sim_transport>> senders;
  for (int i = 0; i < 4; ++i) {
    senders.push_back(net.attach("s" + std::to_string(i) + ":1", transport_callbacks{}));
    senders.back()->start();
  }
  std::vector<std::thread> threads;
  for (auto& s : senders) {
    threads.emplace_back([&s] {
      for (int i = 0; i < 2000; ++i) {
        s->send("sink:1", env_of("m"));
      }
    });
  }
  std::thread advancer([&net] {
    for (int i = 0; i < 200; ++i) {
      net.advance(1ms);
    }
  });
  for (auto& t : threads) {
    t.join();
  }
  advancer.join();
  net.run_until_idle();
  EXPECT_EQ(received, 8000u);
}

// The same code over the TCP transport: a round trip written against
// `transport` only.
TEST(SimNetwork, CodeWrittenAgainstTheInterfaceRunsOverTcpToo) {
  struct echo {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::string> got;
  };
  const auto exchange = [](transport& from, transport& to, echo& box,
                           const std::function<void()>& pump) {
    for (int i = 0; i < 5; ++i) {
      from.send(to.address(), env_of("m" + std::to_string(i)));
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      pump();
      std::unique_lock<std::mutex> lock(box.mu);
      if (box.cv.wait_for(lock, 10ms, [&] { return box.got.size() >= 5; })) {
        break;
      }
    }
    std::lock_guard<std::mutex> lock(box.mu);
    return box.got;
  };
  const auto recording = [](echo& box) {
    transport_callbacks cb;
    cb.on_envelope = [&box](inbound_envelope&& in) {
      std::lock_guard<std::mutex> lock(box.mu);
      box.got.push_back(in.env.payload);
      box.cv.notify_all();
    };
    return cb;
  };
  const std::vector<std::string> expected{"m0", "m1", "m2", "m3", "m4"};

  echo sim_box;
  sim_network net;
  std::unique_ptr<transport> sa = net.attach("a:1", transport_callbacks{});
  std::unique_ptr<transport> sb = net.attach("b:1", recording(sim_box));
  sa->start();
  sb->start();
  EXPECT_EQ(exchange(*sa, *sb, sim_box, [&net] { net.advance(1ms); }), expected);

  echo tcp_box;
  transport_config ca, cb;
  ca.system_name = "a";
  cb.system_name = "b";
  auto ta = make_tcp_transport(ca, transport_callbacks{});
  auto tb = make_tcp_transport(cb, recording(tcp_box));
  ta->start();
  tb->start();
  EXPECT_EQ(exchange(*ta, *tb, tcp_box, [] {}), expected);
  EXPECT_NE(ta->uid(), 0u);
  EXPECT_EQ(ta->stats().envelopes_queued, 5u);
  ta->stop();
  tb->stop();
}

} // namespace
} // namespace atomr::remote
