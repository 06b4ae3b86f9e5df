#include <stdexcept>
#include <string>
#include <type_traits>

#include <gtest/gtest.h>

#include "atomr/core/error.hpp"

namespace {

using atomr::error;

TEST(Error, BaseErrorDefaultsToTheGenericCode) {
  error e("boom");
  EXPECT_EQ(e.code(), error::kind::generic);
  EXPECT_STREQ(e.what(), "boom");
}

TEST(Error, BaseErrorKeepsAnExplicitCode) {
  error e("bad", error::kind::system_terminated);
  EXPECT_EQ(e.code(), error::kind::system_terminated);
}

TEST(Error, CodesHaveTheNumbersThePythonBridgeMaps) {
  EXPECT_EQ(static_cast<int>(error::kind::generic), 0);
  EXPECT_EQ(static_cast<int>(error::kind::invalid_actor_name), 1);
  EXPECT_EQ(static_cast<int>(error::kind::actor_name_taken), 2);
  EXPECT_EQ(static_cast<int>(error::kind::system_terminated), 3);
  EXPECT_EQ(static_cast<int>(error::kind::invalid_argument), 4);
}

TEST(Error, EachSubclassReportsItsOwnCode) {
  EXPECT_EQ(atomr::core::invalid_actor_name_error("x").code(), error::kind::invalid_actor_name);
  EXPECT_EQ(atomr::core::actor_name_taken_error("x").code(), error::kind::actor_name_taken);
  EXPECT_EQ(atomr::core::system_terminated_error("x").code(), error::kind::system_terminated);
  EXPECT_EQ(atomr::core::invalid_argument_error("x").code(), error::kind::invalid_argument);
}

TEST(Error, SubclassesAreCaughtAsErrorAndRuntimeErrorWithTheirMessage) {
  static_assert(std::is_base_of_v<std::runtime_error, error>);
  static_assert(std::is_base_of_v<error, atomr::core::invalid_actor_name_error>);
  static_assert(std::is_base_of_v<error, atomr::core::actor_name_taken_error>);
  static_assert(std::is_base_of_v<error, atomr::core::system_terminated_error>);
  static_assert(std::is_base_of_v<error, atomr::core::invalid_argument_error>);

  try {
    throw atomr::core::actor_name_taken_error("name `a` is taken");
  } catch (const error& e) {
    EXPECT_EQ(e.code(), error::kind::actor_name_taken);
    EXPECT_STREQ(e.what(), "name `a` is taken");
  }
  try {
    throw atomr::core::system_terminated_error("gone");
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "gone");
  }
}

TEST(Error, CodeSurvivesCopyingThroughTheBaseClass) {
  const error copy = atomr::core::invalid_argument_error("negative timeout");
  EXPECT_EQ(copy.code(), error::kind::invalid_argument);
  EXPECT_STREQ(copy.what(), "negative timeout");
}

} // namespace
