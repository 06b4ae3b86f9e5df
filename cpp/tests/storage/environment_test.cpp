#include "atomr/storage/environment.hpp"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using atomr::storage::environment;
using atomr::storage::environment_options;
using atomr::storage::errc;
using atomr::storage::open_mode;
using atomr::storage::transaction;

class Environment : public ::testing::Test {
protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() / ("atomr-storage-" + std::to_string(::getpid()) +
                                                     "-" + std::to_string(counter.fetch_add(1)));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  environment_options options(std::size_t map = 1 << 20, std::size_t max = 4 << 20) const {
    environment_options o;
    o.path = dir_.string();
    o.map_size = map;
    o.max_map_size = max;
    o.sync = false;
    return o;
  }

  static void put(environment& env, MDB_dbi dbi, const std::string& key, const std::string& value) {
    env.write([&](MDB_txn* txn) {
      MDB_val k = atomr::storage::as_val(key);
      MDB_val v = atomr::storage::as_val(value);
      atomr::storage::check("put", mdb_put(txn, dbi, &k, &v, 0));
    });
  }

  static bool get(environment& env, MDB_dbi dbi, const std::string& key, std::string& out) {
    return env.read([&](MDB_txn* txn) {
      MDB_val k = atomr::storage::as_val(key);
      MDB_val v;
      const int rc = mdb_get(txn, dbi, &k, &v);
      if (rc == MDB_NOTFOUND)
        return false;
      atomr::storage::check("get", rc);
      out.assign(atomr::storage::as_view(v));
      return true;
    });
  }

  std::filesystem::path dir_;
};

TEST_F(Environment, ADirectoryIsCreatedAndWhatIsWrittenIsReadBack) {
  auto env = environment::open(options());
  EXPECT_TRUE(std::filesystem::is_directory(dir_));
  MDB_dbi dbi = env->open_db(nullptr, 0);
  put(*env, dbi, "k", "v");
  std::string out;
  ASSERT_TRUE(get(*env, dbi, "k", out));
  EXPECT_EQ(out, "v");
  EXPECT_FALSE(get(*env, dbi, "missing", out));
}

TEST_F(Environment, SharedOpensOfOnePathShareOneEnvironment) {
  auto a = environment::open(options());
  auto b = environment::open(options(), open_mode::shared);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(environment::find(dir_.string()).get(), a.get());
}

TEST_F(Environment, AnExclusiveOpenOfAnOpenPathFailsWithAlreadyOpen) {
  auto a = environment::open(options());
  try {
    environment::open(options(), open_mode::exclusive);
    FAIL() << "no exception";
  } catch (const atomr::storage::error& e) {
    EXPECT_EQ(e.value(), errc::already_open);
    EXPECT_EQ(e.where(), atomr::component::storage);
    EXPECT_NE(std::string(e.what()).find("already open"), std::string::npos) << e.what();
  }
}

TEST_F(Environment, ASharedOpenOfAnExclusivelyOpenPathFailsWithAlreadyOpen) {
  auto a = environment::open(options(), open_mode::exclusive);
  try {
    environment::open(options(), open_mode::shared);
    FAIL() << "no exception";
  } catch (const atomr::storage::error& e) {
    EXPECT_EQ(e.value(), errc::already_open);
  }
}

TEST_F(Environment, ReleasingTheLastOwnerClosesAndFreesThePath) {
  auto a = environment::open(options(), open_mode::exclusive);
  MDB_dbi dbi = a->open_db(nullptr, 0);
  put(*a, dbi, "k", "kept");
  a.reset();
  EXPECT_EQ(environment::find(dir_.string()), nullptr);
  auto b = environment::open(options(), open_mode::exclusive);
  std::string out;
  ASSERT_TRUE(get(*b, b->open_db(nullptr, 0), "k", out));
  EXPECT_EQ(out, "kept");
}

TEST_F(Environment, ASingleFileEnvironmentIsTheFileItself) {
  std::filesystem::create_directories(dir_);
  auto o = options();
  o.path = (dir_ / "store.mdb").string();
  o.single_file = true;
  auto env = environment::open(o, open_mode::exclusive);
  put(*env, env->open_db(nullptr, 0), "k", "v");
  EXPECT_TRUE(std::filesystem::is_regular_file(dir_ / "store.mdb"));
}

