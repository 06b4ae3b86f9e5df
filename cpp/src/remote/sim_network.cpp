#include "atomr/remote/sim_network.hpp"

#include "atomr/remote/error.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <tuple>

namespace atomr::remote {

link_stats& link_stats::operator+=(const link_stats& o) noexcept {
  sent += o.sent;
  delivered += o.delivered;
  dropped += o.dropped;
  blocked += o.blocked;
  undeliverable += o.undeliverable;
  duplicated += o.duplicated;
  reordered += o.reordered;
  bytes += o.bytes;
  return *this;
}

namespace detail {

struct sim_node {
  std::string address;
  std::uint64_t uid = 0;
  std::size_t max_frame_size = default_max_frame_size;
  std::shared_ptr<const transport_callbacks> callbacks;
  sim_heartbeat_config heartbeats;
  // The rest under sim_state::mu.
  bool started = false;
  bool stopped = false;
  transport_stats stats;
  // A peer this transport was associated with: heartbeats go to it and its
  // heartbeats feed the detector. By address; a new incarnation replaces it.
  struct peer {
    std::uint64_t uid = 0;
    std::optional<phi_accrual_failure_detector> detector;
    bool unreachable = false;
  };
  std::map<std::string, peer, std::less<>> peers;
  std::uint64_t heartbeat_seq = 0;
};

enum class item_kind { frame, event, heartbeat, heartbeat_timer, check_timer, user_timer };

// A timer of `sim_network::every`.
struct sim_timer {
  std::uint64_t id = 0;
  sim_duration interval{0};
  std::function<void()> fn;
  bool cancelled = false; // under sim_state::mu
};

// A frame on the wire, or a lifecycle event waiting for the next advance.
struct scheduled {
  sim_duration due{0};
  std::uint64_t seq = 0;
  item_kind kind = item_kind::frame;
  // frame
  std::string from;
  std::uint64_t from_uid = 0;
  std::string to;
  std::uint64_t link_seq = 0;
  std::string bytes;
  // event, timer
  std::shared_ptr<sim_node> observer;
  transport_event event{event_kind::associated, {}, 0, {}, {}};
  // user_timer
  std::shared_ptr<sim_timer> timer;
};

// Heap order: the earliest due first, then the earliest scheduled.
struct later {
  bool operator()(const scheduled& a, const scheduled& b) const noexcept {
    return std::tie(a.due, a.seq) > std::tie(b.due, b.seq);
  }
};

struct link_state {
  std::optional<link_faults> faults;
  link_stats stats;
  std::uint64_t next_seq = 0;
  // The latest in-order arrival scheduled so far (jitter never passes it).
  sim_duration fifo_due{0};
  std::uint64_t max_delivered_seq = 0;
  bool any_delivered = false;
};

using link_key = std::pair<std::string, std::string>;

struct sim_state {
  explicit sim_state(std::uint64_t s)
    : seed(s)
    , rng(s)
    , heartbeat_rng(s ^ 0x9e3779b97f4a7c15ULL) {
  }

  mutable std::mutex mu;  // everything below
  std::mutex advance_mu;  // one advancing thread at a time
  std::mutex callback_mu; // held while one delivery's callbacks run
  std::atomic<std::thread::id> delivering{};

  std::uint64_t seed;
  std::mt19937_64 rng;
  // Heartbeats draw from their own stream, so they do not change the faults
  // envelopes get.
  std::mt19937_64 heartbeat_rng;
  sim_duration now{0};
  std::uint64_t next_seq = 0;
  std::vector<scheduled> heap;
  // Frames and events in `heap` (heartbeats and timers not counted).
  std::size_t payload = 0;
  link_faults defaults;
  std::map<link_key, link_state> links;
  std::set<link_key> partitions; // (min, max) of the two addresses
  std::map<std::string, std::shared_ptr<sim_node>, std::less<>> nodes;
  // (observer, peer): `observer` was told it is associated with `peer`.
  std::set<std::pair<const sim_node*, const sim_node*>> associations;
  // The live timers of `every`, by id.
  std::map<std::uint64_t, std::shared_ptr<sim_timer>> timers;
  std::uint64_t next_timer_id = 1;

