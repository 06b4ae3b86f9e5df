#pragma once

// A cluster of daemons on a simulated network under virtual time, for the
// daemon's tests: each node is a sim_transport plus a cluster_daemon ticked
// by a virtual-time timer, with the events it reported.

#include "atomr/cluster/daemon.hpp"
#include "atomr/remote/sim_network.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace atomr::cluster::testing {

using namespace std::chrono_literals;

struct sim_node {
  std::string address; // cluster address, akka://sys@10.0.<i>:2552
  std::string transport_address;
  std::unique_ptr<remote::sim_transport> transport;
  std::unique_ptr<cluster_daemon> daemon;
  std::vector<cluster_event> events;
  std::uint64_t timer = 0;
  bool crashed = false;
};

inline std::string address_of(int i) {
  return "akka://sys@10.0.0." + std::to_string(i) + ":2552";
}

inline std::string transport_of(int i) {
  return "10.0.0." + std::to_string(i) + ":2552";
}

inline daemon_config test_config() {
  daemon_config c;
  c.gossip_interval = 1000ms;
  c.heartbeat_interval = 1000ms;
  c.seed_node_timeout = 3000ms;
  c.retry_unsuccessful_join_after = 5000ms;
  c.failure_detector.threshold = 8.0;
  c.failure_detector.acceptable_heartbeat_pause = 3000ms;
  c.failure_detector.min_std_deviation = 100ms;
  c.failure_detector.first_heartbeat_estimate = 1000ms;
  return c;
}

class sim_cluster {
public:
  explicit sim_cluster(std::uint64_t seed, daemon_config base = test_config())
    : net(seed)
    , base_(std::move(base)) {
    remote::link_faults f;
    f.delay = 2ms;
    f.jitter = 3ms;
    net.set_default_faults(f);
  }

  ~sim_cluster() {
    for (auto& [i, n] : nodes) {
      if (n->timer != 0)
        net.cancel(n->timer);
      if (n->transport)
        n->transport->stop();
    }
  }

  /// Starts node `i` (a new incarnation if it ran before).
  sim_node& start(int i, std::uint64_t uid = 0,
                  const std::function<void(daemon_config&)>& tweak = {}) {
    auto& slot = nodes[i];
    if (slot) {
      if (slot->timer != 0)
        net.cancel(slot->timer);
      slot->transport->stop();
      retired.push_back(std::move(slot));
    }
    slot = std::make_unique<sim_node>();
    sim_node* n = slot.get();
    n->address = address_of(i);
    n->transport_address = transport_of(i);
    remote::transport_callbacks tcb;
    tcb.on_envelope = [n](remote::inbound_envelope&& in) {
      if (n->daemon)
        n->daemon->receive(in);
    };
    tcb.on_event = [n](const remote::transport_event& ev) {
      if (n->daemon)
        n->daemon->transport_event(ev);
    };
    remote::sim_heartbeat_config hb;
    hb.enabled = sim_heartbeats;
    n->transport =
        net.attach(n->transport_address, std::move(tcb), uid, remote::default_max_frame_size, hb);
    n->transport->start();
    daemon_config c = base_;
    c.self = unique_address{n->address, n->transport->uid()};
    if (tweak)
      tweak(c);
    daemon_callbacks dcb;
    dcb.send = [n](std::string_view to, const remote::envelope& env) {
      return n->transport->send(to, env);
    };
    dcb.on_event = [n](const cluster_event& ev) { n->events.push_back(ev); };
    remote::sim_network* netp = &net;
    n->daemon = std::make_unique<cluster_daemon>(
        std::move(c), [netp] { return netp->now(); }, std::move(dcb));
    const auto interval =
        std::chrono::duration_cast<remote::sim_duration>(n->daemon->tick_interval());
    // Ticks of different nodes are spread over the interval.
    const auto first = interval * ((i * 7) % 10) / 10 + 1ms;
    n->timer = net.every(
        interval, [n] { n->daemon->tick(); }, first);
    return *n;
  }

  /// The process of node `i` dies: no more ticks, its transport stops.
  void crash(int i) {
    auto& n = *nodes.at(i);
    net.cancel(n.timer);
    n.timer = 0;
    n.transport->stop();
    n.crashed = true;
  }

  sim_node& operator[](int i) {
    return *nodes.at(i);
  }

  /// Advances in steps until `pred` holds or `limit` passes.
  bool run_until(const std::function<bool()>& pred, remote::sim_duration limit,
                 remote::sim_duration step = 100ms) {
    const auto end = net.now() + limit;
    while (!pred()) {
      if (net.now() >= end)
        return false;
      net.advance(step);
    }
    return true;
  }

  /// Whether the live nodes `ids` all see exactly the members `ids`, all up,
  /// with convergence and the same leader.
  bool all_up(const std::vector<int>& ids) {
    std::optional<std::string> lead;
    for (int i : ids) {
      auto& d = *nodes.at(i)->daemon;
      if (!d.running() || d.member_count() != ids.size() || !d.converged())
        return false;
      const gossip g = d.state();
      for (const auto& m : g.members()) {
        if (m.status != member_status::up)
          return false;
        if (std::find_if(ids.begin(), ids.end(),
                         [&](int j) { return nodes.at(j)->daemon->self() == m.node; }) == ids.end())
          return false;
      }
      const auto l = d.leader();
      if (!l || (lead && *lead != *l))
        return false;
      lead = l;
    }
    return true;
  }

  std::vector<std::string> seeds(const std::vector<int>& ids) const {
    std::vector<std::string> out;
    for (int i : ids)
      out.push_back(address_of(i));
    return out;
  }

  remote::sim_network net;
  bool sim_heartbeats = false;
  std::map<int, std::unique_ptr<sim_node>> nodes;
  std::vector<std::unique_ptr<sim_node>> retired;

private:
  daemon_config base_;
};

/// The events of `kind` (about `address`, if given).
inline std::vector<cluster_event> events_of(const sim_node& n, cluster_event::kind_t kind,
                                            const std::string& address = {}) {
  std::vector<cluster_event> out;
  for (const auto& e : n.events)
    if (e.kind == kind && (address.empty() || e.subject.node.address == address))
      out.push_back(e);
  return out;
}

/// Index of the first event of `kind` about `address`, or -1.
inline long index_of(const sim_node& n, cluster_event::kind_t kind,
                     const std::string& address = {}) {
  for (std::size_t k = 0; k < n.events.size(); ++k)
    if (n.events[k].kind == kind &&
        (address.empty() || n.events[k].subject.node.address == address))
      return static_cast<long>(k);
  return -1;
}

} // namespace atomr::cluster::testing
