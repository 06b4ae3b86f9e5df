#include "atomr/cluster/reachability.hpp"

#include <algorithm>
#include <tuple>

namespace atomr::cluster {

namespace {

using row_type = std::map<unique_address, reachability_record>;

// A row as a comparable value: its (subject, status, version) triples.
std::vector<std::tuple<unique_address, reachability_status, std::uint64_t>>
row_key(const row_type& row) {
  std::vector<std::tuple<unique_address, reachability_status, std::uint64_t>> out;
  for (const auto& [s, rec] : row)
    out.emplace_back(s, rec.status, rec.version);
  return out;
}

} // namespace

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
      // Only the observer writes its rows, so equal versions mean equal
      // rows; should they ever differ, the larger wins, so merge stays
      // commutative.
      const auto ra = rows_.find(o);
      const auto rb = other.rows_.find(o);
      const row_type none;
      const row_type& xa = ra == rows_.end() ? none : ra->second;
      const row_type& xb = rb == other.rows_.end() ? none : rb->second;
      const row_type& win = row_key(xa) >= row_key(xb) ? xa : xb;
      if (!win.empty())
        out.rows_[o] = win;
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
