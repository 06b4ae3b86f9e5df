#include "atomr/remote/tcp_transport.hpp"

// The parts of Asio used, not <boost/asio.hpp>: Boost 1.74's coroutine
// headers do not compile as C++20.
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>
#include <sys/socket.h>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace atomr::remote {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

std::string_view to_string(drop_reason reason) noexcept {
  switch (reason) {
  case drop_reason::queue_full:
    return "outbound queue full";
  case drop_reason::transport_stopped:
    return "transport stopped";
  }
  return "unknown";
}

std::string_view to_string(event_kind kind) noexcept {
  switch (kind) {
  case event_kind::associated:
    return "associated";
  case event_kind::disassociated:
    return "disassociated";
  case event_kind::quarantined:
    return "quarantined";
  case event_kind::handshake_refused:
    return "handshake_refused";
  case event_kind::refused_by_peer:
    return "refused_by_peer";
  case event_kind::malformed_frame:
    return "malformed_frame";
  case event_kind::connect_failed:
    return "connect_failed";
  case event_kind::heartbeat_timeout:
    return "heartbeat_timeout";
  case event_kind::unreachable:
    return "unreachable";
  case event_kind::reachable:
    return "reachable";
  }
  return "unknown";
}

std::pair<std::string, std::uint16_t> parse_address(std::string_view address) {
  const auto bad = [&](const char* why) {
    return invalid_address_error("invalid address '" + std::string(address) + "': " + why +
                                 " (expected host:port with an IP literal host)");
  };
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos)
    throw bad("no port");
  std::string_view host = address.substr(0, colon);
  const std::string_view port_text = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (port_text.empty() || port_text.size() > 5)
    throw bad("bad port");
  unsigned port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9')
      throw bad("bad port");
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port == 0 || port > 65535)
    throw bad("port out of range");
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(std::string(host), ec);
  if (ec)
    throw bad("host is not an IP address");
  return {ip.to_string(), static_cast<std::uint16_t>(port)};
}

std::string format_address(std::string_view host, std::uint16_t port) {
  if (host.find(':') != std::string_view::npos)
    return "[" + std::string(host) + "]:" + std::to_string(port);
  return std::string(host) + ":" + std::to_string(port);
}

namespace {

bool same_secret(const std::optional<std::string>& a, const std::optional<std::string>& b) {
  if (a.has_value() != b.has_value())
    return false;
  if (!a)
    return true;
  if (a->size() != b->size())
    return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a->size(); ++i)
    diff |= static_cast<unsigned char>((*a)[i] ^ (*b)[i]);
  return diff == 0;
}

std::uint64_t random_uid() {
  std::random_device rd;
  std::uint64_t uid = 0;
  while (uid == 0)
    uid = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  return uid;
}

enum class conn_state { connecting, handshaking, established, closed };

} // namespace

struct connection;

// The send side of a peer address, shared between `send` callers and the io
// thread (guarded by impl::out_mu).
struct outbound {
  std::string pending;   // encoded envelopes not yet handed to a socket
  std::size_t count = 0; // envelopes in `pending`
  bool writable = false; // an established connection takes `pending`
  bool flush_posted = false;
  bool flush_deferred = false; // listed in impl::deferred, not posted yet
  bool needs_dial = true;      // no connection, dial or reconnect in progress
  // The socket of the established (plain TCP) connection while the io
  // thread has nothing in flight on it: a caller holding out_mu may write
  // `pending` to it directly (write_direct); -1 otherwise. The io thread
  // clears it under out_mu before it writes to or closes that socket.
  int direct_fd = -1;
  // What a direct write left unwritten of its bytes (the rest of a frame
  // begun on `partial_fd`): written on that socket before anything else.
  std::string partial_rest;
  int partial_fd = -1;
};

// The io thread's view of a peer address.
struct association {
  explicit association(asio::io_context& io)
    : reconnect_timer(io) {
  }
  std::shared_ptr<connection> active;  // established
  std::shared_ptr<connection> dialing; // our connection, not yet established
  std::uint64_t uid = 0;               // the last incarnation seen here
  unsigned attempts = 0;
  bool reconnect_scheduled = false;
  asio::steady_timer reconnect_timer;
  // Fed by the peer's heartbeats; reset for a new incarnation.
  std::optional<phi_accrual_failure_detector> detector;
  bool unreachable = false;
  // Since when the peer has had no connection (unset while it has one).
  std::optional<steady::time_point> idle_since;
  std::string system_name; // from the last handshake
};

struct tcp_transport::impl {
  impl(transport_config c, transport_callbacks cb)
    : config(std::move(c))
    , callbacks(std::move(cb))
    , acceptor(io)
    , accept_retry(io)
    , check_timer(io) {
  }

  transport_config config;
  transport_callbacks callbacks;
  asio::io_context io;
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  asio::steady_timer check_timer;  // reachability and peer-table sweeps
  std::optional<ssl::context> tls; // set when TLS is configured
  std::thread thread;
  std::uint64_t uid = 0;
  std::uint16_t bound_port = 0;
  std::string self_address;
  std::string advertised_host;

  std::mutex out_mu;
  std::unordered_map<std::string, outbound> out; // guarded by out_mu
  std::vector<std::string> deferred;             // flushes send_deferred owes (out_mu)
  bool started = false;                          // guarded by out_mu
  bool stopped = false;                          // guarded by out_mu

  // io thread only
  bool closing = false;
  std::unordered_map<std::string, std::unique_ptr<association>> assocs;
  std::unordered_set<std::shared_ptr<connection>> conns;
  std::vector<std::weak_ptr<connection>> paused; // reading paused by inbound_full

