// A coverage-guided fuzz target (libFuzzer) for the cluster daemon's
// protocol: the messages any peer can send to a node's cluster daemon.
// Built by `make test-fuzz` with clang (-DATOMR_FUZZ=ON) against the cluster
// component, and run for a fixed time from the seed corpus in
// cpp/fuzz/corpus/cluster_protocol.
//
// Input: one byte choosing the manifest (the nine message kinds, or else an
// unknown manifest), then the payload. For every input:
// * decoding either succeeds or throws one of the cluster's typed errors
//   (malformed_message or unsupported_version);
// * a decoded message re-encodes to a payload that decodes to the same
//   message, and encoding that again gives the same bytes (canonical form);
// * a daemon handed the envelope never throws out of `receive`, counts a
//   payload that does not decode as malformed, and keeps working (ticks,
//   state, leader, convergence) afterwards.
// The sanitizers report memory errors and undefined behaviour; anything else
// thrown is a failure too.

#include "atomr/cluster/daemon.hpp"
#include "atomr/cluster/error.hpp"
#include "atomr/cluster/protocol.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "cluster_protocol_fuzz: %s\n", what);
  std::abort();
}

constexpr std::array<std::string_view, 9> manifests = {
    "atomr.cluster.InitJoin",       "atomr.cluster.InitJoinAck", "atomr.cluster.InitJoinNack",
    "atomr.cluster.Join",           "atomr.cluster.Welcome",     "atomr.cluster.GossipStatus",
    "atomr.cluster.GossipEnvelope", "atomr.cluster.Heartbeat",   "atomr.cluster.HeartbeatRsp",
};

std::chrono::nanoseconds fake_now{0};

// One daemon across inputs (as a long-lived node would see them), made
// afresh once an input made it stop (a gossip that removed it).
std::unique_ptr<atomr::cluster::cluster_daemon> make_daemon() {
  using namespace atomr::cluster;
  daemon_config c;
  c.self = unique_address{"akka://fuzz@10.0.0.1:2552", 42};
  daemon_callbacks cb;
  cb.send = [](std::string_view, const atomr::remote::envelope&) { return true; };
  cb.on_event = [](const cluster_event&) {};
  auto out = std::make_unique<cluster_daemon>(
      std::move(c), [] { return fake_now; }, std::move(cb));
  out->tick();
  return out;
}

atomr::cluster::cluster_daemon& daemon() {
  static std::unique_ptr<atomr::cluster::cluster_daemon> d;
  if (!d || !d->running())
    d = make_daemon();
  return *d;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace atomr::cluster;
  if (size == 0)
    return 0;
  const std::string_view manifest =
      data[0] < manifests.size() ? manifests[data[0]] : std::string_view("atomr.cluster.Unknown");
  const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  bool decoded = false;
  try {
    const protocol::message m = protocol::decode(manifest, payload);
    decoded = true;
    const std::string once = protocol::encode_payload(m);
    if (!(protocol::decode(manifest, once) == m))
      fail("re-encoded message decodes differently");
    if (protocol::encode_payload(protocol::decode(manifest, once)) != once)
      fail("encoding is not canonical");
  } catch (const error& e) {
    const auto code = static_cast<errc>(e.code());
    if (decoded || (code != errc::malformed_message && code != errc::unsupported_version))
      fail("decode or re-encode threw an unexpected cluster error");
  } catch (...) {
    fail("decode threw something other than a cluster error");
  }
  auto& d = daemon();
  const auto before = d.stats().malformed;
  atomr::remote::inbound_envelope in;
  in.from = "10.0.0.2:2552";
  in.from_uid = 7;
  in.env.recipient = std::string(daemon_path);
  in.env.manifest = std::string(manifest);
  in.env.payload = std::string(payload);
  try {
    if (!d.receive(in))
      fail("the daemon declined an envelope for its path");
  } catch (...) {
    fail("receive threw");
  }
  if (!decoded && d.stats().malformed != before + 1)
    fail("a malformed message was not counted");
  fake_now += std::chrono::milliseconds(250);
  try {
    d.tick();
    (void)d.state();
    (void)d.leader();
    (void)d.converged();
  } catch (...) {
    fail("the daemon failed after a message");
  }
  return 0;
}
