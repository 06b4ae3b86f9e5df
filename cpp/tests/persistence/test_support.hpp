#pragma once

#include "atomr/persistence/journal.hpp"

#include <atomic>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace atomr::persistence::testing {

/// A fresh directory under the system temp dir, removed on destruction.
class temp_dir {
public:
  temp_dir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("atomr-persistence-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter.fetch_add(1)));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const {
    return path_.string();
  }

private:
  std::filesystem::path path_;
};

inline persistent_record make_record(const std::string& id, std::uint64_t seq,
                                     std::string payload = {}) {
  persistent_record r;
  r.persistence_id = id;
  r.sequence_nr = seq;
  r.manifest = "test.Event";
  r.payload = payload.empty() ? "event-" + std::to_string(seq) : std::move(payload);
  r.timestamp_ms = 1000 + static_cast<std::int64_t>(seq);
  return r;
}

/// Records `from..to` of `id`, one batch.
inline record_batch make_batch(const std::string& id, std::uint64_t from, std::uint64_t to) {
  record_batch batch;
  for (auto seq = from; seq <= to; ++seq) {
    batch.push_back(make_record(id, seq));
  }
  return batch;
}

inline std::vector<std::uint64_t> sequence_nrs(journal& j, const std::string& id,
                                               std::uint64_t from = 1,
                                               std::uint64_t to = max_sequence_nr,
                                               std::uint64_t max = max_sequence_nr) {
  std::vector<std::uint64_t> out;
  for (const auto& r : replay_to_vector(j, id, from, to, max)) {
    out.push_back(r.sequence_nr);
  }
  return out;
}

} // namespace atomr::persistence::testing
