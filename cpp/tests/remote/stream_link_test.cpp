#include "atomr/remote/stream_link.hpp"

#include <gtest/gtest.h>
#include <random>
#include <string>
#include <vector>

namespace atomr::remote {
namespace {

handshake sample_handshake(std::uint64_t uid = 42) {
  handshake hs;
  hs.system_name = "a";
  hs.uid = uid;
  hs.host = "/dev/ttyUSB0";
  return hs;
}

std::string envelope_bytes(const std::string& payload) {
  std::string out;
  encode_envelope(envelope{"/user/x", std::nullopt, "m", payload, std::nullopt}, out);
  return out;
}

std::vector<stream_item> feed_all(stream_decoder& d, const std::string& bytes,
                                  std::size_t piece = 0) {
  std::vector<stream_item> out;
  if (piece == 0) {
    d.feed(bytes.data(), bytes.size(), out);
    return out;
  }
  for (std::size_t i = 0; i < bytes.size(); i += piece)
    d.feed(bytes.data() + i, std::min(piece, bytes.size() - i), out);
  return out;
}

std::vector<std::string> payloads_of(const std::vector<stream_item>& items) {
  std::vector<std::string> out;
  for (const auto& item : items)
    if (item.type == static_cast<std::uint8_t>(frame_kind::envelope))
      out.push_back(item.env.payload);
  return out;
}

std::size_t errors_in(const std::vector<stream_item>& items) {
  std::size_t n = 0;
  for (const auto& item : items)
    n += item.type == 0;
  return n;
}

TEST(StreamLink, HandshakeLengthBoundsMatchTheEncoder) {
  handshake small;
  small.system_name = "a";
  small.host = "h";
  handshake large;
  large.system_name = std::string(max_handshake_field, 'n');
  large.host = std::string(max_handshake_field, 'h');
  large.cookie = std::string(max_handshake_field, 'c');
  EXPECT_EQ(encode_handshake_frame(small, false).size(), 4 + min_handshake_length);
  EXPECT_EQ(encode_handshake_frame(large, true).size(), 4 + max_handshake_length);
}

TEST(StreamLink, StartsHuntingAndSkipsBytesBeforeTheFirstHandshake) {
  stream_decoder d(1 << 16);
  EXPECT_TRUE(d.hunting());
  // An envelope before any handshake is part of what a late reader skips.
  const std::string noise = "\x01\x02garbage" + envelope_bytes("lost");
  const std::string bytes =
      noise + encode_handshake_frame(sample_handshake(), false) + envelope_bytes("one");
  for (std::size_t piece : {0, 1, 3, 7}) {
    stream_decoder dd(1 << 16);
    const auto items = feed_all(dd, bytes, piece);
    ASSERT_EQ(items.size(), 2u) << "piece " << piece;
    EXPECT_EQ(items[0].type, static_cast<std::uint8_t>(frame_kind::handshake));
    EXPECT_EQ(items[0].hs, sample_handshake());
    EXPECT_EQ(payloads_of(items), std::vector<std::string>{"one"});
    EXPECT_FALSE(dd.hunting());
    EXPECT_EQ(dd.bytes_discarded(), noise.size());
    EXPECT_EQ(dd.buffered(), 0u);
  }
}

TEST(StreamLink, DecodesEveryFrameKindInOrderOnceSynchronised) {
  stream_decoder d(1 << 16);
  std::string bytes = encode_handshake_frame(sample_handshake(), true);
  for (int i = 0; i < 100; ++i)
    bytes += envelope_bytes(std::to_string(i));
  bytes += encode_heartbeat_frame(9, false) + encode_heartbeat_frame(10, true) +
           encode_close_frame(close_reason::shutdown, "bye");
  const auto items = feed_all(d, bytes, 5);
  ASSERT_EQ(items.size(), 104u);
  EXPECT_EQ(items[0].type, static_cast<std::uint8_t>(frame_kind::handshake_ack));
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(items[1 + i].env.payload, std::to_string(i));
  EXPECT_EQ(items[101].sequence, 9u);
  EXPECT_EQ(items[102].type, static_cast<std::uint8_t>(frame_kind::heartbeat_ack));
  EXPECT_EQ(items[103].close.detail, "bye");
  EXPECT_EQ(errors_in(items), 0u);
}

TEST(StreamLink, ABadFrameYieldsOneErrorAndTheNextHandshakeResynchronises) {
  stream_decoder d(4096);
  std::string bad = envelope_bytes("x");
  bad[4] = 9; // wrong version
  const std::string bytes = encode_handshake_frame(sample_handshake(), false) +
                            envelope_bytes("before") + bad + envelope_bytes("lost") +
                            encode_handshake_frame(sample_handshake(), true) +
                            envelope_bytes("after");
  const auto items = feed_all(d, bytes, 2);
  ASSERT_EQ(errors_in(items), 1u);
  EXPECT_EQ(payloads_of(items), (std::vector<std::string>{"before", "after"}));
  EXPECT_EQ(items[2].type, 0);
  EXPECT_EQ(items[2].error_code, static_cast<int>(errc::unsupported_version));
  EXPECT_NE(items[2].error.find("version 9"), std::string::npos);
  EXPECT_FALSE(d.hunting());
}

TEST(StreamLink, AnOversizeLengthIsAnErrorBeforeItsBodyIsBuffered) {
  stream_decoder d(1024);
  std::vector<stream_item> out;
  const std::string hs = encode_handshake_frame(sample_handshake(), false);
  d.feed(hs.data(), hs.size(), out);
  const char header[6] = {'\x00', '\x00', '\x10', '\x00', 1, 3}; // 1 MiB
  d.feed(header, sizeof(header), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].type, 0);
  EXPECT_EQ(out[1].error_code, static_cast<int>(errc::frame_too_large));
  EXPECT_TRUE(d.hunting());
  EXPECT_LT(d.buffered(), 16u);
}

TEST(StreamLink, AMarkerInsideAPayloadDoesNotStallTheHunt) {
  // Bytes that carry a handshake's marker but do not decode (unknown
  // flags): the hunt tries them, fails and moves on to the real handshake.
  std::string fake = encode_handshake_frame(sample_handshake(7), false);
  fake[22] = '\x80'; // the flags byte, after header, magic, version, uid, port
  stream_decoder d(1 << 16);
  const std::string bytes = "xx" + fake + "yyyy" +
                            encode_handshake_frame(sample_handshake(), false) +
                            envelope_bytes("ok");
  const auto items = feed_all(d, bytes, 1);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].hs.uid, 42u);
  EXPECT_EQ(payloads_of(items), std::vector<std::string>{"ok"});
}

