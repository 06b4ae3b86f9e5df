#include "atomr/persistence/completion_port.hpp"

#include <cerrno>
#include <cstring>
#include <sys/eventfd.h>
#include <unistd.h>
#include <utility>

namespace atomr::persistence {

completion_port::completion_port()
  : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) {
    throw journal_error(std::string("cannot create an eventfd: ") + std::strerror(errno));
  }
}

completion_port::~completion_port() {
  ::close(fd_);
}

void completion_port::post(std::uint64_t ticket, write_outcome outcome) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    was_empty = done_.empty();
    done_.emplace_back(ticket, std::move(outcome));
  }
  if (was_empty) {
    std::uint64_t one = 1;
    // A full counter (never reached) or EAGAIN still leaves the fd readable.
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
  }
}

std::vector<std::pair<std::uint64_t, write_outcome>> completion_port::drain() {
  std::uint64_t count = 0;
  [[maybe_unused]] auto n = ::read(fd_, &count, sizeof count);
  std::vector<std::pair<std::uint64_t, write_outcome>> out;
  std::lock_guard<std::mutex> lock(mutex_);
  out.swap(done_);
  return out;
}

void submit_write(journal& j, std::vector<record_batch> batches,
                  std::shared_ptr<completion_port> port, std::uint64_t ticket) {
  j.write_async(std::move(batches), [port = std::move(port), ticket](write_outcome outcome) {
    port->post(ticket, std::move(outcome));
  });
}

} // namespace atomr::persistence
