#include "atomr/ddata/counters.hpp"

#include "atomr/core/error.hpp"

#include <algorithm>
#include <limits>

namespace atomr::ddata {

namespace {

constexpr std::uint64_t max_count = std::numeric_limits<std::uint64_t>::max();

/// Pointwise maximum of `from` into `into`: one linear pass over both
/// sorted maps (no per-entry search).
void max_into(gcounter::counts& into, const gcounter::counts& from) {
  auto it = into.begin();
  for (const auto& [node, count] : from) {
    while (it != into.end() && it->first < node)
      ++it;
    if (it != into.end() && it->first == node) {
      it->second = std::max(it->second, count);
      ++it;
    } else {
      it = std::next(into.emplace_hint(it, node, count));
    }
  }
}

} // namespace

void gcounter::increment(const std::string& node, std::uint64_t delta) {
  if (delta == 0)
    return;
  auto it = counts_.find(node);
  const std::uint64_t have = it == counts_.end() ? 0 : it->second;
  if (delta > max_count - have)
    throw core::invalid_argument_error("GCounter: the count of node `" + node +
                                       "` would overflow 64 bits");
  const std::uint64_t now = have + delta;
  if (it == counts_.end())
    counts_.emplace(node, now);
  else
    it->second = now;
  if (!delta_)
    delta_.emplace();
  (*delta_)[node] = now;
}

std::uint64_t gcounter::value() const {
  std::uint64_t sum = 0;
  for (const auto& [_, count] : counts_) {
    if (count > max_count - sum)
      throw core::invalid_argument_error("GCounter: the value does not fit 64 bits");
    sum += count;
  }
  return sum;
}

std::uint64_t gcounter::count_of(const std::string& node) const {
  auto it = counts_.find(node);
  return it == counts_.end() ? 0 : it->second;
}

std::unique_ptr<replicated_data> gcounter::clone() const {
  return std::make_unique<gcounter>(*this);
}

std::unique_ptr<replicated_data> gcounter::empty() const {
  return std::make_unique<gcounter>();
}

void gcounter::merge(const replicated_data& other) {
  internal::check_same_type(type_tag::gcounter, other);
  merge_counter(static_cast<const gcounter&>(other));
}

void gcounter::merge_counter(const gcounter& other) {
  if (&other == this)
    return;
  max_into(counts_, other.counts_);
}

std::unique_ptr<replicated_data> gcounter::delta() const {
  if (!delta_)
    return nullptr;
  auto d = std::make_unique<gcounter>();
  d->counts_ = *delta_;
  return d;
}

bool gcounter::needs_pruning_from(const std::string& removed) const {
  return counts_.count(removed) != 0;
}

void gcounter::prune(const std::string& removed, const std::string& collapse_into) {
  internal::check_prune_ids(removed, collapse_into);
  auto it = counts_.find(removed);
  if (it == counts_.end())
    return;
  const std::uint64_t moved = it->second;
  const std::uint64_t have = count_of(collapse_into);
  if (moved > max_count - have)
    throw core::invalid_argument_error("GCounter: pruning `" + removed + "` into `" +
                                       collapse_into + "` would overflow 64 bits");
  counts_.erase(it);
  if (moved != 0)
    counts_[collapse_into] = have + moved;
  delta_.reset();
}

void gcounter::prune_cleanup(const std::string& removed) {
  if (counts_.erase(removed) != 0)
    delta_.reset();
}

bool pncounter::needs_pruning_from(const std::string& removed) const {
  return p_.needs_pruning_from(removed) || n_.needs_pruning_from(removed);
}

void pncounter::prune(const std::string& removed, const std::string& collapse_into) {
  internal::check_prune_ids(removed, collapse_into);
  if (!needs_pruning_from(removed))
    return;
  // On copies: an overflow of either counter leaves this one unchanged.
  gcounter p = p_;
  gcounter n = n_;
  p.prune(removed, collapse_into);
  n.prune(removed, collapse_into);
  p_ = std::move(p);
  n_ = std::move(n);
  reset_delta();
}

void pncounter::prune_cleanup(const std::string& removed) {
  p_.prune_cleanup(removed);
  n_.prune_cleanup(removed);
}

void pncounter::increment(const std::string& node, std::uint64_t delta) {
  p_.increment(node, delta);
}

void pncounter::decrement(const std::string& node, std::uint64_t delta) {
  n_.increment(node, delta);
}

std::unique_ptr<replicated_data> pncounter::clone() const {
  return std::make_unique<pncounter>(*this);
}

std::unique_ptr<replicated_data> pncounter::empty() const {
  return std::make_unique<pncounter>();
}

void pncounter::merge(const replicated_data& other) {
  internal::check_same_type(type_tag::pncounter, other);
  const auto& o = static_cast<const pncounter&>(other);
  p_.merge_counter(o.p_);
  n_.merge_counter(o.n_);
}

std::unique_ptr<replicated_data> pncounter::delta() const {
  auto p = p_.delta();
  auto n = n_.delta();
  if (!p && !n)
    return nullptr;
  auto d = std::make_unique<pncounter>();
  if (p)
    d->p_.merge_counter(static_cast<const gcounter&>(*p));
  if (n)
    d->n_.merge_counter(static_cast<const gcounter&>(*n));
  return d;
}

} // namespace atomr::ddata