TEST(StreamLink, ResyncDropsAPartialFrame) {
  stream_decoder d(1 << 16);
  std::vector<stream_item> out;
  const std::string hs = encode_handshake_frame(sample_handshake(), false);
  const std::string env = envelope_bytes("partial");
  d.feed(hs.data(), hs.size(), out);
  d.feed(env.data(), 10, out);
  EXPECT_EQ(d.buffered(), 10u);
  d.resync();
  EXPECT_TRUE(d.hunting());
  EXPECT_EQ(d.buffered(), 0u);
  d.feed(env.data() + 10, env.size() - 10, out);
  EXPECT_EQ(out.size(), 1u);
}

TEST(StreamLink, RandomCorruptionNeverThrowsAndARehandshakeAlwaysRecovers) {
  std::mt19937_64 rng(1234);
  for (int round = 0; round < 2000; ++round) {
    stream_decoder d(4096);
    std::string bytes = encode_handshake_frame(sample_handshake(), false);
    for (int i = 0; i < 5; ++i)
      bytes += envelope_bytes(std::string(rng() % 200, 'p'));
    // Flip, drop or insert a few bytes anywhere.
    for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k) {
      const std::size_t at = rng() % bytes.size();
      switch (rng() % 3) {
      case 0:
        bytes[at] = static_cast<char>(rng());
        break;
      case 1:
        bytes.erase(at, 1 + rng() % 8);
        break;
      default:
        bytes.insert(at, std::string(1 + rng() % 8, static_cast<char>(rng())));
      }
    }
    std::vector<stream_item> out;
    std::size_t i = 0;
    while (i < bytes.size()) {
      const std::size_t n = std::min<std::size_t>(1 + rng() % 64, bytes.size() - i);
      ASSERT_NO_THROW(d.feed(bytes.data() + i, n, out));
      i += n;
    }
    EXPECT_LE(d.buffered(), 4100u);
    // Whatever state the corruption left, a fresh handshake (the peer's
    // answer to a re-handshake) ends a hunt; a pending partial frame is
    // dropped first, as the link does when it re-handshakes.
    d.resync();
    const std::string again =
        encode_handshake_frame(sample_handshake(99), true) + envelope_bytes("after");
    out.clear();
    d.feed(again.data(), again.size(), out);
    ASSERT_FALSE(d.hunting()) << "round " << round;
    ASSERT_EQ(payloads_of(out), std::vector<std::string>{"after"}) << "round " << round;
  }
}

TEST(StreamLink, RejectsAMaximumFrameSizeOutOfRange) {
  EXPECT_THROW(stream_decoder(10), invalid_config_error);
  EXPECT_THROW(stream_decoder(max_max_frame_size + 1), invalid_config_error);
}

} // namespace
} // namespace atomr::remote
