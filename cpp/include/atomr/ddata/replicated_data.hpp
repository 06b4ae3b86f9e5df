#pragma once

#include "atomr/ddata/error.hpp"
#include "atomr/ddata/fwd.hpp"

#include <memory>
#include <string>

namespace atomr::ddata {

/// The display name of a type ("GCounter", "ORSet", ...).
const char* type_name(type_tag tag) noexcept;

/// Whether `raw` names a type.
bool is_type_tag(std::uint8_t raw) noexcept;

/// A state-based CRDT: a join-semilattice whose `merge` is commutative,
/// associative and idempotent, and whose updates only move it upwards.
///
/// Every type also keeps a *delta*: the join of its own updates since the
/// last `reset_delta()`, itself a value of the same type. Shipping deltas
/// instead of full states and joining them with `merge_delta` reaches the
/// same state as merging the full states.
///
/// Instances are not synchronised: one thread at a time (the Python layer
/// calls them under the GIL).
class replicated_data {
public:
  virtual ~replicated_data() = default;

  /// The type of this value.
  virtual type_tag tag() const noexcept = 0;

  /// A deep copy (including the pending delta).
  virtual std::unique_ptr<replicated_data> clone() const = 0;

  /// The bottom element of this type (for maps: with the same value type).
  virtual std::unique_ptr<replicated_data> empty() const = 0;

  /// Joins `other` into this value; `other` is unchanged.
  /// @throws type_mismatch_error `other` is of another type.
  virtual void merge(const replicated_data& other) = 0;

  /// The join of this value's own updates since the last reset, or null
  /// when there were none.
  virtual std::unique_ptr<replicated_data> delta() const = 0;

  /// Forgets the pending delta.
  virtual void reset_delta() noexcept = 0;

  /// Joins a delta produced by `delta()` of a replica of the same type.
  void merge_delta(const replicated_data& d) {
    merge(d);
  }

  /// Same type and same state (pending deltas are not compared).
  bool equals(const replicated_data& other) const;

  // -- pruning the state of removed replicas (Akka's RemovedNodePruning) --
  //
  // A replica removed from the cluster never updates again, but the types
  // with per-replica state (counters, the dots of the observed-remove
  // types, the values of maps) keep its entries for ever. Pruning moves
  // them to a live replica: the owner of the pruning calls `prune`, and
  // every other replica calls `prune_cleanup` on its own state and on any
  // state it receives afterwards, so that no copy of the removed replica's
  // entries is merged back (or counted twice). Both are no-ops when
  // `needs_pruning_from` is false, and both forget the pending delta.
  // Types without per-replica state (GSet, Flag, LWWRegister, whose node
  // is only a tie-breaker) keep these defaults.

  /// Whether this value holds state of replica `removed`.
  virtual bool needs_pruning_from(const std::string& /*removed*/) const {
    return false;
  }

  /// Moves `removed`'s state into `collapse_into`'s, keeping the value.
  /// @throws invalid_argument_error the two ids are equal or empty, or a
  ///         count would overflow.
  virtual void prune(const std::string& /*removed*/, const std::string& /*collapse_into*/) {
  }

  /// Drops `removed`'s state (once another replica's `prune` took it over).
  virtual void prune_cleanup(const std::string& /*removed*/) {
  }
};

/// The bottom element of `tag` (an `ormap` needs its value type: use
/// `ormap(value_type)`).
/// @throws type_mismatch_error `tag` is `ormap` or not a type.
std::unique_ptr<replicated_data> make_empty(type_tag tag);

/// The tombstone a deleted key holds: it merges with nothing but itself.
class deleted_data final : public replicated_data {
public:
  type_tag tag() const noexcept override {
    return type_tag::deleted;
  }
  std::unique_ptr<replicated_data> clone() const override;
  std::unique_ptr<replicated_data> empty() const override;
  void merge(const replicated_data& other) override;
  std::unique_ptr<replicated_data> delta() const override {
    return nullptr;
  }
  void reset_delta() noexcept override {
  }
};

namespace internal {

/// Throws type_mismatch_error unless `other` has type `expected`.
void check_same_type(type_tag expected, const replicated_data& other);

/// Throws invalid_argument_error unless `removed` and `collapse_into` are
/// two non-empty, different replica ids.
void check_prune_ids(const std::string& removed, const std::string& collapse_into);

} // namespace internal

} // namespace atomr::ddata
