#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace atomr::cluster {

/// How two vector clocks relate.
enum class clock_order : std::uint8_t { before, after, same, concurrent };

/// The name of an ordering (`before`, `after`, `same`, `concurrent`).
std::string_view order_name(clock_order o) noexcept;

/// A vector clock: a counter per node; a missing node counts 0.
class vector_clock {
public:
  /// Increments `node`'s counter.
  void tick(const std::string& node);

  /// The counter of `node` (0 when absent).
  std::uint64_t get(const std::string& node) const noexcept;

  /// Sets `node`'s counter (a counter of 0 removes it).
  void set(const std::string& node, std::uint64_t value);

  /// The pointwise maximum of this and `other`.
  vector_clock merge(const vector_clock& other) const;

  /// Component-wise comparison.
  clock_order compare(const vector_clock& other) const noexcept;

  /// A copy without `node` (a node that left the cluster for good).
  vector_clock prune(const std::string& node) const;

  const std::map<std::string, std::uint64_t>& entries() const noexcept {
    return entries_;
  }

  friend bool operator==(const vector_clock&, const vector_clock&) = default;

private:
  std::map<std::string, std::uint64_t> entries_;
};

} // namespace atomr::cluster
