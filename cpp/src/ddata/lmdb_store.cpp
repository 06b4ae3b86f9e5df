#include "atomr/ddata/lmdb_store.hpp"

#include <lmdb.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <system_error>

namespace atomr::ddata {

namespace {

/// Database files open in this process (LMDB forbids opening one twice).
std::mutex open_paths_mutex;
std::set<std::string>& open_paths() {
  static std::set<std::string> paths;
  return paths;
}

std::string canonical_path(const std::string& path) {
  std::error_code ec;
  auto p = std::filesystem::weakly_canonical(std::filesystem::absolute(path, ec), ec);
  return ec ? path : p.string();
}

[[noreturn]] void fail(const std::string& what, int rc) {
  throw store_error("LMDB durable store: " + what + ": " + mdb_strerror(rc));
}

/// Aborts a transaction unless it was committed.
struct txn_guard {
  MDB_txn* txn = nullptr;
  ~txn_guard() {
    if (txn != nullptr)
      mdb_txn_abort(txn);
  }
  int commit() {
    MDB_txn* t = txn;
    txn = nullptr;
    return mdb_txn_commit(t);
  }
};

MDB_val as_val(const std::string& s) {
  MDB_val v;
  v.mv_size = s.size();
  v.mv_data = const_cast<char*>(s.data());
  return v;
}

} // namespace

struct lmdb_store::impl {
  std::mutex mutex;
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
  std::size_t map_size = 0;
  std::string key; // the canonical path registered in open_paths()

  void check_open() const {
    if (env == nullptr)
      throw store_error("LMDB durable store: the store is closed");
  }

