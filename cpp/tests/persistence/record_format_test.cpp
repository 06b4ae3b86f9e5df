#include "atomr/persistence/record_format.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace {

using namespace atomr::persistence;
using namespace atomr::persistence::internal;

TEST(RecordFormat, RecordsRoundTripWithEveryField) {
  persistent_record r =
      atomr::persistence::testing::make_record("entity", 42, std::string("a\0b", 3));
  r.tags = {"t1", "t2"};
  std::string bytes = encode_record(r);
  EXPECT_EQ(static_cast<std::uint8_t>(bytes.front()), record_format_version);
  EXPECT_EQ(decode_record(bytes), r);
}

TEST(RecordFormat, SnapshotsAndMetadataRoundTrip) {
  snapshot_record s{"e", 9, -5, "m", "payload"};
  EXPECT_EQ(decode_snapshot(encode_snapshot(s)), s);
  entity_meta m{17, 3};
  EXPECT_EQ(decode_meta(encode_meta(m)), m);
}

TEST(RecordFormat, AnUnknownVersionOrADamagedValueIsAJournalError) {
  std::string bytes = encode_record(atomr::persistence::testing::make_record("e", 1));
  std::string future = bytes;
  future[0] = static_cast<char>(record_format_version + 1);
  EXPECT_THROW(decode_record(future), journal_error);
  EXPECT_THROW(decode_record(bytes.substr(0, bytes.size() / 2)), journal_error);
  EXPECT_THROW(decode_record(""), journal_error);
}

TEST(RecordFormat, EveryFlippedBitOfARecordIsAJournalError) {
  persistent_record r = atomr::persistence::testing::make_record("entity", 57, "payload");
  const std::string bytes = encode_record(r);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = bytes;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      EXPECT_THROW(decode_record(flipped), journal_error) << "byte " << i << " bit " << bit;
    }
  }
  EXPECT_THROW(decode_record(bytes + "x"), journal_error);
}

TEST(RecordFormat, ValuesOfTheUncheckedFormatStillRead) {
  persistent_record r = atomr::persistence::testing::make_record("entity", 3, "payload");
  r.tags = {"t"};
  // The older format: the version byte, then the archive with no checksum.
  std::string old = encode_record(r);
  old.erase(1, 4);
  old[0] = static_cast<char>(record_format_version_unchecked);
  EXPECT_EQ(decode_record(old), r);
  snapshot_record s{"e", 9, -5, "m", "payload"};
  std::string old_snapshot = encode_snapshot(s);
  old_snapshot.erase(1, 4);
  old_snapshot[0] = static_cast<char>(record_format_version_unchecked);
  EXPECT_EQ(decode_snapshot(old_snapshot), s);
}

TEST(RecordFormat, KeysSortByIdThenNumber) {
  EXPECT_LT(record_key("a", 2), record_key("a", 10));
  EXPECT_LT(record_key("a", 255), record_key("a", 256));
  EXPECT_EQ(key_sequence_nr(record_key("abc", 123456789)), 123456789u);
  EXPECT_EQ(record_key("abc", 1).substr(0, key_prefix("abc").size()), key_prefix("abc"));
  EXPECT_NE(record_key("ab", 1).substr(0, 4), record_key("abc", 1).substr(0, 4));
}

} // namespace
