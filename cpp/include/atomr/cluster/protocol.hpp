#pragma once

// The cluster daemon's messages (Akka's cluster protocol) and their wire
// form. Each message travels as a remote envelope to `daemon_path` on the
// peer, with the message's manifest (`atomr.cluster.InitJoin`, ...) and a
// binary payload:
//
//   u8 protocol version, then the fields
//
// A message is written with the lowest version that carries it: version 1
// for all of them except an InitJoinAck from an uninitialized node, which is
// version 2 (version 1's fields plus a u8 flag: 1 initialized, 0 not). A
// decoder accepts versions 1 to `cluster_protocol_version`; a version 1
// InitJoinAck is from an initialized node. (So a node of version 1 reads
// everything but the uninitialized acks, which it drops like Akka's
// uninitialized nodes' silence.)
//
// Integers are little-endian; str = u32 length + bytes; a unique address is
// str address (at most 1024 bytes, must parse as `proto://system[@host:port]`)
// + u64 uid (non-zero); a gossip is a str holding `encode_gossip` bytes;
// a vector clock is u32 count x (str node, u64 counter > 0) with strictly
// increasing node names; roles are u32 count x str, strictly increasing,
// non-empty. Nothing may follow the last field. Decoding validates every
// field and throws only `malformed_message_error` (any malformation,
// including a malformed embedded gossip) or `unsupported_version_error`.

#include "atomr/cluster/gossip.hpp"
#include "atomr/remote/frame.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace atomr::cluster::protocol {

/// The newest protocol version this build reads and writes.
inline constexpr std::uint8_t cluster_protocol_version = 2;
/// The oldest protocol version this build reads.
inline constexpr std::uint8_t min_cluster_protocol_version = 1;
/// The longest address a message carries, in bytes.
inline constexpr std::size_t max_address_size = 1024;
/// The most roles a Join carries, and the longest role.
inline constexpr std::size_t max_roles = 256;
inline constexpr std::size_t max_role_size = 256;
/// The most entries of a GossipStatus's vector clock.
inline constexpr std::size_t max_clock_entries = 1u << 20;

/// A joining node asks a seed whether it may join (answered only by nodes
/// that are up in their cluster).
struct init_join {
  unique_address from;
  friend bool operator==(const init_join&, const init_join&) = default;
};
/// The seed at `from.address` is up and admits joins. `initialized`: it
/// has joined or formed a cluster; false for a node that never did (alone in
/// the one-node cluster every daemon starts as): a joiner joins such a node
/// only after `seed_node_timeout`, and then the first of them in its own
/// seed list (daemon.hpp).
struct init_join_ack {
  unique_address from;
  bool initialized = true;
  friend bool operator==(const init_join_ack&, const init_join_ack&) = default;
};
/// The seed cannot take joins now (not up, joining elsewhere, stopping).
struct init_join_nack {
  unique_address from;
  friend bool operator==(const init_join_nack&, const init_join_nack&) = default;
};
/// `node` joins with `roles`.
struct join {
  unique_address node;
  std::vector<std::string> roles;
  friend bool operator==(const join&, const join&) = default;
};
/// The answer to a Join: the joiner's first gossip.
struct welcome {
  unique_address from;
  gossip state;
  friend bool operator==(const welcome&, const welcome&) = default;
};
/// The version of `from`'s gossip (push-pull digest).
struct gossip_status {
  unique_address from;
  vector_clock version;
  friend bool operator==(const gossip_status&, const gossip_status&) = default;
};
/// `from`'s whole gossip, for the incarnation `to`.
struct gossip_envelope {
  unique_address from;
  unique_address to;
  gossip state;
  friend bool operator==(const gossip_envelope&, const gossip_envelope&) = default;
};
/// A ring heartbeat from the monitoring node `from`.
struct heartbeat {
  unique_address from;
  std::uint64_t sequence = 0;
  friend bool operator==(const heartbeat&, const heartbeat&) = default;
};
/// The monitored node `from` answers a heartbeat.
struct heartbeat_rsp {
  unique_address from;
  std::uint64_t sequence = 0;
  friend bool operator==(const heartbeat_rsp&, const heartbeat_rsp&) = default;
};

using message = std::variant<init_join, init_join_ack, init_join_nack, join, welcome, gossip_status,
                             gossip_envelope, heartbeat, heartbeat_rsp>;

/// The manifest of each message kind (`atomr.cluster.InitJoin`, ...).
std::string_view manifest_of(const message& m) noexcept;

/// The payload bytes of `m`. Throws `invalid_argument_error` for a message
/// that could not be decoded again (an address that does not parse, uid 0,
/// fields over their limits).
std::string encode_payload(const message& m);

/// The message of a daemon envelope's manifest and payload.
message decode(std::string_view manifest, std::string_view payload);

/// An envelope for the daemon at the peer (`daemon_path`).
remote::envelope to_envelope(const message& m);

/// The envelope of a GossipEnvelope whose gossip is already encoded
/// (`encode_gossip`), so a sender encodes its gossip once per change, not
/// once per message. Same bytes as `to_envelope(gossip_envelope{...})`.
remote::envelope gossip_envelope_with(const unique_address& from, const unique_address& to,
                                      std::string_view gossip_bytes);

} // namespace atomr::cluster::protocol