  // Uniform in [0, 1), from the top 53 bits (the same on every platform).
  static double unit(std::mt19937_64& g) {
    return static_cast<double>(g() >> 11) * 0x1.0p-53;
  }
  bool chance(double p) {
    return chance(rng, p);
  }
  static bool chance(std::mt19937_64& g, double p) {
    if (p <= 0.0) {
      return false;
    }
    if (p >= 1.0) {
      return true;
    }
    return unit(g) < p;
  }
  sim_duration uniform(sim_duration max) {
    return uniform(rng, max);
  }
  static sim_duration uniform(std::mt19937_64& g, sim_duration max) {
    if (max.count() <= 0) {
      return sim_duration{0};
    }
    const auto span = static_cast<std::uint64_t>(max.count()) + 1;
    return sim_duration{static_cast<sim_duration::rep>(g() % span)};
  }
  static bool counts(item_kind k) noexcept {
    return k == item_kind::frame || k == item_kind::event;
  }

  static link_key unordered(std::string_view a, std::string_view b) {
    return a < b ? link_key{std::string(a), std::string(b)}
                 : link_key{std::string(b), std::string(a)};
  }
  bool is_partitioned(std::string_view a, std::string_view b) const {
    return !partitions.empty() && partitions.count(unordered(a, b)) != 0;
  }

  void push(scheduled&& item) {
    item.seq = next_seq++;
    if (counts(item.kind)) {
      ++payload;
    }
    heap.push_back(std::move(item));
    std::push_heap(heap.begin(), heap.end(), later{});
  }
  scheduled pop() {
    std::pop_heap(heap.begin(), heap.end(), later{});
    scheduled out = std::move(heap.back());
    heap.pop_back();
    if (counts(out.kind)) {
      --payload;
    }
    return out;
  }

  void schedule_event(const std::shared_ptr<sim_node>& observer, event_kind kind,
                      const sim_node& peer, std::string detail) {
    scheduled item;
    item.due = now;
    item.kind = item_kind::event;
    item.observer = observer;
    item.event = transport_event{kind, peer.address, peer.uid, std::move(detail), {}};
    push(std::move(item));
  }

  std::shared_ptr<sim_node> live(std::string_view address) const {
    auto it = nodes.find(address);
    return it == nodes.end() ? nullptr : it->second;
  }

  std::chrono::steady_clock::time_point virtual_time() const {
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(now));
  }

  // `observer` heard from `peer` (an association or a heartbeat) now.
  void arrival(sim_node& observer, const sim_node& peer) {
    if (!observer.heartbeats.enabled) {
      return;
    }
    auto& p = observer.peers[peer.address];
    if (p.uid != peer.uid) {
      p.uid = peer.uid;
      p.detector.reset();
      p.unreachable = false;
    }
    if (!p.detector) {
      p.detector.emplace(observer.heartbeats.failure_detector, [this] { return virtual_time(); });
    }
    p.detector->heartbeat();
  }

  void schedule_timer(const std::shared_ptr<sim_node>& node, item_kind kind,
                      std::chrono::milliseconds after) {
    scheduled item;
    item.due = now + after;
    item.kind = kind;
    item.observer = node;
    push(std::move(item));
  }

  // Puts a heartbeat from `from` to each of its peers on the network.
  void send_heartbeats(sim_node& from) {
    for (const auto& [address, p] : from.peers) {
      std::string bytes;
      encode(frame{heartbeat{++from.heartbeat_seq}}, bytes, from.max_frame_size);
      if (is_partitioned(from.address, address)) {
        continue;
      }
      auto it = links.find(link_key{from.address, address});
      const link_faults& f = it != links.end() && it->second.faults ? *it->second.faults : defaults;
      if (chance(heartbeat_rng, f.drop)) {
        continue;
      }
      const int copies = chance(heartbeat_rng, f.duplicate) ? 2 : 1;
      for (int copy = 0; copy < copies; ++copy) {
        scheduled item;
        item.kind = item_kind::heartbeat;
        item.due =
            now + f.delay + uniform(heartbeat_rng, f.jitter) + uniform(heartbeat_rng, f.reorder);
        item.from = from.address;
        item.from_uid = from.uid;
        item.to = address;
        item.bytes = bytes;
        push(std::move(item));
      }
    }
  }

