#pragma once

// Which node sees which other node as unreachable. Every observer owns its
// own records and versions them, so tables merge by taking, per observer,
// the records of the newer version.

#include "atomr/cluster/member.hpp"

#include <cstdint>
#include <map>
#include <set>
#include <vector>

namespace atomr::cluster {

enum class reachability_status : std::uint8_t { reachable = 0, unreachable = 1, terminated = 2 };

/// One observation: `observer` sees `subject` with `status` (as of the
/// observer's `version`).
struct reachability_record {
  unique_address observer;
  unique_address subject;
  reachability_status status = reachability_status::reachable;
  std::uint64_t version = 0;
  friend bool operator==(const reachability_record&, const reachability_record&) = default;
};

class reachability {
public:
  /// `observer` now sees `subject` as unreachable.
  reachability unreachable(const unique_address& observer, const unique_address& subject) const;
  /// `observer` sees `subject` as reachable again. When none of the
  /// observer's records says unreachable any more they are all dropped.
  reachability reachable(const unique_address& observer, const unique_address& subject) const;
  /// `observer` knows `subject` is gone for good (terminated is final).
  reachability terminated(const unique_address& observer, const unique_address& subject) const;

  /// Keeps, per observer, the records of the newer version (either side's
  /// when equal: only the observer writes them, so they are the same).
  reachability merge(const reachability& other) const;

  /// Drops every record observed by or about one of `nodes`.
  reachability remove(const std::set<unique_address>& nodes) const;

  /// The aggregated status of `subject`: terminated if any observer says
  /// so, else unreachable if any observer says so, else reachable.
  reachability_status status(const unique_address& subject) const;
  bool is_reachable(const unique_address& subject) const;
  /// Whether `observer` sees `subject` as reachable.
  bool is_reachable(const unique_address& observer, const unique_address& subject) const;
  bool is_all_reachable() const;
  /// Subjects that some observer sees as unreachable (not terminated).
  std::set<unique_address> all_unreachable() const;
  /// Subjects that some observer sees as unreachable or terminated.
  std::set<unique_address> all_unreachable_or_terminated() const;
  /// The same, counting only the observations of observers not in `skip`.
  std::set<unique_address>
  all_unreachable_or_terminated_excluding(const std::set<unique_address>& skip) const;

  /// All records, ordered by observer then subject.
  std::vector<reachability_record> records() const;
  const std::map<unique_address, std::uint64_t>& versions() const noexcept {
    return versions_;
  }

  /// Builds a table from records and versions as they came off the wire
  /// (the decoder validates them first).
  static reachability from_parts(std::vector<reachability_record> records,
                                 std::map<unique_address, std::uint64_t> versions);

  friend bool operator==(const reachability&, const reachability&) = default;

private:
  reachability change(const unique_address& observer, const unique_address& subject,
                      reachability_status status) const;

  // observer -> subject -> (status, version)
  std::map<unique_address, std::map<unique_address, reachability_record>> rows_;
  std::map<unique_address, std::uint64_t> versions_;
};

} // namespace atomr::cluster
