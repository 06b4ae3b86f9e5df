// The 1,000-node simulated cluster (`make soak-cluster-sim`): N daemons on
// one simulated network under virtual time form a cluster through three
// seeds; then one member crashes and is downed. Prints the virtual time to
// formation, the gossip rounds the down took to reach every node and to be
// removed with convergence everywhere, against log2(N), and the wall time.
// Exits non-zero unless the cluster converged both times.
//
// Usage: cluster_sim_soak [nodes (default 1000)] [seed (default 2024)]

#include "../cluster/sim_scale.hpp"

#include <cstdlib>

int main(int argc, char** argv) {
  const int nodes = argc > 1 ? std::atoi(argv[1]) : 1000;
  const std::uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 2024;
  if (nodes < 2) {
    std::fprintf(stderr, "cluster_sim_soak: nodes must be at least 2\n");
    return 2;
  }
  const auto r = atomr::cluster::testing::run_scale(nodes, seed);
  atomr::cluster::testing::print(r);
  return r.formed && r.removed ? 0 : 1;
}
