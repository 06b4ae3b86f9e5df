#include "atomr/cluster/reachability.hpp"

#include <algorithm>

namespace atomr::cluster {

reachability reachability::change(const unique_address& observer, const unique_address& subject,
                                  reachability_status status) const {
  reachability out = *this;
  auto& row = out.rows_[observer];
  auto it = row.find(subject);
  if (it != row.end() && it->second.status == reachability_status::terminated)
    return *this; // terminated is final
  if (it != row.end() && it->second.status == status)
    return *this;
  if (it == row.end() && status == reachability_status::reachable) {
    if (row.empty())
      out.rows_.erase(observer);
    return *this; // reachable is the default; nothing to record
  }
  const std::uint64_t version = ++out.versions_[observer];
  row[subject] = reachability_record{observer, subject, status, version};
  if (status == reachability_status::reachable &&
      std::all_of(row.begin(), row.end(), [](const auto& kv) {
        return kv.second.status == reachability_status::reachable;
      }))
    out.rows_.erase(observer);
  return out;
}

reachability reachability::unreachable(const unique_address& observer,
                                       const unique_address& subject) const {
  return change(observer, subject, reachability_status::unreachable);
}

reachability reachability::reachable(const unique_address& observer,
                                     const unique_address& subject) const {
  return change(observer, subject, reachability_status::reachable);
}

reachability reachability::terminated(const unique_address& observer,
                                      const unique_address& subject) const {
  return change(observer, subject, reachability_status::terminated);
}

reachability reachability::merge(const reachability& other) const {
  reachability out;
  std::set<unique_address> observers;
  for (const auto& [o, v] : versions_)
    observers.insert(o);
  for (const auto& [o, v] : other.versions_)
    observers.insert(o);
  for (const auto& o : observers) {
    const auto va = versions_.find(o);
    const auto vb = other.versions_.find(o);
    const std::uint64_t a = va == versions_.end() ? 0 : va->second;
    const std::uint64_t b = vb == other.versions_.end() ? 0 : vb->second;
    const reachability& src = a >= b ? *this : other;
    out.versions_[o] = std::max(a, b);
    if (a == b) {
      // Only the observer writes its rows, so equal versions mean equal rows;
      // pick the larger to stay symmetric even if that was ever broken.
      const auto ra = rows_.find(o);
      const auto rb = other.rows_.find(o);
      const bool has_a = ra != rows_.end();
      const bool has_b = rb != other.rows_.end();
      if (has_a && has_b) {
        std::vector<reachability_record> xa, xb;
        for (const auto& kv : ra->second)
          xa.push_back(kv.second);
        for (const auto& kv : rb->second)
          xb.push_back(kv.second);
        const auto key = [](const reachability_record& r) {
          return std::tie(r.subject, r.status, r.version);
        };
        const bool a_wins = std::lexicographical_compare(
                              xb.begin(), xb.end(), xa.begin(), xa.end(),
                              [&](const auto& l, const auto& r) { return key(l) < key(r); }) ||
                            !std::lexicographical_compare(
                              xa.begin(), xa.end(), xb.begin(), xb.end(),
                              [&](const auto& l, const auto& r) { return key(l) < key(r); });
        out.rows_[o] = a_wins ? ra->second : rb->second;
      } else if (has_a || has_b) {
        out.rows_[o] = has_a ? ra->second : rb->second;
      }
      continue;
    }
    const auto r = src.rows_.find(o);
    if (r != src.rows_.end())
      out.rows_[o] = r->second;
  }
  return out;
}

reachability reachability::remove(const std::set<unique_address>& nodes) const {
  reachability out;
  for (const auto& [o, row] : rows_) {
    if (nodes.count(o))
      continue;
    std::map<unique_address, reachability_record> kept;
    for (const auto& [s, rec] : row)
      if (!nodes.count(s))
        kept.emplace(s, rec);
    if (!kept.empty())
      out.rows_.emplace(o, std::move(kept));
  }
  for (const auto& [o, v] : versions_)
    if (!nodes.count(o))
      out.versions_.emplace(o, v);
  return out;
}

reachability_status reachability::status(const unique_address& subject) const {
  auto result = reachability_status::reachable;
  for (const auto& [o, row] : rows_) {
    const auto it = row.find(subject);
    if (it == row.end())
      continue;
    if (it->second.status == reachability_status::terminated)
      return reachability_status::terminated;
    if (it->second.status == reachability_status::unreachable)
      result = reachability_status::unreachable;
  }
  return result;
}

bool reachability::is_reachable(const unique_address& subject) const {
  return status(subject) == reachability_status::reachable;
}

bool reachability::is_reachable(const unique_address& observer,
                                const unique_address& subject) const {
  const auto r = rows_.find(observer);
  if (r == rows_.end())
    return true;
  const auto it = r->second.find(subject);
  return it == r->second.end() || it->second.status == reachability_status::reachable;
}

bool reachability::is_all_reachable() const {
  for (const auto& [o, row] : rows_)
    for (const auto& [s, rec] : row)
      if (rec.status != reachability_status::reachable)
        return false;
  return true;
}

std::set<unique_address> reachability::all_unreachable() const {
  std::set<unique_address> out;
  for (const auto& [o, row] : rows_)
    for (const auto& [s, rec] : row)
      if (rec.status == reachability_status::unreachable &&
          status(s) == reachability_status::unreachable)
        out.insert(s);
  return out;
}

std::set<unique_address> reachability::all_unreachable_or_terminated() const {
  return all_unreachable_or_terminated_excluding({});
}

std::set<unique_address>
reachability::all_unreachable_or_terminated_excluding(const std::set<unique_address>& skip) const {
  std::set<unique_address> out;
  for (const auto& [o, row] : rows_) {
    if (skip.count(o))
      continue;
    for (const auto& [s, rec] : row)
      if (rec.status != reachability_status::reachable)
        out.insert(s);
  }
  return out;
}

std::vector<reachability_record> reachability::records() const {
  std::vector<reachability_record> out;
  for (const auto& [o, row] : rows_)
    for (const auto& [s, rec] : row)
      out.push_back(rec);
  return out;
}

reachability reachability::from_parts(std::vector<reachability_record> records,
                                      std::map<unique_address, std::uint64_t> versions) {
  reachability out;
  out.versions_ = std::move(versions);
  for (auto& rec : records) {
    auto observer = rec.observer;
    auto subject = rec.subject;
    out.rows_[observer][subject] = std::move(rec);
  }
  return out;
}

} // namespace atomr::cluster
