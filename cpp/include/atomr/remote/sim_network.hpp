#pragma once

// A deterministic in-process network for tests: transports attach to it by
// address and exchange envelopes through it instead of sockets, with faults
// injected per directed link (drop, delay, jitter, duplicate, reorder) and
// partitions between chosen addresses, all under a virtual clock.
//
// * Nothing moves until the test moves time: `advance(d)` delivers every
//   frame due by `now() + d` in due order (ties: the order they were
//   scheduled), `run_until_idle()` delivers until nothing is in flight.
//   Callbacks (`on_envelope`, `on_event`) run on the thread that advances;
//   only `on_dropped` runs on the thread that calls `send` or `stop`.
// * Every random choice comes from one RNG seeded at construction, drawn in
//   send order: the same seed and the same sends replay the same run.
// * Envelopes cross as frames: `send` encodes with the wire encoder
//   (frame.hpp), delivery decodes with the wire decoder, so sizes are
//   checked as on TCP and the decoder sees every frame.
// * On a link, `delay` + uniform `jitter` models latency and keeps the
//   link's order (a frame never arrives before one sent earlier on the same
//   link); `reorder` adds a uniform extra delay that does not, so later
//   frames overtake. `duplicate` delivers a second copy (its own delay).
// * A partition between two addresses blocks both directions, at send and at
//   delivery (frames already in flight are lost too), until healed; the two
//   sides get `disassociated` ("partitioned") if they were associated.
// * Lifecycle: a transport must `start` before it receives; `associated`
//   events go to both ends when the first frame between two incarnations is
//   delivered; when a transport stops, its associated peers get
//   `disassociated` at the next advance and its address can be attached again
//   (a new incarnation, new UID); peers that knew the old UID get
//   `quarantined` for it at the next advance.
// * Failure detection as on TCP, on the virtual clock: every started
//   transport sends a heartbeat frame every `heartbeat_interval` to each peer
//   it has been associated with (through the network, so faults and
//   partitions hit them; they use their own RNG stream and are not counted
//   in `link_stats`, `in_flight` or `run_until_idle`), feeds a
//   `phi_accrual_failure_detector` per peer with their arrivals, and every
//   `reachability_check_interval` reports `unreachable` / `reachable`.

#include "atomr/remote/failure_detector.hpp"
#include "atomr/remote/transport.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atomr::remote {

/// Virtual time, from 0 at the network's creation.
using sim_duration = std::chrono::nanoseconds;

/// The faults of one directed link (or every link without its own).
struct link_faults {
  /// Probability that a frame is lost (0..1).
  double drop = 0.0;
  /// Probability that a frame is delivered twice (0..1).
  double duplicate = 0.0;
  /// Fixed latency of every frame.
  sim_duration delay{0};
  /// Extra latency, uniform in [0, jitter]; the link's order is kept.
  sim_duration jitter{0};
  /// Extra latency, uniform in [0, reorder], that may break the link's order.
  sim_duration reorder{0};

  bool operator==(const link_faults&) const = default;
};

/// Counters of one directed link.
struct link_stats {
  /// Frames sent on the link (`send` calls that reached the network).
  std::uint64_t sent = 0;
  /// Frames handed to the receiver's `on_envelope` (duplicates included).
  std::uint64_t delivered = 0;
  /// Frames lost to the link's `drop` probability.
  std::uint64_t dropped = 0;
  /// Frames lost to a partition (at send or in flight).
  std::uint64_t blocked = 0;
  /// Frames that found no started transport at their address when due.
  std::uint64_t undeliverable = 0;
  /// Extra copies scheduled by the `duplicate` probability.
  std::uint64_t duplicated = 0;
  /// Frames delivered after a frame sent later on the same link.
  std::uint64_t reordered = 0;
  /// Encoded bytes of the frames sent.
  std::uint64_t bytes = 0;

  link_stats& operator+=(const link_stats& o) noexcept;
  bool operator==(const link_stats&) const = default;
};

/// Heartbeats and failure detection of one `sim_transport` (the same
/// defaults as `tcp_transport_config`).
struct sim_heartbeat_config {
  /// Off: no heartbeats are sent and no detector runs.
  bool enabled = true;
  /// How often a heartbeat goes to each associated peer (virtual time, > 0).
  std::chrono::milliseconds heartbeat_interval{1000};
  /// How often phi is checked against the threshold (virtual time, > 0).
  std::chrono::milliseconds reachability_check_interval{1000};
  /// The detector kept per peer; the association counts as its first arrival.
  failure_detector_config failure_detector;
};

class sim_network;

namespace detail {
struct sim_state;
struct sim_node;
} // namespace detail

/// One address's transport on a `sim_network` (from `sim_network::attach`).
/// Thread-safe like `tcp_transport`; the network outlives nothing: the
/// transport keeps the network's state alive.
class sim_transport final : public transport {
public:
  ~sim_transport() override;
  sim_transport(const sim_transport&) = delete;
  sim_transport& operator=(const sim_transport&) = delete;

