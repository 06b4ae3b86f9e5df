#include "atomr/core/error.hpp"
#include "atomr/core/supervision.hpp"

#include <cmath>
#include <gtest/gtest.h>
#include <limits>
#include <string>
#include <vector>

namespace atomr::core {
namespace {

using mro_t = std::vector<std::string>;

const mro_t my_error_mro{"myapp.MyError", "builtins.ValueError", "builtins.Exception",
                         "builtins.BaseException", "builtins.object"};

// --- directive names -----------------------------------------------------------

TEST(Directive, NamesRoundTrip) {
  for (directive d : {directive::resume, directive::restart, directive::stop, directive::escalate})
    EXPECT_EQ(parse_directive(to_string(d)), d);
  EXPECT_STREQ(to_string(directive::resume), "resume");
  EXPECT_STREQ(to_string(directive::restart), "restart");
  EXPECT_STREQ(to_string(directive::stop), "stop");
  EXPECT_STREQ(to_string(directive::escalate), "escalate");
}

TEST(Directive, OutOfRangeValueHasAPrintableName) {
  EXPECT_STREQ(to_string(static_cast<directive>(200)), "unknown");
}

TEST(Directive, ParsingIsCaseSensitive) {
  EXPECT_THROW(parse_directive("Restart"), invalid_argument_error);
  EXPECT_THROW(parse_directive("STOP"), invalid_argument_error);
}

TEST(Directive, InvalidNameErrorNamesTheValueAndTheChoices) {
  try {
    parse_directive("reboot");
    FAIL() << "no exception";
  } catch (const invalid_argument_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'reboot'"), std::string::npos) << what;
    for (const char* name : {"resume", "restart", "stop", "escalate"})
      EXPECT_NE(what.find(name), std::string::npos) << what;
    EXPECT_EQ(e.where(), atomr::component::core);
    EXPECT_EQ(e.code(), static_cast<int>(atomr::core::errc::invalid_argument));
  }
}

TEST(Directive, EmptyAndPaddedNamesAreInvalid) {
  EXPECT_THROW(parse_directive(""), invalid_argument_error);
  EXPECT_THROW(parse_directive(" stop"), invalid_argument_error);
  EXPECT_THROW(parse_directive("stop "), invalid_argument_error);
  EXPECT_THROW(parse_directive(std::string_view("stop\0", 5)), invalid_argument_error);
}

// --- decider -------------------------------------------------------------------

TEST(Decider, EmptyTableUsesTheDefault) {
  decider d;
  EXPECT_EQ(d.default_directive(), directive::restart);
  EXPECT_EQ(d.size(), 0u);
  EXPECT_EQ(d.decide(my_error_mro), directive::restart);
  EXPECT_EQ(d.decide(mro_t{}), directive::restart);
  d.set_default(directive::escalate);
  EXPECT_EQ(d.default_directive(), directive::escalate);
  EXPECT_EQ(d.decide(my_error_mro), directive::escalate);
}

TEST(Decider, ConstructorSetsTheDefault) {
  decider d(directive::stop);
  EXPECT_EQ(d.default_directive(), directive::stop);
  EXPECT_EQ(d.decide("builtins.KeyError"), directive::stop);
}

TEST(Decider, ExactRuleMatchesItsClass) {
  decider d;
  d.add("myapp.MyError", directive::stop);
  EXPECT_EQ(d.decide(my_error_mro), directive::stop);
  EXPECT_EQ(d.decide("myapp.MyError"), directive::stop);
}

TEST(Decider, FirstMatchingEntryInMroOrderWins) {
  decider d(directive::escalate);
  // Rules added base-first: the order of addition must not matter.
  d.add("builtins.Exception", directive::stop);
  d.add("builtins.ValueError", directive::resume);
  EXPECT_EQ(d.decide(my_error_mro), directive::resume);
  EXPECT_EQ(d.decide(mro_t{"builtins.KeyError", "builtins.LookupError", "builtins.Exception",
                           "builtins.BaseException", "builtins.object"}),
            directive::stop);
  EXPECT_EQ(
      d.decide(mro_t{"builtins.KeyboardInterrupt", "builtins.BaseException", "builtins.object"}),
      directive::escalate);
}

TEST(Decider, ExactMatchOnABaseBeatsBareNameMatchOnTheMostDerived) {
  decider d;
  d.add("other.MyError", directive::stop);        // bare name "MyError"
  d.add("builtins.Exception", directive::resume); // exact, further down the MRO
  EXPECT_EQ(d.decide(my_error_mro), directive::resume);
}

TEST(Decider, BareNameRuleMatchesAnyModule) {
  decider d(directive::escalate);
  d.add("ValueError", directive::resume);
  EXPECT_EQ(d.decide(my_error_mro), directive::resume);
  EXPECT_EQ(d.decide("builtins.ValueError"), directive::resume);
  EXPECT_EQ(d.decide("ValueError"), directive::resume);
  EXPECT_EQ(d.decide("builtins.TypeError"), directive::escalate);
}

TEST(Decider, QualifiedRuleAlsoMatchesByBareName) {
  decider d(directive::escalate);
  d.add("x.ValueError", directive::stop);
  EXPECT_EQ(d.decide("builtins.ValueError"), directive::stop);
  EXPECT_EQ(d.decide(my_error_mro), directive::stop);
  // A bare name is the text after the LAST dot.
  EXPECT_EQ(d.decide("pkg.ValueError.Inner"), directive::escalate);
  EXPECT_EQ(d.decide("pkg.MyValueError"), directive::escalate);
}

TEST(Decider, BareNameMatchesFollowMroOrder) {
  decider d;
  d.add("Exception", directive::stop);
  d.add("ValueError", directive::resume);
  EXPECT_EQ(d.decide(my_error_mro), directive::resume);
}

TEST(Decider, LaterRuleForTheSamePathReplacesTheEarlier) {
  decider d;
  d.add("builtins.ValueError", directive::stop);
  d.add("builtins.ValueError", directive::resume);
  EXPECT_EQ(d.size(), 1u);
  EXPECT_EQ(d.decide("builtins.ValueError"), directive::resume);
  // ... and for the bare-name lookup too.
  EXPECT_EQ(d.decide("other.ValueError"), directive::resume);
}

TEST(Decider, LatestRuleWinsAmongRulesSharingABareName) {
  decider d;
  d.add("a.Oops", directive::stop);
  d.add("b.Oops", directive::resume);
  EXPECT_EQ(d.size(), 2u);
  EXPECT_EQ(d.decide("a.Oops"), directive::stop); // exact still exact
  EXPECT_EQ(d.decide("b.Oops"), directive::resume);
  EXPECT_EQ(d.decide("c.Oops"), directive::resume);
  d.add("a.Oops", directive::escalate);
  EXPECT_EQ(d.decide("c.Oops"), directive::escalate);
}

TEST(Decider, SinglePathFormIgnoresTheMessage) {
  decider d(directive::escalate);
  d.add("builtins.ValueError", directive::resume);
  EXPECT_EQ(d.decide("builtins.ValueError: invalid literal for int(): 'x'"), directive::resume);
  EXPECT_EQ(d.decide("builtins.TypeError: builtins.ValueError"), directive::escalate);
  EXPECT_EQ(d.decide("ValueError: bad"), directive::resume); // bare name, with a message
  // Only ": " separates: a colon inside the path is part of it.
  EXPECT_EQ(d.decide("builtins.ValueError:x"), directive::escalate);
}

TEST(Decider, BracedMroListWorksLikeAVector) {
  decider d(directive::escalate);
  d.add("builtins.LookupError", directive::resume);
  EXPECT_EQ(d.decide({"builtins.KeyError", "builtins.LookupError", "builtins.Exception"}),
            directive::resume);
  EXPECT_EQ(d.decide({"builtins.KeyError"}), directive::escalate);
}

TEST(Decider, MroEntriesAreMatchedVerbatim) {
  decider d(directive::escalate);
  d.add("builtins.ValueError", directive::resume);
  EXPECT_EQ(d.decide(mro_t{"builtins.ValueError: message"}), directive::escalate);
}

TEST(Decider, EmptyRulePathIsRejected) {
  decider d;
  EXPECT_THROW(d.add("", directive::stop), invalid_argument_error);
  EXPECT_EQ(d.size(), 0u);
}

TEST(Decider, ManyRulesLookUp) {
  decider d(directive::escalate);
  for (int i = 0; i < 10000; ++i)
    d.add("mod" + std::to_string(i) + ".Err" + std::to_string(i),
          i % 2 == 0 ? directive::stop : directive::resume);
  EXPECT_EQ(d.size(), 10000u);
  EXPECT_EQ(d.decide("mod42.Err42"), directive::stop);
  EXPECT_EQ(d.decide("elsewhere.Err43"), directive::resume);
  EXPECT_EQ(d.decide("elsewhere.Nope"), directive::escalate);
}

// --- restart_budget --------------------------------------------------------------

TEST(RestartBudget, AllowsMaxRetriesInsideTheWindow) {
  restart_budget b(3, 10.0);
  EXPECT_TRUE(b.has_window());
  EXPECT_FALSE(b.unlimited());
  EXPECT_TRUE(b.request(0.0));
  EXPECT_TRUE(b.request(1.0));
  EXPECT_TRUE(b.request(2.0));
  EXPECT_FALSE(b.request(3.0));
  EXPECT_EQ(b.count_in_window(3.0), 3); // the refusal was not recorded
}

TEST(RestartBudget, WindowSlides) {
  restart_budget b(2, 10.0);
  EXPECT_TRUE(b.request(0.0));
  EXPECT_TRUE(b.request(5.0));
  EXPECT_FALSE(b.request(9.0));
  EXPECT_TRUE(b.request(10.5)); // the restart at 0 has left the window
  EXPECT_FALSE(b.request(14.0));
  EXPECT_EQ(b.count_in_window(14.0), 2);
  EXPECT_EQ(b.count_in_window(15.0), 1); // 5.0 left (exactly at the edge)
  EXPECT_TRUE(b.request(15.5));
  EXPECT_EQ(b.count_in_window(100.0), 0);
}

TEST(RestartBudget, RestartExactlyWithinSecondsAgoHasLeftTheWindow) {
  // The window is (now - within, now]: a stamp at now - within is outside.
  restart_budget b(1, 2.0);
  EXPECT_TRUE(b.request(1.0));
  EXPECT_FALSE(b.request(2.999));
  EXPECT_EQ(b.count_in_window(2.999), 1);
  EXPECT_EQ(b.count_in_window(3.0), 0);
  EXPECT_TRUE(b.request(3.0));
  EXPECT_FALSE(b.request(4.5));
  EXPECT_TRUE(b.request(5.0));
}

TEST(RestartBudget, ZeroRetriesNeverAllows) {
  restart_budget windowed(0, 1.0);
  restart_budget forever(0, 0.0);
  for (double t : {0.0, 1.0, 100.0}) {
    EXPECT_FALSE(windowed.request(t));
    EXPECT_FALSE(forever.request(t));
  }
  EXPECT_EQ(windowed.count_in_window(100.0), 0);
  EXPECT_EQ(forever.count_in_window(100.0), 0);
}

TEST(RestartBudget, NegativeRetriesMeanUnlimited) {
  restart_budget b(-1, 1.0);
  EXPECT_TRUE(b.unlimited());
  EXPECT_EQ(b.max_retries(), -1);
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(b.request(i * 0.001));
  EXPECT_EQ(b.count_in_window(0.999), 1000);
  EXPECT_EQ(b.count_in_window(1.4995), 500);

  restart_budget forever(-5, 0.0);
  EXPECT_TRUE(forever.unlimited());
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(forever.request(i));
  EXPECT_EQ(forever.count_in_window(1e9), 1000);
}

TEST(RestartBudget, UnlimitedBudgetKeepsBoundedMemory) {
  restart_budget b(-1, 1e6);
  for (std::size_t i = 0; i < restart_budget::max_tracked + 100; ++i)
    ASSERT_TRUE(b.request(double(i)));
  EXPECT_EQ(b.count_in_window(double(restart_budget::max_tracked + 100)),
            int(restart_budget::max_tracked));
}

TEST(RestartBudget, NoWindowCountsEveryRestartEver) {
  for (double within : {0.0, -3.0, std::numeric_limits<double>::infinity()}) {
    restart_budget b(2, within);
    EXPECT_FALSE(b.has_window()) << within;
    EXPECT_TRUE(b.request(0.0));
    EXPECT_TRUE(b.request(1e6));
    EXPECT_FALSE(b.request(1e12)) << within;
    EXPECT_EQ(b.count_in_window(1e12), 2);
  }
}

TEST(RestartBudget, ResetForgetsEverything) {
  restart_budget b(1, 10.0);
  EXPECT_TRUE(b.request(0.0));
  EXPECT_FALSE(b.request(1.0));
  b.reset();
  EXPECT_EQ(b.count_in_window(1.0), 0);
  EXPECT_TRUE(b.request(1.0));

  restart_budget forever(1, 0.0);
  EXPECT_TRUE(forever.request(0.0));
  EXPECT_FALSE(forever.request(1.0));
  forever.reset();
  EXPECT_TRUE(forever.request(2.0));
}

TEST(RestartBudget, LimitedBudgetHoldsAtMostMaxRetriesStamps) {
  restart_budget b(3, 10.0);
  int allowed = 0;
  for (int i = 0; i < 1000; ++i)
    allowed += b.request(i * 0.5) ? 1 : 0;
  // 3 per 10 s over 500 s of requests every 0.5 s.
  EXPECT_GE(allowed, 3 * 49);
  EXPECT_LE(allowed, 3 * 51);
  EXPECT_LE(b.count_in_window(499.5), 3);
}

TEST(RestartBudget, AccessorsReportTheConfiguration) {
  restart_budget b(7, 2.5);
  EXPECT_EQ(b.max_retries(), 7);
  EXPECT_DOUBLE_EQ(b.within_seconds(), 2.5);
  restart_budget d;
  EXPECT_TRUE(d.unlimited());
  EXPECT_FALSE(d.has_window());
}

TEST(RestartBudget, NanWindowIsRejected) {
  EXPECT_THROW(restart_budget(1, std::nan("")), invalid_argument_error);
}

} // namespace
} // namespace atomr::core
