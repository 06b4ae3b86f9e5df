#pragma once

#include <cstdint>

namespace atomr::core {

/// A hint to the CPU inside a spin loop (x86 `pause`, Arm `yield`).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

/// The monotonic clock, in nanoseconds.
std::int64_t monotonic_ns() noexcept;

/// The CPU time the calling thread has used, in nanoseconds.
std::int64_t thread_cpu_ns() noexcept;

/// @threadsafe Sets `flag` (a word shared between threads) to 1, releasing
/// the writes made before it to whoever sees it set.
void raise_flag(std::uint32_t& flag) noexcept;

/// @threadsafe True once `flag` was raised.
bool flag_raised(const std::uint32_t& flag) noexcept;

/// Spins (with `cpu_relax`) until `flag` is raised or `max_ns` passed.
/// True if it was raised. Never blocks; call it without the GIL.
bool spin_for_flag(const std::uint32_t& flag, std::int64_t max_ns) noexcept;

/// The number of runnable threads in a `/proc/loadavg` text (its fourth
/// field, `runnable/total`), or -1 when the text does not have one.
int runnable_in_loadavg(const char* text) noexcept;

/// @threadsafe True when the machine was busy at the last look: more
/// threads runnable than `cpus` (someone waits for a CPU, so a spinning
/// thread would take one from it). Looks again (reads `/proc/loadavg`)
/// when the last look is older than `max_age_ns`; false where that file
/// cannot be read.
bool machine_busy(unsigned cpus, std::int64_t max_age_ns) noexcept;

/// How a thread waits when it has nothing to do.
enum class idle_mode : std::uint8_t {
  park,     ///< sleep at once (the OS wakes it)
  spin,     ///< spin up to the spin time before sleeping, every time
  adaptive, ///< spin, but stop while spinning does not pay off
};

/// When a waiting thread spins before it parks (sleeps until woken): an
/// idle strategy in the style of Aeron/Artery. A spin that sees the awaited
/// event saves the cross-core sleep and wake (tens of microseconds on a
/// VM); a spin that does not is a waste of a core for the spin time.
///
/// In `adaptive` mode the policy counts: after `max_misses` spins in a row
/// that saw nothing, or one spin during which the thread was descheduled
/// for most of the time (the machine is busy), it parks the next waits at
/// once, then probes with one spin; each probe that misses doubles the
/// number of waits that park (up to `max_skip`). A spin that hits, or a
/// wait that parked yet ended within the spin time (work is frequent
/// again), returns to spinning every wait. On a single CPU, or while the
/// machine is busy (the caller says so), it never spins.
///
/// Not thread-safe: one policy per waiting thread, or a lock around it.
class idle_policy {
public:
  static constexpr unsigned max_misses = 8;
  static constexpr unsigned max_skip = 1024;

  idle_policy() noexcept = default;
  /// @param spin_ns the longest spin of one wait (<= 0: never spin).
  /// @param cpus the CPUs this process may run on.
  idle_policy(idle_mode mode, std::int64_t spin_ns, unsigned cpus) noexcept;

  /// How long the next wait may spin before it parks (ns; 0: park at once).
  /// In adaptive mode a `busy` machine (see `machine_busy`) parks at once.
  std::int64_t next_spin(bool busy = false) noexcept;

  /// The outcome of a wait that spun: `hit` when the awaited event came
  /// during the spin; `wall_ns` how long it spun, `cpu_ns` the CPU time the
  /// thread got meanwhile (much less than `wall_ns`: it was descheduled).
  void spun(bool hit, std::int64_t wall_ns, std::int64_t cpu_ns) noexcept;

  /// A wait that did not spin ended after `waited_ns`.
  void parked(std::int64_t waited_ns) noexcept;

  idle_mode mode() const noexcept {
    return mode_;
  }
  std::int64_t spin_ns() const noexcept {
    return spin_ns_;
  }
  /// True while waits park at once (adaptive mode, spinning did not pay off).
  bool backed_off() const noexcept {
    return skip_ > 0;
  }
  /// Waits that spun / whose spin saw the event / that parked because of a back-off.
  std::uint64_t spins() const noexcept {
    return spins_;
  }
  std::uint64_t hits() const noexcept {
    return hits_;
  }
  std::uint64_t skipped() const noexcept {
    return skipped_;
  }

private:
  void back_off() noexcept;

  idle_mode mode_ = idle_mode::park;
  std::int64_t spin_ns_ = 0;
  unsigned misses_ = 0;    // spins in a row that saw nothing
  unsigned skip_ = 0;      // waits to park per probe while backed off (0: not)
  unsigned skip_left_ = 0; // of those, still to park before the next probe
  std::uint64_t spins_ = 0;
  std::uint64_t hits_ = 0;
  std::uint64_t skipped_ = 0;
};

} // namespace atomr::core
