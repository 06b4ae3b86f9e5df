// A 200-node simulated cluster converges (the 1,000-node run is
// `make soak-cluster-sim`, cpp/tests/cluster_soak/).

#include "sim_scale.hpp"

#include <gtest/gtest.h>

namespace atomr::cluster {
namespace {

TEST(ClusterDaemonScale, TwoHundredNodesConvergeAndSpreadADownInLogarithmicRounds) {
  const auto r = testing::run_scale(200, 2024);
  testing::print(r);
  ASSERT_TRUE(r.formed);
  ASSERT_TRUE(r.removed);
  // Epidemic spread: a generous bound of a few times log2(N) rounds.
  EXPECT_LE(r.down_spread_rounds, 4 * r.log2_n);
  EXPECT_LE(r.down_converged_rounds, 8 * r.log2_n);
}

} // namespace
} // namespace atomr::cluster
