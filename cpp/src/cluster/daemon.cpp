#include "atomr/cluster/daemon.hpp"

#include "atomr/cluster/error.hpp"
#include "atomr/cluster/gossip_codec.hpp"
#include "atomr/cluster/protocol.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

namespace atomr::cluster {

namespace {

using nanos = std::chrono::nanoseconds;
namespace proto = protocol;

// Ticks a downed self waits for its down to spread before it shuts down
// (unless every downed member has seen it or is unreachable earlier).
constexpr int max_ticks_before_self_shutdown = 4;
// Members a downed self gossips to right before it shuts down.
constexpr int gossips_before_self_shutdown = 5;

cluster_event make_event(cluster_event::kind_t kind, member subject = {}) {
  cluster_event ev{kind,         std::move(subject), member_status::removed,
                   std::nullopt, std::nullopt,       false};
  return ev;
}

bool is_up_or_leaving(member_status s) {
  return s == member_status::up || s == member_status::leaving;
}

std::string default_transport_address(const std::string& address) {
  const auto parts = parse_address(address);
  if (!parts || parts->host.empty())
    return address;
  if (parts->host.find(':') != std::string::npos)
    return "[" + parts->host + "]:" + std::to_string(parts->port);
  return parts->host + ":" + std::to_string(parts->port);
}

sbr::member_status to_sbr(member_status s) {
  switch (s) {
  case member_status::joining:
    return sbr::member_status::joining;
  case member_status::weakly_up:
    return sbr::member_status::weakly_up;
  case member_status::up:
    return sbr::member_status::up;
  case member_status::leaving:
    return sbr::member_status::leaving;
  case member_status::exiting:
    return sbr::member_status::exiting;
  case member_status::down:
    return sbr::member_status::down;
  case member_status::removed:
    break;
  }
  return sbr::member_status::removed;
}

cluster_event::kind_t event_of(member_status s) {
  switch (s) {
  case member_status::joining:
    return cluster_event::kind_t::member_joined;
  case member_status::weakly_up:
    return cluster_event::kind_t::member_weakly_up;
  case member_status::up:
    return cluster_event::kind_t::member_up;
  case member_status::leaving:
    return cluster_event::kind_t::member_left;
  case member_status::exiting:
    return cluster_event::kind_t::member_exited;
  case member_status::down:
    return cluster_event::kind_t::member_downed;
  case member_status::removed:
    break;
  }
  return cluster_event::kind_t::member_removed;
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

std::set<unique_address> down_nodes(const gossip& g) {
  std::set<unique_address> out;
  for (const auto& m : g.members())
    if (m.status == member_status::down)
      out.insert(m.node);
  return out;
}

// Members some non-down observer sees as unreachable (or terminated), self
// excluded: the unreachable members events and SBR talk about.
std::set<unique_address> unreachable_set(const gossip& g, const unique_address& self) {
  auto out = g.overview().reachability.all_unreachable_or_terminated_excluding(down_nodes(g));
  out.erase(self);
  return out;
}

void check_address(const std::string& address, const char* what) {
  if (!parse_address(address))
    throw invalid_argument_error(std::string(what) + " is not a cluster address: `" + address +
                                 "`");
}

} // namespace

struct cluster_daemon::impl {
  enum class phase { idle, seeking, joining };

  impl(daemon_config c, clock_fn clk, daemon_callbacks callbacks)
    : cfg(std::move(c))
    , clock(std::move(clk))
    , cb(std::move(callbacks)) {
    check_address(cfg.self.address, "the daemon's own address");
    if (cfg.self.uid == 0)
      throw invalid_argument_error("the daemon's uid must not be 0");
    if (cfg.gossip_interval.count() <= 0 || cfg.heartbeat_interval.count() <= 0 ||
        cfg.seed_node_timeout.count() <= 0 || cfg.retry_unsuccessful_join_after.count() <= 0)
      throw invalid_argument_error("the daemon's intervals and timeouts must be positive");
    if (!(cfg.gossip_different_view_probability >= 0.0 &&
          cfg.gossip_different_view_probability <= 1.0))
      throw invalid_argument_error("gossip_different_view_probability must lie within 0..1");
    if (cfg.monitored_by_nr_of_members < 1)
      throw invalid_argument_error("monitored_by_nr_of_members must be at least 1");
    if (!clock)
      throw invalid_argument_error("the daemon needs a clock");
    remote::validate(cfg.failure_detector);
    if (cfg.sbr) {
      try {
        resolver.emplace(*cfg.sbr, cfg.lease);
      } catch (const std::invalid_argument& e) {
        throw invalid_argument_error(std::string("split brain resolver: ") + e.what());
      }
    }
    if (!cfg.transport_address)
      cfg.transport_address = default_transport_address;
    rng.seed(cfg.self.uid ^ fnv1a(cfg.self.address));
    g.put(member::joining(cfg.self, cfg.roles));
    last_converged = false;
  }

