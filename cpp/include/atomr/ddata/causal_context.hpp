#pragma once

#include "atomr/ddata/fwd.hpp"

#include <compare>
#include <cstdint>
#include <map>
#include <set>
#include <string>

namespace atomr::ddata {

/// One event: the `counter`-th update made by replica `node` (counter >= 1).
struct dot {
  std::string node;
  std::uint64_t counter = 0;

  auto operator<=>(const dot&) const = default;
  bool operator==(const dot&) const = default;
};

/// The set of dots a replica has seen: a version vector (every dot of a node
/// up to its entry) plus a *cloud* of dots beyond it, which deltas that
/// arrive out of order leave behind. `compact()` folds cloud dots that
/// extend the vector into it, so equal sets of dots have one representation.
class causal_context {
public:
  /// Whether the dot has been seen.
  bool contains(const dot& d) const;

  /// The next dot of `node`: one past every dot of `node` seen so far.
  dot next_dot(const std::string& node) const;

  /// Records `d` as seen (and compacts).
  void add(const dot& d);

  /// Unites `other` into this (and compacts).
  void merge(const causal_context& other);

  /// Folds the cloud into the version vector where it is contiguous.
  void compact();

  /// Whether any dot of `node` has been seen.
  bool mentions(const std::string& node) const;

  /// Forgets every dot of `node` (pruning a removed replica).
  void erase_node(const std::string& node);

  const std::map<std::string, std::uint64_t>& vector() const noexcept {
    return vv_;
  }
  const std::set<dot>& cloud() const noexcept {
    return cloud_;
  }
  bool empty() const noexcept {
    return vv_.empty() && cloud_.empty();
  }

  bool operator==(const causal_context&) const = default;

private:
  friend struct internal::wire_access;

  std::map<std::string, std::uint64_t> vv_;
  std::set<dot> cloud_;
};

} // namespace atomr::ddata
