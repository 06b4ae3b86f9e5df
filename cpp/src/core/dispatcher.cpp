#include "atomr/core/dispatcher.hpp"

#include "atomr/core/error.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/eventfd.h>
#include <unistd.h>

namespace atomr::core {

namespace {

std::uint32_t checked_throughput(std::uint32_t throughput) {
  if (throughput == 0)
    throw invalid_argument_error("dispatcher throughput must be positive");
  return throughput;
}

} // namespace

pinned_dispatcher::pinned_dispatcher(std::uint32_t throughput)
  : throughput_(checked_throughput(throughput)) {
  fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd_ < 0)
    throw error(std::string("eventfd failed: ") + std::strerror(errno));
}

pinned_dispatcher::~pinned_dispatcher() {
  cell* c = nullptr;
  while ((c = pop_ready()) != nullptr)
    c->release();
  ::close(fd_);
}

void pinned_dispatcher::wake() {
  const std::uint64_t one = 1;
  // EAGAIN means the counter is saturated: the fd is readable already.
  while (::write(fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void pinned_dispatcher::clear_wake() {
  std::uint64_t value = 0;
  while (::read(fd_, &value, sizeof value) < 0 && errno == EINTR) {
  }
}

} // namespace atomr::core