  daemon_config cfg;
  clock_fn clock;
  daemon_callbacks cb;

  mutable std::mutex mu;
  // Event delivery: events are queued under `mu` in change order and
  // drained by one thread at a time.
  std::mutex dispatch_mu;
  std::atomic<std::thread::id> dispatching{};
  std::deque<cluster_event> queue;

  gossip g;
  std::optional<std::string> encoded_gossip; // encode_gossip(g), when made
  bool stopped = false;
  std::optional<std::string> last_leader;
  bool last_converged = false;
  std::mt19937_64 rng;

  // The seed-node join process.
  phase ph = phase::idle;
  std::vector<std::string> seeds; // without self
  bool self_first = false;
  nanos seek_started{0};
  nanos join_sent_at{0};
  unique_address join_target;
  // Whether this node ever joined or formed a cluster (welcomed, formed as
  // the first seed, admitted a joiner). A node that did not and is alone is
  // uninitialized: its InitJoinAcks say so.
  bool initialized = false;
  // The latest answer of each seed to this seek's InitJoins (by address):
  // an ack from an uninitialized seed, or a nack.
  struct seed_answer {
    unique_address from;
    bool uninitialized_ack = false;
    nanos at{0};
  };
  std::map<std::string, seed_answer> answers;

  // Ring heartbeats: one detector per monitored node.
  std::map<unique_address, remote::phi_accrual_failure_detector> detectors;
  std::uint64_t heartbeat_seq = 0;
  std::optional<nanos> last_heartbeat_round, last_gossip_round;

  std::optional<sbr::resolver> resolver;
  int self_down_ticks = 0;
  stats_t stats;

  // -- helpers (all under `mu`) --------------------------------------------------

  nanos now() const {
    return clock();
  }

  const unique_address& self() const {
    return cfg.self;
  }

  const member* self_in(const gossip& x) const {
    return x.find(cfg.self);
  }

  std::chrono::milliseconds tick_interval() const {
    return std::min(cfg.gossip_interval, cfg.heartbeat_interval);
  }

  void push(cluster_event ev) {
    queue.push_back(std::move(ev));
  }

  void send_raw(const std::string& to, const proto::message& m) {
    try {
      const remote::envelope env = proto::to_envelope(m);
      if (!cb.send || !cb.send(to, env))
        ++stats.send_failures;
    } catch (...) {
      ++stats.send_failures;
    }
  }

  void send_to(const unique_address& node, const proto::message& m) {
    if (node.address == cfg.self.address)
      return;
    std::string to;
    try {
      to = cfg.transport_address(node.address);
    } catch (...) {
      ++stats.send_failures;
      return;
    }
    send_raw(to, m);
  }

  // The current gossip's encoding, made once per change.
  const std::string& encoded() {
    if (!encoded_gossip)
      encoded_gossip = encode_gossip(g);
    return *encoded_gossip;
  }

  void send_gossip(const unique_address& to) {
    ++stats.gossip_sent;
    if (to.address == cfg.self.address)
      return;
    try {
      const auto env = proto::gossip_envelope_with(cfg.self, to, encoded());
      const std::string address = cfg.transport_address(to.address);
      if (!cb.send || !cb.send(address, env))
        ++stats.send_failures;
    } catch (...) {
      ++stats.send_failures;
    }
  }

  void send_status(const unique_address& to) {
    ++stats.status_sent;
    send_to(to, proto::gossip_status{cfg.self, g.version()});
  }

  void send_init_join(const std::string& seed) {
    ++stats.init_joins_sent;
    std::string to;
    try {
      to = cfg.transport_address(seed);
    } catch (...) {
      ++stats.send_failures;
      return;
    }
    send_raw(to, proto::init_join{cfg.self});
  }

