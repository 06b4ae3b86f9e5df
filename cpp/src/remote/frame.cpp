#include "atomr/remote/frame.hpp"

#include <cstring>
#include <limits>
#include <type_traits>

// Bodies, after the 6-byte header:
//   handshake, handshake_ack:
//     u32 magic, u16 protocol version, u64 uid, u16 port, u8 flags (bit 0:
//     cookie present), string system name, string host, [string cookie]
//   envelope:
//     u8 flags (bit 0: sender present, bit 1: correlation id present),
//     [u64 correlation id], string recipient, [string sender], string
//     manifest, then the payload: every remaining byte of the frame
//   heartbeat, heartbeat_ack: u64 sequence
//   close: u8 reason, string detail
// A body must be consumed exactly: trailing bytes are malformed.

namespace atomr::remote {

namespace {

constexpr std::uint8_t hs_has_cookie = 1;
constexpr std::uint8_t env_has_sender = 1;
constexpr std::uint8_t env_has_correlation = 2;
// The longest close detail written or read, in bytes.
constexpr std::size_t max_close_detail = 512;

// ---- writing -----------------------------------------------------------------

void put_u8(std::string& out, std::uint8_t v) {
  out.push_back(static_cast<char>(v));
}

template <class U> void put_uint(std::string& out, U v) {
  static_assert(std::is_unsigned_v<U>);
  char bytes[sizeof(U)];
  for (std::size_t i = 0; i < sizeof(U); ++i)
    bytes[i] = static_cast<char>(static_cast<std::uint8_t>(v >> (8 * i)));
  out.append(bytes, sizeof(U));
}

void put_string(std::string& out, std::string_view s) {
  put_uint<std::uint32_t>(out, static_cast<std::uint32_t>(s.size()));
  out.append(s.data(), s.size());
}

// Writes the header with a placeholder length; returns its offset.
std::size_t begin_frame(std::string& out, frame_kind kind) {
  const std::size_t at = out.size();
  put_uint<std::uint32_t>(out, 0);
  put_u8(out, wire_version);
  put_u8(out, static_cast<std::uint8_t>(kind));
  return at;
}

// Fills in the length prefix, or removes the frame and throws if too long.
void end_frame(std::string& out, std::size_t at, std::size_t max_frame_size) {
  const std::size_t length = out.size() - at - 4;
  if (length > max_frame_size) {
    out.resize(at);
    throw frame_too_large_error("a frame of " + std::to_string(length) +
                                " bytes exceeds the maximum frame size of " +
                                std::to_string(max_frame_size));
  }
  for (std::size_t i = 0; i < 4; ++i)
    out[at + i] = static_cast<char>(static_cast<std::uint8_t>(length >> (8 * i)));
}

void check_max(std::size_t max_frame_size) {
  if (max_frame_size < min_max_frame_size || max_frame_size > max_max_frame_size)
    throw invalid_config_error(
        "max frame size must lie within [" + std::to_string(min_max_frame_size) + ", " +
        std::to_string(max_max_frame_size) + "], got " + std::to_string(max_frame_size));
}

void encode_handshake(const handshake& hs, frame_kind kind, std::string& out,
                      std::size_t max_frame_size) {
  validate(hs);
  const std::size_t at = begin_frame(out, kind);
  put_uint<std::uint32_t>(out, handshake_magic);
  put_uint<std::uint16_t>(out, hs.protocol_version);
  put_uint<std::uint64_t>(out, hs.uid);
  put_uint<std::uint16_t>(out, hs.port);
  put_u8(out, hs.cookie ? hs_has_cookie : 0);
  put_string(out, hs.system_name);
  put_string(out, hs.host);
  if (hs.cookie)
    put_string(out, *hs.cookie);
  end_frame(out, at, max_frame_size);
}

// ---- reading -----------------------------------------------------------------

// A bounds-checked cursor over one frame's body.
class reader {
public:
  reader(const char* data, std::size_t size)
    : p_(data)
    , end_(data + size) {
  }

  std::size_t remaining() const noexcept {
    return static_cast<std::size_t>(end_ - p_);
  }

  void need(std::size_t n, const char* what) const {
    if (remaining() < n)
      throw malformed_frame_error(std::string("truncated ") + what);
  }

  std::uint8_t u8(const char* what) {
    need(1, what);
    return static_cast<std::uint8_t>(*p_++);
  }

  template <class U> U uint(const char* what) {
    need(sizeof(U), what);
    U v = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i)
      v = static_cast<U>(
          v | static_cast<U>(static_cast<U>(static_cast<std::uint8_t>(p_[i])) << (8 * i)));
    p_ += sizeof(U);
    return v;
  }

  std::string string(const char* what,
                     std::size_t limit = std::numeric_limits<std::size_t>::max()) {
    const std::uint32_t n = uint<std::uint32_t>(what);
    if (n > limit)
      throw malformed_frame_error(std::string(what) + " longer than " + std::to_string(limit) +
                                  " bytes");
    need(n, what);
    std::string s(p_, n);
    p_ += n;
    return s;
  }

