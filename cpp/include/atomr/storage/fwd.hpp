#pragma once

/// Forward declarations of the storage component: the LMDB environment layer
/// shared by persistence and ddata.

namespace atomr::storage {

enum class errc : int;
class error;
struct environment_options;
enum class open_mode;
class environment;
class transaction;

} // namespace atomr::storage
