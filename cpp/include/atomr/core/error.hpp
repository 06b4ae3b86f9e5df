#pragma once

#include "atomr/error.hpp"

#include <string>

namespace atomr::core {

/// The codes of the core's errors (`atomr::component::core`). The numbers
/// cross into Python and must never be reused.
enum class errc : int {
  generic = 0,
  invalid_actor_name = 1,
  actor_name_taken = 2,
  system_terminated = 3,
  invalid_argument = 4,
};

/// Base class of the core's errors; a plain `error` has the generic code.
class error : public atomr::error {
public:
  explicit error(const std::string& what, errc code = errc::generic)
    : atomr::error(component::core, code, what) {
  }
};

/// An actor or system name that does not satisfy the path grammar.
class invalid_actor_name_error : public error {
public:
  explicit invalid_actor_name_error(const std::string& what)
    : error(what, errc::invalid_actor_name) {
  }
};

/// A name already used by a live sibling.
class actor_name_taken_error : public error {
public:
  explicit actor_name_taken_error(const std::string& what)
    : error(what, errc::actor_name_taken) {
  }
};

/// Any operation on a system that has been terminated.
class system_terminated_error : public error {
public:
  explicit system_terminated_error(const std::string& what)
    : error(what, errc::system_terminated) {
  }
};

/// An argument outside its domain (negative timeout, zero throughput, ...).
class invalid_argument_error : public error {
public:
  explicit invalid_argument_error(const std::string& what)
    : error(what, errc::invalid_argument) {
  }
};

} // namespace atomr::core
