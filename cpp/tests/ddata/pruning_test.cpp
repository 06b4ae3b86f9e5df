// Pruning the state of a removed replica (Akka's RemovedNodePruning): for
// every type with per-replica state, the owner's `prune` keeps the value,
// the other replicas' `prune_cleanup` then converges with it, a stale state
// cleaned on arrival changes nothing, and pruning again is a no-op.

#include "atomr/core/error.hpp"
#include "atomr/ddata/counters.hpp"
#include "atomr/ddata/maps.hpp"
#include "atomr/ddata/registers.hpp"
#include "atomr/ddata/sets.hpp"
#include "atomr/ddata/wire.hpp"

#include <functional>
#include <gtest/gtest.h>
#include <memory>
#include <string>

namespace {

using namespace atomr::ddata;

const std::string removed = "R#1";
const std::string owner = "A#1";

/// What pruning must keep: a view of the value that ignores replica ids.
using view_fn = std::function<std::string(const replicated_data&)>;

/// `full` holds state of `removed` (and of others). Checks the owner's
/// prune, another replica's cleanup, their convergence, a stale copy
/// cleaned on arrival, idempotence and the wire round trip.
void check_pruning(const replicated_data& full, const view_fn& view) {
  ASSERT_TRUE(full.needs_pruning_from(removed));
  const std::string before = view(full);

  auto pruned = full.clone();
  pruned->prune(removed, owner);
  EXPECT_FALSE(pruned->needs_pruning_from(removed));
  EXPECT_EQ(view(*pruned), before) << "prune changed the value";
  EXPECT_EQ(pruned->delta(), nullptr);

  auto again = pruned->clone();
  again->prune(removed, owner);
  EXPECT_TRUE(again->equals(*pruned)) << "prune is not idempotent";
  again->prune_cleanup(removed);
  EXPECT_TRUE(again->equals(*pruned)) << "cleanup after prune changed the state";

  auto cleaned = full.clone();
  cleaned->prune_cleanup(removed);
  EXPECT_FALSE(cleaned->needs_pruning_from(removed));

  auto ab = pruned->clone();
  ab->merge(*cleaned);
  auto ba = cleaned->clone();
  ba->merge(*pruned);
  EXPECT_TRUE(ab->equals(*ba)) << "merges after prune do not converge";
  EXPECT_EQ(view(*ab), before);
  EXPECT_FALSE(ab->needs_pruning_from(removed));

  // A stale copy (never pruned) is cleaned before it is merged.
  auto stale = full.clone();
  stale->prune_cleanup(removed);
  ab->merge(*stale);
  EXPECT_TRUE(ab->equals(*ba));
  EXPECT_EQ(view(*ab), before);

  auto decoded = from_bytes(to_bytes(*pruned));
  EXPECT_TRUE(decoded->equals(*pruned));
}

std::string counter_view(const replicated_data& d) {
  if (d.tag() == type_tag::gcounter)
    return std::to_string(static_cast<const gcounter&>(d).value());
  const auto& c = static_cast<const pncounter&>(d);
  return std::to_string(c.positive()) + "-" + std::to_string(c.negative());
}

std::string set_view(const replicated_data& d) {
  std::string out;
  for (const auto& e : static_cast<const orset&>(d).elements())
    out += e + ",";
  return out;
}

std::string map_view(const ormap& m) {
  std::string out;
  for (const auto& key : m.keys()) {
    auto v = m.get(key);
    out += key + "=";
    switch (v->tag()) {
    case type_tag::gcounter:
    case type_tag::pncounter:
      out += counter_view(*v);
      break;
    case type_tag::orset:
      out += set_view(*v);
      break;
    case type_tag::lww_register:
      out += static_cast<const lww_register&>(*v).value();
      break;
    default:
      out += "?";
    }
    out += ";";
  }
  return out;
}

TEST(Pruning, GCounterMovesTheRemovedCountToTheOwner) {
  gcounter a;
  a.increment(owner, 2);
  a.increment(removed, 5);
  a.increment("B#1", 1);
  check_pruning(a, counter_view);
  auto p = a.clone();
  p->prune(removed, owner);
  EXPECT_EQ(static_cast<gcounter&>(*p).count_of(owner), 7u);
  EXPECT_EQ(static_cast<gcounter&>(*p).entries().count(removed), 0u);
}

TEST(Pruning, GCounterRejectsBadIdsAndOverflow) {
  gcounter a;
  a.increment(removed, 1);
  EXPECT_THROW(a.prune(removed, removed), atomr::core::invalid_argument_error);
  EXPECT_THROW(a.prune("", owner), atomr::core::invalid_argument_error);
  a.increment(owner, ~std::uint64_t{0} - 1);
  a.increment(removed, 1);
  const gcounter before = a;
  EXPECT_THROW(a.prune(removed, owner), atomr::core::invalid_argument_error);
  EXPECT_TRUE(a.equals(before)); // unchanged by the failed prune
  pncounter pn;
  pn.increment(removed, 1);
  pn.decrement(owner, ~std::uint64_t{0});
  pn.decrement(removed, 1);
  const pncounter pn_before = pn;
  EXPECT_THROW(pn.prune(removed, owner), atomr::core::invalid_argument_error);
  EXPECT_TRUE(pn.equals(pn_before));
}

TEST(Pruning, PNCounterPrunesBothSides) {
  pncounter a;
  a.increment(owner, 2);
  a.increment(removed, 10);
  a.decrement(removed, 3);
  a.decrement("B#1", 1);
  check_pruning(a, counter_view);
  pncounter only_decrements;
  only_decrements.decrement(removed, 4);
  check_pruning(only_decrements, counter_view);
}

TEST(Pruning, ORSetKeepsElementsOnlyTheRemovedNodeAdded) {
  orset r;
  r.add(removed, "x");
  r.add(removed, "y");
  orset a;
  a.add(owner, "z");
  a.merge(r);
  a.add(owner, "y"); // y now under the owner's dot
  orset b;
  b.add("B#1", "w");
  b.merge(a);
  b.add(removed, "gone");
  b.remove("gone"); // only the context remembers the removed node's dot
  check_pruning(b, set_view);
  auto p = b.clone();
  p->prune(removed, owner);
  EXPECT_EQ(set_view(*p), "w,x,y,z,");
}

TEST(Pruning, ORSetContextOnlyMentionNeedsPruning) {
  orset a;
  a.add(removed, "e");
  a.remove("e");
  EXPECT_TRUE(a.needs_pruning_from(removed));
  a.prune(removed, owner);
  EXPECT_FALSE(a.needs_pruning_from(removed));
  EXPECT_EQ(a.size(), 0u);
}

TEST(Pruning, ORSetConcurrentAddOfTheSameElementByTwoNodes) {
  orset a;
  a.add(removed, "e");
  orset b;
  b.add("B#1", "e");
  a.merge(b);
  check_pruning(a, set_view);
}

TEST(Pruning, ORMapOfCountersCollapsesValuesAndDots) {
  ormap m(type_tag::pncounter);
  m.update(removed, "k", [](replicated_data& v) {
    static_cast<pncounter&>(v).increment(removed, 4);
    return true;
  });
  ormap other(type_tag::pncounter);
  other.update("B#1", "k", [](replicated_data& v) {
    static_cast<pncounter&>(v).decrement("B#1", 1);
    return true;
  });
  other.update("B#1", "j", [](replicated_data& v) {
    static_cast<pncounter&>(v).increment(removed, 2); // removed's count under B's dot
    return true;
  });
  m.merge(other);
  check_pruning(m, [](const replicated_data& d) { return map_view(static_cast<const ormap&>(d)); });
}

TEST(Pruning, ORMapOfORSetsPrunesNestedDots) {
  ormap m(type_tag::orset);
  m.update(owner, "k", [](replicated_data& v) {
    static_cast<orset&>(v).add(removed, "e");
    return true;
  });
  check_pruning(m, [](const replicated_data& d) { return map_view(static_cast<const ormap&>(d)); });
}

TEST(Pruning, ORMapOfRegistersKeepsKeysOnlyTheRemovedNodeWrote) {
  ormap m(type_tag::lww_register);
  m.put(removed, "k", lww_register("v1", 5, removed));
  m.put(owner, "j", lww_register("v2", 6, owner));
  check_pruning(m, [](const replicated_data& d) { return map_view(static_cast<const ormap&>(d)); });
}

TEST(Pruning, LWWMapAndPNCounterMapPruneTheirMap) {
  lww_map lm;
  lm.put(removed, "k", "v", 10, removed);
  lm.put(owner, "j", "w", 11, owner);
  check_pruning(
      lm, [](const replicated_data& d) { return map_view(static_cast<const lww_map&>(d).map()); });
  pncounter_map pm;
  pm.increment(removed, "k", 3, removed);
  pm.decrement(owner, "k", 1, owner);
  check_pruning(pm, [](const replicated_data& d) {
    return map_view(static_cast<const pncounter_map&>(d).map());
  });
}

TEST(Pruning, ORMultiMapPrunesItsBindings) {
  ormultimap mm;
  mm.add(removed, "k", "a");
  mm.add(owner, "k", "b");
  mm.add(removed, "j", "c");
  check_pruning(mm, [](const replicated_data& d) {
    const auto& m = static_cast<const ormultimap&>(d);
    std::string out;
    for (const auto& key : m.keys())
      for (const auto& e : m.get(key))
        out += key + ":" + e + ",";
    return out;
  });
}

TEST(Pruning, TypesWithoutPerNodeStateNeverNeedIt) {
  lww_register r("v", 1, removed);
  EXPECT_FALSE(r.needs_pruning_from(removed));
  r.prune(removed, owner);
  EXPECT_EQ(r.node(), removed);
  gset g;
  g.add(removed);
  EXPECT_FALSE(g.needs_pruning_from(removed));
  flag f;
  f.enable();
  EXPECT_FALSE(f.needs_pruning_from(removed));
}

} // namespace
