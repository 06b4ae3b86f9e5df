#include "atomr/ddata/sets.hpp"

namespace atomr::ddata {

bool gset::add(const std::string& element) {
  if (!elements_.insert(element).second)
    return false;
  if (!delta_)
    delta_.emplace();
  delta_->insert(element);
  return true;
}

std::unique_ptr<replicated_data> gset::clone() const {
  return std::make_unique<gset>(*this);
}

std::unique_ptr<replicated_data> gset::empty() const {
  return std::make_unique<gset>();
}

void gset::merge(const replicated_data& other) {
  internal::check_same_type(type_tag::gset, other);
  const auto& o = static_cast<const gset&>(other);
  if (&o == this)
    return;
  auto hint = elements_.begin();
  for (const auto& e : o.elements_)
    hint = std::next(elements_.insert(hint, e));
}

std::unique_ptr<replicated_data> gset::delta() const {
  if (!delta_)
    return nullptr;
  auto d = std::make_unique<gset>();
  d->elements_ = *delta_;
  return d;
}

orset::kernel& orset::delta_kernel() {
  if (!delta_)
    delta_.emplace();
  return *delta_;
}

void orset::add(const std::string& node, const std::string& element) {
  k_.add(node, element, no_payload{}, &delta_kernel());
}

bool orset::remove(const std::string& element) {
  if (!k_.contains(element))
    return false;
  return k_.remove(element, &delta_kernel());
}

void orset::clear() {
  while (k_.size() != 0) {
    const std::string key = k_.entries().begin()->first;
    k_.remove(key, &delta_kernel());
  }
}

std::vector<std::string> orset::elements() const {
  std::vector<std::string> out;
  out.reserve(k_.size());
  for (const auto& [key, _] : k_.entries())
    out.push_back(key);
  return out;
}

std::unique_ptr<replicated_data> orset::clone() const {
  return std::make_unique<orset>(*this);
}

std::unique_ptr<replicated_data> orset::empty() const {
  return std::make_unique<orset>();
}

void orset::merge(const replicated_data& other) {
  internal::check_same_type(type_tag::orset, other);
  k_.join(static_cast<const orset&>(other).k_);
}

bool orset::needs_pruning_from(const std::string& removed) const {
  return k_.mentions(removed);
}

void orset::prune(const std::string& removed, const std::string& collapse_into) {
  internal::check_prune_ids(removed, collapse_into);
  if (!k_.mentions(removed))
    return;
  delta_.reset();
  for (const auto& element : k_.drop_node(removed)) {
    if (!k_.contains(element))
      k_.add(collapse_into, element, no_payload{});
  }
}

void orset::prune_cleanup(const std::string& removed) {
  if (!k_.mentions(removed))
    return;
  delta_.reset();
  k_.drop_node(removed);
}

std::unique_ptr<replicated_data> orset::delta() const {
  if (!delta_)
    return nullptr;
  auto d = std::make_unique<orset>();
  d->k_ = *delta_;
  return d;
}

} // namespace atomr::ddata
