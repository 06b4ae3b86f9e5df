#include "atomr/core/dispatcher.hpp"

#include "atomr/core/error.hpp"
#include "atomr/core/idle.hpp"

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

pinned_dispatcher::spin_result pinned_dispatcher::idle_spin(std::int64_t max_ns,
                                                            std::int64_t handoff_ns) noexcept {
  handoff_.store(false, std::memory_order_relaxed);
  std::uint8_t expected = asleep;
  if (!state_.compare_exchange_strong(expected, spinning, std::memory_order_seq_cst))
    return spin_result::signalled;
  const std::int64_t start = monotonic_ns();
  for (unsigned i = 1;; ++i) {
    cpu_relax();
    if (state_.load(std::memory_order_acquire) != spinning)
      break;
    if (i % 32 == 0 && monotonic_ns() - start >= max_ns) {
      expected = spinning;
      if (state_.compare_exchange_strong(expected, asleep, std::memory_order_seq_cst))
        return spin_result::idle;
      break; // work came just now
    }
  }
  // Work came: the producer still holds the GIL until it releases it (an
  // asker about to wait for its reply says so); taking the GIL before
  // then would park this thread on it.
  const std::int64_t until = monotonic_ns() + handoff_ns;
  for (unsigned i = 1; !handoff_.load(std::memory_order_acquire); ++i) {
    cpu_relax();
    if (i % 32 == 0 && monotonic_ns() >= until)
      break;
  }
  return spin_result::woken;
}

void pinned_dispatcher::clear_wake() {
  std::uint64_t value = 0;
  while (::read(fd_, &value, sizeof value) < 0 && errno == EINTR) {
  }
}

} // namespace atomr::core