  // The events of going from `old` to `next` (the view as published).
  void diff(const gossip& old, const gossip& next) {
    member_events(old, next, /*with_self=*/true);
    // Self's own observations count even once self is down (the others'
    // do not then): a downed self still cut off from the other side must
    // not report it reachable again.
    const auto was = observed_unreachable(old);
    const auto is = observed_unreachable(next);
    for (const auto& node : is)
      if (!was.count(node))
        if (const member* m = next.find(node))
          push(make_event(cluster_event::kind_t::unreachable_member, *m));
    for (const auto& node : was)
      if (!is.count(node))
        if (const member* m = next.find(node))
          push(make_event(cluster_event::kind_t::reachable_member, *m));
    const auto lead = cluster::leader(next, cfg.self);
    std::optional<std::string> lead_address;
    if (lead)
      lead_address = lead->address;
    // A downed self is on its way out: the leader it last reported stays
    // (its view loses every leader candidate only because it is down).
    const member* next_self = self_in(next);
    const bool self_down = next_self != nullptr && next_self->status == member_status::down;
    if (!self_down && lead_address != last_leader) {
      cluster_event ev = make_event(cluster_event::kind_t::leader_changed);
      ev.from_address = last_leader;
      ev.to_address = lead_address;
      push(std::move(ev));
      last_leader = lead_address;
    }
    const bool conv = cluster::converged(next, cfg.self);
    if (conv != last_converged) {
      cluster_event ev = make_event(cluster_event::kind_t::convergence_changed);
      ev.converged = conv;
      push(std::move(ev));
      last_converged = conv;
    }
  }

  // The members unreachable in `x` for the events: as `unreachable_set`,
  // but with self's observations kept when self is down.
  std::set<unique_address> observed_unreachable(const gossip& x) const {
    auto downs = down_nodes(x);
    downs.erase(cfg.self);
    auto out = x.overview().reachability.all_unreachable_or_terminated_excluding(downs);
    out.erase(cfg.self);
    return out;
  }

  // Makes `next` the view: events, and the resolver's view.
  void commit(gossip next) {
    diff(g, next);
    const bool membership_or_reachability_changed =
        !(g.members() == next.members()) ||
        !(g.overview().reachability == next.overview().reachability);
    g = std::move(next);
    encoded_gossip.reset();
    if (resolver && membership_or_reachability_changed && self_in(g) != nullptr)
      resolver->update(decision_view(), now());
  }

  // This node is done: removed from the cluster (`previous` its status
  // before), or shut down after being downed.
  void stop_self(std::optional<member_status> previous) {
    if (stopped)
      return;
    if (previous) {
      member gone = self_in(g) != nullptr ? *self_in(g) : member::joining(cfg.self, cfg.roles);
      gone.status = member_status::removed;
      cluster_event ev = make_event(cluster_event::kind_t::member_removed, gone);
      ev.previous_status = *previous;
      push(std::move(ev));
    }
    stopped = true;
    ph = phase::idle;
    detectors.clear();
    push(make_event(cluster_event::kind_t::cluster_shutting_down));
  }

  // A gossip in which self was removed: publish the other members'
  // changes up to it, then self's removal, and stop.
  void removed_by(const gossip& next) {
    const member* me = self_in(g);
    const member_status previous = me != nullptr ? me->status : member_status::exiting;
    diff_others_only(next);
    stop_self(previous);
  }

  // Events for the other members' changes from the current view to `next`
  // (which lacks self), without self's removal.
  void diff_others_only(const gossip& next) {
    member_events(g, next, /*with_self=*/false);
  }

  // The member events from `old` to `next`: a status event per member that
  // appeared or changed status, then member_removed per member gone (self's
  // removal only `with_self`). Both lists are in node order: one walk.
  void member_events(const gossip& old, const gossip& next, bool with_self) {
    std::vector<const member*> gone;
    const auto& a = old.members();
    const auto& b = next.members();
    auto x = a.begin();
    for (const auto& m : b) {
      while (x != a.end() && x->node < m.node)
        gone.push_back(&*x++);
      if (x != a.end() && x->node == m.node) {
        if (x->status != m.status)
          push(make_event(event_of(m.status), m));
        ++x;
      } else {
        push(make_event(event_of(m.status), m));
      }
    }
    for (; x != a.end(); ++x)
      gone.push_back(&*x);
    for (const member* m : gone) {
      if (!with_self && m->node == cfg.self)
        continue;
      member removed = *m;
      removed.status = member_status::removed;
      cluster_event ev = make_event(cluster_event::kind_t::member_removed, removed);
      ev.previous_status = m->status;
      push(std::move(ev));
    }
  }

  bool alone() const {
    return g.members().size() == 1 && self_in(g) != nullptr;
  }

  bool accepts_joins() const {
    if (stopped || ph != phase::idle)
      return false;
    const member* me = self_in(g);
    return me != nullptr &&
           (me->status == member_status::up || me->status == member_status::weakly_up);
  }

