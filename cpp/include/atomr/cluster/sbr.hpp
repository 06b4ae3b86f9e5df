#pragma once

// The split brain resolver (SBR): when members of a cluster become
// unreachable, decide which side of the partition keeps running and which
// members are downed, following Akka's split brain resolver rules.
//
// The decider is self-contained: it does not read the membership itself but
// is handed a `decision_view` (the members as this node sees them, with
// their reachability) and the current time of a clock the caller chooses, so
// tests drive it with virtual time. It is not thread-safe.
//
// Counting rules (as in Akka):
// * Only `up` and `leaving` members are counted when sides are compared;
//   `joining` and `weakly_up` members are not counted (they may already be
//   up on the other side, which is checked as an edge case), `down`,
//   `exiting` and `removed` members are ignored.
// * With a role, only members with that role are counted (and the oldest /
//   the lowest address is taken among them).
// * The members a decision downs are all not yet `down`/`exiting`/`removed`
//   members of the chosen set, joining and weakly up ones included.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace atomr::cluster::sbr {

enum class member_status : std::uint8_t {
  joining,
  weakly_up,
  up,
  leaving,
  exiting,
  down,
  removed,
};

/// One member as this node sees it.
struct view_member {
  std::string address;
  std::uint64_t uid = 0;
  member_status status = member_status::up;
  std::vector<std::string> roles;
  /// Age order: a lower number became up earlier (is older).
  std::int64_t up_number = 0;
  /// Reachable from this node's point of view (self is always reachable).
  bool reachable = true;
};

/// An unreachability observation: `observer` sees `subject` as unreachable.
/// A member that is both the observer and the subject of such records is
/// indirectly connected (it can still gossip through others).
struct unreachable_record {
  std::string observer;
  std::string subject;
};

struct decision_view {
  /// The address of this node (must be one of `members`).
  std::string self;
  std::vector<view_member> members;
  std::vector<unreachable_record> records;
};

enum class strategy_kind : std::uint8_t {
  keep_majority,
  static_quorum,
  keep_oldest,
  down_all,
  lease_majority,
};

enum class decision_kind : std::uint8_t {
  /// Down the unreachable members: this side survives.
  down_unreachable,
  /// Down the reachable members, self included: the other side survives.
  down_reachable,
  /// Down every member.
  down_all,
  /// Down the indirectly connected members and the cleanly unreachable
  /// ones; the fully connected members of this side survive.
  down_indirectly_connected,
};

/// The strategy's name as in config ("keep-majority", ...).
const char* to_string(strategy_kind k) noexcept;
const char* to_string(decision_kind k) noexcept;
const char* to_string(member_status s) noexcept;
/// Parses a config strategy name; "down-all-when-unstable" is accepted as an
/// alias of "down-all". Unknown names throw `std::invalid_argument`.
strategy_kind parse_strategy(const std::string& name);
/// Parses a status ("weaklyup" and "weakly_up" both accepted); unknown names
/// throw `std::invalid_argument`.
member_status parse_status(const std::string& name);

struct settings {
  strategy_kind strategy = strategy_kind::keep_majority;
  /// Only members with this role are counted (empty: all members).
  std::string role;
  /// static-quorum: the smallest number of (role) members a side needs (>= 1).
  int quorum_size = 1;
  /// keep-oldest: when the oldest is alone on its side, down it instead and
  /// keep the other side.
  bool down_if_alone = true;
  /// How long membership and reachability must stay unchanged before a
  /// decision is taken (> 0).
  std::chrono::nanoseconds stable_after = std::chrono::seconds(20);
  /// Down every member when a decision has not been possible for
  /// `stable_after + down_all_when_unstable` since the first reachability
  /// change. Unset: derived as in Akka, 3/4 of `stable_after` but at least
  /// 4 s. Zero: off.
  std::optional<std::chrono::nanoseconds> down_all_when_unstable;
  /// lease-majority: the side that would lose under keep-majority waits this
  /// long before it tries to acquire the lease (>= 0).
  std::chrono::nanoseconds acquire_lease_delay_for_minority = std::chrono::seconds(2);
};

/// Throws `std::invalid_argument` unless every setting is within its domain.
void validate(const settings& s);

/// The derived down-all-when-unstable duration (zero: off).
std::chrono::nanoseconds down_all_when_unstable_after(const settings& s);

struct decision {
  decision_kind kind = decision_kind::down_unreachable;
  /// The addresses to down, sorted.
  std::vector<std::string> down;
  /// True when taken because the view did not become stable in time.
  bool unstable = false;
};

/// The members a view says are indirectly connected, sorted.
std::vector<std::string> indirectly_connected(const decision_view& view);

/// The addresses `kind` downs in `view` (sorted).
std::vector<std::string> nodes_to_down(const decision_view& view, decision_kind kind);

/// The strategy's decision for `view`, ignoring timing. For lease-majority,
/// `lease_acquired` says whether this side holds the lease: it decides like
/// keep-majority would have on the side that holds it (down_unreachable or
/// down_indirectly_connected) and down_reachable on the other. Throws
/// `std::invalid_argument` for a view without `self` among its members.
decision decide(const settings& s, const decision_view& view, bool lease_acquired = false);

/// The keep-majority verdict for this side, which lease-majority uses to
/// tell whether this side should wait before acquiring the lease.
decision_kind majority_kind(const settings& s, const decision_view& view);

enum class lease_outcome : std::uint8_t {
  acquired,
  denied,
  /// Not known yet: asked again on the next tick.
  pending,
};

/// The lease of lease-majority: one attempt to acquire it.
using lease_fn = std::function<lease_outcome()>;

/// A `lease_fn` calling `fn(context)` (for callers without closures).
lease_fn make_lease(lease_outcome (*fn)(void*), void* context);

/// The resolver with its timing: feed it every view change with `update`
/// and call `tick` periodically; a decision comes out once the view has
/// been stable for `stable_after` (or down-all once it has been unstable for
/// too long). Time is any monotonic clock the caller chooses.
class resolver {
public:
  using duration = std::chrono::nanoseconds;

  /// Validates `s`. lease-majority needs a lease.
  explicit resolver(settings s, lease_fn lease = {});

  /// A new view at `now`. A change of membership (address, status) or
  /// reachability restarts the stable-after period; a change of reachability
  /// also feeds the instability detection. Cancels a pending lease attempt.
  void update(decision_view view, duration now);

  /// The decision due at `now`, if any. After a decision the resolver waits
  /// for the next view change before it decides again.
  std::optional<decision> tick(duration now);

  /// Whether the resolver waits for the lease (lease-majority).
  bool acquiring_lease() const noexcept {
    return lease_due_.has_value();
  }
  /// When the current view became stable (last change).
  duration stable_since() const noexcept {
    return stable_since_;
  }
  const settings& config() const noexcept {
    return settings_;
  }

private:
  bool has_unreachable() const;

  settings settings_;
  lease_fn lease_;
  std::optional<decision_view> view_;
  duration stable_since_{0};
  bool decided_ = false;
  // Instability tracking: first and latest reachability change, count.
  duration first_change_{0};
  duration latest_change_{0};
  std::uint64_t change_count_ = 0;
  std::optional<duration> lease_due_;
};

} // namespace atomr::cluster::sbr
