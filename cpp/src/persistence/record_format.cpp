#include "atomr/persistence/record_format.hpp"

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

template <class T> std::string encode(const T& value) {
  std::ostringstream out(std::ios::binary);
  out.put(static_cast<char>(record_format_version));
  {
    cereal::PortableBinaryOutputArchive ar(out);
    ar(const_cast<T&>(value));
  }
  return std::move(out).str();
}

template <class T> T decode(std::string_view bytes, const char* what) {
  if (bytes.empty()) {
    throw journal_error(std::string("damaged ") + what + ": empty value");
  }
  auto version = static_cast<std::uint8_t>(bytes.front());
  if (version != record_format_version) {
    throw journal_error(std::string("unsupported ") + what + " format version " +
                        std::to_string(version) + " (this build reads version " +
                        std::to_string(record_format_version) + ")");
  }
  view_buf buf(bytes.substr(1));
  std::istream in(&buf);
  T value{};
  try {
    cereal::PortableBinaryInputArchive ar(in);
    ar(value);
  } catch (const std::exception& e) {
    throw journal_error(std::string("damaged ") + what + ": " + e.what());
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
