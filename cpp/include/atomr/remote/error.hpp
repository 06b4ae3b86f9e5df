#pragma once

#include "atomr/error.hpp"

#include <string>

namespace atomr::remote {

/// The codes of the remote transport's errors (`atomr::component::remote`).
/// The numbers cross into Python and must never be reused.
enum class errc : int {
  generic = 0,
  /// Bytes from a peer that are not a valid frame (truncated fields, an
  /// unknown frame kind, a bad handshake magic, trailing bytes).
  malformed_frame = 1,
  /// A frame longer than the configured maximum frame size.
  frame_too_large = 2,
  /// A frame of a wire format version this build does not speak.
  unsupported_version = 3,
  /// An address that is not `host:port` with an IP literal host.
  invalid_address = 4,
  /// The listening socket could not be bound.
  bind_failed = 5,
  /// The transport has been stopped.
  transport_stopped = 6,
  /// A transport setting outside its domain.
  invalid_config = 7,
};

/// Base class of the remote transport's errors.
class error : public atomr::error {
public:
  explicit error(const std::string& what, errc code = errc::generic)
    : atomr::error(component::remote, code, what) {
  }
};

/// Bytes that do not form a valid frame. Decoding never trusts a length
/// field: it raises this instead of reading past the end of a frame.
class malformed_frame_error : public error {
public:
  explicit malformed_frame_error(const std::string& what)
    : error("malformed frame: " + what, errc::malformed_frame) {
  }
};

/// A frame whose length prefix exceeds the limit, raised before anything is
/// allocated for it (or an outbound message that would encode to one).
class frame_too_large_error : public error {
public:
  explicit frame_too_large_error(const std::string& what)
    : error(what, errc::frame_too_large) {
  }
};

/// A frame of another wire format version.
class unsupported_version_error : public error {
public:
  explicit unsupported_version_error(const std::string& what)
    : error(what, errc::unsupported_version) {
  }
};

/// An address that cannot be parsed as `host:port`.
class invalid_address_error : public error {
public:
  explicit invalid_address_error(const std::string& what)
    : error(what, errc::invalid_address) {
  }
};

/// The listening socket could not be opened or bound.
class bind_error : public error {
public:
  explicit bind_error(const std::string& what)
    : error(what, errc::bind_failed) {
  }
};

/// An operation on a stopped transport.
class transport_stopped_error : public error {
public:
  explicit transport_stopped_error(const std::string& what)
    : error(what, errc::transport_stopped) {
  }
};

/// A transport setting outside its domain (zero queue limit, negative interval).
class invalid_config_error : public error {
public:
  explicit invalid_config_error(const std::string& what)
    : error(what, errc::invalid_config) {
  }
};

} // namespace atomr::remote
