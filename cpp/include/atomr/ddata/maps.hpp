#pragma once

#include "atomr/ddata/dot_kernel.hpp"
#include "atomr/ddata/replicated_data.hpp"
#include "atomr/ddata/sets.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace atomr::ddata {

/// An observed-remove map from byte-string keys to CRDTs of one value type.
///
/// Keys follow the add-wins rules of `dot_kernel`. Each write of a key
/// (`put`, `update`) puts the key under a fresh dot carrying the new value,
/// replacing the dots (and values) it observed; a value under a dot never
/// changes afterwards. Concurrent writes leave several dots, and the key's
/// value is the join of their values. Because values are tied to dots, a
/// remove drops exactly the values it observed and merge stays associative.
class ormap final : public replicated_data {
public:
  using value_ptr = std::shared_ptr<const replicated_data>;
  using kernel = dot_kernel<value_ptr>;

  /// @throws type_mismatch_error `value_type` cannot be a map value.
  explicit ormap(type_tag value_type);

  /// Whether values of type `t` may live in an `ormap`.
  static bool is_value_type(type_tag t) noexcept;

  type_tag value_type() const noexcept {
    return value_type_;
  }

  /// Stores a copy of `value` (its delta reset) under `key`, as replica
  /// `node`; the previous value is replaced, not merged.
  /// @throws type_mismatch_error `value` is not of the value type.
  void put(const std::string& node, const std::string& key, const replicated_data& value);

  /// As `put`, taking ownership.
  void put_owned(const std::string& node, const std::string& key,
                 std::unique_ptr<replicated_data> value);

  /// Removes `key`; false when it was absent.
  bool remove(const std::string& key);

  /// Removes every key.
  void clear();

  /// A copy of `key`'s value, or null when absent.
  std::unique_ptr<replicated_data> get(const std::string& key) const;

  /// A copy of `key`'s value, or the empty value when absent.
  std::unique_ptr<replicated_data> get_or_empty(const std::string& key) const;

  bool contains(const std::string& key) const {
    return k_.contains(key);
  }
  std::size_t size() const noexcept {
    return k_.size();
  }
  /// The keys in byte order.
  std::vector<std::string> keys() const;

  /// Runs `fn(value&) -> bool` on a working copy of `key`'s value (the
  /// empty value when absent) and stores the copy when `fn` returns true.
  template <class Fn> bool update(const std::string& node, const std::string& key, Fn&& fn) {
    auto value = get_or_empty(key);
    if (!fn(*value))
      return false;
    put_owned(node, key, std::move(value));
    return true;
  }

  const kernel& state() const noexcept {
    return k_;
  }

  type_tag tag() const noexcept override {
    return type_tag::ormap;
  }
  std::unique_ptr<replicated_data> clone() const override;
  std::unique_ptr<replicated_data> empty() const override;
  void merge(const replicated_data& other) override;
  std::unique_ptr<replicated_data> delta() const override;
  void reset_delta() noexcept override {
    delta_.reset();
  }

  /// Joins another map of the same value type.
  /// @throws type_mismatch_error the value types differ.
  void merge_map(const ormap& other);

  /// Whether a dot of `removed` is held or seen, or a value holds state of
  /// `removed`.
  bool needs_pruning_from(const std::string& removed) const override;
  /// Each key with a dot of `removed` or a value holding its state gets
  /// the join of its values, pruned into `collapse_into`, under a fresh
  /// dot of `collapse_into`; `removed`'s dots are dropped.
  void prune(const std::string& removed, const std::string& collapse_into) override;
  /// Drops `removed`'s dots and its state in every value.
  void prune_cleanup(const std::string& removed) override;

private:
  friend struct internal::wire_access;

  kernel& delta_kernel();

  type_tag value_type_;
  kernel k_;
  std::optional<kernel> delta_;
};

namespace internal {

/// Shared plumbing of the maps with a fixed value type: they are an
/// `ormap` under their own type tag.
template <type_tag Tag, type_tag Value> class typed_map : public replicated_data {
public:
  ormap& map() noexcept {
    return map_;
  }
  const ormap& map() const noexcept {
    return map_;
  }

  type_tag tag() const noexcept override {
    return Tag;
  }
  void merge(const replicated_data& other) override {
    check_same_type(Tag, other);
    map_.merge_map(static_cast<const typed_map&>(other).map_);
  }
  void reset_delta() noexcept override {
    map_.reset_delta();
  }
  bool needs_pruning_from(const std::string& removed) const override {
    return map_.needs_pruning_from(removed);
  }
  void prune(const std::string& removed, const std::string& collapse_into) override {
    map_.prune(removed, collapse_into);
  }
  void prune_cleanup(const std::string& removed) override {
    map_.prune_cleanup(removed);
  }

protected:
  /// The map's pending delta moved into `out` (null when there is none).
  template <class Derived> std::unique_ptr<replicated_data> delta_as() const {
    auto d = map_.delta();
    if (!d)
      return nullptr;
    auto out = std::make_unique<Derived>();
    out->map_ = std::move(static_cast<ormap&>(*d));
    return out;
  }

  ormap map_{Value};
};

} // namespace internal

