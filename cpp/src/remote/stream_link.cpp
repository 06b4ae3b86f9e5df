#include "atomr/remote/stream_link.hpp"

#include <cstring>
#include <exception>
#include <string_view>
#include <type_traits>
#include <variant>

namespace atomr::remote {

namespace {

constexpr char magic_bytes[4] = {'A', 'T', 'M', 'R'};
// Length prefix, version, kind and magic: what marks a handshake.
constexpr std::size_t marker_size = frame_header_size + sizeof(magic_bytes);

std::uint32_t length_of(const char* h) noexcept {
  std::uint32_t length = 0;
  for (std::size_t i = 0; i < 4; ++i)
    length |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(h[i])) << (8 * i);
  return length;
}

// Appends the item for a decoded frame.
void push_frame(frame&& f, std::vector<stream_item>& out) {
  stream_item item;
  item.type = static_cast<std::uint8_t>(kind_of(f));
  std::visit(
      [&item](auto&& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, handshake> || std::is_same_v<T, handshake_ack>)
          item.hs = static_cast<handshake&&>(v);
        else if constexpr (std::is_same_v<T, envelope>)
          item.env = std::move(v);
        else if constexpr (std::is_same_v<T, heartbeat> || std::is_same_v<T, heartbeat_ack>)
          item.sequence = v.sequence;
        else
          item.close = std::move(v);
      },
      std::move(f));
  out.push_back(std::move(item));
}

void push_error(const std::exception& e, int code, std::vector<stream_item>& out) {
  stream_item item;
  item.type = 0;
  item.error = e.what();
  item.error_code = code;
  out.push_back(std::move(item));
}

} // namespace

stream_decoder::stream_decoder(std::size_t max_frame_size)
  : max_(max_frame_size) {
  frame_decoder check(max_frame_size); // validates the limit
}

void stream_decoder::resync() noexcept {
  discarded_ += buf_.size();
  buf_.clear();
  hunting_ = true;
}

std::size_t stream_decoder::check_header(const char* h) const {
  const std::size_t whole = std::size_t{4} + length_of(h);
  if (whole > frame_header_size) {
    // The frame decoder checks length, version and kind from the header
    // alone; a valid header of a longer frame just waits for its body.
    frame_decoder probe(max_);
    probe.feed(h, frame_header_size, [](frame&&) {});
  }
  return whole;
}

bool stream_decoder::hunt(std::size_t& pos, std::vector<stream_item>& out) {
  const std::string_view magic(magic_bytes, sizeof(magic_bytes));
  for (;;) {
    const std::size_t m = buf_.find(magic, pos + frame_header_size);
    if (m == std::string::npos) {
      // Keep the bytes that may begin a marker completed by the next feed.
      const std::size_t keep = marker_size - 1;
      const std::size_t from = buf_.size() > pos + keep ? buf_.size() - keep : pos;
      discarded_ += from - pos;
      pos = from;
      return false;
    }
    const std::size_t start = m - frame_header_size;
    discarded_ += start - pos;
    pos = start;
    const char* h = buf_.data() + start;
    const std::size_t length = length_of(h);
    const auto version = static_cast<std::uint8_t>(h[4]);
    const auto kind = static_cast<std::uint8_t>(h[5]);
    if (version != wire_version ||
        (kind != static_cast<std::uint8_t>(frame_kind::handshake) &&
         kind != static_cast<std::uint8_t>(frame_kind::handshake_ack)) ||
        length < min_handshake_length || length > max_handshake_length || length > max_) {
      ++discarded_;
      ++pos;
      continue;
    }
    const std::size_t whole = 4 + length;
    if (buf_.size() - start < whole)
      return false; // wait for the rest of the candidate
    try {
      frame f = decode(std::string_view(h, whole), max_);
      push_frame(std::move(f), out);
    } catch (const error&) {
      ++discarded_;
      ++pos;
      continue;
    }
    pos = start + whole;
    hunting_ = false;
    return true;
  }
}

void stream_decoder::feed(const char* data, std::size_t size, std::vector<stream_item>& out) {
  buf_.append(data, size);
  std::size_t pos = 0;
  while (pos < buf_.size()) {
    if (hunting_) {
      if (!hunt(pos, out))
        break;
      continue;
    }
    if (buf_.size() - pos < frame_header_size)
      break;
    try {
      const std::size_t whole = check_header(buf_.data() + pos);
      if (buf_.size() - pos < whole)
        break;
      push_frame(decode(std::string_view(buf_.data() + pos, whole), max_), out);
      pos += whole;
    } catch (const error& e) {
      push_error(e, e.code(), out);
      // Resynchronise from the byte after this frame's first.
      hunting_ = true;
      ++discarded_;
      ++pos;
    }
  }
  buf_.erase(0, pos);
  if (buf_.empty() && buf_.capacity() > (std::size_t{64} << 10))
    std::string().swap(buf_);
}

std::string encode_handshake_frame(const handshake& hs, bool ack) {
  std::string out;
  if (ack) {
    handshake_ack a;
    static_cast<handshake&>(a) = hs;
    encode(frame(std::move(a)), out);
  } else {
    encode(frame(hs), out);
  }
  return out;
}

std::string encode_close_frame(close_reason reason, const std::string& detail) {
  std::string out;
  encode(frame(close_frame{reason, detail}), out);
  return out;
}

std::string encode_heartbeat_frame(std::uint64_t sequence, bool ack) {
  std::string out;
  if (ack)
    encode(frame(heartbeat_ack{sequence}), out);
  else
    encode(frame(heartbeat{sequence}), out);
  return out;
}

} // namespace atomr::remote
