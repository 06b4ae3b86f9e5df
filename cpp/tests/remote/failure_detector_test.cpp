// The phi-accrual failure detector, on virtual time.

#include "atomr/remote/error.hpp"
#include "atomr/remote/failure_detector.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <limits>
#include <random>

using namespace atomr::remote;
using namespace std::chrono_literals;

namespace {

struct virtual_clock {
  phi_accrual_failure_detector::time_point now{std::chrono::hours(1)};
  phi_accrual_failure_detector::clock_fn fn() {
    return [this] { return now; };
  }
  void advance(std::chrono::milliseconds d) {
    now += d;
  }
};

failure_detector_config short_pause() {
  failure_detector_config c;
  c.threshold = 8.0;
  c.acceptable_heartbeat_pause = 0ms;
  c.first_heartbeat_estimate = 1000ms;
  return c;
}

} // namespace

TEST(RemoteFailureDetector, PhiIsZeroAndPeerAvailableBeforeAnyHeartbeat) {
  virtual_clock clock;
  phi_accrual_failure_detector d({}, clock.fn());
  EXPECT_FALSE(d.is_monitoring());
  clock.advance(1h);
  EXPECT_EQ(d.phi(), 0.0);
  EXPECT_TRUE(d.is_available());
}

TEST(RemoteFailureDetector, PhiRisesMonotonicallyWithSilence) {
  virtual_clock clock;
  phi_accrual_failure_detector d(short_pause(), clock.fn());
  for (int i = 0; i < 20; ++i) {
    d.heartbeat();
    clock.advance(1000ms);
  }
  double last = d.phi();
  EXPECT_LT(last, 1.0);
  for (int i = 0; i < 40; ++i) {
    clock.advance(100ms);
    const double p = d.phi();
    EXPECT_GE(p, last) << "after " << (i + 1) * 100 << " ms more";
    last = p;
  }
  // Five seconds of silence after 1 s heartbeats: far past the threshold.
  EXPECT_GT(last, 8.0);
  EXPECT_FALSE(d.is_available());
}

TEST(RemoteFailureDetector, RegularHeartbeatsKeepPhiLow) {
  virtual_clock clock;
  phi_accrual_failure_detector d(short_pause(), clock.fn());
  for (int i = 0; i < 1000; ++i) {
    d.heartbeat();
    clock.advance(1000ms);
    ASSERT_LT(d.phi(), 1.0) << "heartbeat " << i;
    ASSERT_TRUE(d.is_available());
  }
  EXPECT_NEAR(d.mean_ms(), 1000.0, 1.0);
}

TEST(RemoteFailureDetector, JitterWithinTheAcceptablePauseIsTolerated) {
  virtual_clock clock;
  auto c = short_pause();
  c.acceptable_heartbeat_pause = 3000ms;
  phi_accrual_failure_detector d(c, clock.fn());
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> jitter(500, 1500);
  for (int i = 0; i < 500; ++i) {
    d.heartbeat();
    clock.advance(std::chrono::milliseconds(jitter(rng)));
    ASSERT_TRUE(d.is_available()) << "heartbeat " << i << ", phi " << d.phi();
  }
  // A pause of 3 s on top of the ~1 s mean is still accepted...
  d.heartbeat();
  clock.advance(3500ms);
  EXPECT_TRUE(d.is_available()) << d.phi();
  // ...a much longer one is not.
  clock.advance(3000ms);
  EXPECT_FALSE(d.is_available()) << d.phi();
}

TEST(RemoteFailureDetector, WithoutAPauseAllowanceTheSameJitterIsSuspected) {
  // The counterpart of the test above: the allowance is what tolerates it.
  virtual_clock clock;
  phi_accrual_failure_detector d(short_pause(), clock.fn());
  for (int i = 0; i < 100; ++i) {
    d.heartbeat();
    clock.advance(1000ms);
  }
  d.heartbeat();
  clock.advance(3500ms);
  EXPECT_FALSE(d.is_available()) << d.phi();
}