  // Abandons the current view for `next` (a Welcome, or a gossip that
  // already holds self while this node is alone).
  void adopt(gossip next) {
    next.see(cfg.self);
    ph = phase::idle;
    initialized = true;
    answers.clear();
    detectors.clear();
    self_down_ticks = 0;
    commit(std::move(next));
  }

  // -- messages --------------------------------------------------------------------

  void handle(const proto::message& m, const std::string& reply_to) {
    if (const auto* x = std::get_if<proto::heartbeat>(&m)) {
      send_to(x->from, proto::heartbeat_rsp{cfg.self, x->sequence});
    } else if (const auto* x = std::get_if<proto::heartbeat_rsp>(&m)) {
      auto it = detectors.find(x->from);
      if (it == detectors.end()) {
        ++stats.ignored;
        return;
      }
      ++stats.heartbeat_responses;
      it->second.heartbeat();
    } else if (const auto* x = std::get_if<proto::gossip_status>(&m)) {
      on_status(*x);
    } else if (const auto* x = std::get_if<proto::gossip_envelope>(&m)) {
      on_gossip(*x);
    } else if (const auto* x = std::get_if<proto::init_join>(&m)) {
      (void)x;
      if (accepts_joins())
        send_raw(reply_to, proto::init_join_ack{cfg.self, initialized || !alone()});
      else
        send_raw(reply_to, proto::init_join_nack{cfg.self});
    } else if (const auto* x = std::get_if<proto::init_join_ack>(&m)) {
      if (ph != phase::seeking || x->from == cfg.self) {
        ++stats.ignored;
        return;
      }
      if (x->initialized)
        send_join(x->from);
      else // the join process picks among these after seed_node_timeout
        answers[x->from.address] = seed_answer{x->from, true, now()};
    } else if (const auto* x = std::get_if<proto::init_join_nack>(&m)) {
      // The seed cannot take joins now: the next round asks again.
      if (ph == phase::seeking && !(x->from == cfg.self))
        answers[x->from.address] = seed_answer{x->from, false, now()};
    } else if (const auto* x = std::get_if<proto::join>(&m)) {
      on_join(*x);
    } else if (const auto* x = std::get_if<proto::welcome>(&m)) {
      if (ph != phase::joining || !(x->from == join_target) || x->state.find(cfg.self) == nullptr) {
        ++stats.ignored;
        return;
      }
      ++stats.gossip_received;
      adopt(x->state);
    }
  }

  void send_join(const unique_address& to) {
    ph = phase::joining;
    join_target = to;
    join_sent_at = now();
    answers.clear();
    ++stats.joins_sent;
    send_to(to, proto::join{cfg.self, self_in(g) != nullptr ? self_in(g)->roles
                                                            : std::vector<std::string>{}});
  }

  // After seed_node_timeout without an initialized seed: the first seed in
  // this node's list that answered lately, when that was an uninitialized
  // ack (nodes with the same seed list pick the same one); nullopt while
  // that first answer is a nack (the seed is busy joining: wait for it).
  std::optional<unique_address> uninitialized_seed_to_join(nanos t) const {
    for (const auto& seed : seeds) {
      const auto it = answers.find(seed);
      if (it == answers.end() || t - it->second.at >= cfg.seed_node_timeout)
        continue;
      if (!it->second.uninitialized_ack)
        return std::nullopt;
      return it->second.from;
    }
    return std::nullopt;
  }

  void on_join(const proto::join& j) {
    if (!accepts_joins() || j.node.address == cfg.self.address || g.tombstones().count(j.node)) {
      ++stats.ignored;
      return;
    }
    if (g.find(j.node) != nullptr) {
      // Admitted before (the Welcome may have been lost): welcome again.
      ++stats.gossip_sent;
      send_to(j.node, proto::welcome{cfg.self, g});
      return;
    }
    if (const member* old = g.find_address(j.node.address)) {
      // A new incarnation at a member's address: the old one is gone. It
      // is downed (and so removed by the leader); the new one is admitted
      // when it retries after that.
      if (old->status != member_status::down) {
        gossip next = g;
        next.set_reachability(next.overview().reachability.terminated(cfg.self, old->node));
        next.put(old->with_status(member_status::down));
        next.tick(cfg.self);
        commit(std::move(next));
      }
      return;
    }
    initialized = true;
    gossip next = g;
    member joining = member::joining(j.node, j.roles);
    next.put(joining);
    next.tick(cfg.self);
    commit(std::move(next));
    ++stats.gossip_sent;
    send_to(j.node, proto::welcome{cfg.self, g});
  }

