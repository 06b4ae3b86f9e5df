// Virtual-time timers of the simulated network (`sim_network::every`).

#include "atomr/remote/error.hpp"
#include "atomr/remote/sim_network.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <vector>

namespace atomr::remote {
namespace {

using namespace std::chrono_literals;

TEST(SimTimer, FiresEveryIntervalOnTheVirtualClockUntilCancelled) {
  sim_network net(1);
  std::vector<std::int64_t> at;
  const auto id = net.every(250ms, [&] { at.push_back(net.now().count() / 1'000'000); });
  net.advance(1s);
  EXPECT_EQ(at, (std::vector<std::int64_t>{250, 500, 750, 1000}));
  net.cancel(id);
  net.cancel(id); // idempotent
  net.advance(1s);
  EXPECT_EQ(at.size(), 4u);
}

TEST(SimTimer, FirstDelayAndNotCountedAsInFlight) {
  sim_network net(2);
  int calls = 0;
  net.every(
      1s, [&] { ++calls; }, 0ms);
  EXPECT_EQ(net.in_flight(), 0u);
  EXPECT_FALSE(net.next_due().has_value());
  EXPECT_EQ(net.run_until_idle(), 0u); // timers do not keep it running
  net.advance(0ms);
  EXPECT_EQ(calls, 1);
  net.advance(2500ms);
  EXPECT_EQ(calls, 3);
}

TEST(SimTimer, ACallbackMaySendAndCancelItself) {
  sim_network net(3);
  std::vector<std::string> got;
  transport_callbacks cb;
  cb.on_envelope = [&](inbound_envelope&& in) { got.push_back(in.env.payload); };
  auto a = net.attach("a:1", {});
  auto b = net.attach("b:1", std::move(cb));
  a->start();
  b->start();
  std::uint64_t id = 0;
  int n = 0;
  id = net.every(100ms, [&] {
    envelope e;
    e.recipient = "/user/x";
    e.manifest = "m";
    e.payload = std::to_string(++n);
    a->send("b:1", e);
    if (n == 3)
      net.cancel(id);
  });
  net.advance(1s);
  EXPECT_EQ(got, (std::vector<std::string>{"1", "2", "3"}));
  // A throwing callback is swallowed and the timer keeps running.
  int throws = 0;
  net.every(100ms, [&] {
    ++throws;
    throw std::runtime_error("boom");
  });
  net.advance(300ms);
  EXPECT_EQ(throws, 3);
}

TEST(SimTimer, RejectsBadIntervals) {
  sim_network net(4);
  EXPECT_THROW(net.every(0ms, [] {}), invalid_config_error);
  EXPECT_THROW(net.every(
                   1ms, [] {}, -1ms),
               invalid_config_error);
}

} // namespace
} // namespace atomr::remote
