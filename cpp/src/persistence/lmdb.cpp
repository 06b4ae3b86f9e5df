// LMDB journal and snapshot store with group commit.

#include "atomr/persistence/lmdb.hpp"

#include <lmdb.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string_view>
#include <thread>
#include <utility>

#include "atomr/persistence/record_format.hpp"

namespace atomr::persistence {
namespace {

using internal::entity_meta;

std::string lmdb_message(const char* what, int rc) {
  return std::string("LMDB ") + what + " failed: " + mdb_strerror(rc);
}

/// Thrown inside a write transaction that ran out of map space.
struct map_full_signal {};
/// Thrown inside a write transaction that grew too large for LMDB.
struct txn_full_signal {};

void check_put(int rc) {
  if (rc == MDB_MAP_FULL) {
    throw map_full_signal{};
  }
  if (rc == MDB_TXN_FULL) {
    throw txn_full_signal{};
  }
  if (rc != MDB_SUCCESS) {
    throw journal_error(lmdb_message("put", rc));
  }
}

MDB_val as_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

std::string_view as_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

/// One LMDB environment of the process, shared by every journal and
/// snapshot store on its directory. It owns the writer thread.
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

  static std::shared_ptr<environment> open(const lmdb_options& options);

  environment(std::string path, const lmdb_options& options);
  environment(const environment&) = delete;
  environment& operator=(const environment&) = delete;
  ~environment();

  /// Queues `j` for the next group commit. @threadsafe
  void submit(std::shared_ptr<job> j);

  /// Runs `f(txn)` in a read-only transaction. @threadsafe
  template <class F>
  void read(F&& f) {
    for (;;) {
      std::shared_lock<std::shared_mutex> lock(resize_);
      MDB_txn* txn = nullptr;
      int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
      if (rc == MDB_MAP_RESIZED) {
        lock.unlock();
        adopt_resize();
        continue;
      }
      if (rc != MDB_SUCCESS) {
        throw journal_error(lmdb_message("read transaction", rc));
      }
      try {
        f(txn);
      } catch (...) {
        mdb_txn_abort(txn);
        throw;
      }
      mdb_txn_abort(txn);
      return;
    }
  }

  /// The current map size in bytes.
  std::size_t map_size();

