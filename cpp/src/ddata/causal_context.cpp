#include "atomr/ddata/causal_context.hpp"

#include <algorithm>

namespace atomr::ddata {

bool causal_context::contains(const dot& d) const {
  auto it = vv_.find(d.node);
  if (it != vv_.end() && d.counter <= it->second)
    return true;
  return cloud_.count(d) != 0;
}

dot causal_context::next_dot(const std::string& node) const {
  std::uint64_t top = 0;
  if (auto it = vv_.find(node); it != vv_.end())
    top = it->second;
  // The cloud is ordered by (node, counter): the last dot of `node` is the
  // one just before the first dot of the next node.
  auto after = cloud_.lower_bound(dot{node + '\0', 0});
  if (after != cloud_.begin()) {
    auto last = std::prev(after);
    if (last->node == node)
      top = std::max(top, last->counter);
  }
  return dot{node, top + 1};
}

void causal_context::add(const dot& d) {
  if (contains(d))
    return;
  auto it = vv_.find(d.node);
  const std::uint64_t have = it == vv_.end() ? 0 : it->second;
  if (d.counter == have + 1 && cloud_.empty()) {
    if (it == vv_.end())
      vv_.emplace(d.node, d.counter);
    else
      it->second = d.counter;
    return;
  }
  cloud_.insert(d);
  compact();
}

void causal_context::merge(const causal_context& other) {
  for (const auto& [node, counter] : other.vv_) {
    auto [it, inserted] = vv_.emplace(node, counter);
    if (!inserted)
      it->second = std::max(it->second, counter);
  }
  cloud_.insert(other.cloud_.begin(), other.cloud_.end());
  compact();
}

bool causal_context::mentions(const std::string& node) const {
  if (vv_.count(node) != 0)
    return true;
  auto it = cloud_.lower_bound(dot{node, 0});
  return it != cloud_.end() && it->node == node;
}

void causal_context::erase_node(const std::string& node) {
  vv_.erase(node);
  auto first = cloud_.lower_bound(dot{node, 0});
  auto last = first;
  while (last != cloud_.end() && last->node == node)
    ++last;
  cloud_.erase(first, last);
}

void causal_context::compact() {
  for (auto it = cloud_.begin(); it != cloud_.end();) {
    auto v = vv_.find(it->node);
    const std::uint64_t have = v == vv_.end() ? 0 : v->second;
    if (it->counter <= have) {
      it = cloud_.erase(it);
    } else if (it->counter == have + 1) {
      if (v == vv_.end())
        vv_.emplace(it->node, it->counter);
      else
        v->second = it->counter;
      it = cloud_.erase(it);
    } else {
      ++it;
    }
  }
}

} // namespace atomr::ddata
