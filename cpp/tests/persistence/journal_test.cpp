// Behaviour every journal and snapshot store backend shares: the same
// suite runs on the in-memory and the LMDB implementations.

#include "atomr/persistence/lmdb.hpp"
#include "test_support.hpp"

#include <algorithm>
#include <future>
#include <gtest/gtest.h>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace atomr::persistence;
using atomr::persistence::testing::make_batch;
using atomr::persistence::testing::make_record;
using atomr::persistence::testing::sequence_nrs;
using atomr::persistence::testing::temp_dir;
using seqs = std::vector<std::uint64_t>;

enum class backend { in_memory, lmdb };

std::string backend_name(const ::testing::TestParamInfo<backend>& info) {
  return info.param == backend::in_memory ? "InMemory" : "Lmdb";
}

class JournalConformance : public ::testing::TestWithParam<backend> {
protected:
  void SetUp() override {
    if (GetParam() == backend::in_memory) {
      journal_ = make_in_memory_journal();
      store_ = make_in_memory_snapshot_store();
    } else {
      lmdb_options options;
      options.path = dir_.str();
      options.map_size = 1 << 20;
      journal_ = make_lmdb_journal(options);
      store_ = make_lmdb_snapshot_store(options);
    }
  }

  std::vector<std::string> write(std::vector<record_batch> batches) {
    return journal_->write(std::move(batches));
  }

  void write_ok(record_batch batch) {
    auto result = write({std::move(batch)});
    ASSERT_EQ(result.size(), 1u);
    ASSERT_EQ(result[0], "");
  }

  static snapshot_record snap(const std::string& id, std::uint64_t seq, std::int64_t ts,
                              std::string payload = "state") {
    return snapshot_record{id, seq, ts, "test.State", std::move(payload)};
  }

  temp_dir dir_;
  std::shared_ptr<journal> journal_;
  std::shared_ptr<snapshot_store> store_;
};

TEST_P(JournalConformance, ReplaysEverythingInOrderWithTheRecordsAsWritten) {
  write_ok(make_batch("a", 1, 5));
  auto records = replay_to_vector(*journal_, "a", 1, max_sequence_nr, max_sequence_nr);
  ASSERT_EQ(records.size(), 5u);
  for (std::uint64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(records[i], make_record("a", i + 1));
  }
}

TEST_P(JournalConformance, ReplayHonoursLowerAndUpperBoundsAndMax) {
  write_ok(make_batch("a", 1, 10));
  EXPECT_EQ(sequence_nrs(*journal_, "a", 3), (seqs{3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(sequence_nrs(*journal_, "a", 1, 4), (seqs{1, 2, 3, 4}));
  EXPECT_EQ(sequence_nrs(*journal_, "a", 2, 9, 3), (seqs{2, 3, 4}));
  EXPECT_EQ(sequence_nrs(*journal_, "a", 5, 5), (seqs{5}));
  EXPECT_EQ(sequence_nrs(*journal_, "a", 1, max_sequence_nr, 0), seqs{});
  EXPECT_EQ(sequence_nrs(*journal_, "a", 7, 3), seqs{});
  EXPECT_EQ(sequence_nrs(*journal_, "a", 11), seqs{});
}

TEST_P(JournalConformance, ReplayOfAnUnknownIdDeliversNothing) {
  write_ok(make_batch("a", 1, 2));
  EXPECT_EQ(sequence_nrs(*journal_, "nobody"), seqs{});
  EXPECT_EQ(journal_->highest_sequence_nr("nobody"), 0u);
}

TEST_P(JournalConformance, EntitiesDoNotSeeEachOthersRecords) {
  write_ok(make_batch("a", 1, 3));
  write_ok(make_batch("ab", 1, 2));
  write_ok(make_batch("b", 1, 1));
  EXPECT_EQ(sequence_nrs(*journal_, "a"), (seqs{1, 2, 3}));
  EXPECT_EQ(sequence_nrs(*journal_, "ab"), (seqs{1, 2}));
  EXPECT_EQ(journal_->highest_sequence_nr("b"), 1u);
  auto ids = journal_->persistence_ids();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "ab", "b"}));
}

