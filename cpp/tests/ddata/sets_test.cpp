#include "atomr/ddata/sets.hpp"

#include <gtest/gtest.h>

namespace {

using namespace atomr::ddata;

TEST(GSet, MergeIsTheUnion) {
  gset a;
  gset b;
  a.add("x");
  b.add("y");
  b.add("x");
  a.merge(b);
  EXPECT_EQ(a.size(), 2u);
  EXPECT_TRUE(a.contains("y"));
  EXPECT_FALSE(a.add("x"));
}

TEST(ORSet, ConcurrentAddWinsOverAnObservedRemove) {
  orset a;
  a.add("A", "e");
  orset b;
  b.merge(a);
  b.remove("e");
  a.add("A", "e");
  orset ab = a;
  ab.merge(b);
  orset ba = b;
  ba.merge(a);
  EXPECT_TRUE(ab.contains("e"));
  EXPECT_TRUE(ab.equals(ba));
}

TEST(ORSet, AnObservedRemovePropagates) {
  orset a;
  a.add("A", "e");
  a.add("A", "f");
  orset b;
  b.merge(a);
  b.remove("e");
  a.merge(b);
  EXPECT_FALSE(a.contains("e"));
  EXPECT_TRUE(a.contains("f"));
}

TEST(ORSet, ElementsComeOutInByteOrder) {
  orset s;
  s.add("n", "b");
  s.add("n", "a");
  s.add("n", "c");
  EXPECT_EQ(s.elements(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(ORSet, ClearRemovesEverythingObserved) {
  orset a;
  a.add("A", "x");
  a.add("A", "y");
  orset b = a;
  b.clear();
  EXPECT_EQ(b.size(), 0u);
  a.merge(b);
  EXPECT_EQ(a.size(), 0u);
}

TEST(ORSet, DeltasAppliedOutOfOrderConverge) {
  orset a;
  a.add("A", "x");
  auto d1 = a.delta();
  a.reset_delta();
  a.remove("x");
  a.add("A", "y");
  auto d2 = a.delta();
  orset b;
  b.merge_delta(*d2);
  b.merge_delta(*d1);
  EXPECT_TRUE(b.equals(a));
  EXPECT_FALSE(b.contains("x"));
}

TEST(ORSet, MergingASetWithItselfChangesNothing) {
  orset a;
  a.add("A", "x");
  a.add("A", "y");
  orset before = a;
  a.merge(a);
  EXPECT_TRUE(a.equals(before));
  gset g;
  g.add("x");
  g.merge(g);
  EXPECT_EQ(g.size(), 1u);
}

} // namespace
