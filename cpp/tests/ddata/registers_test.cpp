#include "atomr/ddata/registers.hpp"

#include <gtest/gtest.h>
#include <limits>

namespace {

using namespace atomr::ddata;

TEST(LwwRegister, TheHigherTimestampWins) {
  lww_register a("old", 1, "z");
  lww_register b("new", 2, "a");
  a.merge(b);
  EXPECT_EQ(a.value(), "new");
  b.merge(lww_register("old", 1, "z"));
  EXPECT_EQ(b.value(), "new");
}

TEST(LwwRegister, ATimestampTieGoesToTheGreaterNode) {
  lww_register a("from-a", 5, "a");
  lww_register b("from-b", 5, "b");
  lww_register ab = a;
  ab.merge(b);
  lww_register ba = b;
  ba.merge(a);
  EXPECT_EQ(ab.value(), "from-b");
  EXPECT_TRUE(ab.equals(ba));
}

TEST(LwwRegister, AFullTieIsBrokenByTheValueSoMergeCommutes) {
  lww_register a("x", 5, "n");
  lww_register b("y", 5, "n");
  lww_register ab = a;
  ab.merge(b);
  lww_register ba = b;
  ba.merge(a);
  EXPECT_TRUE(ab.equals(ba));
}

TEST(LwwRegister, SetAppliesOnlyANewerStamp) {
  lww_register r("v", 10, "n");
  EXPECT_FALSE(r.set("older", 9, "n"));
  EXPECT_FALSE(r.set("same", 10, "n"));
  EXPECT_TRUE(r.set("newer", 11, "n"));
  EXPECT_EQ(r.value(), "newer");
}

TEST(LwwRegister, TheLocalClockIsMonotone) {
  lww_register r("v", lww_register::now_micros() + 60'000'000, "n");
  const auto before = r.timestamp();
  r.set_now("w", "n");
  EXPECT_EQ(r.timestamp(), before + 1);
  r.set_now("x", "n");
  EXPECT_EQ(r.timestamp(), before + 2);
  lww_register far("v", std::numeric_limits<std::int64_t>::max(), "n");
  EXPECT_THROW(far.set_now("w", "n"), atomr::core::invalid_argument_error);
}

TEST(Flag, StaysOnOnceEnabled) {
  flag a;
  flag b;
  b.enable();
  a.merge(b);
  EXPECT_TRUE(a.enabled());
  a.merge(flag{});
  EXPECT_TRUE(a.enabled());
  EXPECT_NE(b.delta(), nullptr);
}

} // namespace