TEST_P(JournalConformance, HighestSequenceNumberNeverDecreasesAlsoAfterDeletes) {
  write_ok(make_batch("a", 1, 4));
  EXPECT_EQ(journal_->highest_sequence_nr("a"), 4u);
  journal_->delete_to("a", 4);
  EXPECT_EQ(journal_->highest_sequence_nr("a"), 4u);
  EXPECT_EQ(sequence_nrs(*journal_, "a"), seqs{});
  write_ok(make_batch("a", 5, 6));
  EXPECT_EQ(journal_->highest_sequence_nr("a"), 6u);
  EXPECT_EQ(sequence_nrs(*journal_, "a"), (seqs{5, 6}));
}

TEST_P(JournalConformance, DeleteToRemovesAPrefixAndIsClampedToTheHighest) {
  write_ok(make_batch("a", 1, 6));
  journal_->delete_to("a", 3);
  EXPECT_EQ(sequence_nrs(*journal_, "a"), (seqs{4, 5, 6}));
  journal_->delete_to("a", 2); // already deleted: no change
  EXPECT_EQ(sequence_nrs(*journal_, "a"), (seqs{4, 5, 6}));
  journal_->delete_to("a", 100);
  EXPECT_EQ(sequence_nrs(*journal_, "a"), seqs{});
  write_ok(make_batch("a", 7, 7)); // numbering continues after the highest
  EXPECT_EQ(sequence_nrs(*journal_, "a"), (seqs{7}));
  journal_->delete_to("unknown", 5);
  EXPECT_EQ(journal_->highest_sequence_nr("unknown"), 0u);
}

TEST_P(JournalConformance, ABatchIsWrittenWhollyOrRejectedWholly) {
  write_ok(make_batch("a", 1, 2));
  record_batch gap = make_batch("a", 3, 5);
  gap[2].sequence_nr = 9;
  record_batch mixed = make_batch("a", 3, 4);
  mixed[1].persistence_id = "b";
  auto result = write({gap, mixed, make_batch("a", 3, 4), make_batch("a", 1, 1)});
  ASSERT_EQ(result.size(), 4u);
  EXPECT_NE(result[0].find("not the next one"), std::string::npos) << result[0];
  EXPECT_NE(result[1].find("one persistence id"), std::string::npos) << result[1];
  EXPECT_EQ(result[2], "");
  EXPECT_NE(result[3], ""); // a duplicate number
  EXPECT_EQ(sequence_nrs(*journal_, "a"), (seqs{1, 2, 3, 4}));
  EXPECT_EQ(sequence_nrs(*journal_, "b"), seqs{});
}

TEST_P(JournalConformance, NumberingMustStartAtOneAndEmptyIdsAreRejected) {
  auto result = write({make_batch("a", 2, 3), make_batch("", 1, 1), record_batch{}});
  EXPECT_NE(result[0], "");
  EXPECT_NE(result[1], "");
  EXPECT_EQ(result[2], "");
  EXPECT_EQ(journal_->highest_sequence_nr("a"), 0u);
}

TEST_P(JournalConformance, ConcurrentWritersEachGetTheirOwnResult) {
  constexpr int writers = 8;
  constexpr int per_writer = 25;
  std::vector<std::thread> threads;
  std::vector<int> failures(writers, 0);
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::string id = "w" + std::to_string(w);
      for (int i = 1; i <= per_writer; ++i) {
        auto result = journal_->write({make_batch(id, i, i)});
        failures[w] += result[0].empty() ? 0 : 1;
      }
      // A bad write among good ones is rejected on its own.
      failures[w] += journal_->write({make_batch(id, 1, 1)})[0].empty() ? 1 : 0;
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (int w = 0; w < writers; ++w) {
    EXPECT_EQ(failures[w], 0);
    auto id = "w" + std::to_string(w);
    EXPECT_EQ(journal_->highest_sequence_nr(id), static_cast<std::uint64_t>(per_writer));
    EXPECT_EQ(sequence_nrs(*journal_, id).size(), static_cast<std::size_t>(per_writer));
  }
}

