// LMDB journal and snapshot store with group commit.

#include "atomr/persistence/lmdb.hpp"

#include "atomr/persistence/record_format.hpp"
#include "atomr/storage/environment.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>

namespace atomr::persistence {
namespace {

using internal::entity_meta;

using storage::as_val;
using storage::as_view;
using storage::cursor;

/// Runs `f`, turning a storage failure into a journal failure (the Python
/// layer raises JournalError for it).
template <class F> decltype(auto) as_journal_error(F&& f) {
  try {
    return f();
  } catch (const storage::error& e) {
    throw journal_error(e.what());
  }
}

void check_put(int rc) {
  storage::check("put", rc);
}

/// The journal's state in one LMDB environment, shared by every journal and
/// snapshot store on its directory: the database handles and the writer
/// thread. It is an attachment of the storage environment, so it lives and
/// dies with it.
class environment {
public:
  /// A unit of work of the writer thread.
  class job {
  public:
    virtual ~job() = default;
    /// Applies the work inside `txn`. May run again in a fresh transaction
    /// (after the map grew), so it resets its own results first.
    virtual void apply(environment& env, MDB_txn* txn) = 0;
    /// Runs once after the commit (`failure` null) or the failure.
    virtual void finish(const std::string* failure) = 0;
  };

  /// The journal state of the environment at `options.path` (opened, or
  /// shared with the journals of this process already using it).
  static std::shared_ptr<environment> open(const lmdb_options& options);

  explicit environment(storage::environment& env);
  environment(const environment&) = delete;
  environment& operator=(const environment&) = delete;
  ~environment();

  /// Queues `j` for the next group commit. @threadsafe
  void submit(std::shared_ptr<job> j);

  /// Runs `f(txn)` in a read-only transaction. @threadsafe
  template <class F> void read(F&& f) {
    as_journal_error([&] { env_.read(std::forward<F>(f)); });
  }

  MDB_dbi events() const noexcept {
    return events_;
  }
  MDB_dbi meta() const noexcept {
    return meta_;
  }
  MDB_dbi snapshots() const noexcept {
    return snapshots_;
  }
  /// The tag index: key `record_key(tag, ordering)`, value the event's key.
  MDB_dbi tags() const noexcept {
    return tags_;
  }
  /// Journal-wide counters (the last ordering given to a tagged event).
  MDB_dbi global() const noexcept {
    return global_;
  }

  /// The last ordering given to a tagged event, read in `txn`.
  std::uint64_t read_ordering(MDB_txn* txn) const;
  /// Stores `ordering` as the last one given.
  void write_ordering(MDB_txn* txn, std::uint64_t ordering) const;
  /// Enters `record` (stored under `event_key`) in the tag index with
  /// `ordering`.
  void index_record(MDB_txn* txn, const persistent_record& record, std::string_view event_key,
                    std::uint64_t ordering) const;

private:
  enum class outcome { committed, failed, map_full_at_max, txn_full };

  void build_tag_index(MDB_txn* txn);

  void run();
  void commit_group(const std::vector<std::shared_ptr<job>>& group);
  outcome try_commit(const std::vector<std::shared_ptr<job>>& group, std::string& error);

