#pragma once

// Durable journals and snapshot stores on LMDB.
//
// One LMDB environment (a directory holding data.mdb and lock.mdb) is shared
// by every journal and snapshot store of the process that names the same
// directory. Writes go through one writer thread per environment: concurrent
// writers enqueue their batches, and the writer commits everything pending in
// one transaction (group commit), then wakes each writer with its own result.
// With `sync` on (the default) a commit returns only after fsync, so an
// acknowledged write survives a crash of the process or of the machine.

#include "atomr/persistence/journal.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace atomr::persistence {

/// How an LMDB environment is opened.
struct lmdb_options {
  /// Directory of the environment (created when missing).
  std::string path;
  /// Initial size of the memory map, in bytes.
  std::size_t map_size = std::size_t{64} << 20;
  /// The map doubles when full, up to this many bytes; a write that needs
  /// more fails with `journal_error`.
  std::size_t max_map_size = std::size_t{16} << 30;
  /// fsync every commit (off trades durability after a crash for speed).
  bool sync = true;
};

/// Longest persistence id the LMDB backends store (an LMDB key limit).
inline constexpr std::size_t lmdb_max_persistence_id = 480;

/// A journal in the LMDB environment at `options.path`. When the process
/// already has that environment open, it is shared (and its options kept).
/// @throws journal_error the environment cannot be opened.
std::shared_ptr<journal> make_lmdb_journal(const lmdb_options& options);

/// A snapshot store in the LMDB environment at `options.path`.
/// @throws journal_error the environment cannot be opened.
std::shared_ptr<snapshot_store> make_lmdb_snapshot_store(const lmdb_options& options);

/// The current size of the memory map of the environment at `path` opened
/// by this process (0 when it is not open). For tests and monitoring.
std::size_t lmdb_map_size(const std::string& path);

} // namespace atomr::persistence