  std::atomic<std::uint64_t> envelopes_queued{0}, envelopes_received{0}, envelopes_dropped{0},
      bytes_written{0}, bytes_read{0}, writes{0}, accepted{0}, dialed{0}, read_pauses{0},
      direct_writes{0};

  void emit(event_kind kind, std::string address, std::uint64_t peer_uid, std::string detail) {
    if (!callbacks.on_event)
      return;
    auto found = assocs.find(address);
    std::string system = found != assocs.end() ? found->second->system_name : std::string();
    callbacks.on_event(
        transport_event{kind, std::move(address), peer_uid, std::move(detail), std::move(system)});
  }

  association& assoc_for(const std::string& address) {
    auto& slot = assocs[address];
    if (!slot)
      slot = std::make_unique<association>(io);
    return *slot;
  }

  handshake own_handshake() const {
    handshake hs;
    hs.system_name = config.system_name;
    hs.uid = uid;
    hs.host = advertised_host;
    hs.port = bound_port;
    hs.cookie = config.cookie;
    return hs;
  }

  void accept_next();
  void dial(const std::string& address);
  void ensure_connected(const std::string& address);
  void flush(const std::string& address);
  // Whether `c` is its peer's established connection. io thread only.
  bool is_active(const connection& c) const;
  // Whether a sender left the rest of a frame for `c`'s socket.
  bool partial_on(connection& c);
  // Writes `ob.pending` to its idle socket from the calling thread (out_mu
  // held): true when all of it was written; otherwise the io thread must be
  // woken for what is left.
  bool write_direct(outbound& ob);
  std::optional<std::chrono::milliseconds> schedule_reconnect(const std::string& address,
                                                              association& a);
  void establish(const std::shared_ptr<connection>& c, association& a);
  void quarantine(const std::string& address, association& a, std::uint64_t new_uid);
  // Both return the delay of the reconnect they scheduled, if any.
  std::optional<std::chrono::milliseconds> detach(const std::shared_ptr<connection>& c,
                                                  bool reconnect);
  void stop_on_io();
  void on_heartbeat(const std::string& address, std::uint64_t peer_uid);
  void check_peers();
  void arm_check();
  // The outbound entry of an address, created if missing (out_mu held).
  outbound& out_for(const std::string& address) {
    return out[address];
  }
  std::unordered_set<std::uint64_t> quarantined;
};

struct connection : std::enable_shared_from_this<connection> {
  connection(tcp_transport::impl& t, bool initiator)
    : t(t)
    , socket(t.io)
    , tls(t.tls ? std::make_unique<ssl::stream<tcp::socket&>>(socket, *t.tls) : nullptr)
    , timer(t.io)
    , initiator(initiator)
    , decoder(t.config.max_frame_size) {
  }

  tcp_transport::impl& t;
  tcp::socket socket;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls; // over `socket`, when TLS is on
  asio::steady_timer timer;
  bool initiator;
  conn_state state = conn_state::connecting;
  std::string peer_address; // key of the association, once known
  std::string endpoint;     // the remote endpoint, for events before the handshake
  std::uint64_t peer_uid = 0;
  std::string peer_system;
  frame_decoder decoder;
  std::array<char, 64 * 1024> rbuf;
  std::string control;     // control frames to write next
  std::string wbuf;        // the bytes of the write in flight
  std::string direct_rest; // the rest of a frame a sender began writing directly
  bool writing = false;
  bool close_after_write = false;
  bool read_paused = false; // no read in flight: the consumer is over its limit
  steady::time_point last_rx = steady::now();
  std::uint64_t heartbeat_seq = 0;

  std::string who() const {
    return peer_address.empty() ? endpoint : peer_address;
  }

  void start_reading() {
    auto on_done = [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
      self->on_read(ec, n);
    };
    if (tls)
      tls->async_read_some(asio::buffer(rbuf), std::move(on_done));
    else
      socket.async_read_some(asio::buffer(rbuf), std::move(on_done));
  }

  // Runs the TLS handshake if TLS is on, then `next`; a failed TLS
  // handshake (an untrusted or missing certificate) closes the connection.
  template <class Next> void secure(Next next) {
    if (!tls) {
      next();
      return;
    }
    tls->async_handshake(initiator ? ssl::stream_base::client : ssl::stream_base::server,
                         [self = shared_from_this(), next](const boost::system::error_code& ec) {
                           if (self->state == conn_state::closed || self->close_after_write)
                             return;
                           if (ec) {
                             self->fail(self->initiator ? event_kind::connect_failed
                                                        : event_kind::handshake_refused,
                                        "TLS handshake failed: " + ec.message());
                             return;
                           }
                           next();
                         });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    // After a close frame is queued, nothing more is read or handled.
    if (state == conn_state::closed || close_after_write)
      return;
    if (ec) {
      lost(ec == asio::error::eof ? "connection closed by peer" : ec.message());
      return;
    }
    t.bytes_read.fetch_add(n, std::memory_order_relaxed);
    last_rx = steady::now();
    try {
      decoder.feed(rbuf.data(), n, [this](frame&& f) {
        if (state != conn_state::closed && !close_after_write)
          on_frame(std::move(f));
      });
    } catch (const atomr::error& e) {
      t.emit(event_kind::malformed_frame, who(), peer_uid, e.what());
      close_with(close_reason::protocol_error, e.what(), false);
      return;
    }
    if (state == conn_state::closed || close_after_write)
      return;
    if (t.callbacks.inbound_full && t.callbacks.inbound_full()) {
      // The consumer is behind: read nothing until it drains (resume_reading,
      // posted to this thread, runs after this handler and so sees us here).
      read_paused = true;
      t.read_pauses.fetch_add(1, std::memory_order_relaxed);
      t.paused.push_back(shared_from_this());
      return;
    }
    start_reading();
  }

