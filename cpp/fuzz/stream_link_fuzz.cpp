// A coverage-guided fuzz target (libFuzzer) for `stream_decoder`, the
// decoder that carries remoting frames over a plain byte stream (a serial
// line, a pipe, a pty) and resynchronises after a bad frame. Built by
// `make test-fuzz` with clang (-DATOMR_FUZZ=ON) against the remote
// component, and run for a fixed time from the seed corpus in
// cpp/fuzz/corpus/stream_link.
//
// For every input, read as a byte stream:
// * feeding it never throws (the decoder reports bad frames as error items);
// * feeding it whole and in pieces of arbitrary sizes (taken from the input)
//   gives the same item sequence and leaves the same state;
// * after it, a valid handshake followed by an envelope, repeated as the
//   side that saw an error would re-handshake, is decoded: the last two
//   items are exactly that handshake and that envelope (recovery);
// * after `resync()`, one handshake and envelope decode to exactly those.
// The sanitizers report memory errors and undefined behaviour.

#include "atomr/remote/stream_link.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using atomr::remote::stream_decoder;
using atomr::remote::stream_item;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "stream_link_fuzz: %s\n", what);
  std::abort();
}

// The smallest limit the decoder accepts, so that a stale partial frame
// is short and recovery is checked after a bounded amount of input.
constexpr std::size_t limit = atomr::remote::min_max_frame_size;

bool same(const stream_item& a, const stream_item& b) {
  return a.type == b.type && a.hs == b.hs && a.env == b.env && a.sequence == b.sequence &&
         a.close == b.close && a.error == b.error && a.error_code == b.error_code;
}

bool same(const std::vector<stream_item>& a, const std::vector<stream_item>& b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same(a[i], b[i]))
      return false;
  return true;
}

void feed(stream_decoder& d, const std::string& bytes, std::vector<stream_item>& out) {
  try {
    d.feed(bytes.data(), bytes.size(), out);
  } catch (...) {
    fail("feed threw");
  }
}

const atomr::remote::handshake& peer_handshake() {
  static const atomr::remote::handshake hs = [] {
    atomr::remote::handshake h;
    h.system_name = "peer";
    h.uid = 0x0123456789abcdefULL;
    h.host = "serial";
    h.port = 0;
    h.cookie = "secret";
    return h;
  }();
  return hs;
}

const atomr::remote::envelope& peer_envelope() {
  static const atomr::remote::envelope env = [] {
    atomr::remote::envelope e;
    e.recipient = "/user/echo";
    e.sender = "/user/probe";
    e.manifest = "json";
    e.payload = "{\"n\":1}";
    e.correlation_id = 7;
    return e;
  }();
  return env;
}

const std::string& valid_bytes() {
  static const std::string bytes = [] {
    std::string out = atomr::remote::encode_handshake_frame(peer_handshake(), true);
    atomr::remote::encode(atomr::remote::frame(peer_envelope()), out);
    return out;
  }();
  return bytes;
}

void check_tail(const std::vector<stream_item>& items, const char* what) {
  using atomr::remote::frame_kind;
  if (items.size() < 2)
    fail(what);
  const stream_item& hs = items[items.size() - 2];
  const stream_item& env = items.back();
  if (hs.type != static_cast<std::uint8_t>(frame_kind::handshake_ack) ||
      !(hs.hs == peer_handshake()) || env.type != static_cast<std::uint8_t>(frame_kind::envelope) ||
      !(env.env == peer_envelope()))
    fail(what);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);

  stream_decoder whole(limit);
  std::vector<stream_item> at_once;
  feed(whole, input, at_once);

  // Piece sizes from a small generator seeded by the input.
  stream_decoder split(limit);
  std::vector<stream_item> in_pieces;
  std::uint32_t state = 2166136261u;
  for (std::size_t i = 0; i < size && i < 16; ++i)
    state = (state ^ data[i]) * 16777619u;
  for (std::size_t at = 0; at < size;) {
    state = state * 1664525u + 1013904223u;
    const std::size_t piece = std::min<std::size_t>(1 + (state >> 24) % 64, size - at);
    feed(split, input.substr(at, piece), in_pieces);
    at += piece;
  }
  if (!same(at_once, in_pieces))
    fail("feeding in pieces gives other items than feeding at once");
  if (whole.hunting() != split.hunting() || whole.buffered() != split.buffered() ||
      whole.bytes_discarded() != split.bytes_discarded())
    fail("feeding in pieces leaves another state than feeding at once");

  // Recovery: the peer's handshake and an envelope, repeated, end the hunt
  // and any stale partial frame (each at most `limit` bytes) within a
  // bounded number of repetitions.
  std::vector<stream_item> after;
  const std::size_t rounds = 4 * (limit + valid_bytes().size()) / valid_bytes().size();
  for (std::size_t i = 0; i < rounds; ++i)
    feed(whole, valid_bytes(), after);
  check_tail(after, "a valid handshake and envelope after the input are not decoded");
  if (whole.hunting() || whole.buffered() != 0)
    fail("the decoder is not synchronised after a valid handshake and envelope");

  split.resync();
  std::vector<stream_item> fresh;
  feed(split, valid_bytes(), fresh);
  if (fresh.size() != 2)
    fail("after resync a handshake and envelope give other than two items");
  check_tail(fresh, "after resync a handshake and envelope are not decoded");
  return 0;
}
