#include "atomr/core/error.hpp"

#include <gtest/gtest.h>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace {

using atomr::component;
using atomr::core::errc;

int code_of(errc c) {
  return static_cast<int>(c);
}

TEST(Error, BaseErrorDefaultsToTheGenericCode) {
  atomr::core::error e("boom");
  EXPECT_EQ(e.where(), component::core);
  EXPECT_EQ(e.code(), code_of(errc::generic));
  EXPECT_STREQ(e.what(), "boom");
}

TEST(Error, BaseErrorKeepsAnExplicitCode) {
  atomr::core::error e("bad", errc::system_terminated);
  EXPECT_EQ(e.code(), code_of(errc::system_terminated));
}

TEST(Error, AnyComponentAndCodeCanBeCarriedByTheSharedBase) {
  atomr::error e(component::ddata, 7, "later code");
  EXPECT_EQ(e.where(), component::ddata);
  EXPECT_EQ(e.code(), 7);
  EXPECT_STREQ(e.what(), "later code");
}

TEST(Error, CodesHaveTheNumbersThePythonBridgeMaps) {
  EXPECT_EQ(code_of(errc::generic), 0);
  EXPECT_EQ(code_of(errc::invalid_actor_name), 1);
  EXPECT_EQ(code_of(errc::actor_name_taken), 2);
  EXPECT_EQ(code_of(errc::system_terminated), 3);
  EXPECT_EQ(code_of(errc::invalid_argument), 4);
}

TEST(Error, ComponentsHaveTheNumbersThePythonBridgeMaps) {
  EXPECT_EQ(static_cast<int>(component::core), 1);
  EXPECT_EQ(static_cast<int>(component::storage), 2);
  EXPECT_EQ(static_cast<int>(component::persistence), 3);
  EXPECT_EQ(static_cast<int>(component::ddata), 4);
}

TEST(Error, EachSubclassReportsItsOwnCode) {
  EXPECT_EQ(atomr::core::invalid_actor_name_error("x").code(), code_of(errc::invalid_actor_name));
  EXPECT_EQ(atomr::core::actor_name_taken_error("x").code(), code_of(errc::actor_name_taken));
  EXPECT_EQ(atomr::core::system_terminated_error("x").code(), code_of(errc::system_terminated));
  EXPECT_EQ(atomr::core::invalid_argument_error("x").code(), code_of(errc::invalid_argument));
  EXPECT_EQ(atomr::core::invalid_argument_error("x").where(), component::core);
}

TEST(Error, SubclassesAreCaughtAsErrorAndRuntimeErrorWithTheirMessage) {
  static_assert(std::is_base_of_v<std::runtime_error, atomr::error>);
  static_assert(std::is_base_of_v<atomr::error, atomr::core::error>);
  static_assert(std::is_base_of_v<atomr::core::error, atomr::core::invalid_actor_name_error>);
  static_assert(std::is_base_of_v<atomr::core::error, atomr::core::actor_name_taken_error>);
  static_assert(std::is_base_of_v<atomr::core::error, atomr::core::system_terminated_error>);
  static_assert(std::is_base_of_v<atomr::core::error, atomr::core::invalid_argument_error>);

  try {
    throw atomr::core::actor_name_taken_error("name `a` is taken");
  } catch (const atomr::error& e) {
    EXPECT_EQ(e.code(), code_of(errc::actor_name_taken));
    EXPECT_STREQ(e.what(), "name `a` is taken");
  }
  try {
    throw atomr::core::system_terminated_error("gone");
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "gone");
  }
}

TEST(Error, CodeSurvivesCopyingThroughTheBaseClass) {
  const atomr::error copy = atomr::core::invalid_argument_error("negative timeout");
  EXPECT_EQ(copy.where(), component::core);
  EXPECT_EQ(copy.code(), code_of(errc::invalid_argument));
  EXPECT_STREQ(copy.what(), "negative timeout");
}

} // namespace