  std::string rest() {
    std::string s(p_, remaining());
    p_ = end_;
    return s;
  }

  void done(const char* what) const {
    if (p_ != end_)
      throw malformed_frame_error(std::to_string(remaining()) + " trailing bytes after " + what);
  }

private:
  const char* p_;
  const char* end_;
};

void decode_handshake_body(reader& r, handshake& hs) {
  if (r.uint<std::uint32_t>("handshake magic") != handshake_magic)
    throw malformed_frame_error("bad handshake magic");
  hs.protocol_version = r.uint<std::uint16_t>("protocol version");
  hs.uid = r.uint<std::uint64_t>("uid");
  hs.port = r.uint<std::uint16_t>("port");
  const std::uint8_t flags = r.u8("handshake flags");
  if (flags & ~hs_has_cookie)
    throw malformed_frame_error("unknown handshake flags");
  hs.system_name = r.string("system name", max_handshake_field);
  hs.host = r.string("host", max_handshake_field);
  if (flags & hs_has_cookie)
    hs.cookie = r.string("cookie", max_handshake_field);
  r.done("handshake");
  validate(hs);
}

frame decode_body(frame_kind kind, const char* body, std::size_t size) {
  reader r(body, size);
  switch (kind) {
  case frame_kind::handshake: {
    handshake hs;
    decode_handshake_body(r, hs);
    return hs;
  }
  case frame_kind::handshake_ack: {
    handshake_ack hs;
    decode_handshake_body(r, hs);
    return hs;
  }
  case frame_kind::envelope: {
    envelope env;
    const std::uint8_t flags = r.u8("envelope flags");
    if (flags & ~(env_has_sender | env_has_correlation))
      throw malformed_frame_error("unknown envelope flags");
    if (flags & env_has_correlation)
      env.correlation_id = r.uint<std::uint64_t>("correlation id");
    env.recipient = r.string("recipient");
    if (flags & env_has_sender)
      env.sender = r.string("sender");
    env.manifest = r.string("manifest");
    env.payload = r.rest();
    return env;
  }
  case frame_kind::heartbeat: {
    heartbeat hb{r.uint<std::uint64_t>("heartbeat sequence")};
    r.done("heartbeat");
    return hb;
  }
  case frame_kind::heartbeat_ack: {
    heartbeat_ack hb{r.uint<std::uint64_t>("heartbeat sequence")};
    r.done("heartbeat ack");
    return hb;
  }
  case frame_kind::close: {
    close_frame c;
    const std::uint8_t reason = r.u8("close reason");
    if (reason > static_cast<std::uint8_t>(close_reason::protocol_error))
      throw malformed_frame_error("unknown close reason " + std::to_string(reason));
    c.reason = static_cast<close_reason>(reason);
    c.detail = r.string("close detail", max_close_detail);
    r.done("close");
    return c;
  }
  }
  throw malformed_frame_error("unknown frame kind " + std::to_string(static_cast<unsigned>(kind)));
}

} // namespace

frame_kind kind_of(const frame& f) noexcept {
  return static_cast<frame_kind>(f.index() + 1);
}

std::string_view to_string(close_reason reason) noexcept {
  switch (reason) {
  case close_reason::shutdown:
    return "shutdown";
  case close_reason::handshake_refused:
    return "handshake_refused";
  case close_reason::quarantined:
    return "quarantined";
  case close_reason::duplicate_connection:
    return "duplicate_connection";
  case close_reason::protocol_error:
    return "protocol_error";
  }
  return "unknown";
}

void validate(const handshake& hs) {
  if (hs.system_name.empty() || hs.system_name.size() > max_handshake_field)
    throw malformed_frame_error("handshake system name must be 1 to 255 bytes");
  if (hs.host.empty() || hs.host.size() > max_handshake_field)
    throw malformed_frame_error("handshake host must be 1 to 255 bytes");
  if (hs.cookie && hs.cookie->size() > max_handshake_field)
    throw malformed_frame_error("handshake cookie longer than 255 bytes");
}

std::size_t encoded_size(const envelope& env) noexcept {
  std::size_t n = frame_header_size + 1 + 4 + env.recipient.size() + 4 + env.manifest.size() +
                  env.payload.size();
  if (env.sender)
    n += 4 + env.sender->size();
  if (env.correlation_id)
    n += 8;
  return n;
}

void encode_envelope(const envelope& env, std::string& out, std::size_t max_frame_size) {
  const std::size_t total = encoded_size(env);
  if (total - 4 > max_frame_size)
    throw frame_too_large_error("an envelope of " + std::to_string(total - 4) +
                                " bytes exceeds the maximum frame size of " +
                                std::to_string(max_frame_size));
  out.reserve(out.size() + total);
  const std::size_t at = begin_frame(out, frame_kind::envelope);
  std::uint8_t flags = 0;
  if (env.sender)
    flags |= env_has_sender;
  if (env.correlation_id)
    flags |= env_has_correlation;
  put_u8(out, flags);
  if (env.correlation_id)
    put_uint<std::uint64_t>(out, *env.correlation_id);
  put_string(out, env.recipient);
  if (env.sender)
    put_string(out, *env.sender);
  put_string(out, env.manifest);
  out.append(env.payload);
  end_frame(out, at, max_frame_size);
}