  // Ends the association of `a` and `b` (if either side knows of it),
  // telling each side that knew at the next advance.
  void disassociate(const std::shared_ptr<sim_node>& a, const std::shared_ptr<sim_node>& b,
                    const std::string& detail) {
    if (associations.erase({a.get(), b.get()}) != 0 && !a->stopped) {
      schedule_event(a, event_kind::disassociated, *b, detail);
    }
    if (associations.erase({b.get(), a.get()}) != 0 && !b->stopped) {
      schedule_event(b, event_kind::disassociated, *a, detail);
    }
  }
};

} // namespace detail

namespace {

using detail::scheduled;
using detail::sim_node;
using detail::sim_state;

void check_address(std::string_view address) {
  if (address.empty() || address.size() > max_handshake_field) {
    throw invalid_address_error("a simulated address must have 1..255 bytes, got " +
                                std::to_string(address.size()));
  }
  for (const char c : address) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      throw invalid_address_error("a simulated address may not contain spaces or control "
                                  "characters: `" +
                                  std::string(address) + "`");
    }
  }
}

void check_faults(const link_faults& f) {
  const auto probability = [](double p, const char* what) {
    if (!(p >= 0.0 && p <= 1.0)) {
      throw invalid_config_error(std::string(what) + " must be a probability within 0..1, got " +
                                 std::to_string(p));
    }
  };
  probability(f.drop, "drop");
  probability(f.duplicate, "duplicate");
  const auto non_negative = [](sim_duration d, const char* what) {
    if (d.count() < 0) {
      throw invalid_config_error(std::string(what) + " must not be negative");
    }
  };
  non_negative(f.delay, "delay");
  non_negative(f.jitter, "jitter");
  non_negative(f.reorder, "reorder");
}

// What one popped item does once the state lock is released.
struct delivery {
  struct note {
    std::shared_ptr<const transport_callbacks> callbacks;
    transport_event event;
  };
  std::vector<note> events;
  std::shared_ptr<const transport_callbacks> receiver;
  std::optional<inbound_envelope> envelope;
  std::shared_ptr<detail::sim_timer> timer;
};

// Reports the peers of `node` whose phi crossed the threshold (or came back
// under it).
void check_peers(sim_state& st, sim_node& node, delivery& d) {
  const auto now = st.virtual_time();
  const double threshold = node.heartbeats.failure_detector.threshold;
  for (auto& [address, p] : node.peers) {
    if (!p.detector || !p.detector->is_monitoring()) {
      continue;
    }
    const double phi = p.detector->phi_at(now);
    if (!p.unreachable && phi >= threshold) {
      p.unreachable = true;
      const auto silent =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - p.detector->last_heartbeat());
      char text[96];
      std::snprintf(text, sizeof text, "phi %.1f >= threshold %.1f; no heartbeat for %lld ms", phi,
                    threshold, static_cast<long long>(silent.count()));
      d.events.push_back(
          {node.callbacks, transport_event{event_kind::unreachable, address, p.uid, text, {}}});
    } else if (p.unreachable && phi < threshold) {
      p.unreachable = false;
      d.events.push_back(
          {node.callbacks,
           transport_event{event_kind::reachable, address, p.uid, "heartbeats resumed", {}}});
    }
  }
}

// A heartbeat frame due now: lost to a partition made since it was sent,
// else it feeds the receiver's detector for the sender's incarnation.
void receive_heartbeat(sim_state& st, const scheduled& item) {
  if (st.is_partitioned(item.from, item.to)) {
    return;
  }
  const auto node = st.live(item.to);
  if (!node || !node->started || !node->heartbeats.enabled) {
    return;
  }
  frame decoded;
  try {
    decoded = decode(item.bytes, node->max_frame_size);
  } catch (const error&) {
    return;
  }
  if (std::get_if<heartbeat>(&decoded) == nullptr) {
    return;
  }
  auto it = node->peers.find(item.from);
  if (it != node->peers.end() && it->second.uid == item.from_uid) {
    it->second.detector->heartbeat();
    return;
  }
  // From an incarnation not (yet) known here: only a live one counts.
  const auto sender = st.live(item.from);
  if (sender && sender->uid == item.from_uid && !sender->stopped) {
    st.arrival(*node, *sender);
  }
}

