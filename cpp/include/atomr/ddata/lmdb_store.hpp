#pragma once

#include "atomr/ddata/error.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace atomr::ddata {

/// A durable key -> bytes store in one LMDB database file (plus its
/// `-lock` file). Every write is its own transaction, committed with a
/// synchronous flush: when `put` or `erase` returns, the change survives a
/// crash. The map grows by doubling when it fills up.
///
/// @threadsafe every member (one mutex serialises them). One process may
/// open a path only once at a time (LMDB's rule); a second open of the same
/// file raises store_error instead of corrupting the lock table.
class lmdb_store {
public:
  /// Opens or creates the database file at `path`.
  /// @throws store_error the file cannot be opened or is already open.
  explicit lmdb_store(const std::string& path, std::size_t initial_map_size = 64u << 20);
  ~lmdb_store();

  lmdb_store(const lmdb_store&) = delete;
  lmdb_store& operator=(const lmdb_store&) = delete;

  /// Stores `value` under `key` and flushes it to disk.
  void put(const std::string& key, const std::string& value);

  /// The bytes under `key`, if any.
  std::optional<std::string> get(const std::string& key) const;

  /// Whether `key` is stored, writing its bytes into `out` when it is.
  bool get_into(const std::string& key, std::string& out) const;

  /// Deletes `key` and flushes; false when it was absent.
  bool erase(const std::string& key);

  /// Every key in byte order.
  std::vector<std::string> keys() const;

  /// Every (key, value) in key order.
  std::vector<std::pair<std::string, std::string>> entries() const;

  /// Closes the database (idempotent); any later call raises store_error.
  void close() noexcept;

  bool is_open() const noexcept;

  const std::string& path() const noexcept {
    return path_;
  }

private:
  struct impl;

  std::string path_;
  std::unique_ptr<impl> impl_;
};

} // namespace atomr::ddata