  storage::environment& env_;
  MDB_dbi events_ = 0;
  MDB_dbi meta_ = 0;
  MDB_dbi snapshots_ = 0;
  MDB_dbi tags_ = 0;
  MDB_dbi global_ = 0;

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<std::shared_ptr<job>> queue_;
  bool stopping_ = false;
  std::thread writer_;
};

std::shared_ptr<environment> environment::open(const lmdb_options& options) {
  return as_journal_error([&] {
    storage::environment_options o;
    o.path = options.path;
    o.map_size = options.map_size;
    o.max_map_size = options.max_map_size;
    o.max_dbs = 8;
    o.sync = options.sync;
    auto env = storage::environment::open(o, storage::open_mode::shared);
    return env->attachment<environment>([&] { return std::make_shared<environment>(*env); });
  });
}

environment::environment(storage::environment& env)
  : env_(env) {
  env_.write([&](MDB_txn* txn) {
    storage::check("open databases", mdb_dbi_open(txn, "journal", MDB_CREATE, &events_));
    storage::check("open databases", mdb_dbi_open(txn, "journal-meta", MDB_CREATE, &meta_));
    storage::check("open databases", mdb_dbi_open(txn, "snapshots", MDB_CREATE, &snapshots_));
    int rc = mdb_dbi_open(txn, "journal-global", 0, &global_);
    if (rc == MDB_NOTFOUND) {
      // A journal written before the tag index existed (or a new one):
      // index the events it holds, in key order, in this transaction.
      storage::check("open databases", mdb_dbi_open(txn, "journal-global", MDB_CREATE, &global_));
      storage::check("open databases", mdb_dbi_open(txn, "journal-tags", MDB_CREATE, &tags_));
      build_tag_index(txn);
    } else {
      storage::check("open databases", rc);
      storage::check("open databases", mdb_dbi_open(txn, "journal-tags", MDB_CREATE, &tags_));
    }
  });
  writer_ = std::thread([this] { run(); });
}

environment::~environment() {
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) {
    if (writer_.get_id() == std::this_thread::get_id()) {
      writer_.detach(); // cannot happen with the factories below; never join self
    } else {
      writer_.join();
    }
  }
}

constexpr std::string_view ordering_key = "ordering";

std::uint64_t environment::read_ordering(MDB_txn* txn) const {
  MDB_val key = as_val(ordering_key);
  MDB_val value;
  int rc = mdb_get(txn, global_, &key, &value);
  if (rc == MDB_NOTFOUND) {
    return 0;
  }
  storage::check("get", rc);
  std::string_view bytes = as_view(value);
  if (bytes.size() != 8) {
    throw journal_error("the journal's tag index is damaged: its ordering counter holds " +
                        std::to_string(bytes.size()) + " bytes");
  }
  std::uint64_t n = 0;
  for (unsigned char c : bytes) {
    n = (n << 8) | c;
  }
  return n;
}

void environment::write_ordering(MDB_txn* txn, std::uint64_t ordering) const {
  char bytes[8];
  for (int i = 7; i >= 0; --i) {
    bytes[i] = static_cast<char>(ordering & 0xff);
    ordering >>= 8;
  }
  MDB_val key = as_val(ordering_key);
  MDB_val value = as_val(std::string_view(bytes, 8));
  check_put(mdb_put(txn, global_, &key, &value, 0));
}

void environment::index_record(MDB_txn* txn, const persistent_record& record,
                               std::string_view event_key, std::uint64_t ordering) const {
  for (std::size_t i = 0; i < record.tags.size(); ++i) {
    const std::string& tag = record.tags[i];
    if (std::find(record.tags.begin(), record.tags.begin() + static_cast<std::ptrdiff_t>(i), tag) !=
        record.tags.begin() + static_cast<std::ptrdiff_t>(i)) {
      continue; // a tag named twice is entered once
    }
    std::string key = internal::record_key(tag, ordering);
    MDB_val k = as_val(key);
    MDB_val v = as_val(event_key);
    check_put(mdb_put(txn, tags_, &k, &v, 0));
  }
}

void environment::build_tag_index(MDB_txn* txn) {
  std::uint64_t ordering = 0;
  cursor c(txn, events_);
  MDB_val k, v;
  for (bool found = c.move(MDB_FIRST, k, v); found; found = c.move(MDB_NEXT, k, v)) {
    persistent_record record = internal::decode_record(as_view(v));
    if (!record.tags.empty()) {
      index_record(txn, record, as_view(k), ++ordering);
    }
  }
  write_ordering(txn, ordering);
}

void environment::submit(std::shared_ptr<job> j) {
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    queue_.push_back(std::move(j));
  }
  queue_cv_.notify_one();
}

void environment::run() {
  for (;;) {
    std::vector<std::shared_ptr<job>> group;
    {
      std::unique_lock<std::mutex> lock(queue_mutex_);
      queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {
        return; // stopping, and every queued job is done
      }
      group.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
      queue_.clear();
    }
    commit_group(group);
  }
}

void environment::commit_group(const std::vector<std::shared_ptr<job>>& group) {
  std::string error;
  outcome result = try_commit(group, error);
  if ((result == outcome::map_full_at_max || result == outcome::txn_full) && group.size() > 1) {
    // One oversized write must not fail the others: commit them one by one.
    for (const auto& j : group) {
      commit_group({j});
    }
    return;
  }
  if (result == outcome::txn_full) {
    error = "the write is too large for one LMDB transaction";
  }
  for (const auto& j : group) {
    try {
      j->finish(result == outcome::committed ? nullptr : &error);
    } catch (...) {
      // A completion callback must not take the writer thread down.
    }
  }
}

