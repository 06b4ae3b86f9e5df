#pragma once

// One LMDB environment layer for every component that stores data (the
// persistence journals and snapshot stores, the ddata durable store).
//
// An `environment` is the process's one handle on an LMDB path: LMDB allows a
// file to be opened once per process, so `environment::open` keeps a
// process-wide registry of open paths and either shares the open environment
// or refuses a second open, as the caller asks. Transactions are RAII guards
// (`transaction`), and `write` retries a transaction after doubling the map
// when it fills up, up to a configured maximum.
//
// Opening checks the data file before LMDB maps it, so a damaged file gives an
// error rather than a crash: the meta pages (magic, format version, page
// size, the last used page against the file's size) and the pages of every
// tree reachable from them are read and checked with plain reads. A data
// file that exists but is empty is refused: LMDB writes its meta pages when
// it creates a file, so an empty one has lost its data (it is removed by
// hand to start afresh).
//
// Only C++ components include this header (it exposes LMDB's types); the
// Python bridge never sees it.

#include "atomr/storage/error.hpp"
#include "atomr/storage/fwd.hpp"

#include <cstddef>
#include <limits>
#include <lmdb.h>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

namespace atomr::storage {

/// How an environment is opened.
struct environment_options {
  /// A directory holding data.mdb and lock.mdb (created when missing), or,
  /// with `single_file`, the database file itself (plus its `-lock` file).
  std::string path;
  /// The path is a file rather than a directory (LMDB's MDB_NOSUBDIR).
  bool single_file = false;
  /// Initial size of the memory map, in bytes (must be positive).
  std::size_t map_size = std::size_t{64} << 20;
  /// The map doubles when full, up to this many bytes; a write that needs
  /// more fails with `errc::map_full`.
  std::size_t max_map_size = std::size_t{16} << 30;
  /// Named databases the environment may hold (0: only the unnamed one).
  unsigned max_dbs = 0;
  /// fsync every commit (off trades durability after a crash for speed).
  bool sync = true;
};

/// Whether an open may share an environment already open in the process.
enum class open_mode {
  /// Return the open environment of the same path (its options are kept).
  shared,
  /// Fail with `errc::already_open` when the path is open in the process.
  exclusive,
};

/// Throws the storage error of the LMDB return code `rc` (`MDB_MAP_FULL`
/// gives `errc::map_full`, `MDB_TXN_FULL` `errc::txn_full`, anything else
/// `errc::generic`), its message naming `what` and LMDB's reason.
[[noreturn]] void throw_error(std::string_view what, int rc);

/// Returns when `rc` is MDB_SUCCESS; throws as `throw_error` otherwise.
inline void check(std::string_view what, int rc) {
  if (rc != MDB_SUCCESS)
    throw_error(what, rc);
}

/// A byte string as an LMDB value (LMDB does not write through it).
inline MDB_val as_val(std::string_view s) noexcept {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

/// An LMDB value as a view (valid until its transaction ends).
inline std::string_view as_view(const MDB_val& v) noexcept {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

/// One LMDB environment of the process.
///
/// @threadsafe every member. Transactions of any thread may run at once; the
/// map is resized only while none is running (`transaction` holds the
/// environment's resize lock shared, a resize holds it exclusively).
class environment : public std::enable_shared_from_this<environment> {
  struct private_tag {};

public:
  /// Opens the environment at `options.path`, or returns the one this
  /// process already has open there (`open_mode::shared`).
  /// @throws error `already_open` when `mode` is exclusive and the path is
  /// open, or when either open is exclusive; `invalid_argument` for an empty
  /// path or a zero map size; `generic` when LMDB cannot open it or the
  /// data file is damaged (truncated, empty, pages that are not LMDB's).
  static std::shared_ptr<environment> open(const environment_options& options,
                                           open_mode mode = open_mode::shared);

  /// The environment open at `path` in this process, or null.
  static std::shared_ptr<environment> find(const std::string& path);

  environment(private_tag, std::string key, const environment_options& options, open_mode mode);
  environment(const environment&) = delete;
  environment& operator=(const environment&) = delete;
  /// Destroys the attachments, closes the environment and frees its path.
  ~environment();

  /// Opens (creating) the named database, or the unnamed one for null.
  MDB_dbi open_db(const char* name, unsigned flags = MDB_CREATE);

  /// Runs `f(txn)` in a read-only transaction and returns what it returns.
  template <class F> decltype(auto) read(F&& f);

  /// Runs `f(txn)` in a write transaction and commits it. When the map is
  /// full (`f` threw `errc::map_full`, or the commit failed so), the
  /// transaction is aborted, the map grown and `f` run again in a fresh
  /// transaction, so `f` must not keep effects outside it between runs.
  /// @throws error `map_full` when the map is at its maximum; whatever `f`
  /// throws (the transaction is aborted).
  template <class F> decltype(auto) write(F&& f);

  /// Doubles the map, up to the maximum. False (with the reason in `why`)
  /// when it is already at the maximum or LMDB refuses.
  bool grow(std::string& why);

  /// The current size of the map in bytes.
  std::size_t map_size() const;

  /// The canonical path the environment is registered under.
  const std::string& path() const noexcept {
    return key_;
  }

  /// The path as the caller gave it.
  const std::string& given_path() const noexcept {
    return given_path_;
  }

  /// The LMDB handle (for calls the wrapper does not cover).
  MDB_env* handle() const noexcept {
    return env_;
  }

  /// The per-environment state of type `T` (a component's writer thread,
  /// its database handles), made by `make()` on first use. It lives as long
  /// as the environment and is destroyed before the environment closes. The
  /// returned pointer shares ownership of the environment.
  template <class T, class Make> std::shared_ptr<T> attachment(Make&& make);

private:
  friend class transaction;

  /// Adopts a map size another process set (after MDB_MAP_RESIZED).
  void adopt_resize();

  std::string key_;
  std::string given_path_;
  std::size_t max_map_size_;
  open_mode mode_;
  MDB_env* env_ = nullptr;

  /// Held shared by every transaction; exclusively to resize the map.
  mutable std::shared_mutex resize_;

  std::mutex attachments_mutex_;
  std::vector<std::pair<std::type_index, std::shared_ptr<void>>> attachments_;
};

/// A transaction that is aborted on scope exit unless it was committed.
class transaction {
public:
  /// Begins a transaction on `env` (read-only or read-write), adopting a map
  /// size changed by another process when LMDB asks to.
  /// @throws error when LMDB cannot begin one.
  transaction(environment& env, bool read_only);
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  ~transaction();

  MDB_txn* get() const noexcept {
    return txn_;
  }

  /// Commits. @throws error (`map_full` when the map filled up); the
  /// transaction is over either way.
  void commit();

  /// Aborts now (idempotent).
  void abort() noexcept;

private:
  std::shared_lock<std::shared_mutex> lock_;
  MDB_txn* txn_ = nullptr;
};

/// A cursor closed on scope exit.
class cursor {
public:
  /// @throws error when LMDB cannot open one.
  cursor(MDB_txn* txn, MDB_dbi dbi) {
    check("cursor open", mdb_cursor_open(txn, dbi, &c_));
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

  /// Moves by `op` (MDB_FIRST, MDB_NEXT, ...); false past either end.
  bool move(MDB_cursor_op op, MDB_val& k, MDB_val& v) {
    return step(mdb_cursor_get(c_, &k, &v, op));
  }

  /// Deletes the entry at the cursor. @throws error (`map_full` too).
  void del() {
    check("delete", mdb_cursor_del(c_, 0));
  }

private:
  static bool step(int rc) {
    if (rc == MDB_NOTFOUND)
      return false;
    check("cursor", rc);
    return true;
  }

  MDB_cursor* c_ = nullptr;
};

// -- templates -----------------------------------------------------------------

template <class F> decltype(auto) environment::read(F&& f) {
  transaction txn(*this, true);
  return f(txn.get());
}

template <class F> decltype(auto) environment::write(F&& f) {
  for (;;) {
    std::string why;
    try {
      transaction txn(*this, false);
      if constexpr (std::is_void_v<decltype(f(txn.get()))>) {
        f(txn.get());
        txn.commit();
        return;
      } else {
        auto result = f(txn.get());
        txn.commit();
        return result;
      }
    } catch (const error& e) {
      if (e.value() != errc::map_full)
        throw;
    }
    if (!grow(why))
      throw error(errc::map_full, why);
  }
}

template <class T, class Make> std::shared_ptr<T> environment::attachment(Make&& make) {
  std::lock_guard lock(attachments_mutex_);
  for (auto& [type, state] : attachments_) {
    if (type == std::type_index(typeid(T)))
      return std::shared_ptr<T>(shared_from_this(), static_cast<T*>(state.get()));
  }
  std::shared_ptr<T> state = make();
  attachments_.emplace_back(std::type_index(typeid(T)), state);
  return std::shared_ptr<T>(shared_from_this(), state.get());
}

} // namespace atomr::storage
