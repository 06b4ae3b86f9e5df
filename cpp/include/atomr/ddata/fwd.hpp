#pragma once

// Forward declarations of the distributed-data component: the CRDTs, their
// wire format and the LMDB durable store.

#include <cstdint>

namespace atomr::ddata {

/// The type of a replicated value. The numbers are part of the wire format
/// and must never be reused for another type.
enum class type_tag : std::uint8_t {
  gcounter = 1,
  pncounter = 2,
  gset = 3,
  orset = 4,
  lww_register = 5,
  flag = 6,
  ormap = 7,
  lww_map = 8,
  pncounter_map = 9,
  ormultimap = 10,
  deleted = 11,
};

/// The highest tag in use. Every number from 1 to it is a tag, with a name
/// (`type_name`); the Cython layer builds `DDATA_TAGS` from these two.
inline constexpr std::uint8_t max_type_tag = 11;
static_assert(static_cast<std::uint8_t>(type_tag::deleted) == max_type_tag,
              "max_type_tag must name the last tag");

struct dot;
class causal_context;
template <class Payload> class dot_kernel;

class replicated_data;
class gcounter;
class pncounter;
class gset;
class orset;
class lww_register;
class flag;
class ormap;
class lww_map;
class pncounter_map;
class ormultimap;
class deleted_data;
class lmdb_store;

namespace internal {
/// Reads and writes the private state of every type (see wire.cpp).
struct wire_access;
} // namespace internal

} // namespace atomr::ddata
