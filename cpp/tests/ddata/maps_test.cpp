#include "atomr/ddata/counters.hpp"
#include "atomr/ddata/maps.hpp"
#include "atomr/ddata/registers.hpp"
#include "atomr/ddata/sets.hpp"

#include <gtest/gtest.h>

namespace {

using namespace atomr::ddata;

TEST(ORMap, GetReturnsACopyOfThePutValue) {
  ormap m(type_tag::pncounter);
  pncounter c;
  c.increment("a", 3);
  m.put("A", "k", c);
  c.increment("a", 100);
  auto got = m.get("k");
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(static_cast<pncounter&>(*got).positive(), 3u);
  EXPECT_EQ(m.get("absent"), nullptr);
}

TEST(ORMap, RejectsValuesOfAnotherType) {
  ormap m(type_tag::lww_register);
  EXPECT_THROW(m.put("A", "k", flag{}), type_mismatch_error);
  EXPECT_THROW(ormap(type_tag::ormap), type_mismatch_error);
  ormap other(type_tag::flag);
  EXPECT_THROW(m.merge(other), type_mismatch_error);
}

TEST(ORMap, ConcurrentUpdatesOfAKeyAreJoined) {
  pncounter_map a;
  a.increment("A", "k", 1, "A");
  pncounter_map b;
  b.merge(a);
  a.increment("A", "k", 2, "A");
  b.increment("B", "k", 5, "B");
  a.merge(b);
  auto v = a.map().get("k");
  EXPECT_EQ(static_cast<pncounter&>(*v).positive(), 8u);
}

TEST(ORMap, ConcurrentUpdateWinsOverAnObservedRemove) {
  ormap a(type_tag::flag);
  flag on;
  on.enable();
  a.put("A", "k", on);
  ormap b(type_tag::flag);
  b.merge(a);
  b.remove("k");
  a.put("A", "k", on);
  ormap ab = a;
  ab.merge(b);
  ormap ba = b;
  ba.merge(a);
  EXPECT_TRUE(ab.contains("k"));
  EXPECT_TRUE(ab.equals(ba));
}

TEST(ORMap, MergeIsAssociativeWhenARemoveRacesAnUpdate) {
  // a: k under dot A1; b: observed A1 and removed k; c: observed A1, then
  // wrote k again. Every grouping must reach the same state.
  pncounter_map a;
  a.increment("A", "k", 1, "A");
  pncounter_map b;
  b.merge(a);
  b.map().remove("k");
  pncounter_map c;
  c.merge(a);
  c.increment("C", "k", 4, "C");
  pncounter_map left = a;
  left.merge(b);
  left.merge(c);
  pncounter_map bc = b;
  bc.merge(c);
  pncounter_map right = a;
  right.merge(bc);
  EXPECT_TRUE(left.equals(right));
}

TEST(LWWMap, PutKeepsTheNewestValuePerKey) {
  lww_map m;
  EXPECT_TRUE(m.put("A", "k", "v1", 10, "A"));
  EXPECT_FALSE(m.put("A", "k", "v0", 5, "A"));
  auto v = m.map().get("k");
  EXPECT_EQ(static_cast<lww_register&>(*v).value(), "v1");
  m.put_now("A", "k", "v2", "A");
  v = m.map().get("k");
  EXPECT_EQ(static_cast<lww_register&>(*v).value(), "v2");
}

TEST(ORMultiMap, BindingsFollowORSetRulesPerKey) {
  ormultimap a;
  a.add("A", "k", "x");
  a.add("A", "k", "y");
  a.add("A", "j", "x");
  ormultimap b;
  b.merge(a);
  b.remove("k", "x");
  a.add("A", "k", "z"); // unrelated concurrent add under the same key
  a.merge(b);
  EXPECT_FALSE(a.contains("k", "x"));
  EXPECT_EQ(a.get("k"), (std::vector<std::string>{"y", "z"}));
  EXPECT_EQ(a.key_count(), 2u);
  EXPECT_TRUE(a.remove_key("k"));
  EXPECT_FALSE(a.contains_key("k"));
  EXPECT_EQ(a.keys(), (std::vector<std::string>{"j"}));
}

TEST(ORMultiMap, BindingsSplitBackIntoKeyAndElement) {
  std::string key;
  std::string element;
  const std::string b = ormultimap::binding(std::string("k\0y", 3), "e");
  ASSERT_TRUE(ormultimap::split(b, key, element));
  EXPECT_EQ(key, std::string("k\0y", 3));
  EXPECT_EQ(element, "e");
  EXPECT_FALSE(ormultimap::split("\xff\xff\xff\xff", key, element));
}

TEST(ORMap, DeltaReachesTheSameStateAsTheFullMap) {
  lww_map a;
  a.put("A", "x", "1", 1, "A");
  a.put("A", "y", "2", 2, "A");
  a.map().remove("x");
  auto d = a.delta();
  ASSERT_NE(d, nullptr);
  lww_map b;
  b.merge_delta(*d);
  EXPECT_TRUE(b.equals(a));
}

} // namespace