  void on_status(const proto::gossip_status& s) {
    ++stats.status_received;
    if (g.find(s.from) == nullptr) {
      if (g.tombstones().count(s.from)) {
        // A removed node asks: tell it (it shuts down on seeing this).
        send_gossip(s.from);
      } else {
        ++stats.ignored;
      }
      return;
    }
    switch (g.version().compare(s.version)) {
    case clock_order::after:
    case clock_order::concurrent:
      send_gossip(s.from);
      break;
    case clock_order::before:
      send_status(s.from);
      break;
    case clock_order::same:
      break;
    }
  }

  void on_gossip(const proto::gossip_envelope& e) {
    if (!(e.to == cfg.self)) {
      ++stats.ignored;
      return;
    }
    ++stats.gossip_received;
    const gossip& remote = e.state;
    for (const auto& m : remote.members())
      if (m.status == member_status::removed)
        throw malformed_message_error("a gossip with a member whose status is removed");
    if (remote.find(cfg.self) == nullptr) {
      if (remote.tombstones().count(cfg.self) != 0)
        removed_by(remote);
      else
        ++stats.ignored;
      return;
    }
    if (alone() && remote.members().size() > 1) {
      // Admitted by a node whose Welcome was lost (or overtaken).
      adopt(remote);
      return;
    }
    switch (remote.version().compare(g.version())) {
    case clock_order::same: {
      gossip next = g;
      std::set<unique_address> seen = g.overview().seen;
      seen.insert(remote.overview().seen.begin(), remote.overview().seen.end());
      seen.insert(cfg.self);
      const bool sender_lacks = seen != remote.overview().seen;
      next.set_seen(std::move(seen));
      commit(std::move(next));
      if (sender_lacks)
        send_gossip(e.from);
      break;
    }
    case clock_order::after: {
      gossip next = remote;
      next.see(cfg.self);
      commit(std::move(next));
      break;
    }
    case clock_order::before:
      send_gossip(e.from);
      break;
    case clock_order::concurrent: {
      ++stats.gossip_merged;
      gossip next = gossip::merge(g, remote, cfg.self);
      if (next.find(cfg.self) == nullptr) {
        removed_by(next);
        return;
      }
      commit(std::move(next));
      send_gossip(e.from);
      break;
    }
    }
  }

  // -- rounds ----------------------------------------------------------------------

  // The members this node monitors: walking the ring (members in address
  // order, down ones left out) from self, the next
  // `monitored_by_nr_of_members` that self sees as reachable, plus the
  // unreachable ones met on the way (to notice when they come back).
  std::vector<unique_address> receivers() const {
    std::vector<unique_address> ring;
    for (const auto& m : g.members())
      if (m.status != member_status::down && m.status != member_status::removed)
        ring.push_back(m.node);
    std::vector<unique_address> out;
    const auto me = std::find(ring.begin(), ring.end(), cfg.self);
    if (me == ring.end())
      return out;
    const std::size_t n = ring.size();
    const std::size_t at = static_cast<std::size_t>(me - ring.begin());
    const auto& r = g.overview().reachability;
    int reachable = 0;
    for (std::size_t i = 1; i < n && reachable < cfg.monitored_by_nr_of_members; ++i) {
      const auto& node = ring[(at + i) % n];
      out.push_back(node);
      if (r.is_reachable(cfg.self, node))
        ++reachable;
    }
    return out;
  }

  void heartbeat_round() {
    const auto targets = receivers();
    // Forget detectors of nodes no longer monitored; start new ones as if
    // a heartbeat had just arrived (a node that never answers is noticed).
    for (auto it = detectors.begin(); it != detectors.end();) {
      if (std::find(targets.begin(), targets.end(), it->first) == targets.end())
        it = detectors.erase(it);
      else
        ++it;
    }
    for (const auto& node : targets) {
      if (!detectors.count(node)) {
        auto [it, inserted] = detectors.emplace(
            node, remote::phi_accrual_failure_detector(cfg.failure_detector, [this] {
              return std::chrono::steady_clock::time_point(
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(clock()));
            }));
        (void)inserted;
        it->second.heartbeat();
      }
      ++stats.heartbeats_sent;
      send_to(node, proto::heartbeat{cfg.self, ++heartbeat_seq});
    }
    // Observations: self marks the nodes it monitors.
    const auto& r = g.overview().reachability;
    cluster::reachability next = r;
    bool changed = false;
    for (auto& [node, detector] : detectors) {
      const bool available = detector.is_available();
      const bool marked_reachable = next.is_reachable(cfg.self, node);
      if (!available && marked_reachable) {
        next = next.unreachable(cfg.self, node);
        changed = true;
      } else if (available && !marked_reachable) {
        next = next.reachable(cfg.self, node);
        changed = true;
      }
    }
    if (changed) {
      gossip updated = g;
      updated.set_reachability(std::move(next));
      updated.tick(cfg.self);
      commit(std::move(updated));
    }
  }