  /// From now on frames due at this address are delivered. Once only.
  void start() override;
  /// Stops receiving and frees the address for a new incarnation; the
  /// peers it was associated with get `disassociated` at the next advance.
  /// Frames it already sent stay in flight. Idempotent. May be called from
  /// a callback.
  void stop() override;
  std::string address() const override;
  std::uint64_t uid() const noexcept override;
  /// Puts `env` on the network for `to` at the current virtual time.
  /// Returns false (and calls `on_dropped(transport_stopped)`) after
  /// `stop`. A frame lost to a fault or partition still returns true, as a
  /// frame lost on a TCP connection does. Throws `invalid_address_error`
  /// for a malformed or own address, `frame_too_large_error` for an
  /// envelope over the frame limit, `transport_stopped_error` before
  /// `start`.
  bool send(std::string_view to, const envelope& env) override;
  /// `envelopes_queued` = sent, `envelopes_received` = delivered here,
  /// `bytes_written` / `bytes_read` = encoded frame bytes.
  transport_stats stats() const override;

private:
  friend class sim_network;
  sim_transport(std::shared_ptr<detail::sim_state> net, std::shared_ptr<detail::sim_node> self);

  std::shared_ptr<detail::sim_state> net_;
  std::shared_ptr<detail::sim_node> self_;
};

class sim_network {
public:
  /// A network whose random choices all derive from `seed`.
  explicit sim_network(std::uint64_t seed = 0);
  ~sim_network();
  sim_network(const sim_network&) = delete;
  sim_network& operator=(const sim_network&) = delete;

  /// A transport at `address` (any non-empty string of at most 255
  /// printable, non-space bytes: `host:port`, `akka://name`, ...).
  /// `uid` 0 picks one from the RNG. Throws `invalid_address_error` for a
  /// malformed address, `bind_error` if a transport that has not stopped
  /// holds it, `invalid_config_error` for a frame limit outside
  /// [min_max_frame_size, max_max_frame_size] or `heartbeats` outside
  /// their domains (intervals > 0, `validate` for the detector).
  std::unique_ptr<sim_transport> attach(std::string address, transport_callbacks callbacks,
                                        std::uint64_t uid = 0,
                                        std::size_t max_frame_size = default_max_frame_size,
                                        sim_heartbeat_config heartbeats = {});

  std::uint64_t seed() const noexcept;
  /// The virtual clock.
  sim_duration now() const;
  /// Moves the clock forward by `by` (>= 0), delivering every frame and
  /// event due by then; returns the envelopes delivered. Must not be called
  /// from a callback (throws `error`).
  std::size_t advance(sim_duration by);
  /// Delivers whatever is in flight, moving the clock to each due time,
  /// until nothing is left or `max_deliveries` envelopes were delivered;
  /// returns the envelopes delivered.
  std::size_t run_until_idle(std::size_t max_deliveries = 10'000'000);
  /// Frames and events scheduled and not yet delivered or lost (heartbeats
  /// and timers excluded).
  std::size_t in_flight() const;
  /// When the next frame or event is due, if any (heartbeats and timers
  /// excluded).
  std::optional<sim_duration> next_due() const;

  /// Calls `fn` every `interval` (> 0) of virtual time, first at `now() +
  /// first` (default: `interval`), on the advancing thread like a delivery
  /// callback (it may send; a throw is swallowed). Timers are not counted
  /// by `in_flight`, `next_due` or `run_until_idle`. Returns the timer's id
  /// for `cancel`. Throws `invalid_config_error` for a non-positive interval
  /// or a negative `first`.
  std::uint64_t every(sim_duration interval, std::function<void()> fn,
                      std::optional<sim_duration> first = std::nullopt);
  /// Stops the timer `id` (from `every`): it is not called again, also
  /// when cancelled from a callback. Unknown or cancelled ids: no-op.
  void cancel(std::uint64_t id);

  /// The faults of every link without its own (`set_link`). Throws
  /// `invalid_config_error` for a probability outside 0..1 or a negative
  /// duration.
  void set_default_faults(const link_faults& faults);
  /// The faults of the directed link `from` -> `to`.
  void set_link(std::string_view from, std::string_view to, const link_faults& faults);
  /// Makes `from` -> `to` use the default faults again.
  void clear_link(std::string_view from, std::string_view to);
  /// The faults `from` -> `to` runs with.
  link_faults faults(std::string_view from, std::string_view to) const;

  /// Blocks both directions between `a` and `b` until healed.
  void partition(std::string_view a, std::string_view b);
  /// Blocks every pair of one address of `a` and one of `b`.
  void partition_groups(const std::vector<std::string>& a, const std::vector<std::string>& b);
  /// Lifts every partition.
  void heal();
  /// Lifts the partition between `a` and `b`.
  void heal(std::string_view a, std::string_view b);
  bool partitioned(std::string_view a, std::string_view b) const;

  /// The counters of `from` -> `to` (zero if nothing was sent on it).
  link_stats stats(std::string_view from, std::string_view to) const;
  /// Every link with traffic, by (from, to).
  std::map<std::pair<std::string, std::string>, link_stats> all_stats() const;
  /// The sum over every link.
  link_stats total_stats() const;
  /// The addresses of transports attached and not stopped, sorted.
  std::vector<std::string> addresses() const;

private:
  std::shared_ptr<detail::sim_state> state_;
};

} // namespace atomr::remote
