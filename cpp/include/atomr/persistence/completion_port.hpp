#pragma once

// Hands journal completions from C++ threads to an event loop without
// touching Python: the completing thread queues the outcome and signals an
// eventfd; the loop watches the fd and drains the queue on its own thread.

#include "atomr/persistence/journal.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace atomr::persistence {

class completion_port {
public:
  /// @throws journal_error no eventfd could be created.
  completion_port();
  completion_port(const completion_port&) = delete;
  completion_port& operator=(const completion_port&) = delete;
  ~completion_port();

  /// The fd that becomes readable when completions are queued.
  int fd() const noexcept {
    return fd_;
  }

  /// Queues the outcome of the write identified by `ticket`. @threadsafe
  void post(std::uint64_t ticket, write_outcome outcome);

  /// Every queued completion, oldest first; clears the fd's readiness.
  /// Only the loop thread that watches `fd()` calls it.
  std::vector<std::pair<std::uint64_t, write_outcome>> drain();

private:
  int fd_ = -1;
  std::mutex mutex_;
  std::vector<std::pair<std::uint64_t, write_outcome>> done_;
};

/// Starts `j.write_async(batches)`; its outcome is posted to `port` under
/// `ticket`. The port is kept alive until then.
void submit_write(journal& j, std::vector<record_batch> batches,
                  std::shared_ptr<completion_port> port, std::uint64_t ticket);

} // namespace atomr::persistence
