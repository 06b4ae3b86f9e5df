#include "atomr/cluster/gossip.hpp"

#include "atomr/cluster/error.hpp"

#include <algorithm>
#include <map>

namespace atomr::cluster {

namespace {

bool is_up_or_leaving(member_status s) {
  return s == member_status::up || s == member_status::leaving;
}

bool skips_unreachable(member_status s) {
  return s == member_status::down || s == member_status::exiting;
}

std::set<unique_address> down_nodes(const gossip& g) {
  std::set<unique_address> out;
  for (const auto& m : g.members())
    if (m.status == member_status::down)
      out.insert(m.node);
  return out;
}

// Members (other than self) that some non-down observer sees as unreachable.
std::vector<const member*> unreachable_members(const gossip& g, const unique_address& self) {
  std::vector<const member*> out;
  for (const auto& node :
       g.overview().reachability.all_unreachable_or_terminated_excluding(down_nodes(g))) {
    if (node == self)
      continue;
    if (const member* m = g.find(node))
      out.push_back(m);
  }
  return out;
}

bool all_seen(const gossip& g) {
  // Members and the seen set are both in node order: one walk.
  const auto& seen = g.overview().seen;
  auto s = seen.begin();
  for (const auto& m : g.members()) {
    if (!is_up_or_leaving(m.status))
      continue;
    while (s != seen.end() && *s < m.node)
      ++s;
    if (s == seen.end() || !(*s == m.node))
      return false;
  }
  return true;
}

} // namespace

const member* gossip::find(const unique_address& node) const noexcept {
  const auto it =
      std::lower_bound(members_.begin(), members_.end(), node,
                       [](const member& m, const unique_address& n) { return m.node < n; });
  return it != members_.end() && it->node == node ? &*it : nullptr;
}

const member* gossip::find_address(std::string_view address) const noexcept {
  for (const auto& m : members_)
    if (m.node.address == address)
      return &m;
  return nullptr;
}

void gossip::put(const member& m) {
  if (!tombstones_.empty() && tombstones_.count(m.node))
    throw invalid_transition_error("member " + m.node.address + " was removed from the cluster");
  if (members_.empty() || members_.back().node < m.node) {
    members_.push_back(m); // after every member (decoding adds them in order)
    return;
  }
  const auto it = std::lower_bound(members_.begin(), members_.end(), m, address_less);
  if (it != members_.end() && it->node == m.node) {
    if (!transition_allowed(it->status, m.status))
      throw invalid_transition_error("member " + m.node.address + " cannot go from " +
                                     std::string(status_name(it->status)) + " to " +
                                     std::string(status_name(m.status)));
    *it = m;
  } else {
    members_.insert(it, m);
  }
}

void gossip::replace_address(const member& m) {
  members_.erase(std::remove_if(members_.begin(), members_.end(),
                                [&](const member& x) { return x.node.address == m.node.address; }),
                 members_.end());
  members_.insert(std::lower_bound(members_.begin(), members_.end(), m, address_less), m);
}

void gossip::remove(const unique_address& node) {
  members_.erase(std::remove_if(members_.begin(), members_.end(),
                                [&](const member& m) { return m.node == node; }),
                 members_.end());
  overview_.seen.erase(node);
  overview_.reachability = overview_.reachability.remove({node});
  version_ = version_.prune(node.node_name());
  tombstones_.insert(node);
}

void gossip::tick(const unique_address& node) {
  version_.tick(node.node_name());
  overview_.seen = {node};
}

void gossip::see(const unique_address& node) {
  overview_.seen.insert(node);
}

bool gossip::seen_by(const unique_address& node) const {
  return overview_.seen.count(node) > 0;
}

void gossip::set_seen(std::set<unique_address> seen) {
  overview_.seen = std::move(seen);
}

void gossip::set_reachability(cluster::reachability r) {
  overview_.reachability = std::move(r);
}

void gossip::set_version(vector_clock v) {
  version_ = std::move(v);
}

void gossip::set_tombstones(std::set<unique_address> t) {
  tombstones_ = std::move(t);
}

gossip gossip::merge(const gossip& a, const gossip& b, const unique_address& self) {
  gossip out;
  out.tombstones_ = a.tombstones_;
  out.tombstones_.insert(b.tombstones_.begin(), b.tombstones_.end());
  // Both member lists are in address ordering: merge them like sorted runs.
  auto x = a.members_.begin();
  auto y = b.members_.begin();
  while (x != a.members_.end() || y != b.members_.end()) {
    const member* pick;
    if (y == b.members_.end() || (x != a.members_.end() && x->node < y->node)) {
      pick = &*x++;
    } else if (x == a.members_.end() || y->node < x->node) {
      pick = &*y++;
    } else {
      pick = &highest_priority_of(*x, *y);
      ++x;
      ++y;
    }
    if (!out.tombstones_.count(pick->node) && pick->status != member_status::removed)
      out.members_.push_back(*pick);
  }
  vector_clock version = a.version_.merge(b.version_);
  for (const auto& node : out.tombstones_)
    version = version.prune(node.node_name());
  out.version_ = std::move(version);
  out.overview_.reachability =
      a.overview_.reachability.merge(b.overview_.reachability).remove(out.tombstones_);
  out.overview_.seen = {self};
  return out;
}

bool converged(const gossip& g, const unique_address& self) {
  const auto unreachable = unreachable_members(g, self);
  for (const member* m : unreachable)
    if (!skips_unreachable(m->status))
      return false;
  return all_seen(g);
}

bool blocked_only_by_unreachable(const gossip& g, const unique_address& self) {
  const auto unreachable = unreachable_members(g, self);
  bool blocking = false;
  for (const member* m : unreachable)
    blocking = blocking || !skips_unreachable(m->status);
  if (!blocking)
    return false;
  for (const auto& m : g.members()) {
    if (!is_up_or_leaving(m.status) || g.seen_by(m.node))
      continue;
    if (std::find(unreachable.begin(), unreachable.end(), &m) == unreachable.end())
      return false; // a reachable member has not seen it
  }
  return true;
}

std::optional<unique_address> leader(const gossip& g, const unique_address& self) {
  const auto& r = g.overview().reachability;
  const member* fallback = nullptr;
  for (const auto& m : g.members()) {
    if (m.status == member_status::down || m.status == member_status::removed)
      continue;
    if (!(m.node == self || r.is_reachable(m.node)))
      continue;
    if (is_up_or_leaving(m.status))
      return m.node;
    if (fallback == nullptr ||
        (fallback->status == member_status::exiting && m.status != member_status::exiting))
      fallback = &m;
  }
  if (fallback == nullptr)
    return std::nullopt;
  return fallback->node;
}

std::optional<leader_result> leader_actions(const gossip& g, const unique_address& self,
                                            const leader_settings& settings) {
  const auto current = leader(g, self);
  if (!current || !(*current == self))
    return std::nullopt;
  leader_result out{g, {}};
  if (converged(g, self)) {
    // Removals first, from the statuses as they are, so a member that exits
    // now is removed on a later convergence (once everyone saw it exiting).
    std::vector<member> removed;
    for (const auto& m : g.members())
      if (m.status == member_status::down || m.status == member_status::exiting)
        removed.push_back(m);
    for (const auto& m : removed) {
      out.changes.push_back({m, member_status::removed});
      out.next.remove(m.node);
    }
    std::int32_t next_up = 0;
    for (const auto& m : out.next.members())
      next_up = std::max(next_up, m.up_number);
    const bool enough = out.next.members().size() >= settings.min_nr_of_members;
    // Joining members go up in age ordering (address, as none has a number
    // yet; weakly up ones first in that order, they joined earlier).
    std::vector<member> to_up;
    for (const auto& m : out.next.members())
      if (enough && (m.status == member_status::joining || m.status == member_status::weakly_up))
        to_up.push_back(m);
    std::stable_sort(to_up.begin(), to_up.end(), [](const member& a, const member& b) {
      return (a.status == member_status::weakly_up) > (b.status == member_status::weakly_up);
    });
    for (const auto& m : to_up) {
      out.changes.push_back({m, member_status::up});
      out.next.put(m.with_up_number(member_status::up, ++next_up));
    }
    std::vector<member> leaving;
    for (const auto& m : out.next.members())
      if (m.status == member_status::leaving)
        leaving.push_back(m);
    for (const auto& m : leaving) {
      out.changes.push_back({m, member_status::exiting});
      out.next.put(m.with_status(member_status::exiting));
    }
  } else if (settings.allow_weakly_up && blocked_only_by_unreachable(g, self)) {
    const auto& r = g.overview().reachability;
    const bool enough = g.members().size() >= settings.min_nr_of_members;
    std::vector<member> to_weakly_up;
    for (const auto& m : g.members())
      if (enough && m.status == member_status::joining && r.is_reachable(m.node))
        to_weakly_up.push_back(m);
    for (const auto& m : to_weakly_up) {
      out.changes.push_back({m, member_status::weakly_up});
      out.next.put(m.with_status(member_status::weakly_up));
    }
  }
  if (out.changes.empty())
    return std::nullopt;
  out.next.tick(self);
  return out;
}

} // namespace atomr::cluster