environment::outcome environment::try_commit(const std::vector<std::shared_ptr<job>>& group,
                                             std::string& error) {
  try {
    // Grows the map and runs the group again while the map is full.
    env_.write([&](MDB_txn* txn) {
      for (const auto& j : group) {
        j->apply(*this, txn);
      }
    });
    return outcome::committed;
  } catch (const storage::error& e) {
    error = e.what();
    switch (e.value()) {
    case storage::errc::map_full:
      return outcome::map_full_at_max;
    case storage::errc::txn_full:
      return outcome::txn_full;
    default:
      return outcome::failed;
    }
  } catch (const std::exception& e) {
    error = e.what();
    return outcome::failed;
  }
}

// -- helpers over a transaction ------------------------------------------------

entity_meta read_meta(MDB_txn* txn, MDB_dbi dbi, const std::string& id) {
  MDB_val key = as_val(id);
  MDB_val value;
  int rc = mdb_get(txn, dbi, &key, &value);
  if (rc == MDB_NOTFOUND) {
    return {};
  }
  storage::check("get", rc);
  return internal::decode_meta(as_view(value));
}

void write_meta(MDB_txn* txn, MDB_dbi dbi, const std::string& id, const entity_meta& meta) {
  std::string bytes = internal::encode_meta(meta);
  MDB_val key = as_val(id);
  MDB_val value = as_val(bytes);
  check_put(mdb_put(txn, dbi, &key, &value, 0));
}

bool has_prefix(std::string_view key, std::string_view prefix) {
  return key.size() == prefix.size() + 8 && key.substr(0, prefix.size()) == prefix;
}

/// Waits for a job submitted from a blocking call.
class blocking_job : public environment::job {
public:
  std::future<std::string> result() {
    return done_.get_future();
  }
  void finish(const std::string* failure) override {
    done_.set_value(failure == nullptr ? std::string() : *failure);
  }
  /// Submits `j` and waits for it. @throws journal_error on failure.
  static void run(environment& env, const std::shared_ptr<blocking_job>& j) {
    auto f = j->result();
    env.submit(j);
    std::string failure = f.get();
    if (!failure.empty()) {
      throw journal_error(failure);
    }
  }

private:
  std::promise<std::string> done_;
};

// -- journal -------------------------------------------------------------------

class write_job final : public environment::job {
public:
  write_job(std::vector<record_batch> batches, write_callback done)
    : batches_(std::move(batches))
    , done_(std::move(done)) {
  }

  void apply(environment& env, MDB_txn* txn) override {
    rejections_.assign(batches_.size(), std::string());
    // The tagged events of this write take the orderings after the last
    // one committed (read once, in this transaction, when first needed).
    std::uint64_t ordering = 0;
    for (std::size_t i = 0; i < batches_.size(); ++i) {
      const record_batch& batch = batches_[i];
      if (batch.empty()) {
        continue;
      }
      const std::string& id = batch.front().persistence_id;
      if (id.empty()) {
        rejections_[i] = validate_batch(batch, 0);
        continue;
      }
      if (id.size() > lmdb_max_persistence_id) {
        rejections_[i] =
            "persistence id longer than " + std::to_string(lmdb_max_persistence_id) + " bytes";
        continue;
      }
      entity_meta meta = read_meta(txn, env.meta(), id);
      std::string reason = validate_batch(batch, meta.highest);
      if (!reason.empty()) {
        rejections_[i] = std::move(reason);
        continue;
      }
      for (const auto& record : batch) {
        std::string key = internal::record_key(id, record.sequence_nr);
        std::string value = internal::encode_record(record);
        MDB_val k = as_val(key);
        MDB_val v = as_val(value);
        check_put(mdb_put(txn, env.events(), &k, &v, 0));
        if (!record.tags.empty()) {
          if (ordering == 0) {
            ordering = env.read_ordering(txn);
          }
          env.index_record(txn, record, key, ++ordering);
        }
      }
      meta.highest = batch.back().sequence_nr;
      write_meta(txn, env.meta(), id, meta);
    }
    if (ordering != 0) {
      env.write_ordering(txn, ordering);
    }
  }

