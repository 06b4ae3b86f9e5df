#pragma once

#include "atomr/core/payload.hpp"

#include <cstdint>

namespace atomr::core {

/// One unit of mail. `kind` is 0 for plain user messages; other kinds (and
/// the `tag` they may carry, e.g. a timer id) mean whatever the code running
/// the cell says they mean. The core only moves envelopes.
struct envelope {
  payload message;
  payload sender;
  payload reply;
  std::uint32_t kind = 0;
  std::uint64_t tag = 0;
};

} // namespace atomr::core
