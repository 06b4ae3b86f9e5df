#include "atomr/storage/environment.hpp"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

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

// -- checking a data file before it is mapped ------------------------------------
//
// LMDB maps its data file and follows page numbers through the map without
// bounds checks, so a truncated file or a page of garbage makes a read touch
// memory past the end of the file (SIGBUS) or outside the map (SIGSEGV). The
// file is therefore checked with plain reads before anything reads it
// through the map: the two meta pages (magic, version, page size, the last
// used page against the file's size), then, while a read transaction pins
// the newest committed tree, every branch and leaf page reachable from the
// roots (each page names its own number; node offsets, key and value sizes
// stay inside their page; child and overflow pages stay below the last used
// page). What fails is reported as damage with the file's path.
//
// The layout below is LMDB's on-disk format (version 1, 64-bit, little
// endian), the one the linked liblmdb writes.

constexpr std::uint32_t lmdb_magic = 0xBEEFC0DE;
constexpr std::uint32_t lmdb_data_version = 1;
constexpr std::size_t page_header_size = 16;
constexpr std::size_t node_header_size = 8;
constexpr std::size_t meta_size = 136;
constexpr std::size_t db_record_size = 48;
constexpr std::uint16_t page_branch = 0x01;
constexpr std::uint16_t page_leaf = 0x02;
constexpr std::uint16_t page_overflow = 0x04;
constexpr std::uint16_t page_leaf2 = 0x20;
constexpr std::uint16_t node_bigdata = 0x01;
constexpr std::uint16_t node_subdata = 0x02;
constexpr std::uint16_t node_dupdata = 0x04;
constexpr std::uint64_t no_page = ~std::uint64_t{0};
constexpr unsigned max_tree_depth = 64;

