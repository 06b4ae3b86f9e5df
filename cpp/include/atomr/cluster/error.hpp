#pragma once

#include "atomr/error.hpp"

#include <string>

namespace atomr::cluster {

/// The codes of the cluster's errors (`atomr::component::cluster`). The
/// numbers cross into Python and must never be reused.
enum class errc : int {
  generic = 0,
  /// Bytes that are not a valid serialized gossip (truncated fields, an
  /// index out of range, an unknown status, duplicates, trailing bytes).
  malformed_gossip = 1,
  /// A serialized gossip of a format version this build does not read.
  unsupported_version = 2,
  /// An argument outside its domain (an address that cannot be parsed).
  invalid_argument = 3,
  /// A member status change that the membership life cycle does not allow.
  invalid_transition = 4,
  /// A cluster protocol message (daemon envelope) that does not decode:
  /// an unknown manifest, a truncated or out-of-range field, trailing bytes.
  malformed_message = 5,
};

/// Base class of the cluster's errors.
class error : public atomr::error {
public:
  explicit error(const std::string& what, errc code = errc::generic)
    : atomr::error(component::cluster, code, what) {
  }
};

/// Bytes that do not decode to a gossip. Decoding never trusts a count or a
/// length: it raises this instead of reading past the end of the input.
class malformed_gossip_error : public error {
public:
  explicit malformed_gossip_error(const std::string& what)
    : error("malformed gossip: " + what, errc::malformed_gossip) {
  }
};

/// A serialized gossip of another format version.
class unsupported_version_error : public error {
public:
  explicit unsupported_version_error(const std::string& what)
    : error(what, errc::unsupported_version) {
  }
};

/// An argument outside its domain.
class invalid_argument_error : public error {
public:
  explicit invalid_argument_error(const std::string& what)
    : error(what, errc::invalid_argument) {
  }
};

/// A cluster protocol message that does not decode (the daemon drops it).
class malformed_message_error : public error {
public:
  explicit malformed_message_error(const std::string& what)
    : error("malformed cluster message: " + what, errc::malformed_message) {
  }
};

/// A status change the member life cycle forbids (`removed -> up`).
class invalid_transition_error : public error {
public:
  explicit invalid_transition_error(const std::string& what)
    : error(what, errc::invalid_transition) {
  }
};

} // namespace atomr::cluster
