#include "atomr/ddata/maps.hpp"

#include "atomr/core/error.hpp"
#include "atomr/ddata/counters.hpp"
#include "atomr/ddata/registers.hpp"
#include "atomr/ddata/sets.hpp"

#include <algorithm>

namespace atomr::ddata {

ormap::ormap(type_tag value_type)
  : value_type_(value_type) {
  if (!is_value_type(value_type))
    throw type_mismatch_error(std::string("an ORMap cannot hold values of type ") +
                              type_name(value_type));
}

bool ormap::is_value_type(type_tag t) noexcept {
  switch (t) {
  case type_tag::gcounter:
  case type_tag::pncounter:
  case type_tag::gset:
  case type_tag::orset:
  case type_tag::lww_register:
  case type_tag::flag:
  case type_tag::lww_map:
  case type_tag::pncounter_map:
  case type_tag::ormultimap:
    return true;
  case type_tag::ormap:
  case type_tag::deleted:
    return false;
  }
  return false;
}

ormap::kernel& ormap::delta_kernel() {
  if (!delta_)
    delta_.emplace();
  return *delta_;
}

void ormap::put(const std::string& node, const std::string& key, const replicated_data& value) {
  put_owned(node, key, value.clone());
}

void ormap::put_owned(const std::string& node, const std::string& key,
                      std::unique_ptr<replicated_data> value) {
  if (value->tag() != value_type_)
    throw type_mismatch_error(std::string("this ORMap holds ") + type_name(value_type_) +
                              " values, not " + type_name(value->tag()));
  value->reset_delta();
  k_.add(node, key, value_ptr(std::move(value)), &delta_kernel());
}

bool ormap::remove(const std::string& key) {
  if (!k_.contains(key))
    return false;
  return k_.remove(key, &delta_kernel());
}

void ormap::clear() {
  while (k_.size() != 0) {
    const std::string key = k_.entries().begin()->first;
    k_.remove(key, &delta_kernel());
  }
}

std::unique_ptr<replicated_data> ormap::get(const std::string& key) const {
  const auto* dots = k_.find(key);
  if (dots == nullptr)
    return nullptr;
  auto it = dots->begin();
  auto out = it->second->clone();
  for (++it; it != dots->end(); ++it)
    out->merge(*it->second);
  return out;
}

std::unique_ptr<replicated_data> ormap::get_or_empty(const std::string& key) const {
  auto v = get(key);
  return v ? std::move(v) : make_empty(value_type_);
}

std::vector<std::string> ormap::keys() const {
  std::vector<std::string> out;
  out.reserve(k_.size());
  for (const auto& [key, _] : k_.entries())
    out.push_back(key);
  return out;
}

std::unique_ptr<replicated_data> ormap::clone() const {
  return std::make_unique<ormap>(*this);
}

std::unique_ptr<replicated_data> ormap::empty() const {
  return std::make_unique<ormap>(value_type_);
}

void ormap::merge(const replicated_data& other) {
  internal::check_same_type(type_tag::ormap, other);
  merge_map(static_cast<const ormap&>(other));
}

void ormap::merge_map(const ormap& other) {
  if (other.value_type_ != value_type_)
    throw type_mismatch_error(std::string("cannot merge an ORMap of ") +
                              type_name(other.value_type_) + " into an ORMap of " +
                              type_name(value_type_));
  k_.join(other.k_);
}

bool ormap::needs_pruning_from(const std::string& removed) const {
  if (k_.mentions(removed))
    return true;
  for (const auto& [_, dots] : k_.entries())
    for (const auto& [d, value] : dots)
      if (value->needs_pruning_from(removed))
        return true;
  return false;
}

void ormap::prune(const std::string& removed, const std::string& collapse_into) {
  internal::check_prune_ids(removed, collapse_into);
  if (!needs_pruning_from(removed))
    return;
  // The new values first (a failing value prune leaves the map unchanged).
  std::vector<std::pair<std::string, std::unique_ptr<replicated_data>>> redo;
  for (const auto& [key, dots] : k_.entries()) {
    const bool hit = std::any_of(dots.begin(), dots.end(), [&](const auto& e) {
      return e.first.node == removed || e.second->needs_pruning_from(removed);
    });
    if (hit) {
      auto joined = get(key);
      joined->prune(removed, collapse_into);
      joined->reset_delta();
      redo.emplace_back(key, std::move(joined));
    }
  }
  delta_.reset();
  k_.drop_node(removed);
  for (auto& [key, value] : redo)
    k_.add(collapse_into, key, value_ptr(std::move(value)));
}

void ormap::prune_cleanup(const std::string& removed) {
  if (!needs_pruning_from(removed))
    return;
  delta_.reset();
  k_.drop_node(removed);
  k_.update_payloads([&](value_ptr& value) {
    if (value->needs_pruning_from(removed)) {
      auto cleaned = value->clone();
      cleaned->prune_cleanup(removed);
      value = value_ptr(std::move(cleaned));
    }
  });
}

std::unique_ptr<replicated_data> ormap::delta() const {
  if (!delta_)
    return nullptr;
  auto d = std::make_unique<ormap>(value_type_);
  d->k_ = *delta_;
  return d;
}

bool lww_map::put(const std::string& node, const std::string& key, const std::string& value,
                  std::int64_t timestamp, const std::string& writer) {
  return map_.update(node, key, [&](replicated_data& v) {
    return static_cast<lww_register&>(v).set(value, timestamp, writer);
  });
}

void lww_map::put_now(const std::string& node, const std::string& key, const std::string& value,
                      const std::string& writer) {
  map_.update(node, key, [&](replicated_data& v) {
    static_cast<lww_register&>(v).set_now(value, writer);
    return true;
  });
}

std::unique_ptr<replicated_data> lww_map::clone() const {
  return std::make_unique<lww_map>(*this);
}

std::unique_ptr<replicated_data> lww_map::empty() const {
  return std::make_unique<lww_map>();
}

std::unique_ptr<replicated_data> lww_map::delta() const {
  return delta_as<lww_map>();
}

void pncounter_map::increment(const std::string& node, const std::string& key, std::uint64_t delta,
                              const std::string& counter_node) {
  map_.update(node, key, [&](replicated_data& v) {
    static_cast<pncounter&>(v).increment(counter_node, delta);
    return true;
  });
}

void pncounter_map::decrement(const std::string& node, const std::string& key, std::uint64_t delta,
                              const std::string& counter_node) {
  map_.update(node, key, [&](replicated_data& v) {
    static_cast<pncounter&>(v).decrement(counter_node, delta);
    return true;
  });
}

std::unique_ptr<replicated_data> pncounter_map::clone() const {
  return std::make_unique<pncounter_map>(*this);
}

std::unique_ptr<replicated_data> pncounter_map::empty() const {
  return std::make_unique<pncounter_map>();
}

std::unique_ptr<replicated_data> pncounter_map::delta() const {
  return delta_as<pncounter_map>();
}

std::string ormultimap::binding(const std::string& key, const std::string& element) {
  if (key.size() > 0xFFFFFFFFu)
    throw core::invalid_argument_error("ORMultiMap: key longer than 4 GiB");
  const auto n = static_cast<std::uint32_t>(key.size());
  std::string out;
  out.reserve(4 + key.size() + element.size());
  out.push_back(static_cast<char>((n >> 24) & 0xFF));
  out.push_back(static_cast<char>((n >> 16) & 0xFF));
  out.push_back(static_cast<char>((n >> 8) & 0xFF));
  out.push_back(static_cast<char>(n & 0xFF));
  out += key;
  out += element;
  return out;
}

bool ormultimap::split(const std::string& binding, std::string& key, std::string& element) {
  if (binding.size() < 4)
    return false;
  const auto* b = reinterpret_cast<const unsigned char*>(binding.data());
  const std::size_t n = (std::size_t{b[0]} << 24) | (std::size_t{b[1]} << 16) |
                        (std::size_t{b[2]} << 8) | std::size_t{b[3]};
  if (n > binding.size() - 4)
    return false;
  key.assign(binding, 4, n);
  element.assign(binding, 4 + n, std::string::npos);
  return true;
}

namespace {

/// The first binding of `key` in `set` (bindings of one key are adjacent).
auto first_binding(const orset& set, const std::string& prefix) {
  return set.state().entries().lower_bound(prefix);
}

bool has_prefix(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

} // namespace

void ormultimap::add(const std::string& node, const std::string& key, const std::string& element) {
  set_.add(node, binding(key, element));
}

bool ormultimap::remove(const std::string& key, const std::string& element) {
  return set_.remove(binding(key, element));
}

bool ormultimap::remove_key(const std::string& key) {
  const std::string prefix = binding(key, "");
  std::vector<std::string> doomed;
  for (auto it = first_binding(set_, prefix);
       it != set_.state().entries().end() && has_prefix(it->first, prefix); ++it)
    doomed.push_back(it->first);
  for (const auto& b : doomed)
    set_.remove(b);
  return !doomed.empty();
}

bool ormultimap::contains(const std::string& key, const std::string& element) const {
  return set_.contains(binding(key, element));
}

bool ormultimap::contains_key(const std::string& key) const {
  const std::string prefix = binding(key, "");
  auto it = first_binding(set_, prefix);
  return it != set_.state().entries().end() && has_prefix(it->first, prefix);
}

std::vector<std::string> ormultimap::get(const std::string& key) const {
  const std::string prefix = binding(key, "");
  std::vector<std::string> out;
  for (auto it = first_binding(set_, prefix);
       it != set_.state().entries().end() && has_prefix(it->first, prefix); ++it)
    out.push_back(it->first.substr(prefix.size()));
  return out;
}

std::vector<std::string> ormultimap::keys() const {
  std::vector<std::string> out;
  std::string key;
  std::string element;
  for (const auto& [b, _] : set_.state().entries()) {
    if (!split(b, key, element))
      continue;
    if (out.empty() || out.back() != key)
      out.push_back(key);
  }
  return out;
}

std::size_t ormultimap::key_count() const {
  return keys().size();
}

std::unique_ptr<replicated_data> ormultimap::clone() const {
  return std::make_unique<ormultimap>(*this);
}

std::unique_ptr<replicated_data> ormultimap::empty() const {
  return std::make_unique<ormultimap>();
}

void ormultimap::merge(const replicated_data& other) {
  internal::check_same_type(type_tag::ormultimap, other);
  set_.merge(static_cast<const ormultimap&>(other).set_);
}

std::unique_ptr<replicated_data> ormultimap::delta() const {
  auto d = set_.delta();
  if (!d)
    return nullptr;
  auto out = std::make_unique<ormultimap>();
  out->set_ = std::move(static_cast<orset&>(*d));
  return out;
}

} // namespace atomr::ddata
