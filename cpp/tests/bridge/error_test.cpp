#include "atomr/bridge/error.hpp"
#include "atomr/core/error.hpp"
#include "atomr/ddata/error.hpp"
#include "atomr/persistence/error.hpp"

#include <gtest/gtest.h>
#include <new>
#include <stdexcept>
#include <string>

namespace {

using atomr::bridge::current_error_info;
using atomr::bridge::error_info;

template <class Throw> error_info classify(Throw&& raise) {
  error_info info;
  try {
    raise();
  } catch (...) {
    current_error_info(info);
  }
  return info;
}

TEST(CurrentErrorInfo, AnAtomrErrorGivesItsComponentCodeAndMessage) {
  auto info = classify([] { throw atomr::core::actor_name_taken_error("name `a` is taken"); });
  EXPECT_EQ(info.component, 1);
  EXPECT_EQ(info.code, 2);
  EXPECT_EQ(info.message, "name `a` is taken");
}

TEST(CurrentErrorInfo, EachComponentReportsItsOwnNumber) {
  auto journal = classify([] { throw atomr::persistence::journal_error("disk"); });
  EXPECT_EQ(journal.component, static_cast<int>(atomr::component::persistence));
  EXPECT_EQ(journal.code, static_cast<int>(atomr::persistence::errc::generic));

  auto malformed = classify([] { throw atomr::ddata::malformed_data_error("truncated"); });
  EXPECT_EQ(malformed.component, static_cast<int>(atomr::component::ddata));
  EXPECT_EQ(malformed.code, static_cast<int>(atomr::ddata::errc::malformed_data));
  EXPECT_EQ(malformed.message, "malformed replicated data: truncated");

  auto mismatch = classify([] { throw atomr::ddata::type_mismatch_error("GSet into GCounter"); });
  EXPECT_EQ(mismatch.code, static_cast<int>(atomr::ddata::errc::type_mismatch));
}

TEST(CurrentErrorInfo, BadAllocIsForeignCodeOne) {
  auto info = classify([] { throw std::bad_alloc(); });
  EXPECT_EQ(info.component, 0);
  EXPECT_EQ(info.code, 1);
}

TEST(CurrentErrorInfo, AnyOtherStdExceptionIsForeignCodeTwoWithItsMessage) {
  auto info = classify([] { throw std::out_of_range("index 9"); });
  EXPECT_EQ(info.component, 0);
  EXPECT_EQ(info.code, 2);
  EXPECT_EQ(info.message, "index 9");
}

TEST(CurrentErrorInfo, AnythingElseIsForeignCodeThree) {
  auto info = classify([] { throw 42; });
  EXPECT_EQ(info.component, 0);
  EXPECT_EQ(info.code, 3);
  EXPECT_EQ(info.message, "unknown C++ exception");
}

} // namespace