// Resolves a popped item under the state lock.
delivery resolve(sim_state& st, scheduled&& item) {
  delivery d;
  switch (item.kind) {
  case detail::item_kind::event:
    if (!item.observer->stopped) {
      d.events.push_back({item.observer->callbacks, std::move(item.event)});
    }
    return d;
  case detail::item_kind::heartbeat_timer:
    if (!item.observer->stopped) {
      st.send_heartbeats(*item.observer);
      st.schedule_timer(item.observer, detail::item_kind::heartbeat_timer,
                        item.observer->heartbeats.heartbeat_interval);
    }
    return d;
  case detail::item_kind::check_timer:
    if (!item.observer->stopped) {
      check_peers(st, *item.observer, d);
      st.schedule_timer(item.observer, detail::item_kind::check_timer,
                        item.observer->heartbeats.reachability_check_interval);
    }
    return d;
  case detail::item_kind::heartbeat:
    receive_heartbeat(st, item);
    return d;
  case detail::item_kind::user_timer:
    if (!item.timer->cancelled) {
      scheduled next;
      next.due = st.now + item.timer->interval;
      next.kind = detail::item_kind::user_timer;
      next.timer = item.timer;
      st.push(std::move(next));
      d.timer = std::move(item.timer);
    }
    return d;
  case detail::item_kind::frame:
    break;
  }
  auto& link = st.links[{item.from, item.to}];
  if (st.is_partitioned(item.from, item.to)) {
    ++link.stats.blocked;
    return d;
  }
  const auto node = st.live(item.to);
  if (!node || !node->started) {
    ++link.stats.undeliverable;
    return d;
  }
  frame decoded;
  try {
    decoded = decode(item.bytes, node->max_frame_size);
  } catch (const error& e) {
    ++link.stats.undeliverable;
    d.events.push_back(
        {node->callbacks,
         transport_event{event_kind::malformed_frame, item.from, item.from_uid, e.what(), {}}});
    return d;
  }
  auto* env = std::get_if<envelope>(&decoded);
  if (env == nullptr) {
    ++link.stats.undeliverable;
    return d;
  }
  ++link.stats.delivered;
  if (link.any_delivered && item.link_seq < link.max_delivered_seq) {
    ++link.stats.reordered;
  } else {
    link.max_delivered_seq = item.link_seq;
    link.any_delivered = true;
  }
  ++node->stats.envelopes_received;
  node->stats.bytes_read += item.bytes.size();
  const auto sender = st.live(item.from);
  if (sender && sender->uid == item.from_uid && !sender->stopped) {
    if (st.associations.insert({node.get(), sender.get()}).second) {
      st.arrival(*node, *sender);
      d.events.push_back(
          {node->callbacks,
           transport_event{event_kind::associated, sender->address, sender->uid, {}, {}}});
    }
    if (st.associations.insert({sender.get(), node.get()}).second) {
      st.arrival(*sender, *node);
      d.events.push_back(
          {sender->callbacks,
           transport_event{event_kind::associated, node->address, node->uid, {}, {}}});
    }
  }
  d.receiver = node->callbacks;
  d.envelope.emplace();
  d.envelope->from = std::move(item.from);
  d.envelope->from_uid = item.from_uid;
  d.envelope->env = std::move(*env);
  return d;
}

// Runs the callbacks of one delivery; a throwing callback loses only its item.
void run(sim_state& st, delivery& d) {
  if (d.timer) {
    {
      std::lock_guard<std::mutex> lock(st.mu);
      if (d.timer->cancelled) {
        return;
      }
    }
    try {
      d.timer->fn();
    } catch (...) {
    }
    return;
  }
  for (auto& n : d.events) {
    if (n.callbacks->on_event) {
      try {
        n.callbacks->on_event(n.event);
      } catch (...) {
      }
    }
  }
  if (d.envelope && d.receiver->on_envelope) {
    try {
      d.receiver->on_envelope(std::move(*d.envelope));
    } catch (...) {
    }
  }
}

