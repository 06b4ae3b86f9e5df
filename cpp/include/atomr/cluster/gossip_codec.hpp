#pragma once

// The wire form of a gossip. Versioned and canonical; decoding validates
// every field and throws malformed_gossip_error / unsupported_version_error
// (never reads past the input).
//
// Layout (integers little-endian): "AKG" u8 version(=1), then a node table
// u32 count × (str address, u64 uid) with strictly increasing nodes, then
// members u32 count × (u32 node, u8 status, i32 up_number, u32 roles ×
// str role) in strictly increasing node order, seen u32 count × u32 node,
// reachability versions u32 count × (u32 observer, u64 version), records
// u32 count × (u32 observer, u32 subject, u8 status, u64 version),
// tombstones u32 count × u32 node, clock u32 count × (str node, u64 counter);
// str = u32 length + UTF-8 bytes. Nothing may follow.

#include "atomr/cluster/gossip.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace atomr::cluster {

inline constexpr std::uint8_t gossip_format_version = 1;

/// Largest encoded gossip decode accepts.
inline constexpr std::size_t max_gossip_size = 64u << 20;

std::string encode_gossip(const gossip& g);
gossip decode_gossip(std::string_view bytes);

} // namespace atomr::cluster
