#pragma once

#include "atomr/core/cell.hpp"
#include "atomr/core/envelope.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

namespace atomr::core {

/// How a router picks the routee(s) of a message.
enum class routing_logic : std::uint8_t {
  round_robin,      ///< strict rotation
  random,           ///< a pseudo-random routee
  broadcast,        ///< every routee (the envelope is cloned)
  consistent_hash,  ///< the routee owning the message's key on a hash ring
  smallest_mailbox, ///< the routee with the fewest queued user messages
};

/// What one `router::route` call did.
struct route_result {
  std::uint32_t delivered = 0; ///< routees that accepted the envelope (or a clone)
  bool wake = false;           ///< a routee's dispatcher sleeps and must be woken
  bool evicted = false;        ///< a bounded routee mailbox evicted a message (given to
                               ///< the lost callback, or left in the envelope without one)
};

/// Routes envelopes straight into routee mailboxes on the sender's thread,
/// without running any code of the router's own actor (Akka's routed ref).
///
/// The routee set is an immutable snapshot swapped under a mutex, so a
/// resize never blocks routing for longer than a pointer copy.
class router {
public:
  /// Copies `from` into `to` for broadcasting (a Python bridge takes new
  /// references; the caller holds whatever lock that needs, e.g. the GIL).
  using cloner = void (*)(const envelope& from, envelope& to);

  /// Told about each envelope a routee lost: a broadcast copy it refused
  /// (`evicted` false) or a message its bounded mailbox evicted (true).
  using lost_fn = void (*)(void* ctx, envelope& lost, cell* routee, bool evicted);

  /// @param virtual_nodes points per routee on the consistent-hash ring.
  explicit router(routing_logic logic, cloner clone = nullptr, std::uint32_t virtual_nodes = 128);
  ~router();

  router(const router&) = delete;
  router& operator=(const router&) = delete;

  /// @threadsafe Replaces the routees, taking a reference to each (and
  /// dropping those to the previous ones). Each routee's ring position
  /// derives from its path, so adding one moves only ~1/n of the keys.
  void set_routees(const std::vector<cell*>& routees);

  /// @threadsafe Number of routees.
  std::size_t size() const;

  /// @threadsafe Routes `e`. Consistent hashing needs `has_key`; without it
  /// nothing is delivered. A stopped routee is skipped for the next one
  /// (broadcast: left out). When nothing accepted it, `e` is left intact
  /// for the caller's dead letters.
  ///
  /// With `local`, the caller runs on the thread that consumes every
  /// routee's mailbox (their dispatcher's own thread): routees get the
  /// fence-free `cell::tell_local`.
  route_result route(envelope& e, std::uint64_t key = 0, bool has_key = false,
                     lost_fn lost = nullptr, void* lost_ctx = nullptr, bool local = false);

  /// @threadsafe The routee index the ring gives `key` (-1 when empty).
  int index_for_key(std::uint64_t key) const;

  routing_logic logic() const noexcept {
    return logic_;
  }

  /// A stable 64-bit hash (FNV-1a, then a finalising mix) of bytes.
  static std::uint64_t hash_bytes(const void* data, std::size_t size) noexcept;

  /// A finalising mix of a 64-bit key (splitmix64).
  static std::uint64_t mix(std::uint64_t key) noexcept;

private:
  struct routee_set {
    std::vector<cell*> cells;
    std::vector<std::pair<std::uint64_t, std::uint32_t>> ring; // (point, index), sorted
  };

  std::shared_ptr<const routee_set> snapshot() const;
  static void release_all(routee_set* set) noexcept;
  static int ring_lookup(const routee_set& set, std::uint64_t key);
  static bool deliver(cell* c, envelope& e, route_result& result, lost_fn lost, void* ctx,
                      bool local);
  std::uint64_t next_random() noexcept;

  routing_logic logic_;
  cloner clone_;
  std::uint32_t virtual_nodes_;
  mutable std::mutex mutex_;
  std::shared_ptr<const routee_set> set_;
  std::atomic<std::uint64_t> counter_{0};
  std::atomic<std::uint64_t> random_state_;
};

} // namespace atomr::core
