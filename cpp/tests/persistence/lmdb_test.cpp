// What only the LMDB backend does: durability across reopening, a shared
// environment, map growth and the map-full error, group commit.

#include "atomr/persistence/lmdb.hpp"
#include "test_support.hpp"

#include <atomic>
#include <future>
#include <gtest/gtest.h>
#include <lmdb.h>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace atomr::persistence;
using atomr::persistence::testing::make_batch;
using atomr::persistence::testing::make_record;
using atomr::persistence::testing::sequence_nrs;
using atomr::persistence::testing::temp_dir;

lmdb_options options_for(const temp_dir& dir, std::size_t map = 1 << 20,
                         std::size_t max = std::size_t{1} << 30) {
  lmdb_options o;
  o.path = dir.str();
  o.map_size = map;
  o.max_map_size = max;
  return o;
}

TEST(LmdbJournal, RecordsSurviveClosingAndReopening) {
  temp_dir dir;
  {
    auto j = make_lmdb_journal(options_for(dir));
    ASSERT_EQ(j->write({make_batch("a", 1, 3)})[0], "");
    j->delete_to("a", 1);
    auto s = make_lmdb_snapshot_store(options_for(dir));
    s->save(snapshot_record{"a", 3, 42, "m", "snap"});
  }
  EXPECT_EQ(lmdb_map_size(dir.str()), 0u); // the environment was closed
  auto j = make_lmdb_journal(options_for(dir));
  EXPECT_EQ(j->highest_sequence_nr("a"), 3u);
  EXPECT_EQ(sequence_nrs(*j, "a"), (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(replay_to_vector(*j, "a", 3, 3, 1).at(0), make_record("a", 3));
  auto s = make_lmdb_snapshot_store(options_for(dir));
  snapshot_record out;
  ASSERT_TRUE(s->load("a", snapshot_criteria{}, out));
  EXPECT_EQ(out.payload, "snap");
}

/// Drops the tag index and its counter, as in a journal written before
/// they existed.
void drop_tag_index(const temp_dir& dir) {
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  ASSERT_EQ(mdb_env_set_maxdbs(env, 8), 0);
  ASSERT_EQ(mdb_env_set_mapsize(env, 1 << 20), 0);
  ASSERT_EQ(mdb_env_open(env, dir.str().c_str(), 0, 0644), 0);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  for (const char* name : {"journal-global", "journal-tags"}) {
    MDB_dbi dbi;
    ASSERT_EQ(mdb_dbi_open(txn, name, 0, &dbi), 0);
    ASSERT_EQ(mdb_drop(txn, dbi, 1), 0);
  }
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

TEST(LmdbJournal, TheTagIndexSurvivesReopeningAndIsBuiltForAnOlderJournal) {
  temp_dir dir;
  record_batch a = make_batch("a", 1, 2);
  a[1].tags = {"t"};
  record_batch b = make_batch("b", 1, 1);
  b[0].tags = {"t", "u"};
  {
    auto j = make_lmdb_journal(options_for(dir));
    ASSERT_EQ(j->write({b})[0], "");
    ASSERT_EQ(j->write({a})[0], "");
  }
  {
    auto j = make_lmdb_journal(options_for(dir));
    auto t = events_by_tag_ordered_to_vector(*j, "t", 0, max_sequence_nr);
    ASSERT_EQ(t.size(), 2u);
    EXPECT_EQ(t[0].record, b[0]); // written first
    EXPECT_EQ(t[1].record, a[1]);
    EXPECT_EQ(j->highest_ordering(), 2u);
  }
  drop_tag_index(dir);
  auto j = make_lmdb_journal(options_for(dir));
  // Rebuilt from the events, in key order ("a" before "b").
  EXPECT_EQ(j->highest_ordering(), 2u);
  auto t = events_by_tag_ordered_to_vector(*j, "t", 0, max_sequence_nr);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].record, a[1]);
  EXPECT_EQ(t[1].record, b[0]);
  EXPECT_EQ(events_by_tag_ordered_to_vector(*j, "u", 0, max_sequence_nr).size(), 1u);
  record_batch c = make_batch("c", 1, 1);
  c[0].tags = {"t"};
  ASSERT_EQ(j->write({c})[0], "");
  auto last = events_by_tag_ordered_to_vector(*j, "t", 2, max_sequence_nr);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].ordering, 3u);
}

TEST(LmdbJournal, JournalsOnOneDirectoryShareTheEnvironment) {
  temp_dir dir;
  auto j1 = make_lmdb_journal(options_for(dir));
  auto j2 = make_lmdb_journal(options_for(dir));
  ASSERT_EQ(j1->write({make_batch("a", 1, 2)})[0], "");
  EXPECT_EQ(j2->highest_sequence_nr("a"), 2u);
  EXPECT_NE(j2->write({make_batch("a", 1, 1)})[0], "");
}

