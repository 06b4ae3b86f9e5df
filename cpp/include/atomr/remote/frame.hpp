#pragma once

// The remote transport's wire format. Every frame is
//
//   u32 length   (little-endian; the bytes that follow it: 2 + body)
//   u8  version  (wire_version)
//   u8  kind     (frame_kind)
//   body         (length - 2 bytes, laid out per kind; see frame.cpp)
//
// Integers are little-endian; a string is a u32 length and its bytes. The
// decoder takes bytes as they arrive, in pieces of any size, and either
// yields whole frames or throws one of the errors of remote/error.hpp; it
// checks the length prefix against its maximum frame size before it buffers
// or allocates anything for the frame, and it never reads past the bytes a
// frame declares.

#include "atomr/remote/error.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace atomr::remote {

/// The version byte of every frame this build writes and reads.
inline constexpr std::uint8_t wire_version = 1;
/// The remoting protocol version carried in the handshake; peers of another
/// protocol version are refused.
inline constexpr std::uint16_t protocol_version = 1;
/// The handshake's magic number, the bytes "ATMR" on the wire.
inline constexpr std::uint32_t handshake_magic = 0x524d5441;
/// Length prefix, version byte and kind byte.
inline constexpr std::size_t frame_header_size = 6;
/// The default maximum of a frame's length prefix (4 MiB).
inline constexpr std::size_t default_max_frame_size = std::size_t{4} << 20;
/// The smallest maximum frame size a decoder or transport accepts.
inline constexpr std::size_t min_max_frame_size = 1024;
/// The largest maximum frame size a decoder or transport accepts (1 GiB).
inline constexpr std::size_t max_max_frame_size = std::size_t{1} << 30;
/// The longest system name, host and cookie a handshake carries, in bytes.
inline constexpr std::size_t max_handshake_field = 255;

enum class frame_kind : std::uint8_t {
  handshake = 1,
  handshake_ack = 2,
  envelope = 3,
  heartbeat = 4,
  heartbeat_ack = 5,
  close = 6,
};

/// The first frame on a connection, sent by the side that connected; the
/// accepting side answers with a `handshake_ack` of the same shape.
struct handshake {
  std::uint16_t protocol_version = remote::protocol_version;
  /// The sending system's name (1..255 bytes).
  std::string system_name;
  /// The sending system's incarnation; a restarted system has a new one.
  std::uint64_t uid = 0;
  /// The address the sender is reachable at (1..255 bytes, and a port).
  std::string host;
  std::uint16_t port = 0;
  /// The shared secret, if the sender has one (at most 255 bytes).
  std::optional<std::string> cookie;

  bool operator==(const handshake&) const = default;
};

/// The accepting side's answer to a handshake.
struct handshake_ack : handshake {
  bool operator==(const handshake_ack&) const = default;
};

/// A user message: the recipient's path, the sender's path if any, the codec
/// manifest, the encoded payload and, for an ask, its correlation id.
struct envelope {
  std::string recipient;
  std::optional<std::string> sender;
  std::string manifest;
  std::string payload;
  std::optional<std::uint64_t> correlation_id;

  bool operator==(const envelope&) const = default;
};

struct heartbeat {
  std::uint64_t sequence = 0;
  bool operator==(const heartbeat&) const = default;
};

struct heartbeat_ack {
  std::uint64_t sequence = 0;
  bool operator==(const heartbeat_ack&) const = default;
};

/// Why a connection is being closed.
enum class close_reason : std::uint8_t {
  /// An orderly close (the transport is stopping).
  shutdown = 0,
  /// The handshake was refused: protocol version, cookie or fields.
  handshake_refused = 1,
  /// The peer's incarnation (UID) is quarantined here.
  quarantined = 2,
  /// Another connection between the same two systems is kept instead.
  duplicate_connection = 3,
  /// A frame out of place or malformed.
  protocol_error = 4,
};

/// The last frame a side sends before closing a connection.
struct close_frame {
  close_reason reason = close_reason::shutdown;
  std::string detail;
  bool operator==(const close_frame&) const = default;
};

using frame =
    std::variant<handshake, handshake_ack, envelope, heartbeat, heartbeat_ack, close_frame>;

/// The kind byte of a frame value.
frame_kind kind_of(const frame& f) noexcept;

/// The name of a close reason ("shutdown", "handshake_refused", ...).
std::string_view to_string(close_reason reason) noexcept;

/// Appends the encoding of `f` to `out`. Throws `frame_too_large_error` if
/// its length prefix would exceed `max_frame_size` (nothing is appended
/// then), and `malformed_frame_error` for a handshake field out of bounds.
void encode(const frame& f, std::string& out, std::size_t max_frame_size = default_max_frame_size);

/// Appends the encoding of an envelope (the hot path: no `frame` copy).
void encode_envelope(const envelope& env, std::string& out,
                     std::size_t max_frame_size = default_max_frame_size);

/// The number of bytes `encode_envelope` appends.
std::size_t encoded_size(const envelope& env) noexcept;

/// Decodes exactly one whole frame. Throws if the bytes are not exactly one
/// valid frame no longer than `max_frame_size`.
frame decode(std::string_view bytes, std::size_t max_frame_size = default_max_frame_size);

/// Throws `malformed_frame_error` unless the handshake's fields are in bounds
/// (a non-empty system name and host, no field over 255 bytes).
void validate(const handshake& hs);

/// An incremental decoder for one connection's inbound byte stream.
class frame_decoder {
public:
  /// Throws `invalid_config_error` unless `max_frame_size` lies within
  /// [min_max_frame_size, max_max_frame_size].
  explicit frame_decoder(std::size_t max_frame_size = default_max_frame_size);

  /// Consumes all of `data`, calling `sink(frame&&)` for every frame it
  /// completes, in order. A malformed, oversize or wrong-version frame
  /// throws (the frames before it have been delivered) and leaves the
  /// decoder failed: every later call throws `malformed_frame_error`.
  template <class Sink> void feed(const char* data, std::size_t size, Sink&& sink) {
    std::optional<frame> out;
    while (size > 0) {
      const std::size_t used = step(data, size, out);
      data += used;
      size -= used;
      if (out) {
        sink(std::move(*out));
        out.reset();
      }
    }
  }

  /// Bytes of an incomplete frame held back for the next `feed`.
  std::size_t buffered() const noexcept {
    return partial_.size();
  }

  /// The length limit this decoder enforces.
  std::size_t max_frame_size() const noexcept {
    return max_;
  }

  /// Whether an earlier `feed` threw.
  bool failed() const noexcept {
    return failed_;
  }

private:
  // Consumes a prefix of the input; sets `out` when a frame is complete.
  std::size_t step(const char* data, std::size_t size, std::optional<frame>& out);
  // Validates a complete header; returns the whole frame's length.
  std::size_t check_header(const char* header);

  std::size_t max_;
  std::string partial_;
  std::size_t frame_size_ = 0; // header + body of the frame in `partial_`, once known
  bool failed_ = false;
};

} // namespace atomr::remote
