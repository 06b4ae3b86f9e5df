#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace atomr::core {

/// What a supervisor does with a child whose handler failed.
enum class directive : std::uint8_t {
  resume,   ///< keep the instance and its state, go on with the next message
  restart,  ///< replace the instance with a fresh one from its Props
  stop,     ///< stop the child for good
  escalate, ///< fail the supervisor itself with the same error
};

/// The lower-case name of `d` ("resume", ...); "unknown" for a value outside
/// the enumeration. @threadsafe
const char* to_string(directive d) noexcept;

/// The directive named `name` ("resume", "restart", "stop" or "escalate",
/// case-sensitive). @threadsafe
/// @throws invalid_argument_error naming the bad value and the valid ones.
directive parse_directive(std::string_view name);

namespace internal {

/// Hash and equality that let a `std::string`-keyed map be probed with a
/// `std::string_view` without building a string.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

struct string_equal {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept {
    return a == b;
  }
};

} // namespace internal

/// A supervisor's decision table: exception class path -> directive.
///
/// A failure is described by the class paths of its exception in MRO order
/// (most derived first, `module.qualname`, e.g. `{"myapp.MyError",
/// "builtins.ValueError", "builtins.Exception", "builtins.BaseException",
/// "builtins.object"}`). `decide` walks that list twice:
///   1. the first entry with a rule for exactly that path wins;
///   2. otherwise the first entry whose bare class name (the text after the
///      last '.') equals the bare name of some rule wins, so a rule
///      "ValueError" or "x.ValueError" catches "builtins.ValueError";
///   3. otherwise the default directive applies.
/// When several rules share a bare name, step 2 uses the one added (or
/// replaced) last.
///
/// Not synchronised: build the table first (`add`, `set_default`), then
/// `decide` from any number of threads as long as nobody mutates it.
class decider {
public:
  /// A table with no rules whose default is `fallback` (Akka's default
  /// strategy restarts).
  explicit decider(directive fallback = directive::restart) noexcept
    : default_(fallback) {
  }

  /// Only while nobody else uses the table: maps `class_path` to `d`,
  /// replacing any earlier rule for the same path.
  /// @throws invalid_argument_error if `class_path` is empty.
  void add(std::string class_path, directive d);

  /// Only while nobody else uses the table.
  void set_default(directive d) noexcept {
    default_ = d;
  }

  /// @threadsafe (with no concurrent mutation)
  directive default_directive() const noexcept {
    return default_;
  }

  /// @threadsafe (with no concurrent mutation) Number of distinct rule paths.
  std::size_t size() const noexcept {
    return exact_.size();
  }

  /// @threadsafe (with no concurrent mutation) The directive for a failure
  /// whose exception has the class paths `mro`, most derived first.
  directive decide(const std::vector<std::string>& mro) const;

  /// @threadsafe (with no concurrent mutation) As above, for a braced list
  /// (`d.decide({"myapp.MyError", "builtins.ValueError"})`).
  directive decide(std::initializer_list<std::string_view> mro) const;

  /// @threadsafe (with no concurrent mutation) The directive for a single
  /// class path. Also accepts `"cls.path: message"`: only the text before the
  /// first ": " is looked up.
  directive decide(std::string_view class_path) const;

private:
  struct bare_rule {
    directive value;
    std::uint64_t order; // when the rule was last added; the latest wins
  };

  template <class It> directive decide_range(It first, It last) const;

  using exact_map =
      std::unordered_map<std::string, directive, internal::string_hash, internal::string_equal>;
  using bare_map =
      std::unordered_map<std::string, bare_rule, internal::string_hash, internal::string_equal>;

  exact_map exact_;
  bare_map bare_;
  std::uint64_t next_order_ = 0;
  directive default_;
};

/// How many restarts a child may have within a sliding time window
/// (Akka's `maxNrOfRetries` / `withinTimeRange`).
///
/// A restart at time `now` is allowed iff the restarts recorded in the
/// window (now - within, now], counting this one, number at most
/// `max_retries`. Refused requests are not recorded. Timestamps are seconds
/// on any clock, non-decreasing across calls.
///
/// Memory stays bounded: timestamps that left the window are dropped, a
/// limited budget never holds more than `max_retries` of them, one without a
/// window keeps only a counter, and an unlimited one keeps at most
/// `max_tracked` (its `count_in_window` saturates there).
///
/// Not synchronised: only the supervising cell's dispatcher uses it.
class restart_budget {
public:
  /// The most timestamps an unlimited, windowed budget keeps.
  static constexpr std::size_t max_tracked = 4096;

  /// @param max_retries    restarts allowed in the window; < 0 means
  ///                       unlimited, 0 means never.
  /// @param within_seconds width of the window; <= 0 or infinity means no
  ///                       window (every restart ever counts).
  /// @throws invalid_argument_error if `within_seconds` is NaN.
  explicit restart_budget(int max_retries = -1, double within_seconds = 0.0);

  /// Only the owning dispatcher: asks for one restart at `now_seconds`.
  /// Records it and returns true if allowed; returns false (recording
  /// nothing) otherwise.
  bool request(double now_seconds);

  /// Only the owning dispatcher: forgets every recorded restart.
  void reset() noexcept;

  /// Only the owning dispatcher: restarts recorded in (now - within, now]
  /// (all of them when there is no window).
  int count_in_window(double now_seconds) const noexcept;

  int max_retries() const noexcept {
    return max_retries_;
  }

  /// The window width as given to the constructor.
  double within_seconds() const noexcept {
    return within_;
  }

  bool unlimited() const noexcept {
    return max_retries_ < 0;
  }

  bool has_window() const noexcept {
    return windowed_;
  }

private:
  void expire(double now_seconds) noexcept;

  int max_retries_;
  double within_;
  bool windowed_;
  std::deque<double> stamps_; // restarts inside the window, oldest first
  std::uint64_t total_ = 0;   // restarts ever, used when there is no window
};

} // namespace atomr::core
