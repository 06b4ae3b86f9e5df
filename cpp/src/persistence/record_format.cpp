#include "atomr/persistence/record_format.hpp"

#include <array>
#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <exception>
#include <istream>
#include <ostream>
#include <sstream>
#include <streambuf>

namespace atomr::persistence {

template <class Archive> void serialize(Archive& ar, persistent_record& r) {
  ar(r.persistence_id, r.sequence_nr, r.manifest, r.payload, r.timestamp_ms, r.tags);
}

template <class Archive> void serialize(Archive& ar, snapshot_record& s) {
  ar(s.persistence_id, s.sequence_nr, s.timestamp_ms, s.manifest, s.payload);
}

namespace internal {

template <class Archive> void serialize(Archive& ar, entity_meta& m) {
  ar(m.highest, m.deleted_to);
}

namespace {

/// A read-only stream buffer over bytes owned by someone else.
class view_buf : public std::streambuf {
public:
  explicit view_buf(std::string_view bytes) {
    char* begin = const_cast<char*>(bytes.data());
    setg(begin, begin, begin + bytes.size());
  }
};

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of `bytes`.
std::uint32_t crc32c(std::string_view bytes) noexcept {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int bit = 0; bit < 8; ++bit) {
        c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      }
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t crc = ~std::uint32_t{0};
  for (char ch : bytes) {
    crc = table[(crc ^ static_cast<unsigned char>(ch)) & 0xff] ^ (crc >> 8);
  }
  return ~crc;
}

constexpr std::size_t checksum_size = 4;

template <class T> std::string encode(const T& value) {
  std::ostringstream out(std::ios::binary);
  out.put(static_cast<char>(record_format_version));
  out.write("\0\0\0\0", checksum_size); // the checksum, filled in below
  {
    cereal::PortableBinaryOutputArchive ar(out);
    ar(const_cast<T&>(value));
  }
  std::string bytes = std::move(out).str();
  const std::uint32_t crc = crc32c(std::string_view(bytes).substr(1 + checksum_size));
  for (std::size_t i = 0; i < checksum_size; ++i) {
    bytes[1 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  }
  return bytes;
}

template <class T> T decode(std::string_view bytes, const char* what) {
  if (bytes.empty()) {
    throw journal_error(std::string("damaged ") + what + ": empty value");
  }
  auto version = static_cast<std::uint8_t>(bytes.front());
  if (version != record_format_version && version != record_format_version_unchecked) {
    throw journal_error(std::string("unsupported ") + what + " format version " +
                        std::to_string(version) + " (this build reads versions " +
                        std::to_string(record_format_version_unchecked) + " and " +
                        std::to_string(record_format_version) + ")");
  }
  std::string_view body = bytes.substr(1);
  if (version == record_format_version) {
    if (body.size() < checksum_size) {
      throw journal_error(std::string("damaged ") + what + ": shorter than its checksum");
    }
    std::uint32_t stored = 0;
    for (std::size_t i = 0; i < checksum_size; ++i) {
      stored |= std::uint32_t{static_cast<unsigned char>(body[i])} << (8 * i);
    }
    body.remove_prefix(checksum_size);
    if (crc32c(body) != stored) {
      throw journal_error(std::string("damaged ") + what + ": checksum mismatch");
    }
  }
  view_buf buf(body);
  std::istream in(&buf);
  T value{};
  try {
    cereal::PortableBinaryInputArchive ar(in);
    ar(value);
  } catch (const std::exception& e) {
    throw journal_error(std::string("damaged ") + what + ": " + e.what());
  }
  if (version == record_format_version && in.peek() != std::char_traits<char>::eof()) {
    throw journal_error(std::string("damaged ") + what + ": trailing bytes");
  }
  return value;
}

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

} // namespace

std::string encode_record(const persistent_record& record) {
  return encode(record);
}

persistent_record decode_record(std::string_view bytes) {
  return decode<persistent_record>(bytes, "journal record");
}

std::string encode_snapshot(const snapshot_record& snapshot) {
  return encode(snapshot);
}

snapshot_record decode_snapshot(std::string_view bytes) {
  return decode<snapshot_record>(bytes, "snapshot");
}

std::string encode_meta(const entity_meta& meta) {
  return encode(meta);
}

entity_meta decode_meta(std::string_view bytes) {
  return decode<entity_meta>(bytes, "journal metadata");
}

std::string key_prefix(std::string_view id) {
  std::string key;
  key.reserve(4 + id.size() + 8);
  put_be(key, id.size(), 4);
  key.append(id);
  return key;
}

std::string record_key(std::string_view id, std::uint64_t sequence_nr) {
  std::string key = key_prefix(id);
  put_be(key, sequence_nr, 8);
  return key;
}

std::uint64_t key_sequence_nr(std::string_view key) noexcept {
  std::uint64_t v = 0;
  if (key.size() < 8) {
    return 0;
  }
  for (std::size_t i = key.size() - 8; i < key.size(); ++i) {
    v = (v << 8) | static_cast<unsigned char>(key[i]);
  }
  return v;
}

} // namespace internal
} // namespace atomr::persistence
