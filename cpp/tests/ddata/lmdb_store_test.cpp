#include "atomr/ddata/lmdb_store.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <random>
#include <string>

namespace {

using atomr::ddata::lmdb_store;
using atomr::ddata::store_error;

class LmdbStore : public ::testing::Test {
protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("atomr-lmdb-test-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "dd.mdb").string();
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(LmdbStore, PutGetEraseAndKeys) {
  lmdb_store s(path_);
  s.put("b", "2");
  s.put("a", std::string("\0one", 4));
  EXPECT_EQ(s.get("a").value(), std::string("\0one", 4));
  EXPECT_FALSE(s.get("missing").has_value());
  EXPECT_EQ(s.keys(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(s.erase("a"));
  EXPECT_FALSE(s.erase("a"));
  EXPECT_EQ(s.keys(), (std::vector<std::string>{"b"}));
}

TEST_F(LmdbStore, DataSurvivesReopening) {
  {
    lmdb_store s(path_);
    s.put("k", "v");
  }
  lmdb_store again(path_);
  EXPECT_EQ(again.get("k").value(), "v");
}

TEST_F(LmdbStore, OpeningAnOpenFileTwiceIsAClearError) {
  lmdb_store s(path_);
  EXPECT_THROW(lmdb_store{path_}, store_error);
  s.close();
  lmdb_store again(path_);
  EXPECT_TRUE(again.is_open());
}

TEST_F(LmdbStore, TheMapGrowsWhenItFillsUp) {
  lmdb_store s(path_, 1u << 20);
  const std::string big(64 * 1024, 'x');
  for (int i = 0; i < 64; ++i) {
    std::string key = "k";
    key += std::to_string(i); // (operator+ trips a false -Wrestrict in GCC 12 at -O2)
    s.put(key, big);
  }
  EXPECT_EQ(s.keys().size(), 64u);
  EXPECT_EQ(s.get("k63").value(), big);
}

TEST_F(LmdbStore, AClosedStoreRefusesCalls) {
  lmdb_store s(path_);
  s.close();
  s.close();
  EXPECT_THROW(s.put("k", "v"), store_error);
  EXPECT_THROW((void)s.keys(), store_error);
}

TEST_F(LmdbStore, AnUnopenablePathIsAStoreError) {
  EXPECT_THROW(lmdb_store((dir_ / "no" / "such" / "dir" / "x.mdb").string()), store_error);
  EXPECT_THROW(lmdb_store(""), store_error);
}

} // namespace
