#pragma once

// Hosting a `cluster_daemon` for an actor system (the Python extension
// atomr.cluster.Cluster): what carries its messages, what ticks it, and how
// its events reach the system's loop, all without Python:
//
// * On the system's TCP transport: the transport already runs (it is the
//   system's remoting), so the host installs a tap on its inbound queue
//   (inbound_queue::set_tap): envelopes for `daemon_path` go to
//   `cluster_daemon::receive` on the io thread, transport events to
//   `transport_event` (and on to the loop as before); everything else is
//   queued for the loop as usual. A thread ticks the daemon every
//   `cluster_daemon::tick_interval()`.
// * On a `sim_bus` (a simulated network several systems share): the host
//   attaches its own simulated transport at the daemon's address; a timer of
//   the network ticks it every `tick_interval()` of virtual time.
// * On no transport: a one-node cluster; a thread ticks it.
//
// The daemon's events are queued here and signalled on an eventfd that the
// system's loop watches (`event_fd`, `drain_events`).

#include "atomr/cluster/daemon.hpp"
#include "atomr/remote/inbound_queue.hpp"
#include "atomr/remote/sim_network.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace atomr::cluster {

/// Cluster events waiting for the thread that watches `fd()`.
class event_queue {
public:
  /// @throws remote::error no eventfd could be created.
  event_queue();
  event_queue(const event_queue&) = delete;
  event_queue& operator=(const event_queue&) = delete;
  ~event_queue();

  int fd() const noexcept {
    return fd_;
  }
  /// Queues `ev`; signals the fd when the queue was empty. @threadsafe
  void push(const cluster_event& ev);
  /// Every queued event, oldest first; clears the fd's readiness.
  std::vector<cluster_event> drain();
  std::size_t size() const;

private:
  int fd_ = -1;
  mutable std::mutex mutex_;
  std::vector<cluster_event> items_;
};

class daemon_host;

/// A simulated network shared by the daemons of several systems in one
/// process (atomr.cluster.ClusterRegistry). Each daemon on it is ticked by a
/// virtual-time timer of the network (`sim_network::every`), so frames and
/// ticks interleave in time order whoever advances; `start_driver` runs a
/// thread that advances the network with the wall clock (real-time mode).
class sim_bus {
public:
  /// `net` must outlive the bus.
  explicit sim_bus(remote::sim_network& net);
  sim_bus(const sim_bus&) = delete;
  sim_bus& operator=(const sim_bus&) = delete;
  /// Stops the driver.
  ~sim_bus();

  remote::sim_network& network() noexcept {
    return net_;
  }

  /// Moves virtual time by `by` (`sim_network::advance`); returns the
  /// envelopes delivered. Not from a daemon's callback.
  std::size_t advance(remote::sim_duration by);

  /// Starts a thread that advances virtual time as the wall clock moves,
  /// every `step` of real time (idempotent).
  void start_driver(std::chrono::milliseconds step = std::chrono::milliseconds(5));
  /// Stops and joins the driver (idempotent).
  void stop_driver();
  bool driving() const;

  /// Ticks `daemon` every `interval` of virtual time until `remove` or
  /// its destruction; returns the timer's id.
  std::uint64_t add(const std::shared_ptr<cluster_daemon>& daemon, remote::sim_duration interval);
  void remove(std::uint64_t id);

private:
  remote::sim_network& net_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread driver_;
};

/// A lease whose every attempt has the same outcome (the lease-majority
/// strategy before a shared lease backend exists).
sbr::lease_fn fixed_lease(bool acquired);

/// The state a lease attempt of the ticking thread shares with the thread
/// that really acquires the lease (the system's loop, polling `requested`):
/// no call crosses between them, only these two atomics.
struct polled_lease_state {
  /// The outcome of the last attempt (an `sbr::lease_outcome`), consumed by
  /// the next attempt of the daemon (pending until it is known).
  std::atomic<std::uint8_t> outcome{static_cast<std::uint8_t>(sbr::lease_outcome::pending)};
  /// Set by an attempt of the daemon that found no outcome; cleared by the
  /// acquiring side.
  std::atomic<bool> requested{false};

  /// Whether the daemon attempted the lease since the last call.
  bool take_request() noexcept {
    return requested.exchange(false, std::memory_order_acq_rel);
  }
  /// Stores the outcome the next attempt of the daemon takes.
  void set_outcome(sbr::lease_outcome o) noexcept {
    outcome.store(static_cast<std::uint8_t>(o), std::memory_order_release);
  }
};

/// A lease whose attempts ask `state`: each one takes the outcome the
/// acquiring side stored, or finds none (pending) and marks it `requested`.
sbr::lease_fn polled_lease(std::shared_ptr<polled_lease_state> state);

/// Which transport a host runs its daemon over.
class daemon_host {
public:
  /// A one-node cluster: messages go nowhere; a thread ticks the daemon.
  static std::unique_ptr<daemon_host> standalone(daemon_config config);
  /// Over the system's TCP transport `t`, whose callbacks feed `queue`
  /// (remote::queue_callbacks): the host taps the queue. `t` must outlive
  /// the host, or at least its `stop`. `config.self.uid` 0: `t`'s uid.
  static std::unique_ptr<daemon_host> on_tcp(daemon_config config, remote::tcp_transport& t,
                                             std::shared_ptr<remote::inbound_queue> queue);
  /// Over a simulated transport attached to `bus`'s network at
  /// `config.self.address` (throws `remote::bind_error` when taken), with
  /// `heartbeats` for the transport itself. `config.self.uid` is the
  /// transport's. `bus` must outlive the host.
  static std::unique_ptr<daemon_host> on_sim(daemon_config config, sim_bus& bus,
                                             remote::sim_heartbeat_config heartbeats = {});

  daemon_host(const daemon_host&) = delete;
  daemon_host& operator=(const daemon_host&) = delete;
  /// `stop`s.
  ~daemon_host();

  cluster_daemon& daemon() noexcept {
    return *daemon_;
  }
  event_queue& events() noexcept {
    return *events_;
  }

  /// Shuts the daemon down, removes the tap, stops the ticker and detaches
  /// the simulated transport. Idempotent; not from a daemon callback.
  void stop();

private:
  daemon_host() = default;
  void start_ticker(std::chrono::milliseconds interval);

  std::shared_ptr<event_queue> events_;
  std::shared_ptr<cluster_daemon> daemon_;
  std::shared_ptr<remote::inbound_queue> tapped_;
  std::shared_ptr<remote::transport> sim_transport_;
  sim_bus* bus_ = nullptr;
  std::uint64_t timer_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread ticker_;
};

} // namespace atomr::cluster