  void finish(const std::string* failure) override {
    write_outcome outcome;
    if (failure != nullptr) {
      outcome.failed = true;
      outcome.error = *failure;
    } else {
      outcome.rejections = std::move(rejections_);
    }
    done_(std::move(outcome));
  }

private:
  std::vector<record_batch> batches_;
  std::vector<std::string> rejections_;
  write_callback done_;
};

class delete_job final : public blocking_job {
public:
  delete_job(std::string id, std::uint64_t to)
    : id_(std::move(id))
    , to_(to) {
  }

  void apply(environment& env, MDB_txn* txn) override {
    entity_meta meta = read_meta(txn, env.meta(), id_);
    std::uint64_t to = std::min(to_, meta.highest);
    if (to <= meta.deleted_to) {
      return;
    }
    std::string prefix = internal::key_prefix(id_);
    cursor c(txn, env.events());
    MDB_val k, v;
    bool found = c.seek(internal::record_key(id_, meta.deleted_to + 1), k, v);
    while (found && has_prefix(as_view(k), prefix) && internal::key_sequence_nr(as_view(k)) <= to) {
      std::uint64_t seq = internal::key_sequence_nr(as_view(k));
      c.del();
      found = c.seek(internal::record_key(id_, seq + 1), k, v);
    }
    meta.deleted_to = to;
    write_meta(txn, env.meta(), id_, meta);
  }

private:
  std::string id_;
  std::uint64_t to_;
};

class lmdb_journal final : public journal {
public:
  explicit lmdb_journal(std::shared_ptr<environment> env)
    : env_(std::move(env)) {
  }

  std::vector<std::string> write(std::vector<record_batch> batches) override {
    std::promise<write_outcome> promise;
    auto future = promise.get_future();
    write_async(std::move(batches),
                [&promise](write_outcome outcome) { promise.set_value(std::move(outcome)); });
    write_outcome outcome = future.get();
    if (outcome.failed) {
      throw journal_error(outcome.error);
    }
    return std::move(outcome.rejections);
  }

  void write_async(std::vector<record_batch> batches, write_callback done) override {
    env_->submit(std::make_shared<write_job>(std::move(batches), std::move(done)));
  }

  std::uint64_t replay(const std::string& id, std::uint64_t from, std::uint64_t to,
                       std::uint64_t max, const record_callback& on_record) override {
    std::uint64_t n = 0;
    if (max == 0 || from > to || id.empty() || id.size() > lmdb_max_persistence_id) {
      return 0;
    }
    env_->read([&](MDB_txn* txn) {
      entity_meta meta = read_meta(txn, env_->meta(), id);
      std::uint64_t start = std::max({from, meta.deleted_to + 1, std::uint64_t{1}});
      if (start > to || start > meta.highest) {
        return;
      }
      // The events from `start` to the last one asked for are all there,
      // numbered one after another: a gap or an early end is lost data.
      const std::uint64_t last = std::min(to, meta.highest);
      std::uint64_t expected = start;
      std::string prefix = internal::key_prefix(id);
      cursor c(txn, env_->events());
      MDB_val k, v;
      for (bool found = c.seek(internal::record_key(id, start), k, v);
           found && n < max && has_prefix(as_view(k), prefix); found = c.move(MDB_NEXT, k, v)) {
        const std::uint64_t seq = internal::key_sequence_nr(as_view(k));
        if (seq > to) {
          break;
        }
        if (seq != expected || as_view(k).size() != prefix.size() + 8) {
          throw journal_error("the journal of `" + id + "` is damaged: event " +
                              std::to_string(expected) + " is missing (the next key holds " +
                              std::to_string(seq) + ", the highest sequence number is " +
                              std::to_string(meta.highest) + ")");
        }
        persistent_record record = internal::decode_record(as_view(v));
        if (record.sequence_nr != seq || record.persistence_id != id) {
          throw journal_error("the journal of `" + id + "` is damaged: the key of event " +
                              std::to_string(seq) + " holds event " +
                              std::to_string(record.sequence_nr) + " of `" + record.persistence_id +
                              "`");
        }
        on_record(record);
        ++n;
        ++expected;
      }
      if (n < max && expected <= last) {
        throw journal_error("the journal of `" + id + "` is damaged: it ends at event " +
                            std::to_string(expected - 1) + " but its highest sequence number is " +
                            std::to_string(meta.highest));
      }
    });
    return n;
  }

