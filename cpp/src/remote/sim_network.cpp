#include "atomr/remote/sim_network.hpp"

#include "atomr/remote/error.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
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
  // The rest under sim_state::mu.
  bool started = false;
  bool stopped = false;
  transport_stats stats;
};

// A frame on the wire, or a lifecycle event waiting for the next advance.
struct scheduled {
  sim_duration due{0};
  std::uint64_t seq = 0;
  bool is_event = false;
  // frame
  std::string from;
  std::uint64_t from_uid = 0;
  std::string to;
  std::uint64_t link_seq = 0;
  std::string bytes;
  // event
  std::shared_ptr<sim_node> observer;
  transport_event event{event_kind::associated, {}, 0, {}, {}};
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
    , rng(s) {
  }

  mutable std::mutex mu;  // everything below
  std::mutex advance_mu;  // one advancing thread at a time
  std::mutex callback_mu; // held while one delivery's callbacks run
  std::atomic<std::thread::id> delivering{};

  std::uint64_t seed;
  std::mt19937_64 rng;
  sim_duration now{0};
  std::uint64_t next_seq = 0;
  std::vector<scheduled> heap;
  link_faults defaults;
  std::map<link_key, link_state> links;
  std::set<link_key> partitions; // (min, max) of the two addresses
  std::map<std::string, std::shared_ptr<sim_node>, std::less<>> nodes;
  // (observer, peer): `observer` was told it is associated with `peer`.
  std::set<std::pair<const sim_node*, const sim_node*>> associations;

  // Uniform in [0, 1), from the top 53 bits (the same on every platform).
  double unit() {
    return static_cast<double>(rng() >> 11) * 0x1.0p-53;
  }
  bool chance(double p) {
    if (p <= 0.0) {
      return false;
    }
    if (p >= 1.0) {
      return true;
    }
    return unit() < p;
  }
  sim_duration uniform(sim_duration max) {
    if (max.count() <= 0) {
      return sim_duration{0};
    }
    const auto span = static_cast<std::uint64_t>(max.count()) + 1;
    return sim_duration{static_cast<sim_duration::rep>(rng() % span)};
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
    heap.push_back(std::move(item));
    std::push_heap(heap.begin(), heap.end(), later{});
  }
  scheduled pop() {
    std::pop_heap(heap.begin(), heap.end(), later{});
    scheduled out = std::move(heap.back());
    heap.pop_back();
    return out;
  }

  void schedule_event(const std::shared_ptr<sim_node>& observer, event_kind kind,
                      const sim_node& peer, std::string detail) {
    scheduled item;
    item.due = now;
    item.is_event = true;
    item.observer = observer;
    item.event = transport_event{kind, peer.address, peer.uid, std::move(detail), {}};
    push(std::move(item));
  }

  std::shared_ptr<sim_node> live(std::string_view address) const {
    auto it = nodes.find(address);
    return it == nodes.end() ? nullptr : it->second;
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
};

// Resolves a popped item under the state lock.
delivery resolve(sim_state& st, scheduled&& item) {
  delivery d;
  if (item.is_event) {
    if (!item.observer->stopped) {
      d.events.push_back({item.observer->callbacks, std::move(item.event)});
    }
    return d;
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
      d.events.push_back(
          {node->callbacks,
           transport_event{event_kind::associated, sender->address, sender->uid, {}, {}}});
    }
    if (st.associations.insert({sender.get(), node.get()}).second) {
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
void run(delivery& d) {
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
      if (st.heap.empty() || (target && st.heap.front().due > *target)) {
        break;
      }
      scheduled item = st.pop();
      st.now = std::max(st.now, item.due);
      d = resolve(st, std::move(item));
    }
    if (d.envelope) {
      ++delivered;
    }
    run(d);
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
                                                   std::size_t max_frame_size) {
  check_address(address);
  if (max_frame_size < min_max_frame_size || max_frame_size > max_max_frame_size) {
    throw invalid_config_error("max_frame_size must lie within 1 KiB..1 GiB, got " +
                               std::to_string(max_frame_size));
  }
  auto node = std::make_shared<sim_node>();
  node->address = address;
  node->max_frame_size = max_frame_size;
  node->callbacks = std::make_shared<const transport_callbacks>(std::move(callbacks));
  auto& st = *state_;
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.nodes.count(address) != 0) {
    throw bind_error("the simulated address " + address + " is in use");
  }
  while (uid == 0) {
    uid = st.rng();
  }
  node->uid = uid;
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
  return state_->heap.size();
}

std::optional<sim_duration> sim_network::next_due() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->heap.empty()) {
    return std::nullopt;
  }
  return state_->heap.front().due;
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
