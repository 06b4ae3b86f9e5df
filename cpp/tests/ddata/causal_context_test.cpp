#include "atomr/ddata/causal_context.hpp"
#include "atomr/ddata/dot_kernel.hpp"

#include <gtest/gtest.h>

namespace {

using atomr::ddata::causal_context;
using atomr::ddata::dot;
using atomr::ddata::dot_kernel;
using atomr::ddata::no_payload;

TEST(CausalContext, ContiguousDotsFoldIntoTheVersionVector) {
  causal_context c;
  c.add({"a", 1});
  c.add({"a", 2});
  EXPECT_EQ(c.vector().at("a"), 2u);
  EXPECT_TRUE(c.cloud().empty());
  EXPECT_TRUE(c.contains({"a", 1}));
  EXPECT_FALSE(c.contains({"a", 3}));
}

TEST(CausalContext, AGapStaysInTheCloudUntilItIsFilled) {
  causal_context c;
  c.add({"a", 3});
  EXPECT_EQ(c.cloud().size(), 1u);
  EXPECT_FALSE(c.contains({"a", 1}));
  c.add({"a", 1});
  c.add({"a", 2});
  EXPECT_TRUE(c.cloud().empty());
  EXPECT_EQ(c.vector().at("a"), 3u);
}

TEST(CausalContext, NextDotIsOnePastEverythingSeenOfThatNode) {
  causal_context c;
  EXPECT_EQ(c.next_dot("a"), (dot{"a", 1}));
  c.add({"a", 1});
  c.add({"a", 5});
  c.add({"ab", 9});
  EXPECT_EQ(c.next_dot("a"), (dot{"a", 6}));
  EXPECT_EQ(c.next_dot("ab"), (dot{"ab", 10}));
  EXPECT_EQ(c.next_dot("b"), (dot{"b", 1}));
}

TEST(CausalContext, MergeIsAUnionThatCompacts) {
  causal_context a;
  causal_context b;
  a.add({"x", 1});
  a.add({"x", 3});
  b.add({"x", 1});
  b.add({"x", 2});
  a.merge(b);
  EXPECT_EQ(a.vector().at("x"), 3u);
  EXPECT_TRUE(a.cloud().empty());
}

TEST(DotKernel, ConcurrentAddWinsOverAnObservedRemove) {
  dot_kernel<no_payload> a;
  a.add("A", "e", {});
  dot_kernel<no_payload> b = a;
  b.remove("e");       // observed a's add
  a.add("A", "e", {}); // a concurrent re-add with a fresh dot
  dot_kernel<no_payload> ab = a;
  ab.join(b);
  dot_kernel<no_payload> ba = b;
  ba.join(a);
  EXPECT_TRUE(ab.contains("e"));
  EXPECT_EQ(ab, ba);
}

TEST(DotKernel, ARemoveDeletesWhatItObserved) {
  dot_kernel<no_payload> a;
  a.add("A", "e", {});
  dot_kernel<no_payload> b = a;
  b.remove("e");
  a.join(b);
  EXPECT_FALSE(a.contains("e"));
}

TEST(DotKernel, DeltasReachTheSameStateAsFullStates) {
  dot_kernel<no_payload> a;
  dot_kernel<no_payload> delta;
  a.add("A", "x", {}, &delta);
  a.add("A", "y", {}, &delta);
  a.remove("x", &delta);
  dot_kernel<no_payload> b;
  b.join(delta);
  EXPECT_EQ(a, b);
}

} // namespace
