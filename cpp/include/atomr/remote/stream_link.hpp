#pragma once

// The remote wire format over a plain byte stream: a serial line, a pipe, a
// pty. The frames are exactly the TCP transport's (frame.hpp) and every
// frame is checked by the same decoder; what differs is what happens after
// a bad frame. A TCP connection that carries one is closed and redialed; a
// serial line cannot be redialed and can lose or corrupt bytes, so
// `stream_decoder` resynchronises instead:
//
// * It starts out *hunting*, since a reader that opens a line may come in
//   mid-frame. While hunting it accepts only a handshake or handshake ack,
//   found by its 10-byte marker (a length prefix within a handshake's
//   bounds, the wire version, kind 1 or 2, then the magic "ATMR"); the
//   bytes before it are discarded and counted. A candidate that does not
//   decode as a whole handshake is skipped one byte at a time, so a marker
//   inside a payload cannot stall the search.
// * Once synchronised it decodes every frame in order. The first frame
//   that fails (too long, wrong version or kind, truncated or trailing
//   fields) yields one error item and puts the decoder back to hunting,
//   from the byte after that frame's first byte.
//
// The side that reports the error re-handshakes (see atomr.remote_serial),
// so the peer's handshake ack is what ends the hunt; envelopes that arrive
// meanwhile are lost (delivery stays at most once).

#include "atomr/remote/frame.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace atomr::remote {

/// The shortest length prefix of a handshake frame (one-byte name and host).
inline constexpr std::size_t min_handshake_length = 2 + 4 + 2 + 8 + 2 + 1 + 4 + 1 + 4 + 1;
/// The longest length prefix of a handshake frame (every field 255 bytes).
inline constexpr std::size_t max_handshake_length =
    2 + 4 + 2 + 8 + 2 + 1 + 3 * (4 + max_handshake_field);

/// One result of `stream_decoder::feed`: a decoded frame, or the error that
/// made the decoder resynchronise.
struct stream_item {
  /// 0 for an error, else the `frame_kind` of the frame.
  std::uint8_t type = 0;
  /// handshake, handshake_ack.
  handshake hs;
  /// envelope.
  envelope env;
  /// heartbeat, heartbeat_ack.
  std::uint64_t sequence = 0;
  /// close.
  close_frame close;
  /// error: what was wrong with the frame.
  std::string error;
  /// error: its `errc`.
  int error_code = 0;
};

/// An incremental decoder for a byte stream that may lose bytes: frames
/// in order, and after a bad frame a hunt for the peer's next handshake.
class stream_decoder {
public:
  /// Throws `invalid_config_error` unless `max_frame_size` lies within
  /// [min_max_frame_size, max_max_frame_size].
  explicit stream_decoder(std::size_t max_frame_size = default_max_frame_size);

  /// Consumes all of `data`, appending what it completes to `out` in
  /// order. Never throws for bad input (only `std::bad_alloc`); bytes are
  /// buffered up to one frame of at most `max_frame_size` bytes.
  void feed(const char* data, std::size_t size, std::vector<stream_item>& out);

  /// Forgets any partial frame and hunts for the next handshake.
  void resync() noexcept;

  /// Whether the decoder is looking for a handshake.
  bool hunting() const noexcept {
    return hunting_;
  }

  /// Bytes skipped while hunting, since construction.
  std::uint64_t bytes_discarded() const noexcept {
    return discarded_;
  }

  /// Bytes held back for the next `feed`.
  std::size_t buffered() const noexcept {
    return buf_.size();
  }

  /// The length limit this decoder enforces.
  std::size_t max_frame_size() const noexcept {
    return max_;
  }

private:
  // Hunts from `pos`; true once a handshake was decoded (and `pos` is past it).
  bool hunt(std::size_t& pos, std::vector<stream_item>& out);
  // The whole length of the frame whose header is at `h`; throws if the
  // header is invalid.
  std::size_t check_header(const char* h) const;

  std::size_t max_;
  std::string buf_;
  bool hunting_ = true;
  std::uint64_t discarded_ = 0;
};

/// The encoding of a handshake (or, with `ack`, a handshake ack). Throws
/// `malformed_frame_error` for fields out of bounds.
std::string encode_handshake_frame(const handshake& hs, bool ack);

/// The encoding of a close frame.
std::string encode_close_frame(close_reason reason, const std::string& detail);

/// The encoding of a heartbeat (or, with `ack`, a heartbeat ack).
std::string encode_heartbeat_frame(std::uint64_t sequence, bool ack);

} // namespace atomr::remote