  void protocol_error(const std::string& what) {
    t.emit(event_kind::malformed_frame, who(), peer_uid, what);
    close_with(close_reason::protocol_error, what, false);
  }

  void on_frame(frame&& f);
  void on_handshake(handshake&& hs);
  void on_handshake_ack(handshake_ack&& hs);

  // Checks a peer's handshake; returns the refusal, if any.
  std::optional<std::string> refusal(const handshake& hs) const {
    if (hs.protocol_version != protocol_version)
      return "protocol version " + std::to_string(hs.protocol_version) + " (this side speaks " +
             std::to_string(protocol_version) + ")";
    if (!same_secret(hs.cookie, t.config.cookie))
      return std::string("cookie mismatch");
    if (hs.uid == 0)
      return std::string("zero uid");
    if (hs.uid == t.uid)
      return std::string("a connection to itself");
    return std::nullopt;
  }

  void send_control(const frame& f) {
    encode(f, control, t.config.max_frame_size);
    pump();
  }

  // Writes control frames, then (once established) the peer's queue.
  void pump() {
    if (writing || state == conn_state::closed)
      return;
    wbuf.clear();
    if (!direct_rest.empty())
      wbuf.swap(direct_rest);
    if (wbuf.empty())
      wbuf.swap(control);
    else
      wbuf.append(control);
    control.clear();
    if (state == conn_state::established && !close_after_write) {
      std::lock_guard lock(t.out_mu);
      auto& ob = t.out_for(peer_address);
      ob.flush_posted = false;
      if (ob.partial_fd == socket.native_handle()) {
        // The rest of a frame a sender began on this socket goes first.
        ob.partial_rest.append(wbuf);
        wbuf.swap(ob.partial_rest);
        ob.partial_rest.clear();
        ob.partial_fd = -1;
      }
      if (!ob.pending.empty()) {
        if (wbuf.empty())
          wbuf.swap(ob.pending);
        else
          wbuf.append(ob.pending);
        ob.pending.clear();
        ob.count = 0;
      }
      // Idle: senders may write to the socket themselves until the next
      // write of this thread.
      ob.direct_fd =
          wbuf.empty() && !tls && ob.writable && t.is_active(*this) ? socket.native_handle() : -1;
    }
    if (wbuf.empty()) {
      if (close_after_write)
        shut();
      return;
    }
    writing = true;
    t.writes.fetch_add(1, std::memory_order_relaxed);
    auto on_done = [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
      self->writing = false;
      if (self->state == conn_state::closed)
        return;
      if (ec) {
        self->lost(ec.message());
        return;
      }
      self->t.bytes_written.fetch_add(n, std::memory_order_relaxed);
      self->pump();
    };
    if (tls)
      asio::async_write(*tls, asio::buffer(wbuf), std::move(on_done));
    else
      asio::async_write(socket, asio::buffer(wbuf), std::move(on_done));
  }

  void arm_timer(std::chrono::milliseconds after) {
    timer.expires_after(after);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec)
        self->on_timer();
    });
  }

  void on_timer() {
    if (state == conn_state::closed)
      return;
    if (state != conn_state::established) {
      fail(event_kind::connect_failed, "handshake timed out");
      return;
    }
    if (!read_paused && steady::now() - last_rx > t.config.idle_timeout) {
      fail(event_kind::heartbeat_timeout,
           "nothing received for " + std::to_string(t.config.idle_timeout.count()) + " ms");
      return;
    }
    send_control(heartbeat{++heartbeat_seq});
    arm_timer(t.config.heartbeat_interval);
  }

  // Sends a close frame, then closes; the association forgets it at once.
  void close_with(close_reason reason, const std::string& detail, bool reconnect) {
    if (state == conn_state::closed || close_after_write)
      return;
    auto self = shared_from_this();
    t.detach(self, reconnect);
    if (state == conn_state::connecting) {
      shut(); // not connected yet: nothing to say
      return;
    }
    control.clear();
    encode(close_frame{reason, detail}, control, t.config.max_frame_size);
    close_after_write = true;
    state = conn_state::handshaking; // writable for control frames only
    timer.cancel();
    pump();
    // A peer that does not read must not keep the socket: give the close
    // frame one handshake timeout.
    timer.expires_after(t.config.handshake_timeout);
    timer.async_wait([self](const boost::system::error_code& ec) {
      if (!ec)
        self->shut();
    });
  }

  // The connection failed (read or write error, peer closed).
  void lost(const std::string& why) {
    if (state == conn_state::established)
      fail(event_kind::disassociated, why);
    else if (initiator && !close_after_write)
      fail(event_kind::connect_failed, why);
    else
      fail(std::nullopt, why);
  }

  // Closes the connection after a failure and reports `kind`, saying when
  // the peer is dialed again if a reconnect was scheduled.
  void fail(std::optional<event_kind> kind, std::string why) {
    if (state == conn_state::closed)
      return;
    std::optional<std::chrono::milliseconds> retry;
    if (!close_after_write)
      retry = t.detach(shared_from_this(), true);
    shut();
    if (retry)
      why += "; reconnecting in " + std::to_string(retry->count()) + " ms";
    if (kind)
      t.emit(*kind, who(), peer_uid, std::move(why));
  }

  void shut() {
    if (state == conn_state::closed && !socket.is_open())
      return;
    state = conn_state::closed;
    if (!peer_address.empty() && socket.is_open()) {
      // No sender may write to this descriptor once it is closed (and
      // perhaps reused).
      std::lock_guard lock(t.out_mu);
      auto found = t.out.find(peer_address);
      if (found != t.out.end()) {
        auto& ob = found->second;
        if (ob.direct_fd == socket.native_handle())
          ob.direct_fd = -1;
        if (ob.partial_fd == socket.native_handle()) {
          ob.partial_fd = -1;
          ob.partial_rest.clear();
        }
      }
    }
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    timer.cancel();
    t.conns.erase(shared_from_this());
  }
};

