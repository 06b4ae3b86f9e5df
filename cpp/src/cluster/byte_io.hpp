// Little-endian byte writer and bounds-checked reader shared by the
// cluster's codecs (gossip and protocol messages). Internal to the
// component: each codec adds its own composite fields on top.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace atomr::cluster::detail {

class byte_writer {
public:
  void u8(std::uint8_t v) {
    out_.push_back(static_cast<char>(v));
  }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
      u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i)
      u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void raw(std::string_view s) {
    out_.append(s);
  }
  void reserve(std::size_t n) {
    out_.reserve(n);
  }
  std::string take() {
    return std::move(out_);
  }

private:
  std::string out_;
};

/// Reads what byte_writer wrote; running past the end throws `Malformed`
/// (the codec's own error type) naming the field.
template <class Malformed> class byte_reader {
public:
  explicit byte_reader(std::string_view in)
    : in_(in) {
  }
  std::uint8_t u8(const char* what) {
    need(1, what);
    return static_cast<std::uint8_t>(in_[pos_++]);
  }
  std::uint32_t u32(const char* what) {
    need(4, what);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
      v |= std::uint32_t{static_cast<std::uint8_t>(in_[pos_ + i])} << (8 * i);
    pos_ += 4;
    return v;
  }
  std::uint64_t u64(const char* what) {
    need(8, what);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v |= std::uint64_t{static_cast<std::uint8_t>(in_[pos_ + i])} << (8 * i);
    pos_ += 8;
    return v;
  }
  /// The next `n` bytes, as a view into the input.
  std::string_view raw(std::size_t n, const char* what) {
    need(n, what);
    const std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::size_t remaining() const {
    return in_.size() - pos_;
  }

protected:
  void need(std::size_t n, const char* what) {
    if (remaining() < n)
      throw Malformed(std::string("truncated ") + what);
  }

private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

} // namespace atomr::cluster::detail