template <class T> T load(const unsigned char* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/// One meta page as LMDB wrote it.
struct meta_page {
  std::uint32_t magic = 0;
  std::uint32_t version = 0;
  std::uint32_t page_size = 0;
  std::uint64_t roots[2] = {no_page, no_page}; // free list, main database
  std::uint64_t last_page = 0;
  std::uint64_t txn_id = 0;

  static meta_page parse(const unsigned char* p) noexcept {
    meta_page m;
    m.magic = load<std::uint32_t>(p);
    m.version = load<std::uint32_t>(p + 4);
    m.page_size = load<std::uint32_t>(p + 24);
    m.roots[0] = load<std::uint64_t>(p + 24 + 40);
    m.roots[1] = load<std::uint64_t>(p + 24 + db_record_size + 40);
    m.last_page = load<std::uint64_t>(p + 24 + 2 * db_record_size);
    m.txn_id = load<std::uint64_t>(p + 24 + 2 * db_record_size + 8);
    return m;
  }
};

/// Reads and checks the data file's pages through `fd` (never the map).
class file_checker {
public:
  file_checker(int fd, std::string path)
    : fd_(fd)
    , path_(std::move(path)) {
  }

  [[noreturn]] void damaged(const std::string& why) const {
    throw error(errc::generic, "the LMDB file `" + path_ + "` is damaged: " + why);
  }

  std::uint64_t file_size() const {
    struct stat st;
    if (::fstat(fd_, &st) != 0)
      throw error(errc::generic, "cannot stat `" + path_ + "`: " + std::strerror(errno));
    return static_cast<std::uint64_t>(st.st_size);
  }

  void read_at(std::uint64_t offset, unsigned char* into, std::size_t n) const {
    std::size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd_, into + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        throw error(errc::generic, "cannot read `" + path_ + "`: " + std::strerror(errno));
      if (got == 0)
        damaged("it ends inside page data at byte " + std::to_string(offset + done));
      done += static_cast<std::size_t>(got);
    }
  }

  /// Checks both meta pages and the file's size; returns the newest meta
  /// (the one LMDB will use).
  meta_page check_meta() {
    const std::uint64_t size = file_size();
    if (size < page_header_size + meta_size)
      damaged("it is " + std::to_string(size) + " bytes long, shorter than its meta page");
    unsigned char buf[page_header_size + meta_size];
    read_at(0, buf, sizeof buf);
    meta_page metas[2];
    metas[0] = meta_page::parse(buf + page_header_size);
    check_header(metas[0], 0);
    page_size_ = metas[0].page_size;
    if (page_size_ < 512 || page_size_ > 65536 || (page_size_ & (page_size_ - 1)) != 0)
      damaged("its page size " + std::to_string(page_size_) + " is not one LMDB writes");
    if (size < 2 * std::uint64_t{page_size_})
      damaged("it is " + std::to_string(size) + " bytes long, shorter than its two meta pages");
    read_at(page_size_, buf, sizeof buf);
    metas[1] = meta_page::parse(buf + page_header_size);
    check_header(metas[1], 1);
    const meta_page& newest = metas[1].txn_id > metas[0].txn_id ? metas[1] : metas[0];
    check_size(newest, size);
    metas_[0] = metas[0];
    metas_[1] = metas[1];
    return newest;
  }

  /// The meta page (of the last `check_meta`) of transaction `txn_id`, or
  /// the newest when neither is (a writer committed twice meanwhile).
  const meta_page& meta_of(std::uint64_t txn_id) const noexcept {
    if (metas_[0].txn_id == txn_id)
      return metas_[0];
    if (metas_[1].txn_id == txn_id)
      return metas_[1];
    return metas_[1].txn_id > metas_[0].txn_id ? metas_[1] : metas_[0];
  }

  /// Checks the trees of `meta` (read after the environment was opened,
  /// while a read transaction keeps its pages from being reused).
  void check_trees(const meta_page& meta) {
    check_size(meta, file_size());
    last_page_ = meta.last_page;
    seen_.assign(static_cast<std::size_t>(last_page_) + 1, false);
    check_tree(meta.roots[0], false);
    check_tree(meta.roots[1], true);
  }

  std::uint32_t page_size() const noexcept {
    return page_size_;
  }

private:
  void check_header(const meta_page& m, int which) const {
    if (m.magic != lmdb_magic)
      damaged("meta page " + std::to_string(which) + " lacks LMDB's magic number");
    if (m.version != lmdb_data_version)
      damaged("meta page " + std::to_string(which) + " has format version " +
              std::to_string(m.version) + ", not " + std::to_string(lmdb_data_version));
  }

  void check_size(const meta_page& m, std::uint64_t size) const {
    if (m.last_page < 1 || m.last_page > size / page_size_ + 1 ||
        (m.last_page + 1) * page_size_ > size)
      damaged("it is " + std::to_string(size) + " bytes long but its meta page records " +
              std::to_string(m.last_page + 1) + " pages of " + std::to_string(page_size_) +
              " bytes (truncated?)");
  }

  void check_page_number(std::uint64_t pgno, const char* what) const {
    if (pgno < 2 || pgno > last_page_)
      damaged(std::string(what) + " " + std::to_string(pgno) + " lies outside the file's " +
              std::to_string(last_page_ + 1) + " pages");
  }

  /// Checks the tree rooted at `root`; `databases` when its leaves may hold
  /// the records of named databases (the main database).
  void check_tree(std::uint64_t root, bool databases) {
    if (root == no_page)
      return;
    check_page(root, databases, 0);
  }

  void check_page(std::uint64_t pgno, bool databases, unsigned depth) {
    if (depth > max_tree_depth)
      damaged("its tree is deeper than " + std::to_string(max_tree_depth) + " levels");
    check_page_number(pgno, "page");
    if (seen_[pgno])
      damaged("page " + std::to_string(pgno) + " is reached twice");
    seen_[pgno] = true;
    std::vector<unsigned char> page(page_size_);
    read_at(pgno * page_size_, page.data(), page.size());
    const unsigned char* p = page.data();
    const std::string where = "page " + std::to_string(pgno);
    if (load<std::uint64_t>(p) != pgno)
      damaged(where + " names itself page " + std::to_string(load<std::uint64_t>(p)));
    const auto flags = load<std::uint16_t>(p + 10);
    const auto lower = load<std::uint16_t>(p + 12);
    const auto upper = load<std::uint16_t>(p + 14);
    if (lower < page_header_size || lower > upper || upper > page_size_)
      damaged(where + " has free-space bounds " + std::to_string(lower) + ".." +
              std::to_string(upper) + " outside the page");
    const std::size_t count = (lower - page_header_size) / 2;
    if ((flags & page_leaf2) != 0)
      return; // fixed-size keys packed in the page, within the bounds checked
    const bool branch = (flags & page_branch) != 0;
    if (branch == ((flags & page_leaf) != 0))
      damaged(where + " is neither a branch nor a leaf page (flags " + std::to_string(flags) + ")");
    if (branch && count == 0)
      damaged(where + " is an empty branch page");
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t at = load<std::uint16_t>(p + page_header_size + 2 * i);
      if (at < upper || at + node_header_size > page_size_)
        damaged(where + " has node " + std::to_string(i) + " at offset " + std::to_string(at) +
                " outside its data area");
      const unsigned char* n = p + at;
      const std::uint32_t lo = load<std::uint16_t>(n);
      const std::uint32_t hi = load<std::uint16_t>(n + 2);
      const auto node_flags = load<std::uint16_t>(n + 4);
      const std::size_t key_size = load<std::uint16_t>(n + 6);
      if (at + node_header_size + key_size > page_size_)
        damaged(where + " has node " + std::to_string(i) + " with a key past the page");
      const std::size_t data_at = at + node_header_size + key_size;
      if (branch) {
        const std::uint64_t child =
            lo | (std::uint64_t{hi} << 16) | (std::uint64_t{node_flags} << 32);
        check_page(child, databases, depth + 1);
        continue;
      }
      const std::size_t data_size = lo | (std::size_t{hi} << 16);
      if ((node_flags & node_bigdata) != 0) {
        if (data_at + 8 > page_size_)
          damaged(where + " has node " + std::to_string(i) + " with a value past the page");
        check_overflow(load<std::uint64_t>(p + data_at), data_size);
        continue;
      }
      if (data_at + data_size > page_size_)
        damaged(where + " has node " + std::to_string(i) + " with a value past the page");
      if ((node_flags & node_subdata) != 0) {
        // A named database (in the main database) or a sub-database of
        // duplicates: a database record naming its root.
        if (data_size != db_record_size)
          damaged(where + " has a database record of " + std::to_string(data_size) + " bytes");
        check_tree(load<std::uint64_t>(p + data_at + 40), false);
      } else if ((node_flags & node_dupdata) == 0 && databases && key_size == 0) {
        damaged(where + " has an empty key");
      }
    }
  }

  void check_overflow(std::uint64_t pgno, std::size_t data_size) {
    check_page_number(pgno, "overflow page");
    const std::uint64_t needed = (page_header_size + data_size + page_size_ - 1) / page_size_;
    if (pgno + needed - 1 > last_page_)
      damaged("overflow pages " + std::to_string(pgno) + ".." + std::to_string(pgno + needed - 1) +
              " run past the file's " + std::to_string(last_page_ + 1) + " pages");
    unsigned char header[page_header_size];
    read_at(pgno * page_size_, header, sizeof header);
    const auto flags = load<std::uint16_t>(header + 10);
    const auto pages = load<std::uint32_t>(header + 12);
    if (load<std::uint64_t>(header) != pgno || (flags & page_overflow) == 0 || pages < needed ||
        pgno + pages - 1 > last_page_)
      damaged("overflow page " + std::to_string(pgno) + " does not hold its value");
  }

  int fd_;
  std::string path_;
  std::uint32_t page_size_ = 0;
  std::uint64_t last_page_ = 0;
  std::vector<bool> seen_;
  meta_page metas_[2];
};

