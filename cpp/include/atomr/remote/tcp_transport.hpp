#pragma once

// The remote TCP transport: one Asio io_context on its own thread, which
// never runs Python code. It listens on one address, keeps one connection
// per peer system (whichever side connected first; see docs/architecture.md
// for the simultaneous-connect rule), and moves envelopes:
//
// * `send` (any thread) encodes the envelope into the peer's outbound queue
//   and wakes the io thread; everything queued since the last write goes out
//   in one write. Messages sent before the handshake completes wait in the
//   queue; past `outbound_queue_limit` they are handed to `on_dropped`.
// * Inbound envelopes are handed to `on_envelope` on the io thread as owned
//   bytes. Transport events (associations, quarantine, refused handshakes,
//   malformed frames) go to `on_event`, also on the io thread. A callback
//   must return quickly, must not throw and must not call `stop`.

#include "atomr/remote/failure_detector.hpp"
#include "atomr/remote/frame.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace atomr::remote {

/// TLS settings (files in PEM format). Both sides present a certificate and
/// check the other's against `ca_file`; a peer whose certificate does not
/// chain to it is refused.
struct tls_config {
  /// This side's certificate, followed by any intermediate certificates.
  std::string certificate_chain_file;
  /// The private key of that certificate.
  std::string private_key_file;
  /// The certificate authorities trusted to sign peers' certificates.
  std::string ca_file;
  /// Whether connecting peers must present a certificate (mutual TLS).
  bool require_peer_certificate = true;
};