  void join_process(nanos t) {
    switch (ph) {
    case phase::idle:
      return;
    case phase::joining:
      if (t - join_sent_at < cfg.retry_unsuccessful_join_after)
        return;
      ph = phase::seeking;
      seek_started = t;
      answers.clear();
      [[fallthrough]];
    case phase::seeking:
      if (t - seek_started >= cfg.seed_node_timeout) {
        if (self_first) {
          // No initialized seed answered: this node is (stays) the cluster.
          ph = phase::idle;
          initialized = true;
          answers.clear();
          return;
        }
        if (const auto target = uninitialized_seed_to_join(t)) {
          send_join(*target);
          return;
        }
      }
      for (const auto& seed : seeds)
        send_init_join(seed);
      return;
    }
  }

  void leader_round() {
    auto result = leader_actions(g, cfg.self, cfg.leader);
    if (!result) {
      reap_unreachable_down();
      return;
    }
    std::vector<unique_address> removed;
    for (const auto& c : result->changes)
      if (c.to == member_status::removed)
        removed.push_back(c.before.node);
    if (result->next.find(cfg.self) == nullptr) {
      removed_by(result->next);
      return;
    }
    commit(std::move(result->next));
    // Removed nodes that are alive learn it from this gossip and stop.
    for (const auto& node : removed)
      send_gossip(node);
  }

  // Down members that are unreachable are removed by the leader even when
  // other unreachable members block convergence -- only then: while a
  // reachable member has not seen the current version (the down itself,
  // say) they stay, so every member observes the down before the removal.
  void reap_unreachable_down() {
    const auto lead = cluster::leader(g, cfg.self);
    if (!lead || !(*lead == cfg.self) || !cluster::blocked_only_by_unreachable(g, cfg.self))
      return;
    const auto unreachable = unreachable_set(g, cfg.self);
    std::vector<unique_address> gone;
    for (const auto& m : g.members())
      if (m.status == member_status::down && unreachable.count(m.node))
        gone.push_back(m.node);
    if (gone.empty())
      return;
    gossip next = g;
    for (const auto& node : gone)
      next.remove(node);
    next.tick(cfg.self);
    commit(std::move(next));
  }

  void gossip_round() {
    std::vector<const member*> candidates;
    const auto& r = g.overview().reachability;
    for (const auto& m : g.members())
      if (!(m.node == cfg.self) && r.is_reachable(cfg.self, m.node))
        candidates.push_back(&m);
    if (candidates.empty())
      return;
    // Candidates and the seen set are in node order: one walk.
    std::vector<const member*> unseen;
    const auto& seen = g.overview().seen;
    auto sit = seen.begin();
    for (const member* m : candidates) {
      while (sit != seen.end() && *sit < m->node)
        ++sit;
      if (sit == seen.end() || !(*sit == m->node))
        unseen.push_back(m);
    }
    const double p = cfg.gossip_different_view_probability;
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const auto& pool = !unseen.empty() && unit(rng) < p ? unseen : candidates;
    std::uniform_int_distribution<std::size_t> pick(0, pool.size() - 1);
    const unique_address target = pool[pick(rng)]->node;
    if (g.seen_by(target))
      send_status(target);
    else
      send_gossip(target);
  }

  // A downed self shuts down once the down has spread (Akka's rule).
  bool self_down_round() {
    const member* me = self_in(g);
    if (me == nullptr || me->status != member_status::down)
      return false;
    const auto unreachable = g.overview().reachability.all_unreachable_or_terminated();
    bool spread = true;
    for (const auto& m : g.members())
      if (m.status == member_status::down && !unreachable.count(m.node) && !g.seen_by(m.node))
        spread = false;
    if (self_down_ticks < max_ticks_before_self_shutdown && !spread) {
      ++self_down_ticks;
      return false;
    }
    std::vector<unique_address> targets;
    const auto& r = g.overview().reachability;
    for (const auto& m : g.members())
      if (!(m.node == cfg.self) && r.is_reachable(cfg.self, m.node))
        targets.push_back(m.node);
    std::shuffle(targets.begin(), targets.end(), rng);
    if (targets.size() > static_cast<std::size_t>(gossips_before_self_shutdown))
      targets.resize(gossips_before_self_shutdown);
    for (const auto& node : targets)
      send_gossip(node);
    stop_self(member_status::down);
    return true;
  }