/// The data file of `options` (LMDB's data.mdb in a directory, or the file).
std::string data_file(const environment_options& options) {
  return options.single_file ? options.path : options.path + "/data.mdb";
}

/// Checks an existing data file's meta pages and size before LMDB maps it.
/// A missing file is new; an empty one is refused (see `environment`).
void check_before_open(const std::string& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return;
    throw error(errc::generic, "cannot open `" + file + "`: " + std::strerror(errno));
  }
  struct closer {
    int fd;
    ~closer() {
      ::close(fd);
    }
  } close_fd{fd};
  file_checker checker(fd, file);
  if (checker.file_size() == 0)
    checker.damaged("it is empty; LMDB writes its meta pages when it creates a file, so an "
                    "empty file lost its data (remove it to start afresh)");
  checker.check_meta();
}

/// Checks the trees of the open environment `env` (see `file_checker`).
void check_after_open(MDB_env* env, const std::string& file) {
  int fd = -1;
  check("env get fd", mdb_env_get_fd(env, &fd));
  MDB_txn* txn = nullptr;
  check("read transaction", mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn));
  struct aborter {
    MDB_txn* txn;
    ~aborter() {
      mdb_txn_abort(txn);
    }
  } abort_txn{txn};
  file_checker checker(fd, file);
  checker.check_meta();
  checker.check_trees(checker.meta_of(mdb_txn_id(txn)));
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
  const std::string file = data_file(options);
  check_before_open(file);
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
  try {
    check_after_open(env_, file);
  } catch (...) {
    mdb_env_close(env_);
    env_ = nullptr;
    throw;
  }
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
