#include "atomr/cluster/sbr.hpp"

#include "atomr/cluster/member.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <utility>

namespace atomr::cluster::sbr {

namespace {

using std::chrono::nanoseconds;

bool is_counted(member_status s) noexcept {
  return s == member_status::up || s == member_status::leaving;
}

bool is_downable(member_status s) noexcept {
  return s != member_status::down && s != member_status::exiting && s != member_status::removed;
}

bool has_role(const view_member& m, const std::string& role) {
  return role.empty() || std::find(m.roles.begin(), m.roles.end(), role) != m.roles.end();
}

// The members' address order (atomr/cluster/member.hpp), so the side that
// "holds the lowest address" is the one the leader election would pick.
bool address_less(const std::string& a, const std::string& b) {
  return atomr::cluster::compare_addresses(a, b) < 0;
}

bool age_less(const view_member& a, const view_member& b) {
  if (a.up_number != b.up_number) {
    return a.up_number < b.up_number;
  }
  return address_less(a.address, b.address);
}

// The members of one side, as the counting rules select them.
struct side_filter {
  bool reachable;
  bool including_possibly_up = false;      // joining and weakly up counted too
  bool excluding_possibly_exiting = false; // leaving not counted
  bool with_role = true;
};

std::vector<const view_member*> side(const settings& s, const std::vector<view_member>& members,
                                     const side_filter& f) {
  std::vector<const view_member*> out;
  for (const auto& m : members) {
    if (m.reachable != f.reachable) {
      continue;
    }
    bool counted = is_counted(m.status);
    if (f.including_possibly_up &&
        (m.status == member_status::joining || m.status == member_status::weakly_up)) {
      counted = true;
    }
    if (f.excluding_possibly_exiting && m.status == member_status::leaving) {
      counted = false;
    }
    if (counted && (!f.with_role || has_role(m, s.role))) {
      out.push_back(&m);
    }
  }
  return out;
}

// The member with the lowest address among the counted members with the
// role, else among all counted members, else among all downable ones.
const view_member* lowest_address(const settings& s, const std::vector<view_member>& members) {
  const view_member* best = nullptr;
  for (int pass = 0; pass < 3 && best == nullptr; ++pass) {
    for (const auto& m : members) {
      const bool ok = pass == 0   ? is_counted(m.status) && has_role(m, s.role)
                      : pass == 1 ? is_counted(m.status)
                                  : is_downable(m.status);
      if (ok && (best == nullptr || address_less(m.address, best->address))) {
        best = &m;
      }
    }
  }
  return best;
}

decision_kind majority(std::size_t this_side, std::size_t other_side, const view_member* lowest) {
  if (this_side == other_side) {
    // Equal sizes: the side holding the lowest address survives.
    return lowest != nullptr && lowest->reachable ? decision_kind::down_unreachable
                                                  : decision_kind::down_reachable;
  }
  return this_side > other_side ? decision_kind::down_unreachable : decision_kind::down_reachable;
}

decision_kind keep_majority(const settings& s, const std::vector<view_member>& members) {
  const auto* lowest = lowest_address(s, members);
  const auto d =
      majority(side(s, members, {true}).size(), side(s, members, {false}).size(), lowest);
  if (d != decision_kind::down_unreachable) {
    return d;
  }
  // Membership changes may not have been seen on both sides: count as few
  // members here (leaving ones may be exiting over there) and as many
  // there (joining ones may be up over there). A different verdict means
  // the sides may both think they won: down all, the safe choice.
  const auto d2 = majority(side(s, members, {true, false, true}).size(),
                           side(s, members, {false, true, false}).size(), lowest);
  return d2 == decision_kind::down_unreachable ? d : decision_kind::down_all;
}

decision_kind static_quorum(const settings& s, const std::vector<view_member>& members) {
  const auto reachable = side(s, members, {true}).size();
  const auto unreachable = side(s, members, {false}).size();
  const auto q = static_cast<std::size_t>(s.quorum_size);
  if (reachable + unreachable > 2 * q - 1) {
    // More members than the quorum was sized for: both sides could reach
    // it, so nobody survives.
    return decision_kind::down_all;
  }
  if (reachable < q) {
    return decision_kind::down_reachable;
  }
  if (side(s, members, {false, true, false}).size() >= q) {
    // The other side may have reached the quorum with members not yet up
    // here.
    return decision_kind::down_all;
  }
  return decision_kind::down_unreachable;
}

decision_kind oldest_decision(const settings& s, const std::vector<view_member>& members,
                              bool excluding_possibly_exiting) {
  const view_member* oldest = nullptr;
  for (int pass = 0; pass < 2 && oldest == nullptr; ++pass) {
    for (const auto& m : members) {
      bool ok = is_counted(m.status) && (pass == 1 || has_role(m, s.role));
      if (excluding_possibly_exiting && m.reachable && m.status == member_status::leaving) {
        ok = false;
      }
      if (ok && (oldest == nullptr || age_less(m, *oldest))) {
        oldest = &m;
      }
    }
  }
  if (oldest == nullptr) {
    return decision_kind::down_reachable;
  }
  side_filter here{true, false, excluding_possibly_exiting, false};
  side_filter there{false, false, false, false};
  const auto reachable = side(s, members, here).size();
  const auto unreachable = side(s, members, there).size();
  if (oldest->reachable) {
    if (s.down_if_alone && reachable == 1 && unreachable >= 1) {
      return decision_kind::down_reachable;
    }
    return decision_kind::down_unreachable;
  }
  if (s.down_if_alone && unreachable == 1 && reachable >= 1) {
    return decision_kind::down_unreachable;
  }
  return decision_kind::down_reachable;
}

decision_kind keep_oldest(const settings& s, const std::vector<view_member>& members) {
  const auto d = oldest_decision(s, members, false);
  if (d != decision_kind::down_unreachable) {
    return d;
  }
  // A leaving oldest here may already be exiting on the other side, where
  // the next oldest then decides: a different verdict -> down all.
  const auto d2 = oldest_decision(s, members, true);
  return d2 == d ? d : decision_kind::down_all;
}

const view_member& find_self(const decision_view& view) {
  for (const auto& m : view.members) {
    if (m.address == view.self) {
      return m;
    }
  }
  throw std::invalid_argument("sbr: the view's self address '" + view.self +
                              "' is not one of its members");
}

// The members without the indirectly connected ones.
std::vector<view_member> without(const std::vector<view_member>& members,
                                 const std::vector<std::string>& excluded) {
  std::vector<view_member> out;
  for (const auto& m : members) {
    if (!std::binary_search(excluded.begin(), excluded.end(), m.address)) {
      out.push_back(m);
    }
  }
  return out;
}

decision_kind strategy_verdict(const settings& s, const std::vector<view_member>& members,
                               bool lease_acquired) {
  switch (s.strategy) {
  case strategy_kind::keep_majority:
    return keep_majority(s, members);
  case strategy_kind::static_quorum:
    return static_quorum(s, members);
  case strategy_kind::keep_oldest:
    return keep_oldest(s, members);
  case strategy_kind::down_all:
    return decision_kind::down_all;
  case strategy_kind::lease_majority:
    return lease_acquired ? decision_kind::down_unreachable : decision_kind::down_reachable;
  }
  return decision_kind::down_all;
}

bool clean_unreachable_exists(const decision_view& view, const std::vector<std::string>& indirect) {
  for (const auto& m : view.members) {
    if (!m.reachable && is_downable(m.status) &&
        !std::binary_search(indirect.begin(), indirect.end(), m.address)) {
      return true;
    }
  }
  return false;
}

} // namespace

const char* to_string(strategy_kind k) noexcept {
  switch (k) {
  case strategy_kind::keep_majority:
    return "keep-majority";
  case strategy_kind::static_quorum:
    return "static-quorum";
  case strategy_kind::keep_oldest:
    return "keep-oldest";
  case strategy_kind::down_all:
    return "down-all";
  case strategy_kind::lease_majority:
    return "lease-majority";
  }
  return "?";
}

const char* to_string(decision_kind k) noexcept {
  switch (k) {
  case decision_kind::down_unreachable:
    return "down-unreachable";
  case decision_kind::down_reachable:
    return "down-reachable";
  case decision_kind::down_all:
    return "down-all";
  case decision_kind::down_indirectly_connected:
    return "down-indirectly-connected";
  }
  return "?";
}

const char* to_string(member_status s) noexcept {
  switch (s) {
  case member_status::joining:
    return "joining";
  case member_status::weakly_up:
    return "weakly_up";
  case member_status::up:
    return "up";
  case member_status::leaving:
    return "leaving";
  case member_status::exiting:
    return "exiting";
  case member_status::down:
    return "down";
  case member_status::removed:
    return "removed";
  }
  return "?";
}

strategy_kind parse_strategy(const std::string& name) {
  static const std::pair<const char*, strategy_kind> names[] = {
      {"keep-majority", strategy_kind::keep_majority},
      {"static-quorum", strategy_kind::static_quorum},
      {"keep-oldest", strategy_kind::keep_oldest},
      {"down-all", strategy_kind::down_all},
      {"down-all-when-unstable", strategy_kind::down_all},
      {"lease-majority", strategy_kind::lease_majority},
  };
  for (const auto& [n, k] : names) {
    if (name == n) {
      return k;
    }
  }
  throw std::invalid_argument("sbr: unknown strategy '" + name + "'");
}

member_status parse_status(const std::string& name) {
  static const std::pair<const char*, member_status> names[] = {
      {"joining", member_status::joining},    {"weakly_up", member_status::weakly_up},
      {"weaklyup", member_status::weakly_up}, {"up", member_status::up},
      {"leaving", member_status::leaving},    {"exiting", member_status::exiting},
      {"down", member_status::down},          {"removed", member_status::removed},
  };
  for (const auto& [n, k] : names) {
    if (name == n) {
      return k;
    }
  }
  throw std::invalid_argument("sbr: unknown member status '" + name + "'");
}

void validate(const settings& s) {
  if (s.quorum_size < 1) {
    throw std::invalid_argument("sbr: quorum-size must be >= 1, got " +
                                std::to_string(s.quorum_size));
  }
  if (s.stable_after <= nanoseconds::zero()) {
    throw std::invalid_argument("sbr: stable-after must be > 0");
  }
  if (s.down_all_when_unstable && *s.down_all_when_unstable < nanoseconds::zero()) {
    throw std::invalid_argument("sbr: down-all-when-unstable must be >= 0");
  }
  if (s.acquire_lease_delay_for_minority < nanoseconds::zero()) {
    throw std::invalid_argument("sbr: acquire-lease-delay-for-minority must be >= 0");
  }
}

nanoseconds down_all_when_unstable_after(const settings& s) {
  if (s.down_all_when_unstable) {
    return *s.down_all_when_unstable;
  }
  return std::max<nanoseconds>(s.stable_after * 3 / 4, std::chrono::seconds(4));
}

std::vector<std::string> indirectly_connected(const decision_view& view) {
  std::set<std::string> downable;
  for (const auto& m : view.members) {
    if (is_downable(m.status)) {
      downable.insert(m.address);
    }
  }
  std::set<std::string> observers;
  std::set<std::string> subjects;
  for (const auto& r : view.records) {
    if (downable.count(r.observer) != 0 && downable.count(r.subject) != 0 &&
        r.observer != r.subject) {
      observers.insert(r.observer);
      subjects.insert(r.subject);
    }
  }
  std::vector<std::string> out;
  std::set_intersection(observers.begin(), observers.end(), subjects.begin(), subjects.end(),
                        std::back_inserter(out));
  return out;
}

std::vector<std::string> nodes_to_down(const decision_view& view, decision_kind kind) {
  const auto indirect = indirectly_connected(view);
  std::vector<std::string> out;
  for (const auto& m : view.members) {
    if (!is_downable(m.status)) {
      continue;
    }
    const bool is_indirect = std::binary_search(indirect.begin(), indirect.end(), m.address);
    bool down = false;
    switch (kind) {
    case decision_kind::down_unreachable:
      down = !m.reachable;
      break;
    case decision_kind::down_reachable:
      down = m.reachable;
      break;
    case decision_kind::down_all:
      down = true;
      break;
    case decision_kind::down_indirectly_connected:
      down = is_indirect || !m.reachable;
      break;
    }
    if (down) {
      out.push_back(m.address);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

decision_kind majority_kind(const settings& s, const decision_view& view) {
  find_self(view);
  const auto indirect = indirectly_connected(view);
  return keep_majority(s, without(view.members, indirect));
}

decision decide(const settings& s, const decision_view& view, bool lease_acquired) {
  validate(s);
  find_self(view);
  const auto indirect = indirectly_connected(view);
  decision_kind kind;
  if (!indirect.empty() && !clean_unreachable_exists(view, indirect)) {
    // Only indirectly connected members: down them, keep the rest.
    kind = decision_kind::down_indirectly_connected;
  } else {
    // The strategy decides over the members without the suspicious
    // observations; when this side survives, the indirectly connected
    // members go along with the unreachable ones.
    kind = strategy_verdict(s, without(view.members, indirect), lease_acquired);
    if (!indirect.empty() && kind == decision_kind::down_unreachable) {
      kind = decision_kind::down_indirectly_connected;
    }
  }
  return decision{kind, nodes_to_down(view, kind), false};
}

lease_fn make_lease(lease_outcome (*fn)(void*), void* context) {
  if (fn == nullptr) {
    return {};
  }
  return [fn, context] { return fn(context); };
}

resolver::resolver(settings s, lease_fn lease)
  : settings_(std::move(s))
  , lease_(std::move(lease)) {
  validate(settings_);
  if (settings_.strategy == strategy_kind::lease_majority && !lease_) {
    throw std::invalid_argument("sbr: lease-majority needs a lease");
  }
}

bool resolver::has_unreachable() const {
  if (!view_) {
    return false;
  }
  for (const auto& m : view_->members) {
    if (!m.reachable && is_downable(m.status)) {
      return true;
    }
  }
  return false;
}

void resolver::update(decision_view view, duration now) {
  find_self(view);
  using key = std::pair<std::string, std::string>;
  auto membership = [](const decision_view& v) {
    std::map<std::string, member_status> out;
    for (const auto& m : v.members) {
      out[m.address] = m.status;
    }
    return out;
  };
  auto reachability = [](const decision_view& v) {
    std::set<key> out;
    for (const auto& m : v.members) {
      if (!m.reachable) {
        out.emplace(m.address, std::string());
      }
    }
    for (const auto& r : v.records) {
      out.emplace(r.observer, r.subject);
    }
    return out;
  };
  bool membership_changed = true;
  bool reachability_changed = !reachability(view).empty();
  if (view_) {
    membership_changed = membership(*view_) != membership(view);
    reachability_changed = reachability(*view_) != reachability(view);
  }
  view_ = std::move(view);
  if (membership_changed || reachability_changed) {
    stable_since_ = now;
    decided_ = false;
    lease_due_.reset();
  }
  if (reachability_changed) {
    if (change_count_ == 0) {
      first_change_ = now;
    }
    latest_change_ = now;
    ++change_count_;
  }
  if (!has_unreachable()) {
    // Healed, or every unreachable member downed: instability is over.
    change_count_ = 0;
  }
}

std::optional<decision> resolver::tick(duration now) {
  if (!has_unreachable()) {
    change_count_ = 0;
    return std::nullopt;
  }
  if (decided_) {
    return std::nullopt;
  }
  if (lease_due_) {
    if (now < *lease_due_) {
      return std::nullopt;
    }
    const auto outcome = lease_();
    if (outcome == lease_outcome::pending) {
      return std::nullopt;
    }
    lease_due_.reset();
    decided_ = true;
    change_count_ = 0;
    return decide(settings_, *view_, outcome == lease_outcome::acquired);
  }
  const bool stable = now - stable_since_ >= settings_.stable_after;
  const auto unstable_after = down_all_when_unstable_after(settings_);
  if (!stable && change_count_ > 0 && unstable_after > duration::zero()) {
    if (now - latest_change_ > settings_.stable_after * 2) {
      change_count_ = 0;
    } else if (now - first_change_ > settings_.stable_after + unstable_after) {
      // The view kept changing: the sides may never agree, down everyone.
      decided_ = true;
      change_count_ = 0;
      return decision{decision_kind::down_all, nodes_to_down(*view_, decision_kind::down_all),
                      true};
    }
  }
  if (!stable) {
    return std::nullopt;
  }
  if (settings_.strategy == strategy_kind::lease_majority) {
    const auto k = majority_kind(settings_, *view_);
    const bool majority_side =
        k == decision_kind::down_unreachable || k == decision_kind::down_indirectly_connected;
    lease_due_ =
        now + (majority_side ? duration::zero() : settings_.acquire_lease_delay_for_minority);
    return tick(now);
  }
  decided_ = true;
  change_count_ = 0;
  return decide(settings_, *view_);
}

} // namespace atomr::cluster::sbr
