#include "atomr/storage/environment.hpp"

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <system_error>

namespace atomr::storage {

namespace {

/// The paths open in this process. An entry lives from the open until the
/// environment has been closed, so a path is never opened twice at once even
/// while its last owner is still closing it.
struct registry {
  struct entry {
    std::weak_ptr<environment> env;
    open_mode mode;
  };

  std::mutex mutex;
  std::condition_variable closed;
  std::map<std::string, entry> open;
};

registry& paths() {
  static registry r;
  return r;
}

std::string lmdb_message(std::string_view what, int rc) {
  return "LMDB " + std::string(what) + " failed: " + mdb_strerror(rc);
}

/// The canonical key of `options.path`, creating a directory when needed.
std::string canonical_key(const environment_options& options) {
  namespace fs = std::filesystem;
  if (options.path.empty())
    throw error(errc::invalid_argument, "the LMDB path is empty");
  std::error_code ec;
  if (options.single_file) {
    auto p = fs::weakly_canonical(fs::absolute(options.path, ec), ec);
    return ec ? options.path : p.string();
  }
  fs::create_directories(options.path, ec);
  if (ec)
    throw error(errc::generic,
                "cannot create the LMDB directory `" + options.path + "`: " + ec.message());
  auto canonical = fs::canonical(options.path, ec);
  if (ec)
    throw error(errc::generic,
                "cannot resolve the LMDB directory `" + options.path + "`: " + ec.message());
  return canonical.string();
}

std::string already_open_message(const std::string& path) {
  return "`" + path + "` is already open in this process; close it first";
}

} // namespace

void throw_error(std::string_view what, int rc) {
  const errc code = rc == MDB_MAP_FULL   ? errc::map_full
                    : rc == MDB_TXN_FULL ? errc::txn_full
                                         : errc::generic;
  throw error(code, lmdb_message(what, rc));
}

// -- environment ---------------------------------------------------------------

std::shared_ptr<environment> environment::open(const environment_options& options, open_mode mode) {
  if (options.map_size == 0)
    throw error(errc::invalid_argument, "the LMDB map size must be positive");
  std::string key = canonical_key(options);
  auto& r = paths();
  std::unique_lock lock(r.mutex);
  for (;;) {
    auto it = r.open.find(key);
    if (it == r.open.end())
      break;
    if (auto existing = it->second.env.lock()) {
      if (mode == open_mode::shared && it->second.mode == open_mode::shared)
        return existing;
      throw error(errc::already_open, already_open_message(options.path));
    }
    // Its last owner is closing it: wait until the file is free.
    r.closed.wait(lock);
  }
  auto env = std::make_shared<environment>(private_tag{}, key, options, mode);
  r.open[key] = registry::entry{env, mode};
  return env;
}

std::shared_ptr<environment> environment::find(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec)
    return nullptr;
  auto& r = paths();
  std::lock_guard lock(r.mutex);
  auto it = r.open.find(p.string());
  return it == r.open.end() ? nullptr : it->second.env.lock();
}

environment::environment(private_tag, std::string key, const environment_options& options,
                         open_mode mode)
  : key_(std::move(key))
  , given_path_(options.path)
  , max_map_size_(std::max(options.max_map_size, options.map_size))
  , mode_(mode) {
  check("env create", mdb_env_create(&env_));
  auto fail = [this](const char* what, int rc) {
    mdb_env_close(env_);
    env_ = nullptr;
    throw error(rc == MDB_MAP_FULL ? errc::map_full : errc::generic,
                lmdb_message(what, rc) + " (" + given_path_ + ")");
  };
  int rc;
  if (options.max_dbs > 0 && (rc = mdb_env_set_maxdbs(env_, options.max_dbs)) != MDB_SUCCESS)
    fail("set maxdbs", rc);
  if ((rc = mdb_env_set_mapsize(env_, options.map_size)) != MDB_SUCCESS)
    fail("set mapsize", rc);
  unsigned flags = MDB_NOTLS;
  if (options.single_file)
    flags |= MDB_NOSUBDIR;
  if (!options.sync)
    flags |= MDB_NOSYNC;
  if ((rc = mdb_env_open(env_, given_path_.c_str(), flags, 0644)) != MDB_SUCCESS)
    fail("env open", rc);
  int dead = 0;
  mdb_reader_check(env_, &dead); // reader slots of crashed processes
}

environment::~environment() {
  // Attachments (a writer thread, say) may still use the environment: destroy
  // them first, newest first, outside the lock.
  std::vector<std::pair<std::type_index, std::shared_ptr<void>>> attachments;
  {
    std::lock_guard lock(attachments_mutex_);
    attachments.swap(attachments_);
  }
  while (!attachments.empty())
    attachments.pop_back();
  if (env_ != nullptr)
    mdb_env_close(env_);
  auto& r = paths();
  {
    std::lock_guard lock(r.mutex);
    auto it = r.open.find(key_);
    if (it != r.open.end() && it->second.env.expired())
      r.open.erase(it);
  }
  r.closed.notify_all();
}

MDB_dbi environment::open_db(const char* name, unsigned flags) {
  return write([&](MDB_txn* txn) {
    MDB_dbi dbi = 0;
    check("open database", mdb_dbi_open(txn, name, flags, &dbi));
    return dbi;
  });
}

std::size_t environment::map_size() const {
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  return info.me_mapsize;
}

bool environment::grow(std::string& why) {
  std::unique_lock lock(resize_);
  const std::size_t current = map_size();
  if (current >= max_map_size_) {
    why = "the LMDB map of `" + given_path_ + "` is full (" + std::to_string(current) +
          " bytes, the configured maximum); raise max-map-size";
    return false;
  }
  const std::size_t next = std::min(max_map_size_, std::max(current * 2, current + 1));
  const int rc = mdb_env_set_mapsize(env_, next);
  if (rc != MDB_SUCCESS) {
    why = lmdb_message("map resize", rc);
    return false;
  }
  return true;
}

void environment::adopt_resize() {
  std::unique_lock lock(resize_);
  mdb_env_set_mapsize(env_, 0); // adopt the size another process set
}

// -- transaction ---------------------------------------------------------------

transaction::transaction(environment& env, bool read_only) {
  for (;;) {
    lock_ = std::shared_lock(env.resize_);
    const int rc = mdb_txn_begin(env.env_, nullptr, read_only ? MDB_RDONLY : 0, &txn_);
    if (rc == MDB_MAP_RESIZED) {
      txn_ = nullptr;
      lock_.unlock();
      env.adopt_resize();
      continue;
    }
    if (rc != MDB_SUCCESS) {
      txn_ = nullptr;
      throw_error(read_only ? "read transaction" : "write transaction", rc);
    }
    return;
  }
}

transaction::~transaction() {
  abort();
}

void transaction::commit() {
  MDB_txn* txn = std::exchange(txn_, nullptr);
  const int rc = mdb_txn_commit(txn);
  if (lock_.owns_lock())
    lock_.unlock();
  check("commit", rc);
}

void transaction::abort() noexcept {
  if (txn_ != nullptr) {
    mdb_txn_abort(std::exchange(txn_, nullptr));
  }
  if (lock_.owns_lock())
    lock_.unlock();
}

} // namespace atomr::storage