void connection::on_frame(frame&& f) {
  switch (kind_of(f)) {
  case frame_kind::close: {
    auto& c = std::get<close_frame>(f);
    const std::string detail =
        std::string(to_string(c.reason)) + (c.detail.empty() ? "" : ": " + c.detail);
    if (state == conn_state::established)
      fail(event_kind::disassociated, "closed by peer: " + detail);
    else if (c.reason != close_reason::duplicate_connection)
      fail(event_kind::refused_by_peer, detail);
    else
      fail(std::nullopt, detail);
    return;
  }
  case frame_kind::handshake:
    if (initiator || state != conn_state::handshaking)
      return protocol_error("unexpected handshake");
    return on_handshake(std::move(std::get<handshake>(f)));
  case frame_kind::handshake_ack:
    if (!initiator || state != conn_state::handshaking)
      return protocol_error("unexpected handshake ack");
    return on_handshake_ack(std::move(std::get<handshake_ack>(f)));
  case frame_kind::envelope:
    if (state != conn_state::established)
      return protocol_error("envelope before the handshake");
    t.envelopes_received.fetch_add(1, std::memory_order_relaxed);
    if (t.callbacks.on_envelope) {
      // The callback must not throw; if it does, that envelope is lost but
      // the connection keeps reading.
      try {
        t.callbacks.on_envelope(
            inbound_envelope{peer_address, peer_uid, std::move(std::get<envelope>(f))});
      } catch (...) {
      }
    }
    return;
  case frame_kind::heartbeat:
    if (state != conn_state::established)
      return protocol_error("heartbeat before the handshake");
    t.on_heartbeat(peer_address, peer_uid);
    send_control(heartbeat_ack{std::get<heartbeat>(f).sequence});
    return;
  case frame_kind::heartbeat_ack:
    if (state != conn_state::established)
      return protocol_error("heartbeat ack before the handshake");
    return;
  }
}

void connection::on_handshake(handshake&& hs) {
  if (auto why = refusal(hs)) {
    t.emit(event_kind::handshake_refused, endpoint, hs.uid, *why);
    close_with(close_reason::handshake_refused, *why, false);
    return;
  }
  if (t.quarantined.count(hs.uid)) {
    t.emit(event_kind::handshake_refused, endpoint, hs.uid, "quarantined incarnation");
    close_with(close_reason::quarantined, "this incarnation is quarantined", false);
    return;
  }
  const std::string address = format_address(hs.host, hs.port);
  auto& a = t.assoc_for(address);
  peer_uid = hs.uid;
  peer_system = hs.system_name;
  if (a.uid != 0 && a.uid != hs.uid)
    t.quarantine(address, a, hs.uid);
  // The same system, connected twice: keep the connection whose initiator
  // has the lower UID (both sides decide alike); a new connection from the
  // initiator of the established one replaces it (it saw the old one die).
  const bool peer_wins = hs.uid < t.uid;
  if (a.active) {
    if (a.active->initiator && !peer_wins) {
      close_with(close_reason::duplicate_connection, "an established connection is kept", false);
      return;
    }
    auto old = a.active;
    old->close_with(close_reason::duplicate_connection, "replaced by a new connection", false);
  } else if (a.dialing) {
    if (!peer_wins) {
      close_with(close_reason::duplicate_connection, "this side's connection is kept", false);
      return;
    }
    auto old = a.dialing;
    old->close_with(close_reason::duplicate_connection, "the peer's connection is kept", false);
  }
  peer_address = address;
  handshake_ack ack;
  static_cast<handshake&>(ack) = t.own_handshake();
  send_control(ack);
  t.establish(shared_from_this(), a);
}

void connection::on_handshake_ack(handshake_ack&& hs) {
  if (auto why = refusal(hs)) {
    t.emit(event_kind::handshake_refused, peer_address, hs.uid, *why);
    close_with(close_reason::handshake_refused, *why, true);
    return;
  }
  if (t.quarantined.count(hs.uid)) {
    t.emit(event_kind::handshake_refused, peer_address, hs.uid, "quarantined incarnation");
    close_with(close_reason::quarantined, "this incarnation is quarantined", true);
    return;
  }
  auto& a = t.assoc_for(peer_address);
  if (a.dialing.get() != this) {
    close_with(close_reason::duplicate_connection, "superseded", false);
    return;
  }
  peer_uid = hs.uid;
  peer_system = hs.system_name;
  if (a.uid != 0 && a.uid != hs.uid)
    t.quarantine(peer_address, a, hs.uid);
  t.establish(shared_from_this(), a);
}

void tcp_transport::impl::quarantine(const std::string& address, association& a,
                                     std::uint64_t new_uid) {
  const std::uint64_t old_uid = a.uid;
  quarantined.insert(old_uid);
  emit(event_kind::quarantined, address, old_uid,
       "replaced by incarnation " + std::to_string(new_uid));
  for (auto* slot : {&a.active, &a.dialing}) {
    if (auto old = *slot; old && old->peer_uid == old_uid)
      old->close_with(close_reason::quarantined, "a new incarnation replaced this one", false);
  }
  a.uid = 0;
  a.detector.reset();
  a.unreachable = false;
}