TEST_F(Environment, AWriteThatFillsTheMapGrowsItAndCommits) {
  auto env = environment::open(options(1 << 20, 16 << 20));
  MDB_dbi dbi = env->open_db(nullptr, 0);
  const std::size_t before = env->map_size();
  put(*env, dbi, "big", std::string(3 << 20, 'x'));
  EXPECT_GT(env->map_size(), before);
  std::string out;
  ASSERT_TRUE(get(*env, dbi, "big", out));
  EXPECT_EQ(out.size(), std::size_t{3} << 20);
}

TEST_F(Environment, AWriteBeyondTheMaximumFailsWithMapFullAndLeavesTheStoreUsable) {
  auto env = environment::open(options(1 << 20, 2 << 20));
  MDB_dbi dbi = env->open_db(nullptr, 0);
  put(*env, dbi, "small", "v");
  try {
    put(*env, dbi, "huge", std::string(4 << 20, 'y'));
    FAIL() << "a write larger than the maximum map must fail";
  } catch (const atomr::storage::error& e) {
    EXPECT_EQ(e.value(), errc::map_full);
    EXPECT_NE(std::string(e.what()).find("is full"), std::string::npos) << e.what();
  }
  EXPECT_LE(env->map_size(), std::size_t{2} << 20);
  std::string out;
  EXPECT_FALSE(get(*env, dbi, "huge", out));
  put(*env, dbi, "after", "ok");
  ASSERT_TRUE(get(*env, dbi, "after", out));
  EXPECT_EQ(out, "ok");
}

TEST_F(Environment, ATransactionThatIsNotCommittedIsAborted) {
  auto env = environment::open(options());
  MDB_dbi dbi = env->open_db(nullptr, 0);
  {
    transaction txn(*env, false);
    MDB_val k = atomr::storage::as_val("k");
    MDB_val v = atomr::storage::as_val("v");
    ASSERT_EQ(mdb_put(txn.get(), dbi, &k, &v, 0), MDB_SUCCESS);
  }
  std::string out;
  EXPECT_FALSE(get(*env, dbi, "k", out));
}

TEST_F(Environment, AnExceptionInsideAWriteAbortsItsTransaction) {
  auto env = environment::open(options());
  MDB_dbi dbi = env->open_db(nullptr, 0);
  EXPECT_THROW(env->write([&](MDB_txn* txn) {
    MDB_val k = atomr::storage::as_val("k");
    MDB_val v = atomr::storage::as_val("v");
    atomr::storage::check("put", mdb_put(txn, dbi, &k, &v, 0));
    throw std::runtime_error("changed my mind");
  }),
               std::runtime_error);
  std::string out;
  EXPECT_FALSE(get(*env, dbi, "k", out));
}

TEST_F(Environment, AnEmptyPathAndAZeroMapSizeAreInvalidArguments) {
  auto o = options();
  o.path.clear();
  try {
    environment::open(o);
    FAIL() << "no exception";
  } catch (const atomr::storage::error& e) {
    EXPECT_EQ(e.value(), errc::invalid_argument);
  }
  o = options(0);
  try {
    environment::open(o);
    FAIL() << "no exception";
  } catch (const atomr::storage::error& e) {
    EXPECT_EQ(e.value(), errc::invalid_argument);
  }
}

TEST_F(Environment, LmdbCodesMapOntoStorageCodes) {
  auto code_of = [](int rc) {
    try {
      atomr::storage::throw_error("op", rc);
    } catch (const atomr::storage::error& e) {
      return e.value();
    }
    return errc::closed; // unreachable
  };
  EXPECT_EQ(code_of(MDB_MAP_FULL), errc::map_full);
  EXPECT_EQ(code_of(MDB_TXN_FULL), errc::txn_full);
  EXPECT_EQ(code_of(MDB_CORRUPTED), errc::generic);
}

struct counted_attachment {
  explicit counted_attachment(std::atomic<int>& live)
    : live_(live) {
    ++live_;
  }
  ~counted_attachment() {
    --live_;
  }
  std::atomic<int>& live_;
};