TEST(RemoteFailureDetector, HeartbeatsResumingMakeThePeerAvailableAgain) {
  virtual_clock clock;
  phi_accrual_failure_detector d(short_pause(), clock.fn());
  for (int i = 0; i < 10; ++i) {
    d.heartbeat();
    clock.advance(1000ms);
  }
  clock.advance(30s);
  EXPECT_FALSE(d.is_available());
  d.heartbeat();
  EXPECT_TRUE(d.is_available());
  // The long gap was not kept as an interval: the mean stays near 1 s.
  EXPECT_NEAR(d.mean_ms(), 1000.0, 50.0);
}

TEST(RemoteFailureDetector, SampleRingIsBounded) {
  virtual_clock clock;
  auto c = short_pause();
  c.max_sample_size = 5;
  phi_accrual_failure_detector d(c, clock.fn());
  for (int i = 0; i < 50; ++i) {
    d.heartbeat();
    clock.advance(1000ms);
    ASSERT_LE(d.sample_size(), 5u);
  }
  EXPECT_EQ(d.sample_size(), 5u);
  // The ring now holds only the newest intervals: 200 ms ones replace the
  // 1 s ones, and the mean follows.
  d.heartbeat();
  for (int i = 0; i < 5; ++i) {
    clock.advance(200ms);
    d.heartbeat();
  }
  EXPECT_NEAR(d.mean_ms(), 200.0, 1.0);
  EXPECT_NEAR(d.std_deviation_ms(), 0.0, 1.0);
}

TEST(RemoteFailureDetector, MinStdDeviationDampsPerfectlyRegularHeartbeats) {
  virtual_clock clock;
  auto c = short_pause();
  c.min_std_deviation = 500ms;
  phi_accrual_failure_detector soft(c, clock.fn());
  c.min_std_deviation = 10ms;
  phi_accrual_failure_detector sharp(c, clock.fn());
  for (int i = 0; i < 200; ++i) {
    soft.heartbeat();
    sharp.heartbeat();
    clock.advance(1000ms);
  }
  clock.advance(300ms); // 1.3 s since the last heartbeat
  EXPECT_LT(soft.phi(), sharp.phi());
  EXPECT_TRUE(soft.is_available());
  EXPECT_FALSE(sharp.is_available());
}

TEST(RemoteFailureDetector, ResetForgetsEverything) {
  virtual_clock clock;
  phi_accrual_failure_detector d(short_pause(), clock.fn());
  d.heartbeat();
  clock.advance(1min);
  EXPECT_FALSE(d.is_available());
  d.reset();
  EXPECT_FALSE(d.is_monitoring());
  EXPECT_EQ(d.sample_size(), 0u);
  EXPECT_TRUE(d.is_available());
}

TEST(RemoteFailureDetector, PhiOfMatchesTheNormalTail) {
  // At the mean, half of the heartbeats are later: phi = -log10(0.5).
  EXPECT_NEAR(phi_of(1000.0, 1000.0, 100.0), 0.30103, 1e-4);
  // Two standard deviations late: P ~ 0.0228 -> phi ~ 1.64.
  EXPECT_NEAR(phi_of(1200.0, 1000.0, 100.0), 1.64, 0.05);
  // Early heartbeats give a small phi; absurdly late ones stay finite.
  EXPECT_LT(phi_of(0.0, 1000.0, 100.0), 1e-6);
  EXPECT_GT(phi_of(1e9, 1000.0, 100.0), 1e6);
}

TEST(RemoteFailureDetector, BadConfigIsRejected) {
  const auto rejects = [](auto&& mutate) {
    failure_detector_config c;
    mutate(c);
    EXPECT_THROW(phi_accrual_failure_detector{c}, invalid_config_error);
  };
  rejects([](auto& c) { c.threshold = 0.0; });
  rejects([](auto& c) { c.threshold = -1.0; });
  rejects([](auto& c) { c.threshold = std::numeric_limits<double>::quiet_NaN(); });
  rejects([](auto& c) { c.max_sample_size = 0; });
  rejects([](auto& c) { c.min_std_deviation = 0ms; });
  rejects([](auto& c) { c.acceptable_heartbeat_pause = -1ms; });
  rejects([](auto& c) { c.first_heartbeat_estimate = 0ms; });
  EXPECT_NO_THROW(phi_accrual_failure_detector{failure_detector_config{}});
}
