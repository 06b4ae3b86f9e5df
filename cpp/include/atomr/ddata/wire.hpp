#pragma once

#include "atomr/ddata/replicated_data.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace atomr::ddata {

/// The wire format of replicated values (cereal portable binary):
///
///   "ACRD"  magic, 4 bytes
///   u16     format version (`wire_version`)
///   u8      type tag
///   ...     the type's state; map values nest as (u8 tag, state)
///
/// Strings and collections are a u64 length then their items. Decoding
/// checks every length against the bytes left before allocating, checks
/// the state's invariants (sorted unique keys, dots inside the causal
/// context, counters above zero, map values of the map's value type) and
/// rejects trailing bytes. Pending deltas are not serialized.
inline constexpr std::uint16_t wire_version = 1;

/// How deep map values may nest in a blob.
inline constexpr int max_wire_depth = 8;

/// Serializes `value` with the header.
std::string to_bytes(const replicated_data& value);

/// Decodes a blob made by `to_bytes`.
/// @throws malformed_data_error on any malformed input.
std::unique_ptr<replicated_data> from_bytes(const char* data, std::size_t size);

inline std::unique_ptr<replicated_data> from_bytes(const std::string& blob) {
  return from_bytes(blob.data(), blob.size());
}

/// The type tag in a blob's header.
/// @throws malformed_data_error the header is malformed.
type_tag peek_type(const char* data, std::size_t size);

} // namespace atomr::ddata
