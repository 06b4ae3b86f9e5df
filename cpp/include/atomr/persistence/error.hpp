#pragma once

#include "atomr/error.hpp"

#include <string>

namespace atomr::persistence {

/// The codes of the persistence errors (`atomr::component::persistence`).
/// The numbers cross into Python and must never be reused.
enum class errc : int {
  /// A journal or snapshot store failure.
  generic = 0,
};

/// A storage failure: nothing of the failed call is acknowledged. The Python
/// bridge maps it onto `atomr.errors.JournalError`.
class journal_error : public atomr::error {
public:
  explicit journal_error(const std::string& what)
    : atomr::error(component::persistence, errc::generic, what) {
  }
};

} // namespace atomr::persistence
