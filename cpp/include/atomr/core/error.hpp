#pragma once

#include <stdexcept>
#include <string>

namespace atomr {

/// Base class of every error the core raises. The Python bridge maps each
/// subclass onto the matching class of `atomr/errors.py` by its `code()`.
class error : public std::runtime_error {
public:
  enum class kind : int {
    generic = 0,
    invalid_actor_name = 1,
    actor_name_taken = 2,
    system_terminated = 3,
    invalid_argument = 4,
    journal = 5,
  };

  explicit error(const std::string& what, kind k = kind::generic)
    : std::runtime_error(what), kind_(k) {
  }

  kind code() const noexcept {
    return kind_;
  }

private:
  kind kind_;
};

} // namespace atomr

namespace atomr::core {

/// An actor or system name that does not satisfy the path grammar.
class invalid_actor_name_error : public error {
public:
  explicit invalid_actor_name_error(const std::string& what)
    : error(what, kind::invalid_actor_name) {
  }
};

/// A name already used by a live sibling.
class actor_name_taken_error : public error {
public:
  explicit actor_name_taken_error(const std::string& what)
    : error(what, kind::actor_name_taken) {
  }
};

/// Any operation on a system that has been terminated.
class system_terminated_error : public error {
public:
  explicit system_terminated_error(const std::string& what)
    : error(what, kind::system_terminated) {
  }
};

/// An argument outside its domain (negative timeout, zero throughput, ...).
class invalid_argument_error : public error {
public:
  explicit invalid_argument_error(const std::string& what)
    : error(what, kind::invalid_argument) {
  }
};

} // namespace atomr::core