  std::uint64_t highest_sequence_nr(const std::string& id) override {
    std::uint64_t highest = 0;
    if (id.empty() || id.size() > lmdb_max_persistence_id) {
      return 0;
    }
    env_->read([&](MDB_txn* txn) { highest = read_meta(txn, env_->meta(), id).highest; });
    return highest;
  }

  void delete_to(const std::string& id, std::uint64_t to) override {
    if (id.empty() || id.size() > lmdb_max_persistence_id) {
      return;
    }
    blocking_job::run(*env_, std::make_shared<delete_job>(id, to));
  }

  std::vector<std::string> persistence_ids() override {
    std::vector<std::string> ids;
    env_->read([&](MDB_txn* txn) {
      cursor c(txn, env_->meta());
      MDB_val k, v;
      for (bool found = c.move(MDB_FIRST, k, v); found; found = c.move(MDB_NEXT, k, v)) {
        ids.emplace_back(as_view(k));
      }
    });
    return ids;
  }

  std::uint64_t events_by_tag(const std::string& tag, std::uint64_t from, std::uint64_t max,
                              const record_callback& on_record) override {
    std::uint64_t n = 0;
    if (max == 0) {
      return 0;
    }
    env_->read([&](MDB_txn* txn) {
      cursor c(txn, env_->events());
      MDB_val k, v;
      for (bool found = c.move(MDB_FIRST, k, v); found && n < max; found = c.move(MDB_NEXT, k, v)) {
        if (internal::key_sequence_nr(as_view(k)) < from) {
          continue;
        }
        persistent_record record = internal::decode_record(as_view(v));
        if (std::find(record.tags.begin(), record.tags.end(), tag) != record.tags.end()) {
          on_record(record);
          ++n;
        }
      }
    });
    return n;
  }

  std::uint64_t events_by_tag_ordered(const std::string& tag, std::uint64_t after,
                                      std::uint64_t max,
                                      const ordered_record_callback& on_record) override {
    std::uint64_t n = 0;
    if (max == 0 || after == max_sequence_nr) {
      return 0;
    }
    env_->read([&](MDB_txn* txn) {
      std::string prefix = internal::key_prefix(tag);
      cursor c(txn, env_->tags());
      MDB_val k, v;
      for (bool found = c.seek(internal::record_key(tag, after + 1), k, v);
           found && n < max && has_prefix(as_view(k), prefix); found = c.move(MDB_NEXT, k, v)) {
        // The entries of deleted events stay in the index: skip them here.
        MDB_val event_key = v;
        MDB_val event;
        int rc = mdb_get(txn, env_->events(), &event_key, &event);
        if (rc == MDB_NOTFOUND) {
          continue;
        }
        storage::check("get", rc);
        persistent_record record = internal::decode_record(as_view(event));
        on_record(internal::key_sequence_nr(as_view(k)), record);
        ++n;
      }
    });
    return n;
  }

  std::uint64_t highest_ordering() override {
    std::uint64_t ordering = 0;
    env_->read([&](MDB_txn* txn) { ordering = env_->read_ordering(txn); });
    return ordering;
  }

  bool blocking() const noexcept override {
    return true;
  }

private:
  std::shared_ptr<environment> env_;
};

// -- snapshot store --------------------------------------------------------------

class save_snapshot_job final : public blocking_job {
public:
  explicit save_snapshot_job(const snapshot_record& snapshot)
    : key_(internal::record_key(snapshot.persistence_id, snapshot.sequence_nr))
    , value_(internal::encode_snapshot(snapshot)) {
  }

  void apply(environment& env, MDB_txn* txn) override {
    MDB_val k = as_val(key_);
    MDB_val v = as_val(value_);
    check_put(mdb_put(txn, env.snapshots(), &k, &v, 0));
  }

private:
  std::string key_;
  std::string value_;
};

class remove_snapshots_job final : public blocking_job {
public:
  remove_snapshots_job(std::string id, const snapshot_criteria& criteria)
    : id_(std::move(id))
    , criteria_(criteria) {
  }