  sbr::decision_view decision_view() const {
    sbr::decision_view v;
    v.self = cfg.self.address;
    const auto downs = down_nodes(g);
    const auto unreachable = unreachable_set(g, cfg.self);
    for (const auto& m : g.members()) {
      sbr::view_member vm;
      vm.address = m.node.address;
      vm.uid = m.node.uid;
      vm.status = to_sbr(m.status);
      vm.roles = m.roles;
      vm.up_number = m.up_number;
      vm.reachable = m.node == cfg.self || !unreachable.count(m.node);
      v.members.push_back(std::move(vm));
    }
    for (const auto& rec : g.overview().reachability.records())
      if (rec.status != reachability_status::reachable && !downs.count(rec.observer))
        v.records.push_back({rec.observer.address, rec.subject.address});
    return v;
  }

  // The leader of this side: the first reachable (as this node sees it) up
  // or leaving member in address order, else the first other reachable one.
  bool leads_this_side() const {
    const auto unreachable = unreachable_set(g, cfg.self);
    const member* fallback = nullptr;
    for (const auto& m : g.members()) {
      if (m.status == member_status::down || m.status == member_status::removed)
        continue;
      if (!(m.node == cfg.self) && unreachable.count(m.node))
        continue;
      if (is_up_or_leaving(m.status))
        return m.node == cfg.self;
      if (fallback == nullptr)
        fallback = &m;
    }
    return fallback != nullptr && fallback->node == cfg.self;
  }

  void sbr_round(nanos t) {
    if (!resolver)
      return;
    const auto decision = resolver->tick(t);
    if (!decision || !leads_this_side())
      return;
    gossip next = g;
    bool changed = false;
    for (const auto& address : decision->down) {
      const member* m = next.find_address(address);
      if (m == nullptr || m->status == member_status::down || m->status == member_status::removed)
        continue;
      next.put(m->with_status(member_status::down));
      changed = true;
    }
    if (!changed)
      return;
    ++stats.sbr_decisions;
    next.tick(cfg.self);
    commit(std::move(next));
  }

  void tick() {
    if (stopped)
      return;
    const nanos t = now();
    ++stats.ticks;
    const nanos slack = std::chrono::duration_cast<nanos>(tick_interval()) / 2;
    if (!last_heartbeat_round || t - *last_heartbeat_round >= cfg.heartbeat_interval - slack) {
      last_heartbeat_round = t;
      heartbeat_round();
    }
    if (!last_gossip_round || t - *last_gossip_round >= cfg.gossip_interval - slack) {
      last_gossip_round = t;
      ++stats.gossip_rounds;
      join_process(t);
      if (self_down_round())
        return;
      leader_round();
      if (stopped)
        return;
      gossip_round();
      sbr_round(t);
    }
  }

  // Delivers the queued events, in order, without `mu` held.
  void dispatch() {
    if (dispatching.load() == std::this_thread::get_id())
      return; // an on_event callback caused these: the outer loop delivers them
    std::lock_guard<std::mutex> one(dispatch_mu);
    dispatching.store(std::this_thread::get_id());
    for (;;) {
      cluster_event ev = make_event(cluster_event::kind_t::cluster_shutting_down);
      {
        std::lock_guard<std::mutex> lock(mu);
        if (queue.empty())
          break;
        ev = std::move(queue.front());
        queue.pop_front();
      }
      if (cb.on_event) {
        try {
          cb.on_event(ev);
        } catch (...) {
        }
      }
    }
    dispatching.store(std::thread::id{});
  }
};

cluster_daemon::cluster_daemon(daemon_config config, clock_fn clock, daemon_callbacks callbacks)
  : impl_(std::make_unique<impl>(std::move(config), std::move(clock), std::move(callbacks))) {
}

cluster_daemon::~cluster_daemon() = default;

bool cluster_daemon::receive(const remote::inbound_envelope& in) {
  if (in.env.recipient != daemon_path)
    return false;
  auto& d = *impl_;
  std::optional<protocol::message> m;
  try {
    m = protocol::decode(in.env.manifest, in.env.payload);
  } catch (...) {
    std::lock_guard<std::mutex> lock(d.mu);
    ++d.stats.malformed;
    return true;
  }
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (d.stopped) {
      ++d.stats.ignored;
    } else {
      try {
        d.handle(*m, in.from);
      } catch (...) {
        ++d.stats.malformed;
      }
    }
  }
  d.dispatch();
  return true;
}

void cluster_daemon::transport_event(const remote::transport_event& ev) {
  if (ev.kind != remote::event_kind::quarantined)
    return;
  auto& d = *impl_;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (d.stopped)
      return;
    for (const auto& m : d.g.members()) {
      if (m.node.uid != ev.uid || m.node == d.cfg.self || m.status == member_status::down ||
          d.cfg.transport_address(m.node.address) != ev.address)
        continue;
      gossip next = d.g;
      next.put(m.with_status(member_status::down));
      next.tick(d.cfg.self);
      d.commit(std::move(next));
      break;
    }
  }
  d.dispatch();
}

