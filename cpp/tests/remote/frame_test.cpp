#include "atomr/remote/frame.hpp"

#include <gtest/gtest.h>
#include <random>
#include <string>
#include <vector>

namespace atomr::remote {
namespace {

std::vector<frame> sample_frames() {
  handshake hs;
  hs.system_name = "sys";
  hs.uid = 0x0123456789abcdefULL;
  hs.host = "127.0.0.1";
  hs.port = 25520;
  handshake with_cookie = hs;
  with_cookie.cookie = "secret";
  handshake_ack ack;
  static_cast<handshake&>(ack) = with_cookie;
  ack.protocol_version = 7;

  envelope plain{"akka.tcp://b@127.0.0.1:2/user/x", std::nullopt, "m.M", "payload", std::nullopt};
  envelope full{"/user/y", std::string("akka.tcp://a@127.0.0.1:1/user/z"), "builtins.dict",
                std::string("\0\1\2\xff", 4), 0xfffffffffffffffeULL};
  envelope empty{"", std::nullopt, "", "", std::nullopt};
  return {hs,
          with_cookie,
          ack,
          plain,
          full,
          empty,
          heartbeat{1},
          heartbeat_ack{~std::uint64_t{0}},
          close_frame{close_reason::quarantined, "gone"},
          close_frame{close_reason::shutdown, ""}};
}

std::string encoded(const frame& f) {
  std::string out;
  encode(f, out);
  return out;
}

std::vector<frame> feed_all(frame_decoder& d, const std::string& bytes, std::size_t chunk) {
  std::vector<frame> got;
  for (std::size_t at = 0; at < bytes.size(); at += chunk)
    d.feed(bytes.data() + at, std::min(chunk, bytes.size() - at),
           [&](frame&& f) { got.push_back(std::move(f)); });
  return got;
}

TEST(RemoteFrame, EveryKindRoundTrips) {
  for (const auto& f : sample_frames()) {
    const std::string bytes = encoded(f);
    EXPECT_EQ(decode(bytes), f);
    EXPECT_EQ(static_cast<std::uint8_t>(bytes[4]), wire_version);
    EXPECT_EQ(static_cast<frame_kind>(bytes[5]), kind_of(f));
  }
}

TEST(RemoteFrame, EnvelopeSizeIsExact) {
  for (const auto& f : sample_frames()) {
    if (const auto* env = std::get_if<envelope>(&f)) {
      std::string out;
      encode_envelope(*env, out);
      EXPECT_EQ(out.size(), encoded_size(*env));
      EXPECT_EQ(out, encoded(f));
    }
  }
}

TEST(RemoteFrame, ManyFramesInOneBufferDecodeInOrderAtEverySplit) {
  std::string stream;
  const auto frames = sample_frames();
  for (const auto& f : frames)
    stream += encoded(f);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{5}, std::size_t{7},
                            std::size_t{64}, stream.size()}) {
    frame_decoder d;
    EXPECT_EQ(feed_all(d, stream, chunk), frames) << "chunk " << chunk;
    EXPECT_EQ(d.buffered(), 0u);
  }
  // Split into two pieces at every position.
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    frame_decoder d;
    std::vector<frame> got;
    auto sink = [&](frame&& f) { got.push_back(std::move(f)); };
    d.feed(stream.data(), cut, sink);
    d.feed(stream.data() + cut, stream.size() - cut, sink);
    ASSERT_EQ(got, frames) << "cut at " << cut;
  }
}

TEST(RemoteFrame, EveryTruncationIsIncompleteNotAnError) {
  for (const auto& f : sample_frames()) {
    const std::string bytes = encoded(f);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      frame_decoder d;
      int frames = 0;
      d.feed(bytes.data(), n, [&](frame&&) { ++frames; });
      EXPECT_EQ(frames, 0);
      EXPECT_EQ(d.buffered(), n);
      EXPECT_THROW(decode(bytes.substr(0, n)), malformed_frame_error);
    }
  }
}