  void apply(environment& env, MDB_txn* txn) override {
    std::string prefix = internal::key_prefix(id_);
    cursor c(txn, env.snapshots());
    MDB_val k, v;
    bool found = c.seek(internal::record_key(id_, criteria_.min_sequence_nr), k, v);
    while (found && has_prefix(as_view(k), prefix)) {
      std::uint64_t seq = internal::key_sequence_nr(as_view(k));
      if (seq > criteria_.max_sequence_nr) {
        break;
      }
      snapshot_record s = internal::decode_snapshot(as_view(v));
      if (criteria_.matches(seq, s.timestamp_ms)) {
        c.del();
      }
      if (seq == persistence::max_sequence_nr) {
        break;
      }
      found = c.seek(internal::record_key(id_, seq + 1), k, v);
    }
  }

private:
  std::string id_;
  snapshot_criteria criteria_;
};

class lmdb_snapshot_store final : public snapshot_store {
public:
  explicit lmdb_snapshot_store(std::shared_ptr<environment> env)
    : env_(std::move(env)) {
  }

  void save(const snapshot_record& snapshot) override {
    if (snapshot.persistence_id.empty()) {
      throw journal_error("a snapshot needs a persistence id");
    }
    if (snapshot.persistence_id.size() > lmdb_max_persistence_id) {
      throw journal_error("persistence id longer than " + std::to_string(lmdb_max_persistence_id) +
                          " bytes");
    }
    blocking_job::run(*env_, std::make_shared<save_snapshot_job>(snapshot));
  }

  bool load(const std::string& id, const snapshot_criteria& criteria,
            snapshot_record& out) override {
    bool hit = false;
    if (id.empty() || id.size() > lmdb_max_persistence_id ||
        criteria.min_sequence_nr > criteria.max_sequence_nr) {
      return false;
    }
    env_->read([&](MDB_txn* txn) {
      std::string prefix = internal::key_prefix(id);
      cursor c(txn, env_->snapshots());
      MDB_val k, v;
      // The last key <= (id, max): seek past it, then step back.
      bool found = c.seek(internal::record_key(id, criteria.max_sequence_nr), k, v);
      if (!found) {
        found = c.move(MDB_LAST, k, v);
      } else if (!(has_prefix(as_view(k), prefix) &&
                   internal::key_sequence_nr(as_view(k)) <= criteria.max_sequence_nr)) {
        found = c.move(MDB_PREV, k, v);
      }
      for (; found && has_prefix(as_view(k), prefix); found = c.move(MDB_PREV, k, v)) {
        std::uint64_t seq = internal::key_sequence_nr(as_view(k));
        if (seq < criteria.min_sequence_nr) {
          break;
        }
        snapshot_record s = internal::decode_snapshot(as_view(v));
        if (criteria.matches(seq, s.timestamp_ms)) {
          out = std::move(s);
          hit = true;
          return;
        }
      }
    });
    return hit;
  }

  void remove(const std::string& id, std::uint64_t sequence_nr) override {
    snapshot_criteria exact;
    exact.min_sequence_nr = sequence_nr;
    exact.max_sequence_nr = sequence_nr;
    remove_matching(id, exact);
  }

  void remove_matching(const std::string& id, const snapshot_criteria& criteria) override {
    if (id.empty() || id.size() > lmdb_max_persistence_id ||
        criteria.min_sequence_nr > criteria.max_sequence_nr) {
      return;
    }
    blocking_job::run(*env_, std::make_shared<remove_snapshots_job>(id, criteria));
  }

  bool blocking() const noexcept override {
    return true;
  }

private:
  std::shared_ptr<environment> env_;
};

} // namespace

std::shared_ptr<journal> make_lmdb_journal(const lmdb_options& options) {
  return std::make_shared<lmdb_journal>(environment::open(options));
}

std::shared_ptr<snapshot_store> make_lmdb_snapshot_store(const lmdb_options& options) {
  return std::make_shared<lmdb_snapshot_store>(environment::open(options));
}

std::size_t lmdb_map_size(const std::string& path) {
  auto env = storage::environment::find(path);
  return env == nullptr ? 0 : env->map_size();
}

} // namespace atomr::persistence
