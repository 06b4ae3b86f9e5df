#pragma once

// The versioned binary format of journal and snapshot records on disk.
// Every value starts with a format version byte. Version 2 (written by this
// build) follows it with the CRC-32C of the rest (4 bytes, little-endian)
// and then a cereal portable-binary archive (little-endian on every host)
// that must fill the value exactly, so a flipped or lost byte is reported
// instead of misread. Version 1 (older builds) has no checksum and is still
// read. Keys sort by persistence id, then by sequence number.

#include "atomr/persistence/journal.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace atomr::persistence::internal {

/// The format version written by this build (checksummed).
inline constexpr std::uint8_t record_format_version = 2;

/// The format version of older builds (no checksum), still read.
inline constexpr std::uint8_t record_format_version_unchecked = 1;

/// Per-entity bookkeeping of a journal.
struct entity_meta {
  std::uint64_t highest = 0;
  std::uint64_t deleted_to = 0;

  bool operator==(const entity_meta&) const = default;
};

std::string encode_record(const persistent_record& record);
/// @throws journal_error an unknown version or a damaged value (a
/// checksum mismatch, a short or overlong value).
persistent_record decode_record(std::string_view bytes);

std::string encode_snapshot(const snapshot_record& snapshot);
/// @throws journal_error an unknown version or a damaged value.
snapshot_record decode_snapshot(std::string_view bytes);

std::string encode_meta(const entity_meta& meta);
/// @throws journal_error an unknown version or a damaged value.
entity_meta decode_meta(std::string_view bytes);

/// The key of record `sequence_nr` of `id`: a 4-byte big-endian id length,
/// the id, then the 8-byte big-endian number.
std::string record_key(std::string_view id, std::uint64_t sequence_nr);

/// The key prefix shared by every record of `id`.
std::string key_prefix(std::string_view id);

/// The sequence number at the end of a record key.
std::uint64_t key_sequence_nr(std::string_view key) noexcept;

} // namespace atomr::persistence::internal