TEST(RemoteFrame, EveryTruncatedBodyWithAMatchingLengthIsMalformed) {
  // The length prefix agrees with the shortened body, so the body parser
  // itself meets the end: it must throw, never read past it.
  for (const auto& f : sample_frames()) {
    const std::string bytes = encoded(f);
    const bool payload_tail = std::holds_alternative<envelope>(f);
    for (std::size_t n = frame_header_size; n < bytes.size(); ++n) {
      std::string cut = bytes.substr(0, n);
      const auto length = static_cast<std::uint32_t>(n - 4);
      for (int i = 0; i < 4; ++i)
        cut[static_cast<std::size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xff);
      if (payload_tail) {
        // An envelope's payload is the rest of the frame: cuts inside it
        // are valid, shorter envelopes; cuts before it are malformed.
        try {
          const frame g = decode(cut);
          const auto& env = std::get<envelope>(g);
          EXPECT_EQ(encoded_size(env), n);
        } catch (const malformed_frame_error&) {
        }
      } else {
        EXPECT_THROW(decode(cut), malformed_frame_error)
            << "kind " << int(kind_of(f)) << " n " << n;
      }
    }
  }
}

TEST(RemoteFrame, TrailingBytesInABodyAreMalformed) {
  for (const auto& f : sample_frames()) {
    if (std::holds_alternative<envelope>(f))
      continue;
    std::string bytes = encoded(f) + "x";
    const auto length = static_cast<std::uint32_t>(bytes.size() - 4);
    for (int i = 0; i < 4; ++i)
      bytes[static_cast<std::size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xff);
    EXPECT_THROW(decode(bytes), malformed_frame_error);
  }
}

TEST(RemoteFrame, OversizeLengthIsRefusedBeforeBuffering) {
  frame_decoder d(min_max_frame_size);
  std::string header(frame_header_size, '\0');
  const auto length = static_cast<std::uint32_t>(min_max_frame_size + 1);
  for (int i = 0; i < 4; ++i)
    header[static_cast<std::size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xff);
  header[4] = static_cast<char>(wire_version);
  header[5] = static_cast<char>(frame_kind::envelope);
  EXPECT_THROW(d.feed(header.data(), header.size(), [](frame&&) {}), frame_too_large_error);
  EXPECT_TRUE(d.failed());
  EXPECT_EQ(d.buffered(), 0u);
  // The largest length a u32 can carry, against the default limit.
  frame_decoder big;
  const std::string huge("\xff\xff\xff\xff\x01\x03", 6);
  EXPECT_THROW(big.feed(huge.data(), huge.size(), [](frame&&) {}), frame_too_large_error);
  // A frame exactly at the limit is accepted.
  envelope env{"r", std::nullopt, "m", std::string(min_max_frame_size - 2 - 1 - 8 - 2, 'p'),
               std::nullopt};
  std::string exact;
  encode_envelope(env, exact, min_max_frame_size);
  EXPECT_EQ(exact.size() - 4, min_max_frame_size);
  EXPECT_EQ(decode(exact, min_max_frame_size), frame(env));
}

TEST(RemoteFrame, EncodingOverTheLimitThrowsAndAppendsNothing) {
  std::string out = "prefix";
  envelope env{"r", std::nullopt, "m", std::string(min_max_frame_size, 'p'), std::nullopt};
  EXPECT_THROW(encode_envelope(env, out, min_max_frame_size), frame_too_large_error);
  EXPECT_THROW(encode(env, out, min_max_frame_size), frame_too_large_error);
  close_frame c{close_reason::shutdown, std::string(4000, 'd')};
  EXPECT_NO_THROW(encode(c, out, min_max_frame_size)); // the detail is cut to 512 bytes
  EXPECT_EQ(std::get<close_frame>(decode(out.substr(6))).detail, std::string(512, 'd'));
  EXPECT_EQ(out.substr(0, 6), "prefix");
}

TEST(RemoteFrame, BadVersionUnknownKindAndShortLengthAreTypedErrors) {
  std::string bytes = encoded(heartbeat{5});
  std::string bad_version = bytes;
  bad_version[4] = 2;
  EXPECT_THROW(decode(bad_version), unsupported_version_error);
  try {
    decode(bad_version);
  } catch (const atomr::error& e) {
    EXPECT_EQ(e.where(), component::remote);
    EXPECT_EQ(e.code(), static_cast<int>(errc::unsupported_version));
  }
  for (int kind : {0, 7, 255}) {
    std::string bad_kind = bytes;
    bad_kind[5] = static_cast<char>(kind);
    EXPECT_THROW(decode(bad_kind), malformed_frame_error);
  }
  for (std::uint8_t length : {0, 1}) {
    std::string short_frame("\0\0\0\0\1\4", 6);
    short_frame[0] = static_cast<char>(length);
    EXPECT_THROW(decode(short_frame), malformed_frame_error);
  }
}