// Delivers items due by `target` (everything, without one) until `max`
// envelopes were delivered.
std::size_t deliver(sim_state& st, std::optional<sim_duration> target, std::size_t max) {
  const auto self = std::this_thread::get_id();
  if (st.delivering.load() == self) {
    throw error("a simulated network cannot be advanced from one of its own callbacks");
  }
  std::lock_guard<std::mutex> advancing(st.advance_mu);
  st.delivering.store(self);
  struct reset {
    sim_state& st;
    ~reset() {
      st.delivering.store(std::thread::id{});
    }
  } reset_delivering{st};
  std::size_t delivered = 0;
  while (delivered < max) {
    std::lock_guard<std::mutex> callbacks(st.callback_mu);
    delivery d;
    {
      std::lock_guard<std::mutex> lock(st.mu);
      if (st.heap.empty() || (target && st.heap.front().due > *target) ||
          (!target && st.payload == 0)) {
        break;
      }
      scheduled item = st.pop();
      st.now = std::max(st.now, item.due);
      d = resolve(st, std::move(item));
    }
    if (d.envelope) {
      ++delivered;
    }
    run(st, d);
  }
  if (target) {
    std::lock_guard<std::mutex> lock(st.mu);
    st.now = std::max(st.now, *target);
  }
  return delivered;
}

} // namespace

// -- sim_transport -------------------------------------------------------------------

sim_transport::sim_transport(std::shared_ptr<detail::sim_state> net,
                             std::shared_ptr<detail::sim_node> self)
  : net_(std::move(net))
  , self_(std::move(self)) {
}

sim_transport::~sim_transport() {
  stop();
}

void sim_transport::start() {
  std::lock_guard<std::mutex> lock(net_->mu);
  if (self_->started) {
    throw error("the simulated transport at " + self_->address + " was already started");
  }
  if (self_->stopped) {
    throw transport_stopped_error("the simulated transport at " + self_->address + " has stopped");
  }
  self_->started = true;
  if (self_->heartbeats.enabled) {
    net_->schedule_timer(self_, detail::item_kind::heartbeat_timer,
                         self_->heartbeats.heartbeat_interval);
    net_->schedule_timer(self_, detail::item_kind::check_timer,
                         self_->heartbeats.reachability_check_interval);
  }
}

void sim_transport::stop() {
  auto& st = *net_;
  // No callback of this transport starts once stop returns (unless called
  // from a callback, which is then the one running).
  std::unique_lock<std::mutex> callbacks(st.callback_mu, std::defer_lock);
  if (st.delivering.load() != std::this_thread::get_id()) {
    callbacks.lock();
  }
  std::lock_guard<std::mutex> lock(st.mu);
  if (self_->stopped) {
    return;
  }
  self_->stopped = true;
  auto it = st.nodes.find(self_->address);
  if (it != st.nodes.end() && it->second == self_) {
    st.nodes.erase(it);
  }
  std::vector<std::shared_ptr<sim_node>> peers;
  for (const auto& [observer, peer] : st.associations) {
    if (observer == self_.get()) {
      for (const auto& [address, node] : st.nodes) {
        if (node.get() == peer) {
          peers.push_back(node);
        }
      }
    }
  }
  for (const auto& peer : peers) {
    st.disassociate(self_, peer, "the peer stopped");
  }
  // Pairs whose other side already stopped.
  for (auto a = st.associations.begin(); a != st.associations.end();) {
    if (a->first == self_.get() || a->second == self_.get()) {
      a = st.associations.erase(a);
    } else {
      ++a;
    }
  }
}

std::string sim_transport::address() const {
  return self_->address;
}

std::uint64_t sim_transport::uid() const noexcept {
  return self_->uid;
}