void tcp_transport::impl::on_heartbeat(const std::string& address, std::uint64_t peer_uid) {
  auto it = assocs.find(address);
  if (it == assocs.end() || it->second->uid != peer_uid)
    return;
  auto& a = *it->second;
  if (!a.detector)
    a.detector.emplace(config.failure_detector);
  a.detector->heartbeat();
}

void tcp_transport::impl::arm_check() {
  check_timer.expires_after(config.reachability_check_interval);
  check_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec || closing)
      return;
    check_peers();
    arm_check();
  });
}

// Reports peers whose phi crossed the threshold (or came back under it) and
// forgets peers without a connection or queued envelopes past the retention.
void tcp_transport::impl::check_peers() {
  const auto now = steady::now();
  for (auto it = assocs.begin(); it != assocs.end();) {
    const std::string& address = it->first;
    auto& a = *it->second;
    if (a.detector && a.detector->is_monitoring()) {
      const double phi = a.detector->phi_at(now);
      if (!a.unreachable && phi >= config.failure_detector.threshold) {
        a.unreachable = true;
        const auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(
            now - a.detector->last_heartbeat());
        char text[96];
        std::snprintf(text, sizeof text, "phi %.1f >= threshold %.1f; no heartbeat for %lld ms",
                      phi, config.failure_detector.threshold,
                      static_cast<long long>(silent.count()));
        emit(event_kind::unreachable, address, a.uid, text);
      } else if (a.unreachable && phi < config.failure_detector.threshold) {
        a.unreachable = false;
        emit(event_kind::reachable, address, a.uid, "heartbeats resumed");
      }
    }
    if (a.active || a.dialing) {
      a.idle_since.reset();
      ++it;
      continue;
    }
    if (!a.idle_since)
      a.idle_since = now;
    bool forget = now - *a.idle_since >= config.peer_retention;
    if (forget) {
      std::lock_guard lock(out_mu);
      auto found = out.find(address);
      if (found != out.end()) {
        const auto& ob = found->second;
        forget = ob.count == 0 && ob.pending.empty() && !ob.writable && !ob.flush_posted;
        if (forget)
          out.erase(found);
      }
    }
    if (!forget) {
      ++it;
      continue;
    }
    a.reconnect_timer.cancel();
    it = assocs.erase(it);
  }
}

void tcp_transport::impl::establish(const std::shared_ptr<connection>& c, association& a) {
  if (a.dialing == c)
    a.dialing.reset();
  if (a.dialing) {
    // An inbound connection won the race against our own dial.
    auto old = a.dialing;
    old->close_with(close_reason::duplicate_connection, "the peer's connection is kept", false);
  }
  a.active = c;
  a.uid = c->peer_uid;
  a.system_name = c->peer_system;
  if (!a.detector)
    a.detector.emplace(config.failure_detector);
  a.detector->heartbeat(); // an association counts as a heartbeat
  a.attempts = 0;
  a.reconnect_scheduled = false;
  a.reconnect_timer.cancel();
  c->state = conn_state::established;
  c->last_rx = steady::now();
  {
    std::lock_guard lock(out_mu);
    auto& ob = out_for(c->peer_address);
    ob.writable = true;
    ob.needs_dial = false;
  }
  emit(event_kind::associated, c->peer_address, c->peer_uid, c->initiator ? "outbound" : "inbound");
  c->timer.cancel();
  c->arm_timer(config.heartbeat_interval);
  c->pump();
}

// Removes a connection from its association; reconnects if it was ours or
// envelopes wait for the peer.
std::optional<std::chrono::milliseconds>
tcp_transport::impl::detach(const std::shared_ptr<connection>& c, bool reconnect) {
  if (c->peer_address.empty())
    return std::nullopt;
  auto it = assocs.find(c->peer_address);
  if (it == assocs.end())
    return std::nullopt;
  auto& a = *it->second;
  bool was_ours = false;
  if (a.active == c) {
    a.active.reset();
    was_ours = true;
    std::lock_guard lock(out_mu);
    auto& ob = out_for(c->peer_address);
    ob.writable = false;
    ob.direct_fd = -1;
    if (ob.partial_fd == c->socket.native_handle()) {
      // The connection finishes the frame a sender began before it says
      // anything else (its close frame).
      c->direct_rest = std::move(ob.partial_rest);
      ob.partial_rest.clear();
      ob.partial_fd = -1;
    }
  }
  if (a.dialing == c) {
    a.dialing.reset();
    was_ours = true;
  }
  if (!was_ours || closing || a.active || a.dialing)
    return std::nullopt;
  bool wanted = false;
  {
    std::lock_guard lock(out_mu);
    auto found = out.find(c->peer_address);
    if (found != out.end()) {
      // Dial again if this side dialed before or envelopes wait; otherwise
      // the next `send` dials.
      wanted = reconnect && (c->initiator || found->second.count > 0);
      found->second.needs_dial = !wanted;
    }
  }
  if (!wanted)
    return std::nullopt;
  return schedule_reconnect(c->peer_address, a);
}