TEST_P(JournalConformance, AsyncWritesReportTheirOutcomeOnce) {
  std::promise<write_outcome> done;
  auto future = done.get_future();
  journal_->write_async({make_batch("a", 1, 2), make_batch("a", 5, 5)},
                        [&done](write_outcome o) { done.set_value(std::move(o)); });
  write_outcome outcome = future.get();
  EXPECT_FALSE(outcome.failed);
  ASSERT_EQ(outcome.rejections.size(), 2u);
  EXPECT_EQ(outcome.rejections[0], "");
  EXPECT_NE(outcome.rejections[1], "");
}

TEST_P(JournalConformance, EventsByTagSpanEntitiesAndSkipDeletedRecords) {
  record_batch a = make_batch("a", 1, 3);
  a[0].tags = {"red"};
  a[2].tags = {"red", "blue"};
  record_batch b = make_batch("b", 1, 2);
  b[1].tags = {"red"};
  write_ok(a);
  write_ok(b);
  auto red = events_by_tag_to_vector(*journal_, "red", 0, max_sequence_nr);
  ASSERT_EQ(red.size(), 3u);
  EXPECT_EQ(events_by_tag_to_vector(*journal_, "red", 2, max_sequence_nr).size(), 2u);
  EXPECT_EQ(events_by_tag_to_vector(*journal_, "red", 0, 1).size(), 1u);
  EXPECT_EQ(events_by_tag_to_vector(*journal_, "blue", 0, max_sequence_nr).at(0), a[2]);
  journal_->delete_to("a", 1);
  EXPECT_EQ(events_by_tag_to_vector(*journal_, "red", 0, max_sequence_nr).size(), 2u);
}

TEST_P(JournalConformance, TagIndexOrdersTaggedEventsAcrossEntitiesAndResumesAfterAnOrdering) {
  EXPECT_EQ(journal_->highest_ordering(), 0u);
  record_batch a = make_batch("a", 1, 3);
  a[0].tags = {"red"};
  a[2].tags = {"red", "blue", "red"};
  record_batch b = make_batch("b", 1, 2);
  b[1].tags = {"red"};
  write_ok(a);
  write_ok(b);
  // Three tagged events: orderings 1 (a/1), 2 (a/3), 3 (b/2).
  EXPECT_EQ(journal_->highest_ordering(), 3u);
  auto red = events_by_tag_ordered_to_vector(*journal_, "red", 0, max_sequence_nr);
  ASSERT_EQ(red.size(), 3u);
  EXPECT_EQ(red[0].ordering, 1u);
  EXPECT_EQ(red[0].record, a[0]);
  EXPECT_EQ(red[1].ordering, 2u);
  EXPECT_EQ(red[1].record, a[2]);
  EXPECT_EQ(red[2].ordering, 3u);
  EXPECT_EQ(red[2].record, b[1]);
  auto after = events_by_tag_ordered_to_vector(*journal_, "red", 2, max_sequence_nr);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].record, b[1]);
  EXPECT_EQ(events_by_tag_ordered_to_vector(*journal_, "red", 0, 2).size(), 2u);
  auto blue = events_by_tag_ordered_to_vector(*journal_, "blue", 0, max_sequence_nr);
  ASSERT_EQ(blue.size(), 1u);
  EXPECT_EQ(blue[0].ordering, 2u);
  EXPECT_TRUE(events_by_tag_ordered_to_vector(*journal_, "green", 0, max_sequence_nr).empty());
  EXPECT_TRUE(events_by_tag_ordered_to_vector(*journal_, "red", max_sequence_nr, 10).empty());
  journal_->delete_to("a", 1);
  red = events_by_tag_ordered_to_vector(*journal_, "red", 0, max_sequence_nr);
  ASSERT_EQ(red.size(), 2u);
  EXPECT_EQ(red[0].ordering, 2u);
  write_ok(make_batch("c", 1, 1));
  EXPECT_EQ(journal_->highest_ordering(), 3u); // untagged events take no ordering
}