bool sim_transport::send(std::string_view to, const envelope& env) {
  check_address(to);
  if (to == self_->address) {
    throw invalid_address_error("cannot send to this transport's own address " + self_->address);
  }
  std::string bytes;
  bytes.reserve(encoded_size(env));
  encode_envelope(env, bytes, self_->max_frame_size);
  auto& st = *net_;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    if (!self_->started && !self_->stopped) {
      throw transport_stopped_error("the simulated transport at " + self_->address +
                                    " was not started");
    }
    if (!self_->stopped) {
      auto& link = st.links[{self_->address, std::string(to)}];
      ++link.stats.sent;
      link.stats.bytes += bytes.size();
      ++self_->stats.envelopes_queued;
      ++self_->stats.writes;
      self_->stats.bytes_written += bytes.size();
      const std::uint64_t link_seq = link.next_seq++;
      if (st.is_partitioned(self_->address, to)) {
        ++link.stats.blocked;
        return true;
      }
      const link_faults& f = link.faults ? *link.faults : st.defaults;
      if (st.chance(f.drop)) {
        ++link.stats.dropped;
        return true;
      }
      const bool twice = st.chance(f.duplicate);
      for (int copy = 0; copy < (twice ? 2 : 1); ++copy) {
        sim_duration in_order = st.now + f.delay + st.uniform(f.jitter);
        in_order = std::max(in_order, link.fifo_due);
        link.fifo_due = in_order;
        scheduled item;
        item.due = in_order + st.uniform(f.reorder);
        item.from = self_->address;
        item.from_uid = self_->uid;
        item.to = std::string(to);
        item.link_seq = link_seq;
        item.bytes = copy == 0 && !twice ? std::move(bytes) : bytes;
        st.push(std::move(item));
      }
      if (twice) {
        ++link.stats.duplicated;
      }
      return true;
    }
    ++self_->stats.envelopes_dropped;
  }
  if (self_->callbacks->on_dropped) {
    envelope copy = env;
    self_->callbacks->on_dropped(std::string(to), std::move(copy), drop_reason::transport_stopped);
  }
  return false;
}

transport_stats sim_transport::stats() const {
  std::lock_guard<std::mutex> lock(net_->mu);
  return self_->stats;
}

// -- sim_network ---------------------------------------------------------------------

sim_network::sim_network(std::uint64_t seed)
  : state_(std::make_shared<sim_state>(seed)) {
}

sim_network::~sim_network() = default;

std::unique_ptr<sim_transport> sim_network::attach(std::string address,
                                                   transport_callbacks callbacks, std::uint64_t uid,
                                                   std::size_t max_frame_size,
                                                   sim_heartbeat_config heartbeats) {
  check_address(address);
  if (max_frame_size < min_max_frame_size || max_frame_size > max_max_frame_size) {
    throw invalid_config_error("max_frame_size must lie within 1 KiB..1 GiB, got " +
                               std::to_string(max_frame_size));
  }
  if (heartbeats.heartbeat_interval.count() <= 0 ||
      heartbeats.reachability_check_interval.count() <= 0) {
    throw invalid_config_error("the heartbeat and reachability check intervals must be positive");
  }
  validate(heartbeats.failure_detector);
  auto node = std::make_shared<sim_node>();
  node->address = address;
  node->max_frame_size = max_frame_size;
  node->callbacks = std::make_shared<const transport_callbacks>(std::move(callbacks));
  node->heartbeats = heartbeats;
  auto& st = *state_;
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.nodes.count(address) != 0) {
    throw bind_error("the simulated address " + address + " is in use");
  }
  while (uid == 0) {
    uid = st.rng();
  }
  node->uid = uid;
  // Peers that knew an earlier incarnation here quarantine it.
  for (const auto& [other_address, other] : st.nodes) {
    auto known = other->peers.find(address);
    if (known != other->peers.end() && known->second.uid != uid) {
      const std::uint64_t old_uid = known->second.uid;
      other->peers.erase(known);
      scheduled item;
      item.due = st.now;
      item.kind = detail::item_kind::event;
      item.observer = other;
      item.event = transport_event{
          event_kind::quarantined, address, old_uid, "a new incarnation replaced this one", {}};
      st.push(std::move(item));
    }
  }
  st.nodes.emplace(std::move(address), node);
  return std::unique_ptr<sim_transport>(new sim_transport(state_, std::move(node)));
}

std::uint64_t sim_network::seed() const noexcept {
  return state_->seed;
}

sim_duration sim_network::now() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->now;
}

std::size_t sim_network::advance(sim_duration by) {
  if (by.count() < 0) {
    throw invalid_config_error("cannot advance virtual time by a negative duration");
  }
  sim_duration target;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->now > sim_duration::max() - by) {
      throw invalid_config_error("advancing by this would overflow the virtual clock");
    }
    target = state_->now + by;
  }
  return deliver(*state_, target, std::numeric_limits<std::size_t>::max());
}