std::optional<std::chrono::milliseconds>
tcp_transport::impl::schedule_reconnect(const std::string& address, association& a) {
  if (closing || a.active || a.dialing || a.reconnect_scheduled)
    return std::nullopt;
  auto delay = config.reconnect_min_backoff;
  for (unsigned i = 0; i < a.attempts && delay < config.reconnect_max_backoff; ++i)
    delay *= 2;
  delay = std::min(delay, config.reconnect_max_backoff);
  ++a.attempts;
  a.reconnect_scheduled = true;
  a.reconnect_timer.expires_after(delay);
  a.reconnect_timer.async_wait([this, address](const boost::system::error_code& ec) {
    if (ec || closing)
      return;
    auto it = assocs.find(address);
    if (it == assocs.end())
      return;
    it->second->reconnect_scheduled = false;
    if (!it->second->active && !it->second->dialing)
      dial(address);
  });
  return delay;
}

void tcp_transport::impl::ensure_connected(const std::string& address) {
  if (closing)
    return;
  auto& a = assoc_for(address);
  if (a.active || a.dialing || a.reconnect_scheduled)
    return;
  dial(address);
}

void tcp_transport::impl::dial(const std::string& address) {
  auto [host, port] = parse_address(address); // validated by send
  auto c = std::make_shared<connection>(*this, true);
  c->peer_address = address;
  c->endpoint = address;
  conns.insert(c);
  auto& a = assoc_for(address);
  a.dialing = c;
  if (!a.detector) { // the first dial starts monitoring: a peer never reached is unreachable
    a.detector.emplace(config.failure_detector);
    a.detector->heartbeat();
  }
  dialed.fetch_add(1, std::memory_order_relaxed);
  c->arm_timer(config.handshake_timeout);
  c->socket.async_connect(tcp::endpoint(asio::ip::make_address(host), port),
                          [c](const boost::system::error_code& ec) {
                            if (c->state != conn_state::connecting)
                              return;
                            if (ec) {
                              c->lost(ec.message());
                              return;
                            }
                            boost::system::error_code ignored;
                            c->socket.set_option(tcp::no_delay(true), ignored);
                            c->state = conn_state::handshaking;
                            c->secure([c] {
                              c->start_reading();
                              c->send_control(c->t.own_handshake());
                            });
                          });
}

bool tcp_transport::impl::is_active(const connection& c) const {
  auto it = assocs.find(c.peer_address);
  return it != assocs.end() && it->second->active.get() == &c;
}

bool tcp_transport::impl::partial_on(connection& c) {
  std::lock_guard lock(out_mu);
  auto found = out.find(c.peer_address);
  return found != out.end() && found->second.partial_fd == c.socket.native_handle();
}

bool tcp_transport::impl::write_direct(outbound& ob) {
  if (ob.direct_fd < 0 || ob.pending.empty())
    return false;
  const ssize_t n =
      ::send(ob.direct_fd, ob.pending.data(), ob.pending.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n > 0) {
    bytes_written.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
    writes.fetch_add(1, std::memory_order_relaxed);
    direct_writes.fetch_add(1, std::memory_order_relaxed);
  }
  if (n == static_cast<ssize_t>(ob.pending.size())) {
    ob.pending.clear();
    ob.count = 0;
    return true;
  }
  // A full socket buffer or an error: the io thread writes the rest (and
  // meets the error itself); a frame begun here is finished first.
  if (n > 0) {
    ob.partial_rest.assign(ob.pending, static_cast<std::size_t>(n));
    ob.partial_fd = ob.direct_fd;
    ob.pending.clear();
    ob.count = 0;
  }
  ob.direct_fd = -1;
  return false;
}

void tcp_transport::impl::flush(const std::string& address) {
  auto it = assocs.find(address);
  if (it != assocs.end() && it->second->active)
    it->second->active->pump();
}

void tcp_transport::impl::accept_next() {
  auto c = std::make_shared<connection>(*this, false);
  acceptor.async_accept(c->socket, [this, c](const boost::system::error_code& ec) {
    if (closing || ec == asio::error::operation_aborted)
      return;
    if (ec) {
      // Out of descriptors or the like: try again shortly, without spinning.
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](const boost::system::error_code& wait_ec) {
        if (!wait_ec && !closing)
          accept_next();
      });
      return;
    }
    boost::system::error_code ignored;
    c->socket.set_option(tcp::no_delay(true), ignored);
    const auto remote = c->socket.remote_endpoint(ignored);
    c->endpoint = format_address(remote.address().to_string(), remote.port());
    c->state = conn_state::handshaking;
    conns.insert(c);
    accepted.fetch_add(1, std::memory_order_relaxed);
    c->arm_timer(config.handshake_timeout);
    c->secure([c] { c->start_reading(); });
    accept_next();
  });
}

void tcp_transport::impl::stop_on_io() {
  closing = true;
  boost::system::error_code ignored;
  acceptor.close(ignored);
  accept_retry.cancel();
  check_timer.cancel();
  for (auto& [address, a] : assocs) {
    a->reconnect_timer.cancel();
  }
  const auto all = conns; // close_with and shut erase from conns
  for (const auto& c : all) {
    if (c->state == conn_state::established || c->state == conn_state::handshaking) {
      if (!c->writing && !c->close_after_write && !c->tls && c->direct_rest.empty() &&
          !partial_on(*c)) {
        // One best-effort, non-blocking write of the close frame.
        std::string bytes;
        encode(close_frame{close_reason::shutdown, "transport stopped"}, bytes,
               config.max_frame_size);
        c->socket.non_blocking(true, ignored);
        c->socket.write_some(asio::buffer(bytes), ignored);
      }
    }
    c->shut();
  }
  assocs.clear();
}

