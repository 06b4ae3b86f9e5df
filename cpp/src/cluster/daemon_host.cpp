#include "atomr/cluster/daemon_host.hpp"

#include "atomr/remote/error.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <sys/eventfd.h>
#include <unistd.h>
#include <utility>

namespace atomr::cluster {

// -- event_queue ---------------------------------------------------------------------

event_queue::event_queue()
  : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) {
    throw remote::error(std::string("cannot create an eventfd: ") + std::strerror(errno));
  }
}

event_queue::~event_queue() {
  ::close(fd_);
}

void event_queue::push(const cluster_event& ev) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    was_empty = items_.empty();
    items_.push_back(ev);
  }
  if (was_empty) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
  }
}

std::vector<cluster_event> event_queue::drain() {
  std::uint64_t count = 0;
  [[maybe_unused]] auto n = ::read(fd_, &count, sizeof count);
  std::vector<cluster_event> out;
  std::lock_guard<std::mutex> lock(mutex_);
  out.swap(items_);
  return out;
}

std::size_t event_queue::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return items_.size();
}

// -- sim_bus ---------------------------------------------------------------------------

sim_bus::sim_bus(remote::sim_network& net)
  : net_(net) {
}

sim_bus::~sim_bus() {
  stop_driver();
}

std::uint64_t sim_bus::add(const std::shared_ptr<cluster_daemon>& daemon,
                           remote::sim_duration interval) {
  std::weak_ptr<cluster_daemon> weak = daemon;
  return net_.every(interval, [weak] {
    if (auto d = weak.lock()) {
      d->tick();
    }
  });
}

void sim_bus::remove(std::uint64_t id) {
  net_.cancel(id);
}

std::size_t sim_bus::advance(remote::sim_duration by) {
  return net_.advance(by);
}

void sim_bus::start_driver(std::chrono::milliseconds step) {
  std::lock_guard<std::mutex> lock(mu_);
  if (driver_.joinable()) {
    return;
  }
  stopping_ = false;
  driver_ = std::thread([this, step] {
    auto last = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, step);
      if (stopping_) {
        break;
      }
      lock.unlock();
      const auto now = std::chrono::steady_clock::now();
      const auto elapsed = std::chrono::duration_cast<remote::sim_duration>(now - last);
      last = now;
      try {
        advance(elapsed);
      } catch (const std::exception&) {
        // A daemon's send failing is its own business; time goes on.
      }
      lock.lock();
    }
  });
}

void sim_bus::stop_driver() {
  std::thread driver;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    driver = std::move(driver_);
  }
  cv_.notify_all();
  if (driver.joinable()) {
    driver.join();
  }
}

bool sim_bus::driving() const {
  std::lock_guard<std::mutex> lock(mu_);
  return driver_.joinable();
}

// -- daemon_host -----------------------------------------------------------------------

namespace {

std::chrono::nanoseconds steady_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now().time_since_epoch());
}

bool for_daemon(const remote::envelope& env) {
  return std::string_view(env.recipient).ends_with(daemon_path);
}

/// The daemon's send, catching what a transport throws at a bad address.
template <class Transport>
std::function<bool(std::string_view, const remote::envelope&)> sender(Transport* t) {
  return [t](std::string_view to, const remote::envelope& env) {
    try {
      return t->send(to, env);
    } catch (const std::exception&) {
      return false;
    }
  };
}

std::uint64_t random_uid() {
  std::uint64_t uid = 0;
  while (uid == 0) {
    uid = (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  }
  return uid;
}

} // namespace

sbr::lease_fn fixed_lease(bool acquired) {
  return
      [acquired] { return acquired ? sbr::lease_outcome::acquired : sbr::lease_outcome::denied; };
}

sbr::lease_fn polled_lease(std::shared_ptr<polled_lease_state> state) {
  return [state = std::move(state)] {
    const auto pending = static_cast<std::uint8_t>(sbr::lease_outcome::pending);
    const auto outcome = state->outcome.exchange(pending, std::memory_order_acq_rel);
    if (outcome == pending) {
      state->requested.store(true, std::memory_order_release);
    }
    return static_cast<sbr::lease_outcome>(outcome);
  };
}

std::unique_ptr<daemon_host> daemon_host::standalone(daemon_config config) {
  std::unique_ptr<daemon_host> h(new daemon_host());
  h->events_ = std::make_shared<event_queue>();
  if (config.self.uid == 0) {
    config.self.uid = random_uid();
  }
  daemon_callbacks cb;
  cb.send = [](std::string_view, const remote::envelope&) { return false; };
  cb.on_event = [events = h->events_](const cluster_event& ev) { events->push(ev); };
  h->daemon_ = std::make_shared<cluster_daemon>(std::move(config), steady_now, std::move(cb));
  h->start_ticker(h->daemon_->tick_interval());
  return h;
}