std::size_t sim_network::run_until_idle(std::size_t max_deliveries) {
  return deliver(*state_, std::nullopt, max_deliveries);
}

std::size_t sim_network::in_flight() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->payload;
}

std::optional<sim_duration> sim_network::next_due() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::optional<sim_duration> due;
  for (const auto& item : state_->heap) {
    if (sim_state::counts(item.kind) && (!due || item.due < *due)) {
      due = item.due;
    }
  }
  return due;
}

std::uint64_t sim_network::every(sim_duration interval, std::function<void()> fn,
                                 std::optional<sim_duration> first) {
  if (interval.count() <= 0 || (first && first->count() < 0)) {
    throw invalid_config_error("a timer needs a positive interval and a non-negative first delay");
  }
  auto timer = std::make_shared<detail::sim_timer>();
  timer->interval = interval;
  timer->fn = std::move(fn);
  auto& st = *state_;
  std::lock_guard<std::mutex> lock(st.mu);
  timer->id = st.next_timer_id++;
  scheduled item;
  item.due = st.now + first.value_or(interval);
  item.kind = detail::item_kind::user_timer;
  item.timer = timer;
  st.push(std::move(item));
  st.timers.emplace(timer->id, timer);
  return timer->id;
}

void sim_network::cancel(std::uint64_t id) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->timers.find(id);
  if (it != state_->timers.end()) {
    it->second->cancelled = true;
    state_->timers.erase(it);
  }
}

void sim_network::set_default_faults(const link_faults& faults) {
  check_faults(faults);
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->defaults = faults;
}

void sim_network::set_link(std::string_view from, std::string_view to, const link_faults& faults) {
  check_address(from);
  check_address(to);
  check_faults(faults);
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->links[{std::string(from), std::string(to)}].faults = faults;
}

void sim_network::clear_link(std::string_view from, std::string_view to) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->links.find({std::string(from), std::string(to)});
  if (it != state_->links.end()) {
    it->second.faults.reset();
  }
}

link_faults sim_network::faults(std::string_view from, std::string_view to) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->links.find({std::string(from), std::string(to)});
  if (it != state_->links.end() && it->second.faults) {
    return *it->second.faults;
  }
  return state_->defaults;
}

void sim_network::partition(std::string_view a, std::string_view b) {
  check_address(a);
  check_address(b);
  if (a == b) {
    throw invalid_address_error("cannot partition an address from itself: " + std::string(a));
  }
  auto& st = *state_;
  std::lock_guard<std::mutex> lock(st.mu);
  st.partitions.insert(sim_state::unordered(a, b));
  const auto na = st.live(a);
  const auto nb = st.live(b);
  if (na && nb) {
    st.disassociate(na, nb, "partitioned");
  }
}

void sim_network::partition_groups(const std::vector<std::string>& a,
                                   const std::vector<std::string>& b) {
  for (const auto& x : a) {
    for (const auto& y : b) {
      if (x == y) {
        throw invalid_address_error("an address cannot be in both groups: " + x);
      }
    }
  }
  for (const auto& x : a) {
    for (const auto& y : b) {
      partition(x, y);
    }
  }
}

void sim_network::heal() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->partitions.clear();
}

void sim_network::heal(std::string_view a, std::string_view b) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->partitions.erase(sim_state::unordered(a, b));
}

bool sim_network::partitioned(std::string_view a, std::string_view b) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->is_partitioned(a, b);
}

link_stats sim_network::stats(std::string_view from, std::string_view to) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->links.find({std::string(from), std::string(to)});
  return it == state_->links.end() ? link_stats{} : it->second.stats;
}

std::map<std::pair<std::string, std::string>, link_stats> sim_network::all_stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::map<std::pair<std::string, std::string>, link_stats> out;
  for (const auto& [key, link] : state_->links) {
    if (link.stats.sent != 0) {
      out.emplace(key, link.stats);
    }
  }
  return out;
}

link_stats sim_network::total_stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  link_stats total;
  for (const auto& [key, link] : state_->links) {
    total += link.stats;
  }
  return total;
}

std::vector<std::string> sim_network::addresses() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<std::string> out;
  for (const auto& [address, node] : state_->nodes) {
    out.push_back(address);
  }
  return out;
}

} // namespace atomr::remote