tcp_transport::tcp_transport(transport_config config, transport_callbacks callbacks) {
  if (config.system_name.empty() || config.system_name.size() > max_handshake_field)
    throw invalid_config_error("system name must be 1 to 255 bytes");
  if (config.cookie && config.cookie->size() > max_handshake_field)
    throw invalid_config_error("cookie longer than 255 bytes");
  if (config.max_frame_size < min_max_frame_size || config.max_frame_size > max_max_frame_size)
    throw invalid_config_error("max frame size must lie within [" +
                               std::to_string(min_max_frame_size) + ", " +
                               std::to_string(max_max_frame_size) + "]");
  if (config.outbound_queue_limit == 0)
    throw invalid_config_error("outbound queue limit must be positive");
  using ms = std::chrono::milliseconds;
  for (auto [value, name] : {std::pair{config.heartbeat_interval, "heartbeat interval"},
                             std::pair{config.idle_timeout, "idle timeout"},
                             std::pair{config.handshake_timeout, "handshake timeout"},
                             std::pair{config.reconnect_min_backoff, "reconnect min backoff"},
                             std::pair{config.reconnect_max_backoff, "reconnect max backoff"}}) {
    if (value <= ms::zero())
      throw invalid_config_error(std::string(name) + " must be positive");
  }
  if (config.reconnect_max_backoff < config.reconnect_min_backoff)
    throw invalid_config_error("reconnect max backoff is below the min backoff");
  if (config.idle_timeout <= config.heartbeat_interval)
    throw invalid_config_error("idle timeout must exceed the heartbeat interval");
  validate(config.failure_detector);
  if (config.reachability_check_interval <= ms::zero())
    throw invalid_config_error("reachability check interval must be positive");
  if (config.peer_retention <= ms::zero())
    throw invalid_config_error("peer retention must be positive");
  boost::system::error_code ec;
  const auto bind_ip = asio::ip::make_address(config.bind_host, ec);
  if (ec)
    throw invalid_address_error("bind host '" + config.bind_host + "' is not an IP address");
  std::string advertised =
      config.advertised_host.empty() ? bind_ip.to_string() : config.advertised_host;
  if (advertised.size() > max_handshake_field)
    throw invalid_config_error("advertised host longer than 255 bytes");
  impl_ = std::make_unique<impl>(std::move(config), std::move(callbacks));
  impl_->advertised_host = std::move(advertised);
  if (const auto& tls = impl_->config.tls) {
    auto& ctx = impl_->tls.emplace(ssl::context::tls);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    const auto load = [](const char* what, const std::string& file, auto&& fn) {
      if (file.empty())
        throw invalid_config_error(std::string("TLS needs a ") + what);
      boost::system::error_code ec;
      fn(ec);
      if (ec)
        throw invalid_config_error(std::string("TLS ") + what + " '" + file + "': " + ec.message());
    };
    load("certificate chain file", tls->certificate_chain_file,
         [&](auto& ec) { ctx.use_certificate_chain_file(tls->certificate_chain_file, ec); });
    load("private key file", tls->private_key_file,
         [&](auto& ec) { ctx.use_private_key_file(tls->private_key_file, ssl::context::pem, ec); });
    load("CA file", tls->ca_file, [&](auto& ec) { ctx.load_verify_file(tls->ca_file, ec); });
    ctx.set_verify_mode(ssl::verify_peer |
                        (tls->require_peer_certificate ? ssl::verify_fail_if_no_peer_cert : 0));
  }
  impl_->uid = impl_->config.uid != 0 ? impl_->config.uid : random_uid();
}

tcp_transport::~tcp_transport() {
  stop();
}

void tcp_transport::start() {
  auto& t = *impl_;
  {
    std::lock_guard lock(t.out_mu);
    if (t.started || t.stopped)
      throw invalid_config_error("a transport starts once");
  }
  const tcp::endpoint ep(asio::ip::make_address(t.config.bind_host), t.config.bind_port);
  boost::system::error_code ec;
  t.acceptor.open(ep.protocol(), ec);
  if (!ec)
    t.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    t.acceptor.bind(ep, ec);
  if (!ec)
    t.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    t.acceptor.close(ignored);
    throw bind_error("cannot listen on " + format_address(t.config.bind_host, t.config.bind_port) +
                     ": " + ec.message());
  }
  t.bound_port = t.acceptor.local_endpoint().port();
  t.self_address = format_address(t.advertised_host, t.bound_port);
  t.accept_next();
  t.arm_check();
  {
    std::lock_guard lock(t.out_mu);
    t.started = true;
  }
  t.thread = std::thread([&t] {
    auto guard = asio::make_work_guard(t.io);
    (void)guard;
    // An exception escaping a handler (a callback that throws) must not end
    // the io thread: the handler is abandoned and the loop goes on.
    for (;;) {
      try {
        t.io.run();
        return;
      } catch (...) {
      }
    }
  });
}

void tcp_transport::stop() {
  auto& t = *impl_;
  {
    std::lock_guard lock(t.out_mu);
    if (t.stopped)
      return;
    t.stopped = true;
    if (!t.started)
      return;
  }
  asio::post(t.io, [&t] {
    t.stop_on_io();
    t.io.stop();
  });
  if (t.thread.joinable())
    t.thread.join();
  // Report what never reached a socket, decoding our own encoding back.
  std::unordered_map<std::string, outbound> left;
  {
    std::lock_guard lock(t.out_mu);
    left.swap(t.out);
  }
  for (auto& entry : left) {
    const std::string& address = entry.first;
    outbound& ob = entry.second;
    if (ob.pending.empty())
      continue;
    frame_decoder decoder(t.config.max_frame_size);
    decoder.feed(ob.pending.data(), ob.pending.size(), [&](frame&& f) {
      if (auto* env = std::get_if<envelope>(&f)) {
        t.envelopes_dropped.fetch_add(1, std::memory_order_relaxed);
        if (t.callbacks.on_dropped)
          t.callbacks.on_dropped(address, std::move(*env), drop_reason::transport_stopped);
      }
    });
  }
}

