#pragma once

// The operations every remote transport offers, so that code written against
// one (gossip, a failure detector, the Python extension) runs unchanged over
// another: the TCP transport of tcp_transport.hpp, or the simulated network
// of sim_network.hpp that tests drive under virtual time.
//
// A transport is built with `transport_callbacks` (tcp_transport.hpp) and
// reports through them: inbound envelopes, envelopes it could not send and
// lifecycle events (associated, disassociated, ...). Which thread calls them
// is the implementation's: the TCP transport's io thread, or the thread that
// advances a simulated network.

#include "atomr/remote/tcp_transport.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace atomr::remote {

class transport {
public:
  virtual ~transport() = default;

  /// Starts accepting envelopes (binds, for TCP). Once only.
  virtual void start() = 0;
  /// Stops; idempotent; must not be called from a callback of this transport.
  virtual void stop() = 0;
  /// The address peers reach this transport at (after `start`).
  virtual std::string address() const = 0;
  /// This incarnation's UID.
  virtual std::uint64_t uid() const noexcept = 0;
  /// Sends `env` to the transport at `to`; false if it was dropped and
  /// handed to `on_dropped`. Thread-safe.
  virtual bool send(std::string_view to, const envelope& env) = 0;
  /// Counters since `start`.
  virtual transport_stats stats() const = 0;
};

/// A `tcp_transport` behind the `transport` interface.
std::unique_ptr<transport> make_tcp_transport(transport_config config,
                                              transport_callbacks callbacks);

} // namespace atomr::remote
