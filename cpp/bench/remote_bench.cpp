// Micro-benchmark of atomr::remote::tcp_transport. Not built by default:
//
//   g++ -std=c++20 -O2 -DNDEBUG -I cpp/include cpp/bench/remote_bench.cpp
//       cpp/src/remote/*.cpp -pthread -lssl -lcrypto -o /tmp/remote_bench
//   /tmp/remote_bench [n] [payload] [tls-dir]
//
// With a tls-dir (holding ca.pem and node.pem/node.key, a certificate the CA
// signed), both transports run mutual TLS.
//
// Two transports in one process over 127.0.0.1; one thread sends n one-way
// envelopes (recipient "/user/sink", manifest "bench.Msg", a payload of the
// given size, default 16 bytes) from A to B as fast as `send` takes them
// (retrying when the outbound queue is full); B's io thread counts them.
// Reports envelopes/s from the first send to the last arrival, and the
// batching (envelopes per socket write). Best of three runs.

#include "atomr/remote/tcp_transport.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <thread>

int main(int argc, char** argv) {
  using namespace atomr::remote;
  using clock = std::chrono::steady_clock;
  const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2'000'000;
  const std::size_t payload = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 16;
  std::optional<tls_config> tls;
  if (argc > 3) {
    const std::string dir = argv[3];
    tls = tls_config{dir + "/node.pem", dir + "/node.key", dir + "/ca.pem", true};
  }
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    std::atomic<std::size_t> got{0};
    std::atomic<std::size_t> full{0};
    transport_config ca;
    ca.system_name = "a";
    transport_config cb;
    cb.system_name = "b";
    ca.tls = tls;
    cb.tls = tls;
    transport_callbacks a_cb;
    a_cb.on_dropped = [&](const std::string&, envelope&&, drop_reason) { full.fetch_add(1); };
    transport_callbacks b_cb;
    b_cb.on_envelope = [&](inbound_envelope&&) { got.fetch_add(1, std::memory_order_relaxed); };
    tcp_transport a(ca, a_cb);
    tcp_transport b(cb, b_cb);
    a.start();
    b.start();
    envelope env{"/user/sink", std::nullopt, "bench.Msg", std::string(payload, 'x'), std::nullopt};
    // Warm up: the handshake.
    a.send(b.address(), env);
    while (got.load() < 1)
      std::this_thread::yield();
    got = 0;
    const auto writes_before = a.stats().writes;
    const auto t0 = clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      while (!a.send(b.address(), env))
        std::this_thread::yield();
    }
    while (got.load(std::memory_order_relaxed) < n)
      std::this_thread::yield();
    const double secs = std::chrono::duration<double>(clock::now() - t0).count();
    const double rate = static_cast<double>(n) / secs;
    const auto writes = a.stats().writes - writes_before;
    std::printf("run %d%s: %zu envelopes of %zu payload bytes in %.3f s: %.0f envelopes/s, "
                "%.1f envelopes per write, %zu sends retried on a full queue\n",
                run, tls ? " (TLS)" : "", n, payload, secs, rate,
                static_cast<double>(n) / static_cast<double>(writes ? writes : 1), full.load());
    if (rate > best)
      best = rate;
    a.stop();
    b.stop();
  }
  std::printf("best: %.0f envelopes/s\n", best);
  return 0;
}
