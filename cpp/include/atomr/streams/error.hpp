#pragma once

#include "atomr/error.hpp"

#include <string>

namespace atomr::streams {

/// The codes of the streams' errors (`atomr::component::streams`). The
/// numbers cross into Python and must never be reused.
enum class errc : int {
  generic = 0,
  /// An argument outside its domain (a negative count, a zero window).
  invalid_argument = 1,
  /// A `buffer` with the `fail` overflow strategy received an element while full.
  buffer_overflow = 2,
  /// A `throttle` in enforcing mode received elements faster than its rate.
  rate_exceeded = 3,
  /// `reduce` (or another stage that needs one element) saw an empty stream.
  empty_stream = 4,
  /// A kill switch aborted the stream.
  aborted = 5,
  /// A graph that cannot be built (a stage without its upstream, no sink).
  invalid_graph = 6,
  /// A framing stage met an oversized frame or a stream ending inside one.
  framing = 7,
  /// A file or socket stage failed to open, read or write.
  io = 8,
};

/// Base class of the streams' errors.
class error : public atomr::error {
public:
  explicit error(const std::string& what, errc code = errc::generic)
    : atomr::error(component::streams, code, what) {
  }
};

/// An argument outside its domain.
class invalid_argument_error : public error {
public:
  explicit invalid_argument_error(const std::string& what)
    : error(what, errc::invalid_argument) {
  }
};

/// A file or socket that cannot be opened, read or written.
class io_error : public error {
public:
  explicit io_error(const std::string& what)
    : error(what, errc::io) {
  }
};

/// A graph the builder cannot assemble.
class invalid_graph_error : public error {
public:
  explicit invalid_graph_error(const std::string& what)
    : error(what, errc::invalid_graph) {
  }
};

} // namespace atomr::streams