void cluster_daemon::tick() {
  auto& d = *impl_;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    try {
      d.tick();
    } catch (...) {
      // A round that failed half-way (a view the rules reject) is counted;
      // the next tick starts afresh from the committed view.
      ++d.stats.round_errors;
    }
  }
  d.dispatch();
}

std::chrono::milliseconds cluster_daemon::tick_interval() const {
  return impl_->tick_interval();
}

void cluster_daemon::join_seed_nodes(std::vector<std::string> seeds) {
  if (seeds.empty())
    throw invalid_argument_error("join_seed_nodes needs at least one seed node");
  for (const auto& s : seeds)
    check_address(s, "a seed node");
  auto& d = *impl_;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (d.stopped || d.g.members().size() > 1)
      return;
    d.self_first = seeds.front() == d.cfg.self.address;
    d.answers.clear();
    d.seeds.clear();
    for (const auto& s : seeds)
      if (s != d.cfg.self.address && std::find(d.seeds.begin(), d.seeds.end(), s) == d.seeds.end())
        d.seeds.push_back(s);
    if (d.seeds.empty()) {
      d.ph = impl::phase::idle;
      d.initialized = true;
      return;
    }
    d.ph = impl::phase::seeking;
    d.seek_started = d.now();
    for (const auto& seed : d.seeds)
      d.send_init_join(seed);
  }
  d.dispatch();
}

void cluster_daemon::leave(const std::string& address) {
  check_address(address, "the member to leave");
  auto& d = *impl_;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (d.stopped)
      return;
    const member* m = d.g.find_address(address);
    if (m == nullptr || !(m->status == member_status::joining ||
                          m->status == member_status::weakly_up || m->status == member_status::up))
      return;
    gossip next = d.g;
    next.put(m->with_status(member_status::leaving));
    next.tick(d.cfg.self);
    d.commit(std::move(next));
  }
  d.dispatch();
}

void cluster_daemon::down(const std::string& address) {
  check_address(address, "the member to down");
  auto& d = *impl_;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (d.stopped)
      return;
    const member* m = d.g.find_address(address);
    if (m == nullptr || m->status == member_status::down || m->status == member_status::removed)
      return;
    gossip next = d.g;
    next.put(m->with_status(member_status::down));
    next.tick(d.cfg.self);
    d.commit(std::move(next));
  }
  d.dispatch();
}

void cluster_daemon::shutdown() {
  auto& d = *impl_;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    d.stop_self(std::nullopt);
  }
  d.dispatch();
}

gossip cluster_daemon::state() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->stopped)
    return gossip{};
  return impl_->g;
}

unique_address cluster_daemon::self() const {
  return impl_->cfg.self;
}

std::optional<std::string> cluster_daemon::leader() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->stopped)
    return std::nullopt;
  const auto l = cluster::leader(impl_->g, impl_->cfg.self);
  if (!l)
    return std::nullopt;
  return l->address;
}

bool cluster_daemon::converged() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return !impl_->stopped && cluster::converged(impl_->g, impl_->cfg.self);
}

std::size_t cluster_daemon::member_count() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stopped ? 0 : impl_->g.members().size();
}

std::optional<member> cluster_daemon::self_member() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->stopped)
    return std::nullopt;
  const member* m = impl_->self_in(impl_->g);
  if (m == nullptr)
    return std::nullopt;
  return *m;
}

bool cluster_daemon::running() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return !impl_->stopped;
}

cluster_daemon::stats_t cluster_daemon::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

} // namespace atomr::cluster
