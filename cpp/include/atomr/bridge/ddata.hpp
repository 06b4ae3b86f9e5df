#pragma once

// Kept for the ddata declarations that name `translate_ddata_error`: the
// ddata errors are now classified by their component and code in
// `translate_error`, like every other component's.

#include "atomr/bridge/python.hpp"

namespace atomr::bridge {

/// The custom Cython exception handler of the ddata calls; the same as
/// `translate_error`.
inline void translate_ddata_error() {
  translate_error();
}

} // namespace atomr::bridge
