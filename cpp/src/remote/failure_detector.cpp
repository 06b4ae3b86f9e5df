#include "atomr/remote/failure_detector.hpp"

#include "atomr/remote/error.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace atomr::remote {

void validate(const failure_detector_config& config) {
  if (!(config.threshold > 0.0) || !std::isfinite(config.threshold))
    throw invalid_config_error("failure detector threshold must be a positive number");
  if (config.max_sample_size == 0)
    throw invalid_config_error("failure detector max sample size must be at least 1");
  if (config.min_std_deviation <= std::chrono::milliseconds::zero())
    throw invalid_config_error("failure detector min std deviation must be positive");
  if (config.acceptable_heartbeat_pause < std::chrono::milliseconds::zero())
    throw invalid_config_error("failure detector acceptable heartbeat pause must not be negative");
  if (config.first_heartbeat_estimate <= std::chrono::milliseconds::zero())
    throw invalid_config_error("failure detector first heartbeat estimate must be positive");
}

double phi_of(double elapsed_ms, double mean_ms, double std_deviation_ms) noexcept {
  // P(X > t) for X ~ N(mean, sd), with the CDF approximated by the logistic
  // function 1 / (1 + e^(-y (1.5976 + 0.070566 y^2))), y = (t - mean) / sd.
  const double y = (elapsed_ms - mean_ms) / std_deviation_ms;
  const double e = std::exp(-y * (1.5976 + 0.070566 * y * y));
  if (elapsed_ms > mean_ms) {
    // P(later) = e / (1 + e); e underflows to 0 for very late heartbeats.
    if (e <= std::numeric_limits<double>::min())
      return std::numeric_limits<double>::max();
    return -std::log10(e / (1.0 + e));
  }
  // P(later) = 1 - 1 / (1 + e); computed this way to keep precision.
  return -std::log10(1.0 - 1.0 / (1.0 + e));
}

phi_accrual_failure_detector::phi_accrual_failure_detector(failure_detector_config config,
                                                           clock_fn clock)
  : config_(config)
  , clock_(std::move(clock)) {
  validate(config_);
  ring_.reserve(std::min<std::size_t>(config_.max_sample_size, 1024));
}

phi_accrual_failure_detector::time_point phi_accrual_failure_detector::now() const {
  return clock_ ? clock_() : clock_type::now();
}

void phi_accrual_failure_detector::add_interval(double ms) {
  if (ring_.size() < config_.max_sample_size) {
    ring_.push_back(ms);
    sum_ += ms;
    sum_sq_ += ms * ms;
    return;
  }
  const double old = ring_[head_];
  ring_[head_] = ms;
  head_ = (head_ + 1) % ring_.size();
  if (head_ == 0) {
    // Once per lap, sum afresh: running subtractions drift.
    sum_ = 0.0;
    sum_sq_ = 0.0;
    for (double x : ring_) {
      sum_ += x;
      sum_sq_ += x * x;
    }
  } else {
    sum_ += ms - old;
    sum_sq_ += ms * ms - old * old;
  }
}

void phi_accrual_failure_detector::heartbeat() {
  const time_point t = now();
  if (!last_.has_value_) {
    // Seed the history with the first-heartbeat estimate (mean m, standard
    // deviation m/4): two intervals of m +- m/4.
    const double m = static_cast<double>(config_.first_heartbeat_estimate.count());
    add_interval(m - m / 4.0);
    add_interval(m + m / 4.0);
  } else {
    const double interval = std::chrono::duration<double, std::milli>(t - last_.at).count();
    // Akka keeps only intervals that are not themselves failures; a pause
    // past the acceptable one would skew the mean for the next failure.
    if (phi_at(t) < config_.threshold)
      add_interval(std::max(0.0, interval));
  }
  last_.has_value_ = true;
  last_.at = t;
}

double phi_accrual_failure_detector::mean_ms() const noexcept {
  return ring_.empty() ? 0.0 : sum_ / static_cast<double>(ring_.size());
}

double phi_accrual_failure_detector::std_deviation_ms() const noexcept {
  if (ring_.empty())
    return 0.0;
  const double n = static_cast<double>(ring_.size());
  const double mean = sum_ / n;
  return std::sqrt(std::max(0.0, sum_sq_ / n - mean * mean));
}

double phi_accrual_failure_detector::phi_at(time_point t) const {
  if (!last_.has_value_)
    return 0.0;
  const double elapsed = std::chrono::duration<double, std::milli>(t - last_.at).count();
  const double mean = mean_ms() + static_cast<double>(config_.acceptable_heartbeat_pause.count());
  const double sd =
      std::max(std_deviation_ms(), static_cast<double>(config_.min_std_deviation.count()));
  return phi_of(elapsed, mean, sd);
}

double phi_accrual_failure_detector::phi() const {
  return phi_at(now());
}

bool phi_accrual_failure_detector::is_available() const {
  return phi() < config_.threshold;
}

void phi_accrual_failure_detector::reset() {
  last_ = {};
  ring_.clear();
  head_ = 0;
  sum_ = 0.0;
  sum_sq_ = 0.0;
}

} // namespace atomr::remote
