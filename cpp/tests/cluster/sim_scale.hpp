#pragma once

// A large simulated cluster: N daemons on one sim_network under virtual time
// (ring heartbeats on, the transport's own heartbeats off). Used by the
// 200-node test in ctest and by the 1,000-node run of `make soak-cluster-sim`.

#include "sim_cluster.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace atomr::cluster::testing {

struct scale_result {
  int nodes = 0;
  bool formed = false;
  /// Virtual time from the joins to every node up and converged everywhere.
  double formation_virtual_s = 0;
  /// Gossip rounds (gossip intervals) for a down to reach every node, and
  /// until the downed member is removed and every node converged again.
  double down_spread_rounds = 0;
  double down_converged_rounds = 0;
  bool removed = false;
  double log2_n = 0;
  /// Wall-clock and CPU seconds (this process) for the whole run.
  double wall_s = 0;
  double cpu_s = 0;
  std::uint64_t envelopes = 0;
};

inline bool converged_everywhere(sim_cluster& c, const std::vector<int>& ids, std::size_t members) {
  std::optional<std::string> lead;
  for (int i : ids) {
    auto& d = *c[i].daemon;
    const auto self = d.self_member();
    if (!self || self->status != member_status::up || d.member_count() != members || !d.converged())
      return false;
    const auto l = d.leader();
    if (!l || (lead && *lead != *l))
      return false;
    lead = l;
  }
  return true;
}

inline scale_result run_scale(int n, std::uint64_t seed) {
  const auto wall0 = std::chrono::steady_clock::now();
  const std::clock_t cpu0 = std::clock();
  const auto finish = [&](scale_result& out) {
    out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    out.cpu_s = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  };
  scale_result r;
  r.nodes = n;
  r.log2_n = std::log2(static_cast<double>(n));
  sim_cluster c(seed);
  std::vector<int> ids;
  for (int i = 1; i <= n; ++i) {
    c.start(i);
    ids.push_back(i);
  }
  // Three seeds; node 1 first, so it forms the cluster and the rest join.
  const auto seeds = c.seeds({1, 2, 3});
  for (int i = 1; i <= n; ++i)
    c[i].daemon->join_seed_nodes(seeds);
  const auto start = c.net.now();
  r.formed = c.run_until([&] { return converged_everywhere(c, ids, ids.size()); }, 600s, 1s);
  r.formation_virtual_s = std::chrono::duration<double>(c.net.now() - start).count();
  if (!r.formed) {
    finish(r);
    return r;
  }
  // One change: a member crashes and a node downs it. Count gossip rounds
  // (1 s each) until every node knows, and until it is removed everywhere
  // with convergence.
  const int victim = n / 2;
  c.crash(victim);
  std::vector<int> rest;
  for (int i : ids)
    if (i != victim)
      rest.push_back(i);
  c[n].daemon->down(address_of(victim));
  const auto down_at = c.net.now();
  const auto knows = [&] {
    for (int i : rest) {
      const gossip g = c[i].daemon->state();
      const member* m = g.find_address(address_of(victim));
      if (m != nullptr && m->status != member_status::down)
        return false;
    }
    return true;
  };
  // (Checked every 500 ms of virtual time: the figures are to that resolution.)
  c.run_until(knows, 120s, 500ms);
  r.down_spread_rounds = std::chrono::duration<double>(c.net.now() - down_at).count();
  r.removed = c.run_until([&] { return converged_everywhere(c, rest, rest.size()); }, 120s, 500ms);
  r.down_converged_rounds = std::chrono::duration<double>(c.net.now() - down_at).count();
  r.envelopes = c.net.total_stats().delivered;
  finish(r);
  return r;
}

inline void print(const scale_result& r) {
  std::printf("cluster sim scale: %d nodes: formed=%s in %.1f s virtual; a down reached every node "
              "in %.1f gossip rounds and was removed with convergence everywhere after %.1f rounds "
              "(log2 N = %.2f); %llu envelopes delivered; wall time %.2f s (CPU %.2f s)\n",
              r.nodes, r.formed ? "yes" : "NO", r.formation_virtual_s, r.down_spread_rounds,
              r.down_converged_rounds, r.log2_n, static_cast<unsigned long long>(r.envelopes),
              r.wall_s, r.cpu_s);
  std::fflush(stdout);
}

} // namespace atomr::cluster::testing
