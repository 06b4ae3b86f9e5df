// Framing stages over the integer host (bytes are lists of byte values):
// frames reassembled across chunks, the length-prefix round trip, and the
// failures of oversized, truncated and non-bytes input.

#include "atomr/streams/error.hpp"
#include "atomr/streams/interpreter.hpp"
#include "int_host.hpp"

#include <functional>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

using namespace atomr::streams;
using namespace atomr::streams::testing;

/// Runs `parts` (bytes chunks; an empty optional: a non-bytes element)
/// through the stages `add` appends; the frames as strings, then
/// "!<failure>" when the stream failed.
std::vector<std::string> frames(const std::vector<std::string>& parts,
                                const std::function<void(interpreter&)>& add,
                                bool with_integer = false) {
  int_host h;
  std::vector<std::string> out;
  fn record{{}, {}, {}, [&out](const val& v) -> std::optional<long> {
              out.emplace_back(v.items.begin(), v.items.end());
              return 0;
            }};
  {
    interpreter in(h);
    in.source_empty();
    for (const std::string& p : parts) {
      in.source_single(h.list(std::vector<long>(p.begin(), p.end())));
      in.concat();
    }
    if (with_integer) {
      in.source_single(h.make(5));
      in.concat();
    }
    add(in);
    in.sink_foreach(&record, nullptr);
    outcome o = in.run(1000);
    if (o == outcome::failed) {
      element f = in.take_failure();
      out.push_back("!" + int_host::of(f).error);
      h.release(f);
    } else {
      EXPECT_EQ(o, outcome::completed);
      h.release(in.take_result());
    }
  }
  EXPECT_EQ(h.live, 0);
  return out;
}

using strings = std::vector<std::string>;

TEST(Framing, DelimiterReassemblesFramesAcrossChunks) {
  auto nl = [](interpreter& in) { in.delimiter_framing("\n", 16, false); };
  EXPECT_EQ(frames({"ab", "c\nde", "\n\nf", "g\n"}, nl), (strings{"abc", "de", "", "fg"}));
  auto crlf = [](interpreter& in) { in.delimiter_framing("\r\n", 16, false); };
  EXPECT_EQ(frames({"a\r", "\nb\r", "\n"}, crlf), (strings{"a", "b"}));
}

TEST(Framing, DelimiterFailsOnOversizeAndTruncationUnlessAllowed) {
  auto strict = [](interpreter& in) { in.delimiter_framing("\n", 4, false); };
  EXPECT_EQ(frames({"ab\nxxxxxx"}, strict),
            (strings{"ab", "!7:no delimiter within the maximum frame length of 4"}));
  EXPECT_EQ(frames({"abcdefg\n"}, strict),
            (strings{"!7:a frame of 7 bytes exceeds the maximum of 4"}));
  EXPECT_EQ(frames({"a\nrest"}, strict),
            (strings{"a", "!7:the stream ended inside a frame (4 bytes without a delimiter)"}));
  auto lax = [](interpreter& in) { in.delimiter_framing("\n", 4, true); };
  EXPECT_EQ(frames({"a\nre", "st"}, lax), (strings{"a", "rest"}));
  EXPECT_EQ(frames({"a\n"}, strict, true), (strings{"a", "!bytes"}));
}

TEST(Framing, LengthPrefixAndLengthFieldRoundTrip) {
  // the prefixed frames, re-chunked, decode back
  std::string wire;
  for (const std::string& s : {std::string(), std::string("a"), std::string(300, 'h')}) {
    std::uint32_t n = static_cast<std::uint32_t>(s.size());
    wire += std::string{static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                        static_cast<char>((n >> 16) & 0xff), static_cast<char>(n >> 24)};
    wire += s;
  }
  strings encoded =
      frames({"", "a", std::string(300, 'h')}, [](interpreter& in) { in.length_prefix(4, false); });
  std::string joined;
  for (const std::string& e : encoded) {
    joined += e;
  }
  EXPECT_EQ(joined, wire);
  strings chunks;
  for (std::size_t i = 0; i < wire.size(); i += 7) {
    chunks.push_back(wire.substr(i, 7));
  }
  auto decode = [](interpreter& in) { in.length_field_framing(1024, 4, 0, false, false); };
  EXPECT_EQ(frames(chunks, decode), (strings{"", "a", std::string(300, 'h')}));
}

TEST(Framing, LengthFieldTakesOffsetByteOrderAndKeepsTheHeader) {
  std::string big = std::string("\xff\x00\x03", 3) + "xyz";
  auto kept = [](interpreter& in) { in.length_field_framing(16, 2, 1, true, true); };
  EXPECT_EQ(frames({big}, kept), (strings{big}));
  auto small = [](interpreter& in) { in.length_field_framing(10, 4, 0, false, false); };
  EXPECT_EQ(frames({std::string("\x64\x00\x00\x00", 4)}, small),
            (strings{"!7:a frame of 100 bytes exceeds the maximum of 10"}));
  EXPECT_EQ(frames({std::string("\x05\x00\x00\x00"
                                "ab",
                                6)},
                   small),
            (strings{"!7:the stream ended inside a frame (6 bytes)"}));
}

TEST(Framing, BadOptionsAreRefused) {
  int_host h;
  interpreter in(h);
  in.source_empty();
  EXPECT_THROW(in.delimiter_framing("", 4, false), invalid_argument_error);
  EXPECT_THROW(in.length_field_framing(4, 9, 0, false, false), invalid_argument_error);
  EXPECT_THROW(in.length_field_framing(0, 4, 0, false, false), invalid_argument_error);
  EXPECT_THROW(in.length_prefix(0, false), invalid_argument_error);
}

} // namespace
