#pragma once

#include "atomr/ddata/replicated_data.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace atomr::ddata {

/// A grow-only counter: one count per replica, merged by pointwise maximum;
/// the value is their sum.
class gcounter final : public replicated_data {
public:
  using counts = std::map<std::string, std::uint64_t>;

  /// Adds `delta` to `node`'s count (0 is a no-op).
  /// @throws invalid_argument_error the count would overflow 64 bits.
  void increment(const std::string& node, std::uint64_t delta);

  /// The sum of all counts.
  /// @throws invalid_argument_error the sum does not fit 64 bits.
  std::uint64_t value() const;

  /// `node`'s own count (0 when it never incremented).
  std::uint64_t count_of(const std::string& node) const;

  const counts& entries() const noexcept {
    return counts_;
  }

  type_tag tag() const noexcept override {
    return type_tag::gcounter;
  }
  std::unique_ptr<replicated_data> clone() const override;
  std::unique_ptr<replicated_data> empty() const override;
  void merge(const replicated_data& other) override;
  std::unique_ptr<replicated_data> delta() const override;
  void reset_delta() noexcept override {
    delta_.reset();
  }

  /// Joins another counter (pointwise maximum).
  void merge_counter(const gcounter& other);

  /// Whether `removed` has a count.
  bool needs_pruning_from(const std::string& removed) const override;
  /// Adds `removed`'s count to `collapse_into`'s and drops it.
  void prune(const std::string& removed, const std::string& collapse_into) override;
  /// Drops `removed`'s count.
  void prune_cleanup(const std::string& removed) override;

private:
  friend struct internal::wire_access;

  counts counts_;
  std::optional<counts> delta_;
};

/// A counter that goes up and down: two grow-only counters, one for the
/// increments and one for the decrements.
class pncounter final : public replicated_data {
public:
  void increment(const std::string& node, std::uint64_t delta);
  void decrement(const std::string& node, std::uint64_t delta);

  /// The sum of the increments (the value is `positive() - negative()`).
  std::uint64_t positive() const {
    return p_.value();
  }
  /// The sum of the decrements.
  std::uint64_t negative() const {
    return n_.value();
  }
  const gcounter& increments() const noexcept {
    return p_;
  }
  const gcounter& decrements() const noexcept {
    return n_;
  }

  type_tag tag() const noexcept override {
    return type_tag::pncounter;
  }
  std::unique_ptr<replicated_data> clone() const override;
  std::unique_ptr<replicated_data> empty() const override;
  void merge(const replicated_data& other) override;
  std::unique_ptr<replicated_data> delta() const override;
  void reset_delta() noexcept override {
    p_.reset_delta();
    n_.reset_delta();
  }

  /// Pruning of both counters (see gcounter).
  bool needs_pruning_from(const std::string& removed) const override;
  void prune(const std::string& removed, const std::string& collapse_into) override;
  void prune_cleanup(const std::string& removed) override;

private:
  friend struct internal::wire_access;

  gcounter p_;
  gcounter n_;
};

} // namespace atomr::ddata
