#include "atomr/ddata/lmdb_store.hpp"

#include "atomr/storage/environment.hpp"

#include <limits>
#include <mutex>

namespace atomr::ddata {

namespace {

constexpr const char* prefix = "LMDB durable store: ";

/// Runs `f`, turning a storage failure into the durable store's own error
/// (the Python layer raises DurableStoreError for it).
template <class F> decltype(auto) as_store_error(F&& f) {
  try {
    return f();
  } catch (const storage::error& e) {
    throw store_error(prefix + std::string(e.what()));
  }
}

} // namespace

struct lmdb_store::impl {
  std::mutex mutex;
  std::shared_ptr<storage::environment> env;
  MDB_dbi dbi = 0;

  void check_open() const {
    if (env == nullptr)
      throw store_error(std::string(prefix) + "the store is closed");
  }
};

lmdb_store::lmdb_store(const std::string& path, std::size_t initial_map_size)
  : path_(path)
  , impl_(std::make_unique<impl>()) {
  if (path.empty())
    throw store_error(std::string(prefix) + "the path is empty");
  storage::environment_options options;
  options.path = path;
  options.single_file = true;
  options.map_size = initial_map_size < (1u << 20) ? (1u << 20) : initial_map_size;
  // The store grows by doubling for as long as the address space allows.
  options.max_map_size = std::numeric_limits<std::size_t>::max() / 4;
  as_store_error([&] {
    impl_->env = storage::environment::open(options, storage::open_mode::exclusive);
    impl_->dbi = impl_->env->open_db(nullptr, 0);
  });
}

lmdb_store::~lmdb_store() {
  close();
}

void lmdb_store::close() noexcept {
  if (!impl_)
    return;
  std::lock_guard lock(impl_->mutex);
  impl_->env.reset(); // the last owner: closes the file and frees its path
}

bool lmdb_store::is_open() const noexcept {
  std::lock_guard lock(impl_->mutex);
  return impl_->env != nullptr;
}

void lmdb_store::put(const std::string& key, const std::string& value) {
  if (key.empty())
    throw store_error(std::string(prefix) + "keys must not be empty");
  std::lock_guard lock(impl_->mutex);
  impl_->check_open();
  as_store_error([&] {
    impl_->env->write([&](MDB_txn* txn) {
      MDB_val k = storage::as_val(key);
      MDB_val v = storage::as_val(value);
      storage::check("put", mdb_put(txn, impl_->dbi, &k, &v, 0));
    });
  });
}

bool lmdb_store::get_into(const std::string& key, std::string& out) const {
  if (key.empty())
    return false;
  std::lock_guard lock(impl_->mutex);
  impl_->check_open();
  return as_store_error([&] {
    return impl_->env->read([&](MDB_txn* txn) {
      MDB_val k = storage::as_val(key);
      MDB_val v;
      const int rc = mdb_get(txn, impl_->dbi, &k, &v);
      if (rc == MDB_NOTFOUND)
        return false;
      storage::check("get", rc);
      out.assign(storage::as_view(v));
      return true;
    });
  });
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
  return as_store_error([&] {
    return impl_->env->write([&](MDB_txn* txn) {
      MDB_val k = storage::as_val(key);
      const int rc = mdb_del(txn, impl_->dbi, &k, nullptr);
      if (rc == MDB_NOTFOUND)
        return false;
      storage::check("delete", rc);
      return true;
    });
  });
}

std::vector<std::pair<std::string, std::string>> lmdb_store::entries() const {
  std::lock_guard lock(impl_->mutex);
  impl_->check_open();
  return as_store_error([&] {
    return impl_->env->read([&](MDB_txn* txn) {
      storage::cursor c(txn, impl_->dbi);
      std::vector<std::pair<std::string, std::string>> out;
      MDB_val k;
      MDB_val v;
      for (bool found = c.move(MDB_FIRST, k, v); found; found = c.move(MDB_NEXT, k, v))
        out.emplace_back(std::string(storage::as_view(k)), std::string(storage::as_view(v)));
      return out;
    });
  });
}

std::vector<std::string> lmdb_store::keys() const {
  std::vector<std::string> out;
  for (auto& [k, _] : entries())
    out.push_back(std::move(k));
  return out;
}

} // namespace atomr::ddata