  /// Runs a write transaction, doubling the map when it is full.
  template <class Fn>
  int write(Fn&& fn) {
    for (;;) {
      txn_guard g;
      int rc = mdb_txn_begin(env, nullptr, 0, &g.txn);
      if (rc != MDB_SUCCESS)
        fail("cannot begin a write transaction", rc);
      rc = fn(g.txn);
      if (rc == MDB_SUCCESS || rc == MDB_NOTFOUND) {
        const int result = rc;
        rc = g.commit();
        if (rc == MDB_SUCCESS)
          return result;
      }
      if (rc != MDB_MAP_FULL)
        fail("write failed", rc);
      if (g.txn != nullptr) {
        mdb_txn_abort(g.txn);
        g.txn = nullptr;
      }
      map_size *= 2;
      rc = mdb_env_set_mapsize(env, map_size);
      if (rc != MDB_SUCCESS)
        fail("cannot grow the map", rc);
    }
  }
};

lmdb_store::lmdb_store(const std::string& path, std::size_t initial_map_size)
  : path_(path)
  , impl_(std::make_unique<impl>()) {
  if (path.empty())
    throw store_error("LMDB durable store: the path is empty");
  impl_->key = canonical_path(path);
  {
    std::lock_guard lock(open_paths_mutex);
    if (!open_paths().insert(impl_->key).second)
      throw store_error("LMDB durable store: `" + path +
                        "` is already open in this process; close it first");
  }
  try {
    int rc = mdb_env_create(&impl_->env);
    if (rc != MDB_SUCCESS)
      fail("cannot create the environment", rc);
    impl_->map_size = initial_map_size < (1u << 20) ? (1u << 20) : initial_map_size;
    rc = mdb_env_set_mapsize(impl_->env, impl_->map_size);
    if (rc != MDB_SUCCESS)
      fail("cannot set the map size", rc);
    rc = mdb_env_open(impl_->env, path.c_str(), MDB_NOSUBDIR | MDB_NOTLS, 0644);
    if (rc != MDB_SUCCESS)
      fail("cannot open `" + path + "`", rc);
    MDB_envinfo info;
    if (mdb_env_info(impl_->env, &info) == MDB_SUCCESS && info.me_mapsize > impl_->map_size)
      impl_->map_size = info.me_mapsize;
    txn_guard g;
    rc = mdb_txn_begin(impl_->env, nullptr, 0, &g.txn);
    if (rc != MDB_SUCCESS)
      fail("cannot begin a transaction", rc);
    rc = mdb_dbi_open(g.txn, nullptr, 0, &impl_->dbi);
    if (rc != MDB_SUCCESS)
      fail("cannot open the database", rc);
    rc = g.commit();
    if (rc != MDB_SUCCESS)
      fail("cannot commit", rc);
  } catch (...) {
    close();
    throw;
  }
}

lmdb_store::~lmdb_store() {
  close();
}

void lmdb_store::close() noexcept {
  if (!impl_)
    return;
  std::lock_guard lock(impl_->mutex);
  if (impl_->env != nullptr) {
    mdb_env_close(impl_->env);
    impl_->env = nullptr;
  }
  if (!impl_->key.empty()) {
    std::lock_guard paths(open_paths_mutex);
    open_paths().erase(impl_->key);
    impl_->key.clear();
  }
}

bool lmdb_store::is_open() const noexcept {
  std::lock_guard lock(impl_->mutex);
  return impl_->env != nullptr;
}

void lmdb_store::put(const std::string& key, const std::string& value) {
  if (key.empty())
    throw store_error("LMDB durable store: keys must not be empty");
  std::lock_guard lock(impl_->mutex);
  impl_->check_open();
  impl_->write([&](MDB_txn* txn) {
    MDB_val k = as_val(key);
    MDB_val v = as_val(value);
    return mdb_put(txn, impl_->dbi, &k, &v, 0);
  });
}

bool lmdb_store::get_into(const std::string& key, std::string& out) const {
  if (key.empty())
    return false;
  std::lock_guard lock(impl_->mutex);
  impl_->check_open();
  txn_guard g;
  int rc = mdb_txn_begin(impl_->env, nullptr, MDB_RDONLY, &g.txn);
  if (rc != MDB_SUCCESS)
    fail("cannot begin a read transaction", rc);
  MDB_val k = as_val(key);
  MDB_val v;
  rc = mdb_get(g.txn, impl_->dbi, &k, &v);
  if (rc == MDB_NOTFOUND)
    return false;
  if (rc != MDB_SUCCESS)
    fail("read failed", rc);
  out.assign(static_cast<const char*>(v.mv_data), v.mv_size);
  return true;
}

std::optional<std::string> lmdb_store::get(const std::string& key) const {
  std::string out;
  if (!get_into(key, out))
    return std::nullopt;
  return out;
}

bool lmdb_store::erase(const std::string& key) {
  if (key.empty())
    return false;
  std::lock_guard lock(impl_->mutex);
  impl_->check_open();
  const int rc = impl_->write([&](MDB_txn* txn) {
    MDB_val k = as_val(key);
    return mdb_del(txn, impl_->dbi, &k, nullptr);
  });
  return rc == MDB_SUCCESS;
}

std::vector<std::pair<std::string, std::string>> lmdb_store::entries() const {
  std::lock_guard lock(impl_->mutex);
  impl_->check_open();
  txn_guard g;
  int rc = mdb_txn_begin(impl_->env, nullptr, MDB_RDONLY, &g.txn);
  if (rc != MDB_SUCCESS)
    fail("cannot begin a read transaction", rc);
  MDB_cursor* cursor = nullptr;
  rc = mdb_cursor_open(g.txn, impl_->dbi, &cursor);
  if (rc != MDB_SUCCESS)
    fail("cannot open a cursor", rc);
  std::vector<std::pair<std::string, std::string>> out;
  MDB_val k;
  MDB_val v;
  for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
       rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT))
    out.emplace_back(std::string(static_cast<const char*>(k.mv_data), k.mv_size),
                     std::string(static_cast<const char*>(v.mv_data), v.mv_size));
  mdb_cursor_close(cursor);
  if (rc != MDB_NOTFOUND)
    fail("iteration failed", rc);
  return out;
}

std::vector<std::string> lmdb_store::keys() const {
  std::vector<std::string> out;
  for (auto& [k, _] : entries())
    out.push_back(std::move(k));
  return out;
}

} // namespace atomr::ddata