std::uint16_t tcp_transport::port() const noexcept {
  return impl_->bound_port;
}

std::string tcp_transport::address() const {
  return impl_->self_address;
}

std::uint64_t tcp_transport::uid() const noexcept {
  return impl_->uid;
}

bool tcp_transport::send(std::string_view to, const envelope& env) {
  return send_impl(to, env, send_mode::wake);
}

bool tcp_transport::send_deferred(std::string_view to, const envelope& env) {
  return send_impl(to, env, send_mode::defer);
}

bool tcp_transport::send_now(std::string_view to, const envelope& env) {
  return send_impl(to, env, send_mode::write);
}

void tcp_transport::flush_deferred() {
  auto& t = *impl_;
  std::vector<std::string> owed;
  {
    std::lock_guard lock(t.out_mu);
    if (t.deferred.empty() || !t.started || t.stopped)
      return;
    for (auto& address : t.deferred) {
      auto found = t.out.find(address);
      if (found == t.out.end())
        continue;
      auto& ob = found->second;
      ob.flush_deferred = false;
      if (ob.writable && !ob.flush_posted && !ob.pending.empty()) {
        if (t.write_direct(ob))
          continue;
        ob.flush_posted = true;
        owed.push_back(std::move(address));
      }
    }
    t.deferred.clear();
  }
  if (owed.empty())
    return;
  asio::post(t.io, [&t, owed = std::move(owed)] {
    for (const auto& address : owed)
      t.flush(address);
  });
}

bool tcp_transport::send_impl(std::string_view to, const envelope& env, send_mode mode) {
  auto& t = *impl_;
  std::unique_lock lock(t.out_mu);
  if (!t.started)
    throw transport_stopped_error("the transport has not been started");
  if (t.stopped) {
    lock.unlock();
    t.envelopes_dropped.fetch_add(1, std::memory_order_relaxed);
    if (t.callbacks.on_dropped)
      t.callbacks.on_dropped(std::string(to), envelope(env), drop_reason::transport_stopped);
    return false;
  }
  auto it = t.out.find(std::string(to));
  if (it == t.out.end()) {
    lock.unlock();
    auto [host, port] = parse_address(to);
    const std::string canonical = format_address(host, port);
    if (canonical != to)
      throw invalid_address_error("address '" + std::string(to) + "' is not canonical; use '" +
                                  canonical + "'");
    if (canonical == t.self_address)
      throw invalid_address_error("'" + canonical + "' is this transport's own address");
    lock.lock();
    it = t.out.try_emplace(canonical).first;
  }
  auto& ob = it->second;
  if (ob.count >= t.config.outbound_queue_limit) {
    lock.unlock();
    t.envelopes_dropped.fetch_add(1, std::memory_order_relaxed);
    if (t.callbacks.on_dropped)
      t.callbacks.on_dropped(std::string(to), envelope(env), drop_reason::queue_full);
    return false;
  }
  encode_envelope(env, ob.pending, t.config.max_frame_size);
  ++ob.count;
  t.envelopes_queued.fetch_add(1, std::memory_order_relaxed);
  if (ob.writable && !ob.flush_posted) {
    if (mode == send_mode::defer && ob.pending.size() < deferred_flush_bytes) {
      if (!ob.flush_deferred) {
        ob.flush_deferred = true;
        t.deferred.push_back(it->first);
      }
    } else if (mode == send_mode::write && t.write_direct(ob)) {
      // written: nothing for the io thread
    } else {
      ob.flush_posted = true;
      asio::post(t.io, [&t, address = it->first] { t.flush(address); });
    }
  } else if (!ob.writable && ob.needs_dial) {
    ob.needs_dial = false;
    asio::post(t.io, [&t, address = it->first] { t.ensure_connected(address); });
  }
  return true;
}

transport_stats tcp_transport::stats() const {
  const auto& t = *impl_;
  transport_stats s;
  s.envelopes_queued = t.envelopes_queued.load(std::memory_order_relaxed);
  s.envelopes_received = t.envelopes_received.load(std::memory_order_relaxed);
  s.envelopes_dropped = t.envelopes_dropped.load(std::memory_order_relaxed);
  s.bytes_written = t.bytes_written.load(std::memory_order_relaxed);
  s.bytes_read = t.bytes_read.load(std::memory_order_relaxed);
  s.writes = t.writes.load(std::memory_order_relaxed);
  s.connections_accepted = t.accepted.load(std::memory_order_relaxed);
  s.connections_dialed = t.dialed.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(impl_->out_mu);
    s.peers = impl_->out.size();
  }
  s.read_pauses = t.read_pauses.load(std::memory_order_relaxed);
  s.direct_writes = t.direct_writes.load(std::memory_order_relaxed);
  return s;
}

void tcp_transport::resume_reading() {
  auto& t = *impl_;
  {
    std::lock_guard lock(t.out_mu);
    if (!t.started || t.stopped)
      return;
  }
  asio::post(t.io, [&t] {
    auto paused = std::move(t.paused);
    t.paused.clear();
    for (auto& weak : paused) {
      auto c = weak.lock();
      if (!c || !c->read_paused)
        continue;
      c->read_paused = false;
      if (c->state == conn_state::closed || c->close_after_write)
        continue;
      c->last_rx = steady::now(); // the peer was not silent: we were not reading
      c->start_reading();
    }
  });
}

} // namespace atomr::remote
