// A coverage-guided fuzz target (libFuzzer) for the cluster's gossip
// decoder: the code that takes the membership state from any peer. Built by
// `make test-fuzz` with clang (-DATOMR_FUZZ=ON) against the cluster
// component, and run for a fixed time from the seed corpus in
// cpp/fuzz/corpus/cluster_gossip.
//
// For every input:
// * decoding either succeeds or throws one of the cluster's typed errors
//   (malformed_gossip or unsupported_version);
// * a decoded gossip re-encodes to bytes that decode to the same gossip,
//   and encoding that again gives the same bytes (canonical form);
// * merging the decoded gossip with itself is idempotent, and the leader's
//   actions on it produce a gossip that still encodes and decodes.
// The sanitizers report memory errors and undefined behaviour; anything else
// thrown is a failure too.

#include "atomr/cluster/error.hpp"
#include "atomr/cluster/gossip.hpp"
#include "atomr/cluster/gossip_codec.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "cluster_gossip_fuzz: %s\n", what);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace atomr::cluster;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  gossip g;
  try {
    g = decode_gossip(bytes);
  } catch (const error& e) {
    const auto code = static_cast<errc>(e.code());
    if (code != errc::malformed_gossip && code != errc::unsupported_version)
      fail("decode threw an unexpected cluster error");
    return 0;
  } catch (...) {
    fail("decode threw something other than a cluster error");
  }
  try {
    const std::string once = encode_gossip(g);
    if (!(decode_gossip(once) == g))
      fail("re-encoded gossip decodes differently");
    if (encode_gossip(decode_gossip(once)) != once)
      fail("encoding is not canonical");
    const unique_address self =
        g.members().empty() ? unique_address{"akka://fuzz", 1} : g.members().front().node;
    const gossip m = gossip::merge(g, g, self);
    if (!(gossip::merge(m, m, self) == m))
      fail("merge is not idempotent");
    (void)converged(g, self);
    (void)leader(g, self);
    if (auto r = leader_actions(g, self))
      if (!(decode_gossip(encode_gossip(r->next)) == r->next))
        fail("leader actions produced a gossip that does not round-trip");
  } catch (...) {
    fail("a decoded gossip made encode, merge or leader actions throw");
  }
  return 0;
}