std::unique_ptr<daemon_host> daemon_host::on_tcp(daemon_config config, remote::tcp_transport& t,
                                                 std::shared_ptr<remote::inbound_queue> queue) {
  std::unique_ptr<daemon_host> h(new daemon_host());
  h->events_ = std::make_shared<event_queue>();
  if (config.self.uid == 0) {
    config.self.uid = t.uid();
  }
  daemon_callbacks cb;
  cb.send = sender(&t);
  cb.on_event = [events = h->events_](const cluster_event& ev) { events->push(ev); };
  h->daemon_ = std::make_shared<cluster_daemon>(std::move(config), steady_now, std::move(cb));
  auto tap = std::make_shared<remote::inbound_tap>();
  std::weak_ptr<cluster_daemon> weak = h->daemon_;
  tap->on_envelope = [weak](const remote::inbound_envelope& in) {
    if (!for_daemon(in.env)) {
      return false;
    }
    if (auto d = weak.lock()) {
      d->receive(in);
    }
    return true; // the daemon's, even once it is gone
  };
  tap->on_dropped = [](const std::string&, const remote::envelope& env, remote::drop_reason) {
    return for_daemon(env);
  };
  tap->on_event = [weak](const remote::transport_event& ev) {
    if (auto d = weak.lock()) {
      d->transport_event(ev);
    }
  };
  queue->set_tap(std::move(tap));
  h->tapped_ = std::move(queue);
  h->start_ticker(h->daemon_->tick_interval());
  return h;
}

std::unique_ptr<daemon_host> daemon_host::on_sim(daemon_config config, sim_bus& bus,
                                                 remote::sim_heartbeat_config heartbeats) {
  std::unique_ptr<daemon_host> h(new daemon_host());
  h->events_ = std::make_shared<event_queue>();
  // The transport's callbacks reach the daemon, which needs the transport's
  // uid first: they find it through this slot.
  struct slot {
    std::mutex mu;
    std::weak_ptr<cluster_daemon> daemon;
    std::shared_ptr<cluster_daemon> get() {
      std::lock_guard<std::mutex> lock(mu);
      return daemon.lock();
    }
  };
  auto s = std::make_shared<slot>();
  remote::transport_callbacks tcb;
  tcb.on_envelope = [s](remote::inbound_envelope&& in) {
    if (auto d = s->get()) {
      d->receive(in);
    }
  };
  tcb.on_dropped = [](const std::string&, remote::envelope&&, remote::drop_reason) {};
  tcb.on_event = [s](const remote::transport_event& ev) {
    if (auto d = s->get()) {
      d->transport_event(ev);
    }
  };
  auto& net = bus.network();
  // The daemon sends to `host:port` for addresses that have them, else to
  // the whole address (daemon_config::transport_address): attach there.
  std::string at = config.self.address;
  if (config.transport_address) {
    at = config.transport_address(at);
  } else if (auto parts = parse_address(at); parts && !parts->host.empty()) {
    at = remote::format_address(parts->host, static_cast<std::uint16_t>(parts->port));
  }
  std::shared_ptr<remote::sim_transport> t =
      net.attach(at, std::move(tcb), 0, remote::default_max_frame_size, heartbeats);
  config.self.uid = t->uid();
  daemon_callbacks cb;
  cb.send = [t](std::string_view to, const remote::envelope& env) {
    try {
      return t->send(to, env);
    } catch (const std::exception&) {
      return false;
    }
  };
  cb.on_event = [events = h->events_](const cluster_event& ev) { events->push(ev); };
  remote::sim_network* netp = &net;
  h->daemon_ = std::make_shared<cluster_daemon>(
      std::move(config), [netp] { return netp->now(); }, std::move(cb));
  {
    std::lock_guard<std::mutex> lock(s->mu);
    s->daemon = h->daemon_;
  }
  t->start();
  h->sim_transport_ = t;
  h->bus_ = &bus;
  h->timer_ = bus.add(h->daemon_, h->daemon_->tick_interval());
  return h;
}

void daemon_host::start_ticker(std::chrono::milliseconds interval) {
  std::weak_ptr<cluster_daemon> weak = daemon_;
  ticker_ = std::thread([this, weak, interval] {
    std::unique_lock<std::mutex> lock(mu_);
    auto next = std::chrono::steady_clock::now() + interval;
    while (!stopping_) {
      if (cv_.wait_until(lock, next, [this] { return stopping_; })) {
        break;
      }
      next += interval;
      const auto now = std::chrono::steady_clock::now();
      if (next < now) {
        next = now + interval; // fell behind (a stalled machine): no burst
      }
      lock.unlock();
      if (auto d = weak.lock()) {
        try {
          d->tick();
        } catch (const std::exception&) {
          // A tick that fails is retried at the next one.
        }
      }
      lock.lock();
    }
  });
}

void daemon_host::stop() {
  std::thread ticker;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !ticker_.joinable() && !tapped_ && !sim_transport_ && bus_ == nullptr) {
      return;
    }
    stopping_ = true;
    ticker = std::move(ticker_);
  }
  cv_.notify_all();
  if (ticker.joinable()) {
    ticker.join();
  }
  if (daemon_) {
    daemon_->shutdown();
  }
  if (tapped_) {
    tapped_->set_tap(nullptr);
    tapped_.reset();
  }
  if (bus_ != nullptr) {
    bus_->remove(timer_);
    bus_ = nullptr;
  }
  if (sim_transport_) {
    sim_transport_->stop();
    sim_transport_.reset();
  }
}

daemon_host::~daemon_host() {
  stop();
}

} // namespace atomr::cluster
