#pragma once

// The storage interface of event sourcing: journals of opaque byte records
// and snapshot stores. Payloads are bytes the caller encoded (the Python
// layer uses the actor system's codecs); the journal never interprets them.

#include "atomr/persistence/error.hpp"
#include "atomr/persistence/fwd.hpp"

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace atomr::persistence {

/// The largest sequence number (an open upper bound).
inline constexpr std::uint64_t max_sequence_nr = std::numeric_limits<std::uint64_t>::max();

/// One event of one persistent entity.
struct persistent_record {
  std::string persistence_id;
  std::uint64_t sequence_nr = 0;
  std::string manifest;
  std::string payload;
  std::int64_t timestamp_ms = 0;
  std::vector<std::string> tags;

  bool operator==(const persistent_record&) const = default;
};

/// Records written together or not at all (one entity, consecutive numbers).
using record_batch = std::vector<persistent_record>;

/// What one `journal::write` call achieved.
struct write_outcome {
  /// One entry per batch: empty when the batch was written, otherwise the
  /// reason it was rejected (nothing of a rejected batch is written).
  std::vector<std::string> rejections;
  /// True when the storage failed: no batch of the call was written.
  bool failed = false;
  /// Why the storage failed (when `failed`).
  std::string error;
};

using write_callback = std::function<void(write_outcome)>;
using record_callback = std::function<void(const persistent_record&)>;
/// A record and its place in the journal's global order of tagged events.
using ordered_record_callback = std::function<void(std::uint64_t, const persistent_record&)>;

/// A tagged event as `events_by_tag_ordered_to_vector` collects it.
struct ordered_record {
  std::uint64_t ordering = 0;
  persistent_record record;
};

/// Why `batch` cannot follow `highest` (the entity's highest sequence
/// number), or an empty string when it can: one non-empty persistence id
/// shared by every record, numbers `highest + 1, highest + 2, ...`.
std::string validate_batch(const record_batch& batch, std::uint64_t highest);

/// Milliseconds since the Unix epoch.
std::int64_t now_ms() noexcept;

/// An append-only event journal. Every member is @threadsafe.
class journal {
public:
  journal() = default;
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;
  virtual ~journal();

  /// Writes each batch atomically, in order. A batch that breaks the
  /// numbering rules (see `validate_batch`) is rejected on its own. Blocks
  /// until the records are durable (as the backend defines it).
  /// @throws journal_error the storage failed; nothing of this call was written.
  virtual std::vector<std::string> write(std::vector<record_batch> batches) = 0;

  /// Like `write`, but may complete later: `done` runs exactly once, on any
  /// thread, with the outcome (a storage failure is reported in it, never
  /// thrown). The default runs `write` on the calling thread.
  virtual void write_async(std::vector<record_batch> batches, write_callback done);

  /// Calls `on_record` for the records of `id` numbered `from..to`
  /// (inclusive), in order, at most `max` of them; deleted records are
  /// skipped. Returns how many were delivered.
  virtual std::uint64_t replay(const std::string& id, std::uint64_t from, std::uint64_t to,
                               std::uint64_t max, const record_callback& on_record) = 0;

  /// The highest sequence number ever written for `id` (0 when none). It
  /// never decreases, deletes included.
  virtual std::uint64_t highest_sequence_nr(const std::string& id) = 0;

  /// Deletes the records of `id` numbered up to `to` (clamped to the highest).
  virtual void delete_to(const std::string& id, std::uint64_t to) = 0;

  /// Every persistence id that was ever written (unordered).
  virtual std::vector<std::string> persistence_ids() = 0;

  /// Calls `on_record` for up to `max` live records carrying `tag` whose
  /// number is at least `from`, across entities.
  virtual std::uint64_t events_by_tag(const std::string& tag, std::uint64_t from, std::uint64_t max,
                                      const record_callback& on_record) = 0;

  /// Calls `on_record` for up to `max` live records carrying `tag` whose
  /// ordering is above `after`, in that order. Each tagged event gets its
  /// ordering when it is written, in the transaction that writes it: a
  /// reader never sees a later ordering before an earlier one, so the last
  /// ordering delivered resumes a query without a gap or a repeat. Read from
  /// the backend's tag index. The default throws journal_error.
  virtual std::uint64_t events_by_tag_ordered(const std::string& tag, std::uint64_t after,
                                              std::uint64_t max,
                                              const ordered_record_callback& on_record);

  /// The ordering of the last tagged event written (0 when none). The
  /// default throws journal_error.
  virtual std::uint64_t highest_ordering();

  /// True when calls block on I/O (callers should keep them off event loops).
  virtual bool blocking() const noexcept = 0;
};

/// A stored snapshot of one entity's state.
struct snapshot_record {
  std::string persistence_id;
  std::uint64_t sequence_nr = 0;
  std::int64_t timestamp_ms = 0;
  std::string manifest;
  std::string payload;

  bool operator==(const snapshot_record&) const = default;
};

/// Which snapshots a load or delete selects: sequence number and timestamp
/// within the inclusive bounds.
struct snapshot_criteria {
  std::uint64_t max_sequence_nr = persistence::max_sequence_nr;
  std::int64_t max_timestamp_ms = std::numeric_limits<std::int64_t>::max();
  std::uint64_t min_sequence_nr = 0;
  std::int64_t min_timestamp_ms = std::numeric_limits<std::int64_t>::min();

  bool matches(std::uint64_t sequence_nr, std::int64_t timestamp_ms) const noexcept {
    return sequence_nr <= max_sequence_nr && sequence_nr >= min_sequence_nr &&
           timestamp_ms <= max_timestamp_ms && timestamp_ms >= min_timestamp_ms;
  }
};

/// Snapshot storage. Every member is @threadsafe.
class snapshot_store {
public:
  snapshot_store() = default;
  snapshot_store(const snapshot_store&) = delete;
  snapshot_store& operator=(const snapshot_store&) = delete;
  virtual ~snapshot_store();

  /// Stores `snapshot`, replacing one of the same entity and number.
  /// @throws journal_error the storage failed.
  virtual void save(const snapshot_record& snapshot) = 0;

  /// The matching snapshot with the highest number, copied into `out`.
  /// Returns false when none matches.
  virtual bool load(const std::string& id, const snapshot_criteria& criteria,
                    snapshot_record& out) = 0;

  /// Deletes the snapshot of `id` numbered `sequence_nr` (no-op when absent).
  virtual void remove(const std::string& id, std::uint64_t sequence_nr) = 0;

  /// Deletes every snapshot of `id` that matches `criteria`.
  virtual void remove_matching(const std::string& id, const snapshot_criteria& criteria) = 0;

  /// True when calls block on I/O.
  virtual bool blocking() const noexcept = 0;
};

/// Journals and snapshot stores that live in the process's memory.
std::shared_ptr<journal> make_in_memory_journal();
std::shared_ptr<snapshot_store> make_in_memory_snapshot_store();

/// Collects a replay into a vector (for callers that cannot pass callbacks).
std::vector<persistent_record> replay_to_vector(journal& j, const std::string& id,
                                                std::uint64_t from, std::uint64_t to,
                                                std::uint64_t max);

/// Collects `events_by_tag` into a vector.
std::vector<persistent_record> events_by_tag_to_vector(journal& j, const std::string& tag,
                                                       std::uint64_t from, std::uint64_t max);

/// Collects `events_by_tag_ordered` into a vector.
std::vector<ordered_record> events_by_tag_ordered_to_vector(journal& j, const std::string& tag,
                                                            std::uint64_t after, std::uint64_t max);

} // namespace atomr::persistence