  const std::string& path() const noexcept {
    return path_;
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

private:
  enum class outcome { committed, failed, map_full_at_max, txn_full };

  void run();
  void commit_group(const std::vector<std::shared_ptr<job>>& group);
  outcome try_commit(const std::vector<std::shared_ptr<job>>& group, std::string& error);
  bool grow(std::string& error);
  void adopt_resize();

  std::string path_;
  std::size_t max_map_size_;
  MDB_env* env_ = nullptr;
  MDB_dbi events_ = 0;
  MDB_dbi meta_ = 0;
  MDB_dbi snapshots_ = 0;

  /// Held shared by every transaction; exclusively to resize the map.
  std::shared_mutex resize_;

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<std::shared_ptr<job>> queue_;
  bool stopping_ = false;
  std::thread writer_;
};

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::map<std::string, std::weak_ptr<environment>>& registry() {
  static std::map<std::string, std::weak_ptr<environment>> r;
  return r;
}

std::string canonical_dir(const std::string& path) {
  if (path.empty()) {
    throw journal_error("the LMDB path is empty");
  }
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    throw journal_error("cannot create the LMDB directory `" + path + "`: " + ec.message());
  }
  auto canonical = std::filesystem::canonical(path, ec);
  if (ec) {
    throw journal_error("cannot resolve the LMDB directory `" + path + "`: " + ec.message());
  }
  return canonical.string();
}

std::shared_ptr<environment> environment::open(const lmdb_options& options) {
  std::string path = canonical_dir(options.path);
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (auto it = registry().begin(); it != registry().end();) {
    it = it->second.expired() ? registry().erase(it) : std::next(it);
  }
  auto& slot = registry()[path];
  if (auto existing = slot.lock()) {
    return existing;
  }
  auto env = std::make_shared<environment>(path, options);
  slot = env;
  return env;
}

environment::environment(std::string path, const lmdb_options& options)
  : path_(std::move(path))
  , max_map_size_(std::max(options.max_map_size, options.map_size)) {
  if (options.map_size == 0) {
    throw journal_error("the LMDB map size must be positive");
  }
  int rc = mdb_env_create(&env_);
  if (rc != MDB_SUCCESS) {
    throw journal_error(lmdb_message("env create", rc));
  }
  auto fail = [this](const char* what, int code) {
    mdb_env_close(env_);
    env_ = nullptr;
    throw journal_error(lmdb_message(what, code) + " (" + path_ + ")");
  };
  if ((rc = mdb_env_set_maxdbs(env_, 8)) != MDB_SUCCESS) {
    fail("set maxdbs", rc);
  }
  if ((rc = mdb_env_set_mapsize(env_, options.map_size)) != MDB_SUCCESS) {
    fail("set mapsize", rc);
  }
  unsigned flags = MDB_NOTLS;
  if (!options.sync) {
    flags |= MDB_NOSYNC;
  }
  if ((rc = mdb_env_open(env_, path_.c_str(), flags, 0644)) != MDB_SUCCESS) {
    fail("env open", rc);
  }
  int dead = 0;
  mdb_reader_check(env_, &dead); // reader slots of crashed processes
  MDB_txn* txn = nullptr;
  if ((rc = mdb_txn_begin(env_, nullptr, 0, &txn)) != MDB_SUCCESS) {
    fail("open transaction", rc);
  }
  if ((rc = mdb_dbi_open(txn, "journal", MDB_CREATE, &events_)) != MDB_SUCCESS ||
      (rc = mdb_dbi_open(txn, "journal-meta", MDB_CREATE, &meta_)) != MDB_SUCCESS ||
      (rc = mdb_dbi_open(txn, "snapshots", MDB_CREATE, &snapshots_)) != MDB_SUCCESS) {
    mdb_txn_abort(txn);
    fail("open databases", rc);
  }
  if ((rc = mdb_txn_commit(txn)) != MDB_SUCCESS) {
    fail("open commit", rc);
  }
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
  if (env_ != nullptr) {
    mdb_env_close(env_);
  }
}

void environment::submit(std::shared_ptr<job> j) {
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    queue_.push_back(std::move(j));
  }
  queue_cv_.notify_one();
}

std::size_t environment::map_size() {
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  return info.me_mapsize;
}

void environment::adopt_resize() {
  std::unique_lock<std::shared_mutex> lock(resize_);
  mdb_env_set_mapsize(env_, 0); // adopt the size another process set
}

bool environment::grow(std::string& error) {
  std::unique_lock<std::shared_mutex> lock(resize_);
  std::size_t current = map_size();
  if (current >= max_map_size_) {
    error = "the LMDB map of `" + path_ + "` is full (" + std::to_string(current) +
            " bytes, the configured maximum); raise max-map-size";
    return false;
  }
  std::size_t next = std::min(max_map_size_, std::max(current * 2, current + 1));
  int rc = mdb_env_set_mapsize(env_, next);
  if (rc != MDB_SUCCESS) {
    error = lmdb_message("map resize", rc);
    return false;
  }
  return true;
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
      group.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.end()));
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
  for (;;) {
    std::shared_lock<std::shared_mutex> lock(resize_);
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc == MDB_MAP_RESIZED) {
      lock.unlock();
      adopt_resize();
      continue;
    }
    if (rc != MDB_SUCCESS) {
      error = lmdb_message("write transaction", rc);
      return outcome::failed;
    }
    try {
      for (const auto& j : group) {
        j->apply(*this, txn);
      }
    } catch (const map_full_signal&) {
      mdb_txn_abort(txn);
      lock.unlock();
      if (!grow(error)) {
        return outcome::map_full_at_max;
      }
      continue;
    } catch (const txn_full_signal&) {
      mdb_txn_abort(txn);
      return outcome::txn_full;
    } catch (const std::exception& e) {
      mdb_txn_abort(txn);
      error = e.what();
      return outcome::failed;
    }
    rc = mdb_txn_commit(txn);
    if (rc == MDB_SUCCESS) {
      return outcome::committed;
    }
    if (rc == MDB_MAP_FULL) {
      lock.unlock();
      if (!grow(error)) {
        return outcome::map_full_at_max;
      }
      continue;
    }
    error = lmdb_message("commit", rc);
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
  if (rc != MDB_SUCCESS) {
    throw journal_error(lmdb_message("get", rc));
  }
  return internal::decode_meta(as_view(value));
}