/// The transport's settings.
struct transport_config {
  /// This system's name, sent in the handshake (1..255 bytes).
  std::string system_name;
  /// This incarnation's UID; 0 picks a random non-zero one.
  std::uint64_t uid = 0;
  /// The IP address to listen on (an IPv4 or IPv6 literal).
  std::string bind_host = "127.0.0.1";
  /// The port to listen on; 0 lets the kernel pick one.
  std::uint16_t bind_port = 0;
  /// The host peers are told to reach this system at; empty: `bind_host`.
  std::string advertised_host;
  /// A shared secret both sides must present in the handshake, if set.
  std::optional<std::string> cookie;
  /// The largest frame sent or accepted (length prefix), in bytes.
  std::size_t max_frame_size = default_max_frame_size;
  /// Envelopes per peer queued and not yet written before `send` drops.
  std::size_t outbound_queue_limit = 100'000;
  /// How often a heartbeat is sent on each connection.
  std::chrono::milliseconds heartbeat_interval{1000};
  /// A connection on which nothing arrives for this long is closed.
  std::chrono::milliseconds idle_timeout{10'000};
  /// Connect plus handshake must complete within this.
  std::chrono::milliseconds handshake_timeout{5000};
  /// The first reconnect delay; doubled per failed attempt up to the max.
  std::chrono::milliseconds reconnect_min_backoff{50};
  std::chrono::milliseconds reconnect_max_backoff{5000};
  /// TLS on every connection, if set (else plain TCP).
  std::optional<tls_config> tls;
  /// The phi-accrual detector kept per peer address. Its arrivals are the
  /// peer's heartbeat frames (sent every `heartbeat_interval` on its side,
  /// whatever else flows, so their spacing stays regular); it is checked
  /// every `reachability_check_interval` and reports `unreachable` /
  /// `reachable` events. The first dial to an address and every association
  /// count as arrivals too, so a peer that is never reached is reported
  /// (with uid 0). A new incarnation at the address starts afresh.
  failure_detector_config failure_detector;
  std::chrono::milliseconds reachability_check_interval{1000};
  /// A peer with no connection and nothing queued for it is forgotten after
  /// this long (its detector too); the next `send` to it starts afresh.
  std::chrono::milliseconds peer_retention{300'000};
};

/// An envelope that arrived, with the peer it came from.
struct inbound_envelope {
  /// The sending system's advertised address, `host:port`.
  std::string from;
  /// The sending system's UID.
  std::uint64_t from_uid = 0;
  envelope env;
};

/// Why an outbound envelope was not sent.
enum class drop_reason {
  /// The peer's outbound queue held `outbound_queue_limit` envelopes.
  queue_full,
  /// The transport stopped before the envelope was written.
  transport_stopped,
};

std::string_view to_string(drop_reason reason) noexcept;

enum class event_kind {
  /// A handshake completed; `uid` is the peer's.
  associated,
  /// An established connection closed; `detail` says why.
  disassociated,
  /// A peer's previous incarnation (`uid`) was quarantined: a new UID
  /// appeared at its address. Its connection is closed and it is refused
  /// from now on.
  quarantined,
  /// This side refused a peer's handshake (`detail`: version, cookie, ...).
  handshake_refused,
  /// The peer refused this side's handshake or closed with a reason.
  refused_by_peer,
  /// A peer sent bytes that are not a valid frame; that connection closed.
  malformed_frame,
  /// An outbound connection or its handshake failed or timed out. When a
  /// redial is scheduled, `detail` ends with "; reconnecting in N ms" (so
  /// does `disassociated`'s).
  connect_failed,
  /// Nothing arrived on a connection for `idle_timeout`; it was closed.
  heartbeat_timeout,
  /// The failure detector's phi for the peer (`uid`) crossed its threshold:
  /// its heartbeats stopped (`detail` says for how long).
  unreachable,
  /// Heartbeats from a peer reported `unreachable` resumed.
  reachable,
};

std::string_view to_string(event_kind kind) noexcept;

/// Something that happened on the transport.
struct transport_event {
  event_kind kind;
  /// The peer's address (`host:port`), or the remote endpoint of a
  /// connection that had not completed its handshake.
  std::string address;
  /// The peer's UID, when known (0 otherwise).
  std::uint64_t uid = 0;
  std::string detail;
  /// The peer's system name, when a handshake with it has completed.
  std::string system;
};

struct transport_callbacks {
  /// Each inbound envelope, in the order a peer sent them (io thread).
  std::function<void(inbound_envelope&&)> on_envelope;
  /// Each envelope `send` could not deliver: on the sending thread for
  /// `queue_full`, on the thread calling `stop` for `transport_stopped`.
  std::function<void(const std::string& to, envelope&&, drop_reason)> on_dropped;
  /// Transport events (io thread).
  std::function<void(const transport_event&)> on_event;
  /// Whether the consumer of `on_envelope` is over its backlog limit
  /// (optional; io thread, after each socket read). When it returns true
  /// that connection reads nothing more (the kernel's buffers fill and TCP
  /// holds the sender back) until `tcp_transport::resume_reading`.
  std::function<bool()> inbound_full;
};

/// Counters since `start` (approximate while traffic flows).
struct transport_stats {
  std::uint64_t envelopes_queued = 0;
  std::uint64_t envelopes_received = 0;
  std::uint64_t envelopes_dropped = 0;
  std::uint64_t bytes_written = 0;
  std::uint64_t bytes_read = 0;
  /// Socket writes issued; envelopes_queued / writes is the batching factor.
  std::uint64_t writes = 0;
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_dialed = 0;
  /// Peer addresses the transport keeps state for (connected, connecting
  /// or with queued envelopes, or not yet past `peer_retention`).
  std::uint64_t peers = 0;
  /// Times a connection stopped reading because `inbound_full` said so.
  std::uint64_t read_pauses = 0;
  /// Writes a sending thread made itself (`send_now`, `flush_deferred`)
  /// instead of waking the io thread; also counted in `writes`.
  std::uint64_t direct_writes = 0;
};

class tcp_transport {
public:
  /// Validates the settings (`invalid_config_error`, `invalid_address_error`).
  tcp_transport(transport_config config, transport_callbacks callbacks);
  /// Stops the transport if it is running.
  ~tcp_transport();

  tcp_transport(const tcp_transport&) = delete;
  tcp_transport& operator=(const tcp_transport&) = delete;

  /// Binds, listens and starts the io thread; returns once listening.
  /// Throws `bind_error` if the address cannot be bound. Once only.
  void start();

  /// Closes every connection (with a close frame where possible), joins the
  /// io thread and reports every envelope still queued to `on_dropped`.
  /// Idempotent; must not be called from a callback.
  void stop();

  /// The bound port (after `start`).
  std::uint16_t port() const noexcept;
  /// The advertised address, `host:port` (after `start`).
  std::string address() const;
  /// This incarnation's UID.
  std::uint64_t uid() const noexcept;

  /// Queues `env` for the system at `to` (`host:port`, an IP literal host;
  /// IPv6 in brackets), connecting if needed. Thread-safe. Returns false if
  /// the envelope was dropped (and handed to `on_dropped`): the queue is
  /// full or the transport stopped. Throws `invalid_address_error` for a bad
  /// or own address, `frame_too_large_error` for an envelope over the frame
  /// limit, and `transport_stopped_error` before `start`.
  bool send(std::string_view to, const envelope& env);

  /// `send`, except that the io thread is not woken for it (unless the
  /// peer's queue holds `deferred_flush_bytes` or more): the caller
  /// promises to call `flush_deferred` soon after, so that a burst of sends
  /// from one thread (one turn of an event loop) wakes the io thread once.
  bool send_deferred(std::string_view to, const envelope& env);

  /// `send`, except that when the peer's connection is idle (nothing
  /// being written by the io thread, plain TCP) the calling thread writes
  /// the queued bytes to the socket itself, without blocking, instead of
  /// waking the io thread; what the socket does not take is left to the io
  /// thread. For a single message whose latency matters (an ask, an answer).
  bool send_now(std::string_view to, const envelope& env);

  /// Writes everything `send_deferred` queued: directly from the calling
  /// thread to each idle connection (as `send_now`), else by waking the io
  /// thread. Thread-safe.
  void flush_deferred();

  /// The queued bytes at which `send_deferred` wakes the io thread anyway.
  static constexpr std::size_t deferred_flush_bytes = 64 * 1024;

  transport_stats stats() const;

  /// Restarts reading on every connection paused by `inbound_full` (the
  /// consumer drained its backlog). Thread-safe; a no-op when none is
  /// paused or the transport is not running.
  void resume_reading();

  struct impl;

private:
  enum class send_mode { wake, defer, write };
  bool send_impl(std::string_view to, const envelope& env, send_mode mode);
  std::unique_ptr<impl> impl_;
};

/// Splits `host:port` (IPv6 as `[addr]:port`); throws `invalid_address_error`
/// unless the host is an IP literal and the port is within 1..65535.
std::pair<std::string, std::uint16_t> parse_address(std::string_view address);

/// `host:port`, with brackets around an IPv6 host.
std::string format_address(std::string_view host, std::uint16_t port);

} // namespace atomr::remote
