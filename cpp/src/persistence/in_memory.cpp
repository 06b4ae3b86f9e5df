// Journals and snapshot stores kept in the process's memory.

#include "atomr/persistence/journal.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace atomr::persistence {
namespace {

class in_memory_journal final : public journal {
public:
  std::vector<std::string> write(std::vector<record_batch> batches) override {
    std::vector<std::string> rejections;
    rejections.reserve(batches.size());
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& batch : batches) {
      if (batch.empty()) {
        rejections.emplace_back();
        continue;
      }
      auto it = entities_.find(batch.front().persistence_id);
      std::uint64_t highest = it == entities_.end() ? 0 : it->second.highest;
      std::string reason = validate_batch(batch, highest);
      if (!reason.empty()) {
        rejections.push_back(std::move(reason));
        continue;
      }
      if (it == entities_.end()) {
        it = entities_.emplace(batch.front().persistence_id, entity{}).first;
      }
      entity& e = it->second;
      for (auto& record : batch) {
        if (!record.tags.empty()) {
          index(record);
        }
        e.highest = record.sequence_nr;
        e.records.emplace(record.sequence_nr, std::move(record));
      }
      rejections.emplace_back();
    }
    return rejections;
  }

  std::uint64_t replay(const std::string& id, std::uint64_t from, std::uint64_t to,
                       std::uint64_t max, const record_callback& on_record) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entities_.find(id);
    if (it == entities_.end() || max == 0 || from > to) {
      return 0;
    }
    std::uint64_t n = 0;
    const auto& records = it->second.records;
    for (auto r = records.lower_bound(from); r != records.end() && r->first <= to && n < max;
         ++r, ++n) {
      on_record(r->second);
    }
    return n;
  }

  std::uint64_t highest_sequence_nr(const std::string& id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entities_.find(id);
    return it == entities_.end() ? 0 : it->second.highest;
  }

  void delete_to(const std::string& id, std::uint64_t to) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entities_.find(id);
    if (it == entities_.end()) {
      return;
    }
    auto& records = it->second.records;
    records.erase(records.begin(), records.upper_bound(to));
  }

  std::vector<std::string> persistence_ids() override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> ids;
    ids.reserve(entities_.size());
    for (const auto& [id, e] : entities_) {
      ids.push_back(id);
    }
    return ids;
  }

  std::uint64_t events_by_tag(const std::string& tag, std::uint64_t from, std::uint64_t max,
                              const record_callback& on_record) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<const std::string*> ids;
    for (const auto& [id, e] : entities_) {
      ids.push_back(&id);
    }
    std::sort(ids.begin(), ids.end(), [](const auto* a, const auto* b) { return *a < *b; });
    std::uint64_t n = 0;
    for (const auto* id : ids) {
      const auto& records = entities_.at(*id).records;
      for (auto r = records.lower_bound(from); r != records.end() && n < max; ++r) {
        const auto& tags = r->second.tags;
        if (std::find(tags.begin(), tags.end(), tag) != tags.end()) {
          on_record(r->second);
          ++n;
        }
      }
    }
    return n;
  }

  std::uint64_t events_by_tag_ordered(const std::string& tag, std::uint64_t after,
                                      std::uint64_t max,
                                      const ordered_record_callback& on_record) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto t = tags_.find(tag);
    if (t == tags_.end() || max == 0 || after == max_sequence_nr) {
      return 0;
    }
    std::uint64_t n = 0;
    for (auto e = t->second.upper_bound(after); e != t->second.end() && n < max; ++e) {
      // The index keeps the entries of deleted events: skip them here.
      auto it = entities_.find(e->second.first);
      if (it == entities_.end()) {
        continue;
      }
      auto r = it->second.records.find(e->second.second);
      if (r == it->second.records.end()) {
        continue;
      }
      on_record(e->first, r->second);
      ++n;
    }
    return n;
  }

  std::uint64_t highest_ordering() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return ordering_;
  }

  bool blocking() const noexcept override {
    return false;
  }

private:
  struct entity {
    std::map<std::uint64_t, persistent_record> records;
    std::uint64_t highest = 0;
  };

  /// Gives a tagged record the next ordering and enters it under each of
  /// its tags (a tag named twice is entered once).
  void index(const persistent_record& record) {
    ++ordering_;
    for (const auto& tag : record.tags) {
      tags_[tag].emplace(ordering_, std::make_pair(record.persistence_id, record.sequence_nr));
    }
  }

  std::mutex mutex_;
  std::unordered_map<std::string, entity> entities_;
  std::uint64_t ordering_ = 0;
  /// tag -> ordering -> (persistence id, sequence number)
  std::unordered_map<std::string, std::map<std::uint64_t, std::pair<std::string, std::uint64_t>>>
      tags_;
};

class in_memory_snapshot_store final : public snapshot_store {
public:
  void save(const snapshot_record& snapshot) override {
    std::lock_guard<std::mutex> lock(mutex_);
    snapshots_[snapshot.persistence_id][snapshot.sequence_nr] = snapshot;
  }

  bool load(const std::string& id, const snapshot_criteria& criteria,
            snapshot_record& out) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = snapshots_.find(id);
    if (it == snapshots_.end()) {
      return false;
    }
    const auto& by_seq = it->second;
    for (auto s = by_seq.rbegin(); s != by_seq.rend(); ++s) {
      if (criteria.matches(s->first, s->second.timestamp_ms)) {
        out = s->second;
        return true;
      }
    }
    return false;
  }

  void remove(const std::string& id, std::uint64_t sequence_nr) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = snapshots_.find(id);
    if (it != snapshots_.end()) {
      it->second.erase(sequence_nr);
    }
  }

  void remove_matching(const std::string& id, const snapshot_criteria& criteria) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = snapshots_.find(id);
    if (it == snapshots_.end()) {
      return;
    }
    auto& by_seq = it->second;
    for (auto s = by_seq.begin(); s != by_seq.end();) {
      if (criteria.matches(s->first, s->second.timestamp_ms)) {
        s = by_seq.erase(s);
      } else {
        ++s;
      }
    }
  }

  bool blocking() const noexcept override {
    return false;
  }

private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::map<std::uint64_t, snapshot_record>> snapshots_;
};

} // namespace

std::shared_ptr<journal> make_in_memory_journal() {
  return std::make_shared<in_memory_journal>();
}

std::shared_ptr<snapshot_store> make_in_memory_snapshot_store() {
  return std::make_shared<in_memory_snapshot_store>();
}

} // namespace atomr::persistence