TEST(RemoteFrame, HandshakeFieldsAreChecked) {
  handshake hs;
  hs.system_name = "s";
  hs.uid = 1;
  hs.host = "h";
  std::string good = encoded(hs);
  {
    std::string bad_magic = good;
    bad_magic[6] = 'X';
    EXPECT_THROW(decode(bad_magic), malformed_frame_error);
  }
  {
    std::string bad_flags = good;
    bad_flags[6 + 4 + 2 + 8 + 2] = 0x02;
    EXPECT_THROW(decode(bad_flags), malformed_frame_error);
  }
  handshake empty_name = hs;
  empty_name.system_name.clear();
  std::string out;
  EXPECT_THROW(encode(empty_name, out), malformed_frame_error);
  handshake long_host = hs;
  long_host.host = std::string(256, 'h');
  EXPECT_THROW(encode(long_host, out), malformed_frame_error);
  EXPECT_TRUE(out.empty());
  // A declared string length beyond the 255-byte limit is refused before
  // the bytes are looked at.
  std::string long_name = good;
  long_name[6 + 4 + 2 + 8 + 2 + 1 + 1] = 1; // system name length 256 + 1
  EXPECT_THROW(decode(long_name), malformed_frame_error);
}

TEST(RemoteFrame, UnknownEnvelopeFlagsAndCloseReasonsAreMalformed) {
  std::string env = encoded(envelope{"r", std::nullopt, "m", "p", std::nullopt});
  env[6] = 0x04;
  EXPECT_THROW(decode(env), malformed_frame_error);
  std::string c = encoded(close_frame{close_reason::shutdown, ""});
  c[6] = 9;
  EXPECT_THROW(decode(c), malformed_frame_error);
}

TEST(RemoteFrame, AFailedDecoderStaysFailed) {
  frame_decoder d;
  const std::string garbage("\x02\0\0\0\x09\x01", 6);
  EXPECT_THROW(d.feed(garbage.data(), garbage.size(), [](frame&&) {}), unsupported_version_error);
  const std::string good = encoded(heartbeat{1});
  EXPECT_THROW(d.feed(good.data(), good.size(), [](frame&&) {}), malformed_frame_error);
}

TEST(RemoteFrame, FramesBeforeAMalformedOneAreDelivered) {
  frame_decoder d;
  std::string stream = encoded(heartbeat{1}) + encoded(heartbeat{2}) + std::string(6, '\xee');
  std::vector<frame> got;
  EXPECT_THROW(d.feed(stream.data(), stream.size(), [&](frame&& f) { got.push_back(f); }),
               frame_too_large_error);
  EXPECT_EQ(got, (std::vector<frame>{heartbeat{1}, heartbeat{2}}));
}

TEST(RemoteFrame, RandomAndMutatedBytesGiveFramesOrTypedErrors) {
  std::mt19937_64 rng(12345);
  std::string corpus;
  for (const auto& f : sample_frames())
    corpus += encoded(f);
  std::size_t frames = 0, errors = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string bytes;
    if (round % 2 == 0) {
      bytes.resize(rng() % 64);
      for (auto& b : bytes)
        b = static_cast<char>(rng());
      // Often give it a plausible header so the body parsers get exercised.
      if (bytes.size() >= 6 && rng() % 2 == 0) {
        const auto length = static_cast<std::uint32_t>(bytes.size() - 4);
        for (int i = 0; i < 4; ++i)
          bytes[static_cast<std::size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xff);
        bytes[4] = static_cast<char>(wire_version);
        bytes[5] = static_cast<char>(1 + rng() % 6);
      }
    } else {
      bytes = corpus;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i)
        bytes[rng() % bytes.size()] = static_cast<char>(rng());
    }
    frame_decoder d(min_max_frame_size);
    try {
      (void)feed_all(d, bytes, 1 + rng() % 16);
    } catch (const error&) {
      ++errors;
      continue;
    }
    ++frames;
  }
  EXPECT_GT(frames, 0u);
  EXPECT_GT(errors, 0u);
}

TEST(RemoteFrame, DecoderLimitsAreValidated) {
  EXPECT_THROW(frame_decoder(min_max_frame_size - 1), invalid_config_error);
  EXPECT_THROW(frame_decoder(max_max_frame_size + 1), invalid_config_error);
}

} // namespace
} // namespace atomr::remote