void write_meta(MDB_txn* txn, MDB_dbi dbi, const std::string& id, const entity_meta& meta) {
  std::string bytes = internal::encode_meta(meta);
  MDB_val key = as_val(id);
  MDB_val value = as_val(bytes);
  check_put(mdb_put(txn, dbi, &key, &value, 0));
}

/// A cursor closed on scope exit.
class cursor {
public:
  cursor(MDB_txn* txn, MDB_dbi dbi) {
    int rc = mdb_cursor_open(txn, dbi, &c_);
    if (rc != MDB_SUCCESS) {
      throw journal_error(lmdb_message("cursor open", rc));
    }
  }
  cursor(const cursor&) = delete;
  cursor& operator=(const cursor&) = delete;
  ~cursor() {
    mdb_cursor_close(c_);
  }
  /// Positions at the first key >= `key`; false when there is none.
  bool seek(std::string_view key, MDB_val& k, MDB_val& v) {
    k = as_val(key);
    return step(mdb_cursor_get(c_, &k, &v, MDB_SET_RANGE));
  }
  bool move(MDB_cursor_op op, MDB_val& k, MDB_val& v) {
    return step(mdb_cursor_get(c_, &k, &v, op));
  }
  void del() {
    int rc = mdb_cursor_del(c_, 0);
    if (rc == MDB_MAP_FULL) {
      throw map_full_signal{};
    }
    if (rc != MDB_SUCCESS) {
      throw journal_error(lmdb_message("delete", rc));
    }
  }

private:
  static bool step(int rc) {
    if (rc == MDB_NOTFOUND) {
      return false;
    }
    if (rc != MDB_SUCCESS) {
      throw journal_error(lmdb_message("cursor", rc));
    }
    return true;
  }
  MDB_cursor* c_ = nullptr;
};

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
        rejections_[i] = "persistence id longer than " + std::to_string(lmdb_max_persistence_id) +
                         " bytes";
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
      }
      meta.highest = batch.back().sequence_nr;
      write_meta(txn, env.meta(), id, meta);
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
    while (found && has_prefix(as_view(k), prefix) &&
           internal::key_sequence_nr(as_view(k)) <= to) {
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
      std::string prefix = internal::key_prefix(id);
      cursor c(txn, env_->events());
      MDB_val k, v;
      for (bool found = c.seek(internal::record_key(id, start), k, v);
           found && n < max && has_prefix(as_view(k), prefix); found = c.move(MDB_NEXT, k, v)) {
        if (internal::key_sequence_nr(as_view(k)) > to) {
          break;
        }
        on_record(internal::decode_record(as_view(v)));
        ++n;
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
      for (bool found = c.move(MDB_FIRST, k, v); found && n < max;
           found = c.move(MDB_NEXT, k, v)) {
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
      throw journal_error("persistence id longer than " +
                          std::to_string(lmdb_max_persistence_id) + " bytes");
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
  std::error_code ec;
  auto canonical = std::filesystem::canonical(path, ec);
  if (ec) {
    return 0;
  }
  std::shared_ptr<environment> env;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = registry().find(canonical.string());
    if (it != registry().end()) {
      env = it->second.lock();
    }
  }
  return env == nullptr ? 0 : env->map_size();
}

} // namespace atomr::persistence
