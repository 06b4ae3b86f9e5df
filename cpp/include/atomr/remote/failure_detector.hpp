#pragma once

// A phi-accrual failure detector (Hayashibara et al., as in Akka's remote
// watch): instead of a yes/no timeout it keeps the recent inter-arrival
// times of a peer's heartbeats and reports phi = -log10(P(a heartbeat
// arrives later than now)), the suspicion that the peer is gone. With the
// default threshold 10, the peer is declared unavailable once the silence is
// so long that, judging by the heartbeats seen so far, a live peer would be
// this late once in 10^10 times.
//
// The clock is injected (`clock`), so tests run on virtual time. The
// detector is not thread-safe: the transport uses it on its io thread only.

#include <chrono>
#include <cstddef>
#include <functional>
#include <vector>

namespace atomr::remote {

/// Settings of a `phi_accrual_failure_detector`.
struct failure_detector_config {
  /// Phi above which the peer counts as unavailable (> 0).
  double threshold = 10.0;
  /// How many inter-arrival intervals are kept (a bounded ring, >= 1).
  std::size_t max_sample_size = 200;
  /// The smallest standard deviation assumed, so that very regular
  /// heartbeats do not make phi jump at the first small delay (> 0).
  std::chrono::milliseconds min_std_deviation{100};
  /// Extra silence tolerated on top of the mean interval, e.g. for GC or
  /// network hiccups (>= 0). Akka's remote watch uses 10 s.
  std::chrono::milliseconds acceptable_heartbeat_pause{10'000};
  /// The interval assumed before any has been measured; the history is
  /// seeded with it (mean) and a quarter of it (standard deviation) (> 0).
  std::chrono::milliseconds first_heartbeat_estimate{1000};
};

/// Throws `invalid_config_error` unless every setting is within its domain.
void validate(const failure_detector_config& config);

class phi_accrual_failure_detector {
public:
  using clock_type = std::chrono::steady_clock;
  using time_point = clock_type::time_point;
  /// Returns the current time; `steady_clock::now` unless a test injects one.
  using clock_fn = std::function<time_point()>;

  /// Validates `config` (`invalid_config_error`).
  explicit phi_accrual_failure_detector(failure_detector_config config = {}, clock_fn clock = {});

  /// Records a heartbeat arriving now.
  void heartbeat();

  /// The suspicion level now: 0.0 before the first heartbeat, then rising
  /// with the time since the last one.
  double phi() const;
  /// phi at `now` (no clock read).
  double phi_at(time_point now) const;

  /// Whether phi is below the threshold (true before the first heartbeat:
  /// an unmonitored peer is not suspected).
  bool is_available() const;

  /// Whether a heartbeat has been recorded.
  bool is_monitoring() const noexcept {
    return last_.has_value_;
  }

  /// When the last heartbeat arrived (meaningful while monitoring).
  time_point last_heartbeat() const noexcept {
    return last_.at;
  }

  /// Forgets every interval and the last heartbeat.
  void reset();

  /// The intervals kept (at most `max_sample_size`).
  std::size_t sample_size() const noexcept {
    return ring_.size();
  }
  /// Mean and standard deviation of the kept intervals, in milliseconds.
  double mean_ms() const noexcept;
  double std_deviation_ms() const noexcept;

  const failure_detector_config& config() const noexcept {
    return config_;
  }

private:
  struct last_arrival {
    bool has_value_ = false;
    time_point at{};
  };
  void add_interval(double ms);
  time_point now() const;

  failure_detector_config config_;
  clock_fn clock_;
  last_arrival last_;
  std::vector<double> ring_; // the intervals, in ms
  std::size_t head_ = 0;     // next slot to overwrite once full
  double sum_ = 0.0;
  double sum_sq_ = 0.0;
};

/// phi for a heartbeat `elapsed_ms` after the last one, given the mean and
/// standard deviation of the intervals (the logistic approximation of the
/// normal distribution's tail).
double phi_of(double elapsed_ms, double mean_ms, double std_deviation_ms) noexcept;

} // namespace atomr::remote
