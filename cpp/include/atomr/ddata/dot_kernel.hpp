#pragma once

#include "atomr/ddata/causal_context.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace atomr::ddata {

/// The payload of a kernel whose entries carry nothing but their dots.
struct no_payload {
  bool operator==(const no_payload&) const = default;
};

/// The causal core of the observed-remove types: each key holds the dots of
/// the adds that put it there (each with an immutable payload), and the
/// causal context holds every dot ever seen.
///
/// Join: a dot survives when both sides hold it, or when one side holds it
/// and the other has not seen it. So a remove (which drops a key's dots but
/// keeps them in the context) beats the adds it observed and loses to a
/// concurrent add (whose dot it has not seen): add wins. A key whose dots
/// are all gone is absent. Deltas are kernels too: an add's delta holds the
/// new dot and, in its context, the dots it replaced; a remove's delta holds
/// only a context.
///
/// Invariant: every dot of an entry is in the context; dot lists are sorted
/// and non-empty.
template <class Payload> class dot_kernel {
public:
  using dot_list = std::vector<std::pair<dot, Payload>>;
  using entry_map = std::map<std::string, dot_list>;

  /// Puts `key` with `payload` under a fresh dot of `node`, replacing the
  /// key's observed dots. Records the change into `delta` when given.
  dot add(const std::string& node, const std::string& key, Payload payload,
          dot_kernel* delta = nullptr) {
    dot d = ctx_.next_dot(node);
    auto it = entries_.find(key);
    if (delta != nullptr) {
      if (it != entries_.end()) {
        for (const auto& [old, _] : it->second)
          delta->ctx_.add(old);
      }
      delta->ctx_.add(d);
      delta->entries_[key] = dot_list{{d, payload}};
    }
    ctx_.add(d);
    if (it == entries_.end()) {
      entries_.emplace(key, dot_list{{d, std::move(payload)}});
    } else {
      it->second.clear();
      it->second.emplace_back(d, std::move(payload));
    }
    return d;
  }

  /// Removes `key` (its observed dots); false when it is absent.
  bool remove(const std::string& key, dot_kernel* delta = nullptr) {
    auto it = entries_.find(key);
    if (it == entries_.end())
      return false;
    if (delta != nullptr) {
      for (const auto& [old, _] : it->second)
        delta->ctx_.add(old);
      delta->entries_.erase(key);
    }
    entries_.erase(it);
    return true;
  }

  /// Joins `other` into this kernel (joining a kernel with itself is a no-op).
  void join(const dot_kernel& other) {
    if (&other == this)
      return;
    entry_map out;
    auto i = entries_.begin();
    auto j = other.entries_.begin();
    const auto iend = entries_.end();
    const auto jend = other.entries_.end();
    while (i != iend || j != jend) {
      if (j == jend || (i != iend && i->first < j->first)) {
        auto node = entries_.extract(i++);
        if (keep_unseen(node.mapped(), other.ctx_))
          out.insert(out.end(), std::move(node));
      } else if (i == iend || j->first < i->first) {
        dot_list copy = j->second;
        if (keep_unseen(copy, ctx_))
          out.emplace_hint(out.end(), j->first, std::move(copy));
        ++j;
      } else {
        auto node = entries_.extract(i++);
        if (join_dots(node.mapped(), j->second, other.ctx_))
          out.insert(out.end(), std::move(node));
        ++j;
      }
    }
    entries_ = std::move(out);
    ctx_.merge(other.ctx_);
  }

  const entry_map& entries() const noexcept {
    return entries_;
  }
  const causal_context& context() const noexcept {
    return ctx_;
  }
  bool contains(const std::string& key) const {
    return entries_.find(key) != entries_.end();
  }
  const dot_list* find(const std::string& key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
  }
  std::size_t size() const noexcept {
    return entries_.size();
  }

  bool operator==(const dot_kernel&) const = default;

  /// Whether any dot of `node` is held or seen (every held dot is seen).
  bool mentions(const std::string& node) const {
    return ctx_.mentions(node);
  }

  /// Drops every dot of `node`, from the entries (a key left without dots
  /// is gone) and from the context. Returns the keys that lost a dot.
  std::vector<std::string> drop_node(const std::string& node) {
    std::vector<std::string> touched;
    for (auto it = entries_.begin(); it != entries_.end();) {
      const std::size_t before = it->second.size();
      std::erase_if(it->second, [&](const auto& e) { return e.first.node == node; });
      if (it->second.size() != before)
        touched.push_back(it->first);
      if (it->second.empty())
        it = entries_.erase(it);
      else
        ++it;
    }
    ctx_.erase_node(node);
    return touched;
  }

  /// Runs `fn(Payload&)` on the payload of every dot (a payload is
  /// immutable for merges: `fn` may only replace it with an equivalent
  /// one, as pruning does).
  template <class Fn> void update_payloads(Fn&& fn) {
    for (auto& [_, dots] : entries_)
      for (auto& [d, payload] : dots)
        fn(payload);
  }

private:
  friend struct internal::wire_access;

  /// Keeps the dots `seen` has not seen; true when any is left.
  static bool keep_unseen(dot_list& dots, const causal_context& seen) {
    std::erase_if(dots, [&](const auto& e) { return seen.contains(e.first); });
    return !dots.empty();
  }

  /// `mine` := dots in both, plus mine unseen by `theirs_ctx`, plus theirs
  /// unseen by this kernel's context. True when any is left.
  bool join_dots(dot_list& mine, const dot_list& theirs, const causal_context& theirs_ctx) const {
    dot_list out;
    out.reserve(std::max(mine.size(), theirs.size()));
    auto a = mine.begin();
    auto b = theirs.begin();
    while (a != mine.end() || b != theirs.end()) {
      if (b == theirs.end() || (a != mine.end() && a->first < b->first)) {
        if (!theirs_ctx.contains(a->first))
          out.push_back(std::move(*a));
        ++a;
      } else if (a == mine.end() || b->first < a->first) {
        if (!ctx_.contains(b->first))
          out.push_back(*b);
        ++b;
      } else {
        out.push_back(std::move(*a));
        ++a;
        ++b;
      }
    }
    mine = std::move(out);
    return !mine.empty();
  }

  entry_map entries_;
  causal_context ctx_;
};

} // namespace atomr::ddata
