#pragma once

#include "atomr/ddata/dot_kernel.hpp"
#include "atomr/ddata/replicated_data.hpp"

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace atomr::ddata {

/// A grow-only set of byte strings (canonical encodings of the elements).
class gset final : public replicated_data {
public:
  /// Adds `element`; false when it was already there.
  bool add(const std::string& element);
  bool contains(const std::string& element) const {
    return elements_.count(element) != 0;
  }
  std::size_t size() const noexcept {
    return elements_.size();
  }
  /// The elements in byte order.
  const std::set<std::string>& elements() const noexcept {
    return elements_;
  }

  type_tag tag() const noexcept override {
    return type_tag::gset;
  }
  std::unique_ptr<replicated_data> clone() const override;
  std::unique_ptr<replicated_data> empty() const override;
  void merge(const replicated_data& other) override;
  std::unique_ptr<replicated_data> delta() const override;
  void reset_delta() noexcept override {
    delta_.reset();
  }

private:
  friend struct internal::wire_access;

  std::set<std::string> elements_;
  std::optional<std::set<std::string>> delta_;
};

/// An observed-remove set with add-wins semantics (dot-based: no
/// tombstones per element, one causal context per set). A remove deletes
/// the adds it has seen; an add concurrent with it survives the merge.
class orset final : public replicated_data {
public:
  using kernel = dot_kernel<no_payload>;

  /// Adds `element` as replica `node` (re-adding refreshes its dot).
  void add(const std::string& node, const std::string& element);
  /// Removes `element`; false when it was absent.
  bool remove(const std::string& element);
  /// Removes every element.
  void clear();
  bool contains(const std::string& element) const {
    return k_.contains(element);
  }
  std::size_t size() const noexcept {
    return k_.size();
  }
  /// The elements in byte order.
  std::vector<std::string> elements() const;

  const kernel& state() const noexcept {
    return k_;
  }

  type_tag tag() const noexcept override {
    return type_tag::orset;
  }
  std::unique_ptr<replicated_data> clone() const override;
  std::unique_ptr<replicated_data> empty() const override;
  void merge(const replicated_data& other) override;
  std::unique_ptr<replicated_data> delta() const override;
  void reset_delta() noexcept override {
    delta_.reset();
  }

  /// Whether a dot of `removed` is held or seen.
  bool needs_pruning_from(const std::string& removed) const override;
  /// Drops `removed`'s dots; an element only `removed` had added is added
  /// again under a fresh dot of `collapse_into`.
  void prune(const std::string& removed, const std::string& collapse_into) override;
  /// Drops `removed`'s dots (an element only `removed` had added is gone
  /// until the pruned state of the owner arrives).
  void prune_cleanup(const std::string& removed) override;

private:
  friend struct internal::wire_access;

  kernel& delta_kernel();

  kernel k_;
  std::optional<kernel> delta_;
};

} // namespace atomr::ddata
