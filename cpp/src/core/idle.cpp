#include "atomr/core/idle.hpp"

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <unistd.h>

namespace atomr::core {

namespace {

std::int64_t clock_ns(clockid_t id) noexcept {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Spins between two reads of the clock.
constexpr unsigned spins_per_clock_read = 32;

} // namespace

std::int64_t monotonic_ns() noexcept {
  return clock_ns(CLOCK_MONOTONIC);
}

std::int64_t thread_cpu_ns() noexcept {
  return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

void raise_flag(std::uint32_t& flag) noexcept {
  std::atomic_ref<std::uint32_t>(flag).store(1, std::memory_order_release);
}

bool flag_raised(const std::uint32_t& flag) noexcept {
  return std::atomic_ref<const std::uint32_t>(flag).load(std::memory_order_acquire) != 0;
}

bool spin_for_flag(const std::uint32_t& flag, std::int64_t max_ns) noexcept {
  if (flag_raised(flag))
    return true;
  if (max_ns <= 0)
    return false;
  const std::int64_t end = monotonic_ns() + max_ns;
  for (unsigned i = 1;; ++i) {
    cpu_relax();
    if (flag_raised(flag))
      return true;
    if (i % spins_per_clock_read == 0 && monotonic_ns() >= end)
      return flag_raised(flag);
  }
}

int runnable_in_loadavg(const char* text) noexcept {
  // "0.52 0.58 0.59 3/467 12345": skip three fields, then "<runnable>/".
  const char* p = text;
  for (int field = 0; field < 3; ++field) {
    while (*p == ' ')
      ++p;
    if (*p == '\0')
      return -1;
    while (*p != ' ' && *p != '\0')
      ++p;
  }
  while (*p == ' ')
    ++p;
  if (*p < '0' || *p > '9')
    return -1;
  char* end = nullptr;
  const long n = std::strtol(p, &end, 10);
  if (end == p || *end != '/' || n < 0 || n > 1'000'000)
    return -1;
  return static_cast<int>(n);
}

bool machine_busy(unsigned cpus, std::int64_t max_age_ns) noexcept {
  static std::atomic<std::int64_t> looked_at{0};
  static std::atomic<bool> busy{false};
  const std::int64_t now = monotonic_ns();
  std::int64_t last = looked_at.load(std::memory_order_relaxed);
  if (last != 0 && now - last < max_age_ns)
    return busy.load(std::memory_order_relaxed);
  if (!looked_at.compare_exchange_strong(last, now, std::memory_order_relaxed))
    return busy.load(std::memory_order_relaxed); // another thread looks now
  const int fd = ::open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  char buf[128];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  const int runnable = runnable_in_loadavg(buf);
  const bool now_busy = runnable >= 0 && static_cast<unsigned>(runnable) > cpus;
  busy.store(now_busy, std::memory_order_relaxed);
  return now_busy;
}

idle_policy::idle_policy(idle_mode mode, std::int64_t spin_ns, unsigned cpus) noexcept
  : mode_(mode)
  , spin_ns_(spin_ns > 0 ? spin_ns : 0) {
  if (spin_ns_ == 0 || (mode_ == idle_mode::adaptive && cpus < 2))
    mode_ = idle_mode::park;
  if (mode_ == idle_mode::park)
    spin_ns_ = 0;
}

std::int64_t idle_policy::next_spin(bool busy) noexcept {
  if (mode_ == idle_mode::adaptive && busy) {
    ++skipped_;
    return 0;
  }
  if (mode_ == idle_mode::adaptive && skip_left_ > 0) {
    --skip_left_;
    ++skipped_;
    return 0;
  }
  return spin_ns_;
}

void idle_policy::spun(bool hit, std::int64_t wall_ns, std::int64_t cpu_ns) noexcept {
  ++spins_;
  if (hit) {
    ++hits_;
    misses_ = 0;
    skip_ = 0;
    skip_left_ = 0;
    return;
  }
  if (mode_ != idle_mode::adaptive)
    return;
  const bool descheduled = cpu_ns * 2 < wall_ns;
  if (descheduled || skip_ > 0 || ++misses_ >= max_misses)
    back_off();
}

void idle_policy::parked(std::int64_t waited_ns) noexcept {
  if (mode_ == idle_mode::adaptive && skip_ > 0 && waited_ns < spin_ns_) {
    misses_ = 0;
    skip_ = 0;
    skip_left_ = 0;
  }
}

void idle_policy::back_off() noexcept {
  misses_ = 0;
  skip_ = skip_ == 0 ? max_misses : (skip_ >= max_skip / 2 ? max_skip : skip_ * 2);
  skip_left_ = skip_;
}

} // namespace atomr::core
