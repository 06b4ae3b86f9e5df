#include "atomr/core/supervision.hpp"

#include "atomr/core/error.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <string>
#include <utility>

namespace atomr::core {

namespace {

constexpr std::string_view directive_names[] = {"resume", "restart", "stop", "escalate"};

/// The class name without its module: the text after the last '.'.
std::string_view bare_name(std::string_view class_path) noexcept {
  const auto dot = class_path.rfind('.');
  return dot == std::string_view::npos ? class_path : class_path.substr(dot + 1);
}

} // namespace

const char* to_string(directive d) noexcept {
  switch (d) {
  case directive::resume:
    return "resume";
  case directive::restart:
    return "restart";
  case directive::stop:
    return "stop";
  case directive::escalate:
    return "escalate";
  }
  return "unknown";
}

directive parse_directive(std::string_view name) {
  for (std::size_t i = 0; i < std::size(directive_names); ++i) {
    if (name == directive_names[i])
      return static_cast<directive>(i);
  }
  std::string msg = "invalid supervisor directive '";
  msg.append(name);
  msg += "': expected one of ";
  for (std::size_t i = 0; i < std::size(directive_names); ++i) {
    if (i != 0)
      msg += ", ";
    msg.append(directive_names[i]);
  }
  throw invalid_argument_error(msg);
}

// --- decider ---------------------------------------------------------------

void decider::add(std::string class_path, directive d) {
  if (class_path.empty())
    throw invalid_argument_error("a decider rule needs a non-empty exception class path");
  const std::string_view bare = bare_name(class_path);
  auto b = bare_.find(bare);
  if (b == bare_.end())
    bare_.emplace(std::string(bare), bare_rule{d, next_order_++});
  else
    b->second = bare_rule{d, next_order_++};
  exact_.insert_or_assign(std::move(class_path), d);
}

template <class It> directive decider::decide_range(It first, It last) const {
  if (exact_.empty())
    return default_;
  for (It it = first; it != last; ++it) {
    auto e = exact_.find(std::string_view(*it));
    if (e != exact_.end())
      return e->second;
  }
  for (It it = first; it != last; ++it) {
    auto b = bare_.find(bare_name(std::string_view(*it)));
    if (b != bare_.end())
      return b->second.value;
  }
  return default_;
}

directive decider::decide(const std::vector<std::string>& mro) const {
  return decide_range(mro.begin(), mro.end());
}

directive decider::decide(std::initializer_list<std::string_view> mro) const {
  return decide_range(mro.begin(), mro.end());
}

directive decider::decide(std::string_view class_path) const {
  const auto sep = class_path.find(": ");
  if (sep != std::string_view::npos)
    class_path = class_path.substr(0, sep);
  return decide_range(&class_path, &class_path + 1);
}

// --- restart_budget ----------------------------------------------------------

restart_budget::restart_budget(int max_retries, double within_seconds)
  : max_retries_(max_retries < 0 ? -1 : max_retries)
  , within_(within_seconds)
  , windowed_(within_seconds > 0.0 && std::isfinite(within_seconds)) {
  if (std::isnan(within_seconds))
    throw invalid_argument_error("restart budget window must be a number of seconds, not NaN");
}

void restart_budget::expire(double now_seconds) noexcept {
  // Inside the window means t > now - within; the rest will never count again.
  const double horizon = now_seconds - within_;
  while (!stamps_.empty() && stamps_.front() <= horizon)
    stamps_.pop_front();
}

bool restart_budget::request(double now_seconds) {
  if (!windowed_) {
    if (max_retries_ >= 0 && total_ >= static_cast<std::uint64_t>(max_retries_))
      return false;
    ++total_;
    return true;
  }
  expire(now_seconds);
  if (max_retries_ < 0) {
    // Always allowed; the timestamps only feed count_in_window.
    if (stamps_.size() >= max_tracked)
      stamps_.pop_front();
    stamps_.push_back(now_seconds);
    return true;
  }
  if (stamps_.size() + 1 > static_cast<std::size_t>(max_retries_))
    return false;
  stamps_.push_back(now_seconds);
  return true;
}

void restart_budget::reset() noexcept {
  stamps_.clear();
  total_ = 0;
}

int restart_budget::count_in_window(double now_seconds) const noexcept {
  if (!windowed_)
    return static_cast<int>(std::min<std::uint64_t>(total_, INT_MAX));
  const double horizon = now_seconds - within_;
  // Sorted oldest first: count the suffix newer than the horizon.
  auto first_inside = std::upper_bound(stamps_.begin(), stamps_.end(), horizon);
  return static_cast<int>(stamps_.end() - first_inside);
}

} // namespace atomr::core
