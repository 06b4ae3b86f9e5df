#include "atomr/persistence/journal.hpp"

#include <chrono>
#include <exception>
#include <utility>

namespace atomr::persistence {

journal::~journal() = default;
snapshot_store::~snapshot_store() = default;

std::string validate_batch(const record_batch& batch, std::uint64_t highest) {
  if (batch.empty()) {
    return {};
  }
  const std::string& id = batch.front().persistence_id;
  if (id.empty()) {
    return "the persistence id is empty";
  }
  std::uint64_t expected = highest + 1;
  for (const auto& record : batch) {
    if (record.persistence_id != id) {
      return "a batch must hold the events of one persistence id (found `" + id + "` and `" +
             record.persistence_id + "`)";
    }
    if (record.sequence_nr != expected) {
      return "sequence number " + std::to_string(record.sequence_nr) + " of `" + id +
             "` is not the next one (expected " + std::to_string(expected) + ")";
    }
    ++expected;
  }
  return {};
}

std::int64_t now_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void journal::write_async(std::vector<record_batch> batches, write_callback done) {
  write_outcome outcome;
  try {
    outcome.rejections = write(std::move(batches));
  } catch (const std::exception& e) {
    outcome.failed = true;
    outcome.error = e.what();
  }
  done(std::move(outcome));
}

std::uint64_t journal::events_by_tag_ordered(const std::string&, std::uint64_t, std::uint64_t,
                                             const ordered_record_callback&) {
  throw journal_error("this journal has no tag index");
}

std::uint64_t journal::highest_ordering() {
  throw journal_error("this journal has no tag index");
}

std::vector<persistent_record> replay_to_vector(journal& j, const std::string& id,
                                                std::uint64_t from, std::uint64_t to,
                                                std::uint64_t max) {
  std::vector<persistent_record> out;
  j.replay(id, from, to, max, [&out](const persistent_record& r) { out.push_back(r); });
  return out;
}

std::vector<persistent_record> events_by_tag_to_vector(journal& j, const std::string& tag,
                                                       std::uint64_t from, std::uint64_t max) {
  std::vector<persistent_record> out;
  j.events_by_tag(tag, from, max, [&out](const persistent_record& r) { out.push_back(r); });
  return out;
}

std::vector<ordered_record> events_by_tag_ordered_to_vector(journal& j, const std::string& tag,
                                                            std::uint64_t after,
                                                            std::uint64_t max) {
  std::vector<ordered_record> out;
  j.events_by_tag_ordered(tag, after, max,
                          [&out](std::uint64_t ordering, const persistent_record& r) {
                            out.push_back(ordered_record{ordering, r});
                          });
  return out;
}

} // namespace atomr::persistence
