// A coverage-guided fuzz target (libFuzzer) for the remote transport's frame
// and handshake decoder: the code that takes bytes from any peer, before
// and after the handshake. Built by `make test-fuzz` with clang
// (-DATOMR_FUZZ=ON) against the remote component, and run for a fixed time
// from the seed corpus in cpp/fuzz/corpus/remote_frame.
//
// For every input, read as a byte stream:
// * decoding it whole and in small pieces (sizes taken from the input) gives
//   the same frames and the same outcome: all frames, or the same error;
// * every error is one of the remote component's typed errors;
// * each decoded frame re-encodes to exactly the bytes it came from (the
//   format is canonical), so the re-encoded frames are a prefix of the input.
// The sanitizers report memory errors and undefined behaviour; anything else
// thrown is a failure too.

#include "atomr/remote/frame.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "remote_frame_fuzz: %s\n", what);
  std::abort();
}

struct outcome {
  std::vector<atomr::remote::frame> frames;
  std::optional<int> error; // the error code, if decoding threw
};

outcome run(const char* data, std::size_t size, std::size_t chunk) {
  using namespace atomr::remote;
  // A small limit, so that oversize lengths are found quickly.
  frame_decoder decoder(64 * 1024);
  outcome out;
  try {
    for (std::size_t at = 0; at < size; at += chunk)
      decoder.feed(data + at, std::min(chunk, size - at),
                   [&](frame&& f) { out.frames.push_back(std::move(f)); });
  } catch (const atomr::remote::error& e) {
    out.error = e.code();
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace atomr::remote;
  const auto* bytes = reinterpret_cast<const char*>(data);
  const outcome whole = run(bytes, size, size == 0 ? 1 : size);
  const std::size_t chunk = size == 0 ? 1 : 1 + data[0] % 13;
  const outcome pieces = run(bytes, size, chunk);
  if (whole.frames != pieces.frames || whole.error != pieces.error)
    fail("decoding in pieces differs from decoding at once");
  std::string again;
  for (const auto& f : whole.frames) {
    try {
      encode(f, again, 64 * 1024);
    } catch (const atomr::remote::error&) {
      fail("a decoded frame does not encode");
    }
  }
  if (again.size() > size || again.compare(0, again.size(), bytes, again.size()) != 0)
    fail("re-encoding decoded frames does not give back their bytes");
  return 0;
}