TEST_P(JournalConformance, SnapshotLoadPicksTheLatestMatchingTheCriteria) {
  store_->save(snap("a", 5, 100, "s5"));
  store_->save(snap("a", 10, 200, "s10"));
  store_->save(snap("a", 15, 300, "s15"));
  store_->save(snap("ab", 20, 400, "other"));
  snapshot_record out;
  ASSERT_TRUE(store_->load("a", snapshot_criteria{}, out));
  EXPECT_EQ(out, snap("a", 15, 300, "s15"));

  snapshot_criteria by_seq;
  by_seq.max_sequence_nr = 12;
  ASSERT_TRUE(store_->load("a", by_seq, out));
  EXPECT_EQ(out.sequence_nr, 10u);

  snapshot_criteria by_time;
  by_time.max_timestamp_ms = 150;
  ASSERT_TRUE(store_->load("a", by_time, out));
  EXPECT_EQ(out.sequence_nr, 5u);

  snapshot_criteria min_bounds;
  min_bounds.min_sequence_nr = 6;
  min_bounds.max_timestamp_ms = 250;
  ASSERT_TRUE(store_->load("a", min_bounds, out));
  EXPECT_EQ(out.sequence_nr, 10u);

  snapshot_criteria none;
  none.max_sequence_nr = 4;
  EXPECT_FALSE(store_->load("a", none, out));
  EXPECT_FALSE(store_->load("unknown", snapshot_criteria{}, out));
}

TEST_P(JournalConformance, SnapshotsAreDeletedOneByOneOrByCriteria) {
  for (std::uint64_t seq : {1, 2, 3, 4}) {
    store_->save(snap("a", seq, static_cast<std::int64_t>(seq * 10)));
  }
  snapshot_record out;
  store_->remove("a", 4);
  ASSERT_TRUE(store_->load("a", snapshot_criteria{}, out));
  EXPECT_EQ(out.sequence_nr, 3u);
  store_->remove("a", 99); // absent: no-op
  snapshot_criteria old;
  old.max_timestamp_ms = 25;
  store_->remove_matching("a", old);
  snapshot_criteria upto2;
  upto2.max_sequence_nr = 2;
  EXPECT_FALSE(store_->load("a", upto2, out));
  ASSERT_TRUE(store_->load("a", snapshot_criteria{}, out));
  EXPECT_EQ(out.sequence_nr, 3u);
  store_->remove_matching("a", snapshot_criteria{});
  EXPECT_FALSE(store_->load("a", snapshot_criteria{}, out));
}

TEST_P(JournalConformance, SavingAtTheSameSequenceNumberOverwrites) {
  store_->save(snap("a", 7, 100, "first"));
  store_->save(snap("a", 7, 200, "second"));
  snapshot_record out;
  ASSERT_TRUE(store_->load("a", snapshot_criteria{}, out));
  EXPECT_EQ(out, snap("a", 7, 200, "second"));
}

INSTANTIATE_TEST_SUITE_P(Backends, JournalConformance,
                         ::testing::Values(backend::in_memory, backend::lmdb), backend_name);

TEST(Validation, ExplainsWhatIsWrongWithABatch) {
  EXPECT_EQ(validate_batch({}, 5), "");
  EXPECT_EQ(validate_batch(make_batch("a", 6, 8), 5), "");
  EXPECT_NE(validate_batch(make_batch("a", 7, 8), 5).find("expected 6"), std::string::npos);
}

} // namespace
