#include "atomr/cluster/vector_clock.hpp"

#include <algorithm>

namespace atomr::cluster {

std::string_view order_name(clock_order o) noexcept {
  switch (o) {
  case clock_order::before:
    return "before";
  case clock_order::after:
    return "after";
  case clock_order::same:
    return "same";
  case clock_order::concurrent:
    return "concurrent";
  }
  return "concurrent";
}

void vector_clock::tick(const std::string& node) {
  ++entries_[node];
}

std::uint64_t vector_clock::get(const std::string& node) const noexcept {
  const auto it = entries_.find(node);
  return it == entries_.end() ? 0 : it->second;
}

void vector_clock::set(const std::string& node, std::uint64_t value) {
  if (value == 0)
    entries_.erase(node);
  else
    entries_[node] = value;
}

vector_clock vector_clock::merge(const vector_clock& other) const {
  vector_clock out = *this;
  for (const auto& [node, n] : other.entries_) {
    auto& mine = out.entries_[node];
    mine = std::max(mine, n);
  }
  return out;
}

clock_order vector_clock::compare(const vector_clock& other) const noexcept {
  bool less = false;    // some counter of this is smaller
  bool greater = false; // some counter of this is larger
  auto a = entries_.begin();
  auto b = other.entries_.begin();
  while (a != entries_.end() || b != other.entries_.end()) {
    if (b == other.entries_.end() || (a != entries_.end() && a->first < b->first)) {
      greater = greater || a->second > 0;
      ++a;
    } else if (a == entries_.end() || b->first < a->first) {
      less = less || b->second > 0;
      ++b;
    } else {
      less = less || a->second < b->second;
      greater = greater || a->second > b->second;
      ++a;
      ++b;
    }
  }
  if (less && greater)
    return clock_order::concurrent;
  if (less)
    return clock_order::before;
  if (greater)
    return clock_order::after;
  return clock_order::same;
}

vector_clock vector_clock::prune(const std::string& node) const {
  vector_clock out = *this;
  out.entries_.erase(node);
  return out;
}

} // namespace atomr::cluster