TEST_F(Environment, AnAttachmentIsMadeOnceAndLivesAsLongAsTheEnvironment) {
  std::atomic<int> live{0};
  int made = 0;
  auto env = environment::open(options());
  auto make = [&] {
    ++made;
    return std::make_shared<counted_attachment>(live);
  };
  auto a = env->attachment<counted_attachment>(make);
  auto b = env->attachment<counted_attachment>(make);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(made, 1);
  env.reset();
  EXPECT_NE(environment::find(dir_.string()), nullptr); // the attachment keeps it open
  a.reset();
  EXPECT_EQ(live.load(), 1);
  b.reset();
  EXPECT_EQ(live.load(), 0);
  EXPECT_EQ(environment::find(dir_.string()), nullptr);
}

TEST_F(Environment, ConcurrentSharedOpensAndWritesAgree) {
  constexpr int threads = 4;
  constexpr int per_thread = 50;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto env = environment::open(options(1 << 20, 64 << 20));
      MDB_dbi dbi = env->open_db(nullptr, 0);
      for (int i = 0; i < per_thread; ++i)
        put(*env, dbi, std::to_string(t) + "-" + std::to_string(i), std::string(8 << 10, 'z'));
    });
  }
  auto env = environment::open(options(1 << 20, 64 << 20));
  for (auto& w : workers)
    w.join();
  MDB_dbi dbi = env->open_db(nullptr, 0);
  std::string out;
  for (int t = 0; t < threads; ++t)
    for (int i = 0; i < per_thread; ++i)
      EXPECT_TRUE(get(*env, dbi, std::to_string(t) + "-" + std::to_string(i), out));
}

} // namespace

namespace {

class DamagedEnvironment : public Environment {
protected:
  /// Writes a few hundred entries, some large enough for overflow pages,
  /// and returns the data file's bytes.
  std::string make_file() {
    {
      auto env = environment::open(options());
      const MDB_dbi dbi = env->open_db(nullptr);
      for (int i = 0; i < 300; ++i)
        put(*env, dbi, "key-" + std::to_string(i), std::string(i % 50 == 0 ? 5000 : 100, 'v'));
    }
    std::ifstream in(dir_ / "data.mdb", std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }

  void write_file(const std::string& bytes) {
    std::ofstream out(dir_ / "data.mdb", std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  /// Opening fails with a storage error whose message says `what`.
  void expect_damaged(const std::string& what) {
    try {
      auto env = environment::open(options());
      FAIL() << "a damaged file was opened";
    } catch (const atomr::storage::error& e) {
      EXPECT_EQ(e.value(), errc::generic);
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  }
};

TEST_F(DamagedEnvironment, AnEmptyDataFileIsRefused) {
  make_file();
  write_file("");
  expect_damaged("is empty");
}

TEST_F(DamagedEnvironment, ATruncatedDataFileIsRefusedBeforeItIsMapped) {
  const std::string bytes = make_file();
  for (std::size_t cut : {std::size_t{1}, std::size_t{4096}, std::size_t{3 * 4096 + 7},
                          bytes.size() / 2, bytes.size() - 1}) {
    write_file(bytes.substr(0, cut));
    expect_damaged("damaged");
  }
}

TEST_F(DamagedEnvironment, AGarbagePageGivesAnErrorOrTheDataNeverACrash) {
  std::string bytes = make_file();
  // Page 2 onwards holds the trees; every tree page names itself.
  for (std::size_t page = 2; page * 4096 < bytes.size(); ++page) {
    std::string damaged = bytes;
    std::fill_n(damaged.begin() + static_cast<std::ptrdiff_t>(page * 4096), 4096, '\xA5');
    write_file(damaged);
    try {
      auto env = environment::open(options());
      const MDB_dbi dbi = env->open_db(nullptr);
      std::string out;
      get(*env, dbi, "key-7", out);
    } catch (const atomr::storage::error&) {
      // The damage was noticed (or the page was free and nothing noticed).
    }
  }
  write_file(bytes);
  auto env = environment::open(options());
  std::string out;
  EXPECT_TRUE(get(*env, env->open_db(nullptr), "key-7", out));
}

} // namespace
