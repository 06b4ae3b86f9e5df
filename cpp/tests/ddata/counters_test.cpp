#include "atomr/ddata/counters.hpp"
#include "atomr/ddata/sets.hpp"

#include <cstdint>
#include <gtest/gtest.h>
#include <limits>

namespace {

using namespace atomr::ddata;

TEST(GCounter, ValueIsTheSumOfEveryNodesCount) {
  gcounter c;
  c.increment("a", 2);
  c.increment("b", 3);
  c.increment("a", 1);
  EXPECT_EQ(c.value(), 6u);
  EXPECT_EQ(c.count_of("a"), 3u);
  EXPECT_EQ(c.count_of("zzz"), 0u);
}

TEST(GCounter, MergeTakesThePointwiseMaximum) {
  gcounter a;
  gcounter b;
  a.increment("a", 5);
  b.increment("a", 2);
  b.increment("b", 7);
  a.merge(b);
  EXPECT_EQ(a.value(), 12u);
  a.merge(b);
  EXPECT_EQ(a.value(), 12u);
}

TEST(GCounter, IncrementByZeroLeavesNoEntry) {
  gcounter c;
  c.increment("a", 0);
  EXPECT_TRUE(c.entries().empty());
  EXPECT_EQ(c.delta(), nullptr);
}

TEST(GCounter, OverflowIsRejectedAndLeavesTheCountUnchanged) {
  gcounter c;
  c.increment("a", std::numeric_limits<std::uint64_t>::max());
  EXPECT_THROW(c.increment("a", 1), atomr::core::invalid_argument_error);
  EXPECT_EQ(c.count_of("a"), std::numeric_limits<std::uint64_t>::max());
  c.increment("b", 1);
  EXPECT_THROW((void)c.value(), atomr::core::invalid_argument_error);
}

TEST(GCounter, DeltaHoldsOnlyTheNodesUpdatedSinceTheReset) {
  gcounter c;
  c.increment("a", 1);
  c.reset_delta();
  c.increment("b", 4);
  auto d = c.delta();
  ASSERT_NE(d, nullptr);
  const auto& dc = static_cast<const gcounter&>(*d);
  EXPECT_EQ(dc.entries().size(), 1u);
  EXPECT_EQ(dc.count_of("b"), 4u);
  gcounter other;
  other.increment("a", 1);
  other.merge_delta(*d);
  EXPECT_TRUE(other.equals(c));
}

TEST(GCounter, MergingAnotherTypeIsATypeMismatch) {
  gcounter c;
  gset s;
  EXPECT_THROW(c.merge(s), type_mismatch_error);
}

TEST(PNCounter, IncrementsAndDecrementsAreCountedSeparately) {
  pncounter c;
  c.increment("a", 10);
  c.decrement("b", 3);
  EXPECT_EQ(c.positive(), 10u);
  EXPECT_EQ(c.negative(), 3u);
  pncounter d;
  d.decrement("b", 5);
  c.merge(d);
  EXPECT_EQ(c.negative(), 5u);
}

TEST(PNCounter, DeltaCarriesBothHalves) {
  pncounter c;
  c.increment("a", 1);
  c.decrement("a", 2);
  auto d = c.delta();
  ASSERT_NE(d, nullptr);
  pncounter other;
  other.merge_delta(*d);
  EXPECT_TRUE(other.equals(c));
  c.reset_delta();
  EXPECT_EQ(c.delta(), nullptr);
}

} // namespace
