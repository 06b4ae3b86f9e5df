#include "atomr/core/router.hpp"

#include "atomr/core/dispatcher.hpp"
#include "atomr/core/error.hpp"

#include <algorithm>
#include <chrono>
#include <limits>

namespace atomr::core {

router::router(routing_logic logic, cloner clone, std::uint32_t virtual_nodes)
  : logic_(logic)
  , clone_(clone)
  , virtual_nodes_(virtual_nodes == 0 ? 1 : virtual_nodes)
  , set_(std::make_shared<routee_set>())
  , random_state_(mix(static_cast<std::uint64_t>(
                      std::chrono::steady_clock::now().time_since_epoch().count())) |
                  1) {
  if (logic == routing_logic::broadcast && clone == nullptr)
    throw invalid_argument_error("a broadcast router needs an envelope cloner");
}

router::~router() {
  std::lock_guard<std::mutex> lock(mutex_);
  set_.reset();
}

void router::release_all(routee_set* set) noexcept {
  for (cell* c : set->cells)
    c->release();
  delete set;
}

std::uint64_t router::mix(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t router::hash_bytes(const void* data, std::size_t size) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return mix(h);
}

void router::set_routees(const std::vector<cell*>& routees) {
  // Build the new set (with its references) before taking the lock.
  auto* raw = new routee_set;
  raw->cells = routees;
  for (cell* c : raw->cells)
    c->add_ref();
  std::shared_ptr<const routee_set> fresh(
      raw, [](const routee_set* s) { release_all(const_cast<routee_set*>(s)); });
  if (logic_ == routing_logic::consistent_hash) {
    raw->ring.reserve(routees.size() * virtual_nodes_);
    for (std::uint32_t i = 0; i < routees.size(); ++i) {
      const std::string& path = routees[i]->path();
      std::uint64_t base = hash_bytes(path.data(), path.size());
      for (std::uint32_t v = 0; v < virtual_nodes_; ++v)
        raw->ring.emplace_back(mix(base + v), i);
    }
    std::sort(raw->ring.begin(), raw->ring.end());
  }
  std::shared_ptr<const routee_set> old;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    old = std::exchange(set_, std::move(fresh));
  }
  // `old` is released here, outside the lock (or later by a routing call
  // still holding its snapshot).
}

std::shared_ptr<const router::routee_set> router::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return set_;
}

std::size_t router::size() const {
  return snapshot()->cells.size();
}

int router::ring_lookup(const routee_set& set, std::uint64_t key) {
  if (set.ring.empty())
    return -1;
  std::uint64_t point = mix(key);
  auto it =
      std::lower_bound(set.ring.begin(), set.ring.end(), std::make_pair(point, std::uint32_t{0}));
  if (it == set.ring.end())
    it = set.ring.begin();
  return static_cast<int>(it->second);
}

int router::index_for_key(std::uint64_t key) const {
  return ring_lookup(*snapshot(), key);
}

std::uint64_t router::next_random() noexcept {
  // xorshift64*, shared by all threads; a lost update only repeats a number.
  std::uint64_t x = random_state_.load(std::memory_order_relaxed);
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  random_state_.store(x, std::memory_order_relaxed);
  return x * 0x2545f4914f6cdd1dULL;
}

bool router::deliver(cell* c, envelope& e, route_result& result, lost_fn lost, void* ctx,
                     bool local) {
  const enqueue_result r = local ? c->tell_local(e) : c->tell(e);
  switch (r) {
  case enqueue_result::accepted:
    ++result.delivered;
    return true;
  case enqueue_result::accepted_wake:
    ++result.delivered;
    result.wake = true;
    return true;
  case enqueue_result::accepted_evicted:
  case enqueue_result::accepted_wake_evicted: {
    ++result.delivered;
    if (r == enqueue_result::accepted_wake_evicted)
      result.wake = true;
    result.evicted = true;
    if (lost != nullptr) {
      lost(ctx, e, c, true); // `e` now holds the evicted envelope
      e = envelope{};
    }
    return true;
  }
  case enqueue_result::rejected:
  case enqueue_result::full:
    return false; // stopped, or a full bounded mailbox
  }
  return false;
}

route_result router::route(envelope& e, std::uint64_t key, bool has_key, lost_fn lost,
                           void* lost_ctx, bool local) {
  route_result result;
  std::shared_ptr<const routee_set> set = snapshot();
  const std::vector<cell*>& cells = set->cells;
  const std::size_t n = cells.size();
  if (n == 0)
    return result;

  std::size_t first = 0;
  switch (logic_) {
  case routing_logic::broadcast: {
    // Every routee gets its own copy (the last one the original); a copy
    // that a routee refuses, or that makes it evict older mail, is lost.
    for (std::size_t i = 0; i < n; ++i) {
      envelope copy;
      if (i + 1 < n)
        clone_(e, copy);
      envelope& mine = i + 1 < n ? copy : e;
      if (!deliver(cells[i], mine, result, lost, lost_ctx, local) && lost != nullptr) {
        lost(lost_ctx, mine, cells[i], false);
        mine = envelope{};
      }
    }
    return result;
  }
  case routing_logic::round_robin:
    first = counter_.fetch_add(1, std::memory_order_relaxed) % n;
    break;
  case routing_logic::random:
    first = next_random() % n;
    break;
  case routing_logic::consistent_hash: {
    if (!has_key)
      return result;
    first = static_cast<std::size_t>(ring_lookup(*set, key));
    break;
  }
  case routing_logic::smallest_mailbox: {
    std::int64_t best = std::numeric_limits<std::int64_t>::max();
    for (std::size_t i = 0; i < n; ++i) {
      cell* c = cells[i];
      if (c->is_stopped())
        continue;
      std::int64_t q = c->queued();
      // A running or scheduled routee is busy: count it as one more message.
      if (c->state() != cell_state::idle)
        ++q;
      if (q < best) {
        best = q;
        first = i;
        if (q == 0)
          break;
      }
    }
    break;
  }
  }
  // The chosen routee, or the next live one after it.
  for (std::size_t k = 0; k < n; ++k) {
    if (deliver(cells[(first + k) % n], e, result, lost, lost_ctx, local))
      return result;
  }
  return result;
}

} // namespace atomr::core
