#pragma once

#include <cstdint>

#include "atomr/core/payload.hpp"

namespace atomr {

/// One unit of mail. `kind` is 0 for user messages; system messages carry a
/// non-zero kind whose meaning belongs to whoever runs the cell.
struct envelope {
  payload message;
  payload sender;
  payload reply;
  std::uint32_t kind = 0;
};

} // namespace atomr