TEST(LmdbJournal, TheMapGrowsWhenItFills) {
  temp_dir dir;
  auto j = make_lmdb_journal(options_for(dir, 64 << 10));
  std::size_t before = lmdb_map_size(dir.str());
  std::string payload(4096, 'x');
  for (std::uint64_t seq = 1; seq <= 200; ++seq) {
    ASSERT_EQ(j->write({{make_record("big", seq, payload)}})[0], "");
  }
  EXPECT_GT(lmdb_map_size(dir.str()), before);
  EXPECT_EQ(sequence_nrs(*j, "big").size(), 200u);
}

TEST(LmdbJournal, AWriteBeyondTheMaximumMapFailsClearlyAndKeepsEarlierRecords) {
  temp_dir dir;
  auto j = make_lmdb_journal(options_for(dir, 128 << 10, 256 << 10));
  ASSERT_EQ(j->write({make_batch("a", 1, 2)})[0], "");
  record_batch huge{make_record("a", 3, std::string(1 << 20, 'y'))};
  try {
    j->write({huge});
    FAIL() << "a write larger than the maximum map must fail";
  } catch (const journal_error& e) {
    EXPECT_NE(std::string(e.what()).find("is full"), std::string::npos) << e.what();
    EXPECT_EQ(e.where(), atomr::component::persistence);
    EXPECT_EQ(e.code(), static_cast<int>(atomr::persistence::errc::generic));
  }
  EXPECT_EQ(j->highest_sequence_nr("a"), 2u);
  EXPECT_EQ(j->write({make_batch("a", 3, 3)})[0], ""); // still usable afterwards
}

TEST(LmdbJournal, AnOversizedWriteDoesNotFailTheWritesCommittedWithIt) {
  temp_dir dir;
  auto j = make_lmdb_journal(options_for(dir, 128 << 10, 256 << 10));
  constexpr int writers = 6;
  std::vector<std::promise<write_outcome>> done(writers + 1);
  std::vector<std::future<write_outcome>> results;
  for (auto& d : done) {
    results.push_back(d.get_future());
  }
  j->write_async({{make_record("huge", 1, std::string(1 << 20, 'z'))}},
                 [&done](write_outcome o) { done[writers].set_value(std::move(o)); });
  for (int w = 0; w < writers; ++w) {
    j->write_async({make_batch("w" + std::to_string(w), 1, 3)},
                   [&done, w](write_outcome o) { done[w].set_value(std::move(o)); });
  }
  for (int w = 0; w < writers; ++w) {
    write_outcome o = results[w].get();
    EXPECT_FALSE(o.failed) << o.error;
    EXPECT_EQ(j->highest_sequence_nr("w" + std::to_string(w)), 3u);
  }
  write_outcome big = results[writers].get();
  EXPECT_TRUE(big.failed);
  EXPECT_EQ(j->highest_sequence_nr("huge"), 0u);
}

TEST(LmdbJournal, ManyConcurrentWritersAreGroupCommitted) {
  temp_dir dir;
  auto j = make_lmdb_journal(options_for(dir));
  constexpr int writers = 32;
  constexpr int per_writer = 20;
  std::atomic<int> pending{writers};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::string id = "entity-" + std::to_string(w);
      for (int i = 1; i <= per_writer; ++i) {
        ASSERT_EQ(j->write({make_batch(id, i, i)})[0], "");
      }
      pending.fetch_sub(1);
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(pending.load(), 0);
  for (int w = 0; w < writers; ++w) {
    EXPECT_EQ(sequence_nrs(*j, "entity-" + std::to_string(w)).size(),
              static_cast<std::size_t>(per_writer));
  }
}

TEST(LmdbJournal, OverlongPersistenceIdsAreRejected) {
  temp_dir dir;
  auto j = make_lmdb_journal(options_for(dir));
  std::string id(lmdb_max_persistence_id + 1, 'p');
  EXPECT_NE(j->write({make_batch(id, 1, 1)})[0].find("longer than"), std::string::npos);
  EXPECT_EQ(j->highest_sequence_nr(id), 0u);
}

TEST(LmdbJournal, AnUncreatableDirectoryIsAJournalError) {
  lmdb_options o;
  o.path = "/proc/atomr-cannot-create-this";
  EXPECT_THROW(make_lmdb_journal(o), journal_error);
  o.path = "";
  EXPECT_THROW(make_lmdb_journal(o), journal_error);
}

} // namespace