/// Key -> last-writer-wins register of bytes.
class lww_map final : public internal::typed_map<type_tag::lww_map, type_tag::lww_register> {
public:
  /// Writes `value` under `key` stamped (`timestamp`, `writer`) as replica
  /// `node`; applied only when newer than the key's current stamp.
  bool put(const std::string& node, const std::string& key, const std::string& value,
           std::int64_t timestamp, const std::string& writer);

  /// Writes `value` under `key` stamped by the monotone local clock.
  void put_now(const std::string& node, const std::string& key, const std::string& value,
               const std::string& writer);

  std::unique_ptr<replicated_data> clone() const override;
  std::unique_ptr<replicated_data> empty() const override;
  std::unique_ptr<replicated_data> delta() const override;

private:
  friend struct internal::wire_access;
  friend class internal::typed_map<type_tag::lww_map, type_tag::lww_register>;
};

/// Key -> PN-counter.
class pncounter_map final
  : public internal::typed_map<type_tag::pncounter_map, type_tag::pncounter> {
public:
  /// Adds `delta` to `key`'s counter, counted for `counter_node`, as replica `node`.
  void increment(const std::string& node, const std::string& key, std::uint64_t delta,
                 const std::string& counter_node);
  void decrement(const std::string& node, const std::string& key, std::uint64_t delta,
                 const std::string& counter_node);

  std::unique_ptr<replicated_data> clone() const override;
  std::unique_ptr<replicated_data> empty() const override;
  std::unique_ptr<replicated_data> delta() const override;

private:
  friend struct internal::wire_access;
  friend class internal::typed_map<type_tag::pncounter_map, type_tag::pncounter>;
};

/// Key -> observed-remove set of elements. Stored as one add-wins set of
/// (key, element) bindings, so each binding follows the ORSet rules exactly
/// (a remove never loses to an unrelated concurrent add under the same
/// key). A key is present while it has a binding.
class ormultimap final : public replicated_data {
public:
  /// Adds `element` to `key`'s set as replica `node`.
  void add(const std::string& node, const std::string& key, const std::string& element);
  /// Removes `element` from `key`'s set; false when it was not there.
  bool remove(const std::string& key, const std::string& element);
  /// Removes every element of `key`; false when the key was absent.
  bool remove_key(const std::string& key);
  /// Whether `key`'s set holds `element`.
  bool contains(const std::string& key, const std::string& element) const;
  /// Whether `key` has an element.
  bool contains_key(const std::string& key) const;
  /// `key`'s elements in byte order.
  std::vector<std::string> get(const std::string& key) const;
  /// The keys, ordered by (length, bytes).
  std::vector<std::string> keys() const;
  std::size_t key_count() const;

  /// The binding of (`key`, `element`): the key's length (4 bytes, big
  /// endian), the key, then the element.
  static std::string binding(const std::string& key, const std::string& element);
  /// Splits a binding; false when it is malformed.
  static bool split(const std::string& binding, std::string& key, std::string& element);

  const orset& bindings() const noexcept {
    return set_;
  }

  type_tag tag() const noexcept override {
    return type_tag::ormultimap;
  }
  std::unique_ptr<replicated_data> clone() const override;
  std::unique_ptr<replicated_data> empty() const override;
  void merge(const replicated_data& other) override;
  std::unique_ptr<replicated_data> delta() const override;
  void reset_delta() noexcept override {
    set_.reset_delta();
  }
  /// Pruning of the bindings (see orset).
  bool needs_pruning_from(const std::string& removed) const override {
    return set_.needs_pruning_from(removed);
  }
  void prune(const std::string& removed, const std::string& collapse_into) override {
    set_.prune(removed, collapse_into);
  }
  void prune_cleanup(const std::string& removed) override {
    set_.prune_cleanup(removed);
  }

private:
  friend struct internal::wire_access;

  orset set_;
};

} // namespace atomr::ddata
