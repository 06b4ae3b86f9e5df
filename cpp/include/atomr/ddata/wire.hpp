#pragma once

#include "atomr/ddata/replicated_data.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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

/// How deep tuples and frozensets may nest inside one element encoding.
inline constexpr int max_element_depth = 32;

/// The most digits an int element may have (Python's default limit on
/// converting between int and str).
inline constexpr std::size_t max_element_int_digits = 4300;

/// Whether the set elements and map keys of a blob are checked when it is
/// decoded.
enum class element_check {
  /// Elements and keys are opaque byte strings (C++ users' own encodings).
  none,
  /// Each must be a canonical element encoding (see `is_canonical_element`),
  /// as the Python layer writes them.
  canonical,
};

/// Whether `encoding` is an element encoding exactly as the Python layer
/// writes it (atomr/ddata/_wire.py), so that equal values have equal bytes:
/// a kind byte, then for `s` UTF-8 (surrogates allowed), `b` any bytes,
/// `i` a decimal int with no sign but a leading `-`, no leading zero and no
/// `-0`, `T`/`F`/`n` nothing, `f` 8 big-endian bytes (no negative zero, the
/// one canonical NaN), `t`/`z` parts of a 4-byte big-endian length and a
/// canonical element each (a frozenset's in strictly increasing order, at
/// most `max_element_depth` levels deep), `c` a UTF-8 manifest, a NUL and
/// the codec's payload.
bool is_canonical_element(std::string_view encoding);

/// Serializes `value` with the header.
std::string to_bytes(const replicated_data& value);

/// Decodes a blob made by `to_bytes`; with `element_check::canonical`,
/// every set element and map key (each half of a multimap binding) must be
/// a canonical element encoding too.
/// @throws malformed_data_error on any malformed input.
std::unique_ptr<replicated_data> from_bytes(const char* data, std::size_t size,
                                            element_check check = element_check::none);

inline std::unique_ptr<replicated_data> from_bytes(const std::string& blob) {
  return from_bytes(blob.data(), blob.size());
}

/// The type tag in a blob's header.
/// @throws malformed_data_error the header is malformed.
type_tag peek_type(const char* data, std::size_t size);

} // namespace atomr::ddata
