#pragma once

#include <string>

#include "atomr/core/error.hpp"

namespace atomr::ddata {

/// A serialized value that is truncated, corrupt, of an unknown type or of
/// an unsupported format version. Decoding never trusts the blob: it raises
/// this instead of reading past the end or allocating what a size field asks.
class malformed_data_error : public atomr::error {
public:
  explicit malformed_data_error(const std::string& what)
    : error("malformed replicated data: " + what) {
  }
};

/// An operation combined values of different CRDT types (merging a GSet
/// into a GCounter, putting a Flag into a map of registers).
class type_mismatch_error : public atomr::error {
public:
  explicit type_mismatch_error(const std::string& what)
    : error(what, kind::invalid_argument) {
  }
};

/// The durable store could not read or write (I/O error, full disk, a
/// database already open in this process).
class store_error : public atomr::error {
public:
  explicit store_error(const std::string& what)
    : error(what) {
  }
};

} // namespace atomr::ddata
