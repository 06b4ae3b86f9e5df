#include "atomr/ddata/registers.hpp"

#include "atomr/core/error.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <tuple>

namespace atomr::ddata {

lww_register::lww_register(std::string value, std::int64_t timestamp, std::string node)
  : value_(std::move(value))
  , timestamp_(timestamp)
  , node_(std::move(node)) {
}

std::int64_t lww_register::now_micros() noexcept {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

bool lww_register::newer(std::int64_t timestamp, const std::string& node,
                         const std::string& value) const {
  return std::tie(timestamp, node, value) > std::tie(timestamp_, node_, value_);
}

bool lww_register::set(const std::string& value, std::int64_t timestamp, const std::string& node) {
  if (std::tie(timestamp, node) <= std::tie(timestamp_, node_))
    return false;
  value_ = value;
  timestamp_ = timestamp;
  node_ = node;
  dirty_ = true;
  return true;
}

void lww_register::set_now(const std::string& value, const std::string& node) {
  std::int64_t ts = now_micros();
  if (timestamp_ != std::numeric_limits<std::int64_t>::max())
    ts = std::max(ts, timestamp_ + 1);
  else
    throw core::invalid_argument_error("LwwRegister: the timestamp is at its maximum");
  value_ = value;
  timestamp_ = ts;
  node_ = node;
  dirty_ = true;
}

std::unique_ptr<replicated_data> lww_register::clone() const {
  return std::make_unique<lww_register>(*this);
}

std::unique_ptr<replicated_data> lww_register::empty() const {
  return std::make_unique<lww_register>();
}

void lww_register::merge(const replicated_data& other) {
  internal::check_same_type(type_tag::lww_register, other);
  const auto& o = static_cast<const lww_register&>(other);
  if (newer(o.timestamp_, o.node_, o.value_)) {
    value_ = o.value_;
    timestamp_ = o.timestamp_;
    node_ = o.node_;
  }
}

std::unique_ptr<replicated_data> lww_register::delta() const {
  if (!dirty_)
    return nullptr;
  auto d = std::make_unique<lww_register>(value_, timestamp_, node_);
  return d;
}

void flag::enable() noexcept {
  if (!on_)
    dirty_ = true;
  on_ = true;
}

std::unique_ptr<replicated_data> flag::clone() const {
  return std::make_unique<flag>(*this);
}

std::unique_ptr<replicated_data> flag::empty() const {
  return std::make_unique<flag>();
}

void flag::merge(const replicated_data& other) {
  internal::check_same_type(type_tag::flag, other);
  on_ = on_ || static_cast<const flag&>(other).on_;
}

std::unique_ptr<replicated_data> flag::delta() const {
  if (!dirty_)
    return nullptr;
  auto d = std::make_unique<flag>();
  d->on_ = true;
  return d;
}

} // namespace atomr::ddata