void encode(const frame& f, std::string& out, std::size_t max_frame_size) {
  switch (kind_of(f)) {
  case frame_kind::handshake:
    encode_handshake(std::get<handshake>(f), frame_kind::handshake, out, max_frame_size);
    return;
  case frame_kind::handshake_ack:
    encode_handshake(std::get<handshake_ack>(f), frame_kind::handshake_ack, out, max_frame_size);
    return;
  case frame_kind::envelope:
    encode_envelope(std::get<envelope>(f), out, max_frame_size);
    return;
  case frame_kind::heartbeat: {
    const std::size_t at = begin_frame(out, frame_kind::heartbeat);
    put_uint<std::uint64_t>(out, std::get<heartbeat>(f).sequence);
    end_frame(out, at, max_frame_size);
    return;
  }
  case frame_kind::heartbeat_ack: {
    const std::size_t at = begin_frame(out, frame_kind::heartbeat_ack);
    put_uint<std::uint64_t>(out, std::get<heartbeat_ack>(f).sequence);
    end_frame(out, at, max_frame_size);
    return;
  }
  case frame_kind::close: {
    const auto& c = std::get<close_frame>(f);
    const std::size_t at = begin_frame(out, frame_kind::close);
    put_u8(out, static_cast<std::uint8_t>(c.reason));
    put_string(out, c.detail.substr(0, max_close_detail));
    end_frame(out, at, max_frame_size);
    return;
  }
  }
}

frame decode(std::string_view bytes, std::size_t max_frame_size) {
  frame_decoder decoder(max_frame_size);
  std::optional<frame> result;
  decoder.feed(bytes.data(), bytes.size(), [&](frame&& f) {
    if (result)
      throw malformed_frame_error("more than one frame");
    result = std::move(f);
  });
  if (!result)
    throw malformed_frame_error("truncated frame");
  return std::move(*result);
}

frame_decoder::frame_decoder(std::size_t max_frame_size)
  : max_(max_frame_size) {
  check_max(max_frame_size);
}

std::size_t frame_decoder::check_header(const char* header) {
  std::uint32_t length = 0;
  for (std::size_t i = 0; i < 4; ++i)
    length |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(header[i])) << (8 * i);
  if (length > max_)
    throw frame_too_large_error("a frame of " + std::to_string(length) +
                                " bytes exceeds the maximum frame size of " + std::to_string(max_));
  if (length < 2)
    throw malformed_frame_error("frame length " + std::to_string(length) +
                                " is shorter than its header");
  const auto version = static_cast<std::uint8_t>(header[4]);
  if (version != wire_version)
    throw unsupported_version_error("unsupported wire format version " + std::to_string(version) +
                                    " (this build speaks " + std::to_string(wire_version) + ")");
  const auto kind = static_cast<std::uint8_t>(header[5]);
  if (kind < static_cast<std::uint8_t>(frame_kind::handshake) ||
      kind > static_cast<std::uint8_t>(frame_kind::close))
    throw malformed_frame_error("unknown frame kind " + std::to_string(kind));
  return std::size_t{4} + length;
}

std::size_t frame_decoder::step(const char* data, std::size_t size, std::optional<frame>& out) {
  if (failed_)
    throw malformed_frame_error("the stream failed earlier");
  try {
    if (partial_.empty() && size >= frame_header_size) {
      // Fast path: a frame that starts at the beginning of the input.
      const std::size_t whole = check_header(data);
      if (size >= whole) {
        out = decode_body(static_cast<frame_kind>(static_cast<std::uint8_t>(data[5])),
                          data + frame_header_size, whole - frame_header_size);
        return whole;
      }
      frame_size_ = whole;
      partial_.reserve(whole);
      partial_.append(data, size);
      return size;
    }
    if (partial_.size() < frame_header_size) {
      const std::size_t take = std::min(frame_header_size - partial_.size(), size);
      partial_.append(data, take);
      if (partial_.size() == frame_header_size) {
        frame_size_ = check_header(partial_.data());
        partial_.reserve(frame_size_);
        if (frame_size_ == frame_header_size) {
          out = decode_body(static_cast<frame_kind>(static_cast<std::uint8_t>(partial_[5])),
                            partial_.data() + frame_header_size, 0);
          partial_.clear();
        }
      }
      return take;
    }
    const std::size_t take = std::min(frame_size_ - partial_.size(), size);
    partial_.append(data, take);
    if (partial_.size() == frame_size_) {
      out = decode_body(static_cast<frame_kind>(static_cast<std::uint8_t>(partial_[5])),
                        partial_.data() + frame_header_size, frame_size_ - frame_header_size);
      partial_.clear();
      if (partial_.capacity() > (std::size_t{64} << 10))
        partial_.shrink_to_fit();
    }
    return take;
  } catch (...) {
    failed_ = true;
    partial_.clear();
    partial_.shrink_to_fit();
    throw;
  }
}

} // namespace atomr::remote
